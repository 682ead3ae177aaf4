/**
 * The storage port of budgets: spend totals in micro-dollars per (scope, period, category), with
 * an atomic capped add, and the tenants' monthly execution limits.
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"
import { memo } from "./internal/memo.js"
import type { UsdMicros } from "./Usd.js"

/** A tenant's monthly execution budget. */
export class BudgetLimit extends Schema.Class<BudgetLimit>("BudgetLimit")({
  tenant_id: Schema.String,
  limit_usd: Schema.BigIntFromSelf,
  updated_at: Schema.Number,
  updated_by: Schema.String
}) {}

/** Totals of one spend scope in one period. */
export interface SpendTotals {
  readonly total: UsdMicros
  readonly categories: ReadonlyArray<{ readonly category: string; readonly amount: UsdMicros }>
}

/** Storage port for spend totals and execution budgets. */
export class BudgetStore extends Context.Tag("@airlock/guardrails/BudgetStore")<
  BudgetStore,
  {
    /**
     * Adds `amount` to `(scope, period, category)` and to the scope's period total atomically and
     * returns the new total. With a `ceiling`, nothing is written unless the new total is
     * `<= ceiling` (then the result is `None`).
     */
    readonly add: (
      scope: string,
      period: string,
      category: string,
      amount: UsdMicros,
      ceiling: UsdMicros | null
    ) => Effect.Effect<Option.Option<UsdMicros>, Errors.StorageError>
    /** The total and the per-category amounts of a scope in a period (zero when absent). */
    readonly read: (scope: string, period: string) => Effect.Effect<SpendTotals, Errors.StorageError>
    /** The totals of several scopes in one period, in the order given (zero when absent). */
    readonly totals: (
      scopes: ReadonlyArray<string>,
      period: string
    ) => Effect.Effect<ReadonlyArray<UsdMicros>, Errors.StorageError>
    readonly getLimit: (tenant: string) => Effect.Effect<Option.Option<BudgetLimit>, Errors.StorageError>
    readonly putLimit: (limit: BudgetLimit) => Effect.Effect<void, Errors.StorageError>
  }
>() {}

/** Spend scopes: AI spend per tenant and globally, execution spend per tenant. */
export const Scopes: {
  readonly ai: (tenant: string) => string
  readonly aiGlobal: "ai:*"
  readonly exec: (tenant: string) => string
} = {
  ai: memo((tenant) => `ai:${tenant}`),
  aiGlobal: "ai:*",
  exec: memo((tenant) => `exec:${tenant}`)
}

/** The scope key for a period kind (day scopes carry a `:day` suffix). */
export const scoped = (scope: string, period: "month" | "day") => (period === "month" ? scope : `${scope}:day`)

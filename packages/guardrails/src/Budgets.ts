/**
 * Budgets, in micro-dollars (see the `Usd` module).
 *
 * - **LLM spend** (ai-bookkeeper rollout): every model call is metered (tokens × the price table)
 *   into the tenant's and the global total for the period; over a cap, callers get
 *   `fallback_active: true` with `fallback_reason` `tenant_budget_exceeded | global_budget_exceeded`
 *   and use their deterministic fallback. {@link LlmBudget.call} wraps a model call with the check
 *   (before the call, failing closed), the meter and the fallback, so every path uses the same one.
 * - **Execution budgets** (data-platform runbook): a monthly `limit_usd` per tenant; executions
 *   are refused with `exec.budget.exceeded` (409) once `spent_usd >= limit_usd` (the runbook's
 *   rule), so the last execution admitted below the limit may take the spend past it by at most
 *   its own estimate. The charge is atomic in storage (the check and the add are one capped
 *   update), so concurrent executions on several instances never charge past a reached limit.
 *   Month rollover starts from zero (spend is keyed by month).
 */
import { type Actor, Audit, Errors, Rbac, TenantScope } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids, SystemState, UnitOfWork } from "@airlock/core"
import { Clock, Effect, Either, Metric, Option, Schema } from "effect"
import { BudgetLimit, BudgetStore, scoped, Scopes, type SpendTotals } from "./BudgetStore.js"
import { GuardrailsConfig, tenantDecimal, TenantKeys } from "./GuardrailsConfig.js"
import { memo } from "./internal/memo.js"
import { ProviderBreaker } from "./ProviderBreaker.js"
import { StopConditions } from "./StopConditions.js"
import { ceilDiv, formatUsd, parseUsdNonNegative, Usd, type UsdMicros } from "./Usd.js"
import { dayKey, monthKey, nextMonthStart, periodKey } from "./Windows.js"

// --- LLM ----------------------------------------------------------------------------------------

/** Why a caller must use its fallback instead of the model. */
export const FallbackReason = Schema.Literal(
  "tenant_budget_exceeded",
  "global_budget_exceeded",
  /** The budget could not be read: fail closed. */
  "budget_unavailable",
  /** The model has no price in the table: it is never called unmetered. */
  "model_unpriced",
  /** The provider's breaker is open. */
  "provider_unavailable",
  /** The call failed. */
  "provider_error"
)
/** Type of {@link FallbackReason}. */
export type FallbackReason = typeof FallbackReason.Type

/** A tenant's LLM budget as served (`metrics/latest` `llm_budget_status`). */
export class LlmBudgetStatus extends Schema.Class<LlmBudgetStatus>("LlmBudgetStatus")({
  tenant_id: Schema.String,
  period: Schema.String,
  fallback_active: Schema.Boolean,
  fallback_reason: Schema.NullOr(FallbackReason),
  tenant_spent_usd: Usd,
  tenant_cap_usd: Usd,
  global_spent_usd: Usd,
  global_cap_usd: Usd
}) {}

/** Token counts of one model call. */
export interface Usage {
  readonly input_tokens: number
  readonly output_tokens: number
}

/** What {@link LlmBudget.call} returns. */
export interface LlmCallResult<A> {
  readonly value: A
  readonly fallback_active: boolean
  readonly fallback_reason: FallbackReason | null
  /** What the call cost (0 when the fallback ran). */
  readonly cost_usd: UsdMicros
  readonly usage: Usage | null
}

/**
 * The LLM call counters: every metered call adds 1 (by model) to the tenant's and the global count
 * of its UTC day, in the budget store beside the spend (ops reads them for the baseline snapshot
 * and the weekly digest's evidence gate).
 */
export const CallScopes: { readonly tenant: (tenant: string) => string; readonly global: "calls:*:day" } = {
  tenant: memo((tenant) => `calls:${tenant}:day`),
  global: "calls:*:day"
}

/** A call's cost: `ceil((in × in_price + out × out_price) / 10⁶)` micro-dollars (pure, exact up to the ceiling). */
export const callCost = (
  price: { readonly input_per_mtok: UsdMicros; readonly output_per_mtok: UsdMicros },
  usage: Usage
): UsdMicros =>
  ceilDiv(
    BigInt(usage.input_tokens) * price.input_per_mtok + BigInt(usage.output_tokens) * price.output_per_mtok,
    1_000_000n
  )

/**
 * Spend recorded against the budgets, in micro-dollars, by scope (a `/metrics` counter): `llm`
 * (metered model calls), `execution` (execution estimates charged at submit) and
 * `execution_actual` (the actual cost executions report, booked by ops).
 */
export const budgetSpendMicrosTotal = Metric.counter("guardrails_budget_spend_usd_micros_total", {
  description: "Spend recorded against the budgets in micro-dollars, by scope (llm, execution, execution_actual)",
  bigint: true,
  incremental: true
})

/** Adds `micros` to {@link budgetSpendMicrosTotal} under `scope`. */
export const countSpend = (scope: string, micros: bigint): Effect.Effect<void> =>
  micros > 0n ? Metric.incrementBy(Metric.tagged(budgetSpendMicrosTotal, "scope", scope), micros) : Effect.void

/**
 * The LLM spend meter and caps. Its layer builds the provider breaker and stop conditions it
 * consults, so it also needs {@link Ids.IdGenerator}, {@link SystemState.SystemStateStore} and
 * {@link UnitOfWork.UnitOfWork}.
 */
export class LlmBudget extends Effect.Service<LlmBudget>()("@airlock/guardrails/LlmBudget", {
  effect: Effect.gen(function*() {
    const store = yield* BudgetStore
    const config = yield* GuardrailsConfig
    const providers = yield* ProviderBreaker
    const stops = yield* StopConditions

    const tenantCap = (settings?: { readonly extensions: Record<string, unknown> }): UsdMicros => {
      if (!settings) return config.llmTenantCap
      const raw = tenantDecimal(settings, TenantKeys.llmTenantCapUsd)
      if (raw === null) return config.llmTenantCap
      const parsed = parseUsdNonNegative(raw)
      return Either.isRight(parsed) ? parsed.right : 0n
    }

    /**
     * The tenant's LLM budget now; `fallback_active` when either cap is reached. `settings`
     * supplies a per-tenant cap (`guardrails.llm_tenant_cap_usd`).
     */
    const status = (
      tenant: string,
      settings?: { readonly extensions: Record<string, unknown> }
    ): Effect.Effect<LlmBudgetStatus, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const period = periodKey(config.llmBudgetPeriod, now)
        const t = yield* store.read(scoped(Scopes.ai(tenant), config.llmBudgetPeriod), period)
        const g = yield* store.read(scoped(Scopes.aiGlobal, config.llmBudgetPeriod), period)
        const cap = tenantCap(settings)
        const reason: FallbackReason | null = g.total >= config.llmGlobalCap
          ? "global_budget_exceeded"
          : t.total >= cap
          ? "tenant_budget_exceeded"
          : null
        return new LlmBudgetStatus({
          tenant_id: tenant,
          period,
          fallback_active: reason !== null,
          fallback_reason: reason,
          tenant_spent_usd: t.total,
          tenant_cap_usd: cap,
          global_spent_usd: g.total,
          global_cap_usd: config.llmGlobalCap
        }, true)
      })

    /**
     * Meters a finished call: adds its cost to the tenant (by task) and global totals of the
     * budget period, of the month (billing) and of the day (hard stop). Returns the cost.
     */
    const meter = (
      input: { readonly tenant_id: string; readonly task: string; readonly model: string; readonly usage: Usage }
    ): Effect.Effect<UsdMicros, Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        const price = config.llmPrices[input.model]
        if (!price) {
          return yield* new Errors.ValidationError({
            code: "validation.model_unpriced",
            message: `No price for model ${input.model}`
          })
        }
        const cost = callCost(price, input.usage)
        const now = yield* Clock.currentTimeMillis
        const month = monthKey(now)
        const day = dayKey(now)
        yield* store.add(Scopes.ai(input.tenant_id), month, input.task, cost, null)
        yield* store.add(Scopes.aiGlobal, month, input.model, cost, null)
        yield* store.add(scoped(Scopes.aiGlobal, "day"), day, input.model, cost, null)
        if (config.llmBudgetPeriod === "day")
          yield* store.add(scoped(Scopes.ai(input.tenant_id), "day"), day, input.task, cost, null)
        yield* store.add(CallScopes.tenant(input.tenant_id), day, input.model, 1n, null)
        yield* store.add(CallScopes.global, day, input.model, 1n, null)
        yield* countSpend("llm", cost)
        yield* stops.checkHardBudget
        return cost
      })

    /**
     * Runs one model call under the budget: checks the caps first and, when a cap is reached,
     * the price is unknown, the budget cannot be read (fail closed), the provider's breaker is
     * open or the call fails, runs `fallback` instead. Successful calls are metered.
     */
    const call = <A, E, F>(input: {
      readonly tenant_id: string
      readonly task: string
      readonly model: string
      /** The provider breaker to go through, when given. */
      readonly provider?: string
      readonly settings?: { readonly extensions: Record<string, unknown> }
      readonly run: Effect.Effect<{ readonly value: A; readonly usage: Usage }, E>
      readonly fallback: Effect.Effect<A, F>
    }): Effect.Effect<LlmCallResult<A>, F | Errors.StorageError> =>
      Effect.gen(function*() {
        const useFallback = (reason: FallbackReason) =>
          Effect.map(
            input.fallback,
            (value): LlmCallResult<A> => ({
              value,
              fallback_active: true,
              fallback_reason: reason,
              cost_usd: 0n,
              usage: null
            })
          )
        if (!config.llmPrices[input.model]) return yield* useFallback("model_unpriced")
        const budget = yield* Effect.either(status(input.tenant_id, input.settings))
        if (Either.isLeft(budget)) return yield* useFallback("budget_unavailable")
        if (budget.right.fallback_reason !== null) return yield* useFallback(budget.right.fallback_reason)
        const guarded = input.provider === undefined ? input.run : providers.call(input.provider, input.run)
        const outcome = yield* Effect.either(guarded)
        if (Either.isLeft(outcome)) {
          const e = outcome.left as { readonly _tag?: string }
          return yield* useFallback(e._tag === "Unavailable" ? "provider_unavailable" : "provider_error")
        }
        const cost = yield* meter({
          tenant_id: input.tenant_id,
          task: input.task,
          model: input.model,
          usage: outcome.right.usage
        }).pipe(
          Effect.catchTag("ValidationError", () => Effect.succeed(0n))
        )
        return {
          value: outcome.right.value,
          fallback_active: false,
          fallback_reason: null,
          cost_usd: cost,
          usage: outcome.right.usage
        }
      })

    return { status, meter, call, tenantCap } as const
  }),
  dependencies: [ProviderBreaker.Default, StopConditions.Default]
}) {}

// --- Execution budgets --------------------------------------------------------------------------

/** Where a tenant's spend stands against its limit. */
export const BudgetStatus = Schema.Literal("ok", "warning", "exceeded")
/** Type of {@link BudgetStatus}. */
export type BudgetStatus = typeof BudgetStatus.Type

/** `ok`, `warning` from `warningPercent` of the limit, `exceeded` at or past it; `ok` without a limit. */
export const budgetStatus = (spent: UsdMicros, limit: UsdMicros | null, warningPercent: number): BudgetStatus => {
  if (limit === null) return "ok"
  if (spent >= limit) return "exceeded"
  return spent * 100n >= limit * BigInt(warningPercent) ? "warning" : "ok"
}

/** `GET /api/v1/billing/summary`. Money fields encode as decimal dollar strings. */
export class BillingSummary extends Schema.Class<BillingSummary>("BillingSummary")({
  tenant_id: Schema.String,
  /** The UTC month, `YYYY-MM`. */
  period: Schema.String,
  /** When the next month (and a fresh budget) starts, epoch ms. */
  resets_at: Schema.Number,
  limit_usd: Schema.NullOr(Usd),
  /** Estimated execution spend plus actual AI spend this month. */
  spent_usd: Usd,
  exec_spent_estimated_usd: Usd,
  ai_spent_actual_usd: Usd,
  /** AI spend by task. */
  ai_by_task: Schema.Record({ key: Schema.String, value: Usd }),
  /** Estimated execution spend by task (job). */
  exec_by_task: Schema.Record({ key: Schema.String, value: Usd }),
  /** `limit − spent`, never negative; null without a limit. */
  remaining_estimated_usd: Schema.NullOr(Usd),
  budget_status: BudgetStatus,
  warning_percent: Schema.Number,
  llm_budget: LlmBudgetStatus
}) {}

/** Body of `PUT /api/v1/billing/budget`. */
export const BudgetInput = Schema.Struct({ limit_usd: Usd })
/** Type of {@link BudgetInput}. */
export type BudgetInput = typeof BudgetInput.Type

/** What an execution charge or check saw. */
export interface ChargeReading {
  readonly period: string
  readonly limit_usd: UsdMicros | null
  readonly spent_usd: UsdMicros
  readonly estimate_usd: UsdMicros
}

/** The scopes a tenant's month spend is the sum of: execution estimates and actual AI spend. */
const spendScopes: (tenant: string) => ReadonlyArray<string> = memo((
  tenant
) => [Scopes.exec(tenant), Scopes.ai(tenant)])

const byCategory = (totals: SpendTotals): Record<string, UsdMicros> =>
  Object.fromEntries(totals.categories.map((c) => [c.category, c.amount]))

/** Monthly execution budgets and the billing summary. */
export class ExecutionBudgets extends Effect.Service<ExecutionBudgets>()("@airlock/guardrails/ExecutionBudgets", {
  effect: Effect.gen(function*() {
    const store = yield* BudgetStore
    const config = yield* GuardrailsConfig
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac
    const llm = yield* LlmBudget

    /** The `exec.budget.exceeded` error of a reading whose spend has reached the limit. */
    const exceeded = (reading: ChargeReading): Errors.BudgetExceeded =>
      new Errors.BudgetExceeded({
        code: "exec.budget.exceeded",
        message: "Monthly execution budget exceeded",
        details: {
          period: reading.period,
          limit_usd: reading.limit_usd === null ? null : formatUsd(reading.limit_usd),
          spent_usd: formatUsd(reading.spent_usd),
          estimate_usd: formatUsd(reading.estimate_usd)
        }
      })

    const limitOf = (tenant: string): Effect.Effect<UsdMicros | null, Errors.StorageError> =>
      Effect.map(store.getLimit(tenant), (l) => (Option.isSome(l) ? l.value.limit_usd : null))

    const spentNow = (
      tenant: string,
      month: string
    ): Effect.Effect<
      { readonly exec: SpendTotals; readonly ai: SpendTotals; readonly spent: UsdMicros },
      Errors.StorageError
    > =>
      Effect.gen(function*() {
        const exec = yield* store.read(Scopes.exec(tenant), month)
        const ai = yield* store.read(Scopes.ai(tenant), month)
        return { exec, ai, spent: exec.total + ai.total }
      })

    /**
     * Reads what an estimate would meet, without failing: the reading and whether it would be
     * refused. Reads only (and no spend at all when there is no limit). What the budget gate
     * decides from at propose time.
     */
    const checkReading = (
      tenant: string,
      estimate: UsdMicros
    ): Effect.Effect<{ readonly reading: ChargeReading; readonly exceeded: boolean }, Errors.StorageError> =>
      Effect.clockWith((clock) => {
        const period = monthKey(clock.unsafeCurrentTimeMillis())
        return Effect.flatMap(store.getLimit(tenant), (found) => {
          if (Option.isNone(found))
            return Effect.succeed({
              reading: { period, limit_usd: null, spent_usd: 0n, estimate_usd: estimate },
              exceeded: false
            })
          const limit = found.value.limit_usd
          return Effect.map(store.totals(spendScopes(tenant), period), ([exec, ai]) => {
            const reading: ChargeReading = { period, limit_usd: limit, spent_usd: exec! + ai!, estimate_usd: estimate }
            return { reading, exceeded: reading.spent_usd >= limit }
          })
        })
      })

    /** Would this estimate be refused? Reads only (and no spend at all when there is no limit). */
    const check = (
      tenant: string,
      estimate: UsdMicros
    ): Effect.Effect<ChargeReading, Errors.BudgetExceeded | Errors.StorageError> =>
      Effect.flatMap(
        checkReading(tenant, estimate),
        (r) => (r.exceeded ? Effect.fail(exceeded(r.reading)) : Effect.succeed(r.reading))
      )

    /**
     * Charges an execution's estimate to this month's budget, atomically: refused with
     * `exec.budget.exceeded` when `spent_usd >= limit_usd` already (the runbook's rule: the
     * estimate itself may take the spend past the limit, once). Run it in the same
     * transaction as the execution's start so a failed start takes the charge back.
     */
    const charge = (
      tenant: string,
      task: string,
      estimate: UsdMicros
    ): Effect.Effect<ChargeReading, Errors.BudgetExceeded | Errors.StorageError> =>
      Effect.gen(function*() {
        const period = monthKey(yield* Clock.currentTimeMillis)
        const limit = yield* limitOf(tenant)
        const ai = yield* store.read(Scopes.ai(tenant), period)
        // the capped add writes only while exec_before + ai < limit: new exec total ≤ limit − 1 − ai + estimate
        const ceiling = limit === null ? null : limit - 1n - ai.total + estimate
        const total = yield* store.add(Scopes.exec(tenant), period, task, estimate, ceiling)
        if (Option.isNone(total)) {
          const exec = yield* store.read(Scopes.exec(tenant), period)
          return yield* exceeded({ period, limit_usd: limit, spent_usd: exec.total + ai.total, estimate_usd: estimate })
        }
        yield* countSpend("execution", estimate)
        return { period, limit_usd: limit, spent_usd: total.value + ai.total, estimate_usd: estimate }
      })

    /**
     * Sets a tenant's monthly limit (`PUT /api/v1/billing/budget`): `tenant`, default the
     * actor's own (another only with `tenant.cross`); needs `billing.manage`. Audited. Returns
     * the billing summary under the new limit.
     */
    const setBudget = (
      actor: Actor.Actor,
      input: BudgetInput,
      tenant?: string
    ): Effect.Effect<BillingSummary, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "billing.manage")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        const before = yield* limitOf(target)
        const limit = new BudgetLimit({
          tenant_id: target,
          limit_usd: input.limit_usd,
          updated_at: yield* Clock.currentTimeMillis,
          updated_by: actor.id
        }, true)
        yield* store.putLimit(limit)
        yield* audit.append({
          tenant_id: target,
          actor_id: actor.id,
          action: "billing.budget_set",
          subject: target,
          data: { before: before === null ? null : formatUsd(before), after: formatUsd(input.limit_usd) }
        })
        return yield* summaryOf(target)
      })

    /** The billing summary of a tenant for the current month (no RBAC: for internal callers). */
    const summaryOf = (
      tenant: string,
      settings?: { readonly extensions: Record<string, unknown> }
    ): Effect.Effect<BillingSummary, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const period = monthKey(now)
        const limit = yield* limitOf(tenant)
        const { exec, ai, spent } = yield* spentNow(tenant, period)
        return new BillingSummary({
          tenant_id: tenant,
          period,
          resets_at: nextMonthStart(now),
          limit_usd: limit,
          spent_usd: spent,
          exec_spent_estimated_usd: exec.total,
          ai_spent_actual_usd: ai.total,
          ai_by_task: byCategory(ai),
          exec_by_task: byCategory(exec),
          remaining_estimated_usd: limit === null ? null : limit > spent ? limit - spent : 0n,
          budget_status: budgetStatus(spent, limit, config.budgetWarningPercent),
          warning_percent: config.budgetWarningPercent,
          llm_budget: yield* llm.status(tenant, settings)
        }, true)
      })

    /**
     * A tenant's billing summary (`tenant`, default the actor's own; another only with
     * `tenant.cross`); needs `billing.read`. `settings` are that tenant's.
     */
    const summary = (
      actor: Actor.Actor,
      settings?: { readonly extensions: Record<string, unknown> },
      tenant?: string
    ): Effect.Effect<BillingSummary, Errors.Forbidden | Errors.StorageError> =>
      Effect.zipRight(
        rbac.require(actor, "billing.read"),
        Effect.flatMap(TenantScope.acting(rbac, actor, tenant), (target) => summaryOf(target, settings))
      )

    return { check, checkReading, exceeded, charge, setBudget, summary, summaryOf, limitOf } as const
  }),
  dependencies: [LlmBudget.Default]
}) {}

/** Memory implementations of the guardrails ports. */
import type { GuardrailsPorts } from "@airlock/guardrails"
import { Approvals, BreakerEvents, Breakers, BudgetStore, CounterStore } from "@airlock/guardrails"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"

interface CounterRow {
  readonly key: string
  readonly window: number
  readonly count: number
  readonly expires_at: number
}

/** Memory {@link CounterStore.CounterStore}: rows scoped by counter key, then window. */
export const counterStore: Layer.Layer<CounterStore.CounterStore, never, MemoryDatabase> = Layer.effect(
  CounterStore.CounterStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<CounterRow>("guard_counters")
    return {
      increment: (k, window, by, cap, expiresAt) =>
        db.write(() => {
          const current = rows.get(k, window)
          const count = (current?.count ?? 0) + by
          if (cap !== null && count > cap) return Option.none()
          rows.set(k, window, { key: k, window, count, expires_at: Math.max(expiresAt, current?.expires_at ?? 0) })
          return Option.some(count)
        }),
      get: (k, window) => db.read(() => rows.get(k, window)?.count ?? 0),
      sum: (k, from, to) =>
        db.read(() => {
          let n = 0
          for (const r of rows.inScope(k)) if (r.window >= from && r.window <= to) n += r.count
          return n
        }),
      purge: (now) =>
        db.write(() => {
          const expired = [...rows.values()].filter((r) => r.expires_at < now)
          for (const r of expired) rows.delete(r.key, r.window)
          return expired.length
        })
    }
  })
)

/** Memory {@link Breakers.BreakerStore}. */
export const breakerStore: Layer.Layer<Breakers.BreakerStore, never, MemoryDatabase> = Layer.effect(
  Breakers.BreakerStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<Breakers.BreakerRecord>("guard_breakers")
    return {
      get: (k) => db.read(() => Option.fromNullable(rows.get(k))),
      put: (record, expected) =>
        db.write(() => {
          const current = rows.get(record.key)
          if ((current?.version ?? 0) !== expected) return false
          rows.set(record.key, record)
          return true
        }),
      list: (prefix) =>
        db.read(() =>
          [...rows.values()].filter((r) => r.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1))
        )
    }
  })
)

/** Memory {@link BreakerEvents.EventStore}. */
export const eventStore: Layer.Layer<BreakerEvents.EventStore, never, MemoryDatabase> = Layer.effect(
  BreakerEvents.EventStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<BreakerEvents.GuardrailEvent>("guard_events")
    return {
      append: (e) => db.write(() => rows.set(e.id, e)),
      list: (q) =>
        db.read(() =>
          [...rows.values()]
            .filter((e) =>
              (q.tenant_id === undefined || e.tenant_id === q.tenant_id) &&
              (q.kinds === undefined || q.kinds.includes(e.kind)) &&
              (q.before === undefined || e.id < q.before)
            )
            .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
            .slice(0, q.limit)
        )
    }
  })
)

/** Memory {@link Approvals.ApprovalStore}. */
export const approvalStore: Layer.Layer<Approvals.ApprovalStore, never, MemoryDatabase> = Layer.effect(
  Approvals.ApprovalStore,
  Effect.map(MemoryDatabase, (db) => {
    // scoped by tenant, then subject and plan hash
    const rows = db.scoped<Approvals.ApprovalRecord>("guard_approvals")
    const key = (subject: string, hash: string) => `${subject}\u0000${hash}`
    return {
      get: (tenant, subject, hash) => db.read(() => Option.fromNullable(rows.get(tenant, key(subject, hash)))),
      put: (record, expected) =>
        db.write(() => {
          const k = key(record.subject, record.plan_hash)
          if ((rows.get(record.tenant_id, k)?.version ?? 0) !== expected) return false
          rows.set(record.tenant_id, k, record)
          return true
        }),
      list: (tenant, subject) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((r) => subject === undefined || r.subject === subject)
            .sort((a, b) => (b.granted_at ?? -1) - (a.granted_at ?? -1) || (a.plan_hash < b.plan_hash ? -1 : 1))
        )
    }
  })
)

/** A scope's spend in one period: the total and each category's amount. */
interface PeriodSpend {
  readonly total: bigint
  readonly categories: ReadonlyMap<string, bigint>
}

const NO_SPEND: PeriodSpend = { total: 0n, categories: new Map() }

/** Memory {@link BudgetStore.BudgetStore}: one spend row per (scope, period). */
export const budgetStore: Layer.Layer<BudgetStore.BudgetStore, never, MemoryDatabase> = Layer.effect(
  BudgetStore.BudgetStore,
  Effect.map(MemoryDatabase, (db) => {
    const spend = db.scoped<PeriodSpend>("guard_spend")
    const limits = db.table<BudgetStore.BudgetLimit>("guard_budgets")
    const of = (scope: string, period: string) => spend.get(scope, period) ?? NO_SPEND
    return {
      add: (scope, period, category, amount, ceiling) =>
        db.write(() => {
          const current = of(scope, period)
          const total = current.total + amount
          if (ceiling !== null && total > ceiling) return Option.none()
          const categories = new Map(current.categories)
          categories.set(category, (categories.get(category) ?? 0n) + amount)
          spend.set(scope, period, { total, categories })
          return Option.some(total)
        }),
      read: (scope, period) =>
        db.read(() => {
          const current = of(scope, period)
          return {
            total: current.total,
            categories: [...current.categories.keys()].sort().map((category) => ({
              category,
              amount: current.categories.get(category)!
            }))
          }
        }),
      totals: (scopes, period) => db.read(() => scopes.map((scope) => of(scope, period).total)),
      getLimit: (tenant) => db.read(() => Option.fromNullable(limits.get(tenant))),
      putLimit: (limit) => db.write(() => limits.set(limit.tenant_id, limit))
    }
  })
)

/** Every guardrails port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<GuardrailsPorts.GuardrailsPorts, never, MemoryDatabase> = Layer.mergeAll(
  counterStore,
  breakerStore,
  eventStore,
  approvalStore,
  budgetStore
)

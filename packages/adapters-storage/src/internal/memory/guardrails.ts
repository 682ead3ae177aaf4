/** Memory implementations of the guardrails ports. */
import type { Ports } from "@airlock/guardrails"
import { Approvals, Breakers, BudgetStore, Counters, Events } from "@airlock/guardrails"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"

// the same strings as `parts.join("\u0000")`, without the rest array on every lookup
const key = (a: string | number, b?: string | number, c?: string | number): string =>
  b === undefined ? `${a}` : c === undefined ? `${a}\u0000${b}` : `${a}\u0000${b}\u0000${c}`

/**
 * Keys of `(a, b)` pairs that repeat on hot paths (a tenant's counter in the current minute, a
 * scope's total in the current month), kept as one string object each so the table lookups do
 * not re-hash a freshly concatenated key every time. Bounded: a part's entries are dropped when
 * it has more than a few (old windows), and everything when there are many parts.
 */
const pairKeys = <B extends string | number>(make: (a: string, b: B) => string) => {
  const byA = new Map<string, Map<B, string>>()
  return (a: string, b: B): string => {
    let inner = byA.get(a)
    if (inner === undefined) {
      if (byA.size >= 10_000) byA.clear()
      inner = new Map()
      byA.set(a, inner)
    }
    let k = inner.get(b)
    if (k === undefined) {
      if (inner.size >= 8) inner.clear()
      k = make(a, b)
      inner.set(b, k)
    }
    return k
  }
}

interface CounterRow {
  readonly key: string
  readonly window: number
  readonly count: number
  readonly expires_at: number
}

/** Memory {@link Counters.CounterStore}: rows by (key, window), plus a per-key index of windows. */
export const counterStore: Layer.Layer<Counters.CounterStore, never, MemoryDatabase> = Layer.effect(
  Counters.CounterStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<CounterRow>("guard_counters")
    const windows = db.table<ReadonlyArray<number>>("guard_counter_windows")
    const rowKey = pairKeys<number>((k, window) => key(k, window))
    return {
      increment: (k, window, by, cap, expiresAt) =>
        db.write(() => {
          const id = rowKey(k, window)
          const current = rows.get(id)
          const count = (current?.count ?? 0) + by
          if (cap !== null && count > cap) return Option.none()
          if (!current) windows.set(k, [...(windows.get(k) ?? []), window])
          rows.set(id, { key: k, window, count, expires_at: Math.max(expiresAt, current?.expires_at ?? 0) })
          return Option.some(count)
        }),
      get: (k, window) => db.read(() => rows.get(rowKey(k, window))?.count ?? 0),
      sum: (k, from, to) =>
        db.read(() => {
          let n = 0
          for (const w of windows.get(k) ?? []) if (w >= from && w <= to) n += rows.get(key(k, w))?.count ?? 0
          return n
        }),
      purge: (now) =>
        db.write(() => {
          let n = 0
          for (const r of [...rows.values()]) {
            if (r.expires_at >= now) continue
            rows.delete(key(r.key, r.window))
            const rest = (windows.get(r.key) ?? []).filter((w) => w !== r.window)
            if (rest.length === 0) windows.delete(r.key)
            else windows.set(r.key, rest)
            n++
          }
          return n
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
        db.read(() => [...rows.values()].filter((r) => r.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1)))
    }
  })
)

/** Memory {@link Events.EventStore}. */
export const eventStore: Layer.Layer<Events.EventStore, never, MemoryDatabase> = Layer.effect(
  Events.EventStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<Events.GuardrailEvent>("guard_events")
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
    const rows = db.table<Approvals.ApprovalRecord>("guard_approvals")
    return {
      get: (tenant, subject, hash) => db.read(() => Option.fromNullable(rows.get(key(tenant, subject, hash)))),
      put: (record, expected) =>
        db.write(() => {
          const k = key(record.tenant_id, record.subject, record.plan_hash)
          if ((rows.get(k)?.version ?? 0) !== expected) return false
          rows.set(k, record)
          return true
        }),
      list: (tenant, subject) =>
        db.read(() =>
          [...rows.values()]
            .filter((r) => r.tenant_id === tenant && (subject === undefined || r.subject === subject))
            .sort((a, b) => (b.granted_at ?? -1) - (a.granted_at ?? -1) || (a.plan_hash < b.plan_hash ? -1 : 1))
        )
    }
  })
)

interface SpendRow {
  readonly scope: string
  readonly period: string
  readonly category: string
  readonly amount: bigint
}

const TOTAL = "*"

/** Memory {@link BudgetStore.BudgetStore}. */
export const budgetStore: Layer.Layer<BudgetStore.BudgetStore, never, MemoryDatabase> = Layer.effect(
  BudgetStore.BudgetStore,
  Effect.map(MemoryDatabase, (db) => {
    const spend = db.table<SpendRow>("guard_spend")
    const categories = db.table<ReadonlyArray<string>>("guard_spend_categories")
    const limits = db.table<BudgetStore.BudgetLimit>("guard_budgets")
    const totalKey = pairKeys<string>((scope, period) => key(scope, period, TOTAL))
    const bump = (scope: string, period: string, category: string, amount: bigint) => {
      const k = key(scope, period, category)
      const current = spend.get(k)
      if (!current && category !== TOTAL) {
        const ck = key(scope, period)
        categories.set(ck, [...(categories.get(ck) ?? []), category])
      }
      const next = (current?.amount ?? 0n) + amount
      spend.set(k, { scope, period, category, amount: next })
      return next
    }
    return {
      add: (scope, period, category, amount, ceiling) =>
        db.write(() => {
          const total = spend.get(totalKey(scope, period))?.amount ?? 0n
          if (ceiling !== null && total + amount > ceiling) return Option.none()
          bump(scope, period, category, amount)
          return Option.some(bump(scope, period, TOTAL, amount))
        }),
      read: (scope, period) =>
        db.read(() => ({
          total: spend.get(totalKey(scope, period))?.amount ?? 0n,
          categories: [...(categories.get(key(scope, period)) ?? [])]
            .sort()
            .map((category) => ({ category, amount: spend.get(key(scope, period, category))?.amount ?? 0n }))
        })),
      totals: (scopes, period) => db.read(() => scopes.map((scope) => spend.get(totalKey(scope, period))?.amount ?? 0n)),
      getLimit: (tenant) => db.read(() => Option.fromNullable(limits.get(tenant))),
      putLimit: (limit) => db.write(() => limits.set(limit.tenant_id, limit))
    }
  })
)

/** Every guardrails port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<Ports.GuardrailsPorts, never, MemoryDatabase> = Layer.mergeAll(
  counterStore,
  breakerStore,
  eventStore,
  approvalStore,
  budgetStore
)

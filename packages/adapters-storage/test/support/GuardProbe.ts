/**
 * Raw access to what an adapter persisted for guardrails, bypassing the ports: the guardrails
 * suite checks stored counters, breakers, events, approvals, spend and overrides through it.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** Raw reads of guardrails rows (plain JSON-like objects). */
export class GuardProbe extends Context.Tag("test/GuardProbe")<
  GuardProbe,
  {
    /** The stored count of one counter window, or null when no row exists. */
    readonly counter: (key: string, window: number) => Effect.Effect<number | null>
    /** The stored breaker row: `{state, reason, version, data}`, or null. */
    readonly breaker: (
      key: string
    ) => Effect.Effect<{ state: string; reason: string | null; version: number; data: unknown } | null>
    /** Event rows `{kind, type, reason, tenant_id, data}` in insertion (id) order, optionally of one kind. */
    readonly events: (
      kind?: string
    ) => Effect.Effect<
      ReadonlyArray<{ kind: string; type: string; reason: string; tenant_id: string | null; data: any }>
    >
    /** The stored approval row, or null. */
    readonly approval: (
      tenant: string,
      subject: string,
      planHash: string
    ) => Effect.Effect<Record<string, unknown> | null>
    /** A stored spend amount as a decimal integer string (micro-dollars), or null. */
    readonly spend: (scope: string, period: string, category: string) => Effect.Effect<string | null>
    /** A tenant's stored budget limit (micro-dollars, string), or null. */
    readonly budget: (tenant: string) => Effect.Effect<string | null>
    /** A system-state value (parsed JSON), or undefined when absent. */
    readonly systemState: (key: string) => Effect.Effect<unknown>
  }
>() {}

/** Probe over the memory database. */
export const memory = Layer.effect(
  GuardProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    counter: (key, window) =>
      Effect.sync(() => db.scoped<{ count: number }>("guard_counters").get(key, window)?.count ?? null),
    breaker: (key) =>
      Effect.sync(() => {
        const r = db.table<{ state: string; reason: string | null; version: number; data: unknown }>("guard_breakers")
          .get(key)
        return r ? { state: r.state, reason: r.reason, version: r.version, data: r.data } : null
      }),
    events: (kind) =>
      Effect.sync(() =>
        [
          ...db.table<{ id: string; kind: string; type: string; reason: string; tenant_id: string | null; data: any }>(
            "guard_events"
          ).values()
        ]
          .filter((e) => kind === undefined || e.kind === kind)
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((e) => ({ kind: e.kind, type: e.type, reason: e.reason, tenant_id: e.tenant_id, data: e.data }))
      ),
    approval: (tenant, subject, hash) =>
      Effect.sync(() => {
        const r = db.scoped<Record<string, unknown>>("guard_approvals").get(tenant, `${subject}\u0000${hash}`)
        return r ? { ...r } : null
      }),
    // the memory store keeps one row per (scope, period): the total ("*" in SQL) and each category
    spend: (scope, period, category) =>
      Effect.sync(() => {
        const row = db.scoped<{ total: bigint; categories: ReadonlyMap<string, bigint> }>("guard_spend").get(
          scope,
          period
        )
        const amount = row === undefined ? undefined : category === "*" ? row.total : row.categories.get(category)
        return amount?.toString() ?? null
      }),
    budget: (tenant) =>
      Effect.sync(() => db.table<{ limit_usd: bigint }>("guard_budgets").get(tenant)?.limit_usd.toString() ?? null),
    systemState: (key) => Effect.sync(() => db.table<{ value: unknown }>("system_state").get(key)?.value)
  }))
)

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  GuardProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    counter: (key, window) =>
      sql`SELECT count FROM guardrails_counters WHERE key = ${key} AND window_start = ${window}`.pipe(
        Effect.map((r) => (r.length ? Number(r[0]!.count) : null)),
        Effect.orDie
      ),
    breaker: (key) =>
      sql`SELECT state, reason, version, data FROM guardrails_breakers WHERE key = ${key}`.pipe(
        Effect.map((r) =>
          r.length
            ? {
              state: String(r[0]!.state),
              reason: r[0]!.reason === null ? null : String(r[0]!.reason),
              version: Number(r[0]!.version),
              data: JSON.parse(String(r[0]!.data))
            }
            : null
        ),
        Effect.orDie
      ),
    events: (kind) =>
      (kind === undefined
        ? sql`SELECT * FROM guardrails_events ORDER BY id`
        : sql`SELECT * FROM guardrails_events WHERE kind = ${kind} ORDER BY id`).pipe(
          Effect.map((rs) =>
            rs.map((e) => ({
              kind: String(e.kind),
              type: String(e.type),
              reason: String(e.reason),
              tenant_id: e.tenant_id === null ? null : String(e.tenant_id),
              data: JSON.parse(String(e.data))
            }))
          ),
          Effect.orDie
        ),
    approval: (tenant, subject, hash) =>
      sql`SELECT * FROM guardrails_approvals WHERE tenant_id = ${tenant} AND subject = ${subject} AND plan_hash = ${hash}`
        .pipe(
          Effect.map((r) => (r.length ? { ...r[0]! } : null)),
          Effect.orDie
        ),
    spend: (scope, period, category) =>
      sql`SELECT CAST(amount AS TEXT) AS amount FROM guardrails_spend WHERE scope = ${scope} AND period = ${period} AND category = ${category}`
        .pipe(
          Effect.map((r) => (r.length ? String(r[0]!.amount) : null)),
          Effect.orDie
        ),
    budget: (tenant) =>
      sql`SELECT CAST(limit_usd AS TEXT) AS v FROM guardrails_budgets WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => (r.length ? String(r[0]!.v) : null)),
        Effect.orDie
      ),
    systemState: (key) =>
      sql`SELECT value FROM core_system_state WHERE key = ${key}`.pipe(
        Effect.map((r) => (r.length ? JSON.parse(String(r[0]!.value)) : undefined)),
        Effect.orDie
      )
  }))
)

/** SQL implementations of the guardrails ports, written once for SQLite and PostgreSQL. */
import { Trusted } from "@airlock/core"
import type { GuardrailsPorts } from "@airlock/guardrails"
import { Approvals, BreakerEvents, Breakers, BudgetStore, CounterStore } from "@airlock/guardrails"
import { Effect, Layer, Option } from "effect"
import { type Fragment, SqlDb } from "./db.js"
import { int, intOrNull, json, orStorage, storageError, toJson } from "./dialect.js"

type Row = Record<string, unknown>

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

/** SQL {@link CounterStore.CounterStore}: one upsert per increment; a capped one updates only below its cap. */
export const counterStore: Layer.Layer<CounterStore.CounterStore, never, SqlDb> = Layer.effect(
  CounterStore.CounterStore,
  Effect.map(SqlDb, (sql) => {
    const uncapped = sql.literal("")
    const counted = (rs: ReadonlyArray<Row>) => (rs.length === 0 ? Option.none() : Option.some(int(rs[0]!.count)))
    return {
      increment: (key, window, by, cap, expiresAt) => {
        if (cap !== null && by > cap) return Effect.succeed(Option.none())
        const guard = cap === null ? uncapped : sql`WHERE guardrails_counters.count + excluded.count <= ${cap}`
        return sql`INSERT INTO guardrails_counters (key, window_start, count, expires_at)
                   VALUES (${key}, ${window}, ${by}, ${expiresAt})
                   ON CONFLICT (key, window_start) DO UPDATE SET
                     count = guardrails_counters.count + excluded.count,
                     expires_at = CASE WHEN excluded.expires_at > guardrails_counters.expires_at
                                       THEN excluded.expires_at ELSE guardrails_counters.expires_at END
                   ${guard}
                   RETURNING count`.query(counted, storageError)
      },
      get: (key, window) =>
        sql`SELECT count FROM guardrails_counters WHERE key = ${key} AND window_start = ${window}`.query(
          (rs) => (rs.length === 0 ? 0 : int(rs[0]!.count)),
          storageError
        ),
      sum: (key, from, to) =>
        sql`SELECT COALESCE(SUM(count), 0) AS n FROM guardrails_counters
            WHERE key = ${key} AND window_start >= ${from} AND window_start <= ${to}`.pipe(
          Effect.map((rs) => int(rs[0]!.n)),
          orStorage
        ),
      purge: (now) =>
        sql`DELETE FROM guardrails_counters WHERE expires_at < ${now} RETURNING key`.pipe(
          Effect.map((rs) => rs.length),
          orStorage
        )
    }
  })
)

const toBreaker = (r: Row) =>
  Trusted.make(Breakers.BreakerRecord, {
    key: String(r.key),
    kind: String(r.kind),
    tenant_id: str(r.tenant_id),
    state: r.state as Breakers.BreakerStatus,
    reason: str(r.reason),
    opened_at: intOrNull(r.opened_at),
    until: intOrNull(r.until_at),
    consecutive_failures: int(r.consecutive_failures),
    probe_until: intOrNull(r.probe_until),
    data: json(r.data) as Record<string, unknown>,
    updated_at: int(r.updated_at),
    version: int(r.version)
  })

/** SQL {@link Breakers.BreakerStore}: compare-and-set on the version column. */
export const breakerStore: Layer.Layer<Breakers.BreakerStore, never, SqlDb> = Layer.effect(
  Breakers.BreakerStore,
  Effect.map(SqlDb, (sql) => ({
    get: (key) =>
      sql`SELECT * FROM guardrails_breakers WHERE key = ${key}`.pipe(
        Effect.map((rs) => (rs.length === 0 ? Option.none() : Option.some(toBreaker(rs[0]!)))),
        orStorage
      ),
    put: (b, expected) =>
      (expected === 0
        ? sql`INSERT INTO guardrails_breakers (key, kind, tenant_id, state, reason, opened_at, until_at, consecutive_failures,
                probe_until, data, updated_at, version)
              VALUES (${b.key}, ${b.kind}, ${b.tenant_id}, ${b.state}, ${b.reason}, ${b.opened_at}, ${b.until},
                ${b.consecutive_failures}, ${b.probe_until}, ${toJson(b.data)}, ${b.updated_at}, ${b.version})
              ON CONFLICT (key) DO NOTHING RETURNING key`
        : sql`UPDATE guardrails_breakers SET kind = ${b.kind}, tenant_id = ${b.tenant_id}, state = ${b.state},
                reason = ${b.reason}, opened_at = ${b.opened_at}, until_at = ${b.until},
                consecutive_failures = ${b.consecutive_failures}, probe_until = ${b.probe_until}, data = ${
          toJson(b.data)
        },
                updated_at = ${b.updated_at}, version = ${b.version}
              WHERE key = ${b.key} AND version = ${expected} RETURNING key`).pipe(
          Effect.map((rs) => rs.length > 0),
          orStorage
        ),
    list: (prefix) =>
      sql`SELECT * FROM guardrails_breakers WHERE key >= ${prefix} AND key < ${prefix + "\uffff"} ORDER BY key`.pipe(
        Effect.map((rs) => rs.map(toBreaker).filter((b) => b.key.startsWith(prefix))),
        orStorage
      )
  }))
)

const toEvent = (r: Row) =>
  Trusted.make(BreakerEvents.GuardrailEvent, {
    id: String(r.id),
    tenant_id: str(r.tenant_id),
    kind: r.kind as BreakerEvents.EventKind,
    type: String(r.type),
    reason: String(r.reason),
    data: json(r.data) as Record<string, unknown>,
    actor_id: String(r.actor_id),
    at: int(r.at)
  })

/** SQL {@link BreakerEvents.EventStore}. */
export const eventStore: Layer.Layer<BreakerEvents.EventStore, never, SqlDb> = Layer.effect(
  BreakerEvents.EventStore,
  Effect.map(SqlDb, (sql) => ({
    append: (e) =>
      sql`INSERT INTO guardrails_events (id, tenant_id, kind, type, reason, data, actor_id, at)
          VALUES (${e.id}, ${e.tenant_id}, ${e.kind}, ${e.type}, ${e.reason}, ${
        toJson(e.data)
      }, ${e.actor_id}, ${e.at})`.pipe(
        Effect.asVoid,
        orStorage
      ),
    list: (q) => {
      const where: Array<Fragment> = [sql`1 = 1`]
      if (q.tenant_id === null) where.push(sql`tenant_id IS NULL`)
      else if (q.tenant_id !== undefined) where.push(sql`tenant_id = ${q.tenant_id}`)
      if (q.kinds !== undefined) where.push(q.kinds.length === 0 ? sql`1 = 0` : sql.in("kind", q.kinds))
      if (q.before !== undefined) where.push(sql`id < ${q.before}`)
      return sql`SELECT * FROM guardrails_events WHERE ${sql.and(where)} ORDER BY id DESC LIMIT ${q.limit}`.pipe(
        Effect.map((rs) => rs.map(toEvent)),
        orStorage
      )
    }
  }))
)

const toApproval = (r: Row) =>
  Trusted.make(Approvals.ApprovalRecord, {
    tenant_id: String(r.tenant_id),
    subject: String(r.subject),
    plan_hash: String(r.plan_hash),
    requested_by: str(r.requested_by),
    requested_at: intOrNull(r.requested_at),
    risk_score: r.risk_score === null || r.risk_score === undefined ? null : Number(r.risk_score),
    approver: str(r.approver),
    approver_name: str(r.approver_name),
    notes: str(r.notes),
    granted_at: intOrNull(r.granted_at),
    expires_at: intOrNull(r.expires_at),
    revoked_at: intOrNull(r.revoked_at),
    revoked_by: str(r.revoked_by),
    version: int(r.version)
  })

/** SQL {@link Approvals.ApprovalStore}: compare-and-set on the version column. */
export const approvalStore: Layer.Layer<Approvals.ApprovalStore, never, SqlDb> = Layer.effect(
  Approvals.ApprovalStore,
  Effect.map(SqlDb, (sql) => ({
    get: (tenant, subject, hash) =>
      sql`SELECT * FROM guardrails_approvals WHERE tenant_id = ${tenant} AND subject = ${subject} AND plan_hash = ${hash}`
        .pipe(
          Effect.map((rs) => (rs.length === 0 ? Option.none() : Option.some(toApproval(rs[0]!)))),
          orStorage
        ),
    put: (a, expected) => {
      const risk = a.risk_score === null ? null : String(a.risk_score)
      return (expected === 0
        ? sql`INSERT INTO guardrails_approvals (tenant_id, subject, plan_hash, requested_by, requested_at, risk_score, approver,
                approver_name, notes, granted_at, expires_at, revoked_at, revoked_by, version)
              VALUES (${a.tenant_id}, ${a.subject}, ${a.plan_hash}, ${a.requested_by}, ${a.requested_at}, ${risk}, ${a.approver},
                ${a.approver_name}, ${a.notes}, ${a.granted_at}, ${a.expires_at}, ${a.revoked_at}, ${a.revoked_by}, ${a.version})
              ON CONFLICT (tenant_id, subject, plan_hash) DO NOTHING RETURNING version`
        : sql`UPDATE guardrails_approvals SET requested_by = ${a.requested_by}, requested_at = ${a.requested_at},
                risk_score = ${risk}, approver = ${a.approver}, approver_name = ${a.approver_name}, notes = ${a.notes},
                granted_at = ${a.granted_at}, expires_at = ${a.expires_at}, revoked_at = ${a.revoked_at},
                revoked_by = ${a.revoked_by}, version = ${a.version}
              WHERE tenant_id = ${a.tenant_id} AND subject = ${a.subject} AND plan_hash = ${a.plan_hash}
                AND version = ${expected} RETURNING version`).pipe(Effect.map((rs) => rs.length > 0), orStorage)
    },
    list: (tenant, subject) =>
      (subject === undefined
        ? sql`SELECT * FROM guardrails_approvals WHERE tenant_id = ${tenant}`
        : sql`SELECT * FROM guardrails_approvals WHERE tenant_id = ${tenant} AND subject = ${subject}`).pipe(
          Effect.map((rs) =>
            rs.map(toApproval).sort((a, b) =>
              (b.granted_at ?? -1) - (a.granted_at ?? -1) || (a.plan_hash < b.plan_hash ? -1 : 1)
            )
          ),
          orStorage
        )
  }))
)

const TOTAL = "*"

/**
 * SQL {@link BudgetStore.BudgetStore}. Amounts are BIGINT micro-dollars, bound and read as text so
 * no driver ever turns them into floating point. A capped add updates the total row only while
 * it stays within the ceiling; the row lock (PostgreSQL) or the single writer (SQLite) makes it atomic.
 */
export const budgetStore: Layer.Layer<BudgetStore.BudgetStore, never, SqlDb> = Layer.effect(
  BudgetStore.BudgetStore,
  Effect.map(SqlDb, (sql) => {
    const upsert = (scope: string, period: string, category: string, amount: string) =>
      sql`INSERT INTO guardrails_spend (scope, period, category, amount) VALUES (${scope}, ${period}, ${category}, CAST(${amount} AS BIGINT))
          ON CONFLICT (scope, period, category) DO UPDATE SET amount = guardrails_spend.amount + excluded.amount
          RETURNING CAST(amount AS TEXT) AS amount`
    return {
      add: (scope, period, category, amount, ceiling) =>
        sql.withTransaction(
          Effect.gen(function*() {
            const x = amount.toString()
            let total: bigint
            if (ceiling === null) {
              total = BigInt(String((yield* upsert(scope, period, TOTAL, x))[0]!.amount))
            } else {
              yield* sql`INSERT INTO guardrails_spend (scope, period, category, amount) VALUES (${scope}, ${period}, ${TOTAL}, 0)
                         ON CONFLICT (scope, period, category) DO NOTHING`
              const rows = yield* sql`UPDATE guardrails_spend SET amount = amount + CAST(${x} AS BIGINT)
                                      WHERE scope = ${scope} AND period = ${period} AND category = ${TOTAL}
                                        AND amount + CAST(${x} AS BIGINT) <= CAST(${ceiling.toString()} AS BIGINT)
                                      RETURNING CAST(amount AS TEXT) AS amount`
              if (rows.length === 0) return Option.none<bigint>()
              total = BigInt(String(rows[0]!.amount))
            }
            yield* upsert(scope, period, category, x)
            return Option.some(total)
          })
        ).pipe(Effect.mapError(storageError)),
      read: (scope, period) =>
        sql`SELECT category, CAST(amount AS TEXT) AS amount FROM guardrails_spend
            WHERE scope = ${scope} AND period = ${period} ORDER BY category`.pipe(
          Effect.map((rs) => {
            let total = 0n
            const categories: Array<{ category: string; amount: bigint }> = []
            for (const r of rs) {
              const amount = BigInt(String(r.amount))
              if (r.category === TOTAL) total = amount
              else categories.push({ category: String(r.category), amount })
            }
            return { total, categories }
          }),
          orStorage
        ),
      totals: (scopes, period) =>
        scopes.length === 0
          ? Effect.succeed([])
          : sql`SELECT scope, CAST(amount AS TEXT) AS amount FROM guardrails_spend
                WHERE ${sql.in("scope", scopes)} AND period = ${period} AND category = ${TOTAL}`.pipe(
            Effect.map((rs) => {
              const found = new Map(rs.map((r) => [String(r.scope), BigInt(String(r.amount))]))
              return scopes.map((s) => found.get(s) ?? 0n)
            }),
            orStorage
          ),
      getLimit: (tenant) =>
        sql`SELECT tenant_id, CAST(limit_usd AS TEXT) AS limit_usd, updated_at, updated_by FROM guardrails_budgets
            WHERE tenant_id = ${tenant}`.pipe(
          Effect.map((rs) =>
            rs.length === 0
              ? Option.none()
              : Option.some(
                Trusted.make(BudgetStore.BudgetLimit, {
                  tenant_id: String(rs[0]!.tenant_id),
                  limit_usd: BigInt(String(rs[0]!.limit_usd)),
                  updated_at: int(rs[0]!.updated_at),
                  updated_by: String(rs[0]!.updated_by)
                })
              )
          ),
          orStorage
        ),
      putLimit: (l) =>
        sql`INSERT INTO guardrails_budgets (tenant_id, limit_usd, updated_at, updated_by)
            VALUES (${l.tenant_id}, CAST(${l.limit_usd.toString()} AS BIGINT), ${l.updated_at}, ${l.updated_by})
            ON CONFLICT (tenant_id) DO UPDATE SET limit_usd = excluded.limit_usd, updated_at = excluded.updated_at,
              updated_by = excluded.updated_by`.pipe(Effect.asVoid, orStorage)
    }
  })
)

/** Every guardrails port on SQL (needs a migrated database behind `SqlDb`). */
export const layer: Layer.Layer<GuardrailsPorts.GuardrailsPorts, never, SqlDb> = Layer.mergeAll(
  counterStore,
  breakerStore,
  eventStore,
  approvalStore,
  budgetStore
)

/**
 * Raw access to what an adapter persisted for ops' run controls and executions, bypassing the
 * ports: the ops suite checks stored runs, counters and executions through it.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** A stored execution, reduced to what the suite checks. */
export interface StoredExecution {
  readonly status: string
  readonly attempts: number
  readonly retry_count: number
  readonly claimed_by: string | null
  readonly actual_cost_usd: string
  readonly failure_reason: string | null
  readonly triaged: boolean
  readonly version: number
}

/** Raw reads of ops rows. */
export class OpsProbe extends Context.Tag("test/OpsProbe")<
  OpsProbe,
  {
    /** A stored run `{open, ended_at, version}`, or null. */
    readonly run: (runId: string) => Effect.Effect<{ open: boolean; ended_at: number | null; version: number } | null>
    /** The stored counter of a run and kind, or null. */
    readonly counter: (runId: string, kind: string) => Effect.Effect<number | null>
    /** A stored execution, or null. */
    readonly execution: (runId: string) => Effect.Effect<StoredExecution | null>
    /** A stored execution's `heartbeat_at` (ms), or null. */
    readonly heartbeatAt: (runId: string) => Effect.Effect<number | null>
    /** How many stored executions have this status. */
    readonly countStatus: (status: string) => Effect.Effect<number>
  }
>() {}

const reduce = (r: Record<string, any>): StoredExecution => ({
  status: String(r.status),
  attempts: Number(r.attempts),
  retry_count: Number(r.retry_count),
  claimed_by: r.claimed_by === null ? null : String(r.claimed_by),
  actual_cost_usd: String(r.actual_cost_usd),
  failure_reason: r.failure_reason === null ? null : String(r.failure_reason),
  triaged: r.triage !== null && r.triage !== undefined,
  version: Number(r.version)
})

/** Probe over the memory database. */
export const memory = Layer.effect(
  OpsProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    run: (id) =>
      Effect.sync(() => {
        const r = db.table<{ ended_at: number | null; version: number }>("ops_runs").get(id)
        return r ? { open: r.ended_at === null, ended_at: r.ended_at, version: r.version } : null
      }),
    counter: (id, kind) =>
      Effect.sync(() => db.table<{ count: number }>("ops_run_counters").get(`${id}\u0000${kind}`)?.count ?? null),
    execution: (id) =>
      Effect.sync(() => {
        const r = db.table<Record<string, any>>("ops_executions").get(id)
        return r ? reduce(r) : null
      }),
    heartbeatAt: (id) =>
      Effect.sync(() => {
        const at = db.table<Record<string, any>>("ops_executions").get(id)?.heartbeat_at
        return at === null || at === undefined ? null : Number(at)
      }),
    countStatus: (status) =>
      Effect.sync(() =>
        [...db.table<{ status: string }>("ops_executions").values()].filter((r) => r.status === status).length
      )
  }))
)

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  OpsProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    run: (id) =>
      sql`SELECT ended_at, open_flag, version FROM ops_runs WHERE run_id = ${id}`.pipe(
        Effect.map((rs) =>
          rs.length === 0
            ? null
            : {
              open: rs[0]!.open_flag !== null && Number(rs[0]!.open_flag) === 1,
              ended_at: rs[0]!.ended_at === null ? null : Number(rs[0]!.ended_at),
              version: Number(rs[0]!.version)
            }
        ),
        Effect.orDie
      ),
    counter: (id, kind) =>
      sql`SELECT count FROM ops_run_counters WHERE run_id = ${id} AND kind = ${kind}`.pipe(
        Effect.map((rs) => (rs.length === 0 ? null : Number(rs[0]!.count))),
        Effect.orDie
      ),
    execution: (id) =>
      sql`SELECT status, attempts, retry_count, claimed_by, CAST(actual_cost_usd AS TEXT) AS actual_cost_usd,
            failure_reason, triage, version FROM ops_executions WHERE run_id = ${id}`.pipe(
        Effect.map((rs) => (rs.length === 0 ? null : reduce(rs[0]!))),
        Effect.orDie
      ),
    heartbeatAt: (id) =>
      sql`SELECT heartbeat_at FROM ops_executions WHERE run_id = ${id}`.pipe(
        Effect.map((rs) => (rs.length === 0 || rs[0]!.heartbeat_at === null ? null : Number(rs[0]!.heartbeat_at))),
        Effect.orDie
      ),
    countStatus: (status) =>
      sql`SELECT COUNT(*) AS n FROM ops_executions WHERE status = ${status}`.pipe(
        Effect.map((rs) => Number(rs[0]!.n)),
        Effect.orDie
      )
  }))
)

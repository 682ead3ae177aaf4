/**
 * SQL implementations of ops' run-control and execution ports (`ops_*` tables, migration
 * `0008_ops_executions`). The claim is one `UPDATE … WHERE run_id IN (SELECT … LIMIT n) RETURNING`:
 * on PostgreSQL the subquery takes `FOR UPDATE SKIP LOCKED`, so concurrent claimers on several
 * instances each get different rows without waiting for each other; on SQLite the statement runs
 * under the single writer, atomically.
 */
import { CorePorts } from "@airlock/core"
import { ExecutionStore, RunStore } from "@airlock/ops"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option } from "effect"
import type { OpsRunsPorts } from "../memory/ops-runs.js"
import { type Db, literal, SqlDb } from "./db.js"
import { int, intOrNull, json, orStorage, storageError, toJson, uniqueViolation } from "./dialect.js"

type Row = Record<string, unknown>

const RUN_COLUMNS = literal(
  "run_id, reason, started_by, started_by_name, started_at, ended_at, ended_by, ended_by_name, end_reason, version"
)

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

const toRun = (r: Row) =>
  new RunStore.RunRecord({
    run_id: String(r.run_id),
    reason: str(r.reason),
    started_by: String(r.started_by),
    started_by_name: str(r.started_by_name),
    started_at: int(r.started_at),
    ended_at: intOrNull(r.ended_at),
    ended_by: str(r.ended_by),
    ended_by_name: str(r.ended_by_name),
    end_reason: str(r.end_reason),
    version: int(r.version)
  }, true)

/** SQL {@link RunStore.RunStore}. */
export const runStore: Layer.Layer<RunStore.RunStore, never, SqlDb> = Layer.effect(
  RunStore.RunStore,
  Effect.map(SqlDb, (sql) => {
    const startError = (run: RunStore.RunRecord) => (e: SqlError) => {
      const violation = uniqueViolation(e)
      if (violation === undefined) return storageError(e)
      return violation.columns.includes("open_flag")
        ? RunStore.alreadyActiveError(null)
        : CorePorts.duplicateError("run", run.run_id)
    }
    return {
      open: () =>
        sql`SELECT ${RUN_COLUMNS} FROM ops_runs WHERE open_flag = 1`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toRun(rs[0]!))),
          storageError
        ),
      get: (id) =>
        sql`SELECT ${RUN_COLUMNS} FROM ops_runs WHERE run_id = ${id}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toRun(rs[0]!))),
          storageError
        ),
      start: (run) =>
        sql`INSERT INTO ops_runs (run_id, reason, started_by, started_by_name, started_at, ended_at, ended_by,
              ended_by_name, end_reason, open_flag, version)
            VALUES (${run.run_id}, ${run.reason}, ${run.started_by}, ${run.started_by_name}, ${run.started_at},
              ${run.ended_at}, ${run.ended_by}, ${run.ended_by_name}, ${run.end_reason},
              ${run.ended_at === null ? 1 : null}, ${run.version})`.pipe(
          Effect.asVoid,
          Effect.mapError(startError(run))
        ),
      update: (run, expected) =>
        sql`UPDATE ops_runs SET reason = ${run.reason}, ended_at = ${run.ended_at}, ended_by = ${run.ended_by},
              ended_by_name = ${run.ended_by_name}, end_reason = ${run.end_reason},
              open_flag = ${run.ended_at === null ? 1 : null}, version = ${run.version}
            WHERE run_id = ${run.run_id} AND version = ${expected} RETURNING version`.query(
          (rs) => rs.length > 0,
          storageError
        ),
      list: (limit) =>
        sql`SELECT ${RUN_COLUMNS} FROM ops_runs ORDER BY started_at DESC, run_id DESC LIMIT ${limit}`.query(
          (rs) => rs.map(toRun),
          storageError
        ),
      count: (runId, kind, n) =>
        sql`INSERT INTO ops_run_counters (run_id, kind, count) VALUES (${runId}, ${kind}, ${n})
            ON CONFLICT (run_id, kind) DO UPDATE SET count = ops_run_counters.count + excluded.count`.pipe(
          Effect.asVoid,
          orStorage
        ),
      counts: (runId) =>
        sql`SELECT kind, count FROM ops_run_counters WHERE run_id = ${runId}`.query(
          (rs) => Object.fromEntries(rs.map((r) => [String(r.kind), int(r.count)])),
          storageError
        )
    }
  })
)

const EXEC_COLUMNS = literal(
  "run_id, tenant_id, job_name, plan, plan_hash, risk_score, CAST(estimated_cost_usd AS TEXT) AS estimated_cost_usd, " +
    "CAST(actual_cost_usd AS TEXT) AS actual_cost_usd, status, attempts, retry_count, requested_by, action_id, " +
    "claimed_by, queued_at, started_at, heartbeat_at, finished_at, progress, progress_message, error, failure_reason, " +
    "log_tail, triage, version"
)

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

const toExecution = (r: Row) =>
  new ExecutionStore.ExecutionRecord({
    run_id: String(r.run_id),
    tenant_id: String(r.tenant_id),
    job_name: String(r.job_name),
    plan: json(r.plan),
    plan_hash: String(r.plan_hash),
    risk_score: num(r.risk_score),
    estimated_cost_usd: BigInt(String(r.estimated_cost_usd)),
    actual_cost_usd: BigInt(String(r.actual_cost_usd)),
    status: r.status as ExecutionStore.ExecutionStatus,
    attempts: int(r.attempts),
    retry_count: int(r.retry_count),
    requested_by: String(r.requested_by),
    action_id: str(r.action_id),
    claimed_by: str(r.claimed_by),
    queued_at: int(r.queued_at),
    started_at: intOrNull(r.started_at),
    heartbeat_at: intOrNull(r.heartbeat_at),
    finished_at: intOrNull(r.finished_at),
    progress: num(r.progress),
    progress_message: str(r.progress_message),
    error: str(r.error),
    failure_reason: str(r.failure_reason),
    log_tail: json(r.log_tail) as Array<string>,
    triage: r.triage === null || r.triage === undefined ? null : json(r.triage),
    version: int(r.version)
  }, true)

const skipLocked = (sql: Db) => literal(sql.dialect === "pg" ? "FOR UPDATE SKIP LOCKED" : "")

/** SQL {@link ExecutionStore.ExecutionStore}. */
export const executionStore: Layer.Layer<ExecutionStore.ExecutionStore, never, SqlDb> = Layer.effect(
  ExecutionStore.ExecutionStore,
  Effect.map(SqlDb, (sql) => {
    const lock = skipLocked(sql)
    // PostgreSQL: the picked ids as an InitPlan evaluated once (an `IN (subquery)` becomes a
    // semi-join that rescans the locking subquery per row and can take more than the LIMIT)
    const pickOpen = literal(sql.dialect === "pg" ? "run_id = ANY(ARRAY(" : "run_id IN (")
    const pickClose = literal(sql.dialect === "pg" ? "))" : ")")
    const insertError = (r: ExecutionStore.ExecutionRecord) => (e: SqlError) =>
      uniqueViolation(e) === undefined ? storageError(e) : CorePorts.duplicateError("execution", r.run_id)
    return {
      insert: (r) =>
        sql`INSERT INTO ops_executions (run_id, tenant_id, job_name, plan, plan_hash, risk_score, estimated_cost_usd,
              actual_cost_usd, status, attempts, retry_count, requested_by, action_id, claimed_by, queued_at, started_at,
              heartbeat_at, finished_at, progress, progress_message, error, failure_reason, log_tail, triage, version)
            VALUES (${r.run_id}, ${r.tenant_id}, ${r.job_name}, ${toJson(r.plan)}, ${r.plan_hash}, ${r.risk_score},
              CAST(${r.estimated_cost_usd.toString()} AS BIGINT), CAST(${r.actual_cost_usd.toString()} AS BIGINT),
              ${r.status}, ${r.attempts}, ${r.retry_count}, ${r.requested_by}, ${r.action_id}, ${r.claimed_by},
              ${r.queued_at}, ${r.started_at}, ${r.heartbeat_at}, ${r.finished_at}, ${r.progress}, ${r.progress_message},
              ${r.error}, ${r.failure_reason}, ${toJson(r.log_tail)}, ${r.triage === null ? null : toJson(r.triage)},
              ${r.version})`.pipe(Effect.asVoid, Effect.mapError(insertError(r))),
      get: (tenant, id) =>
        sql`SELECT ${EXEC_COLUMNS} FROM ops_executions WHERE run_id = ${id} AND tenant_id = ${tenant}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toExecution(rs[0]!))),
          storageError
        ),
      getById: (id) =>
        sql`SELECT ${EXEC_COLUMNS} FROM ops_executions WHERE run_id = ${id}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toExecution(rs[0]!))),
          storageError
        ),
      update: (r, expected) =>
        sql`UPDATE ops_executions SET status = ${r.status}, attempts = ${r.attempts}, retry_count = ${r.retry_count},
              claimed_by = ${r.claimed_by}, queued_at = ${r.queued_at}, started_at = ${r.started_at},
              heartbeat_at = ${r.heartbeat_at}, finished_at = ${r.finished_at}, progress = ${r.progress},
              progress_message = ${r.progress_message}, error = ${r.error}, failure_reason = ${r.failure_reason},
              actual_cost_usd = CAST(${r.actual_cost_usd.toString()} AS BIGINT), log_tail = ${toJson(r.log_tail)},
              triage = ${r.triage === null ? null : toJson(r.triage)}, version = ${r.version}
            WHERE run_id = ${r.run_id} AND tenant_id = ${r.tenant_id} AND version = ${expected} RETURNING version`
          .query(
            (rs) => rs.length > 0,
            storageError
          ),
      list: (tenant, q) => {
        const clauses = [sql`tenant_id = ${tenant}`]
        if (q.job_name !== undefined) clauses.push(sql`job_name = ${q.job_name}`)
        if (q.status !== undefined) clauses.push(sql`status = ${q.status}`)
        if (q.triaged === true) clauses.push(sql`triage IS NOT NULL`)
        if (q.before !== undefined) clauses.push(sql`run_id < ${q.before}`)
        return sql`SELECT ${EXEC_COLUMNS} FROM ops_executions WHERE ${sql.and(clauses)}
          ORDER BY run_id DESC LIMIT ${q.limit}`.query((rs) => rs.map(toExecution), storageError)
      },
      claim: (instance, now, limit) =>
        sql`UPDATE ops_executions SET status = 'RUNNING', claimed_by = ${instance}, attempts = attempts + 1,
              started_at = ${now}, heartbeat_at = ${now}, version = version + 1
            WHERE status = 'QUEUED' AND ${pickOpen}
              SELECT run_id FROM ops_executions WHERE status = 'QUEUED' ORDER BY queued_at, run_id LIMIT ${limit} ${lock}
            ${pickClose}
            RETURNING ${EXEC_COLUMNS}`.query(
          (rs) => rs.map(toExecution).sort((a, b) => a.queued_at - b.queued_at || (a.run_id < b.run_id ? -1 : 1)),
          storageError
        ),
      stale: (before, limit, tenant) =>
        (tenant === undefined
          ? sql`SELECT ${EXEC_COLUMNS} FROM ops_executions
              WHERE status = 'RUNNING' AND COALESCE(heartbeat_at, started_at, 0) < ${before}
              ORDER BY heartbeat_at LIMIT ${limit}`
          : sql`SELECT ${EXEC_COLUMNS} FROM ops_executions
              WHERE status = 'RUNNING' AND tenant_id = ${tenant} AND COALESCE(heartbeat_at, started_at, 0) < ${before}
              ORDER BY heartbeat_at LIMIT ${limit}`).query((rs) => rs.map(toExecution), storageError)
    }
  })
)

/** Both ops run ports on SQL. */
export const layer: Layer.Layer<OpsRunsPorts, never, SqlDb> = Layer.mergeAll(runStore, executionStore)

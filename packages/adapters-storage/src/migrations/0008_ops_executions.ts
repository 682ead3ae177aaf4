/**
 * Ops run controls and executions: runs (at most one open: `open_flag` is 1 while a run is open
 * and NULL once it ended, under a unique index, so two instances never open two runs), their
 * action counters, and executions. Indexes follow the queries: the queue oldest first (partial:
 * only QUEUED rows, what a claim scans with `FOR UPDATE SKIP LOCKED`), running executions by
 * heartbeat (the stale reconcile), and a tenant's executions by id and by job.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ops_runs (
    run_id TEXT NOT NULL PRIMARY KEY,
    reason TEXT,
    started_by TEXT NOT NULL,
    started_by_name TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    ended_by TEXT,
    ended_by_name TEXT,
    end_reason TEXT,
    open_flag INTEGER,
    version INTEGER NOT NULL
  )`
  yield* sql`CREATE UNIQUE INDEX ops_runs_open ON ops_runs (open_flag)`
  yield* sql`CREATE INDEX ops_runs_started ON ops_runs (started_at, run_id)`
  yield* sql`CREATE TABLE ops_run_counters (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (run_id, kind)
  )`
  yield* sql`CREATE TABLE ops_executions (
    run_id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    job_name TEXT NOT NULL,
    plan TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    risk_score DOUBLE PRECISION,
    estimated_cost_usd BIGINT NOT NULL,
    actual_cost_usd BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    retry_count INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    action_id TEXT,
    claimed_by TEXT,
    queued_at BIGINT NOT NULL,
    started_at BIGINT,
    heartbeat_at BIGINT,
    finished_at BIGINT,
    progress DOUBLE PRECISION,
    progress_message TEXT,
    error TEXT,
    failure_reason TEXT,
    log_tail TEXT NOT NULL,
    triage TEXT,
    version INTEGER NOT NULL
  )`
  yield* sql`CREATE INDEX ops_executions_queue ON ops_executions (queued_at, run_id) WHERE status = 'QUEUED'`
  yield* sql`CREATE INDEX ops_executions_running ON ops_executions (heartbeat_at) WHERE status = 'RUNNING'`
  yield* sql`CREATE INDEX ops_executions_tenant ON ops_executions (tenant_id, run_id)`
  yield* sql`CREATE INDEX ops_executions_job ON ops_executions (tenant_id, job_name, run_id)`
})

/**
 * Ops scheduler and maintenance loop: schedules with their cursor (`next_due_at`), one dispatch
 * record per (schedule, due time) — the primary key is what makes a dispatch exactly-once across
 * instances —, the `schedule.trigger` events (one per record, unique on it too), maintenance runs
 * and failure records.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ops_schedules (
    name TEXT PRIMARY KEY,
    expression TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    target TEXT NOT NULL,
    args TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    overlap TEXT NOT NULL,
    catch_up TEXT NOT NULL,
    next_due_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    version INTEGER NOT NULL
  )`
  yield* sql`CREATE INDEX ops_schedules_due ON ops_schedules (next_due_at) WHERE enabled = 1`
  yield* sql`CREATE TABLE ops_schedule_dispatches (
    schedule_name TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    target TEXT NOT NULL,
    dispatched_at BIGINT NOT NULL,
    dispatched_by TEXT NOT NULL,
    late INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    available_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    last_error TEXT,
    result TEXT,
    PRIMARY KEY (schedule_name, due_at)
  )`
  yield* sql`CREATE INDEX ops_schedule_dispatches_open ON ops_schedule_dispatches (status, available_at)
    WHERE status IN ('pending', 'running')`
  yield* sql`CREATE INDEX ops_schedule_dispatches_errors ON ops_schedule_dispatches (finished_at)
    WHERE last_error IS NOT NULL`
  yield* sql`CREATE TABLE ops_schedule_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    schedule_name TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    at BIGINT NOT NULL,
    instance TEXT NOT NULL,
    data TEXT NOT NULL
  )`
  yield* sql`CREATE UNIQUE INDEX ops_schedule_events_once ON ops_schedule_events (type, schedule_name, due_at)`
  yield* sql`CREATE TABLE ops_maintenance_runs (
    id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    owner TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    result TEXT,
    error TEXT
  )`
  yield* sql`CREATE INDEX ops_maintenance_runs_queue ON ops_maintenance_runs (status, enqueued_at)`
  yield* sql`CREATE INDEX ops_maintenance_runs_command ON ops_maintenance_runs (command, enqueued_at)`
  yield* sql`CREATE TABLE ops_maintenance_failures (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    command TEXT NOT NULL,
    at BIGINT NOT NULL,
    error TEXT NOT NULL,
    memory_uid TEXT
  )`
})

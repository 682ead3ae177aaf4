/**
 * Guardrails tables: windowed counters, breaker states, events, approvals, spend totals
 * (micro-dollars) and execution budgets.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE airlock_guard_counters (
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
  )`
  yield* sql`CREATE INDEX airlock_guard_counters_expiry ON airlock_guard_counters (expires_at)`
  yield* sql`CREATE TABLE airlock_guard_breakers (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant_id TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    opened_at BIGINT,
    until_at BIGINT,
    consecutive_failures INTEGER NOT NULL,
    probe_until BIGINT,
    data TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    version INTEGER NOT NULL
  )`
  yield* sql`CREATE TABLE airlock_guard_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    reason TEXT NOT NULL,
    data TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    at BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX airlock_guard_events_tenant ON airlock_guard_events (tenant_id, id)`
  yield* sql`CREATE TABLE airlock_guard_approvals (
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    requested_by TEXT,
    requested_at BIGINT,
    risk_score TEXT,
    approver TEXT,
    approver_name TEXT,
    notes TEXT,
    granted_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject, plan_hash)
  )`
  yield* sql`CREATE TABLE airlock_guard_spend (
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    category TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (scope, period, category)
  )`
  yield* sql`CREATE TABLE airlock_guard_budgets (
    tenant_id TEXT PRIMARY KEY,
    limit_usd BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
  )`
})

/** Core tables: tenants, actors, tokens, settings, system state, actions, traces, audit. */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE airlock_tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ai_companion_enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE airlock_actors (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE TABLE airlock_api_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    name TEXT NOT NULL,
    hint TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
  )`
  yield* sql`CREATE INDEX airlock_api_tokens_tenant ON airlock_api_tokens (tenant_id, id)`
  yield* sql`CREATE TABLE airlock_ai_settings (
    tenant_id TEXT PRIMARY KEY,
    ai_enabled INTEGER NOT NULL,
    kill_switch INTEGER NOT NULL,
    ai_mode TEXT NOT NULL,
    extensions TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE airlock_system_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE airlock_actions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    review_reasons TEXT NOT NULL,
    idempotency_key TEXT,
    proposed_by TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    closed_by TEXT,
    closed_at BIGINT,
    close_reason TEXT,
    result TEXT,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX airlock_actions_idempotency ON airlock_actions (tenant_id, kind, idempotency_key)`
  yield* sql`CREATE INDEX airlock_actions_status ON airlock_actions (tenant_id, status, id)`
  yield* sql`CREATE INDEX airlock_actions_subject ON airlock_actions (tenant_id, subject, id)`
  yield* sql`CREATE TABLE airlock_traces (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    gates TEXT NOT NULL
  )`
  yield* sql`CREATE INDEX airlock_traces_action ON airlock_traces (tenant_id, action_id, id)`
  yield* sql`CREATE TABLE airlock_audit (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
  )`
  yield* sql`CREATE TABLE airlock_audit_heads (
    tenant_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
  )`
})

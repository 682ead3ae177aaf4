/**
 * Ops KPI tables: product events (idempotent on `(tenant_id, event_id)`, with the indexes the
 * rollup aggregates read), the days each tenant has events on, stored daily rollups, the alert
 * webhook's cooldown claims and delivery attempts, baseline snapshots with their `latest`
 * pointer, and weekly digest drafts (one per anchor week and sequence number).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ops_product_events (
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    step TEXT NOT NULL,
    subject TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    day INTEGER NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
  )`
  // counts per day and step (distinct subjects read from the index alone)
  yield* sql`CREATE INDEX ops_product_events_day ON ops_product_events (tenant_id, day, step, subject)`
  // cohorts: each subject's first day, and its returns on day + 1 / day + 7
  yield* sql`CREATE INDEX ops_product_events_subject ON ops_product_events (tenant_id, subject, day)`
  // time ranges: the digest's evidence count and the baseline's rolling windows
  yield* sql`CREATE INDEX ops_product_events_time ON ops_product_events (tenant_id, occurred_at, step)`
  yield* sql`CREATE TABLE ops_kpi_event_days (
    tenant_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    PRIMARY KEY (day, tenant_id)
  )`
  yield* sql`CREATE TABLE ops_kpi_rollups (
    tenant_id TEXT NOT NULL,
    day_index INTEGER NOT NULL,
    day TEXT NOT NULL,
    steps TEXT NOT NULL,
    cohort_size INTEGER NOT NULL,
    d1_retained INTEGER NOT NULL,
    d7_retained INTEGER NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day_index)
  )`
  yield* sql`CREATE TABLE ops_kpi_alert_claims (
    tenant_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    until_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, payload_hash)
  )`
  yield* sql`CREATE TABLE ops_kpi_webhook_deliveries (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    host TEXT NOT NULL,
    at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX ops_kpi_webhook_deliveries_tenant ON ops_kpi_webhook_deliveries (tenant_id, at)`
  yield* sql`CREATE TABLE ops_kpi_baselines (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    captured_at BIGINT NOT NULL,
    captured_by TEXT NOT NULL,
    document TEXT NOT NULL
  )`
  yield* sql`CREATE INDEX ops_kpi_baselines_tenant ON ops_kpi_baselines (tenant_id, captured_at)`
  yield* sql`CREATE TABLE ops_kpi_pointers (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
  )`
  yield* sql`CREATE TABLE ops_kpi_digests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    anchor_week TEXT NOT NULL,
    anchor_date TEXT NOT NULL,
    seq INTEGER NOT NULL,
    lookback_days INTEGER NOT NULL,
    window_from TEXT NOT NULL,
    window_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    markdown TEXT NOT NULL,
    evidence TEXT NOT NULL,
    UNIQUE (tenant_id, anchor_week, seq)
  )`
  yield* sql`CREATE INDEX ops_kpi_digests_tenant ON ops_kpi_digests (tenant_id, created_at)`
})

/**
 * Companion report tables: the auditor's integrity reports (newest first per tenant by id) and
 * rule promotions (the companion's proposals to turn a vendor's consistent labels into a tenant
 * rule, with their review). Reports and the drill-down read `companion_proposals` and
 * `companion_proposal_reasons` through the indexes added here (details by creation time, reasons
 * by reason and time).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE companion_integrity_reports (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    days INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    status TEXT NOT NULL,
    entries_checked INTEGER NOT NULL,
    audit_records_checked INTEGER NOT NULL,
    counts TEXT NOT NULL,
    findings TEXT NOT NULL,
    truncated INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE TABLE companion_rule_promotions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    vendor_key TEXT NOT NULL,
    account_code TEXT NOT NULL,
    labels INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL,
    action_id TEXT,
    rule_id TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    reviewed_at BIGINT,
    reviewed_by TEXT,
    review_reason TEXT,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX companion_rule_promotions_open ON companion_rule_promotions (tenant_id, vendor_key)
    WHERE status = 'proposed'`
  yield* sql`CREATE INDEX companion_proposals_created ON companion_proposals (tenant_id, created_at, proposal_id)`
  yield* sql`CREATE INDEX companion_proposal_reasons_reason ON companion_proposal_reasons (tenant_id, reason, created_at)`
})

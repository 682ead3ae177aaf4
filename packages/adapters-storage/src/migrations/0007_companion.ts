/**
 * Companion tables: the tenant's categorisation rules, classifier versions (the three newest are
 * kept), calibration versions with their threshold certificates, per-proposal details (stage
 * results, the auto-post decision, the review and any correction) and one row per not-auto-post
 * reason code of a proposal, which `not_auto_post_counts` counts. Indexes follow the queries:
 * reviewed history by review time, a vendor's history, reason rows by creation time.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE companion_rules (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    active INTEGER NOT NULL,
    match TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE TABLE companion_classifiers (
    tenant_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    model TEXT NOT NULL,
    examples INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
  )`
  yield* sql`CREATE TABLE companion_calibrations (
    tenant_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    calibrator TEXT NOT NULL,
    certificate TEXT NOT NULL,
    metrics TEXT NOT NULL,
    sample INTEGER NOT NULL,
    fitted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
  )`
  yield* sql`CREATE TABLE companion_proposals (
    tenant_id TEXT NOT NULL,
    proposal_id TEXT NOT NULL,
    bank_transaction_id TEXT NOT NULL,
    vendor_key TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    direction TEXT NOT NULL,
    splits TEXT NOT NULL,
    stages TEXT NOT NULL,
    deciding_stage TEXT,
    confidence DOUBLE PRECISION NOT NULL,
    calibrated_probability DOUBLE PRECISION,
    calibration_version INTEGER,
    classifier_version INTEGER,
    autopost TEXT NOT NULL,
    not_auto_post_reasons TEXT NOT NULL,
    corrects_proposal_id TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    review_outcome TEXT,
    reviewed_by TEXT,
    reviewed_at BIGINT,
    review_reason TEXT,
    final_splits TEXT,
    applied_proposal_id TEXT,
    entry_id TEXT,
    learning TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, proposal_id)
  )`
  yield* sql`CREATE INDEX companion_proposals_reviewed ON companion_proposals (tenant_id, reviewed_at)
    WHERE reviewed_at IS NOT NULL`
  yield* sql`CREATE INDEX companion_proposals_vendor ON companion_proposals (tenant_id, vendor_key, reviewed_at)
    WHERE reviewed_at IS NOT NULL`
  yield* sql`CREATE TABLE companion_proposal_reasons (
    tenant_id TEXT NOT NULL,
    proposal_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, proposal_id, reason)
  )`
  yield* sql`CREATE INDEX companion_proposal_reasons_time ON companion_proposal_reasons (tenant_id, created_at)`
})

/**
 * Hardening (issue 18): the audit log's verification checkpoint — per tenant, the sequence and
 * hash the chain was verified up to, so a verification hashes only what is new — and the last
 * use of each API token (written at most once a minute per token).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE core_audit_checkpoints (
    tenant_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    verified_at BIGINT NOT NULL
  )`
  yield* sql`ALTER TABLE core_api_tokens ADD COLUMN last_used_at BIGINT`
})

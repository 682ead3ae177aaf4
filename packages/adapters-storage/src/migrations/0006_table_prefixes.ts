/**
 * Every package's tables carry its prefix: core's `airlock_*` become `core_*`, guardrails'
 * `airlock_guard_*` become `guardrails_*`; the ledger's `ledger_*` stay. `ALTER TABLE … RENAME TO`
 * keeps the rows, the keys and the indexes on both SQLite and PostgreSQL. Index names (and
 * PostgreSQL's primary-key constraint names) keep the prefix they were created with: nothing
 * looks them up by name, and SQLite cannot rename an index without rebuilding it.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** Old name → new name. */
export const renames: ReadonlyArray<readonly [from: string, to: string]> = [
  ["airlock_tenants", "core_tenants"],
  ["airlock_actors", "core_actors"],
  ["airlock_api_tokens", "core_api_tokens"],
  ["airlock_ai_settings", "core_ai_settings"],
  ["airlock_system_state", "core_system_state"],
  ["airlock_actions", "core_actions"],
  ["airlock_traces", "core_traces"],
  ["airlock_audit", "core_audit"],
  ["airlock_audit_heads", "core_audit_heads"],
  ["airlock_guard_counters", "guardrails_counters"],
  ["airlock_guard_breakers", "guardrails_breakers"],
  ["airlock_guard_events", "guardrails_events"],
  ["airlock_guard_approvals", "guardrails_approvals"],
  ["airlock_guard_spend", "guardrails_spend"],
  ["airlock_guard_budgets", "guardrails_budgets"]
]

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const [from, to] of renames) yield* sql.unsafe(`ALTER TABLE ${from} RENAME TO ${to}`)
})

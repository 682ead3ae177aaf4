/**
 * Tenant export indexes: the export reads every registry table page by page in primary-key order
 * after a keyset cursor (`TenantTables`). `core_traces` is keyed by `id` alone and grows with every
 * proposal and apply; without `(tenant_id, id)` each page sorted all of the tenant's traces
 * (`USE TEMP B-TREE FOR ORDER BY`), so the export of a busy tenant grew quadratically. The small
 * KPI tables keyed by `id` (webhook deliveries, baselines, digests: a few rows a week) keep their
 * sort; `TenantExportPlans.test.ts` states which tables seek.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX core_traces_tenant_id ON core_traces (tenant_id, id)`
})

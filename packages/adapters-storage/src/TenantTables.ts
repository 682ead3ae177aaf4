/**
 * The registry of tenant-owned data: every table that holds tenant rows, declared once, with the
 * column naming the tenant, its key (the export's order and paging) and its place in a delete.
 * Core's `TenantData` export and delete go through it ({@link TenantDataStore}), on SQL and in
 * memory. Every other table is declared system-level with the reason.
 *
 * The schema test (`TenantTables.test.ts`) reads the live schema on SQLite and PostgreSQL and the
 * memory database's tables, and fails when a table is in neither list, when a table with a
 * `tenant_id` column is declared system-level, or when a declared table or column is missing. A
 * package adding tables (`companion_*`, `ops_*`) adds its rows here in the same change.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** One SQL table holding tenant rows. */
export interface TenantTable {
  readonly table: string
  /** The column naming the tenant. */
  readonly tenantColumn: string
  /**
   * When the column holds keys built from the tenant id rather than the id itself (a spend
   * scope `ai:<tenant>`, a counter key `velocity:<tenant>`): every key the tenant's rows use.
   */
  readonly keys?: (tenant: string) => ReadonlyArray<string>
  /** The primary key: the export's row order and paging cursor. */
  readonly key: ReadonlyArray<string>
  /** Deletes run in ascending order (rows referring to others go first, the tenant row last). */
  readonly deleteOrder: number
  /** Columns never exported (secrets: token hashes). */
  readonly omit?: ReadonlyArray<string>
}

/** A table that holds no tenant's data, and why. */
export interface SystemTable {
  readonly table: string
  readonly reason: string
}

const spendScopes = (tenant: string) => [`ai:${tenant}`, `ai:${tenant}:day`, `exec:${tenant}`, `exec:${tenant}:day`]
const counterKeys = (tenant: string) => [`rate:tenant:${tenant}`, `velocity:${tenant}`]

/**
 * Every SQL table holding tenant rows, in export order. Add a package's tables here (with the
 * migration that creates them).
 */
export const tenantTables: ReadonlyArray<TenantTable> = [
  // core
  { table: "core_tenants", tenantColumn: "id", key: ["id"], deleteOrder: 1000 },
  { table: "core_actors", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 900 },
  { table: "core_api_tokens", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 100, omit: ["hash"] },
  { table: "core_ai_settings", tenantColumn: "tenant_id", key: ["tenant_id"], deleteOrder: 800 },
  { table: "core_actions", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 300 },
  { table: "core_traces", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 200 },
  { table: "core_audit", tenantColumn: "tenant_id", key: ["tenant_id", "seq"], deleteOrder: 700 },
  { table: "core_audit_heads", tenantColumn: "tenant_id", key: ["tenant_id"], deleteOrder: 700 },
  { table: "core_memory_items", tenantColumn: "tenant_id", key: ["tenant_id", "uid"], deleteOrder: 400 },
  {
    table: "core_memory_links",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "from_uid", "to_uid", "relation"],
    deleteOrder: 200
  },
  { table: "core_memory_reviews", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 200 },
  {
    table: "core_memory_keys",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "thread_id", "subject", "predicate"],
    deleteOrder: 400
  },
  // ledger
  { table: "ledger_accounts", tenantColumn: "tenant_id", key: ["tenant_id", "code"], deleteOrder: 600 },
  { table: "ledger_counters", tenantColumn: "tenant_id", key: ["tenant_id", "name"], deleteOrder: 600 },
  { table: "ledger_entries", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 500 },
  { table: "ledger_lines", tenantColumn: "tenant_id", key: ["tenant_id", "entry_id", "line_no"], deleteOrder: 400 },
  {
    table: "ledger_daily_balances",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "account_code", "day"],
    deleteOrder: 400
  },
  { table: "ledger_period_locks", tenantColumn: "tenant_id", key: ["tenant_id"], deleteOrder: 600 },
  { table: "ledger_bank_transactions", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 550 },
  { table: "ledger_qbo_batches", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 450 },
  { table: "ledger_qbo_exported", tenantColumn: "tenant_id", key: ["tenant_id", "entry_id"], deleteOrder: 300 },
  {
    table: "ledger_qbo_batch_accounts",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "batch_id", "account_code"],
    deleteOrder: 300
  },
  // guardrails
  {
    table: "guardrails_approvals",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "subject", "plan_hash"],
    deleteOrder: 300
  },
  { table: "guardrails_budgets", tenantColumn: "tenant_id", key: ["tenant_id"], deleteOrder: 600 },
  {
    table: "guardrails_spend",
    tenantColumn: "scope",
    keys: spendScopes,
    key: ["scope", "period", "category"],
    deleteOrder: 600
  },
  { table: "guardrails_breakers", tenantColumn: "tenant_id", key: ["key"], deleteOrder: 600 },
  { table: "guardrails_events", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 600 },
  {
    table: "guardrails_counters",
    tenantColumn: "key",
    keys: counterKeys,
    key: ["key", "window_start"],
    deleteOrder: 600
  },
  // core: the audit verification checkpoint (0011)
  { table: "core_audit_checkpoints", tenantColumn: "tenant_id", key: ["tenant_id"], deleteOrder: 700 },
  // companion (0007)
  { table: "companion_rules", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 300 },
  { table: "companion_classifiers", tenantColumn: "tenant_id", key: ["tenant_id", "version"], deleteOrder: 300 },
  { table: "companion_calibrations", tenantColumn: "tenant_id", key: ["tenant_id", "version"], deleteOrder: 300 },
  { table: "companion_proposals", tenantColumn: "tenant_id", key: ["tenant_id", "proposal_id"], deleteOrder: 300 },
  { table: "companion_integrity_reports", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 300 },
  { table: "companion_rule_promotions", tenantColumn: "tenant_id", key: ["tenant_id", "id"], deleteOrder: 300 },
  {
    table: "companion_proposal_reasons",
    tenantColumn: "tenant_id",
    key: ["tenant_id", "proposal_id", "reason"],
    deleteOrder: 250
  },
  // ops: executions (0008), product events and KPI (0010)
  { table: "ops_executions", tenantColumn: "tenant_id", key: ["run_id"], deleteOrder: 300 },
  { table: "ops_product_events", tenantColumn: "tenant_id", key: ["tenant_id", "event_id"], deleteOrder: 600 },
  { table: "ops_kpi_event_days", tenantColumn: "tenant_id", key: ["tenant_id", "day"], deleteOrder: 600 },
  { table: "ops_kpi_rollups", tenantColumn: "tenant_id", key: ["tenant_id", "day_index"], deleteOrder: 600 },
  { table: "ops_kpi_alert_claims", tenantColumn: "tenant_id", key: ["tenant_id", "payload_hash"], deleteOrder: 600 },
  { table: "ops_kpi_webhook_deliveries", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 600 },
  { table: "ops_kpi_baselines", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 600 },
  { table: "ops_kpi_pointers", tenantColumn: "tenant_id", key: ["tenant_id", "name"], deleteOrder: 550 },
  { table: "ops_kpi_digests", tenantColumn: "tenant_id", key: ["id"], deleteOrder: 600 }
]

const RUN_CONTROL =
  "deployment-wide run controls (at most one open run for the whole deployment) and their action counters"
const SCHEDULER = "the operator's schedules of host-registered targets, their dispatch records and trigger events"
const MAINTENANCE =
  "deployment maintenance runs and failure records (a failure's memory item lives in the configured failure tenant's core_memory_items)"

/** Every SQL table that holds no tenant's rows. */
export const systemTables: ReadonlyArray<SystemTable> = [
  { table: "effect_sql_migrations", reason: "applied migrations" },
  {
    table: "core_system_state",
    reason: "deployment-wide switches (global AI switch, lockdown state and unlock-code hashes)"
  },
  { table: "ops_runs", reason: RUN_CONTROL },
  { table: "ops_run_counters", reason: RUN_CONTROL },
  { table: "ops_schedules", reason: SCHEDULER },
  { table: "ops_schedule_dispatches", reason: SCHEDULER },
  { table: "ops_schedule_events", reason: SCHEDULER },
  { table: "ops_maintenance_runs", reason: MAINTENANCE },
  { table: "ops_maintenance_failures", reason: MAINTENANCE }
]

/** How the memory adapter's table of that name holds tenant rows. */
export type MemoryTableRule =
  /** A scoped table whose scope is the tenant id. */
  | { readonly _tag: "Scoped"; readonly export: string | null }
  /** A scoped table whose scopes are keys built from the tenant id. */
  | {
    readonly _tag: "ScopedKeys"
    readonly keys: (tenant: string) => ReadonlyArray<string>
    readonly export: string | null
  }
  /** A plain table: the tenant of a row (by its key and value), null for none. */
  | {
    readonly _tag: "Plain"
    readonly tenantOf: (key: string, row: any) => string | null
    readonly export: string | null
  }
  /** Holds no tenant's rows. */
  | { readonly _tag: "System"; readonly reason: string }

const scoped = (exportAs: string | null): MemoryTableRule => ({ _tag: "Scoped", export: exportAs })
const byRow = (exportAs: string | null): MemoryTableRule => ({
  _tag: "Plain",
  tenantOf: (_key, row) => (row as { tenant_id?: string | null }).tenant_id ?? null,
  export: exportAs
})
const byKey = (exportAs: string | null): MemoryTableRule => ({
  _tag: "Plain",
  tenantOf: (key) => key,
  export: exportAs
})

/**
 * Every table of the memory adapter (its in-process names), with the SQL table its rows are
 * exported as (null: an index over other rows, removed but not exported). Rows are exported as
 * the memory adapter holds them (its records' fields; a journal entry carries its lines).
 */
export const memoryTables: Readonly<Record<string, MemoryTableRule>> = {
  tenants: { _tag: "Plain", tenantOf: (key) => key, export: "core_tenants" },
  actors: scoped("core_actors"),
  api_tokens: byRow("core_api_tokens"),
  ai_settings: byKey("core_ai_settings"),
  system_state: { _tag: "System", reason: "deployment-wide switches" },
  actions: scoped("core_actions"),
  actions_idempotency: scoped(null),
  traces: byRow("core_traces"),
  traces_by_action: scoped(null),
  audit: scoped("core_audit"),
  audit_heads: byKey("core_audit_heads"),
  memory_items: scoped("core_memory_items"),
  memory_items_search: scoped(null),
  memory_links: scoped("core_memory_links"),
  memory_links_by_uid: scoped(null),
  memory_reviews: scoped("core_memory_reviews"),
  memory_review_keys: scoped(null),
  memory_reviews_by_uid: scoped(null),
  memory_reviews_by_item: scoped(null),
  ledger_accounts: scoped("ledger_accounts"),
  ledger_entries: scoped("ledger_entries"),
  ledger_entry_keys: scoped(null),
  ledger_reversals: scoped(null),
  ledger_entries_by_proposal: scoped(null),
  ledger_entries_by_bank_txn: scoped(null),
  ledger_counters: scoped(null),
  ledger_period_locks: byKey("ledger_period_locks"),
  ledger_bank_transactions: scoped("ledger_bank_transactions"),
  ledger_bank_fingerprints: scoped(null),
  ledger_qbo_exported: scoped("ledger_qbo_exported"),
  ledger_qbo_batches: scoped("ledger_qbo_batches"),
  ledger_qbo_batch_entries: scoped(null),
  ledger_qbo_batch_accounts: scoped(null),
  guard_counters: { _tag: "ScopedKeys", keys: counterKeys, export: "guardrails_counters" },
  guard_breakers: byRow("guardrails_breakers"),
  guard_events: byRow("guardrails_events"),
  guard_approvals: scoped("guardrails_approvals"),
  guard_spend: { _tag: "ScopedKeys", keys: spendScopes, export: "guardrails_spend" },
  guard_budgets: byKey("guardrails_budgets"),
  audit_checkpoints: byKey("core_audit_checkpoints"),
  companion_rules: scoped("companion_rules"),
  companion_classifiers: scoped("companion_classifiers"),
  companion_calibrations: scoped("companion_calibrations"),
  // (the memory adapter keeps a proposal's not-auto-post reasons in its record)
  companion_proposals: scoped("companion_proposals"),
  companion_integrity_reports: scoped("companion_integrity_reports"),
  companion_rule_promotions: scoped("companion_rule_promotions"),
  ops_executions: byRow("ops_executions"),
  ops_product_events: scoped("ops_product_events"),
  ops_kpi_event_days: scoped("ops_kpi_event_days"),
  ops_kpi_rollups: scoped("ops_kpi_rollups"),
  ops_kpi_alert_claims: scoped("ops_kpi_alert_claims"),
  ops_kpi_webhook_deliveries: scoped("ops_kpi_webhook_deliveries"),
  ops_kpi_baselines: scoped("ops_kpi_baselines"),
  ops_kpi_pointers: scoped("ops_kpi_pointers"),
  ops_kpi_digests: scoped("ops_kpi_digests"),
  ops_runs: { _tag: "System", reason: RUN_CONTROL },
  ops_run_counters: { _tag: "System", reason: RUN_CONTROL },
  ops_schedules: { _tag: "System", reason: SCHEDULER },
  ops_schedule_dispatches: { _tag: "System", reason: SCHEDULER },
  ops_schedule_events: { _tag: "System", reason: SCHEDULER },
  ops_maintenance_runs: { _tag: "System", reason: MAINTENANCE },
  ops_maintenance_failures: { _tag: "System", reason: MAINTENANCE }
}

/** A table of the live schema and its columns. */
export interface LiveTable {
  readonly table: string
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
}

/** The tables of the connected database and their columns (SQLite or PostgreSQL), by name. */
export const liveSchema: Effect.Effect<ReadonlyArray<LiveTable>, unknown, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })
    if (dialect === "pg") {
      const rows = yield* sql<{ table_name: string; column_name: string; data_type: string }>`
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
      const byTable = new Map<string, Array<{ name: string; type: string }>>()
      for (const r of rows) {
        const cols = byTable.get(r.table_name) ?? []
        cols.push({ name: r.column_name, type: r.data_type.toLowerCase() })
        byTable.set(r.table_name, cols)
      }
      return [...byTable].map(([table, columns]) => ({ table, columns }))
    }
    const tables = yield* sql<{ name: string }>`
      SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
    return yield* Effect.forEach(tables, (t) =>
      Effect.map(
        sql.unsafe<{ name: string; type: string }>(`PRAGMA table_info(${JSON.stringify(t.name)})`),
        (cols) => ({ table: t.name, columns: cols.map((c) => ({ name: c.name, type: c.type.toLowerCase() })) })
      ))
  }
)

/**
 * What is wrong with the registry against a live schema: tables in neither list, tables with a
 * `tenant_id` column declared system-level, declared tables or tenant columns that do not exist.
 * Empty when the registry is complete.
 */
export const schemaProblems = (
  live: ReadonlyArray<LiveTable>,
  registry: { readonly tenant: ReadonlyArray<TenantTable>; readonly system: ReadonlyArray<SystemTable> } = {
    tenant: tenantTables,
    system: systemTables
  }
): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const tenant = new Map(registry.tenant.map((t) => [t.table, t]))
  const system = new Set(registry.system.map((t) => t.table))
  const liveByName = new Map(live.map((t) => [t.table, t]))
  for (const t of live) {
    const hasTenantColumn = t.columns.some((c) => c.name === "tenant_id")
    if (!tenant.has(t.table) && !system.has(t.table)) {
      problems.push(`${t.table}: not declared (add it to tenantTables, or to systemTables with a reason)`)
    } else if (system.has(t.table) && hasTenantColumn) {
      problems.push(`${t.table}: has a tenant_id column but is declared system-level`)
    }
  }
  for (const t of registry.tenant) {
    const found = liveByName.get(t.table)
    if (found === undefined) {
      problems.push(`${t.table}: declared but not in the schema`)
      continue
    }
    for (const column of [t.tenantColumn, ...t.key, ...(t.omit ?? [])]) {
      if (!found.columns.some((c) => c.name === column)) problems.push(`${t.table}: no column ${column}`)
    }
  }
  return problems
}

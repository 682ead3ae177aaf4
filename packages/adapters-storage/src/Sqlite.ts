/**
 * The embedded default: SQLite on one better-sqlite3 handle (WAL mode for files), migrated on
 * start. Use a file path, or `:memory:` for a throwaway database. The stores run prepared
 * statements on the handle directly; `SqliteClient`/`SqlClient` (`@effect/sql`) share the same
 * handle, statement cache and lock, for migrations and hosts that add their own tables.
 */
import type { CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import type { CorePorts, TenantData } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { KpiStore, MaintenanceStore, ScheduleStore } from "@airlock/ops"
import type { SqlClient } from "@effect/sql"
import type { SqliteClient } from "@effect/sql-sqlite-node"
import type { MigrationError } from "@effect/sql/Migrator"
import type { SqlError } from "@effect/sql/SqlError"
import { Layer } from "effect"
import type { ConfigError } from "effect/ConfigError"
import type { OpsRunsPorts } from "./internal/memory/ops-runs.js"
import type { SqlDb } from "./internal/sql/db.js"
import * as Handle from "./internal/sql/sqlite.js"
import * as Migrations from "./Migrations.js"
import * as SqlStores from "./SqlStores.js"

/** Options of the SQLite adapter. */
export interface SqliteOptions {
  /** Database file, or `:memory:`. */
  readonly filename: string
  /** Prepared statements kept per path, the stores' and the `SqlClient`'s (oldest evicted first); default 500 each. */
  readonly statementCacheSize?: number
  /**
   * WAL checkpoints run on a worker thread every this many milliseconds (default 100), so the
   * event loop never waits on a checkpoint's fsyncs; `null` leaves them to SQLite, inside commits.
   */
  readonly checkpointIntervalMs?: number | null
}

const handle = (
  options: SqliteOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient | SqlDb, SqlError | MigrationError> =>
  Layer.provideMerge(Layer.effectDiscard(Migrations.run), Handle.layer(options))

/** The SQLite client alone, migrated: provides `SqliteClient` and `SqlClient`. */
export const layerClient = (
  options: SqliteOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, SqlError | MigrationError | ConfigError> =>
  handle(options)

/** Every port on SQLite, migrated; also provides the clients for hosts that add their own tables. */
export const layer = (
  options: SqliteOptions
): Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | KpiStore.KpiPorts
  | CompanionPorts.CompanionPorts
  | CompanionReportsPorts.CompanionReportsPorts
  | OpsRunsPorts
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | SqliteClient.SqliteClient
  | SqlClient.SqlClient,
  SqlError | MigrationError | ConfigError
> => Layer.provideMerge(SqlStores.layerOnDb, handle(options))

/**
 * The scale-out path: PostgreSQL through `@effect/sql-pg`. Every instance points at the same
 * database; row locks and unique keys keep promotion exactly-once across processes.
 */
import type { CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import type { CorePorts, TenantData } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { KpiStore, MaintenanceStore, ScheduleStore } from "@airlock/ops"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { MigrationError } from "@effect/sql/Migrator"
import type { SqlError } from "@effect/sql/SqlError"
import { Layer, Redacted } from "effect"
import type { ConfigError } from "effect/ConfigError"
import type { OpsRunsPorts } from "./internal/memory/ops-runs.js"
import * as Migrations from "./Migrations.js"
import * as SqlStores from "./SqlStores.js"

/** Options of the PostgreSQL adapter. */
export interface PostgresOptions {
  /** `postgres://user:pass@host:port/db` */
  readonly url: string
  /** Pool size (default 10). */
  readonly maxConnections?: number
}

/** The PostgreSQL client alone, migrated: provides `PgClient` and `SqlClient`. */
export const layerClient = (
  options: PostgresOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError | MigrationError | ConfigError> =>
  Layer.provideMerge(
    Layer.effectDiscard(Migrations.run),
    PgClient.layer({
      url: Redacted.make(options.url),
      maxConnections: options.maxConnections ?? 10,
      applicationName: "airlock"
    })
  )

/** Every port on PostgreSQL, migrated; also provides the clients. */
export const layer = (
  options: PostgresOptions
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
  | PgClient.PgClient
  | SqlClient.SqlClient,
  SqlError | MigrationError | ConfigError
> => Layer.provideMerge(SqlStores.layer, layerClient(options))

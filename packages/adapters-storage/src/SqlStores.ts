/**
 * Every port implemented on `@effect/sql`, for any `SqlClient` whose database has been migrated.
 * {@link Sqlite} and {@link Postgres} wire these to a concrete driver.
 */
import type { CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import type { CorePorts, TenantData } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { KpiStore, MaintenanceStore, ScheduleStore } from "@airlock/ops"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import type { OpsRunsPorts } from "./internal/memory/ops-runs.js"
import * as SqlCompanionReports from "./internal/sql/companion-reports.js"
import * as SqlCompanion from "./internal/sql/companion.js"
import * as SqlCore from "./internal/sql/core.js"
import { fromClient, type SqlDb } from "./internal/sql/db.js"
import * as SqlGuardrails from "./internal/sql/guardrails.js"
import * as SqlLedger from "./internal/sql/ledger.js"
import * as SqlOpsKpi from "./internal/sql/ops-kpi.js"
import * as SqlOpsRuns from "./internal/sql/ops-runs.js"
import * as SqlOpsScheduler from "./internal/sql/ops-scheduler.js"
import * as SqlTenantData from "./internal/sql/tenantData.js"

/** Every port and the unit of work on a {@link SqlDb} (what the SQLite handle provides). */
export const layerOnDb: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | KpiStore.KpiPorts
  | CompanionPorts.CompanionPorts
  | OpsRunsPorts
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | CompanionReportsPorts.CompanionReportsPorts,
  never,
  SqlDb
> = Layer.mergeAll(
  SqlCore.layer,
  SqlLedger.layer,
  SqlGuardrails.layer,
  SqlOpsKpi.layer,
  SqlCompanion.layer,
  SqlOpsRuns.layer,
  SqlTenantData.tenantDataStore,
  SqlOpsScheduler.layer,
  SqlCompanionReports.layer,
  SqlTenantData.tenantHealthStore
)

/** Every port and the unit of work on the ambient `SqlClient` (PostgreSQL, or a host's client). */
export const layer: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | KpiStore.KpiPorts
  | CompanionPorts.CompanionPorts
  | OpsRunsPorts
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | CompanionReportsPorts.CompanionReportsPorts,
  never,
  SqlClient.SqlClient
> = Layer.provide(layerOnDb, fromClient)

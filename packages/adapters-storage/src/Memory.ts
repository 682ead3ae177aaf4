/**
 * The in-memory adapter: every port on plain data structures, with real transactions
 * (undo log + writer lock). For tests and for embedders that want no native dependency.
 */
import type { CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import type { CorePorts, TenantData } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { KpiStore, MaintenanceStore, ScheduleStore } from "@airlock/ops"
import { Layer } from "effect"
import * as MemoryCompanionReports from "./internal/memory/companion-reports.js"
import * as MemoryCompanion from "./internal/memory/companion.js"
import * as MemoryCore from "./internal/memory/core.js"
import * as MemoryGuardrails from "./internal/memory/guardrails.js"
import * as MemoryLedger from "./internal/memory/ledger.js"
import * as MemoryOpsKpi from "./internal/memory/ops-kpi.js"
import * as MemoryOpsRuns from "./internal/memory/ops-runs.js"
import * as MemoryOpsScheduler from "./internal/memory/ops-scheduler.js"
import * as MemoryTenantData from "./internal/memory/tenantData.js"
import * as MemoryDatabase from "./MemoryDatabase.js"

/** Every port and the unit of work, on a database created for this layer. */
export const layer: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | KpiStore.KpiPorts
  | CompanionPorts.CompanionPorts
  | CompanionReportsPorts.CompanionReportsPorts
  | MemoryOpsRuns.OpsRunsPorts
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | MemoryDatabase.MemoryDatabase
> = Layer.mergeAll(
  MemoryCore.layer,
  MemoryLedger.layer,
  MemoryGuardrails.layer,
  MemoryOpsKpi.layer,
  MemoryCompanion.layer,
  MemoryCompanionReports.layer,
  MemoryOpsRuns.layer,
  MemoryTenantData.tenantDataStore,
  MemoryTenantData.tenantHealthStore,
  MemoryOpsScheduler.layer,
  MemoryDatabase.layerUnitOfWork
).pipe(
  Layer.provideMerge(MemoryDatabase.layer)
)

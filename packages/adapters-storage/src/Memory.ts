/**
 * The in-memory adapter: every port on plain data structures, with real transactions
 * (undo log + writer lock). For tests and for embedders that want no native dependency.
 */
import type { CorePorts } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { MaintenanceStore, ScheduleStore } from "@airlock/ops"
import { Layer } from "effect"
import * as MemoryCore from "./internal/memory/core.js"
import * as MemoryGuardrails from "./internal/memory/guardrails.js"
import * as MemoryLedger from "./internal/memory/ledger.js"
import * as MemoryOpsScheduler from "./internal/memory/ops-scheduler.js"
import * as MemoryDatabase from "./MemoryDatabase.js"

/** Every port and the unit of work, on a database created for this layer. */
export const layer: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | MemoryDatabase.MemoryDatabase
> = Layer.mergeAll(
  MemoryCore.layer,
  MemoryLedger.layer,
  MemoryGuardrails.layer,
  MemoryOpsScheduler.layer,
  MemoryDatabase.layerUnitOfWork
).pipe(
  Layer.provideMerge(MemoryDatabase.layer)
)

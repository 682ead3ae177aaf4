/**
 * Every port implemented on `@effect/sql`, for any `SqlClient` whose database has been migrated.
 * {@link Sqlite} and {@link Postgres} wire these to a concrete driver.
 */
import type { CorePorts } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { MaintenanceStore, ScheduleStore } from "@airlock/ops"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import * as SqlCore from "./internal/sql/core.js"
import { fromClient, type SqlDb } from "./internal/sql/db.js"
import * as SqlGuardrails from "./internal/sql/guardrails.js"
import * as SqlLedger from "./internal/sql/ledger.js"
import * as SqlOpsScheduler from "./internal/sql/ops-scheduler.js"

/** Every port and the unit of work on a {@link SqlDb} (what the SQLite handle provides). */
export const layerOnDb: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore,
  never,
  SqlDb
> = Layer.mergeAll(
  SqlCore.layer,
  SqlLedger.layer,
  SqlGuardrails.layer,
  SqlOpsScheduler.layer
)

/** Every port and the unit of work on the ambient `SqlClient` (PostgreSQL, or a host's client). */
export const layer: Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore,
  never,
  SqlClient.SqlClient
> = Layer.provide(layerOnDb, fromClient)

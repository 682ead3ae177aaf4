/**
 * Wiring of the ledger's services over core and a storage adapter. A host provides core's
 * services (`Kernel.layer`), the ledger's ports (`@airlock/adapters-storage`) and a
 * {@link LedgerConfig}; it gets the chart, the journal, period locks, bank import, the
 * QuickBooks export and ledger proposals, with the proposal kind and the ledger gates registered.
 */
import type { Action, ActionRegistry, AiSettings, Audit, GovernedActions, Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Layer } from "effect"
import { BankTransactions } from "./BankTransaction.js"
import { ChartOfAccounts } from "./Chart.js"
import { Journal } from "./Journal.js"
import * as LedgerConfig from "./LedgerConfig.js"
import type { LedgerPorts } from "./LedgerPorts.js"
import { PeriodLocks } from "./PeriodLock.js"
import * as Proposals from "./Proposals.js"
import { LedgerProposals } from "./Proposals.js"
import { QboExports } from "./QboExport.js"

/** The services the ledger offers once wired. */
export type LedgerServices = ChartOfAccounts | Journal | PeriodLocks | BankTransactions | QboExports | LedgerProposals

/** What the wiring needs from core. */
export type CoreRequirements =
  | GovernedActions.GovernedActions
  | ActionRegistry.ActionRegistry
  | Audit.AuditLog
  | UnitOfWork.UnitOfWork
  | Ids.IdGenerator
  | Rbac.Rbac
  | Action.ActionStore
  | Action.TraceStore
  | AiSettings.AiSettingsStore

/** Ledger services and the proposal kind, given core, the ledger ports and a config. */
export const layerWithConfig: Layer.Layer<
  LedgerServices,
  never,
  CoreRequirements | LedgerPorts | LedgerConfig.LedgerConfig
> = Layer.mergeAll(
  ChartOfAccounts.Default,
  Journal.Default,
  PeriodLocks.Default,
  BankTransactions.Default,
  QboExports.Default,
  LedgerProposals.Default,
  Proposals.layerKind
)

/** Ledger services with settings from `AIRLOCK_LEDGER_*`. */
export const layer: Layer.Layer<
  LedgerServices,
  import("effect/ConfigError").ConfigError,
  CoreRequirements | LedgerPorts
> = layerWithConfig.pipe(
  Layer.provide(LedgerConfig.layerConfig)
)

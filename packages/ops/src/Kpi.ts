/**
 * Wiring of the KPI console's services: product events, rollups, alerts, the alert webhook,
 * baselines and digests. A host provides core, guardrails (`Guardrails.layer`), the storage
 * adapter (which implements `KpiStore.KpiPorts`), a {@link AlertWebhook.WebhookTransport} and the
 * settings (`KpiConfig.layerConfig` or `.layer({...})`).
 */
import type { Audit, Ids, Rbac } from "@airlock/core"
import type {
  Breakers,
  Budgets,
  BudgetStore,
  CounterStore,
  GuardrailsConfig,
  StopConditions
} from "@airlock/guardrails"
import { Layer } from "effect"
import { AlertWebhook, type WebhookTransport } from "./AlertWebhook.js"
import { Baselines } from "./Baseline.js"
import { Digests } from "./Digest.js"
import { KpiAlerts } from "./KpiAlerts.js"
import type { KpiConfig } from "./KpiConfig.js"
import { KpiRollups } from "./KpiRollups.js"
import type { KpiPorts } from "./KpiStore.js"
import { ProductEvents } from "./ProductEvents.js"

/** Every KPI service. */
export type KpiServices = ProductEvents | KpiRollups | KpiAlerts | AlertWebhook | Baselines | Digests

/** What the KPI services need besides their ports and settings: core and guardrails services. */
export type Requirements =
  | KpiPorts
  | KpiConfig
  | WebhookTransport
  | Rbac.Rbac
  | Ids.IdGenerator
  | Audit.AuditLog
  | GuardrailsConfig.GuardrailsConfig
  | Budgets.LlmBudget
  | Budgets.ExecutionBudgets
  | StopConditions.StopConditions
  | BudgetStore.BudgetStore
  | CounterStore.CounterStore
  | Breakers.BreakerStore

/** Every KPI service, sharing one instance of each (layers memoize by reference). */
export const layer: Layer.Layer<KpiServices, never, Requirements> = Layer.mergeAll(
  ProductEvents.Default,
  KpiRollups.Default,
  KpiAlerts.Default,
  AlertWebhook.Default,
  Baselines.Default,
  Digests.Default
)

/**
 * Wiring of the guardrails services and gates over core and the storage ports. A host provides
 * core (`Kernel.layer…`), the storage adapter (which implements `GuardrailsPorts`) and the
 * settings (`GuardrailsConfig.layerConfig` or `.layer({...})`), and gets every guard as a
 * service, with the gates registered in the pipeline.
 */
import type { ActionRegistry, Audit, Ids, Rbac, SecureRandom, Tenants } from "@airlock/core"
import type { Action, AiSettings, SystemState, UnitOfWork } from "@airlock/core"
import { Layer } from "effect"
import { Approvals } from "./Approvals.js"
import { BreakerEvents } from "./BreakerEvents.js"
import { ExecutionBudgets, LlmBudget } from "./Budgets.js"
import * as Gates from "./Gates.js"
import type { GuardrailsConfig } from "./GuardrailsConfig.js"
import type { GuardrailsPorts } from "./GuardrailsPorts.js"
import { KindPolicies } from "./KindPolicy.js"
import { Lockdown } from "./Lockdown.js"
import { MediaPolicy } from "./MediaPolicy.js"
import { ProviderBreaker } from "./ProviderBreaker.js"
import { RateLimiter } from "./RateLimiter.js"
import { StopConditions } from "./StopConditions.js"
import { SystemStatus } from "./SystemStatus.js"
import { TrustBreaker } from "./TrustBreaker.js"
import { ValueBreaker } from "./ValueBreaker.js"
import { VelocityBreaker } from "./VelocityBreaker.js"

/** Every guardrails service. */
export type GuardrailsServices =
  | BreakerEvents
  | KindPolicies
  | VelocityBreaker
  | ValueBreaker
  | TrustBreaker
  | ProviderBreaker
  | StopConditions
  | LlmBudget
  | ExecutionBudgets
  | Approvals
  | Lockdown
  | RateLimiter
  | MediaPolicy
  | SystemStatus

/** What the services need from core, besides the storage ports. */
export type CoreRequirements =
  | ActionRegistry.ActionRegistry
  | Tenants.Tenants
  | Audit.AuditLog
  | Ids.IdGenerator
  | Rbac.Rbac
  | SecureRandom.SecureRandom
  | Action.ActionStore
  | AiSettings.AiSettingsStore
  | SystemState.SystemStateStore
  | UnitOfWork.UnitOfWork

// Each service declares the guardrails services it needs (`dependencies`); a layer is built once
// per build however many services depend on it, so every guard shares one instance of each.
const all = Layer.mergeAll(
  BreakerEvents.Default,
  KindPolicies.Default,
  StopConditions.Default,
  VelocityBreaker.Default,
  ValueBreaker.Default,
  TrustBreaker.Default,
  ProviderBreaker.Default,
  LlmBudget.Default,
  ExecutionBudgets.Default,
  Approvals.Default,
  Lockdown.Default,
  RateLimiter.Default,
  MediaPolicy.Default,
  SystemStatus.Default
)

/** Every guardrails service, without registering gates. */
export const layerServices: Layer.Layer<
  GuardrailsServices,
  never,
  GuardrailsPorts | CoreRequirements | GuardrailsConfig
> = all

/** Every guardrails service, with the gates registered in the pipeline. */
export const layer: Layer.Layer<GuardrailsServices, never, GuardrailsPorts | CoreRequirements | GuardrailsConfig> =
  Layer.provideMerge(
    Gates.layer,
    layerServices
  )

/**
 * Wiring of core's services over a storage adapter. A host provides `CorePorts` (from
 * `@airlock/adapters-storage`) and gets the pipeline, tenants, tokens, audit log and agent
 * memory; each ambient piece (config, RBAC matrix, randomness) can be swapped by providing its
 * layer first.
 */
import { Layer } from "effect"
import { ActionRegistry } from "./ActionRegistry.js"
import { AgentMemory } from "./AgentMemory.js"
import * as AgentMemoryConfig from "./AgentMemoryConfig.js"
import { ApiTokens } from "./ApiToken.js"
import { AuditLog } from "./Audit.js"
import * as CoreConfig from "./CoreConfig.js"
import type { CorePorts } from "./CorePorts.js"
import { GovernedActions } from "./GovernedActions.js"
import { type IdGenerator, layerIdGenerator } from "./Ids.js"
import * as Rbac from "./Rbac.js"
import * as SecureRandom from "./SecureRandom.js"
import { Tenants } from "./Tenants.js"

/** The services core offers once wired. */
export type CoreServices =
  | GovernedActions
  | ActionRegistry
  | Tenants
  | ApiTokens
  | AgentMemory
  | AuditLog
  | IdGenerator
  | SecureRandom.SecureRandom
  | Rbac.Rbac
  | CoreConfig.CoreConfig

/** What the wiring needs besides storage: config, RBAC, randomness (see {@link layerDefaults}). */
export type Ambient = CoreConfig.CoreConfig | Rbac.Rbac | SecureRandom.SecureRandom

/**
 * Core services given the storage ports and the ambient services. Agent memory reads its
 * settings from `AgentMemoryConfig` when provided (`layerDefaults` reads `AIRLOCK_MEMORY_*`),
 * its defaults otherwise.
 */
export const layerWithAmbient: Layer.Layer<Exclude<CoreServices, Ambient>, never, CorePorts | Ambient> = Layer.mergeAll(
  GovernedActions.Default,
  Tenants.Default,
  ApiTokens.Default,
  AgentMemory.Default
).pipe(
  Layer.provideMerge(Layer.mergeAll(AuditLog.Default, ActionRegistry.Default, layerIdGenerator))
)

/**
 * Production ambient services: config from `AIRLOCK_*` (core's and agent memory's), the default
 * RBAC matrix, Web Crypto.
 */
export const layerDefaults: Layer.Layer<
  Ambient | AgentMemoryConfig.AgentMemoryConfig,
  import("effect/ConfigError").ConfigError
> = Layer.mergeAll(
  CoreConfig.layerConfig,
  AgentMemoryConfig.layerConfig,
  Rbac.layer,
  SecureRandom.layerWebCrypto
)

/** Core services with production defaults, given the storage ports. */
export const layer: Layer.Layer<CoreServices, import("effect/ConfigError").ConfigError, CorePorts> = layerWithAmbient
  .pipe(
    Layer.provideMerge(layerDefaults)
  )

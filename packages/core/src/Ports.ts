/** The storage ports core declares, as one type: what a storage adapter must provide for core. */
import type { ActionStore, TraceStore } from "./Action.js"
import type { AgentMemoryStore } from "./AgentMemory.js"
import type { ActorStore } from "./Actor.js"
import type { AiSettingsStore } from "./AiSettings.js"
import type { ApiTokenStore } from "./ApiToken.js"
import type { AuditStore } from "./Audit.js"
import type { SystemStateStore } from "./SystemState.js"
import type { TenantStore } from "./Tenant.js"
import type { UnitOfWork } from "./UnitOfWork.js"

/** Every core store port plus the unit of work. */
export type CorePorts =
  | TenantStore
  | ActorStore
  | ApiTokenStore
  | AiSettingsStore
  | SystemStateStore
  | ActionStore
  | TraceStore
  | AuditStore
  | AgentMemoryStore
  | UnitOfWork

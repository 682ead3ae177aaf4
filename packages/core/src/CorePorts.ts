/**
 * The storage ports core declares, as one type: what a storage adapter must provide for core;
 * and the refusals every store port shares, so that each adapter builds them alike.
 */
import type { ActionStore, TraceStore } from "./Action.js"
import type { ActorStore } from "./Actor.js"
import type { AgentMemoryStore } from "./AgentMemory.js"
import type { AiSettingsStore } from "./AiSettings.js"
import type { ApiTokenStore } from "./ApiToken.js"
import type { AuditStore } from "./Audit.js"
import { Conflict, NotFound } from "./Errors.js"
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

/** A store's refusal to insert a row whose key is taken (`conflict.duplicate`). */
export const duplicateError = (entity: string, id: string): Conflict =>
  new Conflict({ code: "conflict.duplicate", message: `${entity} ${id} already exists`, details: { entity, id } })

/** A store's refusal to change a row that does not exist (`not_found`). */
export const notFoundError = (entity: string, id: string): NotFound =>
  new NotFound({ message: `${entity} ${id} not found`, details: { entity, id } })

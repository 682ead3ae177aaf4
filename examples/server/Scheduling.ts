/**
 * The reference distribution's scheduler and maintenance loop, shared by the server and the
 * `airlock` CLI so both know the same targets and commands: the scheduler and the maintenance
 * service (`AIRLOCK_SCHEDULER_*`, `AIRLOCK_MAINTENANCE_*`) with what this distribution registers —
 * agent-memory tiering over every tenant (`memory.tiering`), as a schedule target and as a
 * maintenance command. The server adds the background loops ({@link layerLoops}); the CLI ticks
 * and runs on demand.
 */
import { type Actor, AgentMemory, type Audit, type Ids, type Rbac, type SystemState } from "@airlock/core"
import {
  Maintenance,
  MaintenanceConfig,
  type MaintenanceStore,
  Scheduler,
  SchedulerConfig,
  type ScheduleStore
} from "@airlock/ops"
import { type ConfigError, Effect, Layer } from "effect"
import { devTenant } from "./Seed.js"

/** The name of the memory-tiering target and command. */
export const memoryTiering = "memory.tiering"

const tieringDescription = "Agent memory: decay importance and move stale items down the tiers (all tenants)"

/** The system actor scheduled and maintenance runs act as. */
export const systemActor = {
  id: "system:scheduler",
  tenant_id: devTenant,
  kind: "system",
  name: "scheduler",
  role: "ADMIN",
  active: true,
  created_at: 0
} as unknown as Actor.Actor

const tiering = Effect.map(AgentMemory.AgentMemory, (memory) => memory.runTiering("all", systemActor))

/** The targets and commands this distribution registers. */
const registrations = Layer.mergeAll(
  Scheduler.registerTarget(Effect.map(tiering, (run) => ({
    name: memoryTiering,
    description: tieringDescription,
    run: () => run
  }))),
  Maintenance.registerCommand(Effect.map(tiering, (run) => ({
    name: memoryTiering,
    description: tieringDescription,
    run
  })))
)

/** What {@link layer} provides. */
export type Services =
  | Scheduler.Scheduler
  | Scheduler.ScheduleTargets
  | Maintenance.Maintenance
  | Maintenance.MaintenanceCommands
  | SchedulerConfig.SchedulerConfig
  | MaintenanceConfig.MaintenanceConfig

/** What {@link layer} needs: the store ports and core's services. */
export type Requirements =
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | SystemState.SystemStateStore
  | AgentMemory.AgentMemory
  | Audit.AuditLog
  | Ids.IdGenerator
  | Rbac.Rbac

/**
 * The scheduler and the maintenance service with this distribution's targets and commands
 * registered, configured from `AIRLOCK_SCHEDULER_*` / `AIRLOCK_MAINTENANCE_*` (provide the
 * store ports and core's services). No background loop.
 */
export const layer: Layer.Layer<Services, ConfigError.ConfigError, Requirements> = registrations.pipe(
  Layer.provideMerge(Layer.merge(Scheduler.layer, Maintenance.layer)),
  Layer.provideMerge(Layer.merge(SchedulerConfig.layerConfig, MaintenanceConfig.layerConfig))
)

/** {@link layer} with the server's tick loop and maintenance loop (each when enabled). */
export const layerLoops: Layer.Layer<Services, ConfigError.ConfigError, Requirements> = Layer.merge(
  Scheduler.layerLoop,
  Maintenance.layerLoop
).pipe(Layer.provideMerge(layer))

/**
 * The maintenance loop (assistant-platform runbook, "Local Maintenance Loop"): host-registered
 * commands run in-process on an interval (`AIRLOCK_MAINTENANCE_INTERVAL_SECONDS`) while the
 * server runs, and on demand — run now, or enqueue for the loop to pick up. The loop also writes
 * a heartbeat (`AIRLOCK_MAINTENANCE_HEARTBEAT_INTERVAL_SECONDS`), and takes enqueued runs on that
 * beat. A command that fails — an error or a defect — becomes a failure record, listable over
 * HTTP, and a `failure` item in agent memory (thread `job:maintenance:<command>`); it never
 * stops the loop or the other commands of the pass.
 */
import { type Actor, AgentMemory, Errors, Ids, Rbac, SystemState } from "@airlock/core"
import type { Errors as CoreErrors } from "@airlock/core"
import { Cause, Clock, Duration, Effect, Exit, Layer, Metric, Option, Schedule } from "effect"
import { MaintenanceConfig, type MaintenanceSettings } from "./MaintenanceConfig.js"
import { MaintenanceFailure, MaintenanceRun, MaintenanceStore, type RunTrigger } from "./MaintenanceStore.js"
import * as Registry from "./Registry.js"

/** A maintenance command the host registers. Its success value is stored as the run's `result` (JSON). */
export interface MaintenanceCommand {
  readonly name: string
  readonly description: string
  readonly run: Effect.Effect<unknown, unknown>
}

/** The registry of maintenance commands, filled by the host's layers ({@link registerCommand}). */
export class MaintenanceCommands extends Effect.Service<MaintenanceCommands>()("@airlock/ops/MaintenanceCommands", {
  sync: () => Registry.make<MaintenanceCommand>()
}) {}

/** A layer that registers one command when built. */
export const registerCommand = <R>(
  make: Effect.Effect<MaintenanceCommand, never, R>
): Layer.Layer<never, never, MaintenanceCommands | R> => Registry.layerRegister(MaintenanceCommands, make)

/** Maintenance runs finished, by outcome (`succeeded`, `failed`). */
export const runsTotal = Metric.counter("maintenance_runs_total", {
  description: "Maintenance command runs finished, by outcome",
  incremental: true
})

/** The system-state key of the loop's heartbeat (`{instance, at}`). */
export const HEARTBEAT_KEY = "ops.maintenance.heartbeat"

/** What `GET /api/admin/maintenance/status` shows. */
export interface MaintenanceStatus {
  readonly enabled: boolean
  readonly interval_seconds: number
  readonly heartbeat_interval_seconds: number
  readonly last_heartbeat_at: number | null
  readonly last_heartbeat_by: string | null
  readonly queued: number
  readonly commands: ReadonlyArray<{
    readonly name: string
    readonly description: string
    /** Run by the interval pass (`AIRLOCK_MAINTENANCE_COMMANDS`, or every command when empty). */
    readonly scheduled: boolean
    readonly last_run: MaintenanceRun | null
  }>
}

/** The code of the enqueue warning: a warning in a successful answer, not an error (no `ErrorCode` row). */
export const LOOP_DISABLED = "maintenance.loop_disabled" as const

/** Why enqueued runs may not be taken: nothing in this process runs the loop that takes them. */
export interface EnqueueWarning {
  readonly code: typeof LOOP_DISABLED
  readonly message: string
}

/** What {@link MaintenanceShape.enqueueWithWarning} answers: the queued runs, and a warning when they may wait. */
export interface EnqueueResult {
  readonly runs: ReadonlyArray<MaintenanceRun>
  /** Null when this process's loop takes the queue (`AIRLOCK_MAINTENANCE_ENABLED=true`). */
  readonly warning: EnqueueWarning | null
}

/**
 * The warning an enqueue carries under these settings: with the loop disabled (the default)
 * queued runs stay `queued` — only the loop takes them (on its heartbeat) —, so the caller is
 * told how to get the commands run. Null when the loop is enabled.
 */
export const enqueueWarning = (settings: MaintenanceSettings): EnqueueWarning | null =>
  settings.enabled ? null : {
    code: LOOP_DISABLED,
    message: "The maintenance loop is disabled in this server (AIRLOCK_MAINTENANCE_ENABLED=false): the runs stay " +
      "queued until a server runs with AIRLOCK_MAINTENANCE_ENABLED=true; to run the commands now, use run-now " +
      "(POST /api/admin/maintenance/run, `airlock maintenance run`)"
  }

/** The maintenance loop's operations. */
export interface MaintenanceShape {
  readonly instance: string
  /** Runs commands now, one after another (`system.admin`); every registered command when none is named. */
  readonly runNow: (
    actor: Actor.Actor,
    commands?: ReadonlyArray<string>
  ) => Effect.Effect<
    ReadonlyArray<MaintenanceRun>,
    CoreErrors.ValidationError | CoreErrors.Forbidden | CoreErrors.StorageError
  >
  /** Queues commands for the loop (`system.admin`); every registered command when none is named. */
  readonly enqueue: (
    actor: Actor.Actor,
    commands?: ReadonlyArray<string>
  ) => Effect.Effect<
    ReadonlyArray<MaintenanceRun>,
    CoreErrors.ValidationError | CoreErrors.Forbidden | CoreErrors.StorageError
  >
  /** {@link enqueue}, with the {@link enqueueWarning} of this process's settings. */
  readonly enqueueWithWarning: (
    actor: Actor.Actor,
    commands?: ReadonlyArray<string>
  ) => Effect.Effect<EnqueueResult, CoreErrors.ValidationError | CoreErrors.Forbidden | CoreErrors.StorageError>
  /** Takes and runs queued commands now. */
  readonly processQueue: Effect.Effect<ReadonlyArray<MaintenanceRun>, CoreErrors.StorageError>
  /** One interval pass: the scheduled commands, then the queue. */
  readonly pass: Effect.Effect<ReadonlyArray<MaintenanceRun>, CoreErrors.StorageError>
  /** Writes the heartbeat. */
  readonly heartbeat: Effect.Effect<void, CoreErrors.StorageError>
  readonly status: Effect.Effect<MaintenanceStatus, CoreErrors.StorageError>
  /** Failure records, newest first. */
  readonly failures: (
    options?: { readonly limit?: number | undefined; readonly command?: string | undefined; readonly before?: string }
  ) => Effect.Effect<ReadonlyArray<MaintenanceFailure>, CoreErrors.StorageError>
  /** The loop: passes on the interval and heartbeats (with the queue) on the heartbeat interval; never fails. */
  readonly loop: Effect.Effect<never>
}

const describe = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const e = Cause.squash(cause) as { message?: unknown; _tag?: unknown; code?: unknown } | null
  const text = typeof e?.message === "string" && e.message !== ""
    ? e.message
    : typeof e?._tag === "string"
    ? e._tag
    : String(e)
  return ((typeof e?.code === "string" ? `${e.code}: ` : "") + text).slice(0, 2000)
}

const jsonSafe = (value: unknown): unknown => {
  if (value === undefined) return null
  try {
    return JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "null")
  } catch {
    return { unserialisable: true }
  }
}

/** Builds a maintenance loop instance. */
export const make: Effect.Effect<
  MaintenanceShape,
  never,
  | MaintenanceStore
  | MaintenanceCommands
  | AgentMemory.AgentMemory
  | SystemState.SystemStateStore
  | Ids.IdGenerator
  | Rbac.Rbac
> = Effect.gen(function*() {
  const store = yield* MaintenanceStore
  const registry = yield* MaintenanceCommands
  const memory = yield* AgentMemory.AgentMemory
  const state = yield* SystemState.SystemStateStore
  const ids = yield* Ids.IdGenerator
  const rbac = yield* Rbac.Rbac
  const settings: MaintenanceSettings = yield* MaintenanceConfig
  const instance = yield* ids.next("mnt")

  // the actor that writes failure items: the system itself, in the configured tenant
  const systemActor = (at: number): Actor.Actor => ({
    id: "system:maintenance" as Ids.ActorId,
    tenant_id: settings.failureTenant as Ids.TenantId,
    kind: "system",
    name: "maintenance",
    role: "ADMIN",
    active: true,
    created_at: at
  } as Actor.Actor)

  const resolve = (names: ReadonlyArray<string> | undefined) =>
    Effect.gen(function*() {
      if (names === undefined || names.length === 0) return registry.list()
      const unknown = names.filter((n) => Option.isNone(registry.get(n)))
      if (unknown.length > 0) {
        return yield* new Errors.ValidationError({
          code: "validation.maintenance_command",
          message: `Unknown maintenance command: ${unknown.join(", ")}`,
          details: { unknown, registered: registry.list().map((c) => c.name) }
        })
      }
      return names.map((n) => Option.getOrThrow(registry.get(n)))
    })

  const recordFailure = (run: MaintenanceRun, error: string, at: number) =>
    Effect.gen(function*() {
      const written = yield* memory.write(settings.failureTenant as Ids.TenantId, systemActor(at), {
        thread_id: `job:maintenance:${run.command}`,
        agent_id: "maintenance",
        kind: AgentMemory.FAILURE_KIND,
        content: `maintenance command ${run.command} failed: ${error}`,
        source_ref: `maintenance:${run.id}`,
        importance: 0.7
      }).pipe(
        Effect.map((r) => r.item.uid as string | null),
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logWarning("maintenance failure not written to agent memory", cause), null)
        )
      )
      yield* store.insertFailure(
        MaintenanceFailure.make({
          id: yield* ids.next("mfl"),
          run_id: run.id,
          command: run.command,
          at,
          error,
          memory_uid: written
        })
      )
    })

  /** Runs one taken run to its end; never fails but for storage. */
  const execute = (run: MaintenanceRun, command: MaintenanceCommand | undefined) =>
    Effect.gen(function*() {
      const exit = command === undefined
        ? Exit.fail(`no command ${run.command} is registered`)
        : yield* Effect.exit(Effect.suspend(() => command.run))
      const at = yield* Clock.currentTimeMillis
      const error = Exit.isSuccess(exit) ? null : describe(exit.cause)
      const status = error === null ? "succeeded" as const : "failed" as const
      const result = Exit.isSuccess(exit) ? jsonSafe(exit.value) : null
      yield* store.finishRun(run.id, instance, { status, now: at, result, error })
      yield* Metric.increment(Metric.tagged(runsTotal, "outcome", status))
      if (error !== null) {
        yield* Effect.logWarning(`maintenance command ${run.command} failed`).pipe(
          Effect.annotateLogs({ run_id: run.id, error })
        )
        yield* recordFailure(run, error, at)
      }
      return MaintenanceRun.make({ ...run, status, finished_at: at, result, error })
    })

  const start = (command: MaintenanceCommand, trigger: RunTrigger, by: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const run = MaintenanceRun.make({
        id: yield* ids.next("mrun"),
        command: command.name,
        trigger,
        status: "running",
        requested_by: by,
        enqueued_at: now,
        owner: instance,
        started_at: now,
        finished_at: null,
        result: null,
        error: null
      })
      yield* store.insertRun(run)
      return yield* execute(run, command)
    })

  const runNow: MaintenanceShape["runNow"] = (actor, names) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, "system.admin")
      const commands = yield* resolve(names)
      return yield* Effect.forEach(commands, (c) => start(c, "manual", actor.id))
    })

  const enqueue: MaintenanceShape["enqueue"] = (actor, names) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, "system.admin")
      const commands = yield* resolve(names)
      const now = yield* Clock.currentTimeMillis
      return yield* Effect.forEach(commands, (c) =>
        Effect.gen(function*() {
          const run = MaintenanceRun.make({
            id: yield* ids.next("mrun"),
            command: c.name,
            trigger: "enqueue",
            status: "queued",
            requested_by: actor.id,
            enqueued_at: now,
            owner: null,
            started_at: null,
            finished_at: null,
            result: null,
            error: null
          })
          yield* store.insertRun(run)
          return run
        }))
    })

  const enqueueWithWarning: MaintenanceShape["enqueueWithWarning"] = (actor, names) =>
    Effect.map(enqueue(actor, names), (runs) => ({ runs, warning: enqueueWarning(settings) }))

  const processQueue: MaintenanceShape["processQueue"] = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const taken = yield* store.takeQueued(instance, now, 100)
    return yield* Effect.forEach(taken, (run) => execute(run, Option.getOrUndefined(registry.get(run.command))))
  })

  const scheduled = (name: string) => settings.commands.length === 0 || settings.commands.includes(name)

  const pass: MaintenanceShape["pass"] = Effect.gen(function*() {
    const out: Array<MaintenanceRun> = []
    for (const c of registry.list()) {
      if (scheduled(c.name)) out.push(yield* start(c, "interval", "system:maintenance"))
    }
    out.push(...(yield* processQueue))
    return out
  })

  const heartbeat: MaintenanceShape["heartbeat"] = Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    yield* state.put(
      SystemState.SystemStateEntry.make({
        key: HEARTBEAT_KEY,
        value: { instance, at },
        updated_at: at,
        updated_by: "system:maintenance"
      })
    )
  })

  const status: MaintenanceShape["status"] = Effect.gen(function*() {
    const beat = yield* state.get(HEARTBEAT_KEY)
    const last = new Map((yield* store.lastRuns()).map((r) => [r.command, r]))
    const queued = (yield* store.runs({ limit: 1000, status: "queued" })).length
    const value = Option.getOrNull(Option.map(beat, (b) => b.value as { instance?: string; at?: number }))
    return {
      enabled: settings.enabled,
      interval_seconds: settings.intervalSeconds,
      heartbeat_interval_seconds: settings.heartbeatIntervalSeconds,
      last_heartbeat_at: typeof value?.at === "number" ? value.at : null,
      last_heartbeat_by: typeof value?.instance === "string" ? value.instance : null,
      queued,
      commands: registry.list().map((c) => ({
        name: c.name,
        description: c.description,
        scheduled: scheduled(c.name),
        last_run: last.get(c.name) ?? null
      }))
    }
  })

  const failures: MaintenanceShape["failures"] = (options = {}) =>
    store.failures({
      limit: Math.min(Math.max(options.limit ?? 50, 1), 500),
      command: options.command,
      before: options.before
    })

  const never = <A, E>(self: Effect.Effect<A, E>, what: string) =>
    Effect.catchAllCause(self, (cause) => Effect.logError(`maintenance ${what} failed`, cause))

  const loop: MaintenanceShape["loop"] = Effect.zipRight(
    Effect.forkScoped(
      never(Effect.zipRight(heartbeat, processQueue), "heartbeat").pipe(
        Effect.repeat(Schedule.spaced(Duration.seconds(settings.heartbeatIntervalSeconds)))
      )
    ),
    never(pass, "pass").pipe(Effect.repeat(Schedule.spaced(Duration.seconds(settings.intervalSeconds))))
  ).pipe(Effect.zipRight(Effect.never), Effect.scoped)

  return {
    instance,
    runNow,
    enqueue,
    enqueueWithWarning,
    processQueue,
    pass,
    heartbeat,
    status,
    failures,
    loop
  } satisfies MaintenanceShape
})

/**
 * The maintenance service (one per process). Provide {@link MaintenanceCommands} once
 * (`MaintenanceCommands.Default`) to both this and the layers that register commands.
 */
export class Maintenance extends Effect.Service<Maintenance>()("@airlock/ops/Maintenance", { effect: make }) {}

/** The server's maintenance loop, forked for the layer's lifetime when `AIRLOCK_MAINTENANCE_ENABLED`. */
export const layerLoop: Layer.Layer<never, never, Maintenance> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* MaintenanceConfig
    if (!settings.enabled) return
    const maintenance = yield* Maintenance
    yield* Effect.forkScoped(maintenance.loop)
  })
)

/** The maintenance service with its command registry (provide the store ports and core's services). */
export const layer: Layer.Layer<
  Maintenance | MaintenanceCommands,
  never,
  MaintenanceStore | AgentMemory.AgentMemory | SystemState.SystemStateStore | Ids.IdGenerator | Rbac.Rbac
> = Maintenance.Default.pipe(Layer.provideMerge(MaintenanceCommands.Default))

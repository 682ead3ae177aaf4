/**
 * Draining and the controlled restart (assistant platform runbook, "Controlled Restart").
 *
 * {@link Drain} is one process's gate for new work: while it accepts, requests and background
 * fibers run and are counted; once a drain starts it refuses new work (the HTTP adapter answers
 * 503 `unavailable` with `Retry-After`, health routes excepted), the `restarting` readiness check
 * fails, and the drain waits — up to a timeout — for counted requests to finish and tracked
 * background fibers to end (those still running at the timeout are interrupted). The same drain
 * serves a SIGTERM (reason `shutting_down`: the server then closes storage) and a controlled
 * restart (reason `restarting`: the server keeps running).
 *
 * {@link Restart} is the admin action: set `restarting` in system state, drain, run the host's
 * {@link RestartHook}, clear the flag, accept again, check readiness. Audited at both ends.
 */
import { type Actor, Audit, Errors, Rbac, SystemState, TenantScope } from "@airlock/core"
import { Clock, Config, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import type { ConfigError } from "effect/ConfigError"
import { Readiness, ReadinessFailure, type Report } from "./Readiness.js"

/** Why a process stopped accepting work. */
export type DrainReason = "restarting" | "shutting_down"

/** What a drain achieved. */
export interface DrainOutcome {
  readonly waited_ms: number
  /** True when the timeout ran out before everything finished. */
  readonly timed_out: boolean
  /** Counted requests still running when the drain returned (besides the excluded ones). */
  readonly in_flight_left: number
  /** Tracked background fibers that had to be interrupted at the timeout. */
  readonly background_interrupted: number
}

/** Options of {@link Drain} `drain`. */
export interface DrainOptions {
  readonly reason: DrainReason
  /** Counted requests not to wait for (the restart request itself: 1). */
  readonly exclude?: number
}

/** The drain state of this process, as status and readiness show it. */
export interface DrainState {
  readonly accepting: boolean
  readonly reason: DrainReason | null
  readonly in_flight: number
  readonly background: number
}

const POLL_MS = 10

/** This process's gate for new work (see the module doc). Registers the `restarting` readiness check. */
export class Drain extends Effect.Service<Drain>()("@airlock/ops/Drain", {
  scoped: Effect.gen(function*() {
    const readiness = yield* Readiness
    let accepting = true
    let reason: DrainReason | null = null
    let inFlight = 0
    const background = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const leave = Effect.sync(() => void inFlight--)

    yield* readiness.register(
      "restarting",
      Effect.suspend(() =>
        accepting
          ? Effect.succeed({ accepting: true })
          : Effect.fail(new ReadinessFailure({ reason: reason ?? "draining", details: { in_flight: inFlight } }))
      ),
      { feedsLockdown: false }
    )

    const state = (): DrainState => ({ accepting, reason, in_flight: inFlight, background: background.size })

    /** Counts `self` as in flight while it runs (whatever its outcome, interruption included). */
    const track = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          inFlight++
          return Effect.ensuring(restore(self), leave)
        })
      )

    /**
     * Runs `self` as a tracked background fiber (daemon: it outlives the caller), awaited by a
     * drain and interrupted at its timeout. Refused with `unavailable` while not accepting.
     */
    const fork = <A, E>(self: Effect.Effect<A, E>): Effect.Effect<Fiber.RuntimeFiber<A, E>, Errors.Unavailable> =>
      Effect.suspend(() => {
        if (!accepting) {
          return Effect.fail(
            new Errors.Unavailable({ message: "Not accepting new work", details: { reason } })
          )
        }
        return Effect.tap(Effect.forkDaemon(self), (fiber) =>
          Effect.sync(() => {
            background.add(fiber)
            fiber.addObserver(() => background.delete(fiber))
          }))
      })

    /** Stops accepting and waits for in-flight work (see {@link DrainOptions}); stays closed until {@link resume}. */
    const drain = (timeoutMillis: number, options: DrainOptions): Effect.Effect<DrainOutcome> =>
      Effect.gen(function*() {
        accepting = false
        reason = options.reason
        const exclude = options.exclude ?? 0
        const started = yield* Clock.currentTimeMillis
        const deadline = started + timeoutMillis
        while (inFlight > exclude || background.size > 0) {
          if ((yield* Clock.currentTimeMillis) >= deadline) break
          yield* Effect.sleep(POLL_MS)
        }
        const left = [...background]
        if (left.length > 0) yield* Fiber.interruptAll(left)
        const now = yield* Clock.currentTimeMillis
        const inFlightLeft = Math.max(0, inFlight - exclude)
        return {
          waited_ms: now - started,
          timed_out: inFlightLeft > 0 || left.length > 0,
          in_flight_left: inFlightLeft,
          background_interrupted: left.length
        }
      })

    /** Accepts new work again (after a controlled restart). */
    const resume = Effect.sync(() => {
      accepting = true
      reason = null
    })

    return {
      /** Whether new work is accepted (a plain read: the request path calls it on every request). */
      isAccepting: (): boolean => accepting,
      /** Why new work is refused, or null. */
      reason: (): DrainReason | null => reason,
      state,
      track,
      fork,
      drain,
      resume
    }
  }),
  dependencies: [Readiness.Default]
}) {}

/** The host's restart step (reopen pools, reload configuration, …), run between drain and resume. */
export class RestartHook extends Context.Tag("@airlock/ops/RestartHook")<
  RestartHook,
  { readonly run: Effect.Effect<void, unknown> }
>() {}

/** Settings of draining and restarts. */
export interface DrainSettings {
  /** How long a controlled restart waits for in-flight work (`AIRLOCK_RESTART_DRAIN_TIMEOUT_SECONDS`, default 20 s). */
  readonly restartDrainTimeoutMillis: number
  /** `Retry-After` on work refused while draining (`AIRLOCK_DRAIN_RETRY_AFTER_SECONDS`, default 5). */
  readonly retryAfterSeconds: number
}

/** The defaults of {@link DrainSettings}. */
export const defaults: DrainSettings = { restartDrainTimeoutMillis: 20_000, retryAfterSeconds: 5 }

/** The drain settings service. */
export class DrainConfig extends Context.Tag("@airlock/ops/DrainConfig")<DrainConfig, DrainSettings>() {}

/** Reads the drain settings from `AIRLOCK_*`. */
export const config: Effect.Effect<DrainSettings, ConfigError> = Effect.gen(function*() {
  return {
    restartDrainTimeoutMillis: yield* Config.number("AIRLOCK_RESTART_DRAIN_TIMEOUT_SECONDS").pipe(
      Config.validate({ message: "must be between 0 and 3600", validation: (n) => n >= 0 && n <= 3600 }),
      Config.map((s) => Math.round(s * 1000)),
      Config.withDefault(defaults.restartDrainTimeoutMillis)
    ),
    retryAfterSeconds: yield* Config.integer("AIRLOCK_DRAIN_RETRY_AFTER_SECONDS").pipe(
      Config.validate({ message: "must be between 1 and 3600", validation: (n) => n >= 1 && n <= 3600 }),
      Config.withDefault(defaults.retryAfterSeconds)
    )
  }
})

/** Drain settings from the environment. */
export const layerConfig: Layer.Layer<DrainConfig, ConfigError> = Layer.effect(DrainConfig, config)

/** Drain settings given in code (unspecified fields: {@link defaults}). */
export const layer = (settings: Partial<DrainSettings> = {}): Layer.Layer<DrainConfig> =>
  Layer.succeed(DrainConfig, { ...defaults, ...settings })

/** The drain settings, or the defaults when none are provided. */
export const currentSettings: Effect.Effect<DrainSettings> = Effect.map(
  Effect.serviceOption(DrainConfig),
  Option.getOrElse(() => defaults)
)

/** Key of the restarting flag in system state (`{restarting, since, by, reason}`; the runbook's `system_state.restarting`). */
export const RESTARTING_KEY = "ops.restarting"

/** The outcome of a controlled restart. */
export interface RestartReport {
  readonly requested_by: string
  readonly reason: string
  readonly started_at: number
  readonly finished_at: number
  readonly drain: DrainOutcome
  /** `ok`, `none` (no hook registered) or `failed` (the server still resumes). */
  readonly hook: { readonly status: "ok" | "none" | "failed"; readonly error: string | null }
  /** Readiness after the restart. */
  readonly ready: boolean
  readonly readiness: Report
}

/** The controlled restart (admin). */
export class Restart extends Effect.Service<Restart>()("@airlock/ops/Restart", {
  effect: Effect.gen(function*() {
    const drain = yield* Drain
    const readiness = yield* Readiness
    const rbac = yield* Rbac.Rbac
    const audit = yield* Audit.AuditLog
    const stateStore = yield* SystemState.SystemStateStore
    const hook = yield* Effect.serviceOption(RestartHook)
    const settings = yield* currentSettings
    let running = false

    const flag = (value: Record<string, unknown>, by: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        stateStore.put(
          new SystemState.SystemStateEntry({ key: RESTARTING_KEY, value, updated_at: now, updated_by: by }, true)
        ))

    /**
     * Restarts this process's work under control; needs `system.admin`. `exclude` is the number
     * of counted requests not to wait for (1 when called from a request). One restart at a time:
     * a second one meanwhile fails `ops.restart_in_progress`. Audited in `tenant` (default the
     * admin's own).
     */
    const restart = (
      actor: Actor.Actor,
      options: { readonly reason?: string; readonly tenant?: string; readonly exclude?: number } = {}
    ): Effect.Effect<RestartReport, Errors.Forbidden | Errors.Conflict | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "system.admin")
        const auditTenant = yield* TenantScope.acting(rbac, actor, options.tenant)
        if (running) {
          return yield* new Errors.Conflict({
            code: "ops.restart_in_progress",
            message: "A controlled restart is already running"
          })
        }
        running = true
        const reason = options.reason ?? "manual"
        return yield* Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          yield* flag({ restarting: true, since: started, by: actor.id, reason }, actor.id)
          yield* audit.append({
            tenant_id: auditTenant,
            actor_id: actor.id,
            action: "system.restart_requested",
            subject: "system",
            data: { reason }
          })
          const drained = yield* drain.drain(settings.restartDrainTimeoutMillis, {
            reason: "restarting",
            exclude: options.exclude ?? 0
          })
          const hookExit = Option.isSome(hook) ? yield* Effect.exit(hook.value.run) : null
          if (hookExit !== null && Exit.isFailure(hookExit))
            yield* Effect.logError("restart hook failed", hookExit.cause)
          yield* drain.resume
          const finished = yield* Clock.currentTimeMillis
          yield* flag({ restarting: false, since: null, by: actor.id, reason, last_finished_at: finished }, actor.id)
          const ready = yield* readiness.report
          const report: RestartReport = {
            requested_by: actor.id,
            reason,
            started_at: started,
            finished_at: finished,
            drain: drained,
            hook: hookExit === null
              ? { status: "none", error: null }
              : Exit.isSuccess(hookExit)
              ? { status: "ok", error: null }
              : { status: "failed", error: "restart hook failed (see the server log)" },
            ready: ready.ready,
            readiness: ready
          }
          yield* audit.append({
            tenant_id: auditTenant,
            actor_id: actor.id,
            action: "system.restarted",
            subject: "system",
            data: { reason, drain: drained, hook: report.hook.status, ready: ready.ready }
          })
          return report
        }).pipe(
          // whatever happens, the process accepts work again
          Effect.ensuring(Effect.zipRight(drain.resume, Effect.sync(() => void (running = false))))
        )
      })

    return { restart }
  }),
  dependencies: [Drain.Default]
}) {}

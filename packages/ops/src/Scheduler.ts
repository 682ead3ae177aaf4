/**
 * The scheduler: schedules' CRUD, the tick that dispatches each due (schedule, due time) exactly
 * once — whichever and however many instances tick the same store — and the leased, retried
 * execution of what was dispatched (at least once: targets must be idempotent).
 *
 * A tick has two halves. **Dispatch**: for each enabled schedule whose cursor is due, the pure
 * {@link Schedules.planDue} picks the due time (catch-up policy, grace period) and the new cursor,
 * and {@link ScheduleStore.claim} moves the cursor by compare-and-set and inserts the dispatch
 * record with its `schedule.trigger` event under the unique key (schedule, due time) in one
 * transaction. An instance that read an old cursor loses the compare-and-set and writes nothing.
 * **Execution**: records that are pending (or whose lease expired) are leased one by one by
 * compare-and-set, run through the target registered under their name, and finished by the
 * lease holder only; a failure is retried after a doubling delay until `maxAttempts`. A lease
 * is renewed while its task runs; a process that dies mid-task leaves a lease that expires, and
 * any instance takes the record again.
 *
 * Time comes from `Clock` (so `TestClock` drives every test), ids from `IdGenerator`.
 */
import { type Actor, Audit, type Errors as CoreErrors, Ids, Rbac, Trusted } from "@airlock/core"
import { Errors } from "@airlock/core"
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Metric,
  MetricBoundaries,
  Option,
  ParseResult,
  Schedule,
  Schema
} from "effect"
import { Doctor, type Finding, type FindingStatus } from "./Doctor.js"
import { Readiness, ReadinessFailure } from "./Readiness.js"
import * as Registry from "./Registry.js"
import { SchedulerConfig, type SchedulerSettings } from "./SchedulerConfig.js"
import * as Schedules from "./Schedules.js"
import { type ClaimInput, Dispatch, type DispatchStatus, ScheduleStore, TriggerEvent } from "./ScheduleStore.js"

// ---------------------------------------------------------------------------------------------
// Targets

/** What a target is told about the run it is asked for. */
export interface TaskContext {
  readonly schedule: string
  readonly target: string
  /** The due time being run (epoch milliseconds): the idempotency key a target can use. */
  readonly due_at: number
  /** 1 for the first attempt. */
  readonly attempt: number
  /** The schedule's `args` (JSON). */
  readonly args: unknown
}

/**
 * A task the host registers under a name (the auditor, memory tiering, stale reconcile, KPI
 * rollups, …). It may run more than once for one due time (a retry, a lease taken over after a
 * crash), so it must be idempotent. Its success value is stored as the record's `result` (JSON).
 */
export interface ScheduleTarget {
  readonly name: string
  readonly description: string
  readonly run: (context: TaskContext) => Effect.Effect<unknown, unknown>
}

/** The registry of targets, filled by the host's layers at start ({@link registerTarget}). */
export class ScheduleTargets extends Effect.Service<ScheduleTargets>()("@airlock/ops/ScheduleTargets", {
  sync: () => {
    const targets = Registry.make<ScheduleTarget>()
    return {
      /** Registers (or replaces) a target. */
      register: targets.register,
      /** The target of that name. */
      get: targets.get,
      /** Every target, by name. */
      list: (): ReadonlyArray<{ readonly name: string; readonly description: string }> =>
        targets.list().map((t) => ({ name: t.name, description: t.description }))
    } as const
  }
}) {}

/** A layer that registers one target when built. */
export const registerTarget = <R>(
  make: Effect.Effect<ScheduleTarget, never, R>
): Layer.Layer<never, never, ScheduleTargets | R> => Registry.layerRegister(ScheduleTargets, make)

// ---------------------------------------------------------------------------------------------
// Metrics (no prefix: the /metrics exporter adds it)

/** Dispatch records written, by outcome (`dispatched`, `skipped`) and whether the due time was missed (`late`). */
export const dispatchesTotal = Metric.counter("scheduler_dispatches_total", {
  description: "Scheduler dispatch records written (one per schedule and due time)",
  incremental: true
})

// the counter by outcome and lateness, tagged once (a tick updates one per dispatch)
const dispatchCounter = (outcome: "dispatched" | "skipped", late: boolean) =>
  Metric.tagged(Metric.tagged(dispatchesTotal, "outcome", outcome), "late", String(late))
const dispatchCounters = {
  dispatched: { late: dispatchCounter("dispatched", true), onTime: dispatchCounter("dispatched", false) },
  skipped: { late: dispatchCounter("skipped", true), onTime: dispatchCounter("skipped", false) }
} as const

/** Seconds from a due time to its dispatch. */
export const dispatchLagSeconds = Metric.histogram(
  "scheduler_dispatch_lag_seconds",
  MetricBoundaries.fromIterable([0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]),
  "Seconds from a schedule's due time to its dispatch"
)

/** Task attempts finished, by outcome (`succeeded`, `retry`, `failed`). */
export const executionsTotal = Metric.counter("scheduler_executions_total", {
  description: "Scheduled task attempts finished, by outcome",
  incremental: true
})

/** The scheduler's backlog lag at the last tick or status read. */
export const lagSeconds = Metric.gauge("scheduler_lag_seconds", {
  description: "Seconds the oldest due-but-unfinished dispatch of the scheduler is behind"
})

/** Due schedules not yet dispatched, at the last tick or status read. */
export const backlogGauge = Metric.gauge("scheduler_backlog", {
  description: "Scheduler backlog (due, dispatched, running, late) at the last tick or status read"
})

// ---------------------------------------------------------------------------------------------
// Reports

/** One record a tick wrote. */
export interface DispatchedItem {
  readonly schedule: string
  readonly due_at: number
  readonly status: "pending" | "skipped"
  readonly late: boolean
}

/** One attempt a tick ran. */
export interface ExecutedItem {
  readonly schedule: string
  readonly due_at: number
  readonly attempt: number
  readonly status: DispatchStatus
  readonly error: string | null
}

/** What one tick did. */
export interface TickReport {
  readonly instance: string
  readonly at: number
  readonly dispatched: ReadonlyArray<DispatchedItem>
  /** Schedules whose cursor moved without a dispatch (catch-up `skip`). */
  readonly advanced: number
  /** Schedules another instance decided first. */
  readonly lost: number
  readonly executed: ReadonlyArray<ExecutedItem>
}

/** The backlog and lag, as `GET /api/v1/system/status` shows them. */
export interface SchedulerStatus {
  readonly enabled: boolean
  readonly instance: string
  readonly tick_seconds: number
  readonly last_tick_at: number | null
  readonly schedules: number
  readonly due: number
  readonly dispatched: number
  readonly running: number
  readonly late: number
  /** Seconds the oldest due-but-not-started item is behind (0 when none). */
  readonly lag_seconds: number
  readonly last_error: {
    readonly schedule: string
    readonly due_at: number
    readonly error: string
    readonly at: number
  } | null
}

/** Parsed timings an instance keeps (emptied when full: a fleet has far fewer distinct timings). */
const TIMING_CACHE_SIZE = 4096

const decodeInput = Schema.decodeUnknown(Schedules.ScheduleInput, { onExcessProperty: "error" })
const decodeUpdate = Schema.decodeUnknown(Schedules.ScheduleUpdate, { onExcessProperty: "error" })
const schemaError = (e: ParseResult.ParseError) =>
  new Errors.ValidationError({ code: "validation.schema", message: ParseResult.TreeFormatter.formatErrorSync(e) })

/** The message of a failed attempt: the error's `message` (or tag), a defect's, or `interrupted`. */
const describe = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const e = Cause.squash(cause) as { message?: unknown; _tag?: unknown; code?: unknown } | null
  const text = typeof e?.message === "string" && e.message !== ""
    ? e.message
    : typeof e?._tag === "string"
    ? e._tag
    : String(e)
  const code = typeof e?.code === "string" ? `${e.code}: ` : ""
  return (code + text).slice(0, 2000)
}

/** Stored results are JSON: a value that is not is replaced by a note. */
const jsonSafe = (value: unknown): unknown => {
  if (value === undefined) return null
  try {
    return JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "null")
  } catch {
    return { unserialisable: true }
  }
}

/** Errors of the CRUD operations. */
export type CrudError =
  | CoreErrors.ValidationError
  | CoreErrors.Forbidden
  | CoreErrors.NotFound
  | CoreErrors.Conflict
  | CoreErrors.StorageError

/** The scheduler's operations. */
export interface SchedulerShape {
  /** This instance's id (the `dispatched_by` and lease owner it writes). */
  readonly instance: string
  /** Creates a schedule (`system.admin`); audited in the actor's tenant. */
  readonly create: (actor: Actor.Actor, input: unknown) => Effect.Effect<Schedules.ScheduleRecord, CrudError>
  /** Changes a schedule (`system.admin`); a new timing or re-enabling resets the cursor from now. */
  readonly update: (
    actor: Actor.Actor,
    name: string,
    input: unknown
  ) => Effect.Effect<Schedules.ScheduleRecord, CrudError>
  /** Deletes a schedule and its dispatch records (`system.admin`); its events stay. */
  readonly remove: (actor: Actor.Actor, name: string) => Effect.Effect<void, CrudError>
  readonly get: (name: string) => Effect.Effect<Schedules.ScheduleRecord, CoreErrors.NotFound | CoreErrors.StorageError>
  readonly list: () => Effect.Effect<ReadonlyArray<Schedules.ScheduleRecord>, CoreErrors.StorageError>
  /** A schedule's dispatch records, newest first. */
  readonly history: (
    name: string,
    options?: { readonly limit?: number | undefined; readonly before?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Dispatch>, CoreErrors.NotFound | CoreErrors.StorageError>
  /** `schedule.trigger` events, oldest first. */
  readonly events: (
    options?: { readonly schedule?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<TriggerEvent>, CoreErrors.StorageError>
  /** The registered targets. */
  readonly targets: () => ReadonlyArray<{ readonly name: string; readonly description: string }>
  /** Dispatches what is due at `Clock` now (the first half of a tick). */
  readonly dispatchDue: Effect.Effect<
    { readonly dispatched: ReadonlyArray<DispatchedItem>; readonly advanced: number; readonly lost: number },
    CoreErrors.StorageError
  >
  /** Leases and runs what is runnable now (the second half of a tick). */
  readonly runDue: Effect.Effect<ReadonlyArray<ExecutedItem>, CoreErrors.StorageError>
  /** One tick: dispatch, then run. */
  readonly tick: Effect.Effect<TickReport, CoreErrors.StorageError>
  /** Backlog and lag now. */
  readonly status: Effect.Effect<SchedulerStatus, CoreErrors.StorageError>
  /** Ticks forever on the configured interval (Effect `Schedule`); a failed tick is logged, never fatal. */
  readonly loop: Effect.Effect<never>
}

/** Builds a scheduler instance (each call is a new instance id over the same store). */
export const make: Effect.Effect<
  SchedulerShape,
  never,
  ScheduleStore | ScheduleTargets | Audit.AuditLog | Ids.IdGenerator | Rbac.Rbac
> = Effect.gen(function*() {
  const store = yield* ScheduleStore
  const registry = yield* ScheduleTargets
  const audit = yield* Audit.AuditLog
  const ids = yield* Ids.IdGenerator
  const rbac = yield* Rbac.Rbac
  const settings: SchedulerSettings = yield* SchedulerConfig
  const instance = yield* ids.next("sch")
  const grace = settings.graceSeconds * 1000
  const lease = settings.leaseSeconds * 1000
  let lastTickAt: number | null = null

  const timingOf = (expression: string, zone: string) =>
    Either.match(Schedules.parseTiming(expression, zone), { onLeft: Effect.fail, onRight: Effect.succeed })

  const requireTarget = (target: string) =>
    Option.isSome(registry.get(target))
      ? Effect.void
      : Effect.fail(
        new Errors.ValidationError({
          code: "validation.schedule_target",
          message: `No target is registered under ${target}`,
          details: { target, registered: registry.list().map((t) => t.name) }
        })
      )

  const record = (actor: Actor.Actor, action: string, name: string, data: unknown) =>
    audit.append({ tenant_id: actor.tenant_id, actor_id: actor.id, action, subject: `schedule:${name}`, data })

  const view = (s: Schedules.ScheduleRecord) => ({
    expression: s.expression,
    time_zone: s.time_zone,
    target: s.target,
    enabled: s.enabled,
    overlap: s.overlap,
    catch_up: s.catch_up
  })

  const getOrFail = (name: string) =>
    Effect.flatMap(
      store.get(name),
      Option.match({ onNone: () => Effect.fail(Schedules.notFound(name)), onSome: Effect.succeed })
    )

  const create: SchedulerShape["create"] = (actor, body) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, "system.admin")
      const input = yield* Effect.mapError(decodeInput(body), schemaError)
      const zone = input.time_zone ?? Schedules.defaults.time_zone
      const timing = yield* timingOf(input.expression, zone)
      yield* requireTarget(input.target)
      const now = yield* Clock.currentTimeMillis
      const enabled = input.enabled ?? Schedules.defaults.enabled
      const schedule = Schedules.ScheduleRecord.make({
        name: input.name,
        expression: input.expression.trim(),
        time_zone: zone,
        target: input.target,
        args: jsonSafe(input.args ?? null),
        enabled,
        overlap: input.overlap ?? Schedules.defaults.overlap,
        catch_up: input.catch_up ?? Schedules.defaults.catch_up,
        next_due_at: enabled ? Schedules.initialCursor(timing, now, grace) : null,
        created_at: now,
        updated_at: now,
        updated_by: actor.id,
        version: 1
      })
      yield* store.insert(schedule)
      yield* record(actor, "schedule.created", schedule.name, view(schedule))
      return schedule
    })

  const update: SchedulerShape["update"] = (actor, name, body) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, "system.admin")
      const change = yield* Effect.mapError(decodeUpdate(body), schemaError)
      if (Object.keys(change).length === 0) {
        return yield* new Errors.ValidationError({ code: "validation.empty_update", message: "Nothing to change" })
      }
      const current = yield* getOrFail(name)
      const expression = change.expression?.trim() ?? current.expression
      const zone = change.time_zone ?? current.time_zone
      const timing = yield* timingOf(expression, zone)
      if (change.target !== undefined) yield* requireTarget(change.target)
      const now = yield* Clock.currentTimeMillis
      const enabled = change.enabled ?? current.enabled
      const retimed = expression !== current.expression || zone !== current.time_zone
      const next_due_at = !enabled
        ? null
        : retimed || !current.enabled || current.next_due_at === null
        ? Schedules.initialCursor(timing, now, grace)
        : current.next_due_at
      const schedule = Schedules.ScheduleRecord.make({
        ...current,
        expression,
        time_zone: zone,
        target: change.target ?? current.target,
        args: change.args === undefined ? current.args : jsonSafe(change.args),
        enabled,
        overlap: change.overlap ?? current.overlap,
        catch_up: change.catch_up ?? current.catch_up,
        next_due_at,
        updated_at: now,
        updated_by: actor.id,
        version: current.version + 1
      })
      yield* store.update(schedule, current.version)
      yield* record(actor, "schedule.updated", name, view(schedule))
      return schedule
    })

  const remove: SchedulerShape["remove"] = (actor, name) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, "system.admin")
      yield* store.remove(name)
      yield* record(actor, "schedule.deleted", name, null)
    })

  const history: SchedulerShape["history"] = (name, options = {}) =>
    Effect.zipRight(
      getOrFail(name),
      store.history(name, { limit: Math.min(Math.max(options.limit ?? 50, 1), 500), before: options.before })
    )

  const events: SchedulerShape["events"] = (options = {}) =>
    store.events({ schedule: options.schedule, limit: Math.min(Math.max(options.limit ?? 100, 1), 1000) })

  // --- dispatch -------------------------------------------------------------------------------

  // Parsed timings by zone and expression: a tick plans every due schedule, and parsing (the
  // zone's formatter, the cron fields, the never-due check) costs more than the plan itself.
  const timings = new Map<string, Either.Either<Schedules.Timing, CoreErrors.ValidationError>>()
  const timingCached = (expression: string, zone: string) => {
    const key = `${zone}\u0000${expression}`
    let timing = timings.get(key)
    if (timing === undefined) {
      if (timings.size >= TIMING_CACHE_SIZE) timings.clear()
      timing = Schedules.parseTiming(expression, zone)
      timings.set(key, timing)
    }
    return timing
  }

  /** Plans one due schedule at `now`: its claim, or null when nothing is due (or its timing no longer parses). */
  const planOne = (s: Schedules.ScheduleRecord, now: number, at: number) =>
    Effect.gen(function*() {
      const timing = timingCached(s.expression, s.time_zone)
      if (Either.isLeft(timing) || s.next_due_at === null) return null
      const plan = Schedules.planDue(timing.right, s.next_due_at, now, grace, s.catch_up)
      if (plan === null) return null
      const dueAt = plan.due_at
      const dispatch = dueAt === null ? null : Trusted.make(Dispatch, {
        schedule: s.name,
        due_at: dueAt,
        target: s.target,
        dispatched_at: at,
        dispatched_by: instance,
        late: plan.late,
        status: "pending",
        attempts: 0,
        available_at: now,
        lease_owner: null,
        lease_until: null,
        started_at: null,
        finished_at: null,
        last_error: null,
        result: null
      })
      const event = dueAt === null ? null : Trusted.make(TriggerEvent, {
        id: yield* ids.next("sev"),
        type: "schedule.trigger",
        schedule: s.name,
        due_at: dueAt,
        at: now,
        instance,
        data: { target: s.target, late: plan.late, collapsed: plan.collapsed }
      })
      const claim: ClaimInput = {
        schedule: s.name,
        expected_next_due_at: s.next_due_at,
        next_due_at: plan.next_due_at,
        dispatch,
        skip_if_active: s.overlap === "skip",
        event,
        now
      }
      return { claim, late: plan.late }
    })

  const dispatchDue: SchedulerShape["dispatchDue"] = Effect.gen(function*() {
    const dispatched: Array<DispatchedItem> = []
    let advanced = 0
    let lost = 0
    const now = yield* Clock.currentTimeMillis
    // rounds until a batch comes back short; each round moves every cursor it claims past now,
    // and claims its whole batch in one store transaction
    for (let round = 0; round < 1000; round++) {
      const due = yield* store.due(now, settings.batchSize)
      // the claims' own time: a tick over thousands of schedules takes a while
      const at = Math.max(now, yield* Clock.currentTimeMillis)
      const plans: Array<{ readonly claim: ClaimInput; readonly late: boolean }> = []
      for (const s of due) {
        const p = yield* planOne(s, now, at)
        if (p !== null) plans.push(p)
      }
      const outcomes = plans.length === 0 ? [] : yield* store.claimMany(plans.map((p) => p.claim))
      let progress = 0
      for (let i = 0; i < plans.length; i++) {
        const { claim, late } = plans[i]!
        const outcome = outcomes[i]
        if (outcome === "dispatched" || outcome === "skipped") {
          progress++
          const dueAt = claim.dispatch!.due_at
          dispatched.push({
            schedule: claim.schedule,
            due_at: dueAt,
            status: outcome === "dispatched" ? "pending" : "skipped",
            late
          })
          yield* Metric.increment(dispatchCounters[outcome][late ? "late" : "onTime"])
          yield* Metric.update(dispatchLagSeconds, Math.max(0, at - dueAt) / 1000)
        } else if (outcome === "advanced" || outcome === "duplicate") {
          progress++
          advanced++
        } else if (outcome === "lost") lost++
      }
      if (due.length < settings.batchSize || progress === 0) break
    }
    return { dispatched, advanced, lost }
  })

  // --- execution ------------------------------------------------------------------------------

  const runOne = (d: Dispatch, schedule: Schedules.ScheduleRecord | undefined) =>
    Effect.gen(function*() {
      const attempt = d.attempts + 1
      const finish = (status: "pending" | "succeeded" | "failed", error: string | null, result: unknown) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          const retry = status === "pending"
          const delay = settings.retryDelaySeconds * 1000 * 2 ** (attempt - 1)
          yield* store.finish({
            schedule: d.schedule,
            due_at: d.due_at,
            owner: instance,
            status,
            now: at,
            available_at: retry ? at + delay : at,
            error,
            result
          })
          yield* Metric.increment(
            Metric.tagged(executionsTotal, "outcome", retry ? "retry" : status)
          )
          return { schedule: d.schedule, due_at: d.due_at, attempt, status, error } satisfies ExecutedItem
        })
      const target = registry.get(d.target)
      if (Option.isNone(target)) return yield* finish("failed", `target.unknown: no target ${d.target}`, null)
      const renew = Clock.currentTimeMillis.pipe(
        Effect.flatMap((at) => store.renew(d.schedule, d.due_at, instance, at + lease)),
        Effect.ignore,
        Effect.delay(Duration.millis(Math.max(1, Math.floor(lease / 3)))),
        Effect.forever
      )
      const renewal = yield* Effect.fork(renew)
      const exit = yield* Effect.exit(
        Effect.suspend(() =>
          target.value.run({ schedule: d.schedule, target: d.target, due_at: d.due_at, attempt, args: schedule?.args })
        )
      )
      yield* Fiber.interrupt(renewal)
      if (Exit.isSuccess(exit)) return yield* finish("succeeded", null, jsonSafe(exit.value))
      const error = describe(exit.cause)
      yield* Effect.logWarning(`scheduled task ${d.target} failed`).pipe(
        Effect.annotateLogs({ schedule: d.schedule, due_at: d.due_at, attempt, error })
      )
      return yield* finish(attempt >= settings.maxAttempts ? "failed" : "pending", error, null)
    })

  const runDue: SchedulerShape["runDue"] = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const candidates = yield* store.leasable(now, settings.batchSize)
    if (candidates.length === 0) return []
    const schedules = new Map((yield* store.list()).map((s) => [s.name, s]))
    const leased: Array<Dispatch> = []
    for (const d of candidates) {
      const schedule = schedules.get(d.schedule)
      const outcome = yield* store.acquire({
        schedule: d.schedule,
        due_at: d.due_at,
        attempts: d.attempts,
        owner: instance,
        lease_until: now + lease,
        now,
        exclusive: schedule?.overlap === "queue"
      })
      if (outcome === "acquired") leased.push(d)
    }
    return yield* Effect.forEach(leased, (d) => runOne(d, schedules.get(d.schedule)), {
      concurrency: settings.concurrency
    })
  })

  const status: SchedulerShape["status"] = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const facts = yield* store.backlog(now, now - grace)
    const oldest = Math.min(facts.oldest_due_at ?? Infinity, facts.oldest_dispatched_due_at ?? Infinity)
    const lag = oldest === Infinity ? 0 : Math.max(0, now - oldest) / 1000
    yield* Metric.set(lagSeconds, lag)
    yield* Metric.set(Metric.tagged(backlogGauge, "state", "due"), facts.due)
    yield* Metric.set(Metric.tagged(backlogGauge, "state", "dispatched"), facts.dispatched)
    yield* Metric.set(Metric.tagged(backlogGauge, "state", "running"), facts.running)
    yield* Metric.set(Metric.tagged(backlogGauge, "state", "late"), facts.late)
    const schedules = (yield* store.list()).length
    return {
      enabled: settings.enabled,
      instance,
      tick_seconds: settings.tickSeconds,
      last_tick_at: lastTickAt,
      schedules,
      due: facts.due,
      dispatched: facts.dispatched,
      running: facts.running,
      late: facts.late,
      lag_seconds: lag,
      last_error: facts.last_error
    }
  })

  const tick: SchedulerShape["tick"] = Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    lastTickAt = at
    const d = yield* dispatchDue
    const executed = yield* runDue
    return { instance, at, dispatched: d.dispatched, advanced: d.advanced, lost: d.lost, executed }
  })

  const loop: SchedulerShape["loop"] = tick.pipe(
    Effect.catchAllCause((cause) => Effect.logError("scheduler tick failed", cause)),
    Effect.repeat(Schedule.spaced(Duration.seconds(settings.tickSeconds))),
    Effect.zipRight(Effect.never)
  )

  return {
    instance,
    create,
    update,
    remove,
    get: getOrFail,
    list: () => store.list(),
    history,
    events,
    targets: () => registry.list(),
    dispatchDue,
    runDue,
    tick,
    status,
    loop
  } satisfies SchedulerShape
})

/**
 * The scheduler service (one instance per process). Provide {@link ScheduleTargets} once
 * (`ScheduleTargets.Default`) to both this and the layers that register targets.
 */
export class Scheduler extends Effect.Service<Scheduler>()("@airlock/ops/Scheduler", {
  effect: make
}) {}

/**
 * The server's tick loop, forked for the layer's lifetime when `enabled` (interrupted on
 * shutdown); a no-op layer otherwise.
 */
export const layerLoop: Layer.Layer<never, never, Scheduler> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* SchedulerConfig
    if (!settings.enabled) return
    const scheduler = yield* Scheduler
    yield* Effect.forkScoped(scheduler.loop)
  })
)

/** The scheduler with its target registry (provide the store ports and core's services). */
export const layer: Layer.Layer<
  Scheduler | ScheduleTargets,
  never,
  ScheduleStore | Audit.AuditLog | Ids.IdGenerator | Rbac.Rbac
> = Scheduler.Default.pipe(Layer.provideMerge(ScheduleTargets.Default))

// ---------------------------------------------------------------------------------------------
// Health: the `scheduler` readiness check and doctor check

/** How long the doctor keeps warning about a dispatch's last error. */
const DOCTOR_ERROR_WINDOW_MS = 24 * 60 * 60 * 1000

/**
 * The `scheduler` readiness check: fails with `lagging` (`lag_seconds`, `late`, `max_lag_seconds`)
 * when the oldest due-but-unstarted item is more than `readyMaxLagSeconds` behind, `unreadable`
 * when the store does not answer. An instance whose tick loop is off reports ready
 * (`enabled: false`): it is not the one to catch up.
 */
export const readinessCheck = (scheduler: SchedulerShape): Effect.Effect<
  Record<string, unknown>,
  ReadinessFailure,
  never
> =>
  Effect.gen(function*() {
    const settings = yield* SchedulerConfig
    if (!settings.enabled) return { enabled: false }
    const status = yield* Effect.mapError(scheduler.status, () => new ReadinessFailure({ reason: "unreadable" }))
    const details = {
      lag_seconds: status.lag_seconds,
      late: status.late,
      max_lag_seconds: settings.readyMaxLagSeconds
    }
    return status.lag_seconds > settings.readyMaxLagSeconds
      ? yield* new ReadinessFailure({ reason: "lagging", details })
      : details
  })

/**
 * The `scheduler` doctor check: `ok` (`scheduler.on_time`); `warn` with `scheduler.lagging` (lag
 * above `readyMaxLagSeconds`), `scheduler.last_error` (a dispatch of the last 24 hours still
 * carries an error) or `scheduler.unreadable` (the store does not answer).
 */
export const doctorCheck = (scheduler: SchedulerShape): Effect.Effect<Finding> =>
  Effect.gen(function*() {
    const settings = yield* SchedulerConfig
    const now = yield* Clock.currentTimeMillis
    const read = yield* Effect.either(scheduler.status)
    const finding = (status: FindingStatus, code: string, message: string, details: Record<string, unknown>) =>
      ({ check: "scheduler", status, code, message, details, outage_class: null, fixable: false }) satisfies Finding
    if (Either.isLeft(read)) return finding("warn", "scheduler.unreadable", "The scheduler's store cannot be read", {})
    const s = read.right
    const details = {
      enabled: s.enabled,
      schedules: s.schedules,
      due: s.due,
      dispatched: s.dispatched,
      running: s.running,
      late: s.late,
      lag_seconds: s.lag_seconds,
      max_lag_seconds: settings.readyMaxLagSeconds
    }
    if (s.lag_seconds > settings.readyMaxLagSeconds) {
      return finding("warn", "scheduler.lagging", `The scheduler is ${Math.round(s.lag_seconds)} s behind`, details)
    }
    if (s.last_error !== null && now - s.last_error.at <= DOCTOR_ERROR_WINDOW_MS) {
      return finding("warn", "scheduler.last_error", `A scheduled run of ${s.last_error.schedule} failed`, {
        ...details,
        last_error: { schedule: s.last_error.schedule, due_at: s.last_error.due_at, at: s.last_error.at }
      })
    }
    return finding("ok", "scheduler.on_time", "The scheduler is on time", details)
  })

/** Registers the `scheduler` readiness check (it does not feed the lockdown: a late background task is no outage). */
export const layerReadiness: Layer.Layer<never, never, Scheduler | Readiness> = Layer.effectDiscard(
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const readiness = yield* Readiness
    const settings = yield* SchedulerConfig
    yield* readiness.register(
      "scheduler",
      Effect.provideService(readinessCheck(scheduler), SchedulerConfig, settings),
      { feedsLockdown: false }
    )
  })
)

/** Registers the `scheduler` doctor check. */
export const layerDoctor: Layer.Layer<never, never, Scheduler | Doctor> = Layer.effectDiscard(
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const doctor = yield* Doctor
    const settings = yield* SchedulerConfig
    yield* doctor.register("scheduler", Effect.provideService(doctorCheck(scheduler), SchedulerConfig, settings))
  })
)

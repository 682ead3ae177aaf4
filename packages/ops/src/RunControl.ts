/**
 * Run controls (ops console runbook): start, stop, pause, resume and reset of the run the host's
 * worker loops serve, with its id, reason and who started it, and the run's metrics (actions by
 * kind since it started).
 *
 * The run is either `idle` (no open run), `running` or `paused`:
 *
 * | command | from | to | refused with |
 * |---|---|---|---|
 * | start | idle | running (optionally after a reset) | `run.already_active` (409) |
 * | stop | running, paused | idle, `paused = yes` | `run.not_started` (409) |
 * | pause | running | paused | `run.not_started`, `run.already_paused` (409) |
 * | resume | paused (by an operator or a stop condition) | running | `run.not_started`, `run.not_paused` (409) |
 * | reset | idle | idle (the host's reset + reseed hook ran) | `run.reset_while_active` (409), `run.reset_disabled` (403) |
 *
 * Whether the run is active and paused is kept in core's runtime overrides `run.active` and
 * `run.paused` — the same ones guardrails' stop conditions write — so a tripped stop condition
 * pauses the open run for every instance and an operator's resume restarts it. Every command is
 * one transaction (run row, overrides, audit record) and is audited with the token's actor and
 * the operator's name (the console's "Actor name").
 *
 * The run's metrics count actions by kind while the run is `running` (open, active, not paused):
 * every governed action the pipeline applies (RunControl registers itself as an observer in
 * core's `ActionRegistry`, so ledger, companion and ops kinds alike are counted, under their kind
 * name), every execution a worker runs to its end (`ops.execution`), and what a `WorkerLoop`
 * step reports. Nothing is counted while no run is open, while it is paused (by an operator or
 * a stop condition) or after it stopped; each run has its own counters, so a new run starts at 0.
 */
import { ActionRegistry, type Actor, Audit, Errors, type Ids, Rbac, SystemState, UnitOfWork } from "@airlock/core"
import { BreakerEvents, StopConditions } from "@airlock/guardrails"
import { Clock, Context, Effect, Metric, Option, Schema } from "effect"
import { ExecutionsConfig } from "./ExecutionsConfig.js"
import { alreadyActiveError, RunRecord, RunStore } from "./RunStore.js"

/** Where the run stands. */
export const RunPhase = Schema.Literal("idle", "running", "paused")
/** Type of {@link RunPhase}. */
export type RunPhase = typeof RunPhase.Type

/** The run as the console shows it. */
export class RunView extends Schema.Class<RunView>("RunView")({
  phase: RunPhase,
  /** A run is open and not stopped ("Simulation active"). */
  active: Schema.Boolean,
  /** "Paused": by an operator, a stop or a stop condition. */
  paused: Schema.Boolean,
  run_id: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  started_by: Schema.NullOr(Schema.String),
  started_by_name: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.Number),
  /** The stop condition that paused the run, when one did. */
  stop: Schema.NullOr(StopConditions.StopRecord)
}) {}

/** The run's metrics: actions by kind since the run started. */
export class RunMetrics extends Schema.Class<RunMetrics>("RunMetrics")({
  run_id: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.Number),
  phase: RunPhase,
  /** Every action counted in the run ("Runtime actions"). */
  total_actions: Schema.Number,
  by_kind: Schema.Record({ key: Schema.String, value: Schema.Number })
}) {}

/** Who issues a command: the token's actor and the operator's typed name. */
export interface Operator {
  readonly actor: Actor.Actor
  /** The tenant the audit record goes to (the tenant the request acts on). */
  readonly tenant: Ids.TenantId
  /** The console's "Actor name". */
  readonly name?: string | undefined
}

/** Input of {@link RunControl} `start`. */
export interface StartInput {
  readonly run_id?: string | undefined
  readonly reason?: string | undefined
  /** Reset and reseed the world first (the host's {@link RunHooks}). */
  readonly reset?: boolean | undefined
}

/** What a run-control command can be refused with. */
export type RunControlError = Errors.Forbidden | Errors.Conflict | Errors.ValidationError | Errors.StorageError

/** Host hooks run controls call. */
export class RunHooks extends Context.Tag("@airlock/ops/RunHooks")<
  RunHooks,
  {
    /** Resets and reseeds the host's world (`reset`, and `start` with `reset: true`). */
    readonly resetWorld: (operator: Operator) => Effect.Effect<void, RunControlError>
  }
>() {}

/** Overrides shown beside the run (never secrets: the unlock code's hash is not among them). */
export const SHOWN_OVERRIDES: ReadonlyArray<string> = [
  StopConditions.RUN_ACTIVE_KEY,
  StopConditions.RUN_PAUSED_KEY,
  StopConditions.STOP_KEY,
  SystemState.AI_GLOBAL_ENABLED_KEY
]

/** The observer name run metrics register under in core's `ActionRegistry`. */
export const RUN_METRICS_OBSERVER = "ops.run_metrics"

/** The kind an execution run to its end (SUCCEEDED or FAILED) is counted under. */
export const EXECUTION_ACTION_KIND = "ops.execution"

/** Runs started, by instance (exported as `/metrics` counter). */
export const runCommandsTotal = Metric.counter("ops_run_commands_total", {
  description: "Run-control commands applied (start, stop, pause, resume, reset)",
  incremental: true
})

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/
const MAX_REASON = 500

const conflict = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new Errors.Conflict({ code, message, details })

/** The phase of a run from its open record and the overrides (pure). */
export const phaseOf = (open: RunRecord | null, active: boolean, paused: boolean): RunPhase =>
  open === null ? "idle" : active && !paused ? "running" : "paused"

/** The run controls. */
export class RunControl extends Effect.Service<RunControl>()("@airlock/ops/RunControl", {
  effect: Effect.gen(function*() {
    const runs = yield* RunStore
    const state = yield* SystemState.SystemStateStore
    const stops = yield* StopConditions.StopConditions
    const events = yield* BreakerEvents.BreakerEvents
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac
    const uow = yield* UnitOfWork.UnitOfWork
    const config = yield* ExecutionsConfig
    const hooks = yield* Effect.serviceOption(RunHooks)
    const registry = yield* ActionRegistry.ActionRegistry

    const current = Effect.gen(function*() {
      const open = Option.getOrNull(yield* runs.open())
      const observed = yield* stops.observe
      const phase = phaseOf(open, observed.active, observed.paused)
      return { open, observed, phase }
    })

    /** The run as the console shows it (no permission check: for hosts and loops). */
    const view: Effect.Effect<RunView, Errors.StorageError> = Effect.map(
      current,
      ({ observed, open, phase }) =>
        new RunView({
          phase,
          active: phase !== "idle" && observed.active,
          paused: observed.paused,
          run_id: open?.run_id ?? null,
          reason: open?.reason ?? null,
          started_by: open?.started_by ?? null,
          started_by_name: open?.started_by_name ?? null,
          started_at: open?.started_at ?? null,
          stop: observed.stop
        }, true)
    )

    const put = (key: string, value: unknown, now: number, by: string) =>
      state.put(new SystemState.SystemStateEntry({ key, value, updated_at: now, updated_by: by }, true))

    // an operator's start, stop, resume or reset takes over from a guardrail's stop: its record
    // is cleared, so loops no longer read the run as stopped by a stop condition (the event stays)
    const setFlags = (active: boolean, paused: boolean, now: number, by: string) =>
      Effect.all([
        put(StopConditions.RUN_ACTIVE_KEY, active, now, by),
        put(StopConditions.RUN_PAUSED_KEY, paused, now, by),
        put(StopConditions.STOP_KEY, null, now, by)
      ], { discard: true })

    const record = (operator: Operator, command: string, subject: string, data: Record<string, unknown>) =>
      audit.append({
        tenant_id: operator.tenant,
        actor_id: operator.actor.id,
        action: `ops.run.${command}`,
        subject,
        data: { ...data, operator_name: operator.name ?? null, token_actor: operator.actor.id }
      })

    const authorize = (operator: Operator) => rbac.require(operator.actor, "ops.write")

    const requireOpen = (open: RunRecord | null) =>
      open === null
        ? Effect.fail(conflict("run.not_started", "No run is active; start one first"))
        : Effect.succeed(open)

    const resetAllowed = config.runResetEnabled
      ? Effect.void
      : Effect.fail(
        new Errors.Forbidden({
          code: "run.reset_disabled",
          message: "Reset is disabled in this environment (development only)"
        })
      )

    const runReset = (operator: Operator) =>
      Option.match(hooks, { onNone: () => Effect.void, onSome: (h) => h.resetWorld(operator) })

    const done = (command: string) =>
      Effect.zipRight(Metric.increment(Metric.tagged(runCommandsTotal, "command", command)), view)

    /** Starts a run (`ops.write`), after a reset + reseed when asked. */
    const start = (
      operator: Operator,
      input: StartInput = {}
    ): Effect.Effect<RunView, RunControlError> =>
      Effect.gen(function*() {
        yield* authorize(operator)
        if (input.run_id !== undefined && !RUN_ID.test(input.run_id)) {
          return yield* new Errors.ValidationError({
            code: "validation.run_id",
            message: "run_id must be 1-128 letters, digits or . _ : - (starting with a letter or digit)"
          })
        }
        if (input.reason !== undefined && input.reason.length > MAX_REASON) {
          return yield* new Errors.ValidationError({
            code: "validation.run_reason",
            message: `reason must be at most ${MAX_REASON} characters`
          })
        }
        const before = yield* current
        if (before.open !== null) return yield* alreadyActiveError(before.open.run_id)
        if (input.reset === true) {
          yield* resetAllowed
          yield* runReset(operator)
        }
        const now = yield* Clock.currentTimeMillis
        const run = new RunRecord({
          run_id: input.run_id ?? `run_${now.toString(36)}_${operator.actor.id.slice(-6)}`,
          reason: input.reason ?? null,
          started_by: operator.actor.id,
          started_by_name: operator.name ?? null,
          started_at: now,
          ended_at: null,
          ended_by: null,
          ended_by_name: null,
          end_reason: null,
          version: 1
        }, true)
        yield* uow.transaction(Effect.gen(function*() {
          yield* runs.start(run)
          yield* setFlags(true, false, now, operator.actor.id)
          yield* record(operator, "started", run.run_id, {
            run_id: run.run_id,
            reason: run.reason,
            reset: input.reset === true
          })
        })).pipe(
          // a concurrent start won: name its run (read after the failed transaction)
          Effect.catchIf(
            (e): e is Errors.Conflict => e._tag === "Conflict" && e.code === "run.already_active",
            (e) =>
              Effect.flatMap(runs.open(), (open) =>
                Effect.fail(Option.isSome(open) ? alreadyActiveError(open.value.run_id) : e))
          )
        )
        return yield* done("start")
      })

    /** Stops the open run (`ops.write`): it ends, and the overrides say inactive and paused. */
    const stop = (operator: Operator, reason?: string): Effect.Effect<RunView, RunControlError> =>
      Effect.gen(function*() {
        yield* authorize(operator)
        const { open } = yield* current
        const run = yield* requireOpen(open)
        const now = yield* Clock.currentTimeMillis
        yield* uow.transaction(Effect.gen(function*() {
          const ended = new RunRecord({
            ...run,
            ended_at: now,
            ended_by: operator.actor.id,
            ended_by_name: operator.name ?? null,
            end_reason: "stopped",
            version: run.version + 1
          }, true)
          if (!(yield* runs.update(ended, run.version))) {
            return yield* conflict("run.not_started", "The run was stopped by someone else", { run_id: run.run_id })
          }
          yield* setFlags(false, true, now, operator.actor.id)
          yield* record(operator, "stopped", run.run_id, { run_id: run.run_id, reason: reason ?? null })
        }))
        return yield* done("stop")
      })

    /** Pauses the running run (`ops.write`). */
    const pause = (operator: Operator): Effect.Effect<RunView, RunControlError> =>
      Effect.gen(function*() {
        yield* authorize(operator)
        const { open, phase } = yield* current
        const run = yield* requireOpen(open)
        if (phase === "paused")
          return yield* conflict("run.already_paused", "The run is already paused", { run_id: run.run_id })
        const now = yield* Clock.currentTimeMillis
        yield* uow.transaction(Effect.zipRight(
          put(StopConditions.RUN_PAUSED_KEY, true, now, operator.actor.id),
          record(operator, "paused", run.run_id, { run_id: run.run_id })
        ))
        return yield* done("pause")
      })

    /** Resumes a paused run (`ops.write`), also one a stop condition paused. */
    const resume = (operator: Operator): Effect.Effect<RunView, RunControlError> =>
      Effect.gen(function*() {
        yield* authorize(operator)
        const { observed, open, phase } = yield* current
        const run = yield* requireOpen(open)
        if (phase === "running")
          return yield* conflict("run.not_paused", "The run is not paused", { run_id: run.run_id })
        const now = yield* Clock.currentTimeMillis
        yield* uow.transaction(Effect.zipRight(
          setFlags(true, false, now, operator.actor.id),
          record(operator, "resumed", run.run_id, {
            run_id: run.run_id,
            stop_cleared: observed.stop === null ? null : observed.stop.reason
          })
        ))
        return yield* done("resume")
      })

    /** Resets and reseeds the world through the host hook (`ops.write`; development only; no open run). */
    const reset = (operator: Operator): Effect.Effect<RunView, RunControlError> =>
      Effect.gen(function*() {
        yield* authorize(operator)
        yield* resetAllowed
        const { open } = yield* current
        if (open !== null) {
          return yield* conflict("run.reset_while_active", "Stop the run before resetting the world", {
            run_id: open.run_id
          })
        }
        yield* runReset(operator)
        const now = yield* Clock.currentTimeMillis
        yield* uow.transaction(Effect.zipRight(
          setFlags(false, false, now, operator.actor.id),
          record(operator, "reset", "world", { hook: Option.isSome(hooks) })
        ))
        return yield* done("reset")
      })

    /**
     * Counts `n` actions of `kind` in the open run while it is running; nothing when no run is
     * open or it is paused (by an operator or a stop condition).
     */
    const recordAction = (kind: string, n = 1): Effect.Effect<void, Errors.StorageError> =>
      n > 0
        ? Effect.flatMap(runs.open(), (open) =>
          Option.isNone(open)
            ? Effect.void
            : Effect.flatMap(stops.observe, (observed) =>
              phaseOf(open.value, observed.active, observed.paused) === "running"
                ? runs.count(open.value.run_id, kind, n)
                : Effect.void))
        : Effect.void

    // every governed action the pipeline applies counts in the run, under its kind
    yield* registry.registerObserver({
      name: RUN_METRICS_OBSERVER,
      applied: ({ action }) => recordAction(action.kind)
    })

    /** The open run's metrics, or the last run's when none is open (`ops.read`). */
    const metrics = (actor: Actor.Actor): Effect.Effect<RunMetrics, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const { open, phase } = yield* current
        const run = open ?? (yield* runs.list(1))[0] ?? null
        const by_kind = run === null ? {} : yield* runs.counts(run.run_id)
        return new RunMetrics({
          run_id: run?.run_id ?? null,
          started_at: run?.started_at ?? null,
          phase,
          total_actions: Object.values(by_kind).reduce((a, b) => a + b, 0),
          by_kind
        }, true)
      })

    /** The run, the overrides beside it and the recent stop events (`ops.read`). */
    const status = (actor: Actor.Actor, eventLimit = 10) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const overrides: Array<SystemState.SystemStateEntry> = []
        for (const key of SHOWN_OVERRIDES) {
          const entry = yield* state.get(key)
          if (Option.isSome(entry)) overrides.push(entry.value)
        }
        const stopEvents = yield* events.list({ tenant_id: null, kinds: ["stop_condition"], limit: eventLimit })
        return { run: yield* view, overrides, stop_events: stopEvents } as const
      })

    return {
      view,
      status,
      start,
      stop,
      pause,
      resume,
      reset,
      /** A host hook resets + reseeds the world on `reset` (and `start` with `reset`). */
      reseeds: Option.isSome(hooks),
      recordAction,
      metrics,
      observe: stops.observe
    } as const
  })
}) {}

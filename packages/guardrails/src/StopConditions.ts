/**
 * Runtime stop conditions (ops console runbook). When a signal trips — the hard daily LLM budget
 * is exceeded, provider failures reach N in a trailing window, or database pool pressure holds
 * for M consecutive samples — the run is stopped for every instance: runtime overrides
 * `run.active=false` and `run.paused=true` are written to core's `SystemStateStore`, one event
 * `simulation_stopped_guardrail` is recorded with the reason
 * (`budget_hard_exceeded | provider_failures_repeated | db_pool_pressure`) and the numbers, and
 * loops that observe the overrides ({@link StopConditions.runWhileActive}) exit cleanly.
 */
import { type Actor, type Errors, Rbac, SystemState, UnitOfWork } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids } from "@airlock/core"
import { Clock, type Duration, Effect, Option, Ref, Schema } from "effect"
import { BreakerEvents } from "./BreakerEvents.js"
import * as Breakers from "./Breakers.js"
import { BudgetStore, scoped, Scopes } from "./BudgetStore.js"
import { CounterStore } from "./CounterStore.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { formatUsd } from "./Usd.js"
import { dayKey, trailingBuckets, windowStart } from "./Windows.js"

/** Runtime override: is the run active? (boolean; absent = active). */
export const RUN_ACTIVE_KEY = "run.active"
/** Runtime override: is the run paused? (boolean; absent = not paused). */
export const RUN_PAUSED_KEY = "run.paused"
/** The last stop written by a guardrail: `{reason, data, at}`. */
export const STOP_KEY = "guardrails.stop"
/** The event type of a stop (ops console runbook). */
export const STOP_EVENT = "simulation_stopped_guardrail"

/** Why a run was stopped. */
export const StopReason = Schema.Literal("budget_hard_exceeded", "provider_failures_repeated", "db_pool_pressure")
/** Type of {@link StopReason}. */
export type StopReason = typeof StopReason.Type

/** The stop a guardrail wrote. */
export class StopRecord extends Schema.Class<StopRecord>("StopRecord")({
  reason: StopReason,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  at: Schema.Number
}) {}

/** What a loop observes. */
export class RunState extends Schema.Class<RunState>("RunState")({
  active: Schema.Boolean,
  paused: Schema.Boolean,
  /** True when the loop must stop: not active, or paused. */
  should_stop: Schema.Boolean,
  /** The guardrail stop behind it, when one wrote the overrides. */
  stop: Schema.NullOr(StopRecord)
}) {}

const STOP_BREAKER = "stop:run"
const PROVIDER_FAILURES = "stop:provider_failures"

/** A database pool sample. */
export interface PoolSample {
  /** Connections in use (or waiting requests counted as in use). */
  readonly in_use: number
  readonly size: number
}

/** The stop conditions (its layer also needs {@link Ids.IdGenerator}, for its events). */
export class StopConditions extends Effect.Service<StopConditions>()("@airlock/guardrails/StopConditions", {
  effect: Effect.gen(function*() {
    const rbac = yield* Rbac.Rbac
    const state = yield* SystemState.SystemStateStore
    const breakers = yield* Breakers.BreakerStore
    const counters = yield* CounterStore
    const budgets = yield* BudgetStore
    const events = yield* BreakerEvents
    const uow = yield* UnitOfWork.UnitOfWork
    const config = yield* GuardrailsConfig
    // pool pressure is a property of this instance's pool: counted here, not shared
    const pressured = yield* Ref.make(0)

    const flag = (key: string, fallback: boolean) =>
      Effect.map(
        state.get(key),
        (e) => (Option.isSome(e) && typeof e.value.value === "boolean" ? e.value.value : fallback)
      )

    /** What loops observe: the run overrides and the guardrail stop behind them. */
    const observe: Effect.Effect<RunState, Errors.StorageError> = Effect.gen(function*() {
      const active = yield* flag(RUN_ACTIVE_KEY, true)
      const paused = yield* flag(RUN_PAUSED_KEY, false)
      const stopEntry = yield* state.get(STOP_KEY)
      const stop = Option.isSome(stopEntry)
        ? Option.getOrNull(Schema.decodeUnknownOption(StopRecord)(stopEntry.value.value))
        : null
      return new RunState(
        { active, paused, should_stop: !active || paused, stop: !active || paused ? stop : null },
        true
      )
    })

    const put = (key: string, value: unknown, now: number) =>
      state.put(new SystemState.SystemStateEntry({ key, value, updated_at: now, updated_by: "guardrails" }, true))

    /**
     * Stops the run for `reason` unless it is already stopped: writes the overrides, the stop
     * record and one `simulation_stopped_guardrail` event. Returns whether this call stopped it.
     */
    const trip = (reason: StopReason, data: Record<string, unknown>): Effect.Effect<boolean, Errors.StorageError> =>
      uow.transaction(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const seen = Option.getOrElse(
          yield* breakers.get(STOP_BREAKER),
          () => Breakers.initial(STOP_BREAKER, "stop_condition", null, now)
        )
        const run = yield* observe
        if (run.should_stop) return false
        // One compare-and-set from the version read before looking at the run: when instances
        // trip at once, exactly one writes the overrides and the event. The CAS and the writes
        // commit together: another instance that reads the new version also sees the run
        // stopped (with the writes after a separate CAS, it could read the version between
        // them, find the run still going, and trip a second time).
        if (
          !(yield* breakers.put(
            Breakers.next(seen, { state: "open", reason, opened_at: now, data }, now),
            seen.version
          ))
        ) return false
        yield* put(STOP_KEY, { reason, data, at: now }, now)
        yield* put(RUN_ACTIVE_KEY, false, now)
        yield* put(RUN_PAUSED_KEY, true, now)
        yield* events.record({ tenant_id: null, kind: "stop_condition", type: STOP_EVENT, reason, data })
        return true
      }))

    /** Counts one provider failure; N within the trailing window stops the run. */
    const recordProviderFailure = (provider: string): Effect.Effect<boolean, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const windowMs = config.stopProviderFailureWindowSeconds * 1000
        const bucketMs = Math.max(1000, Math.floor(windowMs / 60))
        const bucket = windowStart(now, bucketMs)
        yield* counters.increment(PROVIDER_FAILURES, bucket, 1, null, bucket + windowMs + bucketMs)
        const { from, to } = trailingBuckets(now, windowMs, bucketMs)
        const failures = yield* counters.sum(PROVIDER_FAILURES, from, to)
        if (failures >= config.stopProviderFailureThreshold) {
          return yield* trip("provider_failures_repeated", {
            failures,
            threshold: config.stopProviderFailureThreshold,
            window_seconds: config.stopProviderFailureWindowSeconds,
            last_provider: provider
          })
        }
        return false
      })

    /** Feeds one pool sample; M consecutive samples at or above the threshold stop the run. */
    const recordPoolSample = (sample: PoolSample): Effect.Effect<boolean, Errors.StorageError> =>
      Effect.gen(function*() {
        const utilization = sample.size > 0 ? sample.in_use / sample.size : 1
        if (utilization < config.stopDbPoolUtilization) {
          yield* Ref.set(pressured, 0)
          return false
        }
        const n = yield* Ref.updateAndGet(pressured, (x) => x + 1)
        if (n < config.stopDbPoolSamples) return false
        yield* Ref.set(pressured, 0)
        return yield* trip("db_pool_pressure", {
          samples: n,
          utilization,
          threshold: config.stopDbPoolUtilization,
          in_use: sample.in_use,
          size: sample.size
        })
      })

    /** Global LLM spend of the current UTC day. */
    const globalToday: Effect.Effect<bigint, Errors.StorageError> = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Effect.map(budgets.read(scoped(Scopes.aiGlobal, "day"), dayKey(now)), (t) => t.total)
    )

    /** Compares today's global LLM spend with the hard cap; at or past it the run stops. */
    const checkHardBudget: Effect.Effect<boolean, Errors.StorageError> = Effect.gen(function*() {
      const hard = config.stopLlmDailyHard
      if (hard === null) return false
      const spent = yield* globalToday
      if (spent < hard) return false
      return yield* trip("budget_hard_exceeded", {
        spent_usd: formatUsd(spent),
        hard_cap_usd: formatUsd(hard),
        day: dayKey(yield* Clock.currentTimeMillis)
      })
    })

    /**
     * Runs `step` again and again, `interval` apart, while the run is active and not paused;
     * returns the state that stopped it. The step in flight always finishes: stopping is clean.
     */
    const runWhileActive = <E, R>(
      step: Effect.Effect<void, E, R>,
      interval: Duration.DurationInput
    ): Effect.Effect<RunState, E | Errors.StorageError, R> =>
      Effect.gen(function*() {
        while (true) {
          const run = yield* observe
          if (run.should_stop) return run
          yield* step
          yield* Effect.sleep(interval)
        }
      })

    /**
     * Clears the guardrail stop (admin: `system.admin`) and resumes the run (`run.active=true`,
     * `run.paused=false`); the next trip stops it again.
     */
    const resume = (actor: Actor.Actor): Effect.Effect<RunState, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "system.admin")
        const now = yield* Clock.currentTimeMillis
        yield* Breakers.update(
          breakers,
          STOP_BREAKER,
          () => Breakers.initial(STOP_BREAKER, "stop_condition", null, now),
          (current) =>
            [
              current.state === "closed"
                ? Option.none()
                : Option.some(Breakers.next(current, { state: "closed" }, now)),
              null
            ] as const
        )
        yield* put(RUN_ACTIVE_KEY, true, now)
        yield* put(RUN_PAUSED_KEY, false, now)
        yield* events.record({
          tenant_id: null,
          kind: "stop_condition",
          type: "reset",
          reason: "resumed",
          data: {},
          actor_id: actor.id
        })
        return yield* observe
      })

    // effect-valued members are restated so the published declarations can name their errors
    return {
      observe: observe as Effect.Effect<RunState, Errors.StorageError>,
      trip,
      recordProviderFailure,
      recordPoolSample,
      checkHardBudget: checkHardBudget as Effect.Effect<boolean, Errors.StorageError>,
      globalToday: globalToday as Effect.Effect<bigint, Errors.StorageError>,
      runWhileActive,
      resume
    } as const
  }),
  dependencies: [BreakerEvents.Default]
}) {}

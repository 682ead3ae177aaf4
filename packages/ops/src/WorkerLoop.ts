/**
 * A host's worker loop (ops console runbook: "worker exits cleanly so scheduler/agent loops
 * stop"). {@link run} steps the host's work only while the run is `running`; while it is idle or
 * paused by an operator it waits (idle: no loop traffic); when a stop condition has tripped it
 * returns, after the step in flight finished. Each step reports the actions it did, by kind,
 * and they are counted in the run's metrics.
 */
import type { Errors } from "@airlock/core"
import type { StopConditions } from "@airlock/guardrails"
import { Duration, Effect, Schedule } from "effect"
import { RunControl } from "./RunControl.js"

/** What one step did: actions by kind (counted in the run's metrics). */
export type StepReport = Readonly<Record<string, number>> | void

/** Options of {@link run}. */
export interface WorkerLoopOptions<E, R> {
  /** One unit of the host's work. */
  readonly step: Effect.Effect<StepReport, E, R>
  /** Pause between steps while running. */
  readonly interval: Duration.DurationInput
  /** How often an idle or paused loop looks again (default: `interval`). */
  readonly idleInterval?: Duration.DurationInput
  /** Stop after this many steps (tests, one-shot drills); unbounded when omitted. */
  readonly maxSteps?: number
}

/** How a loop ended. */
export interface WorkerLoopExit {
  /** `stop_condition` when a guardrail stopped the run; `max_steps` when the bound was reached. */
  readonly reason: "stop_condition" | "max_steps"
  readonly stop: StopConditions.StopRecord | null
  readonly steps: number
}

/**
 * Runs `step` while the run is active and not paused; waits while idle or paused; returns when
 * a stop condition trips (or after `maxSteps`). Interrupting the fiber stops it at once.
 */
export const run = <E, R>(
  options: WorkerLoopOptions<E, R>
): Effect.Effect<WorkerLoopExit, E | Errors.StorageError, R | RunControl> =>
  Effect.gen(function*() {
    const control = yield* RunControl
    const idle = Duration.decode(options.idleInterval ?? options.interval)
    let steps = 0
    while (true) {
      const view = yield* control.view
      if (view.stop !== null) return { reason: "stop_condition", stop: view.stop, steps } satisfies WorkerLoopExit
      if (options.maxSteps !== undefined && steps >= options.maxSteps)
        return { reason: "max_steps", stop: null, steps } satisfies WorkerLoopExit
      if (view.phase !== "running") {
        yield* Effect.sleep(idle)
        continue
      }
      const report = yield* options.step
      steps++
      if (report) {
        for (const [kind, n] of Object.entries(report)) yield* control.recordAction(kind, n)
      }
      yield* Effect.sleep(options.interval)
    }
  })

/** {@link run} restarted after a failed step, `retry` apart (a step's failure is logged, not fatal). */
export const runResilient = <E, R>(
  options: WorkerLoopOptions<E, R> & { readonly retry: Duration.DurationInput }
): Effect.Effect<WorkerLoopExit, never, R | RunControl> =>
  run(options).pipe(
    Effect.tapError((e) => Effect.logWarning("worker loop step failed; restarting", e)),
    Effect.retry(Schedule.spaced(options.retry)),
    // the schedule never ends, so the error channel is empty
    Effect.orDie
  )

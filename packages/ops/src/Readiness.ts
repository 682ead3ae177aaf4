/**
 * Readiness checks behind `/readyz`. Packages and hosts register named checks (storage
 * reachable, migrations at head, run overrides, lockdown, scheduler lag, …); a report runs them
 * all concurrently, each under a timeout, and is ready only when every check passes. Outcomes are
 * public (probes call `/readyz` without a token), so a check reports a reason, never a driver
 * message or a connection string; unexpected check errors are logged, not shown.
 *
 * Repeated readiness failures feed the guardrails lockdown (assistant platform runbook: lockdown
 * "auto-triggers on repeated `/readyz` … bursts"): {@link layerGuardrails} registers the
 * `run_overrides` and `lockdown` checks and counts every failing report as one
 * `readiness_failure` signal — unless only checks registered with `feedsLockdown: false` failed
 * (a lockdown or a planned restart is not an outage).
 */
import { StopConditions } from "@airlock/guardrails"
import { Lockdown } from "@airlock/guardrails"
import { Clock, Data, Duration, Effect, Layer } from "effect"

/** A check's refusal, with a short public reason and optional public details. */
export class ReadinessFailure extends Data.TaggedError("ReadinessFailure")<{
  readonly reason: string
  readonly details?: Record<string, unknown>
}> {}

/** A check: succeeds (optionally with public details) when its dependency is ready. */
export type Check = Effect.Effect<Record<string, unknown> | void, ReadinessFailure>

/** Options of a registered check. */
export interface CheckOptions {
  /** Whether a failure of this check counts towards the lockdown auto-trigger (default true). */
  readonly feedsLockdown?: boolean
}

/** One check's outcome in a report. */
export interface CheckOutcome {
  readonly ok: boolean
  readonly duration_ms: number
  readonly reason?: string
  readonly [key: string]: unknown
}

/** The outcome of every registered check. */
export interface Report {
  readonly ready: boolean
  readonly checks: Record<string, CheckOutcome>
}

/** Called with every report (the lockdown feed); its failures are logged and never fail the report. */
export type ReportListener = (report: Report, failedFeeding: ReadonlyArray<string>) => Effect.Effect<void, unknown>

interface Registered {
  readonly check: Check
  readonly feedsLockdown: boolean
}

/** The registry of readiness checks. */
export class Readiness extends Effect.Service<Readiness>()("@airlock/ops/Readiness", {
  sync: () => {
    const checks = new Map<string, Registered>()
    const listeners: Array<ReportListener> = []
    let timeout = Duration.seconds(2)

    const runOne = (name: string, check: Check) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeNanos
        const result = yield* check.pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new ReadinessFailure({ reason: "timeout" }) }),
          Effect.either
        )
        const elapsed = Math.round(Number((yield* Clock.currentTimeNanos) - started) / 100_000) / 10
        const outcome: CheckOutcome = result._tag === "Right"
          ? { ok: true, duration_ms: elapsed, ...(result.right ?? {}) }
          : { ok: false, duration_ms: elapsed, reason: result.left.reason, ...(result.left.details ?? {}) }
        return [name, outcome] as const
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(
            Effect.logError("readiness check failed unexpectedly", cause).pipe(Effect.annotateLogs("check", name)),
            [name, { ok: false, duration_ms: 0, reason: "error" } satisfies CheckOutcome] as const
          )
        )
      )

    const report: Effect.Effect<Report> = Effect.suspend(() => {
      const entries = [...checks]
      return Effect.all(entries.map(([name, r]) => runOne(name, r.check)), { concurrency: "unbounded" }).pipe(
        Effect.map((outcomes): Report => ({
          ready: outcomes.every(([, o]) => o.ok),
          checks: Object.fromEntries(outcomes)
        })),
        Effect.tap((r) => {
          if (r.ready || listeners.length === 0) return Effect.void
          const feeding = entries.filter(([name, reg]) => reg.feedsLockdown && r.checks[name]?.ok === false)
            .map(([name]) => name)
          return Effect.forEach(listeners, (listener) =>
            listener(r, feeding).pipe(
              Effect.catchAllCause((cause) => Effect.logWarning("readiness listener failed", cause))
            ), { discard: true })
        })
      )
    })

    return {
      /** Registers (or replaces) a named check. */
      register: (name: string, check: Check, options: CheckOptions = {}): Effect.Effect<void> =>
        Effect.sync(() => void checks.set(name, { check, feedsLockdown: options.feedsLockdown ?? true })),
      /** Removes a named check (no-op when absent). */
      unregister: (name: string): Effect.Effect<void> => Effect.sync(() => void checks.delete(name)),
      /** The names of the registered checks, in registration order. */
      names: Effect.sync(() => [...checks.keys()]) as Effect.Effect<ReadonlyArray<string>>,
      /** Sets the per-check timeout (default 2 s). */
      setTimeout: (duration: Duration.DurationInput): Effect.Effect<void> =>
        Effect.sync(() => void (timeout = Duration.decode(duration))),
      /** Adds a listener called after every report that is not ready. */
      onNotReady: (listener: ReportListener): Effect.Effect<void> => Effect.sync(() => void listeners.push(listener)),
      /** Runs every check concurrently. No checks registered means ready. */
      report
    }
  }
}) {}

/**
 * Registers the guardrails checks and wires the lockdown auto-trigger:
 * - `run_overrides`: fails (`run_stopped`) while a tripped stop condition keeps the run stopped
 *   (a guardrail stop record behind `run.active=false` / `run.paused=true`), with the stop's
 *   reason; a run stopped, paused or reset by an operator is ready (details `active`, `paused`);
 * - `lockdown`: fails (`lockdown_active`) while the system is locked down;
 * - every report that is not ready because of a check that feeds the lockdown records one
 *   `readiness_failure` signal (`Lockdown.recordSignal`); N of them within the window engage it.
 */
export const layerGuardrails: Layer.Layer<never, never, Readiness | Lockdown.Lockdown | StopConditions.StopConditions> =
  Layer.effectDiscard(
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const lockdown = yield* Lockdown.Lockdown
      const stops = yield* StopConditions.StopConditions
      yield* readiness.register(
        "run_overrides",
        stops.observe.pipe(
          Effect.mapError(() => new ReadinessFailure({ reason: "unreadable" })),
          Effect.flatMap((run) =>
            // Only a tripped stop condition is unreadiness: an operator's stop, pause or reset
            // (no stop record) is the normal idle state of a production instance.
            run.stop !== null
              ? Effect.fail(
                new ReadinessFailure({
                  reason: "run_stopped",
                  details: { active: run.active, paused: run.paused, stop_reason: run.stop.reason }
                })
              )
              : Effect.succeed({ active: run.active, paused: run.paused, stop_reason: null })
          )
        ),
        { feedsLockdown: false }
      )
      yield* readiness.register(
        "lockdown",
        lockdown.current.pipe(
          Effect.mapError(() => new ReadinessFailure({ reason: "unreadable" })),
          Effect.flatMap((state) =>
            state.active
              ? Effect.fail(
                new ReadinessFailure({
                  reason: "lockdown_active",
                  details: { source: state.source, since: state.since }
                })
              )
              : Effect.succeed({ active: false })
          )
        ),
        { feedsLockdown: false }
      )
      yield* readiness.onNotReady((_, feeding) =>
        feeding.length === 0 ? Effect.void : Effect.asVoid(lockdown.recordSignal("readiness_failure"))
      )
    })
  )

/**
 * The reference server's demo job runner (every job name): its plan says what to do, so an
 * operator can drill triage, retry and reconcile by hand.
 *
 * | plan | what the runner does |
 * |---|---|
 * | `{"demo": "succeed", "steps": 3}` | logs and reports progress for `steps` steps (default 3), one a second, heartbeating, then succeeds |
 * | `{"demo": "fail", "error": "connect ECONNREFUSED 10.0.0.7:5432"}` | logs the error line, then fails with that message (triage classifies it) |
 * | `{"demo": "hang"}` | stops heartbeating and never ends: after `stale_after_seconds` the reconcile fails it as `stale` |
 *
 * `cost_usd` (a decimal string) adds an actual cost, booked into billing under the job name.
 * Any other plan succeeds at once.
 */
import { Usd } from "@airlock/guardrails"
import { JobRunner } from "@airlock/ops"
import { Effect, Layer } from "effect"

interface DemoPlan {
  readonly demo?: "succeed" | "fail" | "hang"
  readonly steps?: number
  readonly error?: string
  readonly cost_usd?: string
}

/** The demo runner. */
export const demoRunner: JobRunner.JobRunner = (ctx) =>
  Effect.gen(function*() {
    const plan = (typeof ctx.plan === "object" && ctx.plan !== null ? ctx.plan : {}) as DemoPlan
    if (typeof plan.cost_usd === "string") {
      const micros = Usd.microsOf(plan.cost_usd)
      if (typeof micros === "bigint") yield* ctx.reportCost(micros)
    }
    switch (plan.demo) {
      case "fail": {
        const error = plan.error ?? "demo failure"
        yield* ctx.log(`demo job ${ctx.execution.job_name}: ${error}`)
        return yield* new JobRunner.JobError({ message: error })
      }
      case "hang":
        yield* ctx.log("demo job: hanging without heartbeats")
        return yield* Effect.never
      default: {
        const steps = Math.min(Math.max(Math.floor(plan.steps ?? 3), 0), 100)
        for (let i = 1; i <= steps; i++) {
          yield* Effect.sleep("1 second")
          yield* ctx.log(`demo job: step ${i}/${steps}`)
          yield* ctx.progress(i / steps, `step ${i}/${steps}`)
        }
      }
    }
  })

/** Registers {@link demoRunner} for every job. */
export const layer: Layer.Layer<never, never, JobRunner.JobRunners> = Layer.effectDiscard(
  Effect.flatMap(JobRunner.JobRunners, (runners) => runners.register(JobRunner.ANY_JOB, demoRunner))
)

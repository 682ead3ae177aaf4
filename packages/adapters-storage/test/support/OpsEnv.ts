/**
 * The environment the ops suite and its worker processes run in: the guardrails environment
 * (core, guardrails with small limits) plus ops' run controls, executions and triage, and a test
 * job runner whose plan says what to do (`{"do": "succeed" | "fail" | "hang", ...}`).
 */
import type { CorePorts, SecureRandom } from "@airlock/core"
import type { GuardrailsPorts } from "@airlock/guardrails"
import { Executions, ExecutionsConfig, JobRunner } from "@airlock/ops"
import type { ExecutionStore, RunStore } from "@airlock/ops"
import { Effect, Layer } from "effect"
import { environment as guardEnvironment } from "./GuardEnv.js"

/** A plan the test runner understands. */
export interface TestPlan {
  readonly do: "succeed" | "fail" | "hang"
  readonly error?: string
  readonly log?: ReadonlyArray<string>
  readonly cost_micros?: string
}

/** The test runner: logs the plan's lines, reports its cost, then succeeds, fails or hangs (no heartbeats). */
export const testRunner: JobRunner.JobRunner = (ctx) =>
  Effect.gen(function*() {
    const plan = ctx.plan as TestPlan
    for (const line of plan.log ?? []) yield* ctx.log(line)
    if (plan.cost_micros !== undefined) yield* ctx.reportCost(BigInt(plan.cost_micros))
    yield* ctx.progress(0.5, "halfway")
    if (plan.do === "fail") return yield* new JobRunner.JobError({ message: plan.error ?? "failed" })
    if (plan.do === "hang") return yield* Effect.never
  })

const Runners = Layer.effectDiscard(
  Effect.flatMap(JobRunner.JobRunners, (runners) => runners.register(JobRunner.ANY_JOB, testRunner))
)

/** The full ops environment over an adapter's ports. */
export const environment = <P, E>(
  ports: Layer.Layer<
    P | CorePorts.CorePorts | GuardrailsPorts.GuardrailsPorts | RunStore.RunStore | ExecutionStore.ExecutionStore,
    E
  >,
  settings: Partial<ExecutionsConfig.ExecutionsSettings> = {},
  random?: Layer.Layer<SecureRandom.SecureRandom>
): Layer.Layer<any, E> =>
  Runners.pipe(
    Layer.provideMerge(Executions.layer),
    Layer.provideMerge(ExecutionsConfig.layer({ pollIntervalMillis: 50, ...settings })),
    Layer.provideMerge(random === undefined ? guardEnvironment(ports) : guardEnvironment(ports, random))
  )

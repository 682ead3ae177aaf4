/**
 * `/metrics` as Prometheus reads it: prefixed names, route templates as labels, domain metrics
 * from the global registry, and an exposition that the real `promtool check metrics` accepts.
 * `scripts/test.sh` installs Debian's `prometheus` package (which ships `promtool`) when it is
 * missing; without it this test fails (set AIRLOCK_TEST_PROMTOOL=off outside CI to skip it on purpose).
 */
import { Metrics } from "@airlock/adapters-http"
import { SqlClient } from "@effect/sql"
import { describe, expect, it as vitest, layer } from "@effect/vitest"
import { Effect, Metric, Option } from "effect"
import { spawnSync } from "node:child_process"
import * as H from "./support/Harness.js"

const promtool = (): string | null => {
  const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
  return which.status === 0 && which.stdout.trim() !== "" ? which.stdout.trim() : null
}

const promtoolOff = process.env.AIRLOCK_TEST_PROMTOOL === "off"
if (promtoolOff && process.env.CI) throw new Error("AIRLOCK_TEST_PROMTOOL=off is not allowed in CI")

/** Runs `promtool check metrics` on the text: its exit status and what it printed. */
const check = (text: string) => {
  const bin = promtool()
  if (bin === null) {
    throw new Error(
      "promtool is missing: install it (apt-get install -y prometheus, as scripts/test.sh does) " +
        "or set AIRLOCK_TEST_PROMTOOL=off outside CI to skip this check knowingly"
    )
  }
  const r = spawnSync(bin, ["check", "metrics"], { input: text, encoding: "utf8" })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

// domain metrics as other packages define them: no prefix, a description, counters ending `_total`
const proposals = Metric.counter("metrics_test_proposals_total", {
  description: "Proposals created (test)",
  incremental: true
}).pipe(Metric.tagged("tier", "low"))
const lag = Metric.gauge("metrics_test_scheduler_lag_seconds", { description: "Scheduler lag (test)" })
// a counter named without `_total` is served with it
const legacy = Metric.counter("metrics_test_trips", { description: "Breaker trips (test)", incremental: true })

const exercise = Effect.gen(function*() {
  const s = yield* H.TestServer
  proposals.unsafeUpdate(3, [])
  lag.unsafeUpdate(1.5, [])
  legacy.unsafeUpdate(2, [])
  // Effect's runtime fiber metrics, which promtool refuses (no help, counters without _total)
  Metric.fiberStarted.unsafeUpdate(1, [])
  Metric.fiberSuccesses.unsafeUpdate(1, [])
  Metric.fiberLifetimes.unsafeUpdate(0.5, [])
  yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })
  yield* s.raw("/api/v1/companion/settings")
  yield* s.raw("/api/v1/ledger/entries/ent_1/reverse", H.json("POST", H.tokens.viewer, {}))
  yield* s.raw("/nowhere/42")
  return yield* s.raw("/metrics")
})

/**
 * Exercises the domain's own counters on the server: a build (proposed, applied, its estimate
 * charged), a rejected build proposal, a metered model call, a tripped stop condition and an
 * execution that reports an actual cost.
 */
const exerciseDomain = Effect.gen(function*() {
  const s = yield* H.TestServer
  const { GovernedActions } = yield* Effect.promise(() => import("@airlock/core"))
  const { Budgets, StopConditions } = yield* Effect.promise(() => import("@airlock/guardrails"))
  const { Executions, JobRunner } = yield* Effect.promise(() => import("@airlock/ops"))
  yield* Effect.flatMap(JobRunner.JobRunners, (r) => r.register("metrics_job", (ctx) => ctx.reportCost(250_000n)))
  const built = yield* s.raw(
    "/api/v1/builds",
    H.json("POST", H.tokens.bookkeeper, { job_name: "metrics_job", plan: { n: 1 }, estimated_cost_usd: "1.25" })
  )
  expect(built.status).toBe(202)
  yield* (yield* Executions.Executions).processAvailable(5)
  const pipeline = yield* GovernedActions.GovernedActions
  const bookkeeper = s.actors.bookkeeper!
  const proposed = yield* pipeline.propose({
    tenant_id: bookkeeper.tenant_id,
    actor: bookkeeper,
    kind: "ops.build",
    payload: { job_name: "metrics_job", plan: { n: 2 }, plan_hash: "h", risk_score: 0, estimated_cost_usd: "0.00" }
  })
  yield* pipeline.reject(bookkeeper.tenant_id, proposed.action.id, bookkeeper, "not now")
  yield* (yield* Budgets.LlmBudget).meter({
    tenant_id: "default",
    task: "metrics",
    model: "metrics-model",
    usage: { input_tokens: 1_000_000, output_tokens: 0 }
  })
  const stops = yield* StopConditions.StopConditions
  expect(yield* stops.trip("db_pool_pressure", { samples: 5 })).toBe(true)
  yield* stops.resume(s.actors.admin!)
})

/**
 * One real scheduler tick (a dispatch and its run), then a schedule left due and undispatched 10
 * minutes behind: the scrape itself must read the backlog and lag (nobody else reads the status).
 */
const exerciseScheduler = Effect.gen(function*() {
  const s = yield* H.TestServer
  const { Scheduler } = yield* Effect.promise(() => import("@airlock/ops"))
  const targets = Option.getOrThrow(yield* Effect.serviceOption(Scheduler.ScheduleTargets))
  yield* targets.register({ name: "metrics.noop", description: "nothing", run: () => Effect.void })
  const admin = (path: string, body?: unknown) =>
    s.raw(
      path,
      body === undefined ? { method: "POST", headers: H.auth(H.tokens.admin) } : H.json("POST", H.tokens.admin, body)
    )
  expect(
    (yield* admin("/api/admin/schedules", { name: "metrics-tick", expression: "@every:60", target: "metrics.noop" }))
      .status
  )
    .toBe(201)
  yield* Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`UPDATE ops_schedules SET next_due_at = ${Date.now() - 1000} WHERE name = 'metrics-tick'`
  ).pipe(Effect.orDie)
  const tick = yield* admin("/api/admin/schedules/tick")
  expect((tick.json as any).executed).toMatchObject([{ schedule: "metrics-tick", status: "succeeded" }])
  expect(
    (yield* admin("/api/admin/schedules", { name: "metrics-late", expression: "@every:3600", target: "metrics.noop" }))
      .status
  )
    .toBe(201)
  yield* Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`UPDATE ops_schedules SET next_due_at = ${Date.now() - 600_000} WHERE name = 'metrics-late'`
  ).pipe(Effect.orDie)
})

if (promtoolOff) {
  describe("/metrics and promtool", () => {
    vitest.skip("promtool check turned off with AIRLOCK_TEST_PROMTOOL=off", () => {})
  })
} else {
  layer(
    H.layer({
      guardrails: { llmPrices: { "metrics-model": { input_per_mtok: 2_000_000n, output_per_mtok: 0n } } }
    }),
    { excludeTestServices: true }
  )("/metrics with the default prefix", (it) => {
    it.effect("prefixed names, route templates, domain metrics; promtool check metrics passes", () =>
      Effect.gen(function*() {
        yield* exerciseDomain
        yield* exerciseScheduler
        const m = yield* exercise
        expect(m.status).toBe(200)
        const text = m.text
        expect(text).toContain("# TYPE airlock_http_requests_total counter")
        expect(text).toMatch(
          /^airlock_http_requests_total\{method="GET",path="\/api\/v1\/companion\/settings",status="200"\} \d+$/m
        )
        expect(text).toMatch(
          /^airlock_http_requests_total\{method="POST",path="\/api\/v1\/ledger\/entries\/:id\/reverse",status="403"\} \d+$/m
        )
        expect(text).not.toContain("ent_1")
        expect(text).not.toContain("/nowhere")
        expect(text).toContain("# TYPE airlock_http_request_duration_seconds histogram")
        expect(text).toMatch(/^airlock_metrics_test_proposals_total\{tier="low"\} 3$/m)
        expect(text).toMatch(/^airlock_metrics_test_scheduler_lag_seconds 1\.5$/m)
        expect(text).toMatch(/^airlock_metrics_test_trips_total 2$/m)
        expect(text).toContain("# TYPE airlock_memory_items gauge")
        // issue #16's domain counters: proposals, applies, rejections (by kind), breaker trips
        // (by breaker), budget spend in micro-dollars (by scope)
        for (const name of ["proposed", "applied", "rejected"]) {
          expect(text).toContain(`# TYPE airlock_governed_actions_${name}_total counter`)
          expect(text).toMatch(
            new RegExp(`^airlock_governed_actions_${name}_total\\{kind="ops\\.build"\\} [1-9]\\d*$`, "m")
          )
        }
        expect(text).toMatch(/^# HELP airlock_governed_actions_applied_total \S/m)
        expect(text).toMatch(/^airlock_guardrails_breaker_trips_total\{breaker="stop_condition"\} [1-9]\d*$/m)
        expect(text).toContain("# TYPE airlock_guardrails_budget_spend_usd_micros_total counter")
        expect(text).toMatch(/^airlock_guardrails_budget_spend_usd_micros_total\{scope="llm"\} [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_guardrails_budget_spend_usd_micros_total\{scope="execution"\} [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_guardrails_budget_spend_usd_micros_total\{scope="execution_actual"\} [1-9]\d*$/m)
        // a real tick's dispatch, the executions worker's claims, and the scheduler's gauges read at the scrape
        expect(text).toContain("# TYPE airlock_scheduler_dispatches_total counter")
        expect(text).toMatch(/^airlock_scheduler_dispatches_total\{late="false",outcome="dispatched"\} [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_scheduler_executions_total\{outcome="succeeded"\} [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_ops_executions_claimed_total [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_scheduler_backlog\{state="due"\} [1-9]\d*$/m)
        expect(text).toMatch(/^airlock_scheduler_backlog\{state="late"\} [1-9]\d*$/m)
        const lagLine = /^airlock_scheduler_lag_seconds (\S+)$/m.exec(text)
        expect(Number(lagLine?.[1])).toBeGreaterThanOrEqual(600)
        expect(text).not.toContain("effect_fiber")
        // every sample is behind the prefix
        for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#")))
          expect(line.startsWith("airlock_")).toBe(true)
        const result = check(text)
        expect(result.output).toBe("")
        expect(result.status).toBe(0)
      }))

    it.effect("promtool refuses what the exporter fixes (the check can fail)", () =>
      Effect.sync(() => {
        const bad = "# TYPE effect_fiber_started counter\neffect_fiber_started 1\n"
        const result = check(bad)
        expect(result.status).not.toBe(0)
        expect(result.output).toMatch(/effect_fiber_started/)
      }))
  })

  layer(H.layer({ metrics: { prefix: "copilot_" } }), { excludeTestServices: true })(
    "/metrics, runbook prefix",
    (it) => {
      it.effect("AIRLOCK_METRICS_PREFIX=copilot_ serves the runbook's copilot_http_requests_total", () =>
        Effect.gen(function*() {
          const text = (yield* exercise).text
          expect(text).toMatch(
            /^copilot_http_requests_total\{method="GET",path="\/api\/v1\/companion\/settings",status="401"\} \d+$/m
          )
          expect(text).not.toMatch(/^airlock_/m)
          expect(check(text).status).toBe(0)
        }))
    }
  )
}

describe("metrics prefix settings", () => {
  vitest("read from AIRLOCK_METRICS_PREFIX; invalid prefixes refused", async () => {
    const { ConfigProvider, Either } = await import("effect")
    const read = (env: Record<string, string>) =>
      Effect.runSync(Effect.either(Metrics.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      )))
    expect(read({})).toStrictEqual(Either.right({ prefix: "airlock_" }))
    expect(read({ AIRLOCK_METRICS_PREFIX: "copilot_" })).toStrictEqual(Either.right({ prefix: "copilot_" }))
    expect(read({ AIRLOCK_METRICS_PREFIX: "" })).toStrictEqual(Either.right({ prefix: "" }))
    expect(Either.isLeft(read({ AIRLOCK_METRICS_PREFIX: "9bad-" }))).toBe(true)
    expect(() => Metrics.layer({ prefix: "a b" })).toThrow(/invalid metrics prefix/)
  })
})

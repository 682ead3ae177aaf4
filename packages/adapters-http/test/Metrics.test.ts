/**
 * `/metrics` as Prometheus reads it: prefixed names, route templates as labels, domain metrics
 * from the global registry, and an exposition that the real `promtool check metrics` accepts.
 * `scripts/test.sh` installs Debian's `prometheus` package (which ships `promtool`) when it is
 * missing; without it this test fails (set AIRLOCK_TEST_PROMTOOL=off outside CI to skip it on purpose).
 */
import { Metrics } from "@airlock/adapters-http"
import { describe, expect, it as vitest, layer } from "@effect/vitest"
import { Effect, Metric } from "effect"
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

if (promtoolOff) {
  describe("/metrics and promtool", () => {
    vitest.skip("promtool check turned off with AIRLOCK_TEST_PROMTOOL=off", () => {})
  })
} else {
  layer(H.layer(), { excludeTestServices: true })("/metrics with the default prefix", (it) => {
    it.effect("prefixed names, route templates, domain metrics; promtool check metrics passes", () =>
      Effect.gen(function*() {
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

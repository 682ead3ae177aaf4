/**
 * The conformance suite of the ops KPI ports. Every adapter runs it unchanged. It drives events,
 * rollups, alerts, the alert webhook's cooldown, baselines and digests through their services,
 * with `TestClock` for cohort maturity, 7-day averages, cooldowns and anchor weeks, and checks
 * persisted state through the raw {@link KpiProbe}. Each test uses its own tenant.
 */
import { type CorePorts, Ids, Tenants } from "@airlock/core"
import { Budgets, type GuardrailsPorts as GuardrailsPorts, Windows } from "@airlock/guardrails"
import {
  AlertWebhook,
  Baseline,
  Digest,
  Kpi,
  KpiAlerts,
  KpiConfig,
  KpiRollups,
  KpiStore,
  ProductEvents
} from "@airlock/ops"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Ref, TestClock } from "effect"
import { environment } from "./support/GuardEnv.js"
import { KpiProbe } from "./support/KpiProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

/** What the fake webhook transport answers, in order (the last answer repeats). */
class Transport extends Effect.Service<Transport>()("test/KpiTransport", {
  effect: Effect.gen(function*() {
    const answers = yield* Ref.make<ReadonlyArray<number | "network" | "private">>([200])
    const calls = yield* Ref.make<ReadonlyArray<AlertWebhook.WebhookRequest>>([])
    const post = (request: AlertWebhook.WebhookRequest) =>
      Effect.gen(function*() {
        const seen = yield* Ref.updateAndGet(calls, (c) => [...c, request])
        const list = yield* Ref.get(answers)
        const answer = list[Math.min(seen.length - 1, list.length - 1)]!
        const address = answer === "private" ? "10.0.0.7" : "93.184.216.34"
        const refused = request.checkAddress(address)
        if (refused !== null)
          return yield* new AlertWebhook.TransportError({ reason: "address_denied", message: refused })
        if (answer === "network") {
          return yield* new AlertWebhook.TransportError({ reason: "network", message: "connection reset" })
        }
        return { status: answer as number }
      })
    return { answers, calls, post } as const
  })
}) {}

const transportLayer = Layer.effect(
  AlertWebhook.WebhookTransport,
  Effect.map(Transport, (t) => ({ post: t.post }))
).pipe(Layer.provideMerge(Transport.Default))

/** The settings the suite runs with: a small minimum cohort, the webhook on (to a fake transport). */
export const kpiSettings: Partial<KpiConfig.KpiSettings> = {
  retentionMinCohort: 3,
  webhookEnabled: true,
  webhookUrl: "https://hooks.example.com/airlock/kpi",
  webhookSecret: Redacted.make("whsec_test"),
  webhookAllowedHosts: ["hooks.example.com"],
  webhookRetries: 2,
  webhookBackoffMillis: 10,
  notifyCooldownMinutes: 60
}

const day0 = Windows.utcMillis(2030, 3, 1)
const D0 = KpiRollups.dayIndexOf(day0)
const at = (dayOffset: number, hour = 10) => day0 + dayOffset * 86_400_000 + hour * 3_600_000

const ev = (id: string, step: string, subject: string, time: number): ProductEvents.EventInput => {
  const [type, sid] = subject.split(":") as ["user" | "session", string]
  return { event_id: id, step, subject_type: type, subject_id: sid, occurred_at: time }
}

const tenant = (id: string) => Effect.flatMap(Tenants.Tenants, (t) => t.create({ id: T(id), name: `Tenant ${id}` }))

/** The hand-computed fixture (see the first test). */
const fixtureEvents: ReadonlyArray<ProductEvents.EventInput> = [
  ev("e1", "landing", "user:u1", at(0, 9)),
  ev("e2", "landing", "user:u1", at(0, 11)),
  ev("e3", "landing", "user:u2", at(0)),
  ev("e4", "landing", "user:u3", at(0)),
  ev("e5", "landing", "user:u4", at(0)),
  ev("e6", "landing", "session:u1", at(0)),
  ev("e7", "run", "user:u1", at(0)),
  ev("e8", "run", "user:u2", at(0)),
  ev("e9", "replay_start", "user:u1", at(0)),
  ev("e10", "landing", "user:u1", at(1)),
  ev("e11", "landing", "user:u5", at(1)),
  ev("e12", "run", "user:u5", at(1)),
  ev("e13", "landing", "user:u2", at(7))
]

/** A day of traffic: `landing` subjects, of whom `run` ran, `start` started a replay and `complete` finished it. */
const dayOfTraffic = (
  prefix: string,
  dayOffset: number,
  n: { landing: number; run: number; start: number; complete: number }
) => {
  const out: Array<ProductEvents.EventInput> = []
  for (let i = 0; i < n.landing; i++) {
    const s = `user:${prefix}${dayOffset}_${i}`
    out.push(ev(`${prefix}${dayOffset}_l${i}`, "landing", s, at(dayOffset)))
    if (i < n.run) out.push(ev(`${prefix}${dayOffset}_r${i}`, "run", s, at(dayOffset)))
    if (i < n.start) out.push(ev(`${prefix}${dayOffset}_s${i}`, "replay_start", s, at(dayOffset)))
    if (i < n.complete) out.push(ev(`${prefix}${dayOffset}_c${i}`, "replay_complete", s, at(dayOffset)))
  }
  return out
}

/** Runs the suite against an adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<CorePorts.CorePorts | GuardrailsPorts.GuardrailsPorts | KpiStore.KpiPorts | KpiProbe, E>,
  capabilities: Capabilities
) =>
  layer(
    Kpi.layer.pipe(
      Layer.provideMerge(transportLayer),
      Layer.provideMerge(KpiConfig.layer(kpiSettings)),
      Layer.provideMerge(environment(ports))
    ),
    { timeout: 120_000 }
  )(`ops KPI conformance: ${name}`, (it) => {
    it.effect("events: idempotent on the event id, a bad batch writes nothing, subjects stored with their type", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(at(8))
        const t = yield* tenant("kpi-ev")
        const events = yield* ProductEvents.ProductEvents
        const probe = yield* KpiProbe
        const first = yield* events.recordFor(t.id, fixtureEvents)
        expect(first).toStrictEqual({ tenant_id: "kpi-ev", received: 13, inserted: 13, duplicates: 0 })
        const again = yield* events.recordFor(t.id, [...fixtureEvents.slice(0, 3), ev("e14", "run", "user:u9", at(8))])
        expect(again).toStrictEqual({ tenant_id: "kpi-ev", received: 4, inserted: 1, duplicates: 3 })
        expect(yield* probe.rows("ops_product_events", "kpi-ev")).toBe(14)
        expect(yield* probe.eventSubject("kpi-ev", "e6")).toBe("session:u1")
        // one unknown step refuses the whole batch: nothing of it is stored
        const bad = yield* Effect.exit(
          events.recordFor(t.id, [ev("n1", "landing", "user:z", at(8)), ev("n2", "checkout", "user:z", at(8))])
        )
        expect(bad).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.kpi_step" })))
        const future = yield* Effect.exit(events.recordFor(t.id, [ev("n3", "landing", "user:z", at(8) + 3_600_000)]))
        expect(future).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.kpi_event_time" })))
        const empty = yield* Effect.exit(events.recordFor(t.id, []))
        expect(empty).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.kpi_batch" })))
        expect(yield* probe.rows("ops_product_events", "kpi-ev")).toBe(14)
        // another tenant's identical ids are its own
        const other = yield* tenant("kpi-ev2")
        expect((yield* events.recordFor(other.id, fixtureEvents.slice(0, 2))).inserted).toBe(2)
      }))

    it.effect("rollups: counts, funnel rates and D1/D7 match the hand-computed fixture; retention n/a until mature", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(at(1, 12))
        const t = yield* tenant("kpi-roll")
        const events = yield* ProductEvents.ProductEvents
        const rollups = yield* KpiRollups.KpiRollups
        const settings = yield* KpiConfig.KpiConfig
        const probe = yield* KpiProbe
        yield* events.recordFor(t.id, fixtureEvents.filter((e) => (e.occurred_at as number) <= at(1, 12)))
        // reading computes nothing: no stored rollup, no row written
        const none = yield* rollups.list(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-02" })
        expect(none).toStrictEqual({ tenant_id: "kpi-roll", from: "2030-03-01", to: "2030-03-02", rollups: [] })
        expect(yield* probe.rows("ops_kpi_rollups", "kpi-roll")).toBe(0)
        const early = yield* rollups.compute(t.id, D0, D0 + 1)
        // latest day first, every day of the range
        expect(early.map((r) => r.day)).toStrictEqual(["2030-03-02", "2030-03-01"])
        const d0Early = KpiRollups.render(early[1]!, settings, at(1, 12))
        expect(d0Early.steps).toStrictEqual({
          landing: { events: 6, subjects: 5 },
          run: { events: 2, subjects: 2 },
          replay_start: { events: 1, subjects: 1 },
          replay_complete: { events: 0, subjects: 0 }
        })
        expect(d0Early.rates.map((r) => [r.name, r.numerator, r.denominator, r.percent])).toStrictEqual([
          ["Landing -> Run CTR", 2, 5, "40.00%"],
          ["Run -> Replay Start", 1, 2, "50.00%"],
          ["Replay Completion", 0, 1, "0.00%"]
        ])
        // day 0's D1 window (day 1) is not over yet: n/a
        expect(d0Early.retention.D1).toStrictEqual({
          cohort_size: 5,
          retained: 1,
          mature: false,
          min_cohort: 3,
          status: "immature",
          percent: "n/a"
        })
        // one second before day 2 starts: still immature; at day 2: 1 of 5
        yield* TestClock.setTime(at(2, 0) - 1)
        // a GET reads stored rollups only: recompute first (POST /api/admin/kpi/rollups/run)
        yield* rollups.run(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-02" })
        expect(
          (yield* rollups.list(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-01" })).rollups[0]!
            .retention.D1.percent
        ).toBe("n/a")
        yield* TestClock.setTime(at(2, 0))
        yield* rollups.run(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-02" })
        const page = yield* rollups.list(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-02" })
        expect(page.rollups[1]!.retention.D1).toMatchObject({ status: "ok", percent: "20.00%" })
        expect(page.rollups[1]!.retention.D7).toMatchObject({ status: "immature", percent: "n/a" })
        // day 1's cohort (u5): immature now, below the minimum size once mature
        expect(page.rollups[0]!.retention.D1).toMatchObject({ cohort_size: 1, status: "immature", percent: "n/a" })
        expect(page.rollups[0]!.rates[0]).toMatchObject({ numerator: 1, denominator: 2, percent: "50.00%" })
        // day 7 (u2 returns): D7 of day 0 is 1 of 5 once day 7 is over
        yield* TestClock.setTime(at(8, 0))
        yield* events.recordFor(t.id, fixtureEvents.filter((e) => (e.occurred_at as number) > at(1, 12)))
        yield* rollups.run(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-08" })
        const late = yield* rollups.list(yield* adminOf(t.id), { from: "2030-03-01", to: "2030-03-08" })
        expect(late.rollups.map((r) => r.day)[0]).toBe("2030-03-08")
        expect(late.rollups.at(-1)!.retention.D7).toMatchObject({ retained: 1, status: "ok", percent: "20.00%" })
        expect(late.rollups.find((r) => r.day === "2030-03-02")!.retention.D1).toMatchObject({
          cohort_size: 1,
          status: "small_cohort",
          percent: "n/a"
        })
        expect(late.rollups.find((r) => r.day === "2030-03-08")!.steps.landing).toStrictEqual({
          events: 1,
          subjects: 1
        })
        // stored: one row per day of the range, counts only
        expect(yield* probe.rows("ops_kpi_rollups", "kpi-roll")).toBe(8)
        const stored = yield* Effect.flatMap(KpiStore.KpiStore, (s) => s.listRollups("kpi-roll", D0, D0))
        expect(stored[0]).toMatchObject({ cohort_size: 5, d1_retained: 1, d7_retained: 1 })
        // the task recomputes the last days of every tenant with events
        const task = yield* KpiRollups.rollupTask
        expect(task.tenants).toContain("kpi-roll")
      }))

    it.effect("alerts: latest day against its 7-day average; warning and critical counts; D1 only on mature cohorts", () =>
      Effect.gen(function*() {
        const t = yield* tenant("kpi-alert")
        const events = yield* ProductEvents.ProductEvents
        const alerts = yield* KpiAlerts.KpiAlerts
        yield* TestClock.setTime(at(8, 12))
        // days 1..7: CTR 50%, completion 80%; day 8: CTR 20% (−60%: critical), completion 60% (−25%: warning)
        for (let d = 1; d <= 7; d++) {
          yield* events.recordFor(t.id, dayOfTraffic("a", d, { landing: 10, run: 5, start: 5, complete: 4 }))
        }
        const quiet = yield* alerts.evaluateFor(t.id)
        // day 7 is the latest: the same as its average
        expect(quiet).toMatchObject({ critical: 0, warning: 0 })
        yield* events.recordFor(t.id, dayOfTraffic("a", 8, { landing: 10, run: 2, start: 2, complete: 1 }))
        // the console's alerts read stored rollups: recompute the lookback first
        yield* (yield* KpiRollups.KpiRollups).run(yield* adminOf(t.id), { from: "2030-02-22", to: "2030-03-09" })
        const report = yield* alerts.list(yield* adminOf(t.id))
        expect(report).toMatchObject({ critical: 1, warning: 1 })
        expect(report.alerts).toStrictEqual([
          {
            metric: "Landing -> Run CTR",
            severity: "critical",
            day: "2030-03-09",
            latest_percent: "20.00%",
            latest_numerator: 2,
            latest_denominator: 10,
            average_percent: "50.00%",
            average_days: 7,
            drop_percent: "60.00%",
            threshold_percent: 40
          },
          expect.objectContaining({
            metric: "Replay Completion",
            severity: "warning",
            latest_percent: "50.00%",
            average_percent: "80.00%",
            drop_percent: "37.50%",
            threshold_percent: 20
          })
        ])
        // nobody returned: D1 is 0% everywhere (no drop), D7 has no mature cohort before the latest
        expect(report.checks.find((c) => c.metric === "D1")).toMatchObject({ status: "ok", day: "2030-03-07" })
        expect(report.checks.find((c) => c.metric === "D7")?.status).toBe("no_data")
      }))

    it.effect("webhook: two instances sharing the store send an identical payload once per cooldown", () =>
      Effect.gen(function*() {
        const t = yield* tenant("kpi-hook")
        const events = yield* ProductEvents.ProductEvents
        const transport = yield* Transport
        const probe = yield* KpiProbe
        yield* TestClock.setTime(at(8, 12))
        for (let d = 1; d <= 7; d++) {
          yield* events.recordFor(t.id, dayOfTraffic("h", d, { landing: 10, run: 5, start: 5, complete: 4 }))
        }
        yield* events.recordFor(t.id, dayOfTraffic("h", 8, { landing: 10, run: 1, start: 1, complete: 1 }))
        const instance = AlertWebhook.AlertWebhook.pipe(Effect.provide(AlertWebhook.AlertWebhook.Default))
        const a = yield* instance
        const b = yield* instance
        expect(a).not.toBe(b)
        yield* Ref.set(transport.calls, [])
        const [ra, rb] = yield* Effect.all([a.notifyFor(t.id), b.notifyFor(t.id)], { concurrency: 2 })
        expect([ra.status, rb.status].sort()).toStrictEqual(["cooldown", "delivered"])
        const sent = yield* Ref.get(transport.calls)
        expect(sent).toHaveLength(1)
        const body = JSON.parse(sent[0]!.body)
        expect(body).toMatchObject({
          type: "kpi.alerts.critical",
          tenant_id: "kpi-hook",
          payload_hash: ra.payload_hash
        })
        expect(body.alerts.every((x: { severity: string }) => x.severity === "critical")).toBe(true)
        const signature = sent[0]!.headers[AlertWebhook.SIGNATURE_HEADER]!
        expect(AlertWebhook.verifySignature("whsec_test", signature, sent[0]!.body, Math.floor(at(8, 12) / 1000))).toBe(
          true
        )
        expect(AlertWebhook.verifySignature("other", signature, sent[0]!.body, Math.floor(at(8, 12) / 1000))).toBe(
          false
        )
        expect(yield* probe.claim("kpi-hook", ra.payload_hash!)).toStrictEqual({
          owner: (ra.status === "delivered" ? ra : rb).delivery_id,
          until: at(8, 12) + 3_600_000
        })
        // within the cooldown: not again; after it: again
        yield* TestClock.adjust("59 minutes")
        expect((yield* b.notifyFor(t.id)).status).toBe("cooldown")
        yield* TestClock.adjust("1 minute")
        expect((yield* b.notifyFor(t.id)).status).toBe("delivered")
        expect(yield* Ref.get(transport.calls)).toHaveLength(2)
        expect(yield* probe.rows("ops_kpi_webhook_deliveries", "kpi-hook")).toBe(2)
      }))

    it.effect("webhook: retries 5xx and network errors with backoff, records every attempt, releases the claim on failure", () =>
      Effect.gen(function*() {
        const t = yield* tenant("kpi-retry")
        const events = yield* ProductEvents.ProductEvents
        const transport = yield* Transport
        const hook = yield* AlertWebhook.AlertWebhook
        const probe = yield* KpiProbe
        yield* TestClock.setTime(at(8, 12))
        for (let d = 1; d <= 7; d++) {
          yield* events.recordFor(t.id, dayOfTraffic("r", d, { landing: 10, run: 5, start: 5, complete: 4 }))
        }
        yield* events.recordFor(t.id, dayOfTraffic("r", 8, { landing: 10, run: 1, start: 1, complete: 1 }))
        const drive = <A, E>(self: Effect.Effect<A, E>) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(self)
            for (let i = 0; i < 40; i++) {
              yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
              yield* TestClock.adjust("20 millis")
            }
            return yield* Fiber.join(fiber)
          })
        yield* Ref.set(transport.answers, [503, "network", 200])
        yield* Ref.set(transport.calls, [])
        const ok = yield* drive(hook.notifyFor(t.id))
        expect(ok).toMatchObject({ status: "delivered", attempts: 3 })
        const attempts = yield* Effect.flatMap(KpiStore.KpiStore, (s) => s.listDeliveries("kpi-retry", 10))
        expect(attempts.map((x) => [x.attempt, x.outcome, x.http_status]).reverse()).toStrictEqual([
          [1, "failed", 503],
          [2, "failed", null],
          [3, "delivered", 200]
        ])
        expect(new Set(attempts.map((x) => x.delivery_id)).size).toBe(1)
        // every attempt failing: the claim is given back, so the next evaluation tries again
        yield* TestClock.adjust("2 hours")
        yield* Ref.set(transport.answers, [500])
        yield* Ref.set(transport.calls, [])
        const failed = yield* drive(hook.notifyFor(t.id))
        expect(failed).toMatchObject({ status: "failed", attempts: 3 })
        expect(yield* probe.claim("kpi-retry", failed.payload_hash!)).toBeNull()
        // a 4xx is not retried; a private address is refused at connect time, not retried
        yield* Ref.set(transport.answers, [400])
        expect(yield* drive(hook.notifyFor(t.id))).toMatchObject({ status: "failed", attempts: 1 })
        yield* Ref.set(transport.answers, ["private"])
        expect(yield* drive(hook.notifyFor(t.id))).toMatchObject({ status: "refused", attempts: 1 })
        expect(yield* probe.rows("ops_kpi_webhook_deliveries", "kpi-retry")).toBe(3 + 3 + 1 + 1)
      }))

    it.effect("claims: one winner among concurrent claims; free again at the end of the cooldown", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_000_000)
        const store = yield* KpiStore.KpiStore
        const wins = yield* Effect.all(
          Array.from(
            { length: 8 },
            (_, i) => store.claimNotification("kpi-claim", "h1", `o${i}`, 1_000_000, 1_060_000)
          ),
          { concurrency: capabilities.parallelConnections ? 8 : 1 }
        )
        expect(wins.filter((w) => w)).toHaveLength(1)
        expect(yield* store.claimNotification("kpi-claim", "h1", "late", 1_059_999, 1_100_000)).toBe(false)
        expect(yield* store.claimNotification("kpi-claim", "h1", "next", 1_060_000, 1_120_000)).toBe(true)
        yield* store.releaseNotification("kpi-claim", "h1", "someone-else")
        expect(yield* (yield* KpiProbe).claim("kpi-claim", "h1")).toStrictEqual({ owner: "next", until: 1_120_000 })
        yield* store.releaseNotification("kpi-claim", "h1", "next")
        expect(yield* (yield* KpiProbe).claim("kpi-claim", "h1")).toBeNull()
      }))

    it.effect("baseline: budgets, stop thresholds, LLM spend and calls, provider failure rate, rolling windows; latest pointer", () =>
      Effect.gen(function*() {
        const t = yield* tenant("kpi-base")
        const baselines = yield* Baseline.Baselines
        const events = yield* ProductEvents.ProductEvents
        const llm = yield* Budgets.LlmBudget
        const probe = yield* KpiProbe
        yield* TestClock.setTime(at(3, 12))
        yield* llm.meter({
          tenant_id: t.id,
          task: "categorize",
          model: "m1",
          usage: { input_tokens: 1000, output_tokens: 500 }
        })
        yield* llm.meter({
          tenant_id: t.id,
          task: "categorize",
          model: "m1",
          usage: { input_tokens: 1000, output_tokens: 0 }
        })
        yield* events.recordFor(t.id, [
          ev("b1", "landing", "user:x", at(3, 12) - 4 * 60_000),
          ev("b2", "run", "user:x", at(3, 12) - 4 * 60_000),
          ev("b3", "landing", "user:y", at(3, 12) - 20 * 60_000),
          ev("b4", "landing", "user:z", at(3, 12) - 3 * 3_600_000)
        ])
        const admin = yield* adminOf(t.id)
        const first = yield* baselines.capture(admin, {})
        const doc = first.document as any
        expect(doc).toMatchObject({
          schema_version: 1,
          kind: "airlock.baseline",
          id: first.id,
          tenant_id: "kpi-base",
          params: { windows: 24, window_minutes: 5 },
          budgets: { llm: { tenant_cap_usd: "0.01", global_cap_usd: "0.03", tenant_spent_usd: "0.003" } },
          stop_conditions: {
            llm_daily_budget_usd_hard: "0.05",
            provider_failure_threshold: 4,
            provider_failure_window_seconds: 300,
            db_pool_utilization_threshold: 0.9,
            db_pool_sustained_samples: 3
          },
          llm_today: { day: "2030-03-04", tenant_calls: 2, tenant_calls_by_model: { m1: 2 } }
        })
        expect(doc.llm_today.global_calls).toBeGreaterThanOrEqual(2)
        expect(doc.provider_failures.window_seconds).toBe(60)
        expect(doc.metrics.series).toHaveLength(24)
        // 24 × 5 minutes ending now: b1 and b2 in the last window, b3 four windows earlier, b4 outside
        expect(doc.metrics.series[23].events).toStrictEqual({ landing: 1, run: 1, replay_start: 0, replay_complete: 0 })
        expect(doc.metrics.series[20].total).toBe(1)
        expect(doc.metrics.series.reduce((n: number, w: { total: number }) => n + w.total, 0)).toBe(3)
        expect(yield* probe.latestPointer("kpi-base")).toBe(first.id)
        yield* TestClock.adjust("1 hour")
        const second = yield* baselines.capture(admin, { windows: 2, window_minutes: 60 })
        expect((second.document as any).metrics.series).toHaveLength(2)
        expect(yield* probe.latestPointer("kpi-base")).toBe(second.id)
        expect((yield* baselines.latest(admin)).id).toBe(second.id)
        expect((yield* baselines.get(admin, first.id)).document).toStrictEqual(first.document)
        expect(yield* probe.rows("ops_kpi_baselines", "kpi-base")).toBe(2)
        const files = Baseline.baselineFiles(second)
        expect(files.map((f) => f.path)).toStrictEqual(["baseline_latest.json", "metrics/metrics_latest.json"])
        expect(JSON.parse(files[1]!.text)).toMatchObject({
          kind: "airlock.metrics",
          baseline_id: second.id,
          windows: 2
        })
        const tooWide = yield* Effect.exit(baselines.capture(admin, { windows: 1000, window_minutes: 1440 }))
        expect(tooWide).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.baseline_params" })))
        const missing = yield* Effect.exit(baselines.get(admin, "bl_missing"))
        expect(missing).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "NotFound" })))
      }))

    it.effect("digest: evidence gate, one draft per anchor week unless duplicates are allowed, links to records", () =>
      Effect.gen(function*() {
        const t = yield* tenant("kpi-digest")
        const digests = yield* Digest.Digests
        const events = yield* ProductEvents.ProductEvents
        const llm = yield* Budgets.LlmBudget
        const probe = yield* KpiProbe
        const admin = yield* adminOf(t.id)
        yield* TestClock.setTime(at(5, 12))
        yield* events.recordFor(t.id, dayOfTraffic("g", 4, { landing: 10, run: 5, start: 4, complete: 2 }))
        const gated = yield* digests.weekly(admin, { anchor_date: "2030-03-06" })
        expect(gated).toStrictEqual({
          status: "insufficient_evidence",
          tenant_id: "kpi-digest",
          anchor_week: "2030-03-04",
          window_from: "2030-02-28",
          window_to: "2030-03-06",
          observed: { events: 21, llm_calls: 0 },
          required: { events: 25, llm_calls: 5 }
        })
        expect(yield* probe.rows("ops_kpi_digests", "kpi-digest")).toBe(0)
        yield* events.recordFor(t.id, dayOfTraffic("g", 5, { landing: 4, run: 2, start: 0, complete: 0 }))
        for (let i = 0; i < 4; i++) {
          yield* llm.meter({ tenant_id: t.id, task: "t", model: "m1", usage: { input_tokens: 1, output_tokens: 1 } })
        }
        const stillGated = yield* digests.weekly(admin, { anchor_date: "2030-03-06" })
        expect(stillGated).toMatchObject({ status: "insufficient_evidence", observed: { events: 27, llm_calls: 4 } })
        yield* llm.meter({ tenant_id: t.id, task: "t", model: "m1", usage: { input_tokens: 1, output_tokens: 1 } })
        const created = yield* digests.weekly(admin, { anchor_date: "2030-03-06" })
        if (created.status !== "created") throw new Error("expected a draft")
        expect(created.draft).toMatchObject({ anchor_week: "2030-03-04", seq: 1, lookback_days: 7 })
        expect(created.draft.markdown).toContain("# Weekly digest: week of 2030-03-04")
        expect(created.draft.markdown).toContain(
          "- Product events: [27](/api/admin/kpi/rollups?from=2030-02-28&to=2030-03-06)"
        )
        expect(created.draft.markdown).toContain(
          "| [2030-03-05](/api/admin/kpi/rollups?from=2030-03-05&to=2030-03-05) |"
        )
        expect(created.draft.markdown).toContain("[50.00%](/api/admin/kpi/rollups?from=2030-03-05&to=2030-03-05)")
        // the same week (Sunday anchor) is refused; a duplicate is allowed when asked for
        const dup = yield* Effect.exit(digests.weekly(admin, { anchor_date: "2030-03-10" }))
        expect(dup).toStrictEqual(Exit.fail(expect.objectContaining({ code: "kpi.digest_exists" })))
        const second = yield* digests.weekly(admin, { anchor_date: "2030-03-10", allow_duplicate_anchor: true })
        expect(second).toMatchObject({ status: "created", draft: { anchor_week: "2030-03-04", seq: 2 } })
        // concurrent first drafts of another week: exactly one
        yield* TestClock.setTime(at(12, 12))
        yield* events.recordFor(t.id, dayOfTraffic("g", 11, { landing: 30, run: 5, start: 0, complete: 0 }))
        for (let i = 0; i < 5; i++) {
          yield* llm.meter({ tenant_id: t.id, task: "t", model: "m1", usage: { input_tokens: 1, output_tokens: 1 } })
        }
        const racing = yield* Effect.all(
          Array.from({ length: 4 }, () => Effect.exit(digests.weekly(admin, {}))),
          { concurrency: capabilities.parallelConnections ? 4 : 1 }
        )
        expect(racing.filter(Exit.isSuccess)).toHaveLength(1)
        expect(yield* probe.rows("ops_kpi_digests", "kpi-digest")).toBe(3)
        const listed = yield* digests.list(admin, 10)
        expect(listed.map((d) => [d.anchor_week, d.seq])).toStrictEqual([["2030-03-11", 1], ["2030-03-04", 2], [
          "2030-03-04",
          1
        ]])
        expect((yield* digests.get(admin, created.draft.id)).markdown).toBe(created.draft.markdown)
      }))
  })

/** The tenant's ADMIN actor (made once per tenant). */
const adminOf = (tenant: Ids.TenantId) =>
  Effect.flatMap(Tenants.Tenants, (t) =>
    Effect.flatMap(t.listActors(tenant), (actors) => {
      const found = actors.find((a) => a.role === "ADMIN")
      return found !== undefined
        ? Effect.succeed(found)
        : t.addActor({ tenant_id: tenant, kind: "user", name: "Ada", role: "ADMIN" })
    }))

/**
 * The KPI routes end to end on a real server (SQLite): product events, rollups, alerts, the
 * alert webhook delivered to a real local HTTP receiver that verifies the HMAC signature,
 * baselines and the weekly digest, with persisted rows checked through SQL.
 */
import { Budgets, Usd } from "@airlock/guardrails"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll } from "vitest"
import * as H from "./support/Harness.js"

const SECRET = "whsec_receiver_test"

/** What the receiver saw: each request's body, headers and whether its signature verified. */
const received: Array<{ body: string; headers: Record<string, unknown>; verified: boolean; fresh: boolean }> = []
/** The statuses the receiver answers with, in order (the last repeats). */
const answers: Array<number> = [500, 200]

/** The receiver's own check, written from the documented recipe (not the library's function). */
const verify = (header: string | undefined, body: string) => {
  const parts = Object.fromEntries((header ?? "").split(",").map((p) => p.split("=", 2) as [string, string]))
  const t = Number(parts.t)
  const expected = createHmac("sha256", SECRET).update(`${parts.t}.${body}`).digest("hex")
  const given = Buffer.from(parts.v1 ?? "", "utf8")
  const verified = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected, "utf8"))
  return { verified, fresh: Math.abs(Date.now() / 1000 - t) <= 300 }
}

const receiver = createServer((req, res) => {
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (chunk) => (body += chunk))
  req.on("end", () => {
    const check = verify(req.headers["x-airlock-signature"] as string | undefined, body)
    received.push({ body, headers: { ...req.headers }, ...check })
    res.statusCode = check.verified ? answers[Math.min(received.length - 1, answers.length - 1)]! : 401
    res.end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
const port = (receiver.address() as AddressInfo).port
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())))

const DAY = 86_400_000

const rows = (table: string, tenant = "default") =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql.unsafe<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`, [tenant]).pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      )
  )

const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** A day of traffic `daysAgo` days back: `landing` users, of whom `run` ran. */
const traffic = (daysAgo: number, landing: number, run: number, prefix = "t") => {
  const at = Math.floor(Date.now() / DAY) * DAY - daysAgo * DAY + 3_600_000
  const out: Array<Record<string, unknown>> = []
  for (let i = 0; i < landing; i++) {
    const subject = `${prefix}${daysAgo}_${i}`
    out.push({ event_id: `${subject}_l`, step: "landing", subject_type: "user", subject_id: subject, occurred_at: at })
    if (i < run) {
      out.push({ event_id: `${subject}_r`, step: "run", subject_type: "user", subject_id: subject, occurred_at: at })
    }
  }
  return out
}

const post = (s: H.TestServerShape, path: string, token: string, body: unknown) =>
  s.raw(path, H.json("POST", token, body))

layer(
  H.layer({
    kpi: {
      webhookEnabled: true,
      webhookUrl: `http://127.0.0.1:${port}/hooks/kpi`,
      webhookSecret: Redacted.make(SECRET),
      webhookAllowInsecureLocalhost: true,
      webhookBackoffMillis: 20,
      webhookRetries: 2,
      eventsBatchMax: 100
    },
    guardrails: { llmPrices: { m1: { input_per_mtok: Usd.usd("1"), output_per_mtok: Usd.usd("2") } } }
  }),
  { excludeTestServices: true }
)("KPI routes", (it) => {
  it.effect("events: recorded idempotently with ops.write; a bad batch is refused whole", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const batch = { events: traffic(1, 3, 1, "ev") }
      const first = yield* post(s, "/api/v1/events", H.tokens.owner, batch)
      expect(first.status).toBe(200)
      expect(first.json).toStrictEqual({ tenant_id: "default", received: 4, inserted: 4, duplicates: 0 })
      const again = yield* post(s, "/api/v1/events", H.tokens.owner, batch)
      expect(again.json).toMatchObject({ inserted: 0, duplicates: 4 })
      H.expectError(yield* post(s, "/api/v1/events", H.tokens.viewer, batch), 403, "rbac.forbidden")
      const unknown = {
        events: [{ event_id: "x1", step: "checkout", subject_type: "user", subject_id: "u", occurred_at: Date.now() }]
      }
      H.expectError(yield* post(s, "/api/v1/events", H.tokens.owner, unknown), 400, "validation.kpi_step")
      H.expectError(
        yield* post(s, "/api/v1/events", H.tokens.owner, { events: traffic(1, 101, 0, "big") }),
        400,
        "validation.kpi_batch"
      )
      H.expectError(
        yield* post(s, "/api/v1/events", H.tokens.owner, { events: [{ ...unknown.events[0], extra: 1 }] }),
        400,
        "validation.schema"
      )
      expect(yield* rows("ops_product_events")).toBe(4)
      // an admin records for another tenant with X-Tenant
      const acme = yield* s.raw("/api/v1/events", H.json("POST", H.tokens.admin, batch, { "x-tenant": "acme" }))
      expect(acme.json).toMatchObject({ tenant_id: "acme", inserted: 4 })
      expect(yield* rows("ops_product_events", "acme")).toBe(4)
    }))

  it.effect("rollups, alerts and the webhook: signed, retried, recorded, then held by the cooldown", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      // days 2..8 back: CTR 50 %; yesterday: 10 % (critical)
      for (let d = 2; d <= 8; d++) yield* post(s, "/api/v1/events", H.tokens.owner, { events: traffic(d, 10, 5, "a") })
      yield* post(s, "/api/v1/events", H.tokens.owner, { events: traffic(1, 10, 1, "a") })
      const yesterday = dayText(Date.now() - DAY)
      const from = dayText(Date.now() - 8 * DAY)
      // a GET reads stored rollups only: nothing computed yet, nothing written
      const before = yield* s.raw(`/api/admin/kpi/rollups?from=${from}&to=${yesterday}`, {
        headers: H.auth(H.tokens.admin)
      })
      expect(before.status).toBe(200)
      expect(before.json.rollups).toStrictEqual([])
      expect(yield* rows("ops_kpi_rollups")).toBe(0)
      H.expectError(
        yield* post(s, "/api/admin/kpi/rollups/run", H.tokens.owner, { from, to: yesterday }),
        403,
        "rbac.forbidden"
      )
      const ran = yield* post(s, "/api/admin/kpi/rollups/run", H.tokens.admin, { from, to: yesterday })
      expect(ran.status).toBe(200)
      expect(ran.json.rollups).toHaveLength(8)
      const page = yield* s.raw(`/api/admin/kpi/rollups?from=${from}&to=${yesterday}`, {
        headers: H.auth(H.tokens.admin)
      })
      expect(page.json.rollups).toStrictEqual(ran.json.rollups)
      // times are ISO 8601 strings on the wire, the stored milliseconds
      const sql = yield* SqlClient.SqlClient
      const [stored] = yield* sql<{ computed_at: unknown }>`
        SELECT computed_at FROM ops_kpi_rollups WHERE tenant_id = 'default' AND day = ${yesterday}`.pipe(Effect.orDie)
      expect(page.json.rollups[0].computed_at).toBe(new Date(Number(stored!.computed_at)).toISOString())
      expect(page.status).toBe(200)
      expect(page.json.rollups.map((r: { day: string }) => r.day)[0]).toBe(yesterday)
      expect(page.json.rollups).toHaveLength(8)
      // yesterday also holds the first test's 3 landings (1 run): 13 landing subjects, 2 ran
      expect(page.json.rollups[0].rates[0]).toMatchObject({ name: "Landing -> Run CTR", percent: "15.38%" })
      expect(yield* rows("ops_kpi_rollups")).toBe(8)
      H.expectError(
        yield* s.raw("/api/admin/kpi/rollups", { headers: H.auth(H.tokens.owner) }),
        403,
        "rbac.forbidden"
      )
      H.expectError(
        yield* s.raw("/api/admin/kpi/rollups?from=2030-02-30", { headers: H.auth(H.tokens.admin) }),
        400,
        "validation.kpi_range"
      )
      const alerts = yield* s.raw("/api/admin/kpi/alerts", { headers: H.auth(H.tokens.admin) })
      expect(alerts.json).toMatchObject({ critical: 1, warning: 0 })
      expect(alerts.json.evaluated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
      expect(alerts.json.alerts[0]).toMatchObject({
        metric: "Landing -> Run CTR",
        severity: "critical",
        day: yesterday
      })
      // the receiver answers 500, then 200: two attempts, both signed
      const notified = yield* post(s, "/api/admin/kpi/alerts/notify", H.tokens.admin, {})
      expect(notified.json).toMatchObject({ status: "delivered", attempts: 2, critical: 1 })
      expect(received).toHaveLength(2)
      expect(received.every((r) => r.verified && r.fresh)).toBe(true)
      const body = JSON.parse(received[1]!.body)
      expect(body).toMatchObject({
        type: "kpi.alerts.critical",
        tenant_id: "default",
        payload_hash: notified.json.payload_hash,
        delivery_id: notified.json.delivery_id
      })
      expect(received[1]!.headers["x-airlock-event"]).toBe("kpi.alerts.critical")
      expect(received[1]!.headers["x-airlock-delivery"]).toBe(notified.json.delivery_id)
      const deliveries = yield* s.raw("/api/admin/kpi/alerts/deliveries", { headers: H.auth(H.tokens.admin) })
      expect(deliveries.json.map((d: { attempt: number; outcome: string; http_status: number }) => [
        d.attempt,
        d.outcome,
        d.http_status
      ])).toStrictEqual([[2, "delivered", 200], [1, "failed", 500]])
      expect(yield* rows("ops_kpi_webhook_deliveries")).toBe(2)
      // the same alerts again within the cooldown: nothing sent
      const held = yield* post(s, "/api/admin/kpi/alerts/notify", H.tokens.admin, {})
      expect(held.json).toMatchObject({ status: "cooldown", payload_hash: notified.json.payload_hash })
      expect(received).toHaveLength(2)
    }))

  it.effect("baseline: captured, stored with history and a latest pointer, served by id", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const first = yield* post(s, "/api/admin/baseline", H.tokens.admin, { windows: 3, window_minutes: 10 })
      expect(first.status).toBe(201)
      expect(first.json.document).toMatchObject({
        kind: "airlock.baseline",
        params: { windows: 3, window_minutes: 10 },
        stop_conditions: { provider_failure_threshold: expect.any(Number) }
      })
      expect(first.json.document.metrics.series).toHaveLength(3)
      const second = yield* post(s, "/api/admin/baseline", H.tokens.admin, {})
      expect(second.json.document.params).toStrictEqual({ windows: 24, window_minutes: 5 })
      const latest = yield* s.raw("/api/admin/baseline/latest", { headers: H.auth(H.tokens.admin) })
      expect(latest.json.id).toBe(second.json.id)
      const byId = yield* s.raw(`/api/admin/baseline/${first.json.id}`, { headers: H.auth(H.tokens.admin) })
      expect(byId.json).toStrictEqual(first.json)
      H.expectError(
        yield* s.raw("/api/admin/baseline/bl_nope", { headers: H.auth(H.tokens.admin) }),
        404,
        "not_found"
      )
      H.expectError(
        yield* post(s, "/api/admin/baseline", H.tokens.admin, { windows: 0 }),
        400,
        "validation.schema"
      )
      expect(yield* rows("ops_kpi_baselines")).toBe(2)
    }))

  it.effect("digest: the evidence gate, a draft with linked figures, one per anchor week, JSON and markdown", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const gated = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, {})
      expect(gated.json).toMatchObject({
        status: "insufficient_evidence",
        observed: { llm_calls: 0 },
        required: { events: 25, llm_calls: 5 }
      })
      expect(gated.json.observed.events).toBeGreaterThanOrEqual(25)
      expect(yield* rows("ops_kpi_digests")).toBe(0)
      const llm = yield* Budgets.LlmBudget
      for (let i = 0; i < 5; i++) {
        yield* llm.meter({
          tenant_id: "default",
          task: "t",
          model: "m1",
          usage: { input_tokens: 10, output_tokens: 10 }
        })
      }
      const created = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, { lookback_days: 7 })
      expect(created.json).toMatchObject({ status: "created", draft: { seq: 1, lookback_days: 7 } })
      expect(created.json.draft.markdown).toMatch(/- Product events: \[\d+\]\(\/api\/admin\/kpi\/rollups\?from=/)
      expect(created.json.draft.markdown).toContain("[1](/api/admin/kpi/alerts) critical")
      const dup = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, {})
      H.expectError(dup, 409, "kpi.digest_exists")
      const second = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, { allow_duplicate_anchor: true })
      expect(second.json.draft.seq).toBe(2)
      const list = yield* s.raw("/api/admin/digest/drafts", { headers: H.auth(H.tokens.admin) })
      expect(list.json.map((d: { seq: number }) => d.seq)).toStrictEqual([2, 1])
      const md = yield* s.raw(`/api/admin/digest/drafts/${created.json.draft.id}/markdown`, {
        headers: H.auth(H.tokens.admin)
      })
      expect(md.headers.get("content-type")).toContain("text/markdown")
      expect(md.text).toBe(created.json.draft.markdown)
      expect(yield* rows("ops_kpi_digests")).toBe(2)
      H.expectError(
        yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, { anchor_date: "2030-13-01" }),
        400,
        "validation.digest_anchor"
      )
      // anchors are bounded to 1970-01-01 .. the same date a year from today; nothing is stored outside it
      const now = new Date()
      const nextYear = new Date(Date.UTC(now.getUTCFullYear() + 1, now.getUTCMonth(), now.getUTCDate()))
      if (nextYear.getUTCMonth() !== now.getUTCMonth()) nextYear.setUTCDate(0) // 29 February -> 28 February
      for (const anchor of ["0000-01-01", "1969-12-31", "9999-12-31", dayText(nextYear.getTime() + DAY)]) {
        const refused = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, {
          anchor_date: anchor,
          allow_duplicate_anchor: true
        })
        H.expectError(refused, 400, "validation.digest_anchor")
        expect(JSON.stringify(refused.json)).not.toContain("00-1")
      }
      expect(yield* rows("ops_kpi_digests")).toBe(2)
      const earliest = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, { anchor_date: "1970-01-01" })
      expect(earliest.json).toMatchObject({
        status: "insufficient_evidence",
        anchor_week: "1969-12-29",
        window_to: "1970-01-01"
      })
      const latest = yield* post(s, "/api/admin/digest/weekly", H.tokens.admin, {
        anchor_date: dayText(nextYear.getTime())
      })
      expect(latest.status).toBe(200)
      expect(latest.json.window_to).toBe(dayText(nextYear.getTime()))
      expect(yield* rows("ops_kpi_digests")).toBe(2)
    }))
})

/**
 * A receiver that never answers the first request (it holds it past the 1 s attempt timeout and
 * only closes it when the test ends) and answers 200 to the next.
 */
const slow: Array<{ at: number; answered: boolean }> = []
const held: Array<import("node:http").ServerResponse> = []
const slowReceiver = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    const first = slow.length === 0
    slow.push({ at: Date.now(), answered: !first })
    if (first) held.push(res)
    else res.end()
  })
})
await new Promise<void>((resolve) => slowReceiver.listen(0, "127.0.0.1", resolve))
const slowPort = (slowReceiver.address() as AddressInfo).port
afterAll(() =>
  new Promise<void>((resolve) => {
    for (const res of held) res.destroy()
    slowReceiver.close(() => resolve())
  })
)

layer(
  H.layer({
    kpi: {
      webhookEnabled: true,
      webhookUrl: `http://127.0.0.1:${slowPort}/hooks/kpi`,
      webhookSecret: Redacted.make(SECRET),
      webhookAllowInsecureLocalhost: true,
      webhookBackoffMillis: 20,
      webhookRetries: 2,
      webhookTimeoutSeconds: 1
    }
  }),
  { excludeTestServices: true }
)("KPI alert webhook: a receiver that never answers", (it) => {
  it.effect("the held attempt fails by timeout after 1 s, recorded; the retry is delivered", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      for (let d = 2; d <= 8; d++) yield* post(s, "/api/v1/events", H.tokens.owner, { events: traffic(d, 10, 5, "a") })
      yield* post(s, "/api/v1/events", H.tokens.owner, { events: traffic(1, 10, 1, "a") })
      const yesterday = dayText(Date.now() - DAY)
      const from = dayText(Date.now() - 8 * DAY)
      expect((yield* post(s, "/api/admin/kpi/rollups/run", H.tokens.admin, { from, to: yesterday })).status).toBe(200)
      const started = Date.now()
      const notified = yield* post(s, "/api/admin/kpi/alerts/notify", H.tokens.admin, {})
      const took = Date.now() - started
      expect(notified.json).toMatchObject({ status: "delivered", attempts: 2, critical: 1 })
      // the first request was never answered: the second came only after the 1 s timeout
      expect(slow).toHaveLength(2)
      expect(slow[0]!.answered).toBe(false)
      expect(slow[1]!.at - slow[0]!.at).toBeGreaterThanOrEqual(1000)
      expect(took).toBeGreaterThanOrEqual(1000)
      expect(took).toBeLessThan(4000)
      const deliveries = yield* s.raw("/api/admin/kpi/alerts/deliveries", { headers: H.auth(H.tokens.admin) })
      expect(deliveries.json.map((d: { attempt: number; outcome: string; http_status: number | null }) => [
        d.attempt,
        d.outcome,
        d.http_status
      ])).toStrictEqual([[2, "delivered", 200], [1, "failed", null]])
      expect(deliveries.json[1].error).toMatch(/^timeout: /)
      expect(deliveries.json[1].duration_ms).toBeGreaterThanOrEqual(1000)
      // persisted: the timed-out attempt and the delivered retry
      const stored = yield* Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql.unsafe<{ attempt: unknown; outcome: string; http_status: unknown; error: string | null }>(
            "SELECT attempt, outcome, http_status, error FROM ops_kpi_webhook_deliveries WHERE tenant_id = ? ORDER BY attempt",
            ["default"]
          )
      ).pipe(Effect.orDie)
      expect(stored.map((r) => [Number(r.attempt), r.outcome, r.http_status === null ? null : Number(r.http_status)]))
        .toStrictEqual([[1, "failed", null], [2, "delivered", 200]])
      expect(stored[0]!.error).toMatch(/^timeout: /)
    }))
})

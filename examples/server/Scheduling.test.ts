/**
 * The reference distribution's schedule targets, run by ticking the scheduler over the server's
 * services on a real SQLite file (`TestClock` drives time): the default schedules the server
 * creates at start, then each target's work read back from storage — KPI rollup rows, a critical
 * alert delivered once to a real local HTTP receiver (not again within the cooldown), an
 * integrity report, a stale execution reconciled — and a rerun of a due time changing nothing.
 */
import { KpiWebhookTransport } from "@airlock/adapters-http"
import { CompanionReports } from "@airlock/companion"
import { Actor, Ids, Kernel, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import {
  AlertWebhook,
  Executions,
  ExecutionsConfig,
  Kpi,
  KpiConfig,
  KpiStore,
  ProductEvents,
  Scheduler
} from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe } from "vitest"
import * as DemoRunner from "./DemoRunner.js"
import * as Scheduling from "./Scheduling.js"
import * as Storage from "./Storage.js"

const SECRET = "whsec_scheduling_test"

/** What the receiver got: each body and whether its signature verified (the documented recipe). */
const received: Array<{ body: string; verified: boolean }> = []
const receiver = createServer((req, res) => {
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (chunk) => (body += chunk))
  req.on("end", () => {
    const header = String(req.headers["x-airlock-signature"] ?? "")
    const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]))
    const expected = createHmac("sha256", SECRET).update(`${parts.t}.${body}`).digest("hex")
    const given = Buffer.from(parts.v1 ?? "", "utf8")
    const verified = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected, "utf8"))
    received.push({ body, verified })
    res.statusCode = verified ? 200 : 401
    res.end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
const port = (receiver.address() as AddressInfo).port
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())))

const DAY = 86_400_000
const MINUTE = 60_000
/** 2031-05-10 02:20 UTC: the auditor's daily 02:30 and the rollups' quarter hour are 10 minutes away. */
const T0 = Date.UTC(2031, 4, 10, 2, 20)
const TENANT = Ids.TenantId.make("acme")

const choice: Storage.StorageChoice = {
  filename: join(mkdtempSync(join(tmpdir(), "airlock-scheduling-")), "airlock.db"),
  postgresUrl: null,
  name: "SQLite (test)"
}

// wired as the server wires them (examples/server/main.ts), with code settings instead of the environment
const core = Kernel.layer.pipe(Layer.provideMerge(Storage.layer(choice)))
const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layer()))
const kpi = Kpi.layer.pipe(
  Layer.provide([
    KpiConfig.layer({
      webhookEnabled: true,
      webhookUrl: `http://127.0.0.1:${port}/hooks/kpi`,
      webhookSecret: Redacted.make(SECRET),
      webhookAllowInsecureLocalhost: true,
      notifyCooldownMinutes: 60
    }),
    KpiWebhookTransport.layer
  ])
)
const ops = DemoRunner.layer.pipe(
  Layer.provideMerge(Executions.layer),
  Layer.provideMerge(ExecutionsConfig.layer({ staleAfterSeconds: 300 }))
)
const targets = Layer.mergeAll(kpi, ops, CompanionReports.layerConfig).pipe(Layer.provideMerge(guardrails))
const services = Scheduling.layer.pipe(Layer.provideMerge(targets), Layer.provideMerge(core))

const admin = new Actor.Actor({
  id: Ids.ActorId.make("ops-admin"),
  tenant_id: TENANT,
  kind: "user",
  name: "ops admin",
  role: "ADMIN",
  active: true,
  created_at: 0
}, true)

/** A day of traffic `daysAgo` days before T0's day: 10 landings, `run` of them ran. */
const traffic = (daysAgo: number, run: number) =>
  Array.from({ length: 10 }, (_, i) => {
    const subject = `u${daysAgo}_${i}`
    const at = Math.floor(T0 / DAY) * DAY - daysAgo * DAY + MINUTE
    return [
      {
        event_id: `${subject}_l`,
        step: "landing",
        subject_type: "user" as const,
        subject_id: subject,
        occurred_at: at
      },
      ...(i < run
        ? [{
          event_id: `${subject}_r`,
          step: "run",
          subject_type: "user" as const,
          subject_id: subject,
          occurred_at: at
        }]
        : [])
    ]
  }).flat()

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql.unsafe<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`, [TENANT]).pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      )
  )

describe("reference server schedule targets", () => {
  it("the default schedules: rollups and the auditor, notify only with the webhook on, never reconcile", () => {
    expect(Scheduling.defaultSchedules({ notify: false }).map((s) => [s.name, s.target])).toStrictEqual([
      ["kpi-rollups", "kpi.rollups"],
      ["companion-auditor-daily", "companion.auditor"]
    ])
    expect(Scheduling.defaultSchedules({ notify: true }).map((s) => s.target)).toContain("kpi.alerts.notify")
  })

  it.effect(
    "ticks run each target: rollups stored, a critical alert delivered once, an integrity report, a stale execution failed",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        const scheduler = yield* Scheduler.Scheduler
        const executions = yield* Executions.Executions
        yield* Effect.flatMap(Tenants.Tenants, (t) => t.create({ id: TENANT, name: "Acme" }))
        // 8 days of 50 % CTR, then today's traffic at 10 %: a critical drop
        const events = yield* ProductEvents.ProductEvents
        for (let d = 8; d >= 1; d--) yield* events.recordFor(TENANT, traffic(d, 5))
        yield* events.recordFor(TENANT, traffic(0, 1))
        // a demo job that hangs without heartbeats: RUNNING from T0 + 1 s
        const { run_id } = yield* executions.submit(admin, TENANT, { job_name: "hangs", plan: { demo: "hang" } })
        const running = yield* Effect.fork(executions.processAvailable(1))
        yield* TestClock.adjust("1 second")
        expect((yield* executions.get(admin, TENANT, run_id)).status).toBe("RUNNING")

        // what the server does at start, twice (a restart): the defaults once
        expect(yield* Scheduling.ensureDefaultSchedules).toStrictEqual([
          "kpi-rollups",
          "kpi-alerts-notify",
          "companion-auditor-daily"
        ])
        expect(yield* Scheduling.ensureDefaultSchedules).toStrictEqual([])
        yield* scheduler.create(admin, {
          name: "reconcile",
          expression: "@every:60",
          target: Scheduling.executionsReconcile,
          args: { stale_after_seconds: 300 }
        })
        expect(yield* count("ops_kpi_rollups")).toBe(0)
        // notify recomputes rollups itself: off for the first tick, so the rows below are the rollup task's
        yield* scheduler.update(admin, "kpi-alerts-notify", { enabled: false })

        // 02:30:05: the rollups, the auditor and the reconcile are due
        yield* TestClock.setTime(T0 + 10 * MINUTE + 5_000)
        const first = yield* scheduler.tick
        const outcome = Object.fromEntries(first.executed.map((x) => [x.schedule, [x.status, x.error]]))
        expect(outcome).toStrictEqual({
          "kpi-rollups": ["succeeded", null],
          "companion-auditor-daily": ["succeeded", null],
          "reconcile": ["succeeded", null]
        })

        // kpi.rollups: exactly the last 9 days stored, today's row with today's CTR
        const today = Math.floor(T0 / DAY)
        const stored = yield* Effect.flatMap(KpiStore.KpiStore, (s) => s.listRollups(TENANT, today - 30, today))
        expect(stored.map((r) => r.day_index)).toStrictEqual(Array.from({ length: 9 }, (_, i) => today - i))
        expect(stored[0]!.steps).toMatchObject({ landing: { subjects: 10 }, run: { subjects: 1 } })
        const rollupRun = (yield* scheduler.history("kpi-rollups"))[0]!
        expect(rollupRun.result).toMatchObject({ tenants: ["acme"] })

        // kpi.alerts.notify, back on (due 5 minutes later): one signed delivery of the critical CTR drop
        expect(received).toHaveLength(0)
        yield* scheduler.update(admin, "kpi-alerts-notify", { enabled: true })
        yield* TestClock.adjust("5 minutes")
        const delivered = yield* scheduler.tick
        expect(delivered.executed.map((x) => [x.schedule, x.status])).toContainEqual(["kpi-alerts-notify", "succeeded"])
        expect((yield* scheduler.history("kpi-alerts-notify"))[0]!.result).toMatchObject({
          status: "ran",
          results: [{ tenant_id: "acme", status: "delivered", critical: 1 }]
        })
        expect(received).toHaveLength(1)
        expect(received[0]!.verified).toBe(true)
        const body = JSON.parse(received[0]!.body)
        expect(body).toMatchObject({ type: "kpi.alerts.critical", tenant_id: "acme" })
        expect(body.alerts).toStrictEqual([
          expect.objectContaining({ metric: "Landing -> Run CTR", severity: "critical" })
        ])
        expect(yield* count("ops_kpi_webhook_deliveries")).toBe(1)

        // companion.auditor: one integrity report for the tenant, by the schedule, over 7 days
        const reports = yield* CompanionReports.CompanionReports
        const written = yield* reports.listReports(TENANT, admin, { limit: 10 })
        expect(written.items.map((r) => [r.created_by, r.days])).toStrictEqual([
          ["system:schedule:companion-auditor-daily", 7]
        ])

        // executions.reconcile: the hung execution failed as stale
        expect(yield* executions.get(admin, TENANT, run_id)).toMatchObject({
          status: "FAILED",
          failure_reason: "stale"
        })
        const reconcileDue = first.dispatched.find((d) => d.schedule === "reconcile")!.due_at
        const reconcileRun = (yield* scheduler.history("reconcile")).find((d) => d.due_at === reconcileDue)!
        expect(reconcileRun.result).toMatchObject({ reconciled: [run_id] })
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(running)

        // 5 minutes later notify is due again: the same alerts are held by the cooldown
        yield* TestClock.adjust("5 minutes")
        const second = yield* scheduler.tick
        expect(second.executed.find((x) => x.schedule === "kpi-alerts-notify")?.status).toBe("succeeded")
        const notifyRun = (yield* scheduler.history("kpi-alerts-notify"))[0]!
        expect(notifyRun.result).toMatchObject({ status: "ran", results: [{ tenant_id: "acme", status: "cooldown" }] })
        expect(received).toHaveLength(1)

        // at least once: a target run again for a due time it already did changes nothing
        const registry = yield* Scheduler.ScheduleTargets
        const auditor = Option.getOrThrow(registry.get(Scheduling.companionAuditor))
        const again = yield* auditor.run({
          schedule: "companion-auditor-daily",
          target: Scheduling.companionAuditor,
          due_at: Date.UTC(2031, 4, 10, 2, 30),
          attempt: 2,
          args: { days: 7 }
        })
        expect(again).toMatchObject({
          days: 7,
          tenants: expect.arrayContaining([expect.objectContaining({ rerun: true })])
        })
        expect((yield* reports.listReports(TENANT, admin, { limit: 10 })).items).toHaveLength(1)
        const rollupsAgain = Option.getOrThrow(registry.get(Scheduling.kpiRollups))
        yield* rollupsAgain.run({ schedule: "kpi-rollups", target: "kpi.rollups", due_at: 0, attempt: 2, args: null })
        expect(yield* count("ops_kpi_rollups")).toBe(16)
        // bad args fail the attempt with a clear code
        const bad = yield* Effect.flip(
          auditor.run({ schedule: "x", target: Scheduling.companionAuditor, due_at: 0, attempt: 1, args: { days: 0 } })
        )
        expect(bad).toMatchObject({ code: "validation.schema" })
        // the webhook switch the notify default depends on
        expect((yield* AlertWebhook.AlertWebhook).enabled).toBe(true)
      }).pipe(Effect.provide(services)),
    60_000
  )
})

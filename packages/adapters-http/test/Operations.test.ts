/**
 * The operations routes on a real server: the controlled restart (drain, hook, readiness),
 * checked over HTTP and in the stored audit log and system state.
 */
import { Backup, Migrations } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as H from "./support/Harness.js"

/** A PUT whose body is held back: in flight on the server until `finish` is called. */
const slowPut = (port: number, token: string) => {
  const body = JSON.stringify({ ai_mode: "drafts", extensions: { note: "in flight during the drain" } })
  let finish = () => {}
  const done = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      method: "PUT",
      path: "/api/v1/companion/settings",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body))
      },
      agent: false
    }, (res) => {
      let text = ""
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on("error", reject)
    req.write(body.slice(0, 5))
    finish = () => req.end(body.slice(5))
  })
  return { done, finish: () => finish() }
}

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const hookCalls: Array<{ at: number; inFlightFinished: boolean }> = []
let slowFinished = false

describe("controlled restart", () => {
  layer(
    H.layer({
      drain: { restartDrainTimeoutMillis: 5_000, retryAfterSeconds: 7 },
      restartHook: Effect.sync(() => void hookCalls.push({ at: Date.now(), inFlightFinished: slowFinished }))
    }),
    { excludeTestServices: true }
  )("drain, hook, readiness", (it) => {
    it.effect("refuses new work with 503 + Retry-After, lets the in-flight request finish, runs the hook, is ready again; audited", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const slow = slowPut(s.port, H.tokens.admin)
        yield* sleep(200)
        const restart = Effect.runPromise(
          s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, { reason: "drill" }))
        )
        yield* sleep(200)
        // draining: new work is refused, probes still answer
        const refused = yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })
        const error = H.expectError(refused, 503, "unavailable")
        expect(error.details).toMatchObject({ reason: "restarting", retry_after_seconds: 7 })
        expect(refused.headers.get("retry-after")).toBe("7")
        expect((yield* s.raw("/healthz")).status).toBe(200)
        const notReady = yield* s.raw("/readyz")
        expect(H.expectError(notReady, 503, "unavailable").details).toMatchObject({
          checks: { restarting: { ok: false, reason: "restarting" }, storage: { ok: true } }
        })
        const flag = yield* sql`SELECT value FROM core_system_state WHERE key = 'ops.restarting'`.pipe(Effect.orDie)
        expect(JSON.parse(String(flag[0]!.value))).toMatchObject({ restarting: true, by: "admin", reason: "drill" })
        expect(hookCalls).toStrictEqual([])
        // the request in flight when the restart began completes with its own status
        slowFinished = true
        slow.finish()
        const answer = yield* Effect.promise(() => slow.done)
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.text)).toMatchObject({ ai_mode: "drafts" })
        const report = yield* Effect.promise(() => restart)
        expect(report.status).toBe(200)
        expect(report.json).toMatchObject({
          requested_by: "admin",
          reason: "drill",
          drain: { timed_out: false, in_flight_left: 0, background_interrupted: 0 },
          hook: { status: "ok", error: null },
          ready: true,
          readiness: { ready: true, checks: { restarting: { ok: true } } }
        })
        expect(hookCalls.length).toBe(1)
        expect(hookCalls[0]!.inFlightFinished).toBe(true)
        // accepting again, flag cleared, both ends audited
        expect((yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })).status).toBe(200)
        expect((yield* s.raw("/readyz")).status).toBe(200)
        const cleared = yield* sql`SELECT value FROM core_system_state WHERE key = 'ops.restarting'`.pipe(Effect.orDie)
        expect(JSON.parse(String(cleared[0]!.value))).toMatchObject({ restarting: false })
        const audit =
          yield* sql`SELECT action, data FROM core_audit WHERE tenant_id = 'default' AND action LIKE 'system.restart%' ORDER BY seq`
            .pipe(Effect.orDie)
        expect(audit.map((r) => r.action)).toStrictEqual(["system.restart_requested", "system.restarted"])
        expect(JSON.parse(String(audit[1]!.data))).toMatchObject({ reason: "drill", hook: "ok", ready: true })
        const verify = yield* (yield* H.auditLog).verify("default" as never)
        expect(verify.ok).toBe(true)
      }))

    it.effect("admins only; a second restart while one drains is refused (503)", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        H.expectError(
          yield* s.raw("/api/admin/control/restart", H.json("POST", H.tokens.owner, {})),
          403,
          "rbac.forbidden"
        )
        H.expectError(
          yield* s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, { reason: 1 })),
          400,
          "validation.schema"
        )
        const slow = slowPut(s.port, H.tokens.admin)
        yield* sleep(150)
        const first = Effect.runPromise(s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, {})))
        yield* sleep(150)
        // a second restart request is new work while draining: refused before it reaches the handler
        H.expectError(
          yield* s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, {})),
          503,
          "unavailable"
        )
        slow.finish()
        yield* Effect.promise(() => slow.done)
        expect((yield* Effect.promise(() => first)).status).toBe(200)
      }))
  })

  layer(
    H.layer({
      drain: { restartDrainTimeoutMillis: 300 },
      restartHook: Effect.fail("reopen failed")
    }),
    { excludeTestServices: true }
  )("timeout and failing hook", (it) => {
    it.effect("a request that never finishes does not hold the restart past its timeout; a failing hook still resumes", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const stuck = slowPut(s.port, H.tokens.admin)
        yield* sleep(150)
        const started = Date.now()
        const report = yield* s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, {}))
        expect(Date.now() - started).toBeLessThan(3000)
        expect(report.status).toBe(200)
        expect(report.json).toMatchObject({
          drain: { timed_out: true, in_flight_left: 1 },
          hook: { status: "failed" },
          ready: true
        })
        expect(report.json.drain.waited_ms).toBeGreaterThanOrEqual(300)
        expect((yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })).status).toBe(200)
        // the stuck request still completes normally afterwards
        stuck.finish()
        expect((yield* Effect.promise(() => stuck.done)).status).toBe(200)
      }))
  })

  layer(H.layer({ http: { adminWriteEnabled: false } }), { excludeTestServices: true })("write guard", (it) => {
    it.effect("a restart is an admin write: refused when admin writes are off", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        H.expectError(
          yield* s.raw("/api/admin/control/restart", H.json("POST", H.tokens.admin, {})),
          403,
          "admin.write_disabled"
        )
        expect((yield* s.raw("/readyz")).status).toBe(200)
      }))
  })
})

describe("readiness and the lockdown", () => {
  layer(
    H.layer({ readinessGuardrails: true, guardrails: { lockdownReadinessFailures: 2, lockdownWindowSeconds: 600 } }),
    { excludeTestServices: true }
  )("guardrails checks", (it) => {
    it.effect("repeated readiness failures engage the lockdown; a lockdown is reported, not counted; unlock makes it ready", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const ready = yield* s.raw("/readyz")
        expect(ready.json).toMatchObject({
          status: "ready",
          checks: {
            storage: { ok: true },
            migrations: { ok: true },
            run_overrides: { ok: true, active: true, paused: false },
            lockdown: { ok: true, active: false }
          }
        })
        const saved = yield* sql`SELECT * FROM effect_sql_migrations WHERE migration_id = ${Migrations.head}`.pipe(
          Effect.orDie
        )
        yield* sql`DELETE FROM effect_sql_migrations WHERE migration_id = ${Migrations.head}`.pipe(Effect.orDie)
        // one failure: counted, not yet a burst
        H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
        const quiet = yield* sql`SELECT COUNT(*) AS n FROM guardrails_events WHERE kind = 'lockdown'`.pipe(
          Effect.orDie
        )
        expect(Number(quiet[0]!.n)).toBe(0)
        // the second within the window engages the lockdown
        H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
        const events = yield* sql`SELECT type, reason, data FROM guardrails_events WHERE kind = 'lockdown'`
          .pipe(Effect.orDie)
        expect(events.map((e) => [e.type, e.reason])).toStrictEqual([["lockdown", "readiness_failure_burst"]])
        expect(JSON.parse(String(events[0]!.data))).toMatchObject({ source: "auto", count: 2, threshold: 2 })
        yield* sql`INSERT INTO effect_sql_migrations ${sql.insert(saved[0]!)}`.pipe(Effect.orDie)
        // migrations fixed, but locked down: still not ready, and the lockdown check does not feed itself
        for (let i = 0; i < 3; i++) {
          const locked = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
          expect(locked.details).toMatchObject({
            checks: { migrations: { ok: true }, lockdown: { ok: false, reason: "lockdown_active", source: "auto" } }
          })
        }
        const after = yield* sql`SELECT COUNT(*) AS n FROM guardrails_events WHERE kind = 'lockdown'`.pipe(
          Effect.orDie
        )
        expect(Number(after[0]!.n)).toBe(1)
        const code = (yield* s.raw("/api/v1/system/unlock-code/rotate", H.json("POST", H.tokens.admin, {}))).json.code
        expect((yield* s.raw("/api/v1/system/unlock", H.json("POST", H.tokens.admin, { code }))).status).toBe(200)
        expect((yield* s.raw("/readyz")).status).toBe(200)
      }))

    it.effect("a run stopped by a guardrail makes the instance not ready (run_overrides), without counting towards lockdown", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const { StopConditions } = yield* Effect.promise(() => import("@airlock/guardrails"))
        const stops = yield* StopConditions.StopConditions
        const countSignals =
          sql`SELECT COALESCE(SUM(count), 0) AS n FROM guardrails_counters WHERE key = 'lockdown:readiness_failure'`
            .pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
        const signalsBefore = yield* countSignals
        expect(yield* stops.trip("db_pool_pressure", { samples: 5 })).toBe(true)
        const stopped = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
        expect(stopped.details).toMatchObject({
          checks: { run_overrides: { ok: false, reason: "run_stopped", stop_reason: "db_pool_pressure" } }
        })
        expect(yield* countSignals).toBe(signalsBefore)
        yield* stops.resume(s.actors.admin!)
        expect((yield* s.raw("/readyz")).status).toBe(200)
      }))

    it.effect("an operator's stop, pause and reset leave the instance ready (an idle run is the normal state)", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const post = (command: string) => s.raw(`/api/admin/control/run/${command}`, H.json("POST", H.tokens.admin, {}))
        const readyRun = Effect.gen(function*() {
          const ready = yield* s.raw("/readyz")
          expect(ready.status).toBe(200)
          return ready.json.checks.run_overrides
        })
        expect((yield* post("start")).status).toBe(200)
        expect(yield* readyRun).toMatchObject({ ok: true, active: true, paused: false })
        expect((yield* post("pause")).json.phase).toBe("paused")
        expect(yield* readyRun).toMatchObject({ ok: true, active: true, paused: true, stop_reason: null })
        expect((yield* post("stop")).json.phase).toBe("idle")
        expect(yield* readyRun).toMatchObject({ ok: true, active: false, paused: true, stop_reason: null })
        expect((yield* post("reset")).json.phase).toBe("idle")
        expect(yield* readyRun).toMatchObject({ ok: true, active: false, stop_reason: null })
        const overrides = yield* sql`SELECT key, value FROM core_system_state WHERE key IN ('run.active', 'run.paused')`
          .pipe(Effect.orDie)
        expect(Object.fromEntries(overrides.map((r) => [r.key, JSON.parse(String(r.value))]))).toMatchObject({
          "run.active": false
        })
      }))
  })
})

describe("the execution worker and the drain", () => {
  layer(H.layer(), { excludeTestServices: true })("worker", (it) => {
    it.effect("claims nothing while draining; a restart waits for the running execution; at the timeout or on shutdown it is requeued", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const { Drain, Executions, JobRunner } = yield* Effect.promise(() => import("@airlock/ops"))
        // the process's drain, as the reference server shares it with the worker
        const drain = Context.get(yield* Layer.build(Drain.Drain.Default), Drain.Drain)
        const executions = yield* Executions.Executions
        const gates = new Map<string, Deferred.Deferred<void>>()
        yield* Effect.flatMap(JobRunner.JobRunners, (r) =>
          r.register("drained", (ctx) =>
            Effect.gen(function*() {
              const gate = gates.get((ctx.plan as { gate: string }).gate)
              if (gate === undefined) return
              yield* ctx.heartbeat
              yield* Deferred.await(gate)
            })))
        const submit = (gate: string) =>
          Effect.map(
            s.raw("/api/v1/builds", H.json("POST", H.tokens.bookkeeper, { job_name: "drained", plan: { gate } })),
            (r) => r.json.run_id as string
          )
        const row = (runId: string) =>
          Effect.map(
            sql`SELECT status, attempts, claimed_by FROM ops_executions WHERE run_id = ${runId}`,
            (rs) => ({ status: rs[0]!.status, attempts: Number(rs[0]!.attempts), claimed_by: rs[0]!.claimed_by })
          ).pipe(Effect.orDie)
        const until = (runId: string, status: string) =>
          Effect.gen(function*() {
            for (let i = 0; i < 200 && (yield* row(runId)).status !== status; i++) yield* sleep(20)
            return yield* row(runId)
          })
        gates.set("a", yield* Deferred.make<void>())
        gates.set("b", yield* Deferred.make<void>())
        const worker = yield* Effect.fork(executions.worker({ instance: "inst-drain", concurrency: 2, drain }))
        const a = yield* submit("a")
        expect(yield* until(a, "RUNNING")).toMatchObject({ attempts: 1, claimed_by: "inst-drain" })
        // a restart's drain: the running execution is waited for, a queued one is not claimed
        const draining = yield* Effect.fork(drain.drain(10_000, { reason: "restarting" }))
        yield* sleep(50)
        expect(drain.state()).toMatchObject({ accepting: false, background: 1 })
        const queued = yield* Effect.map(
          executions.submit(s.actors.bookkeeper!, s.actors.bookkeeper!.tenant_id, { job_name: "drained", plan: {} }),
          (r) => r.run_id
        )
        yield* sleep(300)
        expect(yield* row(queued)).toMatchObject({ status: "QUEUED", attempts: 0, claimed_by: null })
        expect(Option.isNone(yield* Fiber.poll(draining))).toBe(true)
        yield* Deferred.succeed(gates.get("a")!, undefined)
        const outcome = yield* Fiber.join(draining)
        expect(outcome).toMatchObject({ timed_out: false, background_interrupted: 0 })
        expect(yield* row(a)).toMatchObject({ status: "SUCCEEDED", attempts: 1 })
        expect(yield* row(queued)).toMatchObject({ status: "QUEUED" })
        // accepting again: the queued one runs
        yield* drain.resume
        expect(yield* until(queued, "SUCCEEDED")).toMatchObject({ attempts: 1 })
        // a drain that times out interrupts the runner: the execution is requeued, its attempt released
        const b = yield* submit("b")
        expect(yield* until(b, "RUNNING")).toMatchObject({ attempts: 1 })
        const timedOut = yield* drain.drain(200, { reason: "restarting" })
        expect(timedOut).toMatchObject({ timed_out: true, background_interrupted: 1 })
        expect(yield* row(b)).toMatchObject({ status: "QUEUED", attempts: 0, claimed_by: null })
        yield* drain.resume
        expect(yield* until(b, "RUNNING")).toMatchObject({ attempts: 1, claimed_by: "inst-drain" })
        // shutdown: the worker is interrupted with its runner, which gives the claim back
        yield* Fiber.interrupt(worker)
        expect(yield* row(b)).toMatchObject({ status: "QUEUED", attempts: 0, claimed_by: null })
        yield* Deferred.succeed(gates.get("b")!, undefined)
      }).pipe(Effect.scoped))
  })
})

const backupDir = join(mkdtempSync(join(tmpdir(), "airlock-http-backups-")), "backups")

describe("backups over HTTP", () => {
  layer(H.layer({ backupDirectory: backupDir }), { excludeTestServices: true })("configured", (it) => {
    it.effect("POST /api/admin/backup takes an online backup (admin), GET /api/admin/backups lists them", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        H.expectError(yield* s.raw("/api/admin/backup", H.json("POST", H.tokens.owner, {})), 403, "rbac.forbidden")
        H.expectError(
          yield* s.raw("/api/admin/backup", H.json("POST", H.tokens.admin, { gzip: "yes" })),
          400,
          "validation.schema"
        )
        const plain = yield* s.raw("/api/admin/backup", H.json("POST", H.tokens.admin, {}))
        expect(plain.status).toBe(201)
        expect(plain.json).toMatchObject({ gzip: false })
        expect(plain.json.name).toMatch(/^airlock-\d{8}T\d{9}Z\.db$/)
        expect(existsSync(plain.json.path)).toBe(true)
        const zipped = yield* s.raw("/api/admin/backup", H.json("POST", H.tokens.admin, { gzip: true }))
        expect(zipped.status).toBe(201)
        expect(zipped.json.name).toMatch(/\.db\.gz$/)
        const listed = yield* s.raw("/api/admin/backups", { headers: H.auth(H.tokens.admin) })
        expect(listed.status).toBe(200)
        expect(listed.json.backups.map((b: any) => b.name).sort()).toStrictEqual(
          [plain.json.name, zipped.json.name].sort()
        )
        // the backup is a complete database: restored elsewhere it has the seeded tenants and a valid chain
        const restored = join(mkdtempSync(join(tmpdir(), "airlock-http-restore-")), "restored.db")
        const report = yield* Backup.restore({ from: zipped.json.path, filename: restored })
        expect(report.migrations.atHead).toBe(true)
      }))
  })

  layer(H.layer(), { excludeTestServices: true })("not configured", (it) => {
    it.effect("409 ops.backup_unconfigured", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        H.expectError(
          yield* s.raw("/api/admin/backup", H.json("POST", H.tokens.admin, {})),
          409,
          "ops.backup_unconfigured"
        )
      }))
  })
})

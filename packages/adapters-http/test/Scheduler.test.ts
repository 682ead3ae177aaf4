/**
 * The scheduler group over HTTP: the runbook's scheduler check (insert `@every:60`, tick, one
 * `schedule.trigger` and no duplicate for the due time), CRUD with validation codes, the admin
 * guards, backlog fields in the system status, and the maintenance routes (a failing command is a
 * failure record and an agent-memory `failure` item).
 */
import { Maintenance, Scheduler } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Option, Ref } from "effect"
import * as H from "./support/Harness.js"

const rows = <A>(query: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.orDie(query(sql)))

layer(H.layer({ http: { adminWriteEnabled: true } }), { excludeTestServices: true })("scheduler routes", (it) => {
  it.effect("scheduler check: @every:60, one tick → one schedule.trigger, no duplicate for the due time", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const runs = yield* Ref.make(0)
      const targets = Option.getOrThrow(yield* Effect.serviceOption(Scheduler.ScheduleTargets))
      yield* targets.register({
        name: "test.count",
        description: "counts",
        run: () => Ref.updateAndGet(runs, (n) => n + 1)
      })
      const admin = (method: string, path: string, body?: unknown) =>
        s.raw(
          path,
          body === undefined ? { method, headers: H.auth(H.tokens.admin) } : H.json(method, H.tokens.admin, body)
        )

      const created = yield* admin("POST", "/api/admin/schedules", {
        name: "check",
        expression: "@every:60",
        target: "test.count"
      })
      expect(created.status).toBe(201)
      expect(created.json).toMatchObject({
        name: "check",
        time_zone: "UTC",
        enabled: true,
        overlap: "skip",
        catch_up: "once",
        version: 1
      })
      const tick = yield* admin("POST", "/api/admin/schedules/tick")
      expect(tick.status).toBe(200)
      const mine = (tick.json as any).dispatched.filter((d: any) => d.schedule === "check")
      expect(mine.length).toBe(1)
      expect((tick.json as any).executed.filter((d: any) => d.schedule === "check")[0].status).toBe("succeeded")
      const dueAt = mine[0].due_at as string
      yield* admin("POST", "/api/admin/schedules/tick")
      // persisted: one dispatch record and one schedule.trigger event for that due time
      const ms = Date.parse(dueAt)
      const dispatches = yield* rows((sql) =>
        sql`SELECT status FROM ops_schedule_dispatches WHERE schedule_name = 'check' AND due_at = ${ms}`
      )
      expect(dispatches).toStrictEqual([{ status: "succeeded" }])
      const events = yield* rows((sql) =>
        sql`SELECT type FROM ops_schedule_events WHERE schedule_name = 'check' AND due_at = ${ms}`
      )
      expect(events).toStrictEqual([{ type: "schedule.trigger" }])
      expect(yield* Ref.get(runs)).toBeGreaterThanOrEqual(1)

      const history = yield* admin("GET", "/api/admin/schedules/check/dispatches?limit=10")
      expect((history.json as any).dispatches[0]).toMatchObject({ schedule: "check", status: "succeeded", attempts: 1 })
      const listed = yield* admin("GET", "/api/admin/schedules/check/events")
      expect((listed.json as any).events.filter((e: any) => e.due_at === dueAt).length).toBe(1)
      const all = yield* admin("GET", "/api/admin/schedules")
      expect((all.json as any).schedules.map((x: any) => x.name)).toContain("check")
      expect((all.json as any).targets).toContainEqual({ name: "test.count", description: "counts" })

      // the system status carries the backlog and lag
      const status = yield* s.raw("/api/v1/system/status", { headers: H.auth(H.tokens.owner) })
      expect((status.json as any).scheduler).toMatchObject({
        enabled: true,
        due: expect.any(Number),
        dispatched: expect.any(Number),
        running: expect.any(Number),
        late: expect.any(Number),
        lag_seconds: expect.any(Number),
        last_error: null
      })
      expect((status.json as any).scheduler.schedules).toBeGreaterThanOrEqual(1)
      const agentStatus = yield* s.raw("/api/v1/system/status", { headers: H.auth(H.tokens.agent) })
      expect((agentStatus.json as any).scheduler).toBeNull()
    }))

  it.effect("CRUD: validation codes, update, delete; admin only", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const targets = Option.getOrThrow(yield* Effect.serviceOption(Scheduler.ScheduleTargets))
      yield* targets.register({ name: "test.noop", description: "nothing", run: () => Effect.void })
      const post = (body: unknown, token: string = H.tokens.admin) =>
        s.raw("/api/admin/schedules", H.json("POST", token, body))
      const base = { name: "crud", expression: "30 2 * * *", time_zone: "America/New_York", target: "test.noop" }
      H.expectError(yield* post({ ...base, expression: "99 * * * *" }), 400, "validation.schedule_expression")
      H.expectError(yield* post({ ...base, time_zone: "Nowhere/City" }), 400, "validation.schedule_timezone")
      H.expectError(yield* post({ ...base, target: "missing" }), 400, "validation.schedule_target")
      H.expectError(yield* post({ ...base, overlap: "maybe" }), 400, "validation.schema")
      H.expectError(yield* post(base, H.tokens.owner), 403, "rbac.forbidden")
      expect((yield* post(base)).status).toBe(201)
      H.expectError(yield* post(base), 409, "conflict.duplicate")
      const put = yield* s.raw("/api/admin/schedules/crud", H.json("PUT", H.tokens.admin, { overlap: "queue" }))
      expect(put.json).toMatchObject({ overlap: "queue", version: 2, expression: "30 2 * * *" })
      const got = yield* s.raw("/api/admin/schedules/crud", { headers: H.auth(H.tokens.admin) })
      expect(got.json).toMatchObject({ overlap: "queue", time_zone: "America/New_York" })
      const del = yield* s.raw("/api/admin/schedules/crud", { method: "DELETE", headers: H.auth(H.tokens.admin) })
      expect(del.status).toBe(204)
      H.expectError(
        yield* s.raw("/api/admin/schedules/crud", { headers: H.auth(H.tokens.admin) }),
        404,
        "not_found"
      )
      expect(yield* rows((sql) => sql`SELECT name FROM ops_schedules WHERE name = 'crud'`)).toStrictEqual([])
      // audited in the admin's tenant
      const audit = yield* rows((sql) =>
        sql`SELECT action FROM core_audit WHERE subject = 'schedule:crud' ORDER BY seq`
      )
      expect(audit.map((a: any) => a.action)).toStrictEqual([
        "schedule.created",
        "schedule.updated",
        "schedule.deleted"
      ])
    }))

  it.effect("maintenance: run now, failure records and agent-memory failure items, enqueue, status", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const commands = Option.getOrThrow(yield* Effect.serviceOption(Maintenance.MaintenanceCommands))
      yield* commands.register({
        name: "test.fail",
        description: "fails",
        run: Effect.fail(new Error("no space left"))
      })
      yield* commands.register({ name: "test.ok", description: "works", run: Effect.succeed({ ok: true }) })
      const run = yield* s.raw(
        "/api/admin/maintenance/run",
        H.json("POST", H.tokens.admin, { commands: ["test.fail", "test.ok"] })
      )
      expect(run.status).toBe(200)
      expect((run.json as any).runs.map((r: any) => [r.command, r.status, r.error])).toStrictEqual([
        ["test.fail", "failed", "no space left"],
        ["test.ok", "succeeded", null]
      ])
      H.expectError(
        yield* s.raw("/api/admin/maintenance/run", H.json("POST", H.tokens.admin, { commands: ["nope"] })),
        400,
        "validation.maintenance_command"
      )
      const failures = yield* s.raw("/api/admin/maintenance/failures?command=test.fail", {
        headers: H.auth(H.tokens.admin)
      })
      const [failure] = (failures.json as any).failures
      expect(failure).toMatchObject({ command: "test.fail", error: "no space left" })
      const memory = yield* s.raw("/api/v1/memory/state/failures?job=maintenance:test.fail", {
        headers: H.auth(H.tokens.admin)
      })
      expect((memory.json as any).items.map((i: any) => [i.uid, i.kind])).toStrictEqual([[
        failure.memory_uid,
        "failure"
      ]])
      const queued = yield* s.raw(
        "/api/admin/maintenance/enqueue",
        H.json("POST", H.tokens.admin, { commands: ["test.ok"] })
      )
      expect(queued.status).toBe(202)
      expect((queued.json as any).runs.map((r: any) => r.status)).toStrictEqual(["queued"])
      const status = yield* s.raw("/api/admin/maintenance/status", { headers: H.auth(H.tokens.admin) })
      expect(status.json).toMatchObject({ enabled: false, interval_seconds: 300, heartbeat_interval_seconds: 60 })
      expect((status.json as any).queued).toBeGreaterThanOrEqual(1)
      expect((status.json as any).commands.find((c: any) => c.name === "test.fail").last_run.status).toBe("failed")
      H.expectError(
        yield* s.raw("/api/admin/maintenance/status", { headers: H.auth(H.tokens.owner) }),
        403,
        "rbac.forbidden"
      )
    }))

  it.effect("the runbook's `cron_expr='@every:60'` is the schedule's expression; both names at once are refused", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const targets = Option.getOrThrow(yield* Effect.serviceOption(Scheduler.ScheduleTargets))
      yield* targets.register({ name: "test.alias", description: "nothing", run: () => Effect.void })
      const call = (method: string, path: string, body: unknown) => s.raw(path, H.json(method, H.tokens.admin, body))
      const stored = (name: string) =>
        rows((sql) => sql<{ expression: string }>`SELECT expression FROM ops_schedules WHERE name = ${name}`)

      const created = yield* call("POST", "/api/admin/schedules", {
        name: "runbook-check",
        cron_expr: "@every:60",
        target: "test.alias"
      })
      expect(created.status).toBe(201)
      expect(created.json).toMatchObject({ name: "runbook-check", expression: "@every:60", target: "test.alias" })
      expect(created.json).not.toHaveProperty("cron_expr")
      expect(yield* stored("runbook-check")).toStrictEqual([{ expression: "@every:60" }])
      // ticked at once, as the runbook's check expects: one dispatch and one schedule.trigger
      const tick = yield* s.raw("/api/admin/schedules/tick", { method: "POST", headers: H.auth(H.tokens.admin) })
      expect((tick.json as any).dispatched.filter((d: any) => d.schedule === "runbook-check")).toHaveLength(1)
      expect(
        yield* rows((sql) => sql`SELECT type FROM ops_schedule_events WHERE schedule_name = 'runbook-check'`)
      ).toStrictEqual([{ type: "schedule.trigger" }])

      // the alias is validated as the expression is
      H.expectError(
        yield* call("POST", "/api/admin/schedules", {
          name: "bad-alias",
          cron_expr: "99 * * * *",
          target: "test.alias"
        }),
        400,
        "validation.schedule_expression"
      )
      // both names: refused with a code that says so; neither: missing
      const both = H.expectError(
        yield* call("POST", "/api/admin/schedules", {
          name: "both",
          expression: "@every:60",
          cron_expr: "@every:60",
          target: "test.alias"
        }),
        400,
        "validation.ambiguous_body"
      )
      expect(both.message).toContain("cron_expr")
      const neither = H.expectError(
        yield* call("POST", "/api/admin/schedules", { name: "neither", target: "test.alias" }),
        400,
        "validation.schema"
      )
      expect(neither.message).toContain("expression")
      expect(yield* stored("both")).toStrictEqual([])
      expect(yield* stored("neither")).toStrictEqual([])
      expect(yield* stored("bad-alias")).toStrictEqual([])

      // an update may name it either way too (at most one)
      const put = yield* call("PUT", "/api/admin/schedules/runbook-check", { cron_expr: "*/5 * * * *" })
      expect(put.status).toBe(200)
      expect(put.json).toMatchObject({ expression: "*/5 * * * *", version: 2 })
      expect(yield* stored("runbook-check")).toStrictEqual([{ expression: "*/5 * * * *" }])
      H.expectError(
        yield* call("PUT", "/api/admin/schedules/runbook-check", { expression: "@every:5", cron_expr: "@every:5" }),
        400,
        "validation.ambiguous_body"
      )
      expect(yield* stored("runbook-check")).toStrictEqual([{ expression: "*/5 * * * *" }])
    }))

  it.effect("enqueue with the maintenance loop disabled (the default): queued, with a `maintenance.loop_disabled` warning", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const commands = Option.getOrThrow(yield* Effect.serviceOption(Maintenance.MaintenanceCommands))
      yield* commands.register({ name: "test.later", description: "waits", run: Effect.succeed({ ok: true }) })
      const queued = yield* s.raw(
        "/api/admin/maintenance/enqueue",
        H.json("POST", H.tokens.admin, { commands: ["test.later"] })
      )
      expect(queued.status).toBe(202)
      const body = queued.json as any
      expect(body.runs.map((r: any) => [r.command, r.status])).toStrictEqual([["test.later", "queued"]])
      expect(body.warning.code).toBe("maintenance.loop_disabled")
      expect(body.warning.message).toContain("AIRLOCK_MAINTENANCE_ENABLED=true")
      expect(body.warning.message).toContain("/api/admin/maintenance/run")
      // persisted as queued: nothing in this server takes it
      expect(
        yield* rows((sql) => sql`SELECT status FROM ops_maintenance_runs WHERE id = ${body.runs[0].id}`)
      ).toStrictEqual([{ status: "queued" }])
    }))
})

layer(H.layer({ http: { adminWriteEnabled: false } }), { excludeTestServices: true })(
  "scheduler routes with admin writes disabled",
  (it) => {
    it.effect("writes are refused with 403 admin.write_disabled; reads work", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const body = { name: "guarded", expression: "@every:60", target: "x" }
        H.expectError(
          yield* s.raw("/api/admin/schedules", H.json("POST", H.tokens.admin, body)),
          403,
          "admin.write_disabled"
        )
        H.expectError(
          yield* s.raw("/api/admin/schedules/tick", { method: "POST", headers: H.auth(H.tokens.admin) }),
          403,
          "admin.write_disabled"
        )
        H.expectError(
          yield* s.raw("/api/admin/maintenance/run", H.json("POST", H.tokens.admin, {})),
          403,
          "admin.write_disabled"
        )
        expect((yield* s.raw("/api/admin/schedules", { headers: H.auth(H.tokens.admin) })).status).toBe(200)
        expect(yield* rows((sql) => sql`SELECT name FROM ops_schedules`)).toStrictEqual([])
      }))
  }
)

layer(H.layer({ schedulerChecks: true, doctor: {} }), { excludeTestServices: true })(
  "scheduler readiness and doctor checks",
  (it) => {
    it.effect("/readyz fails `scheduler` (lagging) while a due schedule is left undispatched; the doctor warns", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const targets = Option.getOrThrow(yield* Effect.serviceOption(Scheduler.ScheduleTargets))
        let fail = false
        yield* targets.register({
          name: "test.health",
          description: "fails on demand",
          run: () => (fail ? Effect.fail(new Error("boom")) : Effect.void)
        })
        const admin = (method: string, path: string, body?: unknown) =>
          s.raw(
            path,
            body === undefined ? { method, headers: H.auth(H.tokens.admin) } : H.json(method, H.tokens.admin, body)
          )
        const doctorFinding = Effect.map(
          admin("GET", "/api/admin/doctor"),
          (r) => (r.json as any).findings.find((f: any) => f.check === "scheduler")
        )
        expect(
          (yield* admin("POST", "/api/admin/schedules", {
            name: "lagged",
            expression: "@every:60",
            target: "test.health"
          })).status
        ).toBe(201)

        // on time: ready, the check's details public
        const ready = yield* s.raw("/readyz")
        expect(ready.status).toBe(200)
        expect((ready.json as any).checks.scheduler).toMatchObject({ ok: true, max_lag_seconds: 300 })
        expect((ready.json as any).checks.scheduler.lag_seconds).toBeLessThan(300)
        expect(yield* doctorFinding).toMatchObject({ status: "ok", code: "scheduler.on_time" })

        // the cursor 10 minutes in the past and nobody ticking: lagging (default limit 300 s)
        const now = Date.now()
        yield* rows((sql) => sql`UPDATE ops_schedules SET next_due_at = ${now - 600_000} WHERE name = 'lagged'`)
        const lagging = yield* s.raw("/readyz")
        const details = H.expectError(lagging, 503, "unavailable").details as any
        expect(details.checks.scheduler).toMatchObject({ ok: false, reason: "lagging", late: 1, max_lag_seconds: 300 })
        expect(details.checks.scheduler.lag_seconds).toBeGreaterThanOrEqual(600)
        expect(details.checks.storage).toMatchObject({ ok: true })
        expect(yield* doctorFinding).toMatchObject({
          status: "warn",
          code: "scheduler.lagging",
          details: { late: 1, max_lag_seconds: 300 }
        })

        // one tick dispatches and runs it: ready again
        expect((yield* admin("POST", "/api/admin/schedules/tick")).status).toBe(200)
        const back = yield* s.raw("/readyz")
        expect(back.status).toBe(200)
        expect((back.json as any).checks.scheduler).toMatchObject({ ok: true, lag_seconds: 0, late: 0 })
        expect(yield* doctorFinding).toMatchObject({ status: "ok", code: "scheduler.on_time" })

        // a failed run: the doctor warns with the schedule (readiness stays: no lag)
        fail = true
        yield* rows((sql) => sql`UPDATE ops_schedules SET next_due_at = ${Date.now() - 1000} WHERE name = 'lagged'`)
        const tick = yield* admin("POST", "/api/admin/schedules/tick")
        expect((tick.json as any).executed[0]).toMatchObject({ schedule: "lagged", status: "pending", error: "boom" })
        expect(yield* doctorFinding).toMatchObject({
          status: "warn",
          code: "scheduler.last_error",
          details: { last_error: { schedule: "lagged" } }
        })
        const doctor = yield* admin("GET", "/api/admin/doctor")
        expect((doctor.json as any).needs_attention).toContain("scheduler.last_error")
      }))
  }
)

/**
 * The executions and run-control routes on a real server (SQLite and PostgreSQL): the
 * data-platform runbook's build → approval → build → run → triage → retry → reconcile flow with
 * its exact bodies, and the ops console's run controls, with persisted rows checked by SQL.
 */
import { Canonical } from "@airlock/core"
import { StopConditions } from "@airlock/guardrails"
import { Executions, JobRunner } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as H from "./support/Harness.js"

const runner: JobRunner.JobRunner = (ctx) =>
  Effect.gen(function*() {
    const plan = ctx.plan as { readonly fail?: string }
    yield* ctx.log("starting")
    yield* ctx.heartbeat
    if (plan.fail !== undefined) return yield* new JobRunner.JobError({ message: plan.fail })
  })

const registerRunner = Effect.flatMap(JobRunner.JobRunners, (r) => r.register(JobRunner.ANY_JOB, runner))

const suite = (storage: H.Storage) =>
  layer(H.layer({ storage }), { excludeTestServices: true })(storage, (it) => {
    it.effect("runbook: build 409 approval_required → approve by job_name → 202 → run → triage → retry → reconcile", () =>
      Effect.gen(function*() {
        yield* registerRunner
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const executions = yield* Executions.Executions
        const { admin, bookkeeper, viewer } = H.tokens
        const plan = { fail: 'relation "orders" does not exist' }
        const body = { job_name: "my_job", plan, risk_score: 0.9, estimated_cost_usd: "2.50" }
        const hash = Canonical.hashOf(plan)

        const refused = yield* s.raw("/api/v1/builds", H.json("POST", bookkeeper, body))
        H.expectError(refused, 409, "approval_required")
        expect(refused.json.error.details).toMatchObject({ job_name: "my_job", plan_hash: hash, subject: "my_job" })

        // the runbook's curl, as written (no X-Tenant: the token's tenant)
        const granted = yield* s.raw(
          "/api/v1/approvals",
          H.json("POST", admin, { job_name: "my_job", plan_hash: hash, approver: "alice", notes: "reviewed" })
        )
        expect(granted.status).toBe(200)
        expect(granted.json).toMatchObject({
          subject: "my_job",
          plan_hash: hash,
          approved: true,
          approver_name: "alice"
        })
        const status = yield* s.raw(`/api/v1/approvals/my_job/${hash}`, { headers: H.auth(admin) })
        expect(status.json).toMatchObject({ status: "approved" })
        H.expectError(
          yield* s.raw("/api/v1/approvals", H.json("POST", admin, { plan_hash: hash })),
          400,
          "validation.approval_subject"
        )

        const accepted = yield* s.raw("/api/v1/builds", H.json("POST", bookkeeper, body))
        expect(accepted.status).toBe(202)
        expect(accepted.json).toMatchObject({ status: "QUEUED", plan_hash: hash })
        const runId = accepted.json.run_id as string
        const [queued] = yield* sql`SELECT status, tenant_id FROM ops_executions WHERE run_id = ${runId}`
        expect(queued).toMatchObject({ status: "QUEUED", tenant_id: "default" })

        yield* executions.processAvailable(5)
        yield* executions.awaitTriage
        const failed = yield* s.raw(`/api/v1/executions/${runId}`, { headers: H.auth(viewer) })
        expect(failed.json).toMatchObject({
          run_id: runId,
          status: "FAILED",
          attempts: 1,
          retry_count: 0,
          error: plan.fail,
          estimated_cost_usd: "2.50",
          log_tail: ["starting"]
        })
        const triage = yield* s.raw("/api/v1/triage/failure/my_job", { headers: H.auth(admin) })
        expect(triage.status).toBe(200)
        expect(triage.json.latest).toMatchObject({ run_id: runId, category: "input", evidence: [plan.fail] })
        expect(triage.json.history).toHaveLength(1)
        // read back from agent memory: the report names its memory item
        const [item] = yield* sql`SELECT uid FROM core_memory_items WHERE source_ref = ${`execution:${runId}`}`
        expect(typeof item?.uid).toBe("string")
        expect(triage.json.latest.memory_uid).toBe(item!.uid)
        expect(triage.json.history[0].memory_uid).toBe(item!.uid)
        const list = yield* s.raw("/api/v1/executions?job_name=my_job&status=FAILED", { headers: H.auth(viewer) })
        expect(list.json.executions.map((e: any) => e.run_id)).toStrictEqual([runId])
        // triaged_at is an ISO 8601 time like every time of the API: the report's, and its copy on the execution
        const [stored] = yield* sql`SELECT triage FROM ops_executions WHERE run_id = ${runId}`
        const triagedAt = JSON.parse(String(stored!.triage)).triaged_at as number
        expect(typeof triagedAt).toBe("number")
        expect(triage.json.latest.triaged_at).toBe(new Date(triagedAt).toISOString())
        expect(triage.json.history[0].triaged_at).toBe(new Date(triagedAt).toISOString())
        expect(failed.json.triage).toMatchObject({
          run_id: runId,
          category: "input",
          triaged_at: triage.json.latest.triaged_at
        })

        // the runbook's retry curl: no body, no preflight, retry_count in the answer
        const retried = yield* s.raw(`/api/v1/executions/${runId}/retry`, { method: "POST", headers: H.auth(admin) })
        expect(retried.status).toBe(200)
        expect(retried.json).toMatchObject({ status: "QUEUED", retry_count: 1 })
        H.expectError(
          yield* s.raw(`/api/v1/executions/${runId}/retry`, { method: "POST", headers: H.auth(admin) }),
          409,
          "exec.not_retryable"
        )
        const [row] = yield* sql`SELECT status, retry_count FROM ops_executions WHERE run_id = ${runId}`
        expect(row).toMatchObject({ status: "QUEUED" })
        expect(Number(row!.retry_count)).toBe(1)
        H.expectError(
          yield* s.raw(`/api/v1/executions/${runId}/retry`, { method: "POST", headers: H.auth(viewer) }),
          403,
          "rbac.forbidden"
        )
        const canceled = yield* s.raw(`/api/v1/executions/${runId}/cancel`, { method: "POST", headers: H.auth(admin) })
        expect(canceled.json.status).toBe("CANCELED")

        // the runbook's reconcile curl
        const reconciled = yield* s.raw("/api/v1/executions/reconcile?stale_after_seconds=300", {
          method: "POST",
          headers: H.auth(admin)
        })
        expect(reconciled.status).toBe(200)
        expect(reconciled.json).toMatchObject({ stale_after_seconds: 300, count: 0 })
        H.expectError(
          yield* s.raw("/api/v1/executions/reconcile?stale_after_seconds=300", {
            method: "POST",
            headers: H.auth(bookkeeper)
          }),
          403,
          "rbac.forbidden"
        )
        H.expectError(yield* s.raw("/api/v1/executions/run_nope", { headers: H.auth(admin) }), 404, "not_found")
      }))

    it.effect("on-demand reconcile is scoped to the acting tenant and audited as the caller", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const executions = yield* Executions.Executions
        yield* Effect.flatMap(JobRunner.JobRunners, (r) => r.register("hangs_scoped", () => Effect.never))
        const accepted = yield* s.raw(
          "/api/v1/builds",
          H.json("POST", H.tokens.bookkeeper, { job_name: "hangs_scoped", plan: { hang: true } })
        )
        expect(accepted.status).toBe(202)
        const runId = accepted.json.run_id as string
        const running = yield* Effect.fork(executions.processAvailable(1, "inst-scoped"))
        for (let i = 0; i < 100; i++) {
          const [r] = yield* sql`SELECT status FROM ops_executions WHERE run_id = ${runId}`
          if (r?.status === "RUNNING") break
          yield* Effect.sleep("20 millis")
        }
        // its last heartbeat ten minutes ago: stale for a 300 s reconcile
        yield* sql`UPDATE ops_executions SET heartbeat_at = heartbeat_at - 600000, started_at = started_at - 600000
                   WHERE run_id = ${runId}`
        const reconcile = (token: string, headers: Record<string, string> = {}) =>
          s.raw("/api/v1/executions/reconcile?stale_after_seconds=300", {
            method: "POST",
            headers: H.auth(token, headers)
          })
        // an OWNER of acme (ops.write there) cannot fail default's execution, nor name default
        const foreign = yield* reconcile(H.tokens.acmeOwner)
        expect(foreign.status).toBe(200)
        expect(foreign.json).toMatchObject({ count: 0, reconciled: [] })
        expect((yield* reconcile(H.tokens.acmeOwner, { "x-tenant": "default" })).status).toBe(403)
        const [still] = yield* sql`SELECT status FROM ops_executions WHERE run_id = ${runId}`
        expect(still).toMatchObject({ status: "RUNNING" })
        // an admin with tenant.cross acts on the X-Tenant tenant, as elsewhere; audited as the admin
        const done = yield* reconcile(H.tokens.acmeAdmin, { "x-tenant": "default" })
        expect(done.json).toMatchObject({ count: 1, reconciled: [runId] })
        const [failed] = yield* sql`SELECT status, failure_reason FROM ops_executions WHERE run_id = ${runId}`
        expect(failed).toMatchObject({ status: "FAILED", failure_reason: "stale" })
        const audit = yield* sql`SELECT tenant_id, actor_id FROM core_audit
                                 WHERE action = 'execution.reconciled' AND subject = ${runId}`
        expect(audit).toStrictEqual([{ tenant_id: "default", actor_id: "acme_admin" }])
        expect(yield* Fiber.join(running)).toStrictEqual([null])
        yield* executions.awaitTriage
      }))

    it.effect("a build's job_name and cost text have stated maximums, at the edge and in the domain", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql`SELECT COUNT(*) AS n FROM ops_executions`
        const longCost = "1" + " ".repeat(64)
        const longJob = "j".repeat(201)
        for (
          const body of [{ job_name: "bounded", plan: {}, estimated_cost_usd: longCost }, {
            job_name: longJob,
            plan: {}
          }]
        ) {
          H.expectError(
            yield* s.raw("/api/v1/builds", H.json("POST", H.tokens.bookkeeper, body)),
            400,
            "validation.schema"
          )
        }
        // the domain schema refuses them too (a host calling Executions directly)
        expect(
          Schema.decodeUnknownEither(Executions.BuildRequest)({ job_name: "b", plan: {}, estimated_cost_usd: longCost })
            ._tag
        )
          .toBe("Left")
        expect(Schema.decodeUnknownEither(Executions.BuildRequest)({ job_name: longJob, plan: {} })._tag).toBe("Left")
        expect(
          Schema.decodeUnknownEither(Executions.BuildRequest)({
            job_name: "b",
            plan: {},
            estimated_cost_usd: "1" + " ".repeat(63)
          })._tag
        ).toBe("Right")
        const [after] = yield* sql`SELECT COUNT(*) AS n FROM ops_executions`
        expect(Number(after?.n)).toBe(Number(before?.n))
      }))

    it.effect("run controls: start/pause/resume/stop with the operator's name; status and metrics", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const { admin, owner } = H.tokens
        const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
          s.raw(path, H.json("POST", admin, body, headers))

        const started = yield* post("/api/admin/control/run/start", { run_id: "dev-1", reason: "smoke" }, {
          "x-actor-name": "Alice Ops"
        })
        expect(started.status).toBe(200)
        expect(started.json).toMatchObject({ phase: "running", active: true, paused: false, run_id: "dev-1" })
        expect(started.json.started_by_name).toBe("Alice Ops")
        H.expectError(yield* post("/api/admin/control/run/start", {}), 409, "run.already_active")
        H.expectError(
          yield* s.raw("/api/admin/control/run/start", H.json("POST", owner, {})),
          403,
          "rbac.forbidden"
        )

        const status = yield* s.raw("/api/admin/status", { headers: H.auth(admin) })
        expect(status.json).toMatchObject({
          environment_banner: "DEVELOPMENT",
          admin_write_enabled: true,
          run: { phase: "running", run_id: "dev-1" }
        })
        expect(status.json.overrides.map((o: any) => o.key)).toEqual(
          expect.arrayContaining(["run.active", "run.paused"])
        )

        expect((yield* post("/api/admin/control/run/pause", { actor_name: "Bob" })).json.phase).toBe("paused")
        H.expectError(yield* post("/api/admin/control/run/pause", {}), 409, "run.already_paused")
        expect((yield* post("/api/admin/control/run/resume", {})).json.phase).toBe("running")
        const metrics = yield* s.raw("/api/admin/metrics/run", { headers: H.auth(admin) })
        expect(metrics.json).toMatchObject({ run_id: "dev-1", phase: "running", total_actions: 0, by_kind: {} })
        const stopped = yield* post("/api/admin/control/run/stop", { reason: "done" })
        expect(stopped.json).toMatchObject({ phase: "idle", active: false, paused: true })
        H.expectError(yield* post("/api/admin/control/run/stop", {}), 409, "run.not_started")

        const audit =
          yield* sql`SELECT action, actor_id, data FROM core_audit WHERE action LIKE 'ops.run.%' ORDER BY seq`
        expect(audit.map((r) => r.action)).toStrictEqual([
          "ops.run.started",
          "ops.run.paused",
          "ops.run.resumed",
          "ops.run.stopped"
        ])
        expect(JSON.parse(String(audit[0]!.data))).toMatchObject({ operator_name: "Alice Ops", token_actor: "admin" })
        expect(JSON.parse(String(audit[1]!.data))).toMatchObject({ operator_name: "Bob" })
        const [run] = yield* sql`SELECT ended_at, ended_by FROM ops_runs WHERE run_id = 'dev-1'`
        expect(run).toMatchObject({ ended_by: "admin" })
      }))
  })

const metricsSuite = (storage: H.Storage) =>
  layer(H.layer({ storage }), { excludeTestServices: true })(`run metrics over HTTP: ${storage}`, (it) => {
    it.effect("the runbook's Run Metrics: builds and their executions count by kind while the run runs", () =>
      Effect.gen(function*() {
        yield* registerRunner
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const executions = yield* Executions.Executions
        const { admin, bookkeeper } = H.tokens
        const command = (name: string) =>
          s.raw(`/api/admin/control/run/${name}`, { method: "POST", headers: H.auth(admin) })
        const metrics = Effect.map(s.raw("/api/admin/metrics/run", { headers: H.auth(admin) }), (r) => r.json)
        const build = (job: string, plan: unknown) =>
          Effect.zipRight(
            s.raw("/api/v1/builds", H.json("POST", bookkeeper, { job_name: job, plan })),
            Effect.zipRight(executions.processAvailable(5), executions.awaitTriage)
          )

        // before any run: nothing counted
        yield* build("before", {})
        expect(Number((yield* sql`SELECT COUNT(*) AS n FROM ops_run_counters`)[0]!.n)).toBe(0)

        // the console's Start Test Run (no body), then activity
        const started = yield* command("start")
        expect(started.json).toMatchObject({ phase: "running" })
        const runId = started.json.run_id as string
        yield* build("nightly", {})
        yield* build("nightly", { n: 2 })
        yield* build("broken", { fail: "connect ECONNREFUSED 10.0.0.7:5432" })
        expect(yield* metrics).toMatchObject({
          run_id: runId,
          phase: "running",
          total_actions: 6,
          by_kind: { "ops.build": 3, "ops.execution": 3 }
        })
        const rows = yield* sql`SELECT kind, count FROM ops_run_counters WHERE run_id = ${runId} ORDER BY kind`
        expect(rows.map((r) => [r.kind, Number(r.count)])).toStrictEqual([["ops.build", 3], ["ops.execution", 3]])

        // paused: activity is not counted
        yield* command("pause")
        yield* build("nightly", { n: 3 })
        expect((yield* metrics).total_actions).toBe(6)
        yield* command("resume")

        // stopped: the last run's figures stay; a new run starts at 0
        yield* command("stop")
        yield* build("nightly", { n: 4 })
        expect(yield* metrics).toMatchObject({ run_id: runId, phase: "idle", total_actions: 6 })
        const next = yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, { run_id: "second" }))
        expect(next.json).toMatchObject({ run_id: "second" })
        expect(yield* metrics).toMatchObject({ run_id: "second", total_actions: 0, by_kind: {} })
        yield* build("nightly", { n: 5 })
        expect((yield* metrics).by_kind).toStrictEqual({ "ops.build": 1, "ops.execution": 1 })
        yield* command("stop")
      }))
  })

describe("run metrics over HTTP", () => {
  metricsSuite("sqlite")
})

describe("executions and run controls over HTTP", () => {
  suite("sqlite")
  if (H.pgEnabled()) suite("postgres")
})

layer(H.layer({ http: { environment: "production", adminWriteEnabled: false } }), { excludeTestServices: true })(
  "run controls with admin writes disabled (production)",
  (it) => {
    it.effect("every write answers 403 admin.write_disabled and changes nothing; status says PRODUCTION", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        for (const command of ["start", "stop", "pause", "resume", "reset"]) {
          H.expectError(
            yield* s.raw(`/api/admin/control/run/${command}`, H.json("POST", H.tokens.admin, {})),
            403,
            "admin.write_disabled"
          )
        }
        const [count] = yield* sql`SELECT COUNT(*) AS n FROM ops_runs`
        expect(Number(count!.n)).toBe(0)
        const [state] = yield* sql`SELECT COUNT(*) AS n FROM core_system_state WHERE key LIKE 'run.%'`
        expect(Number(state!.n)).toBe(0)
        const status = yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin) })
        expect(status.json).toMatchObject({
          environment_banner: "PRODUCTION",
          admin_write_enabled: false,
          run: { phase: "idle" }
        })
        expect((yield* s.raw("/api/admin/metrics/run", { headers: H.auth(H.tokens.admin) })).status).toBe(200)
      }))
  }
)

layer(H.layer({ executions: { runResetEnabled: false } }), { excludeTestServices: true })(
  "run controls with reset disabled; stop events in the status",
  (it) => {
    it.effect("reset and start with reset answer 403 run.reset_disabled and write nothing; a plain start works", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const { admin } = H.tokens
        const written = Effect.map(
          sql`SELECT
                (SELECT COUNT(*) FROM ops_runs) AS runs,
                (SELECT COUNT(*) FROM core_system_state WHERE key LIKE 'run.%') AS state,
                (SELECT COUNT(*) FROM core_audit WHERE action LIKE 'ops.run.%') AS audit`,
          (rows) => [Number(rows[0]!.runs), Number(rows[0]!.state), Number(rows[0]!.audit)]
        )
        const before = yield* written
        H.expectError(
          yield* s.raw("/api/admin/control/run/reset", H.json("POST", admin, {})),
          403,
          "run.reset_disabled"
        )
        H.expectError(
          yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, { run_id: "r-reset", reset: true })),
          403,
          "run.reset_disabled"
        )
        expect(yield* written).toStrictEqual(before)
        const started = yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, { run_id: "r-plain" }))
        expect(started.json).toMatchObject({ phase: "running", run_id: "r-plain" })
      }))

    it.effect("GET /api/admin/status lists the stop event of a tripped stop condition, newest first", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin } = H.tokens
        const status = () => Effect.map(s.raw("/api/admin/status", { headers: H.auth(admin) }), (r) => r.json)
        expect((yield* status()).stop_events).toStrictEqual([])
        // the run r-plain is open (previous test): a stop condition pauses it and records the event
        expect(yield* (yield* StopConditions.StopConditions).trip("db_pool_pressure", { samples: 3 })).toBe(true)
        const after = yield* status()
        expect(after.run).toMatchObject({ phase: "paused", run_id: "r-plain", stop: { reason: "db_pool_pressure" } })
        expect(after.stop_events).toHaveLength(1)
        expect(after.stop_events[0]).toMatchObject({
          type: StopConditions.STOP_EVENT,
          reason: "db_pool_pressure",
          data: { samples: 3 }
        })
        expect(after.stop_events[0].at).toMatch(/Z$/)
        expect(after.overrides.map((o: any) => o.key)).toContain(StopConditions.STOP_KEY)
        const resumed = yield* s.raw("/api/admin/control/run/resume", H.json("POST", admin, {}))
        expect(resumed.json).toMatchObject({ phase: "running", stop: null })
        // the event stays listed after the resume
        expect((yield* status()).stop_events).toHaveLength(1)
        yield* s.raw("/api/admin/control/run/stop", H.json("POST", admin, {}))
      }))
  }
)

layer(H.layer(), { excludeTestServices: true })("run reset without a host hook", (it) => {
  it.effect("reset answers the run and reseeded: false (the harness provides no RunHooks)", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const reset = yield* s.raw("/api/admin/control/run/reset", H.json("POST", H.tokens.admin, { actor_name: "Rita" }))
      expect(reset.status).toBe(200)
      expect(reset.json).toMatchObject({
        phase: "idle",
        reseeded: false,
        message: "Run state reset (no reseed hook)"
      })
    }))
})

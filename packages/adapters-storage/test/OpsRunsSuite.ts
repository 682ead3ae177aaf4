/**
 * The conformance suite for ops' run-control and execution ports (`RunStore`,
 * `ExecutionStore`). Every adapter runs it unchanged: the ports directly (one open run, CAS,
 * listing, the exactly-once claim) and the services over them (run-control transitions, builds
 * through preflight, runners, retry, cancel, stale reconcile, triage), checking persisted state
 * through the raw {@link OpsProbe}. The run is global: each run test leaves it stopped.
 */
import { Audit, Canonical, type CorePorts, type Errors, GovernedActions, Ids, Tenants } from "@airlock/core"
import { Approvals, Budgets, type GuardrailsPorts, StopConditions, Windows } from "@airlock/guardrails"
import {
  Executions,
  ExecutionsConfig,
  ExecutionStore,
  JobRunner,
  RunControl,
  type RunStore,
  WorkerLoop
} from "@airlock/ops"
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { GuardProbe } from "./support/GuardProbe.js"
import { environment } from "./support/OpsEnv.js"
import { OpsProbe } from "./support/OpsProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

const fixture = (id: string) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}` })
    const add = (name: string, role: string) => tenants.addActor({ tenant_id: tenant.id, kind: "user", name, role })
    return {
      tenant,
      admin: yield* add("Ada", "ADMIN"),
      controller: yield* add("Cleo", "CONTROLLER"),
      bookkeeper: yield* add("Bea", "BOOKKEEPER"),
      viewer: yield* add("Vic", "VIEWER")
    }
  })

const failureCode = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit)
    ? (Option.getOrNull(Exit.causeOption(exit) as any) as any)?.error?.code ?? String(exit.cause)
    : "ok"

const codeOf = <A, E extends { readonly code: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(self), (e) => e.code)

/**
 * Advances the TestClock in steps, letting real I/O (a PostgreSQL round trip) finish after each,
 * so a fiber that sleeps again after a query is woken by the next step (one `adjust` over the
 * whole span would run only the sleeps registered before it).
 */
const advance = (seconds: number, step = 1) =>
  Effect.gen(function*() {
    for (let t = 0; t < seconds; t += step) {
      yield* TestClock.adjust(`${Math.min(step, seconds - t)} seconds`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 15)))
    }
  })

const execution = (over: Partial<ExecutionStore.ExecutionRecord> & { run_id: string; tenant_id: string }) =>
  new ExecutionStore.ExecutionRecord({
    job_name: "job",
    plan: { steps: [1, 2] },
    plan_hash: "h",
    risk_score: 0.1,
    estimated_cost_usd: 1_500_000n,
    actual_cost_usd: 0n,
    status: "QUEUED",
    attempts: 0,
    retry_count: 0,
    requested_by: "act_x",
    action_id: null,
    claimed_by: null,
    queued_at: 1_000,
    started_at: null,
    heartbeat_at: null,
    finished_at: null,
    progress: null,
    progress_message: null,
    error: null,
    failure_reason: null,
    log_tail: [],
    triage: null,
    version: 1,
    ...over
  })

/** The host's reset + reseed hook, counted: the operator names it ran for, in order (one suite per test file). */
const resets: Array<string> = []
const countingHooks = Layer.succeed(RunControl.RunHooks, {
  resetWorld: (operator) => Effect.sync(() => void resets.push(operator.name ?? operator.actor.id))
})

/** The ops environment with the counting host hooks. */
const withHooks = <E>(ports: Layer.Layer<any, E>) =>
  environment(ports, { triageModel: null }).pipe(Layer.provideMerge(countingHooks))

/** Runs the suite over an adapter's ports (and its probes). */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<
    | CorePorts.CorePorts
    | GuardrailsPorts.GuardrailsPorts
    | RunStore.RunStore
    | ExecutionStore.ExecutionStore
    | OpsProbe
    | GuardProbe,
    E
  >,
  capabilities: Capabilities
) =>
  layer(withHooks(ports), { timeout: 120_000 })(`ops runs conformance: ${name}`, (it) => {
    it.effect("run controls: every transition, the refused ones with their codes, counters and audit", () =>
      Effect.gen(function*() {
        const { admin, tenant, viewer } = yield* fixture("runs")
        const control = yield* RunControl.RunControl
        const probe = yield* OpsProbe
        const guard = yield* GuardProbe
        const op = { actor: admin, tenant: tenant.id, name: "alice" }

        expect((yield* control.view).phase).toBe("idle")
        expect(yield* codeOf(control.stop(op))).toBe("run.not_started")
        expect(yield* codeOf(control.pause(op))).toBe("run.not_started")
        expect(yield* codeOf(control.resume(op))).toBe("run.not_started")

        const started = yield* control.start(op, { run_id: "r-1", reason: "smoke" })
        expect(started).toMatchObject({ phase: "running", active: true, paused: false, run_id: "r-1", reason: "smoke" })
        expect(started.started_by_name).toBe("alice")
        expect(yield* probe.run("r-1")).toMatchObject({ open: true, ended_at: null })
        expect(yield* guard.systemState(StopConditions.RUN_ACTIVE_KEY)).toBe(true)
        expect(yield* guard.systemState(StopConditions.RUN_PAUSED_KEY)).toBe(false)
        expect(yield* codeOf(control.start(op, { run_id: "r-2" }))).toBe("run.already_active")
        expect(yield* codeOf(control.resume(op))).toBe("run.not_paused")
        expect(yield* codeOf(control.reset(op))).toBe("run.reset_while_active")

        expect((yield* control.pause(op)).phase).toBe("paused")
        expect(yield* guard.systemState(StopConditions.RUN_PAUSED_KEY)).toBe(true)
        expect(yield* codeOf(control.pause(op))).toBe("run.already_paused")
        expect((yield* control.resume(op)).phase).toBe("running")

        yield* control.recordAction("proposal", 2)
        yield* control.recordAction("vote")
        yield* control.recordAction("proposal")
        const metrics = yield* control.metrics(viewer)
        expect(metrics).toMatchObject({ run_id: "r-1", total_actions: 4, by_kind: { proposal: 3, vote: 1 } })
        expect(yield* probe.counter("r-1", "proposal")).toBe(3)

        // a viewer may read but not write; nothing changes
        expect(yield* codeOf(control.stop({ actor: viewer, tenant: tenant.id }))).toBe("rbac.forbidden")
        expect(yield* probe.run("r-1")).toMatchObject({ open: true })

        const stopped = yield* control.stop(op, "done")
        expect(stopped).toMatchObject({ phase: "idle", active: false, paused: true, run_id: null })
        expect(yield* probe.run("r-1")).toMatchObject({ open: false, version: 2 })
        expect(yield* guard.systemState(StopConditions.RUN_ACTIVE_KEY)).toBe(false)
        expect(yield* codeOf(control.start(op, { run_id: "r-1" }))).toBe("conflict.duplicate")
        expect(yield* codeOf(control.start(op, { run_id: "bad id!" }))).toBe("validation.run_id")

        expect((yield* control.reset(op)).phase).toBe("idle")
        // a reset clears the paused flag; the run stays idle until started
        expect(yield* guard.systemState(StopConditions.RUN_PAUSED_KEY)).toBe(false)

        const records = (yield* (yield* Audit.AuditLog).list(tenant.id)).filter((r) => r.action.startsWith("ops."))
        expect(records.map((r) => r.action)).toStrictEqual([
          "ops.run.started",
          "ops.run.paused",
          "ops.run.resumed",
          "ops.run.stopped",
          "ops.run.reset"
        ])
        expect(records[0]!.data).toMatchObject({ run_id: "r-1", operator_name: "alice", token_actor: admin.id })
        expect(records[0]!.actor_id).toBe(admin.id)
      }))

    it.effect("run controls: a tripped stop condition pauses the run; resume restarts it", () =>
      Effect.gen(function*() {
        const { admin, tenant } = yield* fixture("runs-stop")
        const control = yield* RunControl.RunControl
        const stops = yield* StopConditions.StopConditions
        const op = { actor: admin, tenant: tenant.id }
        yield* control.start(op, { run_id: "r-stop" })
        expect(yield* stops.trip("db_pool_pressure", { samples: 3 })).toBe(true)
        const paused = yield* control.view
        expect(paused).toMatchObject({ phase: "paused", run_id: "r-stop", stop: { reason: "db_pool_pressure" } })
        const status = yield* control.status(admin)
        expect(status.stop_events.map((e) => e.type)).toContain(StopConditions.STOP_EVENT)
        expect(status.overrides.map((o) => o.key)).toContain(StopConditions.STOP_KEY)
        const resumed = yield* control.resume(op)
        expect(resumed).toMatchObject({ phase: "running", stop: null })
        yield* control.stop(op)
      }))

    it.effect("run controls: concurrent starts open exactly one run", () =>
      Effect.gen(function*() {
        const { admin, tenant } = yield* fixture("runs-race")
        const control = yield* RunControl.RunControl
        const exits = yield* Effect.all(
          Array.from(
            { length: 6 },
            (_, i) => Effect.exit(control.start({ actor: admin, tenant: tenant.id }, { run_id: `race-${i}` }))
          ),
          { concurrency: capabilities.parallelConnections ? "unbounded" : 1 }
        )
        expect(exits.filter(Exit.isSuccess).length).toBe(1)
        expect(exits.filter(Exit.isFailure).map(failureCode)).toStrictEqual(Array(5).fill("run.already_active"))
        yield* control.stop({ actor: admin, tenant: tenant.id })
      }))

    it.effect("run metrics: applied actions and finished executions count by kind while running, not otherwise", () =>
      Effect.gen(function*() {
        const { admin, bookkeeper, tenant, viewer } = yield* fixture("runs-metrics")
        const control = yield* RunControl.RunControl
        const executions = yield* Executions.Executions
        const pipeline = yield* GovernedActions.GovernedActions
        const stops = yield* StopConditions.StopConditions
        const probe = yield* OpsProbe
        const op = { actor: admin, tenant: tenant.id }
        const note = (n: number) => ({ job_name: `n${n}`, plan: "p", risk_score: 0, estimated_cost_usd: "0" })
        const applyOne = (n: number) =>
          Effect.flatMap(
            pipeline.propose({ tenant_id: tenant.id, actor: bookkeeper, kind: "g.undeclared", payload: note(n) }),
            (p) => pipeline.apply(tenant.id, p.action.id, bookkeeper)
          )
        const build = (plan: unknown) =>
          Effect.zipRight(
            executions.submit(bookkeeper, tenant.id, { job_name: "metered", plan }),
            executions.processAvailable(10)
          )

        // the last run (shown while idle) is the newest start: later than the other tests' runs
        yield* TestClock.adjust("1 hour")
        // no open run: nothing is counted anywhere
        yield* applyOne(0)
        yield* build({ do: "succeed" })
        expect(yield* probe.counter("m-1", "g.undeclared")).toBeNull()

        yield* control.start(op, { run_id: "m-1" })
        expect(yield* control.metrics(viewer)).toMatchObject({ run_id: "m-1", total_actions: 0, by_kind: {} })
        const first = yield* applyOne(1)
        yield* applyOne(2)
        // applying again finds the work done: not a second action; a rejected proposal is not applied
        yield* pipeline.apply(tenant.id, first.action.id, bookkeeper)
        const rejected = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: bookkeeper,
          kind: "g.undeclared",
          payload: note(3)
        })
        yield* pipeline.reject(tenant.id, rejected.action.id, admin, "no")
        // a build is an applied `ops.build`; its execution, run to its end (succeeded or failed), an `ops.execution`
        yield* build({ do: "succeed" })
        yield* build({ do: "fail", error: "boom" })
        yield* executions.awaitTriage
        const running = { "g.undeclared": 2, "ops.build": 2, "ops.execution": 2 }
        expect(yield* control.metrics(viewer)).toMatchObject({
          run_id: "m-1",
          phase: "running",
          total_actions: 6,
          by_kind: running
        })
        expect(yield* probe.counter("m-1", "g.undeclared")).toBe(2)
        expect(yield* probe.counter("m-1", "ops.execution")).toBe(2)

        // paused by an operator, then by a stop condition: nothing counts
        yield* control.pause(op)
        yield* applyOne(4)
        yield* build({ do: "succeed" })
        yield* control.resume(op)
        yield* stops.trip("db_pool_pressure", { samples: 3 })
        yield* applyOne(5)
        expect((yield* control.metrics(viewer)).by_kind).toStrictEqual(running)
        yield* control.resume(op)
        yield* applyOne(6)
        expect((yield* control.metrics(viewer)).by_kind).toStrictEqual({ ...running, "g.undeclared": 3 })

        // stopped: the last run's counters stay readable and grow no more; a new run starts at 0
        yield* control.stop(op)
        yield* applyOne(7)
        expect(yield* control.metrics(viewer)).toMatchObject({ run_id: "m-1", phase: "idle", total_actions: 7 })
        yield* TestClock.adjust("1 minute")
        yield* control.start(op, { run_id: "m-2" })
        expect(yield* control.metrics(viewer)).toMatchObject({ run_id: "m-2", total_actions: 0, by_kind: {} })
        yield* applyOne(8)
        expect((yield* control.metrics(viewer)).by_kind).toStrictEqual({ "g.undeclared": 1 })
        expect(yield* probe.counter("m-1", "g.undeclared")).toBe(3)
        yield* control.stop(op)
      }))

    it.effect("executions store: insert, tenant scope, duplicate, compare-and-set, listing with cursor", () =>
      Effect.gen(function*() {
        const store = yield* ExecutionStore.ExecutionStore
        const probe = yield* OpsProbe
        // never QUEUED: the later tests' workers must not pick these up
        const a = execution({ run_id: "run_s1", tenant_id: "sa", job_name: "etl", status: "CANCELED" })
        yield* store.insert(a)
        yield* store.insert(execution({ run_id: "run_s2", tenant_id: "sa", job_name: "etl", status: "FAILED" }))
        yield* store.insert(execution({ run_id: "run_s3", tenant_id: "sa", job_name: "load", status: "SUCCEEDED" }))
        yield* store.insert(execution({ run_id: "run_s4", tenant_id: "sb", job_name: "etl", status: "SUCCEEDED" }))
        expect(yield* codeOf(store.insert(a))).toBe("conflict.duplicate")
        const got = yield* store.get("sa", "run_s1")
        expect(Option.getOrThrow(got)).toStrictEqual(a)
        expect(Option.isNone(yield* store.get("sb", "run_s1"))).toBe(true)
        expect(Option.isSome(yield* store.getById("run_s4"))).toBe(true)
        const next = new ExecutionStore.ExecutionRecord({ ...a, error: "x", actual_cost_usd: 123n, version: 2 })
        expect(yield* store.update(next, 1)).toBe(true)
        expect(yield* store.update(next, 1)).toBe(false)
        expect(yield* probe.execution("run_s1")).toMatchObject({ version: 2, actual_cost_usd: "123" })
        const etl = yield* store.list("sa", { job_name: "etl", limit: 10 })
        expect(etl.map((r) => r.run_id)).toStrictEqual(["run_s2", "run_s1"])
        const failed = yield* store.list("sa", { status: "FAILED", limit: 10 })
        expect(failed.map((r) => r.run_id)).toStrictEqual(["run_s2"])
        const page1 = yield* store.list("sa", { limit: 2 })
        const page2 = yield* store.list("sa", { limit: 2, before: page1[1]!.run_id })
        expect([...page1, ...page2].map((r) => r.run_id)).toStrictEqual(["run_s3", "run_s2", "run_s1"])
      }))

    it.effect("executions store: a claim takes the oldest queued; concurrent claimers get each execution once", () =>
      Effect.gen(function*() {
        const store = yield* ExecutionStore.ExecutionStore
        const probe = yield* OpsProbe
        const before = yield* probe.countStatus("RUNNING")
        for (let i = 0; i < 30; i++) {
          yield* store.insert(
            execution({ run_id: `run_c${String(i).padStart(2, "0")}`, tenant_id: "sc", queued_at: 10_000 + i })
          )
        }
        const first = yield* store.claim("inst-a", 20_000, 2)
        expect(first.map((r) => r.run_id)).toStrictEqual(["run_c00", "run_c01"])
        expect(first[0]).toMatchObject({ status: "RUNNING", claimed_by: "inst-a", attempts: 1, heartbeat_at: 20_000 })
        const claimer = (name: string) =>
          Effect.gen(function*() {
            const mine: Array<string> = []
            while (true) {
              const got = yield* store.claim(name, 20_001, 3)
              if (got.length === 0) return mine
              mine.push(...got.map((r) => r.run_id))
            }
          })
        const all = yield* Effect.all(["b", "c", "d", "e", "f", "g"].map(claimer), {
          concurrency: capabilities.parallelConnections ? "unbounded" : 1
        })
        const claimed = all.flat()
        expect(claimed.length).toBe(28)
        expect(new Set(claimed).size).toBe(28)
        expect((yield* probe.countStatus("RUNNING")) - before).toBe(30)
        expect(yield* probe.execution("run_c05")).toMatchObject({ status: "RUNNING", attempts: 1 })
        const stale = yield* store.stale(20_001, 100)
        expect(stale.map((r) => r.run_id)).toStrictEqual(["run_c00", "run_c01"])
        // finish them, so the reconcile test finds only its own
        for (const id of [...first.map((r) => r.run_id), ...claimed]) {
          const r = Option.getOrThrow(yield* store.getById(id))
          yield* store.update(
            new ExecutionStore.ExecutionRecord({ ...r, status: "SUCCEEDED", version: r.version + 1 }),
            r.version
          )
        }
      }))

    it.effect("builds: preflight refusals (approval with job name and plan hash, budget), then queued, run and billed", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 3, 10))
        const { admin, bookkeeper, controller, tenant } = yield* fixture("builds")
        const executions = yield* Executions.Executions
        const probe = yield* OpsProbe
        const guard = yield* GuardProbe
        const plan = { do: "succeed", log: ["loading"], cost_micros: "250000" }
        const risky = { job_name: "nightly", plan, risk_score: 0.9, estimated_cost_usd: "1.50" }

        const refused = yield* Effect.flip(executions.submit(bookkeeper, tenant.id, risky))
        expect(refused).toMatchObject({ _tag: "ApprovalRequired", code: "approval_required", subject: "nightly" })
        expect((refused as Errors.ApprovalRequired).plan_hash).toBe(Canonical.hashOf(plan))
        expect((refused as Errors.ApprovalRequired).details).toMatchObject({ job_name: "nightly", threshold: 0.7 })
        expect((yield* executions.list(admin, tenant.id, {})).executions).toHaveLength(0)

        // the runbook's approval: subject = job name, the plan's hash; the same plan then passes
        yield* (yield* Approvals.Approvals).grant(controller, { subject: "nightly", plan_hash: Canonical.hashOf(plan) })
        const queued = yield* executions.submit(bookkeeper, tenant.id, risky)
        expect(queued).toMatchObject({ status: "QUEUED", plan_hash: Canonical.hashOf(plan) })
        expect(yield* probe.execution(queued.run_id)).toMatchObject({ status: "QUEUED", attempts: 0 })
        // a changed plan needs a new approval
        expect(yield* codeOf(executions.submit(bookkeeper, tenant.id, { ...risky, plan: { ...plan, v: 2 } }))).toBe(
          "approval_required"
        )

        const [done] = yield* executions.processAvailable(10)
        expect(done).toMatchObject({ run_id: queued.run_id, status: "SUCCEEDED", attempts: 1, progress: 1 })
        expect(yield* probe.execution(queued.run_id)).toMatchObject({ status: "SUCCEEDED", actual_cost_usd: "250000" })
        // actual cost in billing (ai_by_task[job], part of spent_usd); the estimate charged at preflight
        const month = Windows.monthKey(Windows.utcMillis(2031, 3, 10))
        expect(yield* guard.spend(`ai:${tenant.id}`, month, "nightly")).toBe("250000")
        const summary = yield* (yield* Budgets.ExecutionBudgets).summaryOf(tenant.id)
        expect(summary.ai_by_task).toStrictEqual({ nightly: 250_000n })
        expect(summary.exec_by_task).toStrictEqual({ nightly: 1_500_000n })

        // budget: spent_usd (1.75) below the limit admits even an estimate past it (the runbook's
        // `spent_usd >= limit_usd` rule); once the limit is reached, refused at preflight, nothing queued
        yield* (yield* Budgets.ExecutionBudgets).setBudget(admin, { limit_usd: 3_000_000n })
        yield* executions.submit(bookkeeper, tenant.id, {
          job_name: "last",
          plan: { do: "succeed" },
          estimated_cost_usd: "5"
        })
        expect((yield* executions.processAvailable(10)).map((e) => [e?.job_name, e?.status])).toStrictEqual([
          ["last", "SUCCEEDED"]
        ])
        expect((yield* (yield* Budgets.ExecutionBudgets).summaryOf(tenant.id)).budget_status).toBe("exceeded")
        const over = yield* Effect.flip(
          executions.submit(bookkeeper, tenant.id, {
            job_name: "big",
            plan: { do: "succeed" },
            estimated_cost_usd: "5"
          })
        )
        expect(over).toMatchObject({ _tag: "BudgetExceeded", code: "exec.budget.exceeded" })
        expect((yield* executions.list(admin, tenant.id, { job_name: "big" })).executions).toHaveLength(0)
        expect(yield* codeOf(executions.submit(bookkeeper, tenant.id, { job_name: "x y", plan: {} }))).toBe(
          "validation.schema"
        )
      }))

    it.effect("executions: a failure is triaged into memory; retry (FAILED/CANCELED only) and cancel", () =>
      Effect.gen(function*() {
        const { admin, bookkeeper, tenant } = yield* fixture("retry")
        const executions = yield* Executions.Executions
        const probe = yield* OpsProbe
        const plan = { do: "fail", error: "connect ECONNREFUSED 10.0.0.7:5432", log: ["connecting to warehouse"] }
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, { job_name: "sync", plan })
        const [failed] = yield* executions.processAvailable(10)
        expect(failed).toMatchObject({ status: "FAILED", failure_reason: "error", error: plan.error })
        yield* executions.awaitTriage
        const stored = yield* executions.get(admin, tenant.id, run_id)
        expect(stored.triage).toMatchObject({
          category: "dependency_unavailable",
          outage_class: "network_unreachable",
          evidence: [plan.error]
        })
        expect(yield* probe.execution(run_id)).toMatchObject({ triaged: true })

        expect(yield* codeOf(executions.cancel(bookkeeper, tenant.id, run_id))).toBe("exec.not_cancelable")
        const retried = yield* executions.retry(bookkeeper, tenant.id, run_id)
        expect(retried).toMatchObject({ status: "QUEUED", retry_count: 1, attempts: 1, error: null })
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "QUEUED", retry_count: 1 })
        expect(yield* codeOf(executions.retry(bookkeeper, tenant.id, run_id))).toBe("exec.not_retryable")
        const canceled = yield* executions.cancel(bookkeeper, tenant.id, run_id)
        expect(canceled.status).toBe("CANCELED")
        expect((yield* executions.retry(bookkeeper, tenant.id, run_id)).retry_count).toBe(2)
        const [again] = yield* executions.processAvailable(10)
        expect(again).toMatchObject({ status: "FAILED", attempts: 2, retry_count: 2 })
        expect(yield* codeOf(executions.retry(bookkeeper, T("other"), run_id))).toBe("tenant.mismatch")
      }))

    it.effect("reconcile: a RUNNING execution without heartbeats past stale_after_seconds fails as stale", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 4, 1))
        const { admin, bookkeeper, tenant } = yield* fixture("stale")
        const executions = yield* Executions.Executions
        const probe = yield* OpsProbe
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, { job_name: "hangs", plan: { do: "hang" } })
        const running = yield* Effect.fork(executions.processAvailable(1))
        yield* TestClock.adjust("1 second")
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING" })
        yield* TestClock.adjust("299 seconds")
        expect((yield* executions.reconcile(admin, tenant.id, 300)).reconciled).toStrictEqual([])
        yield* TestClock.adjust("2 seconds")
        expect((yield* executions.reconcile(admin, tenant.id, 300)).reconciled).toStrictEqual([run_id])
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "FAILED", failure_reason: "stale" })
        // the hung runner is interrupted and writes nothing over the reconcile
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(running)).toStrictEqual([null])
        yield* executions.awaitTriage
        expect((yield* executions.get(admin, tenant.id, run_id)).triage).toMatchObject({ category: "timeout" })
        expect(yield* codeOf(executions.reconcile(bookkeeper, tenant.id, 300))).toBe("rbac.forbidden")
      }))

    it.effect("claims are fenced by attempt: after reconcile, retry and a reclaim on the same instance the old runner stands down", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 4, 15))
        const { admin, bookkeeper, tenant } = yield* fixture("fence")
        const executions = yield* Executions.Executions
        const runners = yield* JobRunner.JobRunners
        const probe = yield* OpsProbe
        // each attempt waits for its gate; attempt 1 then writes (a heartbeat, progress) and succeeds
        const gates = new Map<number, Deferred.Deferred<void>>()
        for (const n of [1, 2, 3]) gates.set(n, yield* Deferred.make<void>())
        const staleWrites: Array<string> = []
        yield* runners.register("fenced", (ctx) =>
          Effect.gen(function*() {
            yield* Deferred.await(gates.get(ctx.execution.attempts)!)
            if (ctx.execution.attempts === 1) {
              const beat = yield* Effect.either(ctx.heartbeat)
              const progress = yield* Effect.either(ctx.progress(0.9, "written by a stale runner"))
              staleWrites.push(beat._tag, progress._tag)
            }
          }))
        const instance = "inst-fence"
        const reclaim = Effect.gen(function*() {
          yield* TestClock.adjust("301 seconds")
          // let the running attempt's watch finish the read it woke up for, before anything changes
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30)))
          const { reconciled } = yield* executions.reconcile(admin, tenant.id, 300)
          expect(reconciled.length).toBe(1)
          yield* executions.retry(bookkeeper, tenant.id, reconciled[0]!)
          return yield* Effect.fork(executions.processAvailable(1, instance))
        })
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, { job_name: "fenced", plan: {} })
        const first = yield* Effect.fork(executions.processAvailable(1, instance))
        yield* advance(1)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", attempts: 1, claimed_by: instance })
        // the stale scan, of one tenant (an on-demand reconcile) or of every tenant
        const store = yield* ExecutionStore.ExecutionStore
        const late = Number.MAX_SAFE_INTEGER
        expect((yield* store.stale(late, 500, tenant.id)).map((r) => r.run_id)).toStrictEqual([run_id])
        expect(yield* store.stale(late, 500, "someone-else")).toStrictEqual([])
        expect((yield* store.stale(late, 500)).map((r) => r.run_id)).toContain(run_id)
        const second = yield* reclaim
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30)))
        const reclaimed = (yield* probe.execution(run_id))!
        expect(reclaimed).toMatchObject({ status: "RUNNING", attempts: 2, claimed_by: instance })
        // the first runner wakes up: its heartbeat and progress are refused, its finish writes nothing
        yield* Deferred.succeed(gates.get(1)!, undefined)
        expect(yield* Fiber.join(first)).toStrictEqual([null])
        expect(staleWrites).toStrictEqual(["Left", "Left"])
        expect(yield* probe.execution(run_id)).toStrictEqual(reclaimed)
        expect((yield* executions.get(admin, tenant.id, run_id)).progress_message).toBeNull()
        // a runner that never writes again is interrupted by its watch once a newer attempt runs
        const third = yield* reclaim
        yield* advance(2)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", attempts: 3 })
        expect(Option.isSome(yield* Fiber.poll(second))).toBe(true)
        expect(yield* Fiber.join(second)).toStrictEqual([null])
        yield* Deferred.succeed(gates.get(3)!, undefined)
        const [done] = yield* Fiber.join(third)
        expect(done).toMatchObject({ status: "SUCCEEDED", attempts: 3, retry_count: 2 })
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "SUCCEEDED", attempts: 3, claimed_by: instance })
        yield* executions.awaitTriage
      }))

    it.effect("worker loop: steps only while running, waits while paused, exits when a stop condition trips", () =>
      Effect.gen(function*() {
        const { admin, tenant } = yield* fixture("loop")
        const control = yield* RunControl.RunControl
        const stops = yield* StopConditions.StopConditions
        const op = { actor: admin, tenant: tenant.id }
        let steps = 0
        const loop = yield* Effect.fork(
          WorkerLoop.run({ step: Effect.sync(() => (steps++, { "loop.tick": 1 })), interval: "1 second" })
        )
        // idle: no run, no steps
        yield* advance(5)
        expect(steps).toBe(0)
        const run = yield* control.start(op, { run_id: "loop-1" })
        // the loop reads storage between sleeps (real I/O on SQL, slow under load): advance a
        // second at a time until it has stepped three times, within a bound
        for (let i = 0; i < 20 && steps < 3; i++) yield* advance(1)
        const running = steps
        expect(running).toBeGreaterThanOrEqual(3)
        yield* control.pause(op)
        yield* advance(1)
        const paused = steps
        yield* advance(10)
        expect(steps).toBe(paused)
        yield* control.resume(op)
        yield* advance(2)
        expect(steps).toBeGreaterThan(paused)
        // a stop condition: the loop returns after the step in flight, with the stop's reason
        yield* stops.trip("provider_failures_repeated", { failures: 4 })
        yield* advance(2)
        const exit = yield* Fiber.join(loop)
        expect(exit).toMatchObject({ reason: "stop_condition", stop: { reason: "provider_failures_repeated" } })
        expect(exit.steps).toBe(steps)
        const metrics = yield* control.metrics(admin)
        expect(metrics).toMatchObject({ run_id: run.run_id, by_kind: { "loop.tick": steps } })
        expect(yield* (yield* OpsProbe).counter("loop-1", "loop.tick")).toBe(steps)
        yield* control.resume(op)
        yield* control.stop(op)
      }))

    it.effect("reconcile on its interval (TestClock): a hung execution fails as stale after stale_after_seconds", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 5, 1))
        const { bookkeeper, tenant } = yield* fixture("interval")
        const executions = yield* Executions.Executions
        const probe = yield* OpsProbe
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, { job_name: "hangs", plan: { do: "hang" } })
        // a one-shot worker: a polling one would wake 20 times a TestClock second
        const worker = yield* Effect.fork(executions.processAvailable(1, "w-interval"))
        const reconciler = yield* Effect.fork(executions.reconcileLoop)
        yield* advance(1)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", claimed_by: "w-interval" })
        // default stale_after_seconds 300, interval 60: the reconcile at 300 s still finds the last
        // heartbeat (0 s) fresh, the one at 360 s fails it. One-second steps keep every reconcile on
        // its 60 s beat (no drift): any other interval from 5 s to 59 s fails it before 359 s, 61 s after 362 s.
        yield* advance(358)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING" })
        yield* advance(3)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "FAILED", failure_reason: "stale" })
        // the hung runner's watch interrupts it; it writes nothing over the reconcile
        expect(yield* Fiber.join(worker)).toStrictEqual([null])
        yield* Fiber.interrupt(reconciler)
      }))

    it.effect("heartbeats keep an execution alive (TestClock): a beat every 100 s for 700 s outlives stale_after 300", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 6, 1))
        const start = Windows.utcMillis(2031, 6, 1)
        const { bookkeeper, tenant } = yield* fixture("beats")
        const executions = yield* Executions.Executions
        const runners = yield* JobRunner.JobRunners
        const probe = yield* OpsProbe
        expect((yield* ExecutionsConfig.ExecutionsConfig).staleAfterSeconds).toBe(300)
        const beats = yield* Ref.make(0)
        yield* runners.register("beats", (ctx) =>
          Effect.gen(function*() {
            for (let i = 0; i < 7; i++) {
              yield* Effect.sleep("100 seconds")
              yield* ctx.heartbeat
              yield* Ref.update(beats, (n) => n + 1)
            }
          }))
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, { job_name: "beats", plan: {} })
        const running = yield* Effect.fork(executions.processAvailable(1, "inst-beats"))
        const reconciler = yield* Effect.fork(executions.reconcileLoop)
        yield* advance(1)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", claimed_by: "inst-beats" })
        // past several reconciles and well past 300 s since the claim: still running, the heartbeat moving on
        const seen: Array<number> = [(yield* probe.heartbeatAt(run_id))!]
        let elapsed = 1
        for (const at of [250, 450, 650]) {
          yield* advance(at - elapsed, 5)
          elapsed = at
          expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", failure_reason: null })
          const beat = (yield* probe.heartbeatAt(run_id))!
          expect(beat).toBeGreaterThan(seen[seen.length - 1]!)
          expect(beat).toBeGreaterThanOrEqual(start + (at - 100) * 1_000)
          seen.push(beat)
        }
        // (a step may let a beat's next sleep start up to 5 s late: 100 s more covers the 7th)
        yield* advance(100, 5)
        expect(yield* Ref.get(beats)).toBe(7)
        const [done] = yield* Fiber.join(running)
        expect(done).toMatchObject({ run_id, status: "SUCCEEDED", attempts: 1 })
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "SUCCEEDED", failure_reason: null })
        expect((yield* probe.heartbeatAt(run_id))!).toBeGreaterThanOrEqual(start + 700_000)
        yield* Fiber.interrupt(reconciler)
      }))

    it.effect("cancel of a RUNNING execution: the runner is interrupted, its finish writes nothing, it stays CANCELED", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Windows.utcMillis(2031, 7, 1))
        const { admin, bookkeeper, tenant } = yield* fixture("cancel-running")
        const executions = yield* Executions.Executions
        const runners = yield* JobRunner.JobRunners
        const probe = yield* OpsProbe
        const gate = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        const after: Array<string> = []
        yield* runners.register("gated", (ctx) =>
          Effect.gen(function*() {
            yield* ctx.progress(0.1, "waiting for the gate")
            yield* Deferred.await(gate)
            after.push("past the gate")
            yield* ctx.reportCost(1_000n)
          }).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))))
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, {
          job_name: "gated",
          plan: {},
          estimated_cost_usd: "0"
        })
        const running = yield* Effect.fork(executions.processAvailable(1, "inst-cancel"))
        yield* advance(1)
        expect(yield* probe.execution(run_id)).toMatchObject({ status: "RUNNING", claimed_by: "inst-cancel" })

        const canceled = yield* executions.cancel(bookkeeper, tenant.id, run_id)
        expect(canceled).toMatchObject({ status: "CANCELED", failure_reason: "canceled" })
        const stored = (yield* probe.execution(run_id))!
        expect(stored).toMatchObject({ status: "CANCELED", failure_reason: "canceled", attempts: 1 })
        // the runner's watch sees the cancel within a second and interrupts it; its finish writes nothing
        yield* advance(2)
        expect(yield* Deferred.isDone(interrupted)).toBe(true)
        expect(yield* Fiber.join(running)).toStrictEqual([null])
        yield* Deferred.succeed(gate, undefined)
        yield* advance(2)
        expect(after).toStrictEqual([])
        expect(yield* probe.execution(run_id)).toStrictEqual(stored)
        const view = yield* executions.get(admin, tenant.id, run_id)
        expect(view).toMatchObject({
          status: "CANCELED",
          actual_cost_usd: 0n,
          progress_message: "waiting for the gate"
        })
        expect(yield* codeOf(executions.cancel(bookkeeper, tenant.id, run_id))).toBe("exec.not_cancelable")
      }))

    it.effect("run controls: reset and start with reset run the host's reset + reseed hook once; disabled, refused", () =>
      Effect.gen(function*() {
        const { admin, tenant } = yield* fixture("runs-reset")
        const control = yield* RunControl.RunControl
        const probe = yield* OpsProbe
        const guard = yield* GuardProbe
        const auditLog = yield* Audit.AuditLog
        const op = { actor: admin, tenant: tenant.id, name: "rita" }
        const opsAudit = Effect.map(auditLog.list(tenant.id), (rs) => rs.filter((r) => r.action.startsWith("ops.run.")))
        const before = resets.length

        expect((yield* control.reset(op)).phase).toBe("idle")
        expect(resets.slice(before)).toStrictEqual(["rita"])
        const started = yield* control.start(op, { run_id: "reset-1", reset: true })
        expect(started).toMatchObject({ phase: "running", run_id: "reset-1" })
        expect(resets.slice(before)).toStrictEqual(["rita", "rita"])
        // refused while a run is open: the hook does not run
        expect(yield* codeOf(control.reset(op))).toBe("run.reset_while_active")
        expect(yield* codeOf(control.start(op, { run_id: "reset-x", reset: true }))).toBe("run.already_active")
        yield* control.stop(op)
        // a start without reset leaves the world alone
        yield* control.start(op, { run_id: "reset-2" })
        yield* control.stop(op)
        expect(resets.length - before).toBe(2)
        const audited = yield* opsAudit
        const flag = (data: unknown) => (data as { reset?: boolean; hook?: boolean }).reset ?? (data as any).hook
        expect(audited.map((r) => [r.action, flag(r.data)])).toStrictEqual([
          ["ops.run.reset", true],
          ["ops.run.started", true],
          ["ops.run.stopped", undefined],
          ["ops.run.started", false],
          ["ops.run.stopped", undefined]
        ])

        // reset disabled (production): both refused with 403 run.reset_disabled; nothing runs or is written
        const paused = yield* guard.systemState(StopConditions.RUN_PAUSED_KEY)
        const disabled = RunControl.RunControl.Default.pipe(
          Layer.provide(ExecutionsConfig.layer({ runResetEnabled: false }))
        )
        yield* Effect.gen(function*() {
          // (this instance re-registers the run-metrics observer under the same name: it counts the same way)
          const strict = yield* RunControl.RunControl
          for (const refused of [strict.reset(op), strict.start(op, { run_id: "reset-3", reset: true })]) {
            const e = yield* Effect.flip(refused)
            expect(e).toMatchObject({ _tag: "Forbidden", code: "run.reset_disabled" })
          }
          // without reset, the same instance starts a run
          yield* strict.start(op, { run_id: "reset-4" })
          yield* strict.stop(op)
        }).pipe(Effect.provide(disabled))
        expect(resets.length - before).toBe(2)
        expect(yield* probe.run("reset-3")).toBeNull()
        expect(yield* guard.systemState(StopConditions.RUN_PAUSED_KEY)).toBe(paused)
        expect((yield* opsAudit).map((r) => r.action)).toStrictEqual([
          ...audited.map((r) => r.action),
          "ops.run.started",
          "ops.run.stopped"
        ])
      }))
  })

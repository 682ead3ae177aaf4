/**
 * Guardrails across real processes: two OS processes share one PostgreSQL database and hammer the
 * rate limiter and the velocity breaker, and hand an approval from one to the other. The combined
 * results must be what one process alone would produce.
 */
import { Postgres } from "@airlock/adapters-storage"
import { type Errors, GovernedActions, type Ids, Tenants } from "@airlock/core"
import { Approvals, VelocityBreaker, Windows } from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { worker } from "./support/ChildProcess.js"
import { environment } from "./support/GuardEnv.js"
import * as GuardProbe from "./support/GuardProbe.js"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

/** Runs one worker process and returns its JSON result. */
const run = worker<any>("guard-worker.ts", (job) => `worker ${job.op}`)

const both = <A>(a: Promise<A>, b: Promise<A>) => Effect.promise(() => Promise.all([a, b]))

const admin = pgAdminUrl()

if (admin === "") {
  describe("guardrails across processes: postgres", () => {
    it.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
} else {
  describe("guardrails across processes: postgres", () => {
    const scenario = (url: string) =>
      Effect.gen(function*() {
        const now = Windows.utcMillis(2035, 1, 1) + 30_000
        yield* TestClock.setTime(now)
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe.GuardProbe
        const tenant = yield* tenants.create({
          id: "mp" as Ids.TenantId,
          name: "multi-process",
          settings: { ai_mode: "suggest_only" }
        })
        const agent = yield* tenants.addActor({ tenant_id: tenant.id, kind: "agent", name: "copilot", role: "AGENT" })
        const human = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Bea", role: "BOOKKEEPER" })
        const controller = yield* tenants.addActor({
          tenant_id: tenant.id,
          kind: "user",
          name: "Cleo",
          role: "CONTROLLER"
        })
        const owner = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Olga", role: "OWNER" })
        const w = Windows.windowStart(now, 60_000)

        // rate limiter: 2 × 30 requests on one token with a limit of 5 a minute admit exactly 5
        const [r1, r2] = yield* both(
          run({ url, now, op: "rate", tenant: "mp", token: "tok_shared", n: 30 }),
          run({ url, now, op: "rate", tenant: "mp", token: "tok_shared", n: 30 })
        )
        expect(r1.admitted + r2.admitted).toBe(5)
        expect(r1.refused + r2.refused).toBe(55)
        expect(yield* probe.counter("rate:token:tok_shared", w)).toBe(5)

        // velocity: 2 × 15 AI proposals with a limit of 10 a minute: 10 proposed, one trip event
        const [v1, v2] = yield* both(
          run({ url, now, op: "velocity", tenant: "mp", actor: agent.id, n: 15 }),
          run({ url, now, op: "velocity", tenant: "mp", actor: agent.id, n: 15 })
        )
        expect(v1.ok + v2.ok).toBe(10)
        expect(v1.tripped + v2.tripped).toBe(20)
        expect((yield* probe.events("velocity")).filter((e) => e.type === "trip" && e.tenant_id === "mp").length).toBe(
          1
        )
        expect(yield* probe.breaker(VelocityBreaker.breakerKey("mp"))).toMatchObject({ state: "open" })
        // commands already past the open-check when the breaker tripped are counted (and refused)
        const counted = (yield* probe.counter(VelocityBreaker.counterKey("mp"), w))!
        expect(counted).toBeGreaterThanOrEqual(11)
        expect(counted).toBeLessThanOrEqual(30)

        // approvals: the bookkeeper's build needs an approval; one process grants it while the
        // other waits for it, then proposes and applies under it
        const build = { job_name: "etl", plan: "p1", risk_score: 0.95, estimated_cost_usd: "0" }
        const pipeline = yield* GovernedActions.GovernedActions
        const required = yield* Effect.flip(
          pipeline.propose({ tenant_id: tenant.id, actor: human, kind: "g.build", payload: build })
        )
        const hash = (required as Errors.ApprovalRequired).plan_hash
        const [applied, granted] = yield* both(
          run({
            url,
            now,
            op: "await-approval-and-apply",
            tenant: "mp",
            actor: human.id,
            subject: "job:etl",
            plan_hash: hash,
            payload: build
          }),
          run({ url, now, op: "grant", tenant: "mp", actor: controller.id, subject: "job:etl", plan_hash: hash })
        )
        expect(granted).toStrictEqual({ status: "approved", approver: controller.id })
        expect(applied).toMatchObject({ seen: "approved", status: "applied", approver: controller.id })
        // revoked here; the other process's apply-time re-check sees it
        const again = yield* pipeline.propose({ tenant_id: tenant.id, actor: human, kind: "g.build", payload: build })
        yield* (yield* Approvals.Approvals).revoke(controller, "job:etl", hash)
        const late = yield* Effect.promise(() =>
          run({ url, now, op: "apply", tenant: "mp", actor: human.id, action_id: again.action.id })
        )
        expect(late).toStrictEqual({ result: "approval_required" })
        // the requester cannot approve its own plan, whichever process asks
        const ownPlan = { ...build, plan: "p2" }
        const ownHash = ((yield* Effect.flip(
          pipeline.propose({ tenant_id: tenant.id, actor: owner, kind: "g.build", payload: ownPlan })
        )) as Errors.ApprovalRequired).plan_hash
        const self = yield* Effect.promise(() =>
          run({ url, now, op: "grant", tenant: "mp", actor: owner.id, subject: "job:etl", plan_hash: ownHash })
        )
        expect(self).toStrictEqual({ error: "approval.self_approval" })
      }).pipe(
        Effect.provide(environment(Layer.provideMerge(GuardProbe.sql, Postgres.layer({ url, maxConnections: 4 }))))
      )

    it.effect(
      "two processes on one database: the rate limit, the velocity breaker and approvals hold in total",
      () => Effect.flatMap(freshDatabaseUrl(admin), scenario),
      { timeout: 120_000 }
    )
  })
}

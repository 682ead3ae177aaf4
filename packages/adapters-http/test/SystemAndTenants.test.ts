/**
 * The system status's guardrails fields; billing, lockdown and breaker events acting on the
 * request's resolved tenant (an admin's `X-Tenant`); lockdown, unlock and rotation as admin
 * routes (role, IP allowlist, write guard — unlock and rotation exempt from the write guard).
 */
import { BreakerEvents, Lockdown, StopConditions, VelocityBreaker } from "@airlock/guardrails"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const auditActions = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT action FROM core_audit WHERE tenant_id = ${tenant} ORDER BY seq`.pipe(
        Effect.map((rows) => rows.map((r) => String(r.action))),
        Effect.orDie
      )
  )

const budgetRow = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT CAST(limit_usd AS TEXT) AS limit_usd, updated_by FROM guardrails_budgets WHERE tenant_id = ${tenant}`
        .pipe(
          Effect.map((
            rows
          ) => (rows[0] ? { limit_usd: String(rows[0].limit_usd), updated_by: String(rows[0].updated_by) } : null)),
          Effect.orDie
        )
  )

const lockdownRow = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`SELECT state FROM guardrails_breakers WHERE key LIKE 'lockdown%'`.pipe(
      Effect.map((rows) => (rows[0] ? String(rows[0].state) : null)),
      Effect.orDie
    )
)

const as = (token: string, tenant?: string) => ({
  headers: H.auth(token, tenant === undefined ? {} : { "x-tenant": tenant })
})

describe("system status: guardrails fields", () => {
  layer(H.layer({ guardrails: { velocityMaxPerMinute: 2 } }), { excludeTestServices: true })("sqlite", (it) => {
    it.effect("lockdown, run overrides and stop, breakers, rate limit, LLM budget fallback; per resolved tenant", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin, viewer, agent } = H.tokens
        const before = yield* s.client(viewer).system.status()
        expect(before.lockdown).toMatchObject({ active: false, source: null })
        expect(before.run).toStrictEqual({ active: true, paused: false, should_stop: false, stop: null })
        expect(before.breakers).toMatchObject({
          providers: [],
          velocity: { key: "velocity:default", tenant_id: "default", state: "closed" },
          trust: { key: "trust:default", state: "closed" }
        })
        expect(before.rate_limit).toStrictEqual({ enabled: false, rpm: 60, tenant_rpm: 600 })
        expect(before.llm_budget_status).toMatchObject({ fallback_active: false, fallback_reason: null })
        expect(before.llm_budget_status!.tenant_cap_usd).toMatch(/^\d+\.\d+$/)

        // state changes behind the server show up
        const lockdown = yield* Lockdown.Lockdown
        yield* lockdown.recordSignal("rollback")
        yield* lockdown.recordSignal("rollback")
        yield* lockdown.recordSignal("rollback")
        const stops = yield* StopConditions.StopConditions
        yield* stops.trip("db_pool_pressure", { samples: 3 })
        const velocity = yield* VelocityBreaker.VelocityBreaker
        for (let i = 0; i < 3; i++) yield* Effect.either(velocity.record("acme"))

        const after = (yield* s.raw("/api/v1/system/status", as(viewer))).json
        expect(after.lockdown).toMatchObject({ active: true, source: "auto", reason: "rollback_burst" })
        expect(after.lockdown.since).toMatch(/Z$/)
        expect(after.run).toMatchObject({
          active: false,
          paused: true,
          should_stop: true,
          stop: { reason: "db_pool_pressure", data: { samples: 3 } }
        })
        expect(after.breakers.velocity).toMatchObject({ key: "velocity:default", state: "closed" })
        // an admin naming another tenant sees that tenant's breakers
        const acme = (yield* s.raw("/api/v1/system/status", as(admin, "acme"))).json
        expect(acme.tenant_id).toBe("acme")
        expect(acme.breakers.velocity).toMatchObject({ key: "velocity:acme", tenant_id: "acme", state: "open" })
        // the agent has no ops.read: the guardrails fields are null, the rest is served
        const forAgent = yield* s.client(agent).system.status()
        expect(forAgent).toMatchObject({
          tenant_id: "default",
          lockdown: null,
          run: null,
          breakers: null,
          rate_limit: null,
          llm_budget_status: null
        })
      }))
  })
})

describe("resolved tenant: billing, lockdown, breaker events", () => {
  layer(H.layer(), { excludeTestServices: true })("sqlite", (it) => {
    it.effect("an admin with X-Tenant acts on that tenant, not its home tenant", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin, acmeOwner, owner } = H.tokens
        const defaultAudit = (yield* auditActions("default")).length

        // billing
        const set = yield* s.raw(
          "/api/v1/billing/budget",
          H.json("PUT", admin, { limit_usd: "25.00" }, { "x-tenant": "acme" })
        )
        expect(set.status).toBe(200)
        expect(set.json).toMatchObject({ tenant_id: "acme", limit_usd: "25.00" })
        expect(yield* budgetRow("acme")).toStrictEqual({ limit_usd: "25000000", updated_by: "admin" })
        expect(yield* budgetRow("default")).toBeNull()
        expect((yield* s.raw("/api/v1/billing/summary", as(admin, "acme"))).json).toMatchObject({
          tenant_id: "acme",
          limit_usd: "25.00"
        })
        expect((yield* s.raw("/api/v1/billing/summary", as(admin))).json).toMatchObject({
          tenant_id: "default",
          limit_usd: null
        })
        expect((yield* s.raw("/api/v1/billing/summary", as(acmeOwner))).json).toMatchObject({
          tenant_id: "acme",
          limit_usd: "25.00"
        })
        expect(yield* auditActions("acme")).toContain("billing.budget_set")
        // a non-admin cannot name another tenant
        H.expectError(
          yield* s.raw("/api/v1/billing/budget", H.json("PUT", owner, { limit_usd: "1.00" }, { "x-tenant": "acme" })),
          403,
          "tenant.mismatch"
        )
        H.expectError(yield* s.raw("/api/v1/billing/summary", as(acmeOwner, "default")), 403, "tenant.mismatch")
        expect(yield* budgetRow("acme")).toStrictEqual({ limit_usd: "25000000", updated_by: "admin" })

        // lockdown, rotation and unlock are audited in the resolved tenant
        const locked = yield* s.raw(
          "/api/v1/system/lockdown",
          H.json("POST", admin, { reason: "acme incident" }, { "x-tenant": "acme" })
        )
        expect(locked.json).toMatchObject({ active: true, reason: "acme incident" })
        const rotated = yield* s.client(admin, "acme").lockdown.rotateUnlockCode()
        const unlocked = yield* s.client(admin, "acme").lockdown.unlock({ payload: { code: rotated.code } })
        expect(unlocked).toMatchObject({ active: false })
        expect(yield* auditActions("acme")).toEqual(
          expect.arrayContaining(["system.lockdown", "system.unlock_code_rotated", "system.unlock"])
        )
        expect((yield* auditActions("default")).length).toBe(defaultAudit)

        // breaker events of the resolved tenant
        const events = yield* BreakerEvents.BreakerEvents
        yield* events.record({
          tenant_id: "acme",
          kind: "velocity",
          type: "trip",
          reason: "velocity_exceeded",
          data: { n: 1 }
        })
        const acmeEvents = (yield* s.raw("/api/v1/companion/breaker-events", as(admin, "acme"))).json
        expect(acmeEvents.map((e: any) => e.reason)).toStrictEqual(["velocity_exceeded"])
        expect((yield* s.raw("/api/v1/companion/breaker-events", as(admin))).json).toStrictEqual([])
        H.expectError(yield* s.raw("/api/v1/companion/breaker-events", as(owner, "acme")), 403, "tenant.mismatch")
      }))
  })
})

describe("lockdown routes are admin routes", () => {
  layer(H.layer({ http: { environment: "production", adminWriteEnabled: false } }), { excludeTestServices: true })(
    "production: admin writes off",
    (it) => {
      it.effect("manual lockdown is refused by the write guard; unlock and rotation still work (break-glass)", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const { admin, owner, viewer } = H.tokens
          H.expectError(yield* s.raw("/api/v1/system/lockdown", H.json("POST", admin, {})), 403, "admin.write_disabled")
          expect(yield* lockdownRow).toBeNull()
          // non-admins are refused by the middleware's role check on all three
          for (const token of [owner, viewer]) {
            for (
              const [path, body] of [["/api/v1/system/lockdown", {}], ["/api/v1/system/unlock", { code: "X" }], [
                "/api/v1/system/unlock-code/rotate",
                undefined
              ]] as const
            ) {
              const e = H.expectError(
                yield* s.raw(
                  path,
                  body === undefined ? { method: "POST", headers: H.auth(token) } : H.json("POST", token, body)
                ),
                403,
                "rbac.forbidden"
              )
              expect(e.message).toBe("Admin role required")
            }
          }
          // an automatic lockdown (readiness failures) can be lifted in production
          const lockdown = yield* Lockdown.Lockdown
          for (let i = 0; i < 3; i++) yield* lockdown.recordSignal("readiness_failure")
          expect(yield* lockdownRow).toBe("open")
          const rotated = yield* s.raw("/api/v1/system/unlock-code/rotate", { method: "POST", headers: H.auth(admin) })
          expect(rotated.status).toBe(200)
          const wrong = yield* s.raw(
            "/api/v1/system/unlock",
            H.json("POST", admin, { code: rotated.json.code === "0000000000" ? "1111111111" : "0000000000" })
          )
          H.expectError(wrong, 403, "lockdown.code_invalid")
          expect(yield* lockdownRow).toBe("open")
          const unlocked = yield* s.raw("/api/v1/system/unlock", H.json("POST", admin, { code: rotated.json.code }))
          expect(unlocked.json).toMatchObject({ active: false })
          expect(yield* lockdownRow).toBe("closed")
        }))
    }
  )

  layer(H.layer({ http: { adminIpAllowlist: ["203.0.113.7"] } }), { excludeTestServices: true })(
    "admin IP allowlist",
    (it) => {
      it.effect("lockdown, unlock and rotation from outside the allowlist: 403 'Admin IP not allowed', nothing changes", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const { admin } = H.tokens
          for (
            const [path, body] of [["/api/v1/system/lockdown", {}], ["/api/v1/system/unlock", { code: "X" }], [
              "/api/v1/system/unlock-code/rotate",
              undefined
            ]] as const
          ) {
            const e = H.expectError(
              yield* s.raw(
                path,
                body === undefined ? { method: "POST", headers: H.auth(admin) } : H.json("POST", admin, body)
              ),
              403,
              "admin.ip_denied"
            )
            expect(e.message).toBe("Admin IP not allowed")
          }
          expect(yield* lockdownRow).toBeNull()
          const stored = yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`SELECT COUNT(*) AS n FROM core_system_state WHERE key = ${Lockdown.UNLOCK_CODE_KEY}`.pipe(
                Effect.map((r) => Number(r[0]!.n)),
                Effect.orDie
              )
          )
          expect(stored).toBe(0)
        }))
    }
  )
})

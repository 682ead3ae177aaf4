import { Ids } from "@airlock/core"
import { Approvals, Budgets, Usd } from "@airlock/guardrails"
import { BankTransaction, Chart, Proposals } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as H from "./support/Harness.js"

const usd = Schema.decodeSync(Usd.Usd)

const suite = (storage: H.Storage) =>
  layer(H.layer({ storage, guardrails: { approvalTtlSeconds: 1 } }), { excludeTestServices: true })(storage, (it) => {
    it.effect("approval granted → status → revoked; expires after the TTL; self-approval refused", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { owner, viewer, bookkeeper } = H.tokens
        const none = yield* s.raw("/api/v1/approvals/job%3Aload/h1", { headers: H.auth(owner) })
        expect(none.json).toMatchObject({ status: "none", approved: false })
        H.expectError(
          yield* s.raw("/api/v1/approvals", H.json("POST", bookkeeper, { subject: "job:load", plan_hash: "h1" })),
          403,
          "rbac.forbidden"
        )
        const granted = yield* s.raw(
          "/api/v1/approvals",
          H.json("POST", owner, { subject: "job:load", plan_hash: "h1", approver: "Olive", notes: "reviewed" })
        )
        expect(granted.status).toBe(200)
        expect(granted.json).toMatchObject({
          status: "approved",
          approved: true,
          approver: "owner",
          approver_name: "Olive",
          notes: "reviewed"
        })
        expect(granted.json.expires_at).toMatch(/Z$/)
        expect((yield* s.raw("/api/v1/approvals/job%3Aload/h1", { headers: H.auth(viewer) })).json).toMatchObject({
          status: "approved"
        })
        const revoked = yield* s.raw("/api/v1/approvals/job%3Aload/h1", { method: "DELETE", headers: H.auth(owner) })
        expect(revoked.json).toMatchObject({ status: "revoked", approved: false, revoked_by: "owner" })
        expect((yield* s.raw("/api/v1/approvals/job%3Aload/h1", { headers: H.auth(owner) })).json.status).toBe(
          "revoked"
        )
        H.expectError(
          yield* s.raw("/api/v1/approvals/job%3Aload/never", { method: "DELETE", headers: H.auth(owner) }),
          404,
          "not_found"
        )
        // TTL (1 s in this server)
        yield* s.raw("/api/v1/approvals", H.json("POST", owner, { subject: "job:load", plan_hash: "h2" }))
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 1200)))
        expect((yield* s.raw("/api/v1/approvals/job%3Aload/h2", { headers: H.auth(owner) })).json).toMatchObject({
          status: "expired",
          approved: false
        })
        // the requester cannot approve
        const approvals = yield* Approvals.Approvals
        yield* Effect.either(
          approvals.require({
            tenant_id: "default",
            subject: "job:mine",
            plan_hash: "h3",
            risk_score: 0.95,
            requested_by: "owner"
          })
        )
        H.expectError(
          yield* s.raw("/api/v1/approvals", H.json("POST", owner, { subject: "job:mine", plan_hash: "h3" })),
          403,
          "approval.self_approval"
        )
        expect((yield* s.raw("/api/v1/approvals/job%3Amine/h3", { headers: H.auth(owner) })).json).toMatchObject({
          status: "pending",
          requested_by: "owner"
        })
      }))

    it.effect("budget summary ok → warning → exceeded", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { owner, viewer, bookkeeper } = H.tokens
        H.expectError(
          yield* s.raw("/api/v1/billing/budget", H.json("PUT", bookkeeper, { limit_usd: "10.00" })),
          403,
          "rbac.forbidden"
        )
        const set = yield* s.raw("/api/v1/billing/budget", H.json("PUT", owner, { limit_usd: "10.00" }))
        expect(set.json).toMatchObject({ budget_status: "ok", limit_usd: "10.00" })
        const budgets = yield* Budgets.ExecutionBudgets
        yield* budgets.charge("default", "etl", usd("8.50"))
        const warn = yield* s.raw("/api/v1/billing/summary", { headers: H.auth(viewer) })
        expect(warn.json).toMatchObject({ budget_status: "warning", spent_usd: "8.50" })
        yield* s.raw("/api/v1/billing/budget", H.json("PUT", owner, { limit_usd: "5.00" }))
        expect((yield* s.raw("/api/v1/billing/summary", { headers: H.auth(viewer) })).json).toMatchObject({
          budget_status: "exceeded",
          remaining_estimated_usd: "0.00"
        })
        // another tenant's budget is its own
        expect((yield* s.raw("/api/v1/billing/summary", { headers: H.auth(H.tokens.acmeOwner) })).json).toMatchObject({
          budget_status: "ok",
          limit_usd: null
        })
      }))

    it.effect("lockdown, then unlock with a wrong and a right code; breaker events", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin, owner } = H.tokens
        H.expectError(yield* s.raw("/api/v1/system/lockdown", H.json("POST", owner, {})), 403, "rbac.forbidden")
        const locked = yield* s.raw("/api/v1/system/lockdown", H.json("POST", admin, { reason: "incident 42" }))
        expect(locked.json).toMatchObject({ active: true, source: "admin", reason: "incident 42", set_by: "admin" })
        const rotated = yield* s.raw("/api/v1/system/unlock-code/rotate", { method: "POST", headers: H.auth(admin) })
        expect(rotated.json.code).toMatch(/^[0-9A-Z]{10}$/)
        const wrong = yield* s.raw(
          "/api/v1/system/unlock",
          H.json("POST", admin, { code: rotated.json.code === "0000000000" ? "1111111111" : "0000000000" })
        )
        expect(wrong.status).toBe(403)
        expect(wrong.json.error.code).toBe("lockdown.code_invalid")
        const unlocked = yield* s.raw("/api/v1/system/unlock", H.json("POST", admin, { code: rotated.json.code }))
        expect(unlocked.json).toMatchObject({ active: false })
        const events = yield* s.raw("/api/v1/companion/breaker-events?limit=50", { headers: H.auth(admin) })
        expect(events.status).toBe(200)
        expect(Array.isArray(events.json)).toBe(true)
      }))

    it.effect("unlock with no lockdown active: 409 lockdown.not_active for any code; nothing written, code kept", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin } = H.tokens
        const rows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.all({
            audit: sql`SELECT COUNT(*) AS n FROM core_audit WHERE action = 'system.unlock'`,
            events: sql`SELECT COUNT(*) AS n FROM guardrails_events WHERE kind = 'lockdown'`,
            code: sql`SELECT value FROM core_system_state WHERE key = 'guardrails.unlock_code'`,
            attempts:
              sql`SELECT COALESCE(SUM(count), 0) AS n FROM guardrails_counters WHERE key = 'lockdown:unlock_failures'`
          }).pipe(
            Effect.map((r) => ({
              audit: Number(r.audit[0]!.n),
              events: Number(r.events[0]!.n),
              code: r.code.map((c) => String(c.value)),
              attempts: Number(r.attempts[0]!.n)
            })),
            Effect.orDie
          ))
        expect((yield* s.raw("/api/v1/system/status", { headers: H.auth(admin) })).json.lockdown.active).toBe(false)
        const rotated = yield* s.raw("/api/v1/system/unlock-code/rotate", { method: "POST", headers: H.auth(admin) })
        const before = yield* rows
        for (const code of [rotated.json.code, "0000000000", "WRONG"]) {
          const refused = H.expectError(
            yield* s.raw("/api/v1/system/unlock", H.json("POST", admin, { code })),
            409,
            "lockdown.not_active"
          )
          expect(refused.message).toBe("No lockdown is active: nothing to unlock")
        }
        expect(yield* rows).toStrictEqual(before)
        // the code was not spent: it lifts the next lockdown
        yield* s.raw("/api/v1/system/lockdown", H.json("POST", admin, { reason: "drill" }))
        const lifted = yield* s.raw("/api/v1/system/unlock", H.json("POST", admin, { code: rotated.json.code }))
        expect(lifted.status).toBe(200)
        expect(lifted.json).toMatchObject({ active: false })
        expect((yield* rows).audit).toBe(before.audit + 1)
      }))
  })

/** Ledger proposals through the whole stack's gates: a velocity trip must outlive the refused propose. */
const velocity = (storage: H.Storage) =>
  layer(H.layer({ storage, guardrails: { velocityMaxPerMinute: 3 } }), { excludeTestServices: true })(
    `${storage} velocity`,
    (it) => {
      it.effect("ledger proposals past the velocity limit open the breaker and record the trip (breaker-events)", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const tenant = Ids.TenantId.make("default")
          yield* (yield* Chart.ChartOfAccounts).importPreset(tenant, s.actors.owner!, "standard_small_business")
          const imported = yield* (yield* BankTransaction.BankTransactions).importFile(tenant, s.actors.bookkeeper!, {
            account_code: "1000",
            format: "json",
            transactions: [{ date: "2026-03-02", description: "Paper", amount: "-12.00" }]
          })
          const proposals = yield* Proposals.LedgerProposals
          const outcomes: Array<string> = []
          for (let i = 0; i < 5; i++) {
            const r = yield* Effect.either(proposals.propose(tenant, s.actors.agent!, {
              bank_transaction_id: imported.ids[0]!,
              splits: [{ account_code: "6200", amount: "12.00" }],
              confidence: 0.8
            }))
            outcomes.push(r._tag === "Right" ? "ok" : (r.left as { code: string }).code)
          }
          expect(outcomes).toStrictEqual(["ok", "ok", "ok", "breaker.velocity", "breaker.velocity"])
          const events = yield* s.raw("/api/v1/companion/breaker-events?limit=50", { headers: H.auth(H.tokens.owner) })
          expect(
            events.json.filter((e: { kind: string }) => e.kind === "velocity").map((e: { type: string }) => e.type)
          ).toStrictEqual(["trip"])
          const stored = yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`SELECT state FROM guardrails_breakers WHERE tenant_id = 'default' AND kind = 'velocity'`.pipe(
                Effect.orDie
              )
          )
          expect(stored.map((r) => r.state)).toStrictEqual(["open"])
          // refused proposes left their decision traces, as the pipeline's own propose does
          const traces = yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`SELECT outcome FROM core_traces WHERE tenant_id = 'default' AND phase = 'propose' ORDER BY id`.pipe(
                Effect.orDie
              )
          )
          expect(traces.map((r) => r.outcome)).toStrictEqual(["allow", "allow", "allow", "deny", "deny"])
        }))
    }
  )

describe("guardrails routes", () => {
  suite("sqlite")
  velocity("sqlite")
  if (H.pgEnabled()) suite("postgres")
  if (H.pgEnabled()) velocity("postgres")
})

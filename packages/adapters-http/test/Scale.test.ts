/**
 * The guardrails rate limiter behind the request chain (on SQLite and PostgreSQL), and two
 * servers on one PostgreSQL database behaving as one: a shared rate limit, an approval granted
 * through one honoured by the other, lockdown seen by both, the same post sent through both at
 * once stored exactly once, and one proposal applied through both at once promoted once.
 */
import { HttpRateLimit } from "@airlock/adapters-http"
import { GovernedActions, Ids } from "@airlock/core"
import { Approvals, Lockdown } from "@airlock/guardrails"
import { Proposals } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { randomBytes } from "node:crypto"
import * as H from "./support/Harness.js"

const limited = {
  rateLimiter: HttpRateLimit.layerGuardrails,
  guardrails: { rateLimitEnabled: true, rateLimitRpm: 5, rateLimitTenantRpm: 8 }
}

const rateLimitSuite = (storage: H.Storage) =>
  layer(H.layer({ storage, ...limited }), { excludeTestServices: true })(storage, (it) => {
    it.effect("per token and per tenant: 429 rate_limited with Retry-After; another tenant is unaffected", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { viewer, bookkeeper, acmeViewer } = H.tokens
        const get = (token: string) => s.raw("/api/v1/companion/settings", { headers: H.auth(token) })
        for (let i = 0; i < 5; i++) expect((yield* get(viewer)).status).toBe(200)
        const refused = yield* get(viewer)
        const e = H.expectError(refused, 429, "rate_limited")
        expect(e.details).toMatchObject({ scope: "token", limit_per_minute: 5 })
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
        // the tenant's budget (8): the viewer's 5 passed + 3 of the bookkeeper's
        for (let i = 0; i < 3; i++) expect((yield* get(bookkeeper)).status).toBe(200)
        H.expectError(yield* get(bookkeeper), 429, "rate_limited")
        // a write is refused before it runs
        H.expectError(
          yield* s.raw(
            "/api/v1/ledger/accounts",
            H.json("POST", bookkeeper, { code: "1000", name: "Cash", type: "Asset" })
          ),
          429,
          "rate_limited"
        )
        const accounts = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT COUNT(*) AS n FROM ledger_accounts`.pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
        )
        expect(accounts).toBe(0)
        expect((yield* get(acmeViewer)).status).toBe(200)
        // the status route reports what is applied
        const status = (yield* s.raw("/api/v1/system/status", { headers: H.auth(acmeViewer) })).json
        expect(status.rate_limit).toStrictEqual({ enabled: true, rpm: 5, tenant_rpm: 8 })
      }))
  })

describe("rate limiting through the guardrails limiter", () => {
  rateLimitSuite("sqlite")
  if (H.pgEnabled()) rateLimitSuite("postgres")
})

const entry = (key: string) => ({
  date: "2026-02-10",
  memo: `Concurrent ${key}`,
  idempotency_key: key,
  lines: [{ account_code: "1000", debit: "10.00" }, { account_code: "4000", credit: "10.00" }]
})

describe.skipIf(!H.pgEnabled())("two servers on one PostgreSQL", () => {
  it.live(
    "share the rate limit, approvals and lockdown; concurrent posts and applies through both happen once",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const name = `airlock_h2_${randomBytes(6).toString("hex")}`
        // A creates, migrates and seeds the database; B joins it as it is
        const shared = {
          rateLimiter: HttpRateLimit.layerGuardrails,
          guardrails: { rateLimitEnabled: true, rateLimitRpm: 5, rateLimitTenantRpm: 1000 }
        }
        const a = yield* Layer.build(H.layer({ storage: "postgres", pgDatabase: name, ...shared }))
        const b = yield* Layer.build(H.layer({ storage: "postgres", pgUrl: H.pgUrlOf(name), seed: false, ...shared }))
        const A = Context.get(a, H.TestServer)
        const B = Context.get(b, H.TestServer)
        expect(A.port).not.toBe(B.port)
        const { viewer, owner, admin, bookkeeper } = H.tokens

        // one rate limit: 5 per token per minute, counted together
        const statuses: Array<number> = []
        for (const server of [A, B, A, B, A, B]) {
          statuses.push((yield* server.raw("/api/v1/companion/settings", { headers: H.auth(viewer) })).status)
        }
        expect(statuses).toStrictEqual([200, 200, 200, 200, 200, 429])
        H.expectError(yield* A.raw("/api/v1/companion/settings", { headers: H.auth(viewer) }), 429, "rate_limited")

        // an approval granted through A is honoured by B's approval gate; revoked through B, A sees it
        const approvalsB = Context.get(b, Approvals.Approvals)
        const ask = {
          tenant_id: "default",
          subject: "job:nightly",
          plan_hash: "p1",
          risk_score: 0.95,
          requested_by: "bookkeeper"
        }
        const before = yield* Effect.either(approvalsB.require(ask))
        expect(Either.isLeft(before) && before.left._tag).toBe("ApprovalRequired")
        const granted = yield* A.raw(
          "/api/v1/approvals",
          H.json("POST", owner, { subject: "job:nightly", plan_hash: "p1", approver: "Olive" })
        )
        expect(granted.json).toMatchObject({ status: "approved", approved: true })
        const honoured = yield* approvalsB.require(ask)
        expect(honoured).toMatchObject({ required: true, approved: true })
        expect((yield* B.raw("/api/v1/approvals/job%3Anightly/p1", { headers: H.auth(owner) })).json).toMatchObject({
          status: "approved",
          approver_name: "Olive"
        })
        expect(
          (yield* B.raw("/api/v1/approvals/job%3Anightly/p1", { method: "DELETE", headers: H.auth(owner) })).json.status
        ).toBe("revoked")
        expect((yield* A.raw("/api/v1/approvals/job%3Anightly/p1", { headers: H.auth(owner) })).json.status).toBe(
          "revoked"
        )
        expect(Either.isLeft(yield* Effect.either(approvalsB.require(ask)))).toBe(true)

        // the same post through both servers at once: one entry, one 201 and one 200 with it
        for (const [code, name] of [["1000", "Cash"], ["4000", "Sales"]] as const) {
          const type = code === "1000" ? "Asset" : "Income"
          expect((yield* A.raw("/api/v1/ledger/accounts", H.json("POST", admin, { code, name, type }))).status).toBe(
            201
          )
        }
        for (const key of ["race-1", "race-2"]) {
          const [ra, rb] = yield* Effect.all([
            A.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry(key))),
            B.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry(key)))
          ], { concurrency: 2 })
          expect([ra.status, rb.status].sort()).toStrictEqual([200, 201])
          expect(ra.json.entry.id).toBe(rb.json.entry.id)
          expect([ra.json.duplicate, rb.json.duplicate].sort()).toStrictEqual([false, true])
        }
        const stored = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`SELECT idempotency_key, COUNT(*) AS n FROM ledger_entries WHERE tenant_id = 'default' GROUP BY idempotency_key ORDER BY idempotency_key`
            .pipe(
              Effect.map((r) =>
                r.map((x) => [String(x.idempotency_key), Number(x.n)])
              ),
              Effect.orDie
            )).pipe(Effect.provide(a))
        expect(stored).toStrictEqual([["race-1", 1], ["race-2", 1]])

        // one proposal applied through both servers at once: applied once, one journal entry
        const imported = yield* A.raw("/api/v1/bank-transactions/import?account_code=1000", {
          method: "POST",
          headers: { ...H.auth(bookkeeper), "content-type": "text/csv" },
          body: "Date,Description,Amount\n02/11/2026,Client payment,40.00\n"
        })
        const proposed = yield* Context.get(a, Proposals.LedgerProposals).propose(
          Ids.TenantId.make("default"),
          A.actors.bookkeeper!,
          {
            bank_transaction_id: imported.json.ids[0],
            splits: [{ account_code: "4000", amount: "40.00" }],
            confidence: 0.9
          }
        )
        const id = proposed.action.id
        const applied = yield* Effect.all([
          Context.get(a, GovernedActions.GovernedActions).apply(Ids.TenantId.make("default"), id, A.actors.owner!),
          Context.get(b, GovernedActions.GovernedActions).apply(Ids.TenantId.make("default"), id, A.actors.owner!)
        ], { concurrency: 2 })
        expect(applied.map((r) => r.already_applied).sort()).toStrictEqual([false, true])
        expect(applied.map((r) => r.action.status)).toStrictEqual(["applied", "applied"])
        const byProposal = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`SELECT COUNT(*) AS n FROM ledger_entries WHERE proposal_id = ${id}`.pipe(
            Effect.map((r) =>
              Number(r[0]!.n)
            ),
            Effect.orDie
          )).pipe(Effect.provide(b))
        expect(byProposal).toBe(1)

        // a lockdown engaged through A is B's too; lifted through B with the code A rotated
        expect((yield* A.raw("/api/v1/system/lockdown", H.json("POST", admin, { reason: "drill" }))).json.active).toBe(
          true
        )
        expect((yield* B.raw("/api/v1/system/status", { headers: H.auth(owner) })).json.lockdown).toMatchObject({
          active: true,
          reason: "drill"
        })
        const code =
          (yield* A.raw("/api/v1/system/unlock-code/rotate", { method: "POST", headers: H.auth(admin) })).json.code
        expect((yield* B.raw("/api/v1/system/unlock", H.json("POST", admin, { code }))).json.active).toBe(false)
        expect(yield* Context.get(a, Lockdown.Lockdown).isActive).toBe(false)
      })),
    60_000
  )
})

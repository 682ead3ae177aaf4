/**
 * The rule promotion routes end to end on a real server (SQLite): a person's labels through the
 * proposal routes make a pending promotion (persisted row checked through SQL), the labeller, an
 * agent token and a bookkeeper cannot approve, a second person does, and the next proposal for the
 * vendor is the promoted rule's, named in its rationale.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const base = "/api/v1/companion"

const promotionRows = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ id: string; status: string; rule_id: string | null; reviewed_by: string | null }>`
      SELECT id, status, rule_id, reviewed_by FROM companion_rule_promotions WHERE tenant_id = ${tenant}`.pipe(
        Effect.orDie
      )
  )

layer(H.layer(), { excludeTestServices: true, timeout: 120_000 })("rule promotion routes", (it) => {
  it.effect("labels → pending → refused approvals → a second person approves → the rule decides", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const { admin, owner, bookkeeper, agent, viewer } = H.tokens
      const call = H.caller(s)
      yield* H.importStandardChart(s)
      expect(
        (yield* call("POST", `${base}/rules`, owner, {
          name: "Coffee fallback",
          priority: 5000,
          description_contains: "COFFEE",
          account_code: "6200"
        })).status
      ).toBe(201)
      const book = (day: number) =>
        Effect.gen(function*() {
          const imported = yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: [{
              date: `2026-01-${String(day).padStart(2, "0")}`,
              description: "BLUE BOTTLE COFFEE",
              amount: `-${day}.25`
            }]
          })
          const proposed = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: imported.json.ids })
          return proposed.json.items[0]
        })
      // the owner books five (the default threshold: max(5, coldstart_min_labels 3))
      for (let day = 2; day <= 6; day++) {
        const item = yield* book(day)
        expect((yield* call("POST", `${base}/proposals/${item.proposal_id}/apply`, owner, {})).status).toBe(200)
      }
      const pending = yield* call("GET", `${base}/rule-promotions?status=pending&limit=10`, viewer)
      expect(pending.status).toBe(200)
      expect(pending.json.items.length).toBe(1)
      const p = pending.json.items[0]
      expect(p).toMatchObject({
        vendor_key: "blue bottle coffee",
        direction: "outflow",
        account_code: "6200",
        labels: 5,
        status: "pending",
        created_by: s.actors.owner!.id
      })
      expect(yield* promotionRows("default")).toStrictEqual([{
        id: p.id,
        status: "pending",
        rule_id: null,
        reviewed_by: null
      }])

      H.expectError(yield* call("POST", `${base}/rule-promotions/${p.id}/approve`, agent), 403, "rbac.forbidden")
      H.expectError(yield* call("POST", `${base}/rule-promotions/${p.id}/approve`, bookkeeper), 403, "rbac.forbidden")
      H.expectError(
        yield* call("POST", `${base}/rule-promotions/${p.id}/approve`, owner),
        403,
        "approval.self_approval"
      )
      H.expectError(
        yield* call("GET", `${base}/rule-promotions/rpr_01J0000000000000000000000A`, viewer),
        404,
        "not_found"
      )
      H.expectError(yield* call("POST", `${base}/rule-promotions/${p.id}/reject`, admin, {}), 400, "validation.schema")

      const approved = yield* call("POST", `${base}/rule-promotions/${p.id}/approve`, admin)
      expect(approved.status).toBe(200)
      expect(approved.json.promotion).toMatchObject({ status: "approved", rule_id: p.id })
      expect(approved.json.traces.map((t: { outcome: string }) => t.outcome)).toContain("deny")
      expect(yield* promotionRows("default")).toStrictEqual([{
        id: p.id,
        status: "approved",
        rule_id: p.id,
        reviewed_by: s.actors.admin!.id
      }])
      H.expectError(
        yield* call("POST", `${base}/rule-promotions/${p.id}/reject`, admin, { reason: "late" }),
        409,
        "companion.rule_promotion.decided"
      )
      const one = yield* call("GET", `${base}/rule-promotions/${p.id}`, viewer)
      expect(one.json.promotion.status).toBe("approved")

      const next = yield* book(7)
      expect(next.rationale).toContain(`Rule “promoted:blue bottle coffee” (${p.id}) matched`)
      expect(next.rationale).toContain(`approved by ${s.actors.admin!.id}`)
    }))
})

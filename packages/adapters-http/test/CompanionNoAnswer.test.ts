/**
 * A tenant with no rules and no model learns over HTTP: propose stores a no-answer proposal (an
 * `unresolved` item naming it in `no_answer_proposal_id`, counted under `autopost.no_answer`);
 * applying it without splits is 400 `validation.splits_required` with nothing written; a person's
 * splits book it once as a correction, and the vendor's next transaction is proposed from vendor
 * memory. On SQLite and PostgreSQL; persisted state read with raw SQL.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const base = "/api/v1/companion"

const counts = (tenant: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all({
      entries: sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ledger_entries WHERE tenant_id = ${tenant}`,
      proposals: sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM companion_proposals WHERE tenant_id = ${tenant}`,
      classifiers: sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM companion_classifiers WHERE tenant_id = ${tenant}`
    }).pipe(
      Effect.map((r) => ({
        entries: Number(r.entries[0]!.n),
        proposals: Number(r.proposals[0]!.n),
        classifiers: Number(r.classifiers[0]!.n)
      })),
      Effect.orDie
    ))

for (const storage of ["sqlite", "postgres"] as const) {
  describe(`companion no-answer proposals: ${storage}`, () => {
    layer(H.layer({ storage }), { excludeTestServices: true, timeout: 120_000 })("a fresh tenant learns", (it) => {
      it.effect("propose → no-answer proposal → apply without splits 400 → apply with splits → memory proposes", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const { bookkeeper, agent, viewer } = H.tokens
          const tenant = s.actors.owner!.tenant_id
          const call = H.caller(s)
          yield* H.importStandardChart(s)
          const imported = yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: [{
              date: "2026-01-05",
              description: "SQ *BLUE BOTTLE COFFEE 0423 OAKLAND CA",
              amount: "-8.80"
            }]
          })
          expect(imported.status).toBe(200)
          expect((yield* call("GET", `${base}/rules`, viewer)).json.rules).toStrictEqual([])

          // no rule, no model: the item is unresolved, and a no-answer proposal is stored for a person
          const proposed = yield* call("POST", `${base}/proposals`, agent, {})
          expect(proposed.status).toBe(200)
          expect(proposed.json).toMatchObject({ proposed: 0, unresolved: 1, auto_posted: 0, failed: 0, more: false })
          const item = proposed.json.items[0]
          expect(item).toMatchObject({
            bank_transaction_id: imported.json.ids[0],
            status: "unresolved",
            proposal_id: null,
            splits: [],
            tier: 2,
            error: null
          })
          const id: string = item.no_answer_proposal_id
          expect(id).toBeTypeOf("string")
          expect(item.questions[0]).toContain("No suggestion")
          expect(item.not_auto_post_reasons).toContain("autopost.no_answer")
          expect(item.risk_reasons).toContain("no_answer")
          // in the review list and as a shadow event, with no splits
          const list = yield* call("GET", `${base}/proposals?status=proposed`, viewer)
          expect(list.json.items.map((p: any) => [p.proposal.id, p.proposal.splits])).toStrictEqual([[id, []]])
          const event = yield* call("GET", `${base}/shadow-events/${id}`, viewer)
          expect(event.status).toBe(200)
          expect(event.json.detail.not_auto_post_reasons).toContain("autopost.no_answer")
          // counted under its code
          const reasons = yield* call("GET", `${base}/not-auto-post?period=7d`, viewer)
          expect(reasons.status).toBe(200)
          expect(reasons.json.not_auto_post_counts["autopost.no_answer"]).toBe(1)
          expect(yield* counts(tenant)).toStrictEqual({ entries: 0, proposals: 1, classifiers: 0 })

          // applying it as proposed: 400 with its code, nothing written
          H.expectError(
            yield* call("POST", `${base}/proposals/${id}/apply`, bookkeeper, {}),
            400,
            "validation.splits_required"
          )
          expect((yield* call("GET", `${base}/shadow-events/${id}`, viewer)).json.proposal.status).toBe("proposed")
          expect(yield* counts(tenant)).toStrictEqual({ entries: 0, proposals: 1, classifiers: 0 })

          // a person chooses the account: a correction, booked once, teaching memory and the classifier
          const applied = yield* call("POST", `${base}/proposals/${id}/apply`, bookkeeper, {
            splits: [{ account_code: "6200", amount: "8.80" }]
          })
          expect(applied.status).toBe(200)
          expect(applied.json).toMatchObject({ proposal_id: id, outcome: "corrected", already_applied: false })
          expect(applied.json.entry_id).toBeTypeOf("string")
          expect(applied.json.correction.original_splits).toStrictEqual([])
          expect(applied.json.learning).toMatchObject({ memory: { outcome: "created" }, classifier: { version: 1 } })
          const after = yield* counts(tenant)
          expect([after.entries, after.classifiers]).toStrictEqual([1, 1])

          // the vendor's next transaction is proposed from what the person taught
          yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: [{
              date: "2026-01-12",
              description: "SQ *BLUE BOTTLE COFFEE 0519 OAKLAND CA",
              amount: "-6.75"
            }]
          })
          const next = yield* call("POST", `${base}/proposals`, agent, {})
          expect(next.json).toMatchObject({ proposed: 1, unresolved: 0 })
          expect(next.json.items[0]).toMatchObject({
            status: "proposed",
            no_answer_proposal_id: null,
            splits: [{ account_code: "6200", amount: "6.75" }]
          })
          const detail = (yield* call("GET", `${base}/shadow-events/${next.json.items[0].proposal_id}`, viewer)).json
            .detail
          const memory = detail.stages.find((x: any) => x.stage === "vendor_memory")
          expect(memory).toMatchObject({ outcome: "candidates", splits: [{ account_code: "6200" }] })
          expect(memory.details.memory_uids).toContain(applied.json.learning.memory.uid)
        }))
    })
  })
}

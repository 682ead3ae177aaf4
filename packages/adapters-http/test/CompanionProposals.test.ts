/**
 * The companion's proposal routes end to end over HTTP, following the companion runbook's
 * sequence (propose → list proposed → inspect a shadow event → apply / reject → provenance →
 * breakers and modes → wipe) with its paths under `/api/v1/companion` (trailing slashes as the
 * runbook writes them), on SQLite and PostgreSQL; persisted state is read with raw SQL.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const base = "/api/v1/companion"

const entries = (tenant: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string; proposal_id: string | null }>`
      SELECT id, proposal_id FROM ledger_entries WHERE tenant_id = ${tenant} ORDER BY id`.pipe(Effect.orDie))

const detailRow = (tenant: string, id: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ review_outcome: string | null; entry_id: string | null; review_reason: string | null }>`
      SELECT review_outcome, entry_id, review_reason FROM companion_proposals
      WHERE tenant_id = ${tenant} AND proposal_id = ${id}`.pipe(
        Effect.map((rs) => rs[0] ?? null),
        Effect.orDie
      )
  )

const txns = [
  { date: "2026-01-02", description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0101", amount: "-2400.00" },
  { date: "2026-01-05", description: "SQ *BLUE BOTTLE COFFEE 0423 OAKLAND CA", amount: "-6.75" },
  { date: "2026-01-07", description: "ADOBE *CREATIVE CLD 800-833-6687 CA", amount: "-54.99" },
  { date: "2026-01-09", description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0201", amount: "-2400.00" },
  { date: "2026-01-11", description: "OFFICE DEPOT #1182 SAN JOSE CA", amount: "-120.00" }
]

for (const storage of ["sqlite", "postgres"] as const) {
  describe(`companion proposal routes: ${storage}`, () => {
    layer(H.layer({ storage }), { excludeTestServices: true, timeout: 120_000 })("runbook sequence", (it) => {
      it.effect("propose → list → shadow event → apply, correct, reject → provenance; modes, breakers, wipe", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const { owner, bookkeeper, agent, viewer } = H.tokens
          const call = H.caller(s)
          yield* H.importStandardChart(s)
          const imported = yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: txns
          })
          expect(imported.status).toBe(200)
          const ids: Array<string> = imported.json.ids

          // rules CRUD: an owner manages, a bookkeeper may not
          const rule = yield* call("POST", `${base}/rules`, owner, {
            name: "Rent",
            description_contains: "OAKWOOD PROPERTY",
            direction: "outflow",
            account_code: "6300"
          })
          expect(rule.status).toBe(201)
          expect(rule.json).toMatchObject({ name: "Rent", priority: 100, active: true, version: 1 })
          H.expectError(
            yield* call("POST", `${base}/rules`, bookkeeper, {
              name: "x",
              description_contains: "X",
              account_code: "6300"
            }),
            403,
            "rbac.forbidden"
          )
          H.expectError(
            yield* call("POST", `${base}/rules`, owner, {
              name: "bad",
              description_regex: "(a+)+",
              account_code: "6300"
            }),
            400,
            "validation.rule_regex"
          )
          const office = yield* call("POST", `${base}/rules`, owner, {
            name: "Office",
            description_contains: "OFFICE DEPOT",
            account_code: "6200"
          })
          const updated = yield* call("PUT", `${base}/rules/${office.json.id}`, owner, {
            name: "Office supplies",
            description_contains: "OFFICE DEPOT",
            account_code: "6200",
            priority: 50
          })
          expect(updated.json).toMatchObject({ name: "Office supplies", priority: 50, version: 2 })
          expect((yield* call("GET", `${base}/rules`, viewer)).json.rules.map((r: any) => r.name)).toStrictEqual([
            "Office supplies",
            "Rent"
          ])

          // propose all unprocessed (the agent), per-item results
          const proposed = yield* call("POST", `${base}/proposals`, agent, {})
          expect(proposed.status).toBe(200)
          expect(proposed.json).toMatchObject({ proposed: 3, unresolved: 2, auto_posted: 0, failed: 0, more: false })
          const byTxn = new Map<string, any>(proposed.json.items.map((i: any) => [i.bank_transaction_id, i]))
          expect(byTxn.get(ids[0]!)).toMatchObject({
            status: "proposed",
            splits: [{ account_code: "6300", amount: "2400.00" }],
            error: null
          })
          expect(byTxn.get(ids[0]!).rationale).toContain("Rent")
          expect(byTxn.get(ids[1]!)).toMatchObject({ status: "unresolved", proposal_id: null })
          // a viewer may not propose
          H.expectError(yield* call("POST", `${base}/proposals`, viewer, {}), 403, "rbac.forbidden")
          H.expectError(
            yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: ["btx_nope"], extra: 1 }),
            400,
            "validation.schema"
          )

          // list proposed with a cursor (the runbook's review list), then one shadow event
          const page1 = yield* call("GET", `${base}/proposals/?status=proposed&limit=2`, viewer)
          expect(page1.status).toBe(200)
          expect(page1.json.items).toHaveLength(2)
          expect(page1.json.next_cursor).toBeTypeOf("string")
          const page2 = yield* call(
            "GET",
            `${base}/proposals?status=proposed&limit=2&cursor=${page1.json.next_cursor}`,
            viewer
          )
          expect(page2.json.items).toHaveLength(1)
          expect(page2.json.next_cursor).toBeNull()
          const listed = [...page1.json.items, ...page2.json.items]
          expect(new Set(listed.map((i: any) => i.proposal.id)).size).toBe(3)
          const rentId: string = byTxn.get(ids[0]!).proposal_id
          const rent2Id: string = byTxn.get(ids[3]!).proposal_id
          const officeId: string = byTxn.get(ids[4]!).proposal_id
          const event = yield* call("GET", `${base}/shadow-events/${rentId}/`, viewer)
          expect(event.status).toBe(200)
          expect(event.json.bank_transaction).toMatchObject({
            id: ids[0],
            date: "2026-01-02",
            description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0101",
            amount: "-2400.00",
            currency: "USD"
          })
          expect(event.json.proposal).toMatchObject({
            id: rentId,
            status: "proposed",
            splits: [{ account_code: "6300", amount: "2400.00" }]
          })
          expect(event.json.detail.stages.map((st: any) => [st.stage, st.outcome])).toStrictEqual([
            ["rules", "decided"],
            ["vendor_memory", "skipped"],
            ["classifier", "skipped"]
          ])
          H.expectError(yield* call("GET", `${base}/shadow-events/act_nope`, viewer), 404, "not_found")

          // apply: the agent may not promote; a bookkeeper applies once
          H.expectError(yield* call("POST", `${base}/proposals/${rentId}/apply/`, agent, {}), 403, "rbac.forbidden")
          const applied = yield* call("POST", `${base}/proposals/${rentId}/apply/`, bookkeeper, {})
          expect(applied.status).toBe(200)
          expect(applied.json).toMatchObject({ outcome: "applied", already_applied: false, correction: null })
          const again = yield* call("POST", `${base}/proposals/${rentId}/apply`, bookkeeper, {})
          expect(again.json).toMatchObject({ already_applied: true, entry_id: applied.json.entry_id })

          // apply with a correction (split across two accounts)
          const corrected = yield* call("POST", `${base}/proposals/${officeId}/apply`, bookkeeper, {
            splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }]
          })
          expect(corrected.status).toBe(200)
          expect(corrected.json).toMatchObject({
            outcome: "corrected",
            correction: {
              original_splits: [{ account_code: "6200", amount: "120.00" }],
              corrected_splits: [
                { account_code: "6200", amount: "80.00" },
                { account_code: "1500", amount: "40.00" }
              ]
            }
          })
          H.expectError(
            yield* call("POST", `${base}/proposals/${officeId}/apply`, bookkeeper, {}),
            409,
            "proposal.closed"
          )

          // reject with a reason: recorded, closes it
          H.expectError(
            yield* call("POST", `${base}/proposals/${rent2Id}/reject`, bookkeeper, {}),
            400,
            "validation.schema"
          )
          const rejected = yield* call("POST", `${base}/proposals/${rent2Id}/reject/`, bookkeeper, {
            reason: "Paid twice? ask the landlord"
          })
          expect(rejected.status).toBe(200)
          expect(rejected.json.proposal).toMatchObject({ id: rent2Id, status: "rejected" })
          expect(yield* detailRow("default", rent2Id)).toMatchObject({
            review_outcome: "rejected",
            review_reason: "Paid twice? ask the landlord"
          })
          H.expectError(
            yield* call("POST", `${base}/proposals/${rent2Id}/apply`, bookkeeper, {}),
            409,
            "proposal.closed"
          )

          // exactly two entries reached the journal, each through apply
          const rows = yield* entries("default")
          expect(rows).toHaveLength(2)
          expect(rows.map((r) => r.id).sort()).toStrictEqual(
            [applied.json.entry_id, corrected.json.entry_id].sort()
          )
          expect(yield* detailRow("default", officeId)).toMatchObject({
            review_outcome: "corrected",
            entry_id: corrected.json.entry_id
          })

          // provenance by shadow event and by entry: the correction, who applied, the gates
          const prov = yield* call("GET", `${base}/provenance/?shadow_event_id=${officeId}`, viewer)
          expect(prov.status).toBe(200)
          expect(prov.json).toMatchObject({
            shadow_event_id: officeId,
            bank_transaction: { id: ids[4], description: "OFFICE DEPOT #1182 SAN JOSE CA", amount: "-120.00" },
            applied: { by: "bookkeeper" },
            correction: {
              original_proposal_id: officeId,
              by: "bookkeeper",
              corrected_splits: [
                { account_code: "6200", amount: "80.00" },
                { account_code: "1500", amount: "40.00" }
              ]
            }
          })
          expect(prov.json.ai.stages[0]).toMatchObject({ stage: "rules", outcome: "decided" })
          expect(prov.json.gates.propose.length).toBeGreaterThan(0)
          expect(prov.json.gates.apply[0].gates.map((g: any) => g.gate)).toContain("rbac")
          const byEntry = yield* call("GET", `${base}/provenance?entry_id=${corrected.json.entry_id}`, viewer)
          expect(byEntry.json.shadow_event_id).toBe(officeId)
          H.expectError(yield* call("GET", `${base}/provenance`, viewer), 400, "validation.schema")

          // the not-auto-post counts: suggest_only counts every proposal under autopost.mode
          const counts = yield* call("GET", `${base}/not-auto-post-counts?since=2000-01-01T00:00:00Z`, viewer)
          expect(counts.json.not_auto_post_counts["autopost.mode"]).toBe(3)
          expect((yield* call("GET", `${base}/calibration`, viewer)).json).toMatchObject({ version: null, sample: 0 })

          // shadow_only refuses apply naming the mode; the kill switch refuses propose
          // what the reviews taught: the classifier now ranks an unknown vendor; the rejected one is proposed afresh
          const next = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: [ids[2]!, ids[3]!] })
          expect(next.json.items.map((i: any) => i.status)).toStrictEqual(["proposed", "proposed"])
          const adobe = yield* call("GET", `${base}/shadow-events/${next.json.items[0].proposal_id}`, viewer)
          expect(adobe.json.detail.deciding_stage).toBe("classifier")
          expect(adobe.json.detail.classifier_version).toBe(2)
          const open = (yield* call("GET", `${base}/proposals?status=proposed`, viewer)).json.items
          expect(open).toHaveLength(2)
          yield* call("PUT", `${base}/settings`, owner, { ai_mode: "shadow_only" })
          const blocked = H.expectError(
            yield* call("POST", `${base}/proposals/${open[0].proposal.id}/apply`, bookkeeper, {}),
            403,
            "mode.forbidden"
          )
          expect(blocked.message).toContain("shadow_only")
          yield* call("PUT", `${base}/settings`, owner, { kill_switch: true })
          const off = H.expectError(yield* call("POST", `${base}/proposals`, agent, {}), 403, "companion.disabled")
          expect(off.details).toMatchObject({ layer: "kill_switch" })
          yield* call("PUT", `${base}/settings`, owner, { kill_switch: false })

          // drafts: batch apply, per item
          const raised = yield* call("POST", `${base}/settings/changes`, owner, { ai_mode: "drafts" })
          expect(raised.json.status).toBe("applied")
          const batch = yield* call("POST", `${base}/proposals/apply`, bookkeeper, {
            ids: [open[0].proposal.id, open[1].proposal.id, rentId, "act_missing"]
          })
          expect(batch.status).toBe(200)
          expect(batch.json.items.map((i: any) => [i.status, i.error?.code ?? null])).toStrictEqual([
            ["applied", null],
            ["applied", null],
            ["applied", null],
            ["failed", "not_found"]
          ])
          expect(batch.json.items[2].result.already_applied).toBe(true)
          expect(yield* entries("default")).toHaveLength(4)

          // wipe proposed shadow events: needs companion.shadow.wipe; canonical untouched
          const more = yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: [{
              date: "2026-02-02",
              description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0301",
              amount: "-2400.00"
            }]
          })
          const march = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: more.json.ids })
          expect(march.json).toMatchObject({ proposed: 1 })
          // already booked: skipped, nothing new
          const skipped = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: [ids[0]!] })
          expect(skipped.json.items[0]).toMatchObject({ status: "skipped", entry_id: applied.json.entry_id })

          // the runbook's page lists proposed shadow events: no `status` means proposed; `status=all` lists every status
          const listIds = (items: ReadonlyArray<any>) => items.map((i: any) => i.proposal.id as string)
          const byDefault = (yield* call("GET", `${base}/proposals/?workspace_id=default`, viewer)).json.items
          expect(listIds(byDefault)).toStrictEqual([march.json.items[0].proposal_id])
          expect(byDefault.map((i: any) => i.proposal.status)).toStrictEqual(["proposed"])
          const every = (yield* call("GET", `${base}/proposals?status=all&limit=200`, viewer)).json.items
          const statuses = ["proposed", "applied", "rejected", "rolled_back", "superseded", "wiped"]
          const perStatus: Array<string> = []
          for (const status of statuses) {
            const page = (yield* call("GET", `${base}/proposals?status=${status}&limit=200`, viewer)).json.items
            expect(page.every((i: any) => i.proposal.status === status)).toBe(true)
            perStatus.push(...listIds(page))
          }
          expect(listIds(every).sort()).toStrictEqual(perStatus.sort())
          expect([...new Set(every.map((i: any) => i.proposal.status))]).toEqual(
            expect.arrayContaining(["proposed", "applied", "rejected"])
          )
          expect(listIds(every)).toContain(rentId)
          H.expectError(
            yield* call("POST", `${base}/shadow-events/wipe/?status=proposed`, viewer),
            403,
            "rbac.forbidden"
          )
          const wiped = yield* call("POST", `${base}/shadow-events/wipe/?status=proposed`, owner)
          expect(wiped.status).toBe(200)
          expect(wiped.json).toStrictEqual({ status: "proposed", wiped: 1 })
          expect((yield* call("GET", `${base}/proposals?status=proposed`, viewer)).json.items).toHaveLength(0)
          expect(yield* entries("default")).toHaveLength(4)

          // rules: delete
          const del = yield* call("DELETE", `${base}/rules/${office.json.id}`, owner)
          expect(del.json).toStrictEqual({ deleted: true })
          H.expectError(yield* call("DELETE", `${base}/rules/${office.json.id}`, owner), 404, "not_found")
        }))
    })
  })
}

/**
 * The companion's answers on the wire, read from real responses (the JSON blobs — stages, the
 * calibrator, the auto-post decision — included, which the OpenAPI walk of `WireTimes.test.ts`
 * cannot see into): every time is an ISO 8601 string (no numeric `at`, `*_at`, `*_start`,
 * `*_end`), every split amount a decimal string of the currency (no `amount_minor` anywhere),
 * and a propose call counts every per-item status, `skipped` included.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const base = "/api/v1/companion"
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const TIME_NAME = /^(at|until|since)$|_(at|ts|until|since|time|start|end)$/

/** Every path in a JSON value where a time-named key holds a number, or a key is `amount_minor`. */
const offences = (value: unknown, path = "$", out: Array<string> = []): Array<string> => {
  if (Array.isArray(value)) value.forEach((v, i) => offences(v, `${path}[${i}]`, out))
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (TIME_NAME.test(k) && typeof v === "number") out.push(`${path}.${k} (number)`)
      if (k === "amount_minor") out.push(`${path}.${k}`)
      offences(v, `${path}.${k}`, out)
    }
  }
  return out
}

const coffee = (i: number) => ({
  date: `2026-0${1 + Math.floor(i / 28)}-${String(1 + (i % 28)).padStart(2, "0")}`,
  description: `SQ *BLUE BOTTLE COFFEE ${String(400 + i)} OAKLAND CA`,
  amount: "-8.80"
})

describe("companion wire", () => {
  layer(H.layer({ storage: "sqlite" }), { excludeTestServices: true, timeout: 120_000 })("sqlite", (it) => {
    it.effect("times are ISO strings and split amounts decimal strings in every companion answer", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { owner, bookkeeper, agent, viewer } = H.tokens
        const call = H.caller(s)
        yield* H.importStandardChart(s)
        // 34 coffees a rule books, a rent line booked by hand, an office line a person corrects
        const imported = yield* call("POST", "/api/v1/bank-transactions/import", bookkeeper, {
          account_code: "1000",
          format: "json",
          transactions: [
            ...Array.from({ length: 34 }, (_, i) => coffee(i)),
            { date: "2026-02-10", description: "OFFICE DEPOT #1182 SAN JOSE CA", amount: "-120.00" },
            { date: "2026-02-11", description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0201", amount: "-2400.00" }
          ]
        })
        expect(imported.status, imported.text).toBe(200)
        const ids: Array<string> = imported.json.ids
        const [office, rent] = [ids[34]!, ids[35]!]
        for (const rule of [["Coffee", "BLUE BOTTLE", "6000"], ["Office", "OFFICE DEPOT", "6200"]] as const) {
          const r = yield* call("POST", `${base}/rules`, owner, {
            name: rule[0],
            description_contains: rule[1],
            account_code: rule[2]
          })
          expect(r.status, r.text).toBe(201)
        }
        // booked by hand: the propose call skips it and counts it
        const manual = yield* call("POST", "/api/v1/ledger/entries", bookkeeper, {
          date: "2026-02-11",
          bank_transaction_id: rent,
          lines: [{ account_code: "6300", debit: "2400.00" }, { account_code: "1000", credit: "2400.00" }]
        })
        expect(manual.status, manual.text).toBe(201)

        const first = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: ids })
        expect(first.status, first.text).toBe(200)
        expect(first.json).toMatchObject({ proposed: 35, skipped: 1, auto_posted: 0, unresolved: 0, failed: 0 })
        const statuses: Array<string> = first.json.items.map((i: any) => i.status)
        for (const status of new Set(statuses)) {
          expect(first.json[status], status).toBe(statuses.filter((x) => x === status).length)
        }
        expect(first.json.items.find((i: any) => i.bank_transaction_id === rent)).toMatchObject({
          status: "skipped",
          proposal_id: null
        })
        const proposalOf = new Map<string, string>(
          first.json.items.map((i: any) => [i.bank_transaction_id, i.proposal_id])
        )

        // 32 coffees applied as proposed, one rejected: enough reviews for a fitted calibrator
        for (const id of ids.slice(0, 32)) {
          const a = yield* call("POST", `${base}/proposals/${proposalOf.get(id)}/apply`, bookkeeper, {})
          expect(a.status, a.text).toBe(200)
        }
        const rejected = yield* call("POST", `${base}/proposals/${proposalOf.get(ids[32]!)}/reject`, bookkeeper, {
          reason: "a gift, not ours"
        })
        expect(rejected.status, rejected.text).toBe(200)
        // the office line corrected into two accounts
        const officeId = proposalOf.get(office)!
        const corrected = yield* call("POST", `${base}/proposals/${officeId}/apply`, bookkeeper, {
          splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }]
        })
        expect(corrected.status, corrected.text).toBe(200)
        expect(corrected.json.correction).toStrictEqual({
          original_splits: [{ account_code: "6200", amount: "120.00" }],
          corrected_splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }]
        })
        // a fresh proposal for the last coffee: scored by a calibration fitted on the reviews
        const again = yield* call("POST", `${base}/proposals`, agent, { bank_transaction_ids: [ids[33]!] })
        const lastId: string = again.json.items[0].proposal_id
        expect(lastId).toMatch(/^act_/)

        const answers: Record<string, any> = {
          propose: first.json,
          apply: corrected.json,
          reject: rejected.json,
          shadowEvent: (yield* call("GET", `${base}/shadow-events/${officeId}`, viewer)).json,
          shadowEventFresh: (yield* call("GET", `${base}/shadow-events/${lastId}`, viewer)).json,
          provenance: (yield* call("GET", `${base}/provenance?shadow_event_id=${officeId}`, viewer)).json,
          provenanceFresh: (yield* call("GET", `${base}/provenance?shadow_event_id=${lastId}`, viewer)).json,
          provenanceByEntry: (yield* call("GET", `${base}/provenance?entry_id=${corrected.json.entry_id}`, viewer))
            .json,
          calibration: (yield* call("GET", `${base}/calibration`, viewer)).json
        }
        for (const [name, json] of Object.entries(answers)) expect(offences(json), name).toStrictEqual([])

        // the fields that used to be epoch ms or minor units, now as the rest of the API shows them
        const event = answers.shadowEvent
        expect(event.detail).toMatchObject({
          amount: "-120.00",
          splits: [{ account_code: "6200", amount: "120.00" }],
          final_splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }],
          review_outcome: "corrected"
        })
        expect(event.detail.created_at).toMatch(ISO)
        expect(event.detail.reviewed_at).toMatch(ISO)
        expect(event.detail.stages[0]).toMatchObject({
          stage: "rules",
          splits: [{ account_code: "6200", amount: "120.00" }]
        })
        const prov = answers.provenance
        expect(prov.correction.at).toMatch(ISO)
        expect(prov.correction.at).toBe(prov.ai.review.at)
        expect(prov.correction.corrected_splits).toStrictEqual(corrected.json.correction.corrected_splits)
        expect(prov.ai.proposed_splits).toStrictEqual([{ account_code: "6200", amount: "120.00" }])
        expect(prov.gates.propose[0].at).toMatch(ISO)
        expect(prov.entry.posted_at).toMatch(ISO)
        expect(prov.entry.lines.map((l: any) => l.amount).sort()).toStrictEqual(["120.00", "40.00", "80.00"])
        const cal = answers.provenanceFresh.calibration
        expect(cal.fitted_at).toMatch(ISO)
        expect(cal.certificate.window_start).toMatch(ISO)
        expect(cal.certificate.window_end).toMatch(ISO)
        expect(Object.values<any>(cal.calibrator.stages).map((st) => st.fitted_at)).toContainEqual(
          expect.stringMatching(ISO)
        )
        expect(Date.parse(cal.certificate.window_end) - Date.parse(cal.certificate.window_start)).toBe(
          90 * 86_400_000
        )
        expect(answers.calibration.certificate.window_start).toMatch(ISO)
        expect(answers.calibration.fitted_at).toMatch(ISO)
      }))
  })
})

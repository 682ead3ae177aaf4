/**
 * The conformance suite of the chain's refusal of answers apply would refuse, end to end on the
 * real companion service: a tenant rule that points money out at an Income account is not
 * proposed — its stage is recorded `chain.invalid_answer` with the ledger's code, the next usable
 * answer (vendor memory) is proposed and applies to exactly one entry, and with no other answer
 * the item is unresolved and nothing is stored; the same rule still books money in. Run unchanged
 * on memory, SQLite and PostgreSQL.
 */
import { Companion, type CompanionPorts } from "@airlock/companion"
import type { CorePorts } from "@airlock/core"
import type { GuardrailsPorts } from "@airlock/guardrails"
import type { LedgerPorts as LP } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { bookByRule, importOne } from "./support/CompanionBooking.js"
import * as Env from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

type Ports =
  | CorePorts.CorePorts
  | LP.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | CompanionPorts.CompanionPorts
  | CompanionProbe

type Fx = Env.Fixture

/** The stored stage results of a proposal, by stage name, and its deciding stage. */
const stored = (fx: Fx, proposalId: string) =>
  Effect.gen(function*() {
    const detail = (yield* (yield* Companion.Companion).shadowEvent(fx.tenant, fx.owner, proposalId)).detail!
    const stages = detail.stages as ReadonlyArray<Record<string, any>>
    return { detail, stage: (name: string) => stages.find((s) => s.stage === name) as Record<string, any> }
  })

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(Env.environment(ports, { seed: 53 }), { timeout: 300_000 })(`companion invalid answers: ${name}`, (it) => {
    it.effect("a tenant rule pointing money out at an Income account is not proposed; the reason is recorded", () =>
      Effect.gen(function*() {
        const fx = yield* Env.tenant("inv-rule")
        const c = yield* Companion.Companion
        const probe = yield* CompanionProbe
        // the vendor's history: three fees booked to 6100 (Bank Fees) by a person
        for (let i = 0; i < 3; i++) yield* bookByRule(fx, "STRIPE FEE", "6100", "-25.00")
        // the owner's rule: anything from Stripe is a sale (4000, Income) — wrong for money out
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "stripe is sales",
          description_contains: "STRIPE",
          account_code: "4000"
        })
        const entries = yield* probe.count("entries", fx.tenant)

        yield* importOne(fx, "STRIPE FEE", "-25.00")
        const item = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect([item.status, item.splits.map((s) => [s.account_code, s.amount])]).toStrictEqual([
          "proposed",
          [["6100", "25.00"]]
        ])
        expect(item.rationale).toContain("rules's answer cannot be applied (validation.account_type")
        const s = yield* stored(fx, item.proposal_id!)
        expect(s.detail.deciding_stage).toBe("vendor_memory")
        expect(s.stage("rules")).toMatchObject({
          outcome: "abstain",
          reason: "chain.invalid_answer",
          splits: [],
          details: {
            answer: [{ account_code: "4000", amount_minor: "2500" }],
            refused: { code: "validation.account_type", details: { account_code: "4000", type: "Income" } },
            answered: { outcome: "decided" }
          }
        })
        expect(s.stage("rules").details.answered.rationale).toContain("stripe is sales")
        // the later stages ran (the rule's answer did not decide)
        expect(s.stage("vendor_memory").outcome).toBe("decided")
        // nothing booked at propose; the proposal applies to exactly one entry, on 6100
        expect(yield* probe.count("entries", fx.tenant)).toBe(entries)
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
        expect(applied.entry_id).toBeTruthy()
        expect(yield* probe.count("entries", fx.tenant)).toBe(entries + 1)
        expect(yield* probe.entryProposals(fx.tenant)).toContain(item.proposal_id)

        // money in: the same rule is a valid answer and decides
        yield* importOne(fx, "STRIPE PAYOUT", "120.00")
        const payout = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect([payout.status, payout.splits.map((x) => x.account_code)]).toStrictEqual(["proposed", ["4000"]])
        expect((yield* stored(fx, payout.proposal_id!)).detail.deciding_stage).toBe("rules")
      }))

    it.effect("with no other answer the item is unresolved: nothing proposed on the refused account, nothing stored", () =>
      Effect.gen(function*() {
        const fx = yield* Env.tenant("inv-alone", { rules: [["ACME REBATE", "4000"]] })
        const c = yield* Companion.Companion
        const probe = yield* CompanionProbe
        const proposals = yield* probe.count("proposals", fx.tenant)
        yield* importOne(fx, "ACME REBATE 7731", "-40.00")
        const items = (yield* c.propose(fx.tenant, fx.agent, {})).items
        expect(items.map((i) => [i.status, i.splits, i.proposal_id ?? null])).toStrictEqual([["unresolved", [], null]])
        expect(items[0]!.rationale).toContain("No stage could categorise this transaction")
        expect(items[0]!.rationale).toContain("validation.account_type")
        expect(yield* probe.count("proposals", fx.tenant)).toBe(proposals)
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
      }))
  })

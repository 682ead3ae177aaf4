/**
 * The conformance suite of what a person's rejection teaches, end to end on the real companion
 * service: the next proposal for the vendor avoids the rejected account (vendor memory reports
 * it with its memory uids and reason, the chain demotes it), or, when the chain still ends on it
 * (a tenant rule decides), asks about the rejection and its reason and is not auto-posted; a
 * person's later label of the account supersedes the rejection. Run unchanged on memory, SQLite
 * and PostgreSQL.
 */
import { AutoPost, Companion, CompanionProvenance, VendorKey, VendorMemoryStage } from "@airlock/companion"
import { AgentMemory, Tenants } from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer, TestClock } from "effect"
import { bookByRule, importOne } from "./support/CompanionBooking.js"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

type Ports = CompanionEnvironment.Ports | CompanionProbe

const environment = <E>(ports: Layer.Layer<Ports, E>) => CompanionEnvironment.environment(ports, { seed: 37 })

/** A tenant with the small-business chart, a bookkeeper, the agent and an owner. */
const fixture = (id: string) => CompanionEnvironment.tenant(id, { members: CompanionEnvironment.staff })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const DESCRIPTION = "Coffee with prospect"
const VENDOR = VendorKey.vendorKey(DESCRIPTION)
const REASON = "Coffee with a prospect is a meal, not marketing"
/** The amount of a transaction booked or imported without one. */
const AMOUNT = "-12.50"

/** The stored detail of a proposal: the vendor-memory stage's result, the deciding stage, what the review taught. */
const stored = (fx: Fx, proposalId: string) =>
  Effect.gen(function*() {
    const detail = (yield* (yield* Companion.Companion).shadowEvent(fx.tenant, fx.owner, proposalId)).detail!
    const stages = detail.stages as ReadonlyArray<Record<string, any>>
    return {
      detail,
      memory: stages.find((s) => s.stage === VendorMemoryStage.NAME) as Record<string, any>
    }
  })

/** The vendor's memory items of one kind, as the store holds them. */
const itemsOf = (fx: Fx, kind: string) =>
  Effect.flatMap(
    AgentMemory.AgentMemoryStore,
    (store) => store.listItems(fx.tenant, { thread_id: VendorMemoryStage.threadOf(VENDOR), kind, limit: 100 })
  )

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 300_000 })(`companion rejection: ${name}`, (it) => {
    it.effect("a rejection teaches a vendor with no label: the next proposal avoids the account and says why", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("r-unlabelled")
        const c = yield* Companion.Companion
        const probe = yield* CompanionProbe
        // history the classifier learns from: coffee meetups are marketing; two other vendors
        for (let i = 0; i < 3; i++) yield* bookByRule(fx, "COFFEE MEETUP MARKETING", "6000", AMOUNT)
        yield* bookByRule(fx, "ADOBE *CREATIVE CLD", "6200", "-54.99")
        yield* bookByRule(fx, "MONTHLY SERVICE FEE", "6100", "-15.00")
        const entries = yield* probe.count("entries", fx.tenant)

        // the first proposal: no vendor memory, the classifier's 6000
        yield* importOne(fx, DESCRIPTION, AMOUNT)
        const first = (yield* c.propose(fx.tenant, fx.agent, {})).items
        expect(first.map((i) => [i.status, i.splits.map((s) => s.account_code)])).toStrictEqual([["proposed", [
          "6000"
        ]]])
        const firstStored = yield* stored(fx, first[0]!.proposal_id!)
        expect([firstStored.detail.deciding_stage, firstStored.memory.outcome, firstStored.memory.details.memory_uids])
          .toStrictEqual(["classifier", "abstain", []])

        // the person rejects it with a reason: the rejection fact and the note with the reason are stored
        const rejected = yield* c.reject(fx.tenant, fx.bookkeeper, first[0]!.proposal_id!, REASON)
        expect(rejected.proposal.status).toBe("rejected")
        const learned = rejected.learning as { memory: { outcome: string; uid: string; reason_uid: string } }
        expect(learned.memory.outcome).toBe("created")
        const facts = yield* itemsOf(fx, VendorMemoryStage.REJECTION_KIND)
        expect(facts.map((i) => [i.uid, i.subject, i.predicate, i.status, i.reinforced_count])).toStrictEqual([
          [learned.memory.uid, "account:6000", "rejected", "active", 1]
        ])
        const notes = yield* itemsOf(fx, VendorMemoryStage.REJECTION_NOTE_KIND)
        expect(notes.map((i) => [i.uid, i.subject, i.value, i.source_ref, i.source_actor])).toStrictEqual([
          [
            learned.memory.reason_uid,
            null,
            { account_code: "6000", direction: "outflow", reason: REASON, proposal_id: first[0]!.proposal_id },
            `proposal:${first[0]!.proposal_id}`,
            fx.bookkeeper.id
          ]
        ])
        expect((yield* stored(fx, first[0]!.proposal_id!)).detail.learning).toStrictEqual(rejected.learning)

        // the next propose: a fresh proposal for the same transaction, not on 6000
        const next = (yield* c.propose(fx.tenant, fx.agent, {})).items
        expect(next.map((i) => [i.bank_transaction_id, i.status])).toStrictEqual([[
          first[0]!.bank_transaction_id,
          "proposed"
        ]])
        const fresh = next[0]!
        expect(fresh.splits.map((s) => [s.account_code, s.amount])).toHaveLength(1)
        expect(["6100", "6200"]).toContain(fresh.splits[0]!.account_code)
        expect(fresh.rationale).toContain("its first answer 6000 was rejected by a person")
        expect(fresh.questions.some((q) => q.startsWith("Account 6000 was rejected"))).toBe(false)
        expect(fresh.risk_reasons).not.toContain("vendor_rejected")
        // vendor memory reports the rejection with its memory uids, in the stored provenance
        const freshStored = yield* stored(fx, fresh.proposal_id!)
        expect(freshStored.detail.deciding_stage).toBe("classifier")
        expect(freshStored.memory).toMatchObject({
          outcome: "abstain",
          reason: "vendor.unknown",
          rejected: [{ account_code: "6000", rejections: 1, reason: REASON }],
          details: {
            memory_uids: [learned.memory.uid, learned.memory.reason_uid],
            rejected: [{
              account_code: "6000",
              rejections: 1,
              reason: REASON,
              memory_uid: learned.memory.uid,
              note_uid: learned.memory.reason_uid,
              directions: ["outflow"]
            }]
          }
        })
        expect(freshStored.memory.rationale).toContain(`a person rejected 6000 (1 time: “${REASON}”)`)
        // the provenance lists the memory facts used by uid
        const prov = yield* (yield* CompanionProvenance.CompanionProvenance).lookup(fx.tenant, fx.owner, {
          shadow_event_id: fresh.proposal_id!
        })
        expect(JSON.stringify(prov, (_, v) => (typeof v === "bigint" ? v.toString() : v))).toContain(
          learned.memory.reason_uid
        )
        // nothing was booked by the rejection or the new proposal
        expect(yield* probe.count("entries", fx.tenant)).toBe(entries)

        // a person's later label of 6000 supersedes the rejection: the correction books 6000 after all
        yield* TestClock.adjust("1 hour")
        yield* c.apply(fx.tenant, fx.bookkeeper, fresh.proposal_id!, {
          splits: [{ account_code: "6000", amount: "12.50" }]
        })
        yield* importOne(fx, DESCRIPTION, AMOUNT)
        const after = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect(after.splits.map((s) => s.account_code)).toStrictEqual(["6000"])
        expect(after.questions.some((q) => q.includes("was rejected"))).toBe(false)
        expect(after.risk_reasons).not.toContain("vendor_rejected")
        const afterStored = yield* stored(fx, after.proposal_id!)
        expect([afterStored.memory.outcome, afterStored.memory.rejected, afterStored.memory.details.rejected])
          .toStrictEqual(["candidates", undefined, []])
      }))

    it.effect("when the chain still ends on the rejected account it asks, names the reason and does not auto-post", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("r-ruled")
        const c = yield* Companion.Companion
        const tenants = yield* Tenants.Tenants
        // the vendor is known: three consistent labels of 6200, not cold-start
        for (let i = 0; i < 3; i++) yield* bookByRule(fx, DESCRIPTION, "6200", AMOUNT)
        yield* tenants.updateSettings(fx.tenant, {
          ai_mode: "autopilot_limited",
          extensions: { "companion.autopost_enabled": true, "companion.spot_check_rate": 0 }
        }, fx.owner)
        // a tenant rule books the vendor to 6000; the person rejects that proposal
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Prospect meetings",
          description_contains: "WITH PROSPECT",
          account_code: "6000"
        })
        yield* importOne(fx, DESCRIPTION, AMOUNT)
        const first = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect([first.status, first.splits.map((s) => s.account_code), first.tier]).toStrictEqual([
          "proposed",
          ["6000"],
          0
        ])
        expect(first.not_auto_post_reasons).not.toContain(AutoPost.Reasons.coldStart)
        expect(first.risk_reasons).toStrictEqual([])
        yield* c.reject(fx.tenant, fx.bookkeeper, first.proposal_id!, "not marketing")

        // the rule still decides 6000: the proposal asks about the rejection and is held for a person
        const again = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect([again.bank_transaction_id, again.status, again.splits.map((s) => s.account_code)]).toStrictEqual([
          first.bank_transaction_id,
          "proposed",
          ["6000"]
        ])
        expect(again.questions).toContain(
          `Account 6000 was rejected for “${VENDOR}” by a person (1 time: “not marketing”): is it right this time?`
        )
        expect(again.risk_reasons).toStrictEqual(["vendor_cold_start", "vendor_rejected", "open_questions"])
        expect(again.not_auto_post_reasons).toContain(AutoPost.Reasons.coldStart)
        expect(again.tier).toBe(1)
        const againStored = yield* stored(fx, again.proposal_id!)
        expect([againStored.detail.deciding_stage, againStored.memory.outcome]).toStrictEqual(["rules", "skipped"])
        expect(againStored.detail.not_auto_post_reasons).toContain(AutoPost.Reasons.coldStart)
        expect(again.rationale).toContain("rules → 6000 (rejected by a person before: 6000)")
        // the vendor's label is untouched: 6200, three labels
        const labels = yield* (yield* AgentMemory.AgentMemoryStore).itemsByKey(
          fx.tenant,
          VendorMemoryStage.labelKey(VENDOR)
        )
        expect(labels.map((i) => [i.status, (i.value as { account_code: string }).account_code, i.reinforced_count]))
          .toStrictEqual([["active", "6200", 3]])
      }))
  })

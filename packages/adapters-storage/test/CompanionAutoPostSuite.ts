/**
 * The conformance suite of what keeps a proposal from auto-posting besides the gate matrix, end to
 * end on the real companion service: a question a person should answer (unusual amount for the
 * vendor) blocks under `autopost.open_questions`; the spot-check draw cannot be redrawn by
 * re-proposing; a tenant with no rules and no model stores a no-answer proposal (counted under
 * `autopost.no_answer`) that a person applies with splits, which teaches vendor memory and the
 * classifier. Run unchanged on memory, SQLite and PostgreSQL.
 */
import { AutoPost, Companion, VendorMemoryStage } from "@airlock/companion"
import { AgentMemory, Tenants } from "@airlock/core"
import { BankTransaction } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Either, type Layer, TestClock } from "effect"
import { day, eligible, type Fx, importOne, vendors } from "./support/CompanionAutopost.js"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

type Ports = CompanionEnvironment.Ports | CompanionProbe

const environment = <E>(ports: Layer.Layer<Ports, E>) => CompanionEnvironment.environment(ports, { seed: 37 })

/** A tenant with the small-business chart (no rules), a bookkeeper, the agent and an owner. */
const fixture = (id: string, ai_mode: "suggest_only" | "drafts" = "suggest_only") =>
  CompanionEnvironment.tenant(id, { members: CompanionEnvironment.staff, settings: { ai_mode } })

const importLines = (fx: Fx, lines: ReadonlyArray<{ date: string; description: string; amount: string }>) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) => b.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "json", transactions: [...lines] })
  )

/**
 * A tenant whose rules' proposals a person applied until a threshold certified, then switched to
 * `autopilot_limited` with auto-post on and no spot checks: an Adobe line of the usual amount
 * auto-posts there (the gate-matrix suite's baseline).
 */
const certifiedTenant = (id: string) =>
  Effect.gen(function*() {
    const fx = yield* fixture(id)
    const { reviews } = yield* eligible(fx)
    const set = (extensions: Record<string, unknown>) =>
      Effect.flatMap(
        Tenants.Tenants,
        (t) => t.updateSettings(fx.tenant, { ai_mode: "autopilot_limited", extensions }, fx.owner)
      )
    return { fx, set, next: reviews + 10 }
  })

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 300_000 })(`companion auto-post: ${name}`, (it) => {
    it.effect("open questions and the spot check: an unusual amount never auto-posts; re-proposing never redraws", () =>
      Effect.gen(function*() {
        const probe = yield* CompanionProbe
        const c = yield* Companion.Companion
        const { fx, next, set } = yield* certifiedTenant("ap-questions")
        const adobe = vendors[1]
        let n = next

        // the baseline: the usual amount auto-posts, no question
        yield* TestClock.adjust("1 minute")
        const since = yield* Clock.currentTimeMillis
        yield* TestClock.adjust("1 minute")
        const usual = yield* importOne(fx, day(n++), adobe.description, adobe.amount)
        const base = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: usual.ids })).items[0]!
        expect([base.status, base.questions, base.not_auto_post_reasons]).toStrictEqual(["auto_posted", [], []])
        const entries = yield* probe.count("entries", fx.tenant)

        // the review's case: the vendor's usual amount is 54.99, this one 954.99 (below the value breaker)
        const unusual = yield* importOne(fx, day(n++), adobe.description, "-954.99")
        const r = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: unusual.ids })
        const item = r.items[0]!
        expect(item.questions.some((q) => q.startsWith("Unusual amount for"))).toBe(true)
        expect([r.proposed, r.auto_posted]).toStrictEqual([1, 0])
        expect([item.status, item.not_auto_post_reasons]).toStrictEqual(["proposed", [AutoPost.Reasons.openQuestions]])
        expect(item.tier).toBe(1)
        expect(item.risk_reasons).toStrictEqual([Companion.RiskReasons.openQuestions])
        // stored and counted under its code; nothing posted, nobody reviewed it
        const detail = (yield* c.shadowEvent(fx.tenant, fx.owner, item.proposal_id!)).detail!
        expect(detail.not_auto_post_reasons).toStrictEqual([AutoPost.Reasons.openQuestions])
        const checks = (detail.autopost as { checks: ReadonlyArray<AutoPost.Check> }).checks
        expect(checks.find((x) => x.check === "no_open_questions")).toMatchObject({ ok: false })
        expect(yield* c.notAutoPostCounts(fx.tenant, fx.owner, since)).toStrictEqual({ "autopost.open_questions": 1 })
        expect(yield* probe.count("entries", fx.tenant)).toBe(entries)
        expect((yield* probe.review(fx.tenant, item.proposal_id!))?.outcome ?? null).toBe(null)
        // re-proposing it asks again and holds again
        const again = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: unusual.ids })).items[0]!
        expect([again.status, again.not_auto_post_reasons]).toStrictEqual(["proposed", ["autopost.open_questions"]])
        expect(yield* probe.count("entries", fx.tenant)).toBe(entries)

        // the spot check at 0.5: N usual lines, some auto-post, the rest are held for a person
        yield* set({ "companion.autopost_enabled": true, "companion.spot_check_rate": 0.5 })
        const lines = Array.from({ length: 20 }, (_, i) => ({
          date: day(n + i),
          description: `${adobe.description} ${7000 + i}`,
          amount: adobe.amount
        }))
        n += 20
        const batch = yield* importLines(fx, lines)
        const first = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: batch.ids })
        const held = first.items.filter((i) => i.status === "proposed")
        expect(held.length).toBeGreaterThan(0)
        expect(first.auto_posted).toBeGreaterThan(0)
        expect(held.length + first.auto_posted).toBe(20)
        for (const h of held) expect(h.not_auto_post_reasons).toStrictEqual([AutoPost.Reasons.spotCheck])
        const afterFirst = yield* probe.count("entries", fx.tenant)
        expect(afterFirst).toBe(entries + first.auto_posted)
        // an agent re-proposing the held ones, twice: none auto-posts, each is held again, nothing posted
        for (let round = 0; round < 2; round++) {
          const ids = held.map((h) => h.bank_transaction_id)
          const re = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: ids })
          expect(re.auto_posted).toBe(0)
          expect(re.items.map((i) => [i.status, i.not_auto_post_reasons])).toStrictEqual(
            ids.map(() => ["proposed", [AutoPost.Reasons.spotCheck]])
          )
          expect(yield* probe.count("entries", fx.tenant)).toBe(afterFirst)
        }

        // the certificate is about what may auto-post: proposals asking a question never do, so a person
        // correcting ten of them (rent at a tenth of its usual amount, split off a bank fee: the vendor's
        // label stays 6300, so it is not cold-start) does not end the certificate
        yield* set({ "companion.autopost_enabled": true, "companion.spot_check_rate": 0 })
        const rent = vendors[0]
        for (let i = 0; i < 10; i++) {
          const odd = yield* importOne(fx, day(n++), `${rent.description} ${9000 + i}`, "-240.00")
          const p = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: odd.ids })).items[0]!
          expect(p.not_auto_post_reasons).toStrictEqual([AutoPost.Reasons.openQuestions])
          const fixed = yield* c.apply(fx.tenant, fx.bookkeeper, p.proposal_id!, {
            splits: [{ account_code: "6300", amount: "200.00" }, { account_code: "6100", amount: "40.00" }]
          })
          expect(fixed.outcome).toBe("corrected")
          yield* TestClock.adjust("1 hour")
        }
        const later = yield* importOne(fx, day(n++), adobe.description, adobe.amount)
        const still = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: later.ids })).items[0]!
        expect([still.status, still.not_auto_post_reasons]).toStrictEqual(["auto_posted", []])
      }))

    it.effect("a tenant with no rules and no model learns: no-answer proposal, a person's splits, vendor memory next time", () =>
      Effect.gen(function*() {
        const probe = yield* CompanionProbe
        const c = yield* Companion.Companion
        const memoryStore = yield* AgentMemory.AgentMemoryStore
        const fx = yield* fixture("ap-fresh")
        const since = yield* Clock.currentTimeMillis
        yield* TestClock.adjust("1 minute")
        const first = yield* importOne(fx, day(0), "SQ *BLUE BOTTLE COFFEE 0407 OAKLAND CA", "-8.80")
        const r = yield* c.propose(fx.tenant, fx.agent, {})
        expect([r.proposed, r.unresolved, r.auto_posted, r.failed]).toStrictEqual([0, 1, 0, 0])
        const item = r.items[0]!
        expect(item).toMatchObject({
          bank_transaction_id: first.ids[0],
          status: "unresolved",
          proposal_id: null,
          splits: [],
          tier: 2
        })
        const id = item.no_answer_proposal_id!
        expect(id).toBeTypeOf("string")
        expect(item.questions[0]).toBe(Companion.NO_ANSWER_QUESTION)
        expect(item.questions.some((q) => q.startsWith("New vendor"))).toBe(true)
        expect(item.risk_reasons).toStrictEqual([
          "vendor_cold_start",
          Companion.RiskReasons.noAnswer,
          Companion.RiskReasons.openQuestions
        ])
        const reasons = [
          AutoPost.Reasons.mode,
          AutoPost.Reasons.disabled,
          AutoPost.Reasons.noAnswer,
          AutoPost.Reasons.coldStart,
          AutoPost.Reasons.openQuestions
        ]
        expect(item.not_auto_post_reasons).toStrictEqual(reasons)
        // stored: the shadow proposal with no splits, its detail, its reasons counted
        const event = yield* c.shadowEvent(fx.tenant, fx.owner, id)
        expect(event.proposal.status).toBe("proposed")
        expect((event.proposal.payload as { splits: ReadonlyArray<unknown> }).splits).toStrictEqual([])
        expect([event.detail!.splits, event.detail!.deciding_stage]).toStrictEqual([[], null])
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        expect(yield* probe.count("reasons", fx.tenant)).toBe(reasons.length)
        const counts = yield* c.notAutoPostCounts(fx.tenant, fx.owner, since)
        expect(counts[AutoPost.Reasons.noAnswer]).toBe(1)
        // proposing all again tries it again: still no answer, so the open one stays, nothing new is stored
        const retried = yield* c.propose(fx.tenant, fx.agent, {})
        expect(retried.items.map((i) => [i.status, i.proposal_id, i.no_answer_proposal_id])).toStrictEqual([
          ["unresolved", null, id]
        ])
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        expect((yield* c.shadowEvent(fx.tenant, fx.owner, id)).proposal.status).toBe("proposed")

        // applying it without splits is refused with its code, and nothing is written
        const refused = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, id))
        expect(Either.isLeft(refused) && refused.left.code).toBe("validation.splits_required")
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        expect(yield* probe.count("classifiers", fx.tenant)).toBe(0)
        expect((yield* c.shadowEvent(fx.tenant, fx.owner, id)).proposal.status).toBe("proposed")
        expect((yield* probe.review(fx.tenant, id))?.outcome).toBe(null)

        // a person applies it with the account chosen: a correction, booked once, teaching memory and the classifier
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, id, {
          splits: [{ account_code: "6200", amount: "8.80" }]
        })
        expect(applied.outcome).toBe("corrected")
        expect(applied.correction).toStrictEqual({
          currency: "USD",
          original_splits: [],
          corrected_splits: [{ account_code: "6200", amount_minor: "880" }]
        })
        expect(applied.entry_id).toBeTypeOf("string")
        expect(applied.learning).toMatchObject({ memory: { outcome: "created" }, classifier: { version: 1 } })
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
        expect(yield* probe.count("classifiers", fx.tenant)).toBe(1)
        expect(yield* probe.review(fx.tenant, id)).toMatchObject({
          outcome: "corrected",
          entry_id: applied.entry_id,
          applied_proposal_id: applied.applied_proposal_id
        })
        const uid = (applied.learning as { memory: { uid: string } }).memory.uid
        const facts = yield* VendorMemoryStage.read(
          memoryStore,
          fx.tenant,
          event.detail!.vendor_key,
          yield* Clock.currentTimeMillis
        )
        expect([facts.account_code, facts.labels]).toStrictEqual(["6200", 1])

        // the next transaction of the vendor gets a proposal, from vendor memory (and the classifier)
        yield* TestClock.adjust("1 day")
        const later = yield* importOne(fx, day(3), "SQ *BLUE BOTTLE COFFEE 0519 OAKLAND CA", "-6.75")
        const second = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: later.ids })).items[0]!
        expect(second).toMatchObject({ status: "proposed", splits: [{ account_code: "6200", amount: "6.75" }] })
        const stages = (yield* c.shadowEvent(fx.tenant, fx.owner, second.proposal_id!)).detail!.stages as ReadonlyArray<
          Record<string, any>
        >
        const memoryStage = stages.find((s) => s.stage === VendorMemoryStage.NAME)!
        expect(memoryStage).toMatchObject({ outcome: "candidates", splits: [{ account_code: "6200" }] })
        expect(memoryStage.details.memory_uids).toContain(uid)

        // money in: the classifier knows only an expense account, which money in may not use — stored as no answer
        const inflow = yield* importOne(fx, day(4), "ACME CORP INV 1042", "500.00")
        const income = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: inflow.ids })).items[0]!
        expect(income).toMatchObject({ status: "unresolved", proposal_id: null, splits: [] })
        expect(income.no_answer_proposal_id).toBeTypeOf("string")
        expect(income.not_auto_post_reasons).toContain(AutoPost.Reasons.noAnswer)
      }))

    it.effect("with an active rule and an untrained classifier an unanswered item stays unresolved: nothing stored", () =>
      Effect.gen(function*() {
        const probe = yield* CompanionProbe
        const c = yield* Companion.Companion
        const fx = yield* fixture("ap-ruled", "drafts")
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Rent",
          description_contains: "OAKWOOD",
          account_code: "6300"
        })
        yield* importOne(fx, day(0), "SQ *BLUE BOTTLE COFFEE 0407 OAKLAND CA", "-8.80")
        const r = yield* c.propose(fx.tenant, fx.agent, {})
        expect(r.items[0]).toMatchObject({ status: "unresolved", proposal_id: null, no_answer_proposal_id: null })
        expect(yield* probe.count("proposals", fx.tenant)).toBe(0)
        // the rule is switched off: nothing can teach the tenant now but a person's booking of it
        const rule = (yield* c.listRules(fx.tenant, fx.owner))[0]!
        yield* c.updateRule(fx.tenant, fx.owner, rule.id, {
          name: "Rent",
          description_contains: "OAKWOOD",
          account_code: "6300",
          active: false
        })
        const again = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect([again.status, again.proposal_id]).toStrictEqual(["unresolved", null])
        const open = again.no_answer_proposal_id!
        expect(open).toBeTypeOf("string")
        // a batch apply in drafts: the no-answer item fails alone with its code, nothing written
        const batch = yield* c.applyBatch(fx.tenant, fx.bookkeeper, [open])
        expect(batch.map((b) => [b.status, b.error?.code])).toStrictEqual([["failed", "validation.splits_required"]])
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        // a rule that answers now: proposing all tries it again, and the answer supersedes the no-answer proposal
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Coffee",
          description_contains: "BLUE BOTTLE",
          account_code: "6200"
        })
        const ruled = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect(ruled).toMatchObject({ status: "proposed", no_answer_proposal_id: null })
        expect((yield* c.shadowEvent(fx.tenant, fx.owner, open)).proposal.status).toBe("superseded")
        yield* c.applyBatch(fx.tenant, fx.bookkeeper, [ruled.proposal_id!])
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))
  })

/**
 * The conformance suite of the companion's auto-post gate matrix and vendor memory, end to end on
 * the real companion service: from a tenant where an item auto-posts, each condition failing
 * alone blocks and is counted under its code (stored on the proposal, counted by
 * `notAutoPostCounts`, nothing posted); contradicting vendor labels from a non-person source wait
 * in memory's review queue; a vendor relabelled consistently by a person is followed. Run
 * unchanged on memory, SQLite and PostgreSQL.
 */
import { AutoPost, Companion, CompanionPorts, VendorMemoryStage } from "@airlock/companion"
import { AgentMemory, Tenants } from "@airlock/core"
import { GuardrailsConfig, KindPolicy } from "@airlock/guardrails"
import { BankTransaction, PeriodLock, Proposals } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Either, type Layer, Option, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

type Ports = CompanionEnvironment.Ports | CompanionProbe

const environment = <E>(ports: Layer.Layer<Ports, E>) => CompanionEnvironment.environment(ports, { seed: 31 })

/** A tenant with the small-business chart, a bookkeeper, the agent and an owner. */
const fixture = (id: string) =>
  CompanionEnvironment.tenant(id, {
    members: {
      owner: CompanionEnvironment.people.owner,
      bookkeeper: CompanionEnvironment.people.bookkeeper,
      agent: CompanionEnvironment.people.agent
    }
  })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString().slice(0, 10)

const importOne = (fx: Fx, date: string, description: string, amount: string) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) =>
      b.importFile(fx.tenant, fx.bookkeeper, {
        account_code: "1000",
        format: "json",
        transactions: [{ date, description, amount }]
      })
  )

const vendors = [
  { description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00", account: "6300", rule: "OAKWOOD PROPERTY" },
  { description: "ADOBE *CREATIVE CLD 800-833-6687 CA", amount: "-54.99", account: "6200", rule: "ADOBE" },
  { description: "MONTHLY SERVICE FEE", amount: "-15.00", account: "6100", rule: "SERVICE FEE" }
] as const

/** A person's review cycle: import, propose, apply as proposed; six hours pass. */
const reviewCycle = (fx: Fx, i: number) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const v = vendors[i % vendors.length]!
    const imported = yield* importOne(fx, day(i), `${v.description} ${1000 + i}`, v.amount)
    const item = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })).items[0]!
    expect(item.status).toBe("proposed")
    yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
    yield* TestClock.adjust("6 hours")
  })

const VENDOR_KEY = "mailchimp monthly"

/** Imports one transaction of `description` and proposes it: the item and the vendor-memory stage's output. */
const propose = (fx: Fx, description: string) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    yield* TestClock.adjust("1 day")
    const now = yield* Clock.currentTimeMillis
    const date = new Date(now).toISOString().slice(0, 10)
    const imported = yield* importOne(fx, date, description, "-29.00")
    const item = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })).items[0]!
    const detail = item.proposal_id === null
      ? null
      : (yield* c.shadowEvent(fx.tenant, fx.owner, item.proposal_id)).detail
    const stages = (detail?.stages ?? []) as ReadonlyArray<Record<string, any>>
    const stage = stages.find((s) => s.stage === VendorMemoryStage.NAME) ?? null
    return { item, stage: stage as Record<string, any> }
  })

/**
 * A person books the next transaction of `description` to `account`: applied as proposed, or
 * corrected; with no proposal (nothing known), booked through a one-off rule. The proposal as it was.
 */
const labeller = (fx: Fx, description: string) => (account: string) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const p = yield* propose(fx, description)
    if (p.item.proposal_id !== null) {
      const same = p.item.splits.length === 1 && p.item.splits[0]!.account_code === account
      yield* c.apply(
        fx.tenant,
        fx.bookkeeper,
        p.item.proposal_id,
        same ? {} : { splits: p.item.splits.map((s) => ({ account_code: account, amount: s.amount })) }
      )
      return p
    }
    const rule = yield* c.createRule(fx.tenant, fx.owner, {
      name: "one-off",
      description_contains: description,
      account_code: account
    })
    const ruled = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
    yield* c.apply(fx.tenant, fx.bookkeeper, ruled.proposal_id!)
    yield* c.deleteRule(fx.tenant, fx.owner, rule.id)
    return p
  })

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 300_000 })(`companion gates: ${name}`, (it) => {
    it.effect("auto-post gate matrix: from an eligible tenant, each condition failing alone blocks under its code", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("g-matrix")
        const probe = yield* CompanionProbe
        const c = yield* Companion.Companion
        const tenants = yield* Tenants.Tenants
        const models = yield* CompanionPorts.CompanionModelStore
        for (const v of vendors) {
          yield* c.createRule(fx.tenant, fx.owner, {
            name: v.rule,
            description_contains: v.rule,
            account_code: v.account
          })
        }
        // reviewed history until a threshold certifies (as in the companion suite's auto-post flow)
        let reviews = 0
        let certified: number | null = null
        while (certified === null && reviews < 200) {
          yield* reviewCycle(fx, reviews)
          reviews++
          const latest = yield* models.latestCalibration(fx.tenant)
          if (Option.isSome(latest))
            certified = (latest.value.certificate as { threshold?: number | null }).threshold ?? null
        }
        expect(certified).not.toBeNull()
        const set = (extensions: Record<string, unknown>, mode?: "suggest_only" | "autopilot_limited") =>
          tenants.updateSettings(fx.tenant, { ...(mode ? { ai_mode: mode } : {}), extensions }, fx.owner)
        yield* set({ "companion.autopost_enabled": true, "companion.spot_check_rate": 0 }, "autopilot_limited")

        let n = 400
        /** Imports one Adobe transaction and proposes it; the item, its stored detail and the counts since. */
        const attempt = Effect.gen(function*() {
          n++
          yield* TestClock.adjust("1 minute")
          const since = yield* Clock.currentTimeMillis
          yield* TestClock.adjust("1 minute")
          const entries = yield* probe.count("entries", fx.tenant)
          const imported = yield* importOne(fx, day(n), vendors[1].description, vendors[1].amount)
          const r = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })
          const item = r.items[0]!
          expect(item.error).toBe(null)
          const detail = (yield* c.shadowEvent(fx.tenant, fx.owner, item.proposal_id!)).detail!
          return {
            item,
            stored: detail.not_auto_post_reasons,
            counts: yield* c.notAutoPostCounts(fx.tenant, fx.owner, since),
            posted: (yield* probe.count("entries", fx.tenant)) - entries,
            auto_posted: r.auto_posted
          }
        })
        /** One condition failing alone: blocked, stored and counted under exactly `code`, nothing posted. */
        const blockedBy = (code: string) =>
          Effect.gen(function*() {
            const a = yield* attempt
            expect({ code, status: a.item.status, reasons: a.item.not_auto_post_reasons }).toStrictEqual({
              code,
              status: "proposed",
              reasons: [code]
            })
            expect(a.stored).toStrictEqual([code])
            expect(a.counts).toStrictEqual({ [code]: 1 })
            expect([a.posted, a.auto_posted]).toStrictEqual([0, 0])
            expect((yield* probe.review(fx.tenant, a.item.proposal_id!))?.outcome ?? null).toBe(null)
            return a
          })

        const matrixStart = yield* Clock.currentTimeMillis
        // the baseline: eligible, auto-posted, nothing counted
        const base = yield* attempt
        expect([base.item.status, base.item.not_auto_post_reasons, base.stored]).toStrictEqual(["auto_posted", [], []])
        expect([base.counts, base.posted, base.auto_posted]).toStrictEqual([{}, 1, 1])

        // mode
        yield* set({}, "suggest_only")
        yield* blockedBy(AutoPost.Reasons.mode)
        yield* set({}, "autopilot_limited")

        // autopost_enabled off
        yield* set({ "companion.autopost_enabled": false })
        yield* blockedBy(AutoPost.Reasons.disabled)
        yield* set({ "companion.autopost_enabled": true })

        // the LLM budget's fallback is active: the tenant's cap is spent (0.00 ≤ 0 spent)
        yield* set({ [GuardrailsConfig.TenantKeys.llmTenantCapUsd]: "0.00" })
        yield* blockedBy(AutoPost.Reasons.llmFallback)
        yield* set({ [GuardrailsConfig.TenantKeys.llmTenantCapUsd]: null })

        // the kind's policy requires an approval at apply (a host's risk score over the threshold), none granted
        const policies = yield* KindPolicy.KindPolicies
        const policy = Option.getOrThrow(policies.get(Proposals.KIND))
        yield* policies.register(Proposals.KIND, { ...policy, riskScore: () => 0.95, approvalAt: "apply" })
        yield* blockedBy(AutoPost.Reasons.approval).pipe(
          Effect.ensuring(Effect.orDie(policies.register(Proposals.KIND, policy)))
        )

        // a propose-time gate asks for review: the transaction's date is in a locked period
        yield* (yield* PeriodLock.PeriodLocks).set(fx.tenant, fx.owner, { lock_date: day(n + 1) })
        yield* blockedBy(AutoPost.Reasons.review)

        // the spot-check slice: otherwise eligible, sent to a person
        yield* set({ "companion.spot_check_rate": 1 })
        yield* blockedBy(AutoPost.Reasons.spotCheck)
        yield* set({ "companion.spot_check_rate": 0 })

        // back to eligible with every condition restored
        const again = yield* attempt
        expect([again.item.status, again.posted]).toStrictEqual(["auto_posted", 1])

        // no threshold certifies at the raised target (the refit for the new target finds none)
        yield* set({ "companion.target_precision": 0.999 })
        const uncertified = yield* blockedBy(AutoPost.Reasons.notCertified)
        expect(uncertified.item.calibrated_probability).toBeGreaterThanOrEqual(0.9)
        const cert = Option.getOrThrow(yield* models.latestCalibration(fx.tenant)).certificate as {
          target_precision: number
          threshold: number | null
        }
        expect([cert.target_precision, cert.threshold]).toStrictEqual([0.999, null])

        // over the whole matrix: each code counted once, the two auto-posts counted nowhere
        const all = yield* c.notAutoPostCounts(fx.tenant, fx.owner, matrixStart)
        expect(all).toStrictEqual({
          "autopost.mode": 1,
          "autopost.disabled": 1,
          "autopost.llm_fallback": 1,
          "autopost.approval_required": 1,
          "autopost.review_reasons": 1,
          "autopost.spot_check": 1,
          "autopost.not_certified": 1
        })
        expect(yield* probe.count("entries", fx.tenant)).toBe(reviews + 2)
      }))

    it.effect("vendor memory: a contradicting label from an agent waits in the review queue; the stage asks, not decides", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("g-conflict")
        const c = yield* Companion.Companion
        const store = yield* AgentMemory.AgentMemoryStore
        const label = labeller(fx, "MAILCHIMP *MONTHLY")
        for (let i = 0; i < 3; i++) yield* label("6200")
        const decided = yield* label("6200")
        expect(decided.stage).toMatchObject({ outcome: "decided", splits: [{ account_code: "6200" }] })
        // an agent (not a person) writes a contradicting label through agent memory
        const written = yield* VendorMemoryStage.learnLabel(
          yield* AgentMemory.AgentMemory,
          fx.tenant,
          fx.agent,
          VENDOR_KEY,
          "6100",
          "agent:copilot"
        )
        expect(written.outcome).toBe("conflict")
        const items = yield* store.itemsByKey(fx.tenant, VendorMemoryStage.labelKey(VENDOR_KEY))
        expect(
          items.map((i) => [i.status, (i.value as { account_code: string }).account_code, i.reinforced_count]).sort()
        ).toStrictEqual([["active", "6200", 4], ["pending_review", "6100", 1]])
        const queue = yield* store.listOpenReviews(fx.tenant, { limit: 10 })
        expect(queue.map((r) => r.uid)).toStrictEqual([written.item.uid])
        // the next proposal: the memory stage offers its account as a candidate and asks about the conflict
        const next = yield* propose(fx, "MAILCHIMP *MONTHLY")
        expect(next.stage).toMatchObject({ outcome: "candidates", reason: "vendor.conflict_pending" })
        expect(next.stage.details.conflicts_pending).toBe(1)
        expect(next.item.questions.join(" ")).toContain("1 contradicting label(s)")
        expect(next.item.splits.map((s) => s.account_code)).toStrictEqual(["6200"])
        // the agent's label changed nothing in force
        const after = yield* store.itemsByKey(fx.tenant, VendorMemoryStage.labelKey(VENDOR_KEY))
        expect(after.filter((i) => i.status === "active").map((i) => i.uid)).toStrictEqual(
          items.filter((i) => i.status === "active").map((i) => i.uid)
        )
        yield* c.reject(fx.tenant, fx.bookkeeper, next.item.proposal_id!, "test over")
      }))

    it.effect("vendor memory: a vendor relabelled consistently by a person is followed, not fought", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("g-relabel")
        const store = yield* AgentMemory.AgentMemoryStore
        const label = labeller(fx, "MAILCHIMP *MONTHLY")
        for (let i = 0; i < 3; i++) yield* label("6200")
        const old = (yield* store.itemsByKey(fx.tenant, VendorMemoryStage.labelKey(VENDOR_KEY)))[0]!
        // A decides; the person corrects it to B: the old fact is superseded at once
        const corrected = yield* label("6100")
        expect(corrected.stage).toMatchObject({ outcome: "decided", splits: [{ account_code: "6200" }] })
        const items = yield* store.itemsByKey(fx.tenant, VendorMemoryStage.labelKey(VENDOR_KEY))
        const byUid = new Map(items.map((i) => [i.uid, i]))
        expect(byUid.get(old.uid)?.status).toBe("superseded")
        const active = items.filter((i) => i.status === "active")
        expect(active.map((i) => [(i.value as { account_code: string }).account_code, i.reinforced_count]))
          .toStrictEqual(
            [["6100", 1]]
          )
        expect((yield* store.listOpenReviews(fx.tenant, { limit: 10 })).length).toBe(0)
        // from the next transaction on the memory stage proposes B (cold-start) and decides B after three labels;
        // the chain's proposal follows B from the first label: the person's relabel is authoritative, so the
        // classifier, still trained mostly on A, does not outvote memory's 0.5
        const outcomes: Array<[string, string | null, ReadonlyArray<string>, ReadonlyArray<string>, unknown]> = []
        const proposals: Array<{ readonly questions: ReadonlyArray<string>; readonly reasons: ReadonlyArray<string> }> =
          []
        for (let i = 0; i < 3; i++) {
          const r = yield* label("6100")
          outcomes.push([
            r.stage.outcome,
            r.stage.reason,
            r.stage.splits.map((s: { account_code: string }) => s.account_code),
            r.item.splits.map((s) => s.account_code),
            r.stage.details.relabelled_from
          ])
          proposals.push({ questions: r.item.questions, reasons: r.item.not_auto_post_reasons })
        }
        expect(outcomes).toStrictEqual([
          ["candidates", "vendor.cold_start", ["6100"], ["6100"], "6200"],
          ["candidates", "vendor.cold_start", ["6100"], ["6100"], "6200"],
          ["decided", null, ["6100"], ["6100"], "6200"]
        ])
        // while cold-start the proposal asks about the relabel and does not auto-post
        expect(proposals.map((p) => p.questions.filter((q) => q.includes("was relabelled from")))).toStrictEqual([
          [`“${VENDOR_KEY}” was relabelled from 6200 to 6100 by a person (1 of 3 labels): is 6100 right?`],
          [`“${VENDOR_KEY}” was relabelled from 6200 to 6100 by a person (2 of 3 labels): is 6100 right?`],
          []
        ])
        expect(proposals.map((p) => p.reasons.includes(AutoPost.Reasons.coldStart))).toStrictEqual([true, true, false])
        const final = yield* propose(fx, "MAILCHIMP *MONTHLY")
        expect(final.stage).toMatchObject({ outcome: "decided", splits: [{ account_code: "6100" }] })
        expect(final.item.not_auto_post_reasons).not.toContain(AutoPost.Reasons.coldStart)
      }))

    it.effect("batch apply: allowed in drafts and in the higher autopilot_limited, refused below drafts", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("g-batch")
        const probe = yield* CompanionProbe
        const c = yield* Companion.Companion
        const tenants = yield* Tenants.Tenants
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Fees",
          description_contains: "SERVICE FEE",
          account_code: "6100"
        })
        const proposeFees = (from: number) =>
          Effect.gen(function*() {
            const ids: Array<string> = []
            for (let i = from; i < from + 2; i++) {
              const imported = yield* importOne(fx, day(i), `MONTHLY SERVICE FEE ${i}`, "-15.00")
              const item = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })).items[0]!
              expect(item.status).toBe("proposed")
              ids.push(item.proposal_id!)
            }
            return ids
          })
        // autopilot_limited with auto-post off (its default): the proposals wait for a person
        yield* tenants.updateSettings(fx.tenant, { ai_mode: "autopilot_limited" }, fx.owner)
        const auto = yield* proposeFees(0)
        const applied = yield* c.applyBatch(fx.tenant, fx.bookkeeper, auto)
        expect(applied.map((r) => [r.id, r.status, r.error])).toStrictEqual(auto.map((id) => [id, "applied", null]))
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
        for (const id of auto) expect((yield* probe.review(fx.tenant, id))?.outcome).toBe("applied")
        // suggest_only: refused naming the mode, nothing applied
        const open = yield* proposeFees(10)
        yield* tenants.updateSettings(fx.tenant, { ai_mode: "suggest_only" }, fx.owner)
        const refused = yield* Effect.either(c.applyBatch(fx.tenant, fx.bookkeeper, open))
        expect(Either.isLeft(refused) && [refused.left.code, refused.left.message]).toStrictEqual([
          "mode.forbidden",
          "Batch apply needs drafts mode or higher; the tenant is in suggest_only"
        ])
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
      }))
  })

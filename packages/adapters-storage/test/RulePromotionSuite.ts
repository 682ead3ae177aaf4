/**
 * The conformance suite of rule promotion, end to end on the real companion: a person labels a
 * vendor until the threshold → a pending promotion (a governed action) → a second person
 * approves → the next proposal is decided by the promoted rule, named in its rationale; the
 * reject and supersede paths; agents, the system and the labeller cannot approve; auto-posts
 * teach nothing. Run unchanged on memory, SQLite and PostgreSQL.
 */
import { Companion, CompanionPorts, CompanionReportsPorts, RulePromotion } from "@airlock/companion"
import { GovernedActions, Ids } from "@airlock/core"

import { BankTransaction } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer, Option, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"

type Ports = CompanionEnvironment.Ports | CompanionReportsPorts.CompanionReportsPorts

const T = (s: string) => Ids.TenantId.make(s)
const FEB_1 = Date.parse("2026-02-01T00:00:00Z")
const VENDOR = "blue bottle coffee"

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Companion.layer.pipe(
    Layer.provideMerge(RulePromotion.layer),
    Layer.provideMerge(RulePromotion.layerSettings({ minLabels: 3 })),
    Layer.provideMerge(
      CompanionEnvironment.foundation(ports, { seed: 15, guardrails: { velocityMaxPerMinute: 10_000 } })
    )
  )

/** A tenant with people, an agent-kind actor holding a controller's role, and a low-precedence coffee rule (→ 6200). */
const tenantOf = (id: string) =>
  Effect.gen(function*() {
    const { bea, bot, carl, copilot, owner, tenant } = yield* CompanionEnvironment.tenant(id, {
      members: {
        owner: CompanionEnvironment.people.owner,
        bea: { name: "Bea", role: "BOOKKEEPER" },
        carl: { name: "Carl", role: "CONTROLLER" },
        bot: { name: "bot", role: "CONTROLLER", kind: "agent" },
        copilot: { name: "copilot", role: "AGENT", kind: "agent" }
      }
    })
    const c = yield* Companion.Companion
    yield* c.createRule(tenant, owner, {
      name: "Coffee fallback",
      priority: 5000,
      description_contains: "COFFEE",
      account_code: "6200"
    })
    let day = 1
    /** Imports one Blue Bottle transaction and proposes it; the proposal's id and item. */
    const next = Effect.gen(function*() {
      day++
      const bank = yield* BankTransaction.BankTransactions
      const imported = yield* bank.importFile(tenant, bea, {
        account_code: "1000",
        format: "json",
        transactions: [{
          date: `2026-01-${String(day).padStart(2, "0")}`,
          description: "BLUE BOTTLE COFFEE",
          amount: `-${day}.50`
        }]
      })
      const proposed = yield* c.propose(tenant, copilot, { bank_transaction_ids: imported.ids })
      return proposed.items[0]!
    })
    /** Bea books the next transaction to `account` (a correction of the coffee rule, or an apply). */
    const label = (account: string) =>
      Effect.gen(function*() {
        const item = yield* next
        yield* TestClock.adjust("1 minute")
        const splits = account === "6200"
          ? undefined
          : item.splits.map((s) => ({ account_code: account, amount: s.amount }))
        return yield* c.apply(tenant, bea, item.proposal_id!, splits === undefined ? {} : { splits })
      })
    return { tenant, owner, bea, carl, bot, copilot, next, label }
  })

const promotionOf = (r: Companion.ApplyResult) => (r.learning as { promotion?: RulePromotion.ConsiderResult }).promotion

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 120_000 })(`rule promotion conformance: ${name}`, (it) => {
    it.effect("labels → pending promotion → a second person approves → the rule decides and is named", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* tenantOf("p-approve")
        const promotions = yield* RulePromotion.RulePromotions
        const store = yield* CompanionReportsPorts.RulePromotionStore
        const rules = yield* CompanionPorts.CompanionRuleStore
        const pipeline = yield* GovernedActions.GovernedActions

        expect(promotionOf(yield* fx.label("6000"))).toStrictEqual({
          outcome: "none",
          reason: "not_enough_labels",
          superseded: null
        })
        expect(promotionOf(yield* fx.label("6000"))?.outcome).toBe("none")
        const third = promotionOf(yield* fx.label("6000"))
        expect(third?.outcome).toBe("proposed")
        const id = (third as { promotion_id: string }).promotion_id
        expect(id.startsWith("rpr_")).toBe(true)

        // persisted: one pending promotion with its evidence and its governed action
        const pending = yield* store.list(fx.tenant, { status: "pending", limit: 10 })
        expect(pending.map((p) => p.id)).toStrictEqual([id])
        const p = pending[0]!
        expect([p.vendor_key, p.direction, p.account_code, p.labels, p.created_by]).toStrictEqual([
          VENDOR,
          "outflow",
          "6000",
          3,
          fx.bea.id
        ])
        expect(p.evidence.threshold).toBe(3)
        expect(p.evidence.labels.map((l) => [l.reviewed_by, l.review_outcome, l.account_code])).toStrictEqual(
          Array(3).fill([fx.bea.id, "corrected", "6000"])
        )
        const action = yield* pipeline.get(fx.tenant, Ids.ActionId.make(p.action_id!))
        expect([action.kind, action.status, action.proposed_by, action.subject]).toStrictEqual([
          RulePromotion.KIND,
          "proposed",
          RulePromotion.PROMOTER_ACTOR_ID,
          `vendor:${VENDOR}`
        ])
        // the same labels again: still the one pending promotion (idempotent)
        expect(promotionOf(yield* fx.label("6000"))).toStrictEqual({ outcome: "pending", promotion_id: id })
        expect((yield* store.list(fx.tenant, { limit: 10 })).length).toBe(1)

        // the labeller, an agent and an AGENT-role token cannot approve; nothing changes
        const code = (e: Either.Either<unknown, { readonly code?: string }>) =>
          Either.isLeft(e) ? e.left.code : "approved"
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, fx.bea, id)))).toBe("rbac.forbidden")
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, fx.copilot, id)))).toBe("rbac.forbidden")
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, fx.bot, id)))).toBe(
          "companion.rule_promotion.approver_not_person"
        )
        const beaAsController = { ...fx.bea, role: "CONTROLLER" } as typeof fx.bea
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, beaAsController, id)))).toBe(
          "approval.self_approval"
        )
        expect(Option.getOrThrow(yield* store.get(fx.tenant, id)).status).toBe("pending")
        expect((yield* rules.list(fx.tenant)).map((r) => r.name)).toStrictEqual(["Coffee fallback"])

        // a second person approves: the rule is active, the action applied, the refusals traced
        const approved = yield* promotions.approve(fx.tenant, fx.carl, id)
        expect([approved.promotion.status, approved.promotion.rule_id, approved.promotion.reviewed_by]).toStrictEqual([
          "approved",
          id,
          fx.carl.id
        ])
        const rule = Option.getOrThrow(yield* rules.get(fx.tenant, id))
        expect([rule.name, rule.active, rule.created_by, rule.priority]).toStrictEqual([
          `promoted:${VENDOR}`,
          true,
          fx.carl.id,
          RulePromotion.RULE_PRIORITY
        ])
        expect(rule.match).toStrictEqual({
          description_contains: VENDOR,
          description_regex: null,
          amount_min: null,
          amount_max: null,
          direction: "outflow"
        })
        expect(rule.target).toStrictEqual({ account_code: "6000", splits: [] })
        const applied = yield* pipeline.get(fx.tenant, Ids.ActionId.make(p.action_id!))
        expect([applied.status, applied.closed_by]).toStrictEqual(["applied", fx.carl.id])
        const traces = approved.traces.map((t) => [t.phase, t.actor_id, t.outcome])
        expect(traces).toContainEqual(["apply", fx.bot.id, "deny"])
        expect(traces).toContainEqual(["apply", fx.bea.id, "deny"])
        expect(traces).toContainEqual(["apply", fx.carl.id, "allow"])
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, fx.owner, id)))).toBe(
          "companion.rule_promotion.decided"
        )

        // the next proposal for the vendor is the promoted rule's, and its rationale names it
        const item = yield* fx.next
        expect(item.splits.map((s) => s.account_code)).toStrictEqual(["6000"])
        expect(item.rationale).toContain(`Rule “promoted:${VENDOR}” (${id}) matched`)
        expect(item.rationale).toContain(`approved by ${fx.carl.id}`)
        const detail = Option.getOrThrow(
          yield* (yield* CompanionPorts.CompanionProposalStore).get(fx.tenant, item.proposal_id!)
        )
        expect(detail.deciding_stage).toBe("rules")
        const stage = (detail.stages as ReadonlyArray<{ stage: string; details: Record<string, unknown> }>)
          .find((s) => s.stage === "rules")!
        expect([stage.details.rule_id, stage.details.promotion_id, stage.details.approved_by]).toStrictEqual([
          id,
          id,
          fx.carl.id
        ])
        // applying it is one more label: the rule exists, nothing new is proposed
        const c = yield* Companion.Companion
        const again = yield* c.apply(fx.tenant, fx.bea, item.proposal_id!)
        expect(promotionOf(again)).toStrictEqual({ outcome: "none", reason: "already_promoted", superseded: null })
        expect((yield* store.list(fx.tenant, { limit: 10 })).length).toBe(1)
      }))

    it.effect("labels that change supersede the pending promotion; a rejection records its reason and holds", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* tenantOf("p-reject")
        const promotions = yield* RulePromotion.RulePromotions
        const store = yield* CompanionReportsPorts.RulePromotionStore
        const pipeline = yield* GovernedActions.GovernedActions
        for (let i = 0; i < 2; i++) yield* fx.label("6000")
        const first = promotionOf(yield* fx.label("6000")) as { promotion_id: string }
        // the vendor is relabelled: the pending promotion is superseded at once, its action rejected
        expect(promotionOf(yield* fx.label("6300"))).toStrictEqual({
          outcome: "none",
          reason: "labels_disagree",
          superseded: first.promotion_id
        })
        const old = Option.getOrThrow(yield* store.get(fx.tenant, first.promotion_id))
        expect([old.status, old.reviewed_by]).toStrictEqual(["superseded", RulePromotion.PROMOTER_ACTOR_ID])
        expect((yield* pipeline.get(fx.tenant, Ids.ActionId.make(old.action_id!))).status).toBe("rejected")
        yield* fx.label("6300")
        const second = promotionOf(yield* fx.label("6300")) as { outcome: string; promotion_id: string }
        expect(second.outcome).toBe("proposed")
        expect(Option.getOrThrow(yield* store.get(fx.tenant, second.promotion_id)).account_code).toBe("6300")

        const code = (e: Either.Either<unknown, { readonly code?: string }>) => Either.isLeft(e) ? e.left.code : "ok"
        expect(code(yield* Effect.either(promotions.reject(fx.tenant, fx.carl, second.promotion_id, " ")))).toBe(
          "validation.schema"
        )
        const rejected = yield* promotions.reject(fx.tenant, fx.carl, second.promotion_id, "rent is paid by cheque")
        expect([rejected.promotion.status, rejected.promotion.review_reason, rejected.promotion.reviewed_by])
          .toStrictEqual(["rejected", "rent is paid by cheque", fx.carl.id])
        const action = yield* pipeline.get(fx.tenant, Ids.ActionId.make(rejected.promotion.action_id!))
        expect([action.status, action.close_reason]).toStrictEqual(["rejected", "rent is paid by cheque"])
        expect(code(yield* Effect.either(promotions.approve(fx.tenant, fx.owner, second.promotion_id)))).toBe(
          "companion.rule_promotion.decided"
        )
        expect(code(yield* Effect.either(promotions.reject(fx.tenant, fx.owner, second.promotion_id, "again"))))
          .toBe("companion.rule_promotion.decided")
        expect((yield* (yield* CompanionPorts.CompanionRuleStore).list(fx.tenant)).length).toBe(1)
        // the same labels once more are not proposed again until three newer than the rejection agree
        expect(promotionOf(yield* fx.label("6300"))).toStrictEqual({
          outcome: "none",
          reason: "rejected_before",
          superseded: null
        })
        const listed = yield* promotions.list(fx.tenant, fx.bea, { limit: 1 })
        expect(listed.items.map((p) => p.id)).toStrictEqual([second.promotion_id])
        const page2 = yield* promotions.list(fx.tenant, fx.bea, { limit: 1, cursor: listed.next_cursor! })
        expect(page2.items.map((p) => p.id)).toStrictEqual([first.promotion_id])
        expect((yield* promotions.list(fx.tenant, fx.bea, { status: "superseded" })).items.map((p) => p.id))
          .toStrictEqual([first.promotion_id])
        expect((yield* promotions.list(fx.tenant, fx.bea, { status: "pending" })).items).toStrictEqual([])
      }))

    it.effect("auto-posts and agents' reviews are no labels; the store holds one pending promotion per vendor", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* tenantOf("p-auto")
        const details = yield* CompanionPorts.CompanionProposalStore
        const store = yield* CompanionReportsPorts.RulePromotionStore
        // five auto-posted and two agent-reviewed bookings of the vendor to 6000, as the flow stores them
        for (let i = 0; i < 7; i++) {
          const auto = i < 5
          yield* details.insert(
            new CompanionPorts.ProposalDetail({
              tenant_id: fx.tenant,
              proposal_id: `act_auto_${i}`,
              bank_transaction_id: `bt_auto_${i}`,
              vendor_key: VENDOR,
              amount_minor: "-450",
              direction: "outflow",
              splits: [{ account_code: "6000", amount_minor: "450" }],
              stages: [],
              deciding_stage: "vendor_memory",
              confidence: 0.95,
              calibrated_probability: 0.95,
              calibration_version: null,
              classifier_version: null,
              autopost: null,
              not_auto_post_reasons: [],
              corrects_proposal_id: null,
              created_at: FEB_1 - 10_000 + i,
              created_by: fx.copilot.id,
              review_outcome: auto ? "auto_posted" : "applied",
              reviewed_by: auto ? Companion.SYSTEM_ACTOR_ID : fx.bot.id,
              reviewed_at: FEB_1 - 10_000 + i,
              review_reason: null,
              final_splits: [{ account_code: "6000", amount_minor: "450" }],
              applied_proposal_id: `act_auto_${i}`,
              entry_id: null,
              learning: null,
              version: 1
            })
          )
        }
        // one person's label on top: still not enough labels from people
        expect(promotionOf(yield* fx.label("6000"))).toStrictEqual({
          outcome: "none",
          reason: "not_enough_labels",
          superseded: null
        })
        expect(yield* store.list(fx.tenant, { limit: 10 })).toStrictEqual([])

        // the store refuses a second pending promotion of a vendor, not a decided one
        const base = new CompanionReportsPorts.RulePromotion({
          id: "rpr_a",
          tenant_id: fx.tenant,
          vendor_key: "acme",
          direction: "outflow",
          account_code: "6000",
          labels: 3,
          evidence: { threshold: 3, labels: [], supersedes: null },
          status: "pending",
          action_id: null,
          rule_id: null,
          created_at: FEB_1,
          created_by: fx.bea.id,
          reviewed_at: null,
          reviewed_by: null,
          review_reason: null,
          version: 1
        })
        yield* store.insert(base)
        const dup = yield* Effect.either(
          store.insert(new CompanionReportsPorts.RulePromotion({ ...base, id: "rpr_b" }))
        )
        expect(Either.isLeft(dup) && dup.left.code).toBe("conflict.duplicate")
        const stale = yield* Effect.either(
          store.update(new CompanionReportsPorts.RulePromotion({ ...base, status: "rejected", version: 2 }), 7)
        )
        expect(Either.isLeft(stale) && stale.left.code).toBe("conflict.stale")
        yield* store.update(new CompanionReportsPorts.RulePromotion({ ...base, status: "rejected", version: 2 }), 1)
        yield* store.insert(new CompanionReportsPorts.RulePromotion({ ...base, id: "rpr_b" }))
        expect((yield* store.forVendor(fx.tenant, "acme", 10)).map((p) => [p.id, p.status, p.version])).toStrictEqual([
          ["rpr_b", "pending", 1],
          ["rpr_a", "rejected", 2]
        ])
        expect(yield* store.forVendor(T("p-other"), "acme", 10)).toStrictEqual([])
      }))
  })

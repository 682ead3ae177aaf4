/**
 * The conformance suite of the companion's ports and flow. Every adapter runs it unchanged: it
 * goes through the companion service (which goes through the ledger and core's pipeline) and
 * checks persisted state through the raw {@link CompanionProbe}.
 */
import {
  Categorizer,
  Chain,
  Companion,
  CompanionPorts,
  CompanionProvenance,
  LlmConfig,
  type RulesStage,
  VendorMemoryStage
} from "@airlock/companion"
import { AgentMemory, Tenants } from "@airlock/core"
import { BreakerEvents, Budgets, Usd, VelocityBreaker } from "@airlock/guardrails"
import { BankTransaction } from "@airlock/ledger"
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, type Schema, TestClock } from "effect"
import * as Fake from "../../companion/test/support/FakeOpenAiServer.js"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

type Ports = CompanionEnvironment.Ports | CompanionProbe

const environment = <E>(ports: Layer.Layer<Ports, E>) => CompanionEnvironment.environment(ports, { seed: 13 })

type Mode = "shadow_only" | "suggest_only" | "drafts" | "autopilot_limited"

/** A tenant with the small-business chart, a bookkeeper, the agent and an owner. */
const fixture = (id: string, mode: Mode) => CompanionEnvironment.tenant(id, { settings: { ai_mode: mode } })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const importTxns = (
  fx: Fx,
  rows: ReadonlyArray<{ date: string; description: string; amount: string }>
) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) => b.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "json", transactions: rows })
  )

const companion = Companion.Companion

/**
 * What a test starts from: a fixture tenant in `mode`, the raw probe, the companion, and the rules
 * the owner creates first (returned in order).
 */
const given = <const R extends ReadonlyArray<Schema.Schema.Encoded<typeof RulesStage.RuleInput>>>(
  id: string,
  mode: Mode,
  ...rules: R
) =>
  Effect.gen(function*() {
    const fx = yield* fixture(id, mode)
    const probe = yield* CompanionProbe
    const c = yield* companion
    const created: Array<CompanionPorts.CompanionRule> = []
    for (const rule of rules) created.push(yield* c.createRule(fx.tenant, fx.owner, rule))
    return { fx, probe, c, rules: created as unknown as { readonly [K in keyof R]: CompanionPorts.CompanionRule } }
  })

/** The owner's rule for the Oakwood rent (→ 6300). */
const RENT = { name: "Rent", description_contains: "OAKWOOD", account_code: "6300" } as const

/** The owner's rule for monthly service fees (→ 6100). */
const FEES = { name: "Fees", description_contains: "SERVICE FEE", account_code: "6100" } as const

/** `n` monthly service fees of 15.00, one a day from 1 January 2026. */
const fees = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ date: day(i), description: `MONTHLY SERVICE FEE ${i}`, amount: "-15.00" }))

/** The first half of the suite (the flow's basics). */
const basics = <E>(
  name: string,
  ports: Layer.Layer<Ports, E>,
  _capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`companion conformance: ${name}`, (it) => {
    it.effect("a rule decides, is named in the rationale, and the proposal's details are stored", () =>
      Effect.gen(function*() {
        const { c, fx, probe, rules: [rule] } = yield* given("c-rules", "suggest_only", {
          name: "Rent to 6300",
          description_regex: "^ACH (DEBIT )?OAKWOOD PROPERTY",
          direction: "outflow",
          account_code: "6300"
        })
        yield* importTxns(fx, [
          { date: "2026-01-01", description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0101", amount: "-2400.00" },
          { date: "2026-01-03", description: "SQ *BLUE BOTTLE COFFEE 0423 OAKLAND CA", amount: "-6.75" }
        ])
        const r = yield* c.propose(fx.tenant, fx.agent, {})
        expect(r.items.map((i) => i.status).sort()).toStrictEqual(["proposed", "unresolved"])
        const rent = r.items.find((i) => i.status === "proposed")!
        expect(rent.splits).toStrictEqual([{ account_code: "6300", amount: "2400.00" }])
        expect(rent.rationale).toContain(`Rule “Rent to 6300” (${rule.id})`)
        expect(rent.not_auto_post_reasons).toContain("autopost.mode")
        const coffee = r.items.find((i) => i.status === "unresolved")!
        expect(coffee.questions.join(" ")).toContain("New vendor")
        expect(yield* probe.count("rules", fx.tenant)).toBe(1)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        expect(yield* probe.count("reasons", fx.tenant)).toBe(rent.not_auto_post_reasons.length)
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        // an unsafe pattern is refused and nothing is stored
        const bad = yield* Effect.either(
          c.createRule(fx.tenant, fx.owner, { name: "bad", description_regex: "(a+)+$", account_code: "6300" })
        )
        expect(Either.isLeft(bad) && bad.left.code).toBe("validation.rule_regex")
        // a bookkeeper may not manage rules
        const denied = yield* Effect.either(
          c.createRule(fx.tenant, fx.bookkeeper, { name: "x", description_contains: "x", account_code: "6300" })
        )
        expect(Either.isLeft(denied) && denied.left.code).toBe("rbac.forbidden")
        expect(yield* probe.count("rules", fx.tenant)).toBe(1)
      }))

    it.effect("apply with a correction books the corrected splits once, teaches memory and the classifier", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-correct", "suggest_only", {
          name: "Staples is supplies",
          description_contains: "STAPLES",
          account_code: "6200"
        })
        yield* importTxns(fx, [{ date: "2026-02-02", description: "STAPLES #1234 SAN JOSE CA", amount: "-120.00" }])
        const proposed = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, proposed.proposal_id!, {
          splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }]
        })
        expect(applied.outcome).toBe("corrected")
        expect(applied.applied_proposal_id).not.toBe(proposed.proposal_id)
        expect(applied.correction?.corrected_splits).toStrictEqual([
          { account_code: "6200", amount_minor: "8000" },
          { account_code: "1500", amount_minor: "4000" }
        ])
        // exactly one canonical entry, the correction's
        expect(yield* probe.entryProposals(fx.tenant)).toStrictEqual([applied.applied_proposal_id])
        expect(yield* probe.review(fx.tenant, proposed.proposal_id!)).toStrictEqual({
          outcome: "corrected",
          entry_id: applied.entry_id,
          applied_proposal_id: applied.applied_proposal_id
        })
        // the label went to memory (as the person) and the classifier has a stored version
        expect((applied.learning.memory as { outcome: string }).outcome).toBe("created")
        expect(yield* probe.count("classifiers", fx.tenant)).toBe(1)
        const memory = yield* AgentMemory.AgentMemoryStore
        const items = yield* memory.itemsByKey(fx.tenant, VendorMemoryStage.labelKey("staples"))
        expect(items.map((i) => [i.status, i.value, i.source_actor])).toStrictEqual([
          ["active", { account_code: "6200" }, fx.bookkeeper.id]
        ])
        // the superseded original never applies again, nor does the applied correction twice
        const again = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, proposed.proposal_id!))
        expect(Either.isLeft(again) && again.left.code).toBe("proposal.closed")
        // provenance from either side names the stages, the correction, who applied and the gates
        const provenance = yield* CompanionProvenance.CompanionProvenance
        const byEvent = yield* provenance.lookup(fx.tenant, fx.viewer, { shadow_event_id: proposed.proposal_id! })
        const byEntry = yield* provenance.lookup(fx.tenant, fx.viewer, { entry_id: applied.entry_id! })
        for (const p of [byEvent, byEntry]) {
          expect(p.shadow_event_id).toBe(proposed.proposal_id)
          expect(p.ai?.deciding_stage).toBe("rules")
          expect((p.ai?.stages as ReadonlyArray<{ stage: string }>).map((s) => s.stage)).toStrictEqual([
            "rules",
            "vendor_memory",
            "classifier"
          ])
          expect(p.correction).toMatchObject({
            original_proposal_id: proposed.proposal_id,
            correction_proposal_id: applied.applied_proposal_id,
            by: fx.bookkeeper.id
          })
          expect(p.applied).toMatchObject({ proposal_id: applied.applied_proposal_id, by: fx.bookkeeper.id })
          expect(p.gates.apply.at(-1)?.gates.map((g) => g.gate)).toContain("ledger.validation")
          expect(p.entry?.id).toBe(applied.entry_id)
          expect(p.bank_transaction?.description).toBe("STAPLES #1234 SAN JOSE CA")
        }
        const twice = yield* c.apply(fx.tenant, fx.bookkeeper, applied.applied_proposal_id)
        expect(twice.already_applied).toBe(true)
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))

    it.effect("shadow_only refuses apply naming the mode; the kill switch refuses propose", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-shadow", "shadow_only", {
          name: "fees",
          description_contains: "SERVICE FEE",
          account_code: "6100"
        })
        yield* importTxns(fx, [{ date: "2026-03-01", description: "MONTHLY SERVICE FEE", amount: "-15.00" }])
        const p = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const refused = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, p.proposal_id!))
        expect(Either.isLeft(refused) && [refused.left.code, refused.left.message]).toStrictEqual([
          "mode.forbidden",
          "Apply is blocked in shadow_only mode"
        ])
        const corrected = yield* Effect.either(
          c.apply(fx.tenant, fx.bookkeeper, p.proposal_id!, { splits: [{ account_code: "6200", amount: "15.00" }] })
        )
        expect(Either.isLeft(corrected) && corrected.left.code).toBe("mode.forbidden")
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, { kill_switch: true }, fx.owner)
        const off = yield* Effect.either(c.propose(fx.tenant, fx.agent, {}))
        expect(Either.isLeft(off) && off.left.code).toBe("companion.disabled")
      }))

    it.effect("vendor memory: cold-start until three consistent labels, then it decides; a rejection disputes it", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-vendor", "suggest_only")
        const rows = [
          "ADOBE *CREATIVE CLD 800-833-6687 CA",
          "ADOBE *CREATIVE CLD 800-833-6687 CA",
          "ADOBE  *CREATIVE CLD 4029357733 CA",
          "ADOBE *CREATIVE CLD 800-833-6687 CA"
        ]
        const statuses: Array<[string | null, boolean]> = []
        for (const [i, description] of rows.entries()) {
          yield* importTxns(fx, [{ date: `2026-0${i + 1}-05`, description, amount: "-54.99" }])
          const item = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
          const detail = yield* c.shadowEvent(fx.tenant, fx.bookkeeper, item.proposal_id ?? "none").pipe(
            Effect.map((e) => e.detail),
            Effect.orElseSucceed(() => null)
          )
          statuses.push([
            detail?.deciding_stage ?? null,
            item.not_auto_post_reasons.includes("autopost.vendor_cold_start")
          ])
          if (item.status === "proposed") {
            yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
          } else {
            // no stage knew the vendor: the person books it by hand through a proposal of their own
            yield* c.createRule(fx.tenant, fx.owner, {
              name: "tmp",
              description_contains: "ADOBE",
              account_code: "6200"
            })
            const ruled = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
            yield* c.apply(fx.tenant, fx.bookkeeper, ruled.proposal_id!)
            for (const r of yield* c.listRules(fx.tenant, fx.owner)) yield* c.deleteRule(fx.tenant, fx.owner, r.id)
          }
        }
        // 1st: nothing known; 2nd, 3rd: memory (cold-start) or classifier; 4th: memory decides
        expect(statuses[0]![0]).toBe(null)
        expect(statuses[3]).toStrictEqual(["vendor_memory", false])
        expect(statuses[1]![1]).toBe(true)
        expect(yield* probe.count("entries", fx.tenant)).toBe(4)
        // a person rejects the next one: the vendor is disputed (cold-start) again
        yield* importTxns(fx, [{
          date: "2026-05-05",
          description: "ADOBE *CREATIVE CLD 800-833-6687 CA",
          amount: "-54.99"
        }])
        const fifth = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const rejected = yield* c.reject(fx.tenant, fx.bookkeeper, fifth.proposal_id!, "we cancelled Adobe")
        expect(rejected.proposal.status).toBe("rejected")
        expect((yield* probe.review(fx.tenant, fifth.proposal_id!))?.outcome).toBe("rejected")
        // the rejected transaction is unprocessed again: proposed anew, now disputed
        const sixth = (yield* c.propose(fx.tenant, fx.agent, {})).items
        expect(sixth.map((i) => i.bank_transaction_id)).toStrictEqual([fifth.bank_transaction_id])
        expect(sixth[0]!.not_auto_post_reasons).toContain("autopost.vendor_cold_start")
        expect(sixth[0]!.questions.join(" ")).toContain("was rejected")
        const rejections = yield* (yield* AgentMemory.AgentMemoryStore).itemsByKey(
          fx.tenant,
          VendorMemoryStage.rejectionKey("adobe creative cld", "6200")
        )
        expect(rejections.map((i) => [i.status, i.reinforced_count])).toStrictEqual([["active", 1]])
      }))

    it.effect("value breaker: a large amount is still proposed, tier raised, risk reason, trip event, never auto-posted", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-value", "autopilot_limited", {
          name: "Equipment",
          description_contains: "APPLE STORE",
          account_code: "1500"
        })
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, {
          extensions: { "companion.autopost_enabled": true }
        }, fx.owner)
        yield* importTxns(fx, [{ date: "2026-03-09", description: "APPLE STORE R102 PALO ALTO", amount: "-7999.00" }])
        const item = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect(item.status).toBe("proposed")
        expect(item.tier).toBe(2)
        expect(item.risk_reasons).toContain("value_breaker")
        expect(item.not_auto_post_reasons).toContain("autopost.value_breaker")
        const events = yield* (yield* BreakerEvents.BreakerEvents).list({ tenant_id: fx.tenant, limit: 10 })
        expect(events.filter((e) => e.kind === "value").map((e) => e.type)).toStrictEqual(["trip"])
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        const counts = yield* c.notAutoPostCounts(fx.tenant, fx.owner, 0)
        expect(counts["autopost.value_breaker"]).toBe(1)
        // a person may still apply it
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
        expect(applied.outcome).toBe("applied")
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))

    it.effect("re-proposing supersedes the open proposal; drafts batch applies per item", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-batch", "drafts", {
          name: "Fuel",
          description_regex: "^SHELL OIL \\d+",
          account_code: "6200"
        })
        const imported = yield* importTxns(fx, [
          { date: "2026-04-01", description: "SHELL OIL 57442631 SAN MATEO", amount: "-48.10" },
          { date: "2026-04-08", description: "SHELL OIL 57442631 SAN MATEO", amount: "-51.30" }
        ])
        const first = yield* c.propose(fx.tenant, fx.agent, {})
        const again = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: [imported.ids[0]!] })
        const old = first.items.find((i) => i.bank_transaction_id === imported.ids[0])!
        const superseded = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, old.proposal_id!))
        expect(Either.isLeft(superseded) && superseded.left.code).toBe("proposal.closed")
        const ids = [again.items[0]!.proposal_id!, first.items.find((i) => i !== old)!.proposal_id!, old.proposal_id!]
        const batch = yield* c.applyBatch(fx.tenant, fx.bookkeeper, ids)
        expect(batch.map((b) => [b.status, b.error?.code ?? null])).toStrictEqual([
          ["applied", null],
          ["applied", null],
          ["failed", "proposal.closed"]
        ])
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
        // batch apply is a drafts-mode action
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, { ai_mode: "suggest_only" }, fx.owner)
        const refused = yield* Effect.either(c.applyBatch(fx.tenant, fx.bookkeeper, ids))
        expect(Either.isLeft(refused) && refused.left.code).toBe("mode.forbidden")
      }))
  })

// ---------------------------------------------------------------------------------------------
// The flow under tighter guardrails: a velocity limit of 5 a minute, a trust breaker on a sample
// of 4, a language model (a local fake OpenAI server) behind the deterministic stages, and a
// test stage that can act in the middle of a batch.

const MODEL = "test-model"

/** The fake OpenAI-compatible server the chain's model stage talks to. */
class FakeLlm extends Context.Tag("test/FakeLlm")<FakeLlm, Fake.FakeOpenAiServer>() {}

/** What the test stage does for a transaction (set by a test; nothing by default). */
const midStream: { current: (input: Categorizer.CategorizeInput) => Effect.Effect<void> } = {
  current: () => Effect.void
}

const tripwire: Categorizer.CategorizerStage = {
  name: "tripwire",
  run: (input) =>
    Effect.as(midStream.current(input), Categorizer.skipped("tripwire", "test.tripwire", "Test stage: never answers"))
}

const tightEnvironment = <E>(
  ports: Layer.Layer<Ports, E>
) => {
  const fake = Layer.scoped(FakeLlm, Fake.scoped)
  const llm = Layer.unwrapEffect(Effect.map(FakeLlm, (server) =>
    Companion.layerLlmStage.pipe(
      Layer.provide(
        LlmConfig.layerModel.pipe(
          Layer.provideMerge(LlmConfig.layer({ baseUrl: server.url, model: MODEL, timeoutMs: 2000 })),
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )))
  const stages = Layer.succeed(Chain.ChainStages, {
    stages: (d: Chain.DefaultStages) => [tripwire, d.rules, d.vendor_memory, d.classifier, ...(d.llm ? [d.llm] : [])]
  })
  return Companion.layer.pipe(
    Layer.provide(Layer.merge(llm, stages)),
    Layer.provideMerge(fake),
    Layer.provideMerge(CompanionEnvironment.foundation(ports, {
      seed: 29,
      guardrails: {
        velocityMaxPerMinute: 5,
        trustMinSample: 4,
        trustRejectionRate: 0.5,
        trustEvaluateEverySeconds: 1,
        llmPrices: { [MODEL]: { input_per_mtok: Usd.usd("1"), output_per_mtok: Usd.usd("2") } }
      }
    }))
  )
}

const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString().slice(0, 10)

/** One person's review cycle: import a transaction, propose it, apply it as proposed; six hours pass. */
const reviewCycle = (fx: Fx, i: number, description: string, amount: string) =>
  Effect.gen(function*() {
    const c = yield* companion
    const imported = yield* importTxns(fx, [{ date: day(i), description, amount }])
    const r = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })
    const item = r.items[0]!
    expect(item.status).toBe("proposed")
    yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
    yield* TestClock.adjust("6 hours")
    return item
  })

const vendors = [
  { description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00", account: "6300", rule: "OAKWOOD PROPERTY" },
  { description: "ADOBE *CREATIVE CLD 800-833-6687 CA", amount: "-54.99", account: "6200", rule: "ADOBE" },
  { description: "MONTHLY SERVICE FEE", amount: "-15.00", account: "6100", rule: "SERVICE FEE" }
] as const

const flows = <E>(
  name: string,
  ports: Layer.Layer<Ports, E>
) => {
  layer(environment(ports), { timeout: 300_000 })(`companion flows: ${name}`, (it) => {
    it.effect(
      "auto-post end to end: reviewed history → calibration → certificate → the system actor posts through the pipeline",
      () =>
        Effect.gen(function*() {
          const { c, fx, probe } = yield* given(
            "c-auto",
            "suggest_only",
            ...vendors.map((v) => ({ name: v.rule, description_contains: v.rule, account_code: v.account }))
          )
          const models = yield* CompanionPorts.CompanionModelStore
          // a person reviews until a threshold certifies (a stored calibration with a certified threshold)
          let reviews = 0
          let certified: number | null = null
          while (certified === null && reviews < 200) {
            const v = vendors[reviews % vendors.length]!
            yield* reviewCycle(fx, reviews, `${v.description} ${1000 + reviews}`, v.amount)
            reviews++
            const latest = yield* models.latestCalibration(fx.tenant)
            if (Option.isSome(latest)) {
              const cert = latest.value.certificate as { readonly threshold?: number | null }
              certified = cert.threshold ?? null
            }
          }
          // a calibrator from the refit after 30 reviewed items (the 35th review), then the certificate's first
          // test needs 93 items proposed with a calibrated p (start_errors 1 at 0.95, δ 0.05), seen at the next refit
          expect(certified).not.toBeNull()
          expect(reviews).toBeGreaterThanOrEqual(34 + 93)
          expect(reviews).toBeLessThanOrEqual(34 + 93 + 11)
          expect(yield* probe.count("entries", fx.tenant)).toBe(reviews)
          // the same history in suggest_only: nothing auto-posts
          const suggest = (yield* c.propose(fx.tenant, fx.agent, {
            bank_transaction_ids:
              (yield* importTxns(fx, [{ date: day(300), description: vendors[0].description, amount: "-2400.00" }])).ids
          })).items[0]!
          expect(suggest.status).toBe("proposed")
          // only the settings stand in the way: the vendor is known and the probability certified
          expect([...suggest.not_auto_post_reasons].sort()).toStrictEqual(["autopost.disabled", "autopost.mode"])
          expect(suggest.calibrated_probability).toBeGreaterThanOrEqual(0.9)
          // autopilot with auto-post on (no spot check, so the outcome is certain)
          yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, {
            ai_mode: "autopilot_limited",
            extensions: { "companion.autopost_enabled": true, "companion.spot_check_rate": 0 }
          }, fx.owner)
          const imported = yield* importTxns(fx, [{
            date: day(301),
            description: vendors[1].description,
            amount: "-54.99"
          }])
          const r = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })
          const item = r.items[0]!
          expect(item).toMatchObject({ status: "auto_posted", not_auto_post_reasons: [] })
          expect(r.auto_posted).toBe(1)
          expect(item.entry_id).not.toBeNull()
          expect(yield* probe.count("entries", fx.tenant)).toBe(reviews + 1)
          expect(yield* probe.review(fx.tenant, item.proposal_id!)).toStrictEqual({
            outcome: "auto_posted",
            entry_id: item.entry_id,
            applied_proposal_id: item.proposal_id
          })
          // the trace shows the system actor going through every apply gate
          const prov = yield* (yield* CompanionProvenance.CompanionProvenance).lookup(fx.tenant, fx.owner, {
            entry_id: item.entry_id!
          })
          expect(prov.applied?.by).toBe(Companion.SYSTEM_ACTOR_ID)
          const apply = prov.gates.apply.at(-1)!
          expect(apply.actor_id).toBe(Companion.SYSTEM_ACTOR_ID)
          expect(apply.outcome).toBe("allow")
          expect(apply.gates.map((g) => g.gate)).toEqual(expect.arrayContaining(["kill_switch", "mode", "rbac"]))
          expect((prov.ai?.autopost as { eligible: boolean }).eligible).toBe(true)
          expect(prov.calibration).toMatchObject({ certificate: { threshold: certified, reason: null } })
          // auto-posts teach nothing: the classifier's version is still the number of people's reviews
          const clf = Option.getOrThrow(yield* models.latestClassifier(fx.tenant))
          expect(clf.version).toBe(reviews)
        })
    )

    it.effect("calibration is refitted every ten reviews; classifier versions are pruned to the newest three", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-refit", "suggest_only", FEES)
        const models = yield* CompanionPorts.CompanionModelStore
        const versions: Array<number | null> = []
        for (let i = 0; i < 25; i++) {
          yield* reviewCycle(fx, i, `MONTHLY SERVICE FEE ${i}`, "-15.00")
          versions.push(Option.getOrNull(yield* models.latestCalibration(fx.tenant))?.version ?? null)
        }
        // first fit at the first propose after a review, then once ten reviews are newer than the fit
        // (the review made in the fit's own millisecond — frozen test clock — counts toward the next)
        expect(versions).toStrictEqual([null, ...Array(11).fill(1), ...Array(11).fill(2), 3, 3])
        const latest = Option.getOrThrow(yield* models.latestCalibration(fx.tenant))
        expect(latest.sample).toBe(23)
        // below 30 reviewed items there is no calibrator (calibrated_probability stays null)
        expect(latest.calibrator).toBeNull()
        expect(yield* probe.count("calibrations", fx.tenant)).toBe(3)
        // every person's apply trains a new classifier version; only the newest three are kept
        expect(Option.getOrThrow(yield* models.latestClassifier(fx.tenant)).version).toBe(25)
        expect(yield* probe.count("classifiers", fx.tenant)).toBe(3)
        // a manual refit is a new version over the whole window
        const manual = yield* c.recalibrate(fx.tenant, fx.owner)
        expect([manual.version, manual.sample]).toStrictEqual([4, 25])
      }))

    it.effect("kill switch: the global and the tenant layers each refuse propose and apply with companion.disabled", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-kill", "suggest_only", RENT)
        const tenants = yield* Tenants.Tenants
        yield* importTxns(fx, [
          { date: "2026-02-01", description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00" },
          { date: "2026-02-02", description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00" }
        ])
        const first = (yield* c.propose(fx.tenant, fx.agent, {})).items
        const refused = (e: Either.Either<unknown, { readonly code: string; readonly details?: unknown }>) =>
          Either.isLeft(e) ? [e.left.code, (e.left.details as { layer?: string } | undefined)?.layer] : ["ok"]
        const layers: Array<[string, ReadonlyArray<unknown>, ReadonlyArray<unknown>]> = []
        // global layer
        yield* tenants.setGlobalAiEnabled(false, "system")
        layers.push([
          "global",
          refused(yield* Effect.either(c.propose(fx.tenant, fx.agent, {}))),
          refused(yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, first[0]!.proposal_id!)))
        ])
        yield* tenants.setGlobalAiEnabled(true, "system")
        // tenant layer
        yield* tenants.setCompanionEnabled(fx.tenant, false, "system")
        layers.push([
          "tenant",
          refused(yield* Effect.either(c.propose(fx.tenant, fx.agent, {}))),
          refused(yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, first[0]!.proposal_id!)))
        ])
        yield* tenants.setCompanionEnabled(fx.tenant, true, "system")
        expect(layers).toStrictEqual([
          ["global", ["companion.disabled", "global"], ["companion.disabled", "global"]],
          ["tenant", ["companion.disabled", "tenant"], ["companion.disabled", "tenant"]]
        ])
        // nothing was written while off; everything works once both are on again
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(2)
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, first[0]!.proposal_id!)
        expect(applied.outcome).toBe("applied")
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))
  })

  layer(tightEnvironment(ports), { timeout: 120_000 })(`companion flows, tight guardrails: ${name}`, (it) => {
    it.effect("velocity: one propose request is one AI command; repeated requests trip the breaker", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-vel", "suggest_only", FEES)
        yield* importTxns(fx, fees(40))
        // "propose all" over 40 transactions with a limit of 5 a minute: one command
        const all = yield* c.propose(fx.tenant, fx.agent, {})
        expect([all.proposed, all.failed]).toStrictEqual([40, 0])
        expect(yield* probe.count("proposals", fx.tenant)).toBe(40)
        // an agent repeating requests: commands 2…5 pass, the 6th trips, later ones are refused while open
        const outcomes: Array<string> = []
        for (let i = 0; i < 6; i++) {
          const r = yield* Effect.either(c.propose(fx.tenant, fx.agent, { bank_transaction_ids: [] }))
          outcomes.push(Either.isRight(r) ? "ok" : r.left.code)
        }
        expect(outcomes).toStrictEqual(["ok", "ok", "ok", "ok", "breaker.velocity", "breaker.velocity"])
        const events = yield* (yield* BreakerEvents.BreakerEvents).list({ tenant_id: fx.tenant, limit: 10 })
        expect(events.filter((e) => e.kind === "velocity").map((e) => e.type)).toStrictEqual(["trip"])
        expect(yield* probe.count("proposals", fx.tenant)).toBe(40)
      }))

    it.effect("velocity: a breaker opened by other requests mid-batch fails the remaining items, each all-or-nothing", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-vel-mid", "suggest_only", FEES)
        const velocity = yield* VelocityBreaker.VelocityBreaker
        const imported = yield* importTxns(fx, fees(5))
        // while the third transaction is categorised, another agent bursts ten commands
        midStream.current = (input) =>
          input.transaction.id === imported.ids[2]
            ? Effect.ignore(Effect.repeatN(Effect.ignore(velocity.record(fx.tenant)), 9))
            : Effect.void
        const r = yield* c.propose(fx.tenant, fx.agent, {}).pipe(
          Effect.ensuring(Effect.sync(() => (midStream.current = () => Effect.void)))
        )
        expect(r.items.map((i) => [i.status, i.error?.code ?? null])).toStrictEqual([
          ["proposed", null],
          ["proposed", null],
          ["failed", "breaker.velocity"],
          ["failed", "breaker.velocity"],
          ["failed", "breaker.velocity"]
        ])
        expect(yield* probe.count("proposals", fx.tenant)).toBe(2)
        expect((yield* velocity.state(fx.tenant)).state).toBe("open")
      }))

    it.effect("trust breaker: rejections past the rate on the minimum sample downgrade the mode at once", () =>
      Effect.gen(function*() {
        const { c, fx } = yield* given("c-trust", "autopilot_limited", FEES)
        yield* importTxns(fx, fees(4))
        const items = (yield* c.propose(fx.tenant, fx.agent, {})).items
        yield* c.apply(fx.tenant, fx.bookkeeper, items[0]!.proposal_id!)
        const readings = []
        for (const item of items.slice(1)) {
          readings.push((yield* c.reject(fx.tenant, fx.bookkeeper, item.proposal_id!, "not a fee")).trust)
        }
        // 1 applied, 1 and 2 rejected: below the sample; the third rejection makes 3 of 4 = 0.75 ≥ 0.5
        expect(readings.map((t) => t?.downgraded ?? null)).toStrictEqual([
          null,
          null,
          { from: "autopilot_limited", to: "suggest_only" }
        ])
        const settings = yield* (yield* Tenants.Tenants).settings(fx.tenant)
        expect(settings.ai_mode).toBe("suggest_only")
        const events = yield* (yield* BreakerEvents.BreakerEvents).list({ tenant_id: fx.tenant, limit: 10 })
        expect(events.filter((e) => e.kind === "trust").map((e) => e.type)).toStrictEqual(["trip"])
      }))

    it.effect("language model: called only when the earlier stages are unsure; an account outside the chart is refused", () =>
      Effect.gen(function*() {
        const { c, fx, probe } = yield* given("c-llm", "suggest_only", RENT)
        const fake = yield* FakeLlm
        fake.reset()
        const imported = yield* importTxns(fx, [
          { date: "2026-03-01", description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00" },
          { date: "2026-03-02", description: "STAPLES #1234 SAN JOSE CA", amount: "-45.99" },
          { date: "2026-03-03", description: "ZEPHYR CONSULTING LLC", amount: "-300.00" }
        ])
        fake.script(
          Fake.json({ account_code: "6200", rationale: "Staples sells office supplies", confidence: 0.99 }),
          Fake.json({ account_code: "9999", rationale: "Consulting", confidence: 0.99 })
        )
        const r = yield* c.propose(fx.tenant, fx.agent, {})
        const [rent, staples, zephyr] = imported.ids.map((id) => r.items.find((i) => i.bank_transaction_id === id)!)
        // the rule decided: the model is never asked
        expect(rent!.status).toBe("proposed")
        expect(fake.requests).toHaveLength(2)
        expect(fake.requests.map((q) => JSON.stringify(q.body))).not.toContain(expect.stringContaining("OAKWOOD"))
        // nothing else knew Staples: the model's answer is a candidate with the prior, not its own claim
        expect(staples).toMatchObject({ status: "proposed", splits: [{ account_code: "6200", amount: "45.99" }] })
        expect(staples!.confidence).toBe(0.5)
        const detail = (yield* c.shadowEvent(fx.tenant, fx.owner, staples!.proposal_id!)).detail!
        expect(detail.deciding_stage).toBe("llm")
        const llm = (detail.stages as ReadonlyArray<Record<string, any>>).find((s) => s.stage === "llm")!
        expect(llm.outcome).toBe("candidates")
        expect(llm.details).toMatchObject({ model: MODEL, called: true })
        expect(llm.details.prompt_hash).toMatch(/^[0-9a-f]{64}$/)
        // an account outside the chart is refused; the deterministic result (no answer) stands
        expect(zephyr).toMatchObject({ status: "unresolved", proposal_id: null })
        expect(zephyr!.rationale).toContain("llm.account_not_in_chart")
        expect(yield* probe.count("proposals", fx.tenant)).toBe(2)
        // a person books Staples: the next one has a confident candidate from the classifier, so the model is not asked
        yield* c.apply(fx.tenant, fx.bookkeeper, staples!.proposal_id!)
        const again = yield* importTxns(fx, [{
          date: "2026-03-09",
          description: "STAPLES #1234 SAN JOSE CA",
          amount: "-12.50"
        }])
        const second = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: again.ids })).items[0]!
        expect(second.splits).toStrictEqual([{ account_code: "6200", amount: "12.50" }])
        expect(fake.requests).toHaveLength(2)
        const skipped =
          ((yield* c.shadowEvent(fx.tenant, fx.owner, second.proposal_id!)).detail!.stages as ReadonlyArray<
            Record<string, any>
          >).find((s) => s.stage === "llm")!
        expect([skipped.outcome, skipped.reason]).toStrictEqual(["skipped", "llm.not_needed"])
        // both calls were metered against the tenant's LLM budget
        const spent = (yield* (yield* Budgets.LlmBudget).status(fx.tenant)).tenant_spent_usd
        expect(spent).toBeGreaterThan(0n)
      }))
  })
}

/** Runs the suite against one adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<Ports, E>,
  capabilities: Capabilities
) => {
  basics(name, ports, capabilities)
  flows(name, ports)
}

/**
 * The tenant's feature flags (`TenantFeatures`) end to end over storage: for each flag, two
 * tenants with the same history — one without stored flags (every feature on, as the
 * development tenant), one whose `companion.features` (as onboarding stores a template's) turns
 * the flag off — go through the real companion, and the stored proposals, models, promotions and
 * the shadow report show the difference. A malformed stored value reads as every feature on.
 * Run unchanged on memory, SQLite and PostgreSQL.
 */
import {
  Categorizer,
  Chain,
  Companion,
  CompanionPorts,
  CompanionReports,
  CompanionReportsPorts,
  RolloutConfig,
  RulePromotion,
  TenantFeatures,
  VendorKey
} from "@airlock/companion"

import { BankTransaction } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

type Ports = CompanionEnvironment.Ports | CompanionReportsPorts.CompanionReportsPorts

const DAY = 86_400_000
const NOW = Date.parse("2026-03-01T12:00:00Z")

/** The tenants the stand-in model stage was called for, in order. */
const llmCalls: Array<string> = []

/** A stand-in language-model stage: records the call and ranks 6200 with the prior confidence. */
const llmStage: Categorizer.CategorizerStage = {
  name: "llm",
  run: (input) =>
    Effect.sync(() => {
      llmCalls.push(input.tenant_id)
      return {
        stage: "llm",
        outcome: "candidates",
        splits: Categorizer.wholeAmount(input.transaction, "6200"),
        confidence: 0.5,
        candidates: [{ account_code: "6200", score: 0.5 }],
        rationale: "stand-in model → 6200",
        reason: null,
        questions: [],
        details: { model: "stand-in" }
      }
    })
}

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Layer.mergeAll(Companion.layer, CompanionEnvironment.Reports).pipe(
    Layer.provideMerge(Layer.succeed(Chain.LlmStageProvider, { stage: llmStage })),
    Layer.provideMerge(RulePromotion.layer),
    Layer.provideMerge(RulePromotion.layerSettings({ minLabels: 3 })),
    Layer.provideMerge(RolloutConfig.layer()),
    Layer.provideMerge(CompanionEnvironment.foundation(ports, { seed: 17 }))
  )

/**
 * A tenant with the small-business chart, a bookkeeper, a viewer, the agent and rules; `features`
 * stored under `companion.features` as onboarding stores a template's (undefined: none stored).
 */
const tenantOf = (id: string, features: unknown, rules: ReadonlyArray<readonly [string, string]>) =>
  CompanionEnvironment.tenant(id, {
    settings: { ai_mode: "suggest_only", extensions: features === undefined ? {} : { [TenantFeatures.KEY]: features } },
    rules
  })

type Fixture = Effect.Effect.Success<ReturnType<typeof tenantOf>>

/** One bank line: a description, a positive outflow in cents, and the account a person corrects it to, if any. */
interface Line {
  readonly description: string
  readonly cents: number
  readonly correctTo?: string
}

const money = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`
const times = (n: number, f: (i: number) => Line) => Array.from({ length: n }, (_, i) => f(i))

/** Imports the lines dated today and proposes them; the items in the lines' order. */
const propose = (fx: Fixture, lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const now = yield* TestClock.currentTimeMillis
    const imported = yield* (yield* BankTransaction.BankTransactions).importFile(fx.tenant, fx.bookkeeper, {
      account_code: "1000",
      format: "json",
      transactions: lines.map((l) => ({
        date: new Date(now).toISOString().slice(0, 10),
        description: l.description,
        amount: `-${money(l.cents)}`
      }))
    })
    expect(imported.new).toBe(lines.length)
    const result = yield* (yield* Companion.Companion).propose(fx.tenant, fx.agent, {
      bank_transaction_ids: imported.ids
    })
    expect(result.items.map((i) => i.status)).toStrictEqual(lines.map(() => "proposed"))
    return result.items
  })

/** Proposes the lines and lets the bookkeeper book each (correcting where asked); the apply results. */
const book = (fx: Fixture, lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const items = yield* propose(fx, lines)
    const out: Array<Companion.ApplyResult> = []
    for (const [i, item] of items.entries()) {
      const to = lines[i]!.correctTo
      out.push(
        yield* c.apply(
          fx.tenant,
          fx.bookkeeper,
          item.proposal_id!,
          to === undefined ? {} : { splits: [{ account_code: to, amount: money(lines[i]!.cents) }] }
        )
      )
    }
    return out
  })

/** The stored detail of a proposal. */
const detailOf = (fx: Fixture, proposalId: string) =>
  Effect.map(
    Effect.flatMap(CompanionPorts.CompanionProposalStore, (s) => s.get(fx.tenant, proposalId)),
    Option.getOrThrow
  )

/** One stored stage result of a detail. */
const stageOf = (d: CompanionPorts.ProposalDetail, name: string) =>
  (d.stages as ReadonlyArray<{ stage: string; outcome: string; reason: string | null }>).find((s) => s.stage === name)!

const off = (feature: TenantFeatures.Feature) => ({ ...TenantFeatures.allOn, [feature]: false })

/** Runs the suite against one adapter's ports. */
export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>, _capabilities: Capabilities) =>
  layer(environment(ports), { timeout: 120_000 })(`tenant feature flags: ${name}`, (it) => {
    it.effect("ml_classifier off: the classifier stage does not run and reviews do not train it", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW)
        const models = yield* CompanionPorts.CompanionModelStore
        const rules = [["PAPER", "6200"]] as const
        for (const [id, features] of [["f-ml-on", undefined], ["f-ml-off", off("ml_classifier")]] as const) {
          const fx = yield* tenantOf(id, features, rules)
          const learned = yield* book(fx, times(3, (i) => ({ description: `PAPER STORE ${i}`, cents: 1_000 + i })))
          const [item] = yield* propose(fx, [{ description: "STORE SUPPLIES", cents: 1_500 }])
          const classifier = stageOf(yield* detailOf(fx, item!.proposal_id!), "classifier")
          const model = yield* models.latestClassifier(fx.tenant)
          if (features === undefined) {
            expect(learned.map((r) => (r.learning as any).classifier)).toStrictEqual([
              { version: 1 },
              { version: 2 },
              { version: 3 }
            ])
            expect(Option.map(model, (m) => m.examples)).toStrictEqual(Option.some(3))
            expect(classifier).toMatchObject({ outcome: "candidates", reason: null })
          } else {
            for (const r of learned) {
              expect((r.learning as any).classifier).toStrictEqual({
                skipped: "feature.disabled",
                feature: "ml_classifier"
              })
            }
            // nothing stored, and the stored review says why
            expect(Option.isNone(model)).toBe(true)
            const reviewed = yield* detailOf(fx, learned[0]!.proposal_id)
            expect((reviewed.learning as any).classifier).toStrictEqual({
              skipped: "feature.disabled",
              feature: "ml_classifier"
            })
            expect(classifier).toMatchObject({ outcome: "skipped", reason: "feature.disabled" })
          }
        }
      }))

    it.effect("llm_fallback off: the model stage is not called and its stage records why; malformed flags read as on", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW)
        for (
          const [id, features, called] of [
            ["f-llm-on", undefined, true],
            ["f-llm-off", off("llm_fallback"), false],
            // a flag that is not a boolean reads as on; the well-formed one still counts
            ["f-llm-malformed", { llm_fallback: "no", ml_classifier: false }, true],
            ["f-llm-junk", "everything", true]
          ] as const
        ) {
          const fx = yield* tenantOf(id, features, [["PAPER", "6200"]])
          // a rule decides these: the model stage is never reached
          yield* book(fx, times(2, (i) => ({ description: `PAPER STORE ${i}`, cents: 1_000 + i })))
          expect(llmCalls.filter((t) => t === id)).toStrictEqual([])
          const [item] = yield* propose(fx, [{ description: "STORE SUPPLIES", cents: 2_500 }])
          const detail = yield* detailOf(fx, item!.proposal_id!)
          expect(llmCalls.filter((t) => t === id).length).toBe(called ? 1 : 0)
          expect(stageOf(detail, "llm")).toMatchObject(
            called ? { outcome: "candidates", reason: null } : { outcome: "skipped", reason: "feature.disabled" }
          )
          expect(stageOf(detail, "classifier")).toMatchObject(
            id === "f-llm-malformed"
              ? { outcome: "skipped", reason: "feature.disabled" }
              : { outcome: "candidates", reason: null }
          )
        }
      }))

    it.effect("auto_rule_promotion off: no promotion is proposed, and the apply's learning says why", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW)
        const store = yield* CompanionReportsPorts.RulePromotionStore
        for (const [id, features] of [["f-rp-on", undefined], ["f-rp-off", off("auto_rule_promotion")]] as const) {
          const fx = yield* tenantOf(id, features, [["COFFEE", "6200"]])
          const results = yield* book(fx, times(3, (i) => ({ description: "BLUE BOTTLE COFFEE", cents: 450 + i })))
          const promotions = results.map((r) => (r.learning as { promotion?: RulePromotion.ConsiderResult }).promotion)
          const stored = yield* store.list(fx.tenant, { limit: 10 })
          if (features === undefined) {
            expect(promotions.map((p) => p?.outcome)).toStrictEqual(["none", "none", "proposed"])
            expect(stored.map((p) => [p.status, p.vendor_key, p.account_code])).toStrictEqual([
              ["pending", "blue bottle coffee", "6200"]
            ])
          } else {
            for (const p of promotions) {
              expect(p).toStrictEqual({ outcome: "none", reason: "feature.disabled", superseded: null })
            }
            expect(stored).toStrictEqual([])
          }
        }
      }))

    it.effect("drift_detection off: no drift question on new proposals, no drift finding in the shadow report", () =>
      Effect.gen(function*() {
        const reports = yield* CompanionReports.CompanionReports
        const acme = "ACME SUPPLY"
        for (const [id, features] of [["f-drift-on", undefined], ["f-drift-off", off("drift_detection")]] as const) {
          yield* TestClock.setTime(NOW - 60 * DAY)
          const fx = yield* tenantOf(id, features, [["ACME", "6200"]])
          yield* book(fx, times(11, (i) => ({ description: acme, cents: 4_000 + i })))
          // people book ACME to advertising in the last 30 days
          yield* TestClock.setTime(NOW - 10 * DAY)
          yield* book(fx, times(5, (i) => ({ description: acme, cents: 4_100 + i, correctTo: "6000" })))
          yield* TestClock.setTime(NOW)
          const [item] = yield* propose(fx, [{ description: acme, cents: 4_200 }])
          const stored = yield* (yield* Companion.Companion).shadowEvent(fx.tenant, fx.viewer, item!.proposal_id!)
          const questions = (stored.proposal.payload as { questions: ReadonlyArray<string> }).questions
            .filter((q) => q.startsWith("Drift:"))
          const report = yield* reports.shadowReport(fx.tenant, fx.viewer, "30d")
          if (features === undefined) {
            expect(questions.length).toBe(1)
            expect(report.drift.map((f) => [f.kind, f.subject])).toStrictEqual([
              ["vendor.labels", VendorKey.vendorKey(acme)]
            ])
          } else {
            expect(questions).toStrictEqual([])
            expect(report.drift).toStrictEqual([])
          }
        }
      }))

    it.effect("calibration off: calibrated_probability stays null, no calibration is fitted, not auto-posted as uncalibrated", () =>
      Effect.gen(function*() {
        const models = yield* CompanionPorts.CompanionModelStore
        for (const [id, features] of [["f-cal-on", undefined], ["f-cal-off", off("calibration")]] as const) {
          yield* TestClock.setTime(NOW - 5 * DAY)
          const fx = yield* tenantOf(id, features, [["SHOP", "6200"]])
          // 30 reviewed proposals, 6 of them corrected: enough history to calibrate
          yield* book(
            fx,
            times(
              30,
              (i) => ({ description: `SHOP ${i}`, cents: 1_000 + i, ...(i % 5 === 0 ? { correctTo: "6000" } : {}) })
            )
          )
          yield* TestClock.setTime(NOW)
          const [item] = yield* propose(fx, [{ description: "SHOP 99", cents: 1_999 }])
          const detail = yield* detailOf(fx, item!.proposal_id!)
          const calibration = yield* models.latestCalibration(fx.tenant)
          expect((detail.autopost as { features: TenantFeatures.Features }).features).toStrictEqual(
            features ?? TenantFeatures.allOn
          )
          if (features === undefined) {
            expect(typeof item!.calibrated_probability).toBe("number")
            expect(detail.calibrated_probability).toBe(item!.calibrated_probability)
            expect(detail.calibration_version).not.toBeNull()
            expect(Option.isSome(calibration)).toBe(true)
            expect(detail.not_auto_post_reasons).not.toContain("autopost.uncalibrated")
          } else {
            expect(item!.calibrated_probability).toBeNull()
            expect(detail.calibrated_probability).toBeNull()
            expect(detail.calibration_version).toBeNull()
            expect(Option.isNone(calibration)).toBe(true)
            expect(detail.not_auto_post_reasons).toContain("autopost.uncalibrated")
            const counts = yield* (yield* Companion.Companion).notAutoPostCounts(fx.tenant, fx.viewer, NOW - 1)
            expect(counts["autopost.uncalibrated"]).toBe(1)
          }
        }
      }))
  })

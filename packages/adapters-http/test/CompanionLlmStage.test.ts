/**
 * The companion's language-model stage against a real local HTTP server speaking the OpenAI
 * chat-completions protocol (started by each test), over the in-memory store with guardrails'
 * real LLM budget and provider breaker. Lives here because the companion package cannot reach
 * the storage adapter; the server is the companion's test support.
 */
import { Calibration, Categorizer, Chain, LlmConfig, LlmStage } from "@airlock/companion"
import { Budgets, ProviderBreaker, Usd } from "@airlock/guardrails"
import { BankTransaction } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fake from "../../companion/test/support/FakeOpenAiServer.js"
import { account, guardrails, inputOf, MODEL, spent, transaction, withStage } from "./support/LlmStage.js"

// every account here is one an outflow may be booked to (see "only accounts a proposal can be applied with")
const accounts = [
  account("6100", "Office supplies", "Expense"),
  account("6200", "Software subscriptions", "Expense"),
  account("4000", "Sales tax payable", "Liability")
]

const input = inputOf(accounts)

/** A classifier answer with a raw confidence (what naive Bayes gives: near 1 even when wrong). */
const classifierSays = (confidence: number): Categorizer.StageResult => ({
  ...Categorizer.skipped("classifier", "x", "Classifier"),
  outcome: "candidates",
  reason: null,
  splits: [{ account_code: "6200", amount_minor: 4599n }],
  confidence,
  candidates: [{ account_code: "6200", score: confidence }]
})

/**
 * A tenant's per-stage calibration fitted (for real) on 120 reviewed classifier answers with raw
 * scores 0.90–0.99 of which `rightShare` were right.
 */
const calibrationOf = (stage: string, rightShare: number) => {
  const history = Array.from({ length: 120 }, (_, i) => ({
    stage,
    score: 0.9 + (i % 10) / 100,
    correct: (i * 37) % 100 < rightShare * 100,
    at: 1_700_000_000_000 + i * 3_600_000
  }))
  return Calibration.fitStages(history)!
}

describe("the language-model stage", () => {
  it.live("a good answer: candidates with the prior as confidence, metered, only the allowed fields sent", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script(Fake.json({ account_code: "6100", rationale: "Staples sells office supplies", confidence: 0.99 }))
        const r = yield* stage.run(input())
        expect(r).toMatchObject({
          stage: "llm",
          outcome: "candidates",
          splits: [{ account_code: "6100", amount_minor: 4599n }],
          confidence: 0.5,
          candidates: [{ account_code: "6100", score: 0.5 }],
          reason: null
        })
        expect(r.rationale).toContain("6100 Office supplies")
        // 120 input × $1/M + 15 output × $2/M = 150 micro-dollars
        expect(r.details).toMatchObject({
          model: MODEL,
          input_tokens: 120,
          output_tokens: 15,
          cost_usd: "0.00015",
          confidence_source: "prior"
        })
        expect(r.details.prompt_hash).toMatch(/^[0-9a-f]{64}$/)
        expect(r.details.prompt_hash).toBe(LlmStage.promptHash(LlmStage.promptOf(input())))
        expect(yield* spent).toBe(150n)
        // the request: one chat completion, the JSON schema limited to the chart's codes
        expect(fake.requests).toHaveLength(1)
        const body = fake.requests[0]!.body
        expect(body.model).toBe(MODEL)
        expect(body.response_format.json_schema.schema.properties.account_code.enum).toStrictEqual([
          "6100",
          "6200",
          "4000"
        ])
        const sent = JSON.stringify(body.messages)
        expect(sent).toContain("STAPLES #1234 SAN JOSE CA")
        expect(sent).toContain("-45.99 USD")
        expect(sent).toContain("2024-10-03")
        expect(sent).toContain("Software subscriptions")
        for (const secret of ["SECRET PAYEE NAME", "INTERNAL MEMO 42", "btx_1", "t1", "fp1", "someone"]) {
          expect(sent).not.toContain(secret)
        }
      })
    ))

  it.live("an account not in the chart is refused: abstain, metered, nothing proposed", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script(Fake.json({ account_code: "9999", rationale: "made up" }))
        const r = yield* stage.run(input())
        expect(r).toMatchObject({ outcome: "abstain", reason: "llm.account_not_in_chart", splits: [], confidence: 0 })
        expect(r.details).toMatchObject({ refused: "9999", input_tokens: 120, cost_usd: "0.00015" })
        expect(yield* spent).toBe(150n)
        expect(fake.requests).toHaveLength(1)
      })
    ))

  it.live("malformed output is refused: not JSON, or not the asked shape", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script(
          { kind: "answer", content: "I think it is office supplies" },
          Fake.json({ account: "6100" })
        )
        const a = yield* stage.run(input())
        const b = yield* stage.run(input())
        for (const r of [a, b]) expect(r).toMatchObject({ outcome: "abstain", reason: "llm.malformed_output" })
        expect(fake.requests).toHaveLength(2)
        // a malformed answer is a working provider: the breaker stays closed
        const breaker = yield* Effect.flatMap(ProviderBreaker.ProviderBreaker, (p) => p.state("llm"))
        expect(breaker.state).toBe("closed")
      })
    ))

  it.live("HTTP 500s: abstain with llm.provider_error, unmetered; the breaker opens after 3 and stops calling", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.setDefault({ kind: "status", status: 500 })
        for (let i = 0; i < 3; i++) {
          const r = yield* stage.run(input())
          expect(r).toMatchObject({ outcome: "abstain", reason: "llm.provider_error" })
        }
        expect(fake.requests).toHaveLength(3)
        const breaker = yield* Effect.flatMap(ProviderBreaker.ProviderBreaker, (p) => p.state("llm"))
        expect([breaker.state, breaker.reason]).toStrictEqual(["open", "consecutive_failures"])
        const r = yield* stage.run(input())
        expect(r).toMatchObject({ outcome: "skipped", reason: "llm.breaker_open" })
        expect(fake.requests).toHaveLength(3)
        expect(yield* spent).toBe(0n)
      })
    ))

  it.live("a hang is cut by the timeout and counts as a provider failure", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script({ kind: "hang" })
        const started = Date.now()
        const r = yield* stage.run(input())
        expect(Date.now() - started).toBeLessThan(3000)
        expect(r).toMatchObject({ outcome: "abstain", reason: "llm.timeout" })
        expect(fake.requests).toHaveLength(1)
        const breaker = yield* Effect.flatMap(ProviderBreaker.ProviderBreaker, (p) => p.state("llm"))
        expect(breaker.consecutive_failures).toBe(1)
      })
    ))

  it.live("budget exhausted: skipped before any request reaches the server", () =>
    withStage(
      (stage, fake) =>
        Effect.gen(function*() {
          const budget = yield* Budgets.LlmBudget
          // $0.01 cap; 20,000 input tokens at $1/M = $0.02
          yield* budget.meter({
            tenant_id: "t1",
            task: "other",
            model: MODEL,
            usage: { input_tokens: 20_000, output_tokens: 0 }
          })
          fake.script(Fake.json({ account_code: "6100", rationale: "x" }))
          const r = yield* stage.run(input())
          expect(r).toMatchObject({ outcome: "skipped", reason: "llm.budget_exceeded" })
          expect(r.details).toMatchObject({ called: false, fallback_reason: "tenant_budget_exceeded" })
          expect(fake.requests).toHaveLength(0)
        }),
      { guardrails: { llmTenantCap: Usd.usd("0.01") } }
    ))

  it.live("breaker open: skipped before any request reaches the server", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        const breaker = yield* ProviderBreaker.ProviderBreaker
        for (let i = 0; i < 3; i++) yield* breaker.recordFailure("llm")
        fake.script(Fake.json({ account_code: "6100", rationale: "x" }))
        const r = yield* stage.run(input())
        expect(r).toMatchObject({ outcome: "skipped", reason: "llm.breaker_open" })
        expect(fake.requests).toHaveLength(0)
      })
    ))

  it.live("unsure is judged on the calibrated probability: a raw-confident, poorly calibrated answer asks the model", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        const poor = Calibration.stageCalibration(calibrationOf("classifier", 0.4))!
        const good = Calibration.stageCalibration(calibrationOf("classifier", 0.98))!
        const otherStage = Calibration.stageCalibration(calibrationOf("vendor_memory", 0.4))!
        // the premise: raw 0.95 is far above the bound, the poor calibration far below it
        expect(poor("classifier", 0.95)!).toBeLessThan(0.55)
        expect(good("classifier", 0.95)!).toBeGreaterThan(0.9)
        fake.script(Fake.json({ account_code: "6100", rationale: "Staples sells office supplies" }))
        const asked = yield* stage.run(input([classifierSays(0.95)], { calibrate: poor }))
        expect(asked).toMatchObject({ outcome: "candidates", splits: [{ account_code: "6100" }], confidence: 0.5 })
        expect(fake.requests).toHaveLength(1)
        expect(asked.details.unsure).toStrictEqual({
          call: true,
          basis: "calibrated",
          stage: "classifier",
          raw_confidence: 0.95,
          calibrated_probability: poor("classifier", 0.95),
          call_below: 0.6
        })
        // well calibrated: sure enough, not asked; the calibrated probability is what was compared
        const sure = yield* stage.run(input([classifierSays(0.95)], { calibrate: good }))
        expect(sure).toMatchObject({ outcome: "skipped", reason: "llm.not_needed" })
        expect(sure.details.unsure).toMatchObject({ call: false, basis: "calibrated", raw_confidence: 0.95 })
        // no calibrator for the answering stage, or no calibration at all: the raw score is judged
        for (const calibrate of [otherStage, undefined]) {
          const raw = yield* stage.run(input([classifierSays(0.95)], { calibrate }))
          expect(raw).toMatchObject({ outcome: "skipped", reason: "llm.not_needed" })
          expect(raw.details.unsure).toStrictEqual({
            call: false,
            basis: "raw",
            stage: "classifier",
            raw_confidence: 0.95,
            calibrated_probability: null,
            call_below: 0.6
          })
        }
        // nothing answered before: asked, recorded as no_answer
        fake.script(Fake.json({ account_code: "6100", rationale: "x" }))
        const none = yield* stage.run(input([], { calibrate: poor }))
        expect(none.details.unsure).toMatchObject({ call: true, basis: "no_answer", stage: null })
        expect(fake.requests).toHaveLength(2)
      })
    ))

  it.live("only accounts a proposal can be applied with are offered: not the bank account, inactive, other currencies or types", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        const chart = [
          account("1000", "Operating account", "Asset"),
          account("1200", "Equipment", "Asset"),
          account("2100", "Credit card payable", "Liability"),
          account("3100", "Owner draws", "Equity"),
          account("4000", "Sales", "Income"),
          account("4900", "Refunds received", "Income", { active: false }),
          account("6100", "Office supplies", "Expense"),
          account("6150", "Old office supplies", "Expense", { active: false }),
          account("6500", "Travel (EUR)", "Expense", { currency: "EUR" })
        ]
        const money = (amount_minor: bigint) =>
          input([], {
            accounts: chart,
            transaction: new BankTransaction.BankTransaction({ ...transaction, amount_minor })
          })
        expect(LlmStage.targetAccounts(money(-4599n)).map((a) => a.code)).toStrictEqual([
          "1200",
          "2100",
          "3100",
          "6100"
        ])
        expect(LlmStage.targetAccounts(money(4599n)).map((a) => a.code)).toStrictEqual(["1200", "2100", "3100", "4000"])
        fake.script(
          Fake.json({ account_code: "6100", rationale: "supplies" }),
          Fake.json({ account_code: "4000", rationale: "a sale" }),
          Fake.json({ account_code: "1000", rationale: "the bank account anyway" })
        )
        const out = yield* stage.run(money(-4599n))
        expect(out).toMatchObject({ outcome: "candidates", splits: [{ account_code: "6100" }] })
        const inflow = yield* stage.run(money(4599n))
        expect(inflow).toMatchObject({ outcome: "candidates", splits: [{ account_code: "4000" }] })
        // the request offered only those codes, and the prompt's chart lists only them
        const enums = fake.requests.map((r) => r.body.response_format.json_schema.schema.properties.account_code.enum)
        expect(enums).toStrictEqual([["1200", "2100", "3100", "6100"], ["1200", "2100", "3100", "4000"]])
        const system = fake.requests[0]!.body.messages[0].content as string
        expect(system).toContain("6100 — Office supplies")
        for (const hidden of ["1000 —", "4000 —", "4900", "6150", "6500"]) expect(system).not.toContain(hidden)
        // a model that answers the bank account anyway is refused after the call, as before
        const bank = yield* stage.run(money(-4599n))
        expect(bank).toMatchObject({ outcome: "abstain", reason: "llm.account_not_in_chart" })
        expect(fake.requests).toHaveLength(3)
        // nothing the transaction could be booked to: no request at all
        const onlyBank = yield* stage.run(input([], { accounts: [chart[0]!, chart[7]!, chart[8]!] }))
        expect(onlyBank).toMatchObject({ outcome: "abstain", reason: "llm.no_accounts" })
        expect(fake.requests).toHaveLength(3)
      })
    ))

  it.live("a called model can win: its prior is weighed against the calibrated probability it was called on", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        const poor = Calibration.stageCalibration(calibrationOf("classifier", 0.4))!
        const good = Calibration.stageCalibration(calibrationOf("classifier", 0.98))!
        const p = poor("classifier", 0.95)!
        // the premise: raw 0.95 beats the prior 0.5, its calibrated probability does not
        expect(p).toBeLessThan(0.5)
        const classifierStage: Categorizer.CategorizerStage = {
          name: "classifier",
          run: () => Effect.succeed(classifierSays(0.95))
        }
        fake.script(Fake.json({ account_code: "6100", rationale: "Staples sells office supplies", confidence: 0.01 }))
        const { previous: _, ...base } = input()
        const results = yield* Chain.run([classifierStage, stage], { ...base, calibrate: poor })
        expect(fake.requests).toHaveLength(1)
        expect(results[1]).toMatchObject({
          stage: "llm",
          outcome: "candidates",
          confidence: 0.5,
          judged_against: { stage: "classifier", raw_confidence: 0.95, calibrated_probability: p }
        })
        const r = Chain.combine(results, base, { vendor_history: [] })
        expect([r.deciding_stage, r.splits.map((s) => [s.account_code, s.amount_minor]), r.confidence]).toStrictEqual([
          "llm",
          [["6100", 4599n]],
          0.5
        ])
        // provenance says why: the prior (never the model's own 0.01) against the calibrated probability
        expect(r.rationale).toContain(
          `Weighed on the calibrated scale: llm's 0.5 beat classifier's calibrated ${
            Math.round(p * 1000) / 1000
          } (raw 0.95)`
        )
        expect(r.results[1]!.details).toMatchObject({ confidence_source: "prior", unsure: { basis: "calibrated" } })
        // well calibrated: the model is not called and the classifier's answer stands
        const sure = yield* Chain.run([classifierStage, stage], { ...base, calibrate: good })
        expect(fake.requests).toHaveLength(1)
        expect(sure[1]).toMatchObject({ outcome: "skipped", reason: "llm.not_needed" })
        expect(Chain.combine(sure, base, { vendor_history: [] }).deciding_stage).toBe("classifier")
      })
    ))

  it.live("model calls turned off by the caller (the development seed): skipped with llm.calls_off, nothing sent", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.setDefault(Fake.json({ account_code: "6100", rationale: "x" }))
        const off = yield* stage.run(input()).pipe(LlmStage.withoutModelCalls("development seed"))
        expect(off).toMatchObject({ outcome: "skipped", reason: "llm.calls_off", splits: [] })
        expect(off.rationale).toContain("development seed")
        expect(fake.requests).toHaveLength(0)
        expect(yield* spent).toBe(0n)
        // only around the wrapped effect: the next call asks the model again
        expect(yield* stage.run(input())).toMatchObject({ outcome: "candidates" })
        expect(fake.requests).toHaveLength(1)
      })
    ))

  it.live("not configured, not needed, unpriced: skipped with their reasons, nothing sent", () =>
    Effect.gen(function*() {
      const none = yield* LlmStage.make.pipe(
        Effect.provide(Layer.merge(LlmConfig.layerNone, LlmConfig.layer())),
        Effect.provide(guardrails())
      )
      expect(yield* none.run(input())).toMatchObject({ outcome: "skipped", reason: "llm.not_configured" })
      yield* withStage((stage, fake) =>
        Effect.gen(function*() {
          const decided: Categorizer.StageResult = {
            ...Categorizer.skipped("rules", "x", "x"),
            outcome: "decided",
            confidence: 1
          }
          const sure: Categorizer.StageResult = {
            ...decided,
            stage: "classifier",
            outcome: "candidates",
            confidence: 0.8
          }
          expect(yield* stage.run(input([decided]))).toMatchObject({ outcome: "skipped", reason: "llm.not_needed" })
          expect(yield* stage.run(input([sure]))).toMatchObject({ outcome: "skipped", reason: "llm.not_needed" })
          expect(fake.requests).toHaveLength(0)
        })
      )
      yield* withStage(
        (stage, fake) =>
          Effect.gen(function*() {
            expect(yield* stage.run(input())).toMatchObject({ outcome: "skipped", reason: "llm.model_unpriced" })
            expect(fake.requests).toHaveLength(0)
          }),
        { guardrails: { llmPrices: {} } }
      )
    }))
})

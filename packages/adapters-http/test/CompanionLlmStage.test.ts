/**
 * The companion's language-model stage against a real local HTTP server speaking the OpenAI
 * chat-completions protocol (started by each test), over the in-memory store with guardrails'
 * real LLM budget and provider breaker. Lives here because the companion package cannot reach
 * the storage adapter; the server is the companion's test support.
 */
import { Memory } from "@airlock/adapters-storage"
import { Categorizer, LlmConfig, LlmStage } from "@airlock/companion"
import { Kernel } from "@airlock/core"
import { Budgets, Guardrails, GuardrailsConfig, ProviderBreaker, Usd } from "@airlock/guardrails"
import { BankTransaction, Chart } from "@airlock/ledger"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fake from "../../companion/test/support/FakeOpenAiServer.js"

const MODEL = "test-model"

const guardrails = (settings: Partial<GuardrailsConfig.GuardrailsSettings> = {}) =>
  Guardrails.layerServices.pipe(
    Layer.provideMerge(GuardrailsConfig.layer({
      // $1.00 / $2.00 per million tokens
      llmPrices: { [MODEL]: { input_per_mtok: Usd.usd("1"), output_per_mtok: Usd.usd("2") } },
      providerConsecutiveFailures: 3,
      providerCooldownSeconds: 600,
      ...settings
    })),
    Layer.provideMerge(Kernel.layer),
    Layer.provideMerge(Memory.layer)
  )

const model = (url: string, settings: Partial<LlmConfig.LlmSettings> = {}) =>
  LlmConfig.layerModel.pipe(
    Layer.provideMerge(LlmConfig.layer({ baseUrl: url, model: MODEL, timeoutMs: 400, ...settings })),
    Layer.provide(FetchHttpClient.layer)
  )

const account = (code: string, name: string, type: Chart.AccountType) =>
  new Chart.Account({
    tenant_id: "t1",
    code,
    name,
    type,
    normal_balance: Chart.defaultNormalBalance(type),
    parent_code: null,
    currency: "USD",
    active: true,
    description: null,
    created_at: 0,
    updated_at: 0
  })

const accounts = [
  account("6100", "Office supplies", "Expense"),
  account("6200", "Software subscriptions", "Expense"),
  account("4000", "Sales", "Income")
]

const transaction = new BankTransaction.BankTransaction({
  tenant_id: "t1",
  id: "btx_1",
  account_code: "1000",
  date: "2024-10-03",
  description: "STAPLES #1234 SAN JOSE CA",
  amount_minor: -4599n,
  currency: "USD",
  payee: "SECRET PAYEE NAME",
  memo: "INTERNAL MEMO 42",
  fit_id: null,
  fingerprint: "fp1",
  source_format: "csv",
  source_line: 2,
  imported_at: 0,
  imported_by: "someone"
})

const input = (previous: ReadonlyArray<Categorizer.StageResult> = []): Categorizer.CategorizeInput => ({
  tenant_id: "t1",
  transaction,
  accounts,
  vendor_key: "staples",
  previous
})

/** Runs `body` with a fresh fake server, a fresh store and the stage. */
const withStage = <A, E>(
  body: (
    stage: Categorizer.CategorizerStage,
    fake: Fake.FakeOpenAiServer
  ) => Effect.Effect<A, E, Budgets.LlmBudget | ProviderBreaker.ProviderBreaker>,
  options: {
    readonly guardrails?: Partial<GuardrailsConfig.GuardrailsSettings>
    readonly llm?: Partial<LlmConfig.LlmSettings>
  } = {}
) =>
  Effect.gen(function*() {
    const fake = yield* Fake.scoped
    const stage = yield* LlmStage.make.pipe(Effect.provide(model(fake.url, options.llm)))
    return yield* body(stage, fake)
  }).pipe(Effect.scoped, Effect.provide(guardrails(options.guardrails)))

const spent = Effect.flatMap(Budgets.LlmBudget, (b) => Effect.map(b.status("t1"), (s) => s.tenant_spent_usd))

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

/**
 * Shared by the language-model stage's tests (`CompanionLlmStage.test.ts` and
 * `CompanionLlmStagePersisted.test.ts`): a real local server speaking the OpenAI chat-completions
 * protocol (the companion's test support), the in-memory store, guardrails' real LLM budget and
 * provider breaker, and the transaction the stage is asked about. (The inferred declarations name
 * core's {@link Errors.StorageError}.)
 */
import { Memory } from "@airlock/adapters-storage"
import { type Categorizer, LlmConfig, LlmStage } from "@airlock/companion"
import { type AiSettings, Kernel } from "@airlock/core"
import { Budgets, Guardrails, GuardrailsConfig, type ProviderBreaker, Usd } from "@airlock/guardrails"
import { BankTransaction, Chart } from "@airlock/ledger"
import { FetchHttpClient } from "@effect/platform"
import { type ConfigError, Effect, Layer } from "effect"
import * as Fake from "../../../companion/test/support/FakeOpenAiServer.js"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declarations below (TS2742)
import type { Errors } from "@airlock/core"

/** The model the stage asks, priced by {@link guardrails}. */
export const MODEL = "test-model"

/**
 * Guardrails' services over a fresh in-memory store: {@link MODEL} priced, the breaker opening after 3
 * failures; typed as what the stage needs (the LLM budget, the provider breaker, AI settings).
 */
export const guardrails = (
  settings: Partial<GuardrailsConfig.GuardrailsSettings> = {}
): Layer.Layer<
  Budgets.LlmBudget | ProviderBreaker.ProviderBreaker | AiSettings.AiSettingsStore,
  ConfigError.ConfigError
> =>
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

/** The language model at `url` ({@link MODEL}, a 400 ms timeout), over fetch. */
export const model = (url: string, settings: Partial<LlmConfig.LlmSettings> = {}) =>
  LlmConfig.layerModel.pipe(
    Layer.provideMerge(LlmConfig.layer({ baseUrl: url, model: MODEL, timeoutMs: 400, ...settings })),
    Layer.provide(FetchHttpClient.layer)
  )

/** An active USD account of tenant t1 at the top of the chart. */
export const account = (code: string, name: string, type: Chart.AccountType, more: Partial<Chart.Account> = {}) =>
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
    updated_at: 0,
    ...more
  })

/** Money out at Staples, with a payee, a memo and ids the prompt must not carry. */
export const transaction = new BankTransaction.BankTransaction({
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

/** The stage's input for {@link transaction} over `accounts`, after the `previous` stages' results. */
export const inputOf = (accounts: ReadonlyArray<Chart.Account>) =>
(
  previous: ReadonlyArray<Categorizer.StageResult> = [],
  more: Partial<Categorizer.CategorizeInput> = {}
): Categorizer.CategorizeInput => ({
  tenant_id: "t1",
  transaction,
  accounts,
  vendor_key: "staples",
  previous,
  ...more
})

/** Runs `body` with a fresh fake server, a fresh store and the stage. */
export const withStage = <A, E>(
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

/** Tenant t1's LLM spend so far, in micro-dollars. */
export const spent = Effect.flatMap(Budgets.LlmBudget, (b) => Effect.map(b.status("t1"), (s) => s.tenant_spent_usd))

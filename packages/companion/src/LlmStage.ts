/**
 * The language-model stage of the categorizer chain (optional, last). It runs only when the
 * earlier stages are unsure: none `decided` or `authoritative` (a person's relabel, which the
 * chain follows whatever the model says), and their best confidence is below
 * `AIRLOCK_LLM_CALL_BELOW` (default 0.6). Then, in this order:
 *
 * 1. no model configured → `skipped` `llm.not_configured`;
 * 2. guardrails' LLM budget is checked before the call (`LlmBudget.call`, failing closed): a cap
 *    reached, the budget unreadable or the model unpriced → `skipped` (no request is sent);
 * 3. the call goes through guardrails' provider breaker (`AIRLOCK_LLM_PROVIDER`, default `llm`):
 *    open → `skipped` `llm.breaker_open` (no request); a transport error, a non-2xx answer or a
 *    timeout (`AIRLOCK_LLM_TIMEOUT_MS`) counts as a provider failure and the stage abstains;
 * 4. an answer is metered (tokens × guardrails' price) and must be JSON
 *    `{account_code, rationale}` with one of the tenant's own active account codes (the request
 *    asks for exactly that JSON schema); anything else is refused and the stage abstains with
 *    `llm.malformed_output` or `llm.account_not_in_chart`.
 *
 * Only the transaction's description, amount (with its currency) and date, and the chart's codes
 * and names, go into the prompt. The stage's confidence is never the model's own claim: an
 * accepted answer gets the fixed prior `AIRLOCK_LLM_PRIOR_CONFIDENCE` (default 0.5) as its raw
 * confidence, which the tenant's calibration then maps from reviewed history. The outcome is
 * `candidates`, never `decided`. `details` carries the model name, the sha256 of the prompt,
 * tokens and cost, or why the model was not called.
 */
import { AiSettings, Canonical } from "@airlock/core"
import { Budgets, Usd } from "@airlock/guardrails"
import { Money } from "@airlock/ledger"
import { Duration, Effect, Option, Ref, Schema } from "effect"
import * as Categorizer from "./Categorizer.js"
import { LlmConfig, LlmModel, withJsonSchema } from "./LlmConfig.js"

/** The stage's name. */
export const STAGE = "llm"

/** The guardrails budget task the stage's spend is booked under. */
export const TASK = "companion.categorize"

/** Stable reason codes of the stage. */
export const Reasons = {
  notConfigured: "llm.not_configured",
  notNeeded: "llm.not_needed",
  noAccounts: "llm.no_accounts",
  budgetExceeded: "llm.budget_exceeded",
  budgetUnavailable: "llm.budget_unavailable",
  modelUnpriced: "llm.model_unpriced",
  breakerOpen: "llm.breaker_open",
  timeout: "llm.timeout",
  providerError: "llm.provider_error",
  malformedOutput: "llm.malformed_output",
  accountNotInChart: "llm.account_not_in_chart"
} as const

/** The answer the model must give. */
export const Answer = Schema.Struct({
  account_code: Schema.String,
  rationale: Schema.String
})

/** The JSON schema sent with the request: one of `codes`, and a short rationale. */
export const answerJsonSchema = (codes: ReadonlyArray<string>): Record<string, unknown> => ({
  type: "object",
  properties: {
    account_code: { type: "string", enum: [...codes] },
    rationale: { type: "string" }
  },
  required: ["account_code", "rationale"],
  additionalProperties: false
})

/** The prompt: a system message with the chart, a user message with the transaction. Pure. */
export const promptOf = (input: Categorizer.CategorizeInput): { readonly system: string; readonly user: string } => {
  const t = input.transaction
  const chart = input.accounts.map((a) => `${a.code} — ${a.name}`).join("\n")
  const system = [
    "You categorize one bank transaction into exactly one account of the chart of accounts below.",
    'Answer only with JSON {"account_code": <one code from the chart>, "rationale": <one short sentence>}.',
    "Chart of accounts (code — name):",
    chart
  ].join("\n")
  const user = JSON.stringify({
    description: t.description,
    amount: `${Money.formatAmount(t.amount_minor, t.currency)} ${t.currency}`,
    date: t.date
  })
  return { system, user }
}

/** The sha256 of a prompt (hex), as recorded in provenance. Pure. */
export const promptHash = (prompt: { readonly system: string; readonly user: string }): string =>
  Canonical.sha256Hex(`${prompt.system}\u0000${prompt.user}`)

/** How the stage judged an answer's text. Pure. */
export const interpret = (
  text: string,
  codes: ReadonlySet<string>
):
  | { readonly ok: true; readonly account_code: string; readonly rationale: string }
  | { readonly ok: false; readonly reason: string; readonly detail: string } =>
{
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { ok: false, reason: Reasons.malformedOutput, detail: "not JSON" }
  }
  const decoded = Schema.decodeUnknownOption(Answer)(parsed)
  if (Option.isNone(decoded))
    return { ok: false, reason: Reasons.malformedOutput, detail: "not {account_code, rationale}" }
  if (!codes.has(decoded.value.account_code)) {
    return { ok: false, reason: Reasons.accountNotInChart, detail: decoded.value.account_code.slice(0, 50) }
  }
  return { ok: true, account_code: decoded.value.account_code, rationale: decoded.value.rationale.slice(0, 300) }
}

/** Rough token count of a text (4 characters a token) when a server reports no usage. */
const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

const fallbackReason = (reason: Budgets.FallbackReason): string => {
  switch (reason) {
    case "tenant_budget_exceeded":
    case "global_budget_exceeded":
      return Reasons.budgetExceeded
    case "budget_unavailable":
      return Reasons.budgetUnavailable
    case "model_unpriced":
      return Reasons.modelUnpriced
    case "provider_unavailable":
      return Reasons.breakerOpen
    case "provider_error":
      return Reasons.providerError
  }
}

/** Is the chain unsure enough to ask the model? Pure. */
export const shouldCall = (previous: ReadonlyArray<Categorizer.StageResult>, callBelow: number): boolean =>
  !previous.some((r) => r.outcome === "decided" || (r.outcome === "candidates" && r.authoritative === true)) &&
  previous.reduce((best, r) => Math.max(best, r.outcome === "candidates" ? r.confidence : 0), 0) < callBelow

/** Builds the stage from the configured model, the settings and guardrails' LLM budget. */
export const make = Effect.gen(function*() {
  const settings = yield* LlmConfig
  const configured = yield* LlmModel
  const budget = yield* Budgets.LlmBudget
  const aiSettings = yield* AiSettings.AiSettingsStore

  const run = (input: Categorizer.CategorizeInput): Effect.Effect<Categorizer.StageResult> =>
    Effect.gen(function*() {
      if (Option.isNone(configured)) {
        return Categorizer.skipped(STAGE, Reasons.notConfigured, "No language model is configured")
      }
      const { model, name } = configured.value
      if (!shouldCall(input.previous, settings.callBelow)) {
        return Categorizer.skipped(STAGE, Reasons.notNeeded, "Earlier stages were sure enough")
      }
      if (input.accounts.length === 0) {
        return Categorizer.abstain(STAGE, Reasons.noAccounts, "The tenant has no active accounts to choose from")
      }
      const prompt = promptOf(input)
      const hash = promptHash(prompt)
      const base = { model: name, provider: settings.provider, prompt_hash: hash }
      const codes = new Set(input.accounts.map((a) => a.code))
      const failure = yield* Ref.make<string>(Reasons.providerError)
      const tenantSettings = yield* Effect.orElseSucceed(
        Effect.map(aiSettings.get(input.tenant_id as never), Option.getOrUndefined),
        () => undefined
      )
      const call = model.generateText({
        prompt: [{ role: "system", content: prompt.system }, { role: "user", content: prompt.user }]
      }).pipe(
        withJsonSchema("categorization", answerJsonSchema([...codes])),
        Effect.timeoutFail({
          duration: Duration.millis(settings.timeoutMs),
          onTimeout: () => ({ _tag: "Timeout" as const })
        }),
        Effect.tapError((e) => Ref.set(failure, e._tag === "Timeout" ? Reasons.timeout : Reasons.providerError)),
        Effect.map((response) => ({
          value: { text: response.text, reported: response.usage.inputTokens !== undefined },
          usage: {
            input_tokens: response.usage.inputTokens ?? estimateTokens(prompt.system + prompt.user),
            output_tokens: response.usage.outputTokens ?? estimateTokens(response.text)
          }
        }))
      )
      const outcome = yield* Effect.either(budget.call({
        tenant_id: input.tenant_id,
        task: TASK,
        model: name,
        provider: settings.provider,
        ...(tenantSettings === undefined ? {} : { settings: tenantSettings }),
        run: call,
        fallback: Effect.succeed(null)
      }))
      if (outcome._tag === "Left") {
        return Categorizer.skipped(STAGE, Reasons.budgetUnavailable, "The LLM budget could not be recorded")
      }
      const result = outcome.right
      if (result.fallback_active || result.value === null) {
        const reason = result.fallback_reason === "provider_error"
          ? yield* Ref.get(failure)
          : fallbackReason(result.fallback_reason ?? "provider_error")
        const details = {
          ...base,
          called: result.fallback_reason === "provider_error",
          fallback_reason: result.fallback_reason
        }
        return result.fallback_reason === "provider_error"
          ? Categorizer.abstain(STAGE, reason, `The language model call failed (${reason})`, details)
          : { ...Categorizer.skipped(STAGE, reason, `The language model was not called (${reason})`), details }
      }
      const metered = {
        ...base,
        called: true,
        input_tokens: result.usage?.input_tokens ?? 0,
        output_tokens: result.usage?.output_tokens ?? 0,
        usage_reported: result.value.reported,
        cost_usd: Usd.formatUsd(result.cost_usd)
      }
      const answer = interpret(result.value.text, codes)
      if (!answer.ok) {
        return Categorizer.abstain(
          STAGE,
          answer.reason,
          `The language model's answer was refused (${answer.reason})`,
          { ...metered, refused: answer.detail }
        )
      }
      const account = input.accounts.find((a) => a.code === answer.account_code)!
      return {
        stage: STAGE,
        outcome: "candidates",
        splits: Categorizer.wholeAmount(input.transaction, answer.account_code),
        confidence: settings.priorConfidence,
        candidates: [{ account_code: answer.account_code, score: settings.priorConfidence }],
        rationale: `Language model ${name} suggested ${account.code} ${account.name}: ${answer.rationale}`,
        reason: null,
        questions: [],
        details: { ...metered, confidence_source: "prior", prior: settings.priorConfidence }
      } satisfies Categorizer.StageResult
    })

  return { name: STAGE, run } satisfies Categorizer.CategorizerStage
})

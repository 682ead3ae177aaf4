/**
 * The language-model stage of the categorizer chain (optional, last). It runs only when the
 * earlier stages are unsure: none `decided` or `authoritative` (a person's relabel, which the
 * chain follows whatever the model says), and the chain's answer so far is below
 * `AIRLOCK_LLM_CALL_BELOW` (default 0.6) — its calibrated probability when its stage has a
 * calibrator, else its raw confidence (see {@link judge}). Then, in this order:
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
 * "Unsure" ({@link judge}) is judged on the deterministic answer the chain would give without the
 * model (`Chain.combine` of the earlier results): on its calibrated probability when the tenant's
 * calibration has a calibrator for the stage that gave it (`CategorizeInput.calibrate`), else on
 * its raw confidence — a naive-Bayes score sits near 1 even on wrong labels, so raw alone almost
 * never asks. `details.unsure` records which was used (`basis`), the stage, both numbers and the
 * bound; a stage that decided, or no answer at all, are recorded as such.
 *
 * The model may choose only accounts the proposal could be applied with ({@link targetAccounts}:
 * the ledger's rules for a proposal's splits, checked before the call rather than refused after
 * it): active, in the transaction's currency, not the bank account itself, and not of a type the
 * ledger refuses for the money's direction (`Proposals.splitRules`: no Income for money out, no
 * Expense for money in). The prompt's chart and the JSON schema's `enum` list only those.
 *
 * Only the transaction's description, amount (with its currency) and date, and the chart's codes
 * and names, go into the prompt. The stage's confidence is never the model's own claim: an
 * accepted answer gets the fixed prior `AIRLOCK_LLM_PRIOR_CONFIDENCE` (default 0.5) as its raw
 * confidence, which the tenant's calibration then maps from reviewed history. The outcome is
 * `candidates`, never `decided`. When the model was called on a calibrated judgement, the answer
 * carries `judged_against` (the answer it was called against and its calibrated probability), so
 * `Chain.combine` weighs the prior against that probability rather than that answer's raw score. `details` carries the model name, the sha256 of the prompt,
 * tokens and cost, or why the model was not called.
 */
import { AiSettings, Canonical } from "@airlock/core"
import { Budgets, Usd } from "@airlock/guardrails"
import { type Chart, Money } from "@airlock/ledger"
import { Context, Duration, Effect, Option, Ref, Schema } from "effect"
import * as Categorizer from "./Categorizer.js"
import * as Chain from "./Chain.js"
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
  accountNotInChart: "llm.account_not_in_chart",
  callsOff: "llm.calls_off"
} as const

/**
 * Whether the stage may call the model in the current fiber (default: yes). A caller turns calls
 * off around work that must not spend on the model — the development seed proposes a few hundred
 * times on first start — with {@link withoutModelCalls}; the stage then skips with `llm.calls_off`.
 */
export class ModelCalls extends Context.Reference<ModelCalls>()("@airlock/companion/LlmStage/ModelCalls", {
  defaultValue: (): { readonly allowed: boolean; readonly why: string | null } => ({ allowed: true, why: null })
}) {}

/** Runs `self` with the model stage's calls turned off (`why` goes into the skipped stage's rationale). */
export const withoutModelCalls = (why: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(self, ModelCalls, { allowed: false, why })

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

/**
 * The accounts the model may choose for a transaction: those a proposal's split can be applied
 * to (see the module comment) — active, in the transaction's currency, not the bank account, of a
 * type the ledger accepts for the money's direction — by the same rule the chain judges every
 * stage's answer with (`Categorizer.applyRule`). In the chart's order; none for a zero amount
 * (apply refuses every split of it). Pure.
 */
export const targetAccounts = (
  input: Pick<Categorizer.CategorizeInput, "accounts" | "transaction">
): ReadonlyArray<Chart.Account> => {
  const rule = Categorizer.applyRule(input)
  const amount = input.transaction.amount_minor < 0n ? -input.transaction.amount_minor : input.transaction.amount_minor
  return input.accounts.filter((a) => rule([{ account_code: a.code, amount_minor: amount }]) === null)
}

/** The prompt: a system message with the allowed accounts, a user message with the transaction. Pure. */
export const promptOf = (input: Categorizer.CategorizeInput): { readonly system: string; readonly user: string } => {
  const t = input.transaction
  const chart = targetAccounts(input).map((a) => `${a.code} — ${a.name}`).join("\n")
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

/** How the stage judged whether the earlier stages are unsure (recorded as `details.unsure`). */
export interface Unsure {
  /** Ask the model? */
  readonly call: boolean
  /**
   * What was compared with the bound: `calibrated` (the answer's calibrated probability), `raw`
   * (its raw confidence: no calibrator for its stage, or no calibration), `settled` (an earlier
   * stage decided: nothing compared), `no_answer` (no earlier stage answered: 0).
   */
  readonly basis: "calibrated" | "raw" | "settled" | "no_answer"
  /** The stage whose answer the chain would take without the model. */
  readonly stage: string | null
  readonly raw_confidence: number | null
  readonly calibrated_probability: number | null
  /** `AIRLOCK_LLM_CALL_BELOW`. */
  readonly call_below: number
}

/**
 * Is the chain unsure enough to ask the model? Judged on the answer the chain would take without
 * it: its calibrated probability when `input.calibrate` has a calibrator for its stage, else its
 * raw confidence, against `callBelow`. Pure.
 */
export const judge = (input: Categorizer.CategorizeInput, callBelow: number): Unsure => {
  const answer = Chain.combine(input.previous, input, { vendor_history: [] })
  // shouldCall with no bound says only whether an earlier stage settled the answer
  if (!shouldCall(input.previous, Number.POSITIVE_INFINITY)) {
    return {
      call: false,
      basis: "settled",
      stage: answer.deciding_stage,
      raw_confidence: answer.confidence,
      calibrated_probability: null,
      call_below: callBelow
    }
  }
  if (answer.deciding_stage === null) {
    return {
      call: 0 < callBelow,
      basis: "no_answer",
      stage: null,
      raw_confidence: null,
      calibrated_probability: null,
      call_below: callBelow
    }
  }
  const p = input.calibrate?.(answer.deciding_stage, answer.confidence) ?? null
  const usable = p !== null && Number.isFinite(p)
  return {
    call: (usable ? p : answer.confidence) < callBelow,
    basis: usable ? "calibrated" : "raw",
    stage: answer.deciding_stage,
    raw_confidence: answer.confidence,
    calibrated_probability: usable ? p : null,
    call_below: callBelow
  }
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
      const calls = yield* ModelCalls
      if (!calls.allowed) {
        return Categorizer.skipped(
          STAGE,
          Reasons.callsOff,
          `Model calls are off here (${calls.why ?? "by the caller"})`
        )
      }
      const unsure = judge(input, settings.callBelow)
      if (!unsure.call) {
        return {
          ...Categorizer.skipped(STAGE, Reasons.notNeeded, "Earlier stages were sure enough"),
          details: { unsure }
        }
      }
      const targets = targetAccounts(input)
      if (targets.length === 0) {
        return Categorizer.abstain(
          STAGE,
          Reasons.noAccounts,
          "The tenant has no active account this transaction could be booked to",
          { unsure }
        )
      }
      const prompt = promptOf(input)
      const hash = promptHash(prompt)
      const base = { model: name, provider: settings.provider, prompt_hash: hash, unsure }
      const codes = new Set(targets.map((a) => a.code))
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
        return {
          ...Categorizer.skipped(STAGE, Reasons.budgetUnavailable, "The LLM budget could not be recorded"),
          details: { ...base, called: false }
        }
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
      const account = targets.find((a) => a.code === answer.account_code)!
      return {
        stage: STAGE,
        outcome: "candidates",
        splits: Categorizer.wholeAmount(input.transaction, answer.account_code),
        confidence: settings.priorConfidence,
        candidates: [{ account_code: answer.account_code, score: settings.priorConfidence }],
        rationale: `Language model ${name} suggested ${account.code} ${account.name}: ${answer.rationale}`,
        reason: null,
        questions: [],
        details: { ...metered, confidence_source: "prior", prior: settings.priorConfidence },
        // called because the answer so far was judged unsure on the calibration: weighed against that probability
        ...(unsure.basis === "calibrated" && unsure.stage !== null && unsure.raw_confidence !== null &&
            unsure.calibrated_probability !== null
          ? {
            judged_against: {
              stage: unsure.stage,
              raw_confidence: unsure.raw_confidence,
              calibrated_probability: unsure.calibrated_probability
            }
          }
          : {})
      } satisfies Categorizer.StageResult
    })

  return { name: STAGE, run } satisfies Categorizer.CategorizerStage
})

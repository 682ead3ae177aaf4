/**
 * The categorizer chain: runs stages in order over one bank transaction and combines their
 * answers into what a proposal carries — splits, the raw confidence, a rationale naming the rule,
 * the vendor or the model, the questions a person should answer, and every stage's result for
 * provenance.
 *
 * - Stages run in order; each sees the results before it. After a stage `decided`, the rest are
 *   recorded `skipped` (`chain.decided_earlier`) without running.
 * - A stage's answer must be one apply would accept (`Categorizer.applyRule`, the ledger's own
 *   check: positive splits adding up to the bank amount, not the bank account, active accounts of
 *   the chart in the transaction's currency, no Income for money out and no Expense for money in);
 *   an answer apply would refuse — from any stage, a tenant rule's `decided` one too — is turned
 *   into an `abstain` (`chain.invalid_answer`, the ledger's code in `details.refused.code`) and
 *   recorded as such, so later stages still run and the next usable answer wins.
 * - The proposal takes the deciding stage's answer, else the first candidate answer marked
 *   `authoritative` (a person's decision: vendor memory after a person relabelled the vendor),
 *   else the most confident candidate answer (earlier stage on ties). The raw confidence is that
 *   stage's; it is calibrated later. The chain reads the flag, never a stage's name, so a host's
 *   stage may carry it too.
 * - An answer produced against the chain's best answer so far judged on the tenant's calibration
 *   (`StageResult.judged_against`: the language model, called because that answer's calibrated
 *   probability was below its bound) is weighed against that calibrated probability, not the
 *   answer's raw score; the rationale says so. Again the field, not a stage's name, is read.
 * - A person's rejections teach: accounts a stage reports `rejected` for the vendor (vendor memory
 *   does), or the caller passes in the context, are demoted. Among candidate answers, one on a rejected account is replaced by its
 *   stage's best candidate that avoids them (the whole amount on it, at that candidate's score),
 *   or else ranks below every answer that avoids them. When the chain still ends on a rejected
 *   account (a `decided` or `authoritative` answer, or nothing else), it asks about the rejection
 *   and its reason, and {@link ChainResult.rejected} names it: the caller must not auto-post.
 * - Questions: every stage's, plus the chain's own — an unusual amount for the vendor (below a
 *   third or above three times the median of at least three earlier bookings) and a possible split
 *   (the vendor was split before, or the two best candidates are close) — and the drift questions
 *   the caller passes (a vendor whose recent labels or amounts depart from its history, `Drift`).
 *
 * A host replaces, reorders or extends the stages with {@link ChainStages}.
 */
import { Money } from "@airlock/ledger"
import { Context, Effect } from "effect"
import type {
  Candidate,
  CategorizeInput,
  CategorizerStage,
  JudgedAgainst,
  ProposedSplit,
  RejectedAccount,
  StageResult
} from "./Categorizer.js"
import * as Categorizer from "./Categorizer.js"
import { abstain, skipped, wholeAmount } from "./Categorizer.js"

/** The built-in stages for one transaction, by name (`llm` only when a model stage is provided). */
export interface DefaultStages {
  readonly rules: CategorizerStage
  readonly vendor_memory: CategorizerStage
  readonly classifier: CategorizerStage
  readonly llm: CategorizerStage | null
}

/**
 * How a host shapes the chain: a function from the built-in stages to the list to run. The
 * default is rules → vendor memory → classifier → language model (when provided).
 */
export class ChainStages extends Context.Reference<ChainStages>()("@airlock/companion/ChainStages", {
  defaultValue: () => ({
    stages: (d: DefaultStages): ReadonlyArray<CategorizerStage> => [
      d.rules,
      d.vendor_memory,
      d.classifier,
      ...(d.llm ? [d.llm] : [])
    ]
  })
}) {}

/** The optional language-model stage a host (or the LLM layer) provides; none by default. */
export class LlmStageProvider extends Context.Reference<LlmStageProvider>()("@airlock/companion/LlmStageProvider", {
  defaultValue: (): { readonly stage: CategorizerStage | null } => ({ stage: null })
}) {}

/** What the chain knows beyond the transaction: the vendor's earlier bookings (newest first). */
export interface ChainContext {
  readonly vendor_history: ReadonlyArray<{ readonly amount_minor: bigint; readonly splits: number }>
  /** Questions from drift detection on this vendor (`Drift`), asked after the stages' own. */
  readonly drift_questions?: ReadonlyArray<string> | undefined
  /**
   * Accounts a person rejected for the vendor, as the caller read them (the companion passes
   * vendor memory's facts): counted with the stages' own reports, so they also hold when the
   * stage that would report them did not run (a tenant rule decided first).
   */
  readonly rejected?: ReadonlyArray<RejectedAccount> | undefined
}

/** The combined answer of the chain. */
export interface ChainResult {
  readonly splits: ReadonlyArray<ProposedSplit>
  readonly confidence: number
  readonly deciding_stage: string | null
  readonly rationale: string
  readonly questions: ReadonlyArray<string>
  readonly candidates: ReadonlyArray<Candidate>
  readonly results: ReadonlyArray<StageResult>
  /**
   * The accounts of {@link splits} a person rejected for the vendor ({@link StageResult.rejected}):
   * the chain ended on them all the same (a `decided` or `authoritative` answer, or no other
   * answer). Such a proposal asks about the rejection and must not be auto-posted.
   */
  readonly rejected: ReadonlyArray<RejectedAccount>
}

const abs = (n: bigint) => (n < 0n ? -n : n)

/**
 * The chain's own refusal codes for a malformed answer, beside the ledger's (`details.refused.code`).
 * Stage reasons recorded in provenance, not errors a caller receives (so not in core's `ErrorCode`).
 */
export const RefusalCodes = {
  noSplits: "chain.no_splits",
  confidenceNotFinite: "chain.confidence_not_finite"
} as const

/**
 * Why the chain cannot use a stage's answer, or null when it can: apply would refuse its splits
 * ({@link Categorizer.applyRule}: the ledger's stable code, such as `validation.account_type` for
 * an Income account on money out), it has no splits, or its confidence is not a number.
 * `abstain` and `skipped` results are always usable. `rule` is the transaction's apply rule, when
 * the caller built it already.
 */
export const refusal = (
  result: StageResult,
  input: Omit<CategorizeInput, "previous">,
  rule: (splits: ReadonlyArray<ProposedSplit>) => Categorizer.Refusal | null = Categorizer.applyRule(input)
): Categorizer.Refusal | null => {
  if (result.outcome !== "decided" && result.outcome !== "candidates") return null
  if (result.splits.length === 0)
    return { code: RefusalCodes.noSplits, message: "The answer has no splits", details: {} }
  if (!Number.isFinite(result.confidence)) {
    return { code: RefusalCodes.confidenceNotFinite, message: "The answer's confidence is not a number", details: {} }
  }
  return rule(result.splits)
}

/** Is a stage's answer usable: would apply accept its splits ({@link refusal})? */
export const usable = (result: StageResult, input: Omit<CategorizeInput, "previous">): boolean =>
  refusal(result, input) === null

/** The reason of a stage's answer the chain could not use (`refusal`); `details.refused.code` says why. */
export const INVALID_ANSWER = "chain.invalid_answer"

/** Runs the stages in order (see the module comment); never fails. */
export const run = <R>(
  stages: ReadonlyArray<CategorizerStage<R>>,
  input: Omit<CategorizeInput, "previous">
): Effect.Effect<ReadonlyArray<StageResult>, never, R> =>
  Effect.gen(function*() {
    const results: Array<StageResult> = []
    const rule = Categorizer.applyRule(input)
    let decidedBy: string | null = null
    for (const stage of stages) {
      if (decidedBy !== null) {
        results.push(skipped(stage.name, "chain.decided_earlier", `Not run: ${decidedBy} decided`))
        continue
      }
      const raw = yield* stage.run({ ...input, previous: results })
      const refused = refusal(raw, input, rule)
      const result = refused === null
        ? { ...raw, confidence: Math.min(1, Math.max(0, raw.confidence)) }
        : {
          ...abstain(
            stage.name,
            INVALID_ANSWER,
            `${stage.name}'s answer cannot be applied (${refused.code}: ${refused.message})`,
            {
              answer: raw.splits.map((s) => ({
                account_code: s.account_code,
                amount_minor: s.amount_minor.toString()
              })),
              refused,
              answered: { outcome: raw.outcome, rationale: raw.rationale.slice(0, 500), details: raw.details }
            }
          ),
          // a rejection the stage reported still counts
          ...(raw.rejected === undefined ? {} : { rejected: raw.rejected })
        }
      results.push(result)
      if (result.outcome === "decided") decidedBy = stage.name
    }
    return results
  })

const median = (xs: ReadonlyArray<bigint>): bigint => {
  const s = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2n
}

/** Combines stage results into the proposal's answer (see the module comment). Pure. */
export const combine = (
  results: ReadonlyArray<StageResult>,
  input: Omit<CategorizeInput, "previous">,
  context: ChainContext
): ChainResult => {
  // accounts a person rejected for the vendor, as the stages report them (the first report of an account wins)
  const rejectedBy = new Map<string, RejectedAccount>()
  for (const r of results) {
    if (r.outcome === "skipped") continue
    for (const x of r.rejected ?? []) if (!rejectedBy.has(x.account_code)) rejectedBy.set(x.account_code, x)
  }
  for (const x of context.rejected ?? []) if (!rejectedBy.has(x.account_code)) rejectedBy.set(x.account_code, x)
  const onRejected = (r: StageResult) => r.splits.some((s) => rejectedBy.has(s.account_code))
  const decided = results.find((r) => r.outcome === "decided")
  let chosen: StageResult | undefined = decided ??
    results.find((r) => r.outcome === "candidates" && r.authoritative === true)
  let demotedFrom: ReadonlyArray<string> = []
  // an answer weighed against the chain's best so far on the calibrated scale (StageResult.judged_against)
  let weighed: { readonly won: boolean; readonly by: StageResult; readonly against: JudgedAgainst } | null = null
  if (chosen === undefined) {
    // answers on a rejected account give way to the stage's best other candidate, else rank below every other answer
    for (const r of results) {
      if (r.outcome !== "candidates") continue
      const answer = onRejected(r) ? avoiding(r, rejectedBy, input) : r
      if (answer === null) continue
      if (chosen === undefined) {
        chosen = answer
        continue
      }
      const against = judgedAgainst(answer, chosen)
      if (against !== null) weighed = { won: answer.confidence > against.calibrated_probability, by: answer, against }
      if (answer.confidence > (against?.calibrated_probability ?? chosen.confidence)) chosen = answer
    }
    if (chosen === undefined) {
      for (const r of results) {
        if (r.outcome === "candidates" && (chosen === undefined || r.confidence > chosen.confidence)) chosen = r
      }
    } else {
      const from = results.find((r) => r.stage === chosen!.stage && r.outcome === "candidates")
      if (from !== undefined && from !== chosen) demotedFrom = from.splits.map((s) => s.account_code)
    }
  }
  const stillRejected = chosen === undefined
    ? []
    : [...new Set(chosen.splits.map((s) => s.account_code))].flatMap((code) => {
      const x = rejectedBy.get(code)
      return x === undefined ? [] : [x]
    })
  const questions: Array<string> = []
  const ask = (q: string) => {
    if (!questions.includes(q)) questions.push(q)
  }
  for (const r of results) r.questions.forEach(ask)
  for (const x of stillRejected) {
    ask(
      `Account ${x.account_code} was rejected for “${input.vendor_key}” by a person (${x.rejections} time${
        x.rejections === 1 ? "" : "s"
      }${x.reason === null ? "" : `: “${clip(x.reason, 200)}”`}): is it right this time?`
    )
  }
  context.drift_questions?.forEach(ask)
  const amount = abs(input.transaction.amount_minor)
  const history = context.vendor_history
  if (history.length >= 3) {
    const m = median(history.map((h) => abs(h.amount_minor)))
    if (m > 0n && (amount * 3n < m || amount > m * 3n)) {
      const currency = input.transaction.currency
      const money = (minor: bigint) => `${Money.formatAmount(minor, currency)} ${currency}`
      ask(`Unusual amount for “${input.vendor_key}”: ${money(amount)} against a usual ${money(m)}`)
    }
  }
  const top = chosen?.candidates ?? []
  const closeCall = top.length >= 2 && top[1]!.score >= 0.3 && top[1]!.score >= 0.6 * top[0]!.score
  if (history.some((h) => h.splits > 1) || closeCall) {
    const accounts = top.slice(0, 2).map((c) => c.account_code).join(" and ")
    ask(
      history.some((h) => h.splits > 1)
        ? `Possible split: “${input.vendor_key}” was split across accounts before`
        : `Possible split: ${accounts} are both likely`
    )
  }
  const lines = results.filter((r) => r.outcome !== "skipped").map((r) => `${r.stage}: ${r.rationale}`)
  const rationale = chosen === undefined
    ? ["No stage could categorise this transaction", ...lines].join(". ")
    : [
      `${chosen.stage} → ${chosen.splits.map((s) => s.account_code).join(", ")}${
        demotedFrom.length === 0 ? "" : ` (its first answer ${demotedFrom.join(", ")} was rejected by a person)`
      }${
        stillRejected.length === 0
          ? ""
          : ` (rejected by a person before: ${stillRejected.map((x) => x.account_code).join(", ")})`
      }`,
      ...(weighed === null ? [] : [weighedLine(weighed)]),
      ...lines
    ].join(". ")
  return {
    splits: chosen?.splits ?? [],
    confidence: chosen?.confidence ?? 0,
    deciding_stage: chosen?.stage ?? null,
    rationale: rationale.slice(0, 4000),
    questions: questions.slice(0, 20),
    candidates: top,
    results,
    rejected: stillRejected
  }
}

/**
 * The calibrated probability `answer` is to be weighed against instead of `best`'s raw score: when
 * `answer` was produced against exactly that answer (same stage, same raw confidence). Else null.
 */
const judgedAgainst = (answer: StageResult, best: StageResult): JudgedAgainst | null => {
  const j = answer.judged_against
  return j !== undefined && j.stage === best.stage && j.raw_confidence === best.confidence &&
      Number.isFinite(j.calibrated_probability)
    ? j
    : null
}

const num = (n: number) => String(Math.round(n * 1000) / 1000)

const weighedLine = (w: { readonly won: boolean; readonly by: StageResult; readonly against: JudgedAgainst }) =>
  `Weighed on the calibrated scale: ${w.by.stage}'s ${num(w.by.confidence)} ${
    w.won ? "beat" : "did not beat"
  } ${w.against.stage}'s calibrated ${num(w.against.calibrated_probability)} (raw ${num(w.against.raw_confidence)})`

const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`)

/**
 * A `candidates` answer on a rejected account turned into the stage's best candidate that avoids
 * every rejected account (the whole amount on it, its score as the confidence), or null when it
 * has none with a score above 0, or that one cannot be booked.
 */
const avoiding = (
  r: StageResult,
  rejected: ReadonlyMap<string, RejectedAccount>,
  input: Omit<CategorizeInput, "previous">
): StageResult | null => {
  const next = r.candidates.find((c) => c.score > 0 && !rejected.has(c.account_code))
  if (next === undefined) return null
  const answer: StageResult = {
    ...r,
    splits: wholeAmount(input.transaction, next.account_code),
    confidence: Math.min(1, Math.max(0, next.score)),
    candidates: r.candidates.filter((c) => !rejected.has(c.account_code))
  }
  return usable(answer, input) ? answer : null
}

/** A stage result as JSON (amounts as strings), for storage. */
export const resultJson = (r: StageResult): Record<string, unknown> => ({
  ...r,
  splits: r.splits.map((s) => ({ account_code: s.account_code, amount_minor: s.amount_minor.toString() }))
})

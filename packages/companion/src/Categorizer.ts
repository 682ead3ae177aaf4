/**
 * The categorizer chain's contract: each stage is a plugin that looks at one bank transaction
 * (and what earlier stages said) and answers with a {@link StageResult}. The chain runs the
 * stages in order; a host can replace, reorder or extend them. The built-in stages are tenant
 * rules, vendor memory, the per-tenant classifier and the optional language model.
 *
 * A stage never fails: anything that goes wrong inside it (a store error, a timeout, a refused
 * model answer) becomes an `abstain` or `skipped` result whose `reason` says why, so the
 * deterministic result of earlier stages stands and the reason reaches provenance.
 */
import { type BankTransaction, type Chart, JournalEntry, Proposals } from "@airlock/ledger"
import { type Effect, Either } from "effect"

/** One candidate counter-account with the stage's score for it (0 … 1). */
export interface Candidate {
  readonly account_code: string
  readonly score: number
}

/** One split of a stage's answer: an account and its share of the bank amount (positive minor units). */
export interface ProposedSplit {
  readonly account_code: string
  readonly amount_minor: bigint
}

/**
 * What a stage says.
 * - `decided`: the stage is sure enough that later stages need not run (a tenant rule, a
 *   vendor with consistent labels); `splits` is set.
 * - `candidates`: a ranked guess; later stages may still run; `splits` is the top guess.
 * - `abstain`: the stage had nothing to say (no rule matched, unknown vendor, no history).
 * - `skipped`: the stage did not run, and `reason` says why (no model configured, budget
 *   exhausted, breaker open, an earlier stage decided).
 */
export type StageOutcome = "decided" | "candidates" | "abstain" | "skipped"

/** The answer of one stage; stored whole in the proposal's provenance. */
export interface StageResult {
  /** The stage's name (`rules`, `vendor_memory`, `classifier`, `llm`, or a host's). */
  readonly stage: string
  readonly outcome: StageOutcome
  /** The stage's proposed splits (empty for `abstain` and `skipped`). */
  readonly splits: ReadonlyArray<ProposedSplit>
  /** The stage's raw confidence in `splits` (0 … 1; 0 for `abstain` and `skipped`). */
  readonly confidence: number
  /** Ranked candidates with scores, best first (may be empty). */
  readonly candidates: ReadonlyArray<Candidate>
  /** One human sentence for the rationale (names the rule, the vendor, the model …). */
  readonly rationale: string
  /** A stable reason code for `abstain` / `skipped` (for example `llm.not_configured`). */
  readonly reason: string | null
  /** Questions a person should answer (new vendor, unusual amount, possible split). */
  readonly questions: ReadonlyArray<string>
  /**
   * Stage-specific provenance, JSON-safe: the rule id, memory item uids used, the
   * classifier version, the model name, prompt hash, tokens and cost …
   */
  readonly details: Readonly<Record<string, unknown>>
  /**
   * The answer stands for a person's decision that later evidence must not outvote (vendor
   * memory right after a person relabelled the vendor, while the classifier still knows the old
   * account): the chain takes the first `candidates` answer marked so over any more confident
   * one. A `decided` answer wins anyway; ignored on `abstain` and `skipped`.
   */
  readonly authoritative?: boolean | undefined
  /**
   * Accounts a person rejected for the transaction's vendor that no later label of theirs
   * confirmed (vendor memory). The chain demotes every `candidates` answer on one of them below
   * the answers that avoid them, and when it still ends on one (a `decided` or `authoritative`
   * answer, or nothing else), the proposal asks about the rejection and is not auto-posted. Read
   * on every outcome but `skipped`: a stage with nothing to propose may still report them.
   */
  readonly rejected?: ReadonlyArray<RejectedAccount> | undefined
  /**
   * The answer was produced against an earlier answer judged on the tenant's calibration: the
   * chain's answer so far (`stage`, raw `raw_confidence`) was only `calibrated_probability` likely
   * right (the language-model stage sets it when it was called on that judgement, `details.unsure`).
   * The chain then weighs this answer's confidence against that probability instead of that
   * answer's raw score — both on the scale of "how likely right". Ignored unless the answer it
   * names is still the chain's best when this one is weighed; never outweighs a `decided` or
   * `authoritative` answer.
   */
  readonly judged_against?: JudgedAgainst | undefined
}

/** The earlier answer a stage's answer was produced against ({@link StageResult.judged_against}). */
export interface JudgedAgainst {
  readonly stage: string
  readonly raw_confidence: number
  readonly calibrated_probability: number
}

/** An account a person rejected for a vendor, as a stage reports it ({@link StageResult.rejected}). */
export interface RejectedAccount {
  readonly account_code: string
  /** How many times a person rejected it for the vendor. */
  readonly rejections: number
  /** The newest rejection's reason, when it is known. */
  readonly reason: string | null
}

/** Everything a stage may look at. */
export interface CategorizeInput {
  readonly tenant_id: string
  readonly transaction: BankTransaction.BankTransaction
  /** The tenant's active accounts: the only codes any stage may propose. */
  readonly accounts: ReadonlyArray<Chart.Account>
  /** The vendor key normalised from the description (see `VendorKey`). */
  readonly vendor_key: string
  /**
   * The tenant's calibration: the probability that a stage's answer with this raw confidence is
   * right, null when that stage has no calibrator yet; absent when the tenant has no calibration.
   * A later stage uses it to judge how sure the earlier ones really are (the language model's
   * "unsure"): raw scores sit near 1 on wrong answers.
   */
  readonly calibrate?: ((stage: string, confidence: number) => number | null) | undefined
  /** Results of the stages that ran before this one, in order. */
  readonly previous: ReadonlyArray<StageResult>
}

/** One stage of the chain. `R` is what the stage needs from the context (a store, a model). */
export interface CategorizerStage<R = never> {
  readonly name: string
  readonly run: (input: CategorizeInput) => Effect.Effect<StageResult, never, R>
}

/** A stage result for a stage that did not run. */
export const skipped = (stage: string, reason: string, rationale: string): StageResult => ({
  stage,
  outcome: "skipped",
  splits: [],
  confidence: 0,
  candidates: [],
  rationale,
  reason,
  questions: [],
  details: {}
})

/** A stage result for a stage that had nothing to say. */
export const abstain = (
  stage: string,
  reason: string,
  rationale: string,
  details: Readonly<Record<string, unknown>> = {}
): StageResult => ({
  stage,
  outcome: "abstain",
  splits: [],
  confidence: 0,
  candidates: [],
  rationale,
  reason,
  questions: [],
  details
})

/** Splits for putting the whole bank amount on one account. */
export const wholeAmount = (
  transaction: BankTransaction.BankTransaction,
  account_code: string
): ReadonlyArray<ProposedSplit> => [{
  account_code,
  amount_minor: transaction.amount_minor < 0n ? -transaction.amount_minor : transaction.amount_minor
}]

/** Why apply would refuse an answer's splits: the ledger's stable validation code, message and details. */
export interface Refusal {
  readonly code: string
  readonly message: string
  readonly details: Readonly<Record<string, unknown>>
}

/**
 * The rule a proposal's splits are applied by, for one transaction: a function from splits to why
 * apply would refuse them, or null when it would accept them. It is the ledger's own check of a
 * ledger proposal at apply (`Proposals.draftFromProposal`, then `JournalEntry.checkDraft` with
 * `Proposals.splitRules` for the money's direction): positive amounts adding up to the bank
 * amount, not the bank account itself, accounts of the chart that are active and kept in the
 * transaction's currency, and no type the ledger refuses for the direction (no Income for money
 * out, no Expense for money in). The bank account's own line is not judged: it is the same for
 * every answer. The chain uses it on every stage's answer (`Chain.usable`), the language-model
 * stage to choose the accounts it offers (`LlmStage.targetAccounts`). Pure; build once per
 * transaction.
 */
export const applyRule = (
  input: Pick<CategorizeInput, "accounts" | "transaction">
): (splits: ReadonlyArray<ProposedSplit>) => Refusal | null => {
  const t = input.transaction
  const chart = new Map<string, Chart.Account>()
  for (const a of input.accounts) chart.set(a.code, a)
  // the bank line stands in as bookable: a split on the bank account is refused by draftFromProposal first
  chart.set(
    t.account_code,
    { code: t.account_code, active: true, currency: t.currency, type: "Asset" } as Chart.Account
  )
  const rules = Proposals.splitRules(t.amount_minor < 0n ? "outflow" : "inflow")
  return (splits) => {
    const payload: Proposals.ProposalPayload = {
      bank_transaction_id: t.id,
      splits,
      confidence: 0,
      calibrated_probability: null,
      rationale: "",
      questions: [],
      risk_reasons: [],
      tier: 0
    }
    const checked = Either.flatMap(
      Proposals.draftFromProposal(payload, t, "chain"),
      (draft) => JournalEntry.checkDraft(draft, chart, { rules })
    )
    if (Either.isRight(checked)) return null
    const e = checked.left
    return { code: e.code, message: e.message, details: (e.details ?? {}) as Record<string, unknown> }
  }
}

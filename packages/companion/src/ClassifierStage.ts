/**
 * The classifier stage: the tenant's own naive-Bayes model (`Classifier`), trained on what people
 * booked (applied and corrected proposals), retrained incrementally after each review and stored
 * as numbered versions (`CompanionModelStore`). It only ranks: its answer is a `candidates`
 * result whose raw score is calibrated before anything is gated on it.
 *
 * Candidates are limited to the accounts the proposal could use: active, not the bank account
 * itself, and of a type the direction allows (money out is never income, money in never an
 * expense — the ledger's validation rules), among the accounts the model has seen.
 */
import type { BankTransaction, Chart } from "@airlock/ledger"
import { Effect } from "effect"
import type { CategorizerStage, ProposedSplit } from "./Categorizer.js"
import { abstain, wholeAmount } from "./Categorizer.js"
import * as Classifier from "./Classifier.js"

/** The stage's name. */
export const NAME = "classifier"

/** How many candidates provenance keeps. */
export const TOP = 5

/** The accounts a transaction may be booked to, by the ledger's side rules. */
export const allowedCodes = (
  txn: Pick<BankTransaction.BankTransaction, "amount_minor" | "account_code">,
  accounts: ReadonlyArray<Chart.Account>
): ReadonlyArray<string> => {
  const forbidden = txn.amount_minor < 0n ? "Income" : "Expense"
  return accounts.filter((a) => a.active && a.code !== txn.account_code && a.type !== forbidden).map((a) => a.code)
}

/** The features of a transaction for the classifier. */
export const inputOf = (txn: BankTransaction.BankTransaction): Classifier.PredictInput => ({
  description: txn.description,
  payee: txn.payee,
  amount_minor: txn.amount_minor,
  direction: txn.amount_minor < 0n ? "outflow" : "inflow"
})

/** The training example of a booked transaction: its largest split's account (first on ties). */
export const exampleOf = (
  txn: BankTransaction.BankTransaction,
  splits: ReadonlyArray<ProposedSplit>,
  weight = 1
): Classifier.TrainingExample | null => {
  let best: ProposedSplit | undefined
  for (const s of splits) if (best === undefined || s.amount_minor > best.amount_minor) best = s
  return best === undefined ? null : { ...inputOf(txn), account_code: best.account_code, weight }
}

/** The classifier stage over the tenant's current model (null when it has none yet). */
export const make = (model: Classifier.ClassifierModel | null): CategorizerStage => ({
  name: NAME,
  run: (input) => {
    if (model === null || model.examples === 0) {
      return Effect.succeed(abstain(NAME, "classifier.untrained", "The tenant's classifier has no history yet"))
    }
    const known = new Set(model.classes.map((c) => c.account_code))
    const codes = allowedCodes(input.transaction, input.accounts).filter((c) => known.has(c))
    if (codes.length === 0) {
      return Effect.succeed(
        abstain(NAME, "classifier.no_allowed_class", "The classifier knows no account this transaction may use", {
          classifier_version: model.version
        })
      )
    }
    const ranked = Classifier.predict(model, inputOf(input.transaction), codes)
    const top = ranked[0]!
    return Effect.succeed({
      stage: NAME,
      outcome: "candidates",
      splits: wholeAmount(input.transaction, top.account_code),
      confidence: top.score,
      candidates: ranked.slice(0, TOP),
      rationale: `Classifier v${model.version} ranks ${top.account_code} first (score ${
        top.score.toFixed(3)
      }, ${model.examples} examples)`,
      reason: null,
      questions: [],
      details: {
        classifier_version: model.version,
        algorithm: model.algorithm,
        examples: model.examples,
        top: ranked.slice(0, TOP)
      }
    })
  }
})

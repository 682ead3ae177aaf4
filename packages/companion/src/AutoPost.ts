/**
 * The auto-post gate: in `autopilot_limited`, a proposal is applied by the system actor (through
 * the same governed pipeline as a person's apply, so its trace shows every gate) only when every
 * condition holds. Each condition that fails adds its stable reason code; a proposal not
 * auto-posted counts once under each of its codes in `not_auto_post_counts`.
 *
 * | code | the condition that failed |
 * |---|---|
 * | `autopost.mode` | the tenant's mode is not `autopilot_limited` |
 * | `autopost.disabled` | `autopost_enabled` is false (the default for new tenants) |
 * | `autopost.no_answer` | no stage could categorise the transaction (a no-answer proposal: a person chooses the account) |
 * | `autopost.vendor_cold_start` | the vendor has fewer than `coldstart_min_labels` consistent labels, or a rejection disputes them |
 * | `autopost.open_questions` | the proposal carries a question a person should answer (new vendor, unusual amount, possible split, drift, a disputed or contested label) |
 * | `autopost.uncalibrated` | no calibrated probability yet (too little reviewed history) |
 * | `autopost.below_threshold` | calibrated p is below the tenant's `autopost_threshold` |
 * | `autopost.not_certified` | no threshold is certified, or p is below the certified one |
 * | `autopost.unbalanced` | the entry would not balance (splits ≠ bank amount) |
 * | `autopost.llm_fallback` | the LLM budget fallback is active |
 * | `autopost.value_breaker` | the value breaker tripped (amount ≥ threshold) |
 * | `autopost.approval_required` | the kind's policy requires an approval that is not granted |
 * | `autopost.review_reasons` | a propose-time gate asked for review (e.g. a locked period) |
 * | `autopost.spot_check` | otherwise eligible, but in the spot-check slice sent to a person (drawn from a stable key: {@link spotCheckKey}) |
 * | `autopost.apply_failed` | eligible, but the pipeline refused the apply (its code is in provenance) |
 *
 * Without an answer the conditions about the answer (calibrated, threshold, certified, balanced)
 * are not tested: `autopost.no_answer` stands for them, as `autopost.uncalibrated` stands for the
 * threshold conditions when there is no calibrated probability.
 *
 * These are reason codes, not errors (nothing fails with them), so they live here and not in
 * core's error catalogue. Pure.
 */
import { Metric } from "effect"
import type * as Certification from "./Certification.js"

/**
 * Proposals the system actor auto-posted (applied through the pipeline), a `/metrics` counter;
 * incremented by the companion service once the item's transaction has committed.
 */
export const autoPostsTotal = Metric.counter("companion_auto_posts_total", {
  description: "Companion proposals auto-posted by the system actor in autopilot_limited",
  incremental: true
})

/** The reason codes, by condition. */
export const Reasons = {
  mode: "autopost.mode",
  disabled: "autopost.disabled",
  noAnswer: "autopost.no_answer",
  coldStart: "autopost.vendor_cold_start",
  openQuestions: "autopost.open_questions",
  uncalibrated: "autopost.uncalibrated",
  belowThreshold: "autopost.below_threshold",
  notCertified: "autopost.not_certified",
  unbalanced: "autopost.unbalanced",
  llmFallback: "autopost.llm_fallback",
  valueBreaker: "autopost.value_breaker",
  approval: "autopost.approval_required",
  review: "autopost.review_reasons",
  spotCheck: "autopost.spot_check",
  applyFailed: "autopost.apply_failed"
} as const

/** Every reason code, in the catalogue's order. */
export const ReasonCodes: ReadonlyArray<string> = Object.values(Reasons)

/** What the gate reads for one proposal. */
export interface AutoPostInput {
  readonly ai_mode: string
  readonly autopost_enabled: boolean
  readonly autopost_threshold: number
  readonly has_answer: boolean
  readonly cold_start: boolean
  /** The questions the proposal asks a person (the chain's); any one keeps it from auto-posting. */
  readonly open_questions: ReadonlyArray<string>
  readonly calibrated_probability: number | null
  readonly certificate: Certification.Certificate | null
  readonly balanced: boolean
  readonly llm_fallback_active: boolean
  readonly value_breaker_tripped: boolean
  readonly approval_required: boolean
  readonly review_reasons: ReadonlyArray<string>
  /** Is the proposal in the spot-check slice (drawn from {@link spotCheckKey}, sticky per transaction)? */
  readonly spot_check: boolean
}

/** One condition's line in the decision. */
export interface Check {
  readonly check: string
  readonly ok: boolean
  readonly code: string
}

/** The decision: eligible, or the reason codes (each failing condition's). */
export interface AutoPostDecision {
  readonly eligible: boolean
  readonly reasons: ReadonlyArray<string>
  readonly checks: ReadonlyArray<Check>
  readonly threshold: number | null
  readonly certified_threshold: number | null
}

/**
 * The key the spot-check draw of a proposal hashes: the tenant, the bank transaction and the
 * certificate in force. Re-proposing the same transaction under the same certificate draws the
 * same way, so an agent cannot re-draw a held item into an auto-post by proposing it again (the
 * companion also keeps a transaction held once any of its proposals was held). A new certificate
 * (after people reviewed more items) draws afresh.
 */
export const spotCheckKey = (tenant: string, bankTransactionId: string, certificateVersion: string | null): string =>
  `spot|${tenant}|${bankTransactionId}|${certificateVersion ?? "none"}`

/** Decides one proposal (see the module comment). Pure. */
export const decide = (input: AutoPostInput): AutoPostDecision => {
  const p = input.calibrated_probability
  const certified = input.certificate?.threshold ?? null
  const checks: Array<Check> = [
    { check: "mode", ok: input.ai_mode === "autopilot_limited", code: Reasons.mode },
    { check: "autopost_enabled", ok: input.autopost_enabled, code: Reasons.disabled },
    { check: "answer", ok: input.has_answer, code: Reasons.noAnswer },
    { check: "vendor_not_cold_start", ok: !input.cold_start, code: Reasons.coldStart },
    { check: "no_open_questions", ok: input.open_questions.length === 0, code: Reasons.openQuestions },
    { check: "calibrated", ok: p !== null, code: Reasons.uncalibrated },
    { check: "threshold", ok: p !== null && p >= input.autopost_threshold, code: Reasons.belowThreshold },
    { check: "certified", ok: p !== null && certified !== null && p >= certified, code: Reasons.notCertified },
    { check: "balanced", ok: input.balanced, code: Reasons.unbalanced },
    { check: "llm_budget", ok: !input.llm_fallback_active, code: Reasons.llmFallback },
    { check: "value_breaker", ok: !input.value_breaker_tripped, code: Reasons.valueBreaker },
    { check: "approval", ok: !input.approval_required, code: Reasons.approval },
    { check: "review_reasons", ok: input.review_reasons.length === 0, code: Reasons.review }
  ]
  // the calibrated-p conditions only count when there is a p: no p is `uncalibrated` alone; and the
  // answer's conditions only when there is an answer: no answer is `no_answer` alone
  const aboutP = (c: Check) => c.check === "threshold" || c.check === "certified"
  const aboutAnswer = (c: Check) => aboutP(c) || c.check === "calibrated" || c.check === "balanced"
  const failing = checks.filter((c) => !c.ok && !(p === null && aboutP(c)) && !(!input.has_answer && aboutAnswer(c)))
  const otherwise = failing.length === 0
  // the spot-check slice is drawn from the otherwise-eligible items only
  checks.push({ check: "spot_check", ok: !(otherwise && input.spot_check), code: Reasons.spotCheck })
  const reasons = otherwise && input.spot_check ? [Reasons.spotCheck] : failing.map((c) => c.code)
  return {
    eligible: reasons.length === 0,
    reasons,
    checks,
    threshold: input.autopost_threshold,
    certified_threshold: certified
  }
}

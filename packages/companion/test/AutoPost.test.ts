import { AutoPost, Certification, RulesStage } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"

const certificate = (threshold: number | null): Certification.Certificate => ({
  threshold,
  target_precision: 0.95,
  delta: 0.05,
  n_at_or_above: 80,
  errors_at_or_above: 0,
  error_upper_bound: 0.037,
  n_window: 120,
  window_start: 0,
  window_end: 1,
  method: Certification.METHOD,
  version: "test",
  reason: threshold === null ? "certification.bound_not_met" : null
})

/** Every condition holds. */
const eligible: AutoPost.AutoPostInput = {
  ai_mode: "autopilot_limited",
  autopost_enabled: true,
  autopost_threshold: 0.9,
  has_answer: true,
  cold_start: false,
  open_questions: [],
  calibrated_probability: 0.97,
  certificate: certificate(0.93),
  balanced: true,
  llm_fallback_active: false,
  value_breaker_tripped: false,
  approval_required: false,
  review_reasons: [],
  spot_check: false
}

describe("AutoPost", () => {
  it("auto-posts only when every condition holds", () => {
    expect(AutoPost.decide(eligible)).toMatchObject({ eligible: true, reasons: [] })
  })

  it("each condition failing alone blocks and is counted under its own code", () => {
    const matrix: ReadonlyArray<readonly [Partial<AutoPost.AutoPostInput>, string]> = [
      [{ ai_mode: "drafts" }, "autopost.mode"],
      [{ autopost_enabled: false }, "autopost.disabled"],
      [{ has_answer: false }, "autopost.no_answer"],
      [{ cold_start: true }, "autopost.vendor_cold_start"],
      [{ calibrated_probability: null }, "autopost.uncalibrated"],
      [{ calibrated_probability: 0.88, certificate: certificate(0.85) }, "autopost.below_threshold"],
      [{ certificate: certificate(null) }, "autopost.not_certified"],
      [{ certificate: certificate(0.98) }, "autopost.not_certified"],
      [{ certificate: null }, "autopost.not_certified"],
      [{ balanced: false }, "autopost.unbalanced"],
      [{ llm_fallback_active: true }, "autopost.llm_fallback"],
      [{ value_breaker_tripped: true }, "autopost.value_breaker"],
      [{ approval_required: true }, "autopost.approval_required"],
      [{ review_reasons: ["period.locked"] }, "autopost.review_reasons"],
      [{ spot_check: true }, "autopost.spot_check"]
    ]
    for (const [change, code] of matrix) {
      const d = AutoPost.decide({ ...eligible, ...change })
      expect([d.eligible, d.reasons]).toStrictEqual([false, [code]])
      expect(AutoPost.ReasonCodes).toContain(code)
    }
  })

  it("counts every failing condition; the spot check is drawn only from otherwise-eligible items", () => {
    const d = AutoPost.decide({ ...eligible, cold_start: true, value_breaker_tripped: true, spot_check: true })
    expect(d.reasons).toStrictEqual(["autopost.vendor_cold_start", "autopost.value_breaker"])
  })
})

describe("AutoPost: questions, no answer, spot-check key", () => {
  it("a question a person should answer blocks alone, under autopost.open_questions", () => {
    for (
      const q of [
        "Unusual amount for “blue bottle coffee”: 95000 against a usual 880 (minor units)",
        "Possible split: 6100 and 6200 are both likely",
        "Drift: “acme” was booked to 6100 90% of the time before the last 30 days, 20% since: has what you buy from it changed?"
      ]
    ) {
      const d = AutoPost.decide({ ...eligible, open_questions: [q] })
      expect([d.eligible, d.reasons]).toStrictEqual([false, ["autopost.open_questions"]])
      expect(d.checks.find((c) => c.check === "no_open_questions")).toStrictEqual({
        check: "no_open_questions",
        ok: false,
        code: "autopost.open_questions"
      })
    }
    expect(AutoPost.ReasonCodes).toContain("autopost.open_questions")
  })

  it("no answer stands for the answer's own conditions (calibrated, threshold, certified, balanced)", () => {
    const d = AutoPost.decide({ ...eligible, has_answer: false, calibrated_probability: null, balanced: false })
    expect([d.eligible, d.reasons]).toStrictEqual([false, ["autopost.no_answer"]])
    const cold = AutoPost.decide({
      ...eligible,
      has_answer: false,
      calibrated_probability: null,
      balanced: false,
      cold_start: true,
      open_questions: ["New vendor “x”: which account should it be booked to?"]
    })
    expect(cold.reasons).toStrictEqual(["autopost.no_answer", "autopost.vendor_cold_start", "autopost.open_questions"])
  })

  it("the spot-check key is the tenant, the transaction and the certificate: stable across proposals", () => {
    expect(AutoPost.spotCheckKey("t1", "btx_1", "cert-a")).toBe(AutoPost.spotCheckKey("t1", "btx_1", "cert-a"))
    const keys = new Set([
      AutoPost.spotCheckKey("t1", "btx_1", "cert-a"),
      AutoPost.spotCheckKey("t2", "btx_1", "cert-a"),
      AutoPost.spotCheckKey("t1", "btx_2", "cert-a"),
      AutoPost.spotCheckKey("t1", "btx_1", "cert-b"),
      AutoPost.spotCheckKey("t1", "btx_1", null)
    ])
    expect(keys.size).toBe(5)
    // about `rate` of transactions are drawn
    const drawn = Array.from(
      { length: 2000 },
      (_, i) => Certification.spotCheck(AutoPost.spotCheckKey("t1", `btx_${i}`, "cert-a"), 0.25)
    ).filter(Boolean).length
    expect(drawn).toBeGreaterThan(400)
    expect(drawn).toBeLessThan(600)
  })
})

describe("RulesStage", () => {
  it("refuses catastrophic patterns and accepts plain ones", () => {
    for (const bad of ["(a+)+$", "(a|aa)*b", "(\\w+\\s?)*$", "(x)\\1", "(?=a)b", "a".repeat(201), "(abc"]) {
      const r = RulesStage.checkRegex(bad)
      expect(Either.isLeft(r) && r.left.code).toBe("validation.rule_regex")
    }
    for (const ok of ["^SQ \\*BLUE BOTTLE", "AMZN MKTP US\\*[A-Z0-9]+", "(UBER|LYFT) TRIP", "SHELL OIL \\d{5,8}"]) {
      expect(Either.isRight(RulesStage.checkRegex(ok))).toBe(true)
    }
  })

  it("apportions a split template exactly, the remainder to the largest share", () => {
    const splits = RulesStage.splitsOf({
      account_code: null,
      splits: [{ account_code: "6200", share_bps: 3333 }, { account_code: "6300", share_bps: 6667 }]
    }, -10001n)
    expect(splits).toStrictEqual([{ account_code: "6200", amount_minor: 3333n }, {
      account_code: "6300",
      amount_minor: 6668n
    }])
  })

  it("matches description, amount range and direction", () => {
    const rule = {
      match: {
        description_contains: "gusto",
        description_regex: null,
        amount_min: "1000",
        amount_max: "20000.00",
        direction: "outflow" as const
      }
    }
    const txn = (description: string, amount_minor: bigint) => ({ description, amount_minor })
    expect(RulesStage.matches(rule, txn("GUSTO PAYROLL 240315 PPD", -1250000n), 2)).toBe(true)
    expect(RulesStage.matches(rule, txn("GUSTO PAYROLL 240315 PPD", 1250000n), 2)).toBe(false)
    expect(RulesStage.matches(rule, txn("GUSTO PAYROLL 240315 PPD", -99999n), 2)).toBe(false)
    expect(RulesStage.matches(rule, txn("ADP PAYROLL", -1250000n), 2)).toBe(false)
  })
})

import { CompanionPorts, RulePromotion } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"

const detail = (
  i: number,
  d: {
    outcome: CompanionPorts.ReviewOutcome
    by: string
    accounts?: ReadonlyArray<string>
    direction?: "inflow" | "outflow"
  }
) =>
  new CompanionPorts.ProposalDetail({
    tenant_id: "t",
    proposal_id: `p${i}`,
    bank_transaction_id: `b${i}`,
    vendor_key: "acme",
    amount_minor: "-1000",
    direction: d.direction ?? "outflow",
    splits: [],
    stages: [],
    deciding_stage: null,
    confidence: 0.5,
    calibrated_probability: null,
    calibration_version: null,
    classifier_version: null,
    autopost: null,
    not_auto_post_reasons: [],
    corrects_proposal_id: null,
    created_at: i,
    created_by: "agent",
    review_outcome: d.outcome,
    reviewed_by: d.by,
    reviewed_at: 1000 - i,
    review_reason: null,
    final_splits: (d.accounts ?? ["6200"]).map((a) => ({ account_code: a, amount_minor: "500" })),
    applied_proposal_id: null,
    entry_id: null,
    learning: null,
    version: 1
  })

const person = (id: string) => id === "bea" || id === "carl"

describe("RulePromotion (pure)", () => {
  it("the threshold is the larger of the deployment's minimum and coldstart_min_labels", () => {
    expect(RulePromotion.threshold({ minLabels: 5 }, 3)).toBe(5)
    expect(RulePromotion.threshold({ minLabels: 2 }, 4)).toBe(4)
  })

  it("only people's applies and corrections to one account are labels", () => {
    expect(RulePromotion.labelOf(detail(0, { outcome: "applied", by: "bea" }), person)?.account_code).toBe("6200")
    expect(RulePromotion.labelOf(detail(0, { outcome: "corrected", by: "carl" }), person)?.review_outcome).toBe(
      "corrected"
    )
    expect(RulePromotion.labelOf(detail(0, { outcome: "auto_posted", by: "sys_companion_autopost" }), person))
      .toBeNull()
    expect(RulePromotion.labelOf(detail(0, { outcome: "applied", by: "bot" }), person)).toBeNull()
    expect(RulePromotion.labelOf(detail(0, { outcome: "rejected", by: "bea" }), person)).toBeNull()
    expect(RulePromotion.labelOf(detail(0, { outcome: "applied", by: "bea", accounts: ["6200", "6300"] }), person))
      .toBeNull()
  })

  it("the latest N people's labels must agree on account and direction; others are skipped, never counted", () => {
    const three = [0, 1, 2].map((i) => detail(i, { outcome: "applied", by: "bea" }))
    expect(RulePromotion.verdict(three, person, 3)).toMatchObject({
      _tag: "candidate",
      account_code: "6200",
      direction: "outflow"
    })
    expect(RulePromotion.verdict(three, person, 4)).toStrictEqual({ _tag: "none", reason: "not_enough_labels" })
    // auto-posts and an agent's applies in between neither count nor break the agreement
    const mixed = [
      detail(0, { outcome: "applied", by: "bea" }),
      detail(1, { outcome: "auto_posted", by: "sys" }),
      detail(2, { outcome: "applied", by: "bot", accounts: ["6300"] }),
      detail(3, { outcome: "corrected", by: "carl" }),
      detail(4, { outcome: "auto_posted", by: "sys" })
    ]
    expect(RulePromotion.verdict(mixed, person, 2)._tag).toBe("candidate")
    expect(RulePromotion.verdict(mixed, person, 3)).toStrictEqual({ _tag: "none", reason: "not_enough_labels" })
    // the newest label moved to another account, or direction, or a split: no agreement
    for (
      const newest of [
        detail(-1, { outcome: "corrected", by: "bea", accounts: ["6300"] }),
        detail(-1, { outcome: "applied", by: "bea", direction: "inflow" }),
        detail(-1, { outcome: "corrected", by: "bea", accounts: ["6200", "6300"] })
      ]
    ) {
      expect(RulePromotion.verdict([newest, ...three], person, 3)).toStrictEqual({
        _tag: "none",
        reason: "labels_disagree"
      })
    }
  })
})

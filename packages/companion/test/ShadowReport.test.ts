import { CompanionPorts, RolloutConfig, ShadowReport } from "@airlock/companion"
import { describe, expect, it } from "vitest"

const detail = (
  id: string,
  p: number | null,
  outcome: CompanionPorts.ReviewOutcome | null,
  reasons: Array<string> = []
) =>
  new CompanionPorts.ProposalDetail({
    tenant_id: "t",
    proposal_id: id,
    bank_transaction_id: `bt_${id}`,
    vendor_key: "=cmd",
    amount_minor: "-500",
    direction: "outflow",
    splits: [{ account_code: "6200", amount_minor: "500" }],
    stages: [],
    deciding_stage: "rules",
    confidence: 0.9,
    calibrated_probability: p,
    calibration_version: null,
    classifier_version: null,
    autopost: null,
    not_auto_post_reasons: reasons,
    corrects_proposal_id: null,
    created_at: 0,
    created_by: "agent",
    review_outcome: outcome,
    reviewed_by: null,
    reviewed_at: null,
    review_reason: null,
    final_splits: outcome === null || outcome === "rejected" ? null : [{ account_code: "6200", amount_minor: "500" }],
    applied_proposal_id: null,
    entry_id: null,
    learning: null,
    version: 1
  })

const llm = { spend_usd: "0.00", months: ["2026-01"], fallback_active: false, fallback_reason: null }
const window = { start: Date.parse("2026-01-01T00:00:00Z"), end: Date.parse("2026-01-31T12:30:15Z") }

const build = (thresholds: RolloutConfig.RolloutThresholds) => {
  const acc = ShadowReport.empty()
  for (let i = 0; i < 9; i++) ShadowReport.add(acc, detail(`a${i}`, 0.95, "applied", ["autopost.mode"]), thresholds)
  ShadowReport.add(acc, detail("r", 0.92, "rejected", ["autopost.mode"]), thresholds)
  return ShadowReport.finish(acc, { tenant_id: "t", period: "30d", window, thresholds, llm })
}

describe("ShadowReport", () => {
  it("readiness criteria follow the configured thresholds, with observed and required values", () => {
    const strict = build(RolloutConfig.defaults)
    // 9 of 10 high-confidence items right (0.9 ≥ 0.9), every booked proposal balanced
    expect(strict.readiness.p2_to_p3.criteria).toStrictEqual([
      { name: "high_confidence_accuracy", observed: 0.9, comparator: ">=", required: 0.9, pass: true },
      { name: "reconciliation_rate", observed: 0.9, comparator: ">=", required: 0.95, pass: false }
    ])
    expect(strict.readiness.p2_to_p3.ready).toBe(false)
    const brier = (9 * 0.05 ** 2 + 0.92 ** 2) / 10
    expect(strict.brier).toBeCloseTo(brier, 12)
    expect(strict.readiness.p1_to_p2.criteria.find((c) => c.name === "brier")).toMatchObject({ pass: true })
    const relaxed = build({ ...RolloutConfig.defaults, p3MinReconciliationRate: 0.9, p2MaxBrier: 0.05 })
    expect(relaxed.readiness.p2_to_p3.ready).toBe(true)
    const b = relaxed.readiness.p1_to_p2.criteria.find((c) => c.name === "brier")!
    expect(b.observed).toBeCloseTo(brier, 12)
    expect(b).toMatchObject({ required: 0.05, pass: false })
  })

  it("no evidence never passes", () => {
    const r = ShadowReport.finish(ShadowReport.empty(), {
      tenant_id: "t",
      period: "7d",
      window,
      thresholds: RolloutConfig.defaults,
      llm
    })
    expect(r.population_n).toBe(0)
    expect([...r.readiness.p1_to_p2.criteria, ...r.readiness.p2_to_p3.criteria].every((c) => !c.pass)).toBe(true)
  })

  it("renders the runbook's four files, times in seconds, CSV cells safe for spreadsheets", () => {
    const r = build(RolloutConfig.defaults)
    expect(r.window_end_ts).toBe("2026-01-31T12:30:15Z")
    expect(ShadowReport.files(r).map((f) => f.name)).toStrictEqual([
      "shadow_report_t_30d.json",
      "shadow_report_t_30d.csv",
      "shadow_reason_counts_t_30d.csv",
      "shadow_charts_t_30d.txt"
    ])
    expect(ShadowReport.reasonCountsCsv(r)).toBe("reason,count\nautopost.mode,10\n")
    expect(ShadowReport.csv(["a"], [["=cmd"], ["-12"], ["x,y"]])).toBe('a\n\'=cmd\n-12\n"x,y"\n')
    expect(ShadowReport.textChart(r)).toContain("P2 -> P3: NOT READY")
    expect(JSON.parse(ShadowReport.files(r)[0]!.contents).population_n).toBe(10)
  })
})

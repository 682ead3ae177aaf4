import { describe, expect, it } from "vitest"
import * as Chain from "../src/Chain.js"
import * as Drift from "../src/Drift.js"

const DAY = 86_400_000
const NOW = 200 * DAY

const obs = (vendor: string, account: string, amount: bigint, daysAgo: number): Drift.Observation => ({
  vendor_key: vendor,
  account_code: account,
  amount_minor: amount,
  at: NOW - daysAgo * DAY
})

const feed = (xs: ReadonlyArray<Drift.Observation>) => {
  const acc = Drift.empty(NOW)
  for (const x of xs) Drift.add(acc, x)
  return acc
}

describe("Drift statistics", () => {
  it("normalQuantile gives the usual critical values", () => {
    expect(Drift.critical(0.05)).toBeCloseTo(1.95996, 4)
    expect(Drift.critical(0.01)).toBeCloseTo(2.57583, 4)
    expect(Drift.normalQuantile(0.001)).toBeCloseTo(-3.09023, 4)
  })

  it("twoProportionZ matches a hand computation", () => {
    // 18/20 vs 2/10: p = 20/30, se = sqrt(2/3 * 1/3 * (1/20 + 1/10))
    const z = Drift.twoProportionZ(18, 20, 2, 10)
    expect(z).toBeCloseTo((0.9 - 0.2) / Math.sqrt((2 / 9) * 0.15), 10)
    expect(Drift.twoProportionZ(5, 5, 5, 5)).toBe(0)
  })

  it("jensenShannon is 0 for equal mixes and 1 for disjoint ones", () => {
    const a = new Map([["6000", 10], ["6100", 30]])
    expect(Drift.jensenShannon(a, new Map([["6000", 1], ["6100", 3]]))).toBeCloseTo(0, 10)
    expect(Drift.jensenShannon(a, new Map([["7000", 5]]))).toBeCloseTo(1, 10)
  })

  it("median and mad", () => {
    expect(Drift.median([3, 1, 2, 10])).toBe(2.5)
    expect(Drift.mad([1, 2, 3, 4, 100])).toBe(1)
  })
})

describe("Drift findings", () => {
  const steady = Array.from({ length: 30 }, (_, i) => obs("acme", "6000", 10_000n + BigInt(i * 10), 40 + i * 3))

  it("flags a vendor whose recent labels move away from its top account", () => {
    const recent = Array.from({ length: 8 }, (_, i) => obs("acme", "6500", 10_100n, 1 + i))
    const acc = feed([...steady, ...recent])
    const f = Drift.vendorFindings(acc, "acme")
    expect(f.map((x) => x.kind)).toEqual(["vendor.labels"])
    expect(f[0]!.detail).toMatchObject({
      account_code: "6000",
      older_share: 1,
      recent_share: 0,
      recent_top_account: "6500"
    })
    expect(f[0]!.statistic).toBeGreaterThanOrEqual(f[0]!.threshold)
    expect(Drift.question(f[0]!)).toContain("acme")
  })

  it("does not flag a vendor that stays on its account, nor one with too few recent labels", () => {
    const same = Array.from({ length: 8 }, (_, i) => obs("acme", "6000", 10_100n, 1 + i))
    expect(Drift.vendorFindings(feed([...steady, ...same]), "acme")).toEqual([])
    const few = Array.from({ length: 4 }, (_, i) => obs("acme", "6500", 10_100n, 1 + i))
    expect(Drift.vendorFindings(feed([...steady, ...few]), "acme")).toEqual([])
  })

  it("one odd label among many does not reach α = 0.01", () => {
    const mixed = [
      ...Array.from({ length: 7 }, (_, i) => obs("acme", "6000", 10_100n, 1 + i)),
      obs("acme", "6500", 10_100n, 9)
    ]
    expect(Drift.vendorFindings(feed([...steady, ...mixed]), "acme")).toEqual([])
  })

  it("flags a vendor whose recent amounts depart (robust z on log amounts)", () => {
    const recent = Array.from({ length: 5 }, (_, i) => obs("acme", "6000", 30_000n + BigInt(i), 1 + i))
    const f = Drift.vendorFindings(feed([...steady, ...recent]), "acme")
    expect(f.map((x) => x.kind)).toEqual(["vendor.amounts"])
    expect(f[0]!.statistic).toBeGreaterThan(3.5)
    expect(f[0]!.detail).toMatchObject({ recent_median_minor: 30_002, older_n: 30, recent_n: 5 })
    // the same amounts up 10% stay under the threshold
    const mild = Array.from({ length: 5 }, (_, i) => obs("acme", "6000", 11_000n + BigInt(i), 1 + i))
    expect(Drift.vendorFindings(feed([...steady, ...mild]), "acme")).toEqual([])
  })

  it("a constant-amount vendor uses the MAD floor: a doubling is flagged, a cent is not", () => {
    const flat = Array.from({ length: 20 }, (_, i) => obs("sub", "6200", 999n, 40 + i))
    const doubled = Array.from({ length: 5 }, (_, i) => obs("sub", "6200", 1998n, 1 + i))
    expect(Drift.vendorFindings(feed([...flat, ...doubled]), "sub").map((x) => x.kind)).toEqual(["vendor.amounts"])
    const cent = Array.from({ length: 5 }, (_, i) => obs("sub", "6200", 1000n, 1 + i))
    expect(Drift.vendorFindings(feed([...flat, ...cent]), "sub")).toEqual([])
  })

  it("flags a tenant whose category mix shifts (Jensen–Shannon distance)", () => {
    const older = Array.from({ length: 60 }, (_, i) => obs(`v${i}`, i % 2 === 0 ? "6000" : "6100", 100n, 40 + i))
    const same = Array.from({ length: 40 }, (_, i) => obs(`w${i}`, i % 2 === 0 ? "6000" : "6100", 100n, 1 + (i % 29)))
    expect(Drift.findings(feed([...older, ...same]), "t1")).toEqual([])
    const shifted = Array.from(
      { length: 40 },
      (_, i) => obs(`w${i}`, i % 4 === 0 ? "6000" : "7000", 100n, 1 + (i % 29))
    )
    const f = Drift.findings(feed([...older, ...shifted]), "t1")
    expect(f.map((x) => [x.kind, x.subject])).toEqual([["tenant.category_mix", "t1"]])
    expect(f[0]!.statistic).toBeGreaterThanOrEqual(0.25)
  })

  it("observe takes booked, non-correction details and their largest split", () => {
    const base = {
      vendor_key: "acme",
      amount_minor: "-1500",
      created_at: NOW,
      corrects_proposal_id: null,
      review_outcome: "corrected",
      final_splits: [{ account_code: "6000", amount_minor: "500" }, { account_code: "6100", amount_minor: "1000" }]
    }
    expect(Drift.observe(base)).toEqual({ vendor_key: "acme", account_code: "6100", amount_minor: 1500n, at: NOW })
    expect(Drift.observe({ ...base, review_outcome: null })).toBeNull()
    expect(Drift.observe({ ...base, review_outcome: "rejected" })).toBeNull()
    expect(Drift.observe({ ...base, corrects_proposal_id: "p1" })).toBeNull()
  })

  it("the chain asks the drift questions it is given", () => {
    const result = Chain.combine([], {
      tenant_id: "t1",
      transaction: { amount_minor: -100n } as never,
      accounts: [],
      vendor_key: "acme"
    } as never, { vendor_history: [], drift_questions: ["Drift: q"] })
    expect(result.questions).toEqual(["Drift: q"])
  })
})

import { CalibrationMetrics as M } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"

describe("CalibrationMetrics", () => {
  it("Brier: mean squared gap between probability and outcome", () => {
    expect(M.brier([])).toBe(0)
    expect(M.brier([{ p: 1, correct: true }, { p: 0, correct: false }])).toBe(0)
    expect(M.brier([{ p: 0.8, correct: true }, { p: 0.6, correct: false }])).toBeCloseTo((0.04 + 0.36) / 2, 12)
  })

  it("ECE with 10 uniform bins: count-weighted |mean predicted − observed rate|; 1.0 falls in the last bin", () => {
    const items = [
      { p: 0.95, correct: true },
      { p: 0.95, correct: true },
      { p: 0.95, correct: false },
      { p: 1, correct: true },
      { p: 0.15, correct: false },
      { p: 0.1, correct: true }
    ]
    const r = M.ece(items)
    expect(r.bins).toHaveLength(10)
    expect(r.bins[9]).toMatchObject({ lower: 0.9, upper: 1, count: 4, observed_rate: 0.75 })
    expect(r.bins[9]!.mean_predicted).toBeCloseTo(0.9625, 12)
    expect(r.bins[1]).toMatchObject({ lower: 0.1, upper: 0.2, count: 2, observed_rate: 0.5 })
    expect(r.bins[1]!.mean_predicted).toBeCloseTo(0.125, 12)
    expect(r.bins[5]).toStrictEqual({ lower: 0.5, upper: 0.6, count: 0, mean_predicted: null, observed_rate: null })
    expect(r.ece).toBeCloseTo((4 / 6) * 0.2125 + (2 / 6) * 0.375, 12)
    expect(M.ece([])).toMatchObject({ ece: 0 })
  })

  it("quantile bins hold about equal counts and never split equal predictions", () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ p: Math.floor(i / 4) / 25, correct: i % 3 !== 0 }))
    const r = M.ece(items, { bins: 5, strategy: "quantile" })
    expect(r.bins.reduce((s, b) => s + b.count, 0)).toBe(100)
    for (const b of r.bins) expect(b.count % 4).toBe(0)
    expect(r.bins.length).toBe(5)
  })

  it("property: perfectly calibrated bins give ECE 0; ECE always in [0, 1]", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ p: fc.double({ min: 0, max: 1, noNaN: true }), correct: fc.boolean() })),
        (xs) => {
          const e = M.ece(xs).ece
          expect(e).toBeGreaterThanOrEqual(0)
          expect(e).toBeLessThanOrEqual(1 + 1e-12)
        }
      )
    )
    const exact = [0.25, 0.25, 0.25, 0.25].map((p, i) => ({ p, correct: i === 0 }))
    expect(M.ece(exact).ece).toBeCloseTo(0, 12)
  })
})

import { Calibration } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"

const DAY = 86_400_000
const T0 = Date.UTC(2025, 0, 1)

/** A small deterministic generator (a test fixture, not domain code). */
const lcg = (seed: number) => {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 4_294_967_296
  }
}

/** n items whose raw score is `score(u)` and which are right with probability `truth(score)`. */
const history = (
  n: number,
  score: (u: number) => number,
  truth: (s: number) => number,
  seed = 1,
  start = T0
): Array<Calibration.HistoryItem> => {
  const r = lcg(seed)
  return Array.from({ length: n }, (_, i) => {
    const s = score(r())
    return { score: s, correct: r() < truth(s), at: start + i * 3_600_000 }
  })
}

describe("Calibration: fit", () => {
  it("returns null below the minimum history (default 30), a calibrator at 30", () => {
    const h = history(30, (u) => 0.5 + u / 2, (s) => s)
    expect(Calibration.DEFAULT_MIN_HISTORY).toBe(30)
    expect(Calibration.fit(h.slice(0, 29))).toBeNull()
    expect(Calibration.fit(h)).toMatchObject({ method: "platt", n: 30 })
    expect(Calibration.fit(h, { min_history: 31 })).toBeNull()
  })

  it("temperature-scales overconfident raw scores: raw ≈ 1 but 80 % right calibrates to ≈ 0.8", () => {
    const h = history(400, (u) => 1 - Math.pow(10, -3 - 3 * u), () => 0.8)
    const c = Calibration.fit(h)!
    expect(c.a).toBeLessThan(0.5)
    expect(Calibration.calibrate(c, 0.9999)).toBeGreaterThan(0.72)
    expect(Calibration.calibrate(c, 0.9999)).toBeLessThan(0.88)
  })

  it("leaves well-calibrated scores nearly alone (a ≈ 1, b ≈ 0)", () => {
    const c = Calibration.fit(history(4_000, (u) => 0.05 + 0.9 * u, (s) => s), { method: "platt" })!
    expect(c.a).toBeGreaterThan(0.85)
    expect(c.a).toBeLessThan(1.15)
    expect(Math.abs(c.b)).toBeLessThan(0.1)
    expect(Calibration.calibrate(c, 0.7)).toBeCloseTo(0.7, 1)
  })

  it("an all-correct short history still fits a finite, monotone map", () => {
    const h = history(40, (u) => 0.6 + 0.39 * u, () => 1)
    const c = Calibration.fit(h)!
    expect(Number.isFinite(c.a) && Number.isFinite(c.b)).toBe(true)
    expect(c.errors).toBe(0)
    expect(Calibration.calibrate(c, 0.99)).toBeGreaterThan(Calibration.calibrate(c, 0.6))
    expect(Calibration.calibrate(c, 0.99)).toBeLessThan(1)
  })

  it("recency: with a half-life, recent errors count more than old successes", () => {
    const old = history(300, (u) => 0.9 + 0.09 * u, () => 1, 2, T0)
    const recent = history(100, (u) => 0.9 + 0.09 * u, () => 0.6, 3, T0 + 300 * DAY)
    const all = [...old, ...recent]
    const flat = Calibration.fit(all)!
    const recentWeighted = Calibration.fit(all, { half_life_days: 30 })!
    expect(recentWeighted.half_life_days).toBe(30)
    expect(Calibration.calibrate(recentWeighted, 0.95)).toBeLessThan(Calibration.calibrate(flat, 0.95) - 0.05)
    expect(recentWeighted.version).not.toBe(flat.version)
  })

  it("isotonic only with enough history; auto chooses by cross-fitted log loss; oos figures reported", () => {
    const small = history(200, (u) => u, (s) => s * s)
    expect(Calibration.fit(small, { method: "isotonic" })!.method).toBe("platt")
    const big = history(3_000, (u) => u, (s) => (s < 0.5 ? 0.1 : 0.9))
    const iso = Calibration.fit(big, { method: "isotonic" })!
    expect(iso.method).toBe("isotonic")
    expect(Calibration.calibrate(iso, 0.3)).toBeLessThan(0.2)
    expect(Calibration.calibrate(iso, 0.7)).toBeGreaterThan(0.8)
    const auto = Calibration.fit(big)!
    expect(auto.method).toBe("isotonic")
    expect(auto.oos_log_loss).not.toBeNull()
    expect(auto.oos_log_loss!).toBeLessThan(Calibration.fit(big, { method: "platt" })!.oos_log_loss!)
  })

  it("deterministic: same history in any order gives the same calibrator and version; n changes the version", () => {
    const h = history(120, (u) => 0.5 + u / 2, (s) => s, 7)
    const a = Calibration.fit(h)!
    const b = Calibration.fit([...h].reverse())!
    expect(b).toStrictEqual(a)
    expect(a.version).toMatch(/^platt-n120-[0-9a-f]{8}$/)
    expect(Calibration.fit(h.slice(1))!.version).not.toBe(a.version)
  })

  it("round-trips through its storage schema", () => {
    const c = Calibration.fit(history(3_000, (u) => u, (s) => s), { method: "isotonic" })!
    const stored = JSON.parse(JSON.stringify(Calibration.encode(c)))
    expect(Calibration.decode(stored)).toStrictEqual(c)
    expect(() => Calibration.decode({ ...stored, method: "magic" })).toThrow()
  })

  it("property: every calibration map is monotone non-decreasing in the raw score and inside [0, 1]", () => {
    const item = fc.record({
      score: fc.double({ min: 0, max: 1, noNaN: true }),
      correct: fc.boolean(),
      at: fc.integer({ min: T0, max: T0 + 365 * DAY })
    })
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 30, maxLength: 150 }),
        fc.constantFrom("platt", "temperature", "isotonic") as fc.Arbitrary<Calibration.Method>,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 20 }),
        (h, method, scores) => {
          const c = Calibration.fit(h, { method, isotonic_min_history: 30, half_life_days: 60 })!
          const sorted = [...scores].sort((a, b) => a - b)
          const ps = sorted.map((s) => Calibration.calibrate(c, s))
          for (let i = 1; i < ps.length; i++) expect(ps[i]!).toBeGreaterThanOrEqual(ps[i - 1]! - 1e-12)
          for (const p of ps) expect(p >= 0 && p <= 1).toBe(true)
        }
      ),
      { numRuns: 200 }
    )
  })
})

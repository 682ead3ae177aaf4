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

describe("Calibration: Venn–Abers", () => {
  // scores 0.2 (wrong), 0.4 (right), 0.6 (wrong), 0.8 (right); worked by hand in docs/companion-learning.md
  const tiny: Array<Calibration.HistoryItem> = [0.2, 0.4, 0.6, 0.8].map((score, i) => ({
    score,
    correct: i % 2 === 1,
    at: T0 + i * DAY
  }))

  it("matches the hand-computed example: the [p0, p1] interval and its merge p1 / (1 − p0 + p1)", () => {
    const c = Calibration.fit(tiny, { method: "venn_abers", min_history: 4 })!
    expect(c.method).toBe("venn_abers")
    expect(c.version).toMatch(/^venn_abers-n4-[0-9a-f]{8}$/)
    const at = (
      s: number
    ) => [Calibration.interval(c, s)!.p0, Calibration.interval(c, s)!.p1, Calibration.calibrate(c, s)]
    // between 0.4 and 0.6: with (0.5, 0) PAV pools 0.4, 0.5, 0.6 → 1/3; with (0.5, 1) it pools 0.4–0.6 → 2/3
    at(0.5).forEach((x, i) => expect(x).toBeCloseTo([1 / 3, 2 / 3, 1 / 2][i]!, 12))
    // on a calibration score the new item joins its group: the same as the gap next to it here
    at(0.4).forEach((x, i) => expect(x).toBeCloseTo([1 / 3, 2 / 3, 1 / 2][i]!, 12))
    // above every score: p0 pools 0.4 … 0.9 → 1/2, p1 = 1; merged 1 / 1.5
    at(0.9).forEach((x, i) => expect(x).toBeCloseTo([1 / 2, 1, 2 / 3][i]!, 12))
    // below every score: p0 = 0, p1 pools 0.1 … 0.6 → 1/2; merged 0.5 / 1.5
    at(0.1).forEach((x, i) => expect(x).toBeCloseTo([0, 1 / 2, 1 / 3][i]!, 12))
    // the other methods have no interval
    expect(Calibration.interval(Calibration.fit(tiny, { method: "platt", min_history: 4 })!, 0.5)).toBeNull()
  })

  it("an all-correct history gives (n + 1) / (n + 2) above every score, like Laplace's rule", () => {
    const clean = Array.from({ length: 40 }, (_, i) => ({ score: 0.5 + i / 100, correct: true, at: T0 + i }))
    const c = Calibration.fit(clean, { method: "venn_abers" })!
    expect(Calibration.calibrate(c, 0.99)).toBeCloseTo(41 / 42, 12)
    expect(Calibration.interval(c, 0.99)).toStrictEqual({ p0: 40 / 41, p1: 1 })
  })

  it("auto: Platt below 500 items; from 500, Venn–Abers when it fits better out of sample; round-trips; deterministic", () => {
    const h = history(800, (u) => u, (s) => (s < 0.5 ? 0.05 : 0.95), 11)
    expect(Calibration.DEFAULT_VENN_ABERS_MIN_HISTORY).toBe(500)
    expect(Calibration.fit(h.slice(0, 499))!.method).toBe("platt")
    const c = Calibration.fit(h.slice(0, 500))!
    expect(c.method).toBe("venn_abers")
    expect(c.oos_log_loss!).toBeLessThan(Calibration.fit(h.slice(0, 500), { method: "platt" })!.oos_log_loss!)
    expect(Calibration.fit(h)!.method).toBe("venn_abers")
    // a well-calibrated sigmoid truth stays with Platt
    expect(Calibration.fit(history(600, (u) => 0.05 + 0.9 * u, (s) => s, 5))!.method).toBe("platt")
    expect(Calibration.fit([...h].reverse())).toStrictEqual(Calibration.fit(h))
    const stored = JSON.parse(JSON.stringify(Calibration.encode(c)))
    expect(Calibration.decode(stored)).toStrictEqual(c)
    // a step truth is followed where Platt's sigmoid on logit(s) cannot bend that sharply
    expect(Calibration.calibrate(Calibration.fit(h)!, 0.3)).toBeLessThan(0.12)
    expect(Calibration.calibrate(Calibration.fit(h)!, 0.7)).toBeGreaterThan(0.88)
  })

  it("property: monotone non-decreasing, inside [0, 1], and merged p inside its interval", () => {
    const item = fc.record({
      score: fc.double({ min: 0, max: 1, noNaN: true }),
      correct: fc.boolean(),
      at: fc.integer({ min: T0, max: T0 + 365 * DAY })
    })
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 30, maxLength: 120 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 20 }),
        (h, scores) => {
          const c = Calibration.fit(h, { method: "venn_abers", half_life_days: 60 })!
          const sorted = [...scores].sort((a, b) => a - b)
          const ps = sorted.map((s) => Calibration.calibrate(c, s))
          for (let i = 1; i < ps.length; i++) expect(ps[i]!).toBeGreaterThanOrEqual(ps[i - 1]! - 1e-12)
          for (const [i, s] of sorted.entries()) {
            const { p0, p1 } = Calibration.interval(c, s)!
            expect(p0 <= ps[i]! + 1e-12 && ps[i]! <= p1 + 1e-12 && ps[i]! >= 0 && ps[i]! <= 1).toBe(true)
          }
        }
      ),
      { numRuns: 150 }
    )
  })
})

describe("Calibration: per stage (the development seed's Platt collapse)", () => {
  // the seed's shape: vendor memory right at n / (n + 1); the classifier's raw score ≈ 1 and wrong
  // on most new vendors; rules always 1 and right
  const seedLike = (): Array<Calibration.StageHistoryItem> => {
    const out: Array<Calibration.StageHistoryItem> = []
    for (let i = 0; i < 80; i++) {
      const n = 3 + (i % 17)
      out.push({ stage: "vendor_memory", score: n / (n + 1), correct: true, at: T0 + i * DAY })
    }
    for (let i = 0; i < 40; i++) {
      out.push({ stage: "classifier", score: 1 - 1e-4 * (i % 7), correct: i % 5 < 2, at: T0 + i * DAY })
    }
    for (let i = 0; i < 30; i++) out.push({ stage: "rules", score: 1, correct: true, at: T0 + i * DAY })
    return out
  }

  it("one pooled map collapses to a constant; per-stage maps give wrong items a lower p than right ones", () => {
    const h = seedLike()
    // pooled: the wrong items have the highest raw scores, the slope is clamped to 0, every p is equal
    const pooled = Calibration.fit(h, { half_life_days: 90 })!
    expect(pooled.a).toBe(0)
    const pooledPs = new Set(h.map((x) => Calibration.calibrate(pooled, x.score).toFixed(9)))
    expect(pooledPs.size).toBe(1)
    // per stage
    const staged = Calibration.fitStages(h, { half_life_days: 90 })!
    expect(Object.keys(staged.stages)).toStrictEqual(["classifier", "rules", "vendor_memory"])
    expect(staged.version).toMatch(/^per_stage-n150-[0-9a-f]{8}$/)
    const p = (x: Calibration.StageHistoryItem) => Calibration.calibrateStage(staged, x.stage, x.score)!
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((s, v) => s + v, 0) / xs.length
    const right = h.filter((x) => x.correct).map(p)
    const wrong = h.filter((x) => !x.correct).map(p)
    expect(mean(wrong)).toBeLessThan(mean(right) - 0.3)
    // every classifier answer (right or wrong: the raw score cannot tell them apart) below every other stage's
    expect(Math.max(...h.filter((x) => x.stage === "classifier").map(p))).toBeLessThan(
      Math.min(...h.filter((x) => x.stage !== "classifier").map(p))
    )
    // the stages' maps are calibrated to their own outcomes
    expect(p({ stage: "classifier", score: 0.9999, correct: false, at: T0 })).toBeLessThan(0.75)
    expect(p({ stage: "vendor_memory", score: 0.95, correct: true, at: T0 })).toBeGreaterThan(0.95)
    // a stage without a calibrator (or no stage) gives null; a stage below the minimum is left out
    expect(Calibration.calibrateStage(staged, "llm", 0.9)).toBeNull()
    expect(Calibration.calibrateStage(staged, null, 0.9)).toBeNull()
    expect(Object.keys(Calibration.fitStages(h.slice(0, 100))!.stages)).toStrictEqual(["vendor_memory"])
    expect(Calibration.fitStages(h.slice(0, 20))).toBeNull()
    // storage round trip; a single (older) calibrator does not decode as per-stage ones
    expect(Calibration.decodeStages(JSON.parse(JSON.stringify(Calibration.encodeStages(staged))))).toStrictEqual(staged)
    expect(() => Calibration.decodeStages(Calibration.encode(pooled))).toThrow()
  })
})

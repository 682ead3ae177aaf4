import { Certification as C } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"

const DAY = 86_400_000
const NOW = Date.UTC(2025, 5, 30)

/** n reviewed items at probability p, the first `errors` of them wrong, spread over the last days. */
const items = (n: number, p: number, errors = 0, ageDays = 10): Array<C.CertifyItem> =>
  Array.from({ length: n }, (_, i) => ({ p, correct: i >= errors, at: NOW - ageDays * DAY + i }))

describe("Certification: the regularised incomplete beta and the binomial bound", () => {
  it("matches reference values (scipy.stats.beta)", () => {
    expect(C.regularizedBeta(0.3, 2.5, 4)).toBeCloseTo(0.3521975859067672, 12)
    expect(C.binomialUpperBound(5, 100, 0.05)).toBeCloseTo(0.1022533776432745, 10)
    expect(C.binomialUpperBound(2, 50, 0.05)).toBeCloseTo(0.12061415542204412, 10)
    expect(C.binomialUpperBound(10, 200, 0.01)).toBeCloseTo(0.09818191660329778, 10)
  })

  it("the binomial CDF equals the direct sum of binomial terms", () => {
    const direct = (k: number, n: number, p: number) => {
      let s = 0
      let term = Math.pow(1 - p, n)
      for (let i = 0; i <= k; i++) {
        s += term
        term *= ((n - i) / (i + 1)) * (p / (1 - p))
      }
      return s
    }
    for (const [k, n, p] of [[0, 10, 0.1], [3, 20, 0.25], [7, 30, 0.2], [15, 40, 0.5], [1, 93, 0.05]] as const) {
      expect(C.binomialCdf(k, n, p)).toBeCloseTo(direct(k, n, p), 12)
    }
  })

  it("the issue's measured cold-start numbers: 0.95 after 59 clean (93 with one error, 124 with two), 0.99 after 299 (473)", () => {
    expect(C.binomialUpperBound(0, 59, 0.05)).toBeCloseTo(0.0495, 4)
    expect(C.binomialUpperBound(0, 59, 0.05)).toBeLessThanOrEqual(0.05)
    expect(C.binomialUpperBound(0, 58, 0.05)).toBeGreaterThan(0.05)
    expect(C.binomialUpperBound(1, 93, 0.05)).toBeLessThanOrEqual(0.05)
    expect(C.binomialUpperBound(1, 92, 0.05)).toBeGreaterThan(0.05)
    expect(C.binomialUpperBound(2, 124, 0.05)).toBeLessThanOrEqual(0.05)
    expect(C.binomialUpperBound(2, 123, 0.05)).toBeGreaterThan(0.05)
    expect([0, 1, 2].map((e) => C.minCleanItems(0.95, 0.05, e))).toStrictEqual([59, 93, 124])
    expect([0, 1].map((e) => C.minCleanItems(0.99, 0.05, e))).toStrictEqual([299, 473])
  })

  it("edge cases: no items or all wrong bound at 1; bad arguments are refused", () => {
    expect(C.binomialUpperBound(0, 0, 0.05)).toBe(1)
    expect(C.binomialUpperBound(5, 5, 0.05)).toBe(1)
    expect(() => C.binomialUpperBound(1, 10, 0)).toThrow(RangeError)
    expect(() => C.binomialUpperBound(-1, 10, 0.05)).toThrow(RangeError)
    expect(() => C.binomialUpperBound(1.5, 10, 0.05)).toThrow(RangeError)
  })

  it("property: the bound rises with errors, falls with n, rises as δ shrinks, and covers the observed rate", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.double({ min: 0.001, max: 0.5, noNaN: true }),
        (n, e, delta) => {
          const k = e % n
          const b = C.binomialUpperBound(k, n, delta)
          expect(b).toBeGreaterThanOrEqual(k / n)
          expect(b).toBeLessThanOrEqual(1)
          if (k + 1 <= n) expect(C.binomialUpperBound(k + 1, n, delta)).toBeGreaterThanOrEqual(b - 1e-12)
          expect(C.binomialUpperBound(k, n + 1, delta)).toBeLessThanOrEqual(b + 1e-12)
          expect(C.binomialUpperBound(k, n, delta / 2)).toBeGreaterThanOrEqual(b - 1e-12)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("Certification: certify", () => {
  it("start_errors 0: 59 clean reviewed items at or above a threshold certify 0.95; 58 do not", () => {
    const ok = C.certify(items(59, 0.97), { now: NOW, start_errors: 0, candidate_thresholds: [0.99, 0.97, 0.9] })
    expect(ok).toMatchObject({
      threshold: 0.9,
      n_at_or_above: 59,
      errors_at_or_above: 0,
      reason: null,
      method: C.METHOD,
      target_precision: 0.95,
      delta: 0.05
    })
    expect(ok.error_upper_bound).toBeLessThanOrEqual(0.05)
    const short = C.certify(items(58, 0.97), { now: NOW, start_errors: 0 })
    expect(short).toMatchObject({ threshold: null, reason: "certification.insufficient_history", n_window: 58 })
  })

  it("default start_errors 1: testing starts at 93 items, so one early error does not end the sequence", () => {
    expect(C.DEFAULT_START_ERRORS).toBe(1)
    // 59 clean items are enough for the bound but below the default start
    expect(C.certify(items(59, 0.97), { now: NOW }).reason).toBe("certification.insufficient_history")
    // 60 items at 0.99 with one error, then 40 clean at 0.95: start 0 tests 0.99 first (60 items, 1 error) and stops
    const history = [...items(60, 0.99, 1), ...items(40, 0.95)]
    expect(C.certify(history, { now: NOW, start_errors: 0 })).toMatchObject({
      threshold: null,
      reason: "certification.bound_not_met"
    })
    // start 1 skips to the first threshold with ≥ 93 items (0.95: 100 items, 1 error) and certifies it
    expect(C.certify(history, { now: NOW })).toMatchObject({
      threshold: 0.5,
      n_at_or_above: 100,
      errors_at_or_above: 1
    })
  })

  it("one error needs 93 items; 92 fail the bound and nothing certifies", () => {
    expect(C.certify(items(93, 0.99, 1), { now: NOW }).threshold).toBe(0.5)
    const failed = C.certify(items(92, 0.99, 1), { now: NOW, start_errors: 0 })
    expect(failed).toMatchObject({ threshold: null, reason: "certification.bound_not_met", n_at_or_above: 92 })
    expect(C.certify(items(92, 0.99, 1), { now: NOW }).reason).toBe("certification.insufficient_history")
    expect(failed.error_upper_bound).toBeGreaterThan(0.05)
  })

  it("0.99 needs 299 clean items", () => {
    expect(C.certify(items(299, 0.995), { now: NOW, target_precision: 0.99, start_errors: 0 }).threshold).toBe(0.5)
    expect(C.certify(items(298, 0.995), { now: NOW, target_precision: 0.99, start_errors: 0 }).reason)
      .toBe("certification.insufficient_history")
  })

  it("fixed sequence: stops at the first threshold that fails, even if a lower one would pass again", () => {
    const history = [...items(100, 0.99), ...items(40, 0.93, 12), ...items(2_000, 0.85)]
    const cert = C.certify(history, { now: NOW })
    // 0.99 … 0.94 pass on the 100 clean items; 0.93 adds 12 errors in 40 and fails; 0.85 (12 in 2,140) is never tested
    expect(cert.threshold).toBe(0.94)
    expect(cert).toMatchObject({ n_at_or_above: 100, errors_at_or_above: 0 })
  })

  it("the window: items older than window_days, or after now, do not count", () => {
    const old = items(100, 0.99, 0, 200)
    expect(C.certify(old, { now: NOW }).reason).toBe("certification.insufficient_history")
    expect(C.certify(old, { now: NOW, window_days: 365 }).threshold).toBe(0.5)
    const future = items(100, 0.99).map((it) => ({ ...it, at: NOW + DAY }))
    expect(C.certify(future, { now: NOW }).n_window).toBe(0)
    const cert = C.certify(old, { now: NOW })
    expect([cert.window_start, cert.window_end]).toStrictEqual([NOW - 90 * DAY, NOW])
  })

  it("deterministic version, changing with the evidence; the certificate round-trips through its schema", () => {
    const a = C.certify(items(100, 0.99), { now: NOW })
    expect(C.certify(items(100, 0.99), { now: NOW }).version).toBe(a.version)
    expect(C.certify(items(101, 0.99), { now: NOW }).version).not.toBe(a.version)
    expect(C.decode(JSON.parse(JSON.stringify(C.encode(a))))).toStrictEqual(a)
  })

  it("property: a returned threshold's in-window bound never exceeds 1 − target", () => {
    const item = fc.record({
      p: fc.double({ min: 0, max: 1, noNaN: true }),
      correct: fc.boolean(),
      at: fc.integer({ min: NOW - 200 * DAY, max: NOW })
    })
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 400 }),
        fc.double({ min: 0.5, max: 0.99, noNaN: true }),
        fc.constantFrom(0.01, 0.05, 0.1),
        fc.integer({ min: 0, max: 2 }),
        (history, target, delta, startErrors) => {
          // bias toward correct items so that certification actually happens in many runs
          const biased = history.map((h, i) => ({ ...h, correct: h.correct || i % 5 !== 0 }))
          const cert = C.certify(biased, { now: NOW, target_precision: target, delta, start_errors: startErrors })
          if (cert.threshold === null) return
          const inWindow = biased.filter((h) => h.at > NOW - 90 * DAY && h.at <= NOW && h.p >= cert.threshold!)
          const errors = inWindow.filter((h) => !h.correct).length
          expect([inWindow.length, errors]).toStrictEqual([cert.n_at_or_above, cert.errors_at_or_above])
          expect(C.binomialUpperBound(errors, inWindow.length, delta)).toBeLessThanOrEqual(1 - target)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("Certification: evidence that outlives auto-posting (min_items, max_age_days) and the spot-check drift test", () => {
  const opts = { now: NOW, min_items: 124, max_age_days: 365 }

  it("a window emptied by auto-posting keeps the most recent min_items items back to max_age_days", () => {
    // 150 items reviewed 150 days ago (before auto-posting), 10 spot checks since
    const history = [...items(150, 0.99, 0, 150), ...items(10, 0.99, 0, 20)]
    // the window alone: the certificate lapses
    expect(C.certify(history, { now: NOW }).reason).toBe("certification.insufficient_history")
    const cert = C.certify(history, opts)
    // the 10 in the window, then the 114 newest of the old ones
    expect(cert).toMatchObject({ threshold: 0.5, n_at_or_above: 124, errors_at_or_above: 0, reason: null })
    expect(cert.evidence_start).toBe(NOW - 150 * DAY + 36)
    expect(cert.n_window).toBe(10)
    // not older than max_age_days
    expect(C.certify(history, { ...opts, max_age_days: 120 }).reason).toBe("certification.insufficient_history")
  })

  it("every item in the window counts, however many; min_items only reaches beyond it", () => {
    const history = [...items(200, 0.99, 0, 30), ...items(50, 0.99, 5, 200)]
    expect(C.certify(history, opts)).toMatchObject({ threshold: 0.5, n_at_or_above: 200, errors_at_or_above: 0 })
  })

  it("newer evidence replaces older first: recent errors count, the oldest clean items drop out", () => {
    // 124 clean items 300 days ago, then 6 wrong ones 120 days ago: the newest 124 hold the 6 errors
    const history = [...items(124, 0.99, 0, 300), ...items(6, 0.99, 6, 120)]
    const cert = C.certify(history, opts)
    expect(cert).toMatchObject({ threshold: null, reason: "certification.bound_not_met", n_at_or_above: 124 })
    expect(cert.errors_at_or_above).toBe(6)
    // the same errors older than the clean items are the ones that drop out
    const reversed = [...items(6, 0.99, 6, 300), ...items(124, 0.99, 0, 120)]
    expect(C.certify(reversed, opts)).toMatchObject({ threshold: 0.5, errors_at_or_above: 0, n_at_or_above: 124 })
  })

  it("the sequence starts where the window could certify or the evidence reaching back is complete", () => {
    // 100 old items at 0.99 with 3 errors (bound 0.075) and 300 clean recent ones at 0.9
    const history = [...items(100, 0.99, 3, 150), ...items(300, 0.9, 0, 30)]
    // 0.99 holds no item in the window and only 100 < 279 reaching back: not tested; 0.9 starts
    const two = { ...opts, candidate_thresholds: [0.99, 0.9] }
    const cert = C.certify(history, { ...two, min_items: 279 })
    expect(cert).toMatchObject({ threshold: 0.9, n_at_or_above: 300, errors_at_or_above: 0, reason: null })
    // with min_items 100 the old evidence at 0.99 is complete, tested first, and ends the sequence
    expect(C.certify(history, { ...two, min_items: 100 })).toMatchObject({
      threshold: null,
      reason: "certification.bound_not_met",
      n_at_or_above: 100,
      errors_at_or_above: 3
    })
  })

  it("spot checks of the window that reject the target end the certificate; older ones do not", () => {
    const base = items(300, 0.99, 0, 60)
    const spot = (n: number, errors: number, ageDays: number) =>
      items(n, 0.99, errors, ageDays).map((it) => ({ ...it, spot_check: true }))
    // 3 wrong of 15: P(X ≥ 3 | 15, 0.05) = 0.036 ≤ δ
    const failed = C.certify([...base, ...spot(15, 3, 20)], opts)
    expect(failed).toMatchObject({ threshold: null, reason: "certification.spot_check_failed" })
    expect(failed.spot_checks).toMatchObject({ n: 15, errors: 3 })
    expect(failed.spot_checks!.p_value).toBeCloseTo(0.0362, 4)
    // 2 wrong of 15: P(X ≥ 2) = 0.171 > δ, and the 300 + 15 items still certify
    const kept = C.certify([...base, ...spot(15, 2, 20)], opts)
    expect(kept).toMatchObject({ threshold: 0.5, reason: null, spot_checks: { n: 15, errors: 2 } })
    // the same 3 errors reviewed 100 days ago are outside the drift test's window
    expect(C.certify([...base, ...spot(15, 3, 100)], opts).threshold).toBe(0.5)
  })

  it("property: which items count depends on scores and review times only, never on the outcomes", () => {
    const item = fc.record({
      p: fc.double({ min: 0.5, max: 1, noNaN: true }),
      correct: fc.boolean(),
      at: fc.integer({ min: NOW - 400 * DAY, max: NOW })
    })
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 100, maxLength: 400 }),
        fc.double({ min: 0.5, max: 0.99 }),
        (history, t) => {
          const one = { ...opts, target_precision: 0.6, candidate_thresholds: [t] }
          const a = C.certify(history, one)
          const b = C.certify(history.map((h) => ({ ...h, correct: true })), one)
          expect([a.n_at_or_above, a.evidence_start]).toStrictEqual([b.n_at_or_above, b.evidence_start])
          // and the counted items are the window's plus the newest older ones up to min_items
          const above = history.filter((h) => h.p >= t && h.at > NOW - 365 * DAY).sort((x, y) =>
            y.at - x.at || y.p - x.p
          )
          const inWindow = above.filter((h) => h.at > NOW - 90 * DAY).length
          if (b.n_at_or_above >= C.minCleanItems(0.6, 0.05, 1)) {
            expect(b.n_at_or_above).toBe(Math.max(inWindow, Math.min(124, above.length)))
            const counted = above.slice(0, b.n_at_or_above)
            expect(a.errors_at_or_above).toBe(counted.filter((h) => !h.correct).length)
          }
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe("Certification: spotCheck", () => {
  it("deterministic per key, about `rate` of keys, none at 0 and all at 1", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `prop_${i.toString(36)}`)
    const share = keys.filter((k) => C.spotCheck(k)).length / keys.length
    expect(share).toBeGreaterThan(0.045)
    expect(share).toBeLessThan(0.055)
    expect(keys.filter((k) => C.spotCheck(k, 0.2)).length / keys.length).toBeCloseTo(0.2, 1)
    expect(keys.map((k) => C.spotCheck(k))).toStrictEqual(keys.map((k) => C.spotCheck(k)))
    expect(keys.some((k) => C.spotCheck(k, 0))).toBe(false)
    expect(keys.every((k) => C.spotCheck(k, 1))).toBe(true)
  })
})

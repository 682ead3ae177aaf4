/**
 * The certified auto-post threshold: the lowest calibrated-probability threshold at which, with
 * confidence 1 − δ, the error rate among recently reviewed items at or above it is at most
 * 1 − target precision (Selection with Guaranteed Risk, Geifman & El-Yaniv 2017; Learn then
 * Test, Angelopoulos et al. 2021).
 *
 * The test at one threshold is the exact one-sided Clopper–Pearson bound on the binomial error
 * rate ({@link binomialUpperBound}). Thresholds are tested as a fixed sequence, strictest first,
 * each at level δ, stopping at the first that fails: fixed-sequence testing keeps the family-wise
 * error at δ without splitting it, so the bound holds for the threshold returned. A threshold
 * with fewer items than could ever pass (fewer than {@link minCleanItems}) is skipped before it
 * is tested: that depends on the scores only, never on the outcomes, so the sequence stays fixed
 * given the scores.
 *
 * The window (default 90 days back from `now`) keeps old evidence out: vendor labels drift. The
 * bound is about the past window; a spot-check slice ({@link spotCheck}) of auto-eligible items
 * still goes to a person, so the window keeps receiving honest labels under drift.
 *
 * Once a threshold certifies, what clears it auto-posts and only the spot checks are reviewed, so
 * a pure time window empties exactly where the certificate makes its claim and the certificate
 * lapses. `min_items` fixes that without fractional weights (the exact bound needs whole counts):
 * at each threshold the evidence is every reviewed item at or above it in the window, or, when
 * those are fewer than `min_items`, the `min_items` most recent ones, never older than
 * `max_age_days`. Newer evidence replaces older first. Testing starts at the first threshold
 * whose window alone holds enough items, or whose reaching-back evidence is complete
 * (`min_items`). Which items are taken, and where testing starts, depend on the scores and
 * review times only, never on the outcomes, so each test stays exact. The spot checks
 * are the uniform sample of what auto-posted; when those of the recent window alone reject the
 * target (an exact one-sided binomial test at level δ) nothing certifies
 * (`certification.spot_check_failed`): drift in what nobody else sees ends the certificate.
 *
 * Pure: `now` is a parameter.
 */
import { Schema } from "effect"
import { hash32 } from "./Calibration.js"

// ---------------------------------------------------------------------------------------------
// The regularised incomplete beta function and the binomial bound
// ---------------------------------------------------------------------------------------------

const LANCZOS = [
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7
]

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export const logGamma = (x: number): number => {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const z = x - 1
  let sum = 0.99999999999980993
  for (let i = 0; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i + 1)
  const t = z + LANCZOS.length - 0.5
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum)
}

/** The continued fraction of the incomplete beta (modified Lentz), valid for x < (a+1)/(a+b+2). */
const betaContinuedFraction = (a: number, b: number, x: number): number => {
  const tiny = 1e-300
  let c = 1
  let d = 1 - ((a + b) * x) / (a + 1)
  if (Math.abs(d) < tiny) d = tiny
  d = 1 / d
  let h = d
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m
    // even step
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2))
    d = 1 + num * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + num / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    h *= d * c
    // odd step
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))
    d = 1 + num * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + num / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const delta = d * c
    h *= delta
    if (Math.abs(delta - 1) < 1e-15) break
  }
  return h
}

/** The regularised incomplete beta I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1. */
export const regularizedBeta = (x: number, a: number, b: number): number => {
  if (!(a > 0 && b > 0)) throw new RangeError(`regularizedBeta needs a, b > 0 (got ${a}, ${b})`)
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x)
  const front = Math.exp(lnFront)
  // use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) where the continued fraction converges fast
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export const binomialCdf = (k: number, n: number, p: number): number => {
  if (k < 0) return 0
  if (k >= n) return 1
  if (p <= 0) return 1
  if (p >= 1) return 0
  return regularizedBeta(1 - p, n - k, k + 1)
}

/**
 * The exact one-sided (Clopper–Pearson) upper confidence bound on an error rate: the largest p
 * with P(X ≤ errors | n, p) ≥ δ. With probability at least 1 − δ the true rate is below it.
 * 1 when n is 0 or every item was wrong.
 */
export const binomialUpperBound = (errors: number, n: number, delta: number): number => {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`)
  if (!Number.isInteger(errors) || !Number.isInteger(n) || errors < 0 || n < 0) {
    throw new RangeError(`errors and n must be non-negative integers (got ${errors}, ${n})`)
  }
  if (n === 0 || errors >= n) return 1
  // closed form for no errors: (1 − p)^n = δ
  if (errors === 0) return -Math.expm1(Math.log(delta) / n)
  // P(X ≤ k | p) decreases in p: bisect for the p where it crosses δ
  let lo = 0
  let hi = 1
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2
    if (binomialCdf(errors, n, mid) > delta) lo = mid
    else hi = mid
  }
  return hi
}

/**
 * The smallest number of reviewed items with `errors` errors whose bound certifies the target
 * precision at level δ (the cold-start figure: 59 clean items for 0.95 at δ = 0.05).
 */
export const minCleanItems = (targetPrecision: number, delta: number, errors = 0): number => {
  const maxError = 1 - targetPrecision
  if (!(maxError > 0)) return Infinity
  // the bound falls as n grows (errors fixed): gallop to a passing n, then bisect
  let lo = errors
  let hi = errors + 1
  while (binomialUpperBound(errors, hi, delta) > maxError) {
    lo = hi
    hi *= 2
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (binomialUpperBound(errors, mid, delta) <= maxError) hi = mid
    else lo = mid
  }
  return hi
}

// ---------------------------------------------------------------------------------------------
// Certification
// ---------------------------------------------------------------------------------------------

/** The method identifier recorded in certificates. */
export const METHOD = "fixed_sequence_clopper_pearson/1" as const

/** Default thresholds tested, strictest first. */
export const DEFAULT_THRESHOLDS: ReadonlyArray<number> = [
  0.999,
  0.998,
  0.995,
  0.99,
  0.985,
  0.98,
  0.975,
  0.97,
  0.965,
  0.96,
  0.955,
  0.95,
  0.94,
  0.93,
  0.92,
  0.91,
  0.9,
  0.88,
  0.86,
  0.84,
  0.82,
  0.8,
  0.75,
  0.7,
  0.65,
  0.6,
  0.55,
  0.5
]

/** Default of `start_errors`: testing starts where one error could still certify. */
export const DEFAULT_START_ERRORS = 1

/** Default look-back window in days. */
export const DEFAULT_WINDOW_DAYS = 90

/** Reason codes when nothing certifies. */
export const ReasonCode = Schema.Literal(
  "certification.insufficient_history",
  "certification.bound_not_met",
  "certification.spot_check_failed"
)
/** A reason code. */
export type ReasonCode = typeof ReasonCode.Type

/** A certificate: the threshold (or null, with its reason) and the evidence behind it. */
export const Certificate = Schema.Struct({
  /** The lowest certified threshold; null: nothing certifies and nothing may auto-post. */
  threshold: Schema.NullOr(Schema.Number),
  target_precision: Schema.Number,
  delta: Schema.Number,
  /** Reviewed items in the window with p at or above the threshold (the last tested one when null). */
  n_at_or_above: Schema.Int,
  errors_at_or_above: Schema.Int,
  /** Clopper–Pearson upper bound on the error rate at the threshold (1 when nothing was tested). */
  error_upper_bound: Schema.Number,
  /** Items in the window `(window_start, window_end]`. */
  n_window: Schema.Int,
  window_start: Schema.Number,
  window_end: Schema.Number,
  method: Schema.String,
  /** The review time of the oldest item counted at the threshold (absent before `min_items` existed). */
  evidence_start: Schema.optional(Schema.NullOr(Schema.Number)),
  /** Spot-checked items in the window and how many were wrong (absent before the drift test existed). */
  spot_checks: Schema.optional(Schema.Struct({ n: Schema.Int, errors: Schema.Int, p_value: Schema.Number })),
  /** Deterministic from method, parameters, the threshold and the counts. */
  version: Schema.String,
  reason: Schema.NullOr(ReasonCode)
})
/** A certificate. */
export type Certificate = typeof Certificate.Type

/** One reviewed item: calibrated probability, outcome, review time (epoch ms). */
export interface CertifyItem {
  readonly p: number
  readonly correct: boolean
  readonly at: number
  /** It was auto-eligible and sent to a person by the spot-check slice. */
  readonly spot_check?: boolean
}

/** Options of {@link certify}. */
export interface CertifyOptions {
  /** Default 0.95. */
  readonly target_precision?: number
  /** Default 0.05. */
  readonly delta?: number
  /** The end of the window (epoch ms). */
  readonly now: number
  /** Default {@link DEFAULT_WINDOW_DAYS}. */
  readonly window_days?: number
  /**
   * Thresholds with fewer items than could certify with this many errors are skipped before the
   * sequence starts (default {@link DEFAULT_START_ERRORS}). 0 starts testing as soon as a clean
   * run could pass (59 items for 0.95) — but then a single error among the first few dozen items
   * ends the sequence at its first step; 1 waits for 93 items, so one early error does not.
   */
  readonly start_errors?: number
  /** Default {@link DEFAULT_THRESHOLDS}; tested strictest first whatever their order. */
  readonly candidate_thresholds?: ReadonlyArray<number>
  /**
   * At a threshold with fewer than this many items in the window, the most recent `min_items`
   * items at or above it count, back to `max_age_days` (default 0: the window alone).
   */
  readonly min_items?: number
  /** How far back `min_items` may reach (default `window_days`). */
  readonly max_age_days?: number
}

const DAY_MS = 86_400_000

/** Find the certified threshold over the recent window. */
export const certify = (items: ReadonlyArray<CertifyItem>, options: CertifyOptions): Certificate => {
  const target = options.target_precision ?? 0.95
  const delta = options.delta ?? 0.05
  if (!(target > 0 && target < 1)) throw new RangeError(`target_precision must be in (0, 1), got ${target}`)
  const windowDays = options.window_days ?? DEFAULT_WINDOW_DAYS
  const windowEnd = options.now
  const windowStart = windowEnd - windowDays * DAY_MS
  const inWindow = items.filter((it) => it.at > windowStart && it.at <= windowEnd && Number.isFinite(it.p))
  const thresholds = [...new Set(options.candidate_thresholds ?? DEFAULT_THRESHOLDS)]
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => b - a)
  const maxError = 1 - target
  const startErrors = options.start_errors ?? DEFAULT_START_ERRORS
  const nMin = minCleanItems(target, delta, startErrors)
  const minItems = Math.max(0, Math.floor(options.min_items ?? 0))
  const maxAgeDays = Math.max(windowDays, options.max_age_days ?? windowDays)
  const oldest = windowEnd - maxAgeDays * DAY_MS
  // newest first: the evidence beyond the window is taken from the most recent back
  const usable = items
    .filter((it) => it.at > oldest && it.at <= windowEnd && Number.isFinite(it.p))
    .sort((a, b) => b.at - a.at || b.p - a.p)
  const spot = inWindow.filter((it) => it.spot_check === true)
  const spotErrors = spot.filter((it) => !it.correct).length
  // P(X ≥ errors) under the target error rate: small when the spot checks contradict the target
  const spotP = spot.length === 0 ? 1 : 1 - binomialCdf(spotErrors - 1, spot.length, maxError)
  const spotRejects = spot.length > 0 && spotP <= delta
  let best: { threshold: number; n: number; k: number; bound: number; from: number | null } | null = null
  let last: { n: number; k: number; bound: number; from: number | null } | null = null
  let failed = false
  let n = 0
  let k = 0
  for (const t of spotRejects ? [] : thresholds) {
    n = 0
    k = 0
    let from: number | null = null
    let nWindow = 0
    for (const it of usable) {
      if (it.p < t) continue
      if (it.at <= windowStart && n >= minItems) break
      n++
      if (it.at > windowStart) nWindow++
      if (!it.correct) k++
      from = it.at
    }
    // the sequence starts where the window alone could certify, or where the evidence reaching
    // back is complete (min_items): a strict threshold with a few dozen old items is not tested
    if (nWindow < nMin && !(minItems > 0 && n >= Math.max(minItems, nMin))) continue
    const bound = binomialUpperBound(k, n, delta)
    last = { n, k, bound, from }
    if (bound <= maxError) best = { threshold: t, n, k, bound, from }
    else {
      failed = true
      break
    }
  }
  const spotChecks = { n: spot.length, errors: spotErrors, p_value: spotP }
  const params = `${METHOD}|${target}|${delta}|${windowDays}|${startErrors}|${thresholds.join(",")}${
    minItems > 0 ? `|${minItems}|${maxAgeDays}` : ""
  }`
  if (best !== null) {
    return {
      threshold: best.threshold,
      target_precision: target,
      delta,
      n_at_or_above: best.n,
      errors_at_or_above: best.k,
      error_upper_bound: best.bound,
      n_window: inWindow.length,
      window_start: windowStart,
      window_end: windowEnd,
      method: METHOD,
      evidence_start: best.from,
      spot_checks: spotChecks,
      version: `cert-${hash32(`${params}|${best.threshold}|${best.n}|${best.k}|${best.from}`)}`,
      reason: null
    }
  }
  return {
    threshold: null,
    target_precision: target,
    delta,
    n_at_or_above: last?.n ?? n,
    errors_at_or_above: last?.k ?? k,
    error_upper_bound: last?.bound ?? 1,
    n_window: inWindow.length,
    window_start: windowStart,
    window_end: windowEnd,
    method: METHOD,
    evidence_start: last?.from ?? null,
    spot_checks: spotChecks,
    version: `cert-${hash32(`${params}|none|${inWindow.length}`)}`,
    reason: spotRejects
      ? "certification.spot_check_failed"
      : failed
      ? "certification.bound_not_met"
      : "certification.insufficient_history"
  }
}

/** The murmur3 finaliser: spreads the bits of a 32-bit hash. */
const mix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

/** Default share of auto-eligible items still sent to a person. */
export const DEFAULT_SPOT_CHECK_RATE = 0.05

/**
 * Is this item in the spot-check slice? Deterministic from a hash of `seedKey` (a proposal id),
 * so the slice is reproducible and needs no randomness service; about `rate` of keys are in it.
 */
export const spotCheck = (seedKey: string, rate: number = DEFAULT_SPOT_CHECK_RATE): boolean => {
  if (!(rate > 0)) return false
  if (rate >= 1) return true
  const u = mix32(parseInt(hash32(seedKey), 16)) / 4_294_967_296
  return u < rate
}

/** Encode a certificate for storage. */
export const encode = Schema.encodeSync(Certificate)
/** Decode a stored certificate. */
export const decode = Schema.decodeUnknownSync(Certificate)

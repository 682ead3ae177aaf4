/**
 * Calibrated probability: a monotone map from a stage's raw score to the probability that the
 * proposal is right, fitted per tenant from its reviewed history (applied = right, corrected or
 * rejected = wrong).
 *
 * Methods, chosen for small data:
 * - `platt` (default): `p = σ(a · logit(s) + b)` — Platt scaling on the logit of the raw score,
 *   with Platt's smoothed targets (`(n₊+1)/(n₊+2)`, `1/(n₋+2)`) and a weak prior pulling
 *   `(a, b)` toward the identity `(1, 0)`, so that a short, all-correct history still gives a
 *   finite, well-defined fit. `a` is the inverse temperature: the issue measured raw naive-Bayes
 *   probabilities near 1 on wrong labels, and `a < 1` is what pulls them back.
 * - `temperature`: the same with `b = 0` (one parameter).
 * - `isotonic`: pool-adjacent-violators on the raw score with Laplace-smoothed blocks; only with
 *   at least `isotonic_min_history` items (default 1,000), because with less it overfits.
 * - `venn_abers`: inductive Venn–Abers (see {@link fitVennAbers}): isotonic regression made safe
 *   for small data by fitting it twice with the new item's own outcome (0, then 1) and merging the
 *   two probabilities; no parametric shape, so it follows a stage whose raw score is not a
 *   sigmoid of the truth (the classifier's).
 * - `auto`: Platt below `venn_abers_min_history` (default 500: Platt's two parameters are what a
 *   few hundred items support); from there to `isotonic_min_history`, Venn–Abers when its
 *   cross-fitted log loss beats Platt's; above, whichever of Platt and isotonic has the lower
 *   cross-fitted log loss (with a thousand items isotonic and Venn–Abers nearly coincide).
 *
 * Out of sample: `fit` reports the cross-fitted log loss and Brier score (K folds in time order,
 * each fold scored by a calibrator fitted on the other folds), and `auto` chooses on them; the
 * calibrator itself is fitted on all the history and applied to later proposals only.
 *
 * Recency: with `half_life_days`, an item `d` days older than `now` weighs `0.5^(d / half_life)`,
 * so drift counts. Below `min_history` reviewed items (default 30) `fit` returns `null`: the
 * calibrated probability stays null and nothing auto-posts.
 *
 * Pure: `now` is a parameter (default: the newest item's time), never the clock.
 */
import { Schema } from "effect"

/** One reviewed proposal: its raw score, whether the person kept it, when it was reviewed (epoch ms). */
export interface HistoryItem {
  readonly score: number
  readonly correct: boolean
  readonly at: number
}

/** Calibration methods. */
export const Method = Schema.Literal("platt", "temperature", "isotonic", "venn_abers")
/** A calibration method. */
export type Method = typeof Method.Type

/** Default minimum number of reviewed items before a calibrator is fitted. */
export const DEFAULT_MIN_HISTORY = 30
/** Default minimum number of reviewed items before `auto` considers Venn–Abers. */
export const DEFAULT_VENN_ABERS_MIN_HISTORY = 500
/** Default minimum number of reviewed items before isotonic regression is considered. */
export const DEFAULT_ISOTONIC_MIN_HISTORY = 1_000
/** Raw scores are clipped to [EPS, 1 − EPS] before taking their logit. */
export const EPS = 1e-9

const DAY_MS = 86_400_000

/** The stored form of a fitted calibrator. */
export const Calibrator = Schema.Struct({
  method: Method,
  /** Deterministic from method, parameters, n and half-life: recorded in provenance. */
  version: Schema.String,
  /** Slope on logit(score) (the inverse temperature); 1 for isotonic. */
  a: Schema.Number,
  /** Intercept; 0 for temperature and isotonic. */
  b: Schema.Number,
  /**
   * Isotonic: block upper raw-score bounds (ascending) and their probabilities. Venn–Abers: the
   * distinct raw scores of the calibration set (ascending, k of them) and the merged probability
   * of the 2k + 1 places a score can fall (below the first, at the first, between the first and
   * second, …, above the last).
   */
  thresholds: Schema.Array(Schema.Number),
  values: Schema.Array(Schema.Number),
  /** Venn–Abers only: the interval `[p0, p1]` of each of the 2k + 1 places (`values` merges them). */
  lower: Schema.optional(Schema.Array(Schema.Number)),
  upper: Schema.optional(Schema.Array(Schema.Number)),
  /** Reviewed items fitted on. */
  n: Schema.Int,
  /** Of which wrong. */
  errors: Schema.Int,
  /** The reference time of recency weights (epoch ms). */
  fitted_at: Schema.Number,
  half_life_days: Schema.NullOr(Schema.Number),
  /** Cross-fitted (out-of-sample) log loss and Brier score of the method; null when too few items to cross-fit. */
  oos_log_loss: Schema.NullOr(Schema.Number),
  oos_brier: Schema.NullOr(Schema.Number)
})
/** A fitted calibrator. */
export type Calibrator = typeof Calibrator.Type

/** Options of {@link fit}. */
export interface FitOptions {
  /** `auto` (default), `platt`, `temperature` or `isotonic`. */
  readonly method?: Method | "auto"
  /** Below this many items `fit` returns null (default {@link DEFAULT_MIN_HISTORY}). */
  readonly min_history?: number
  /** `auto` uses Venn–Abers from this many (default {@link DEFAULT_VENN_ABERS_MIN_HISTORY}). */
  readonly venn_abers_min_history?: number
  /** `auto` and `isotonic` need at least this many (default {@link DEFAULT_ISOTONIC_MIN_HISTORY}). */
  readonly isotonic_min_history?: number
  /** Recency half-life in days; null or omitted: every item weighs 1. */
  readonly half_life_days?: number | null
  /** Reference time for recency (epoch ms); default the newest item's `at`. */
  readonly now?: number
  /** Folds for the out-of-sample figures (default 5). */
  readonly folds?: number
  /** Strength of the prior toward the identity map, in pseudo-items (default 1). */
  readonly prior_strength?: number
}

const clip = (s: number) => Math.min(1 - EPS, Math.max(EPS, Number.isFinite(s) ? s : 0.5))
/** The logit of a raw score, clipped. */
export const logit = (s: number): number => {
  const c = clip(s)
  return Math.log(c / (1 - c))
}
const sigmoid = (z: number) => z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z))

interface Weighted {
  readonly x: number
  readonly s: number
  readonly y: number
  readonly w: number
}

/** Weighted Platt scaling by Newton's method on (a, b), with a Gaussian prior toward (1, 0). */
const fitPlatt = (items: ReadonlyArray<Weighted>, oneParam: boolean, prior: number): { a: number; b: number } => {
  let pos = 0
  let neg = 0
  for (const it of items) {
    if (it.y === 1) pos += it.w
    else neg += it.w
  }
  const tPos = (pos + 1) / (pos + 2)
  const tNeg = 1 / (neg + 2)
  // the penalised negative log-likelihood (cross-entropy against the smoothed targets)
  const objective = (a: number, b: number) => {
    let f = 0.5 * prior * ((a - 1) ** 2 + (oneParam ? 0 : b * b))
    for (const it of items) {
      const t = it.y === 1 ? tPos : tNeg
      const z = a * it.x + b
      // log(1 + e^z) − t·z, computed without overflow
      f += it.w * ((z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - t * z)
    }
    return f
  }
  let a = 1
  let b = 0
  let current = objective(a, b)
  for (let iter = 0; iter < 100; iter++) {
    let ga = prior * (a - 1)
    let gb = oneParam ? 0 : prior * b
    let haa = prior
    let hab = 0
    let hbb = oneParam ? 1 : prior
    for (const it of items) {
      const t = it.y === 1 ? tPos : tNeg
      const p = sigmoid(a * it.x + b)
      const d = (p - t) * it.w
      const v = Math.max(p * (1 - p), 1e-12) * it.w
      ga += d * it.x
      haa += v * it.x * it.x
      if (!oneParam) {
        gb += d
        hab += v * it.x
        hbb += v
      }
    }
    const det = haa * hbb - hab * hab
    if (!(det > 0)) break
    const da = (hbb * ga - hab * gb) / det
    const db = oneParam ? 0 : (haa * gb - hab * ga) / det
    // damped Newton: halve the step until the objective does not rise (the problem is convex)
    let step = 1
    let next = objective(a - da, b - db)
    while (!(next <= current) && step > 1e-10) {
      step /= 2
      next = objective(a - step * da, b - step * db)
    }
    if (!(next <= current)) break
    a -= step * da
    b -= step * db
    const improvement = current - next
    current = next
    if ((Math.abs(step * da) < 1e-10 && Math.abs(step * db) < 1e-10) || improvement < 1e-14) break
  }
  // a negative slope would invert the ranking: the calibrated map must be monotone
  if (!(a >= 0)) {
    a = 0
    b = Math.log(tPos * pos + tNeg * neg + 1e-12) - Math.log((1 - tPos) * pos + (1 - tNeg) * neg + 1e-12)
  }
  return { a, b: oneParam ? 0 : b }
}

/** Weighted pool-adjacent-violators on the raw score; Laplace-smoothed, non-decreasing. */
const fitIsotonic = (items: ReadonlyArray<Weighted>): { thresholds: Array<number>; values: Array<number> } => {
  const sorted = [...items].sort((p, q) => p.s - q.s || p.y - q.y)
  const blocks: Array<{ hi: number; sumY: number; sumW: number }> = []
  for (const it of sorted) {
    const last = blocks[blocks.length - 1]
    if (last !== undefined && last.hi === it.s) {
      last.sumY += it.y * it.w
      last.sumW += it.w
    } else blocks.push({ hi: it.s, sumY: it.y * it.w, sumW: it.w })
    while (blocks.length >= 2) {
      const q = blocks[blocks.length - 1]!
      const p = blocks[blocks.length - 2]!
      if (p.sumY / p.sumW < q.sumY / q.sumW) break
      blocks.splice(blocks.length - 2, 2, { hi: q.hi, sumY: p.sumY + q.sumY, sumW: p.sumW + q.sumW })
    }
  }
  const thresholds: Array<number> = []
  const values: Array<number> = []
  let running = 0
  for (const bl of blocks) {
    running = Math.max(running, (bl.sumY + 1) / (bl.sumW + 2))
    thresholds.push(bl.hi)
    values.push(running)
  }
  return { thresholds, values }
}

/**
 * The unsmoothed weighted isotonic (pool-adjacent-violators) fit over groups in score order; the
 * fitted value of group `at`.
 */
const pavAt = (ys: ArrayLike<number>, ws: ArrayLike<number>, n: number, at: number): number => {
  const sumY: Array<number> = []
  const sumW: Array<number> = []
  const start: Array<number> = []
  for (let i = 0; i < n; i++) {
    let y = ys[i]!
    let w = ws[i]!
    let first = i
    while (sumW.length > 0 && sumY[sumY.length - 1]! * w >= y * sumW[sumW.length - 1]!) {
      y += sumY.pop()!
      w += sumW.pop()!
      first = start.pop()!
    }
    sumY.push(y)
    sumW.push(w)
    start.push(first)
  }
  let b = start.length - 1
  while (start[b]! > at) b--
  return sumY[b]! / sumW[b]!
}

/**
 * Inductive Venn–Abers (Vovk & Petej 2014): for a new raw score `s`, the isotonic fit of the
 * calibration set plus `(s, 0)` gives `p0` at `s`, plus `(s, 1)` gives `p1`; the interval
 * `[p0, p1]` holds a well-calibrated probability, merged into one by `p1 / (1 − p0 + p1)`. Both
 * depend on `s` only through its place among the calibration set's distinct scores, so the 2k + 1
 * places are computed once (O(k²)) and stored; the new item weighs 1 (an item reviewed `now`).
 */
const fitVennAbers = (items: ReadonlyArray<Weighted>) => {
  const sorted = [...items].filter((it) => it.w > 0).sort((p, q) => p.s - q.s)
  const scores: Array<number> = []
  const gy: Array<number> = []
  const gw: Array<number> = []
  for (const it of sorted) {
    if (scores.length > 0 && scores[scores.length - 1] === it.s) {
      gy[gy.length - 1] = gy[gy.length - 1]! + it.y * it.w
      gw[gw.length - 1] = gw[gw.length - 1]! + it.w
    } else {
      scores.push(it.s)
      gy.push(it.y * it.w)
      gw.push(it.w)
    }
  }
  const k = scores.length
  const ys = new Float64Array(k + 1)
  const ws = new Float64Array(k + 1)
  const lower: Array<number> = []
  const upper: Array<number> = []
  const values: Array<number> = []
  const at = (place: number, label: number) => {
    if (place % 2 === 0) {
      // strictly between distinct scores: the new item is its own group at index place / 2
      const i = place / 2
      for (let j = 0; j < i; j++) {
        ys[j] = gy[j]!
        ws[j] = gw[j]!
      }
      ys[i] = label
      ws[i] = 1
      for (let j = i; j < k; j++) {
        ys[j + 1] = gy[j]!
        ws[j + 1] = gw[j]!
      }
      return pavAt(ys, ws, k + 1, i)
    }
    // equal to the distinct score (place − 1) / 2: the new item joins its group
    const i = (place - 1) / 2
    for (let j = 0; j < k; j++) {
      ys[j] = gy[j]! + (j === i ? label : 0)
      ws[j] = gw[j]! + (j === i ? 1 : 0)
    }
    return pavAt(ys, ws, k, i)
  }
  for (let place = 0; place <= 2 * k; place++) {
    const p0 = at(place, 0)
    const p1 = at(place, 1)
    lower.push(p0)
    upper.push(p1)
    values.push(p1 / (1 - p0 + p1))
  }
  return { thresholds: scores, values, lower, upper }
}

/** The place of a score among the distinct calibration scores (0 … 2k; see {@link fitVennAbers}). */
const placeOf = (thresholds: ReadonlyArray<number>, s: number): number => {
  let lo = 0
  let hi = thresholds.length
  // first index whose threshold is ≥ s
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (thresholds[mid]! < s) lo = mid + 1
    else hi = mid
  }
  return lo < thresholds.length && thresholds[lo] === s ? 2 * lo + 1 : 2 * lo
}

const apply = (c: Pick<Calibrator, "method" | "a" | "b" | "thresholds" | "values">, score: number): number => {
  if (c.method === "venn_abers") return c.values[placeOf(c.thresholds, clip(score))] ?? 0.5
  if (c.method === "isotonic") {
    const s = clip(score)
    for (let i = 0; i < c.thresholds.length; i++) if (s <= c.thresholds[i]!) return c.values[i]!
    return c.values[c.values.length - 1] ?? 0.5
  }
  return sigmoid(c.a * logit(score) + c.b)
}

/** The calibrated probability of a raw score (monotone non-decreasing in the score). */
export const calibrate = (calibrator: Calibrator, score: number): number => apply(calibrator, score)

/**
 * Venn–Abers only: the interval `[p0, p1]` of a raw score, whose merge {@link calibrate} returns;
 * null for the other methods.
 */
export const interval = (
  calibrator: Calibrator,
  score: number
): { readonly p0: number; readonly p1: number } | null => {
  if (calibrator.method !== "venn_abers" || calibrator.lower === undefined || calibrator.upper === undefined) {
    return null
  }
  const place = placeOf(calibrator.thresholds, clip(score))
  const p0 = calibrator.lower[place]
  const p1 = calibrator.upper[place]
  return p0 === undefined || p1 === undefined ? null : { p0, p1 }
}

type Params = Pick<Calibrator, "method" | "a" | "b" | "thresholds" | "values" | "lower" | "upper">

const fitMethod = (method: Method, items: ReadonlyArray<Weighted>, prior: number): Params => {
  if (method === "venn_abers") return { method, a: 1, b: 0, ...fitVennAbers(items) }
  if (method === "isotonic") return { method, a: 1, b: 0, ...fitIsotonic(items) }
  const { a, b } = fitPlatt(items, method === "temperature", prior)
  return { method, a, b, thresholds: [], values: [] }
}

/** Cross-fitted log loss and Brier score: folds in time order, each scored by a fit on the others. */
const crossFit = (method: Method, items: ReadonlyArray<Weighted>, folds: number, prior: number) => {
  const k = Math.max(2, Math.floor(folds))
  if (items.length < 2 * k) return null
  let ll = 0
  let br = 0
  let wsum = 0
  for (let f = 0; f < k; f++) {
    const lo = Math.floor((f * items.length) / k)
    const hi = Math.floor(((f + 1) * items.length) / k)
    const train = [...items.slice(0, lo), ...items.slice(hi)]
    const params = fitMethod(method, train, prior)
    for (const it of items.slice(lo, hi)) {
      const p = Math.min(1 - 1e-12, Math.max(1e-12, apply(params, it.s)))
      ll -= it.w * (it.y === 1 ? Math.log(p) : Math.log(1 - p))
      br += it.w * (p - it.y) ** 2
      wsum += it.w
    }
  }
  return { log_loss: ll / wsum, brier: br / wsum }
}

/** FNV-1a 32-bit of a string, as 8 hex digits. */
export const hash32 = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, "0")
}

const round = (x: number) => Number(x.toPrecision(8))

/**
 * Fit a calibrator on reviewed history. Returns null below `min_history` items (or when no item
 * has positive weight). Deterministic: items are ordered by time, then score, then outcome.
 */
export const fit = (history: ReadonlyArray<HistoryItem>, options: FitOptions = {}): Calibrator | null => {
  const minHistory = options.min_history ?? DEFAULT_MIN_HISTORY
  const isoMin = options.isotonic_min_history ?? DEFAULT_ISOTONIC_MIN_HISTORY
  const vaMin = options.venn_abers_min_history ?? DEFAULT_VENN_ABERS_MIN_HISTORY
  const halfLife = options.half_life_days ?? null
  const prior = options.prior_strength ?? 1
  const valid = history.filter((h) => Number.isFinite(h.score) && Number.isFinite(h.at))
  if (valid.length < minHistory || valid.length === 0) return null
  const now = options.now ?? valid.reduce((m, h) => Math.max(m, h.at), -Infinity)
  const ordered = [...valid].sort((p, q) => p.at - q.at || p.score - q.score || Number(p.correct) - Number(q.correct))
  const items: Array<Weighted> = ordered.map((h) => ({
    x: logit(h.score),
    s: clip(h.score),
    y: h.correct ? 1 : 0,
    w: halfLife === null ? 1 : Math.pow(0.5, Math.max(0, now - h.at) / (halfLife * DAY_MS))
  }))
  if (!(items.reduce((s, it) => s + it.w, 0) > 0)) return null
  const folds = options.folds ?? 5
  let method: Method
  const requested = options.method ?? "auto"
  // cross-fitted figures computed while choosing are kept, not computed again
  const oosOf = new Map<Method, ReturnType<typeof crossFit>>()
  const cross = (m: Method) => {
    if (!oosOf.has(m)) oosOf.set(m, crossFit(m, items, folds, prior))
    return oosOf.get(m)!
  }
  if (requested === "auto") {
    method = "platt"
    if (items.length >= vaMin && items.length < isoMin) {
      const p = cross("platt")
      const v = cross("venn_abers")
      if (p !== null && v !== null && v.log_loss < p.log_loss) method = "venn_abers"
    }
    if (items.length >= isoMin) {
      const p = cross("platt")
      const i = cross("isotonic")
      if (p !== null && i !== null && i.log_loss < p.log_loss) method = "isotonic"
    }
  } else method = requested === "isotonic" && items.length < isoMin ? "platt" : requested
  const params = fitMethod(method, items, prior)
  const oos = cross(method)
  const errors = ordered.filter((h) => !h.correct).length
  const signature = [
    method,
    round(params.a),
    round(params.b),
    params.thresholds.map(round).join(","),
    params.values.map(round).join(","),
    items.length,
    halfLife ?? "none"
  ].join("|")
  return {
    ...params,
    version: `${method}-n${items.length}-${hash32(signature)}`,
    n: items.length,
    errors,
    fitted_at: now,
    half_life_days: halfLife,
    oos_log_loss: oos === null ? null : oos.log_loss,
    oos_brier: oos === null ? null : oos.brier
  }
}

/** Encode a calibrator for storage. */
export const encode = Schema.encodeSync(Calibrator)
/** Decode a stored calibrator; throws a `ParseError` on a malformed one. */
export const decode = Schema.decodeUnknownSync(Calibrator)

/** One reviewed proposal with the stage that answered it. */
export interface StageHistoryItem extends HistoryItem {
  readonly stage: string
}

/**
 * One calibrator per stage of the chain. The stages score on different scales — a rule says 1,
 * vendor memory `n / (n + 1)`, the classifier a naive-Bayes posterior that sits near 1 even on a
 * new vendor it gets wrong — so one map over the pooled raw scores is not monotone in the truth:
 * on the development seed the classifier's wrong answers had the highest raw scores, Platt's slope
 * went negative, was clamped to 0, and every proposal got the same p (0.897). Each stage is
 * fitted on its own reviewed items; a stage below `min_history` has none (its proposals stay
 * uncalibrated, so they do not auto-post).
 */
export const StageCalibrators = Schema.Struct({
  method: Schema.Literal("per_stage"),
  /** Deterministic from the stages' calibrator versions. */
  version: Schema.String,
  /** Calibrators by stage name (only stages with enough history). */
  stages: Schema.Record({ key: Schema.String, value: Calibrator }),
  /** Reviewed items fitted on, over all stages. */
  n: Schema.Int
})
/** Per-stage calibrators. */
export type StageCalibrators = typeof StageCalibrators.Type

/**
 * Fit one calibrator per stage (see {@link StageCalibrators}) with the same options for each;
 * null when no stage has `min_history` items.
 */
export const fitStages = (
  history: ReadonlyArray<StageHistoryItem>,
  options: FitOptions = {}
): StageCalibrators | null => {
  const byStage = new Map<string, Array<HistoryItem>>()
  for (const h of history) {
    const items = byStage.get(h.stage) ?? []
    items.push(h)
    byStage.set(h.stage, items)
  }
  const now = options.now ?? history.reduce((m, h) => (Number.isFinite(h.at) ? Math.max(m, h.at) : m), -Infinity)
  const stages: Record<string, Calibrator> = {}
  let n = 0
  for (const stage of [...byStage.keys()].sort()) {
    const c = fit(byStage.get(stage)!, { ...options, now })
    if (c === null) continue
    stages[stage] = c
    n += c.n
  }
  const names = Object.keys(stages)
  if (names.length === 0) return null
  return {
    method: "per_stage",
    version: `per_stage-n${n}-${hash32(names.map((s) => `${s}:${stages[s]!.version}`).join("|"))}`,
    stages,
    n
  }
}

/** The calibrated probability of a stage's raw score; null when that stage has no calibrator. */
export const calibrateStage = (calibrators: StageCalibrators, stage: string | null, score: number): number | null => {
  const c = stage === null ? undefined : calibrators.stages[stage]
  return c === undefined ? null : calibrate(c, score)
}

/**
 * The calibration a chain stage may consult (`CategorizeInput.calibrate`): a stage's raw score to
 * its calibrated probability, null for a stage without a calibrator; undefined without calibrators.
 */
export const stageCalibration = (
  calibrators: StageCalibrators | null
): ((stage: string, score: number) => number | null) | undefined =>
  calibrators === null ? undefined : (stage, score) => calibrateStage(calibrators, stage, score)

/** Encode per-stage calibrators for storage. */
export const encodeStages = Schema.encodeSync(StageCalibrators)
/** Decode stored per-stage calibrators; throws a `ParseError` on a malformed value (or a single calibrator). */
export const decodeStages = Schema.decodeUnknownSync(StageCalibrators)

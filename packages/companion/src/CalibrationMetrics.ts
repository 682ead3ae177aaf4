/**
 * How good a tenant's probabilities are: the Brier score and the expected calibration error
 * (ECE) with its reliability bins. Plain numbers: these are probabilities, not money.
 *
 * Binning: `uniform` (default) splits [0, 1] into `bins` equal-width bins `[i/B, (i+1)/B)`, the
 * last one closed at 1; `quantile` makes bins of (nearly) equal counts over the sorted
 * predictions, items with equal predictions always sharing a bin. ECE is the count-weighted mean
 * of |mean predicted − observed rate| over non-empty bins. Empty bins are reported with
 * `count: 0` and null means.
 */

/** One scored outcome. */
export interface ScoredItem {
  readonly p: number
  readonly correct: boolean
}

/** Mean squared difference between predicted probability and outcome (0 best, 1 worst); 0 for no items. */
export const brier = (items: ReadonlyArray<ScoredItem>): number => {
  if (items.length === 0) return 0
  let sum = 0
  for (const it of items) sum += (it.p - (it.correct ? 1 : 0)) ** 2
  return sum / items.length
}

/** One reliability bin. */
export interface CalibrationBin {
  readonly lower: number
  readonly upper: number
  readonly count: number
  readonly mean_predicted: number | null
  readonly observed_rate: number | null
}

/** ECE options. */
export interface EceOptions {
  /** Number of bins (default 10). */
  readonly bins?: number
  /** `uniform` (default) or `quantile`. */
  readonly strategy?: "uniform" | "quantile"
}

/** ECE and its bins. */
export interface EceResult {
  readonly ece: number
  readonly bins: ReadonlyArray<CalibrationBin>
}

const summarise = (lower: number, upper: number, members: ReadonlyArray<ScoredItem>): CalibrationBin => {
  if (members.length === 0) return { lower, upper, count: 0, mean_predicted: null, observed_rate: null }
  let sp = 0
  let sy = 0
  for (const m of members) {
    sp += m.p
    sy += m.correct ? 1 : 0
  }
  return {
    lower,
    upper,
    count: members.length,
    mean_predicted: sp / members.length,
    observed_rate: sy / members.length
  }
}

/** Expected calibration error with its reliability bins (see the module doc for the binning). */
export const ece = (items: ReadonlyArray<ScoredItem>, options: EceOptions = {}): EceResult => {
  const count = Math.max(1, Math.floor(options.bins ?? 10))
  const strategy = options.strategy ?? "uniform"
  const clipped = items.map((it) => ({ p: Math.min(1, Math.max(0, it.p)), correct: it.correct }))
  const bins: Array<CalibrationBin> = []
  if (strategy === "uniform") {
    const groups: Array<Array<ScoredItem>> = Array.from({ length: count }, () => [])
    for (const it of clipped) groups[Math.min(count - 1, Math.floor(it.p * count))]!.push(it)
    groups.forEach((g, i) => bins.push(summarise(i / count, (i + 1) / count, g)))
  } else {
    const sorted = [...clipped].sort((a, b) => a.p - b.p)
    let start = 0
    for (let i = 0; i < count && start < sorted.length; i++) {
      let end = Math.max(start + 1, Math.round(((i + 1) * sorted.length) / count))
      if (i === count - 1) end = sorted.length
      while (end < sorted.length && sorted[end]!.p === sorted[end - 1]!.p) end++
      const members = sorted.slice(start, end)
      bins.push(summarise(members[0]!.p, members[members.length - 1]!.p, members))
      start = end
    }
  }
  const total = clipped.length
  const value = total === 0 ? 0 : bins.reduce(
    (s, b) => b.count === 0 ? s : s + (b.count / total) * Math.abs(b.mean_predicted! - b.observed_rate!),
    0
  )
  return { ece: value, bins }
}

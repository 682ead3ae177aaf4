/**
 * Drift detection: the tests that flag a vendor or a tenant whose recent bookings depart from
 * their history. Pure: observations in, findings out; the caller picks the windows.
 *
 * An observation is one booked proposal (applied, corrected or auto-posted): its vendor, the
 * account of its largest final split (its label), the absolute bank amount and when it was
 * created. "Recent" is the last {@link Defaults.recentDays} days before `now`; "older" is
 * everything before that which the caller passes (the shadow report passes 180 days).
 *
 * - `vendor.labels` — two-proportion z-test, two-sided, pooled variance: the share of the
 *   vendor's older top account among its older labels against its share among its recent labels.
 *   Flagged when |z| ≥ the two-sided critical value of α ({@link Defaults.alpha} = 0.01 → 2.576)
 *   and at least `minRecent` recent and `minOlder` older labels exist.
 * - `vendor.amounts` — robust z-score on log amounts: 0.6745 · (median(recent) − median(older)) /
 *   MAD(older), with MAD floored at {@link Defaults.madFloor} (a vendor that always charges the same
 *   has MAD 0). Flagged when |z| ≥ {@link Defaults.amountZ} (3.5, Iglewicz and Hoaglin).
 * - `tenant.category_mix` — Jensen–Shannon distance (square root of the divergence, base 2, so in
 *   [0, 1]) between the recent and the older label distributions of the tenant. Flagged when
 *   ≥ {@link Defaults.mixDistance} with at least `minMixN` labels on each side.
 */
import { Money } from "@airlock/ledger"
import type { DriftFinding } from "./ShadowReport.js"

const DAY_MS = 86_400_000

/** One booked proposal as drift sees it. */
export interface Observation {
  readonly vendor_key: string
  readonly account_code: string
  /** Absolute bank amount, minor units (> 0 to count for amounts). */
  readonly amount_minor: bigint
  readonly at: number
}

/** The stated thresholds. */
export interface Thresholds {
  readonly recentDays: number
  readonly alpha: number
  readonly minRecent: number
  readonly minOlder: number
  readonly amountZ: number
  readonly madFloor: number
  readonly mixDistance: number
  readonly minMixN: number
}

/** Defaults: 30-day recent window, α = 0.01, robust z ≥ 3.5, JS distance ≥ 0.25. */
export const Defaults: Thresholds = {
  recentDays: 30,
  alpha: 0.01,
  minRecent: 5,
  minOlder: 10,
  amountZ: 3.5,
  madFloor: 0.05,
  mixDistance: 0.25,
  minMixN: 30
}

/** The standard normal's inverse CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export const normalQuantile = (p: number): number => {
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239
  ]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783
  ]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const lo = 0.02425
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p))
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
  }
  if (p > 1 - lo) return -normalQuantile(1 - p)
  const q = p - 0.5
  const r = q * q
  return (((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
}

/** Two-sided critical value of α. */
export const critical = (alpha: number): number => normalQuantile(1 - alpha / 2)

/** Pooled two-proportion z statistic of x1/n1 against x2/n2 (0 when the pooled variance is 0). */
export const twoProportionZ = (x1: number, n1: number, x2: number, n2: number): number => {
  const p = (x1 + x2) / (n1 + n2)
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
  return se === 0 ? 0 : (x1 / n1 - x2 / n2) / se
}

/** Median of numbers (NaN for none). */
export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Median absolute deviation around the median. */
export const mad = (xs: ReadonlyArray<number>): number => {
  const m = median(xs)
  return median(xs.map((x) => Math.abs(x - m)))
}

/** Jensen–Shannon distance (base 2, in [0, 1]) between two count distributions. */
export const jensenShannon = (p: ReadonlyMap<string, number>, q: ReadonlyMap<string, number>): number => {
  const np = [...p.values()].reduce((s, x) => s + x, 0)
  const nq = [...q.values()].reduce((s, x) => s + x, 0)
  if (np === 0 || nq === 0) return 0
  let div = 0
  for (const k of new Set([...p.keys(), ...q.keys()])) {
    const a = (p.get(k) ?? 0) / np
    const b = (q.get(k) ?? 0) / nq
    const m = (a + b) / 2
    if (a > 0) div += 0.5 * a * Math.log2(a / m)
    if (b > 0) div += 0.5 * b * Math.log2(b / m)
  }
  return Math.sqrt(Math.max(0, Math.min(1, div)))
}

const top = (counts: ReadonlyMap<string, number>): [string, number] | undefined => {
  let best: [string, number] | undefined
  for (const [k, n] of counts) if (best === undefined || n > best[1] || (n === best[1] && k < best[0])) best = [k, n]
  return best
}

const round = (x: number) => Math.round(x * 10_000) / 10_000

interface VendorSide {
  readonly labels: Map<string, number>
  readonly logs: Array<number>
}
interface VendorAcc {
  readonly recent: VendorSide
  readonly older: VendorSide
}

/** Running drift state: fed one observation at a time (memory: one log amount per observation). */
export interface Accumulator {
  readonly now: number
  readonly thresholds: Thresholds
  readonly vendors: Map<string, VendorAcc>
  readonly mixRecent: Map<string, number>
  readonly mixOlder: Map<string, number>
}

/** An empty accumulator for findings as of `now`. */
export const empty = (now: number, thresholds: Thresholds = Defaults): Accumulator => ({
  now,
  thresholds,
  vendors: new Map(),
  mixRecent: new Map(),
  mixOlder: new Map()
})

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)

/** Adds one observation (observations after `now` are ignored). Mutates and returns `acc`. */
export const add = (acc: Accumulator, o: Observation): Accumulator => {
  if (o.at > acc.now) return acc
  const recent = o.at >= acc.now - acc.thresholds.recentDays * DAY_MS
  let v = acc.vendors.get(o.vendor_key)
  if (v === undefined) {
    v = { recent: { labels: new Map(), logs: [] }, older: { labels: new Map(), logs: [] } }
    acc.vendors.set(o.vendor_key, v)
  }
  const side = recent ? v.recent : v.older
  bump(side.labels, o.account_code)
  if (o.amount_minor > 0n) side.logs.push(Math.log(Number(o.amount_minor)))
  bump(recent ? acc.mixRecent : acc.mixOlder, o.account_code)
  return acc
}

const sum = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((s, x) => s + x, 0)

/** The findings of one vendor (labels, then amounts). */
export const vendorFindings = (acc: Accumulator, vendor: string): ReadonlyArray<DriftFinding> => {
  const v = acc.vendors.get(vendor)
  const t = acc.thresholds
  if (v === undefined) return []
  const out: Array<DriftFinding> = []
  const n1 = sum(v.older.labels)
  const n2 = sum(v.recent.labels)
  const best = top(v.older.labels)
  if (best !== undefined && n1 >= t.minOlder && n2 >= t.minRecent) {
    const x2 = v.recent.labels.get(best[0]) ?? 0
    const z = twoProportionZ(best[1], n1, x2, n2)
    const crit = critical(t.alpha)
    if (Math.abs(z) >= crit) {
      const recentTop = top(v.recent.labels)!
      out.push({
        kind: "vendor.labels",
        subject: vendor,
        statistic: round(z),
        threshold: round(crit),
        detail: {
          test: "two_proportion_z",
          alpha: t.alpha,
          account_code: best[0],
          older_share: round(best[1] / n1),
          recent_share: round(x2 / n2),
          older_n: n1,
          recent_n: n2,
          recent_top_account: recentTop[0]
        }
      })
    }
  }
  if (v.older.logs.length >= t.minOlder && v.recent.logs.length >= t.minRecent) {
    const m = median(v.older.logs)
    const spread = Math.max(mad(v.older.logs), t.madFloor)
    const recentMedian = median(v.recent.logs)
    const z = (0.6745 * (recentMedian - m)) / spread
    if (Math.abs(z) >= t.amountZ) {
      out.push({
        kind: "vendor.amounts",
        subject: vendor,
        statistic: round(z),
        threshold: t.amountZ,
        detail: {
          test: "robust_z_log_amount",
          older_median_minor: Math.round(Math.exp(m)),
          recent_median_minor: Math.round(Math.exp(recentMedian)),
          mad_log: round(spread),
          older_n: v.older.logs.length,
          recent_n: v.recent.logs.length
        }
      })
    }
  }
  return out
}

/** Every finding: vendors by key, then the tenant's category mix. */
export const findings = (acc: Accumulator, tenant: string): ReadonlyArray<DriftFinding> => {
  const t = acc.thresholds
  const out: Array<DriftFinding> = []
  for (const vendor of [...acc.vendors.keys()].sort()) out.push(...vendorFindings(acc, vendor))
  const nr = sum(acc.mixRecent)
  const no = sum(acc.mixOlder)
  if (nr >= t.minMixN && no >= t.minMixN) {
    const d = jensenShannon(acc.mixRecent, acc.mixOlder)
    if (d >= t.mixDistance) {
      out.push({
        kind: "tenant.category_mix",
        subject: tenant,
        statistic: round(d),
        threshold: t.mixDistance,
        detail: { test: "jensen_shannon_distance", older_n: no, recent_n: nr }
      })
    }
  }
  return out
}

/**
 * The question a proposal carries for a vendor finding. Amounts are shown as the API shows money
 * (a decimal amount and its currency, e.g. `20.05 USD`); without a currency, in minor units.
 */
export const question = (f: DriftFinding, currency?: string): string =>
  f.kind === "vendor.labels"
    ? `Drift: “${f.subject}” was booked to ${String(f.detail["account_code"])} ${
      Math.round(Number(f.detail["older_share"]) * 100)
    }% of the time before the last 30 days, ${
      Math.round(Number(f.detail["recent_share"]) * 100)
    }% since: has what you buy from it changed?`
    : `Drift: amounts from “${f.subject}” moved from a usual ${money(f.detail["older_median_minor"], currency)} to ${
      money(f.detail["recent_median_minor"], currency)
    } in the last 30 days: is this still the same kind of expense?`

const money = (minor: unknown, currency: string | undefined): string => {
  const text = String(minor)
  if (currency === undefined || !/^-?\d+$/.test(text)) return `${text} (minor units)`
  return `${Money.formatAmount(BigInt(text), currency)} ${currency}`
}

/** The observation of a booked detail (its largest final split), or null when it was not booked. */
export const observe = (d: {
  readonly vendor_key: string
  readonly amount_minor: string
  readonly created_at: number
  readonly corrects_proposal_id: string | null
  readonly review_outcome: string | null
  readonly final_splits: ReadonlyArray<{ readonly account_code: string; readonly amount_minor: string }> | null
}): Observation | null => {
  if (d.corrects_proposal_id !== null) return null
  if (d.review_outcome !== "applied" && d.review_outcome !== "corrected" && d.review_outcome !== "auto_posted") {
    return null
  }
  const splits = d.final_splits ?? []
  if (splits.length === 0) return null
  let best = splits[0]!
  for (const s of splits) {
    const a = BigInt(s.amount_minor)
    const b = BigInt(best.amount_minor)
    if ((a < 0n ? -a : a) > (b < 0n ? -b : b)) best = s
  }
  const amount = BigInt(d.amount_minor)
  return {
    vendor_key: d.vendor_key,
    account_code: best.account_code,
    amount_minor: amount < 0n ? -amount : amount,
    at: d.created_at
  }
}

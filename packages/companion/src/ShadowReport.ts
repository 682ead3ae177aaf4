/**
 * The shadow report: what the companion would have done and how well, over the proposals a tenant
 * received in a window (7, 30 or 180 days), with the rollout runbook's pilot-stage readiness
 * checks. Pure: an incremental accumulator fed one proposal detail at a time (the service pages
 * through storage, so memory stays bounded whatever the window holds), and renderers for JSON,
 * CSV, the reason-counts CSV and a small text chart.
 *
 * Population: the companion's own proposals created in the window (a person's correction, which
 * is also stored as a proposal, is not counted). Definitions — each rate is null when its
 * denominator is 0:
 *
 * - `automation_candidates_rate` = proposals that pass every quality condition of auto-post
 *   (an answer, the vendor not cold-start, a calibrated p ≥ the tenant's threshold, balanced,
 *   budget fallback inactive — none of the reason codes in {@link CandidateBlockers}) / population.
 *   Policy switches (mode, auto-post off, spot check, approval, value breaker, certification) do
 *   not count against a candidate: this is the P1 question "could it be automated?".
 * - `automation_rate` = proposals booked exactly as proposed (auto-posted, or applied by a person
 *   without a change) / population.
 * - `auto_post_rate` = auto-posted / population.
 * - `accuracy` = applied as proposed / reviewed by a person (applied + corrected + rejected).
 *   Auto-posts are not evidence (as for calibration).
 * - `brier`, `ece` (10 uniform bins over [0, 1], as `CalibrationMetrics`) over the person-reviewed
 *   proposals that had a calibrated probability; right = applied as proposed.
 * - `je_imbalance_count` = proposals whose splits do not add up to the bank amount (reason
 *   `autopost.unbalanced`) plus booked ones whose final splits do not.
 * - `reconciliation_rate` = proposals whose bank transaction was booked (applied, corrected or
 *   auto-posted) with splits adding up to the bank amount / population.
 * - `high_confidence` = person-reviewed proposals with calibrated p ≥ the P3 threshold: count and
 *   share right.
 * - `not_auto_post_counts` = per reason code, the proposals not auto-posted under it.
 */
import type { ProposalDetail } from "./CompanionPorts.js"
import type { RolloutThresholds } from "./RolloutConfig.js"

/** The report periods. */
export const Periods = { "7d": 7, "30d": 30, "180d": 180 } as const
/** A report period. */
export type Period = keyof typeof Periods

/** The `schema_version` of the report and of `metrics/latest`. */
export const SCHEMA_VERSION = "1.0"

/** Reason codes that make a proposal no automation candidate. */
export const CandidateBlockers: ReadonlySet<string> = new Set([
  "autopost.no_answer",
  "autopost.vendor_cold_start",
  "autopost.uncalibrated",
  "autopost.below_threshold",
  "autopost.unbalanced",
  "autopost.llm_fallback"
])

const DAY_MS = 86_400_000
const BINS = 10

/** The window of a period ending at `now`: from the start of the UTC day `days` days back. */
export const windowOf = (period: Period, now: number): { readonly start: number; readonly end: number } => ({
  start: Math.floor((now - Periods[period] * DAY_MS) / DAY_MS) * DAY_MS,
  end: now
})

/** A time as the runbook writes it (`2024-09-11T00:00:00Z`). */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().slice(0, 19) + "Z"

const abs = (n: bigint) => (n < 0n ? -n : n)
const sumSplits = (xs: ReadonlyArray<{ readonly amount_minor: string }>) =>
  xs.reduce((s, x) => s + BigInt(x.amount_minor), 0n)

/** The running totals of a report. */
export interface Accumulator {
  population: number
  candidates: number
  autoPosted: number
  asProposed: number
  reviewed: number
  right: number
  open: number
  scored: number
  brierSum: number
  readonly bins: Array<{ count: number; sumP: number; sumY: number }>
  highConfidence: number
  highConfidenceRight: number
  jeImbalance: number
  reconciled: number
  readonly reasons: Map<string, number>
}

/** An empty accumulator. */
export const empty = (): Accumulator => ({
  population: 0,
  candidates: 0,
  autoPosted: 0,
  asProposed: 0,
  reviewed: 0,
  right: 0,
  open: 0,
  scored: 0,
  brierSum: 0,
  bins: Array.from({ length: BINS }, () => ({ count: 0, sumP: 0, sumY: 0 })),
  highConfidence: 0,
  highConfidenceRight: 0,
  jeImbalance: 0,
  reconciled: 0,
  reasons: new Map()
})

/** Adds one proposal detail (corrections are skipped). Mutates and returns `acc`. */
export const add = (acc: Accumulator, d: ProposalDetail, thresholds: RolloutThresholds): Accumulator => {
  if (d.corrects_proposal_id !== null) return acc
  acc.population++
  const reasons = d.not_auto_post_reasons
  if (!reasons.some((r) => CandidateBlockers.has(r))) acc.candidates++
  for (const r of reasons) acc.reasons.set(r, (acc.reasons.get(r) ?? 0) + 1)
  const bank = abs(BigInt(d.amount_minor))
  const unbalanced = reasons.includes("autopost.unbalanced") ||
    (d.final_splits !== null && sumSplits(d.final_splits) !== bank)
  if (unbalanced) acc.jeImbalance++
  const outcome = d.review_outcome
  if (outcome === null) acc.open++
  if (outcome === "auto_posted") acc.autoPosted++
  if (outcome === "auto_posted" || outcome === "applied") acc.asProposed++
  if ((outcome === "auto_posted" || outcome === "applied" || outcome === "corrected") && !unbalanced) acc.reconciled++
  if (outcome === "applied" || outcome === "corrected" || outcome === "rejected") {
    const correct = outcome === "applied"
    acc.reviewed++
    if (correct) acc.right++
    const p = d.calibrated_probability
    if (p !== null) {
      const clipped = Math.min(1, Math.max(0, p))
      const y = correct ? 1 : 0
      acc.scored++
      acc.brierSum += (clipped - y) ** 2
      const bin = acc.bins[Math.min(BINS - 1, Math.floor(clipped * BINS))]!
      bin.count++
      bin.sumP += clipped
      bin.sumY += y
      if (clipped >= thresholds.p3HighConfidenceP) {
        acc.highConfidence++
        if (correct) acc.highConfidenceRight++
      }
    }
  }
  return acc
}

/** One readiness criterion: what was observed, what is required, and whether it passes. */
export interface Criterion {
  readonly name: string
  readonly observed: number | null
  readonly comparator: ">=" | "<="
  readonly required: number
  /** False when nothing was observed (no evidence is no pass). */
  readonly pass: boolean
}

/** A stage transition's readiness: every criterion must pass. */
export interface Readiness {
  readonly ready: boolean
  readonly criteria: ReadonlyArray<Criterion>
}

const criterion = (
  name: string,
  observed: number | null,
  comparator: ">=" | "<=",
  required: number
): Criterion => ({
  name,
  observed,
  comparator,
  required,
  pass: observed !== null && (comparator === ">=" ? observed >= required : observed <= required)
})

const ratio = (n: number, d: number): number | null => (d === 0 ? null : n / d)

/** The LLM spend and budget state the report carries (read by the service). */
export interface LlmInfo {
  readonly spend_usd: string
  readonly months: ReadonlyArray<string>
  readonly fallback_active: boolean
  readonly fallback_reason: string | null
}

/** A tenant's drift finding, as the report carries it. */
export interface DriftFinding {
  readonly kind: string
  readonly subject: string
  readonly statistic: number
  readonly threshold: number
  readonly detail: Record<string, unknown>
}

/** The finished report. */
export interface Report {
  readonly schema_version: string
  readonly tenant_id: string
  readonly period: Period
  readonly window_start_ts: string
  readonly window_end_ts: string
  readonly population_n: number
  readonly automation_candidates_rate: number | null
  readonly automation_rate: number | null
  readonly auto_post_rate: number | null
  readonly accuracy: number | null
  readonly brier: number | null
  readonly ece: number | null
  readonly calibration_bins: ReadonlyArray<{
    readonly lower: number
    readonly upper: number
    readonly count: number
    readonly mean_predicted: number | null
    readonly observed_rate: number | null
  }>
  readonly reviewed_n: number
  readonly scored_n: number
  readonly open_n: number
  readonly auto_posted_n: number
  readonly je_imbalance_count: number
  readonly reconciliation_rate: number | null
  readonly high_confidence: { readonly threshold: number; readonly n: number; readonly accuracy: number | null }
  readonly not_auto_post_counts: Record<string, number>
  readonly llm_spend_usd: string
  readonly llm_spend_months: ReadonlyArray<string>
  readonly llm_budget_status: { readonly fallback_active: boolean; readonly fallback_reason: string | null }
  readonly readiness: { readonly p1_to_p2: Readiness; readonly p2_to_p3: Readiness }
  readonly drift: ReadonlyArray<DriftFinding>
}

/** Finishes a report from the totals. Pure. */
export const finish = (
  acc: Accumulator,
  input: {
    readonly tenant_id: string
    readonly period: Period
    readonly window: { readonly start: number; readonly end: number }
    readonly thresholds: RolloutThresholds
    readonly llm: LlmInfo
    readonly drift?: ReadonlyArray<DriftFinding>
  }
): Report => {
  const t = input.thresholds
  const bins = acc.bins.map((b, i) => ({
    lower: i / BINS,
    upper: (i + 1) / BINS,
    count: b.count,
    mean_predicted: b.count === 0 ? null : b.sumP / b.count,
    observed_rate: b.count === 0 ? null : b.sumY / b.count
  }))
  const ece = acc.scored === 0
    ? null
    : bins.reduce(
      (s, b) => s + (b.count === 0 ? 0 : (b.count / acc.scored) * Math.abs(b.mean_predicted! - b.observed_rate!)),
      0
    )
  const brier = acc.scored === 0 ? null : acc.brierSum / acc.scored
  const candidatesRate = ratio(acc.candidates, acc.population)
  const highAccuracy = ratio(acc.highConfidenceRight, acc.highConfidence)
  const reconciliation = ratio(acc.reconciled, acc.population)
  const p1: ReadonlyArray<Criterion> = [
    criterion("automation_candidates_rate", candidatesRate, ">=", t.p2MinCandidatesRate),
    criterion("je_imbalance_count", acc.population === 0 ? null : acc.jeImbalance, "<=", t.p2MaxJeImbalance),
    criterion("brier", brier, "<=", t.p2MaxBrier)
  ]
  const p2: ReadonlyArray<Criterion> = [
    criterion("high_confidence_accuracy", highAccuracy, ">=", t.p3MinHighConfidenceAccuracy),
    criterion("reconciliation_rate", reconciliation, ">=", t.p3MinReconciliationRate)
  ]
  return {
    schema_version: SCHEMA_VERSION,
    tenant_id: input.tenant_id,
    period: input.period,
    window_start_ts: isoSeconds(input.window.start),
    window_end_ts: isoSeconds(input.window.end),
    population_n: acc.population,
    automation_candidates_rate: candidatesRate,
    automation_rate: ratio(acc.asProposed, acc.population),
    auto_post_rate: ratio(acc.autoPosted, acc.population),
    accuracy: ratio(acc.right, acc.reviewed),
    brier,
    ece,
    calibration_bins: bins,
    reviewed_n: acc.reviewed,
    scored_n: acc.scored,
    open_n: acc.open,
    auto_posted_n: acc.autoPosted,
    je_imbalance_count: acc.jeImbalance,
    reconciliation_rate: reconciliation,
    high_confidence: { threshold: t.p3HighConfidenceP, n: acc.highConfidence, accuracy: highAccuracy },
    not_auto_post_counts: Object.fromEntries([...acc.reasons.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    llm_spend_usd: input.llm.spend_usd,
    llm_spend_months: input.llm.months,
    llm_budget_status: { fallback_active: input.llm.fallback_active, fallback_reason: input.llm.fallback_reason },
    readiness: {
      p1_to_p2: { ready: p1.every((c) => c.pass), criteria: p1 },
      p2_to_p3: { ready: p2.every((c) => c.pass), criteria: p2 }
    },
    drift: input.drift ?? []
  }
}

/** The `metrics/latest` document: the report's headline fields (schema 1.0). */
export const metricsLatest = (r: Report) => ({
  schema_version: r.schema_version,
  tenant_id: r.tenant_id,
  period: r.period,
  window_start_ts: r.window_start_ts,
  window_end_ts: r.window_end_ts,
  population_n: r.population_n,
  automation_candidates_rate: r.automation_candidates_rate,
  automation_rate: r.automation_rate,
  auto_post_rate: r.auto_post_rate,
  accuracy: r.accuracy,
  brier: r.brier,
  ece: r.ece,
  je_imbalance_count: r.je_imbalance_count,
  llm_budget_status: r.llm_budget_status,
  not_auto_post_counts: r.not_auto_post_counts
})

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? "" : String(v)
  // a leading formula character is neutralised so a spreadsheet never evaluates a cell
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

/** CSV lines from rows. */
export const csv = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>): string =>
  [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n"

/** One CSV line (with its newline), quoted as {@link csv} quotes. */
export const csvLine = (row: ReadonlyArray<unknown>): string => row.map(csvCell).join(",") + "\n"

/** The report as `metric,value` CSV. */
export const toCsv = (r: Report): string =>
  csv(["metric", "value"], [
    ["schema_version", r.schema_version],
    ["tenant_id", r.tenant_id],
    ["period", r.period],
    ["window_start_ts", r.window_start_ts],
    ["window_end_ts", r.window_end_ts],
    ["population_n", r.population_n],
    ["automation_candidates_rate", r.automation_candidates_rate],
    ["automation_rate", r.automation_rate],
    ["auto_post_rate", r.auto_post_rate],
    ["accuracy", r.accuracy],
    ["brier", r.brier],
    ["ece", r.ece],
    ["reviewed_n", r.reviewed_n],
    ["scored_n", r.scored_n],
    ["open_n", r.open_n],
    ["auto_posted_n", r.auto_posted_n],
    ["je_imbalance_count", r.je_imbalance_count],
    ["reconciliation_rate", r.reconciliation_rate],
    ["high_confidence_n", r.high_confidence.n],
    ["high_confidence_accuracy", r.high_confidence.accuracy],
    ["llm_spend_usd", r.llm_spend_usd],
    ["llm_fallback_active", r.llm_budget_status.fallback_active],
    ["llm_fallback_reason", r.llm_budget_status.fallback_reason],
    ["p1_to_p2_ready", r.readiness.p1_to_p2.ready],
    ["p2_to_p3_ready", r.readiness.p2_to_p3.ready],
    ["drift_findings", r.drift.length]
  ])

/** The reason counts as `reason,count` CSV, largest first. */
export const reasonCountsCsv = (r: Report): string =>
  csv(
    ["reason", "count"],
    Object.entries(r.not_auto_post_counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
  )

const pct = (x: number | null) => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`)
const bar = (x: number, width = 30) => "#".repeat(Math.round(Math.max(0, Math.min(1, x)) * width)).padEnd(width, ".")

/** A small text chart: the rates, the reason counts and the reliability bins. */
export const textChart = (r: Report): string => {
  const lines: Array<string> = []
  lines.push(
    `Shadow report ${r.tenant_id} ${r.period} (${r.window_start_ts} .. ${r.window_end_ts}), n = ${r.population_n}`
  )
  lines.push("")
  const rates: ReadonlyArray<[string, number | null]> = [
    ["automation candidates", r.automation_candidates_rate],
    ["automation", r.automation_rate],
    ["auto-post", r.auto_post_rate],
    ["accuracy", r.accuracy],
    ["reconciliation", r.reconciliation_rate]
  ]
  for (const [name, x] of rates) lines.push(`${name.padEnd(22)} ${bar(x ?? 0)} ${pct(x)}`)
  lines.push(`${"brier".padEnd(22)} ${r.brier === null ? "n/a" : r.brier.toFixed(3)}`)
  lines.push(`${"ece".padEnd(22)} ${r.ece === null ? "n/a" : r.ece.toFixed(3)}`)
  lines.push("")
  lines.push("not auto-posted, by reason")
  const reasons = Object.entries(r.not_auto_post_counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
  const most = reasons[0]?.[1] ?? 0
  for (const [reason, n] of reasons) lines.push(`${reason.padEnd(30)} ${bar(most === 0 ? 0 : n / most)} ${n}`)
  if (reasons.length === 0) lines.push("(none)")
  lines.push("")
  lines.push("reliability (predicted -> observed)")
  for (const b of r.calibration_bins) {
    if (b.count === 0) continue
    lines.push(
      `[${b.lower.toFixed(1)}, ${b.upper.toFixed(1)}) n=${String(b.count).padStart(5)} ` +
        `p=${b.mean_predicted!.toFixed(2)} obs=${b.observed_rate!.toFixed(2)}`
    )
  }
  lines.push("")
  for (const [stage, rd] of [["P1 -> P2", r.readiness.p1_to_p2], ["P2 -> P3", r.readiness.p2_to_p3]] as const) {
    lines.push(`${stage}: ${rd.ready ? "READY" : "NOT READY"}`)
    for (const c of rd.criteria) {
      lines.push(
        `  ${c.pass ? "pass" : "FAIL"} ${c.name} ${
          c.observed === null ? "n/a" : c.observed
        } ${c.comparator} ${c.required}`
      )
    }
  }
  return lines.join("\n") + "\n"
}

/** A file the CLI writes. */
export interface ReportFile {
  readonly name: string
  readonly contents: string
}

/**
 * The four files of the rollout runbook for a report: `shadow_report_<tenant>_<period>.json`,
 * `shadow_report_<tenant>_<period>.csv`, `shadow_reason_counts_<tenant>_<period>.csv`,
 * `shadow_charts_<tenant>_<period>.txt`. Pure: the caller writes them.
 */
export const files = (r: Report): ReadonlyArray<ReportFile> => {
  const tag = `${r.tenant_id}_${r.period}`
  return [
    { name: `shadow_report_${tag}.json`, contents: JSON.stringify(r, null, 2) + "\n" },
    { name: `shadow_report_${tag}.csv`, contents: toCsv(r) },
    { name: `shadow_reason_counts_${tag}.csv`, contents: reasonCountsCsv(r) },
    { name: `shadow_charts_${tag}.txt`, contents: textChart(r) }
  ]
}

/**
 * KPI alerts (ops console runbook, "KPI Alerts"): for `Landing -> Run CTR`, `Replay Completion`,
 * D1 and D7, the latest day's value is compared with the average of the 7 days before it; a drop
 * of at least the warning percent warns, of at least the critical percent is critical.
 *
 * - Rates: the latest day with traffic (a non-zero denominator) against the mean of the daily
 *   rates of the 7 calendar days before it that had traffic.
 * - D1 / D7: only mature cohorts of minimum size count, for the latest value and for the
 *   average alike (no early false positives); a cohort is mature when its rollup's counts were
 *   taken after its window ended (`KpiRollups.isSettled`).
 * - No day before the latest to average over: no alert (`insufficient_history`).
 *
 * The comparison is exact: rates are rationals of counts (bigint), so a drop of exactly the
 * threshold is caught, and the percentages shown are rendered from the same rationals.
 */
import { type Actor, type Errors, Rbac, TenantScope } from "@airlock/core"
import { Clock, Effect, Schema } from "effect"
import { KpiConfig, type KpiSettings } from "./KpiConfig.js"
import { dayIndexOf, dayText, isSettled, KpiRollups, rateCounts } from "./KpiRollups.js"
import { type DailyRollup, KpiStore } from "./KpiStore.js"

/** An exact non-negative ratio `n / d` (d > 0). */
export interface Ratio {
  readonly n: bigint
  readonly d: bigint
}

const ratio = (n: number | bigint, d: number | bigint): Ratio => ({ n: BigInt(n), d: BigInt(d) })

/** The mean of ratios, exact. */
export const mean = (xs: ReadonlyArray<Ratio>): Ratio => {
  let n = 0n
  let d = 1n
  for (const x of xs) {
    n = n * x.d + x.n * d
    d = d * x.d
  }
  return { n, d: d * BigInt(xs.length) }
}

/** A ratio as a percentage with two decimals, half up (`"12.50%"`). */
export const ratioPercent = (r: Ratio): string => {
  const hundredths = (r.n * 20_000n + r.d) / (2n * r.d)
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, "0")}%`
}

/** The relative drop of `latest` below `average` (0 when it did not drop), as a ratio. Needs `average > 0`. */
export const dropOf = (latest: Ratio, average: Ratio): Ratio => {
  // (a − l) / a = (a.n·l.d − l.n·a.d) / (a.n·l.d)
  const diff = average.n * latest.d - latest.n * average.d
  return diff <= 0n ? { n: 0n, d: 1n } : { n: diff, d: average.n * latest.d }
}

/** Is `drop >= percent / 100`? */
export const atLeastPercent = (drop: Ratio, percent: number): boolean => drop.n * 100n >= BigInt(percent) * drop.d

/** The metrics alerts watch, by name: the configured alert rates, then `D1` and `D7`. */
export type AlertMetric = string

/** How bad a drop is. */
export const Severity = Schema.Literal("warning", "critical")
/** Type of {@link Severity}. */
export type Severity = typeof Severity.Type

/** One alert. */
export const KpiAlert = Schema.Struct({
  metric: Schema.String,
  severity: Severity,
  /** The latest day (a rate) or the latest mature cohort day (D1 / D7). */
  day: Schema.String,
  latest_percent: Schema.String,
  latest_numerator: Schema.Number,
  latest_denominator: Schema.Number,
  average_percent: Schema.String,
  /** How many days the average is over (1 to 7). */
  average_days: Schema.Number,
  drop_percent: Schema.String,
  threshold_percent: Schema.Number
}).annotations({ identifier: "KpiAlert" })
/** Type of {@link KpiAlert}. */
export type KpiAlert = typeof KpiAlert.Type

/** What the evaluation found for one metric. */
export const MetricCheck = Schema.Struct({
  metric: Schema.String,
  status: Schema.Literal("ok", "warning", "critical", "insufficient_history", "no_data"),
  day: Schema.NullOr(Schema.String)
})
/** Type of {@link MetricCheck}. */
export type MetricCheck = typeof MetricCheck.Type

/** `GET /api/admin/kpi/alerts`. */
export const AlertReport = Schema.Struct({
  tenant_id: Schema.String,
  evaluated_at: Schema.Number,
  critical: Schema.Number,
  warning: Schema.Number,
  alerts: Schema.Array(KpiAlert),
  checks: Schema.Array(MetricCheck),
  thresholds: Schema.Struct({
    warning_drop_percent: Schema.Number,
    critical_drop_percent: Schema.Number,
    min_cohort: Schema.Number
  })
}).annotations({ identifier: "KpiAlertReport" })
/** Type of {@link AlertReport}. */
export type AlertReport = typeof AlertReport.Type

/** The days alerts read: the latest day, D7's latest mature cohort (day − 8) and the 7 days before it. */
export const ALERT_LOOKBACK_DAYS = 16

interface Point {
  readonly day: number
  readonly value: Ratio
  readonly numerator: number
  readonly denominator: number
}

const check = (
  metric: string,
  points: ReadonlyArray<Point>,
  settings: Pick<KpiSettings, "alertWarningDropPercent" | "alertCriticalDropPercent">
): { readonly check: MetricCheck; readonly alert: KpiAlert | null } => {
  const sorted = [...points].sort((a, b) => b.day - a.day)
  const latest = sorted[0]
  if (latest === undefined) return { check: { metric, status: "no_data", day: null }, alert: null }
  const window = sorted.filter((p) => p.day < latest.day && p.day >= latest.day - 7)
  if (window.length === 0) {
    return { check: { metric, status: "insufficient_history", day: dayText(latest.day) }, alert: null }
  }
  const average = mean(window.map((p) => p.value))
  if (average.n === 0n) return { check: { metric, status: "ok", day: dayText(latest.day) }, alert: null }
  const drop = dropOf(latest.value, average)
  const severity: Severity | null = atLeastPercent(drop, settings.alertCriticalDropPercent)
    ? "critical"
    : atLeastPercent(drop, settings.alertWarningDropPercent)
    ? "warning"
    : null
  if (severity === null) return { check: { metric, status: "ok", day: dayText(latest.day) }, alert: null }
  return {
    check: { metric, status: severity, day: dayText(latest.day) },
    alert: {
      metric,
      severity,
      day: dayText(latest.day),
      latest_percent: ratioPercent(latest.value),
      latest_numerator: latest.numerator,
      latest_denominator: latest.denominator,
      average_percent: ratioPercent(average),
      average_days: window.length,
      drop_percent: ratioPercent(drop),
      threshold_percent: severity === "critical" ? settings.alertCriticalDropPercent : settings.alertWarningDropPercent
    }
  }
}

/** Evaluates the alerts over a tenant's rollups (any order) at `now`. Pure. */
export const evaluate = (
  tenant: string,
  rollups: ReadonlyArray<DailyRollup>,
  settings: Pick<
    KpiSettings,
    "rates" | "alertRates" | "alertWarningDropPercent" | "alertCriticalDropPercent" | "retentionMinCohort"
  >,
  now: number
): AlertReport => {
  const checks: Array<MetricCheck> = []
  const alerts: Array<KpiAlert> = []
  const add = (r: { readonly check: MetricCheck; readonly alert: KpiAlert | null }) => {
    checks.push(r.check)
    if (r.alert !== null) alerts.push(r.alert)
  }
  for (const name of settings.alertRates) {
    const rate = settings.rates.find((r) => r.name === name)
    if (rate === undefined) continue
    const points: Array<Point> = []
    for (const r of rollups) {
      const { denominator, numerator } = rateCounts(r, rate)
      if (denominator > 0)
        points.push({ day: r.day_index, value: ratio(numerator, denominator), numerator, denominator })
    }
    add(check(name, points, settings))
  }
  for (const n of [1, 7] as const) {
    const points: Array<Point> = []
    for (const r of rollups) {
      if (!isSettled(r, n, now) || r.cohort_size < settings.retentionMinCohort) continue
      const retained = n === 1 ? r.d1_retained : r.d7_retained
      points.push({
        day: r.day_index,
        value: ratio(retained, r.cohort_size),
        numerator: retained,
        denominator: r.cohort_size
      })
    }
    add(check(`D${n}`, points, settings))
  }
  return {
    tenant_id: tenant,
    evaluated_at: now,
    critical: alerts.filter((a) => a.severity === "critical").length,
    warning: alerts.filter((a) => a.severity === "warning").length,
    alerts,
    checks,
    thresholds: {
      warning_drop_percent: settings.alertWarningDropPercent,
      critical_drop_percent: settings.alertCriticalDropPercent,
      min_cohort: settings.retentionMinCohort
    }
  }
}

/** Evaluates KPI alerts: over stored rollups for the console, over freshly computed ones for the notify task. */
export class KpiAlerts extends Effect.Service<KpiAlerts>()("@airlock/ops/KpiAlerts", {
  effect: Effect.gen(function*() {
    const rollups = yield* KpiRollups
    const store = yield* KpiStore
    const settings = yield* KpiConfig
    const rbac = yield* Rbac.Rbac

    /**
     * A tenant's alert report now over rollups recomputed (and stored) for the lookback first — a
     * write: for the notify task and a host's code, no RBAC.
     */
    const evaluateFor = (tenant: string): Effect.Effect<AlertReport, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const today = dayIndexOf(now)
        const rows = yield* rollups.compute(tenant, today - ALERT_LOOKBACK_DAYS + 1, today)
        return evaluate(tenant, rows, settings, now)
      })

    /** A tenant's alert report now over its stored rollups of the lookback (reads only; no RBAC). */
    const evaluateStored = (tenant: string): Effect.Effect<AlertReport, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const today = dayIndexOf(now)
        const rows = yield* store.listRollups(tenant, today - ALERT_LOOKBACK_DAYS + 1, today)
        return evaluate(tenant, rows, settings, now)
      })

    /**
     * `GET /api/admin/kpi/alerts`: over the stored rollups (as fresh as the last rollup run; reads
     * only); needs `ops.read` (another tenant: `tenant.cross`).
     */
    const list = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<AlertReport, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        return yield* evaluateStored(yield* TenantScope.acting(rbac, actor, tenant))
      })

    return { evaluateFor, evaluateStored, list } as const
  }),
  dependencies: [KpiRollups.Default]
}) {}

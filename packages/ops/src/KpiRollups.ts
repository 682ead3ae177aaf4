/**
 * Daily KPI rollups per tenant (ops console runbook, "KPI Rollups"): counts per funnel step, the
 * funnel rates (`Landing -> Run CTR`, `Run -> Replay Start`, `Replay Completion`) and D1 / D7
 * retention by cohort day. Only counts are stored; a rate is the exact ratio of two counts,
 * rendered as a percentage at the edge ({@link percentText}: integer arithmetic, two decimals,
 * half up), so no float ever drifts into a stored value.
 *
 * Retention maturity: a cohort's D1 reads `n/a` until its day + 1 is over (the clock is at or past
 * the start of day + 2) and D7 until day + 7 is over (day + 8), and both read `n/a` while the
 * cohort is smaller than `AIRLOCK_KPI_RETENTION_MIN_COHORT`.
 */
import { type Actor, Calendar, Errors, Rbac, TenantScope } from "@airlock/core"
import { Clock, Effect, Schema } from "effect"
import { type CohortCount, ProductEventStore, type StepCount } from "./EventStore.js"
import { KpiConfig, type KpiSettings } from "./KpiConfig.js"
import { DailyRollup, KpiStore, type StepFigures } from "./KpiStore.js"

/** Milliseconds in a UTC day. */
export const DAY_MS = 86_400_000

/** The UTC day index (days since 1970-01-01) of an epoch-millisecond time. */
export const dayIndexOf = (ms: number): number => Math.floor(ms / DAY_MS)

const pad = (n: number, w: number) => String(n).padStart(w, "0")

/** `YYYY-MM-DD` of a day index (a negative year as `-YYYY`, so the year always has 4 digits). */
export const dayText = (index: number): string => {
  const { d, m, y } = Calendar.civilFromDays(index)
  return `${y < 0 ? "-" : ""}${pad(Math.abs(y), 4)}-${pad(m, 2)}-${pad(d, 2)}`
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** The day index of a `YYYY-MM-DD` date, or null when it is not a real calendar date. */
export const parseDay = (text: string): number | null => {
  const match = DATE.exec(text)
  if (match === null) return null
  const y = Number(match[1])
  const m = Number(match[2])
  const d = Number(match[3])
  if (m < 1 || m > 12 || d < 1 || d > 31) return null
  const index = Calendar.daysFromCivil(y, m, d)
  return dayText(index) === text ? index : null
}

/** `numerator / denominator` as a percentage with two decimals, half up (`"33.33%"`); `"n/a"` over 0. */
export const percentText = (numerator: number, denominator: number): string => {
  if (denominator <= 0) return "n/a"
  // hundredths of a percent, rounded half up: floor((n · 10000 · 2 + d) / (2 · d))
  const n = BigInt(numerator)
  const d = BigInt(denominator)
  const hundredths = (n * 20_000n + d) / (2n * d)
  return `${hundredths / 100n}.${pad(Number(hundredths % 100n), 2)}%`
}

/** Is a cohort of `day` old enough for its D`n` figure at `now` (is day + n over)? */
export const isMature = (day: number, n: 1 | 7, now: number): boolean => now >= (day + n + 1) * DAY_MS

/**
 * Builds the rollup rows of `fromDay..toDay` from the store's aggregates: every day of the range
 * (zeros where nothing happened), every configured step. Pure.
 */
export const buildRollups = (
  tenant: string,
  fromDay: number,
  toDay: number,
  steps: ReadonlyArray<string>,
  counts: ReadonlyArray<StepCount>,
  cohorts: ReadonlyArray<CohortCount>,
  computedAt: number
): ReadonlyArray<DailyRollup> => {
  const byDay = new Map<number, Record<string, StepFigures>>()
  for (const c of counts) {
    if (!steps.includes(c.step)) continue
    const row = byDay.get(c.day) ?? {}
    row[c.step] = { events: c.events, subjects: c.subjects }
    byDay.set(c.day, row)
  }
  const cohortByDay = new Map(cohorts.map((c) => [c.day, c]))
  const out: Array<DailyRollup> = []
  for (let day = toDay; day >= fromDay; day--) {
    const found = byDay.get(day) ?? {}
    const figures: Record<string, StepFigures> = {}
    for (const step of steps) figures[step] = found[step] ?? { events: 0, subjects: 0 }
    const cohort = cohortByDay.get(day)
    out.push(
      new DailyRollup({
        tenant_id: tenant,
        day: dayText(day),
        day_index: day,
        steps: figures,
        cohort_size: cohort?.size ?? 0,
        d1_retained: cohort?.d1 ?? 0,
        d7_retained: cohort?.d7 ?? 0,
        computed_at: computedAt
      }, true)
    )
  }
  return out
}

/** A rendered funnel rate: its counts and the percentage. */
export const RenderedRate = Schema.Struct({
  name: Schema.String,
  from_step: Schema.String,
  to_step: Schema.String,
  numerator: Schema.Number,
  denominator: Schema.Number,
  /** `"40.00%"`, or `"n/a"` when nobody reached `from_step`. */
  percent: Schema.String
})
/** Type of {@link RenderedRate}. */
export type RenderedRate = typeof RenderedRate.Type

/** Why a retention figure reads `n/a` (or `ok` when it does not). */
export const RetentionStatus = Schema.Literal("ok", "immature", "small_cohort")
/** Type of {@link RetentionStatus}. */
export type RetentionStatus = typeof RetentionStatus.Type

/** A rendered retention figure. */
export const RenderedRetention = Schema.Struct({
  cohort_size: Schema.Number,
  retained: Schema.Number,
  mature: Schema.Boolean,
  min_cohort: Schema.Number,
  status: RetentionStatus,
  /** `"33.33%"` for a mature cohort of minimum size, `"n/a"` otherwise. */
  percent: Schema.String
})
/** Type of {@link RenderedRetention}. */
export type RenderedRetention = typeof RenderedRetention.Type

/** A rollup as served (`GET /api/admin/kpi/rollups`). */
export const RenderedRollup = Schema.Struct({
  tenant_id: Schema.String,
  day: Schema.String,
  steps: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ events: Schema.Number, subjects: Schema.Number })
  }),
  rates: Schema.Array(RenderedRate),
  retention: Schema.Struct({ D1: RenderedRetention, D7: RenderedRetention }),
  computed_at: Schema.Number
}).annotations({ identifier: "KpiRollup" })
/** Type of {@link RenderedRollup}. */
export type RenderedRollup = typeof RenderedRollup.Type

/** The counts of a rate on a rollup. */
export const rateCounts = (
  rollup: DailyRollup,
  rate: { readonly from: string; readonly to: string }
): { readonly numerator: number; readonly denominator: number } => ({
  numerator: rollup.steps[rate.to]?.subjects ?? 0,
  denominator: rollup.steps[rate.from]?.subjects ?? 0
})

/**
 * Was the rollup's D`n` window over when its counts were taken (and is it at `now`)? A stored
 * rollup computed before day + n ended holds a partial count: it stays `immature` until a later
 * computation, however late it is read. Pure.
 */
export const isSettled = (rollup: DailyRollup, n: 1 | 7, now: number): boolean =>
  isMature(rollup.day_index, n, Math.min(now, rollup.computed_at))

/** The D1 / D7 figure of a rollup at `now` (mature only when its counts were taken after the window: {@link isSettled}). Pure. */
export const retentionOf = (
  rollup: DailyRollup,
  n: 1 | 7,
  now: number,
  minCohort: number
): RenderedRetention => {
  const retained = n === 1 ? rollup.d1_retained : rollup.d7_retained
  const mature = isSettled(rollup, n, now)
  const status: RetentionStatus = !mature ? "immature" : rollup.cohort_size < minCohort ? "small_cohort" : "ok"
  return {
    cohort_size: rollup.cohort_size,
    retained,
    mature,
    min_cohort: minCohort,
    status,
    percent: status === "ok" ? percentText(retained, rollup.cohort_size) : "n/a"
  }
}

/** Renders a stored rollup with the settings' rates and the maturity rule at `now`. Pure. */
export const render = (
  rollup: DailyRollup,
  settings: Pick<KpiSettings, "rates" | "retentionMinCohort">,
  now: number
): RenderedRollup => ({
  tenant_id: rollup.tenant_id,
  day: rollup.day,
  steps: rollup.steps,
  rates: settings.rates.map((rate) => {
    const { denominator, numerator } = rateCounts(rollup, rate)
    return {
      name: rate.name,
      from_step: rate.from,
      to_step: rate.to,
      numerator,
      denominator,
      percent: percentText(numerator, denominator)
    }
  }),
  retention: {
    D1: retentionOf(rollup, 1, now, settings.retentionMinCohort),
    D7: retentionOf(rollup, 7, now, settings.retentionMinCohort)
  },
  computed_at: rollup.computed_at
})

/** The widest range one rollup request may span, in days. */
export const MAX_RANGE_DAYS = 366

/** The default range of `GET /api/admin/kpi/rollups`: the last 30 days, today included. */
export const DEFAULT_RANGE_DAYS = 30

/** The days a rollup task recomputes: today and the 8 before it (D7 of day − 8 completes today). */
export const TASK_DAYS = 9

/** Query of a rollup listing: `YYYY-MM-DD` dates, both optional. */
export interface RollupQuery {
  readonly from?: string
  readonly to?: string
}

const badRange = (message: string, details: Record<string, unknown>) =>
  new Errors.ValidationError({ code: "validation.kpi_range", message, details })

/** Resolves a query's range at `now`: `[from, to]` day indexes, or a `validation.kpi_range` error. */
export const resolveRange = (
  query: RollupQuery,
  now: number
): Effect.Effect<{ readonly from: number; readonly to: number }, Errors.ValidationError> => {
  const parse = (field: "from" | "to", text: string | undefined) => {
    if (text === undefined) return Effect.succeed(null)
    const day = parseDay(text)
    return day === null
      ? Effect.fail(badRange(`${field} must be a date YYYY-MM-DD`, { field, value: text }))
      : Effect.succeed(day)
  }
  return Effect.gen(function*() {
    const fromGiven = yield* parse("from", query.from)
    const toGiven = yield* parse("to", query.to)
    const to = toGiven ?? (fromGiven !== null ? fromGiven + DEFAULT_RANGE_DAYS - 1 : dayIndexOf(now))
    const from = fromGiven ?? to - DEFAULT_RANGE_DAYS + 1
    if (from > to) return yield* badRange("from must not be after to", { from: dayText(from), to: dayText(to) })
    if (to - from + 1 > MAX_RANGE_DAYS) {
      return yield* badRange(`a range spans at most ${MAX_RANGE_DAYS} days`, {
        from: dayText(from),
        to: dayText(to),
        max_days: MAX_RANGE_DAYS
      })
    }
    return { from, to }
  })
}

/** The rollups of a tenant, served: the range and its days, latest first. */
export interface RollupPage {
  readonly tenant_id: string
  readonly from: string
  readonly to: string
  readonly rollups: ReadonlyArray<RenderedRollup>
}

/** Computes and stores daily rollups (on demand and as a task), and serves the stored ones. */
export class KpiRollups extends Effect.Service<KpiRollups>()("@airlock/ops/KpiRollups", {
  effect: Effect.gen(function*() {
    const events = yield* ProductEventStore
    const store = yield* KpiStore
    const settings = yield* KpiConfig
    const rbac = yield* Rbac.Rbac

    /**
     * Recomputes a tenant's rollups of `fromDay..toDay` from its events (SQL aggregates, never the
     * events themselves), stores them, and returns them latest first. Idempotent.
     */
    const compute = (
      tenant: string,
      fromDay: number,
      toDay: number
    ): Effect.Effect<ReadonlyArray<DailyRollup>, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const counts = yield* events.stepCounts(tenant, fromDay, toDay)
        const cohorts = yield* events.cohorts(tenant, fromDay, toDay)
        const rows = buildRollups(tenant, fromDay, toDay, settings.steps, counts, cohorts, now)
        yield* store.putRollups(rows)
        return rows
      })

    const page = (
      target: string,
      range: { readonly from: number; readonly to: number },
      rows: ReadonlyArray<DailyRollup>,
      now: number
    ): RollupPage => ({
      tenant_id: target,
      from: dayText(range.from),
      to: dayText(range.to),
      rollups: rows.map((r) => render(r, settings, now))
    })

    /**
     * `GET /api/admin/kpi/rollups`: the tenant's **stored** rollups of the range (default the last
     * 30 days), latest day first; a day never computed is absent. Reads only: computing is
     * {@link run} or the rollup task. Needs `ops.read` (another tenant: `tenant.cross`).
     */
    const list = (
      actor: Actor.Actor,
      query: RollupQuery,
      tenant?: string
    ): Effect.Effect<RollupPage, Errors.Forbidden | Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const range = yield* resolveRange(query, now)
        return page(target, range, yield* store.listRollups(target, range.from, range.to), now)
      })

    /**
     * `POST /api/admin/kpi/rollups/run`: recomputes the tenant's rollups of the range (default the
     * last 30 days) from its events, stores them and answers them latest day first (every day of
     * the range). Idempotent. Needs `ops.write` (another tenant: `tenant.cross`).
     */
    const run = (
      actor: Actor.Actor,
      query: RollupQuery,
      tenant?: string
    ): Effect.Effect<RollupPage, Errors.Forbidden | Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const range = yield* resolveRange(query, now)
        return page(target, range, yield* compute(target, range.from, range.to), now)
      })

    /** The rollup task: recomputes the last {@link TASK_DAYS} days of every tenant with events in them. */
    const runTask: Effect.Effect<
      { readonly tenants: ReadonlyArray<string>; readonly from: string; readonly to: string },
      Errors.StorageError
    > = Effect.gen(function*() {
      const today = dayIndexOf(yield* Clock.currentTimeMillis)
      const from = today - TASK_DAYS + 1
      const tenants = yield* events.tenantsSince(from)
      for (const tenant of tenants) yield* compute(tenant, from, today)
      return { tenants, from: dayText(from), to: dayText(today) }
    })

    return { compute, list, run, runTask } as const
  })
}) {}

/**
 * The daily rollup as a task a scheduler calls (a plain Effect): recomputes the last
 * {@link TASK_DAYS} days of every tenant that has events in them.
 */
export const rollupTask: Effect.Effect<
  { readonly tenants: ReadonlyArray<string>; readonly from: string; readonly to: string },
  Errors.StorageError,
  KpiRollups
> = Effect.flatMap(KpiRollups, (s) => s.runTask)

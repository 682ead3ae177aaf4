/**
 * Baseline snapshots (ops console runbook, "Baseline Snapshot Capture"): run before major tuning
 * changes and after major rollouts. One JSON document holds the active budgets and stop-condition
 * thresholds, the current daily LLM spend and call counters, the recent provider failure rate
 * and the rolling metric windows (`windows` × `window_minutes`, default 24 × 5). Each capture is
 * stored (history) and becomes the tenant's `latest`. {@link baselineFiles} gives the runbook's
 * two files, `baseline_latest.json` and `metrics/metrics_latest.json`, for the CLI to write.
 */
import { type Actor, Audit, Errors, Ids, Rbac, TenantScope } from "@airlock/core"
import {
  Breakers,
  Budgets,
  BudgetStore,
  CounterStore,
  GuardrailsConfig,
  StopConditions,
  Usd,
  Windows
} from "@airlock/guardrails"
import { Clock, Effect, Option, Schema } from "effect"
import { ProductEventStore } from "./EventStore.js"
import { KpiConfig } from "./KpiConfig.js"
import { dayIndexOf, dayText, percentText } from "./KpiRollups.js"
import { BaselineRecord, KpiStore } from "./KpiStore.js"

/** The document's schema version. */
export const SCHEMA_VERSION = 1

/** Body of `POST /api/admin/baseline` (the runbook's `--windows 24 --window-minutes 5`). */
export const BaselineInput = Schema.Struct({
  windows: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 1000))),
  window_minutes: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 1440)))
}).annotations({ identifier: "BaselineInput" })
/** Type of {@link BaselineInput}. */
export type BaselineInput = typeof BaselineInput.Type

/** The longest span the windows may cover together: 31 days. */
export const MAX_SPAN_MINUTES = 31 * 24 * 60

/** The exported files of a snapshot, by path relative to the output directory. */
export interface BaselineFile {
  readonly path: "baseline_latest.json" | "metrics/metrics_latest.json"
  readonly document: unknown
  /** The document as written: two-space JSON and a final newline. */
  readonly text: string
}

const fileText = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`

/**
 * The runbook's two files from a stored snapshot: `baseline_latest.json` (the whole document)
 * and `metrics/metrics_latest.json` (the rolling metric windows with the snapshot's identity).
 */
export const baselineFiles = (record: BaselineRecord): ReadonlyArray<BaselineFile> => {
  const doc = record.document as { readonly metrics?: unknown }
  const metrics = {
    schema_version: SCHEMA_VERSION,
    kind: "airlock.metrics",
    baseline_id: record.id,
    tenant_id: record.tenant_id,
    captured_at: record.captured_at,
    ...(typeof doc.metrics === "object" && doc.metrics !== null ? doc.metrics : {})
  }
  return [
    { path: "baseline_latest.json", document: record.document, text: fileText(record.document) },
    { path: "metrics/metrics_latest.json", document: metrics, text: fileText(metrics) }
  ]
}

/**
 * Captures and serves baseline snapshots. Reads the guardrails services (`LlmBudget`,
 * `ExecutionBudgets`, `StopConditions`) and stores the host provides with `Guardrails.layer`.
 */
export class Baselines extends Effect.Service<Baselines>()("@airlock/ops/Baselines", {
  effect: Effect.gen(function*() {
    const store = yield* KpiStore
    const events = yield* ProductEventStore
    const settings = yield* KpiConfig
    const guard = yield* GuardrailsConfig.GuardrailsConfig
    const llm = yield* Budgets.LlmBudget
    const exec = yield* Budgets.ExecutionBudgets
    const stops = yield* StopConditions.StopConditions
    const budgets = yield* BudgetStore.BudgetStore
    const counters = yield* CounterStore.CounterStore
    const breakers = yield* Breakers.BreakerStore
    const ids = yield* Ids.IdGenerator
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac

    const providerFailures = (now: number) =>
      Effect.gen(function*() {
        const windowMs = guard.providerWindowSeconds * 1000
        const bucketMs = Math.max(1000, Math.floor(windowMs / 60))
        const { from, to } = Windows.trailingBuckets(now, windowMs, bucketMs)
        const records = yield* breakers.list("provider:")
        const providers: Array<Record<string, unknown>> = []
        let calls = 0
        let failures = 0
        for (const r of records) {
          const c = yield* counters.sum(`${r.key}:calls`, from, to)
          const f = yield* counters.sum(`${r.key}:failures`, from, to)
          calls += c
          failures += f
          providers.push({
            provider: r.key.slice("provider:".length),
            state: r.state,
            calls: c,
            failures: f,
            failure_rate: percentText(f, c)
          })
        }
        return {
          window_seconds: guard.providerWindowSeconds,
          calls,
          failures,
          failure_rate: percentText(failures, calls),
          providers
        }
      })

    const llmToday = (tenant: string, now: number) =>
      Effect.gen(function*() {
        const day = Windows.dayKey(now)
        const globalSpend = yield* stops.globalToday
        const tenantSpend = guard.llmBudgetPeriod === "day"
          ? (yield* budgets.read(BudgetStore.scoped(BudgetStore.Scopes.ai(tenant), "day"), day)).total
          : null
        const tenantCalls = yield* budgets.read(Budgets.CallScopes.tenant(tenant), day)
        const globalCalls = yield* budgets.read(Budgets.CallScopes.global, day)
        return {
          day,
          global_spent_usd: Usd.formatUsd(globalSpend),
          tenant_spent_usd: tenantSpend === null ? null : Usd.formatUsd(tenantSpend),
          global_calls: Number(globalCalls.total),
          tenant_calls: Number(tenantCalls.total),
          tenant_calls_by_model: Object.fromEntries(tenantCalls.categories.map((c) => [c.category, Number(c.amount)]))
        }
      })

    const metricWindows = (tenant: string, now: number, windows: number, minutes: number) =>
      Effect.gen(function*() {
        const windowMs = minutes * 60_000
        const from = now - windows * windowMs
        const rows = yield* events.windowCounts(tenant, from, windowMs, windows)
        const series = Array.from({ length: windows }, (_, i) => {
          const counts: Record<string, number> = {}
          for (const step of settings.steps) counts[step] = 0
          return { index: i, start: from + i * windowMs, end: from + (i + 1) * windowMs, events: counts, total: 0 }
        })
        for (const r of rows) {
          const w = series[r.window]
          if (w === undefined || !(r.step in w.events)) continue
          w.events[r.step] = r.events
          w.total += r.events
        }
        return { window_minutes: minutes, windows, from, to: now, steps: settings.steps, series }
      })

    /** Builds and stores a snapshot for a tenant (no RBAC: for a host's code and the CLI). */
    const captureFor = (
      tenant: string,
      actorId: string,
      input: BaselineInput
    ): Effect.Effect<BaselineRecord, Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        const windows = input.windows ?? settings.baselineWindows
        const minutes = input.window_minutes ?? settings.baselineWindowMinutes
        if (!Number.isInteger(windows) || !Number.isInteger(minutes) || windows < 1 || minutes < 1) {
          return yield* new Errors.ValidationError({
            code: "validation.baseline_params",
            message: "windows and window_minutes must be positive integers",
            details: { windows, window_minutes: minutes }
          })
        }
        if (windows * minutes > MAX_SPAN_MINUTES) {
          return yield* new Errors.ValidationError({
            code: "validation.baseline_params",
            message: `windows × window_minutes may cover at most ${MAX_SPAN_MINUTES} minutes (31 days)`,
            details: { windows, window_minutes: minutes, max_minutes: MAX_SPAN_MINUTES }
          })
        }
        const now = yield* Clock.currentTimeMillis
        const id = yield* ids.next("bl")
        const status = yield* llm.status(tenant)
        const limit = yield* exec.limitOf(tenant)
        const run = yield* stops.observe
        const document = {
          schema_version: SCHEMA_VERSION,
          kind: "airlock.baseline",
          id,
          tenant_id: tenant,
          captured_at: now,
          captured_day: dayText(dayIndexOf(now)),
          captured_by: actorId,
          params: { windows, window_minutes: minutes },
          budgets: {
            llm: {
              period: status.period,
              budget_period: guard.llmBudgetPeriod,
              tenant_cap_usd: Usd.formatUsd(status.tenant_cap_usd),
              global_cap_usd: Usd.formatUsd(status.global_cap_usd),
              tenant_spent_usd: Usd.formatUsd(status.tenant_spent_usd),
              global_spent_usd: Usd.formatUsd(status.global_spent_usd),
              fallback_active: status.fallback_active,
              fallback_reason: status.fallback_reason
            },
            execution: {
              limit_usd: limit === null ? null : Usd.formatUsd(limit),
              warning_percent: guard.budgetWarningPercent
            }
          },
          stop_conditions: {
            llm_daily_budget_usd_hard: guard.stopLlmDailyHard === null ? null : Usd.formatUsd(guard.stopLlmDailyHard),
            provider_failure_threshold: guard.stopProviderFailureThreshold,
            provider_failure_window_seconds: guard.stopProviderFailureWindowSeconds,
            db_pool_utilization_threshold: guard.stopDbPoolUtilization,
            db_pool_sustained_samples: guard.stopDbPoolSamples,
            run: {
              active: run.active,
              paused: run.paused,
              stop: run.stop === null ? null : { reason: run.stop.reason, at: run.stop.at }
            }
          },
          llm_today: yield* llmToday(tenant, now),
          provider_failures: yield* providerFailures(now),
          metrics: yield* metricWindows(tenant, now, windows, minutes)
        }
        const record = new BaselineRecord(
          { id, tenant_id: tenant, captured_at: now, captured_by: actorId, document },
          true
        )
        yield* store.putBaseline(record)
        return record
      })

    /** `POST /api/admin/baseline`: needs `ops.write` (another tenant: `tenant.cross`); audited. */
    const capture = (
      actor: Actor.Actor,
      input: BaselineInput,
      tenant?: string
    ): Effect.Effect<BaselineRecord, Errors.Forbidden | Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        const record = yield* captureFor(target, actor.id, input)
        yield* audit.append({
          tenant_id: target,
          actor_id: actor.id,
          action: "ops.baseline.captured",
          subject: record.id,
          data: (record.document as { params: unknown }).params
        })
        return record
      })

    const notFound = (id: string) => new Errors.NotFound({ message: `Baseline ${id} not found`, details: { id } })

    /** `GET /api/admin/baseline/latest`: needs `ops.read`; 404 before the first capture. */
    const latest = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<BaselineRecord, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const found = yield* store.latestBaseline(yield* TenantScope.acting(rbac, actor, tenant))
        return yield* Option.match(found, { onNone: () => Effect.fail(notFound("latest")), onSome: Effect.succeed })
      })

    /** `GET /api/admin/baseline/{id}`: needs `ops.read`. */
    const get = (
      actor: Actor.Actor,
      id: string,
      tenant?: string
    ): Effect.Effect<BaselineRecord, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const found = yield* store.getBaseline(yield* TenantScope.acting(rbac, actor, tenant), id)
        return yield* Option.match(found, { onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })
      })

    return { captureFor, capture, latest, get } as const
  })
}) {}

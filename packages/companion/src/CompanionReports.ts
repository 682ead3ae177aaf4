/**
 * The companion's reports as a service with permissions: the auditor run and its integrity
 * reports (`audit.read`), the shadow report and `metrics/latest` (`companion.read`), and the
 * operator drill-down of `not_auto_post_counts` — counts by reason, from a reason to its
 * proposals and their decision traces (cursor), the CSV export, and (with `tenant.cross`) the
 * counts of every tenant. Reads page through storage; the math is in `ShadowReport` and `Auditor`.
 */
import { Action, type Actor, AiSettings, Errors, type Ids, Rbac, TenantScope } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service (TS2742)
import type { Audit } from "@airlock/core"
import { Budgets, BudgetStore, Usd, Windows } from "@airlock/guardrails"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service (TS2742)
import type { BankTransaction, Chart, JournalStore } from "@airlock/ledger"
import { Chunk, Clock, Effect, Layer, Option, Stream } from "effect"
import { Auditor } from "./Auditor.js"
import type { ProposalDetail } from "./CompanionPorts.js"
import { CompanionReportReader, type DetailPosition, IntegrityReportStore } from "./CompanionReportsPorts.js"
import * as Drift from "./Drift.js"
import * as Rollout from "./RolloutConfig.js"
import * as ShadowReport from "./ShadowReport.js"
import * as TenantFeatures from "./TenantFeatures.js"

/** Details read per storage page. */
export const PAGE = 1000
/** Default and largest drill-down page. */
export const DRILL_LIMIT = { default: 50, max: 200 } as const

const DAY_MS = 86_400_000

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/** Parses a report period (`7d`, `30d`, `180d`; default `30d`). */
export const parsePeriod = (raw: string | undefined): Effect.Effect<ShadowReport.Period, Errors.ValidationError> =>
  raw === undefined
    ? Effect.succeed("30d")
    : Object.hasOwn(ShadowReport.Periods, raw)
    ? Effect.succeed(raw as ShadowReport.Period)
    : Effect.fail(invalid("validation.period", "period must be 7d, 30d or 180d", { period: raw }))

const encodeCursor = (p: DetailPosition) => `${p.created_at}.${p.proposal_id}`
const decodeCursor = (s: string): Effect.Effect<DetailPosition, Errors.ValidationError> => {
  const m = /^(\d{1,16})\.([A-Za-z0-9_:-]{1,128})$/.exec(s)
  return m === null
    ? Effect.fail(invalid("validation.cursor", "Expected a cursor from a previous page"))
    : Effect.succeed({ created_at: Number(m[1]), proposal_id: m[2]! })
}

/** Builds the reports service (its layer needs {@link Audit.AuditStore}, {@link BankTransaction.BankTransactionStore}, {@link Chart.AccountStore} and {@link JournalStore.JournalStore} through the auditor). */
export const make = Effect.gen(function*() {
  const rbac = yield* Rbac.Rbac
  const auditor = yield* Auditor
  const reports = yield* IntegrityReportStore
  const reader = yield* CompanionReportReader
  const traces = yield* Action.TraceStore
  const settingsStore = yield* AiSettings.AiSettingsStore
  const budgetStore = yield* BudgetStore.BudgetStore
  const llmBudget = yield* Budgets.LlmBudget
  const thresholds = yield* Rollout.RolloutConfig

  const access = (tenant: Ids.TenantId, actor: Actor.Actor, permission: string) =>
    Effect.zipRight(TenantScope.requireTenant(rbac, actor, tenant), rbac.require(actor, permission))

  /** Runs the auditor over the last `days` days as `actor` (`audit.read`). */
  const runAuditor = (tenant: Ids.TenantId, actor: Actor.Actor, days: number) =>
    Effect.zipRight(access(tenant, actor, "audit.read"), auditor.run(tenant, { days, by: actor.id }))

  /** Integrity reports, newest first (`audit.read`); `next_cursor` is the last id when the page is full. */
  const listReports = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: { readonly before?: string | undefined; readonly limit: number }
  ) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "audit.read")
      const items = yield* reports.list(tenant, query)
      return { items, next_cursor: items.length === query.limit ? items.at(-1)!.id : null }
    })

  /** One integrity report (`audit.read`); 404 when the tenant has none with that id. */
  const getReport = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "audit.read")
      return yield* Option.match(yield* reports.get(tenant, id), {
        onNone: () =>
          Effect.fail(
            new Errors.NotFound({
              message: `integrity report ${id} not found`,
              details: { entity: "integrity_report", id }
            })
          ),
        onSome: Effect.succeed
      })
    })

  const llmInfo = (tenant: Ids.TenantId, window: { start: number; end: number }) =>
    Effect.gen(function*() {
      const months = new Set<string>()
      for (let t = window.start; t < window.end; t += DAY_MS) months.add(Windows.monthKey(t))
      months.add(Windows.monthKey(window.end))
      let spent = 0n
      for (const m of months) spent += (yield* budgetStore.read(BudgetStore.Scopes.ai(tenant), m)).total
      const settings = Option.getOrUndefined(yield* settingsStore.get(tenant))
      const status = yield* llmBudget.status(tenant, settings)
      return {
        spend_usd: Usd.formatUsd(spent),
        months: [...months].sort(),
        fallback_active: status.fallback_active,
        fallback_reason: status.fallback_reason
      } satisfies ShadowReport.LlmInfo
    })

  /** Feeds every detail created in the window to `f`, a page at a time. */
  const eachDetail = (
    tenant: Ids.TenantId,
    window: { start: number; end: number },
    f: (d: ProposalDetail) => void
  ) =>
    Effect.gen(function*() {
      let after: DetailPosition | undefined
      for (;;) {
        const page = yield* reader.detailsPage(tenant, { from: window.start, to: window.end + 1, after, limit: PAGE })
        for (const d of page) f(d)
        if (page.length < PAGE) return
        const last = page.at(-1)!
        after = { created_at: last.created_at, proposal_id: last.proposal_id }
      }
    })

  /** Computes the shadow report without a permission check (for the CLI and benchmarks). */
  const compute = (tenant: Ids.TenantId, period: ShadowReport.Period) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const window = ShadowReport.windowOf(period, now)
      // one pass over the 180-day window: the period's proposals feed the report, all of them drift
      const history = ShadowReport.windowOf("180d", now)
      const acc = ShadowReport.empty()
      const drift = Drift.empty(now)
      // drift detection off for the tenant: no findings (the report's `drift` is empty)
      const features = yield* TenantFeatures.current(Option.getOrUndefined(yield* settingsStore.get(tenant)))
      yield* eachDetail(tenant, history, (d) => {
        if (d.created_at >= window.start) ShadowReport.add(acc, d, thresholds)
        const o = Drift.observe(d)
        if (o !== null) Drift.add(drift, o)
      })
      return ShadowReport.finish(acc, {
        tenant_id: tenant,
        period,
        window,
        thresholds,
        llm: yield* llmInfo(tenant, window),
        drift: features.drift_detection ? Drift.findings(drift, tenant) : []
      })
    })

  /** The shadow report of a period (`companion.read`). */
  const shadowReport = (tenant: Ids.TenantId, actor: Actor.Actor, period: ShadowReport.Period) =>
    Effect.zipRight(access(tenant, actor, "companion.read"), compute(tenant, period))

  /** The `metrics/latest` document of a period (`companion.read`; default 30d). */
  const metricsLatest = (tenant: Ids.TenantId, actor: Actor.Actor, period: ShadowReport.Period) =>
    Effect.map(shadowReport(tenant, actor, period), ShadowReport.metricsLatest)

  /** `not_auto_post_counts` of one tenant in a period (`companion.read`). */
  const reasonCounts = (tenant: Ids.TenantId, actor: Actor.Actor, period: ShadowReport.Period) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.read")
      const window = ShadowReport.windowOf(period, yield* Clock.currentTimeMillis)
      const counts = new Map<string, number>()
      yield* eachDetail(tenant, window, (d) => {
        if (d.corrects_proposal_id !== null) return
        for (const r of d.not_auto_post_reasons) counts.set(r, (counts.get(r) ?? 0) + 1)
      })
      return {
        tenant_id: tenant,
        period,
        window_start_ts: ShadowReport.isoSeconds(window.start),
        window_end_ts: ShadowReport.isoSeconds(window.end),
        not_auto_post_counts: Object.fromEntries([...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
      }
    })

  /** Every tenant's `not_auto_post_counts` in a period (`tenant.cross`: the platform operator). */
  const reasonCountsAll = (actor: Actor.Actor, period: ShadowReport.Period) =>
    Effect.gen(function*() {
      yield* rbac.require(actor, TenantScope.CROSS_TENANT_PERMISSION)
      const window = ShadowReport.windowOf(period, yield* Clock.currentTimeMillis)
      const rows = yield* reader.reasonCountsAll({ from: window.start, to: window.end + 1 })
      const tenants = new Map<string, Record<string, number>>()
      for (const r of rows) {
        const t = tenants.get(r.tenant_id) ?? {}
        t[r.reason] = r.count
        tenants.set(r.tenant_id, t)
      }
      return {
        period,
        window_start_ts: ShadowReport.isoSeconds(window.start),
        window_end_ts: ShadowReport.isoSeconds(window.end),
        tenants: [...tenants.entries()].map(([tenant_id, not_auto_post_counts]) => ({
          tenant_id,
          not_auto_post_counts
        }))
      }
    })

  /**
   * The proposals not auto-posted under `reason` in a period, newest first, each with its
   * decision traces (`companion.read`); `next_cursor` continues.
   */
  const reasonProposals = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: {
      readonly reason: string
      readonly period: ShadowReport.Period
      readonly cursor?: string | undefined
      readonly limit: number
    }
  ) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.read")
      const before = query.cursor === undefined ? undefined : yield* decodeCursor(query.cursor)
      const window = ShadowReport.windowOf(query.period, yield* Clock.currentTimeMillis)
      const page = yield* reader.byReason(tenant, {
        reason: query.reason,
        from: window.start,
        to: window.end + 1,
        before,
        limit: query.limit
      })
      const items: Array<{ readonly detail: ProposalDetail; readonly traces: ReadonlyArray<Action.DecisionTrace> }> = []
      for (const d of page) {
        items.push({ detail: d, traces: yield* traces.listByAction(tenant, d.proposal_id as Ids.ActionId) })
      }
      const last = page.at(-1)
      return {
        reason: query.reason,
        period: query.period,
        items,
        next_cursor: page.length === query.limit && last !== undefined
          ? encodeCursor({ created_at: last.created_at, proposal_id: last.proposal_id })
          : null
      }
    })

  /** Every proposal under `reason` in a period as CSV (`companion.read`), read a page at a time. */
  const reasonCsvHeader = [
    "proposal_id",
    "bank_transaction_id",
    "vendor_key",
    "amount_minor",
    "created_at",
    "deciding_stage",
    "confidence",
    "calibrated_probability",
    "not_auto_post_reasons",
    "review_outcome"
  ]

  const reasonCsvRow = (d: ProposalDetail): ReadonlyArray<unknown> => [
    d.proposal_id,
    d.bank_transaction_id,
    d.vendor_key,
    d.amount_minor,
    ShadowReport.isoSeconds(d.created_at),
    d.deciding_stage,
    d.confidence,
    d.calibrated_probability,
    d.not_auto_post_reasons.join(" "),
    d.review_outcome
  ]

  /**
   * The drill-down as CSV, streamed a page at a time (bounded memory however long the window):
   * permission and window are checked before the first line; one line per proposal, newest first.
   */
  const reasonProposalsCsvStream = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: { readonly reason: string; readonly period: ShadowReport.Period }
  ) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.read")
      const window = ShadowReport.windowOf(query.period, yield* Clock.currentTimeMillis)
      const page = (before: DetailPosition | undefined) =>
        Effect.map(
          reader.byReason(tenant, {
            reason: query.reason,
            from: window.start,
            to: window.end + 1,
            before,
            limit: PAGE
          }),
          (rows) =>
            [
              rows.length === 0
                ? Chunk.empty<string>()
                : Chunk.of(rows.map((d) => ShadowReport.csvLine(reasonCsvRow(d))).join("")),
              rows.length < PAGE
                ? Option.none<DetailPosition | undefined>()
                : Option.some<DetailPosition | undefined>({
                  created_at: rows.at(-1)!.created_at,
                  proposal_id: rows.at(-1)!.proposal_id
                })
            ] as const
        )
      return Stream.concat(
        Stream.make(ShadowReport.csvLine(reasonCsvHeader)),
        Stream.paginateChunkEffect(undefined as DetailPosition | undefined, page)
      )
    })

  /** The drill-down as one CSV string ({@link reasonProposalsCsvStream} collected). */
  const reasonProposalsCsv = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: { readonly reason: string; readonly period: ShadowReport.Period }
  ) =>
    Effect.flatMap(
      reasonProposalsCsvStream(tenant, actor, query),
      (lines) => Stream.runFold(lines, "", (out, line) => out + line)
    )

  return {
    runAuditor,
    listReports,
    getReport,
    compute,
    shadowReport,
    metricsLatest,
    reasonCounts,
    reasonCountsAll,
    reasonProposals,
    reasonProposalsCsv,
    reasonProposalsCsvStream
  } as const
})

/** The companion's reports. */
export class CompanionReports extends Effect.Service<CompanionReports>()("@airlock/companion/CompanionReports", {
  effect: make,
  dependencies: [Auditor.Default]
}) {}

/** The reports service with the rollout thresholds from `AIRLOCK_ROLLOUT_*` (the runbook's by default). */
export const layerConfig = CompanionReports.Default.pipe(Layer.provide(Rollout.layerConfig))

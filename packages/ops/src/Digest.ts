/**
 * The weekly digest (ops console runbook, "Weekly Digest Generation"): a markdown draft from one
 * fixed template ({@link renderMarkdown}), every figure a link to the record it came from, behind
 * an evidence gate. Below `AIRLOCK_DIGEST_MIN_EVENTS` product events or
 * `AIRLOCK_DIGEST_MIN_LLM_CALLS` metered LLM calls in the lookback window, no draft is created and
 * the answer is `status: "insufficient_evidence"` with the observed and required counts. One
 * draft per anchor week (the ISO week, Monday to Sunday UTC, of the anchor date) unless
 * `allow_duplicate_anchor`; the store's unique key makes that hold under concurrent requests.
 */
import { type Actor, Audit, Calendar, Errors, Ids, Rbac, TenantScope } from "@airlock/core"
import { Budgets, BudgetStore } from "@airlock/guardrails"
import { Clock, Effect, Option, Schema } from "effect"
import { ProductEventStore } from "./EventStore.js"
import { ALERT_LOOKBACK_DAYS, type AlertReport, evaluate } from "./KpiAlerts.js"
import { KpiConfig, type KpiSettings } from "./KpiConfig.js"
import { DAY_MS, dayIndexOf, dayText, KpiRollups, parseDay, render, type RenderedRollup } from "./KpiRollups.js"
import { type BaselineRecord, type DigestDraft, KpiStore } from "./KpiStore.js"

/** Body of `POST /api/admin/digest/weekly` (the runbook's `--lookback-days`, `--anchor-date`, `--allow-duplicate-anchor`). */
export const DigestInput = Schema.Struct({
  lookback_days: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 90))),
  anchor_date: Schema.optional(Schema.String.pipe(Schema.maxLength(10))),
  allow_duplicate_anchor: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "DigestInput" })
/** Type of {@link DigestInput}. */
export type DigestInput = typeof DigestInput.Type

/** The default lookback (runbook: `--lookback-days 7`). */
export const DEFAULT_LOOKBACK_DAYS = 7

/** Monday (UTC) of the ISO week that contains a day index (1970-01-01 was a Thursday). */
export const weekStart = (day: number): number => day - (((day + 3) % 7) + 7) % 7

/** Observed against required evidence. */
export interface EvidenceCounts {
  readonly events: number
  readonly llm_calls: number
}

/** The answer when the gate holds the draft back. */
export interface InsufficientEvidence {
  readonly status: "insufficient_evidence"
  readonly tenant_id: string
  readonly anchor_week: string
  readonly window_from: string
  readonly window_to: string
  readonly observed: EvidenceCounts
  readonly required: EvidenceCounts
}

/** The answer when a draft was created. */
export interface DigestCreated {
  readonly status: "created"
  readonly draft: DigestDraft
}

/** What a digest request did. */
export type DigestResult = InsufficientEvidence | DigestCreated

/** Everything the template reads. */
export interface DigestFacts {
  readonly tenant_id: string
  readonly anchor_week: string
  readonly anchor_date: string
  readonly window_from: string
  readonly window_to: string
  readonly lookback_days: number
  readonly observed: EvidenceCounts
  /** Metered LLM calls per day of the window. */
  readonly llm_calls_by_day: ReadonlyArray<{ readonly day: string; readonly calls: number }>
  /** The window's rollups, latest first. */
  readonly rollups: ReadonlyArray<RenderedRollup>
  readonly alerts: AlertReport
  readonly baseline: BaselineRecord | null
}

/** The link of a day's rollup record. */
export const rollupLink = (from: string, to: string = from): string => `/api/admin/kpi/rollups?from=${from}&to=${to}`

const link = (text: string | number, href: string) => `[${text}](${href})`

const cell = (s: string) => s.replace(/\|/g, "\\|")

/** The fixed template. Pure: the same facts give the same markdown, byte for byte. */
export const renderMarkdown = (facts: DigestFacts, settings: Pick<KpiSettings, "steps" | "rates">): string => {
  const lines: Array<string> = []
  const windowLink = rollupLink(facts.window_from, facts.window_to)
  lines.push(`# Weekly digest: week of ${facts.anchor_week}`)
  lines.push("")
  lines.push(
    `Tenant \`${facts.tenant_id}\` · window ${facts.window_from} to ${facts.window_to} (${facts.lookback_days} days) · anchor ${facts.anchor_date}`
  )
  lines.push("")
  lines.push("## Evidence")
  lines.push("")
  lines.push(`- Product events: ${link(facts.observed.events, windowLink)}`)
  lines.push(`- Metered LLM calls: ${facts.observed.llm_calls}, by day: ${
    facts.llm_calls_by_day.length === 0
      ? "none"
      : facts.llm_calls_by_day.map((d) => `${d.day} ${link(d.calls, "/api/v1/billing/summary")}`).join(", ")
  }`)
  lines.push("")
  lines.push("## Funnel")
  lines.push("")
  lines.push(`| Day | ${[...settings.steps, ...settings.rates.map((r) => r.name)].map(cell).join(" | ")} |`)
  lines.push(`|---|${[...settings.steps, ...settings.rates].map(() => "---:").join("|")}|`)
  for (const r of facts.rollups) {
    const href = rollupLink(r.day)
    const steps = settings.steps.map((s) => link(r.steps[s]?.subjects ?? 0, href))
    const rates = r.rates.map((x) => link(x.percent, href))
    lines.push(`| ${link(r.day, href)} | ${[...steps, ...rates].join(" | ")} |`)
  }
  lines.push("")
  lines.push("Steps count distinct subjects per day; each rate is subjects of its later step over its earlier one.")
  lines.push("")
  lines.push("## Retention")
  lines.push("")
  lines.push("| Cohort day | Cohort size | D1 | D7 |")
  lines.push("|---|---:|---:|---:|")
  for (const r of facts.rollups) {
    const href = rollupLink(r.day)
    lines.push(
      `| ${link(r.day, href)} | ${link(r.retention.D1.cohort_size, href)} | ${link(r.retention.D1.percent, href)} | ${
        link(r.retention.D7.percent, href)
      } |`
    )
  }
  lines.push("")
  lines.push("## Alerts")
  lines.push("")
  lines.push(
    `- ${link(facts.alerts.critical, "/api/admin/kpi/alerts")} critical, ${
      link(facts.alerts.warning, "/api/admin/kpi/alerts")
    } warning`
  )
  for (const a of facts.alerts.alerts) {
    lines.push(
      `- **${a.severity}** ${cell(a.metric)} on ${
        link(a.day, rollupLink(a.day))
      }: ${a.latest_percent} against a ${a.average_days}-day average of ${a.average_percent} (drop ${a.drop_percent})`
    )
  }
  lines.push("")
  lines.push("## Guardrails baseline")
  lines.push("")
  if (facts.baseline === null) lines.push("- No baseline captured yet.")
  else {
    const href = `/api/admin/baseline/${facts.baseline.id}`
    const doc = facts.baseline.document as {
      readonly llm_today?: { readonly global_spent_usd?: string; readonly tenant_calls?: number }
      readonly provider_failures?: { readonly failure_rate?: string }
    }
    lines.push(`- Latest baseline ${link(facts.baseline.id, href)}, captured at ${facts.baseline.captured_at}`)
    lines.push(`- LLM spend that day (all tenants): ${link(`$${doc.llm_today?.global_spent_usd ?? "n/a"}`, href)}`)
    lines.push(`- Provider failure rate: ${link(doc.provider_failures?.failure_rate ?? "n/a", href)}`)
  }
  lines.push("")
  return lines.join("\n")
}

/** Creates, lists and serves weekly digest drafts. */
export class Digests extends Effect.Service<Digests>()("@airlock/ops/Digests", {
  effect: Effect.gen(function*() {
    const events = yield* ProductEventStore
    const store = yield* KpiStore
    const budgets = yield* BudgetStore.BudgetStore
    const rollups = yield* KpiRollups
    const settings = yield* KpiConfig
    const ids = yield* Ids.IdGenerator
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac

    /** Creates a tenant's weekly draft, or says why not (no RBAC: for a host's code and the CLI). */
    const weeklyFor = (
      tenant: string,
      actorId: string,
      input: DigestInput
    ): Effect.Effect<DigestResult, Errors.ValidationError | Errors.Conflict | Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const lookback = input.lookback_days ?? DEFAULT_LOOKBACK_DAYS
        let anchor = dayIndexOf(now)
        if (input.anchor_date !== undefined) {
          const parsed = parseDay(input.anchor_date)
          if (parsed === null) {
            return yield* new Errors.ValidationError({
              code: "validation.digest_anchor",
              message: "anchor_date must be a date YYYY-MM-DD",
              details: { anchor_date: input.anchor_date }
            })
          }
          // 1970-01-01 up to the same date a year from today (28 February when that is 29 February)
          const today = Calendar.civilFromDays(anchor)
          const latest = Calendar.daysFromCivil(today.y + 1, today.m, Math.min(today.d, today.m === 2 ? 28 : 31))
          if (parsed < 0 || parsed > latest) {
            return yield* new Errors.ValidationError({
              code: "validation.digest_anchor",
              message: `anchor_date must be between 1970-01-01 and ${dayText(latest)}`,
              details: { anchor_date: input.anchor_date, earliest: "1970-01-01", latest: dayText(latest) }
            })
          }
          anchor = parsed
        }
        const from = anchor - lookback + 1
        const week = dayText(weekStart(anchor))
        const eventCount = yield* events.count(tenant, from * DAY_MS, (anchor + 1) * DAY_MS)
        const byDay: Array<{ readonly day: string; readonly calls: number }> = []
        let calls = 0
        for (let d = anchor; d >= from; d--) {
          const n = Number((yield* budgets.read(Budgets.CallScopes.tenant(tenant), dayText(d))).total)
          calls += n
          if (n > 0) byDay.push({ day: dayText(d), calls: n })
        }
        const observed = { events: eventCount, llm_calls: calls }
        const required = { events: settings.digestMinEvents, llm_calls: settings.digestMinLlmCalls }
        if (observed.events < required.events || observed.llm_calls < required.llm_calls) {
          return {
            status: "insufficient_evidence",
            tenant_id: tenant,
            anchor_week: week,
            window_from: dayText(from),
            window_to: dayText(anchor),
            observed,
            required
          } satisfies InsufficientEvidence
        }
        const lookbackRows = yield* rollups.compute(tenant, Math.min(from, anchor - ALERT_LOOKBACK_DAYS + 1), anchor)
        // judged as of the end of the anchor day (or now, when that is still ahead)
        const asOf = Math.min(now, (anchor + 1) * DAY_MS)
        const windowRows = lookbackRows.filter((r) => r.day_index >= from).map((r) => render(r, settings, asOf))
        const alerts = evaluate(tenant, lookbackRows, settings, asOf)
        const baseline = Option.getOrNull(yield* store.latestBaseline(tenant))
        const facts: DigestFacts = {
          tenant_id: tenant,
          anchor_week: week,
          anchor_date: dayText(anchor),
          window_from: dayText(from),
          window_to: dayText(anchor),
          lookback_days: lookback,
          observed,
          llm_calls_by_day: byDay,
          rollups: windowRows,
          alerts,
          baseline
        }
        const draft = yield* store.insertDigest({
          id: yield* ids.next("dg"),
          tenant_id: tenant,
          anchor_week: week,
          anchor_date: facts.anchor_date,
          lookback_days: lookback,
          window_from: facts.window_from,
          window_to: facts.window_to,
          created_at: now,
          created_by: actorId,
          markdown: renderMarkdown(facts, settings),
          evidence: {
            observed,
            required,
            llm_calls_by_day: byDay,
            rollups: windowRows.map((r) => ({
              kind: "kpi_rollup",
              tenant_id: tenant,
              day: r.day,
              link: rollupLink(r.day)
            })),
            alerts: { critical: alerts.critical, warning: alerts.warning, link: "/api/admin/kpi/alerts" },
            baseline: baseline === null ? null : { id: baseline.id, link: `/api/admin/baseline/${baseline.id}` }
          }
        }, input.allow_duplicate_anchor === true)
        return { status: "created", draft } satisfies DigestCreated
      })

    /** `POST /api/admin/digest/weekly`: needs `ops.write` (another tenant: `tenant.cross`); a created draft is audited. */
    const weekly = (
      actor: Actor.Actor,
      input: DigestInput,
      tenant?: string
    ): Effect.Effect<DigestResult, Errors.Forbidden | Errors.ValidationError | Errors.Conflict | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        const result = yield* weeklyFor(target, actor.id, input)
        if (result.status === "created") {
          yield* audit.append({
            tenant_id: target,
            actor_id: actor.id,
            action: "ops.digest.created",
            subject: result.draft.id,
            data: { anchor_week: result.draft.anchor_week, seq: result.draft.seq }
          })
        }
        return result
      })

    /** `GET /api/admin/digest/drafts`: newest first; needs `ops.read`. */
    const list = (
      actor: Actor.Actor,
      limit: number,
      tenant?: string
    ): Effect.Effect<ReadonlyArray<DigestDraft>, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        return yield* store.listDigests(yield* TenantScope.acting(rbac, actor, tenant), limit)
      })

    /** `GET /api/admin/digest/drafts/{id}`: needs `ops.read`. */
    const get = (
      actor: Actor.Actor,
      id: string,
      tenant?: string
    ): Effect.Effect<DigestDraft, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const found = yield* store.getDigest(yield* TenantScope.acting(rbac, actor, tenant), id)
        return yield* Option.match(found, {
          onNone: () => Effect.fail(new Errors.NotFound({ message: `Digest draft ${id} not found`, details: { id } })),
          onSome: Effect.succeed
        })
      })

    return { weeklyFor, weekly, list, get } as const
  }),
  dependencies: [KpiRollups.Default]
}) {}

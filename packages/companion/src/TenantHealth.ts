/**
 * A tenant's health (`GET /api/v1/tenants/{tenant}/health`, the data-platform runbook's tenant
 * health): its mode and switches (the global AI switch, the tenant's companion flag, kill switch
 * and `ai_enabled`, and the effective state), the guardrails it runs under (lockdown, stop
 * conditions, breakers), its budgets (execution budget and LLM budget of the period), its last
 * bank import, the last auditor run, and what waits for people (open proposals, the memory
 * review queue).
 *
 * The last auditor run comes through {@link AuditorRuns}, read when the service is built:
 * {@link layerAuditorRuns} answers from the auditor's stored integrity reports (the newest one), and
 * {@link layerServices} installs it; without it the hook answers null.
 */
import {
  type Actor,
  AgentMemory,
  type ApiToken,
  type Audit,
  type Errors,
  type Ids,
  KillSwitch,
  Rbac,
  type SecureRandom,
  type SystemState,
  type Tenant,
  TenantData,
  Tenants,
  TenantScope,
  type UnitOfWork
} from "@airlock/core"
import { Budgets, SystemStatus } from "@airlock/guardrails"
import type { Chart } from "@airlock/ledger"
import { Context, Effect, Layer } from "effect"
import { IntegrityReportStore } from "./CompanionReportsPorts.js"
import * as TenantOnboarding from "./TenantOnboarding.js"
import * as TenantTemplates from "./TenantTemplates.js"

/** The tenant's most recent bank import: when, by whom, and how many transactions it added. */
export interface LastImport {
  readonly at: number
  readonly by: string
  readonly transactions: number
}

/** Storage port of the health read model (the SQL adapters read their tables; memory its maps). */
export class TenantHealthStore extends Context.Tag("@airlock/companion/TenantHealthStore")<
  TenantHealthStore,
  {
    /** The latest `imported_at` of the tenant's bank transactions, and the rows imported then (null: none). */
    readonly lastImport: (tenant: Ids.TenantId) => Effect.Effect<LastImport | null, Errors.StorageError>
    /** The tenant's companion proposals no person (or auto-post) has closed yet. */
    readonly openProposals: (tenant: Ids.TenantId) => Effect.Effect<number, Errors.StorageError>
  }
>() {}

/** What the health shows of the last auditor run: the integrity report's id, time, window and findings. */
export interface AuditorRun {
  readonly id: string
  readonly at: number
  readonly by: string
  readonly days: number
  /** The window's first and last day (entry dates, inclusive). */
  readonly window_start: string
  readonly window_end: string
  readonly status: "clean" | "findings"
  /** Findings of the run, all of them (also when the stored report cut its list). */
  readonly finding_count: number
  readonly counts: Readonly<Record<string, number>>
}

/**
 * The hook for the last auditor run of a tenant, read once when {@link TenantHealth} is built. The
 * default answers null (no auditor is installed); {@link layerAuditorRuns} reads the auditor's
 * reports, and a host with its own auditor provides its own (`Layer.succeed(AuditorRuns, { last })`).
 */
export class AuditorRuns extends Context.Reference<AuditorRuns>()("@airlock/companion/AuditorRuns", {
  defaultValue: (): {
    readonly last: (tenant: Ids.TenantId) => Effect.Effect<AuditorRun | null, Errors.StorageError>
  } => ({ last: () => Effect.succeed(null) })
}) {}

/** The last auditor run of a tenant from the newest stored integrity report (`IntegrityReportStore`). */
export const layerAuditorRuns: Layer.Layer<AuditorRuns, never, IntegrityReportStore> = Layer.effect(
  AuditorRuns,
  Effect.map(IntegrityReportStore, (reports) => ({
    last: (tenant: Ids.TenantId) =>
      Effect.map(reports.list(tenant, { limit: 1 }), (page): AuditorRun | null => {
        const r = page[0]
        if (r === undefined) return null
        return {
          id: r.id,
          at: r.created_at,
          by: r.created_by,
          days: r.days,
          window_start: r.window_start,
          window_end: r.window_end,
          status: r.status,
          finding_count: Object.values(r.counts).reduce((a, b) => a + b, 0),
          counts: r.counts
        }
      })
  }))
)

/** A tenant's health. Money as the guardrails' values (micro-dollars; the edge encodes them). */
export interface Health {
  readonly tenant_id: string
  readonly tenant_name: string
  readonly mode: string
  readonly switches: {
    readonly ai_global: boolean
    readonly companion_enabled: boolean
    readonly kill_switch: boolean
    readonly ai_enabled: boolean
    /** The effective state: on, or off with the layer that turned it off. */
    readonly effective: KillSwitch.KillSwitchState
  }
  readonly guardrails: SystemStatus.GuardrailsStatus
  readonly budgets: Budgets.BillingSummary
  readonly last_import: LastImport | null
  readonly last_auditor_run: AuditorRun | null
  readonly open_reviews: {
    readonly proposals: number
    readonly memory_review_queue: number
    readonly memory_oldest_open_at: number | null
  }
}

/** Reads a tenant's health. */
export class TenantHealth extends Effect.Service<TenantHealth>()("@airlock/companion/TenantHealth", {
  effect: Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const status = yield* SystemStatus.SystemStatus
    const budgets = yield* Budgets.ExecutionBudgets
    const memory = yield* AgentMemory.AgentMemoryStore
    const store = yield* TenantHealthStore
    const rbac = yield* Rbac.Rbac
    const auditor = yield* AuditorRuns

    /** The tenant's health as `by` sees it: needs `ops.read` on the tenant (another only with `tenant.cross`). */
    const health = (
      tenant: Ids.TenantId,
      by: Actor.Actor
    ): Effect.Effect<Health, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* TenantScope.requireTenant(rbac, by, tenant)
        yield* rbac.require(by, "ops.read")
        const t = yield* tenants.get(tenant)
        const settings = yield* tenants.settings(tenant)
        const global = yield* tenants.globalAi()
        const [guardrails, billing, lastImport, proposals, facts, lastAudit] = yield* Effect.all([
          status.status(by, tenant),
          budgets.summaryOf(tenant, settings),
          store.lastImport(tenant),
          store.openProposals(tenant),
          memory.stats(tenant),
          auditor.last(tenant)
        ])
        return {
          tenant_id: t.id,
          tenant_name: t.name,
          mode: settings.ai_mode,
          switches: {
            ai_global: global.enabled,
            companion_enabled: t.ai_companion_enabled,
            kill_switch: settings.kill_switch,
            ai_enabled: settings.ai_enabled,
            effective: KillSwitch.evaluateKillSwitch(global.enabled, t, settings)
          },
          guardrails,
          budgets: billing,
          last_import: lastImport,
          last_auditor_run: lastAudit,
          open_reviews: {
            proposals,
            memory_review_queue: facts.queue_depth,
            memory_oldest_open_at: facts.oldest_open_at
          }
        } satisfies Health
      })

    return { health } as const
  })
}) {}

/** {@link TenantHealth} with the last auditor run read from the stored integrity reports. */
export const layer: Layer.Layer<
  TenantHealth,
  never,
  | Tenants.Tenants
  | SystemStatus.SystemStatus
  | Budgets.ExecutionBudgets
  | AgentMemory.AgentMemoryStore
  | TenantHealthStore
  | Rbac.Rbac
  | IntegrityReportStore
> = TenantHealth.Default.pipe(Layer.provide(layerAuditorRuns))

/**
 * Every tenant service the tenants routes need: onboarding over the built-in templates, health
 * (with the last auditor run, {@link layer}), and core's export and delete (`TenantData`, its
 * settings from `TenantData.TenantDataConfig`). Needs the ledger's services (the chart), the
 * guardrails', core's and the storage ports.
 */
export const layerServices: Layer.Layer<
  TenantOnboarding.TenantOnboarding | TenantTemplates.TenantTemplates | TenantHealth | TenantData.TenantData,
  never,
  | Tenants.Tenants
  | ApiToken.ApiTokens
  | Chart.ChartOfAccounts
  | SystemState.SystemStateStore
  | UnitOfWork.UnitOfWork
  | SecureRandom.SecureRandom
  | Rbac.Rbac
  | SystemStatus.SystemStatus
  | Budgets.ExecutionBudgets
  | AgentMemory.AgentMemoryStore
  | TenantHealthStore
  | TenantData.TenantDataStore
  | Tenant.TenantStore
  | Audit.AuditStore
  | Audit.AuditLog
  | IntegrityReportStore
> = Layer.mergeAll(
  TenantOnboarding.TenantOnboarding.Default,
  layer,
  TenantData.TenantData.Default
).pipe(Layer.provideMerge(TenantTemplates.layer))

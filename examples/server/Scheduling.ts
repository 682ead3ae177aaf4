/**
 * The reference distribution's scheduler and maintenance loop, shared by the server and the
 * `airlock` CLI so both know the same targets and commands: the scheduler and the maintenance
 * service (`AIRLOCK_SCHEDULER_*`, `AIRLOCK_MAINTENANCE_*`) with what this distribution registers.
 *
 * Schedule targets (every one idempotent: a dispatch runs at least once):
 * - `memory.tiering`: agent-memory tiering over every tenant (also a maintenance command);
 * - `kpi.rollups`: the daily KPI rollups of the last 9 days of every tenant with events (stored by
 *   `(tenant, day)`: a rerun rewrites the same rows);
 * - `kpi.alerts.notify`: evaluates every tenant's KPI alerts and posts the critical ones to the
 *   webhook — only when `AIRLOCK_KPI_ALERT_WEBHOOK_ENABLED` (otherwise `disabled`, nothing read);
 *   the cooldown claim in storage keeps a rerun from sending an identical payload again;
 * - `companion.auditor`: the auditor over the last `args.days` days (default 7) of every tenant,
 *   one integrity report each; a rerun for the same due time finds the report it wrote and keeps it;
 * - `executions.reconcile`: fails RUNNING executions of every tenant whose heartbeat is older than
 *   `args.stale_after_seconds` (default `AIRLOCK_EXEC_STALE_AFTER_SECONDS`); a rerun finds nothing
 *   more to fail.
 *
 * Only `memory.tiering` is a maintenance command: the others have their own on-demand routes
 * (`POST /api/admin/kpi/rollups/run`, `…/alerts/notify`, `/api/v1/companion/auditor/run`,
 * `/api/v1/executions/reconcile`), and a maintenance pass (every registered command by default)
 * would run them a second time beside their schedules.
 *
 * The server adds the background loops and, with the scheduler on, the default schedules
 * ({@link layerLoops}, {@link defaultSchedules}); the CLI ticks and runs on demand.
 */
import { CompanionReports } from "@airlock/companion"
import {
  type Actor,
  AgentMemory,
  type Audit,
  Errors,
  type Ids,
  type Rbac,
  type SystemState,
  TenantData,
  Tenants
} from "@airlock/core"
import {
  AlertWebhook,
  Executions,
  KpiRollups,
  Maintenance,
  MaintenanceConfig,
  type MaintenanceStore,
  Scheduler,
  SchedulerConfig,
  type ScheduleStore
} from "@airlock/ops"
import { Config, type ConfigError, Effect, Layer, ParseResult, Schema } from "effect"
import { devTenant } from "./Seed.js"

/** The name of the memory-tiering target and command. */
export const memoryTiering = "memory.tiering"
/** The name of the KPI rollups target. */
export const kpiRollups = "kpi.rollups"
/** The name of the KPI critical-alert notify target. */
export const kpiAlertsNotify = "kpi.alerts.notify"
/** The name of the companion auditor target. */
export const companionAuditor = "companion.auditor"
/** The name of the executions stale-reconcile target. */
export const executionsReconcile = "executions.reconcile"

/** The auditor target's window when the schedule's `args` name none (the companion runbook's `--days 7`). */
export const AUDITOR_DAYS = 7

const tieringDescription = "Agent memory: decay importance and move stale items down the tiers (all tenants)"

/** The system actor scheduled and maintenance runs act as. */
export const systemActor = {
  id: "system:scheduler",
  tenant_id: devTenant,
  kind: "system",
  name: "scheduler",
  role: "ADMIN",
  active: true,
  created_at: 0
} as unknown as Actor.Actor

/** {@link systemActor} acting in `tenant` under `id` (per-tenant work is audited in that tenant). */
const actorIn = (tenant: string, id: string) => ({ ...systemActor, id, tenant_id: tenant }) as unknown as Actor.Actor

/** A schedule's `args` the target cannot use: the attempt fails with `validation.schema` naming the target. */
const argsError = (target: string) => (e: ParseResult.ParseError) =>
  new Errors.ValidationError({
    code: "validation.schema",
    message: `${target} args: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
  })

const decodeArgs = <A, I>(target: string, schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknown(schema, { onExcessProperty: "error" })
  return (args: unknown) => Effect.mapError(decode(args ?? {}), argsError(target))
}

const AuditorArgs = Schema.Struct({ days: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 366))) })
const ReconcileArgs = Schema.Struct({
  stale_after_seconds: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive()))
})
const NoArgs = Schema.Struct({})

const tiering = Effect.map(AgentMemory.AgentMemory, (memory) => memory.runTiering("all", systemActor))

const rollupsTarget = Effect.map(KpiRollups.KpiRollups, (rollups): Scheduler.ScheduleTarget => ({
  name: kpiRollups,
  description: "KPI: recompute and store the daily rollups of the last 9 days (every tenant with events)",
  run: (ctx) => Effect.zipRight(decodeArgs(kpiRollups, NoArgs)(ctx.args), rollups.runTask)
}))

const notifyTarget = Effect.map(AlertWebhook.AlertWebhook, (webhook): Scheduler.ScheduleTarget => ({
  name: kpiAlertsNotify,
  description: "KPI: evaluate alerts and post critical ones to the webhook, once per cooldown (when enabled)",
  run: (ctx) =>
    Effect.zipRight(
      decodeArgs(kpiAlertsNotify, NoArgs)(ctx.args),
      webhook.enabled
        ? Effect.map(webhook.runTask, (results) => ({ status: "ran", results }))
        : Effect.succeed({ status: "disabled", results: [] })
    )
}))

const auditorTarget = Effect.gen(function*() {
  const reports = yield* CompanionReports.CompanionReports
  const tenants = yield* Tenants.Tenants
  const decode = decodeArgs(companionAuditor, AuditorArgs)

  /** The report this schedule wrote for this due time, if a previous attempt got that far. */
  const written = (tenant: Ids.TenantId, actor: Actor.Actor, dueAt: number, days: number) =>
    Effect.gen(function*() {
      let before: string | undefined
      for (;;) {
        const page = yield* reports.listReports(tenant, actor, { before, limit: 100 })
        for (const r of page.items) {
          if (r.created_at < dueAt) return null
          if (r.created_by === actor.id && r.days === days) return r
        }
        if (page.next_cursor === null) return null
        before = page.next_cursor
      }
    })

  return {
    name: companionAuditor,
    description: "Companion: run the auditor over the last args.days days (default 7) of every tenant",
    run: (ctx) =>
      Effect.gen(function*() {
        const days = (yield* decode(ctx.args)).days ?? AUDITOR_DAYS
        const out: Array<{ tenant_id: string; report_id: string; status: string; findings: number; rerun: boolean }> =
          []
        for (const t of yield* tenants.list()) {
          // the schedule's own actor id is the idempotency key with the due time
          const actor = actorIn(t.id, `system:schedule:${ctx.schedule}`)
          const before = yield* written(t.id, actor, ctx.due_at, days)
          const report = before ?? (yield* reports.runAuditor(t.id, actor, days))
          out.push({
            tenant_id: t.id,
            report_id: report.id,
            status: report.status,
            findings: report.findings.length,
            rerun: before !== null
          })
        }
        return { days, tenants: out }
      })
  } satisfies Scheduler.ScheduleTarget
})

const reconcileTarget = Effect.map(Executions.Executions, (executions): Scheduler.ScheduleTarget => ({
  name: executionsReconcile,
  description: "Executions: fail RUNNING executions with a stale heartbeat (args.stale_after_seconds; every tenant)",
  run: (ctx) =>
    Effect.flatMap(
      decodeArgs(executionsReconcile, ReconcileArgs)(ctx.args),
      (args) => executions.reconcileStale(args.stale_after_seconds)
    )
}))

/** The targets and commands this distribution registers. */
const registrations = Layer.mergeAll(
  Scheduler.registerTarget(Effect.map(tiering, (run) => ({
    name: memoryTiering,
    description: tieringDescription,
    run: () => run
  }))),
  Maintenance.registerCommand(Effect.map(tiering, (run) => ({
    name: memoryTiering,
    description: tieringDescription,
    run
  }))),
  Scheduler.registerTarget(rollupsTarget),
  Scheduler.registerTarget(notifyTarget),
  Scheduler.registerTarget(auditorTarget),
  Scheduler.registerTarget(reconcileTarget)
)

/** What {@link layer} provides. */
export type Services =
  | Scheduler.Scheduler
  | Scheduler.ScheduleTargets
  | Maintenance.Maintenance
  | Maintenance.MaintenanceCommands
  | SchedulerConfig.SchedulerConfig
  | MaintenanceConfig.MaintenanceConfig

/** What {@link layer} needs: the store ports, core's services and the services the targets run. */
export type Requirements =
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | SystemState.SystemStateStore
  | AgentMemory.AgentMemory
  | Audit.AuditLog
  | Ids.IdGenerator
  | Rbac.Rbac
  | Tenants.Tenants
  | KpiRollups.KpiRollups
  | AlertWebhook.AlertWebhook
  | CompanionReports.CompanionReports
  | Executions.Executions

/**
 * The scheduler and the maintenance service with this distribution's targets and commands
 * registered, configured from `AIRLOCK_SCHEDULER_*` / `AIRLOCK_MAINTENANCE_*` (provide the
 * store ports, core's services and the KPI, companion-reports and executions services). No
 * background loop, no default schedule.
 */
export const layer: Layer.Layer<Services, ConfigError.ConfigError, Requirements> = registrations.pipe(
  Layer.provideMerge(Layer.merge(Scheduler.layer, Maintenance.layer)),
  Layer.provideMerge(Layer.merge(SchedulerConfig.layerConfig, MaintenanceConfig.layerConfig))
)

/**
 * The schedules the server creates at start when the scheduler is on (and
 * `AIRLOCK_SCHEDULER_DEFAULT_SCHEDULES` is not `false`), each only when no schedule of that name
 * exists — an operator's change (disable, retime) is kept; a deleted one comes back at the next
 * start (disable it instead). Times are UTC.
 *
 * No default for `executions.reconcile`: the server's executions background already reconciles
 * every `AIRLOCK_EXEC_RECONCILE_INTERVAL_SECONDS`; a schedule would run it twice.
 */
export const defaultSchedules = (
  options: { readonly notify: boolean }
): ReadonlyArray<
  { readonly name: string; readonly expression: string; readonly target: string; readonly args?: unknown }
> => [
  // every 15 minutes: the console's latest-day row stays fresh; each run redoes the last 9 days
  { name: "kpi-rollups", expression: "*/15 * * * *", target: kpiRollups },
  ...(options.notify ? [{ name: "kpi-alerts-notify", expression: "@every:300", target: kpiAlertsNotify }] : []),
  { name: "companion-auditor-daily", expression: "30 2 * * *", target: companionAuditor, args: { days: AUDITOR_DAYS } }
]

/**
 * Creates the {@link defaultSchedules} that do not exist yet, audited as `system:scheduler` in the
 * system-level audit log (`TenantData.SYSTEM_AUDIT_TENANT`: schedules belong to no tenant);
 * another instance's creation is fine.
 */
export const ensureDefaultSchedules = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const webhook = yield* AlertWebhook.AlertWebhook
  const actor = actorIn(TenantData.SYSTEM_AUDIT_TENANT, systemActor.id)
  const created: Array<string> = []
  for (const s of defaultSchedules({ notify: webhook.enabled })) {
    const exists = yield* scheduler.get(s.name).pipe(
      Effect.as(true),
      Effect.catchTag("NotFound", () => Effect.succeed(false))
    )
    if (exists) continue
    const made = yield* scheduler.create(actor, s).pipe(
      Effect.as(true),
      Effect.catchTag("Conflict", () => Effect.succeed(false))
    )
    if (made) created.push(s.name)
  }
  return created
})

const defaultsEnabled = Config.boolean("AIRLOCK_SCHEDULER_DEFAULT_SCHEDULES").pipe(Config.withDefault(true))

/** At start, with the scheduler on: {@link ensureDefaultSchedules} (a failure is logged, never fatal). */
const layerDefaults: Layer.Layer<
  never,
  ConfigError.ConfigError,
  Scheduler.Scheduler | SchedulerConfig.SchedulerConfig | AlertWebhook.AlertWebhook
> = Layer.effectDiscard(Effect.gen(function*() {
  const settings = yield* SchedulerConfig.SchedulerConfig
  if (!settings.enabled || !(yield* defaultsEnabled)) return
  yield* ensureDefaultSchedules.pipe(
    Effect.tap((created) =>
      created.length === 0 ? Effect.void : Effect.logInfo(`scheduler: created default schedules ${created.join(", ")}`)
    ),
    Effect.catchAll((e) => Effect.logWarning("scheduler: default schedules not created", e))
  )
}))

/** {@link layer} with the default schedules, the server's tick loop and maintenance loop (each when enabled). */
export const layerLoops: Layer.Layer<Services, ConfigError.ConfigError, Requirements> = Layer.mergeAll(
  Scheduler.layerLoop,
  Maintenance.layerLoop,
  layerDefaults
).pipe(Layer.provideMerge(layer))

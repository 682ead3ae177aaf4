/** Handlers of the executions group: translate between JSON and ops' `Executions` and `Triage`. */
import type { Errors } from "@airlock/core"
import { Usd } from "@airlock/guardrails"
import { Executions, type ExecutionStore, Triage } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer, Option, Schema } from "effect"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

// an execution stores its triage report as JSON (written by `Triage`, so it decodes)
const decodeTriage = Schema.decodeUnknownOption(Triage.TriageReport)

/** The JSON form of an execution. */
export const executionJson = (r: ExecutionStore.ExecutionRecord) => ({
  run_id: r.run_id,
  job_name: r.job_name,
  plan: r.plan,
  plan_hash: r.plan_hash,
  risk_score: r.risk_score,
  status: r.status,
  attempts: r.attempts,
  retry_count: r.retry_count,
  requested_by: r.requested_by,
  action_id: r.action_id,
  claimed_by: r.claimed_by,
  queued_at: r.queued_at,
  started_at: r.started_at,
  heartbeat_at: r.heartbeat_at,
  finished_at: r.finished_at,
  progress: r.progress,
  progress_message: r.progress_message,
  error: r.error,
  failure_reason: r.failure_reason,
  estimated_cost_usd: Usd.formatUsd(r.estimated_cost_usd),
  actual_cost_usd: Usd.formatUsd(r.actual_cost_usd),
  log_tail: r.log_tail,
  triage: r.triage === null ? null : Option.getOrNull(decodeTriage(r.triage))
})

/** What a build can be refused with (the pipeline's gates for a protected, non-AI kind). */
type BuildError =
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.NotFound
  | Errors.Conflict
  | Errors.ApprovalRequired
  | Errors.BudgetExceeded
  | Errors.LockdownActive
  | Errors.Unavailable
  | Errors.StorageError

/** The executions group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "executions">,
  never,
  Executions.Executions | Triage.Triage | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "executions", (handlers) =>
  Effect.gen(function*() {
    const executions = yield* Executions.Executions
    const triage = yield* Triage.Triage
    return handlers
      .handle("submitBuild", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          // the pipeline types its failures as any taxonomy error; a build meets only these
          executions.submit(actor, tenant, payload) as Effect.Effect<Executions.Submitted, BuildError>
        ))
      .handle("listExecutions", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(executions.list(actor, tenant, urlParams), (page) => ({
            executions: page.executions.map(executionJson),
            next_cursor: page.next_cursor
          }))
        ))
      .handle("reconcile", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(executions.reconcile(actor, tenant, urlParams.stale_after_seconds), (r) => ({
            stale_after_seconds: r.stale_after_seconds,
            reconciled: r.reconciled,
            count: r.reconciled.length
          }))
        ))
      .handle("getExecution", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(executions.get(actor, tenant, path.run_id), executionJson)
        ))
      .handle("cancelExecution", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(executions.cancel(actor, tenant, path.run_id), executionJson)
        ))
      .handle("retryExecution", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(executions.retry(actor, tenant, path.run_id), executionJson)
        ))
      .handle("failureTriage", ({ path, urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            triage.reports(actor, tenant, path.job_name, urlParams.limit) as Effect.Effect<
              Triage.TriageHistory,
              Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.StorageError
            >,
            (h) => ({ job_name: h.job_name, latest: h.latest, history: [...h.history] })
          )
        ))
  }))

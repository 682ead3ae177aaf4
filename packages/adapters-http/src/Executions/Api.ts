/**
 * Contract of the executions group (data-platform runbook): builds through preflight, executions
 * (get, list by job and status, cancel, retry), the stale reconcile, and failure triage reports.
 * Tenant-scoped: the tenant a request acts on (an admin's `X-Tenant` included); ops' services
 * check permissions (`executions.run` to submit, cancel, retry; `ops.read` to read; `ops.write`
 * to reconcile).
 */
import { Executions, Triage } from "@airlock/ops"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { IdCursor, pageLimit, Timestamp } from "../Wire.js"

const NullTime = Schema.NullOr(Timestamp)

/** A failure triage report (ops' `Triage.TriageReport`), `triaged_at` an ISO 8601 time like every time of the API. */
export const TriageReport = Schema.Struct({ ...Triage.TriageReport.fields, triaged_at: Timestamp }).annotations({
  identifier: "TriageReport"
})

/** Execution statuses. */
export const ExecutionStatus = Schema.Literal("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED")

/** An execution (money as decimal dollar strings). */
export const Execution = Schema.Struct({
  run_id: Schema.String,
  job_name: Schema.String,
  plan: Schema.Unknown,
  plan_hash: Schema.String,
  risk_score: Schema.NullOr(Schema.Number),
  status: ExecutionStatus,
  attempts: Schema.Number,
  retry_count: Schema.Number,
  requested_by: Schema.String,
  action_id: Schema.NullOr(Schema.String),
  claimed_by: Schema.NullOr(Schema.String),
  queued_at: Timestamp,
  started_at: NullTime,
  heartbeat_at: NullTime,
  finished_at: NullTime,
  progress: Schema.NullOr(Schema.Number),
  progress_message: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  failure_reason: Schema.NullOr(Schema.String),
  estimated_cost_usd: Schema.String,
  actual_cost_usd: Schema.String,
  log_tail: Schema.Array(Schema.String),
  /** The triage report of its last failure, once triaged. */
  triage: Schema.NullOr(TriageReport)
}).annotations({ identifier: "Execution" })

/** What `POST /api/v1/builds` answers (202). */
export const BuildAccepted = Schema.Struct({
  run_id: Schema.String,
  status: Schema.Literal("QUEUED"),
  plan_hash: Schema.String,
  action_id: Schema.String
}).annotations({ identifier: "BuildAccepted" })

/** A page of executions. */
export const ExecutionPage = Schema.Struct({
  executions: Schema.Array(Execution),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ExecutionPage" })

/** What a reconcile did. */
export const ReconcileResult = Schema.Struct({
  stale_after_seconds: Schema.Number,
  reconciled: Schema.Array(Schema.String),
  count: Schema.Number
}).annotations({ identifier: "ReconcileResult" })

/** A job's triage reports, newest first. */
export const TriageReports = Schema.Struct({
  job_name: Schema.String,
  latest: Schema.NullOr(TriageReport),
  history: Schema.Array(TriageReport)
}).annotations({ identifier: "TriageReports" })

const RunId = HttpApiSchema.param("run_id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)))
const JobName = HttpApiSchema.param("job_name", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))

/** The executions group. */
export class ExecutionsApi extends HttpApiGroup.make("executions")
  .add(
    HttpApiEndpoint.post("submitBuild", "/api/v1/builds")
      .setPayload(Executions.BuildRequest)
      .addSuccess(BuildAccepted, { status: 202 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.ApprovalRequired)
      .addError(ApiError.BudgetExceeded)
      .addError(ApiError.LockdownActive)
      .addError(ApiError.Conflict)
      .addError(ApiError.NotFound)
      .addError(ApiError.Unavailable)
  )
  .add(
    HttpApiEndpoint.get("listExecutions", "/api/v1/executions")
      .setUrlParams(Schema.Struct({
        job_name: Schema.optional(Schema.String),
        status: Schema.optional(ExecutionStatus),
        limit: pageLimit({ default: 50, max: 500 }),
        cursor: Schema.optional(IdCursor)
      }))
      .addSuccess(ExecutionPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("reconcile", "/api/v1/executions/reconcile")
      .setUrlParams(Schema.Struct({
        stale_after_seconds: Schema.optional(Schema.NumberFromString.pipe(Schema.int()))
      }))
      .addSuccess(ReconcileResult)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("getExecution")`/api/v1/executions/${RunId}`
      .addSuccess(Execution)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.post("cancelExecution")`/api/v1/executions/${RunId}/cancel`
      .addSuccess(Execution)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.post("retryExecution")`/api/v1/executions/${RunId}/retry`
      .addSuccess(Execution)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.get("failureTriage")`/api/v1/triage/failure/${JobName}`
      .setUrlParams(Schema.Struct({
        limit: pageLimit({ default: 20, max: 200 })
      }))
      .addSuccess(TriageReports)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Executions")
  .annotate(OpenApi.Description, "Builds through preflight, executions, retry, cancel, stale reconcile, failure triage")
{}

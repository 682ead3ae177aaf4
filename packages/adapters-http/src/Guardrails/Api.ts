/**
 * Contract of the guardrails groups: approvals of high-risk plans, the execution budget and the
 * tenant's breaker events (group `guardrails`, tenant-scoped: the tenant a request acts on, an
 * admin's `X-Tenant` included); the global lockdown and its unlock code (group `lockdown`, admin
 * routes: see {@link LockdownApi}). The guardrails services check permissions.
 */
import { Approvals } from "@airlock/guardrails"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin, AdminBreakGlass, TenantScoped } from "../Auth.js"
import { IdCursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const NullTime = Schema.NullOr(Timestamp)

/** An approval of one plan (`subject` + `plan_hash`) and its status. */
export const Approval = Schema.Struct({
  subject: Schema.String,
  plan_hash: Schema.String,
  status: Schema.String,
  approved: Schema.Boolean,
  requested_by: Schema.NullOr(Schema.String),
  requested_at: NullTime,
  risk_score: Schema.NullOr(Schema.Number),
  approver: Schema.NullOr(Schema.String),
  approver_name: Schema.NullOr(Schema.String),
  notes: Schema.NullOr(Schema.String),
  granted_at: NullTime,
  expires_at: NullTime,
  revoked_at: NullTime,
  revoked_by: Schema.NullOr(Schema.String)
}).annotations({ identifier: "Approval" })

/** The global lockdown state. */
export const LockdownView = Schema.Struct({
  active: Schema.Boolean,
  source: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  since: NullTime,
  set_by: Schema.NullOr(Schema.String),
  code_expires_at: NullTime
}).annotations({ identifier: "Lockdown" })

/** The month's execution and AI spend against the budget (USD as decimal strings). */
export const BillingSummary = Schema.Struct({
  tenant_id: Schema.String,
  period: Schema.String,
  resets_at: Timestamp,
  limit_usd: Schema.NullOr(Schema.String),
  spent_usd: Schema.String,
  exec_spent_estimated_usd: Schema.String,
  ai_spent_actual_usd: Schema.String,
  ai_by_task: Schema.Record({ key: Schema.String, value: Schema.String }),
  exec_by_task: Schema.Record({ key: Schema.String, value: Schema.String }),
  remaining_estimated_usd: Schema.NullOr(Schema.String),
  budget_status: Schema.Literal("ok", "warning", "exceeded"),
  warning_percent: Schema.Number,
  llm_budget: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}).annotations({ identifier: "BillingSummary" })

/** A freshly rotated unlock code: shown once. */
export const RotatedCode = Schema.Struct({ code: Schema.String, expires_at: Timestamp })

/** A breaker event of the tenant. */
export const BreakerEvent = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  type: Schema.String,
  reason: Schema.String,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  actor_id: Schema.String,
  at: Timestamp
}).annotations({ identifier: "BreakerEvent" })

/**
 * Body of `POST /api/v1/approvals`: the plan's `subject`, or — as the data-platform runbook writes
 * it — its `job_name` (a build's subject is its job name); exactly one of them.
 */
export const GrantBody = strictBody({
  ...Approvals.GrantInput.fields,
  subject: Schema.optional(Approvals.GrantInput.fields.subject),
  job_name: Schema.optional(Approvals.GrantInput.fields.subject)
}).annotations({ identifier: "ApprovalGrant" })

const Subject = HttpApiSchema.param("subject", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)))
const PlanHash = HttpApiSchema.param("plan_hash", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))

/** The guardrails group. */
export class GuardrailsApi extends HttpApiGroup.make("guardrails")
  .add(
    HttpApiEndpoint.post("grantApproval", "/api/v1/approvals")
      .setPayload(GrantBody)
      .addSuccess(Approval)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("approvalStatus")`/api/v1/approvals/${Subject}/${PlanHash}`.addSuccess(Approval).addError(
      ApiError.Forbidden
    )
  )
  .add(
    HttpApiEndpoint.del("revokeApproval")`/api/v1/approvals/${Subject}/${PlanHash}`
      .addSuccess(Approval)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.get("billingSummary", "/api/v1/billing/summary").addSuccess(BillingSummary).addError(
      ApiError.Forbidden
    )
  )
  .add(
    HttpApiEndpoint.put("setBudget", "/api/v1/billing/budget")
      .setPayload(strictBody({ limit_usd: Schema.String.pipe(Schema.maxLength(32)) }))
      .addError(ApiError.ValidationError)
      .addSuccess(BillingSummary)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("breakerEvents", "/api/v1/companion/breaker-events")
      .setUrlParams(
        Schema.Struct({
          limit: pageLimit({ default: 100, max: 500 }),
          /** The id of the last event of the previous page (events are newest first). */
          before: Schema.optional(IdCursor)
        })
      )
      .addSuccess(Schema.Array(BreakerEvent))
      .addError(ApiError.Forbidden)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Guardrails")
  .annotate(OpenApi.Description, "Approvals, execution budget, breaker events")
{}

/**
 * The lockdown group: admin routes. `POST /api/v1/system/lockdown` goes through the full admin
 * chain (role, IP allowlist, `AIRLOCK_ADMIN_WRITE_ENABLED`); unlock and unlock-code rotation
 * through {@link AdminBreakGlass} (role and IP allowlist, no write guard), so a lockdown can be
 * lifted in production where admin writes are off. Audit records go to the tenant the request
 * acts on (`X-Tenant` for an admin, else the admin's own).
 */
export class LockdownApi extends HttpApiGroup.make("lockdown")
  .add(
    HttpApiEndpoint.post("lockdown", "/api/v1/system/lockdown")
      .setPayload(strictBody({ reason: Schema.optional(Schema.String.pipe(Schema.maxLength(500))) }))
      .addSuccess(LockdownView)
      .addError(ApiError.Forbidden)
      .middleware(Admin)
  )
  .add(
    HttpApiEndpoint.post("unlock", "/api/v1/system/unlock")
      .setPayload(strictBody({ code: Schema.String.pipe(Schema.maxLength(100)) }))
      .addSuccess(LockdownView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .addError(ApiError.RateLimited)
      .middleware(AdminBreakGlass)
  )
  .add(
    HttpApiEndpoint.post("rotateUnlockCode", "/api/v1/system/unlock-code/rotate")
      .addSuccess(RotatedCode)
      .addError(ApiError.Forbidden)
      .middleware(AdminBreakGlass)
  )
  .annotate(OpenApi.Title, "Lockdown")
  .annotate(OpenApi.Description, "Global lockdown, unlock with the unlock code, code rotation (admin)")
{}

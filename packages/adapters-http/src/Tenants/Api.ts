/**
 * Contract of the tenants group (issue 14, the rollout runbook's pilot onboarding and GDPR
 * export/delete, the data-platform runbook's tenant health):
 *
 * - `POST /api/v1/tenants {template, name, admin_email?}` — onboarding by a platform admin
 *   (`Auth.Admin`: ADMIN role, admin IP allowlist, admin write guard; the library checks
 *   `tenant.admin`). Idempotent on the `Idempotency-Key` header: a replay answers 200 with the
 *   same tenant and `api_token: null` (a token is shown once); the same key with another request
 *   is 409 `tenant.onboarding.idempotency_conflict`. The first answer is 201.
 * - `GET /api/v1/tenants/{tenant}/health` — mode and switches, guardrails, budgets, last import,
 *   last auditor run, open reviews (`ops.read`).
 * - `PUT /api/v1/tenants/{tenant}/companion {ai_companion_enabled}` — the tenant's feature flag,
 *   the second of the companion runbook's three switches (`tenant.admin`; audited as
 *   `tenant.ai_companion_enabled`). Off, propose and apply answer 403 `companion.disabled`.
 * - `POST /api/v1/tenants/{tenant}/export` — the tenant's data as a `.tar.gz` download
 *   (`tenant.data.export`), streamed.
 * - `DELETE /api/v1/tenants/{tenant}?confirm=true` — deletes every row of the tenant
 *   (`tenant.data.delete`); 400 `tenant.delete.unconfirmed` without `confirm=true`, 403
 *   `tenant.delete.protected` for a protected tenant. Answers the tombstone.
 *
 * The `{tenant}` path parameter names the tenant like `X-Tenant` does (see `Auth`): the token's
 * own tenant, or another one for an actor with `tenant.cross` — then as an admin action, behind
 * the admin IP allowlist and (for the writes) the admin write guard.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin, TenantScoped } from "../Auth.js"
import { BillingSummary, LockdownView } from "../Guardrails/Api.js"
import { BreakerState, CompanionState, RunStatus } from "../System/Api.js"
import { strictBody, Timestamp } from "../Wire.js"

const TenantParam = HttpApiSchema.param("tenant", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))

/** Body of `POST /api/v1/tenants`. */
export const OnboardBody = strictBody({
  template: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)),
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  admin_email: Schema.optional(Schema.String.pipe(Schema.minLength(3), Schema.maxLength(254)))
}).annotations({ identifier: "OnboardTenant" })

/** One numbered onboarding step, as the runbook prints it. */
const Step = Schema.Struct({ step: Schema.Number, title: Schema.String, result: Schema.String })

/** What onboarding did (the runbook's output, config document and `.env` snippet). */
export const Onboarded = Schema.Struct({
  tenant_id: Schema.String,
  template: Schema.String,
  admin_actor_id: Schema.String,
  token_id: Schema.String,
  /** Shown once: null on a replay of the same `Idempotency-Key`. */
  api_token: Schema.NullOr(Schema.String),
  replayed: Schema.Boolean,
  /** Accounts imported from the template's chart preset. */
  accounts_imported: Schema.Number,
  /** The seed user (the tenant's admin, role OWNER). */
  seed_user: Schema.Struct({ user_id: Schema.String, email: Schema.String }),
  steps: Schema.Array(Step),
  /** The runbook's tenant config document. */
  config: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** The runbook's `.env` snippet. */
  env: Schema.String
}).annotations({ identifier: "OnboardedTenant" })

/** A tenant's health. */
export const TenantHealth = Schema.Struct({
  tenant_id: Schema.String,
  tenant_name: Schema.String,
  mode: Schema.String,
  switches: Schema.Struct({
    ai_global: Schema.Boolean,
    companion_enabled: Schema.Boolean,
    kill_switch: Schema.Boolean,
    ai_enabled: Schema.Boolean,
    effective: CompanionState
  }),
  lockdown: LockdownView,
  run: RunStatus,
  breakers: Schema.Struct({
    providers: Schema.Array(BreakerState),
    velocity: BreakerState,
    trust: BreakerState
  }),
  budgets: BillingSummary,
  last_import: Schema.NullOr(Schema.Struct({ at: Timestamp, by: Schema.String, transactions: Schema.Number })),
  /** The companion auditor's last run: its newest integrity report (null before the first run). */
  last_auditor_run: Schema.NullOr(Schema.Struct({
    id: Schema.String,
    at: Timestamp,
    by: Schema.String,
    days: Schema.Number,
    window_start: Schema.String,
    window_end: Schema.String,
    status: Schema.Literal("clean", "findings"),
    finding_count: Schema.Number,
    counts: Schema.Record({ key: Schema.String, value: Schema.Number })
  })),
  open_reviews: Schema.Struct({
    proposals: Schema.Number,
    memory_review_queue: Schema.Number,
    memory_oldest_open_at: Schema.NullOr(Timestamp)
  })
}).annotations({ identifier: "TenantHealth" })

/** Body of `PUT /api/v1/tenants/{tenant}/companion`. */
export const CompanionFlagBody = strictBody({ ai_companion_enabled: Schema.Boolean }).annotations({
  identifier: "CompanionFlagUpdate"
})

/** The tenant's companion feature flag after a change. */
export const CompanionFlag = Schema.Struct({
  tenant_id: Schema.String,
  ai_companion_enabled: Schema.Boolean
}).annotations({ identifier: "CompanionFlag" })

/** The tombstone of a deleted tenant: who, when, rows per table — no tenant data. */
export const Tombstone = Schema.Struct({
  tenant_id: Schema.String,
  deleted_by: Schema.String,
  deleted_by_tenant: Schema.String,
  deleted_at: Timestamp,
  counts: Schema.Record({ key: Schema.String, value: Schema.Number }),
  rows_deleted: Schema.Number,
  open_memory_reviews_removed: Schema.Number,
  audit_seq: Schema.Number
}).annotations({ identifier: "TenantTombstone" })

/** Admin-only onboarding (a tenant that does not exist yet has no owner to ask). */
export class TenantsAdminApi extends HttpApiGroup.make("tenantsAdmin")
  .add(
    HttpApiEndpoint.post("onboardTenant", "/api/v1/tenants")
      .setPayload(OnboardBody)
      .setHeaders(Schema.Struct({ "idempotency-key": Schema.optional(Schema.String.pipe(Schema.maxLength(200))) }))
      .addSuccess(Onboarded, { status: 201 })
      .addSuccess(Onboarded.annotations({ identifier: "OnboardedTenantReplay" }), { status: 200 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .middleware(Admin)
  .annotate(OpenApi.Title, "Tenants (onboarding)")
  .annotate(OpenApi.Description, "Onboard a tenant from a template (platform admin; idempotent on Idempotency-Key)")
{}

/** A tenant's own routes: health, export, delete. */
export class TenantsApi extends HttpApiGroup.make("tenants")
  .add(
    HttpApiEndpoint.get("tenantHealth")`/api/v1/tenants/${TenantParam}/health`
      .addSuccess(TenantHealth)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.put("setCompanionFlag")`/api/v1/tenants/${TenantParam}/companion`
      .setPayload(CompanionFlagBody)
      .addSuccess(CompanionFlag)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("exportTenant")`/api/v1/tenants/${TenantParam}/export`
      .addSuccess(HttpApiSchema.Uint8Array({ contentType: "application/gzip" }))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.del("deleteTenant")`/api/v1/tenants/${TenantParam}`
      .setUrlParams(Schema.Struct({ confirm: Schema.optional(Schema.Literal("true", "false")) }))
      .addSuccess(Tombstone)
      .addError(ApiError.Forbidden)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Tenants")
  .annotate(
    OpenApi.Description,
    "A tenant's health, its data export (.tar.gz) and its deletion; {tenant} names the tenant as X-Tenant does"
  )
{}

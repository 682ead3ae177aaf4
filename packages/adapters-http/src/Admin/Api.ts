/**
 * Contract of the admin group (`/api/admin/*`): admin role, source IP allowlist, and writes only
 * when admin writes are enabled (see `Auth`). Phase 1: status, the tenant's audit log with chain
 * verification (incremental on listing; a full verification on demand), and the operator
 * override of the global AI switch.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin, AdminInspect, AdminTenantScoped } from "../Auth.js"
import { RunView } from "../RunControl/Api.js"
import { Banner, Environment, GlobalAi, pageLimit, strictBody, Timestamp } from "../Wire.js"

/** Admin status: what the ops console's prod guardrail checks read (`admin_write_enabled`). */
export const AdminStatus = Schema.Struct({
  environment: Environment,
  /** The ops console's banner (`PRODUCTION`, `Write controls disabled`). */
  banner: Banner,
  admin_write_enabled: Schema.Boolean,
  admin_ip_allowlist_enabled: Schema.Boolean,
  tenant_strict: Schema.Boolean,
  rate_limit_enabled: Schema.Boolean,
  max_body_bytes: Schema.Number,
  ai_global: GlobalAi,
  server_time: Timestamp,
  started_at: Timestamp,
  uptime_seconds: Schema.Number,
  /** The ops console's banner: `PRODUCTION` in production, `DEVELOPMENT` otherwise. */
  environment_banner: Schema.Literal("DEVELOPMENT", "PRODUCTION"),
  /** The run (run controls). */
  run: RunView,
  /** Runtime overrides beside the run (`run.active`, `run.paused`, the guardrail stop, the AI switch). */
  overrides: Schema.Array(Schema.Struct({
    key: Schema.String,
    value: Schema.Unknown,
    updated_at: Timestamp,
    updated_by: Schema.String
  })),
  /** Recent stop-condition events (`simulation_stopped_guardrail`, resets), newest first. */
  stop_events: Schema.Array(Schema.Struct({
    id: Schema.String,
    type: Schema.String,
    reason: Schema.String,
    data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    actor_id: Schema.String,
    at: Timestamp
  }))
}).annotations({ identifier: "AdminStatus" })

/** One audit record. */
export const AuditRecord = Schema.Struct({
  seq: Schema.Number,
  at: Timestamp,
  actor_id: Schema.String,
  action: Schema.String,
  subject: Schema.String,
  data: Schema.Unknown,
  prev_hash: Schema.String,
  hash: Schema.String
}).annotations({ identifier: "AuditRecord" })

/**
 * The result of verifying a tenant's hash chain: `scope` `incremental` (from the stored
 * checkpoint; a listing page also checks the records it returns) or `full` (from the first record),
 * `checked` records hashed, `verified_through` the checkpoint after it, `complete` false when an
 * incremental walk stopped at its budget before the head.
 */
export const ChainVerification = Schema.Struct({
  ok: Schema.Boolean,
  checked: Schema.Number,
  first_break: Schema.NullOr(Schema.Struct({
    seq: Schema.Number,
    reason: Schema.Literal("hash_mismatch", "prev_hash_mismatch", "sequence_gap", "truncated")
  })),
  scope: Schema.Literal("incremental", "full"),
  verified_through: Schema.Number,
  complete: Schema.Boolean
}).annotations({ identifier: "ChainVerification" })

/** Body of `POST /api/admin/audit/verify`: `full` walks from the first record. */
export const VerifyRequest = strictBody({ full: Schema.optional(Schema.Boolean) }).annotations({
  identifier: "AuditVerifyRequest"
})

/** A page of a tenant's audit log. */
export const AuditPage = Schema.Struct({
  tenant_id: Schema.String,
  records: Schema.Array(AuditRecord),
  /** Pass as `after_seq` for the next page; null on the last page. */
  next_after_seq: Schema.NullOr(Schema.Number),
  /**
   * Chain verification (null with `verify=false`): incremental from the checkpoint (at most
   * `AUDIT_LISTING_VERIFY_BUDGET` new records per listing), plus the records of this page.
   */
  chain: Schema.NullOr(ChainVerification)
}).annotations({ identifier: "AuditPage" })

/** Query of the audit page. */
export const AuditQuery = Schema.Struct({
  after_seq: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, Number.MAX_SAFE_INTEGER))),
  limit: pageLimit({ default: 100, max: 1000 }),
  verify: Schema.optional(Schema.BooleanFromString)
})

/** The operator override of the global AI switch. */
export const AiGlobalUpdate = strictBody({ enabled: Schema.Boolean }).annotations({ identifier: "AiGlobalUpdate" })

/** The admin group. */
export class AdminApi extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("status", "/api/admin/status").addSuccess(AdminStatus).middleware(Admin))
  .add(
    HttpApiEndpoint.get("audit", "/api/admin/audit").setUrlParams(AuditQuery).addSuccess(AuditPage).middleware(
      AdminTenantScoped
    )
  )
  .add(
    HttpApiEndpoint.post("verifyAudit", "/api/admin/audit/verify")
      .setPayload(VerifyRequest)
      .addSuccess(ChainVerification)
      .middleware(AdminInspect)
  )
  .add(
    HttpApiEndpoint.put("setAiGlobal", "/api/admin/ai-global").setPayload(AiGlobalUpdate).addSuccess(GlobalAi).addError(
      ApiError.Forbidden
    ).middleware(Admin)
  )
  .annotate(OpenApi.Title, "Admin")
  .annotate(OpenApi.Description, "Operator routes: admin role, IP allowlist, write guard")
{}

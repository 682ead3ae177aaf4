/**
 * Contract of the operations group (`/api/admin/*`, admin middleware: role, IP allowlist, write
 * guard on writes): the controlled restart (drain, the host's restart hook, readiness again), the
 * setup doctor (and its safe fixes) and online backups of the embedded database (the last two
 * when the host configured them).
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin } from "../Auth.js"
import { strictBody, Timestamp } from "../Wire.js"

/** One readiness check's outcome (as `/readyz` reports it). */
const CheckOutcome = Schema.Struct(
  { ok: Schema.Boolean, duration_ms: Schema.Number, reason: Schema.optional(Schema.String) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/** Body of `POST /api/admin/control/restart`. */
export const RestartInput = strictBody({ reason: Schema.optional(Schema.String.pipe(Schema.maxLength(500))) })
  .annotations({ identifier: "RestartInput" })

/** What a controlled restart did. */
export const RestartReport = Schema.Struct({
  requested_by: Schema.String,
  reason: Schema.String,
  started_at: Timestamp,
  finished_at: Timestamp,
  drain: Schema.Struct({
    waited_ms: Schema.Number,
    timed_out: Schema.Boolean,
    in_flight_left: Schema.Number,
    background_interrupted: Schema.Number
  }),
  hook: Schema.Struct({ status: Schema.Literal("ok", "none", "failed"), error: Schema.NullOr(Schema.String) }),
  ready: Schema.Boolean,
  readiness: Schema.Struct({
    ready: Schema.Boolean,
    checks: Schema.Record({ key: Schema.String, value: CheckOutcome })
  })
}).annotations({ identifier: "RestartReport" })

/** Body of `POST /api/admin/backup`. */
export const BackupInput = strictBody({ gzip: Schema.optional(Schema.Boolean) }).annotations({
  identifier: "BackupInput"
})

/** One backup file. */
export const BackupInfo = Schema.Struct({
  name: Schema.String,
  path: Schema.String,
  bytes: Schema.Number,
  gzip: Schema.Boolean,
  created_at: Timestamp
}).annotations({ identifier: "BackupInfo" })

/** The backups of the configured directory, newest first. */
export const BackupList = Schema.Struct({ backups: Schema.Array(BackupInfo) }).annotations({
  identifier: "BackupList"
})

/** One doctor finding. */
export const DoctorFinding = Schema.Struct({
  check: Schema.String,
  status: Schema.Literal("ok", "warn", "fail", "skipped"),
  code: Schema.String,
  message: Schema.String,
  details: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  outage_class: Schema.NullOr(
    Schema.Literal("dns_resolution", "timeout", "network_unreachable", "provider_unavailable")
  ),
  fixable: Schema.Boolean
}).annotations({ identifier: "DoctorFinding" })

/** The doctor's report. */
export const DoctorReport = Schema.Struct({
  ok: Schema.Boolean,
  environment: Schema.String,
  findings: Schema.Array(DoctorFinding),
  fixed: Schema.Array(Schema.Struct({
    check: Schema.String,
    action: Schema.String,
    ok: Schema.Boolean,
    details: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  })),
  needs_attention: Schema.Array(Schema.String)
}).annotations({ identifier: "DoctorReport" })

/** The operations group. */
export class OperationsApi extends HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.post("restart", "/api/admin/control/restart")
      .setPayload(RestartInput)
      .addSuccess(RestartReport)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .middleware(Admin)
  )
  .add(
    HttpApiEndpoint.get("doctor", "/api/admin/doctor")
      .addSuccess(DoctorReport)
      .addError(ApiError.Conflict)
      .middleware(Admin)
  )
  .add(
    HttpApiEndpoint.post("doctorFix", "/api/admin/doctor/fix")
      .addSuccess(DoctorReport)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .addError(ApiError.StorageError)
      .middleware(Admin)
  )
  .add(
    HttpApiEndpoint.post("backup", "/api/admin/backup")
      .setPayload(BackupInput)
      .addSuccess(BackupInfo, { status: 201 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .addError(ApiError.StorageError)
      .middleware(Admin)
  )
  .add(
    HttpApiEndpoint.get("backups", "/api/admin/backups")
      .addSuccess(BackupList)
      .addError(ApiError.Conflict)
      .addError(ApiError.StorageError)
      .middleware(Admin)
  )
  .annotate(OpenApi.Title, "Operations")
  .annotate(OpenApi.Description, "Controlled restart, setup doctor, backups (admin)")
{}

/**
 * Contract of the operations group (`/api/admin/*`, admin middleware: role, IP allowlist, write
 * guard on writes): the controlled restart (drain, the host's restart hook, readiness again).
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
  .annotate(OpenApi.Title, "Operations")
  .annotate(OpenApi.Description, "Controlled restart, setup doctor, backups (admin)")
{}

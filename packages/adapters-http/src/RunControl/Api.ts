/**
 * Contract of the run-control group (ops console runbook): `POST /api/admin/control/run/{start|
 * stop|pause|resume|reset}` and `GET /api/admin/metrics/run`. Admin routes: admin role, IP
 * allowlist, and — for every write — `AIRLOCK_ADMIN_WRITE_ENABLED` (403 `admin.write_disabled`,
 * nothing changes). The operator's name (the console's "Actor name") travels as `actor_name` in
 * the body or the `X-Actor-Name` header (the body wins) and is audited with the token's actor.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin } from "../Auth.js"
import { strictBody, Timestamp } from "../Wire.js"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))

/** A guardrail stop behind a paused run. */
export const RunStop = Schema.Struct({
  reason: Schema.String,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  at: Timestamp
}).annotations({ identifier: "RunStop" })

/** The run as the ops console shows it. */
export const RunView = Schema.Struct({
  phase: Schema.Literal("idle", "running", "paused"),
  active: Schema.Boolean,
  paused: Schema.Boolean,
  run_id: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  started_by: Schema.NullOr(Schema.String),
  started_by_name: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Timestamp),
  stop: Schema.NullOr(RunStop)
}).annotations({ identifier: "RunView" })

/** The answer of `reset`: the run, and whether the host's hook re-seeded the world (the console's notice). */
export const RunReset = Schema.Struct({
  ...RunView.fields,
  /** The host's reset + reseed hook ran (a server without one only resets the run state). */
  reseeded: Schema.Boolean,
  /** `Dev world reset + reseeded`, or `Run state reset (no reseed hook)`. */
  message: Schema.String
}).annotations({ identifier: "RunReset" })

/** The run's metrics: actions by kind since it started. */
export const RunMetrics = Schema.Struct({
  run_id: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Timestamp),
  phase: Schema.Literal("idle", "running", "paused"),
  total_actions: Schema.Number,
  by_kind: Schema.Record({ key: Schema.String, value: Schema.Number })
}).annotations({ identifier: "RunMetrics" })

/** Body of `start`. */
export const StartBody = strictBody({
  run_id: Schema.optional(Schema.String.pipe(Schema.maxLength(128))),
  reason: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  /** Reset + reseed the world before starting (development only). */
  reset: Schema.optional(Schema.Boolean),
  actor_name: Schema.optional(Name)
}).annotations({ identifier: "RunStart" })

/** Body of the other commands. */
export const CommandBody = strictBody({
  reason: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  actor_name: Schema.optional(Name)
}).annotations({ identifier: "RunCommand" })

const command = <const Name extends "stop" | "pause" | "resume">(name: Name) =>
  HttpApiEndpoint.post(name, `/api/admin/control/run/${name}` as const)
    .setPayload(CommandBody)
    .addSuccess(RunView)
    .addError(ApiError.Forbidden)
    .addError(ApiError.Conflict)
    .middleware(Admin)

/** The run-control group. */
export class RunControlApi extends HttpApiGroup.make("runControl")
  .add(
    HttpApiEndpoint.post("start", "/api/admin/control/run/start")
      .setPayload(StartBody)
      .addSuccess(RunView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .middleware(Admin)
  )
  .add(command("stop"))
  .add(command("pause"))
  .add(command("resume"))
  .add(
    HttpApiEndpoint.post("reset", "/api/admin/control/run/reset")
      .setPayload(CommandBody)
      .addSuccess(RunReset)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .middleware(Admin)
  )
  .add(HttpApiEndpoint.get("runMetrics", "/api/admin/metrics/run").addSuccess(RunMetrics).middleware(Admin))
  .annotate(OpenApi.Title, "Run control")
  .annotate(OpenApi.Description, "Start, stop, pause, resume, reset the run; run metrics (admin)")
{}

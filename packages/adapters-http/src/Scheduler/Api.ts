/**
 * Contract of the scheduler group (`/api/admin/schedules*`, `/api/admin/maintenance/*`): the
 * schedules' CRUD, their dispatch history and `schedule.trigger` events, an on-demand tick (the
 * runbook's scheduler check), and the maintenance loop's status, run-now, enqueue and failure
 * records. Admin routes: admin role, IP allowlist, and writes only when admin writes are enabled
 * (403 `admin.write_disabled`). Times are ISO 8601 strings.
 */
import { MaintenanceStore, Schedules, ScheduleStore } from "@airlock/ops"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin } from "../Auth.js"
import { codedMessage } from "../internal/issues.js"
import { IdCursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const NullTime = Schema.NullOr(Timestamp)

/** A schedule. `next_due_at` is the next due time not yet dispatched (null while disabled). */
export const Schedule = Schema.Struct({
  name: Schema.String,
  expression: Schema.String,
  time_zone: Schema.String,
  target: Schema.String,
  args: Schema.Unknown,
  enabled: Schema.Boolean,
  overlap: Schedules.OverlapPolicy,
  catch_up: Schedules.CatchUpPolicy,
  next_due_at: NullTime,
  created_at: Timestamp,
  updated_at: Timestamp,
  updated_by: Schema.String,
  version: Schema.Number
}).annotations({ identifier: "Schedule" })

/** A registered target a schedule can name. */
export const Target = Schema.Struct({ name: Schema.String, description: Schema.String }).annotations({
  identifier: "ScheduleTarget"
})

/** Every schedule, and the targets registered in this server. */
export const ScheduleList = Schema.Struct({
  schedules: Schema.Array(Schedule),
  targets: Schema.Array(Target)
}).annotations({ identifier: "ScheduleList" })

/** One dispatch record: a schedule's due time, claimed once, and its execution. */
export const Dispatch = Schema.Struct({
  schedule: Schema.String,
  due_at: Timestamp,
  target: Schema.String,
  dispatched_at: Timestamp,
  dispatched_by: Schema.String,
  late: Schema.Boolean,
  status: ScheduleStore.DispatchStatus,
  attempts: Schema.Number,
  available_at: Timestamp,
  lease_owner: Schema.NullOr(Schema.String),
  lease_until: NullTime,
  started_at: NullTime,
  finished_at: NullTime,
  last_error: Schema.NullOr(Schema.String),
  result: Schema.Unknown
}).annotations({ identifier: "ScheduleDispatch" })

/** A schedule's dispatch history, newest due time first. */
export const DispatchPage = Schema.Struct({
  schedule: Schema.String,
  dispatches: Schema.Array(Dispatch),
  /** Pass as `before` for the next page; null on the last one. */
  next_before: NullTime
}).annotations({ identifier: "ScheduleDispatchPage" })

/** A `schedule.trigger` event (one per dispatch record). */
export const TriggerEvent = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("schedule.trigger"),
  schedule: Schema.String,
  due_at: Timestamp,
  at: Timestamp,
  instance: Schema.String,
  data: Schema.Unknown
}).annotations({ identifier: "ScheduleTriggerEvent" })

/** What one tick did. */
export const TickReport = Schema.Struct({
  instance: Schema.String,
  at: Timestamp,
  dispatched: Schema.Array(Schema.Struct({
    schedule: Schema.String,
    due_at: Timestamp,
    status: Schema.Literal("pending", "skipped"),
    late: Schema.Boolean
  })),
  advanced: Schema.Number,
  lost: Schema.Number,
  executed: Schema.Array(Schema.Struct({
    schedule: Schema.String,
    due_at: Timestamp,
    attempt: Schema.Number,
    status: ScheduleStore.DispatchStatus,
    error: Schema.NullOr(Schema.String)
  }))
}).annotations({ identifier: "ScheduleTickReport" })

/** The scheduler's backlog and lag (also in `GET /api/v1/system/status`). */
export const SchedulerStatus = Schema.Struct({
  enabled: Schema.Boolean,
  instance: Schema.String,
  tick_seconds: Schema.Number,
  last_tick_at: NullTime,
  schedules: Schema.Number,
  due: Schema.Number,
  dispatched: Schema.Number,
  running: Schema.Number,
  late: Schema.Number,
  lag_seconds: Schema.Number,
  last_error: Schema.NullOr(Schema.Struct({
    schedule: Schema.String,
    due_at: Timestamp,
    error: Schema.String,
    at: Timestamp
  }))
}).annotations({ identifier: "SchedulerStatus" })

/** A maintenance run. */
export const MaintenanceRun = Schema.Struct({
  id: Schema.String,
  command: Schema.String,
  trigger: MaintenanceStore.RunTrigger,
  status: MaintenanceStore.RunStatus,
  requested_by: Schema.String,
  enqueued_at: Timestamp,
  owner: Schema.NullOr(Schema.String),
  started_at: NullTime,
  finished_at: NullTime,
  result: Schema.Unknown,
  error: Schema.NullOr(Schema.String)
}).annotations({ identifier: "MaintenanceRun" })

/** A failed maintenance run, and the agent-memory `failure` item written for it. */
export const MaintenanceFailure = Schema.Struct({
  id: Schema.String,
  run_id: Schema.String,
  command: Schema.String,
  at: Timestamp,
  error: Schema.String,
  memory_uid: Schema.NullOr(Schema.String)
}).annotations({ identifier: "MaintenanceFailure" })

/** The maintenance loop's state. */
export const MaintenanceStatus = Schema.Struct({
  enabled: Schema.Boolean,
  interval_seconds: Schema.Number,
  heartbeat_interval_seconds: Schema.Number,
  last_heartbeat_at: NullTime,
  last_heartbeat_by: Schema.NullOr(Schema.String),
  queued: Schema.Number,
  commands: Schema.Array(Schema.Struct({
    name: Schema.String,
    description: Schema.String,
    scheduled: Schema.Boolean,
    last_run: Schema.NullOr(MaintenanceRun)
  }))
}).annotations({ identifier: "MaintenanceStatus" })

/**
 * What `POST /api/admin/maintenance/enqueue` answers: the queued runs, and `warning` (null when
 * this server's loop takes the queue) — `maintenance.loop_disabled` when the loop is disabled, so
 * the runs stay queued until a server runs with `AIRLOCK_MAINTENANCE_ENABLED=true`.
 */
export const MaintenanceEnqueued = Schema.Struct({
  runs: Schema.Array(MaintenanceRun),
  warning: Schema.NullOr(Schema.Struct({ code: Schema.Literal("maintenance.loop_disabled"), message: Schema.String }))
}).annotations({ identifier: "MaintenanceEnqueued" })

/** Which commands to run or enqueue (every registered command when omitted or empty). */
export const MaintenanceRequest = strictBody({
  commands: Schema.optional(Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))))
}).annotations({ identifier: "MaintenanceRequest" })

const { expression: ExpressionField, ...createFields } = Schedules.ScheduleInput.fields
const { expression: _expression, ...updateFields } = Schedules.ScheduleUpdate.fields

/**
 * The timing of a schedule in a request body: `expression`, or `cron_expr` (the assistant
 * runbook's name: "Insert schedule with `cron_expr='@every:60'`"), never both
 * (`validation.ambiguous_body`). Answers name it `expression` only.
 */
const expressionAliases = {
  expression: Schema.optional(ExpressionField),
  cron_expr: Schema.optional(ExpressionField)
}

const oneExpression =
  (required: boolean) => (b: { readonly expression?: string | undefined; readonly cron_expr?: string | undefined }) =>
    b.expression !== undefined && b.cron_expr !== undefined
      ? codedMessage(
        "validation.ambiguous_body",
        "Give the schedule's expression once: either expression or cron_expr (its runbook name), not both"
      )
      : !required || b.expression !== undefined || b.cron_expr !== undefined ||
        "expression is missing (or its runbook name, cron_expr)"

/** Body of `POST /api/admin/schedules`: `Schedules.ScheduleInput`, with `cron_expr` accepted for `expression`. */
export const ScheduleCreate = strictBody({ ...createFields, ...expressionAliases }).pipe(
  Schema.filter(oneExpression(true))
).annotations({ identifier: "ScheduleCreate" })

/** Body of `PUT /api/admin/schedules/{name}`: `Schedules.ScheduleUpdate`, with `cron_expr` accepted for `expression`. */
export const ScheduleChange = strictBody({ ...updateFields, ...expressionAliases }).pipe(
  Schema.filter(oneExpression(false))
).annotations({ identifier: "ScheduleChange" })

const NamePath = HttpApiSchema.param("name", Schema.String)

/** A list's `limit` with its default (the service's) and maximum. */
const limit = (defaultSize: number, max: number) => pageLimit({ default: defaultSize, max })

// Shared error lists: `addError` flattens a union into its members, each with its own status,
// exactly as one `addError` per member does.
/** A read of one schedule: unknown name, storage. */
const ReadErrors = Schema.Union(ApiError.NotFound, ApiError.StorageError)
/** A change to a schedule: not an admin, unknown name, changed concurrently, storage. */
const ChangeErrors = Schema.Union(ApiError.Forbidden, ApiError.NotFound, ApiError.Conflict, ApiError.StorageError)
/** A maintenance request: not an admin, storage. */
const MaintenanceErrors = Schema.Union(ApiError.Forbidden, ApiError.StorageError)

/** The scheduler group. */
export class SchedulerApi extends HttpApiGroup.make("scheduler")
  .add(HttpApiEndpoint.get("list", "/api/admin/schedules").addSuccess(ScheduleList).addError(ApiError.StorageError))
  .add(
    HttpApiEndpoint.post("create", "/api/admin/schedules")
      .setPayload(ScheduleCreate)
      .addSuccess(Schedule, { status: 201 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .addError(ApiError.StorageError)
  )
  .add(
    HttpApiEndpoint.post("tick", "/api/admin/schedules/tick").addSuccess(TickReport).addError(ApiError.StorageError)
  )
  .add(
    HttpApiEndpoint.get("get")`/api/admin/schedules/${NamePath}`
      .addSuccess(Schedule)
      .addError(ReadErrors)
  )
  .add(
    HttpApiEndpoint.put("update")`/api/admin/schedules/${NamePath}`
      .setPayload(ScheduleChange)
      .addSuccess(Schedule)
      .addError(ChangeErrors)
  )
  .add(
    HttpApiEndpoint.del("remove")`/api/admin/schedules/${NamePath}`
      .addSuccess(Schema.Void, { status: 204 })
      .addError(ChangeErrors)
  )
  .add(
    HttpApiEndpoint.get("dispatches")`/api/admin/schedules/${NamePath}/dispatches`
      .setUrlParams(Schema.Struct({ limit: limit(50, 500), before: Schema.optional(Timestamp) }))
      .addSuccess(DispatchPage)
      .addError(ReadErrors)
  )
  .add(
    HttpApiEndpoint.get("events")`/api/admin/schedules/${NamePath}/events`
      .setUrlParams(Schema.Struct({ limit: limit(100, 1000) }))
      .addSuccess(Schema.Struct({ events: Schema.Array(TriggerEvent) }))
      .addError(ReadErrors)
  )
  .add(
    HttpApiEndpoint.get("maintenanceStatus", "/api/admin/maintenance/status")
      .addSuccess(MaintenanceStatus)
      .addError(ApiError.StorageError)
  )
  .add(
    HttpApiEndpoint.post("maintenanceRun", "/api/admin/maintenance/run")
      .setPayload(MaintenanceRequest)
      .addSuccess(Schema.Struct({ runs: Schema.Array(MaintenanceRun) }))
      .addError(MaintenanceErrors)
  )
  .add(
    HttpApiEndpoint.post("maintenanceEnqueue", "/api/admin/maintenance/enqueue")
      .setPayload(MaintenanceRequest)
      .addSuccess(MaintenanceEnqueued, { status: 202 })
      .addError(MaintenanceErrors)
  )
  .add(
    HttpApiEndpoint.get("maintenanceFailures", "/api/admin/maintenance/failures")
      .setUrlParams(Schema.Struct({
        limit: limit(50, 500),
        command: Schema.optional(Schema.String),
        before: Schema.optional(IdCursor)
      }))
      .addSuccess(
        Schema.Struct({ failures: Schema.Array(MaintenanceFailure), next_before: Schema.NullOr(Schema.String) })
      )
      .addError(ApiError.StorageError)
  )
  .middleware(Admin)
  .annotate(OpenApi.Title, "Scheduler")
  .annotate(
    OpenApi.Description,
    "Schedules (cron with a time zone, or @every:N), exactly-once dispatch, on-demand tick; the maintenance loop"
  )
{}

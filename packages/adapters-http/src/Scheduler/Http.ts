/** Handlers of the scheduler group: translate between JSON and ops' `Scheduler` and `Maintenance`. */
import { Maintenance, type MaintenanceStore, Scheduler, type Schedules, type ScheduleStore } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** The JSON form of a schedule (times stay milliseconds; the API schema writes ISO strings). */
export const scheduleJson = (s: Schedules.ScheduleRecord) => ({
  name: s.name,
  expression: s.expression,
  time_zone: s.time_zone,
  target: s.target,
  args: s.args,
  enabled: s.enabled,
  overlap: s.overlap,
  catch_up: s.catch_up,
  next_due_at: s.next_due_at,
  created_at: s.created_at,
  updated_at: s.updated_at,
  updated_by: s.updated_by,
  version: s.version
})

/** A schedule body's timing under either name (the body schema allows at most one), and the other fields. */
const timing = <A extends { readonly expression?: string | undefined; readonly cron_expr?: string | undefined }>(
  { cron_expr, expression, ...rest }: A
) => ({ rest, expression: expression ?? cron_expr })

const changeOf = (payload: Schedules.ScheduleUpdate & { readonly cron_expr?: string | undefined }) => {
  const { expression, rest } = timing(payload)
  return expression === undefined ? rest : { ...rest, expression }
}

const dispatchJson = (d: ScheduleStore.Dispatch) => ({
  schedule: d.schedule,
  due_at: d.due_at,
  target: d.target,
  dispatched_at: d.dispatched_at,
  dispatched_by: d.dispatched_by,
  late: d.late,
  status: d.status,
  attempts: d.attempts,
  available_at: d.available_at,
  lease_owner: d.lease_owner,
  lease_until: d.lease_until,
  started_at: d.started_at,
  finished_at: d.finished_at,
  last_error: d.last_error,
  result: d.result
})

const eventJson = (e: ScheduleStore.TriggerEvent) => ({
  id: e.id,
  type: e.type,
  schedule: e.schedule,
  due_at: e.due_at,
  at: e.at,
  instance: e.instance,
  data: e.data
})

const runJson = (r: MaintenanceStore.MaintenanceRun) => ({
  id: r.id,
  command: r.command,
  trigger: r.trigger,
  status: r.status,
  requested_by: r.requested_by,
  enqueued_at: r.enqueued_at,
  owner: r.owner,
  started_at: r.started_at,
  finished_at: r.finished_at,
  result: r.result,
  error: r.error
})

/** The scheduler group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "scheduler">,
  never,
  Scheduler.Scheduler | Maintenance.Maintenance | Admin
> = HttpApiBuilder.group(AirlockApi, "scheduler", (handlers) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    const maintenance = yield* Maintenance.Maintenance
    return handlers
      .handle("list", () =>
        Effect.map(scheduler.list(), (schedules) => ({
          schedules: schedules.map(scheduleJson),
          targets: scheduler.targets()
        })))
      .handle("create", ({ payload }) =>
        withPrincipal((actor) => {
          const { expression, rest } = timing(payload)
          // the body schema requires one of the two names: "" is never reached (and would be refused)
          return Effect.map(scheduler.create(actor, { ...rest, expression: expression ?? "" }), scheduleJson)
        }))
      .handle("tick", () => scheduler.tick)
      .handle("get", ({ path }) => Effect.map(scheduler.get(path.name), scheduleJson))
      .handle("update", ({ path, payload }) =>
        withPrincipal((actor) =>
          Effect.map(scheduler.update(actor, path.name, changeOf(payload)), scheduleJson)
        ))
      .handle("remove", ({ path }) => withPrincipal((actor) => scheduler.remove(actor, path.name)))
      .handle("dispatches", ({ path, urlParams }) =>
        Effect.map(scheduler.history(path.name, urlParams), (dispatches) => {
          const limit = urlParams.limit ?? 50
          const last = dispatches[dispatches.length - 1]
          return {
            schedule: path.name,
            dispatches: dispatches.map(dispatchJson),
            next_before: dispatches.length === limit && last !== undefined ? last.due_at : null
          }
        }))
      .handle("events", ({ path, urlParams }) =>
        Effect.zipRight(
          scheduler.get(path.name),
          Effect.map(scheduler.events({ schedule: path.name, limit: urlParams.limit }), (events) => ({
            events: events.map(eventJson)
          }))
        ))
      .handle("maintenanceStatus", () =>
        Effect.map(maintenance.status, (s) => ({
          ...s,
          commands: s.commands.map((c) => ({ ...c, last_run: c.last_run === null ? null : runJson(c.last_run) }))
        })))
      .handle("maintenanceRun", ({ payload }) =>
        withPrincipal((actor) =>
          Effect.map(maintenance.runNow(actor, payload.commands), (runs) => ({ runs: runs.map(runJson) }))
        ))
      .handle("maintenanceEnqueue", ({ payload }) =>
        withPrincipal((actor) =>
          Effect.map(maintenance.enqueueWithWarning(actor, payload.commands), ({ runs, warning }) => ({
            runs: runs.map(runJson),
            warning
          }))
        ))
      .handle("maintenanceFailures", ({ urlParams }) =>
        Effect.map(maintenance.failures(urlParams), (failures) => {
          const limit = urlParams.limit ?? 50
          const last = failures[failures.length - 1]
          return {
            failures: failures.map((f) => ({ ...f })),
            next_before: failures.length === limit && last !== undefined ? last.id : null
          }
        }))
  }))

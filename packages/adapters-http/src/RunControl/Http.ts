/** Handlers of the run-control group: translate between JSON and ops' `RunControl`. */
import { RunControl } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup, HttpServerRequest } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** The JSON form of the run. */
export const runJson = (v: RunControl.RunView) => ({
  phase: v.phase,
  active: v.active,
  paused: v.paused,
  run_id: v.run_id,
  reason: v.reason,
  started_by: v.started_by,
  started_by_name: v.started_by_name,
  started_at: v.started_at,
  stop: v.stop === null ? null : { reason: v.stop.reason, data: v.stop.data, at: v.stop.at }
})

/** The ops console's success notice of "Reset Dev World". */
export const RESEEDED = "Dev world reset + reseeded"

const HEADER_NAME = /^[^\u0000-\u001f\u007f]{1,200}$/

/** The operator: the body's `actor_name`, else a sane `X-Actor-Name` header. */
const operatorName = (body: string | undefined) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    if (body !== undefined) return body
    const header = request.headers["x-actor-name"]
    return header !== undefined && HEADER_NAME.test(header) ? header : undefined
  })

/** The run-control group's handlers. */
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "runControl">, never, RunControl.RunControl | Admin> =
  HttpApiBuilder.group(AirlockApi, "runControl", (handlers) =>
    Effect.gen(function*() {
      const control = yield* RunControl.RunControl
      const operator = (name: string | undefined) =>
        withPrincipal((actor, tenant) => Effect.map(operatorName(name), (n) => ({ actor, tenant, name: n })))
      return handlers
        .handle("start", ({ payload }) =>
          Effect.gen(function*() {
            const op = yield* operator(payload.actor_name)
            return runJson(
              yield* control.start(op, { run_id: payload.run_id, reason: payload.reason, reset: payload.reset })
            )
          }))
        .handle("stop", ({ payload }) =>
          Effect.gen(function*() {
            return runJson(yield* control.stop(yield* operator(payload.actor_name), payload.reason))
          }))
        .handle("pause", ({ payload }) =>
          Effect.gen(function*() {
            return runJson(yield* control.pause(yield* operator(payload.actor_name)))
          }))
        .handle("resume", ({ payload }) =>
          Effect.gen(function*() {
            return runJson(yield* control.resume(yield* operator(payload.actor_name)))
          }))
        .handle("reset", ({ payload }) =>
          Effect.gen(function*() {
            const view = runJson(yield* control.reset(yield* operator(payload.actor_name)))
            return {
              ...view,
              reseeded: control.reseeds,
              message: control.reseeds ? RESEEDED : "Run state reset (no reseed hook)"
            }
          }))
        .handle("runMetrics", () =>
          withPrincipal((actor) =>
            Effect.map(control.metrics(actor), (m) => ({
              run_id: m.run_id,
              started_at: m.started_at,
              phase: m.phase,
              total_actions: m.total_actions,
              by_kind: m.by_kind
            }))
          ))
    }))

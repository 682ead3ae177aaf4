/** Handlers of the operations group. */
import { Drain } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** The operations group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "operations">,
  never,
  Drain.Restart | Admin
> = HttpApiBuilder.group(AirlockApi, "operations", (handlers) =>
  Effect.gen(function*() {
    const restarts = yield* Drain.Restart
    return handlers.handle("restart", ({ payload }) =>
      withPrincipal((actor, tenant) =>
        // this request is itself in flight: the drain does not wait for it
        restarts.restart(actor, { reason: payload.reason, tenant, exclude: 1 })
      ))
  }))

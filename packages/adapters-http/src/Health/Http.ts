/** Handlers of the health group. */
import { Errors } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AirlockApi } from "../Api.js"
import * as Metrics from "../Metrics.js"
import { Readiness } from "../Readiness.js"

const live = Effect.succeed({ status: "ok" as const })

/** The health group's handlers. */
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "health">, never, Readiness> = HttpApiBuilder.group(
  AirlockApi,
  "health",
  (handlers) =>
    Effect.gen(function*() {
      const readiness = yield* Readiness
      return handlers
        .handle("healthz", () => live)
        .handle("live", () => live)
        .handle("readyz", () =>
          Effect.flatMap(readiness.report, (report) =>
            report.ready
              ? Effect.succeed({ status: "ready" as const, checks: report.checks })
              : Effect.fail(
                new Errors.Unavailable({ message: "Not ready", details: { status: "not_ready", checks: report.checks } })
              )))
        .handle("metrics", () => Effect.sync(Metrics.prometheus))
    })
)

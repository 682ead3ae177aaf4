/** Handlers of the health group. */
import { AgentMemory, AgentMemoryConfig, Errors } from "@airlock/core"
import { Scheduler } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, type Layer, Option } from "effect"
import { AirlockApi } from "../Api.js"
import * as Metrics from "../Metrics.js"
import { Readiness } from "../Readiness.js"

const live = Effect.succeed({ status: "ok" as const })

const DAY_MS = 86_400_000

/**
 * The health group's handlers. `/metrics` reads the memory KPIs and, when a `Scheduler` is
 * provided, the scheduler's backlog and lag (its gauges) at each scrape, and serves names behind
 * the configured prefix (`Metrics.MetricsConfig`, default `airlock_`).
 */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "health">,
  never,
  Readiness | AgentMemory.AgentMemory
> = HttpApiBuilder.group(
  AirlockApi,
  "health",
  (handlers) =>
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const memory = yield* AgentMemory.AgentMemory
      const memorySettings = yield* AgentMemoryConfig.AgentMemoryConfig
      const prefix = yield* Metrics.currentPrefix
      // a store that cannot answer leaves the last reading: the scrape still serves every other metric
      const readKpis = Effect.flatMap(Clock.currentTimeMillis, (now) =>
        memory.kpisAll({ from_ts: now - memorySettings.kpiWindowDays * DAY_MS, to_ts: now })).pipe(
          Effect.tap((k) =>
            Effect.sync(() => Metrics.setMemoryKpis(k))
          ),
          Effect.catchAll((e) => Effect.logWarning("memory KPIs unavailable for /metrics", e))
        )
      // the scheduler's status read sets `scheduler_lag_seconds` and `scheduler_backlog`
      const scheduler = yield* Effect.serviceOption(Scheduler.Scheduler)
      const readScheduler = Option.match(scheduler, {
        onNone: () => Effect.void,
        onSome: (sch) =>
          sch.status.pipe(
            Effect.asVoid,
            Effect.catchAll((e) => Effect.logWarning("scheduler status unavailable for /metrics", e))
          )
      })
      return handlers
        .handle("healthz", () => live)
        .handle("live", () => live)
        .handle("readyz", () =>
          Effect.flatMap(readiness.report, (report) =>
            report.ready
              ? Effect.succeed({ status: "ready" as const, checks: report.checks })
              : Effect.fail(
                new Errors.Unavailable({
                  message: "Not ready",
                  details: { status: "not_ready", checks: report.checks }
                })
              )))
        .handle("metrics", () =>
          Effect.all([readKpis, readScheduler], { concurrency: "unbounded", discard: true }).pipe(
            Effect.zipRight(Effect.sync(() => Metrics.prometheus(prefix)))
          ))
    })
)

/**
 * The velocity breaker (companion runbook): more than N AI commands in a minute for one tenant
 * trips it, and propose/apply then fail with `breaker.velocity` (403, "Velocity circuit breaker
 * tripped") until the cooldown has passed. Commands are counted in storage with a sliding
 * one-minute window, so all instances share one count; the trip and the reset are each recorded
 * exactly once (compare-and-set on the breaker row) as event rows.
 */
import { Errors } from "@airlock/core"
import { Clock, Effect, Option } from "effect"
import * as Breakers from "./Breakers.js"
import { CounterStore } from "./Counters.js"
import { BreakerEvents } from "./Events.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { slidingCount, windowStart } from "./Windows.js"

const WINDOW_MS = 60_000

/** The breaker key of a tenant. */
export const breakerKey = (tenant: string) => `velocity:${tenant}`
/** The counter key of a tenant's AI commands. */
export const counterKey = (tenant: string) => `velocity:${tenant}`

/** What one velocity check read and decided. */
export interface VelocityReading {
  readonly tripped: boolean
  /** Commands in the sliding minute (after counting this one, when counted). */
  readonly count: number
  readonly limit: number
  /** Open until, when tripped. */
  readonly until: number | null
}

/** The velocity breaker. */
export class VelocityBreaker extends Effect.Service<VelocityBreaker>()("@airlock/guardrails/VelocityBreaker", {
  effect: Effect.gen(function*() {
    const counters = yield* CounterStore
    const breakers = yield* Breakers.BreakerStore
    const events = yield* BreakerEvents
    const config = yield* GuardrailsConfig
    const limit = config.velocityMaxPerMinute
    const cooldownMs = config.velocityCooldownSeconds * 1000

    const tripped = (tenant: string, reading: VelocityReading) =>
      new Errors.VelocityBreakerTripped({
        message: "Velocity circuit breaker tripped",
        details: { tenant_id: tenant, count: reading.count, limit: reading.limit, until: reading.until }
      })

    /** The open state, closing (and recording the reset) once the cooldown has passed. */
    const openUntil = (tenant: string, now: number): Effect.Effect<number | null, Errors.StorageError> =>
      Effect.flatMap(breakers.get(breakerKey(tenant)), (found) => {
        if (Option.isNone(found) || found.value.state === "closed") return Effect.succeed(null)
        const record = found.value
        if (record.until !== null && record.until > now) return Effect.succeed(record.until)
        const closed = Breakers.next(record, { state: "closed", until: null, probe_until: null }, now)
        return Effect.flatMap(breakers.put(closed, record.version), (wrote) =>
          wrote
            ? Effect.as(
              events.record({
                tenant_id: tenant,
                kind: "velocity",
                type: "reset",
                reason: "cooldown_elapsed",
                data: { opened_at: record.opened_at, cooldown_seconds: config.velocityCooldownSeconds }
              }),
              null
            )
            : Effect.succeed(null))
      })

    const count = (tenant: string, now: number, add: boolean): Effect.Effect<number, Errors.StorageError> => {
      const w = windowStart(now, WINDOW_MS)
      const key = counterKey(tenant)
      const current = add
        ? Effect.map(counters.increment(key, w, 1, null, w + 2 * WINDOW_MS), (o) => (Option.isSome(o) ? o.value : 0))
        : counters.get(key, w)
      return Effect.zipWith(counters.get(key, w - WINDOW_MS), current, (previous, c) => slidingCount(previous, c, now, WINDOW_MS))
    }

    const trip = (tenant: string, seen: number, now: number) =>
      Effect.gen(function*() {
        const until = now + cooldownMs
        const outcome = yield* Breakers.update(
          breakers,
          breakerKey(tenant),
          () => Breakers.initial(breakerKey(tenant), "velocity", tenant, now),
          (current) =>
            current.state === "open" && current.until !== null && current.until > now
              ? [Option.none(), current.until] as const
              : [
                Option.some(Breakers.next(current, {
                  state: "open",
                  reason: "velocity_exceeded",
                  opened_at: now,
                  until,
                  data: { count: seen, limit, window_seconds: 60 }
                }, now)),
                until
              ] as const
        )
        if (outcome.wrote) {
          yield* events.record({
            tenant_id: tenant,
            kind: "velocity",
            type: "trip",
            reason: "velocity_exceeded",
            data: { count: seen, limit, window_seconds: 60, cooldown_seconds: config.velocityCooldownSeconds, until }
          })
        }
        return outcome.result
      })

    /**
     * Counts one AI command of `tenant` and fails with `breaker.velocity` when the breaker is
     * open or this command makes the sliding minute exceed the limit (which trips it). Commands
     * refused because the breaker is already open are not counted.
     */
    const record = (tenant: string): Effect.Effect<VelocityReading, Errors.VelocityBreakerTripped | Errors.StorageError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(openUntil(tenant, now), (open) =>
          open !== null
            ? Effect.fail(tripped(tenant, { tripped: true, count: -1, limit, until: open }))
            : Effect.flatMap(count(tenant, now, true), (seen): Effect.Effect<VelocityReading, Errors.VelocityBreakerTripped | Errors.StorageError> =>
              seen <= limit
                ? Effect.succeed({ tripped: false, count: seen, limit, until: null })
                : Effect.flatMap(trip(tenant, seen, now), (until) => Effect.fail(tripped(tenant, { tripped: true, count: seen, limit, until }))))))

    /** Fails with `breaker.velocity` while the tenant's breaker is open; counts nothing. */
    const check = (tenant: string): Effect.Effect<VelocityReading, Errors.VelocityBreakerTripped | Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const open = yield* openUntil(tenant, now)
        if (open !== null) return yield* tripped(tenant, { tripped: true, count: -1, limit, until: open })
        return { tripped: false, count: yield* count(tenant, now, false), limit, until: null }
      })

    /** The stored breaker of a tenant (closed and version 0 when never tripped). */
    const state = (tenant: string): Effect.Effect<Breakers.BreakerRecord, Errors.StorageError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(breakers.get(breakerKey(tenant)), Option.getOrElse(() => Breakers.initial(breakerKey(tenant), "velocity", tenant, now))))

    return { record, check, state, limit } as const
  })
}) {}

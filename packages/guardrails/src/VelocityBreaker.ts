/**
 * The velocity breaker (companion runbook): more than N AI commands in a minute for one tenant
 * trips it, and propose/apply then fail with `breaker.velocity` (403, "Velocity circuit breaker
 * tripped") until the cooldown has passed. Commands are counted in storage with a sliding
 * one-minute window, so all instances share one count; the trip and the reset are each recorded
 * exactly once (compare-and-set on the breaker row) as event rows. A tenant may set its own limit
 * and cooldown (`GuardrailsConfig.TenantKeys`, in `AiSettings.extensions`; {@link limitsFor}):
 * callers pass the tenant's settings, without them the deployment's values apply.
 */
import { Errors } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids, Rbac } from "@airlock/core"
import { Clock, Context, Effect, Option } from "effect"
import { BreakerEvents } from "./BreakerEvents.js"
import * as Breakers from "./Breakers.js"
import { CounterStore } from "./CounterStore.js"
import {
  GuardrailsConfig,
  type GuardrailsSettings,
  MALFORMED,
  type TenantExtensions,
  TenantKeys,
  tenantNumber,
  TenantRanges
} from "./GuardrailsConfig.js"
import { memo } from "./internal/memo.js"
import { slidingCount, windowStart } from "./Windows.js"

const WINDOW_MS = 60_000

/** The breaker key of a tenant. */
export const breakerKey: (tenant: string) => string = memo((tenant) => `velocity:${tenant}`)
/** The counter key of a tenant's AI commands. */
export const counterKey: (tenant: string) => string = breakerKey

/**
 * Set (with `Effect.provideService`) around work whose AI command its caller has already counted
 * with {@link VelocityBreaker.record}: one request that proposes many items (the companion's
 * "propose all") is one command, not one per item. While set, the velocity gate only checks the
 * breaker at propose (an open breaker still refuses every item) instead of counting again.
 */
export class CommandCounted extends Context.Reference<CommandCounted>()("@airlock/guardrails/VelocityCommandCounted", {
  defaultValue: () => false
}) {}

/** The velocity limits in force for one tenant. */
export interface VelocityLimits {
  /** More AI commands than this in a sliding minute trip the breaker. */
  readonly maxPerMinute: number
  /** How long a trip keeps the breaker open. */
  readonly cooldownSeconds: number
}

/**
 * The tenant's velocity limits: its own override (`guardrails.velocity_max_per_minute`,
 * `guardrails.velocity_cooldown_seconds`), else the deployment's. A malformed stored override
 * fails safe — the strictest value a tenant may set: 1 command a minute, a cooldown of
 * 86,400 s — as a malformed value breaker threshold sends everything to review. Pure.
 */
export const limitsFor = (
  config: Pick<GuardrailsSettings, "velocityMaxPerMinute" | "velocityCooldownSeconds">,
  settings?: TenantExtensions
): VelocityLimits => {
  const max = tenantNumber(settings, TenantKeys.velocityMaxPerMinute, TenantRanges.velocityMaxPerMinute)
  const cooldown = tenantNumber(settings, TenantKeys.velocityCooldownSeconds, TenantRanges.velocityCooldownSeconds)
  return {
    maxPerMinute: max === null ? config.velocityMaxPerMinute : max === MALFORMED
      ? TenantRanges.velocityMaxPerMinute.min
      : max,
    cooldownSeconds: cooldown === null ? config.velocityCooldownSeconds : cooldown === MALFORMED
      ? TenantRanges.velocityCooldownSeconds.max
      : cooldown
  }
}

/** What one velocity check read and decided. */
export interface VelocityReading {
  readonly tripped: boolean
  /**
   * Commands in the sliding minute (after counting this one, when counted); while the breaker is
   * open, the count that tripped it.
   */
  readonly count: number
  readonly limit: number
  /** Open until, when tripped. */
  readonly until: number | null
}

/** The velocity breaker (its layer also needs {@link Ids.IdGenerator} and {@link Rbac.Rbac}, for its events). */
export class VelocityBreaker extends Effect.Service<VelocityBreaker>()("@airlock/guardrails/VelocityBreaker", {
  effect: Effect.gen(function*() {
    const counters = yield* CounterStore
    const breakers = yield* Breakers.BreakerStore
    const events = yield* BreakerEvents
    const config = yield* GuardrailsConfig
    /** The deployment's limit (a tenant's own comes from {@link limitsFor}). */
    const limit = config.velocityMaxPerMinute
    const deployment = limitsFor(config)
    const limitsOf = (settings: TenantExtensions | undefined): VelocityLimits =>
      settings === undefined ? deployment : limitsFor(config, settings)

    /** The `breaker.velocity` error of a tripped reading. */
    const tripped = (tenant: string, reading: VelocityReading): Errors.VelocityBreakerTripped =>
      new Errors.VelocityBreakerTripped({
        message: "Velocity circuit breaker tripped",
        details: {
          tenant_id: tenant,
          count: reading.count,
          limit: reading.limit,
          until: reading.until === null ? null : new Date(reading.until).toISOString()
        }
      })

    /** The reading of a breaker still open: the count and the limit stored when it tripped. */
    const open = (record: Breakers.BreakerRecord, until: number, limits: VelocityLimits): VelocityReading => {
      const count = record.data["count"]
      const stored = record.data["limit"]
      const max = typeof stored === "number" ? stored : limits.maxPerMinute
      return { tripped: true, count: typeof count === "number" ? count : max + 1, limit: max, until }
    }

    /** Closes a breaker whose cooldown has passed (recording the reset once); null = closed now. */
    const closeIfCooled = (
      tenant: string,
      record: Breakers.BreakerRecord,
      now: number,
      limits: VelocityLimits
    ): Effect.Effect<number | null, Errors.StorageError> => {
      const cooldown = record.data["cooldown_seconds"]
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
              data: {
                opened_at: record.opened_at,
                cooldown_seconds: typeof cooldown === "number" ? cooldown : limits.cooldownSeconds
              }
            }),
            null
          )
          : Effect.succeed(null))
    }

    /**
     * Reads the breaker and, when it is closed (or closes now), continues with `closed`; an open
     * breaker gives the open reading. Plain `flatMap` chains: this runs on every AI command.
     */
    const whenClosed = (
      tenant: string,
      now: number,
      limits: VelocityLimits,
      closed: () => Effect.Effect<VelocityReading, Errors.StorageError>
    ): Effect.Effect<VelocityReading, Errors.StorageError> =>
      Effect.flatMap(breakers.get(breakerKey(tenant)), (found) => {
        if (Option.isNone(found) || found.value.state === "closed") return closed()
        return Effect.flatMap(
          closeIfCooled(tenant, found.value, now, limits),
          (until) => (until !== null ? Effect.succeed(open(found.value, until, limits)) : closed())
        )
      })

    const trip = (tenant: string, seen: number, now: number, limits: VelocityLimits) =>
      Effect.gen(function*() {
        const limit = limits.maxPerMinute
        const cooldown_seconds = limits.cooldownSeconds
        const until = now + cooldown_seconds * 1000
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
                  data: { count: seen, limit, window_seconds: 60, cooldown_seconds }
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
            data: { count: seen, limit, window_seconds: 60, cooldown_seconds, until }
          })
        }
        return outcome.result
      })

    /**
     * Counts one AI command of `tenant` and reads the breaker, without failing: the reading says
     * whether the breaker is open (then nothing was counted) or this command made the sliding
     * minute exceed the tenant's limit (which trips it). What the velocity gate decides from.
     * `settings`: the tenant's (its own limits, {@link limitsFor}); without them, the deployment's.
     */
    const recordReading = (
      tenant: string,
      settings?: TenantExtensions
    ): Effect.Effect<VelocityReading, Errors.StorageError> => {
      const limits = limitsOf(settings)
      const limit = limits.maxPerMinute
      return inWindow(
        tenant,
        limits,
        (now, key, w, previous) =>
          Effect.flatMap(counters.increment(key, w, 1, null, w + 2 * WINDOW_MS), (current) => {
            const seen = slidingCount(previous, Option.isSome(current) ? current.value : 0, now, WINDOW_MS)
            return seen <= limit
              ? Effect.succeed<VelocityReading>({ tripped: false, count: seen, limit, until: null })
              : Effect.map(
                trip(tenant, seen, now, limits),
                (until): VelocityReading => ({ tripped: true, count: seen, limit, until })
              )
          })
      )
    }

    /** Reads the breaker and the sliding count of `tenant` without counting or failing. */
    const checkReading = (
      tenant: string,
      settings?: TenantExtensions
    ): Effect.Effect<VelocityReading, Errors.StorageError> => {
      const limits = limitsOf(settings)
      return inWindow(
        tenant,
        limits,
        (now, key, w, previous) =>
          Effect.map(counters.get(key, w), (current): VelocityReading => ({
            tripped: false,
            count: slidingCount(previous, current, now, WINDOW_MS),
            limit: limits.maxPerMinute,
            until: null
          }))
      )
    }

    /**
     * With the breaker closed (else its open reading): the time, the tenant's counter key, the
     * current window and the previous window's count — what both readings start from.
     */
    const inWindow = (
      tenant: string,
      limits: VelocityLimits,
      reading: (
        now: number,
        key: string,
        w: number,
        previous: number
      ) => Effect.Effect<VelocityReading, Errors.StorageError>
    ): Effect.Effect<VelocityReading, Errors.StorageError> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const key = counterKey(tenant)
        return whenClosed(tenant, now, limits, () => {
          const w = windowStart(now, WINDOW_MS)
          return Effect.flatMap(counters.get(key, w - WINDOW_MS), (previous) => reading(now, key, w, previous))
        })
      })

    const orFail = (tenant: string) => (reading: VelocityReading) =>
      reading.tripped ? Effect.fail(tripped(tenant, reading)) : Effect.succeed(reading)

    /**
     * Counts one AI command of `tenant` and fails with `breaker.velocity` when the breaker is
     * open or this command makes the sliding minute exceed the tenant's limit (which trips it).
     * Commands refused because the breaker is already open are not counted. `settings`: as for
     * {@link recordReading}.
     */
    const record = (
      tenant: string,
      settings?: TenantExtensions
    ): Effect.Effect<VelocityReading, Errors.VelocityBreakerTripped | Errors.StorageError> =>
      Effect.flatMap(recordReading(tenant, settings), orFail(tenant))

    /** Fails with `breaker.velocity` while the tenant's breaker is open; counts nothing. */
    const check = (
      tenant: string,
      settings?: TenantExtensions
    ): Effect.Effect<VelocityReading, Errors.VelocityBreakerTripped | Errors.StorageError> =>
      Effect.flatMap(checkReading(tenant, settings), orFail(tenant))

    /** The stored breaker of a tenant (closed and version 0 when never tripped). */
    const state = (tenant: string): Effect.Effect<Breakers.BreakerRecord, Errors.StorageError> =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          Effect.map(
            breakers.get(breakerKey(tenant)),
            Option.getOrElse(() => Breakers.initial(breakerKey(tenant), "velocity", tenant, now))
          )
      )

    return { record, check, recordReading, checkReading, tripped, state, limit, limitsFor: limitsOf } as const
  }),
  dependencies: [BreakerEvents.Default]
}) {}

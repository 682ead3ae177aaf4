/**
 * The provider breaker for calls to outside services (model APIs, webhooks, …): closed, open,
 * half-open. It opens on `K` consecutive failures or on a failure rate of at least `R` over a
 * window with a minimum number of calls; after the cooldown one instance (and only one, by
 * compare-and-set in storage) lets a probe through; the probe's success closes it, its failure
 * opens it again. State and counts live in storage, so every instance sees one breaker.
 * The transitions are pure functions ({@link admit}, {@link afterSuccess}, {@link afterFailure}).
 */
import { type Actor, Errors, Rbac } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids, SystemState, UnitOfWork } from "@airlock/core"
import { Clock, Effect, Exit, Option } from "effect"
import { BreakerEvents } from "./BreakerEvents.js"
import * as Breakers from "./Breakers.js"
import { CounterStore } from "./CounterStore.js"
import { GuardrailsConfig, type GuardrailsSettings } from "./GuardrailsConfig.js"
import { StopConditions } from "./StopConditions.js"
import { trailingBuckets, windowStart } from "./Windows.js"

/** What a caller may do now. */
export type Admission = "allow" | "probe" | "reject"

/** The breaker settings the pure transitions read. */
export type ProviderSettings = Pick<
  GuardrailsSettings,
  | "providerConsecutiveFailures"
  | "providerFailureRate"
  | "providerMinSamples"
  | "providerCooldownSeconds"
  | "providerProbeTimeoutSeconds"
>

/** Decides admission at `now` and the state change it needs (taking the probe slot). Pure. */
export const admit = (
  r: Breakers.BreakerRecord,
  now: number,
  s: ProviderSettings
): { readonly admission: Admission; readonly next: Breakers.BreakerRecord | null } => {
  switch (r.state) {
    case "closed":
      return { admission: "allow", next: null }
    case "open":
      if (r.until !== null && r.until > now) return { admission: "reject", next: null }
      return {
        admission: "probe",
        next: Breakers.next(r, { state: "half_open", probe_until: now + s.providerProbeTimeoutSeconds * 1000 }, now)
      }
    case "half_open":
      if (r.probe_until !== null && r.probe_until > now) return { admission: "reject", next: null }
      return {
        admission: "probe",
        next: Breakers.next(r, { probe_until: now + s.providerProbeTimeoutSeconds * 1000 }, now)
      }
  }
}

/** The state after a success: a probe closes the breaker; closed resets the failure streak. Pure. */
export const afterSuccess = (r: Breakers.BreakerRecord, now: number): Breakers.BreakerRecord | null => {
  if (r.state === "half_open") {
    return Breakers.next(r, { state: "closed", until: null, probe_until: null, consecutive_failures: 0 }, now)
  }
  if (r.state === "closed" && r.consecutive_failures > 0) return Breakers.next(r, { consecutive_failures: 0 }, now)
  return null
}

/** Failure counts over the rate window. */
export interface WindowStats {
  readonly calls: number
  readonly failures: number
}

/**
 * The state after a failure, and the trip reason when it opens: a failed probe reopens it;
 * closed opens on the consecutive or the rate trigger. Pure.
 */
export const afterFailure = (
  r: Breakers.BreakerRecord,
  now: number,
  stats: WindowStats,
  s: ProviderSettings
): { readonly next: Breakers.BreakerRecord | null; readonly tripped: string | null } => {
  const until = now + s.providerCooldownSeconds * 1000
  if (r.state === "half_open") {
    return {
      next: Breakers.next(r, {
        state: "open",
        reason: "probe_failed",
        opened_at: now,
        until,
        probe_until: null,
        consecutive_failures: r.consecutive_failures + 1,
        data: { ...stats }
      }, now),
      tripped: "probe_failed"
    }
  }
  if (r.state === "open") return { next: null, tripped: null }
  const consecutive = r.consecutive_failures + 1
  const rate = stats.calls > 0 ? stats.failures / stats.calls : 0
  const reason = consecutive >= s.providerConsecutiveFailures
    ? "consecutive_failures"
    : stats.calls >= s.providerMinSamples && rate >= s.providerFailureRate
    ? "failure_rate"
    : null
  if (reason === null) return { next: Breakers.next(r, { consecutive_failures: consecutive }, now), tripped: null }
  return {
    next: Breakers.next(r, {
      state: "open",
      reason,
      opened_at: now,
      until,
      probe_until: null,
      consecutive_failures: consecutive,
      data: { consecutive_failures: consecutive, calls: stats.calls, failures: stats.failures, failure_rate: rate }
    }, now),
    tripped: reason
  }
}

/** The breaker key of a provider. */
export const breakerKey = (provider: string) => `provider:${provider}`

/**
 * The provider breaker. Its layer builds its events and the stop conditions it feeds, so it also
 * needs {@link Ids.IdGenerator}, {@link SystemState.SystemStateStore} and {@link UnitOfWork.UnitOfWork}.
 */
export class ProviderBreaker extends Effect.Service<ProviderBreaker>()("@airlock/guardrails/ProviderBreaker", {
  effect: Effect.gen(function*() {
    const breakers = yield* Breakers.BreakerStore
    const counters = yield* CounterStore
    const events = yield* BreakerEvents
    const stops = yield* StopConditions
    const config = yield* GuardrailsConfig
    const rbac = yield* Rbac.Rbac
    const windowMs = config.providerWindowSeconds * 1000
    const bucketMs = Math.max(1000, Math.floor(windowMs / 60))

    const fresh = (provider: string, now: number) => () => Breakers.initial(breakerKey(provider), "provider", null, now)

    const unavailable = (provider: string, record: Breakers.BreakerRecord) =>
      new Errors.Unavailable({
        message: `Provider ${provider} circuit breaker is ${record.state === "open" ? "open" : "half-open"}`,
        details: { provider, state: record.state, until: record.until, reason: record.reason }
      })

    /** Asks to call the provider: `allow`, `probe` (this caller holds the half-open slot), or fails `unavailable`. */
    const acquire = (provider: string): Effect.Effect<Admission, Errors.Unavailable | Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const outcome = yield* Breakers.update(breakers, breakerKey(provider), fresh(provider, now), (current) => {
          const { admission, next } = admit(current, now, config)
          return [Option.fromNullable(next), admission] as const
        })
        if (outcome.result === "reject") return yield* unavailable(provider, outcome.record)
        return outcome.result
      })

    const stats = (provider: string, now: number) =>
      Effect.gen(function*() {
        const { from, to } = trailingBuckets(now, windowMs, bucketMs)
        return {
          calls: yield* counters.sum(`${breakerKey(provider)}:calls`, from, to),
          failures: yield* counters.sum(`${breakerKey(provider)}:failures`, from, to)
        }
      })

    const count = (provider: string, now: number, failed: boolean) =>
      Effect.gen(function*() {
        const bucket = windowStart(now, bucketMs)
        const expires = bucket + windowMs + bucketMs
        yield* counters.increment(`${breakerKey(provider)}:calls`, bucket, 1, null, expires)
        if (failed) yield* counters.increment(`${breakerKey(provider)}:failures`, bucket, 1, null, expires)
      })

    /** Records a successful call (closes a half-open breaker, with a reset event). */
    const recordSuccess = (provider: string): Effect.Effect<void, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* count(provider, now, false)
        const outcome = yield* Breakers.update(breakers, breakerKey(provider), fresh(provider, now), (current) =>
          [Option.fromNullable(afterSuccess(current, now)), current.state] as const)
        if (outcome.wrote && outcome.result === "half_open") {
          yield* events.record({
            tenant_id: null,
            kind: "provider",
            type: "reset",
            reason: "probe_succeeded",
            data: { provider }
          })
        }
      })

    /** Records a failed call: may open the breaker (trip event) and feeds the stop condition. */
    const recordFailure = (provider: string, detail?: string): Effect.Effect<void, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* count(provider, now, true)
        const window = yield* stats(provider, now)
        const outcome = yield* Breakers.update(breakers, breakerKey(provider), fresh(provider, now), (current) => {
          const { next, tripped } = afterFailure(current, now, window, config)
          return [Option.fromNullable(next), tripped] as const
        })
        if (outcome.wrote && outcome.result !== null) {
          yield* events.record({
            tenant_id: null,
            kind: "provider",
            type: "trip",
            reason: outcome.result,
            data: { provider, ...outcome.record.data, until: outcome.record.until, detail: detail ?? null }
          })
        }
        yield* stops.recordProviderFailure(provider)
      })

    /** Runs a call through the breaker: refused while open, its outcome recorded. */
    const call = <A, E>(
      provider: string,
      self: Effect.Effect<A, E>
    ): Effect.Effect<A, E | Errors.Unavailable | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* acquire(provider)
        const exit = yield* Effect.exit(self)
        if (Exit.isSuccess(exit)) yield* recordSuccess(provider)
        else yield* recordFailure(provider)
        return yield* exit
      })

    /** The stored state of a provider's breaker. */
    const state = (provider: string): Effect.Effect<Breakers.BreakerRecord, Errors.StorageError> =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.map(breakers.get(breakerKey(provider)), Option.getOrElse(fresh(provider, now)))
      )

    /** Every provider breaker; needs `ops.read`. */
    const list = (
      actor: Actor.Actor
    ): Effect.Effect<ReadonlyArray<Breakers.BreakerRecord>, Errors.Forbidden | Errors.StorageError> =>
      Effect.zipRight(rbac.require(actor, "ops.read"), breakers.list("provider:"))

    const listAll: Effect.Effect<ReadonlyArray<Breakers.BreakerRecord>, Errors.StorageError> = breakers.list(
      "provider:"
    )

    // effect-valued members are restated so the published declarations can name their errors
    return {
      acquire,
      recordSuccess,
      recordFailure,
      call,
      state,
      list,
      listAll: listAll as Effect.Effect<ReadonlyArray<Breakers.BreakerRecord>, Errors.StorageError>
    } as const
  }),
  dependencies: [BreakerEvents.Default, StopConditions.Default]
}) {}

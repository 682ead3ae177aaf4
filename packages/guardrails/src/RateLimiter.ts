/**
 * Request rate limiting (data-platform runbook: `COPILOT_RATE_LIMIT_ENABLED`,
 * `COPILOT_RATE_LIMIT_RPM`): requests per minute per API token and per tenant, over a sliding
 * minute. Over the limit a request fails with `rate_limited` (429) and `retry_after_seconds` (the
 * `Retry-After` header). Counts live in storage and every admission is an atomic capped increment,
 * so the limit holds under concurrency and across processes: however many instances hammer one
 * limit, exactly the limit is admitted.
 *
 * Failed authentications are limited per source address the same way, in the same counters:
 * `AIRLOCK_AUTH_FAILURE_MAX` (20) in a sliding `AIRLOCK_AUTH_FAILURE_WINDOW_SECONDS` (60); past it
 * the address is refused with `rate_limited` before its credentials are looked at again, until
 * the window has slid far enough. Successful authentications do not count. The check is one read
 * per authentication and a failure one write; the count is shared by every instance, though
 * failures in flight at the same instant may each pass the check before being counted.
 */
import { Errors, UnitOfWork } from "@airlock/core"
import { Effect, Option } from "effect"
import { CounterStore } from "./CounterStore.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { memo } from "./internal/memo.js"
import { retryAfterMs, slidingCapacity, slidingCount, toRetrySeconds, windowStart } from "./Windows.js"

const WINDOW_MS = 60_000

/** Who a request is counted for. */
export interface RateLimitSubject {
  readonly tenant_id: string
  /** The API token's id, when the request carries one. */
  readonly token_id?: string | undefined
}

/** What an admitted request may put in `X-RateLimit-*` headers (the tighter of the two limits). */
export interface RateLimitDecision {
  readonly enabled: boolean
  readonly limit: number
  readonly remaining: number
  /** Seconds until the current window ends. */
  readonly reset_seconds: number
}

/** One slot taken (with what is left), or refused (with the wait until one frees). */
type Take =
  | { readonly ok: true; readonly remaining: number; readonly w: number }
  | { readonly ok: false; readonly retry: number; readonly w: number }

const tenantKeyOf: (tenant: string) => string = memo((tenant) => `rate:tenant:${tenant}`)
const tokenKeyOf: (token: string) => string = memo((token) => `rate:token:${token}`)
const authFailureKeyOf = (address: string): string => `rate:auth_failures:${address}`

/** The rate limiter the HTTP middleware calls once per request. */
export class RateLimiter extends Effect.Service<RateLimiter>()("@airlock/guardrails/RateLimiter", {
  effect: Effect.gen(function*() {
    const counters = yield* CounterStore
    const config = yield* GuardrailsConfig
    const uow = yield* UnitOfWork.UnitOfWork

    /** Takes one slot of `key`'s sliding minute; not `ok` carries the retry time when full. */
    const take = (key: string, limit: number, now: number): Effect.Effect<Take, Errors.StorageError> => {
      const w = windowStart(now, WINDOW_MS)
      return Effect.flatMap(counters.get(key, w - WINDOW_MS), (previous) => {
        const cap = slidingCapacity(limit, previous, now, WINDOW_MS)
        return Effect.flatMap(
          counters.increment(key, w, 1, cap, w + 2 * WINDOW_MS),
          (taken): Effect.Effect<Take, Errors.StorageError> =>
            Option.isSome(taken)
              ? Effect.succeed({ ok: true, remaining: cap - taken.value, w })
              : Effect.map(
                counters.get(key, w),
                (current): Take => ({ ok: false, retry: retryAfterMs(limit, previous, current, now, WINDOW_MS), w })
              )
        )
      })
    }

    const refuse = (scope: "token" | "tenant", limit: number, retryMs: number) =>
      new Errors.RateLimited({
        retry_after_seconds: toRetrySeconds(retryMs),
        message: "Rate limit exceeded",
        details: { scope, limit_per_minute: limit }
      })

    /**
     * Counts one request for the token (when given) and the tenant; fails with `rate_limited`
     * when either is over its limit. Both counts are taken in one transaction, so a refusal
     * gives the other slot back by rolling back (and a request costs one commit, not two).
     * Always admits when the limiter is disabled.
     */
    const check = (
      subject: RateLimitSubject
    ): Effect.Effect<RateLimitDecision, Errors.RateLimited | Errors.StorageError> => {
      if (!config.rateLimitEnabled) return Effect.succeed({ enabled: false, limit: 0, remaining: 0, reset_seconds: 0 })
      // once per HTTP request: plain flatMap chains, one clock read
      return uow.transaction(Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const tenantKey = tenantKeyOf(subject.tenant_id)
        return Effect.flatMap(take(tenantKey, config.rateLimitTenantRpm, now), (tenant) => {
          if (!tenant.ok) return Effect.fail(refuse("tenant", config.rateLimitTenantRpm, tenant.retry))
          const admit = (limit: number, remaining: number): Effect.Effect<RateLimitDecision> =>
            Effect.succeed({
              enabled: true,
              limit,
              remaining,
              reset_seconds: toRetrySeconds(tenant.w + WINDOW_MS - now)
            })
          if (subject.token_id === undefined) return admit(config.rateLimitTenantRpm, tenant.remaining)
          return Effect.flatMap(take(tokenKeyOf(subject.token_id), config.rateLimitRpm, now), (token) => {
            // refused: the failure rolls the tenant's slot back with the transaction
            if (!token.ok) return Effect.fail(refuse("token", config.rateLimitRpm, token.retry))
            return token.remaining < tenant.remaining
              ? admit(config.rateLimitRpm, token.remaining)
              : admit(config.rateLimitTenantRpm, tenant.remaining)
          })
        })
      }))
    }

    const authWindowMs = config.authFailureWindowSeconds * 1000

    /**
     * Fails with `rate_limited` (`details.scope: "auth_failures"`) when `address` has had
     * `authFailureMax` failed authentications in the sliding window; call it before verifying
     * the address's credentials. One read while the address is under the limit.
     */
    const checkAuthFailures = (address: string): Effect.Effect<void, Errors.RateLimited | Errors.StorageError> => {
      if (!config.authFailureEnabled) return Effect.void
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const w = windowStart(now, authWindowMs)
        const key = authFailureKeyOf(address)
        const max = config.authFailureMax
        return Effect.flatMap(counters.sum(key, w - authWindowMs, w), (total) =>
          // the sliding estimate never exceeds both windows' sum: under the limit in one read
          total < max ? Effect.void : Effect.flatMap(
            Effect.all([counters.get(key, w - authWindowMs), counters.get(key, w)]),
            ([previous, current]) =>
              slidingCount(previous, current, now, authWindowMs) < max ? Effect.void : Effect.fail(
                new Errors.RateLimited({
                  retry_after_seconds: toRetrySeconds(retryAfterMs(max, previous, current, now, authWindowMs)),
                  message: "Too many failed authentications from this address",
                  details: { scope: "auth_failures", limit: max, window_seconds: config.authFailureWindowSeconds }
                })
              )
          ))
      })
    }

    /** Counts one failed authentication of `address` (shared by every instance on the database). */
    const recordAuthFailure = (address: string): Effect.Effect<void, Errors.StorageError> => {
      if (!config.authFailureEnabled) return Effect.void
      return Effect.clockWith((clock) => {
        const w = windowStart(clock.unsafeCurrentTimeMillis(), authWindowMs)
        return Effect.asVoid(counters.increment(authFailureKeyOf(address), w, 1, null, w + 2 * authWindowMs))
      })
    }

    return { check, checkAuthFailures, recordAuthFailure } as const
  })
}) {}

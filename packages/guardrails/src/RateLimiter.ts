/**
 * Request rate limiting (data-platform runbook: `COPILOT_RATE_LIMIT_ENABLED`,
 * `COPILOT_RATE_LIMIT_RPM`): requests per minute per API token and per tenant, over a sliding
 * minute. Over the limit a request fails with `rate_limited` (429) and `retry_after_seconds` (the
 * `Retry-After` header). Counts live in storage and every admission is an atomic capped increment,
 * so the limit holds under concurrency and across processes: however many instances hammer one
 * limit, exactly the limit is admitted.
 */
import { Errors } from "@airlock/core"
import { Clock, Effect, Option } from "effect"
import { CounterStore } from "./Counters.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { retryAfterMs, slidingCapacity, toRetrySeconds, windowStart } from "./Windows.js"

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

/** The rate limiter the HTTP middleware calls once per request. */
export class RateLimiter extends Effect.Service<RateLimiter>()("@airlock/guardrails/RateLimiter", {
  effect: Effect.gen(function*() {
    const counters = yield* CounterStore
    const config = yield* GuardrailsConfig

    /** Takes one slot of `key`'s sliding minute; `Left` carries the retry time when full. */
    const take = (key: string, limit: number, now: number) =>
      Effect.gen(function*() {
        const w = windowStart(now, WINDOW_MS)
        const previous = yield* counters.get(key, w - WINDOW_MS)
        const cap = slidingCapacity(limit, previous, now, WINDOW_MS)
        const taken = yield* counters.increment(key, w, 1, cap, w + 2 * WINDOW_MS)
        if (Option.isSome(taken)) return { ok: true as const, remaining: cap - taken.value, w }
        const current = yield* counters.get(key, w)
        return { ok: false as const, retry: retryAfterMs(limit, previous, current, now, WINDOW_MS), w }
      })

    const refuse = (scope: "token" | "tenant", limit: number, retryMs: number) =>
      new Errors.RateLimited({
        retry_after_seconds: toRetrySeconds(retryMs),
        message: "Rate limit exceeded",
        details: { scope, limit_per_minute: limit }
      })

    /**
     * Counts one request for the token (when given) and the tenant; fails with `rate_limited`
     * when either is over its limit (the other's slot is given back). Always admits when the
     * limiter is disabled.
     */
    const check = (subject: RateLimitSubject): Effect.Effect<RateLimitDecision, Errors.RateLimited | Errors.StorageError> =>
      Effect.gen(function*() {
        if (!config.rateLimitEnabled) return { enabled: false, limit: 0, remaining: 0, reset_seconds: 0 }
        const now = yield* Clock.currentTimeMillis
        const tenantKey = `rate:tenant:${subject.tenant_id}`
        const tenant = yield* take(tenantKey, config.rateLimitTenantRpm, now)
        if (!tenant.ok) return yield* refuse("tenant", config.rateLimitTenantRpm, tenant.retry)
        let limit = config.rateLimitTenantRpm
        let remaining = tenant.remaining
        if (subject.token_id !== undefined) {
          const token = yield* take(`rate:token:${subject.token_id}`, config.rateLimitRpm, now)
          if (!token.ok) {
            yield* counters.increment(tenantKey, tenant.w, -1, null, tenant.w + 2 * WINDOW_MS)
            return yield* refuse("token", config.rateLimitRpm, token.retry)
          }
          if (token.remaining < remaining) {
            limit = config.rateLimitRpm
            remaining = token.remaining
          }
        }
        return { enabled: true, limit, remaining, reset_seconds: toRetrySeconds(tenant.w + WINDOW_MS - now) }
      })

    return { check } as const
  })
}) {}

/**
 * The rate-limit hook of the request chain. Every authenticated request asks the limiter once,
 * after the token is verified and the tenant resolved, before the handler runs; a refusal is
 * answered 429 `rate_limited` with `Retry-After`. Hosts plug in {@link layerGuardrails} (the
 * guardrails limiter: per token and per tenant requests per minute, counted in storage so every
 * instance counts together) or {@link layerDisabled}.
 *
 * The port also carries the limit on failed authentications per source address
 * (`authFailures`): the auth chain asks it before verifying a presented credential and tells it
 * of each refused one; 429 `rate_limited` (`details.scope: "auth_failures"`) with `Retry-After`.
 */
import type { Errors, Ids } from "@airlock/core"
import { GuardrailsConfig, RateLimiter } from "@airlock/guardrails"
import { Context, Effect, Layer } from "effect"

/** What the limiter is asked about. */
export interface RateLimitRequest {
  readonly token_id: Ids.TokenId
  readonly actor_id: Ids.ActorId
  /** The tenant the request acts on (after `X-Tenant` resolution). */
  readonly tenant_id: Ids.TenantId
  readonly method: string
  /** The route template, e.g. `/api/v1/companion/settings`. */
  readonly route: string
}

/** The port: `check` succeeds to let the request through or fails with `rate_limited`. */
export class HttpRateLimit extends Context.Tag("@airlock/adapters-http/HttpRateLimit")<
  HttpRateLimit,
  {
    /** Whether limiting is on (reported by the status routes). */
    readonly enabled: boolean
    readonly check: (request: RateLimitRequest) => Effect.Effect<void, Errors.RateLimited | Errors.StorageError>
    /** Failed authentications per source address; absent: not limited. */
    readonly authFailures?: AuthFailureLimit | undefined
  }
>() {}

/** The limit on failed authentications per source address. */
export interface AuthFailureLimit {
  /** Fails with `rate_limited` when the address is over its limit (asked before verifying its credentials). */
  readonly check: (address: string) => Effect.Effect<void, Errors.RateLimited | Errors.StorageError>
  /** Counts one refused credential of the address. */
  readonly record: (address: string) => Effect.Effect<void, Errors.StorageError>
}

/** No limiting: every request passes. */
export const layerDisabled: Layer.Layer<HttpRateLimit> = Layer.succeed(HttpRateLimit, {
  enabled: false,
  check: () => Effect.void
})

/**
 * The guardrails limiter behind the hook: `AIRLOCK_RATE_LIMIT_RPM` per token and
 * `AIRLOCK_RATE_LIMIT_TENANT_RPM` per tenant (the tenant the request acts on), both a sliding
 * minute; off when `AIRLOCK_RATE_LIMIT_ENABLED=false`. Failed authentications:
 * `AIRLOCK_AUTH_FAILURE_MAX` per address in `AIRLOCK_AUTH_FAILURE_WINDOW_SECONDS` (20 a minute),
 * independent of the request limit (`AIRLOCK_AUTH_FAILURE_ENABLED=false` turns it off).
 */
export const layerGuardrails: Layer.Layer<
  HttpRateLimit,
  never,
  RateLimiter.RateLimiter | GuardrailsConfig.GuardrailsConfig
> = Layer.effect(
  HttpRateLimit,
  Effect.gen(function*() {
    const limiter = yield* RateLimiter.RateLimiter
    const config = yield* GuardrailsConfig.GuardrailsConfig
    return {
      enabled: config.rateLimitEnabled,
      check: (request) => Effect.asVoid(limiter.check({ tenant_id: request.tenant_id, token_id: request.token_id })),
      authFailures: config.authFailureEnabled
        ? { check: limiter.checkAuthFailures, record: limiter.recordAuthFailure }
        : undefined
    }
  })
)

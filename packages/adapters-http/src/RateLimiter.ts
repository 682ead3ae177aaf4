/**
 * The rate-limit hook of the request chain. Every authenticated request asks the limiter once,
 * after the token is verified and the tenant resolved, before the handler runs; a refusal is
 * answered 429 `rate_limited` with `Retry-After`. The reference adapter ships only
 * {@link layerDisabled}; the guardrails limiter (shared through storage, so every instance
 * counts together) is plugged in by providing another implementation of this port.
 */
import type { Errors, Ids } from "@airlock/core"
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
export class RateLimiter extends Context.Tag("@airlock/adapters-http/RateLimiter")<
  RateLimiter,
  {
    /** Whether limiting is on (reported by the status routes). */
    readonly enabled: boolean
    readonly check: (request: RateLimitRequest) => Effect.Effect<void, Errors.RateLimited | Errors.StorageError>
  }
>() {}

/** No limiting: every request passes. */
export const layerDisabled: Layer.Layer<RateLimiter> = Layer.succeed(RateLimiter, {
  enabled: false,
  check: () => Effect.void
})

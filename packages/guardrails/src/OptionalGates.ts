/**
 * Gates for the guards that are not about every action — the run's stop state, request-style
 * rate limits, a provider's breaker, the LLM budget and the media policy — built for the kinds a
 * host chooses (`appliesTo`) and registered with {@link register}. They complement the gates
 * `Gates.layer` registers for all kinds, so every guard can sit in the pipeline.
 *
 * | gate | default order (core's `GateOrder`) | default phases | denies with |
 * |---|---|---|---|
 * | `run_active` | `GateOrder.runActive` (12) | propose, apply | `unavailable` (503) while a stop condition holds the run |
 * | `rate_limit` | `GateOrder.rateLimit` (38) | propose | `rate_limited` (429) over the actor's per-minute limit |
 * | `media_policy` | `GateOrder.mediaPolicy` (60) | propose, apply | `ValidationError` with the `media_*` reason code |
 * | `llm_budget` | `GateOrder.llmBudget` (81) | propose | `llm.budget.exceeded` (409) while the tenant's LLM fallback is active |
 * | `provider_breaker` | `GateOrder.providerBreaker` (85) | apply | `unavailable` (503) while the provider's breaker is open |
 */
import { type ActionKind, ActionRegistry, Errors, Gate, GateOrder } from "@airlock/core"
import type { Action } from "@airlock/core"
import { Clock, Effect, Either, Layer } from "effect"
import { LlmBudget } from "./Budgets.js"
import { MediaPolicy, type MediaReference, toError } from "./MediaPolicy.js"
import { ProviderBreaker } from "./ProviderBreaker.js"
import { RateLimiter } from "./RateLimiter.js"
import { StopConditions } from "./StopConditions.js"

const { Decision } = Gate

/** Which kinds and phases an optional gate guards, and where it sits. */
export interface GateScope {
  readonly appliesTo: (kind: ActionKind.ActionKind) => boolean
  readonly phases?: ReadonlyArray<Action.Phase>
  /** Where it sits; the gate's own `GateOrder` row when omitted. */
  readonly order?: number
}

/** Denies while the run is stopped (`run.active=false` or `run.paused=true`). */
export const runActive = (scope: GateScope): Effect.Effect<Gate.Gate, never, StopConditions> =>
  Effect.map(StopConditions, (stops) => ({
    name: "run_active",
    order: scope.order ?? GateOrder.runActive,
    phases: scope.phases ?? ["propose", "apply"],
    appliesTo: scope.appliesTo,
    evaluate: () =>
      Effect.map(stops.observe, (run) => {
        const inputs = { active: run.active, paused: run.paused, stop_reason: run.stop?.reason ?? null }
        return run.should_stop
          ? Decision.deny(new Errors.Unavailable({ message: "The run is stopped", details: inputs }), inputs)
          : Decision.allow(inputs)
      })
  }))

/** Counts actions per tenant and per actor (the actor standing in for a token) against the rate limits. */
export const rateLimit = (scope: GateScope): Effect.Effect<Gate.Gate, never, RateLimiter> =>
  Effect.map(RateLimiter, (limiter) => ({
    name: "rate_limit",
    order: scope.order ?? GateOrder.rateLimit,
    phases: scope.phases ?? ["propose"],
    appliesTo: scope.appliesTo,
    evaluate: ({ tenant, actor }) =>
      limiter.check({ tenant_id: tenant.id, token_id: `actor:${actor.id}` }).pipe(
        Effect.map((d) => Decision.allow({ enabled: d.enabled, limit: d.limit, remaining: d.remaining })),
        Effect.catchTag("RateLimited", (e) =>
          Effect.succeed(Decision.deny(e, { retry_after_seconds: e.retry_after_seconds, ...(e.details ?? {}) })))
      )
  }))

/** Checks the media reference a payload carries (none: allowed) against the media policy. */
export const mediaPolicy = (
  scope: GateScope & { readonly media: (payload: unknown) => MediaReference | undefined }
): Effect.Effect<Gate.Gate, never, MediaPolicy> =>
  Effect.map(MediaPolicy, (policy) => ({
    name: "media_policy",
    order: scope.order ?? GateOrder.mediaPolicy,
    phases: scope.phases ?? ["propose", "apply"],
    appliesTo: scope.appliesTo,
    evaluate: ({ payload }) => {
      const ref = scope.media(payload)
      if (ref === undefined) return Effect.succeed(Decision.allow({ media: null }))
      return Effect.map(policy.evaluate(ref), (r) =>
        Either.isRight(r)
          ? Decision.allow({ host: r.right.host, mime_type: r.right.mime_type, size_bytes: r.right.size_bytes })
          : Decision.deny(toError(r.left), { reason: r.left.code, ...r.left.details }))
    }
  }))

/** Denies while the tenant's LLM budget forces the fallback (for kinds that would call a model). */
export const llmBudget = (scope: GateScope): Effect.Effect<Gate.Gate, never, LlmBudget> =>
  Effect.map(LlmBudget, (llm) => ({
    name: "llm_budget",
    order: scope.order ?? GateOrder.llmBudget,
    phases: scope.phases ?? ["propose"],
    appliesTo: scope.appliesTo,
    evaluate: ({ tenant, settings }) =>
      Effect.map(llm.status(tenant.id, settings), (s) => {
        const inputs = { fallback_active: s.fallback_active, fallback_reason: s.fallback_reason, period: s.period }
        return s.fallback_active
          ? Decision.deny(
            new Errors.BudgetExceeded({
              code: "llm.budget.exceeded",
              message: "LLM budget exceeded",
              details: { fallback_reason: s.fallback_reason }
            }),
            inputs
          )
          : Decision.allow(inputs)
      })
  }))

/** Denies while the breaker of the provider an action would call is open (reads only; takes no probe slot). */
export const providerBreaker = (
  scope: GateScope & { readonly provider: (payload: unknown) => string | undefined }
): Effect.Effect<Gate.Gate, never, ProviderBreaker> =>
  Effect.map(ProviderBreaker, (providers) => ({
    name: "provider_breaker",
    order: scope.order ?? GateOrder.providerBreaker,
    phases: scope.phases ?? ["apply"],
    appliesTo: scope.appliesTo,
    evaluate: ({ payload }) => {
      const provider = scope.provider(payload)
      if (provider === undefined) return Effect.succeed(Decision.allow({ provider: null }))
      return Effect.flatMap(providers.state(provider), (b) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const inputs = { provider, state: b.state, until: b.until }
          const open = (b.state === "open" && b.until !== null && b.until > now) ||
            (b.state === "half_open" && b.probe_until !== null && b.probe_until > now)
          return open
            ? Decision.deny(
              new Errors.Unavailable({ message: `Provider ${provider} circuit breaker is open`, details: inputs }),
              inputs
            )
            : Decision.allow(inputs)
        }))
    }
  }))

/** Registers optional gates in the action registry (from a host's layer). */
export const register = <const Gates extends ReadonlyArray<Effect.Effect<Gate.Gate, never, any>>>(
  ...gates: Gates
): Layer.Layer<never, never, ActionRegistry.ActionRegistry | Effect.Effect.Context<Gates[number]>> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const registry = yield* ActionRegistry.ActionRegistry
      for (const gate of gates) yield* registry.registerGate(yield* gate)
    })
  )

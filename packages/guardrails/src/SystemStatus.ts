/**
 * The guardrails part of `GET /api/v1/system/status`: lockdown, the run's stop state and
 * overrides, provider breakers, the actor's tenant's velocity and trust breakers, and the rate
 * limiter's settings.
 */
import { type Actor, type Errors, Rbac, TenantScope } from "@airlock/core"
/* eslint-disable @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742) */
import type {
  Action,
  ActionRegistry,
  AiSettings,
  Audit,
  Ids,
  SecureRandom,
  SystemState,
  Tenants,
  UnitOfWork
} from "@airlock/core"
/* eslint-enable @typescript-eslint/no-unused-vars */
import { Effect } from "effect"
import type { BreakerRecord } from "./Breakers.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { Lockdown, type LockdownState } from "./Lockdown.js"
import { ProviderBreaker } from "./ProviderBreaker.js"
import { type RunState, StopConditions } from "./StopConditions.js"
import { TrustBreaker } from "./TrustBreaker.js"
import { VelocityBreaker } from "./VelocityBreaker.js"

/** The guardrails status. */
export interface GuardrailsStatus {
  readonly lockdown: LockdownState
  readonly run: RunState
  readonly breakers: {
    readonly providers: ReadonlyArray<BreakerRecord>
    readonly velocity: BreakerRecord
    readonly trust: BreakerRecord
  }
  readonly rate_limit: { readonly enabled: boolean; readonly rpm: number; readonly tenant_rpm: number }
}

/**
 * Serves the guardrails status. Its layer builds the guards it reads, so it also needs what they
 * need from core: {@link Action.ActionStore}, {@link ActionRegistry.ActionRegistry}, {@link AiSettings.AiSettingsStore},
 * {@link Audit.AuditLog}, {@link Ids.IdGenerator}, {@link SecureRandom.SecureRandom},
 * {@link SystemState.SystemStateStore}, {@link Tenants.Tenants}, {@link UnitOfWork.UnitOfWork}.
 */
export class SystemStatus extends Effect.Service<SystemStatus>()("@airlock/guardrails/SystemStatus", {
  effect: Effect.gen(function*() {
    const lockdown = yield* Lockdown
    const stops = yield* StopConditions
    const providers = yield* ProviderBreaker
    const velocity = yield* VelocityBreaker
    const trust = yield* TrustBreaker
    const config = yield* GuardrailsConfig
    const rbac = yield* Rbac.Rbac

    /**
     * The status seen by `actor`, with the breakers of `tenant` (default the actor's own; another
     * only with `tenant.cross`); needs `ops.read`.
     */
    const status = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<GuardrailsStatus, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        return {
          lockdown: yield* lockdown.current,
          run: yield* stops.observe,
          breakers: {
            providers: yield* providers.listAll,
            velocity: yield* velocity.state(target),
            trust: yield* trust.state(target)
          },
          rate_limit: {
            enabled: config.rateLimitEnabled,
            rpm: config.rateLimitRpm,
            tenant_rpm: config.rateLimitTenantRpm
          }
        } satisfies GuardrailsStatus
      })

    /**
     * The status `actor` may see: {@link status} with `ops.read`, null without it (the system
     * status route then shows only its public part).
     */
    const statusIfAllowed = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<GuardrailsStatus | null, Errors.Forbidden | Errors.StorageError> =>
      rbac.can(actor, "ops.read") ? status(actor, tenant) : Effect.succeed(null)

    return { status, statusIfAllowed } as const
  }),
  dependencies: [
    Lockdown.Default,
    StopConditions.Default,
    ProviderBreaker.Default,
    VelocityBreaker.Default,
    TrustBreaker.Default
  ]
}) {}

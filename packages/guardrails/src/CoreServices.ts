/**
 * The core services guardrails uses, gathered behind one guardrails tag. Services read core
 * through it rather than through core's own tags, so their published types name only
 * guardrails' own tags (core's service classes cannot be named from another package's bundled
 * declarations). {@link layer} fills it from core.
 */
import { type Actor, Action, AiSettings, Audit, Errors, Ids, Rbac, SecureRandom, SystemState, Tenants } from "@airlock/core"
import { Context, Effect, Layer } from "effect"

/** What guardrails needs from core. */
export interface CoreServicesShape {
  readonly audit: Audit.AuditLog
  readonly rbac: Context.Tag.Service<Rbac.Rbac>
  readonly ids: Context.Tag.Service<Ids.IdGenerator>
  readonly random: Context.Tag.Service<SecureRandom.SecureRandom>
  readonly tenants: Tenants.Tenants
  readonly actions: Context.Tag.Service<Action.ActionStore>
  readonly settings: Context.Tag.Service<AiSettings.AiSettingsStore>
  readonly state: Context.Tag.Service<SystemState.SystemStateStore>
}

/** Core's services, as guardrails sees them. */
export class CoreServices extends Context.Tag("@airlock/guardrails/CoreServices")<CoreServices, CoreServicesShape>() {}

/** Core services taken from core's own tags. */
export const layer: Layer.Layer<
  CoreServices,
  never,
  | Audit.AuditLog
  | Rbac.Rbac
  | Ids.IdGenerator
  | SecureRandom.SecureRandom
  | Tenants.Tenants
  | Action.ActionStore
  | AiSettings.AiSettingsStore
  | SystemState.SystemStateStore
> = Layer.effect(
  CoreServices,
  Effect.all({
    audit: Audit.AuditLog,
    rbac: Rbac.Rbac,
    ids: Ids.IdGenerator,
    random: SecureRandom.SecureRandom,
    tenants: Tenants.Tenants,
    actions: Action.ActionStore,
    settings: AiSettings.AiSettingsStore,
    state: SystemState.SystemStateStore
  })
)

/**
 * The tenant a call acts on: `tenant` when given (another tenant only for actors with
 * `tenant.cross`, as an admin naming `X-Tenant`), else the actor's own.
 */
export const actingTenant = (
  rbac: Context.Tag.Service<Rbac.Rbac>,
  actor: Actor.Actor,
  tenant?: string
): Effect.Effect<Ids.TenantId, Errors.Forbidden> =>
  tenant === undefined || tenant === actor.tenant_id || rbac.can(actor, "tenant.cross")
    ? Effect.succeed((tenant ?? actor.tenant_id) as Ids.TenantId)
    : Effect.fail(new Errors.Forbidden({ code: "tenant.mismatch", message: "Actor belongs to another tenant" }))

import { type Actor, Errors, type Ids, type Rbac } from "@airlock/core"
import { type Context, Effect } from "effect"

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

/** Tenant scope and permission checks shared by the ledger services. */
import { type Actor, Errors, type Ids, type Rbac, TenantScope } from "@airlock/core"
import { type Context, Effect } from "effect"

/** Fails unless `actor` belongs to `tenant` (or may act across tenants) and holds `permission`. */
export const makeAccess =
  (rbac: Context.Tag.Service<Rbac.Rbac>) =>
  (tenant: Ids.TenantId, actor: Actor.Actor, permission: string): Effect.Effect<void, Errors.Forbidden> =>
    TenantScope.allows(rbac, actor, tenant) ? rbac.require(actor, permission) : Effect.fail(TenantScope.mismatch())

/** Fails unless the actor holds at least one of `permissions` (after the tenant check). */
export const makeAccessAny = (rbac: Context.Tag.Service<Rbac.Rbac>) =>
(
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  permissions: ReadonlyArray<string>
): Effect.Effect<void, Errors.Forbidden> => {
  if (!TenantScope.allows(rbac, actor, tenant)) return Effect.fail(TenantScope.mismatch())
  return permissions.some((p) => rbac.can(actor, p))
    ? Effect.void
    : Effect.fail(
      new Errors.Forbidden({
        code: "rbac.forbidden",
        message: `Role ${actor.role} lacks one of ${permissions.join(", ")}`,
        details: { permissions: [...permissions], role: actor.role, actor_id: actor.id }
      })
    )
}

/** `Option`-less lookup helper: fails `not_found` for a missing entity. */
export const notFound = (entity: string, id: string): Errors.NotFound =>
  new Errors.NotFound({ message: `${entity} ${id} not found`, details: { entity, id } })

/**
 * The tenant-scope rule, stated once: an actor acts on its own tenant, and on another only when
 * its role grants `tenant.cross` (an admin naming `X-Tenant`). Every service, gate and adapter
 * that checks a tenant asks this module; the refusal is `403 tenant.mismatch`.
 */
import { Effect } from "effect"
import type { Actor } from "./Actor.js"
import { Forbidden } from "./Errors.js"
import type { TenantId } from "./Ids.js"

/** The permission that lets an actor act on a tenant other than its own. */
export const CROSS_TENANT_PERMISSION = "tenant.cross"

/** What the rule reads of the RBAC service. */
export interface PermissionCheck {
  readonly can: (actor: Actor, permission: string) => boolean
}

/** May `actor` act on `tenantId`? Its own tenant, or any tenant with `tenant.cross`. */
export const allows = (rbac: PermissionCheck, actor: Actor, tenantId: string): boolean =>
  actor.tenant_id === tenantId || rbac.can(actor, CROSS_TENANT_PERMISSION)

/** The refusal (`tenant.mismatch`); callers may say more about where the other tenant came from. */
export const mismatch = (
  options?: { readonly message?: string; readonly details?: Record<string, unknown> }
): Forbidden =>
  new Forbidden({
    code: "tenant.mismatch",
    message: options?.message ?? "Actor belongs to another tenant",
    ...(options?.details ? { details: options.details } : {})
  })

/** Fails with `tenant.mismatch` unless `actor` may act on `tenantId`. */
export const requireTenant = (rbac: PermissionCheck, actor: Actor, tenantId: string): Effect.Effect<void, Forbidden> =>
  allows(rbac, actor, tenantId) ? Effect.void : Effect.fail(mismatch())

/** The tenant a call acts on: `tenant` when given (and allowed), else the actor's own. */
export const acting = (rbac: PermissionCheck, actor: Actor, tenant?: string): Effect.Effect<TenantId, Forbidden> =>
  tenant === undefined
    ? Effect.succeed(actor.tenant_id)
    : allows(rbac, actor, tenant)
    ? Effect.succeed(tenant as TenantId)
    : Effect.fail(mismatch())

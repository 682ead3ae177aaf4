/**
 * Roles and permissions. The role→permission matrix is data: hosts replace or extend it with
 * {@link layerMatrix} instead of patching code, and every check goes through {@link Rbac}.
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { Actor } from "./Actor.js"
import { Forbidden } from "./Errors.js"

/** The built-in roles. `ADMIN` is the platform operator and may act across tenants. */
export const Role = Schema.Literal("OWNER", "CONTROLLER", "BOOKKEEPER", "VIEWER", "ADMIN", "AGENT")
/** Type of {@link Role}. */
export type Role = typeof Role.Type

/** The built-in permissions; hosts may use further strings through a custom matrix. */
export const Permission = Schema.Literal(
  "companion.read",
  "companion.propose",
  "companion.actions",
  "companion.shadow.wipe",
  "companion.settings.manage",
  "ledger.read",
  "ledger.write",
  "ledger.period_lock",
  "ledger.period_unlock",
  "billing.read",
  "billing.manage",
  "approvals.grant",
  "executions.run",
  "ops.read",
  "ops.write",
  "memory.read",
  "memory.write",
  "memory.review",
  "audit.read",
  "resources.read_all",
  "tenant.admin",
  "tenant.data.export",
  "tenant.data.delete",
  "tenant.cross",
  "system.admin"
)
/** Type of {@link Permission}. */
export type Permission = typeof Permission.Type

/** A role→permission matrix. */
export type PermissionMatrix = Readonly<Record<string, ReadonlyArray<string>>>

const READ: ReadonlyArray<Permission> = ["companion.read", "ledger.read", "billing.read", "ops.read", "memory.read"]

/** The default matrix, following the runbooks (`companion.actions` for OWNER/CONTROLLER/BOOKKEEPER). */
export const defaultMatrix: Readonly<Record<Role, ReadonlyArray<Permission>>> = {
  ADMIN: Permission.literals,
  OWNER: Permission.literals.filter((p) => p !== "system.admin" && p !== "tenant.cross"),
  CONTROLLER: [
    ...READ,
    "companion.propose",
    "companion.actions",
    "companion.shadow.wipe",
    "companion.settings.manage",
    "ledger.write",
    "ledger.period_lock",
    "billing.manage",
    "approvals.grant",
    "executions.run",
    "memory.write",
    "memory.review",
    "audit.read",
    "resources.read_all",
    "tenant.data.export"
  ],
  BOOKKEEPER: [...READ, "companion.propose", "companion.actions", "ledger.write", "executions.run", "memory.write"],
  VIEWER: READ,
  AGENT: ["companion.read", "companion.propose", "ledger.read", "memory.read", "memory.write", "executions.run"]
}

/** Permission checks against the configured matrix. */
export class Rbac extends Context.Tag("@airlock/core/Rbac")<
  Rbac,
  {
    readonly matrix: PermissionMatrix
    /** Does the actor's role grant `permission`? Inactive actors have no permissions. */
    readonly can: (actor: Actor, permission: string) => boolean
    /** Fails with `rbac.forbidden` unless the actor has `permission`. */
    readonly require: (actor: Actor, permission: string) => Effect.Effect<void, Forbidden>
  }
>() {}

/** Builds the service for a matrix. */
export const makeRbac = (matrix: PermissionMatrix): Context.Tag.Service<Rbac> => {
  const sets = new Map(Object.entries(matrix).map(([role, perms]) => [role, new Set(perms)]))
  const can = (actor: Actor, permission: string) => actor.active && (sets.get(actor.role)?.has(permission) ?? false)
  return {
    matrix,
    can,
    require: (actor, permission) =>
      can(actor, permission)
        ? Effect.void
        : Effect.fail(
          new Forbidden({
            code: "rbac.forbidden",
            message: `Role ${actor.role} lacks permission ${permission}`,
            details: { permission, role: actor.role, actor_id: actor.id }
          })
        )
  }
}

/** RBAC with a host-supplied matrix. */
export const layerMatrix = (matrix: PermissionMatrix): Layer.Layer<Rbac> => Layer.succeed(Rbac, makeRbac(matrix))

/** RBAC with {@link defaultMatrix}. */
export const layer: Layer.Layer<Rbac> = layerMatrix(defaultMatrix)

/** Which resources an actor may see: all of its tenant's, or only those it owns. */
export type OwnershipScope =
  | { readonly _tag: "All" }
  | { readonly _tag: "Owner"; readonly owner_id: string }

/**
 * Ownership scoping for non-admin actors: actors holding `resources.read_all` see every
 * resource of their tenant, everyone else only what they own.
 */
export const ownershipScope = (rbac: Context.Tag.Service<Rbac>, actor: Actor): OwnershipScope =>
  rbac.can(actor, "resources.read_all") ? { _tag: "All" } : { _tag: "Owner", owner_id: actor.id }

/** Fails with `rbac.forbidden` when the scope does not include a resource owned by `ownerId`. */
export const requireOwnership = (scope: OwnershipScope, ownerId: string): Effect.Effect<void, Forbidden> =>
  scope._tag === "All" || scope.owner_id === ownerId
    ? Effect.void
    : Effect.fail(new Forbidden({ code: "rbac.forbidden", message: "Resource belongs to another actor" }))

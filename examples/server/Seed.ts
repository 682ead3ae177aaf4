/**
 * Development seed and production hygiene for the reference server.
 *
 * Development (`AIRLOCK_ENV=development`): the `default` tenant (mode `suggest_only`) and four
 * actors with well-known tokens, created once and found again on every start — safe to run from
 * several instances at once (a concurrent insert that loses the race is treated as "exists").
 * Production: the well-known tokens are public knowledge, so any that exist in the database (a
 * database first used in development) are revoked at start.
 */
import { ApiToken, Errors, Ids, Tenants } from "@airlock/core"
import { Effect, Option } from "effect"

/** The development tokens and the actors they speak for. */
export const devTokens = [
  { token: "dev_admin_token", actor: "dev_admin", role: "ADMIN", kind: "user", name: "Dev Admin", note: "ADMIN: every permission, admin routes, may act on other tenants (X-Tenant)" },
  { token: "dev_bookkeeper_token", actor: "dev_bookkeeper", role: "BOOKKEEPER", kind: "user", name: "Dev Bookkeeper", note: "BOOKKEEPER: reads, proposes and applies" },
  { token: "dev_viewer_token", actor: "dev_viewer", role: "VIEWER", kind: "user", name: "Dev Viewer", note: "VIEWER: read-only" },
  { token: "dev_agent_token", actor: "dev_agent", role: "AGENT", kind: "agent", name: "Copilot", note: "AGENT: the AI agent actor (proposes, never promotes)" }
] as const

/** The tenant the development seed creates. */
export const devTenant = Ids.TenantId.make("default")

const existsAlready = (e: unknown) => e instanceof Errors.Conflict && e.code === "conflict.duplicate"

/** Creates the development tenant, actors and tokens unless they exist. */
export const seedDevelopment = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const tokens = yield* ApiToken.ApiTokens
  const store = yield* ApiToken.ApiTokenStore
  if (Option.isNone(yield* Effect.option(tenants.get(devTenant)))) {
    yield* tenants.create({ id: devTenant, name: "Default workspace", settings: { ai_mode: "suggest_only" } }).pipe(
      Effect.catchIf(existsAlready, () => Effect.void)
    )
  }
  for (const dev of devTokens) {
    const actorId = Ids.ActorId.make(dev.actor)
    if (Option.isNone(yield* Effect.option(tenants.getActor(devTenant, actorId)))) {
      yield* tenants.addActor({ tenant_id: devTenant, id: actorId, kind: dev.kind, name: dev.name, role: dev.role }).pipe(
        Effect.catchIf(existsAlready, () => Effect.void)
      )
    }
    yield* tokens.register(dev.token, { tenant_id: devTenant, actor_id: actorId, name: dev.actor }).pipe(
      Effect.catchIf(existsAlready, () => Effect.void)
    )
    const stored = yield* store.get(ApiToken.tokenLookupId(dev.token))
    if (Option.isSome(stored) && stored.value.revoked_at !== null) {
      yield* Effect.logWarning(`${dev.token} was revoked (this database ran in production); use a fresh database for development`)
    }
  }
})

/** Revokes any well-known development token found in a production database. */
export const revokeDevelopmentTokens = Effect.gen(function*() {
  const tokens = yield* ApiToken.ApiTokens
  const store = yield* ApiToken.ApiTokenStore
  for (const dev of devTokens) {
    const stored = yield* store.get(ApiToken.tokenLookupId(dev.token))
    if (Option.isSome(stored) && stored.value.revoked_at === null) {
      yield* tokens.revoke(stored.value.id)
      yield* Effect.logWarning(`revoked the development token ${dev.token}: it must not work in production`)
    }
  }
})

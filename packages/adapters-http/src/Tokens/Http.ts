/** Handlers of the tokens group: translate between JSON and core's `ApiTokens` lifecycle. */
import { ApiToken } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** The JSON form of a token's listing fields (times stay milliseconds; the schema writes ISO). */
const viewJson = (v: ApiToken.TokenView) => ({
  id: v.id,
  tenant_id: v.tenant_id,
  actor_id: v.actor_id,
  name: v.name,
  prefix: v.prefix,
  created_at: v.created_at,
  last_used_at: v.last_used_at,
  expires_at: v.expires_at,
  revoked_at: v.revoked_at,
  status: v.status
})

/** The tokens group's handlers. */
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "tokens">, never, ApiToken.ApiTokens | TenantScoped> =
  HttpApiBuilder.group(AirlockApi, "tokens", (handlers) =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      return handlers
        .handle("createToken", ({ payload }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              const created = yield* tokens.create(tenant, {
                actor_id: payload.actor,
                ...(payload.name === undefined ? {} : { name: payload.name }),
                ...(payload.expires_at === undefined ? {} : { expires_at: payload.expires_at })
              }, actor)
              return { ...viewJson(created.view), token: created.token }
            })
          ))
        .handle("listTokens", ({ urlParams }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              const page = yield* tokens.listTokens(tenant, actor, {
                after: urlParams.cursor,
                limit: urlParams.limit,
                actor_id: urlParams.actor
              })
              return { items: page.items.map(viewJson), next_cursor: page.next_cursor }
            })
          ))
        .handle("revokeToken", ({ path }) =>
          withPrincipal((actor, tenant) => Effect.map(tokens.revokeToken(tenant, path.id, actor), viewJson)))
    }))

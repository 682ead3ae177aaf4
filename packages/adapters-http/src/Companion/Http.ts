/** Handlers of the companion group: translate between JSON and core's `Tenants` settings. */
import { type AiSettings, Tenants } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** The JSON form of core settings. */
export const toJson = (s: AiSettings.AiSettings) => ({
  tenant_id: s.tenant_id,
  ai_enabled: s.ai_enabled,
  kill_switch: s.kill_switch,
  ai_mode: s.ai_mode,
  extensions: s.extensions,
  updated_at: s.updated_at,
  updated_by: s.updated_by
})

/** The companion group's handlers. */
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "companion">, never, Tenants.Tenants | TenantScoped> =
  HttpApiBuilder.group(
    AirlockApi,
    "companion",
    (handlers) =>
      Effect.gen(function*() {
        const tenants = yield* Tenants.Tenants
        return handlers
          .handle("getSettings", () =>
            withPrincipal((actor, tenant) =>
              Effect.gen(function*() {
                return toJson(yield* tenants.readSettings(tenant, actor))
              })
            ))
          .handle("updateSettings", ({ payload }) =>
            withPrincipal((actor, tenant) =>
              Effect.gen(function*() {
                return toJson(yield* tenants.updateSettings(tenant, payload, actor))
              })
            ))
      })
  )

/** Handlers of the companion group: translate between JSON and core's `Tenants` settings. */
import { type AiSettings, Rbac, Tenants } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AirlockApi } from "../Api.js"
import { CurrentPrincipal, TenantScoped } from "../Auth.js"

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
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "companion">, never, Tenants.Tenants | Rbac.Rbac | TenantScoped> = HttpApiBuilder.group(
  AirlockApi,
  "companion",
  (handlers) =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const rbac = yield* Rbac.Rbac
      return handlers
        .handle("getSettings", () =>
          Effect.gen(function*() {
            const { actor, tenant } = yield* CurrentPrincipal
            yield* rbac.require(actor, "companion.read")
            return toJson(yield* tenants.settings(tenant.id))
          }))
        .handle("updateSettings", ({ payload }) =>
          Effect.gen(function*() {
            const { actor, tenant } = yield* CurrentPrincipal
            return toJson(yield* tenants.updateSettings(tenant.id, payload, actor))
          }))
    })
)

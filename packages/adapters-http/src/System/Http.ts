/** Handlers of the system group. */
import { KillSwitch, Tenants } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, Layer } from "effect"
import { AirlockApi } from "../Api.js"
import { Authenticated, CurrentPrincipal } from "../Auth.js"
import { HttpConfig } from "../HttpConfig.js"
import { RateLimiter } from "../RateLimiter.js"

/** The system group's handlers. */
export const layer: Layer.Layer<HttpApiGroup.ApiGroup<"airlock", "system">, never, Tenants.Tenants | HttpConfig | RateLimiter | Authenticated> = HttpApiBuilder.group(
  AirlockApi,
  "system",
  (handlers) =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const settings = yield* HttpConfig
      const limiter = yield* RateLimiter
      return handlers.handle("status", () =>
        Effect.gen(function*() {
          const { tenant } = yield* CurrentPrincipal
          const global = yield* tenants.globalAi()
          const ai = yield* tenants.settings(tenant.id)
          const state = KillSwitch.evaluateKillSwitch(global.enabled, tenant, ai)
          return {
            environment: settings.environment,
            server_time: yield* Clock.currentTimeMillis,
            ai_global: global,
            admin_write_enabled: settings.adminWriteEnabled,
            tenant_strict: settings.tenantStrict,
            rate_limit_enabled: limiter.enabled,
            tenant_id: tenant.id,
            ai_mode: ai.ai_mode,
            companion: state.enabled ? { enabled: true } : { enabled: false, layer: state.layer, reason: state.reason }
          }
        }))
    })
)

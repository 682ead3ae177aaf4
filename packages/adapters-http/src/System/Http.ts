/** Handlers of the system group. */
import { KillSwitch, Tenants } from "@airlock/core"
import { type Breakers, Budgets, GuardrailsConfig, SystemStatus, Usd } from "@airlock/guardrails"
import { Scheduler } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { Authenticated } from "../Auth.js"
import { lockdownJson } from "../Guardrails/Http.js"
import { banner, HttpConfig } from "../HttpConfig.js"
import { HttpRateLimit } from "../HttpRateLimit.js"
import { withPrincipal } from "../RequestContext.js"

/** The JSON form of a breaker record. */
export const breakerJson = (b: Breakers.BreakerRecord) => ({
  key: b.key,
  kind: b.kind,
  tenant_id: b.tenant_id,
  state: b.state,
  reason: b.reason,
  opened_at: b.opened_at,
  until: b.until,
  consecutive_failures: b.consecutive_failures,
  data: b.data
})

/** The system group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "system">,
  never,
  | Tenants.Tenants
  | HttpConfig
  | HttpRateLimit
  | SystemStatus.SystemStatus
  | Budgets.LlmBudget
  | GuardrailsConfig.GuardrailsConfig
  | Scheduler.Scheduler
  | Authenticated
> = HttpApiBuilder.group(
  AirlockApi,
  "system",
  (handlers) =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const settings = yield* HttpConfig
      const limiter = yield* HttpRateLimit
      const guardrails = yield* SystemStatus.SystemStatus
      const llm = yield* Budgets.LlmBudget
      const config = yield* GuardrailsConfig.GuardrailsConfig
      const scheduler = yield* Scheduler.Scheduler
      return handlers.handle("status", () =>
        withPrincipal((actor, _, { tenant }) =>
          Effect.gen(function*() {
            const global = yield* tenants.globalAi()
            const ai = yield* tenants.settings(tenant.id)
            const state = KillSwitch.evaluateKillSwitch(global.enabled, tenant, ai)
            const base = {
              environment: settings.environment,
              banner: banner(settings),
              server_time: yield* Clock.currentTimeMillis,
              ai_global: global,
              admin_write_enabled: settings.adminWriteEnabled,
              tenant_strict: settings.tenantStrict,
              rate_limit_enabled: limiter.enabled,
              tenant_id: tenant.id,
              ai_mode: ai.ai_mode,
              companion: state.enabled
                ? { enabled: true }
                : { enabled: false, layer: state.layer, reason: state.reason }
            }
            // the middleware already allowed this tenant (own, or `tenant.cross`)
            const g = yield* Effect.catchTag(
              guardrails.statusIfAllowed(actor, tenant.id),
              "Forbidden",
              (e) => Effect.die(e)
            )
            if (g === null) {
              return {
                ...base,
                lockdown: null,
                run: null,
                breakers: null,
                rate_limit: null,
                llm_budget_status: null,
                scheduler: null
              }
            }
            const budget = yield* llm.status(tenant.id, ai)
            return {
              ...base,
              lockdown: lockdownJson(g.lockdown),
              run: {
                active: g.run.active,
                paused: g.run.paused,
                should_stop: g.run.should_stop,
                stop: g.run.stop === null
                  ? null
                  : { reason: g.run.stop.reason, data: g.run.stop.data, at: g.run.stop.at }
              },
              breakers: {
                providers: g.breakers.providers.map(breakerJson),
                velocity: breakerJson(g.breakers.velocity),
                trust: breakerJson(g.breakers.trust)
              },
              // what the server applies: the hook's switch, the guardrails limits
              rate_limit: { enabled: limiter.enabled, rpm: config.rateLimitRpm, tenant_rpm: config.rateLimitTenantRpm },
              llm_budget_status: {
                fallback_active: budget.fallback_active,
                fallback_reason: budget.fallback_reason,
                period: budget.period,
                tenant_spent_usd: Usd.formatUsd(budget.tenant_spent_usd),
                tenant_cap_usd: Usd.formatUsd(budget.tenant_cap_usd),
                global_spent_usd: Usd.formatUsd(budget.global_spent_usd),
                global_cap_usd: Usd.formatUsd(budget.global_cap_usd)
              },
              scheduler: yield* scheduler.status
            }
          })
        ))
    })
)

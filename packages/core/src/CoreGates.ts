/**
 * Core's own gates, registered by the pipeline itself: tenant scope, the three-layer kill
 * switch, RBAC and the mode rule (their places are rows of `GateOrder`).
 */
import { Effect, Option } from "effect"
import { CoreConfig } from "./CoreConfig.js"
import { CompanionDisabled, Forbidden } from "./Errors.js"
import { Decision, type Gate } from "./Gate.js"
import * as GateOrder from "./GateOrder.js"
import { evaluateKillSwitch, globalEnabledOf, modeAllowsApply } from "./KillSwitch.js"
import { Rbac } from "./Rbac.js"
import { AI_GLOBAL_ENABLED_KEY, SystemStateStore } from "./SystemState.js"
import * as TenantScope from "./TenantScope.js"

/** The core gates: tenant scope, the three-layer kill switch, RBAC and the mode rule. */
export const make = Effect.gen(function*() {
  const rbac = yield* Rbac
  const config = yield* CoreConfig
  const system = yield* SystemStateStore

  const globalEnabledFrom = (entry: Option.Option<{ readonly value: unknown }>) =>
    globalEnabledOf(config.aiGlobalEnabled, Option.isSome(entry) ? entry.value.value : undefined)

  const tenantScope: Gate = {
    name: "tenant_scope",
    order: GateOrder.tenantScope,
    phases: ["propose", "apply"],
    evaluate: ({ actor, tenant }) =>
      Effect.succeed(
        TenantScope.allows(rbac, actor, tenant.id)
          ? Decision.allow({ actor_tenant: actor.tenant_id })
          : Decision.deny(TenantScope.mismatch(), { actor_tenant: actor.tenant_id })
      )
  }

  const killSwitch: Gate = {
    name: "kill_switch",
    order: GateOrder.killSwitch,
    phases: ["propose", "apply"],
    appliesTo: (kind) => kind.aiGoverned,
    evaluate: ({ settings, tenant }) =>
      // one read and one step: the stored override, then the decision
      Effect.map(system.get(AI_GLOBAL_ENABLED_KEY), (entry) => {
        const global = globalEnabledFrom(entry)
        const inputs = {
          global_enabled: global,
          tenant_ai_companion_enabled: tenant.ai_companion_enabled,
          ai_enabled: settings.ai_enabled,
          kill_switch: settings.kill_switch
        }
        const state = evaluateKillSwitch(global, tenant, settings)
        return state.enabled
          ? Decision.allow(inputs)
          : Decision.deny(new CompanionDisabled({ message: state.reason, details: { layer: state.layer } }), inputs)
      })
  }

  const rbacGate: Gate = {
    name: "rbac",
    order: GateOrder.rbac,
    phases: ["propose", "apply"],
    evaluate: ({ actor, kind, phase }) => {
      const permission = phase === "propose" ? kind.permissions.propose : kind.permissions.apply
      const inputs = { role: actor.role, permission }
      return Effect.succeed(
        rbac.can(actor, permission)
          ? Decision.allow(inputs)
          : Decision.deny(
            new Forbidden({
              code: "rbac.forbidden",
              message: `Role ${actor.role} lacks permission ${permission}`,
              details: inputs
            }),
            inputs
          )
      )
    }
  }

  const mode: Gate = {
    name: "mode",
    order: GateOrder.mode,
    phases: ["apply"],
    appliesTo: (kind) => kind.aiGoverned,
    evaluate: ({ settings, trigger }) => {
      const inputs = { ai_mode: settings.ai_mode, trigger }
      return Effect.succeed(
        modeAllowsApply(settings.ai_mode, trigger)
          ? Decision.allow(inputs)
          : Decision.deny(
            new Forbidden({
              code: "mode.forbidden",
              message: settings.ai_mode === "shadow_only"
                ? "Apply is blocked in shadow_only mode"
                : `Mode ${settings.ai_mode} does not allow ${trigger} apply`,
              details: inputs
            }),
            inputs
          )
      )
    }
  }

  return [tenantScope, killSwitch, rbacGate, mode] as const
})

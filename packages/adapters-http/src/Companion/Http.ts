/**
 * Handlers of the companion group: translate between JSON and core's `Tenants` settings and the
 * companion's `CompanionSettings` service (named settings, governed raises).
 */
import { CompanionSettings } from "@airlock/companion"
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

/** The JSON form of the named settings (core's fields, `extensions` and the named fields). */
export const namedJson = (s: AiSettings.AiSettings, view: CompanionSettings.SettingsView) => ({
  ...toJson(s),
  autopost_enabled: view.autopost_enabled,
  autopost_threshold: view.autopost_threshold,
  coldstart_min_labels: view.coldstart_min_labels,
  target_precision: view.target_precision,
  certification_delta: view.certification_delta,
  spot_check_rate: view.spot_check_rate,
  value_breaker_threshold: view.value_breaker_threshold,
  llm_tenant_cap_usd: view.llm_tenant_cap_usd,
  approval_risk_threshold: view.approval_risk_threshold,
  velocity_max_per_minute: view.velocity_max_per_minute,
  velocity_cooldown_seconds: view.velocity_cooldown_seconds,
  trust_rejection_rate: view.trust_rejection_rate,
  trust_min_sample: view.trust_min_sample,
  trust_window_seconds: view.trust_window_seconds,
  trust_downgrade_to: view.trust_downgrade_to,
  features: view.features,
  effective: view.effective,
  autonomy_approval_required: view.autonomy_approval_required
})

/** Reads run no gates: neither a pipeline conflict nor the lockdown can refuse them. */
const readOnly = <A, R>(self: Effect.Effect<A, CompanionSettings.SettingsError, R>) =>
  Effect.catchTags(self, { Conflict: Effect.die, LockdownActive: Effect.die })

const changeJson = (c: CompanionSettings.ChangeView) => ({ ...c, patch: { ...c.patch }, raises: [...c.raises] })

/** The companion group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "companion">,
  never,
  Tenants.Tenants | CompanionSettings.CompanionSettings | TenantScoped
> = HttpApiBuilder.group(
  AirlockApi,
  "companion",
  (handlers) =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const companion = yield* CompanionSettings.CompanionSettings
      const named = (tenant: Parameters<typeof tenants.settings>[0]) =>
        Effect.map(tenants.settings(tenant), (s) => namedJson(s, companion.view(s)))
      return handlers
        .handle("getSettings", () =>
          withPrincipal((actor, tenant) =>
            Effect.map(tenants.readSettings(tenant, actor), (settings) =>
              namedJson(settings, companion.view(settings)))
          ))
        .handle("getNamedSettings", () =>
          withPrincipal((actor, tenant) =>
            Effect.map(tenants.readSettings(tenant, actor), (settings) =>
              namedJson(settings, companion.view(settings)))
          ))
        .handle("updateSettings", ({ payload }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              // a raise is refused here, never proposed: no gate runs
              yield* companion.update(tenant, payload, actor, { onRaise: "refuse" }).pipe(readOnly)
              return yield* named(tenant)
            })
          ))
        .handle("requestSettingsChange", ({ payload }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              const result = yield* companion.update(tenant, payload, actor)
              const settings = yield* named(tenant)
              return result.status === "applied"
                ? { status: "applied" as const, settings }
                : {
                  status: "pending_approval" as const,
                  change_id: result.change.change_id,
                  change: changeJson(result.change),
                  settings
                }
            })
          ))
        .handle("listSettingsChanges", ({ urlParams }) =>
          withPrincipal((actor, tenant) =>
            Effect.map(
              companion.changes(tenant, actor, { status: urlParams.status, limit: urlParams.limit }).pipe(readOnly),
              (changes) => ({ changes: changes.map(changeJson) })
            )
          ))
        .handle("approveSettingsChange", ({ path }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              const result = yield* companion.approve(tenant, path.id, actor)
              return {
                status: result.status,
                already_applied: result.already_applied,
                change: changeJson(result.change),
                settings: yield* named(tenant)
              }
            })
          ))
        .handle("rejectSettingsChange", ({ path, payload }) =>
          withPrincipal((actor, tenant) =>
            Effect.map(
              companion.reject(tenant, path.id, actor, payload.reason).pipe(
                Effect.catchTag("LockdownActive", Effect.die)
              ),
              changeJson
            )
          ))
    })
)

/**
 * Handlers of the tenants groups: onboarding (companion `TenantOnboarding`), health (companion
 * `TenantHealth`), the export as a streamed `.tar.gz` ({@link TenantArchive.archiveStream}: one
 * page in memory at a time, the next read when the client has taken the previous one) and the
 * confirmed delete (core `TenantData.remove`).
 */
import { TenantHealth, TenantOnboarding } from "@airlock/companion"
import { TenantData, Tenants } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup, HttpServerResponse } from "@effect/platform"
import { Clock, Effect, type Layer, Stream } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin, TenantScoped } from "../Auth.js"
import { encodeSummary, lockdownJson } from "../Guardrails/Http.js"
import { withPrincipal } from "../RequestContext.js"
import { breakerJson } from "../System/Http.js"
import * as TenantArchive from "../TenantArchive.js"
import type { TenantHealth as HealthView } from "./Api.js"

/** The JSON answer of onboarding: the library's result plus the runbook's summary fields. */
export const onboardedJson = (r: TenantOnboarding.OnboardResult) => ({
  tenant_id: r.tenant_id,
  template: r.template,
  admin_actor_id: r.admin_actor_id,
  token_id: r.token_id,
  api_token: r.api_token,
  replayed: r.replayed,
  accounts_imported: r.config.coa.length,
  seed_user: { user_id: r.config.user.user_id, email: r.config.user.email },
  steps: r.steps.map((s) => ({ ...s })),
  config: r.config as unknown as Record<string, unknown>,
  env: r.env
})

/** The JSON form of a tenant's health. */
export const healthJson = (h: TenantHealth.Health): Effect.Effect<typeof HealthView.Type> =>
  Effect.map(encodeSummary(h.budgets), (budgets) => ({
    tenant_id: h.tenant_id,
    tenant_name: h.tenant_name,
    mode: h.mode,
    switches: {
      ai_global: h.switches.ai_global,
      companion_enabled: h.switches.companion_enabled,
      kill_switch: h.switches.kill_switch,
      ai_enabled: h.switches.ai_enabled,
      effective: h.switches.effective.enabled
        ? { enabled: true as const }
        : { enabled: false, layer: h.switches.effective.layer, reason: h.switches.effective.reason }
    },
    lockdown: lockdownJson(h.guardrails.lockdown),
    run: {
      active: h.guardrails.run.active,
      paused: h.guardrails.run.paused,
      should_stop: h.guardrails.run.should_stop,
      stop: h.guardrails.run.stop === null
        ? null
        : { reason: h.guardrails.run.stop.reason, data: h.guardrails.run.stop.data, at: h.guardrails.run.stop.at }
    },
    breakers: {
      providers: h.guardrails.breakers.providers.map(breakerJson),
      velocity: breakerJson(h.guardrails.breakers.velocity),
      trust: breakerJson(h.guardrails.breakers.trust)
    },
    budgets,
    last_import: h.last_import,
    last_auditor_run: h.last_auditor_run,
    open_reviews: h.open_reviews
  }))

/** The download's file name: `<tenant>-export-<YYYYMMDD>.tar.gz` (tenant ids are header-safe). */
export const exportFileName = (tenant: string, at: number) =>
  `${tenant}-export-${new Date(at).toISOString().slice(0, 10).replace(/-/g, "")}.tar.gz`

/** The onboarding group's handlers. */
export const layerAdmin: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "tenantsAdmin">,
  never,
  TenantOnboarding.TenantOnboarding | Admin
> = HttpApiBuilder.group(AirlockApi, "tenantsAdmin", (handlers) =>
  Effect.gen(function*() {
    const onboarding = yield* TenantOnboarding.TenantOnboarding
    return handlers.handle("onboardTenant", ({ headers, payload }) =>
      withPrincipal((actor) =>
        Effect.gen(function*() {
          const key = headers["idempotency-key"]
          const result = yield* onboarding.onboard({
            template: payload.template,
            name: payload.name,
            admin_email: payload.admin_email,
            idempotency_key: key === undefined || key === "" ? undefined : key
          }, actor)
          const body = onboardedJson(result)
          // a replay is 200 (nothing new was made); the first answer 201
          return result.replayed ? HttpServerResponse.unsafeJson(body, { status: 200 }) : body
        })
      ))
  }))

/** The tenant group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "tenants">,
  never,
  TenantHealth.TenantHealth | TenantData.TenantData | Tenants.Tenants | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "tenants", (handlers) =>
  Effect.gen(function*() {
    const health = yield* TenantHealth.TenantHealth
    const data = yield* TenantData.TenantData
    const tenants = yield* Tenants.Tenants
    return handlers
      .handle("tenantHealth", () =>
        withPrincipal((actor, tenant) => Effect.flatMap(health.health(tenant, actor), healthJson)))
      .handle("setCompanionFlag", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(tenants.setCompanionEnabled(tenant, payload.ai_companion_enabled, actor), (t) => ({
            tenant_id: t.id,
            ai_companion_enabled: t.ai_companion_enabled
          }))
        ))
      .handle("exportTenant", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            // permission and tenant are checked (and the export audited) before the first byte
            const archive = yield* TenantArchive.archiveStream(data, tenant, actor)
            const now = yield* Clock.currentTimeMillis
            return HttpServerResponse.stream(
              Stream.fromAsyncIterable(archive as AsyncIterable<Uint8Array>, (cause) =>
                cause),
              {
                contentType: "application/gzip",
                headers: { "content-disposition": `attachment; filename="${exportFileName(tenant, now)}"` }
              }
            )
          })
        ))
      .handle("deleteTenant", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(data.remove(tenant, actor, { confirm: urlParams.confirm === "true" }), (t) => ({ ...t }))
        ))
  }))

/**
 * The deployment's defaults for new tenants (the rollout runbook's `.env` "default for all new
 * tenants": `AUTOPOST_ENABLED`, `AUTOPOST_THRESHOLD`, `COLDSTART_MIN_LABELS`), read from
 * `AIRLOCK_COMPANION_*` through `Config`: stored into a tenant's settings when it is onboarded (a
 * template may tighten them, and a template whose auto-post policy is `off` keeps it off),
 * existing tenants untouched; out-of-range values fail the configuration with the variable named.
 */
import { CompanionSettings, TenantOnboarding } from "@airlock/companion"
import { Ids, Tenants } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { type ConfigError, ConfigProvider, Effect, Layer } from "effect"
import * as H from "./support/Harness.js"

const env = (vars: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))

/**
 * Runs `f` with an onboarding service built under the given environment, as the server and the
 * CLI build it (`layerConfig`). Its storage ports come from the harness at run time (the harness's
 * declared type names only the services tests usually ask for, hence the cast).
 */
const underEnv = <A, E>(
  vars: Record<string, string>,
  f: (o: TenantOnboarding.TenantOnboarding) => Effect.Effect<A, E>
) =>
  Effect.provide(
    Effect.flatMap(TenantOnboarding.TenantOnboarding, f),
    TenantOnboarding.TenantOnboarding.Default.pipe(
      Layer.provide(TenantOnboarding.layerConfig),
      Layer.provide(env(vars))
    )
  ) as unknown as Effect.Effect<A, E | ConfigError.ConfigError>

const storedExtensions = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ extensions: unknown }>`SELECT extensions FROM core_ai_settings WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((rows) => {
          const e = rows[0]!.extensions
          return (typeof e === "string" ? JSON.parse(e) : e) as Record<string, unknown>
        }),
        Effect.orDie
      )
  )

const named = (tenant: string) =>
  Effect.map(
    Effect.flatMap(Tenants.Tenants, (t) => t.settings(Ids.TenantId.make(tenant))),
    CompanionSettings.fromAiSettings
  )

const nonDefault = {
  AIRLOCK_COMPANION_AUTOPOST_ENABLED: "true",
  AIRLOCK_COMPANION_AUTOPOST_THRESHOLD: "0.95",
  AIRLOCK_COMPANION_COLDSTART_MIN_LABELS: "7"
}

describe("deployment defaults for new tenants", () => {
  layer(H.layer({ storage: "sqlite" }), { excludeTestServices: true, timeout: 60_000 })("sqlite", (it) => {
    it.effect("a tenant onboarded under non-default env gets them; existing tenants keep theirs", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const admin = s.actors.admin!
        // before: a tenant onboarded under the runbook's defaults, and the bootstrap tenant
        const earlier = yield* underEnv({}, (o) => o.onboard({ template: "starter", name: "Early" }, admin))
        expect(yield* named(earlier.tenant_id)).toMatchObject({
          autopost_enabled: false,
          autopost_threshold: 0.9,
          coldstart_min_labels: 3
        })
        const earlierStored = yield* storedExtensions(earlier.tenant_id)
        const defaultStored = yield* storedExtensions("default")

        const [pro, starter] = yield* underEnv(nonDefault, (o) =>
          Effect.all([
            o.onboard({ template: "pro", name: "Later Pro" }, admin),
            o.onboard({ template: "starter", name: "Later Starter" }, admin)
          ]))
        // stored in the new tenants' settings (raw row and the named view agree)
        expect(yield* storedExtensions(pro.tenant_id)).toMatchObject({
          "companion.autopost_enabled": true,
          "companion.autopost_threshold": 0.95,
          "companion.coldstart_min_labels": 7
        })
        expect(yield* named(pro.tenant_id)).toMatchObject({
          autopost_enabled: true,
          autopost_threshold: 0.95,
          coldstart_min_labels: 7,
          ai_mode: "shadow_only"
        })
        expect(pro.config.tenant.config).toMatchObject({
          autopost_enabled: true,
          autopost_threshold: 0.95,
          coldstart_min_labels: 7
        })
        expect(pro.env).toContain("AUTOPOST_ENABLED=true\nAUTOPOST_THRESHOLD=0.95\n")
        // the starter template keeps auto-post off (its policy), the thresholds are the deployment's
        expect(yield* named(starter.tenant_id)).toMatchObject({
          autopost_enabled: false,
          autopost_threshold: 0.95,
          coldstart_min_labels: 7
        })
        // existing tenants unchanged
        expect(yield* storedExtensions(earlier.tenant_id)).toStrictEqual(earlierStored)
        expect(yield* storedExtensions("default")).toStrictEqual(defaultStored)
      }))

    it.effect("a template stricter than the deployment's defaults keeps its own values", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const r = yield* underEnv(
          { AIRLOCK_COMPANION_AUTOPOST_THRESHOLD: "0.5", AIRLOCK_COMPANION_COLDSTART_MIN_LABELS: "1" },
          (o) => o.onboard({ template: "firm", name: "Strict" }, s.actors.admin!)
        )
        expect(yield* named(r.tenant_id)).toMatchObject({
          autopost_enabled: false,
          autopost_threshold: 0.92,
          coldstart_min_labels: 5
        })
      }))
  })

  it.effect("out-of-range or malformed values fail the configuration, naming the variable", () =>
    Effect.gen(function*() {
      const read = (vars: Record<string, string>) =>
        Effect.flip(
          Effect.withConfigProvider(TenantOnboarding.config, ConfigProvider.fromMap(new Map(Object.entries(vars))))
        )
      for (
        const [vars, name] of [
          [{ AIRLOCK_COMPANION_AUTOPOST_THRESHOLD: "1.5" }, "AIRLOCK_COMPANION_AUTOPOST_THRESHOLD"],
          [{ AIRLOCK_COMPANION_AUTOPOST_THRESHOLD: "0.4" }, "AIRLOCK_COMPANION_AUTOPOST_THRESHOLD"],
          [{ AIRLOCK_COMPANION_AUTOPOST_THRESHOLD: "high" }, "AIRLOCK_COMPANION_AUTOPOST_THRESHOLD"],
          [{ AIRLOCK_COMPANION_COLDSTART_MIN_LABELS: "0" }, "AIRLOCK_COMPANION_COLDSTART_MIN_LABELS"],
          [{ AIRLOCK_COMPANION_COLDSTART_MIN_LABELS: "2.5" }, "AIRLOCK_COMPANION_COLDSTART_MIN_LABELS"],
          [{ AIRLOCK_COMPANION_AUTOPOST_ENABLED: "maybe" }, "AIRLOCK_COMPANION_AUTOPOST_ENABLED"]
        ] as const
      ) {
        const error = yield* read(vars)
        expect(String(error), JSON.stringify(vars)).toContain(name)
      }
      expect(yield* Effect.withConfigProvider(TenantOnboarding.config, ConfigProvider.fromMap(new Map())))
        .toMatchObject({
          autopostEnabled: false,
          autopostThreshold: 0.9,
          coldstartMinLabels: 3
        })
    }))

  it("newTenantSettings: the template's policy and stricter values win", () => {
    const deployment = { autopostEnabled: true, autopostThreshold: 0.9, coldstartMinLabels: 3 }
    expect(
      TenantOnboarding.newTenantSettings(deployment, {
        autopost: "eligible_behind_approval",
        autopost_threshold: 0.92,
        coldstart_min_labels: 5
      })
    ).toStrictEqual({ autopost_enabled: true, autopost_threshold: 0.92, coldstart_min_labels: 5 })
    expect(
      TenantOnboarding.newTenantSettings(deployment, {
        autopost: "off",
        autopost_threshold: 0.9,
        coldstart_min_labels: 3
      })
    ).toStrictEqual({ autopost_enabled: false, autopost_threshold: 0.9, coldstart_min_labels: 3 })
  })
})

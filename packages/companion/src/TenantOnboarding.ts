/**
 * Pilot onboarding (the rollout runbook's `pilot_onboard.py`): from a template and a name, in one
 * transaction, a tenant (`pilot-<name slug>-<8 hex>`), its settings (shadow mode, the template's
 * thresholds, budget, monthly limit and flags), its chart from the template's preset, an admin
 * (`OWNER`, `pilot+<tenant>@example.com`) and an API token shown once. The result carries the
 * runbook's numbered steps, the tenant config document and the `.env` snippet.
 *
 * Idempotent on a key: the same key and request return the same tenant again (`replayed: true`,
 * without the token, which is never shown twice); the same key with another request is refused
 * (`tenant.onboarding.idempotency_conflict`). With a key the id's suffix is derived from the key,
 * so two instances racing on one key collide on the tenant's primary key and one of them replays;
 * without a key the suffix is 4 bytes of `SecureRandom`.
 *
 * The deployment's defaults for new tenants (the rollout runbook's `.env`, "default for all new
 * tenants": `AUTOPOST_ENABLED`, `AUTOPOST_THRESHOLD`, `COLDSTART_MIN_LABELS`) are
 * `AIRLOCK_COMPANION_AUTOPOST_ENABLED` (default false), `AIRLOCK_COMPANION_AUTOPOST_THRESHOLD`
 * (0.90) and `AIRLOCK_COMPANION_COLDSTART_MIN_LABELS` (3), stored into each new tenant's settings
 * at onboarding ({@link newTenantSettings}); existing tenants keep what they have. A template
 * still overrides: auto-post stays off for a template whose policy is `off`, and a template's
 * threshold and cold-start minimum apply where they are stricter (a template may tighten the
 * deployment's defaults, never loosen them — as with `target_precision`).
 */
import {
  type Actor,
  ApiToken,
  Canonical,
  Errors,
  Ids,
  Rbac,
  SecureRandom,
  SystemState,
  Tenants,
  UnitOfWork
} from "@airlock/core"
import { Chart } from "@airlock/ledger"
import { Clock, Config, Context, Effect, Layer, Option } from "effect"
import { Keys } from "./CompanionSettings.js"
import { extensionsOf, type TenantTemplate, TenantTemplates } from "./TenantTemplates.js"

/** Settings of onboarding. */
export interface OnboardingSettings {
  /** First part of generated tenant ids (`AIRLOCK_TENANT_ID_PREFIX`, default `pilot`; empty for none). */
  readonly idPrefix: string
  /** Domain of the admin's generated address (`AIRLOCK_TENANT_ADMIN_EMAIL_DOMAIN`, default `example.com`). */
  readonly adminEmailDomain: string
  /** New tenants start with auto-post on (`AIRLOCK_COMPANION_AUTOPOST_ENABLED`, default false; runbook `AUTOPOST_ENABLED`). */
  readonly autopostEnabled: boolean
  /** New tenants' auto-post threshold (`AIRLOCK_COMPANION_AUTOPOST_THRESHOLD`, 0.5 … 1, default 0.90; runbook `AUTOPOST_THRESHOLD`). */
  readonly autopostThreshold: number
  /** New tenants' cold-start minimum (`AIRLOCK_COMPANION_COLDSTART_MIN_LABELS`, 1 … 1000, default 3; runbook `COLDSTART_MIN_LABELS`). */
  readonly coldstartMinLabels: number
}

/** Defaults of {@link OnboardingSettings} (the runbook's shapes and its `.env` defaults for new tenants). */
export const defaults: OnboardingSettings = {
  idPrefix: "pilot",
  adminEmailDomain: "example.com",
  autopostEnabled: false,
  autopostThreshold: 0.9,
  coldstartMinLabels: 3
}

/** The onboarding settings (defaults when not provided). */
export class OnboardingConfig extends Context.Reference<OnboardingConfig>()("@airlock/companion/OnboardingConfig", {
  defaultValue: (): OnboardingSettings => defaults
}) {}

/** The `Config` description (`AIRLOCK_TENANT_*`). */
export const config: Config.Config<OnboardingSettings> = Config.all({
  idPrefix: Config.string("AIRLOCK_TENANT_ID_PREFIX").pipe(
    Config.validate({
      message: "must be up to 20 lowercase letters or digits",
      validation: (s) => /^[a-z0-9]{0,20}$/.test(s)
    }),
    Config.withDefault(defaults.idPrefix)
  ),
  adminEmailDomain: Config.string("AIRLOCK_TENANT_ADMIN_EMAIL_DOMAIN").pipe(
    Config.withDefault(defaults.adminEmailDomain)
  ),
  autopostEnabled: Config.boolean("AIRLOCK_COMPANION_AUTOPOST_ENABLED").pipe(
    Config.withDefault(defaults.autopostEnabled)
  ),
  autopostThreshold: Config.number("AIRLOCK_COMPANION_AUTOPOST_THRESHOLD").pipe(
    Config.validate({
      message: "must be a number from 0.5 to 1 (the auto-post threshold of new tenants)",
      validation: (n) => n >= 0.5 && n <= 1
    }),
    Config.withDefault(defaults.autopostThreshold)
  ),
  coldstartMinLabels: Config.integer("AIRLOCK_COMPANION_COLDSTART_MIN_LABELS").pipe(
    Config.validate({
      message:
        "must be a whole number from 1 to 1000 (consistent labels before a new tenant's vendor leaves cold start)",
      validation: (n) => n >= 1 && n <= 1000
    }),
    Config.withDefault(defaults.coldstartMinLabels)
  )
})

/** A new tenant's auto-post settings from the deployment's defaults and its template. Pure. */
export const newTenantSettings = (
  deployment: Pick<OnboardingSettings, "autopostEnabled" | "autopostThreshold" | "coldstartMinLabels">,
  template: Pick<TenantTemplate, "autopost" | "autopost_threshold" | "coldstart_min_labels">
): {
  readonly autopost_enabled: boolean
  readonly autopost_threshold: number
  readonly coldstart_min_labels: number
} => ({
  autopost_enabled: deployment.autopostEnabled && template.autopost !== "off",
  autopost_threshold: Math.max(deployment.autopostThreshold, template.autopost_threshold),
  coldstart_min_labels: Math.max(deployment.coldstartMinLabels, template.coldstart_min_labels)
})

/** Settings from the environment. */
export const layerConfig: Layer.Layer<OnboardingConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  OnboardingConfig,
  config
)

/** Settings given in code. */
export const layer = (settings: Partial<OnboardingSettings> = {}): Layer.Layer<OnboardingConfig> =>
  Layer.succeed(OnboardingConfig, { ...defaults, ...settings })

/** What to onboard. */
export interface OnboardInput {
  readonly template: string
  readonly name: string
  /** The admin's address (default `pilot+<tenant>@<domain>`). */
  readonly admin_email?: string | undefined
  /** Makes the call idempotent (the HTTP route takes it from `Idempotency-Key`). */
  readonly idempotency_key?: string | undefined
}

/** One numbered step as the runbook prints it. */
export interface Step {
  readonly step: number
  readonly title: string
  readonly result: string
}

/** The runbook's tenant config document. */
export interface ConfigDocument {
  readonly tenant: {
    readonly tenant_id: string
    readonly tenant_name: string
    readonly tier: string
    readonly created_at: string
    readonly status: "active"
    readonly config: {
      readonly autopost_enabled: boolean
      /** Whether auto-post may be turned on, behind a second person's approval. */
      readonly autopost_eligible: boolean
      readonly autopost_requires_approval: boolean
      readonly autopost_threshold: number
      readonly coldstart_min_labels: number
      readonly llm_tenant_cap_usd: number
      readonly max_transactions_per_month: number
    }
    readonly features: TenantTemplate["features"]
    readonly coa_preset: string
  }
  readonly coa: ReadonlyArray<{ readonly code: string; readonly name: string; readonly type: string }>
  readonly user: { readonly user_id: string; readonly email: string; readonly role: string; readonly tenant_id: string }
  /** The token, in the first response only (null on a replay). */
  readonly api_token: string | null
}

/** What onboarding did. */
export interface OnboardResult {
  readonly tenant_id: string
  readonly template: string
  readonly admin_actor_id: string
  readonly token_id: string
  /** Shown once: null when the call replayed an earlier one. */
  readonly api_token: string | null
  readonly replayed: boolean
  readonly steps: ReadonlyArray<Step>
  readonly config: ConfigDocument
  /** The `.env` snippet (`TENANT_ID`, `API_TOKEN`, `AUTOPOST_ENABLED`, `AUTOPOST_THRESHOLD`). */
  readonly env: string
}

/** The failures of {@link TenantOnboarding} `onboard`. */
export type OnboardError =
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.Conflict
  | Errors.NotFound
  | Errors.StorageError

/** The name's slug for the tenant id: lowercase ASCII letters and digits joined by `-`, at most 40. Pure. */
export const slugOf = (name: string): string =>
  name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(
    /^-+|-+$/g,
    ""
  ).slice(0, 40).replace(/-+$/, "")

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/** Where an idempotency key's record lives in the system state. */
export const idempotencyStateKey = (key: string) => `tenants.onboarding:${Canonical.sha256Hex(key)}`

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

/** The runbook's `.env` snippet. Pure. */
export const envSnippet = (doc: ConfigDocument): string =>
  [
    `# Environment variables for ${doc.tenant.tenant_name.replace(/[\r\n]+/g, " ")}`,
    `TENANT_ID=${doc.tenant.tenant_id}`,
    `API_TOKEN=${doc.api_token ?? "<shown once at onboarding>"}`,
    `AUTOPOST_ENABLED=${doc.tenant.config.autopost_enabled}`,
    `AUTOPOST_THRESHOLD=${doc.tenant.config.autopost_threshold.toFixed(2)}`,
    ""
  ].join("\n")

/** Onboards tenants from templates. */
export class TenantOnboarding extends Effect.Service<TenantOnboarding>()("@airlock/companion/TenantOnboarding", {
  effect: Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tokens = yield* ApiToken.ApiTokens
    const chart = yield* Chart.ChartOfAccounts
    const templates = yield* TenantTemplates
    const system = yield* SystemState.SystemStateStore
    const uow = yield* UnitOfWork.UnitOfWork
    const random = yield* SecureRandom.SecureRandom
    const rbac = yield* Rbac.Rbac
    const settings = yield* OnboardingConfig

    const document = (
      template: TenantTemplate,
      initial: ReturnType<typeof newTenantSettings>,
      tenant: { readonly id: string; readonly name: string; readonly created_at: number },
      admin: Actor.Actor,
      email: string,
      accounts: ReadonlyArray<Chart.Account>,
      token: string | null
    ): ConfigDocument => ({
      tenant: {
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        tier: template.name,
        created_at: iso(tenant.created_at),
        status: "active",
        config: {
          autopost_enabled: initial.autopost_enabled,
          autopost_eligible: template.autopost === "eligible_behind_approval",
          autopost_requires_approval: template.autopost === "eligible_behind_approval",
          autopost_threshold: initial.autopost_threshold,
          coldstart_min_labels: initial.coldstart_min_labels,
          llm_tenant_cap_usd: Number(template.llm_tenant_cap_usd),
          max_transactions_per_month: template.max_transactions_per_month
        },
        features: { ...template.features },
        coa_preset: template.chart_preset
      },
      coa: accounts.map((a) => ({ code: a.code, name: a.name, type: a.type })),
      user: { user_id: admin.id, email, role: "admin", tenant_id: tenant.id },
      api_token: token
    })

    const steps = (
      template: TenantTemplate,
      tenantId: string,
      accounts: number,
      email: string,
      token: string | null
    ) => [
      { step: 1, title: "Loading template configuration...", result: `Loaded ${template.name} template` },
      { step: 2, title: "Creating tenant record...", result: `Tenant ID: ${tenantId}` },
      {
        step: 3,
        title: "Importing Chart of Accounts...",
        result: `Imported ${accounts} accounts from ${template.chart_preset}`
      },
      { step: 4, title: "Creating seed user...", result: `User: ${email}` },
      {
        step: 5,
        title: "Generating API token...",
        result: token === null ? "Token: shown once at first onboarding (replayed)" : `Token: ${token}`
      }
    ]

    /** The auto-post settings a replayed tenant has stored (the template's where one is missing). */
    const storedInitial = (
      extensions: Readonly<Record<string, unknown>>,
      template: TenantTemplate
    ): ReturnType<typeof newTenantSettings> => {
      const enabled = extensions[Keys.autopost_enabled]
      const threshold = extensions[Keys.autopost_threshold]
      const coldstart = extensions[Keys.coldstart_min_labels]
      return {
        autopost_enabled: typeof enabled === "boolean" ? enabled : false,
        autopost_threshold: typeof threshold === "number" ? threshold : template.autopost_threshold,
        coldstart_min_labels: typeof coldstart === "number" ? coldstart : template.coldstart_min_labels
      }
    }

    const requestHash = (input: OnboardInput) =>
      Canonical.hashOf({ template: input.template, name: input.name, admin_email: input.admin_email ?? null })

    const conflict = (message: string) =>
      new Errors.Conflict({ code: "tenant.onboarding.idempotency_conflict", message })

    /** The earlier result of a key, rebuilt from what is stored (without the token). */
    const replay = (record: { tenant_id: string; admin_actor_id: string; token_id: string; email: string }) =>
      Effect.gen(function*() {
        const tenantId = Ids.TenantId.make(record.tenant_id)
        const tenant = yield* Effect.catchTag(
          tenants.get(tenantId),
          "NotFound",
          () => Effect.fail(conflict("The tenant onboarded under this idempotency key no longer exists"))
        )
        const stored = yield* tenants.settings(tenantId)
        const name = String(stored.extensions["companion.template"] ?? "")
        const template = yield* templates.get(name)
        const admin = yield* tenants.getActor(tenantId, Ids.ActorId.make(record.admin_actor_id))
        const accounts = yield* chart.list(tenantId, admin)
        // what onboarding stored (the first answer's values, unless the tenant's settings changed since)
        const config = document(
          template,
          storedInitial(stored.extensions, template),
          tenant,
          admin,
          record.email,
          accounts,
          null
        )
        return {
          tenant_id: tenant.id,
          template: template.name,
          admin_actor_id: admin.id,
          token_id: record.token_id,
          api_token: null,
          replayed: true,
          steps: steps(template, tenant.id, accounts.length, record.email, null),
          config,
          env: envSnippet(config)
        } satisfies OnboardResult
      })

    /**
     * Onboards a tenant; `by` needs `tenant.admin` and `tenant.cross` (a platform admin: the
     * tenant does not exist yet). Everything is written in one transaction.
     */
    const onboard = (input: OnboardInput, by: Actor.Actor): Effect.Effect<OnboardResult, OnboardError> =>
      Effect.gen(function*() {
        yield* rbac.require(by, "tenant.admin")
        const template = yield* templates.get(input.template)
        const name = input.name.trim()
        const slug = slugOf(name)
        if (name.length === 0 || name.length > 200 || slug.length === 0) {
          return yield* new Errors.ValidationError({
            code: "tenant.name_invalid",
            message: "The tenant name must have 1-200 characters, some of them letters or digits",
            details: { name: input.name.slice(0, 200) }
          })
        }
        const key = input.idempotency_key
        const hash = requestHash(input)
        const stateKey = key === undefined ? null : idempotencyStateKey(key)
        if (stateKey !== null) {
          const earlier = yield* system.get(stateKey)
          if (Option.isSome(earlier)) {
            const record = earlier.value.value as any
            if (record.request_hash !== hash) {
              return yield* conflict("This idempotency key was used for another onboarding request")
            }
            return yield* replay(record)
          }
        }
        const suffix = key === undefined
          ? hex(yield* random.bytes(4))
          : Canonical.sha256Hex(`airlock.onboarding\u0000${key}`).slice(0, 8)
        const tenantId = Ids.TenantId.make([settings.idPrefix, slug, suffix].filter((p) => p !== "").join("-"))
        const initial = newTenantSettings(settings, template)
        const email = input.admin_email ?? `pilot+${tenantId}@${settings.adminEmailDomain}`
        const created = yield* uow.transaction(Effect.gen(function*() {
          const tenant = yield* tenants.create({
            id: tenantId,
            name,
            settings: {
              ai_mode: "shadow_only",
              extensions: {
                ...extensionsOf(template),
                [Keys.autopost_enabled]: initial.autopost_enabled,
                [Keys.autopost_threshold]: initial.autopost_threshold,
                [Keys.coldstart_min_labels]: initial.coldstart_min_labels
              }
            }
          }, by)
          const admin = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: email, role: "OWNER" }, by)
          yield* chart.importPreset(tenant.id, admin, template.chart_preset)
          const issued = yield* tokens.issue({ tenant_id: tenant.id, actor_id: admin.id, name: "onboarding" })
          if (stateKey !== null) {
            yield* system.put(
              new SystemState.SystemStateEntry({
                key: stateKey,
                value: {
                  request_hash: hash,
                  tenant_id: tenant.id,
                  admin_actor_id: admin.id,
                  token_id: issued.record.id,
                  email
                },
                updated_at: yield* Clock.currentTimeMillis,
                updated_by: by.id
              })
            )
          }
          return { tenant, admin, issued }
        })).pipe(
          Effect.map((c) => ({ ...c, replayed: false as const })),
          // the same key racing on another instance: the tenant id is taken, and the record is there
          Effect.catchIf(
            (e): e is Errors.Conflict => e._tag === "Conflict" && e.code === "conflict.duplicate" && stateKey !== null,
            () =>
              Effect.flatMap(
                system.get(stateKey!),
                (earlier) =>
                  Option.isSome(earlier) && (earlier.value.value as any).request_hash === hash
                    ? Effect.map(replay(earlier.value.value as any), (r) => ({ replayed: true as const, result: r }))
                    : Effect.fail(conflict("This idempotency key was used for another onboarding request"))
              )
          )
        )
        if (created.replayed) return (created as { result: OnboardResult }).result
        const { admin, issued, tenant } = created as Exclude<typeof created, { replayed: true }>
        const accountList = yield* chart.list(tenant.id, admin)
        const config = document(template, initial, tenant, admin, email, accountList, issued.token)
        return {
          tenant_id: tenant.id,
          template: template.name,
          admin_actor_id: admin.id,
          token_id: issued.record.id,
          api_token: issued.token,
          replayed: false,
          steps: steps(template, tenant.id, accountList.length, email, issued.token),
          config,
          env: envSnippet(config)
        } satisfies OnboardResult
      }).pipe(
        // pipeline-only failures cannot come from these services; keep the declared channel
        Effect.catchIf(
          (e): e is never =>
            !["Forbidden", "ValidationError", "Conflict", "NotFound", "StorageError"].includes((e as any)._tag),
          Effect.die
        )
      ) as Effect.Effect<OnboardResult, OnboardError>

    return { onboard } as const
  })
}) {}

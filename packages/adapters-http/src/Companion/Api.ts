/**
 * Contract of the companion group. The tenant's AI settings — the per-tenant layer of the kill
 * switch (`ai_enabled`, `kill_switch`), the operating mode (`ai_mode`), the `extensions` packages
 * keep their thresholds in, and the companion's named settings (`CompanionSettings`) — and the
 * settings changes that raise autonomy, which wait for a second person. Tenant-scoped.
 */
import { CompanionSettings, TenantFeatures } from "@airlock/companion"
import { AiSettings, CoreConfig } from "@airlock/core"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { codedMessage } from "../internal/issues.js"
import { AiMode, pageLimit, strictBody, Timestamp } from "../Wire.js"

/** Package extension values, keyed by namespaced package keys. */
export const Extensions = Schema.Record({
  key: Schema.String.pipe(Schema.maxLength(AiSettings.MAX_EXTENSION_KEY_LENGTH)),
  value: Schema.Unknown
})

/**
 * The `extensions` of a settings change, checked at the edge against core's largest limits
 * (`CoreConfig.defaults`: keys and nesting, which configuration can only lower; the size is
 * bounded here by the body limit): 400 `validation.extensions_*`. The service checks the merged
 * result against the configured limits (413 `payload.too_large` for the size).
 */
export const ExtensionsUpdate = Extensions.pipe(
  Schema.filter((extensions) => {
    const problem = AiSettings.checkExtensions(extensions, {
      maxKeys: CoreConfig.defaults.extensionsMaxKeys,
      maxDepth: CoreConfig.defaults.extensionsMaxDepth,
      maxBytes: Number.POSITIVE_INFINITY
    })
    return problem === null || codedMessage(problem.code, problem.message)
  })
)

const optional = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })

/** What guardrails enforces for the tenant: its own override, else the deployment's value. */
export const EffectiveSettings = Schema.Struct({
  value_breaker_threshold: Schema.NullOr(Schema.String),
  llm_tenant_cap_usd: Schema.String,
  approval_risk_threshold: Schema.Number,
  velocity_max_per_minute: Schema.Number,
  velocity_cooldown_seconds: Schema.Number,
  trust_rejection_rate: Schema.Number,
  trust_min_sample: Schema.Number,
  trust_window_seconds: Schema.Number,
  trust_downgrade_to: AiMode
}).annotations({ identifier: "CompanionEffectiveSettings" })

/**
 * The companion's named settings (see `docs/companion-settings.md`). Served by PUT, by the
 * settings-change routes and by `GET /api/v1/companion/settings/named`; the plain GET keeps its
 * original body for existing clients.
 */
export const NamedFields = {
  autopost_enabled: optional(Schema.Boolean),
  autopost_threshold: optional(Schema.Number),
  coldstart_min_labels: optional(Schema.Number),
  target_precision: optional(Schema.Number),
  certification_delta: optional(Schema.Number),
  spot_check_rate: optional(Schema.Number),
  value_breaker_threshold: optional(Schema.NullOr(Schema.String)),
  llm_tenant_cap_usd: optional(Schema.NullOr(Schema.String)),
  approval_risk_threshold: optional(Schema.NullOr(Schema.Number)),
  /** The velocity and trust breakers' tenant overrides (null = the deployment's; `effective` shows what is enforced). */
  velocity_max_per_minute: optional(Schema.NullOr(Schema.Number)),
  velocity_cooldown_seconds: optional(Schema.NullOr(Schema.Number)),
  trust_rejection_rate: optional(Schema.NullOr(Schema.Number)),
  trust_min_sample: optional(Schema.NullOr(Schema.Number)),
  trust_window_seconds: optional(Schema.NullOr(Schema.Number)),
  trust_downgrade_to: optional(Schema.NullOr(AiMode)),
  /** The tenant's effective feature flags (`TenantFeatures`; none stored: all on). */
  features: optional(TenantFeatures.Features),
  effective: optional(EffectiveSettings),
  autonomy_approval_required: optional(Schema.Boolean)
}

/** A tenant's AI settings, with the named companion settings when asked for (or changed). */
export const Settings = Schema.Struct({
  tenant_id: Schema.String,
  ai_enabled: Schema.Boolean,
  kill_switch: Schema.Boolean,
  ai_mode: AiMode,
  extensions: Extensions,
  updated_at: Timestamp,
  updated_by: Schema.String,
  ...NamedFields
}).annotations({ identifier: "CompanionSettings" })

/**
 * A change of settings: only the given fields change; `extensions` keys are merged and a `null`
 * value removes a key. At least one field; unknown fields are refused.
 */
export const SettingsUpdate = strictBody({
  ...CompanionSettings.SettingsUpdate.fields,
  ai_mode: Schema.optional(AiMode),
  extensions: Schema.optional(ExtensionsUpdate)
}).pipe(
  Schema.filter((u) =>
    Object.values(u).some((v) => v !== undefined) ||
    codedMessage(
      "validation.empty_update",
      "Give at least one of ai_enabled, kill_switch, ai_mode, extensions or a named companion setting"
    )
  )
).annotations({ identifier: "CompanionSettingsUpdate" })

/** One field a settings change raises, with its effective values before and after. */
export const Raise = Schema.Struct({ field: Schema.String, from: Schema.Unknown, to: Schema.Unknown })

/** A settings change that raises autonomy: pending until a second person approves it. */
export const SettingsChange = Schema.Struct({
  change_id: Schema.String,
  status: Schema.String,
  patch: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  raises: Schema.Array(Raise),
  requested_by: Schema.String,
  requested_at: Timestamp,
  closed_by: Schema.NullOr(Schema.String),
  closed_at: Schema.NullOr(Timestamp),
  close_reason: Schema.NullOr(Schema.String)
}).annotations({ identifier: "CompanionSettingsChange" })

/** A change that took effect at once (200). */
export const ChangeApplied = Schema.Struct({
  status: Schema.Literal("applied"),
  settings: Settings
}).annotations({ identifier: "CompanionSettingsChangeApplied" })

/** A change waiting for a second person (202). */
export const ChangePending = Schema.Struct({
  status: Schema.Literal("pending_approval"),
  change_id: Schema.String,
  change: SettingsChange,
  settings: Settings
}).annotations({ identifier: "CompanionSettingsChangePending" })

/** An approved change, applied exactly once (`already_applied` on a repeated approval). */
export const ChangeApproved = Schema.Struct({
  status: Schema.Literal("applied"),
  already_applied: Schema.Boolean,
  change: SettingsChange,
  settings: Settings
}).annotations({ identifier: "CompanionSettingsChangeApproved" })

/** `GET /api/v1/companion/settings/changes` query. */
export const ChangesQuery = Schema.Struct({
  status: Schema.optional(Schema.Literal("proposed", "applied", "rejected")),
  limit: pageLimit({ default: 50, max: 100 })
})

/** Body of a rejection. */
export const RejectChange = strictBody({ reason: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2000)) })

const ChangeId = HttpApiSchema.param("id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))

/** The companion group. */
export class CompanionApi extends HttpApiGroup.make("companion")
  .add(HttpApiEndpoint.get("getSettings", "/api/v1/companion/settings").addSuccess(Settings))
  .add(HttpApiEndpoint.get("getNamedSettings", "/api/v1/companion/settings/named").addSuccess(Settings))
  .add(
    HttpApiEndpoint.put("updateSettings", "/api/v1/companion/settings")
      .setPayload(SettingsUpdate)
      .addSuccess(Settings)
      .addError(ApiError.ValidationError)
      .addError(ApiError.PayloadTooLarge)
  )
  .add(
    HttpApiEndpoint.post("requestSettingsChange", "/api/v1/companion/settings/changes")
      .setPayload(SettingsUpdate)
      .addSuccess(ChangeApplied)
      .addSuccess(ChangePending, { status: 202 })
      .addError(ApiError.ValidationError)
      .addError(ApiError.PayloadTooLarge)
      .addError(ApiError.Conflict)
      .addError(ApiError.LockdownActive)
  )
  .add(
    HttpApiEndpoint.get("listSettingsChanges", "/api/v1/companion/settings/changes")
      .setUrlParams(ChangesQuery)
      .addSuccess(Schema.Struct({ changes: Schema.Array(SettingsChange) }))
  )
  .add(
    HttpApiEndpoint.post("approveSettingsChange")`/api/v1/companion/settings/changes/${ChangeId}/approve`
      .addSuccess(ChangeApproved)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
      .addError(ApiError.LockdownActive)
  )
  .add(
    HttpApiEndpoint.post("rejectSettingsChange")`/api/v1/companion/settings/changes/${ChangeId}/reject`
      .setPayload(RejectChange)
      .addSuccess(SettingsChange)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Companion")
  .annotate(
    OpenApi.Description,
    "The tenant's AI settings: kill switch, mode, package extensions, named companion settings; " +
      "settings changes that raise autonomy wait for a second person's approval"
  )
{}

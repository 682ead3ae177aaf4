/**
 * Contract of the companion group. Phase 1: the tenant's AI settings — the per-tenant layer of
 * the kill switch (`ai_enabled`, `kill_switch`), the operating mode (`ai_mode`) and the
 * `extensions` packages keep their thresholds in. Tenant-scoped.
 */
import { AiSettings, CoreConfig } from "@airlock/core"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { codedMessage } from "../internal/issues.js"
import { AiMode, strictBody, Timestamp } from "../Wire.js"

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

/** A tenant's AI settings. */
export const Settings = Schema.Struct({
  tenant_id: Schema.String,
  ai_enabled: Schema.Boolean,
  kill_switch: Schema.Boolean,
  ai_mode: AiMode,
  extensions: Extensions,
  updated_at: Timestamp,
  updated_by: Schema.String
}).annotations({ identifier: "CompanionSettings" })

/**
 * A change of settings: only the given fields change; `extensions` keys are merged and a `null`
 * value removes a key. At least one field; unknown fields are refused.
 */
export const SettingsUpdate = strictBody({
  ai_enabled: Schema.optional(Schema.Boolean),
  kill_switch: Schema.optional(Schema.Boolean),
  ai_mode: Schema.optional(AiMode),
  extensions: Schema.optional(ExtensionsUpdate)
}).pipe(
  Schema.filter((u) =>
    Object.values(u).some((v) => v !== undefined) ||
    codedMessage("validation.empty_update", "Give at least one of ai_enabled, kill_switch, ai_mode, extensions")
  )
).annotations({ identifier: "CompanionSettingsUpdate" })

/** The companion group. */
export class CompanionApi extends HttpApiGroup.make("companion")
  .add(HttpApiEndpoint.get("getSettings", "/api/v1/companion/settings").addSuccess(Settings))
  .add(
    HttpApiEndpoint.put("updateSettings", "/api/v1/companion/settings")
      .setPayload(SettingsUpdate)
      .addSuccess(Settings)
      .addError(ApiError.ValidationError)
      .addError(ApiError.PayloadTooLarge)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Companion")
  .annotate(OpenApi.Description, "The tenant's AI settings: kill switch, mode, package extensions")
{}

/**
 * Per-tenant AI settings: the third layer of the kill switch and the operating mode. Packages
 * keep their own thresholds in `extensions` under their own keys (read with {@link extension}).
 */
import { Context, type Effect, Option, Schema } from "effect"
import type { StorageError } from "./Errors.js"
import { TenantId } from "./Ids.js"

/** The operating modes, from safest to most autonomous. */
export const AiMode = Schema.Literal("shadow_only", "suggest_only", "drafts", "autopilot_limited")
/** Type of {@link AiMode}. */
export type AiMode = typeof AiMode.Type

/** A tenant's AI settings. `kill_switch` overrides `ai_enabled`. */
export class AiSettings extends Schema.Class<AiSettings>("AiSettings")({
  tenant_id: TenantId,
  ai_enabled: Schema.Boolean,
  kill_switch: Schema.Boolean,
  ai_mode: AiMode,
  extensions: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  updated_at: Schema.Number,
  updated_by: Schema.String
}) {}

/**
 * Settings a new tenant starts with: AI enabled but in `shadow_only` (proposals only, nothing
 * promoted) until someone deliberately moves it up.
 */
export const defaultSettings = (tenant_id: TenantId, now: number, by: string): AiSettings =>
  new AiSettings({
    tenant_id,
    ai_enabled: true,
    kill_switch: false,
    ai_mode: "shadow_only",
    extensions: {},
    updated_at: now,
    updated_by: by
  })

/** Reads one package's extension value, decoded with its schema; `None` when absent or invalid. */
export const extension = <A, I>(settings: AiSettings, key: string, schema: Schema.Schema<A, I>): Option.Option<A> =>
  key in settings.extensions ? Schema.decodeUnknownOption(schema)(settings.extensions[key]) : Option.none()

/** Storage port for AI settings (one row per tenant). */
export class AiSettingsStore extends Context.Tag("@airlock/core/AiSettingsStore")<
  AiSettingsStore,
  {
    readonly get: (tenant: TenantId) => Effect.Effect<Option.Option<AiSettings>, StorageError>
    /** Inserts or replaces the tenant's settings. */
    readonly put: (settings: AiSettings) => Effect.Effect<void, StorageError>
  }
>() {}

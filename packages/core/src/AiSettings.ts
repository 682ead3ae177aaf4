/**
 * Per-tenant AI settings: the third layer of the kill switch and the operating mode. Packages
 * keep their own thresholds in `extensions` under their own keys (read with {@link extension}).
 */
import { Context, type Effect, Option, Schema } from "effect"
import { canonicalJson, sha256Hex } from "./Canonical.js"
import { PayloadTooLarge, type StorageError, ValidationError } from "./Errors.js"
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
    /**
     * {@link get} inside a transaction, holding the tenant's row until it ends (`FOR UPDATE` on
     * PostgreSQL; SQLite and memory transactions already have a single writer), so a decision
     * made on the settings read holds for the write that follows.
     */
    readonly getForUpdate: (tenant: TenantId) => Effect.Effect<Option.Option<AiSettings>, StorageError>
    /** Inserts or replaces the tenant's settings. */
    readonly put: (settings: AiSettings) => Effect.Effect<void, StorageError>
  }
>() {}

/** Bounds of a tenant's `extensions` (core's `CoreConfig` holds the configured ones). */
export interface ExtensionLimits {
  readonly maxKeys: number
  /** Deepest nesting of one value: a scalar is 0, `{"a": 1}` and `[1]` are 1. */
  readonly maxDepth: number
  /** Largest canonical JSON size of the whole object, in UTF-8 bytes. */
  readonly maxBytes: number
}

/** Longest extension key (keys are namespaced package names such as `guardrails.value_breaker_threshold`). */
export const MAX_EXTENSION_KEY_LENGTH = 200

/** The nesting depth of a JSON value, stopping once past `max`. */
export const jsonDepth = (value: unknown, max: number): number => {
  const walk = (v: unknown, depth: number): number => {
    if (typeof v !== "object" || v === null) return depth
    if (depth >= max + 1) return depth
    let deepest = depth + 1
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      deepest = Math.max(deepest, walk(child, depth + 1))
      if (deepest > max) break
    }
    return deepest
  }
  return walk(value, 0)
}

const utf8 = new TextEncoder()

/**
 * Checks `extensions` against the limits: too many keys is 400 `validation.extensions_keys`, a
 * key too long or a value nested too deep 400 `validation.extensions_depth` /
 * `validation.extensions_key`, a whole object too large 413 `payload.too_large` (`details.field:
 * "extensions"`). Pure; the first problem found, or null.
 */
export const checkExtensions = (
  extensions: Readonly<Record<string, unknown>>,
  limits: ExtensionLimits
): ValidationError | PayloadTooLarge | null => {
  const keys = Object.keys(extensions)
  if (keys.length > limits.maxKeys) {
    return new ValidationError({
      code: "validation.extensions_keys",
      message: `extensions may hold at most ${limits.maxKeys} keys`,
      details: { max_keys: limits.maxKeys, keys: keys.length }
    })
  }
  for (const key of keys) {
    if (key.length === 0 || key.length > MAX_EXTENSION_KEY_LENGTH) {
      return new ValidationError({
        code: "validation.extensions_key",
        message: `extension keys are 1 to ${MAX_EXTENSION_KEY_LENGTH} characters`,
        details: { max_length: MAX_EXTENSION_KEY_LENGTH }
      })
    }
    if (jsonDepth(extensions[key], limits.maxDepth) > limits.maxDepth) {
      return new ValidationError({
        code: "validation.extensions_depth",
        message: `extension ${key.slice(0, 100)} is nested deeper than ${limits.maxDepth} levels`,
        details: { key: key.slice(0, 100), max_depth: limits.maxDepth }
      })
    }
  }
  const bytes = utf8.encode(canonicalJson(extensions)).length
  if (bytes > limits.maxBytes) {
    return new PayloadTooLarge({
      message: `extensions would take ${bytes} bytes, more than ${limits.maxBytes}`,
      details: { field: "extensions", max_bytes: limits.maxBytes, bytes }
    })
  }
  return null
}

/** Largest value (canonical JSON, UTF-8 bytes) an audit record or a change listing holds as is. */
export const AUDIT_VALUE_MAX_BYTES = 1024

/** What stands in for a value larger than {@link AUDIT_VALUE_MAX_BYTES}: its hash and size. */
export interface ValueSummary {
  readonly $summary: { readonly sha256: string; readonly bytes: number }
}

/**
 * A value as an audit record (or a listing) holds it: itself up to {@link AUDIT_VALUE_MAX_BYTES}
 * of canonical JSON, else `{"$summary": {"sha256", "bytes"}}` (hex SHA-256 of its canonical JSON
 * and that JSON's UTF-8 size), so a record stays small whatever was stored. Pure.
 */
export const summarizeValue = (value: unknown, maxBytes: number = AUDIT_VALUE_MAX_BYTES): unknown => {
  if (value === null || value === undefined || typeof value === "boolean" || typeof value === "number") return value
  const json = canonicalJson(value)
  // a UTF-8 character takes at most 3 bytes per UTF-16 unit: short strings need no encoding
  if (json.length * 3 <= maxBytes) return value
  const bytes = utf8.encode(json).length
  return bytes <= maxBytes ? value : { $summary: { sha256: sha256Hex(json), bytes } } satisfies ValueSummary
}

/**
 * What a settings change changed, for the audit log: `before` and `after` hold only the fields
 * (and `extensions` keys) whose value changed — an extension key added has `null` before, a
 * removed one `null` after — so a record's size is the change's, never two copies of the whole
 * settings. An extension value over {@link AUDIT_VALUE_MAX_BYTES} is recorded by its hash and
 * size ({@link summarizeValue}). Both empty: nothing changed.
 */
export const settingsDiff = (
  before: AiSettings,
  after: AiSettings
): { readonly before: Record<string, unknown>; readonly after: Record<string, unknown> } => {
  const b: Record<string, unknown> = {}
  const a: Record<string, unknown> = {}
  for (const field of ["ai_enabled", "kill_switch", "ai_mode"] as const) {
    if (before[field] !== after[field]) {
      b[field] = before[field]
      a[field] = after[field]
    }
  }
  const eb: Record<string, unknown> = {}
  const ea: Record<string, unknown> = {}
  for (const key of new Set([...Object.keys(before.extensions), ...Object.keys(after.extensions)])) {
    const was = Object.hasOwn(before.extensions, key) ? before.extensions[key] : undefined
    const is = Object.hasOwn(after.extensions, key) ? after.extensions[key] : undefined
    if (canonicalJson(was ?? null) !== canonicalJson(is ?? null) || (was === undefined) !== (is === undefined)) {
      eb[key] = summarizeValue(was ?? null)
      ea[key] = summarizeValue(is ?? null)
    }
  }
  if (Object.keys(ea).length > 0) {
    b.extensions = eb
    a.extensions = ea
  }
  return { before: b, after: a }
}

/** Whether a {@link settingsDiff} found no change. Pure. */
export const isEmptyDiff = (diff: ReturnType<typeof settingsDiff>): boolean =>
  Object.keys(diff.before).length === 0 && Object.keys(diff.after).length === 0

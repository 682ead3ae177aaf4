/**
 * The tenant's companion settings as named fields. They live in core's `AiSettings` (the kill
 * switch and mode as its own fields; everything else in `extensions` under `companion.*` keys,
 * or under guardrails' keys for the value breaker threshold, the LLM cap, the approval threshold
 * and the velocity and trust breakers' settings, which guardrails reads from there). {@link fromAiSettings} reads them, with the
 * defaults below; the {@link CompanionSettings} service reads and changes them through core's
 * `Tenants`, so every limit core puts on settings applies, and a change that raises autonomy
 * (see `Autonomy`) becomes a governed action waiting for a second person.
 */
import {
  type Action,
  ActionRegistry,
  type Actor,
  AiSettings,
  Canonical,
  Errors,
  Gate,
  GateOrder,
  GovernedActions,
  Ids,
  Rbac,
  Tenants,
  UnitOfWork
} from "@airlock/core"
import { GuardrailsConfig, TrustBreaker, Usd, VelocityBreaker } from "@airlock/guardrails"
import { Effect, Either, Option, Schema } from "effect"
import * as Autonomy from "./Autonomy.js"
import * as TenantFeatures from "./TenantFeatures.js"

// --- fields ---------------------------------------------------------------------------------------

/** A probability-like setting (0 … 1). */
const Rate = Schema.Number.pipe(Schema.between(0, 1))

/** `autopost_threshold`: calibrated probability at or above which an item may auto-post (0.5 … 1). */
export const AutopostThreshold = Schema.Number.pipe(Schema.between(0.5, 1))
/** `coldstart_min_labels`: consistent labels before a vendor leaves cold start (1 … 1000). */
export const ColdstartMinLabels = Schema.Int.pipe(Schema.between(1, 1000))
/** `target_precision`: precision the auto-post threshold is certified for (0.5 … 0.999). */
export const TargetPrecision = Schema.Number.pipe(Schema.between(0.5, 0.999))
/** `certification_delta`: δ of the certificate, which holds with confidence 1 − δ (0.001 … 0.5). */
export const CertificationDelta = Schema.Number.pipe(Schema.between(0.001, 0.5))
/** `spot_check_rate`: share of auto-eligible items still sent to a person (0 … 1). */
export const SpotCheckRate = Rate
/** `approval_risk_threshold`: guardrails' risk at or above which an action needs an approval (0 … 1). */
export const ApprovalRiskThreshold = Rate
/** A decimal amount: up to 15 digits and up to 6 decimals, no sign (`"5000.00"`). */
export const DecimalAmount = Schema.String.pipe(
  Schema.maxLength(22),
  Schema.pattern(/^\d{1,15}(\.\d{1,6})?$/, { message: () => 'must be a decimal amount such as "5000.00"' })
)
/** `value_breaker_threshold`: amounts at or above it are forced to review (decimal, the amount's currency). */
export const ValueBreakerThreshold = DecimalAmount
/** `llm_tenant_cap_usd`: the tenant's LLM spend cap per budget period (decimal dollars). */
export const LlmTenantCapUsd = DecimalAmount

/** A number in one of guardrails' tenant override ranges (what guardrails itself accepts). */
const inRange = (range: GuardrailsConfig.TenantRange): Schema.Schema<number> =>
  (range.integer ? Schema.Int : Schema.Number).pipe(Schema.between(range.min, range.max))

/** `velocity_max_per_minute`: AI commands in a sliding minute before the velocity breaker trips (1 … 10,000). */
export const VelocityMaxPerMinute = inRange(GuardrailsConfig.TenantRanges.velocityMaxPerMinute)
/** `velocity_cooldown_seconds`: how long a tripped velocity breaker stays open (1 … 86,400 s). */
export const VelocityCooldownSeconds = inRange(GuardrailsConfig.TenantRanges.velocityCooldownSeconds)
/** `trust_rejection_rate`: rejection rate at or above which the trust breaker downgrades the mode (0 … 1). */
export const TrustRejectionRate = inRange(GuardrailsConfig.TenantRanges.trustRejectionRate)
/** `trust_min_sample`: decided proposals in the window before the trust breaker may trip (1 … 5,000). */
export const TrustMinSample = inRange(GuardrailsConfig.TenantRanges.trustMinSample)
/** `trust_window_seconds`: the window the trust breaker counts decided proposals over (60 s … 90 days). */
export const TrustWindowSeconds = inRange(GuardrailsConfig.TenantRanges.trustWindowSeconds)
/** `trust_downgrade_to`: the mode a trust-breaker trip downgrades to. */
export const TrustDowngradeTo = AiSettings.AiMode

/** Where each extension-stored field lives in `AiSettings.extensions`. */
export const Keys = {
  autopost_enabled: "companion.autopost_enabled",
  autopost_threshold: "companion.autopost_threshold",
  coldstart_min_labels: "companion.coldstart_min_labels",
  target_precision: "companion.target_precision",
  certification_delta: "companion.certification_delta",
  spot_check_rate: "companion.spot_check_rate",
  value_breaker_threshold: GuardrailsConfig.TenantKeys.valueBreakerThreshold,
  llm_tenant_cap_usd: GuardrailsConfig.TenantKeys.llmTenantCapUsd,
  approval_risk_threshold: GuardrailsConfig.TenantKeys.approvalRiskThreshold,
  velocity_max_per_minute: GuardrailsConfig.TenantKeys.velocityMaxPerMinute,
  velocity_cooldown_seconds: GuardrailsConfig.TenantKeys.velocityCooldownSeconds,
  trust_rejection_rate: GuardrailsConfig.TenantKeys.trustRejectionRate,
  trust_min_sample: GuardrailsConfig.TenantKeys.trustMinSample,
  trust_window_seconds: GuardrailsConfig.TenantKeys.trustWindowSeconds,
  trust_downgrade_to: GuardrailsConfig.TenantKeys.trustDowngradeTo
} as const

/** An extension-stored field. */
export type ExtensionField = keyof typeof Keys

/** Each extension-stored field's schema (what a stored value must decode with). */
export const FieldSchemas = {
  autopost_enabled: Schema.Boolean,
  autopost_threshold: AutopostThreshold,
  coldstart_min_labels: ColdstartMinLabels,
  target_precision: TargetPrecision,
  certification_delta: CertificationDelta,
  spot_check_rate: SpotCheckRate,
  value_breaker_threshold: ValueBreakerThreshold,
  llm_tenant_cap_usd: LlmTenantCapUsd,
  approval_risk_threshold: ApprovalRiskThreshold,
  velocity_max_per_minute: VelocityMaxPerMinute,
  velocity_cooldown_seconds: VelocityCooldownSeconds,
  trust_rejection_rate: TrustRejectionRate,
  trust_min_sample: TrustMinSample,
  trust_window_seconds: TrustWindowSeconds,
  trust_downgrade_to: TrustDowngradeTo
} as const satisfies Record<ExtensionField, Schema.Schema<any, any>>

/** Defaults of the companion's own fields (the rollout runbook's values; the for the rest). */
export const defaults = {
  /** `AUTOPOST_ENABLED=false`: off for new tenants. */
  autopost_enabled: false,
  /** `AUTOPOST_THRESHOLD=0.90`. */
  autopost_threshold: 0.9,
  /** `COLDSTART_MIN_LABELS=3`. */
  coldstart_min_labels: 3,
  target_precision: 0.95,
  certification_delta: 0.05,
  spot_check_rate: 0.05
} as const

/** The tenant's companion settings, named. */
export interface Settings {
  readonly tenant_id: string
  readonly ai_enabled: boolean
  readonly kill_switch: boolean
  readonly ai_mode: AiSettings.AiMode
  readonly autopost_enabled: boolean
  readonly autopost_threshold: number
  readonly coldstart_min_labels: number
  readonly target_precision: number
  readonly certification_delta: number
  readonly spot_check_rate: number
  /** The tenant's own value breaker threshold; null = the deployment's (`AIRLOCK_VALUE_BREAKER_THRESHOLD`). */
  readonly value_breaker_threshold: string | null
  /** The tenant's own LLM cap; null = the deployment's (`AIRLOCK_LLM_TENANT_CAP_USD`). */
  readonly llm_tenant_cap_usd: string | null
  /** The tenant's own approval risk threshold; null = the deployment's (`AIRLOCK_APPROVAL_RISK_THRESHOLD`). */
  readonly approval_risk_threshold: number | null
  /** The tenant's own velocity limit; null = the deployment's (`AIRLOCK_VELOCITY_MAX_PER_MINUTE`). */
  readonly velocity_max_per_minute: number | null
  /** The tenant's own velocity cooldown; null = the deployment's (`AIRLOCK_VELOCITY_COOLDOWN_SECONDS`). */
  readonly velocity_cooldown_seconds: number | null
  /** The tenant's own trust threshold; null = the deployment's (`AIRLOCK_TRUST_REJECTION_RATE`). */
  readonly trust_rejection_rate: number | null
  /** The tenant's own trust minimum sample; null = the deployment's (`AIRLOCK_TRUST_MIN_SAMPLE`). */
  readonly trust_min_sample: number | null
  /** The tenant's own trust window; null = the deployment's (`AIRLOCK_TRUST_WINDOW_SECONDS`). */
  readonly trust_window_seconds: number | null
  /** The tenant's own trust downgrade target; null = the deployment's (`AIRLOCK_TRUST_DOWNGRADE_TO`). */
  readonly trust_downgrade_to: AiSettings.AiMode | null
  /** The tenant's effective feature flags (`TenantFeatures`; none stored: all on). */
  readonly features: TenantFeatures.Features
  readonly updated_at: number
  readonly updated_by: string
}

const decodeOption = <A, I>(schema: Schema.Schema<A, I>) => Schema.decodeUnknownOption(schema)

/** A stored decimal may be a string or a number (guardrails accepts both). */
const storedDecimal = (settings: AiSettings.AiSettings, key: string): string | null => {
  const raw = GuardrailsConfig.tenantDecimal(settings, key)
  return raw !== null && Option.isSome(decodeOption(DecimalAmount)(raw)) ? raw : null
}

/**
 * The named settings of a tenant's `AiSettings`. Pure. A missing key takes its default; a stored
 * value that does not decode (written around the service) also takes its default, except the
 * guardrails overrides, which then read as "no override" (guardrails itself fails safe on them).
 */
export const fromAiSettings = (settings: AiSettings.AiSettings): Settings => {
  const own = <K extends keyof typeof defaults>(field: K): (typeof defaults)[K] =>
    Option.getOrElse(
      AiSettings.extension(settings, Keys[field], FieldSchemas[field] as unknown as Schema.Schema<any, any>),
      () => defaults[field]
    )
  const risk = AiSettings.extension(settings, Keys.approval_risk_threshold, ApprovalRiskThreshold)
  const override = <A, I>(field: ExtensionField, schema: Schema.Schema<A, I>): A | null =>
    Option.getOrNull(AiSettings.extension(settings, Keys[field], schema))
  return {
    tenant_id: settings.tenant_id,
    ai_enabled: settings.ai_enabled,
    kill_switch: settings.kill_switch,
    ai_mode: settings.ai_mode,
    autopost_enabled: own("autopost_enabled"),
    autopost_threshold: own("autopost_threshold"),
    coldstart_min_labels: own("coldstart_min_labels"),
    target_precision: own("target_precision"),
    certification_delta: own("certification_delta"),
    spot_check_rate: own("spot_check_rate"),
    value_breaker_threshold: storedDecimal(settings, Keys.value_breaker_threshold),
    llm_tenant_cap_usd: storedDecimal(settings, Keys.llm_tenant_cap_usd),
    approval_risk_threshold: Option.getOrNull(risk),
    velocity_max_per_minute: override("velocity_max_per_minute", VelocityMaxPerMinute),
    velocity_cooldown_seconds: override("velocity_cooldown_seconds", VelocityCooldownSeconds),
    trust_rejection_rate: override("trust_rejection_rate", TrustRejectionRate),
    trust_min_sample: override("trust_min_sample", TrustMinSample),
    trust_window_seconds: override("trust_window_seconds", TrustWindowSeconds),
    trust_downgrade_to: override("trust_downgrade_to", TrustDowngradeTo),
    features: TenantFeatures.of(settings),
    updated_at: settings.updated_at,
    updated_by: settings.updated_by
  }
}

// --- updates --------------------------------------------------------------------------------------

/**
 * A change of named settings: only the given fields change. For extension-stored fields `null`
 * removes the tenant's value (back to the default, or to the deployment's for guardrails' fields).
 */
export const SettingsUpdate = Schema.Struct({
  ai_enabled: Schema.optional(Schema.Boolean),
  kill_switch: Schema.optional(Schema.Boolean),
  ai_mode: Schema.optional(AiSettings.AiMode),
  autopost_enabled: Schema.optional(Schema.NullOr(Schema.Boolean)),
  autopost_threshold: Schema.optional(Schema.NullOr(AutopostThreshold)),
  coldstart_min_labels: Schema.optional(Schema.NullOr(ColdstartMinLabels)),
  target_precision: Schema.optional(Schema.NullOr(TargetPrecision)),
  certification_delta: Schema.optional(Schema.NullOr(CertificationDelta)),
  spot_check_rate: Schema.optional(Schema.NullOr(SpotCheckRate)),
  value_breaker_threshold: Schema.optional(Schema.NullOr(ValueBreakerThreshold)),
  llm_tenant_cap_usd: Schema.optional(Schema.NullOr(LlmTenantCapUsd)),
  approval_risk_threshold: Schema.optional(Schema.NullOr(ApprovalRiskThreshold)),
  velocity_max_per_minute: Schema.optional(Schema.NullOr(VelocityMaxPerMinute)),
  velocity_cooldown_seconds: Schema.optional(Schema.NullOr(VelocityCooldownSeconds)),
  trust_rejection_rate: Schema.optional(Schema.NullOr(TrustRejectionRate)),
  trust_min_sample: Schema.optional(Schema.NullOr(TrustMinSample)),
  trust_window_seconds: Schema.optional(Schema.NullOr(TrustWindowSeconds)),
  trust_downgrade_to: Schema.optional(Schema.NullOr(TrustDowngradeTo)),
  /**
   * Feature flags to change (`TenantFeatures`): only the given flags change, merged into the
   * tenant's effective ones and stored whole under `companion.features`; `null` removes the stored
   * flags (every feature on again).
   */
  features: Schema.optional(Schema.NullOr(TenantFeatures.FeaturesUpdate)),
  /** Raw extension keys (compatibility): merged, `null` removes; named keys are validated as above. */
  extensions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
/** Type of {@link SettingsUpdate}. */
export type SettingsUpdate = typeof SettingsUpdate.Type

const invalid = (message: string, details: Record<string, unknown>) =>
  new Errors.ValidationError({ code: "validation.companion_setting", message, details })

/**
 * Core's patch for a named update: the named extension fields become their keys. A key given
 * both by name and raw in `extensions` is refused (`validation.companion_setting`). Pure.
 */
export const toCorePatch = (update: SettingsUpdate): Either.Either<Tenants.SettingsPatch, Errors.ValidationError> => {
  const extensions: Record<string, unknown> = { ...update.extensions }
  for (const field of Object.keys(Keys) as Array<ExtensionField>) {
    const value = update[field]
    if (value === undefined) continue
    if (Keys[field] in extensions) {
      return Either.left(
        invalid(`${field} is given twice (by name and as extension ${Keys[field]})`, { field, key: Keys[field] })
      )
    }
    extensions[Keys[field]] = value
  }
  if (update.features !== undefined && TenantFeatures.KEY in extensions) {
    return Either.left(
      invalid(`features is given twice (by name and as extension ${TenantFeatures.KEY})`, {
        field: "features",
        key: TenantFeatures.KEY
      })
    )
  }
  const patch: { -readonly [K in keyof Tenants.SettingsPatch]: Tenants.SettingsPatch[K] } = {}
  if (update.ai_enabled !== undefined) patch.ai_enabled = update.ai_enabled
  if (update.kill_switch !== undefined) patch.kill_switch = update.kill_switch
  if (update.ai_mode !== undefined) patch.ai_mode = update.ai_mode
  if (Object.keys(extensions).length > 0) patch.extensions = extensions
  return Either.right(patch)
}

/**
 * A core patch with a named change of feature flags merged into `before`'s effective flags (the
 * whole object under `companion.features`; `null` removes it). Pure.
 */
export const withFeatures = (
  patch: Tenants.SettingsPatch,
  before: AiSettings.AiSettings,
  features: TenantFeatures.FeaturesUpdate | null | undefined
): Tenants.SettingsPatch =>
  features === undefined ? patch : {
    ...patch,
    extensions: {
      ...patch.extensions,
      [TenantFeatures.KEY]: features === null ? null : { ...TenantFeatures.of(before), ...features }
    }
  }

/** `AiSettings` after a core patch (what `Tenants.updateSettings` will store, minus the time). Pure. */
export const patched = (before: AiSettings.AiSettings, patch: Tenants.SettingsPatch): AiSettings.AiSettings => {
  const extensions: Record<string, unknown> = { ...before.extensions }
  for (const [k, v] of Object.entries(patch.extensions ?? {})) {
    if (v === null) delete extensions[k]
    else extensions[k] = v
  }
  return new AiSettings.AiSettings({
    ...before,
    ai_enabled: patch.ai_enabled ?? before.ai_enabled,
    kill_switch: patch.kill_switch ?? before.kill_switch,
    ai_mode: patch.ai_mode ?? before.ai_mode,
    extensions
  }, true)
}

/**
 * A core patch without what it would not change in `before`: a field set to its value, an
 * extension key set to its (canonically equal) value, a missing key removed. What is left is what
 * the change does, so a stored change never carries a stale "no change" (a `kill_switch: false`
 * written after someone engaged the switch). Pure.
 */
export const withoutNoOps = (before: AiSettings.AiSettings, patch: Tenants.SettingsPatch): Tenants.SettingsPatch => {
  const out: { -readonly [K in keyof Tenants.SettingsPatch]: Tenants.SettingsPatch[K] } = {}
  if (patch.ai_enabled !== undefined && patch.ai_enabled !== before.ai_enabled) out.ai_enabled = patch.ai_enabled
  if (patch.kill_switch !== undefined && patch.kill_switch !== before.kill_switch) out.kill_switch = patch.kill_switch
  if (patch.ai_mode !== undefined && patch.ai_mode !== before.ai_mode) out.ai_mode = patch.ai_mode
  const extensions: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(patch.extensions ?? {})) {
    const has = Object.hasOwn(before.extensions, key)
    const same = value === null
      ? !has
      : has && Canonical.canonicalJson(before.extensions[key]) === Canonical.canonicalJson(value)
    if (!same) extensions[key] = value
  }
  if (Object.keys(extensions).length > 0) out.extensions = extensions
  return out
}

/** Refuses named keys whose stored value would not decode (whichever way they were written). Pure. */
export const validateExtensions = (
  extensions: Readonly<Record<string, unknown>>
): Either.Either<void, Errors.ValidationError> => {
  for (const field of Object.keys(Keys) as Array<ExtensionField>) {
    const key = Keys[field]
    if (!(key in extensions)) continue
    const schema = FieldSchemas[field] as unknown as Schema.Schema<unknown, unknown>
    const value = extensions[key]
    const ok = Option.isSome(Schema.decodeUnknownOption(schema)(value))
    if (!ok) {
      return Either.left(invalid(`${field} (${key}) has an invalid value`, { field, key, value: value ?? null }))
    }
  }
  if (TenantFeatures.KEY in extensions) {
    const problem = TenantFeatures.check(extensions[TenantFeatures.KEY])
    if (problem !== null) {
      return Either.left(
        invalid(`features (${TenantFeatures.KEY}): ${problem}`, {
          field: "features",
          key: TenantFeatures.KEY,
          value: extensions[TenantFeatures.KEY] ?? null
        })
      )
    }
  }
  return Either.void
}

// --- the service ----------------------------------------------------------------------------------

/**
 * What guardrails enforces for the tenant: its own value, else the deployment's. For the velocity
 * and trust breakers this is guardrails' own reading (`VelocityBreaker.limitsFor`,
 * `TrustBreaker.settingsFor`), so a malformed stored override shows the fail-safe value enforced.
 */
export interface Effective {
  readonly value_breaker_threshold: string | null
  readonly llm_tenant_cap_usd: string
  readonly approval_risk_threshold: number
  /** Guardrails' velocity breaker: AI commands per sliding minute before it trips. */
  readonly velocity_max_per_minute: number
  readonly velocity_cooldown_seconds: number
  /** Guardrails' trust breaker. */
  readonly trust_rejection_rate: number
  readonly trust_min_sample: number
  readonly trust_window_seconds: number
  readonly trust_downgrade_to: AiSettings.AiMode
}

/** The named settings as served: the tenant's fields and what is in force. */
export interface SettingsView extends Settings {
  readonly effective: Effective
  /** Whether a raise waits for a second person here (`AIRLOCK_COMPANION_AUTONOMY_APPROVAL`). */
  readonly autonomy_approval_required: boolean
}

/** A settings change waiting for (or past) its approval. */
export interface ChangeView {
  readonly change_id: string
  readonly status: Action.ActionStatus
  /**
   * The change as core stores it (named extension fields under their keys); an extension value
   * over 1 KiB shows as `{"$summary": {"sha256", "bytes"}}`.
   */
  readonly patch: Tenants.SettingsPatch
  /** The fields it raises, with their effective values when it was requested. */
  readonly raises: ReadonlyArray<Autonomy.Raise>
  readonly requested_by: string
  readonly requested_at: number
  /** Who approved (applied) or rejected it, when. */
  readonly closed_by: string | null
  readonly closed_at: number | null
  readonly close_reason: string | null
}

/** What an update did. */
export type UpdateResult =
  | { readonly status: "applied"; readonly settings: SettingsView }
  | { readonly status: "pending_approval"; readonly change: ChangeView; readonly settings: SettingsView }

/** What an approval did. */
export interface ApproveResult {
  readonly status: "applied"
  /** True when the change had been applied before (approving twice has one effect). */
  readonly already_applied: boolean
  readonly change: ChangeView
  readonly settings: SettingsView
}

/** The autonomy levels a change was requested against (stored with it; the LLM cap in micro-dollars). */
export const BaseLevels = Schema.Struct({
  ai_enabled: Schema.Boolean,
  kill_switch: Schema.Boolean,
  ai_mode: AiSettings.AiMode,
  autopost_enabled: Schema.Boolean,
  autopost_threshold: Schema.Number,
  coldstart_min_labels: Schema.Number,
  target_precision: Schema.Number,
  certification_delta: Schema.Number,
  spot_check_rate: Schema.Number,
  value_breaker_threshold: Schema.NullOr(Schema.String),
  llm_tenant_cap_micros: Schema.BigInt,
  approval_risk_threshold: Schema.Number,
  /** The feature flags (absent on changes stored before they were recorded). */
  features: Schema.optional(TenantFeatures.Features),
  /** The velocity and trust breakers' effective settings (absent on changes stored before they were recorded). */
  velocity_max_per_minute: Schema.optional(Schema.Number),
  velocity_cooldown_seconds: Schema.optional(Schema.Number),
  trust_rejection_rate: Schema.optional(Schema.Number),
  trust_min_sample: Schema.optional(Schema.Number),
  trust_window_seconds: Schema.optional(Schema.Number),
  trust_downgrade_to: Schema.optional(AiSettings.AiMode)
})

/** The stored payload of a settings change. */
export const ChangePayload = Schema.Struct({
  patch: Tenants.SettingsPatch,
  raises: Schema.Array(Schema.Struct({ field: Schema.String, from: Schema.Unknown, to: Schema.Unknown })),
  /** The levels when it was requested (absent on changes stored before it was recorded). */
  base: Schema.optional(BaseLevels)
})

/** Default and largest page of {@link CompanionSettings} `changes`. */
export const CHANGES_PAGE = { default: 50, max: 100 } as const

/** A patch as listings show it: extension values over 1 KiB by their hash and size. Pure. */
const summarizedPatch = (patch: Tenants.SettingsPatch): Tenants.SettingsPatch =>
  patch.extensions === undefined ? patch : {
    ...patch,
    extensions: Object.fromEntries(
      Object.entries(patch.extensions).map(([k, v]) => [k, AiSettings.summarizeValue(v)])
    )
  }

/** The gate of a settings change at apply: the approver is a person other than the requester. */
export const APPROVER_GATE = "companion.settings_approver"

const changeView = (record: Action.ActionRecord): ChangeView => {
  const payload = record.payload as { patch?: Tenants.SettingsPatch; raises?: ReadonlyArray<Autonomy.Raise> }
  return {
    change_id: record.id,
    status: record.status,
    patch: summarizedPatch(payload.patch ?? {}),
    raises: payload.raises ?? [],
    requested_by: record.proposed_by,
    requested_at: record.proposed_at,
    closed_by: record.closed_by,
    closed_at: record.closed_at,
    close_reason: record.close_reason
  }
}

/** What the service fails with (anything else the pipeline could raise is a defect here). */
export type SettingsError =
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.NotFound
  | Errors.Conflict
  | Errors.LockdownActive
  | Errors.PayloadTooLarge
  | Errors.StorageError

const EXPECTED = new Set([
  "Forbidden",
  "ValidationError",
  "NotFound",
  "Conflict",
  "LockdownActive",
  "PayloadTooLarge",
  "StorageError"
])

/** Narrows a pipeline failure to {@link SettingsError}; no other gate guards this kind. */
const narrow = <A, R>(self: Effect.Effect<A, Errors.AirlockError, R>): Effect.Effect<A, SettingsError, R> =>
  Effect.catchIf(
    self,
    (e): e is Exclude<Errors.AirlockError, SettingsError> => !EXPECTED.has(e._tag),
    (e) => Effect.die(e)
  ) as Effect.Effect<A, SettingsError, R>

/** Options of {@link CompanionSettings} `update`. */
export interface UpdateOptions {
  /**
   * What a raise does when approval is required: `request` (default) stores it as a pending
   * change; `refuse` fails with `companion.settings.approval_required` and writes nothing.
   */
  readonly onRaise?: "request" | "refuse"
}

/** Reads and changes a tenant's named companion settings; raises wait for a second person. */
export class CompanionSettings extends Effect.Service<CompanionSettings>()("@airlock/companion/CompanionSettings", {
  effect: Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const registry = yield* ActionRegistry.ActionRegistry
    const pipeline = yield* GovernedActions.GovernedActions
    const rbac = yield* Rbac.Rbac
    const guard = yield* GuardrailsConfig.GuardrailsConfig
    const autonomy = yield* Autonomy.current
    const uow = yield* UnitOfWork.UnitOfWork

    const effectiveOf = (settings: AiSettings.AiSettings, s: Settings): Effective => {
      const velocity = VelocityBreaker.limitsFor(guard, settings)
      const trust = TrustBreaker.settingsFor(guard, settings)
      return {
        value_breaker_threshold: s.value_breaker_threshold ?? guard.valueBreakerThreshold,
        llm_tenant_cap_usd: s.llm_tenant_cap_usd ?? Usd.formatUsd(guard.llmTenantCap),
        approval_risk_threshold: s.approval_risk_threshold ?? guard.approvalRiskThreshold,
        velocity_max_per_minute: velocity.maxPerMinute,
        velocity_cooldown_seconds: velocity.cooldownSeconds,
        trust_rejection_rate: trust.rejectionRate,
        trust_min_sample: trust.minSample,
        trust_window_seconds: trust.windowSeconds,
        trust_downgrade_to: trust.downgradeTo
      }
    }

    const viewOf = (settings: AiSettings.AiSettings): SettingsView => {
      const named = fromAiSettings(settings)
      return {
        ...named,
        effective: effectiveOf(settings, named),
        autonomy_approval_required: autonomy.approvalRequired
      }
    }

    const levelsOf = (settings: AiSettings.AiSettings): Autonomy.Levels => {
      const named = fromAiSettings(settings)
      const effective = effectiveOf(settings, named)
      const cap = Usd.microsOf(effective.llm_tenant_cap_usd)
      return {
        ...named,
        value_breaker_threshold: effective.value_breaker_threshold,
        llm_tenant_cap_micros: typeof cap === "bigint" ? cap : 0n,
        approval_risk_threshold: effective.approval_risk_threshold,
        velocity_max_per_minute: effective.velocity_max_per_minute,
        velocity_cooldown_seconds: effective.velocity_cooldown_seconds,
        trust_rejection_rate: effective.trust_rejection_rate,
        trust_min_sample: effective.trust_min_sample,
        trust_window_seconds: effective.trust_window_seconds,
        trust_downgrade_to: effective.trust_downgrade_to
      }
    }

    /** The fields a core patch would raise from the tenant's current settings. */
    const raisesOf = (before: AiSettings.AiSettings, patch: Tenants.SettingsPatch) =>
      Autonomy.raises(levelsOf(before), levelsOf(patched(before, patch)))

    /** The levels stored with a change (encoded: the cap as a string). */
    const baseOf = (settings: AiSettings.AiSettings) => {
      const l = levelsOf(settings)
      return {
        ai_enabled: l.ai_enabled,
        kill_switch: l.kill_switch,
        ai_mode: l.ai_mode,
        autopost_enabled: l.autopost_enabled,
        autopost_threshold: l.autopost_threshold,
        coldstart_min_labels: l.coldstart_min_labels,
        target_precision: l.target_precision,
        certification_delta: l.certification_delta,
        spot_check_rate: l.spot_check_rate,
        value_breaker_threshold: l.value_breaker_threshold,
        llm_tenant_cap_micros: l.llm_tenant_cap_micros.toString(),
        approval_risk_threshold: l.approval_risk_threshold,
        features: l.features,
        velocity_max_per_minute: l.velocity_max_per_minute,
        velocity_cooldown_seconds: l.velocity_cooldown_seconds,
        trust_rejection_rate: l.trust_rejection_rate,
        trust_min_sample: l.trust_min_sample,
        trust_window_seconds: l.trust_window_seconds,
        trust_downgrade_to: l.trust_downgrade_to
      }
    }

    /**
     * Why an approved change may no longer be applied to the current settings, or null: applied
     * now it would raise a field that was not approved, or autonomy was lowered since it was
     * requested (the kill switch engaged, the mode lowered, a threshold made stricter) — the
     * approval was given against settings that no longer hold.
     */
    const staleness = (current: AiSettings.AiSettings, payload: typeof ChangePayload.Type) => {
      const approved = new Set(payload.raises.map((r) => r.field))
      const unapproved = raisesOf(current, payload.patch).filter((r) => !approved.has(r.field)).map((r) => r.field)
      const lowered = payload.base === undefined
        ? []
        : Autonomy.raises(levelsOf(current), payload.base).map((r) => r.field)
      // the change writes the flags whole: any flag changed since would be undone by it
      const base = payload.base?.features
      if (
        base !== undefined && Object.hasOwn(payload.patch.extensions ?? {}, TenantFeatures.KEY) &&
        Canonical.canonicalJson(TenantFeatures.of(current)) !== Canonical.canonicalJson(base) &&
        !lowered.includes("features")
      ) lowered.push("features")
      return unapproved.length === 0 && lowered.length === 0 ? null : { unapproved, lowered_since: lowered }
    }

    // named fields were decoded by their schemas; raw extension keys that name a field are checked here
    const decodePatch = (update: SettingsUpdate) =>
      Effect.flatMap(toCorePatch(update), (patch) => {
        const written = Object.entries(patch.extensions ?? {}).filter(([, v]) => v !== null)
        return Effect.as(validateExtensions(Object.fromEntries(written)), patch)
      })

    yield* registry.registerKind({
      name: Autonomy.KIND,
      payload: ChangePayload,
      permissions: {
        propose: "companion.settings.manage",
        apply: "approvals.grant",
        reject: "companion.settings.manage"
      },
      aiGoverned: false,
      protected: true,
      subject: () => Autonomy.SUBJECT,
      // runs inside the pipeline's apply transaction: the settings row is held from the check to the write
      apply: ({ action, actor, payload, tenant }) =>
        Effect.gen(function*() {
          const current = yield* tenants.settingsForUpdate(tenant.id)
          const stale = staleness(current, payload)
          if (stale !== null) {
            return yield* new Errors.Conflict({
              code: "companion.settings.stale",
              message: "The settings changed since this change was requested: it would now " +
                (stale.unapproved.length > 0
                  ? `raise ${stale.unapproved.join(", ")}, which was not approved`
                  : `undo a lowering made since (${stale.lowered_since.join(", ")})`) +
                "; reject it and request the change again",
              details: { change_id: action.id, unapproved: stale.unapproved, lowered_since: stale.lowered_since }
            })
          }
          const after = yield* tenants.updateSettings(tenant.id, payload.patch, actor)
          return { applied_by: actor.id, settings_updated_at: after.updated_at }
        })
    })

    yield* registry.registerGate({
      name: APPROVER_GATE,
      order: GateOrder.approval,
      phases: ["apply"],
      appliesTo: (kind) => kind.name === Autonomy.KIND,
      evaluate: ({ action, actor }) => {
        const inputs = { requested_by: action.proposed_by, approver: actor.id, approver_kind: actor.kind }
        if (actor.id === action.proposed_by) {
          return Effect.succeed(Gate.Decision.deny(
            new Errors.Forbidden({
              code: "approval.self_approval",
              message: "The requester of a settings change cannot approve it",
              details: { change_id: action.id }
            }),
            inputs
          ))
        }
        if (actor.kind !== "user") {
          return Effect.succeed(Gate.Decision.deny(
            new Errors.Forbidden({
              code: "companion.settings.approver_not_person",
              message: "A settings change raising autonomy is approved by a person",
              details: { change_id: action.id, approver_kind: actor.kind }
            }),
            inputs
          ))
        }
        return Effect.succeed(Gate.Decision.allow(inputs))
      }
    })

    /** The tenant's named settings; needs `companion.read`. */
    const read = (tenant: Ids.TenantId, actor: Actor.Actor): Effect.Effect<SettingsView, SettingsError> =>
      Effect.map(tenants.readSettings(tenant, actor), viewOf)

    /**
     * Changes settings; needs `companion.settings.manage`. Fields that would not change anything
     * are dropped first. A change that raises autonomy (see `Autonomy`) is stored as a pending
     * `companion.settings.change` when approval is required — after the extension limits are
     * checked on the merged result, and only while the tenant has fewer than
     * `AutonomySettings.maxPending` pending (409 `companion.settings.too_many_pending`); anything
     * else applies at once through `Tenants.updateSettings` (audited there). The decision is
     * made in the transaction that writes, on the settings row it holds.
     */
    const update = (
      tenant: Ids.TenantId,
      input: SettingsUpdate,
      actor: Actor.Actor,
      options: UpdateOptions = {}
    ): Effect.Effect<UpdateResult, SettingsError> =>
      narrow(Effect.gen(function*() {
        yield* rbac.require(actor, "companion.settings.manage")
        const requested = yield* decodePatch(input)
        yield* tenants.readSettings(tenant, actor)
        return yield* uow.transaction(Effect.gen(function*() {
          const before = yield* tenants.settingsForUpdate(tenant)
          const patch = withoutNoOps(before, withFeatures(requested, before, input.features))
          const raised = raisesOf(before, patch)
          if (raised.length === 0 || !autonomy.approvalRequired) {
            const after = yield* tenants.updateSettings(tenant, patch, actor)
            return { status: "applied", settings: viewOf(after) } as const
          }
          if (options.onRaise === "refuse") {
            return yield* new Errors.Forbidden({
              code: "companion.settings.approval_required",
              message:
                "This change raises autonomy and needs a second person's approval: request it as a settings change",
              details: { raises: raised.map((r) => r.field), request: "POST /api/v1/companion/settings/changes" }
            })
          }
          // refused now rather than stored and refused at approval
          yield* tenants.checkPatch(before, patch)
          const pending = yield* pipeline.list(tenant, {
            kind: Autonomy.KIND,
            status: "proposed",
            limit: autonomy.maxPending
          })
          if (pending.length >= autonomy.maxPending) {
            return yield* new Errors.Conflict({
              code: "companion.settings.too_many_pending",
              message: `The tenant already has ${pending.length} settings changes waiting for approval ` +
                `(at most ${autonomy.maxPending}): approve or reject one first`,
              details: { max_pending: autonomy.maxPending, pending: pending.map((a) => a.id) }
            })
          }
          const proposed = yield* pipeline.propose({
            tenant_id: tenant,
            actor,
            kind: Autonomy.KIND,
            payload: { patch, raises: raised, base: baseOf(before) }
          })
          return { status: "pending_approval", change: changeView(proposed.action), settings: viewOf(before) } as const
        }))
      }))

    const loadChange = (tenant: Ids.TenantId, id: string) =>
      Effect.flatMap(pipeline.get(tenant, Ids.ActionId.make(id)), (record) =>
        record.kind === Autonomy.KIND
          ? Effect.succeed(record)
          : Effect.fail(
            new Errors.NotFound({
              message: `Settings change ${id} not found`,
              details: { entity: "settings_change", id }
            })
          ))

    /**
     * Approves a pending change and applies it, exactly once (a second approval returns the
     * stored result). Needs `approvals.grant` and `companion.settings.manage`; the approver must
     * be a person other than the requester (`approval.self_approval`).
     */
    const approve = (
      tenant: Ids.TenantId,
      id: string,
      actor: Actor.Actor
    ): Effect.Effect<ApproveResult, SettingsError> =>
      narrow(Effect.gen(function*() {
        yield* Effect.zipRight(tenants.readSettings(tenant, actor), loadChange(tenant, id))
        const applied = yield* pipeline.apply(tenant, Ids.ActionId.make(id), actor)
        return {
          status: "applied",
          already_applied: applied.already_applied,
          change: changeView(applied.action),
          settings: viewOf(yield* tenants.settings(tenant))
        } as const
      }))

    /** Rejects (or, by its requester, withdraws) a pending change; needs `companion.settings.manage`. */
    const reject = (
      tenant: Ids.TenantId,
      id: string,
      actor: Actor.Actor,
      reason: string
    ): Effect.Effect<ChangeView, SettingsError> =>
      narrow(Effect.gen(function*() {
        yield* Effect.zipRight(tenants.readSettings(tenant, actor), loadChange(tenant, id))
        return changeView(yield* pipeline.reject(tenant, Ids.ActionId.make(id), actor, reason))
      }))

    /**
     * The tenant's settings changes, newest first (optionally of one status); needs
     * `companion.read`. Pages of {@link CHANGES_PAGE} (default 50, at most 100); extension values
     * over 1 KiB are shown by hash and size.
     */
    const changes = (
      tenant: Ids.TenantId,
      actor: Actor.Actor,
      query: { readonly status?: Action.ActionStatus | undefined; readonly limit?: number | undefined } = {}
    ): Effect.Effect<ReadonlyArray<ChangeView>, SettingsError> =>
      narrow(Effect.gen(function*() {
        yield* tenants.readSettings(tenant, actor)
        const records = yield* pipeline.list(tenant, {
          kind: Autonomy.KIND,
          status: query.status,
          limit: Math.min(Math.max(query.limit ?? CHANGES_PAGE.default, 1), CHANGES_PAGE.max)
        })
        return records.map(changeView)
      }))

    return { read, update, approve, reject, changes, view: viewOf, raisesOf } as const
  })
}) {}

/**
 * A tenant's feature flags (the rollout runbook's template `features`), read from its
 * `AiSettings.extensions` under {@link KEY}, where onboarding stores its template's flags. Each
 * flag governs one part of the companion for that tenant:
 *
 * | flag | off means |
 * |---|---|
 * | `ml_classifier` | the classifier stage does not run (`skipped`, `feature.disabled`) and reviews do not train it |
 * | `llm_fallback` | the language-model stage is not called (`skipped`, `feature.disabled`) |
 * | `auto_rule_promotion` | no rule promotion is proposed (`learning.promotion.reason` = `feature.disabled`) |
 * | `drift_detection` | no drift questions on new proposals, no drift findings in the shadow report |
 * | `calibration` | `calibrated_probability` stays null (nothing certifies, nothing auto-posts: `autopost.uncalibrated`) |
 *
 * Reading is lenient, as for every named setting (`CompanionSettings.fromAiSettings`): no stored
 * value (a tenant not made from a template) means every feature on; a stored flag that is not a
 * boolean, an unknown flag or a value that is not an object is reported as a problem, logged as a
 * warning by {@link current}, and the flags it concerns read as on. Writes through the settings
 * service are checked strictly ({@link check}), so only a write around it can store such a value.
 * Pure, except {@link current}'s log line.
 */
import { Effect, Schema } from "effect"
import type { CategorizerStage } from "./Categorizer.js"
import { skipped } from "./Categorizer.js"

/** Where a tenant's flags live in `AiSettings.extensions` (`TenantTemplates.TemplateKeys.features`). */
export const KEY = "companion.features"

/** The runbook's feature flags. */
export const Features = Schema.Struct({
  ml_classifier: Schema.Boolean,
  llm_fallback: Schema.Boolean,
  auto_rule_promotion: Schema.Boolean,
  drift_detection: Schema.Boolean,
  calibration: Schema.Boolean
}).annotations({ identifier: "CompanionFeatures" })
/** Type of {@link Features}. */
export type Features = typeof Features.Type

/** One flag's name. */
export type Feature = keyof Features

/** Every flag, in the runbook's order. */
export const FEATURES: ReadonlyArray<Feature> = [
  "ml_classifier",
  "llm_fallback",
  "auto_rule_promotion",
  "drift_detection",
  "calibration"
]

/** Every feature on: a tenant without stored flags. */
export const allOn: Features = {
  ml_classifier: true,
  llm_fallback: true,
  auto_rule_promotion: true,
  drift_detection: true,
  calibration: true
}

/**
 * The flags whose turning on raises autonomy (`Autonomy`): each lets the AI decide or spend more
 * on its own — the classifier and the model add answers the certificate was not measured on (and
 * the model spends budget and sends descriptions to a provider), calibration is what lets
 * anything auto-post. `auto_rule_promotion` only proposes rules a person must approve, and
 * `drift_detection` only adds questions, so turning them on is not a raise.
 */
export const RAISING: ReadonlyArray<Feature> = ["ml_classifier", "llm_fallback", "calibration"]

/** Stable reason codes. */
export const Reasons = {
  /** A stage or a step did not run because the tenant's feature is off. */
  disabled: "feature.disabled"
} as const

/** A change of flags: only the given ones change. */
export const FeaturesUpdate = Schema.partialWith(Features, { exact: true }).annotations({
  identifier: "CompanionFeaturesUpdate"
})
/** Type of {@link FeaturesUpdate}. */
export type FeaturesUpdate = typeof FeaturesUpdate.Type

/** The flags read from settings: the effective values, where they came from and what was wrong. */
export interface Resolved {
  readonly features: Features
  /** `default`: nothing stored (all on); `stored`: the tenant's own value. */
  readonly source: "default" | "stored"
  /** What could not be read (each concerned flag reads as on); empty when the value is well formed. */
  readonly problems: ReadonlyArray<string>
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const known = new Set<string>(FEATURES)

/** The flags of a tenant's settings (see the module comment). Pure. */
export const resolve = (settings: { readonly extensions: Readonly<Record<string, unknown>> }): Resolved => {
  if (!Object.hasOwn(settings.extensions, KEY)) return { features: allOn, source: "default", problems: [] }
  const raw = settings.extensions[KEY]
  if (!isRecord(raw)) {
    return { features: allOn, source: "stored", problems: [`${KEY} is not an object: every feature reads as on`] }
  }
  const problems: Array<string> = []
  const features: Record<Feature, boolean> = { ...allOn }
  for (const f of FEATURES) {
    if (!Object.hasOwn(raw, f)) continue
    const v = raw[f]
    if (typeof v === "boolean") features[f] = v
    else problems.push(`${KEY}.${f} is not a boolean: it reads as on`)
  }
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`${KEY}.${k} is not a known feature: ignored`)
  return { features, source: "stored", problems }
}

/** The effective flags of a tenant's settings. Pure. */
export const of = (settings: { readonly extensions: Readonly<Record<string, unknown>> }): Features =>
  resolve(settings).features

/**
 * The effective flags of a tenant's settings (none stored: all on), logging a warning naming the
 * tenant when the stored value is malformed.
 */
export const current = (
  settings: { readonly tenant_id: string; readonly extensions: Readonly<Record<string, unknown>> } | undefined
): Effect.Effect<Features> => {
  if (settings === undefined) return Effect.succeed(allOn)
  const r = resolve(settings)
  return r.problems.length === 0 ? Effect.succeed(r.features) : Effect.as(
    Effect.logWarning("malformed companion feature flags: the concerned features are on").pipe(
      Effect.annotateLogs({ tenant_id: settings.tenant_id, problems: r.problems.join("; ") })
    ),
    r.features
  )
}

/** Why a value may not be written under {@link KEY} (an object of known flags, each a boolean), or null. Pure. */
export const check = (value: unknown): string | null => {
  if (!isRecord(value)) return "must be an object of feature flags"
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) return `${k} is not a known feature (${FEATURES.join(", ")})`
    if (typeof v !== "boolean") return `${k} must be true or false`
  }
  return null
}

/** A stage that does not run because the tenant's `feature` is off (`skipped`, `feature.disabled`). */
export const disabledStage = (name: string, feature: Feature): CategorizerStage => ({
  name,
  run: () =>
    Effect.succeed({
      ...skipped(name, Reasons.disabled, `Not run: the tenant's ${feature} feature is off`),
      details: { feature }
    })
})

/** `stage` when the tenant's `feature` is on, else a {@link disabledStage} under its name. */
export const gate = (features: Features, feature: Feature, stage: CategorizerStage): CategorizerStage =>
  features[feature] ? stage : disabledStage(stage.name, feature)

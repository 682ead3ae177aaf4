/**
 * Which settings changes raise the companion's autonomy. A raise is a governed action that waits
 * for a second person's approval (the rollout runbook's "manual approval required … approved_by
 * ops_team"); anything else takes effect at once. The rule, field by field (before → after):
 *
 * | field | raises when |
 * |---|---|
 * | `ai_mode` | it moves up (shadow_only < suggest_only < drafts < autopilot_limited) to `drafts` or `autopilot_limited` |
 * | `ai_enabled` | false → true (re-enabling) |
 * | `kill_switch` | true → false (releasing the switch; engaging it is immediate) |
 * | `autopost_enabled` | false → true |
 * | `autopost_threshold` | lower |
 * | `coldstart_min_labels` | lower |
 * | `target_precision` | lower |
 * | `certification_delta` | higher (less confidence in the certificate) |
 * | `spot_check_rate` | lower (fewer auto-eligible items reviewed) |
 * | `value_breaker_threshold` | higher effective threshold (fewer amounts forced to review) |
 * | `llm_tenant_cap_usd` | higher effective cap (more model spend) |
 * | `approval_risk_threshold` | higher effective threshold (fewer approvals) |
 * | `velocity_max_per_minute` | higher effective limit (the velocity breaker trips later) |
 * | `velocity_cooldown_seconds` | shorter effective cooldown (a tripped breaker closes sooner) |
 * | `trust_rejection_rate` | higher effective threshold (the trust breaker trips later) |
 * | `trust_min_sample` | higher effective minimum (the trust breaker trips later) |
 * | `trust_window_seconds` | any change (see below) |
 * | `trust_downgrade_to` | a higher mode (a trip leaves the tenant more autonomy) |
 * | `features.ml_classifier`, `features.llm_fallback`, `features.calibration` | off → on (`TenantFeatures.RAISING`) |
 *
 * Turning `features.auto_rule_promotion` or `features.drift_detection` on is not a raise (the first
 * only proposes rules a person approves, the second only adds questions); turning any flag off
 * takes effect at once.
 *
 * The trust window has no safe direction: a longer window lets an older good record outweigh a
 * recent run of rejections (the breaker trips later), a shorter one may never hold the minimum
 * sample (it never trips at a small tenant). Either change can weaken the breaker, so any change
 * of the effective window is a raise.
 *
 * Effective values are the tenant's own, else the deployment's (guardrails' configuration), so
 * removing an override that was stricter than the deployment default is a raise too. A change
 * raising any field is governed whole; everything else is pure here ({@link raises}).
 */
import type { AiSettings } from "@airlock/core"
import { Config, Context, Effect, Layer, Option } from "effect"
import * as TenantFeatures from "./TenantFeatures.js"

/** The kind of governed action a raising settings change becomes. */
export const KIND = "companion.settings.change"

/** The subject of every settings change (one per tenant: records are tenant-scoped). */
export const SUBJECT = "companion.settings"

const RANK: Record<AiSettings.AiMode, number> = { shadow_only: 0, suggest_only: 1, drafts: 2, autopilot_limited: 3 }

/** The rank of a mode, from safest (0) to most autonomous (3). */
export const modeRank = (mode: AiSettings.AiMode): number => RANK[mode]

/** The levels the rule compares: the named settings with guardrails' overrides as effective values. */
export interface Levels {
  readonly ai_enabled: boolean
  readonly kill_switch: boolean
  readonly ai_mode: AiSettings.AiMode
  readonly autopost_enabled: boolean
  readonly autopost_threshold: number
  readonly coldstart_min_labels: number
  readonly target_precision: number
  readonly certification_delta: number
  readonly spot_check_rate: number
  /** Effective value breaker threshold (decimal); null = the breaker is off (nothing forced to review). */
  readonly value_breaker_threshold: string | null
  /** Effective LLM cap, micro-dollars. */
  readonly llm_tenant_cap_micros: bigint
  /** Effective approval risk threshold (0 … 1). */
  readonly approval_risk_threshold: number
  /** The tenant's feature flags (absent on levels stored before they were recorded: not compared). */
  readonly features?: TenantFeatures.Features | undefined
  /**
   * The velocity and trust breakers' effective settings (guardrails' reading of the tenant's
   * override, else the deployment's). Absent on levels stored before they were recorded: not compared.
   */
  readonly velocity_max_per_minute?: number | undefined
  readonly velocity_cooldown_seconds?: number | undefined
  readonly trust_rejection_rate?: number | undefined
  readonly trust_min_sample?: number | undefined
  readonly trust_window_seconds?: number | undefined
  readonly trust_downgrade_to?: AiSettings.AiMode | undefined
}

/** The breaker settings among the levels. */
type BreakerField =
  | "velocity_max_per_minute"
  | "velocity_cooldown_seconds"
  | "trust_rejection_rate"
  | "trust_min_sample"
  | "trust_window_seconds"
  | "trust_downgrade_to"
type BreakerValue<K extends BreakerField> = Exclude<Levels[K], undefined>

/** One field a change raises, with its effective values before and after. */
export interface Raise {
  readonly field: string
  readonly from: unknown
  readonly to: unknown
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/

/** Compares two non-negative decimal strings exactly (null when either is malformed). */
export const compareDecimal = (a: string, b: string): number | null => {
  const ma = DECIMAL.exec(a.trim())
  const mb = DECIMAL.exec(b.trim())
  if (!ma || !mb) return null
  const fa = ma[2] ?? ""
  const fb = mb[2] ?? ""
  const scale = Math.max(fa.length, fb.length)
  const x = BigInt(ma[1]! + fa.padEnd(scale, "0"))
  const y = BigInt(mb[1]! + fb.padEnd(scale, "0"))
  return x < y ? -1 : x > y ? 1 : 0
}

/** Is the value breaker threshold `after` more permissive than `before` (null = off = most permissive)? */
const valueThresholdRaised = (before: string | null, after: string | null): boolean => {
  if (after === before) return false
  if (after === null) return true
  if (before === null) return false
  const cmp = compareDecimal(after, before)
  // a malformed threshold sends everything to review (guardrails fails safe), so it never raises
  return cmp !== null && cmp > 0
}

/** The fields a change from `before` to `after` raises (empty: the change takes effect at once). Pure. */
export const raises = (before: Levels, after: Levels): ReadonlyArray<Raise> => {
  const out: Array<Raise> = []
  const add = (field: string, from: unknown, to: unknown) => out.push({ field, from, to })
  if (RANK[after.ai_mode] > RANK[before.ai_mode] && RANK[after.ai_mode] >= RANK.drafts) {
    add("ai_mode", before.ai_mode, after.ai_mode)
  }
  if (!before.ai_enabled && after.ai_enabled) add("ai_enabled", false, true)
  if (before.kill_switch && !after.kill_switch) add("kill_switch", true, false)
  if (!before.autopost_enabled && after.autopost_enabled) add("autopost_enabled", false, true)
  if (after.autopost_threshold < before.autopost_threshold) {
    add("autopost_threshold", before.autopost_threshold, after.autopost_threshold)
  }
  if (after.coldstart_min_labels < before.coldstart_min_labels) {
    add("coldstart_min_labels", before.coldstart_min_labels, after.coldstart_min_labels)
  }
  if (after.target_precision < before.target_precision) {
    add("target_precision", before.target_precision, after.target_precision)
  }
  if (after.certification_delta > before.certification_delta) {
    add("certification_delta", before.certification_delta, after.certification_delta)
  }
  if (after.spot_check_rate < before.spot_check_rate) {
    add("spot_check_rate", before.spot_check_rate, after.spot_check_rate)
  }
  if (valueThresholdRaised(before.value_breaker_threshold, after.value_breaker_threshold)) {
    add("value_breaker_threshold", before.value_breaker_threshold, after.value_breaker_threshold)
  }
  if (after.llm_tenant_cap_micros > before.llm_tenant_cap_micros) {
    add("llm_tenant_cap_usd", before.llm_tenant_cap_micros.toString(), after.llm_tenant_cap_micros.toString())
  }
  if (after.approval_risk_threshold > before.approval_risk_threshold) {
    add("approval_risk_threshold", before.approval_risk_threshold, after.approval_risk_threshold)
  }
  // breaker settings: compared only when both sides carry them (levels stored before did not)
  const compare = <K extends BreakerField>(
    field: K,
    raised: (from: BreakerValue<K>, to: BreakerValue<K>) => boolean
  ) => {
    const from = before[field]
    const to = after[field]
    if (from !== undefined && to !== undefined && raised(from as BreakerValue<K>, to as BreakerValue<K>)) {
      add(field, from, to)
    }
  }
  compare("velocity_max_per_minute", (from, to) => to > from)
  compare("velocity_cooldown_seconds", (from, to) => to < from)
  compare("trust_rejection_rate", (from, to) => to > from)
  compare("trust_min_sample", (from, to) => to > from)
  compare("trust_window_seconds", (from, to) => to !== from)
  compare("trust_downgrade_to", (from, to) => RANK[to] > RANK[from])
  if (before.features !== undefined && after.features !== undefined) {
    for (const f of TenantFeatures.RAISING) {
      if (!before.features[f] && after.features[f]) add(`features.${f}`, false, true)
    }
  }
  return out
}

/** How raises are governed. */
export interface AutonomySettings {
  /**
   * `AIRLOCK_COMPANION_AUTONOMY_APPROVAL` (default `true`): a raise waits for a second person.
   * `false` applies every change at once (one-person development setups); still audited.
   */
  readonly approvalRequired: boolean
  /**
   * `AIRLOCK_COMPANION_SETTINGS_MAX_PENDING` (default 5): most settings changes a tenant may have
   * waiting for approval at once; one more is 409 `companion.settings.too_many_pending`.
   */
  readonly maxPending: number
}

/** Default of {@link AutonomySettings} `maxPending`. */
export const DEFAULT_MAX_PENDING = 5

/** The autonomy governance settings. Absent from the context, they are read from {@link config}. */
export class AutonomyConfig
  extends Context.Tag("@airlock/companion/AutonomyConfig")<AutonomyConfig, AutonomySettings>()
{}

/** The `Config` description (`AIRLOCK_COMPANION_AUTONOMY_APPROVAL`, default `true`). */
export const config: Config.Config<AutonomySettings> = Config.all({
  approvalRequired: Config.boolean("AIRLOCK_COMPANION_AUTONOMY_APPROVAL").pipe(Config.withDefault(true)),
  maxPending: Config.integer("AIRLOCK_COMPANION_SETTINGS_MAX_PENDING").pipe(
    Config.validate({ message: "must be an integer from 1 to 1000", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(DEFAULT_MAX_PENDING)
  )
})

/** The settings given in code. */
export const layer = (settings: Partial<AutonomySettings> = {}): Layer.Layer<AutonomyConfig> =>
  Layer.succeed(AutonomyConfig, { approvalRequired: true, maxPending: DEFAULT_MAX_PENDING, ...settings })

/** The settings from the environment (or the installed `ConfigProvider`). */
export const layerConfig: Layer.Layer<AutonomyConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  AutonomyConfig,
  config
)

/** The settings in the context, else from {@link config} (a broken variable fails safe: approval required). */
export const current: Effect.Effect<AutonomySettings> = Effect.flatMap(
  Effect.serviceOption(AutonomyConfig),
  Option.match({
    onSome: Effect.succeed,
    onNone: () => Effect.orElseSucceed(config, () => ({ approvalRequired: true, maxPending: DEFAULT_MAX_PENDING }))
  })
)

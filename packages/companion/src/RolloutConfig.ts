/**
 * The rollout runbook's pilot-stage thresholds (P1 → P2 → P3), read through Effect `Config` from
 * `AIRLOCK_ROLLOUT_*` with the runbook's values as defaults, or given programmatically.
 *
 * | variable | default | criterion |
 * |---|---|---|
 * | `AIRLOCK_ROLLOUT_P2_MIN_CANDIDATES_RATE` | 0.85 | P1 → P2: automation candidates rate ≥ |
 * | `AIRLOCK_ROLLOUT_P2_MAX_JE_IMBALANCE` | 0 | P1 → P2: journal-entry imbalance count ≤ |
 * | `AIRLOCK_ROLLOUT_P2_MAX_BRIER` | 0.15 | P1 → P2: Brier score ≤ |
 * | `AIRLOCK_ROLLOUT_P3_HIGH_CONFIDENCE_P` | 0.90 | P2 → P3: the calibrated p that makes an item "high confidence" |
 * | `AIRLOCK_ROLLOUT_P3_MIN_HIGH_CONFIDENCE_ACCURACY` | 0.90 | P2 → P3: share of high-confidence items right ≥ |
 * | `AIRLOCK_ROLLOUT_P3_MIN_RECONCILIATION_RATE` | 0.95 | P2 → P3: reconciliation rate ≥ |
 */
import { Config, Context, Effect, Layer } from "effect"

/** The thresholds. */
export interface RolloutThresholds {
  readonly p2MinCandidatesRate: number
  readonly p2MaxJeImbalance: number
  readonly p2MaxBrier: number
  readonly p3HighConfidenceP: number
  readonly p3MinHighConfidenceAccuracy: number
  readonly p3MinReconciliationRate: number
}

/** The runbook's values. */
export const defaults: RolloutThresholds = {
  p2MinCandidatesRate: 0.85,
  p2MaxJeImbalance: 0,
  p2MaxBrier: 0.15,
  p3HighConfidenceP: 0.9,
  p3MinHighConfidenceAccuracy: 0.9,
  p3MinReconciliationRate: 0.95
}

const unit = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be between 0 and 1`, validation: (n) => n >= 0 && n <= 1 })
  )

/** The thresholds from `AIRLOCK_ROLLOUT_*` (defaults above). */
export const config: Config.Config<RolloutThresholds> = Config.all({
  p2MinCandidatesRate: unit("AIRLOCK_ROLLOUT_P2_MIN_CANDIDATES_RATE", defaults.p2MinCandidatesRate),
  p2MaxJeImbalance: Config.integer("AIRLOCK_ROLLOUT_P2_MAX_JE_IMBALANCE").pipe(
    Config.withDefault(defaults.p2MaxJeImbalance),
    Config.validate({ message: "AIRLOCK_ROLLOUT_P2_MAX_JE_IMBALANCE must be ≥ 0", validation: (n) => n >= 0 })
  ),
  p2MaxBrier: unit("AIRLOCK_ROLLOUT_P2_MAX_BRIER", defaults.p2MaxBrier),
  p3HighConfidenceP: unit("AIRLOCK_ROLLOUT_P3_HIGH_CONFIDENCE_P", defaults.p3HighConfidenceP),
  p3MinHighConfidenceAccuracy: unit(
    "AIRLOCK_ROLLOUT_P3_MIN_HIGH_CONFIDENCE_ACCURACY",
    defaults.p3MinHighConfidenceAccuracy
  ),
  p3MinReconciliationRate: unit("AIRLOCK_ROLLOUT_P3_MIN_RECONCILIATION_RATE", defaults.p3MinReconciliationRate)
})

/** The rollout thresholds in effect. */
export class RolloutConfig
  extends Context.Tag("@airlock/companion/RolloutConfig")<RolloutConfig, RolloutThresholds>()
{}

/** The thresholds from the environment. */
export const layerConfig: Layer.Layer<RolloutConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  RolloutConfig,
  Effect.map(config, (c) => c)
)

/** Given thresholds (the runbook's where not given). */
export const layer = (overrides: Partial<RolloutThresholds> = {}): Layer.Layer<RolloutConfig> =>
  Layer.succeed(RolloutConfig, { ...defaults, ...overrides })

/**
 * The companion settings this branch reads, until `CompanionSettings.fromAiSettings` (branch
 * c13-llm) is merged: the same `companion.*` extension keys and defaults, read leniently (an
 * invalid stored value falls back to its default). Replaced by the real module at merge.
 */
import { AiSettings } from "@airlock/core"
import { Option, Schema } from "effect"

/** The fields the flow reads. */
export interface FlowSettings {
  readonly ai_mode: AiSettings.AiMode
  readonly autopost_enabled: boolean
  readonly autopost_threshold: number
  readonly coldstart_min_labels: number
  readonly target_precision: number
  readonly certification_delta: number
  readonly spot_check_rate: number
}

const read = <A, I>(s: AiSettings.AiSettings, key: string, schema: Schema.Schema<A, I>, fallback: A): A =>
  Option.getOrElse(AiSettings.extension(s, key, schema), () => fallback)

/** The flow's settings of a tenant. */
export const fromAiSettings = (s: AiSettings.AiSettings): FlowSettings => ({
  ai_mode: s.ai_mode,
  autopost_enabled: read(s, "companion.autopost_enabled", Schema.Boolean, false),
  autopost_threshold: read(s, "companion.autopost_threshold", Schema.Number.pipe(Schema.between(0.5, 1)), 0.9),
  coldstart_min_labels: read(s, "companion.coldstart_min_labels", Schema.Int.pipe(Schema.between(1, 1000)), 3),
  target_precision: read(s, "companion.target_precision", Schema.Number.pipe(Schema.between(0.5, 0.999)), 0.95),
  certification_delta: read(s, "companion.certification_delta", Schema.Number.pipe(Schema.between(0.001, 0.5)), 0.05),
  spot_check_rate: read(s, "companion.spot_check_rate", Schema.Number.pipe(Schema.between(0, 1)), 0.05)
})

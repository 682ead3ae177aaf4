/**
 * Agent-memory settings. Read from `AIRLOCK_MEMORY_*` through Effect `Config`
 * ({@link layerConfig}, {@link layerConfigWith}) or given in code ({@link layer}); both produce
 * the same service. Without either, the defaults apply (the tag is a `Context.Reference`), so a
 * host that wires core by hand does not have to name this service.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | reviewQueueEnabled | AIRLOCK_MEMORY_REVIEW_QUEUE_ENABLED | MEMORY_REVIEW_QUEUE_ENABLED | true |
 * | tiersEnabled | AIRLOCK_MEMORY_TIERS_ENABLED | MEMORY_TIERS_ENABLED | true |
 * | importanceEnabled | AIRLOCK_MEMORY_IMPORTANCE_ENABLED | MEMORY_IMPORTANCE_ENABLED | true |
 * | importanceHalfLifeDays | AIRLOCK_MEMORY_IMPORTANCE_HALF_LIFE_DAYS | — | 30 |
 * | warmAfterDays | AIRLOCK_MEMORY_WARM_AFTER_DAYS | — | 7 |
 * | archiveAfterDays | AIRLOCK_MEMORY_ARCHIVE_AFTER_DAYS | — | 30 |
 * | warmBelowImportance | AIRLOCK_MEMORY_WARM_BELOW_IMPORTANCE | — | 0.5 |
 * | archiveBelowImportance | AIRLOCK_MEMORY_ARCHIVE_BELOW_IMPORTANCE | — | 0.2 |
 * | kpiWindowDays | AIRLOCK_MEMORY_KPI_WINDOW_DAYS | — | 30 |
 * | authoritative | (code only: `(kind, actor) => boolean` on the authenticated actor) | — | no source is authoritative |
 */
import { Config, Context, Effect, Layer } from "effect"
import type { Actor } from "./Actor.js"

/**
 * Host policy: is a write of `kind` by the authenticated `actor` (its id, role, kind and tenant)
 * authoritative? An authoritative write supersedes a contradicting fact directly instead of
 * queueing it for review (the companion uses it for labels a person applied). The policy sees
 * only authenticated data, never the write's body (its `agent_id` is whatever the client sent).
 */
export type AuthoritativePolicy = (kind: string, actor: Actor) => boolean

/** Agent-memory settings values. */
export interface AgentMemorySettings {
  /**
   * The conflict-review queue. When false a contradicting write is refused
   * (`memory.conflict`, 409) instead of queued: memory never decides a contradiction alone.
   */
  readonly reviewQueueEnabled: boolean
  /** Tiering: when false {@link AgentMemory.runTiering} reports `enabled: false` and moves nothing. */
  readonly tiersEnabled: boolean
  /** Importance decay: when false tiering compares the stored importance, undecayed. */
  readonly importanceEnabled: boolean
  /** Days after which an unused item's effective importance is halved. */
  readonly importanceHalfLifeDays: number
  /** Unused for this many days (and below {@link warmBelowImportance}): hot → warm. */
  readonly warmAfterDays: number
  /** Unused for this many days (and below {@link archiveBelowImportance}): → archive. */
  readonly archiveAfterDays: number
  /** Effective importance under which a stale item leaves the hot tier. */
  readonly warmBelowImportance: number
  /** Effective importance under which a stale item is archived. */
  readonly archiveBelowImportance: number
  /** Default KPI window (days back from now) for `/metrics`. */
  readonly kpiWindowDays: number
  /** Which sources are authoritative (see {@link AuthoritativePolicy}); code only. */
  readonly authoritative: AuthoritativePolicy
}

/** No source is authoritative: every contradiction waits for a person. */
export const noAuthoritativeSource: AuthoritativePolicy = () => false

/** Defaults of {@link AgentMemorySettings}. */
export const defaults: AgentMemorySettings = {
  reviewQueueEnabled: true,
  tiersEnabled: true,
  importanceEnabled: true,
  importanceHalfLifeDays: 30,
  warmAfterDays: 7,
  archiveAfterDays: 30,
  warmBelowImportance: 0.5,
  archiveBelowImportance: 0.2,
  kpiWindowDays: 30,
  authoritative: noAuthoritativeSource
}

/** The agent-memory settings service; {@link defaults} when no layer provides it. */
export class AgentMemoryConfig extends Context.Reference<AgentMemoryConfig>()("@airlock/core/AgentMemoryConfig", {
  defaultValue: (): AgentMemorySettings => defaults
}) {}

const positive = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => Number.isFinite(n) && n > 0 }),
    Config.withDefault(fallback)
  )

const fraction = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of the settings read from `AIRLOCK_MEMORY_*` (everything but the policy). */
export const config: Config.Config<Omit<AgentMemorySettings, "authoritative">> = Config.all({
  reviewQueueEnabled: Config.boolean("AIRLOCK_MEMORY_REVIEW_QUEUE_ENABLED").pipe(
    Config.withDefault(defaults.reviewQueueEnabled)
  ),
  tiersEnabled: Config.boolean("AIRLOCK_MEMORY_TIERS_ENABLED").pipe(Config.withDefault(defaults.tiersEnabled)),
  importanceEnabled: Config.boolean("AIRLOCK_MEMORY_IMPORTANCE_ENABLED").pipe(
    Config.withDefault(defaults.importanceEnabled)
  ),
  importanceHalfLifeDays: positive("AIRLOCK_MEMORY_IMPORTANCE_HALF_LIFE_DAYS", defaults.importanceHalfLifeDays),
  warmAfterDays: positive("AIRLOCK_MEMORY_WARM_AFTER_DAYS", defaults.warmAfterDays),
  archiveAfterDays: positive("AIRLOCK_MEMORY_ARCHIVE_AFTER_DAYS", defaults.archiveAfterDays),
  warmBelowImportance: fraction("AIRLOCK_MEMORY_WARM_BELOW_IMPORTANCE", defaults.warmBelowImportance),
  archiveBelowImportance: fraction("AIRLOCK_MEMORY_ARCHIVE_BELOW_IMPORTANCE", defaults.archiveBelowImportance),
  kpiWindowDays: positive("AIRLOCK_MEMORY_KPI_WINDOW_DAYS", defaults.kpiWindowDays)
})

/** Settings from the environment plus the parts only code can give (the authoritative policy). */
export const layerConfigWith = (
  code: Partial<AgentMemorySettings> = {}
): Layer.Layer<AgentMemoryConfig, import("effect/ConfigError").ConfigError> =>
  Layer.effect(AgentMemoryConfig, Effect.map(config, (c): AgentMemorySettings => ({ ...defaults, ...c, ...code })))

/** Settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<AgentMemoryConfig, import("effect/ConfigError").ConfigError> = layerConfigWith()

/** Settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<AgentMemorySettings> = {}): Layer.Layer<AgentMemoryConfig> =>
  Layer.succeed(AgentMemoryConfig, { ...defaults, ...settings })

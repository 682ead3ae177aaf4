/**
 * Scheduler settings. Read from `AIRLOCK_SCHEDULER_*` through Effect `Config` ({@link layerConfig})
 * or given in code ({@link layer}); both produce the same service, and without either the
 * defaults apply (the tag is a `Context.Reference`).
 *
 * | setting | variable | default |
 * |---|---|---|
 * | enabled | AIRLOCK_SCHEDULER_ENABLED | true (the server's tick loop; on-demand ticks always work) |
 * | tickSeconds | AIRLOCK_SCHEDULER_TICK_SECONDS | 5 |
 * | graceSeconds | AIRLOCK_SCHEDULER_GRACE_SECONDS | 60 (older due times are "missed": catch-up policy) |
 * | leaseSeconds | AIRLOCK_SCHEDULER_LEASE_SECONDS | 60 (renewed every third of it while a task runs) |
 * | maxAttempts | AIRLOCK_SCHEDULER_MAX_ATTEMPTS | 3 |
 * | retryDelaySeconds | AIRLOCK_SCHEDULER_RETRY_DELAY_SECONDS | 30 (doubled per attempt) |
 * | concurrency | AIRLOCK_SCHEDULER_CONCURRENCY | 4 (tasks run at once by one instance) |
 * | batchSize | AIRLOCK_SCHEDULER_BATCH_SIZE | 500 (schedules claimed and records leased per round) |
 * | readyMaxLagSeconds | AIRLOCK_SCHEDULER_READY_MAX_LAG_SECONDS | 300 (`/readyz` and the doctor: lag above it is lagging) |
 */
import { Config, Context, type Effect, Layer } from "effect"

/** Scheduler settings values (durations in seconds). */
export interface SchedulerSettings {
  /** The server runs the tick loop. */
  readonly enabled: boolean
  /** Interval of the tick loop. */
  readonly tickSeconds: number
  /** A due time older than this at its tick was missed; the catch-up policy decides. */
  readonly graceSeconds: number
  /** Execution lease; an expired lease is taken over by any instance. */
  readonly leaseSeconds: number
  /** Attempts per dispatch before it is `failed`. */
  readonly maxAttempts: number
  /** Delay before the first retry, doubled for each later one. */
  readonly retryDelaySeconds: number
  /** Tasks one instance runs at once. */
  readonly concurrency: number
  /** Schedules claimed, and records leased, per round of a tick. */
  readonly batchSize: number
  /** Lag above which the `scheduler` readiness check fails and the doctor warns. */
  readonly readyMaxLagSeconds: number
}

/** Defaults of {@link SchedulerSettings}. */
export const defaults: SchedulerSettings = {
  enabled: true,
  tickSeconds: 5,
  graceSeconds: 60,
  leaseSeconds: 60,
  maxAttempts: 3,
  retryDelaySeconds: 30,
  concurrency: 4,
  batchSize: 500,
  readyMaxLagSeconds: 300
}

/** The scheduler settings service; {@link defaults} when no layer provides it. */
export class SchedulerConfig extends Context.Reference<SchedulerConfig>()("@airlock/ops/SchedulerConfig", {
  defaultValue: (): SchedulerSettings => defaults
}) {}

const positive = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => Number.isFinite(n) && n > 0 }),
    Config.withDefault(fallback)
  )

const count = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n >= 1 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of the settings (`AIRLOCK_SCHEDULER_*`). */
export const config: Config.Config<SchedulerSettings> = Config.all({
  enabled: Config.boolean("AIRLOCK_SCHEDULER_ENABLED").pipe(Config.withDefault(defaults.enabled)),
  tickSeconds: positive("AIRLOCK_SCHEDULER_TICK_SECONDS", defaults.tickSeconds),
  graceSeconds: positive("AIRLOCK_SCHEDULER_GRACE_SECONDS", defaults.graceSeconds),
  leaseSeconds: positive("AIRLOCK_SCHEDULER_LEASE_SECONDS", defaults.leaseSeconds),
  maxAttempts: count("AIRLOCK_SCHEDULER_MAX_ATTEMPTS", defaults.maxAttempts),
  retryDelaySeconds: positive("AIRLOCK_SCHEDULER_RETRY_DELAY_SECONDS", defaults.retryDelaySeconds),
  concurrency: count("AIRLOCK_SCHEDULER_CONCURRENCY", defaults.concurrency),
  batchSize: count("AIRLOCK_SCHEDULER_BATCH_SIZE", defaults.batchSize),
  readyMaxLagSeconds: positive("AIRLOCK_SCHEDULER_READY_MAX_LAG_SECONDS", defaults.readyMaxLagSeconds)
})

/** Settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<SchedulerConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  SchedulerConfig,
  config
)

/** Settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<SchedulerSettings> = {}): Layer.Layer<SchedulerConfig> =>
  Layer.succeed(SchedulerConfig, { ...defaults, ...settings })

/** Reads the settings in effect. */
export const get: Effect.Effect<SchedulerSettings> = SchedulerConfig

/**
 * Maintenance-loop settings, from `AIRLOCK_MAINTENANCE_*` ({@link layerConfig}) or code
 * ({@link layer}); defaults without either. The runbook's names map one to one:
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | enabled | AIRLOCK_MAINTENANCE_ENABLED | MAINTENANCE_ENABLED | false (the runbook turns it on in `.env`) |
 * | intervalSeconds | AIRLOCK_MAINTENANCE_INTERVAL_SECONDS | MAINTENANCE_INTERVAL_SECONDS | 300 (must be > 0) |
 * | heartbeatIntervalSeconds | AIRLOCK_MAINTENANCE_HEARTBEAT_INTERVAL_SECONDS | MAINTENANCE_HEARTBEAT_INTERVAL_SECONDS | 60 |
 * | commands | AIRLOCK_MAINTENANCE_COMMANDS | MAINTENANCE_COMMANDS | empty: every registered command |
 * | failureTenant | AIRLOCK_MAINTENANCE_FAILURE_TENANT | — | `default` (the tenant whose agent memory gets `failure` items) |
 */
import { Config, Context, type Effect, Layer } from "effect"

/** Maintenance settings values (durations in seconds). */
export interface MaintenanceSettings {
  /** The loop runs in the server process. On-demand runs work either way. */
  readonly enabled: boolean
  /** Interval between two passes over the commands. */
  readonly intervalSeconds: number
  /** Interval of the loop's heartbeat (shown in the status). */
  readonly heartbeatIntervalSeconds: number
  /** The commands a pass runs, by name; empty for every registered command. */
  readonly commands: ReadonlyArray<string>
  /** The tenant whose agent memory receives a `failure` item per failed run. */
  readonly failureTenant: string
}

/** Defaults of {@link MaintenanceSettings}. */
export const defaults: MaintenanceSettings = {
  enabled: false,
  intervalSeconds: 300,
  heartbeatIntervalSeconds: 60,
  commands: [],
  failureTenant: "default"
}

/** The maintenance settings service; {@link defaults} when no layer provides it. */
export class MaintenanceConfig extends Context.Reference<MaintenanceConfig>()("@airlock/ops/MaintenanceConfig", {
  defaultValue: (): MaintenanceSettings => defaults
}) {}

const positive = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => Number.isFinite(n) && n > 0 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of the settings (`AIRLOCK_MAINTENANCE_*`). */
export const config: Config.Config<MaintenanceSettings> = Config.all({
  enabled: Config.boolean("AIRLOCK_MAINTENANCE_ENABLED").pipe(Config.withDefault(defaults.enabled)),
  intervalSeconds: positive("AIRLOCK_MAINTENANCE_INTERVAL_SECONDS", defaults.intervalSeconds),
  heartbeatIntervalSeconds: positive(
    "AIRLOCK_MAINTENANCE_HEARTBEAT_INTERVAL_SECONDS",
    defaults.heartbeatIntervalSeconds
  ),
  commands: Config.string("AIRLOCK_MAINTENANCE_COMMANDS").pipe(
    Config.map((s) => s.split(",").map((c) => c.trim()).filter((c) => c.length > 0)),
    Config.withDefault(defaults.commands)
  ),
  failureTenant: Config.string("AIRLOCK_MAINTENANCE_FAILURE_TENANT").pipe(Config.withDefault(defaults.failureTenant))
})

/** Settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<MaintenanceConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  MaintenanceConfig,
  config
)

/** Settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<MaintenanceSettings> = {}): Layer.Layer<MaintenanceConfig> =>
  Layer.succeed(MaintenanceConfig, { ...defaults, ...settings })

/** Reads the settings in effect. */
export const get: Effect.Effect<MaintenanceSettings> = MaintenanceConfig

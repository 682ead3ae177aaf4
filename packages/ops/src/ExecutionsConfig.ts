/**
 * Settings of run controls, executions and failure triage. Read from `AIRLOCK_*` through Effect
 * `Config` ({@link layerConfig}) or given in code ({@link layer}); both produce the same service.
 *
 * | field | variable | runbook name | default |
 * |---|---|---|---|
 * | reconcileIntervalSeconds | AIRLOCK_EXEC_RECONCILE_INTERVAL_SECONDS | COPILOT_EXEC_RECONCILE_INTERVAL_SECONDS | 60 |
 * | staleAfterSeconds | AIRLOCK_EXEC_STALE_AFTER_SECONDS | — (the reconcile route's `stale_after_seconds`) | 300 |
 * | pollIntervalMillis | AIRLOCK_EXEC_POLL_INTERVAL_MS | — | 500 |
 * | workerConcurrency | AIRLOCK_EXEC_WORKER_CONCURRENCY | — | 4 |
 * | triageMemoryEnabled | AIRLOCK_TRIAGE_MEMORY_ENABLED | MEMORY_FAILURE_BRIDGE_ENABLED | true |
 * | triageModel | AIRLOCK_TRIAGE_LLM_MODEL, else AIRLOCK_LLM_MODEL | — (`LLM_API_KEY` set = a model configured) | none |
 * | runResetEnabled | AIRLOCK_RUN_RESET_ENABLED | — (ops console: reset is development only) | true unless `AIRLOCK_ENV=production` |
 *
 * `AIRLOCK_ENV` is read by core's one reader (`Environment.config`): any case, unset = production,
 * any other value a configuration error.
 */
import { Environment } from "@airlock/core"
import { Config, Context, Effect, Layer, Option } from "effect"

/** Every setting of run controls, executions and triage. */
export interface ExecutionsSettings {
  /** How often the stale reconcile runs in the background. */
  readonly reconcileIntervalSeconds: number
  /** A RUNNING execution whose last heartbeat is older than this is failed with reason `stale`. */
  readonly staleAfterSeconds: number
  /** How often an idle worker looks for queued executions. */
  readonly pollIntervalMillis: number
  /** Executions one worker runs at once. */
  readonly workerConcurrency: number
  /** Triage reports are written to the tenant's agent memory as `failure` items. */
  readonly triageMemoryEnabled: boolean
  /** The model triage refines summaries with (priced in the LLM budget); null = heuristics only. */
  readonly triageModel: string | null
  /** `POST /api/admin/control/run/reset` is allowed (development only by default). */
  readonly runResetEnabled: boolean
}

/** The defaults (see the module table). */
export const defaults: ExecutionsSettings = {
  reconcileIntervalSeconds: 60,
  staleAfterSeconds: 300,
  pollIntervalMillis: 500,
  workerConcurrency: 4,
  triageMemoryEnabled: true,
  triageModel: null,
  runResetEnabled: true
}

/** The settings service. */
export class ExecutionsConfig extends Context.Tag("@airlock/ops/ExecutionsConfig")<
  ExecutionsConfig,
  ExecutionsSettings
>() {}

const positive = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => Number.isFinite(n) && n > 0 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of the settings. */
export const config: Config.Config<ExecutionsSettings> = Config.all({
  reconcileIntervalSeconds: positive("AIRLOCK_EXEC_RECONCILE_INTERVAL_SECONDS", defaults.reconcileIntervalSeconds),
  staleAfterSeconds: positive("AIRLOCK_EXEC_STALE_AFTER_SECONDS", defaults.staleAfterSeconds),
  pollIntervalMillis: positive("AIRLOCK_EXEC_POLL_INTERVAL_MS", defaults.pollIntervalMillis),
  workerConcurrency: Config.integer("AIRLOCK_EXEC_WORKER_CONCURRENCY").pipe(
    Config.validate({ message: "must be between 1 and 256", validation: (n) => n >= 1 && n <= 256 }),
    Config.withDefault(defaults.workerConcurrency)
  ),
  triageMemoryEnabled: Config.boolean("AIRLOCK_TRIAGE_MEMORY_ENABLED").pipe(
    Config.withDefault(defaults.triageMemoryEnabled)
  ),
  // the companion's model unless triage names its own
  triageModel: Config.option(
    Config.nonEmptyString("AIRLOCK_TRIAGE_LLM_MODEL").pipe(
      Config.orElse(() => Config.nonEmptyString("AIRLOCK_LLM_MODEL"))
    )
  ).pipe(Config.map(Option.getOrNull)),
  runResetEnabled: Environment.config.pipe(
    Config.zipWith(
      Config.option(Config.boolean("AIRLOCK_RUN_RESET_ENABLED")),
      (env, explicit) => Option.getOrElse(explicit, () => env !== "production")
    )
  )
})

/** Settings from `AIRLOCK_*` (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<ExecutionsConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  ExecutionsConfig,
  Effect.map(config, (s) => s)
)

/** Settings given in code; unspecified fields take the {@link defaults}. */
export const layer = (settings: Partial<ExecutionsSettings> = {}): Layer.Layer<ExecutionsConfig> =>
  Layer.succeed(ExecutionsConfig, { ...defaults, ...settings })

/**
 * Core settings. Read from `AIRLOCK_*` through Effect `Config` ({@link layerConfig}) or given
 * in code ({@link layer}); both produce the same service, so hosts pick one.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | aiGlobalEnabled | AIRLOCK_AI_GLOBAL_ENABLED | COMPANION_AI_GLOBAL_ENABLED | true |
 * | tokenPrefix | AIRLOCK_TOKEN_PREFIX | — | `alk` |
 */
import { Config, Context, Effect, Layer } from "effect"

/** Core settings values. */
export interface CoreSettings {
  /** Global layer of the kill switch: false refuses every AI propose/apply. */
  readonly aiGlobalEnabled: boolean
  /** Prefix of generated API tokens (`<prefix>_…`), so leaked tokens are recognisable. */
  readonly tokenPrefix: string
}

/** Defaults of {@link CoreSettings}. */
export const defaults: CoreSettings = { aiGlobalEnabled: true, tokenPrefix: "alk" }

/** The core settings service. */
export class CoreConfig extends Context.Tag("@airlock/core/CoreConfig")<CoreConfig, CoreSettings>() {}

/** The `Config` description of core settings (`AIRLOCK_*`). */
export const config: Config.Config<CoreSettings> = Config.all({
  aiGlobalEnabled: Config.boolean("AIRLOCK_AI_GLOBAL_ENABLED").pipe(Config.withDefault(defaults.aiGlobalEnabled)),
  tokenPrefix: Config.string("AIRLOCK_TOKEN_PREFIX").pipe(
    Config.validate({ message: "must be 1-16 letters or digits", validation: (s) => /^[A-Za-z0-9]{1,16}$/.test(s) }),
    Config.withDefault(defaults.tokenPrefix)
  )
})

/** Core settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<CoreConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  CoreConfig,
  Effect.map(config, (c) => c)
)

/** Core settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<CoreSettings> = {}): Layer.Layer<CoreConfig> =>
  Layer.succeed(CoreConfig, { ...defaults, ...settings })

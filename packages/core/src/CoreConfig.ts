/**
 * Core settings. Read from `AIRLOCK_*` through Effect `Config` ({@link layerConfig}) or given
 * in code ({@link layer}); both produce the same service, so hosts pick one.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | aiGlobalEnabled | AIRLOCK_AI_GLOBAL_ENABLED | COMPANION_AI_GLOBAL_ENABLED | true |
 * | tokenPrefix | AIRLOCK_TOKEN_PREFIX | — | `alk` |
 * | extensionsMaxKeys | AIRLOCK_SETTINGS_EXTENSIONS_MAX_KEYS | — | 64 (may only be lowered) |
 * | extensionsMaxDepth | AIRLOCK_SETTINGS_EXTENSIONS_MAX_DEPTH | — | 8 (may only be lowered) |
 * | extensionsMaxBytes | AIRLOCK_SETTINGS_EXTENSIONS_MAX_BYTES | — | 65536 (64 KiB; 1 KiB to 16 MiB) |
 */
import { Config, Context, Effect, Layer } from "effect"

/** Core settings values. */
export interface CoreSettings {
  /** Global layer of the kill switch: false refuses every AI propose/apply. */
  readonly aiGlobalEnabled: boolean
  /** Prefix of generated API tokens (`<prefix>_…`), so leaked tokens are recognisable. */
  readonly tokenPrefix: string
  /** Most keys a tenant's AI settings `extensions` may hold. */
  readonly extensionsMaxKeys: number
  /** Deepest nesting of one `extensions` value (a scalar is 0, `{"a": 1}` is 1). */
  readonly extensionsMaxDepth: number
  /** Largest canonical JSON size of the whole `extensions` object, in bytes (UTF-8). */
  readonly extensionsMaxBytes: number
}

/** Defaults of {@link CoreSettings}. */
export const defaults: CoreSettings = {
  aiGlobalEnabled: true,
  tokenPrefix: "alk",
  extensionsMaxKeys: 64,
  extensionsMaxDepth: 8,
  extensionsMaxBytes: 64 * 1024
}

const bounded = (name: string, fallback: number, min: number, max: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `must be between ${min} and ${max}`, validation: (n) => n >= min && n <= max }),
    Config.withDefault(fallback)
  )

/** The core settings service. */
export class CoreConfig extends Context.Tag("@airlock/core/CoreConfig")<CoreConfig, CoreSettings>() {}

/** The `Config` description of core settings (`AIRLOCK_*`). */
export const config: Config.Config<CoreSettings> = Config.all({
  aiGlobalEnabled: Config.boolean("AIRLOCK_AI_GLOBAL_ENABLED").pipe(Config.withDefault(defaults.aiGlobalEnabled)),
  tokenPrefix: Config.string("AIRLOCK_TOKEN_PREFIX").pipe(
    Config.validate({ message: "must be 1-16 letters or digits", validation: (s) => /^[A-Za-z0-9]{1,16}$/.test(s) }),
    Config.withDefault(defaults.tokenPrefix)
  ),
  // keys and nesting can only be lowered: the HTTP edge checks the defaults
  extensionsMaxKeys: bounded(
    "AIRLOCK_SETTINGS_EXTENSIONS_MAX_KEYS",
    defaults.extensionsMaxKeys,
    1,
    defaults.extensionsMaxKeys
  ),
  extensionsMaxDepth: bounded(
    "AIRLOCK_SETTINGS_EXTENSIONS_MAX_DEPTH",
    defaults.extensionsMaxDepth,
    1,
    defaults.extensionsMaxDepth
  ),
  extensionsMaxBytes: bounded(
    "AIRLOCK_SETTINGS_EXTENSIONS_MAX_BYTES",
    defaults.extensionsMaxBytes,
    1024,
    16 * 1024 * 1024
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

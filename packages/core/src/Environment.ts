/**
 * Where a deployment runs, read from `AIRLOCK_ENV`: the one reader every package and host uses, so
 * no two of them can disagree on a value. Case-insensitive (the runbooks write `PRODUCTION` /
 * `DEVELOPMENT`), surrounding spaces ignored; unset means `production`, so a server started
 * without it is never the permissive development one; any other value (an empty one included) is
 * a configuration error naming the variable, never read as one of the three.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | environment | AIRLOCK_ENV (any case) | `DEVELOPMENT` / `PRODUCTION` (ops console) | `production` |
 */
import { Config, Either, Option } from "effect"
import * as ConfigError from "effect/ConfigError"

/** Where a deployment runs: development seeds well-known tokens and allows admin writes by default. */
export type Environment = "development" | "test" | "production"

/** Every environment, in the order messages list them. */
export const environments: ReadonlyArray<Environment> = ["production", "development", "test"]

/** The environment a raw `AIRLOCK_ENV` value names (any case, spaces trimmed), or none. */
export const parse = (raw: string): Option.Option<Environment> => {
  const value = raw.trim().toLowerCase()
  return (environments as ReadonlyArray<string>).includes(value) ? Option.some(value as Environment) : Option.none()
}

/** `AIRLOCK_ENV` through the installed `ConfigProvider`: `production` when unset, a `ConfigError` when invalid. */
export const config: Config.Config<Environment> = Config.string("AIRLOCK_ENV").pipe(
  Config.mapOrFail((raw) =>
    Either.fromOption(
      parse(raw),
      () =>
        ConfigError.InvalidData(
          [],
          `must be production, development or test (any case), not ${JSON.stringify(raw.slice(0, 40))}`
        )
    )
  ),
  Config.withDefault<Environment>("production")
)

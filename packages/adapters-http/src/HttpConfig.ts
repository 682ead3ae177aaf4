/**
 * Settings of the HTTP adapter. Read from `AIRLOCK_*` through Effect `Config` ({@link layerConfig})
 * or given in code ({@link layer}); both produce the same service.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | environment | AIRLOCK_ENV (any case: `PRODUCTION` works; core's `Environment.config`) | `DEVELOPMENT` / `PRODUCTION` (ops console) | `production` |
 * | tenantStrict | AIRLOCK_TENANT_STRICT | COPILOT_TENANT_STRICT | false |
 * | adminIpAllowlist | AIRLOCK_ADMIN_IP_ALLOWLIST | ADMIN_IP_ALLOWLIST | empty (no IP restriction) |
 * | adminWriteEnabled | AIRLOCK_ADMIN_WRITE_ENABLED | ADMIN_WRITE_ENABLED | true, except `false` in production |
 * | maxBodyBytes | AIRLOCK_HTTP_MAX_BODY_BYTES | — | 1048576 (1 MiB) |
 * | maxJsonDepth | AIRLOCK_HTTP_MAX_JSON_DEPTH | — | 64 |
 * | trustedProxies | AIRLOCK_TRUSTED_PROXIES | — | empty (X-Forwarded-For ignored) |
 * | shutdownTimeoutMillis | AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS | — | 20 s |
 * | shutdownGraceMillis | AIRLOCK_SHUTDOWN_GRACE_MS | — | 250 ms |
 * | tracing | AIRLOCK_HTTP_TRACING | — | false (no spans while serving requests) |
 *
 * The environment defaults to `production` so that a server started without it is never the
 * permissive development server; the README's start command sets `development` explicitly.
 */
import { Environment as Env } from "@airlock/core"
import { Config, Context, Effect, Layer } from "effect"
import type { ConfigError } from "effect/ConfigError"
import { makeIpMatcher } from "./internal/ip.js"

/** Where the server runs: development seeds well-known tokens and allows admin writes by default. */
export type Environment = Env.Environment

/** HTTP adapter settings. */
export interface HttpSettings {
  readonly environment: Environment
  /** Tenant-scoped requests must name their tenant in `X-Tenant` (400 `tenant.missing` otherwise). */
  readonly tenantStrict: boolean
  /** Source addresses (IPs or CIDR ranges) allowed on admin routes; empty = any. */
  readonly adminIpAllowlist: ReadonlyArray<string>
  /** Admin routes that write are refused with 403 unless this is true. */
  readonly adminWriteEnabled: boolean
  /** Largest accepted request body in bytes; larger bodies get 413 `payload.too_large`. */
  readonly maxBodyBytes: number
  /** Deepest accepted JSON nesting; deeper bodies get 400 `validation.json_depth`. */
  readonly maxJsonDepth: number
  /** Proxies (IPs or CIDR ranges) whose `X-Forwarded-For` is believed when finding the client address. */
  readonly trustedProxies: ReadonlyArray<string>
  /** How long a graceful shutdown waits for in-flight requests before closing their connections. */
  readonly shutdownTimeoutMillis: number
  /**
   * How long the listener keeps accepting after the shutdown signal (new requests answered 503
   * with `Connection: close` and `Retry-After`), so connections already in the listen backlog
   * are answered instead of reset when the listener closes. 0 closes it at once.
   */
  readonly shutdownGraceMillis: number
  /** Tracing spans for requests and everything they run (for hosts that export traces; spans cost on every request). */
  readonly tracing: boolean
}

/** Defaults of {@link HttpSettings} for an environment. */
export const defaults = (environment: Environment = "production"): HttpSettings => ({
  environment,
  tenantStrict: false,
  adminIpAllowlist: [],
  adminWriteEnabled: environment !== "production",
  maxBodyBytes: 1024 * 1024,
  maxJsonDepth: 64,
  trustedProxies: [],
  shutdownTimeoutMillis: 20_000,
  shutdownGraceMillis: 250,
  tracing: false
})

/** The HTTP settings service. */
export class HttpConfig extends Context.Tag("@airlock/adapters-http/HttpConfig")<HttpConfig, HttpSettings>() {}

const addressList = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((raw) => raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)),
    Config.validate({
      message: "must be a comma-separated list of IP addresses or CIDR ranges",
      validation: (entries) => {
        try {
          makeIpMatcher(entries)
          return true
        } catch {
          return false
        }
      }
    })
  )

/**
 * `AIRLOCK_ENV`, read by core's one reader (`Environment.config`): case-insensitive (the runbooks
 * write `PRODUCTION` / `DEVELOPMENT`), surrounding spaces ignored, unset = `production`, anything
 * else a configuration error.
 */
export const environmentConfig: Config.Config<Environment> = Env.config

/**
 * The ops console's banner for an environment and write guard: `PRODUCTION` / `DEVELOPMENT`
 * (`TEST`), and `Write controls enabled` / `Write controls disabled`.
 */
export const banner = (settings: Pick<HttpSettings, "environment" | "adminWriteEnabled">) => ({
  environment: settings.environment.toUpperCase() as "PRODUCTION" | "DEVELOPMENT" | "TEST",
  write_controls: settings.adminWriteEnabled ? "Write controls enabled" as const : "Write controls disabled" as const
})

/** Reads the HTTP settings from `AIRLOCK_*` through the installed `ConfigProvider`. */
export const config: Effect.Effect<HttpSettings, ConfigError> = Effect.gen(function*() {
  const environment = yield* environmentConfig
  const base = defaults(environment)
  return {
    environment,
    tenantStrict: yield* Config.boolean("AIRLOCK_TENANT_STRICT").pipe(Config.withDefault(base.tenantStrict)),
    adminIpAllowlist: yield* addressList("AIRLOCK_ADMIN_IP_ALLOWLIST"),
    adminWriteEnabled: yield* Config.boolean("AIRLOCK_ADMIN_WRITE_ENABLED").pipe(
      Config.withDefault(base.adminWriteEnabled)
    ),
    maxBodyBytes: yield* Config.integer("AIRLOCK_HTTP_MAX_BODY_BYTES").pipe(
      Config.validate({ message: "must be between 1 and 1073741824", validation: (n) => n >= 1 && n <= 1024 ** 3 }),
      Config.withDefault(base.maxBodyBytes)
    ),
    maxJsonDepth: yield* Config.integer("AIRLOCK_HTTP_MAX_JSON_DEPTH").pipe(
      Config.validate({ message: "must be between 1 and 1000", validation: (n) => n >= 1 && n <= 1000 }),
      Config.withDefault(base.maxJsonDepth)
    ),
    trustedProxies: yield* addressList("AIRLOCK_TRUSTED_PROXIES"),
    shutdownTimeoutMillis: yield* Config.number("AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS").pipe(
      Config.validate({ message: "must be between 0 and 3600", validation: (n) => n >= 0 && n <= 3600 }),
      Config.map((s) => Math.round(s * 1000)),
      Config.withDefault(base.shutdownTimeoutMillis)
    ),
    shutdownGraceMillis: yield* Config.integer("AIRLOCK_SHUTDOWN_GRACE_MS").pipe(
      Config.validate({ message: "must be between 0 and 10000", validation: (n) => n >= 0 && n <= 10_000 }),
      Config.withDefault(base.shutdownGraceMillis)
    ),
    tracing: yield* Config.boolean("AIRLOCK_HTTP_TRACING").pipe(Config.withDefault(base.tracing))
  } satisfies HttpSettings
})

/** HTTP settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<HttpConfig, ConfigError> = Layer.effect(HttpConfig, config)

/**
 * HTTP settings given in code; unspecified fields take the defaults of the given environment
 * (so `layer({ environment: "development" })` also enables admin writes).
 */
export const layer = (settings: Partial<HttpSettings> = {}): Layer.Layer<HttpConfig> => {
  const merged = { ...defaults(settings.environment), ...settings }
  makeIpMatcher(merged.adminIpAllowlist)
  makeIpMatcher(merged.trustedProxies)
  return Layer.succeed(HttpConfig, merged)
}

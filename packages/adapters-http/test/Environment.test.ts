/** `AIRLOCK_ENV` in the runbooks' spelling, and the ops console's banner in the status routes. */
import { HttpConfig } from "@airlock/adapters-http"
import { Environment } from "@airlock/core"
import { ExecutionsConfig } from "@airlock/ops"
import { expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Exit } from "effect"
import * as H from "./support/Harness.js"

const read = (env: Record<string, string>) =>
  Effect.exit(HttpConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

it.effect("AIRLOCK_ENV accepts PRODUCTION / DEVELOPMENT in any case", () =>
  Effect.gen(function*() {
    for (
      const [raw, environment, writes] of [
        ["PRODUCTION", "production", false],
        ["Production", "production", false],
        [" production ", "production", false],
        ["DEVELOPMENT", "development", true],
        ["development", "development", true],
        ["TEST", "test", true]
      ] as const
    ) {
      const exit = yield* read({ AIRLOCK_ENV: raw })
      expect(exit, raw).toStrictEqual(
        Exit.succeed(expect.objectContaining({ environment, adminWriteEnabled: writes }))
      )
    }
    expect(Exit.isFailure(yield* read({ AIRLOCK_ENV: "prod" }))).toBe(true)
    expect(yield* read({})).toStrictEqual(Exit.succeed(expect.objectContaining({ environment: "production" })))
  }))

it.effect("AIRLOCK_ENV: the HTTP adapter, the executions settings and core's reader agree on every value", () =>
  Effect.gen(function*() {
    for (const raw of ["PRODUCTION", "production", "Development", " test ", "staging", "", "prod"]) {
      const provider = ConfigProvider.fromMap(new Map([["AIRLOCK_ENV", raw]]))
      const [core, http, executions] = yield* Effect.all([
        Effect.either(Effect.withConfigProvider(Environment.config, provider)),
        Effect.either(Effect.withConfigProvider(HttpConfig.config, provider)),
        Effect.either(Effect.withConfigProvider(ExecutionsConfig.config, provider))
      ])
      expect([Either.isRight(http), Either.isRight(executions)], raw).toStrictEqual([
        Either.isRight(core),
        Either.isRight(core)
      ])
      if (Either.isRight(core) && Either.isRight(http) && Either.isRight(executions)) {
        expect(http.right.environment, raw).toBe(core.right)
        expect(executions.right.runResetEnabled, raw).toBe(core.right !== "production")
      }
    }
  }))

layer(H.layer({ http: { environment: "development", adminWriteEnabled: true } }), { excludeTestServices: true })(
  "banner (development)",
  (it) => {
    it.effect("status reports DEVELOPMENT and Write controls enabled", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const banner = { environment: "DEVELOPMENT", write_controls: "Write controls enabled" }
        expect((yield* s.client(H.tokens.admin).admin.status()).banner).toStrictEqual(banner)
        expect((yield* s.client(H.tokens.viewer).system.status()).banner).toStrictEqual(banner)
      }))
  }
)

layer(H.layer({ http: { environment: "production", adminWriteEnabled: false } }), { excludeTestServices: true })(
  "banner (production)",
  (it) => {
    it.effect("status reports PRODUCTION and Write controls disabled", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const r = yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin) })
        expect(r.json.banner).toStrictEqual({ environment: "PRODUCTION", write_controls: "Write controls disabled" })
      }))
  }
)

/** `AIRLOCK_ENV` as the executions settings read it: core's one reader (any case; anything else an error). */
import { ExecutionsConfig } from "@airlock/ops"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"

const read = (env: Record<string, string>) =>
  Effect.runSync(
    Effect.either(
      Effect.withConfigProvider(ExecutionsConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

describe("ExecutionsConfig: AIRLOCK_ENV", () => {
  it("reads PRODUCTION / DEVELOPMENT in any case: run reset is off in production only, unless set", () => {
    for (
      const [raw, reset] of [
        ["PRODUCTION", false],
        ["Production", false],
        [" production ", false],
        ["DEVELOPMENT", true],
        ["development", true],
        ["TEST", true]
      ] as const
    ) expect(Either.map(read({ AIRLOCK_ENV: raw }), (s) => s.runResetEnabled), raw).toStrictEqual(Either.right(reset))
    expect(Either.map(read({}), (s) => s.runResetEnabled)).toStrictEqual(Either.right(false))
    expect(
      Either.map(read({ AIRLOCK_ENV: "PRODUCTION", AIRLOCK_RUN_RESET_ENABLED: "true" }), (s) => s.runResetEnabled)
    ).toStrictEqual(Either.right(true))
  })

  it("an invalid AIRLOCK_ENV is a configuration error naming it, not production or development", () => {
    for (const raw of ["staging", "prod", ""]) {
      const result = read({ AIRLOCK_ENV: raw })
      expect(Either.isLeft(result), raw).toBe(true)
      if (Either.isLeft(result)) expect(String(result.left), raw).toContain("AIRLOCK_ENV")
    }
  })
})

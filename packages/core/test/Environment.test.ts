/** `AIRLOCK_ENV`: one reader for every package (any case; unset is production; anything else a config error). */
import { Environment } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"

const read = (value?: string) =>
  Effect.runSync(
    Effect.either(
      Effect.withConfigProvider(
        Environment.config,
        ConfigProvider.fromMap(new Map(value === undefined ? [] : [["AIRLOCK_ENV", value]]))
      )
    )
  )

describe("Environment", () => {
  it("reads the three environments in any case, spaces trimmed; unset is production", () => {
    for (
      const [raw, environment] of [
        ["production", "production"],
        ["PRODUCTION", "production"],
        [" Production ", "production"],
        ["DEVELOPMENT", "development"],
        ["development", "development"],
        ["Test", "test"]
      ] as const
    ) expect(read(raw), raw).toStrictEqual(Either.right(environment))
    expect(read()).toStrictEqual(Either.right("production"))
  })

  it("refuses anything else with a ConfigError naming the variable and the value", () => {
    for (const raw of ["staging", "prod", "dev", "", "production1"]) {
      const result = read(raw)
      expect(Either.isLeft(result), raw).toBe(true)
      const message = String(Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : ""))
      expect(message, raw).toContain("AIRLOCK_ENV")
      expect(message, raw).toContain("must be production, development or test (any case)")
      expect(message, raw).toContain(JSON.stringify(raw))
    }
  })

  it("parse: the same rule without Config", () => {
    expect(Environment.parse(" TEST ")).toStrictEqual(Environment.parse("test"))
    expect(Environment.parse("staging")._tag).toBe("None")
  })
})

import { AiSettings, Ids } from "@airlock/core"
import {
  Breakers,
  GuardrailsConfig,
  KindPolicy,
  ProviderBreaker,
  TrustBreaker,
  Usd,
  ValueBreaker,
  Windows
} from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"

describe("Money", () => {
  it("parses decimal dollars into micro-dollars exactly and refuses more than six decimals", () => {
    expect(Usd.parseUsd("12.34")).toStrictEqual(Either.right(12_340_000n))
    expect(Usd.parseUsd(0.1)).toStrictEqual(Either.right(100_000n))
    expect(Usd.parseUsd("0.000185")).toStrictEqual(Either.right(185n))
    expect(Usd.parseUsd("-1.5")).toStrictEqual(Either.right(-1_500_000n))
    expect(Either.getLeft(Usd.parseUsd("1.0000001")).pipe((o) => o._tag === "Some" && o.value.code)).toBe(
      "validation.amount_precision"
    )
    expect(Either.getLeft(Usd.parseUsd(0.1 + 0.2)).pipe((o) => o._tag === "Some" && o.value.code)).toBe(
      "validation.amount_precision"
    )
    expect(Either.getLeft(Usd.parseUsd("1e3")).pipe((o) => o._tag === "Some" && o.value.code)).toBe("validation.amount")
    expect(Either.getLeft(Usd.parseUsdNonNegative("-1")).pipe((o) => o._tag === "Some" && o.value.code)).toBe(
      "validation.amount_negative"
    )
  })
  it("reads payload cost estimates by convention: non-negative decimal dollars, else none", () => {
    const cost = (v: unknown) => KindPolicy.conventionalCost({ estimated_cost_usd: v })
    expect([
      cost("1.50"),
      cost(2),
      cost(" 0.000001 "),
      cost(7n),
      cost("-1"),
      cost("1.0000001"),
      cost("x"),
      cost(null),
      cost(Number.NaN)
    ]).toStrictEqual([
      1_500_000n,
      2_000_000n,
      1n,
      7n,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined
    ])
    expect(KindPolicy.conventionalCost(null)).toBe(undefined)
  })
  it("parses with whole and fraction digits of any length up to the limits", () => {
    const cases: ReadonlyArray<readonly [string, bigint | null]> = [
      ["0", 0n],
      ["5", 5_000_000n],
      ["0.5", 500_000n],
      ["7.", null],
      ["000012.300", 12_300_000n],
      ["999999999999999.999999", 999_999_999_999_999_999_999n],
      ["-0.000001", -1n],
      [" 3.25 ", 3_250_000n]
    ]
    for (const [input, micros] of cases) {
      const parsed = Usd.parseUsd(input)
      if (micros === null) expect(Either.isLeft(parsed)).toBe(true)
      else expect(parsed).toStrictEqual(Either.right(micros))
    }
    expect(Either.isLeft(Usd.parseUsd("1234567890123456"))).toBe(true)
  })
  it("formats with at least two decimals and round-trips", () => {
    expect([50_000_000n, 185n, 1n, -1_500_000n, 12_345_678n].map(Usd.formatUsd)).toStrictEqual([
      "50.00",
      "0.000185",
      "0.000001",
      "-1.50",
      "12.345678"
    ])
    for (const v of [0n, 7n, 999_999n, 123_456_789_012n])
      expect(Usd.parseUsd(Usd.formatUsd(v))).toStrictEqual(Either.right(v))
    // either side of 2^53 micro-dollars (number arithmetic below, bigint above) and at the top of the range
    const safe = BigInt(Number.MAX_SAFE_INTEGER)
    expect([safe, safe + 1n, -safe - 1n, 999_999_999_999_999_999_999n, 1_000_000n].map(Usd.formatUsd)).toStrictEqual([
      "9007199254.740991",
      "9007199254.740992",
      "-9007199254.740992",
      "999999999999999.999999",
      "1.00"
    ])
    for (let v = 1n; v < 10n ** 21n; v = v * 7n + 3n)
      expect(Usd.parseUsd(Usd.formatUsd(v))).toStrictEqual(Either.right(v))
  })
})

describe("Windows", () => {
  it("sliding counts weigh the previous window by the part still covered, rounding up", () => {
    expect(Windows.slidingCount(10, 0, 60_000, 60_000)).toBe(10)
    expect(Windows.slidingCount(10, 2, 90_000, 60_000)).toBe(7)
    expect(Windows.slidingCount(10, 2, 119_999, 60_000)).toBe(3)
    expect(Windows.slidingCapacity(5, 10, 90_000, 60_000)).toBe(0)
  })
  it("retry-after is the earliest time one more request fits, never less than a second", () => {
    // full current window, nothing before: wait for the next window plus the share of the old count
    expect(Windows.retryAfterMs(5, 0, 5, 30_000, 60_000)).toBe(42_000)
    // brute force agreement on a grid
    for (
      const [limit, prev, cur, at] of [[5, 5, 0, 60_000], [8, 8, 0, 60_000], [3, 2, 1, 75_000], [
        10,
        4,
        9,
        61_000
      ]] as const
    ) {
      const wait = Windows.retryAfterMs(limit, prev, cur, at, 60_000)
      const fits = (t: number) => {
        const sameWindow = Windows.windowStart(t, 60_000) === Windows.windowStart(at, 60_000)
        const p = sameWindow ? prev : cur
        const c = sameWindow ? cur : 0
        return Windows.slidingCount(p, c, t, 60_000) + 1 <= limit
      }
      expect(fits(at + wait)).toBe(true)
      if (wait > 1) expect(fits(at + wait - 1)).toBe(false)
    }
    expect(Windows.toRetrySeconds(1)).toBe(1)
    expect(Windows.toRetrySeconds(7_500)).toBe(8)
  })
  it("month keys stay right whatever order times come in (the last month is remembered)", () => {
    // a walk across month, year and leap-day boundaries, forwards, backwards and at the edges
    const edges = [[1999, 12, 31], [2000, 1, 1], [2000, 2, 29], [2000, 3, 1], [2024, 2, 29], [2031, 4, 1]] as const
    const times = edges.flatMap(([y, m, d]) => {
      const t = Windows.utcMillis(y, m, d)
      return [t - 1, t, t + 1, t + 86_399_999]
    })
    const order = [...times, ...[...times].reverse(), ...times.filter((_, i) => i % 3 === 0), 0, -1]
    for (const t of order) expect(Windows.monthKey(t)).toBe(new Date(t).toISOString().slice(0, 7))
  })
  it("UTC months and days without Date, and the month rollover", () => {
    const t = Windows.utcMillis(2024, 2, 29) + 23 * 3_600_000
    expect([Windows.monthKey(t), Windows.dayKey(t)]).toStrictEqual(["2024-02", "2024-02-29"])
    expect(Windows.nextMonthStart(t)).toBe(Windows.utcMillis(2024, 3, 1))
    expect(Windows.nextMonthStart(Windows.utcMillis(1999, 12, 31))).toBe(Windows.utcMillis(2000, 1, 1))
    expect(Windows.monthKey(0)).toBe("1970-01")
    expect(Windows.utcMillis(2021, 7, 4)).toBe(1_625_356_800_000)
    // the bucket the window starts in counts whole: trailing windows round outward (never under-count)
    expect(Windows.trailingBuckets(125_000, 60_000, 10_000)).toStrictEqual({ from: 60_000, to: 120_000 })
    expect(Windows.trailingBuckets(130_000, 60_000, 10_000)).toStrictEqual({ from: 70_000, to: 130_000 })
  })
})

describe("ValueBreaker math", () => {
  it("compares scaled amounts with decimal thresholds exactly", () => {
    expect(ValueBreaker.compareToThreshold({ minor: 100_000n, scale: 2 }, "1000")).toBe(0)
    expect(ValueBreaker.compareToThreshold({ minor: 99_999n, scale: 2 }, "1000.00")).toBe(-1)
    expect(ValueBreaker.compareToThreshold({ minor: 1_000_001n, scale: 3 }, "1000.0005")).toBe(1)
    expect(ValueBreaker.compareToThreshold({ minor: 5n, scale: 0 }, "abc")).toBe(null)
    // thresholds are parsed once and reused: repeated and mixed-scale comparisons stay exact
    for (let i = 0; i < 3; i++) {
      expect(ValueBreaker.compareToThreshold({ minor: 10_000_005n, scale: 4 }, "1000.0005")).toBe(0)
      expect(ValueBreaker.compareToThreshold({ minor: 1_000n, scale: 0 }, "1000.0005")).toBe(-1)
      expect(ValueBreaker.compareToThreshold({ minor: 1_001n, scale: 0 }, " 1000.0005 ")).toBe(1)
      expect(ValueBreaker.compareToThreshold({ minor: 12n, scale: 1 }, "1.2")).toBe(0)
      expect(ValueBreaker.compareToThreshold({ minor: 5n, scale: 0 }, "abc")).toBe(null)
      expect(ValueBreaker.compareToThreshold({ minor: 5n, scale: 0 }, "-5")).toBe(null)
    }
    expect(ValueBreaker.formatScaled({ minor: 5n, scale: 2 })).toBe("0.05")
    expect(ValueBreaker.formatScaled({ minor: -123_456n, scale: 2 })).toBe("-1234.56")
  })
})

describe("TrustBreaker math", () => {
  it("trips only with the minimum sample and at or above the threshold; downgrades only", () => {
    expect(TrustBreaker.shouldTrip(3, 0, 4, 0.5)).toBe(false)
    expect(TrustBreaker.shouldTrip(2, 2, 4, 0.5)).toBe(true)
    expect(TrustBreaker.shouldTrip(1, 3, 4, 0.5)).toBe(false)
    expect(TrustBreaker.rejectionRate(0, 0)).toBe(0)
    expect(TrustBreaker.above("autopilot_limited", "suggest_only")).toBe(true)
    expect(TrustBreaker.above("shadow_only", "suggest_only")).toBe(false)
    expect(TrustBreaker.above("suggest_only", "suggest_only")).toBe(false)
  })
})

describe("ProviderBreaker transitions", () => {
  const s = {
    providerConsecutiveFailures: 3,
    providerFailureRate: 0.5,
    providerMinSamples: 10,
    providerCooldownSeconds: 30,
    providerProbeTimeoutSeconds: 5
  }
  const closed = Breakers.initial("provider:x", "provider", null, 0)
  it("closed admits; open refuses until the cooldown, then one probe", () => {
    expect(ProviderBreaker.admit(closed, 0, s)).toStrictEqual({ admission: "allow", next: null })
    const opened = ProviderBreaker.afterFailure(Breakers.next(closed, { consecutive_failures: 2 }, 0), 1_000, {
      calls: 3,
      failures: 3
    }, s)
    expect(opened.tripped).toBe("consecutive_failures")
    expect(opened.next).toMatchObject({ state: "open", until: 31_000 })
    expect(ProviderBreaker.admit(opened.next!, 30_999, s).admission).toBe("reject")
    const probe = ProviderBreaker.admit(opened.next!, 31_000, s)
    expect(probe.admission).toBe("probe")
    expect(probe.next).toMatchObject({ state: "half_open", probe_until: 36_000 })
    expect(ProviderBreaker.admit(probe.next!, 35_999, s).admission).toBe("reject")
    expect(ProviderBreaker.admit(probe.next!, 36_000, s).admission).toBe("probe")
    expect(ProviderBreaker.afterSuccess(probe.next!, 32_000)).toMatchObject({
      state: "closed",
      consecutive_failures: 0
    })
    expect(ProviderBreaker.afterFailure(probe.next!, 32_000, { calls: 0, failures: 0 }, s)).toMatchObject({
      tripped: "probe_failed",
      next: { state: "open", until: 62_000 }
    })
  })
  it("the rate trigger needs the minimum sample", () => {
    expect(ProviderBreaker.afterFailure(closed, 0, { calls: 9, failures: 9 }, s).tripped).toBe(null)
    expect(ProviderBreaker.afterFailure(closed, 0, { calls: 10, failures: 5 }, s).tripped).toBe("failure_rate")
    expect(ProviderBreaker.afterFailure(closed, 0, { calls: 10, failures: 4 }, s).tripped).toBe(null)
    expect(ProviderBreaker.afterSuccess(closed, 0)).toBe(null)
  })
})

describe("GuardrailsConfig", () => {
  it.effect("reads AIRLOCK_* with runbook defaults and validates", () =>
    Effect.gen(function*() {
      const d = yield* GuardrailsConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      expect([
        d.rateLimitEnabled,
        d.rateLimitRpm,
        d.approvalRiskThreshold,
        d.approvalTtlSeconds,
        d.llmTenantCap,
        d.llmGlobalCap,
        d.budgetWarningPercent,
        d.stopLlmDailyHard
      ])
        .toStrictEqual([true, 60, 0.7, 3600, 50_000_000n, 1_000_000_000n, 80, null])
      const env = new Map([
        ["AIRLOCK_RATE_LIMIT_ENABLED", "false"],
        ["AIRLOCK_RATE_LIMIT_RPM", "120"],
        ["AIRLOCK_LLM_TENANT_CAP_USD", "100"],
        ["AIRLOCK_LLM_PRICES", '{"gpt":{"input":"0.15","output":0.6}}'],
        ["AIRLOCK_STOP_LLM_DAILY_HARD_USD", "25.50"],
        ["AIRLOCK_MEDIA_ALLOWED_HOSTS", "cdn.example.com, *.whatsapp.net"],
        ["AIRLOCK_VALUE_BREAKER_THRESHOLD", "off"]
      ])
      const c = yield* GuardrailsConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)))
      expect([
        c.rateLimitEnabled,
        c.rateLimitRpm,
        c.llmTenantCap,
        c.llmPrices,
        c.stopLlmDailyHard,
        c.mediaAllowedHosts,
        c.valueBreakerThreshold
      ]).toStrictEqual([
        false,
        120,
        100_000_000n,
        { gpt: { input_per_mtok: 150_000n, output_per_mtok: 600_000n } },
        25_500_000n,
        ["cdn.example.com", "*.whatsapp.net"],
        null
      ])
      const bad = yield* Effect.either(
        GuardrailsConfig.config.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AIRLOCK_APPROVAL_RISK_THRESHOLD", "1.5"]])))
        )
      )
      expect(bad._tag).toBe("Left")
      const badMoney = yield* Effect.either(
        GuardrailsConfig.config.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AIRLOCK_LLM_GLOBAL_CAP_USD", "1.0000001"]])))
        )
      )
      expect(badMoney._tag).toBe("Left")
    }))
  it("tenant overrides are read from settings extensions", () => {
    const s = AiSettings.defaultSettings(Ids.TenantId.make("t"), 0, "x")
    const withCap = new AiSettings.AiSettings({
      ...s,
      extensions: { [GuardrailsConfig.TenantKeys.llmTenantCapUsd]: 100 }
    })
    expect(GuardrailsConfig.tenantDecimal(withCap, GuardrailsConfig.TenantKeys.llmTenantCapUsd)).toBe("100")
    expect(GuardrailsConfig.tenantDecimal(s, GuardrailsConfig.TenantKeys.llmTenantCapUsd)).toBe(null)
  })
})

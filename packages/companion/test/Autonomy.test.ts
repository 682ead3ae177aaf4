/** The autonomy rule and the named settings' defaults, as pure facts. */
import { Autonomy, CompanionSettings } from "@airlock/companion"
import { AiSettings, Ids } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"

const base: Autonomy.Levels = {
  ai_enabled: true,
  kill_switch: false,
  ai_mode: "suggest_only",
  autopost_enabled: false,
  autopost_threshold: 0.9,
  coldstart_min_labels: 3,
  target_precision: 0.95,
  certification_delta: 0.05,
  spot_check_rate: 0.05,
  value_breaker_threshold: "5000.00",
  llm_tenant_cap_micros: 50_000_000n,
  approval_risk_threshold: 0.7
}

const fields = (after: Partial<Autonomy.Levels>, before: Partial<Autonomy.Levels> = {}) =>
  Autonomy.raises({ ...base, ...before }, { ...base, ...before, ...after }).map((r) => r.field)

describe("Autonomy.raises", () => {
  it("modes: up to drafts or autopilot_limited raises; shadow → suggest and any move down do not", () => {
    expect(fields({ ai_mode: "drafts" })).toStrictEqual(["ai_mode"])
    expect(fields({ ai_mode: "autopilot_limited" }, { ai_mode: "drafts" })).toStrictEqual(["ai_mode"])
    expect(fields({ ai_mode: "suggest_only" }, { ai_mode: "shadow_only" })).toStrictEqual([])
    expect(fields({ ai_mode: "shadow_only" }, { ai_mode: "autopilot_limited" })).toStrictEqual([])
  })
  it("each field in its raising direction, and not in the other", () => {
    expect(fields({ autopost_enabled: true })).toStrictEqual(["autopost_enabled"])
    expect(fields({ autopost_enabled: false }, { autopost_enabled: true })).toStrictEqual([])
    expect(fields({ autopost_threshold: 0.85 })).toStrictEqual(["autopost_threshold"])
    expect(fields({ autopost_threshold: 0.95 })).toStrictEqual([])
    expect(fields({ coldstart_min_labels: 2 })).toStrictEqual(["coldstart_min_labels"])
    expect(fields({ target_precision: 0.9 })).toStrictEqual(["target_precision"])
    expect(fields({ certification_delta: 0.1 })).toStrictEqual(["certification_delta"])
    expect(fields({ certification_delta: 0.01 })).toStrictEqual([])
    expect(fields({ spot_check_rate: 0 })).toStrictEqual(["spot_check_rate"])
    expect(fields({ llm_tenant_cap_micros: 50_000_001n })).toStrictEqual(["llm_tenant_cap_usd"])
    expect(fields({ approval_risk_threshold: 0.8 })).toStrictEqual(["approval_risk_threshold"])
    expect(fields({ kill_switch: true })).toStrictEqual([])
    expect(fields({ kill_switch: false }, { kill_switch: true })).toStrictEqual(["kill_switch"])
    expect(fields({ ai_enabled: true }, { ai_enabled: false })).toStrictEqual(["ai_enabled"])
  })
  it("value breaker thresholds compare exactly; off is the most permissive", () => {
    expect(fields({ value_breaker_threshold: "5000.01" })).toStrictEqual(["value_breaker_threshold"])
    expect(fields({ value_breaker_threshold: "5000" })).toStrictEqual([])
    expect(fields({ value_breaker_threshold: "4999.999999" })).toStrictEqual([])
    expect(fields({ value_breaker_threshold: null })).toStrictEqual(["value_breaker_threshold"])
    expect(fields({ value_breaker_threshold: "1" }, { value_breaker_threshold: null })).toStrictEqual([])
    expect(Autonomy.compareDecimal("10.5", "10.50")).toBe(0)
    expect(Autonomy.compareDecimal("x", "1")).toBeNull()
  })
})

describe("CompanionSettings.fromAiSettings", () => {
  const settings = (extensions: Record<string, unknown>) =>
    new AiSettings.AiSettings({
      ...AiSettings.defaultSettings(Ids.TenantId.make("t"), 0, "system"),
      extensions
    })
  it("defaults for a new tenant: auto-post off, 0.90, 3, 0.95, 0.05, 0.05, no guardrails overrides", () => {
    expect(CompanionSettings.fromAiSettings(settings({}))).toMatchObject({
      ai_mode: "shadow_only",
      autopost_enabled: false,
      autopost_threshold: 0.9,
      coldstart_min_labels: 3,
      target_precision: 0.95,
      certification_delta: 0.05,
      spot_check_rate: 0.05,
      value_breaker_threshold: null,
      llm_tenant_cap_usd: null,
      approval_risk_threshold: null
    })
  })
  it("reads stored values; invalid ones fall back to their defaults", () => {
    const s = CompanionSettings.fromAiSettings(settings({
      "companion.autopost_enabled": true,
      "companion.autopost_threshold": 0.92,
      "companion.coldstart_min_labels": 5,
      "guardrails.value_breaker_threshold": "2500.00",
      "guardrails.llm_tenant_cap_usd": 100,
      "companion.spot_check_rate": 7
    }))
    expect(s).toMatchObject({
      autopost_enabled: true,
      autopost_threshold: 0.92,
      coldstart_min_labels: 5,
      value_breaker_threshold: "2500.00",
      llm_tenant_cap_usd: "100",
      spot_check_rate: 0.05
    })
  })
  it("a named update becomes core's patch; a key given twice is refused", () => {
    expect(
      CompanionSettings.toCorePatch({ ai_mode: "drafts", autopost_threshold: 0.95, value_breaker_threshold: null })
    )
      .toStrictEqual(Either.right({
        ai_mode: "drafts",
        extensions: { "companion.autopost_threshold": 0.95, "guardrails.value_breaker_threshold": null }
      }))
    const twice = CompanionSettings.toCorePatch({
      autopost_enabled: true,
      extensions: { "companion.autopost_enabled": false }
    })
    expect(Either.isLeft(twice) && twice.left.code).toBe("validation.companion_setting")
  })
})

describe("Autonomy.raises: velocity and trust breaker settings", () => {
  const breakers: Partial<Autonomy.Levels> = {
    velocity_max_per_minute: 30,
    velocity_cooldown_seconds: 300,
    trust_rejection_rate: 0.5,
    trust_min_sample: 20,
    trust_window_seconds: 604_800,
    trust_downgrade_to: "suggest_only"
  }
  const raised = (after: Partial<Autonomy.Levels>) => fields(after, breakers)

  it("a breaker that trips later or closes sooner raises; the other direction takes effect at once", () => {
    expect(raised({ velocity_max_per_minute: 31 })).toStrictEqual(["velocity_max_per_minute"])
    expect(raised({ velocity_max_per_minute: 29 })).toStrictEqual([])
    expect(raised({ velocity_cooldown_seconds: 299 })).toStrictEqual(["velocity_cooldown_seconds"])
    expect(raised({ velocity_cooldown_seconds: 600 })).toStrictEqual([])
    expect(raised({ trust_rejection_rate: 0.6 })).toStrictEqual(["trust_rejection_rate"])
    expect(raised({ trust_rejection_rate: 0.4 })).toStrictEqual([])
    expect(raised({ trust_min_sample: 21 })).toStrictEqual(["trust_min_sample"])
    expect(raised({ trust_min_sample: 5 })).toStrictEqual([])
    expect(raised({ trust_downgrade_to: "drafts" })).toStrictEqual(["trust_downgrade_to"])
    expect(raised({ trust_downgrade_to: "autopilot_limited" })).toStrictEqual(["trust_downgrade_to"])
    expect(raised({ trust_downgrade_to: "shadow_only" })).toStrictEqual([])
    expect(raised({ ...breakers })).toStrictEqual([])
  })

  it("any change of the trust window raises (neither direction is safe); the values are reported", () => {
    expect(raised({ trust_window_seconds: 86_400 })).toStrictEqual(["trust_window_seconds"])
    expect(raised({ trust_window_seconds: 30 * 86_400 })).toStrictEqual(["trust_window_seconds"])
    expect(
      Autonomy.raises({ ...base, ...breakers }, { ...base, ...breakers, velocity_max_per_minute: 100 })
    ).toStrictEqual([{ field: "velocity_max_per_minute", from: 30, to: 100 }])
  })

  it("levels stored before the breaker settings were recorded are not compared on them", () => {
    // `base` carries no breaker fields: a change recorded before them
    expect(Autonomy.raises(base, { ...base, ...breakers, velocity_max_per_minute: 10_000 })).toStrictEqual([])
    expect(Autonomy.raises({ ...base, ...breakers }, base)).toStrictEqual([])
  })
})

describe("CompanionSettings.ChangePayload", () => {
  it("a change stored before the breaker settings were recorded still decodes, without them", () => {
    const base = {
      ai_enabled: true,
      kill_switch: false,
      ai_mode: "suggest_only",
      autopost_enabled: false,
      autopost_threshold: 0.9,
      coldstart_min_labels: 3,
      target_precision: 0.95,
      certification_delta: 0.05,
      spot_check_rate: 0.05,
      value_breaker_threshold: "5000.00",
      llm_tenant_cap_micros: "50000000",
      approval_risk_threshold: 0.7
    }
    const old = Schema.decodeUnknownEither(CompanionSettings.ChangePayload)({ patch: {}, raises: [], base })
    expect(Either.isRight(old) && old.right.base).toStrictEqual({ ...base, llm_tenant_cap_micros: 50_000_000n })
    const now = Schema.decodeUnknownEither(CompanionSettings.ChangePayload)({
      patch: {},
      raises: [],
      base: { ...base, velocity_max_per_minute: 30, trust_downgrade_to: "suggest_only" }
    })
    expect(Either.isRight(now) && now.right.base).toMatchObject({ velocity_max_per_minute: 30 })
  })
})

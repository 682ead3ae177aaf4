/** Reading, checking and merging a tenant's feature flags, and which flags raise autonomy, as pure facts. */
import { Autonomy, CompanionSettings, TenantFeatures, TenantTemplates } from "@airlock/companion"
import { AiSettings, Ids } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"

const { allOn, KEY } = TenantFeatures
const settingsWith = (extensions: Record<string, unknown>) =>
  new AiSettings.AiSettings({ ...AiSettings.defaultSettings(Ids.TenantId.make("t1"), 0, "system"), extensions })

describe("TenantFeatures", () => {
  it("nothing stored: every feature on; the templates store theirs under the same key", () => {
    expect(TenantFeatures.resolve({ extensions: {} })).toStrictEqual({
      features: allOn,
      source: "default",
      problems: []
    })
    expect(TenantTemplates.TemplateKeys.features).toBe(KEY)
    expect(TenantTemplates.extensionsOf(TenantTemplates.pro)[KEY]).toStrictEqual(allOn)
  })

  it("stored flags are taken; a missing one is on; malformed values read as on and are reported", () => {
    expect(TenantFeatures.of({ extensions: { [KEY]: { calibration: false } } })).toStrictEqual({
      ...allOn,
      calibration: false
    })
    const bad = TenantFeatures.resolve({ extensions: { [KEY]: { llm_fallback: "no", drift_detection: false, x: 1 } } })
    expect(bad.features).toStrictEqual({ ...allOn, drift_detection: false })
    expect(bad.problems).toStrictEqual([
      "companion.features.llm_fallback is not a boolean: it reads as on",
      "companion.features.x is not a known feature: ignored"
    ])
    for (const junk of [null, "off", [false], 0]) {
      const r = TenantFeatures.resolve({ extensions: { [KEY]: junk } })
      expect(r.features).toStrictEqual(allOn)
      expect(r.problems.length).toBe(1)
    }
  })

  it.effect("current logs one warning naming the tenant for a malformed value, none otherwise", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({ level: logLevel.label, message, annotations: Object.fromEntries(annotations) })
      })
      const run = <A>(e: Effect.Effect<A>) => Effect.provide(e, Logger.replace(Logger.defaultLogger, logger))
      expect(yield* run(TenantFeatures.current(settingsWith({ [KEY]: { ml_classifier: false } })))).toStrictEqual({
        ...allOn,
        ml_classifier: false
      })
      expect(yield* run(TenantFeatures.current(undefined))).toStrictEqual(allOn)
      expect(logs).toStrictEqual([])
      expect(yield* run(TenantFeatures.current(settingsWith({ [KEY]: "yes" })))).toStrictEqual(allOn)
      expect(logs.map((l) => [l.level, l.annotations.tenant_id])).toStrictEqual([["WARN", "t1"]])
    }))

  it("check refuses what the settings service must not store", () => {
    expect(TenantFeatures.check({ ml_classifier: false })).toBeNull()
    expect(TenantFeatures.check({ ...allOn })).toBeNull()
    expect(TenantFeatures.check({ ml_classifier: "false" })).toBe("ml_classifier must be true or false")
    expect(TenantFeatures.check({ telepathy: true })).toMatch(/^telepathy is not a known feature/)
    expect(TenantFeatures.check([true])).toBe("must be an object of feature flags")
  })

  it("a named change merges into the effective flags; null removes them", () => {
    const before = settingsWith({ [KEY]: { ...allOn, llm_fallback: false } })
    expect(CompanionSettings.withFeatures({}, before, { drift_detection: false })).toStrictEqual({
      extensions: { [KEY]: { ...allOn, llm_fallback: false, drift_detection: false } }
    })
    expect(CompanionSettings.withFeatures({ ai_mode: "drafts" }, before, null)).toStrictEqual({
      ai_mode: "drafts",
      extensions: { [KEY]: null }
    })
    expect(CompanionSettings.withFeatures({}, before, undefined)).toStrictEqual({})
    expect(CompanionSettings.fromAiSettings(before).features).toStrictEqual({ ...allOn, llm_fallback: false })
  })

  it("turning ml_classifier, llm_fallback or calibration on raises autonomy; the others and turning off do not", () => {
    const levels = (features: TenantFeatures.Features): Autonomy.Levels => ({
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
      approval_risk_threshold: 0.7,
      features
    })
    const allOff = Object.fromEntries(TenantFeatures.FEATURES.map((f) => [f, false])) as TenantFeatures.Features
    expect(Autonomy.raises(levels(allOff), levels(allOn)).map((r) => r.field)).toStrictEqual([
      "features.ml_classifier",
      "features.llm_fallback",
      "features.calibration"
    ])
    expect(Autonomy.raises(levels(allOn), levels(allOff))).toStrictEqual([])
    // levels stored before the flags were recorded are not compared
    const { features: _, ...old } = levels(allOff)
    expect(Autonomy.raises(old, levels(allOn))).toStrictEqual([])
  })
})

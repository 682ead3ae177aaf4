import { AiSettings, Ids } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as CompanionSettings from "../src/CompanionSettings.js"
import * as TenantTemplates from "../src/TenantTemplates.js"

const settingsOf = (extensions: Record<string, unknown>) =>
  new AiSettings.AiSettings({
    ...AiSettings.defaultSettings(Ids.TenantId.make("t1"), 0, "system"),
    extensions
  }, true)

describe("TenantTemplates: target precision", () => {
  it("the shipped templates keep the default target; their extensions carry no target_precision", () => {
    for (const t of TenantTemplates.builtIn) {
      expect(t.target_precision).toBeUndefined()
      const ext = TenantTemplates.extensionsOf(t)
      expect(Object.hasOwn(ext, CompanionSettings.Keys.target_precision)).toBe(false)
      expect(CompanionSettings.fromAiSettings(settingsOf(ext)).target_precision).toBe(0.95)
    }
  })

  it.effect("a host template may raise it: written by extensionsOf, read back as the tenant's setting", () =>
    Effect.gen(function*() {
      const registry = yield* TenantTemplates.make([{ ...TenantTemplates.firm, name: "audit", target_precision: 0.99 }])
      const audit = yield* registry.get("audit")
      expect(audit.target_precision).toBe(0.99)
      const ext = TenantTemplates.extensionsOf(audit)
      expect(ext[CompanionSettings.Keys.target_precision]).toBe(0.99)
      expect(CompanionSettings.fromAiSettings(settingsOf(ext)).target_precision).toBe(0.99)
      // the rest of the template's settings are unchanged by it
      expect(ext[CompanionSettings.Keys.autopost_threshold]).toBe(0.92)
    }))

  it("a template may not lower it, nor set it out of range (tenant.template_invalid)", () => {
    for (const target_precision of [0.9, 0.5, 1, "0.99"]) {
      const r = TenantTemplates.validate({ ...TenantTemplates.pro, name: "lax", target_precision })
      expect(Either.isLeft(r) && r.left.code).toBe("tenant.template_invalid")
    }
    const lowered = TenantTemplates.validate({ ...TenantTemplates.pro, name: "lax", target_precision: 0.9 })
    expect(Either.isLeft(lowered) && lowered.left.message).toContain("may raise target_precision")
    expect(Either.isRight(TenantTemplates.validate({ ...TenantTemplates.pro, name: "strict", target_precision: 0.95 })))
      .toBe(true)
  })
})

import { assert, describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const path = "/api/v1/companion/settings"

layer(H.layer(), { excludeTestServices: true })("companion settings", (it) => {
  it.effect("GET returns the tenant's settings to every role of the tenant", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      for (const token of [H.tokens.admin, H.tokens.owner, H.tokens.bookkeeper, H.tokens.viewer, H.tokens.agent]) {
        const settings = yield* s.client(token).companion.getSettings()
        expect(settings).toMatchObject({
          tenant_id: "default",
          ai_enabled: true,
          kill_switch: false,
          extensions: {},
          autopost_enabled: false,
          autopost_threshold: 0.9,
          coldstart_min_labels: 3
        })
      }
      const raw = yield* s.raw(path, { headers: H.auth(H.tokens.viewer) })
      expect(raw.status).toBe(200)
      expect(Object.keys(raw.json).sort()).toStrictEqual(
        [
          "ai_enabled",
          "ai_mode",
          "approval_risk_threshold",
          "autonomy_approval_required",
          "autopost_enabled",
          "autopost_threshold",
          "certification_delta",
          "coldstart_min_labels",
          "effective",
          "extensions",
          "features",
          "kill_switch",
          "llm_tenant_cap_usd",
          "spot_check_rate",
          "target_precision",
          "tenant_id",
          "trust_downgrade_to",
          "trust_min_sample",
          "trust_rejection_rate",
          "trust_window_seconds",
          "updated_at",
          "updated_by",
          "value_breaker_threshold",
          "velocity_cooldown_seconds",
          "velocity_max_per_minute"
        ]
      )
      expect(raw.json.updated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    }))

  it.effect("PUT changes only the given fields, persists them and audits before/after", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const auditBefore = yield* H.auditCount("default")
      const updated = yield* s.client(H.tokens.owner).companion.updateSettings({
        payload: { ai_mode: "drafts", extensions: { "guardrails.value_breaker": { threshold: "5000.00" } } }
      })
      expect(updated).toMatchObject({ ai_mode: "drafts", ai_enabled: true, kill_switch: false, updated_by: "owner" })
      expect(yield* H.settingsRow("default")).toMatchObject({
        ai_mode: "drafts",
        extensions: { "guardrails.value_breaker": { threshold: "5000.00" } }
      })
      expect(yield* H.auditCount("default")).toBe(auditBefore + 1)
      const page = yield* s.client(H.tokens.admin).admin.audit({ urlParams: { after_seq: auditBefore } })
      expect(page.records[0]).toMatchObject({
        action: "settings.updated",
        actor_id: "owner",
        data: { before: { ai_mode: "suggest_only" }, after: { ai_mode: "drafts" } }
      })
      // the runbook's kill switch, then a null removes an extension key
      const raw = yield* s.raw(
        path,
        H.json("PUT", H.tokens.owner, { kill_switch: true, extensions: { "guardrails.value_breaker": null } })
      )
      expect(raw.status).toBe(200)
      expect(raw.json).toMatchObject({ kill_switch: true, extensions: {}, ai_mode: "drafts" })
      expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 1, extensions: {} })
      yield* s.client(H.tokens.owner).companion.updateSettings({
        payload: { kill_switch: false, ai_mode: "suggest_only" }
      })
    }))

  it.effect("PUT needs companion.settings.manage: 403 rbac.forbidden, nothing written", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* H.settingsRow("default")
      const audit = yield* H.auditCount("default")
      for (const token of [H.tokens.viewer, H.tokens.agent, H.tokens.bookkeeper]) {
        const e = yield* Effect.flip(
          s.client(token).companion.updateSettings({ payload: { ai_mode: "autopilot_limited" } })
        )
        assert(e._tag === "Forbidden")
        expect(e.code).toBe("rbac.forbidden")
        const raw = yield* s.raw(path, H.json("PUT", token, { ai_mode: "autopilot_limited" }))
        expect(H.expectError(raw, 403, "rbac.forbidden").details).toMatchObject({
          permission: "companion.settings.manage"
        })
      }
      expect(yield* H.settingsRow("default")).toStrictEqual(before)
      expect(yield* H.auditCount("default")).toBe(audit)
    }))

  it.effect("PUT refuses bad input with 400 and stable codes, nothing written", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* H.settingsRow("default")
      const audit = yield* H.auditCount("default")
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ ai_mode: "yolo" }, "validation.schema"],
        [{ ai_enabled: "yes" }, "validation.schema"],
        [{ ai_mod: "drafts" }, "validation.schema"],
        [{}, "validation.empty_update"],
        [[], "validation.schema"],
        [null, "validation.schema"],
        [{ extensions: "x" }, "validation.schema"],
        [{ extensions: { ["k".repeat(201)]: 1 } }, "validation.schema"]
      ]
      for (const [body, code] of cases) {
        const raw = yield* s.raw(path, H.json("PUT", H.tokens.owner, body))
        const error = H.expectError(raw, 400, code)
        expect(error.details).toHaveProperty("issues")
      }
      // the typed client checks the same schema before sending
      const typed = yield* Effect.flip(s.client(H.tokens.owner).companion.updateSettings({ payload: {} }))
      expect(typed._tag).toBe("ParseError")
      expect(yield* H.settingsRow("default")).toStrictEqual(before)
      expect(yield* H.auditCount("default")).toBe(audit)
    }))
})

describe("tenant isolation", () => {
  layer(H.layer(), { excludeTestServices: true })("", (it) => {
    it.effect("a token only ever sees and changes its own tenant", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* s.client(H.tokens.acmeOwner).companion.updateSettings({
          payload: { ai_mode: "drafts", extensions: { secret: "acme" } }
        })
        const fromDefault = yield* s.client(H.tokens.owner).companion.getSettings()
        expect(fromDefault.tenant_id).toBe("default")
        expect(fromDefault.extensions).toStrictEqual({})
        // naming the other tenant does not help a non-admin
        const asked = yield* s.raw(path, { headers: H.auth(H.tokens.owner, { "x-tenant": "acme" }) })
        expect(H.expectError(asked, 403, "tenant.mismatch").message).toContain("X-Tenant")
        const write = yield* s.raw(
          path,
          H.json("PUT", H.tokens.viewer, { ai_mode: "shadow_only" }, { "x-tenant": "acme" })
        )
        H.expectError(write, 403, "tenant.mismatch")
        const acme = yield* s.client(H.tokens.acmeViewer).companion.getSettings()
        expect(acme).toMatchObject({ tenant_id: "acme", ai_mode: "drafts", extensions: { secret: "acme" } })
        // the audit log of one tenant holds none of the other's records
        const audit = yield* s.client(H.tokens.admin).admin.audit({ urlParams: { limit: 1000 } })
        expect(audit.tenant_id).toBe("default")
        expect(JSON.stringify(audit.records)).not.toContain("acme")
        // an admin of another tenant acting on default through X-Tenant is allowed (tenant.cross)
        const cross = yield* s.client(H.tokens.acmeAdmin, "default").companion.getSettings()
        expect(cross.tenant_id).toBe("default")
        expect(yield* H.settingsRow("acme")).toMatchObject({ ai_mode: "drafts" })
      }))
  })
})

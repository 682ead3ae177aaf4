/**
 * The tenant's feature flags in the named settings, through HTTP on SQLite: served as `features`
 * (all on for the development tenant, which has none stored), turned off at once by a person with
 * `companion.settings.manage`, turned back on (for the raising flags) only through a settings
 * change a second person approves, validated, and stored whole under `companion.features`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const settings = "/api/v1/companion/settings"
const changes = "/api/v1/companion/settings/changes"

const allOn = {
  ml_classifier: true,
  llm_fallback: true,
  auto_rule_promotion: true,
  drift_detection: true,
  calibration: true
}

describe("companion feature flags over HTTP", () => {
  layer(H.layer({ storage: "sqlite", autonomyApproval: true }), { excludeTestServices: true })("sqlite", (it) => {
    it.effect("features: served, lowered at once, raised only with a second person's approval", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const get = yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })
        expect(get.status).toBe(200)
        expect(get.json.features).toStrictEqual(allOn)
        expect((yield* H.settingsRow("default"))!.extensions["companion.features"]).toBeUndefined()

        // a viewer may not change them; nothing written
        H.expectError(
          yield* s.raw(settings, H.json("PUT", H.tokens.viewer, { features: { llm_fallback: false } })),
          403,
          "rbac.forbidden"
        )
        // turning two off: immediate, the other flags kept, stored whole
        const off = yield* s.raw(
          settings,
          H.json("PUT", H.tokens.owner, { features: { llm_fallback: false, drift_detection: false } })
        )
        expect(off.status).toBe(200)
        expect(off.json.features).toStrictEqual({ ...allOn, llm_fallback: false, drift_detection: false })
        expect((yield* H.settingsRow("default"))!.extensions["companion.features"]).toStrictEqual({
          ...allOn,
          llm_fallback: false,
          drift_detection: false
        })
        expect((yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })).json.features).toStrictEqual({
          ...allOn,
          llm_fallback: false,
          drift_detection: false
        })

        // drift detection back on only adds questions: not a raise, immediate
        const drift = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { features: { drift_detection: true } }))
        expect(drift.status).toBe(200)
        expect(drift.json.features).toStrictEqual({ ...allOn, llm_fallback: false })

        // the model stage back on is a raise: PUT refuses it and writes nothing
        const before = yield* H.settingsRow("default")
        const put = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { features: { llm_fallback: true } }))
        expect(H.expectError(put, 403, "companion.settings.approval_required").details).toMatchObject({
          raises: ["features.llm_fallback"]
        })
        expect(yield* H.settingsRow("default")).toStrictEqual(before)

        // requested as a change: pending; the requester cannot approve; a second person can
        const requested = yield* s.raw(changes, H.json("POST", H.tokens.owner, { features: { llm_fallback: true } }))
        expect(requested.status).toBe(202)
        expect(requested.json.change.raises).toStrictEqual([{ field: "features.llm_fallback", from: false, to: true }])
        expect(yield* H.settingsRow("default")).toStrictEqual(before)
        const id: string = requested.json.change_id
        H.expectError(
          yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.owner, {})),
          403,
          "approval.self_approval"
        )
        const approved = yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(approved.status).toBe(200)
        expect(approved.json.settings.features).toStrictEqual(allOn)
        expect((yield* H.settingsRow("default"))!.extensions["companion.features"]).toStrictEqual(allOn)

        // bad values: 400, nothing written
        const now = yield* H.settingsRow("default")
        for (
          const [body, code] of [
            [{ features: { llm_fallback: "no" } }, "validation.schema"],
            [{ features: { telepathy: false } }, "validation.schema"],
            [{ extensions: { "companion.features": { ml_classifier: 1 } } }, "validation.companion_setting"],
            [{ extensions: { "companion.features": [false] } }, "validation.companion_setting"],
            [
              { features: { calibration: false }, extensions: { "companion.features": { calibration: false } } },
              "validation.companion_setting"
            ]
          ] as const
        ) {
          H.expectError(yield* s.raw(settings, H.json("PUT", H.tokens.owner, body)), 400, code)
        }
        expect(yield* H.settingsRow("default")).toStrictEqual(now)
      }))

    it.effect("an approved change never undoes a flag turned off after it was requested", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, { features: { calibration: false } }))
        const requested = yield* s.raw(changes, H.json("POST", H.tokens.owner, { features: { calibration: true } }))
        expect(requested.status).toBe(202)
        // meanwhile someone turns rule promotion off (immediate)
        const off = yield* s.raw(settings, H.json("PUT", H.tokens.admin, { features: { auto_rule_promotion: false } }))
        expect(off.json.features).toStrictEqual({ ...allOn, calibration: false, auto_rule_promotion: false })
        const stale = yield* s.raw(`${changes}/${requested.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(H.expectError(stale, 409, "companion.settings.stale").details).toMatchObject({
          lowered_since: ["features"]
        })
        expect((yield* H.settingsRow("default"))!.extensions["companion.features"]).toStrictEqual({
          ...allOn,
          calibration: false,
          auto_rule_promotion: false
        })
      }))
  })
})

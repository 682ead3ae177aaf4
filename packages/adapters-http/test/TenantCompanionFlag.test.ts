/**
 * The tenant's companion feature flag (the companion runbook's second switch) over HTTP on SQLite
 * and PostgreSQL: `PUT /api/v1/tenants/{tenant}/companion` needs `tenant.admin`, is audited, and
 * off it turns propose into 403 `companion.disabled` naming the `tenant` layer; health shows it.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const flag = "/api/v1/tenants/default/companion"

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage }), { excludeTestServices: true, timeout: 90_000 })(storage, (it) => {
    it.effect("the owner turns the tenant's companion flag off and on; off, propose is 403 companion.disabled", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const propose = () => s.raw("/api/v1/companion/proposals", H.json("POST", H.tokens.agent, {}))
        expect((yield* propose()).status).toBe(200)
        const audits = yield* H.auditCount("default")

        // a bookkeeper or the agent may not; a bad body is 400; nothing changes
        H.expectError(
          yield* s.raw(flag, H.json("PUT", H.tokens.bookkeeper, { ai_companion_enabled: false })),
          403,
          "rbac.forbidden"
        )
        H.expectError(
          yield* s.raw(flag, H.json("PUT", H.tokens.agent, { ai_companion_enabled: false })),
          403,
          "rbac.forbidden"
        )
        H.expectError(
          yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: "no" })),
          400,
          "validation.schema"
        )
        // another tenant's flag is not the owner's to change
        H.expectError(
          yield* s.raw(
            "/api/v1/tenants/acme/companion",
            H.json("PUT", H.tokens.owner, { ai_companion_enabled: false })
          ),
          403,
          "tenant.mismatch"
        )
        expect(yield* H.auditCount("default")).toBe(audits)
        expect((yield* propose()).status).toBe(200)

        const off = yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: false }))
        expect(off.status, off.text).toBe(200)
        expect(off.json).toStrictEqual({ tenant_id: "default", ai_companion_enabled: false })
        expect(yield* H.auditCount("default")).toBe(audits + 1)
        const refused = H.expectError(yield* propose(), 403, "companion.disabled")
        expect(refused.details).toMatchObject({ layer: "tenant" })
        const health = yield* s.raw("/api/v1/tenants/default/health", { headers: H.auth(H.tokens.owner) })
        expect(health.json.switches).toMatchObject({ companion_enabled: false, effective: { enabled: false } })

        const on = yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: true }))
        expect(on.json).toStrictEqual({ tenant_id: "default", ai_companion_enabled: true })
        expect((yield* propose()).status).toBe(200)
        expect(yield* H.auditCount("default")).toBe(audits + 2)
      }))
  })

describe("tenant companion flag", () => {
  suite("sqlite")
  suite("postgres")
})

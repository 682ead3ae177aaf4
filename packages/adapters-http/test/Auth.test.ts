import { ApiToken, Ids } from "@airlock/core"
import { assert, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const settings = "/api/v1/companion/settings"
const status = "/api/v1/system/status"

layer(H.layer(), { excludeTestServices: true })("bearer auth", (it) => {
  it.effect("missing, malformed and unknown tokens are 401 auth.unauthorized", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const cases: ReadonlyArray<Record<string, string>> = [
        {},
        { authorization: "" },
        { authorization: "Bearer" },
        { authorization: "Bearer " },
        { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
        { authorization: `Token ${H.tokens.admin}` },
        { authorization: `Bearer ${H.tokens.admin} extra` },
        { authorization: "Bearer nope_not_a_token" },
        { authorization: `Bearer ${"x".repeat(600)}` },
        { authorization: `Bearer ${H.tokens.admin.slice(0, -1)}` }
      ]
      for (const headers of cases) {
        for (const path of [settings, status, "/api/admin/status"]) {
          H.expectError(yield* s.raw(path, { headers }), 401, "auth.unauthorized")
        }
      }
      const typed = yield* Effect.flip(s.client("nope_not_a_token").system.status())
      assert(typed._tag === "Unauthorized")
      expect(typed.code).toBe("auth.unauthorized")
      // the scheme is case-insensitive, as RFC 7235 says
      expect((yield* s.raw(settings, { headers: { authorization: `bearer ${H.tokens.viewer}` } })).status).toBe(200)
    }))

  it.effect("a revoked or expired token stops working at once", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const tokens = yield* ApiToken.ApiTokens
      const issued = yield* tokens.issue({
        tenant_id: Ids.TenantId.make("default"),
        actor_id: Ids.ActorId.make("viewer"),
        name: "temp"
      })
      expect((yield* s.raw(settings, { headers: H.auth(issued.token) })).status).toBe(200)
      yield* tokens.revoke(issued.record.id)
      expect(H.expectError(yield* s.raw(settings, { headers: H.auth(issued.token) }), 401, "auth.unauthorized").message)
        .toBe("Token revoked")
      const expired = yield* tokens.issue({
        tenant_id: Ids.TenantId.make("default"),
        actor_id: Ids.ActorId.make("viewer"),
        name: "expired",
        expires_at: Date.now() - 1000
      })
      expect(
        H.expectError(yield* s.raw(settings, { headers: H.auth(expired.token) }), 401, "auth.unauthorized").message
      ).toBe("Token expired")
    }))

  it.effect("X-Tenant: admins act on another tenant, others get 403, bad ids 400, unknown tenants 404", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const cross = yield* s.raw(settings, { headers: H.auth(H.tokens.admin, { "x-tenant": "acme" }) })
      expect(cross.status).toBe(200)
      expect(cross.json.tenant_id).toBe("acme")
      const own = yield* s.raw(settings, { headers: H.auth(H.tokens.viewer, { "x-tenant": "default" }) })
      expect(own.json.tenant_id).toBe("default")
      H.expectError(
        yield* s.raw(settings, { headers: H.auth(H.tokens.viewer, { "x-tenant": "acme" }) }),
        403,
        "tenant.mismatch"
      )
      H.expectError(
        yield* s.raw(settings, { headers: H.auth(H.tokens.agent, { "x-tenant": "acme" }) }),
        403,
        "tenant.mismatch"
      )
      for (const bad of ["../etc", "a b", "' OR 1=1 --", "default, acme", "x".repeat(129), "-lead"]) {
        H.expectError(
          yield* s.raw(settings, { headers: H.auth(H.tokens.admin, { "x-tenant": bad }) }),
          400,
          "validation.tenant_header"
        )
      }
      const unknown = yield* s.raw(settings, { headers: H.auth(H.tokens.admin, { "x-tenant": "nobody" }) })
      expect(H.expectError(unknown, 404, "not_found").details).toMatchObject({ entity: "tenant" })
      // the status route reports the acting tenant too
      expect((yield* s.client(H.tokens.admin, "acme").system.status()).tenant_id).toBe("acme")
    }))
})

layer(H.layer({ http: { tenantStrict: true } }), { excludeTestServices: true })("strict tenant mode", (it) => {
  it.effect("tenant-scoped routes need X-Tenant (400 tenant.missing); a foreign one is 403", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* H.settingsRow("default")
      const missing = yield* s.raw(settings, { headers: H.auth(H.tokens.admin) })
      expect(H.expectError(missing, 400, "tenant.missing").message).toContain("X-Tenant")
      H.expectError(yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_mode: "drafts" })), 400, "tenant.missing")
      H.expectError(yield* s.raw("/api/admin/audit", { headers: H.auth(H.tokens.admin) }), 400, "tenant.missing")
      const typed = yield* Effect.flip(s.client(H.tokens.viewer).companion.getSettings())
      assert(typed._tag === "TenantMissing")
      // the runbook's fix: send X-Tenant
      expect((yield* s.raw(settings, { headers: H.auth(H.tokens.viewer, { "x-tenant": "default" }) })).status).toBe(200)
      expect((yield* s.client(H.tokens.viewer, "default").companion.getSettings()).tenant_id).toBe("default")
      H.expectError(
        yield* s.raw(settings, { headers: H.auth(H.tokens.viewer, { "x-tenant": "acme" }) }),
        403,
        "tenant.mismatch"
      )
      // routes that are not about one tenant's data do not need it
      expect((yield* s.raw(status, { headers: H.auth(H.tokens.viewer) })).status).toBe(200)
      expect((yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin) })).json.tenant_strict).toBe(true)
      expect((yield* s.raw("/healthz")).status).toBe(200)
      expect(yield* H.settingsRow("default")).toStrictEqual(before)
    }))
})

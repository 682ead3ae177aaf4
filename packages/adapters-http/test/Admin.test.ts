import { SqlClient } from "@effect/sql"
import { assert, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const aiGlobal = "/api/admin/ai-global"

const globalOverride = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`SELECT value FROM core_system_state WHERE key = 'ai.global_enabled'`.pipe(
      Effect.map((r) => (r[0] ? JSON.parse(String(r[0].value)) : null)),
      Effect.orDie
    )
)

layer(H.layer({ http: { adminWriteEnabled: true } }), { excludeTestServices: true })("admin routes", (it) => {
  it.effect("status: admin role only; reports the guards", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const status = yield* s.client(H.tokens.admin).admin.status()
      expect(status).toMatchObject({
        environment: "test",
        admin_write_enabled: true,
        admin_ip_allowlist_enabled: false,
        tenant_strict: false,
        rate_limit_enabled: false,
        max_body_bytes: 1024 * 1024,
        ai_global: { enabled: true, configured: true, override: null }
      })
      for (const token of [H.tokens.owner, H.tokens.bookkeeper, H.tokens.viewer, H.tokens.agent]) {
        const e = H.expectError(yield* s.raw("/api/admin/status", { headers: H.auth(token) }), 403, "rbac.forbidden")
        expect(e.message).toBe("Admin role required")
        const typed = yield* Effect.flip(s.client(token).admin.status())
        assert(typed._tag === "Forbidden")
      }
    }))

  it.effect("ai-global: the operator override of the global kill switch, persisted and seen by status", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const off = yield* s.client(H.tokens.admin).admin.setAiGlobal({ payload: { enabled: false } })
      expect(off).toMatchObject({ enabled: false, configured: true, override: false, updated_by: "admin" })
      expect(yield* globalOverride).toBe(false)
      const status = yield* s.client(H.tokens.viewer).system.status()
      expect(status.companion).toMatchObject({ enabled: false, layer: "global" })
      expect(status.ai_global.enabled).toBe(false)
      H.expectError(yield* s.raw(aiGlobal, H.json("PUT", H.tokens.owner, { enabled: true })), 403, "rbac.forbidden")
      expect(yield* globalOverride).toBe(false)
      H.expectError(yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: "yes" })), 400, "validation.schema")
      H.expectError(
        yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: true, extra: 1 })),
        400,
        "validation.schema"
      )
      const on = yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: true }))
      expect(on.json).toMatchObject({ enabled: true, override: true })
      expect(yield* globalOverride).toBe(true)
    }))

  it.effect("audit: a page of the tenant's log with chain verification; tampering is reported", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      const first = yield* s.client(H.tokens.admin).admin.audit({ urlParams: { limit: 2 } })
      expect(first.records.map((r) => r.seq)).toStrictEqual([1, 2])
      expect(first.next_after_seq).toBe(2)
      expect(first.chain).toMatchObject({ ok: true, first_break: null })
      const all = yield* s.client(H.tokens.admin).admin.audit({
        urlParams: { after_seq: 0, limit: 1000, verify: false }
      })
      expect(all.chain).toBeNull()
      expect(all.next_after_seq).toBeNull()
      expect(all.records.length).toBe(all.records[all.records.length - 1]!.seq)
      const raw = yield* s.raw("/api/admin/audit?limit=1", { headers: H.auth(H.tokens.admin) })
      expect(raw.json.records[0].at).toMatch(/Z$/)
      // another tenant's log through X-Tenant
      const acme = yield* s.client(H.tokens.admin, "acme").admin.audit({ urlParams: {} })
      expect(acme.tenant_id).toBe("acme")
      expect(acme.records.every((r) => r.subject === "acme" || r.subject.startsWith("acme"))).toBe(true)
      // bad paging input is a 400
      for (const q of ["limit=0", "limit=1001", "limit=abc", "after_seq=-1", "after_seq=1.5", "verify=maybe"]) {
        H.expectError(
          yield* s.raw(`/api/admin/audit?${q}`, { headers: H.auth(H.tokens.admin) }),
          400,
          "validation.schema"
        )
      }
      yield* sql`UPDATE core_audit SET data = '{"forged":true}' WHERE tenant_id = 'acme' AND seq = 2`.pipe(Effect.orDie)
      const broken = yield* s.client(H.tokens.admin, "acme").admin.audit({ urlParams: {} })
      expect(broken.chain).toMatchObject({ ok: false, first_break: { seq: 2, reason: "hash_mismatch" } })
    }))
})

layer(H.layer({ http: { adminWriteEnabled: false } }), { excludeTestServices: true })("admin write guard", (it) => {
  it.effect("admin writes are 403 admin.write_disabled while reads work; nothing is written", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const e = H.expectError(
        yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: false })),
        403,
        "admin.write_disabled"
      )
      expect(e.message).toContain("disabled")
      const typed = yield* Effect.flip(s.client(H.tokens.admin).admin.setAiGlobal({ payload: { enabled: false } }))
      assert(typed._tag === "Forbidden")
      expect(typed.code).toBe("admin.write_disabled")
      expect(yield* globalOverride).toBeNull()
      expect((yield* s.client(H.tokens.admin).admin.status()).admin_write_enabled).toBe(false)
      expect((yield* s.client(H.tokens.viewer).system.status()).admin_write_enabled).toBe(false)
      // the guard covers admin routes only: tenant settings stay writable by their managers
      expect((yield* s.raw("/api/v1/companion/settings", H.json("PUT", H.tokens.owner, { ai_enabled: true }))).status)
        .toBe(200)
    }))
})

layer(H.layer({ http: { adminIpAllowlist: ["10.0.0.0/8", "192.0.2.7"] } }), { excludeTestServices: true })(
  "admin IP allowlist",
  (it) => {
    it.effect("an admin outside the allowlist gets 403 'Admin IP not allowed'; X-Forwarded-For is not believed", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        for (const headers of [H.auth(H.tokens.admin), H.auth(H.tokens.admin, { "x-forwarded-for": "10.1.2.3" }), {}]) {
          for (const path of ["/api/admin/status", "/api/admin/audit"]) {
            const e = H.expectError(yield* s.raw(path, { headers }), 403, "admin.ip_denied")
            expect(e.message).toBe("Admin IP not allowed")
          }
        }
        H.expectError(yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: false })), 403, "admin.ip_denied")
        expect(yield* globalOverride).toBeNull()
        // non-admin routes are not affected
        expect((yield* s.raw("/api/v1/system/status", { headers: H.auth(H.tokens.admin) })).status).toBe(200)
        expect((yield* s.client(H.tokens.admin).system.status()).tenant_id).toBe("default")
      }))
  }
)

layer(H.layer({ http: { adminIpAllowlist: ["127.0.0.1"] } }), { excludeTestServices: true })(
  "admin IP allowlist (allowed)",
  (it) => {
    it.effect("an admin from an allowlisted address gets through", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        expect((yield* s.client(H.tokens.admin).admin.status()).admin_ip_allowlist_enabled).toBe(true)
        H.expectError(yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.viewer) }), 403, "rbac.forbidden")
        H.expectError(yield* s.raw("/api/admin/status"), 401, "auth.unauthorized")
      }))
  }
)

layer(
  H.layer({ http: { adminIpAllowlist: ["203.0.113.7"], trustedProxies: ["127.0.0.1"] } }),
  { excludeTestServices: true }
)("admin IP allowlist behind a trusted proxy", (it) => {
  it.effect("the client address comes from X-Forwarded-For only through a trusted proxy", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const via = (xff: string) =>
        s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin, { "x-forwarded-for": xff }) })
      expect((yield* via("203.0.113.7")).status).toBe(200)
      // a spoofed left-most hop is ignored: the right-most untrusted hop is the client
      H.expectError(yield* via("203.0.113.7, 198.51.100.9"), 403, "admin.ip_denied")
      H.expectError(yield* via("not-an-ip"), 403, "admin.ip_denied")
      H.expectError(yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin) }), 403, "admin.ip_denied")
    }))
})

/**
 * The token lifecycle over HTTP: `POST /api/v1/tokens` (the secret shown once), `GET` (paged,
 * never the secret or hash, last use), `DELETE /api/v1/tokens/{id}` (refused at once), expiry;
 * `tenant.admin` on the own tenant, an admin on another tenant through the cross-tenant guards;
 * and the generated guard matrix and bad-input sweep cover the routes.
 */
import { ApiToken } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"
import { declaredRoutes } from "./support/Routes.js"

const tokenRow = (id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`SELECT * FROM core_api_tokens WHERE id = ${id}`.pipe(
      Effect.map((r) => r[0] as Record<string, unknown> | undefined),
      Effect.orDie
    ))

const auditRows = (tenant: string, subject: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT action, actor_id, data FROM core_audit WHERE tenant_id = ${tenant} AND subject = ${subject} ORDER BY seq`
        .pipe(Effect.map((rs) => rs.map((r) => [r.action, r.actor_id, JSON.parse(String(r.data))])), Effect.orDie)
  )

const suite = (storage: H.Storage) =>
  layer(H.layer({ storage, http: { adminWriteEnabled: false } }), { excludeTestServices: true })(storage, (it) => {
    it.effect("create (shown once), use, list (no secret, last use), revoke (refused at once); audited", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { owner, bookkeeper } = H.tokens
        const created = yield* s.raw("/api/v1/tokens", H.json("POST", owner, { actor: "bookkeeper", name: "laptop" }))
        expect(created.status, created.text).toBe(201)
        const secret: string = created.json.token
        expect(secret).toMatch(/^alk_[A-Za-z0-9_-]{43}$/)
        expect(created.json).toMatchObject({
          actor_id: "bookkeeper",
          tenant_id: "default",
          name: "laptop",
          prefix: secret.slice(0, 8),
          last_used_at: null,
          expires_at: null,
          revoked_at: null,
          status: "active"
        })
        const id: string = created.json.id
        // stored hashed, never the plaintext; audited without it
        const row = yield* tokenRow(id)
        expect(row).toBeDefined()
        expect(JSON.stringify(row)).not.toContain(secret)
        expect(row!.hash).toBe(ApiToken.tokenHash(secret))
        expect(yield* auditRows("default", id)).toStrictEqual([[
          "token.created",
          "owner",
          { actor_id: "bookkeeper", name: "laptop", prefix: secret.slice(0, 8), expires_at: null }
        ]])

        // it works, and its use is recorded
        const used = yield* s.raw("/api/v1/companion/settings", { headers: H.auth(secret) })
        expect(used.status).toBe(200)
        expect(Number((yield* tokenRow(id))!.last_used_at)).toBeGreaterThan(0)

        // the listing: prefix, actor, created, last use, expiry, revoked — never the secret or the hash
        const listed = yield* s.raw("/api/v1/tokens", { headers: H.auth(owner) })
        expect(listed.status).toBe(200)
        expect(listed.text).not.toContain(secret)
        expect(listed.text).not.toContain(String(row!.hash))
        const mine = listed.json.items.find((t: any) => t.id === id)
        expect(Object.keys(mine).sort()).toStrictEqual([
          "actor_id",
          "created_at",
          "expires_at",
          "id",
          "last_used_at",
          "name",
          "prefix",
          "revoked_at",
          "status",
          "tenant_id"
        ])
        expect(mine.last_used_at).toMatch(/^\d{4}-\d{2}-\d{2}T/)
        // the seeded tokens of the tenant are listed too (5), none of acme's
        expect(listed.json.items.map((t: any) => t.tenant_id)).toStrictEqual(Array(6).fill("default"))
        const byActor = yield* s.raw("/api/v1/tokens?actor=bookkeeper", { headers: H.auth(owner) })
        expect(byActor.json.items.map((t: any) => t.actor_id)).toStrictEqual(["bookkeeper", "bookkeeper"])

        // revoked: refused at once; revoking again changes nothing
        const revoked = yield* s.raw(`/api/v1/tokens/${id}`, { method: "DELETE", headers: H.auth(owner) })
        expect([revoked.status, revoked.json.status]).toStrictEqual([200, "revoked"])
        H.expectError(yield* s.raw("/api/v1/companion/settings", { headers: H.auth(secret) }), 401, "auth.unauthorized")
        const again = yield* s.raw(`/api/v1/tokens/${id}`, { method: "DELETE", headers: H.auth(owner) })
        expect(again.json.revoked_at).toBe(revoked.json.revoked_at)
        expect(Number((yield* tokenRow(id))!.revoked_at)).toBe(Date.parse(revoked.json.revoked_at))
        expect((yield* auditRows("default", id)).map(([action]) => action)).toStrictEqual([
          "token.created",
          "token.revoked"
        ])
        // the seeded bookkeeper token is untouched
        expect((yield* s.raw("/api/v1/companion/settings", { headers: H.auth(bookkeeper) })).status).toBe(200)
      }))

    it.effect("an expired token is refused; expires_at must be in the future", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const soon = new Date(Date.now() + 1500).toISOString()
        const created = yield* s.raw(
          "/api/v1/tokens",
          H.json("POST", H.tokens.owner, { actor: "viewer", expires_at: soon })
        )
        expect([created.status, created.json.expires_at]).toStrictEqual([201, soon])
        expect((yield* s.raw("/api/v1/companion/settings", { headers: H.auth(created.json.token) })).status).toBe(200)
        yield* Effect.sleep("1600 millis")
        const refused = yield* s.raw("/api/v1/companion/settings", { headers: H.auth(created.json.token) })
        expect(H.expectError(refused, 401, "auth.unauthorized").message).toBe("Token expired")
        const listed = yield* s.raw("/api/v1/tokens?actor=viewer", { headers: H.auth(H.tokens.owner) })
        expect(listed.json.items.find((t: any) => t.id === created.json.id).status).toBe("expired")
        H.expectError(
          yield* s.raw(
            "/api/v1/tokens",
            H.json("POST", H.tokens.owner, { actor: "viewer", expires_at: "2020-01-01T00:00:00Z" })
          ),
          400,
          "validation.token_expiry"
        )
      }))

    it.effect("tenant.admin on the own tenant; an admin on another tenant only through the cross-tenant guards", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { admin, owner, bookkeeper, viewer, acmeOwner } = H.tokens
        const count = Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT COUNT(*) AS n FROM core_api_tokens`.pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
        )
        const before = yield* count
        const post = (token: string, body: unknown, extra: Record<string, string> = {}) =>
          s.raw("/api/v1/tokens", H.json("POST", token, body, extra))
        H.expectError(yield* post(bookkeeper, { actor: "bookkeeper" }), 403, "rbac.forbidden")
        H.expectError(yield* s.raw("/api/v1/tokens", { headers: H.auth(viewer) }), 403, "rbac.forbidden")
        // an owner cannot mint the token of the platform admin living in its tenant
        const escalation = yield* post(owner, { actor: "admin" })
        expect(H.expectError(escalation, 403, "rbac.forbidden").details).toMatchObject({ token_actor_role: "ADMIN" })
        H.expectError(yield* post(acmeOwner, { actor: "owner" }, { "x-tenant": "default" }), 403, "tenant.mismatch")
        H.expectError(yield* post(owner, { actor: "acme_owner" }), 404, "not_found")
        H.expectError(yield* post(owner, { actor: "viewer", token: "mine" }), 400, "validation.schema")
        // an admin creating in acme: a cross-tenant write, refused while admin writes are off (this server)
        H.expectError(yield* post(admin, { actor: "acme_viewer" }, { "x-tenant": "acme" }), 403, "admin.write_disabled")
        H.expectError(yield* post(admin, { actor: "acme_viewer", workspace_id: "acme" }), 403, "admin.write_disabled")
        expect(yield* count).toBe(before)
        // reading another tenant's tokens is allowed to an admin (no IP allowlist here)
        const read = yield* s.raw("/api/v1/tokens", { headers: H.auth(admin, { "x-tenant": "acme" }) })
        expect(read.json.items.map((t: any) => t.actor_id).sort()).toStrictEqual([
          "acme_admin",
          "acme_owner",
          "acme_viewer"
        ])
        // an acme token is not found through default
        const acmeId = read.json.items[0].id
        H.expectError(
          yield* s.raw(`/api/v1/tokens/${acmeId}`, { method: "DELETE", headers: H.auth(owner) }),
          404,
          "not_found"
        )
        H.expectError(
          yield* s.raw(`/api/v1/tokens/${acmeId}`, {
            method: "DELETE",
            headers: H.auth(admin, { "x-tenant": "acme" })
          }),
          403,
          "admin.write_disabled"
        )
        expect((yield* tokenRow(acmeId))!.revoked_at).toBeNull()
      }))

    it.effect("pages with Wire.pageLimit and a token-id cursor", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const get = (query: string) => s.raw(`/api/v1/tokens${query}`, { headers: H.auth(H.tokens.acmeOwner) })
        const all = (yield* get("")).json.items.map((t: any) => t.id)
        expect(all.length).toBeGreaterThanOrEqual(3)
        const first = yield* get("?limit=2")
        expect(first.json.items.map((t: any) => t.id)).toStrictEqual(all.slice(0, 2))
        const rest = yield* get(`?limit=2&cursor=${first.json.next_cursor}`)
        expect(rest.json.items.map((t: any) => t.id)).toStrictEqual(all.slice(2, 4))
        for (const bad of ["0", "-1", "1.5", "501"])
          H.expectError(yield* get(`?limit=${bad}`), 400, "validation.schema")
        H.expectError(yield* get("?cursor=garbage"), 400, "validation.cursor")
      }))
  })

describe("token lifecycle over HTTP", () => {
  suite("sqlite")
  if (H.pgEnabled()) suite("postgres")
})

layer(H.layer(), { excludeTestServices: true })("the generated sweeps cover the token routes", (it) => {
  it.effect("the guard matrix sees the writes, the bad-input sweep every route", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const doc = (yield* s.raw("/openapi.json")).json
      const routes = declaredRoutes(doc).filter((r) => r.path.startsWith("/api/v1/tokens"))
      expect(routes.map((r) => [r.method, r.path, r.guard, r.isWrite, r.hasBody])).toStrictEqual([
        ["POST", "/api/v1/tokens", "user", true, true],
        ["GET", "/api/v1/tokens", "user", false, false],
        ["DELETE", "/api/v1/tokens/{id}", "user", true, false]
      ])
      const limit = doc.paths["/api/v1/tokens"].get.parameters.find((p: any) => p.name === "limit")
      expect([limit.schema.default, limit.schema.maximum]).toStrictEqual([100, 500])
    }))
})

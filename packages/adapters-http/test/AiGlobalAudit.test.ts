/**
 * The global AI switch is audited like the tenant's flag (the issue: kill-switch changes are
 * "audited either way"): `PUT /api/admin/ai-global` writes a hash-chained record with who, the
 * value before and after, in the chain of the tenant the request acts on; setting the value the
 * switch already has writes nothing, for the global switch and for the tenant flag alike.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const aiGlobal = "/api/admin/ai-global"
const flag = "/api/v1/tenants/default/companion"

const records = (tenant: string, action: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ actor_id: string; subject: string; data: string }>`
      SELECT actor_id, subject, data FROM core_audit WHERE tenant_id = ${tenant} AND action = ${action} ORDER BY seq
    `.pipe(
      Effect.map((rows) => rows.map((r) => ({ ...r, data: typeof r.data === "string" ? JSON.parse(r.data) : r.data }))),
      Effect.orDie
    ))

const storedOverride = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<
      { value: string; updated_at: unknown }
    >`SELECT value, updated_at FROM core_system_state WHERE key = 'ai.global_enabled'`
      .pipe(Effect.orDie)
)

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage }), { excludeTestServices: true, timeout: 90_000 })(storage, (it) => {
    it.effect("ai-global off and on: audited with actor, before and after; the same value again writes nothing", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const audits = yield* H.auditCount("default")
        const off = yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: false }))
        expect(off.status, off.text).toBe(200)
        expect(yield* H.auditCount("default")).toBe(audits + 1)
        expect(yield* records("default", "system.ai_global_enabled")).toStrictEqual([
          { actor_id: "admin", subject: "system", data: { before: true, after: false, override_before: null } }
        ])
        const stored = yield* storedOverride
        expect(stored.length).toBe(1)

        // unchanged: nothing written (the stored row keeps its time), nothing audited
        const again = yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: false }))
        expect(again.json).toMatchObject({ enabled: false, override: false })
        expect(yield* H.auditCount("default")).toBe(audits + 1)
        expect(yield* storedOverride).toStrictEqual(stored)

        // refused: nothing audited
        H.expectError(yield* s.raw(aiGlobal, H.json("PUT", H.tokens.owner, { enabled: true })), 403, "rbac.forbidden")
        expect(yield* H.auditCount("default")).toBe(audits + 1)

        // on again, acting on another tenant: audited in that tenant's chain
        const acmeAudits = yield* H.auditCount("acme")
        const on = yield* s.raw(aiGlobal, H.json("PUT", H.tokens.admin, { enabled: true }, { "x-tenant": "acme" }))
        expect(on.json).toMatchObject({ enabled: true, override: true })
        expect(yield* H.auditCount("default")).toBe(audits + 1)
        expect(yield* H.auditCount("acme")).toBe(acmeAudits + 1)
        expect(yield* records("acme", "system.ai_global_enabled")).toStrictEqual([
          { actor_id: "admin", subject: "system", data: { before: false, after: true, override_before: false } }
        ])
        // the chain still verifies
        const page = yield* s.raw("/api/admin/audit?limit=1000", {
          headers: { ...H.auth(H.tokens.admin), "x-tenant": "acme" }
        })
        expect(page.json.chain).toMatchObject({ ok: true })
      }))

    it.effect("the tenant flag set to the value it has writes and audits nothing", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const audits = yield* H.auditCount("default")
        const same = yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: true }))
        expect(same.json).toStrictEqual({ tenant_id: "default", ai_companion_enabled: true })
        expect(yield* H.auditCount("default")).toBe(audits)
        yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: false }))
        expect(yield* records("default", "tenant.ai_companion_enabled")).toStrictEqual([
          { actor_id: "owner", subject: "default", data: { before: true, after: false } }
        ])
        yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: false }))
        expect(yield* H.auditCount("default")).toBe(audits + 1)
        yield* s.raw(flag, H.json("PUT", H.tokens.owner, { ai_companion_enabled: true }))
        expect(yield* H.auditCount("default")).toBe(audits + 2)
      }))
  })

describe("global AI switch audit", () => {
  suite("sqlite")
  suite("postgres")
})

/**
 * The tenants routes end to end on SQLite and PostgreSQL: onboarding through
 * `POST /api/v1/tenants` (runbook shape, idempotent on `Idempotency-Key`, the token shown once
 * and then used), the tenant's health, the export downloaded over HTTP and read back against the
 * store, and the confirmed delete (refusals, the tombstone, the token stops at once, another
 * tenant's rows byte for byte unchanged).
 */
import { TenantTables } from "@airlock/adapters-storage"
import { Audit, Canonical, Ids, TenantData } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Readable } from "node:stream"
import { createGunzip } from "node:zlib"
import * as tar from "tar-stream"
import * as H from "./support/Harness.js"

/** Every entry of a `.tar.gz` body: name → text. */
const readArchive = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const extract = tar.extract()
    Readable.from([Buffer.from(bytes)]).pipe(createGunzip()).pipe(extract)
    const out: Array<[string, string]> = []
    for await (const entry of extract) {
      const chunks: Array<Buffer> = []
      for await (const c of entry) chunks.push(c as Buffer)
      out.push([entry.header.name, Buffer.concat(chunks).toString("utf8")])
    }
    return out
  })

/** SHA-256 over every row a tenant owns in every registry table, read raw in key order. */
const digest = (tenant: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const p = (i: number) => sql.onDialectOrElse({ pg: () => `$${i}`, orElse: () => "?" })
    const parts: Array<string> = []
    for (const t of TenantTables.tenantTables) {
      const params = t.keys === undefined ? [tenant] : [...t.keys(tenant)]
      const where = t.keys === undefined
        ? `${t.tenantColumn} = ${p(1)}`
        : `${t.tenantColumn} IN (${params.map((_, i) => p(i + 1)).join(", ")})`
      const rows = yield* sql.unsafe(`SELECT * FROM ${t.table} WHERE ${where} ORDER BY ${t.key.join(", ")}`, params)
      parts.push(`${t.table}:${JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))}`)
    }
    return Canonical.sha256Hex(parts.join("\n"))
  }).pipe(Effect.orDie)

const download = (url: string, token: string) =>
  Effect.promise(async () => {
    const r = await fetch(url, { method: "POST", headers: H.auth(token) })
    return { status: r.status, headers: r.headers, bytes: new Uint8Array(await r.arrayBuffer()) }
  })

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage }), { excludeTestServices: true, timeout: 90_000 })(storage, (it) => {
    it.effect("onboard over HTTP (idempotent), use the token: health, export read back, confirmed delete", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const body = { template: "pro", name: "Beta Accounting Inc" }
        const key = { "idempotency-key": `onb-${storage}` }

        // only a platform admin onboards; a tenant owner is refused, nothing made
        H.expectError(yield* s.raw("/api/v1/tenants", H.json("POST", H.tokens.owner, body, key)), 403, "rbac.forbidden")
        H.expectError(
          yield* s.raw("/api/v1/tenants", H.json("POST", H.tokens.admin, { template: "gold", name: "X" })),
          400,
          "tenant.template_unknown"
        )

        const first = yield* s.raw("/api/v1/tenants", H.json("POST", H.tokens.admin, body, key))
        expect(first.status, first.text).toBe(201)
        const o = first.json
        expect(o.tenant_id).toMatch(/^pilot-beta-accounting-inc-[0-9a-f]{8}$/)
        expect([o.template, o.replayed, o.accounts_imported]).toStrictEqual(["pro", false, 14])
        expect(o.seed_user.email).toBe(`pilot+${o.tenant_id}@example.com`)
        expect(o.api_token).toMatch(/^\S{20,}$/)
        expect(o.steps.map((x: { step: number }) => x.step)).toStrictEqual([1, 2, 3, 4, 5])
        expect(o.steps[4].result).toBe(`Token: ${o.api_token}`)
        expect(o.config.tenant).toMatchObject({
          tenant_id: o.tenant_id,
          tier: "pro",
          coa_preset: "standard_professional_services"
        })
        expect(o.config.api_token).toBe(o.api_token)
        expect(o.env).toContain(`TENANT_ID=${o.tenant_id}\nAPI_TOKEN=${o.api_token}\n`)
        // the same key and request: the same tenant, the token never shown twice
        const again = yield* s.raw("/api/v1/tenants", H.json("POST", H.tokens.admin, body, key))
        expect([again.status, again.json.tenant_id, again.json.replayed, again.json.api_token]).toStrictEqual([
          200,
          o.tenant_id,
          true,
          null
        ])
        H.expectError(
          yield* s.raw("/api/v1/tenants", H.json("POST", H.tokens.admin, { ...body, name: "Other" }, key)),
          409,
          "tenant.onboarding.idempotency_conflict"
        )
        const tenant = o.tenant_id as string
        const token = o.api_token as string
        const base = `/api/v1/tenants/${tenant}`

        // the new owner's token works: a bank import, then the health
        const imported = yield* s.raw(
          "/api/v1/bank-transactions/import",
          H.json("POST", token, {
            account_code: "1000",
            format: "json",
            transactions: [
              { date: "2026-01-02", description: "Coffee", amount: "-4.50" },
              { date: "2026-01-03", description: "Client", amount: "900.00" }
            ]
          })
        )
        expect(imported.status, imported.text).toBe(200)
        const health = yield* s.raw(`${base}/health`, { headers: H.auth(token) })
        expect(health.status, health.text).toBe(200)
        const h = health.json
        expect([h.tenant_id, h.tenant_name, h.mode]).toStrictEqual([tenant, "Beta Accounting Inc", "shadow_only"])
        expect(h.switches).toStrictEqual({
          ai_global: true,
          companion_enabled: true,
          kill_switch: false,
          ai_enabled: true,
          effective: { enabled: true }
        })
        expect(h.lockdown.active).toBe(false)
        expect([h.breakers.velocity.state, h.breakers.trust.state]).toStrictEqual(["closed", "closed"])
        expect(h.budgets.tenant_id).toBe(tenant)
        expect(h.budgets.llm_budget.tenant_cap_usd).toBe("100.00")
        expect(h.last_import).toMatchObject({ by: o.admin_actor_id, transactions: 2 })
        expect(h.last_auditor_run).toBeNull()
        expect(h.open_reviews).toStrictEqual({ proposals: 0, memory_review_queue: 0, memory_oldest_open_at: null })
        // another tenant's owner may not read it; a viewer of it lacks nothing (ops.read) but is not of it
        H.expectError(yield* s.raw(`${base}/health`, { headers: H.auth(H.tokens.acmeOwner) }), 403, "tenant.mismatch")

        // the auditor runs twice (through its route); the health shows the newest integrity report
        const audit1 = yield* s.raw("/api/v1/companion/auditor/run", H.json("POST", token, { days: 30 }))
        expect(audit1.status, audit1.text).toBe(201)
        const audit2 = yield* s.raw("/api/v1/companion/auditor/run", H.json("POST", token, { days: 90 }))
        expect(audit2.status, audit2.text).toBe(201)
        const audited = (yield* s.raw(`${base}/health`, { headers: H.auth(token) })).json
        expect(audited.last_auditor_run).toStrictEqual({
          id: audit2.json.id,
          at: audit2.json.created_at,
          by: o.admin_actor_id,
          days: 90,
          window_start: audit2.json.window_start,
          window_end: audit2.json.window_end,
          status: "clean",
          finding_count: 0,
          counts: {}
        })
        expect(audit2.json.id > audit1.json.id).toBe(true)
        expect(Date.parse(audited.last_auditor_run.at)).toBeGreaterThan(Date.now() - 60_000)

        // export: the downloaded archive holds what the store holds
        const d = yield* download(`${s.url}${base}/export`, token)
        expect(d.status).toBe(200)
        expect(d.headers.get("content-type")).toBe("application/gzip")
        expect(d.headers.get("content-disposition")).toMatch(
          new RegExp(`^attachment; filename="${tenant}-export-\\d{8}\\.tar\\.gz"$`)
        )
        const entries = yield* readArchive(d.bytes)
        expect(entries.at(-1)![0]).toBe("manifest.json")
        const manifest = JSON.parse(entries.at(-1)![1])
        expect([manifest.format, manifest.format_version, manifest.tenant_id]).toStrictEqual([
          TenantData.FORMAT,
          1,
          tenant
        ])
        const byTable: Record<string, Array<unknown>> = {}
        for (const [name, text] of entries.slice(0, -1)) {
          const table = /^tables\/([a-z_]+)\/\d{6}\.jsonl$/.exec(name)![1]!
          ;(byTable[table] ??= []).push(...text.trimEnd().split("\n").map((l) => JSON.parse(l)))
        }
        const store = yield* TenantData.TenantDataStore
        for (const table of store.tables()) {
          const stored = (yield* store.page(Ids.TenantId.make(tenant), table, null, 100_000)).rows
          expect([table, byTable[table] ?? []]).toStrictEqual([table, stored])
        }
        expect(byTable["ledger_bank_transactions"]!.length).toBe(2)
        expect(byTable["ledger_accounts"]!.length).toBe(14)
        expect((byTable["core_api_tokens"] as Array<Record<string, unknown>>).every((r) => !("hash" in r))).toBe(
          true
        )
        expect(manifest.tables.map((t: { table: string; rows: number }) => [t.table, t.rows])).toStrictEqual(
          store.tables().map((t) => [t, (byTable[t] ?? []).length])
        )
        expect(JSON.stringify(byTable)).not.toContain("acme")

        // delete: refused unconfirmed, refused from another tenant, the dev default protected
        const acmeBefore = yield* digest("acme")
        H.expectError(
          yield* s.raw(base, { method: "DELETE", headers: H.auth(token) }),
          400,
          "tenant.delete.unconfirmed"
        )
        H.expectError(
          yield* s.raw(`${base}?confirm=false`, { method: "DELETE", headers: H.auth(token) }),
          400,
          "tenant.delete.unconfirmed"
        )
        H.expectError(
          yield* s.raw(`${base}?confirm=true`, { method: "DELETE", headers: H.auth(H.tokens.acmeOwner) }),
          403,
          "tenant.mismatch"
        )
        H.expectError(
          yield* s.raw("/api/v1/tenants/default?confirm=true", { method: "DELETE", headers: H.auth(H.tokens.admin) }),
          403,
          "tenant.delete.protected"
        )
        const kept = yield* digest(tenant)
        expect((yield* s.raw(`${base}/health`, { headers: H.auth(token) })).status).toBe(200)
        expect(yield* digest(tenant)).toBe(kept)

        const deleted = yield* s.raw(`${base}?confirm=true`, { method: "DELETE", headers: H.auth(token) })
        expect(deleted.status, deleted.text).toBe(200)
        expect(deleted.json).toMatchObject({ tenant_id: tenant, deleted_by: o.admin_actor_id })
        expect(deleted.json.counts.ledger_bank_transactions).toBe(2)
        expect(deleted.json.rows_deleted).toBe(
          Object.values(deleted.json.counts as Record<string, number>).reduce((a, b) => a + b, 0)
        )
        // the token stops at once; nothing of the tenant is left; acme byte for byte as it was
        H.expectError(yield* s.raw(`${base}/health`, { headers: H.auth(token) }), 401, "auth.unauthorized")
        expect(yield* digest(tenant)).toBe(yield* digest("no-such-tenant"))
        expect(yield* digest("acme")).toBe(acmeBefore)
        // the tombstone: in the system chain, counts only
        const audit = yield* Audit.AuditLog
        const tombstones = (yield* audit.list(TenantData.SYSTEM_AUDIT_TENANT)).filter((r) => r.subject === tenant)
        expect(tombstones.map((r) => [r.action, r.actor_id])).toStrictEqual([["tenant.deleted", o.admin_actor_id]])
        expect(JSON.stringify(tombstones[0]!.data)).not.toContain("Coffee")
        expect((yield* audit.verify(TenantData.SYSTEM_AUDIT_TENANT)).ok).toBe(true)
        // an admin asking after it finds no tenant
        H.expectError(yield* s.raw(`${base}/health`, { headers: H.auth(H.tokens.admin) }), 404, "not_found")
      }))
  })

describe("tenants routes", () => {
  suite("sqlite")
  suite("postgres")
})

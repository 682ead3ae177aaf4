/**
 * The tenant export archive read back: a `.tar.gz` written through `tar-stream` (file, with
 * progress; and the response stream) holds every row the store has for the tenant, page by page,
 * and a manifest whose counts and audit chain head match the store. SQLite and PostgreSQL.
 */
import { TenantArchive } from "@airlock/adapters-http"
import { TenantOnboarding } from "@airlock/companion"
import { Audit, Ids, TenantData, Tenants } from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createReadStream, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { createGunzip } from "node:zlib"
import * as tar from "tar-stream"
import * as H from "./support/Harness.js"

/** Every entry of a `.tar.gz` stream: name → text. */
const readArchive = (source: Readable) =>
  Effect.promise(async () => {
    const extract = tar.extract()
    source.pipe(createGunzip()).pipe(extract)
    const out: Array<[string, string]> = []
    for await (const entry of extract) {
      const chunks: Array<Buffer> = []
      for await (const c of entry) chunks.push(c as Buffer)
      out.push([entry.header.name, Buffer.concat(chunks).toString("utf8")])
    }
    return out
  })

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage }), { excludeTestServices: true, timeout: 60_000 })(storage, (it) => {
    it.effect("the archive holds every row of the store and a manifest matching it", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const r = yield* (yield* TenantOnboarding.TenantOnboarding).onboard(
          { template: "firm", name: "Archive Co" },
          s.actors.admin!
        )
        const tenant = Ids.TenantId.make(r.tenant_id)
        const admin = yield* (yield* Tenants.Tenants).getActor(tenant, Ids.ActorId.make(r.admin_actor_id))
        const data = yield* TenantData.TenantData
        const store = yield* TenantData.TenantDataStore
        const path = join(mkdtempSync(join(tmpdir(), "airlock-export-")), "export.tar.gz")
        const progress: Array<TenantData.ExportProgress> = []
        const manifest = yield* TenantArchive.exportToFile(data, tenant, admin, path, {
          pageSize: 5,
          onProgress: (p) => progress.push(p)
        })
        const entries = yield* readArchive(createReadStream(path))
        expect(entries.at(-1)![0]).toBe(TenantArchive.MANIFEST)
        expect(JSON.parse(entries.at(-1)![1])).toStrictEqual(manifest)
        const byTable: Record<string, Array<unknown>> = {}
        for (const [name, text] of entries.slice(0, -1)) {
          const m = /^tables\/([a-z_]+)\/\d{6}\.jsonl$/.exec(name)
          expect(m).not.toBeNull()
          const rows = text.trimEnd().split("\n").map((l) => JSON.parse(l))
          expect(rows.length).toBeLessThanOrEqual(5)
          ;(byTable[m![1]!] ??= []).push(...rows)
        }
        for (const table of store.tables()) {
          const stored = (yield* store.page(tenant, table, null, 100_000)).rows
          expect([table, byTable[table] ?? []]).toStrictEqual([table, JSON.parse(JSON.stringify(stored))])
          expect(manifest.tables.find((t) => t.table === table)?.rows).toBe(stored.length)
        }
        expect(byTable["ledger_accounts"]!.length).toBe(19)
        expect(JSON.stringify(byTable["core_api_tokens"])).not.toContain('"hash"')
        const verified = yield* (yield* Audit.AuditLog).verify(tenant)
        expect(manifest.audit_chain_head?.seq).toBe(verified.checked)
        expect(manifest.format_version).toBe(1)
        expect(progress.at(-1)!.rows_done).toBe(manifest.tables.reduce((a, t) => a + t.rows, 0))
        // the response stream holds the same entries (the second export adds one audit record)
        const again = yield* readArchive(yield* TenantArchive.archiveStream(data, tenant, admin, { pageSize: 5 }))
        expect(again.length).toBeGreaterThanOrEqual(entries.length)
        expect(JSON.parse(again.at(-1)![1]).tables.find((t: { table: string }) => t.table === "core_audit").rows).toBe(
          manifest.tables.find((t) => t.table === "core_audit")!.rows + 1
        )
        // another tenant's admin cannot export it
        const refused = yield* Effect.flip(TenantArchive.archiveStream(data, tenant, s.actors.owner!))
        expect(refused).toMatchObject({ code: "tenant.mismatch" })
      }))
  })

suite("sqlite")
suite("postgres")

/**
 * Bounded growth: a tenant's settings `extensions` have limits (keys, nesting, total size) at the
 * edge and in core, and the audit record of a settings change holds what changed, not two copies
 * of the whole settings.
 */
import { Canonical, Ids, Tenants } from "@airlock/core"
import { BankTransaction, Journal } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as H from "./support/Harness.js"

const settings = "/api/v1/companion/settings"

const lastAudit = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ action: string; data: string }>`SELECT action, data FROM core_audit WHERE tenant_id = ${tenant}
                                           ORDER BY seq DESC LIMIT 1`.pipe(
        Effect.map((r) => ({
          action: r[0]!.action,
          bytes: String(r[0]!.data).length,
          data: JSON.parse(String(r[0]!.data))
        })),
        Effect.orDie
      )
  )

const nested = (depth: number): unknown => (depth === 0 ? 1 : { d: nested(depth - 1) })

layer(H.layer(), { excludeTestServices: true })("bounded settings extensions", (it) => {
  it.effect("too many keys, too deep, too large: 400/413 with clear codes, nothing written or audited", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const owner = H.tokens.owner
      const before = yield* H.settingsRow("default")
      const audit = yield* H.auditCount("default")
      const manyKeys = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`pkg.k${i}`, i]))
      expect(
        H.expectError(
          yield* s.raw(settings, H.json("PUT", owner, { extensions: manyKeys })),
          400,
          "validation.extensions_keys"
        ).message
      )
        .toContain("64")
      H.expectError(
        yield* s.raw(settings, H.json("PUT", owner, { extensions: { deep: nested(9) } })),
        400,
        "validation.extensions_depth"
      )
      const big = yield* s.raw(settings, H.json("PUT", owner, { extensions: { blob: "x".repeat(70 * 1024) } }))
      H.expectError(big, 413, "payload.too_large")
      expect(yield* H.settingsRow("default")).toStrictEqual(before)
      expect(yield* H.auditCount("default")).toBe(audit)
      // at the limits it is accepted
      const atDepth = yield* s.raw(settings, H.json("PUT", owner, { extensions: { deep: nested(8) } }))
      expect(atDepth.status).toBe(200)
      // the merged result counts: two halves that fit alone do not fit together (core's check)
      const half = "y".repeat(40 * 1024)
      expect((yield* s.raw(settings, H.json("PUT", owner, { extensions: { a: half } }))).status).toBe(200)
      const merged = yield* s.raw(settings, H.json("PUT", owner, { extensions: { b: half } }))
      expect(H.expectError(merged, 413, "payload.too_large").details).toMatchObject({
        field: "extensions",
        max_bytes: 65536
      })
      expect(Object.keys((yield* H.settingsRow("default"))!.extensions).sort()).toStrictEqual(["a", "deep"])
      // removing makes room again
      expect((yield* s.raw(settings, H.json("PUT", owner, { extensions: { a: null, b: half } }))).status).toBe(200)
      yield* s.raw(settings, H.json("PUT", owner, { extensions: { b: null, deep: null } }))
    }))

  it.effect("core enforces the limits without the edge (a direct service call)", () =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const s = yield* H.TestServer
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`pkg.k${i}`, i]))
      const exit = yield* Effect.exit(tenants.updateSettings(Ids.TenantId.make("acme"), { extensions: many }, "system"))
      expect(exit).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.extensions_keys" })))
      const large = yield* Effect.exit(
        tenants.updateSettings(Ids.TenantId.make("acme"), { extensions: { x: "z".repeat(70_000) } }, s.actors.admin!)
      )
      expect(large).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "PayloadTooLarge" })))
      expect((yield* H.settingsRow("acme"))!.extensions).toStrictEqual({})
    }))

  it.effect("ledger request strings have maximums the services enforce too (a direct call)", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const journal = yield* Journal.Journal
      const bank = yield* BankTransaction.BankTransactions
      const admin = s.actors.admin!
      const tenant = Ids.TenantId.make("default")
      const entries = yield* H.auditCount("default")
      const line = (side: "debit" | "credit", amount: string) => ({ account_code: "1000", [side]: amount })
      const cases: ReadonlyArray<Effect.Effect<unknown, { readonly code: string }>> = [
        journal.post(tenant, admin, { date: "2".repeat(33), lines: [line("debit", "1"), line("credit", "1")] }),
        journal.post(tenant, admin, {
          date: "2024-01-01",
          bank_transaction_id: "b".repeat(201),
          lines: [line("debit", "1"), line("credit", "1")]
        }),
        journal.post(tenant, admin, {
          date: "2024-01-01",
          lines: [line("debit", `1${"0".repeat(64)}`), line("credit", "1")]
        }),
        bank.importFile(tenant, admin, { account_code: "1".repeat(21), format: "json", transactions: [] }),
        bank.importFile(tenant, admin, {
          account_code: "1000",
          format: "csv",
          content: "a,b",
          csv: { date_column: "d".repeat(201) }
        }),
        bank.importFile(tenant, admin, {
          account_code: "1000",
          format: "json",
          transactions: [{ date: "2".repeat(33), description: "x", amount: "1" }]
        })
      ]
      for (const c of cases) {
        const error = yield* Effect.flip(c)
        expect(error.code).toBe("validation.schema")
      }
      expect(yield* H.auditCount("default")).toBe(entries)
    }))

  it.effect("a settings update audits what changed, not two copies of the whole settings", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const owner = H.tokens.owner
      const blob = "b".repeat(30 * 1024)
      expect((yield* s.raw(settings, H.json("PUT", owner, { extensions: { blob } }))).status).toBe(200)
      const added = yield* lastAudit("default")
      // a value over 1 KiB is audited by its hash and size
      const blobSummary = { $summary: { sha256: Canonical.hashOf(blob), bytes: blob.length + 2 } }
      expect(added.data).toStrictEqual({
        before: { extensions: { blob: null } },
        after: { extensions: { blob: blobSummary } }
      })
      // a mode change next to a large extension records the mode only
      expect((yield* s.raw(settings, H.json("PUT", owner, { ai_mode: "drafts" }))).status).toBe(200)
      const mode = yield* lastAudit("default")
      expect(mode).toMatchObject({
        action: "settings.updated",
        data: { before: { ai_mode: "suggest_only" }, after: { ai_mode: "drafts" } }
      })
      expect(mode.bytes).toBeLessThan(200)
      // changing one key records that key; an unchanged key is not repeated
      yield* s.raw(settings, H.json("PUT", owner, { extensions: { small: 1, blob } }))
      const one = yield* lastAudit("default")
      expect(one.data).toStrictEqual({ before: { extensions: { small: null } }, after: { extensions: { small: 1 } } })
      // removal records the old value once
      yield* s.raw(settings, H.json("PUT", owner, { extensions: { blob: null, small: null }, ai_mode: "suggest_only" }))
      const removed = yield* lastAudit("default")
      expect(removed.data).toStrictEqual({
        before: { ai_mode: "drafts", extensions: { blob: blobSummary, small: 1 } },
        after: { ai_mode: "suggest_only", extensions: { blob: null, small: null } }
      })
      expect(removed.bytes).toBeLessThan(400)
    }))

  it.effect("values over 1 KiB are audited by sha256 and size; an update that changes nothing writes and audits nothing", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const owner = H.tokens.owner
      const big = "v".repeat(60 * 1024)
      const small = "s".repeat(1000)
      yield* s.raw(settings, H.json("PUT", owner, { extensions: { blob: null, small: null } }))
      // 20 updates of a 60 KB value, alternating: every audit record stays small
      const seq0 = yield* H.auditCount("default")
      for (let i = 0; i < 20; i++) {
        const value = `${i}${big}`
        expect((yield* s.raw(settings, H.json("PUT", owner, { extensions: { big: value, small } }))).status).toBe(200)
        const last = yield* lastAudit("default")
        expect(last.bytes).toBeLessThan(1500)
        expect(last.data.after.extensions.big).toStrictEqual({
          $summary: { sha256: Canonical.hashOf(value), bytes: value.length + 2 }
        })
        // a value up to 1 KiB is kept as it is
        if (i === 0) expect(last.data.after.extensions.small).toBe(small)
      }
      expect(yield* H.auditCount("default")).toBe(seq0 + 20)
      // the same values again: no write, no audit record
      const row = yield* H.settingsRow("default")
      const same = yield* s.raw(settings, H.json("PUT", owner, { extensions: { big: `19${big}`, small } }))
      expect(same.status).toBe(200)
      expect(yield* H.settingsRow("default")).toStrictEqual(row)
      expect(yield* H.auditCount("default")).toBe(seq0 + 20)
      // nor does a mode set to what it is
      const mode = ((yield* H.settingsRow("default")) as any).ai_mode as string
      expect((yield* s.raw(settings, H.json("PUT", owner, { ai_mode: mode }))).status).toBe(200)
      expect(yield* H.auditCount("default")).toBe(seq0 + 20)
      expect(yield* H.settingsRow("default")).toStrictEqual(row)
      yield* s.raw(settings, H.json("PUT", owner, { extensions: { big: null, small: null } }))
    }))
})

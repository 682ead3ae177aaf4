import { describe, expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const count = (table: string, tenant: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`SELECT COUNT(*) AS n FROM ${sql(table)} WHERE tenant_id = ${tenant}`.pipe(
      Effect.map((r) => Number((r[0] as any).n)),
      Effect.orDie
    ))

const entry = (amount: unknown, extra: Record<string, unknown> = {}) => ({
  date: "2026-02-10",
  memo: "Consulting",
  lines: [{ account_code: "1000", debit: amount }, { account_code: "4000", credit: amount }],
  ...extra
})

const suite = (storage: H.Storage) =>
  layer(H.layer({ storage }), { excludeTestServices: true })(storage, (it) => {
    it.effect("accounts, entries, reversal, trial balance, period lock, export, bank import; errors; tenant isolation", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const { owner, bookkeeper, viewer, acmeOwner } = H.tokens

        // accounts
        for (const a of [{ code: "1000", name: "Cash", type: "Asset" }, { code: "1100", name: "Bank", type: "Asset" }, { code: "4000", name: "Sales", type: "Income" }]) {
          const r = yield* s.raw("/api/v1/ledger/accounts", H.json("POST", owner, a))
          expect(r.status).toBe(201)
          expect(r.json).toMatchObject({ ...a, active: true, currency: "USD" })
          expect(r.json.created_at).toMatch(/Z$/)
        }
        H.expectError(yield* s.raw("/api/v1/ledger/accounts", H.json("POST", owner, { code: "1000", name: "Again", type: "Asset" })), 409, "conflict.duplicate")
        H.expectError(yield* s.raw("/api/v1/ledger/accounts", H.json("POST", viewer, { code: "1200", name: "X", type: "Asset" })), 403, "rbac.forbidden")
        expect((yield* s.raw("/api/v1/ledger/accounts", { headers: H.auth(viewer) })).json.map((a: any) => a.code)).toStrictEqual(["1000", "1100", "4000"])
        expect((yield* s.raw("/api/v1/ledger/accounts", { headers: H.auth(acmeOwner) })).json).toStrictEqual([])
        expect(yield* count("ledger_accounts", "default")).toBe(3)

        // entries
        const posted = yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("12.34", { idempotency_key: "inv-1" })))
        expect(posted.status).toBe(201)
        expect(posted.json).toMatchObject({ duplicate: false, entry: { entry_no: 1, currency: "USD", lines: [{ side: "debit", amount: "12.34" }, { side: "credit", amount: "12.34" }] } })
        const again = yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("12.34", { idempotency_key: "inv-1" })))
        // an idempotent retry: 200 with the original entry, nothing written
        expect(again.status).toBe(200)
        expect(again.json).toStrictEqual({ ...posted.json, duplicate: true })
        const typedAgain = yield* s.client(bookkeeper).ledger.postEntry({ payload: entry("12.34", { idempotency_key: "inv-1" }) as any })
        expect(typedAgain).toMatchObject({ duplicate: true, entry: { id: posted.json.entry.id } })
        // the same key with different content stays a conflict
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("99.00", { idempotency_key: "inv-1" }))), 409, "idempotency.conflict")
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, { ...entry("1.00"), lines: [{ account_code: "1000", debit: "1.00" }, { account_code: "4000", credit: "2.00" }] })),
          400,
          "validation.unbalanced"
        )
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("1.234"))), 400, "validation.amount_precision")
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry(12.5))), 400, "validation.amount_type")
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", viewer, entry("1.00"))), 403, "rbac.forbidden")
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", acmeOwner, entry("1.00"))), 400, "validation.account_unknown")
        expect(yield* count("ledger_entries", "default")).toBe(1)
        expect(yield* count("ledger_entries", "acme")).toBe(0)
        const list = yield* s.raw("/api/v1/ledger/entries?limit=10", { headers: H.auth(viewer) })
        for (const bad of ["NaN", "Infinity", "abc"]) {
          H.expectError(yield* s.raw(`/api/v1/ledger/entries?limit=${bad}`, { headers: H.auth(viewer) }), 400, "validation.schema")
        }
        expect(list.json.items.map((e: any) => e.id)).toStrictEqual([posted.json.entry.id])
        expect((yield* s.raw("/api/v1/ledger/entries", { headers: H.auth(acmeOwner) })).json.items).toStrictEqual([])

        // trial balance
        const tb = yield* s.raw("/api/v1/ledger/trial-balance?as_of=2026-12-31", { headers: H.auth(viewer) })
        expect(tb.json).toMatchObject({ as_of: "2026-12-31", balanced: true, totals: [{ currency: "USD", debit: "12.34", credit: "12.34", net: "0.00" }] })
        expect(tb.json.rows.find((r: any) => r.account_code === "1000")).toMatchObject({ debit: "12.34", net: "12.34" })

        // reversal
        H.expectError(yield* s.raw("/api/v1/ledger/entries/nope/reverse", H.json("POST", bookkeeper, {})), 404, "not_found")
        const reversed = yield* s.raw(`/api/v1/ledger/entries/${posted.json.entry.id}/reverse`, H.json("POST", bookkeeper, { date: "2026-02-11" }))
        expect(reversed.status).toBe(201)
        expect(reversed.json).toMatchObject({ duplicate: false, entry: { reverses_entry_id: posted.json.entry.id } })
        // reversing again with the same key: 200 with the original reversal; without one it is a conflict
        const keyed = yield* s.raw(`/api/v1/ledger/entries/${posted.json.entry.id}/reverse`, H.json("POST", bookkeeper, { date: "2026-02-11" }))
        H.expectError(keyed, 409, "entry.already_reversed")
        const second = yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("3.00", { idempotency_key: "inv-2" })))
        const rev1 = yield* s.raw(`/api/v1/ledger/entries/${second.json.entry.id}/reverse`, H.json("POST", bookkeeper, { date: "2026-02-12", idempotency_key: "rev-2" }))
        expect(rev1.status).toBe(201)
        const rev2 = yield* s.raw(`/api/v1/ledger/entries/${second.json.entry.id}/reverse`, H.json("POST", bookkeeper, { date: "2026-02-12", idempotency_key: "rev-2" }))
        expect(rev2.status).toBe(200)
        expect(rev2.json).toStrictEqual({ ...rev1.json, duplicate: true })
        expect(yield* count("ledger_entries", "default")).toBe(4)
        expect(reversed.json.entry.lines[0]).toMatchObject({ account_code: "1000", side: "credit", amount: "12.34" })
        const tb2 = yield* s.raw("/api/v1/ledger/trial-balance?as_of=2026-12-31", { headers: H.auth(viewer) })
        expect(tb2.json.rows.find((r: any) => r.account_code === "1000")).toMatchObject({ debit: "15.34", credit: "15.34", net: "0.00" })

        // period lock
        H.expectError(yield* s.raw("/api/v1/ledger/period-lock", H.json("PUT", bookkeeper, { lock_date: "2026-02-28" })), 403, "rbac.forbidden")
        const lock = yield* s.raw("/api/v1/ledger/period-lock", H.json("PUT", owner, { lock_date: "2026-02-28" }))
        expect(lock.json).toMatchObject({ lock_date: "2026-02-28", updated_by: "owner" })
        expect((yield* s.raw("/api/v1/ledger/period-lock", { headers: H.auth(viewer) })).json.lock_date).toBe("2026-02-28")
        H.expectError(yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("5.00"))), 409, "period.locked")
        expect((yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("5.00", { date: "2026-03-01" })))).status).toBe(201)
        expect(yield* count("ledger_entries", "default")).toBe(5)

        // QuickBooks export: idempotent, byte-identical refetch
        H.expectError(yield* s.raw("/api/v1/export/qbo", H.json("POST", viewer, {})), 403, "rbac.forbidden")
        const first = yield* s.raw("/api/v1/export/qbo", { method: "POST", headers: H.auth(bookkeeper) })
        expect(first.json).toMatchObject({ new: 5, skipped: 0 })
        const exportAgain = yield* s.raw("/api/v1/export/qbo", { method: "POST", headers: H.auth(bookkeeper) })
        expect(exportAgain.json).toMatchObject({ new: 0, skipped: 5 })
        const csv = yield* s.raw(`/api/v1/export/qbo/${first.json.batch_id}.csv`, { headers: H.auth(viewer) })
        expect(csv.status).toBe(200)
        expect(csv.headers.get("content-type")).toContain("text/csv")
        expect(csv.text).toContain("12.34")
        expect((yield* s.raw(`/api/v1/export/qbo/${first.json.batch_id}.csv`, { headers: H.auth(viewer) })).text).toBe(csv.text)
        H.expectError(yield* s.raw(`/api/v1/export/qbo/${first.json.batch_id}.csv`, { headers: H.auth(acmeOwner) }), 404, "not_found")

        // bank import
        const file = "Date,Description,Amount\n03/02/2026,Coffee,-4.50\n03/03/2026,Client payment,100.00\n"
        const imported = yield* s.raw("/api/v1/bank-transactions/import", H.json("POST", bookkeeper, { account_code: "1100", format: "csv", content: file }))
        expect(imported.json).toMatchObject({ new: 2, skipped: 0 })
        const reimported = yield* s.raw("/api/v1/bank-transactions/import", H.json("POST", bookkeeper, { account_code: "1100", format: "csv", content: file }))
        expect(reimported.json).toMatchObject({ new: 0, skipped: 2 })
        H.expectError(yield* s.raw("/api/v1/bank-transactions/import", H.json("POST", viewer, { account_code: "1100", format: "csv", content: file })), 403, "rbac.forbidden")
        expect(yield* count("ledger_bank_transactions", "default")).toBe(2)
      }))
  })

describe("ledger routes", () => {
  suite("sqlite")
  if (H.pgEnabled()) suite("postgres")
})

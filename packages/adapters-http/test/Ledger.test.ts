import { Ids } from "@airlock/core"
import { Money, QboExport } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { parse as parseCsv } from "csv-parse/sync"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const count = (table: string, tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT COUNT(*) AS n FROM ${sql(table)} WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => Number((r[0] as any).n)),
        Effect.orDie
      )
  )

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
        for (
          const a of [{ code: "1000", name: "Cash", type: "Asset" }, { code: "1100", name: "Bank", type: "Asset" }, {
            code: "4000",
            name: "Sales",
            type: "Income"
          }]
        ) {
          const r = yield* s.raw("/api/v1/ledger/accounts", H.json("POST", owner, a))
          expect(r.status).toBe(201)
          expect(r.json).toMatchObject({ ...a, active: true, currency: "USD" })
          expect(r.json.created_at).toMatch(/Z$/)
        }
        H.expectError(
          yield* s.raw(
            "/api/v1/ledger/accounts",
            H.json("POST", owner, { code: "1000", name: "Again", type: "Asset" })
          ),
          409,
          "conflict.duplicate"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/accounts", H.json("POST", viewer, { code: "1200", name: "X", type: "Asset" })),
          403,
          "rbac.forbidden"
        )
        expect((yield* s.raw("/api/v1/ledger/accounts", { headers: H.auth(viewer) })).json.map((a: any) => a.code))
          .toStrictEqual(["1000", "1100", "4000"])
        expect((yield* s.raw("/api/v1/ledger/accounts", { headers: H.auth(acmeOwner) })).json).toStrictEqual([])
        expect(yield* count("ledger_accounts", "default")).toBe(3)

        // entries
        const posted = yield* s.raw(
          "/api/v1/ledger/entries",
          H.json("POST", bookkeeper, entry("12.34", { idempotency_key: "inv-1" }))
        )
        expect(posted.status).toBe(201)
        expect(posted.json).toMatchObject({
          duplicate: false,
          entry: {
            entry_no: 1,
            currency: "USD",
            lines: [{ side: "debit", amount: "12.34" }, { side: "credit", amount: "12.34" }]
          }
        })
        const again = yield* s.raw(
          "/api/v1/ledger/entries",
          H.json("POST", bookkeeper, entry("12.34", { idempotency_key: "inv-1" }))
        )
        // an idempotent retry: 200 with the original entry, nothing written
        expect(again.status).toBe(200)
        expect(again.json).toStrictEqual({ ...posted.json, duplicate: true })
        const typedAgain = yield* s.client(bookkeeper).ledger.postEntry({
          payload: entry("12.34", { idempotency_key: "inv-1" }) as any
        })
        expect(typedAgain).toMatchObject({ duplicate: true, entry: { id: posted.json.entry.id } })
        // the same key with different content stays a conflict
        H.expectError(
          yield* s.raw(
            "/api/v1/ledger/entries",
            H.json("POST", bookkeeper, entry("99.00", { idempotency_key: "inv-1" }))
          ),
          409,
          "idempotency.conflict"
        )
        H.expectError(
          yield* s.raw(
            "/api/v1/ledger/entries",
            H.json("POST", bookkeeper, {
              ...entry("1.00"),
              lines: [{ account_code: "1000", debit: "1.00" }, { account_code: "4000", credit: "2.00" }]
            })
          ),
          400,
          "validation.unbalanced"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("1.234"))),
          400,
          "validation.amount_precision"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry(12.5))),
          400,
          "validation.amount_type"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", viewer, entry("1.00"))),
          403,
          "rbac.forbidden"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", acmeOwner, entry("1.00"))),
          400,
          "validation.account_unknown"
        )
        expect(yield* count("ledger_entries", "default")).toBe(1)
        expect(yield* count("ledger_entries", "acme")).toBe(0)
        const list = yield* s.raw("/api/v1/ledger/entries?limit=10", { headers: H.auth(viewer) })
        for (const bad of ["NaN", "Infinity", "abc"]) {
          H.expectError(
            yield* s.raw(`/api/v1/ledger/entries?limit=${bad}`, { headers: H.auth(viewer) }),
            400,
            "validation.schema"
          )
        }
        expect(list.json.items.map((e: any) => e.id)).toStrictEqual([posted.json.entry.id])
        expect((yield* s.raw("/api/v1/ledger/entries", { headers: H.auth(acmeOwner) })).json.items).toStrictEqual([])

        // trial balance
        const tb = yield* s.raw("/api/v1/ledger/trial-balance?as_of=2026-12-31", { headers: H.auth(viewer) })
        expect(tb.json).toMatchObject({
          as_of: "2026-12-31",
          balanced: true,
          totals: [{ currency: "USD", debit: "12.34", credit: "12.34", net: "0.00" }]
        })
        expect(tb.json.rows.find((r: any) => r.account_code === "1000")).toMatchObject({ debit: "12.34", net: "12.34" })

        // reversal
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries/nope/reverse", H.json("POST", bookkeeper, {})),
          404,
          "not_found"
        )
        const reversed = yield* s.raw(
          `/api/v1/ledger/entries/${posted.json.entry.id}/reverse`,
          H.json("POST", bookkeeper, { date: "2026-02-11" })
        )
        expect(reversed.status).toBe(201)
        expect(reversed.json).toMatchObject({ duplicate: false, entry: { reverses_entry_id: posted.json.entry.id } })
        // reversing again with the same key: 200 with the original reversal; without one it is a conflict
        const keyed = yield* s.raw(
          `/api/v1/ledger/entries/${posted.json.entry.id}/reverse`,
          H.json("POST", bookkeeper, { date: "2026-02-11" })
        )
        H.expectError(keyed, 409, "entry.already_reversed")
        const second = yield* s.raw(
          "/api/v1/ledger/entries",
          H.json("POST", bookkeeper, entry("3.00", { idempotency_key: "inv-2" }))
        )
        const rev1 = yield* s.raw(
          `/api/v1/ledger/entries/${second.json.entry.id}/reverse`,
          H.json("POST", bookkeeper, { date: "2026-02-12", idempotency_key: "rev-2" })
        )
        expect(rev1.status).toBe(201)
        const rev2 = yield* s.raw(
          `/api/v1/ledger/entries/${second.json.entry.id}/reverse`,
          H.json("POST", bookkeeper, { date: "2026-02-12", idempotency_key: "rev-2" })
        )
        expect(rev2.status).toBe(200)
        expect(rev2.json).toStrictEqual({ ...rev1.json, duplicate: true })
        expect(yield* count("ledger_entries", "default")).toBe(4)
        expect(reversed.json.entry.lines[0]).toMatchObject({ account_code: "1000", side: "credit", amount: "12.34" })
        const tb2 = yield* s.raw("/api/v1/ledger/trial-balance?as_of=2026-12-31", { headers: H.auth(viewer) })
        expect(tb2.json.rows.find((r: any) => r.account_code === "1000")).toMatchObject({
          debit: "15.34",
          credit: "15.34",
          net: "0.00"
        })

        // period lock
        H.expectError(
          yield* s.raw("/api/v1/ledger/period-lock", H.json("PUT", bookkeeper, { lock_date: "2026-02-28" })),
          403,
          "rbac.forbidden"
        )
        const lock = yield* s.raw("/api/v1/ledger/period-lock", H.json("PUT", owner, { lock_date: "2026-02-28" }))
        expect(lock.json).toMatchObject({ lock_date: "2026-02-28", updated_by: "owner" })
        expect((yield* s.raw("/api/v1/ledger/period-lock", { headers: H.auth(viewer) })).json.lock_date).toBe(
          "2026-02-28"
        )
        H.expectError(
          yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("5.00"))),
          409,
          "period.locked"
        )
        expect(
          (yield* s.raw("/api/v1/ledger/entries", H.json("POST", bookkeeper, entry("5.00", { date: "2026-03-01" }))))
            .status
        ).toBe(201)
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
        expect((yield* s.raw(`/api/v1/export/qbo/${first.json.batch_id}.csv`, { headers: H.auth(viewer) })).text).toBe(
          csv.text
        )
        H.expectError(
          yield* s.raw(`/api/v1/export/qbo/${first.json.batch_id}.csv`, { headers: H.auth(acmeOwner) }),
          404,
          "not_found"
        )

        // bank import
        const file = "Date,Description,Amount\n03/02/2026,Coffee,-4.50\n03/03/2026,Client payment,100.00\n"
        const imported = yield* s.raw(
          "/api/v1/bank-transactions/import",
          H.json("POST", bookkeeper, { account_code: "1100", format: "csv", content: file })
        )
        expect(imported.json).toMatchObject({ new: 2, skipped: 0 })
        const reimported = yield* s.raw(
          "/api/v1/bank-transactions/import",
          H.json("POST", bookkeeper, { account_code: "1100", format: "csv", content: file })
        )
        expect(reimported.json).toMatchObject({ new: 0, skipped: 2 })
        H.expectError(
          yield* s.raw(
            "/api/v1/bank-transactions/import",
            H.json("POST", viewer, { account_code: "1100", format: "csv", content: file })
          ),
          403,
          "rbac.forbidden"
        )
        expect(yield* count("ledger_bank_transactions", "default")).toBe(2)
      }))
  })

describe("ledger routes", () => {
  suite("sqlite")
  if (H.pgEnabled()) suite("postgres")
})

/** The CSV's records (RFC 4180: quoted fields, doubled quotes, CRLF), read with csv-parse for the assertions. */
const csvRows = (csv: string): Array<Array<string>> =>
  parseCsv(csv, { record_delimiter: "\r\n" }) as Array<Array<string>>

/** A GET returning the raw bytes (no decoding), or why no whole response could be read. */
const download = (url: string, token: string, extra: Record<string, string> = {}) =>
  Effect.promise(async () => {
    try {
      const response = await fetch(url, { headers: H.auth(token, extra) })
      return { response, bytes: new Uint8Array(await response.arrayBuffer()), failure: null }
    } catch (e) {
      return { response: null, bytes: null, failure: `${e} ${(e as Error).cause ?? ""}` }
    }
  })

/** Ten entries over three-entry export pages: the batch spans four pages. */
const PAGE = 3
const ENTRIES = 10
const FORMULA = '=HYPERLINK("http://evil","x")'

const postBatch = (s: H.TestServerShape) =>
  Effect.gen(function*() {
    const { owner, bookkeeper } = H.tokens
    for (const a of [{ code: "1000", name: "Cash", type: "Asset" }, { code: "4000", name: "Sales", type: "Income" }]) {
      expect((yield* s.raw("/api/v1/ledger/accounts", H.json("POST", owner, a))).status).toBe(201)
    }
    for (let i = 1; i <= ENTRIES; i++) {
      const memo = i === 2 ? FORMULA : i === 5 ? 'Café ☕, "quoted"' : `Invoice ${i}`
      const r = yield* s.raw(
        "/api/v1/ledger/entries",
        H.json("POST", bookkeeper, entry(`${i}.05`, { memo, date: `2026-02-${String(i).padStart(2, "0")}` }))
      )
      expect(r.status).toBe(201)
    }
    const exported = yield* s.raw("/api/v1/export/qbo", { method: "POST", headers: H.auth(bookkeeper) })
    expect(exported.json).toMatchObject({ new: ENTRIES, skipped: 0 })
    return String(exported.json.batch_id)
  })

const downloadSuite = (storage: H.Storage) =>
  layer(H.layer({ storage, ledger: { exportPageSize: PAGE } }), { excludeTestServices: true })(
    `${storage}: QuickBooks download`,
    (it) => {
      it.effect("a batch larger than the export page streams chunked, complete, balanced, byte-identical to csvText", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const exports = yield* QboExport.QboExports
          const batchId = yield* postBatch(s)
          const url = `${s.url}/api/v1/export/qbo/${batchId}.csv`
          const { bytes, response } = yield* download(url, H.tokens.viewer)
          if (response === null) throw new Error("download failed")
          expect(response.status).toBe(200)
          expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8")
          expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${batchId}.csv"`)
          expect(response.headers.get("transfer-encoding")).toBe("chunked")
          expect(response.headers.get("content-length")).toBeNull()
          expect(response.headers.get("x-request-id")).toBeTruthy()
          // the same bytes as the service's one-string form
          const text = yield* exports.csvText(Ids.TenantId.make("default"), s.actors.viewer!, batchId)
          expect(bytes).toStrictEqual(new TextEncoder().encode(text))
          // complete and balanced: every entry, one balanced journal each
          const rows = csvRows(new TextDecoder().decode(bytes!))
          expect(rows[0]!.join(",")).toBe(QboExport.QBO_COLUMNS.join(","))
          const net = new Map<string, bigint>()
          for (const row of rows.slice(1)) {
            expect(row.length).toBe(11)
            const cents = (v: string) => (v === "" ? 0n : BigInt(v.replace(".", "")))
            net.set(row[0]!, (net.get(row[0]!) ?? 0n) + cents(row[5]!) - cents(row[6]!))
          }
          expect(rows.length).toBe(1 + 2 * ENTRIES)
          expect([...net.keys()]).toStrictEqual(Array.from({ length: ENTRIES }, (_, i) => String(i + 1)))
          expect([...net.values()].every((v) => v === 0n)).toBe(true)
          expect(rows.filter((r) => r[0] === "10").map((r) => [r[5], r[6]])).toStrictEqual([["10.05", ""], [
            "",
            "10.05"
          ]])
          // the third party's formula arrives inert, the other text as written
          expect(rows.filter((r) => r[0] === "2").map((r) => r[3])).toStrictEqual([`'${FORMULA}`, `'${FORMULA}`])
          expect(rows.find((r) => r[0] === "5")![3]).toBe('Café ☕, "quoted"')
          // a refetch is byte-identical; the typed client reads the same text
          expect((yield* download(url, H.tokens.viewer)).bytes).toStrictEqual(bytes)
          expect(yield* s.client(H.tokens.viewer).ledger.exportQboCsv({ path: { batch_id: batchId } })).toBe(text)
          // failures before the first byte keep their status and error body
          H.expectError(
            yield* s.raw("/api/v1/export/qbo/qbo_missing.csv", { headers: H.auth(H.tokens.viewer) }),
            404,
            "not_found"
          )
          H.expectError(
            yield* s.raw(`/api/v1/export/qbo/${batchId}.csv`, { headers: H.auth(H.tokens.acmeOwner) }),
            404,
            "not_found"
          )
        }))
    }
  )

// a host that overrides the currency table (here USD kept to the mill) reads amounts back with
// the decimals they were written with, in entries, listings and the trial balance
layer(H.layer({ storage: "sqlite", ledger: { currencyExponents: { ...Money.CurrencyExponents, USD: 3 } } }), {
  excludeTestServices: true
})(
  "currency table override",
  (it) => {
    it.effect("amounts print with the journal's exponents", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        for (
          const a of [{ code: "1000", name: "Cash", type: "Asset" }, { code: "4000", name: "Sales", type: "Income" }]
        ) {
          expect((yield* s.raw("/api/v1/ledger/accounts", H.json("POST", H.tokens.owner, a))).status).toBe(201)
        }
        const posted = yield* s.raw("/api/v1/ledger/entries", H.json("POST", H.tokens.bookkeeper, entry("1.234")))
        expect(posted.status).toBe(201)
        expect(posted.json.entry.lines.map((l: any) => l.amount)).toStrictEqual(["1.234", "1.234"])
        const list = yield* s.raw("/api/v1/ledger/entries", { headers: H.auth(H.tokens.viewer) })
        expect(list.json.items[0].lines[0].amount).toBe("1.234")
        const tb = yield* s.raw("/api/v1/ledger/trial-balance?as_of=2026-12-31", { headers: H.auth(H.tokens.viewer) })
        expect(tb.json.totals).toStrictEqual([{ currency: "USD", debit: "1.234", credit: "1.234", net: "0.000" }])
        const stored = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`SELECT CAST(amount_minor AS TEXT) AS a FROM ledger_lines WHERE tenant_id = 'default'`.pipe(Effect.orDie))
        expect(stored.map((r: any) =>
          r.a
        )).toStrictEqual(["1234", "1234"])
      }))
  }
)

describe("QuickBooks download", () => {
  downloadSuite("sqlite")
  if (H.pgEnabled()) downloadSuite("postgres")

  // SQLite only: its column affinity lets the test store an amount no reader can decode
  layer(H.layer({ storage: "sqlite", ledger: { exportPageSize: PAGE } }), { excludeTestServices: true })(
    "failure mid-stream",
    (it) => {
      it.effect("cuts the connection instead of ending a shorter file cleanly; the cause is logged", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const sql = yield* SqlClient.SqlClient
          const batchId = yield* postBatch(s)
          // entry 8 is on the third page: the header and two pages are out before it fails
          yield* sql`UPDATE ledger_lines SET amount_minor = 'corrupt' WHERE tenant_id = 'default' AND entry_no = 8`
            .pipe(Effect.orDie)
          const requestId = "export-cut-1"
          const cut = yield* download(`${s.url}/api/v1/export/qbo/${batchId}.csv`, H.tokens.viewer, {
            "x-request-id": requestId
          })
          // whether the client had the headers or not by then, it never gets a response that ends cleanly
          expect(cut.bytes).toBeNull()
          expect(cut.failure).toMatch(/terminated|other side closed|socket/i)
          const line = s.logs.find((l) => l.includes("export download failed") && l.includes(requestId))
          expect(JSON.parse(line!)).toMatchObject({ annotations: { batch_id: batchId, request_id: requestId } })
          // the server keeps serving
          H.expectError(
            yield* s.raw("/api/v1/export/qbo/qbo_missing.csv", { headers: H.auth(H.tokens.viewer) }),
            404,
            "not_found"
          )
        }))
    }
  )
})

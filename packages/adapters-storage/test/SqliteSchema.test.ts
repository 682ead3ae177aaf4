/**
 * The SQLite schema itself: the WAL journal, migrations applied once, and the partial indexes on
 * optional references. (The ports' behaviour on SQLite is the conformance suites', in Sqlite.test.ts.)
 */
import { Migrations, Sqlite } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

it.effect("sqlite file: WAL journal, migrations at head, reopening migrates nothing twice", () =>
  Effect.gen(function*() {
    const path = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "reopen.db")
    const inspect = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const mode = yield* sql`PRAGMA journal_mode`
      return { mode: String(mode[0]!.journal_mode), status: yield* Migrations.status }
    })
    const first = yield* Effect.provide(inspect, Sqlite.layerClient({ filename: path }))
    const second = yield* Effect.provide(inspect, Sqlite.layerClient({ filename: path }))
    expect(first.mode).toBe("wal")
    expect(first.status).toStrictEqual({ current: Migrations.head, head: Migrations.head, atHead: true })
    expect(second.status.current).toBe(Migrations.head)
  }))

it.effect("optional references are indexed only where set: lookups use the partial indexes, NULLs never collide, keys stay unique", () =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const defs = yield* sql<{ name: string; sql: string }>`SELECT name, sql FROM sqlite_master
      WHERE type = 'index' AND name IN ('airlock_actions_idempotency', 'ledger_entries_idempotency', 'ledger_entries_reverses',
                                        'ledger_entries_proposal', 'ledger_entries_bank_txn') ORDER BY name`
    expect(defs.map((d) => [d.name, /WHERE \w+ IS NOT NULL$/.test(d.sql)])).toStrictEqual([
      ["airlock_actions_idempotency", true],
      ["ledger_entries_bank_txn", true],
      ["ledger_entries_idempotency", true],
      ["ledger_entries_proposal", true],
      ["ledger_entries_reverses", true]
    ])
    const plan = yield* sql<
      { detail: string }
    >`EXPLAIN QUERY PLAN SELECT * FROM ledger_entries WHERE tenant_id = ${"t"} AND idempotency_key = ${"k"}`
    expect(plan.map((p) => p.detail).join()).toContain("USING INDEX ledger_entries_idempotency")
    const insert = (id: string, no: number, key: string | null) =>
      sql`INSERT INTO ledger_entries (tenant_id, id, entry_no, date, memo, currency, source, proposal_id, bank_transaction_id,
            reverses_entry_id, idempotency_key, content_hash, posted_by, posted_at)
          VALUES ('t', ${id}, ${no}, '2026-01-01', 'm', 'USD', 'manual', NULL, NULL, NULL, ${key}, 'h', 'p', 0)`
    yield* insert("a", 1, null)
    yield* insert("b", 2, null)
    yield* insert("c", 3, "k")
    const duplicate = yield* Effect.flip(insert("d", 4, "k"))
    expect((duplicate.cause as { code?: string }).code).toBe("SQLITE_CONSTRAINT_UNIQUE")
  }).pipe(Effect.provide(Sqlite.layerClient({ filename: ":memory:" }))))

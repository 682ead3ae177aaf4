/**
 * The tenant-owned data registry against the live schema: on SQLite and PostgreSQL every table
 * is declared (tenant-owned or system-level), no table with a `tenant_id` column is system-level,
 * and every declared table, tenant column and key column exists; in memory every table the
 * adapter makes is declared. A migration adding a table without its registry row fails here.
 */
import { Memory, MemoryDatabase, Postgres, Sqlite, TenantTables } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

const check = Effect.gen(function*() {
  const live = yield* TenantTables.liveSchema
  // the probe must see the schema it checks
  expect(live.some((t) => t.table === "ledger_entries")).toBe(true)
  expect(TenantTables.schemaProblems(live)).toStrictEqual([])
  // and it must catch a table nobody declared, and a tenant table declared system-level
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE companion_probe_rows (tenant_id TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tenant_id, id))`
  const after = yield* TenantTables.liveSchema
  expect(TenantTables.schemaProblems(after)).toStrictEqual([
    "companion_probe_rows: not declared (add it to tenantTables, or to systemTables with a reason)"
  ])
  expect(
    TenantTables.schemaProblems(after, {
      tenant: TenantTables.tenantTables,
      system: [...TenantTables.systemTables, { table: "companion_probe_rows", reason: "wrong" }]
    })
  ).toStrictEqual(["companion_probe_rows: has a tenant_id column but is declared system-level"])
  expect(
    TenantTables.schemaProblems(after, {
      tenant: [...TenantTables.tenantTables, {
        table: "companion_probe_rows",
        tenantColumn: "tenant",
        key: ["id"],
        deleteOrder: 1
      }],
      system: TenantTables.systemTables
    })
  ).toStrictEqual(["companion_probe_rows: no column tenant"])
  yield* sql`DROP TABLE companion_probe_rows`
})

describe("TenantTables", () => {
  it.effect("sqlite: every table is declared", () =>
    check.pipe(Effect.provide(Sqlite.layer({ filename: ":memory:" })), Effect.orDie))

  it.effect("postgres: every table is declared", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabaseUrl(pgAdminUrl())
      yield* check.pipe(Effect.provide(Postgres.layer({ url, maxConnections: 2 })))
    }).pipe(Effect.scoped, Effect.orDie), { timeout: 60_000 })

  it.effect("memory: every table the adapter makes is declared", () =>
    Effect.gen(function*() {
      const db = yield* MemoryDatabase.MemoryDatabase
      const names = db.tableNames()
      expect(names.length).toBeGreaterThan(30)
      expect(names.filter((n) => !(n in TenantTables.memoryTables))).toStrictEqual([])
      // every exported memory table is a registered SQL table
      const sqlNames = new Set(TenantTables.tenantTables.map((t) => t.table))
      const exported = Object.values(TenantTables.memoryTables).flatMap((r) =>
        r._tag !== "System" && r.export !== null ? [r.export] : []
      )
      expect(exported.filter((e) => !sqlNames.has(e))).toStrictEqual([])
    }).pipe(Effect.provide(Layer.fresh(Memory.layer))))
})

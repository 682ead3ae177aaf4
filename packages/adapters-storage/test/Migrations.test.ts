/**
 * Migration 0006 gives every package's tables its prefix on a database that already holds rows:
 * the rows, keys and indexes move with their tables, on SQLite and on PostgreSQL.
 */
import { Migrations, Postgres, Sqlite } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Migrator from "@effect/sql/Migrator"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Redacted } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

/** The schema as databases in the field have it: every migration before the renames. */
const before = Migrator.make({})({
  loader: Migrator.fromRecord(
    Object.fromEntries(Object.entries(Migrations.migrations).filter(([k]) => Number.parseInt(k, 10) < 6))
  )
})

const seed = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* before
  yield* sql`INSERT INTO airlock_tenants (id, name, ai_companion_enabled, created_at) VALUES ('acme', 'Acme', 1, 1)`
  yield* sql`INSERT INTO airlock_guard_counters (key, window_start, count, expires_at) VALUES ('rpm:acme', 0, 3, 60)`
  yield* sql`INSERT INTO ledger_counters (tenant_id, name, value) VALUES ('acme', 'entry_no', 7)`
}).pipe(Effect.orDie)

const inspect = (tables: Effect.Effect<ReadonlyArray<{ readonly name: string }>, unknown, SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const names = (yield* tables).map((t) => t.name).sort()
    const duplicate = yield* Effect.either(
      sql`INSERT INTO core_tenants (id, name, ai_companion_enabled, created_at) VALUES ('acme', 'Again', 1, 2)`
    )
    return {
      status: yield* Migrations.status,
      unprefixed: names.filter((n) =>
        !/^(core|guardrails|ledger|companion|ops)_/.test(n) && n !== "effect_sql_migrations"
      ),
      prefixes: [...new Set(names.map((n) => n.split("_")[0]))].sort(),
      tenants: (yield* sql`SELECT id, name FROM core_tenants`).map((r) => [r.id, r.name]),
      counters: (yield* sql`SELECT key, CAST(count AS TEXT) AS count FROM guardrails_counters`).map((
        r
      ) => [r.key, r.count]),
      ledger: (yield* sql`SELECT CAST(value AS TEXT) AS value FROM ledger_counters WHERE tenant_id = 'acme'`).map((r) =>
        r.value
      ),
      oldTableGone: Either.isLeft(yield* Effect.either(sql`SELECT id FROM airlock_tenants`)),
      keyKept: Either.isLeft(duplicate)
    }
  }).pipe(Effect.orDie)

const expected = {
  status: { current: Migrations.head, head: Migrations.head, atHead: true },
  unprefixed: [],
  prefixes: ["companion", "core", "effect", "guardrails", "ledger", "ops"],
  tenants: [["acme", "Acme"]],
  counters: [["rpm:acme", "3"]],
  ledger: ["7"],
  oldTableGone: true,
  keyKept: true
}

describe("migration 0006: table prefixes", () => {
  it.effect("sqlite: a database with rows is renamed in place, rows and keys kept", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "prefixes.db")
      yield* Effect.provide(seed, SqliteClient.layer({ filename }))
      const tables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`)
      const after = yield* Effect.provide(inspect(tables), Sqlite.layerClient({ filename }))
      expect(after).toStrictEqual(expected)
    }))

  const admin = pgAdminUrl()
  if (admin === "") it.skip("postgres: turned off with AIRLOCK_TEST_PG=off", () => {})
  else it.effect(
      "postgres: a database with rows is renamed in place, rows and keys kept",
      () =>
        Effect.gen(function*() {
          const url = yield* freshDatabaseUrl(admin)
          yield* Effect.provide(seed, PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
          const tables = Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql<
                { name: string }
              >`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`
          )
          const after = yield* Effect.provide(
            inspect(tables),
            Layer.orDie(Postgres.layerClient({ url, maxConnections: 1 }))
          )
          expect(after).toStrictEqual(expected)
        }),
      60_000
    )
})

/** Status and report read before, and again after, a first migration run on one connection. */
const freshThenMigrated = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const before = { status: yield* Migrations.status, report: yield* Migrations.report }
  const ran = yield* Migrations.run
  const after = { status: yield* Migrations.status, report: yield* Migrations.report }
  const recorded = yield* sql`SELECT COUNT(*) AS n FROM effect_sql_migrations`
  return { before, ran: ran.length, after, recorded: Number(recorded[0]!.n) }
}).pipe(Effect.orDie)

const codeMigrations = Object.keys(Migrations.migrations).map((key) => ({
  id: Number.parseInt(key, 10),
  name: key.slice(key.indexOf("_") + 1)
}))

const expectedFresh = {
  before: {
    status: { current: 0, head: Migrations.head, atHead: false },
    report: {
      current: 0,
      head: Migrations.head,
      atHead: false,
      initialized: false,
      applied: 0,
      pending: codeMigrations
    }
  },
  ran: codeMigrations.length,
  after: {
    status: { current: Migrations.head, head: Migrations.head, atHead: true },
    report: {
      current: Migrations.head,
      head: Migrations.head,
      atHead: true,
      initialized: true,
      applied: codeMigrations.length,
      pending: []
    }
  },
  recorded: codeMigrations.length
}

describe("migration status on a fresh database (no migrations table yet)", () => {
  it.effect("sqlite: nothing applied, every migration pending; after a run, at head on the same connection", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "fresh.db")
      const result = yield* Effect.provide(freshThenMigrated, SqliteClient.layer({ filename }))
      expect(result).toStrictEqual(expectedFresh)
    }))

  it.effect("a partly migrated database: the newer migrations are pending, in order", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "partial.db")
      const report = yield* Effect.provide(
        Effect.zipRight(before, Migrations.report).pipe(Effect.orDie),
        SqliteClient.layer({ filename })
      )
      expect(report).toMatchObject({ current: 5, initialized: true, applied: 5, atHead: false })
      expect(report.pending).toStrictEqual(codeMigrations.filter((m) => m.id > 5))
    }))

  it.effect("a database that cannot be read fails; it is never reported as empty", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "closed.db")
      const foreign = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // a table of that name that is not the Migrator's: its read fails
        yield* sql`CREATE TABLE effect_sql_migrations (other TEXT)`
        return yield* Effect.either(Migrations.status)
      }).pipe(Effect.orDie)
      const result = yield* Effect.provide(foreign, SqliteClient.layer({ filename }))
      expect(Either.isLeft(result)).toBe(true)
    }))

  const admin = pgAdminUrl()
  if (admin === "") it.skip("postgres: turned off with AIRLOCK_TEST_PG=off", () => {})
  else it.effect(
      "postgres: nothing applied, every migration pending; after a run, at head on the same connection",
      () =>
        Effect.gen(function*() {
          const url = yield* freshDatabaseUrl(admin)
          const result = yield* Effect.provide(
            freshThenMigrated,
            PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })
          )
          expect(result).toStrictEqual(expectedFresh)
        }),
      60_000
    )
})

/**
 * Schema migrations for the SQL adapters, run with `@effect/sql`'s Migrator on SQLite and on
 * PostgreSQL alike (the DDL is portable: TEXT, BIGINT, INTEGER flags, JSON as TEXT).
 */
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { Effect } from "effect"
import { all, headId } from "./migrations/index.js"

/** The migrations record, for hosts that run the Migrator themselves. */
export const migrations = all

/** Id of the newest migration. */
export const head = headId

const runMigrations = Migrator.make({})

/** Applies every pending migration; returns the ones applied now. */
export const run = runMigrations({ loader: Migrator.fromRecord(all) })

/** Where the database stands against the code's migrations (for readiness checks). */
export interface MigrationStatus {
  readonly current: number
  readonly head: number
  readonly atHead: boolean
}

/** One of the code's migrations. */
export interface MigrationRef {
  readonly id: number
  readonly name: string
}

/** {@link MigrationStatus} with what is applied and what is pending (for `airlock migrate status`). */
export interface MigrationReport extends MigrationStatus {
  /** False on a fresh database: the migrations table does not exist yet, nothing is applied. */
  readonly initialized: boolean
  /** How many migrations the database records as applied. */
  readonly applied: number
  /** The code's migrations a run would apply, oldest first (every one of them on a fresh database). */
  readonly pending: ReadonlyArray<MigrationRef>
}

const known: ReadonlyArray<MigrationRef> = Object.keys(all).map((key) => {
  const [, id, name] = key.match(/^(\d+)_(.+)$/)!
  return { id: Number(id), name: name! }
}).sort((a, b) => a.id - b.id)

const TABLE = "effect_sql_migrations"

/**
 * Whether the migrations table exists, asked of the catalogue: a read of the absent table would
 * fail, and on SQLite the failed statement stays in the client's statement cache, so the same
 * read keeps failing after a migration run creates the table.
 */
const initialized = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.onDialectOrElse({
    sqlite: () => sql`SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ${TABLE}`,
    pg: () => sql`SELECT 1 AS found WHERE to_regclass(${TABLE}) IS NOT NULL`,
    orElse: () => sql`SELECT 1 AS found FROM information_schema.tables WHERE table_name = ${TABLE}`
  })
  return rows.length > 0
})

/**
 * What is applied and what is pending. A fresh database (no migrations table yet) reports
 * `initialized: false`, 0 applied and every migration pending; a database that cannot be read
 * fails (it is never reported as empty).
 */
export const report = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const ready = yield* initialized
  const rows = ready ? yield* sql`SELECT migration_id AS id FROM effect_sql_migrations` : []
  const ids = rows.map((r) => Number(r.id))
  const current = ids.reduce((max, id) => Math.max(max, id), 0)
  return {
    current,
    head: headId,
    atHead: current >= headId,
    initialized: ready,
    applied: ids.length,
    // what the Migrator runs: every migration newer than the latest applied one
    pending: known.filter((m) => m.id > current)
  } satisfies MigrationReport
})

/** Reads the latest applied migration id (0 on a fresh database). */
export const status = Effect.map(report, ({ atHead, current, head }): MigrationStatus => ({ current, head, atHead }))

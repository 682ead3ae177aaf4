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

/** Reads the latest applied migration id. */
export const status = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT MAX(migration_id) AS id FROM effect_sql_migrations`.pipe(
    Effect.catchAll(() => Effect.succeed([{ id: 0 }]))
  )
  const current = Number(rows[0]?.id ?? 0)
  return { current, head: headId, atHead: current >= headId } satisfies MigrationStatus
})

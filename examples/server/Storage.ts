/**
 * The reference distribution's storage choice, shared by the server and the `airlock` CLI so both
 * open the same database the same way: embedded SQLite at `AIRLOCK_DB` (default `./airlock.db`
 * where the command was typed), or PostgreSQL when `AIRLOCK_DATABASE_URL` is set. Both layers run
 * the pending migrations when they open.
 */
import { Postgres, Sqlite } from "@airlock/adapters-storage"
import type { SqliteClient } from "@effect/sql-sqlite-node"
import type { MigrationError } from "@effect/sql/Migrator"
import type { SqlError } from "@effect/sql/SqlError"
import { Config, type ConfigError, Effect, type Layer, Option, Redacted } from "effect"
import { join } from "node:path"

/** Which store, and how to name it to a person. */
export interface StorageChoice {
  /** The SQLite file (also when PostgreSQL is chosen: backups and defaults are placed beside it). */
  readonly filename: string
  /** The PostgreSQL URL, or null for SQLite. */
  readonly postgresUrl: string | null
  /** `SQLite <file>` or `PostgreSQL`. */
  readonly name: string
}

/** Reads `AIRLOCK_DATABASE_URL` and `AIRLOCK_DB`. */
export const config = Effect.gen(function*() {
  const databaseUrl = yield* Config.option(Config.redacted("AIRLOCK_DATABASE_URL"))
  // pnpm runs scripts inside their package; INIT_CWD is where the user typed the command
  const filename = yield* Config.string("AIRLOCK_DB").pipe(
    Config.withDefault(join(process.env.INIT_CWD ?? process.cwd(), "airlock.db"))
  )
  const postgresUrl = Option.getOrNull(Option.map(databaseUrl, Redacted.value))
  return {
    filename,
    postgresUrl,
    name: postgresUrl === null ? `SQLite ${filename}` : "PostgreSQL"
  } satisfies StorageChoice
})

/** Every storage port (both adapters provide them, and their `SqlClient`). */
export type StoragePorts = Exclude<Layer.Layer.Success<ReturnType<typeof Sqlite.layer>>, SqliteClient.SqliteClient>

/** Every port on the chosen store, migrated. */
export const layer = (
  choice: StorageChoice
): Layer.Layer<StoragePorts, SqlError | MigrationError | ConfigError.ConfigError> =>
  choice.postgresUrl === null
    ? Sqlite.layer({ filename: choice.filename })
    : Postgres.layer({ url: choice.postgresUrl })

/**
 * The embedded default: SQLite through `@effect/sql-sqlite-node` (better-sqlite3), WAL mode,
 * migrated on start. Use a file path, or `:memory:` for a throwaway database.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { SqlClient } from "@effect/sql"
import type { Ports } from "@airlock/core"
import type { Ports as GuardrailsPorts } from "@airlock/guardrails"
import type { Ports as LedgerPorts } from "@airlock/ledger"
import type { SqlError } from "@effect/sql/SqlError"
import type { MigrationError } from "@effect/sql/Migrator"
import type { ConfigError } from "effect/ConfigError"
import { Effect, Layer } from "effect"
import * as Migrations from "./Migrations.js"
import * as SqlStores from "./SqlStores.js"

/** Options of the SQLite adapter. */
export interface SqliteOptions {
  /** Database file, or `:memory:`. */
  readonly filename: string
}

const pragmas = Layer.effectDiscard(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`PRAGMA foreign_keys = ON`
    yield* sql`PRAGMA busy_timeout = 5000`
    yield* sql`PRAGMA synchronous = NORMAL`
  })
)

/** The SQLite client alone, migrated: provides `SqliteClient` and `SqlClient`. */
export const layerClient = (
  options: SqliteOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, SqlError | MigrationError | ConfigError> =>
  Layer.provideMerge(
    Layer.effectDiscard(Migrations.run),
    Layer.provideMerge(pragmas, SqliteClient.layer({ filename: options.filename }))
  )

/** Every port on SQLite, migrated; also provides the clients for hosts that add their own tables. */
export const layer = (
  options: SqliteOptions
): Layer.Layer<Ports.CorePorts | LedgerPorts.LedgerPorts | GuardrailsPorts.GuardrailsPorts | SqliteClient.SqliteClient | SqlClient.SqlClient, SqlError | MigrationError | ConfigError> => Layer.provideMerge(SqlStores.layer, layerClient(options))

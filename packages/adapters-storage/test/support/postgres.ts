/** Fresh PostgreSQL databases for test suites, on the server the global setup provides. */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { inject } from "vitest"

/** The admin URL of the test server ("" when PostgreSQL tests were turned off on purpose). */
export const pgAdminUrl = (): string => inject("pgUrl")

/** Creates an empty database and returns its URL, so each suite starts from a clean schema. */
export const freshDatabaseUrl = (adminUrl: string): Effect.Effect<string> =>
  Effect.gen(function*() {
    const name = `airlock_t_${randomBytes(6).toString("hex")}`
    yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })),
      Effect.orDie
    )
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return url.toString()
  })

/**
 * The scheduler's due read (`WHERE enabled = 1 AND next_due_at <= now ORDER BY next_due_at, name
 * LIMIT n`) walks an index in that order: with thousands of schedules due at one instant, the
 * index on `next_due_at` alone left every round of a tick sorting all of them by name.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX ops_schedules_due`
  yield* sql`CREATE INDEX ops_schedules_due ON ops_schedules (next_due_at, name) WHERE enabled = 1`
})

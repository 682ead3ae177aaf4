/**
 * Readiness as the HTTP adapter serves it at `/readyz`: the check registry is ops' `Readiness`
 * (re-exported here, so hosts keep importing it from the adapter), and this module adds the SQL
 * checks ({@link layerSql}). Outcomes are public (probes call `/readyz` without a token), so a
 * check reports a reason, never a driver message or a connection string.
 */
import { Readiness as OpsReadiness } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"

/** The registry of readiness checks (ops' `Readiness`). */
export const Readiness = OpsReadiness.Readiness
/** The registry of readiness checks (ops' `Readiness`). */
export type Readiness = OpsReadiness.Readiness
/** A check's refusal, with a short public reason and optional public details. */
export const ReadinessFailure = OpsReadiness.ReadinessFailure
/** A check's refusal, with a short public reason and optional public details. */
export type ReadinessFailure = OpsReadiness.ReadinessFailure
/** A check: succeeds (optionally with public details) when its dependency is ready. */
export type Check = OpsReadiness.Check
/** One check's outcome in a report. */
export type CheckOutcome = OpsReadiness.CheckOutcome
/** The outcome of every registered check. */
export type Report = OpsReadiness.Report

/** Where a database stands against the code's migrations (as `Migrations.status` of adapters-storage reports it). */
export interface MigrationStatus {
  readonly current: number
  readonly head: number
  readonly atHead: boolean
}

/**
 * Registers the SQL checks: `storage` (a `SELECT 1` round trip) and, when given, `migrations`
 * (the database is at the code's newest migration; pass `Migrations.status` from
 * `@airlock/adapters-storage`).
 */
export const layerSql = (options: {
  readonly migrations?: Effect.Effect<MigrationStatus, unknown, SqlClient.SqlClient>
} = {}): Layer.Layer<never, never, Readiness | SqlClient.SqlClient> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const sql = yield* SqlClient.SqlClient
      yield* readiness.register(
        "storage",
        sql`SELECT 1 AS ok`.pipe(
          Effect.asVoid,
          Effect.mapError(() => new ReadinessFailure({ reason: "unreachable" }))
        )
      )
      const migrations = options.migrations
      if (migrations !== undefined) {
        yield* readiness.register(
          "migrations",
          migrations.pipe(
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.mapError(() => new ReadinessFailure({ reason: "unreadable" })),
            Effect.flatMap((s) =>
              s.atHead
                ? Effect.succeed({ current: s.current, head: s.head })
                : Effect.fail(new ReadinessFailure({ reason: "behind", details: { current: s.current, head: s.head } }))
            )
          )
        )
      }
    })
  )

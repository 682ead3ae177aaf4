/**
 * Readiness checks behind `/readyz`. Packages and hosts register named checks (storage
 * reachable, migrations at head, …); a report runs them all concurrently, each under a timeout,
 * and the server answers 503 `unavailable` with every check's outcome when one fails. Outcomes
 * are public (probes call `/readyz` without a token), so a check reports a reason, never a
 * driver message or a connection string; unexpected check errors are logged, not shown.
 */
import { SqlClient } from "@effect/sql"
import { Data, Duration, Effect, Layer } from "effect"

/** A check's refusal, with a short public reason and optional public details. */
export class ReadinessFailure extends Data.TaggedError("ReadinessFailure")<{
  readonly reason: string
  readonly details?: Record<string, unknown>
}> {}

/** A check: succeeds (optionally with public details) when its dependency is ready. */
export type Check = Effect.Effect<Record<string, unknown> | void, ReadinessFailure>

/** One check's outcome in a report. */
export interface CheckOutcome {
  readonly ok: boolean
  readonly duration_ms: number
  readonly reason?: string
  readonly [key: string]: unknown
}

/** The outcome of every registered check. */
export interface Report {
  readonly ready: boolean
  readonly checks: Record<string, CheckOutcome>
}

/** The registry of readiness checks. */
export class Readiness extends Effect.Service<Readiness>()("@airlock/adapters-http/Readiness", {
  sync: () => {
    const checks = new Map<string, Check>()
    let timeout = Duration.seconds(2)

    const runOne = (name: string, check: Check) =>
      Effect.gen(function*() {
        const started = performance.now()
        const elapsed = () => Math.round((performance.now() - started) * 10) / 10
        const result = yield* check.pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new ReadinessFailure({ reason: "timeout" }) }),
          Effect.either
        )
        const outcome: CheckOutcome = result._tag === "Right"
          ? { ok: true, duration_ms: elapsed(), ...(result.right ?? {}) }
          : { ok: false, duration_ms: elapsed(), reason: result.left.reason, ...(result.left.details ?? {}) }
        return [name, outcome] as const
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(
            Effect.logError("readiness check failed unexpectedly", cause).pipe(Effect.annotateLogs("check", name)),
            [name, { ok: false, duration_ms: 0, reason: "error" } satisfies CheckOutcome] as const
          )
        )
      )

    return {
      /** Registers (or replaces) a named check. */
      register: (name: string, check: Check): Effect.Effect<void> => Effect.sync(() => void checks.set(name, check)),
      /** Sets the per-check timeout (default 2 s). */
      setTimeout: (duration: Duration.DurationInput): Effect.Effect<void> =>
        Effect.sync(() => void (timeout = Duration.decode(duration))),
      /** Runs every check concurrently. No checks registered means ready. */
      report: Effect.suspend(() =>
        Effect.map(
          Effect.all([...checks].map(([name, check]) => runOne(name, check)), { concurrency: "unbounded" }),
          (entries): Report => ({ ready: entries.every(([, o]) => o.ok), checks: Object.fromEntries(entries) })
        )
      )
    }
  }
}) {}

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

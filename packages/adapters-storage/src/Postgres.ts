/**
 * The scale-out path: PostgreSQL through `@effect/sql-pg`. Every instance points at the same
 * database; row locks and unique keys keep promotion exactly-once across processes.
 */
import type { CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import type { CorePorts, TenantData } from "@airlock/core"
import type { GuardrailsPorts as GuardrailsPorts } from "@airlock/guardrails"
import { StopConditions } from "@airlock/guardrails"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import type { KpiStore, MaintenanceStore, ScheduleStore } from "@airlock/ops"
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { MigrationError } from "@effect/sql/Migrator"
import { SqlError } from "@effect/sql/SqlError"
import { Config, Context, Duration, Effect, Layer, Schedule } from "effect"
import type { ConfigError } from "effect/ConfigError"
import { createRequire } from "node:module"
import type { OpsRunsPorts } from "./internal/memory/ops-runs.js"
import * as Migrations from "./Migrations.js"
import * as SqlStores from "./SqlStores.js"

/** Options of the PostgreSQL adapter. */
export interface PostgresOptions {
  /** `postgres://user:pass@host:port/db` */
  readonly url: string
  /** Pool size (default 10). */
  readonly maxConnections?: number
}

/** What the connection pool of this process holds now. */
export interface PoolStats {
  /** Connections checked out (busy). */
  readonly in_use: number
  /** Connections open (busy or idle). */
  readonly open: number
  /** Queries waiting for a connection. */
  readonly waiting: number
  /** The pool's maximum. */
  readonly size: number
}

/** The connection pool of the PostgreSQL client ({@link layerClient}), for the pool-pressure sampler. */
export class PostgresPool extends Context.Tag("@airlock/adapters-storage/PostgresPool")<
  PostgresPool,
  { readonly stats: Effect.Effect<PoolStats> }
>() {}

// `pg`'s Pool as `@effect/sql-pg` itself loads it (the same module, not a second copy): the
// client built by `PgClient.layer` keeps its pool private, and the sampler needs its counters.
interface PgPool {
  readonly totalCount: number
  readonly idleCount: number
  readonly waitingCount: number
  query(text: string): Promise<unknown>
  end(): Promise<void>
  on(event: "error", listener: (e: unknown) => void): void
}
// `pg` is a declared dependency (the version @effect/sql-pg uses); it ships no types, hence the interface above
const loadPool = (): new(options: Record<string, unknown>) => PgPool => createRequire(import.meta.url)("pg").Pool

/** The PostgreSQL client alone, migrated: provides `PgClient`, `SqlClient` and its {@link PostgresPool}. */
export const layerClient = (
  options: PostgresOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | PostgresPool, SqlError | MigrationError | ConfigError> => {
  const size = options.maxConnections ?? 10
  const pool = Effect.acquireRelease(
    Effect.suspend(() => {
      const Pool = loadPool()
      const p = new Pool({ connectionString: options.url, max: size, application_name: "airlock" })
      p.on("error", () => {})
      return Effect.tryPromise({
        try: () => p.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(5),
          onTimeout: () =>
            new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
        }),
        Effect.tapError(() => Effect.promise(() => p.end()).pipe(Effect.timeoutOption(1000))),
        Effect.as(p)
      )
    }),
    (p) => Effect.promise(() => p.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
  )
  const shared = Layer.scopedContext(
    Effect.gen(function*() {
      const p = yield* pool
      const client = yield* PgClient.fromPool({ acquire: Effect.succeed(p as never), applicationName: "airlock" })
      const stats = Effect.sync((): PoolStats => ({
        in_use: p.totalCount - p.idleCount,
        open: p.totalCount,
        waiting: p.waitingCount,
        size
      }))
      return Context.make(PgClient.PgClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(PostgresPool, { stats })
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))
  return Layer.provideMerge(Layer.effectDiscard(Migrations.run), shared)
}

/** Settings of the pool-pressure sampler. */
export interface PoolSamplerSettings {
  /** Seconds between samples (`AIRLOCK_DB_POOL_SAMPLE_SECONDS`, default 10). */
  readonly intervalSeconds: number
}

/** `AIRLOCK_DB_POOL_SAMPLE_SECONDS` (default 10). */
export const poolSamplerConfig: Config.Config<PoolSamplerSettings> = Config.all({
  intervalSeconds: Config.number("AIRLOCK_DB_POOL_SAMPLE_SECONDS").pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => Number.isFinite(n) && n > 0 }),
    Config.withDefault(10)
  )
})

/**
 * Feeds the guardrails' `db_pool_pressure` stop condition: every `intervalSeconds` it reads this
 * process's pool and records one sample (busy connections, counting queries waiting for one, over
 * the pool's size) with `StopConditions.recordPoolSample`; the stop condition trips after its
 * consecutive samples at or above the threshold. Runs for the layer's lifetime; a failed record
 * is logged, never fatal.
 */
export const layerPoolSampler = (
  settings: Partial<PoolSamplerSettings> = {}
): Layer.Layer<never, never, PostgresPool | StopConditions.StopConditions> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const pool = yield* PostgresPool
      const stops = yield* StopConditions.StopConditions
      const interval = Duration.seconds(settings.intervalSeconds ?? 10)
      yield* pool.stats.pipe(
        Effect.flatMap((s) => stops.recordPoolSample({ in_use: Math.min(s.size, s.in_use + s.waiting), size: s.size })),
        Effect.catchAllCause((cause) => Effect.logWarning("db pool sample not recorded", cause)),
        Effect.repeat(Schedule.spaced(interval)),
        Effect.forkScoped
      )
    })
  )

/** {@link layerPoolSampler} with {@link poolSamplerConfig} from the environment. */
export const layerPoolSamplerConfig: Layer.Layer<
  never,
  ConfigError,
  PostgresPool | StopConditions.StopConditions
> = Layer.unwrapEffect(Effect.map(poolSamplerConfig, layerPoolSampler))

/** Every port on PostgreSQL, migrated; also provides the clients. */
export const layer = (
  options: PostgresOptions
): Layer.Layer<
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | KpiStore.KpiPorts
  | CompanionPorts.CompanionPorts
  | CompanionReportsPorts.CompanionReportsPorts
  | OpsRunsPorts
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | ScheduleStore.ScheduleStore
  | MaintenanceStore.MaintenanceStore
  | PgClient.PgClient
  | SqlClient.SqlClient
  | PostgresPool,
  SqlError | MigrationError | ConfigError
> => Layer.provideMerge(SqlStores.layer, layerClient(options))

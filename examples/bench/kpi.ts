/**
 * KPI rollups over 1,000,000 product events of one tenant, on SQLite (a temp file, WAL) and on
 * PostgreSQL (`AIRLOCK_BENCH_PG_URL`, or a throwaway cluster from the machine's binaries; skipped
 * when there is neither). The events (30 days, 50,000 users, the four funnel steps) are generated
 * in SQL, so loading is not what is measured. Measured: `KpiRollups.compute` over the 30 days —
 * per-day step counts with distinct subjects, and each cohort's D1/D7 — run as SQL aggregates.
 * Time is the best of 3 runs (the first run beside it, cold). The events are loaded in the
 * bench process; the 3 rollups run in a forked child of their own (`support/PeakMemory.ts`),
 * which reports their peak resident set and V8 heap over what the child used before them — the
 * rollups' own memory, not the load's: it must stay small, the rollup must not load the events
 * into memory. `BENCH_KPI_EVENTS` sets a smaller size for a quick run.
 *
 *   pnpm bench kpi
 */
import { Postgres, Sqlite } from "@airlock/adapters-storage"
import { Rbac } from "@airlock/core"
import { KpiConfig, KpiRollups } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { findPgBin, startCluster } from "../../scripts/pg-cluster.js"
import type { BenchRow } from "./main.js"
import * as PeakMemory from "./support/PeakMemory.js"

const EVENTS = Number(process.env.BENCH_KPI_EVENTS ?? 1_000_000)
const DAYS = 30
const USERS = 50_000
const TENANT = "bench"
const BASE_DAY = 20_000 // 2024-10-04

const columns = (series: string) => `
  SELECT '${TENANT}', 'e' || i,
    CASE WHEN i % 10 < 4 THEN 'landing' WHEN i % 10 < 7 THEN 'run' WHEN i % 10 < 9 THEN 'replay_start'
         ELSE 'replay_complete' END,
    'user:' || ((i * 7919) % ${USERS}),
    (${BASE_DAY} + (i % ${DAYS})) * 86400000 + (i % 86400) * 1000,
    ${BASE_DAY} + (i % ${DAYS}),
    0
  FROM ${series}`

const load = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const insert = "INSERT INTO ops_product_events (tenant_id, event_id, step, subject, occurred_at, day, recorded_at)"
  yield* sql.onDialectOrElse({
    pg: () => sql.unsafe(`${insert} ${columns(`generate_series(CAST(0 AS BIGINT), ${EVENTS - 1}) AS i`)}`),
    orElse: () =>
      sql.unsafe(
        `${insert} WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${EVENTS - 1}) ${
          columns("n")
        }`
      )
  })
  yield* sql.onDialectOrElse({
    pg: () => sql.unsafe("ANALYZE ops_product_events"),
    orElse: () => sql.unsafe("ANALYZE")
  })
})

const rollups = Effect.flatMap(KpiRollups.KpiRollups, (k) => k.compute(TENANT, BASE_DAY, BASE_DAY + DAYS - 1))

const environment = (storage: Layer.Layer<any, unknown>) =>
  ManagedRuntime.make(
    KpiRollups.KpiRollups.Default.pipe(
      Layer.provideMerge(Layer.mergeAll(KpiConfig.layer(), Rbac.layer)),
      Layer.provideMerge(storage)
    )
  )

type Store = "sqlite" | "postgres"
const storageOf = (store: Store, target: string) =>
  store === "sqlite" ? Sqlite.layer({ filename: target }) : Postgres.layer({ url: target, maxConnections: 4 })

interface Rollups {
  readonly times: ReadonlyArray<number>
  readonly days: number
  readonly checked: number
  readonly peak: PeakMemory.Peak
}

/** In the child: connect, then the 3 rollups, tracked. */
const rollupChild = async ([store, target]: ReadonlyArray<string>): Promise<Rollups> => {
  const runtime = environment(storageOf(store as Store, target!))
  try {
    await runtime.runPromise(Effect.void) // connect (and migrate) before the measured window
    const { peak, result } = await PeakMemory.track(async () => {
      const times: Array<number> = []
      let days = 0
      let checked = 0
      for (let run = 0; run < 3; run++) {
        const started = performance.now()
        const rows = await runtime.runPromise(rollups)
        times.push(performance.now() - started)
        days = rows.length
        checked = rows.reduce((n, r) => n + Object.values(r.steps).reduce((m, s) => m + s.events, 0), 0)
      }
      return { times, days, checked }
    })
    return { ...result, peak }
  } finally {
    await runtime.dispose()
  }
}

const measure = async (name: string, store: Store, target: string): Promise<ReadonlyArray<BenchRow>> => {
  const runtime = environment(storageOf(store, target))
  let loadMs: number
  try {
    const loadStart = performance.now()
    await runtime.runPromise(load)
    loadMs = performance.now() - loadStart
  } finally {
    await runtime.dispose()
  }
  const outcome = await PeakMemory.inChild<Rollups>(import.meta.url, "kpi", [store, target])
  if (outcome._tag === "Failed") throw new Error(`kpi child failed (exit ${outcome.exitCode}): ${outcome.error}`)
  const { checked, days, peak, times } = outcome.value
  if (checked !== EVENTS) throw new Error(`rollup counted ${checked} events, expected ${EVENTS}`)
  return [
    {
      name: `${name}: load ${EVENTS.toLocaleString("en-US")} events (SQL-generated, with indexes)`,
      value: `${(loadMs / 1000).toFixed(1)} s`
    },
    {
      name: `${name}: roll up ${days} days (counts, distinct subjects, D1/D7 cohorts)`,
      value: `${Math.min(...times).toFixed(0)} ms best of 3`,
      baseline: `first run ${times[0]!.toFixed(0)} ms`
    },
    {
      name: `${name}: memory of the 3 rollups (own child process)`,
      value: PeakMemory.describe(peak)
    }
  ]
}

/** Runs the KPI rollup benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const out: Array<BenchRow> = []
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-kpi-"))
  try {
    out.push(...(await measure("SQLite", "sqlite", join(dir, "kpi.db"))))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const given = process.env.AIRLOCK_BENCH_PG_URL
  const bin = given ? null : findPgBin()
  if (!given && !bin) {
    out.push({ name: "PostgreSQL", value: "skipped (no AIRLOCK_BENCH_PG_URL and no server binaries)" })
    return out
  }
  const cluster = given ? null : await startCluster(bin!)
  try {
    const admin = given ?? cluster!.url
    const name = `airlock_bench_kpi_${process.pid}`
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(admin), maxConnections: 1 })),
        Effect.orDie
      )
    )
    const url = new URL(admin)
    url.pathname = `/${name}`
    out.push(...(await measure("PostgreSQL", "postgres", url.toString())))
  } finally {
    cluster?.stop()
  }
  return out
}

await PeakMemory.serveChild("kpi", rollupChild)

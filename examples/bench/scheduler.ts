/**
 * Scheduler dispatch lag: 10,000 schedules come due in the same minute (spread over its 60
 * seconds, about 167 a second), and scheduler instances tick until every one is dispatched. The
 * lag of a record is its `dispatched_at` minus its `due_at` (real elapsed time: the instances'
 * clock is the wall clock shifted so the minute starts a moment after the run does). Each
 * instance ticks every 250 ms while nothing is due, so about half a tick of the lag is the tick
 * itself. Figures: p50 / p99 / max lag and the claims per second (claims over the time spent in
 * ticks that claimed something: the claim throughput, not the arrival rate), for one and two
 * instances on a SQLite file and on PostgreSQL (two instances are two connections or pools in
 * this process, ticking at once: every due time is still claimed once — the run checks it).
 * Baseline in the same run: one instance with all 10,000 due at the same instant (the burst a
 * cron `0 * * * *` fleet makes), on each database.
 *
 * PostgreSQL: `AIRLOCK_BENCH_PG_URL` (an admin URL), else a throwaway cluster from the machine's
 * binaries; skipped with a note when neither is there.
 */
import { Postgres, Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Kernel, Rbac, SecureRandom } from "@airlock/core"
import { Scheduler, SchedulerConfig, Schedules, type ScheduleStore as Store } from "@airlock/ops"
import { ScheduleStore } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Clock, Effect, Layer, Redacted } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { findPgBin, startCluster } from "../../scripts/pg-cluster.js"
import type { BenchRow } from "./main.js"

const SCHEDULES = Number(process.env.BENCH_SCHEDULER_SCHEDULES ?? 10_000)
const TICK_MS = 250

/** The wall clock shifted by a settable offset (milliseconds). */
const shifted = (): { readonly clock: Clock.Clock; readonly shift: (offset: number) => void } => {
  const base = Clock.make()
  let offset = 0
  const now = () => Date.now() + offset
  return {
    clock: {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: now,
      currentTimeMillis: Effect.sync(now),
      unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
      currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
      sleep: (d) => base.sleep(d)
    },
    shift: (o) => void (offset = o)
  }
}

const environment = <E, R>(ports: Layer.Layer<R, E>) =>
  Scheduler.layer.pipe(
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(ports)
  )

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0

/** Inserts the schedules straight through the port: six-field cron, one second of the minute each (or all at second 0). */
const seed = (minuteStart: number, burst: boolean) =>
  Effect.gen(function*() {
    const store = yield* ScheduleStore.ScheduleStore
    yield* Effect.forEach(Array.from({ length: SCHEDULES }, (_, i) => i), (i) => {
      const second = burst ? 0 : i % 60
      return store.insert(Schedules.ScheduleRecord.make({
        name: `bench-${i}`,
        expression: `${second} * * * * *`,
        time_zone: "UTC",
        target: "bench.noop",
        args: null,
        enabled: true,
        overlap: "allow",
        catch_up: "once",
        next_due_at: minuteStart + second * 1000,
        created_at: minuteStart - 60_000,
        updated_at: minuteStart - 60_000,
        updated_by: "bench",
        version: 1
      }))
    }, { concurrency: 4, discard: true })
  })

/** The length of the union of intervals. */
const union = (intervals: ReadonlyArray<readonly [number, number]>): number => {
  let total = 0
  let end = -Infinity
  for (const [a, b] of [...intervals].sort((x, y) => x[0] - y[0])) {
    if (b <= end) continue
    total += b - Math.max(a, end)
    end = b
  }
  return total
}

/** Ticks (dispatch only) on every instance until the whole minute has been dispatched. */
const drive = (instances: ReadonlyArray<Scheduler.SchedulerShape>, minuteStart: number, burst: boolean) =>
  Effect.gen(function*() {
    const end = minuteStart + (burst ? 0 : 59_000)
    const started = Date.now()
    let claimed = 0
    // the ticks that claimed something, as wall-time intervals (their union is the busy time)
    const busy: Array<readonly [number, number]> = []
    yield* Effect.all(
      instances.map((s) =>
        Effect.gen(function*() {
          while (true) {
            const t0 = performance.now()
            const r = yield* s.dispatchDue
            if (r.dispatched.length > 0) busy.push([t0, performance.now()])
            claimed += r.dispatched.length
            const now = yield* Clock.currentTimeMillis
            if (now > end + 1_000 && r.dispatched.length === 0) return
            if (r.dispatched.length === 0) yield* Effect.sleep(TICK_MS)
          }
        })
      ),
      { concurrency: "unbounded" }
    )
    return { claimed, seconds: (Date.now() - started) / 1000, busySeconds: union(busy) / 1000 }
  })

const lags = (rows: ReadonlyArray<Store.Dispatch>) => rows.map((d) => d.dispatched_at - d.due_at).sort((a, b) => a - b)

const measure = (
  name: string,
  ports: ReadonlyArray<Layer.Layer<any, unknown>>,
  burst: boolean
): Promise<ReadonlyArray<BenchRow>> => {
  const program = Effect.gen(function*() {
    const minuteStart = Math.ceil((Date.now() + 3_600_000) / 60_000) * 60_000
    const { clock, shift } = shifted()
    const scheduler = yield* Effect.withClock(
      Scheduler.make.pipe(Effect.provideService(SchedulerConfig.SchedulerConfig, SchedulerConfig.defaults)),
      clock
    )
    const t0 = Date.now()
    yield* seed(minuteStart, burst)
    console.error(`[scheduler bench] ${name}: seeded ${SCHEDULES} schedules in ${Date.now() - t0} ms`)
    const others: Array<Scheduler.SchedulerShape> = []
    for (const extra of ports.slice(1)) {
      const context = yield* Layer.build(environment(extra))
      others.push(yield* Effect.withClock(Scheduler.make, clock).pipe(Effect.provide(context)))
    }
    // seeded: the minute starts 1.5 s from now on the instances' clock
    shift(minuteStart - 1_500 - Date.now())
    const run = yield* Effect.withClock(drive([scheduler, ...others], minuteStart, burst), clock)
    console.error(
      `[scheduler bench] ${name}: dispatched in ${run.seconds} s (${run.busySeconds.toFixed(2)} s in claiming ticks)`
    )
    const store = yield* ScheduleStore.ScheduleStore
    const histories = yield* Effect.forEach(
      Array.from({ length: SCHEDULES }, (_, i) => i),
      (i) => store.history(`bench-${i}`, { limit: 10 }),
      { concurrency: 4 }
    )
    // the minute's due times only (second-0 schedules are due again when the next minute starts)
    const rows: Array<Store.Dispatch> = histories.flat().filter((d) => d.due_at < minuteStart + 60_000)
    if (rows.length !== SCHEDULES) throw new Error(`${name}: ${rows.length} records for ${SCHEDULES} due times`)
    const l = lags(rows)
    const by = new Set(rows.map((r) => r.dispatched_by)).size
    return [
      {
        name: `${name}: dispatch lag p50 / p99 / max`,
        value: `${percentile(l, 0.5)} / ${percentile(l, 0.99)} / ${l[l.length - 1]} ms`,
        target: `${SCHEDULES} due times, each dispatched once (${by} instance${by > 1 ? "s" : ""} claimed)`
      },
      {
        name: `${name}: claims per second`,
        value: (run.claimed / Math.max(run.busySeconds, 0.001)).toFixed(0),
        target: `${run.claimed} claims in ${run.busySeconds.toFixed(2)} s of claiming ticks (${run.seconds} s run)`
      }
    ] as ReadonlyArray<BenchRow>
  })
  return Effect.runPromise(Effect.orDie(Effect.scoped(Effect.provide(program, environment(ports[0]!)))))
}

const freshPg = async (admin: string): Promise<string> => {
  const name = `airlock_bench_${Math.random().toString(16).slice(2, 10)}`
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(admin), maxConnections: 1 })),
      Effect.orDie
    )
  )
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
}

/** Runs the benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const out: Array<BenchRow> = []
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-sched-"))
  out.push(
    ...(await measure(
      "sqlite, 1 instance, spread over the minute",
      [Sqlite.layer({ filename: join(dir, "a.db") })],
      false
    ))
  )
  // two connections on one file, as two processes would be (SQLite serialises their writes)
  out.push(
    ...(await measure(
      "sqlite, 2 instances, spread over the minute",
      [Sqlite.layer({ filename: join(dir, "c.db") }), Sqlite.layer({ filename: join(dir, "c.db") })],
      false
    ))
  )
  out.push(
    ...(await measure("sqlite, 1 instance, all at one instant (baseline)", [
      Sqlite.layer({ filename: join(dir, "b.db") })
    ], true))
  )
  let admin = process.env.AIRLOCK_BENCH_PG_URL
  let stop: (() => Promise<void>) | undefined
  if (!admin) {
    const bin = findPgBin()
    if (bin === null) {
      out.push({ name: "postgres", value: "skipped: no AIRLOCK_BENCH_PG_URL and no PostgreSQL binaries" })
      return out
    }
    const cluster = await startCluster(bin)
    admin = cluster.url
    stop = async () => cluster.stop()
  }
  try {
    const one = await freshPg(admin)
    out.push(...(await measure("postgres, 1 instance, spread over the minute", [Postgres.layer({ url: one })], false)))
    const two = await freshPg(admin)
    // two pools on one database: two instances, as two processes would be
    out.push(
      ...(await measure(
        "postgres, 2 instances, spread over the minute",
        [Postgres.layer({ url: two, maxConnections: 4 }), Postgres.layer({ url: two, maxConnections: 4 })],
        false
      ))
    )
    const burst = await freshPg(admin)
    out.push(
      ...(await measure("postgres, 1 instance, all at one instant (baseline)", [Postgres.layer({ url: burst })], true))
    )
  } finally {
    await stop?.()
  }
  return out
}

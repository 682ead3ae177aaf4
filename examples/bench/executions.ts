/**
 * Executions benchmarks, on a SQLite file and on PostgreSQL (`AIRLOCK_BENCH_PG_URL`, an admin URL
 * under which fresh databases are created, else a throwaway cluster from the machine's binaries,
 * `scripts/pg-cluster.ts`; skipped when there is neither).
 *
 * 1. Throughput: executions claimed and completed per second by 1, 2 and 4 workers (fibers of
 *    one process, each claiming one execution at a time through `ExecutionStore.claim` and running
 *    a runner that heartbeats once and succeeds), over a queue of queued executions.
 * 2. Latency, end to end over HTTP: the reference server (`server/main.ts`, development seed,
 *    its own process on loopback, as `bench/http.ts` starts it, its background worker polling
 *    every 20 ms — `AIRLOCK_EXEC_POLL_INTERVAL_MS`) and `POST /api/v1/builds` (admin token, the
 *    demo runner's plan that succeeds at once) until the execution is RUNNING: the client polls
 *    `GET /api/v1/executions/{run_id}` and takes the execution's `started_at`, stamped by the
 *    server when its worker claimed it, minus the wall clock just before the request (same
 *    machine, same clock). p50 and p99 over sequential builds.
 * 3. The same without HTTP, in process: from `Executions.submit` (preflight through the
 *    pipeline: propose + apply, the execution queued in the apply transaction) to the runner
 *    starting, with one background worker polling every 20 ms ("submit → RUNNING").
 */
import { Postgres, Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Executions, ExecutionsConfig, ExecutionStore, JobRunner } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { findPgBin, startCluster } from "../../scripts/pg-cluster.js"
import type { BenchRow } from "./main.js"

const QUEUE = Number(process.env.BENCH_EXEC_QUEUE ?? 2_000)
const LATENCY_SAMPLES = Number(process.env.BENCH_EXEC_SAMPLES ?? 300)
const HTTP_SAMPLES = Number(process.env.BENCH_EXEC_HTTP_SAMPLES ?? 200)
const examples = join(import.meta.dirname, "..")
const tenantId = Ids.TenantId.make("bench")

// latency probe: the runner resolves the waiting build's deferred when it starts
const started = new Map<string, Deferred.Deferred<number>>()

const runner: JobRunner.JobRunner = (ctx) =>
  Effect.gen(function*() {
    const waiting = started.get(ctx.execution.job_name)
    if (waiting !== undefined) yield* Deferred.succeed(waiting, performance.now())
    yield* ctx.heartbeat
  })

const environment = <E, R>(ports: Layer.Layer<R, E>) =>
  Layer.effectDiscard(Effect.flatMap(JobRunner.JobRunners, (r) => r.register(JobRunner.ANY_JOB, runner))).pipe(
    Layer.provideMerge(Executions.layer),
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(Layer.merge(GuardrailsConfig.layer(), ExecutionsConfig.layer({ pollIntervalMillis: 20 }))),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(ports)
  )

const queued = (run_id: string, i: number) =>
  new ExecutionStore.ExecutionRecord({
    run_id,
    tenant_id: tenantId,
    job_name: "bench-throughput",
    plan: { i },
    plan_hash: "h",
    risk_score: 0,
    estimated_cost_usd: 0n,
    actual_cost_usd: 0n,
    status: "QUEUED",
    attempts: 0,
    retry_count: 0,
    requested_by: "bench",
    action_id: null,
    claimed_by: null,
    queued_at: i,
    started_at: null,
    heartbeat_at: null,
    finished_at: null,
    progress: null,
    progress_message: null,
    error: null,
    failure_reason: null,
    log_tail: [],
    triage: null,
    version: 1
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const measure = (label: string) =>
  Effect.gen(function*() {
    const rows: Array<BenchRow> = []
    const store = yield* ExecutionStore.ExecutionStore
    const executions = yield* Executions.Executions
    const tenants = yield* Tenants.Tenants
    yield* tenants.create({ id: tenantId, name: "Bench" })
    const actor = yield* tenants.addActor({ tenant_id: tenantId, kind: "user", name: "bench", role: "ADMIN" })

    for (const workers of [1, 2, 4]) {
      for (let i = 0; i < QUEUE; i++) yield* store.insert(queued(`run_w${workers}_${String(i).padStart(6, "0")}`, i))
      const t0 = performance.now()
      const worker = (name: string) =>
        Effect.gen(function*() {
          let n = 0
          while (true) {
            const done = yield* executions.processAvailable(1, name)
            if (done.length === 0) return n
            n += done.length
          }
        })
      const counts = yield* Effect.all(Array.from({ length: workers }, (_, w) => worker(`w${w}`)), {
        concurrency: "unbounded"
      })
      const seconds = (performance.now() - t0) / 1000
      const total = counts.reduce((a, b) => a + b, 0)
      rows.push({
        name: `${label}: claimed + completed, ${workers} worker${workers > 1 ? "s" : ""}`,
        value: `${Math.round(total / seconds)}/s (${total} executions in ${seconds.toFixed(2)} s)`
      })
    }

    const background = yield* Effect.fork(executions.worker({ instance: "latency", concurrency: 4 }))
    const latencies: Array<number> = []
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const job = `bench-latency-${i}`
      const deferred = yield* Deferred.make<number>()
      started.set(job, deferred)
      const t0 = performance.now()
      yield* executions.submit(actor, tenantId, { job_name: job, plan: { i }, risk_score: 0.1 })
      latencies.push((yield* Deferred.await(deferred)) - t0)
      started.delete(job)
    }
    yield* Fiber.interrupt(background)
    latencies.sort((a, b) => a - b)
    rows.push({
      name: `${label}: submit → RUNNING (in process, Executions.submit to runner start; worker polls every 20 ms)`,
      value: `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`
    })
    return rows
  })

const startServer = (env: Record<string, string>) =>
  new Promise<{ readonly url: string; readonly child: ChildProcess }>((resolve, reject) => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-bench-exec-http-")), "airlock.db")
    const child = spawn(join(examples, "node_modules", ".bin", "tsx"), ["server/main.ts"], {
      cwd: examples,
      env: {
        ...process.env,
        AIRLOCK_ENV: "development",
        AIRLOCK_DB: db,
        PORT: "0",
        HOST: "127.0.0.1",
        AIRLOCK_EXEC_POLL_INTERVAL_MS: "20",
        // the limiter stays on, set high enough never to trip on the polling
        AIRLOCK_RATE_LIMIT_RPM: "100000000",
        AIRLOCK_RATE_LIMIT_TENANT_RPM: "100000000",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 120_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = /listening\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve({ url: m[1]!, child })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${output}`)))
  })

const stopServer = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.on("exit", () => resolve())
    child.kill("SIGTERM")
  })

/** `POST /api/v1/builds` → RUNNING through the reference server, p50/p99. */
const measureHttp = async (label: string, env: Record<string, string>): Promise<BenchRow> => {
  const { child, url } = await startServer(env)
  const headers = { authorization: "Bearer dev_admin_token", "content-type": "application/json" }
  try {
    const latencies: Array<number> = []
    for (let i = 0; i < HTTP_SAMPLES; i++) {
      const body = JSON.stringify({
        job_name: `bench-http-${i}`,
        plan: { demo: "succeed", steps: 0, i },
        risk_score: 0.1
      })
      const t0 = performance.timeOrigin + performance.now()
      const res = await fetch(`${url}/api/v1/builds`, { method: "POST", headers, body })
      if (res.status !== 202) throw new Error(`POST /api/v1/builds answered ${res.status}: ${await res.text()}`)
      const { run_id } = (await res.json()) as { run_id: string }
      for (;;) {
        const got = await fetch(`${url}/api/v1/executions/${run_id}`, { headers })
        const execution = (await got.json()) as { started_at: string | null }
        if (execution.started_at !== null) {
          latencies.push(Date.parse(execution.started_at) - t0)
          break
        }
        await new Promise((r) => setTimeout(r, 2))
      }
    }
    latencies.sort((a, b) => a - b)
    return {
      name: `${label}: POST /api/v1/builds → RUNNING (HTTP, reference server; worker polls every 20 ms)`,
      value: `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms ` +
        `(${latencies.length} builds, started_at − request sent, 1 ms resolution)`
    }
  } finally {
    await stopServer(child)
  }
}

/** A fresh database under the admin URL. */
const freshPg = async (admin: string, suffix: string) => {
  const name = `airlock_bench_exec_${process.pid}_${suffix}`
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

/** Runs the executions benchmarks. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-exec-"))
  rows.push(await measureHttp("sqlite", {}))
  rows.push(
    ...(await Effect.runPromise(
      Effect.scoped(Effect.provide(measure("sqlite"), environment(Sqlite.layer({ filename: join(dir, "exec.db") }))))
    ))
  )
  let admin = process.env.AIRLOCK_BENCH_PG_URL
  let stop: (() => void) | undefined
  if (!admin) {
    const bin = findPgBin()
    if (bin === null) {
      rows.push({ name: "postgres", value: "skipped: no AIRLOCK_BENCH_PG_URL and no PostgreSQL binaries" })
      return rows
    }
    const cluster = await startCluster(bin)
    admin = cluster.url
    stop = () => cluster.stop()
  }
  try {
    rows.push(await measureHttp("postgres", { AIRLOCK_DATABASE_URL: await freshPg(admin, "http") }))
    const url = await freshPg(admin, "direct")
    rows.push(
      ...(await Effect.runPromise(
        Effect.scoped(Effect.provide(measure("postgres"), environment(Postgres.layer({ url, maxConnections: 8 }))))
      ))
    )
  } finally {
    stop?.()
  }
  return rows
}

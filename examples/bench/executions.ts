/**
 * Executions benchmarks, on a SQLite file and on PostgreSQL (a throwaway cluster from the
 * machine's binaries, `scripts/pg-cluster.ts`; skipped when none is installed).
 *
 * 1. Throughput: executions claimed and completed per second by 1, 2 and 4 workers (fibers of
 *    one process, each claiming one execution at a time through `ExecutionStore.claim` and running
 *    a runner that heartbeats once and succeeds), over a queue of queued executions.
 * 2. Latency: from `Executions.submit` (preflight through the pipeline: propose + apply, the
 *    execution queued in the apply transaction) to the runner starting (the execution is RUNNING),
 *    with one background worker polling every 20 ms; p50 and p99 over sequential builds.
 */
import { Postgres, Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Executions, ExecutionsConfig, ExecutionStore, JobRunner } from "@airlock/ops"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { findPgBin, startCluster } from "../../scripts/pg-cluster.js"
import type { BenchRow } from "./main.js"

const QUEUE = Number(process.env.BENCH_EXEC_QUEUE ?? 2_000)
const LATENCY_SAMPLES = Number(process.env.BENCH_EXEC_SAMPLES ?? 300)
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
      name: `${label}: POST /builds → RUNNING (submit to runner start; worker polls every 20 ms)`,
      value: `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`
    })
    return rows
  })

/** Runs the executions benchmarks. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-exec-"))
  rows.push(
    ...(await Effect.runPromise(
      Effect.scoped(Effect.provide(measure("sqlite"), environment(Sqlite.layer({ filename: join(dir, "exec.db") }))))
    ))
  )
  const bin = findPgBin()
  if (bin === null) {
    rows.push({ name: "postgres", value: "skipped: no PostgreSQL binaries found (AIRLOCK_PG_BIN)" })
    return rows
  }
  const cluster = await startCluster(bin)
  try {
    rows.push(
      ...(await Effect.runPromise(
        Effect.scoped(
          Effect.provide(measure("postgres"), environment(Postgres.layer({ url: cluster.url, maxConnections: 8 })))
        )
      ))
    )
  } finally {
    cluster.stop()
  }
  return rows
}

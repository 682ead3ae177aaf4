/**
 * Companion propose benchmark on a SQLite file, without a language model.
 *
 * Setup (not timed): the reference server's development seed — the `default` tenant, its chart
 * and 20 weeks of labelled history booked through the real companion service (vendor memory,
 * the classifier, a calibration with a certified threshold) — so every proposal runs the whole
 * deterministic chain, the calibration, the value breaker, the auto-post decision and the
 * governed pipeline's propose gates, as a newcomer's would.
 *
 * 1. Propose latency per transaction: one propose request per transaction (`bank_transaction_ids:
 *    [id]`), timed from the call to its result; p50/p95 over 300 transactions. Target (issue
 *    #13): p95 ≤ 30 ms; the rollout runbook's canary had p95 298 ms.
 * 2. Batch throughput: 1,000 unprocessed transactions proposed by one request (`{}`), as
 *    proposals per second.
 *
 * The velocity breaker is opened wide here (the latency loop is 300 requests in well under a
 * minute); a propose request counts one AI command whatever its size.
 */
import { Sqlite } from "@airlock/adapters-storage"
import { Companion, VendorMemoryStage } from "@airlock/companion"
import { AgentMemoryConfig, CoreConfig, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { BankTransaction, Ledger, LedgerConfig } from "@airlock/ledger"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { devTenant, seedDevelopment, seedLedger } from "../server/Seed.js"
import { HISTORY_WEEKS, OPEN_WEEKS, seedCompanionHistory, week } from "../server/SeedHistory.js"
import type { BenchRow } from "./main.js"

const LATENCY_N = Number(process.env.BENCH_PROPOSE_N ?? 300)
const BATCH_N = 1000

const environment = (filename: string) =>
  Companion.layer.pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(GuardrailsConfig.layer({ velocityMaxPerMinute: 1_000_000_000, rateLimitEnabled: false })),
    Layer.provideMerge(Ledger.layerWithConfig),
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerWebCrypto,
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(Sqlite.layer({ filename }))
  )

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/** Bank lines of the generator's later weeks, `n` of them. */
const lines = (n: number, fromWeek: number) => {
  const out: Array<{ date: string; description: string; amount: string }> = []
  for (let w = fromWeek; out.length < n; w++) {
    for (const l of week(w))
      if (out.length < n) out.push({ date: l.date, description: l.description, amount: l.amount })
  }
  return out
}

/** Runs the benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const filename = join(mkdtempSync(join(tmpdir(), "airlock-bench-propose-")), "bench.db")
  const program = Effect.gen(function*() {
    const seedStart = performance.now()
    yield* seedDevelopment
    yield* seedLedger
    yield* seedCompanionHistory
    const seedMs = performance.now() - seedStart
    const companion = yield* Companion.Companion
    const tenants = yield* Tenants.Tenants
    const bank = yield* BankTransaction.BankTransactions
    const agent = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_agent"))
    const admin = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_admin"))
    // what the seed left open (the sample lines and the last weeks) first, so the runs start clean
    yield* companion.propose(devTenant, agent, {})
    // 1. latency per transaction
    const latencyIds = (yield* bank.importFile(devTenant, admin, {
      account_code: "1000",
      format: "json",
      transactions: lines(LATENCY_N, HISTORY_WEEKS + OPEN_WEEKS)
    })).ids
    const times: Array<number> = []
    let decided = 0
    for (const id of latencyIds) {
      const t0 = performance.now()
      const r = yield* companion.propose(devTenant, agent, { bank_transaction_ids: [id] })
      times.push(performance.now() - t0)
      if (r.items[0]!.status === "proposed") decided++
    }
    times.sort((a, b) => a - b)
    // 2. a batch of 1,000 unprocessed transactions in one request
    yield* bank.importFile(devTenant, admin, {
      account_code: "1000",
      format: "json",
      transactions: lines(BATCH_N, HISTORY_WEEKS + OPEN_WEEKS + 40)
    })
    const b0 = performance.now()
    const batch = yield* companion.propose(devTenant, agent, {})
    const batchMs = performance.now() - b0
    return { seedMs, times, decided, batch, batchMs }
  })
  const r = await Effect.runPromise(program.pipe(Effect.provide(environment(filename)), Effect.scoped))
  const n = r.batch.items.length
  return [
    { name: "development seed (20 weeks of history through the service)", value: `${(r.seedMs / 1000).toFixed(1)} s` },
    {
      name: `propose latency per transaction, SQLite, no model (n=${r.times.length}, ${r.decided} proposed)`,
      value: `p50 ${quantile(r.times, 0.5).toFixed(1)} ms, p95 ${quantile(r.times, 0.95).toFixed(1)} ms`,
      target: "p95 ≤ 30 ms (runbook canary: p95 298 ms)"
    },
    {
      name: `propose batch of ${n} unprocessed transactions, one request`,
      value: `${(n / (r.batchMs / 1000)).toFixed(0)} proposals/s (${
        (r.batchMs / 1000).toFixed(1)
      } s; ${r.batch.proposed} proposed, ${r.batch.unresolved} unresolved, ${r.batch.failed} failed)`
    }
  ]
}

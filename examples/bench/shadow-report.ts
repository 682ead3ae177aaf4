/**
 * Shadow report benchmark on a SQLite file (issue #14): the 180-day shadow report, with drift
 * detection, over 50,000 proposals.
 *
 * Setup (not timed): the reference server's development seed (the `default` tenant), then
 * 50,000 proposal details spread evenly over 180 days — 400 vendors, a quarter open, the rest
 * applied, corrected or auto-posted, with not-auto-post reasons — inserted directly through the
 * companion's proposal store in one transaction (the report reads nothing else of a proposal).
 *
 * Timed, in a forked child process of its own on the same file (`support/PeakMemory.ts`):
 * `CompanionReports.compute(tenant, "180d")` (the service pages through storage 1,000 details at
 * a time). Baseline: the same paging with nothing computed. Memory: the report's peak resident
 * set and V8 heap over what the child used just before it — the report's own, not the setup's.
 * `BENCH_SHADOW_N` sets a smaller size for a quick run.
 */
import { Sqlite } from "@airlock/adapters-storage"
import {
  AutoPost,
  Companion,
  CompanionPorts,
  CompanionReports,
  CompanionReportsPorts,
  VendorMemoryStage
} from "@airlock/companion"
import { AgentMemoryConfig, CoreConfig, Kernel, Rbac, SecureRandom } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger, LedgerConfig } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Layer, Runtime } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { devTenant, seedDevelopment } from "../server/Seed.js"
import type { BenchRow } from "./main.js"
import * as PeakMemory from "./support/PeakMemory.js"

const N = Number(process.env.BENCH_SHADOW_N ?? 50_000)
const DAY_MS = 86_400_000
const REASONS = [
  AutoPost.Reasons.belowThreshold,
  AutoPost.Reasons.coldStart,
  AutoPost.Reasons.mode,
  AutoPost.Reasons.spotCheck
]
const OUTCOMES = [null, "applied", "applied", "corrected", "auto_posted", "rejected", "applied", null] as const

const environment = (filename: string) =>
  Layer.mergeAll(Companion.layer, CompanionReports.layerConfig).pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(GuardrailsConfig.layer({ rateLimitEnabled: false })),
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

const detail = (i: number, now: number) => {
  const vendor = `vendor_${i % 400}`
  const amount = 1000 + ((i * 7919) % 50_000)
  const account = ["6000", "6100", "6200", "6300"][(i % 400) % 4]!
  const outcome = OUTCOMES[i % OUTCOMES.length]!
  const created = now - 179 * DAY_MS + Math.floor((i * 179 * DAY_MS) / N)
  const split = [{ account_code: account, amount_minor: String(amount) }]
  return new CompanionPorts.ProposalDetail({
    tenant_id: devTenant,
    proposal_id: `bench_prop_${String(i).padStart(6, "0")}`,
    bank_transaction_id: `bench_bt_${i}`,
    vendor_key: vendor,
    amount_minor: String(-amount),
    direction: "outflow",
    splits: split,
    stages: [],
    deciding_stage: "vendor_memory",
    confidence: 0.5 + (i % 50) / 100,
    calibrated_probability: (i % 97) / 100,
    calibration_version: 1,
    classifier_version: 1,
    autopost: {},
    not_auto_post_reasons: outcome === "auto_posted" ? [] : [REASONS[i % REASONS.length]!],
    corrects_proposal_id: null,
    created_at: created,
    created_by: "dev_agent",
    review_outcome: outcome,
    reviewed_by: outcome === null ? null : "dev_admin",
    reviewed_at: outcome === null ? null : created + 3_600_000,
    review_reason: null,
    final_splits: outcome === null || outcome === "rejected" ? null : split,
    applied_proposal_id: null,
    entry_id: null,
    learning: {},
    version: 1
  })
}

interface Report {
  readonly reportMs: number
  readonly baselineMs: number
  readonly seen: number
  readonly n: number
  readonly drift: number
  readonly peak: PeakMemory.Peak
}

/** In the child: the paging baseline, then the report, tracked. */
const reportChild = ([filename]: ReadonlyArray<string>): Promise<Report> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const reports = yield* CompanionReports.CompanionReports
    const reader = yield* CompanionReportsPorts.CompanionReportReader
    // baseline: page through the same details, computing nothing
    const b0 = performance.now()
    let seen = 0
    let after: { created_at: number; proposal_id: string } | undefined
    for (;;) {
      const page = yield* reader.detailsPage(devTenant, { from: now - 181 * DAY_MS, to: now + 1, after, limit: 1000 })
      seen += page.length
      if (page.length < 1000) break
      after = { created_at: page.at(-1)!.created_at, proposal_id: page.at(-1)!.proposal_id }
    }
    const baselineMs = performance.now() - b0
    const runtime = yield* Effect.runtime<CompanionReports.CompanionReports>()
    const { peak, result } = yield* Effect.promise(() =>
      PeakMemory.track(async () => {
        const r0 = performance.now()
        const report = await Runtime.runPromise(runtime)(reports.compute(devTenant, "180d"))
        return { report, reportMs: performance.now() - r0 }
      })
    )
    return {
      reportMs: result.reportMs,
      baselineMs,
      seen,
      n: result.report.population_n,
      drift: result.report.drift.length,
      peak
    } satisfies Report
  }).pipe(Effect.provide(environment(filename!)), Effect.scoped, Effect.runPromise)

/** Runs the benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const filename = join(mkdtempSync(join(tmpdir(), "airlock-bench-shadow-")), "bench.db")
  const insertMs = await Effect.gen(function*() {
    yield* seedDevelopment
    const store = yield* CompanionPorts.CompanionProposalStore
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const t0 = performance.now()
    yield* sql.withTransaction(
      Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => store.insert(detail(i, now)), {
        discard: true
      })
    )
    return performance.now() - t0
  }).pipe(Effect.provide(environment(filename)), Effect.scoped, Effect.runPromise)
  const outcome = await PeakMemory.inChild<Report>(import.meta.url, "shadow-report", [filename])
  if (outcome._tag === "Failed")
    throw new Error(`shadow-report child failed (exit ${outcome.exitCode}): ${outcome.error}`)
  const r = outcome.value
  return [
    { name: "setup", value: `${N} proposal details inserted in ${(insertMs / 1000).toFixed(1)} s` },
    {
      name: "shadow report 180d",
      value: `${r.reportMs.toFixed(0)} ms (n = ${r.n}, drift findings ${r.drift})`,
      baseline: `paging ${r.seen} details ${r.baselineMs.toFixed(0)} ms`,
      ratio: (r.reportMs / r.baselineMs).toFixed(2)
    },
    { name: "memory of the report (own child process)", value: PeakMemory.describe(r.peak) }
  ]
}

await PeakMemory.serveChild("shadow-report", reportChild)

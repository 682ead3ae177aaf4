/**
 * Tenant export benchmark: a tenant with 10,000 / 50,000 / 100,000 journal entries (two lines
 * each) on a SQLite file, exported to a `.tar.gz` through `TenantArchive.exportToFile` (pages of
 * `AIRLOCK_TENANT_EXPORT_PAGE_SIZE`, default 1000 rows). Each size runs in a forked child of its
 * own (`support/PeakMemory.ts`): the figures are the export's time, rows per second, the
 * archive's size, and the export's peak resident set and V8 heap over what the child used just
 * before it. Baseline, same child: `SELECT *` of the same rows in pages of the same size, without
 * the archive. The entries are cloned from one posted entry with SQL before the clock starts
 * (the export reads rows as stored, whatever wrote them). Then the growth from the smallest
 * size: time per row and peak heap growth (sampled: it includes garbage not yet collected, so it
 * is not the proof). The proof that memory is bounded: the largest size again in two children
 * whose V8 heap is capped at `BENCH_TENANT_EXPORT_CAP_MB` (default 96) MB over what the child uses
 * before the export starts: the export must complete there, while the control — the same rows
 * read page by page but all held at once, as an export that buffered the tenant would — must run
 * out of memory (else the cap proves nothing at that size). Then the verdict.
 */
import { TenantArchive } from "@airlock/adapters-http"
import { Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Ids, Kernel, Rbac, SecureRandom, TenantData, Tenants } from "@airlock/core"
import { Chart, Journal, Ledger, LedgerConfig } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Runtime } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchRow } from "./main.js"
import * as PeakMemory from "./support/PeakMemory.js"

const SIZES = (process.env.BENCH_TENANT_EXPORT_SIZES ?? "10000,50000,100000").split(",").map(Number)
const CAP_MB = Number(process.env.BENCH_TENANT_EXPORT_CAP_MB ?? 96)
const tenantId = Ids.TenantId.make("bench-export")

interface Figures {
  readonly entries: number
  readonly rows: number
  readonly seconds: number
  readonly archiveBytes: number
  readonly peak: PeakMemory.Peak
  /** Heap growth of holding every row of the tenant at once (what an unbounded export would need). */
  readonly heldBytes: number | null
  readonly baselineSeconds: number
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
const heapGrowth = (f: Figures) => f.peak.heapPeak - f.peak.heapStart

/** Clones the tenant's one entry (and its lines) `n - 1` times, in SQL. */
const cloneEntries = (n: number, template: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = (table: string) =>
      Effect.map(sql.unsafe<{ name: string }>(`PRAGMA table_info(${table})`), (cols) => cols.map((c) => c.name))
    const id = `'ent_b' || printf('%08d', seq.i)`
    const expr = (c: string, idColumn: string) =>
      c === idColumn ? id : c === "entry_no" ? "e.entry_no + seq.i" : `e.${c}`
    const seq = `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1})`
    const entryCols = yield* columns("ledger_entries")
    yield* sql.unsafe(
      `${seq} INSERT INTO ledger_entries (${entryCols.join(", ")})
       SELECT ${entryCols.map((c) => expr(c, "id")).join(", ")} FROM ledger_entries e, seq
       WHERE e.tenant_id = ? AND e.id = ?`,
      [tenantId, template]
    )
    const lineCols = yield* columns("ledger_lines")
    yield* sql.unsafe(
      `${seq} INSERT INTO ledger_lines (${lineCols.join(", ")})
       SELECT ${lineCols.map((c) => expr(c, "entry_id")).join(", ")} FROM ledger_lines e, seq
       WHERE e.tenant_id = ? AND e.entry_id = ?`,
      [tenantId, template]
    )
  })

/** One size, in this process (the child). */
/** "both": the export, then the control; "export": the export alone; "hold": the control alone. */
type Mode = "both" | "export" | "hold"

const measure = (n: number, dir: string, mode: Mode) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    yield* tenants.create({ id: tenantId, name: "Export bench" })
    const owner = yield* tenants.addActor({ tenant_id: tenantId, kind: "user", name: "o", role: "OWNER" })
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenantId, owner, "standard_small_business")
    const posted = yield* (yield* Journal.Journal).post(tenantId, owner, {
      date: "2026-01-02",
      memo: "bench",
      lines: [{ account_code: "6100", debit: "12.50" }, { account_code: "1000", credit: "12.50" }]
    })
    yield* cloneEntries(n, posted.entry.id)
    const data = yield* TenantData.TenantData
    const store = yield* TenantData.TenantDataStore

    // baseline: the same rows read page by page, no archive
    const b0 = performance.now()
    let baselineRows = 0
    for (const table of store.tables()) {
      let cursor: string | null = null
      do {
        const page: TenantData.RowPage = yield* store.page(tenantId, table, cursor, 1000)
        baselineRows += page.rows.length
        cursor = page.cursor
      } while (cursor !== null)
    }
    const baselineSeconds = (performance.now() - b0) / 1000
    const path = join(dir, "export.tar.gz")
    const runtime = yield* Effect.runtime<never>()
    // control: the same rows all held in memory at once, as an export that buffered the tenant would
    const hold = Effect.promise(() =>
      PeakMemory.track(() =>
        Runtime.runPromise(runtime)(Effect.gen(function*() {
          const all: Array<unknown> = []
          for (const table of store.tables()) {
            let cursor: string | null = null
            do {
              const page: TenantData.RowPage = yield* store.page(tenantId, table, cursor, 1000)
              all.push(...page.rows)
              cursor = page.cursor
            } while (cursor !== null)
          }
          return all // kept alive until the last sample
        }))
      )
    )
    if (mode === "hold") {
      const held = yield* hold
      return {
        entries: n,
        rows: held.result.length,
        seconds: 0,
        archiveBytes: 0,
        peak: held.peak,
        heldBytes: held.peak.heapPeak - held.peak.heapStart,
        baselineSeconds
      } satisfies Figures
    }
    const { peak, result: [manifest, seconds] } = yield* Effect.promise(() =>
      PeakMemory.track(async () => {
        const t0 = performance.now()
        const manifest = await Runtime.runPromise(runtime)(TenantArchive.exportToFile(data, tenantId, owner, path))
        return [manifest, (performance.now() - t0) / 1000] as const
      })
    )
    const rows = manifest.tables.reduce((a, t) => a + t.rows, 0)
    const held = mode === "both" ? yield* hold : null
    const entries = manifest.tables.find((t) => t.table === "ledger_entries")!.rows
    if (entries !== n) return yield* Effect.dieMessage(`expected ${n} entries, exported ${entries}`)
    if (Math.abs(baselineRows - rows) > 2) return yield* Effect.dieMessage(`baseline ${baselineRows} vs ${rows}`)
    return {
      entries,
      rows,
      seconds,
      archiveBytes: statSync(path).size,
      peak,
      heldBytes: held === null ? null : held.peak.heapPeak - held.peak.heapStart,
      baselineSeconds
    } satisfies Figures
  })

const child = async ([n, mode]: ReadonlyArray<string>): Promise<Figures> => {
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-export-"))
  const environment = Layer.mergeAll(Ledger.layerWithConfig, TenantData.TenantData.Default).pipe(
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(Sqlite.layer({ filename: join(dir, "bench.db") }))
  )
  try {
    return await Effect.runPromise(
      measure(Number(n), dir, mode as Mode).pipe(Effect.provide(environment), Effect.scoped)
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const runChild = async (n: number) => {
  const outcome = await PeakMemory.inChild<Figures>(import.meta.url, "tenant-export", [String(n), "both"])
  if (outcome._tag === "Failed") throw new Error(`export child exited ${outcome.exitCode}: ${outcome.error}`)
  return outcome.value
}

/** Runs every size, each in its own process. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  const all: Array<Figures> = []
  for (const n of SIZES) {
    const f = await runChild(n)
    rows.push({
      name: `export ${f.entries.toLocaleString("en-US")} entries (${f.rows.toLocaleString("en-US")} rows), SQLite`,
      value: `${f.seconds.toFixed(2)} s, ${Math.round(f.rows / f.seconds).toLocaleString("en-US")} rows/s, ` +
        `archive ${mb(f.archiveBytes)} MB, ${PeakMemory.describe(f.peak)}; ` +
        `holding every row at once: heap +${mb(f.heldBytes ?? 0)} MB`,
      baseline: `${f.baselineSeconds.toFixed(2)} s paged SELECT without the archive`,
      ratio: `${(f.seconds / f.baselineSeconds).toFixed(1)}x`
    })
    all.push(f)
  }
  // growth against the smallest size: linear time keeps the per-row ratio near 1; bounded memory keeps
  // the export's heap growth about the same whatever the size
  const first = all[0]
  for (const f of all.slice(1)) {
    if (first === undefined) break
    const rowsX = f.rows / first.rows
    const timeX = f.seconds / first.seconds
    rows.push({
      name: `growth ${first.entries.toLocaleString("en-US")} → ${f.entries.toLocaleString("en-US")} entries`,
      value: `rows ×${rowsX.toFixed(1)}, time ×${timeX.toFixed(1)} (per row ×${(timeX / rowsX).toFixed(2)}), ` +
        `paged SELECT ×${(f.baselineSeconds / first.baselineSeconds).toFixed(1)}, ` +
        `export heap growth +${mb(heapGrowth(first))} → +${mb(heapGrowth(f))} MB, ` +
        `rss growth +${mb(first.peak.rssPeak - first.peak.rssStart)} → +${mb(f.peak.rssPeak - f.peak.rssStart)} MB`
    })
  }
  // bounded: the largest size again, in children whose heap is capped at CAP_MB over what they use
  // before the export: the export must complete, the control (every row held at once) must not
  const largest = all.at(-1)
  if (largest !== undefined) {
    const limit = Math.ceil(largest.peak.heapStart / 1024 / 1024) + CAP_MB
    const capped = (mode: Mode) =>
      PeakMemory.inChild<Figures>(import.meta.url, "tenant-export", [String(largest.entries), mode], [
        `--max-old-space-size=${limit}`
      ])
    const failure = (o: PeakMemory.ChildOutcome<Figures>) =>
      o._tag === "Failed"
        ? `died (exit ${o.exitCode}${o.signal ? `, ${o.signal}` : ""}` +
          `${/out of memory/.test(o.error) ? ", out of memory" : `: ${o.error.slice(0, 160)}`})`
        : ""
    const exported = await capped("export")
    const held = await capped("hold")
    const title = `${largest.entries.toLocaleString("en-US")} entries, heap capped at ${limit} MB ` +
      `(${CAP_MB} MB over the ${mb(largest.peak.heapStart)} MB in use before)`
    rows.push({
      name: `bounded: export ${title}`,
      value: exported._tag === "Done"
        ? `completed in ${exported.value.seconds.toFixed(2)} s, ${PeakMemory.describe(exported.value.peak)}`
        : failure(exported)
    })
    rows.push({
      name: `control: hold every row at once, ${title}`,
      value: held._tag === "Done" ? `completed, ${PeakMemory.describe(held.value.peak)}` : failure(held)
    })
    rows.push({
      name: "verdict",
      value: exported._tag === "Failed"
        ? "memory NOT bounded: the export did not complete under the cap"
        : held._tag === "Done" || !/out of memory/.test(held.error)
        ? `not shown: the cap is too loose at this size (holding every row fits in ${CAP_MB} MB); ` +
          "run a larger size or a smaller BENCH_TENANT_EXPORT_CAP_MB"
        : `memory bounded: the ${largest.rows.toLocaleString("en-US")}-row export completes in ${CAP_MB} MB of heap ` +
          "headroom, where holding its rows runs out of memory"
    })
  }
  return rows
}

await PeakMemory.serveChild("tenant-export", child)

/**
 * Tenant export benchmark: a tenant with 10,000 / 50,000 / 100,000 journal entries (two lines
 * each) on a SQLite file, exported to a `.tar.gz` through `TenantArchive.exportToFile` (pages of
 * `AIRLOCK_TENANT_EXPORT_PAGE_SIZE`, default 1000 rows). Each size runs in its own process so its
 * memory is its own: the figures are the export's time, rows per second, the archive's size, the
 * resident set before the export and its peak while exporting (sampled every 5 ms) — the peak
 * should not grow with the tenant. Baseline, same process: `SELECT *` of the same rows in pages
 * of the same size, without the archive. The entries are cloned from one posted entry with SQL
 * before the clock starts (the export reads rows as stored, whatever wrote them). Last, the growth
 * from the smallest size: time per row and peak RSS as ratios (both should stay near 1).
 */
import { TenantArchive } from "@airlock/adapters-http"
import { Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Ids, Kernel, Rbac, SecureRandom, TenantData, Tenants } from "@airlock/core"
import { Chart, Journal, Ledger, LedgerConfig } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { fork } from "node:child_process"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchRow } from "./main.js"

const SIZES = (process.env.BENCH_TENANT_EXPORT_SIZES ?? "10000,50000,100000").split(",").map(Number)
const CHILD = "--tenant-export-child"
const tenantId = Ids.TenantId.make("bench-export")

interface Figures {
  readonly entries: number
  readonly rows: number
  readonly seconds: number
  readonly archiveBytes: number
  readonly rssBeforeMb: number
  readonly rssPeakMb: number
  readonly baselineSeconds: number
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

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
const measure = (n: number, dir: string) =>
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
    ;(globalThis as { gc?: () => void }).gc?.()
    const rssBefore = process.memoryUsage().rss
    let peak = rssBefore
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 5)
    const path = join(dir, "export.tar.gz")
    const t0 = performance.now()
    const manifest = yield* TenantArchive.exportToFile(data, tenantId, owner, path)
    const seconds = (performance.now() - t0) / 1000
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    const rows = manifest.tables.reduce((a, t) => a + t.rows, 0)
    const entries = manifest.tables.find((t) => t.table === "ledger_entries")!.rows
    if (entries !== n) return yield* Effect.dieMessage(`expected ${n} entries, exported ${entries}`)
    if (Math.abs(baselineRows - rows) > 2) return yield* Effect.dieMessage(`baseline ${baselineRows} vs ${rows}`)
    return {
      entries,
      rows,
      seconds,
      archiveBytes: statSync(path).size,
      rssBeforeMb: mb(rssBefore),
      rssPeakMb: mb(peak),
      baselineSeconds
    } satisfies Figures
  })

const child = async (n: number) => {
  const dir = mkdtempSync(join(tmpdir(), "airlock-bench-export-"))
  const environment = Layer.mergeAll(Ledger.layerWithConfig, TenantData.TenantData.Default).pipe(
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(Sqlite.layer({ filename: join(dir, "bench.db") }))
  )
  try {
    const figures = await Effect.runPromise(measure(n, dir).pipe(Effect.provide(environment), Effect.scoped))
    process.send!(figures)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const runChild = (n: number) =>
  new Promise<Figures>((resolve, reject) => {
    const p = fork(fileURLToPath(import.meta.url), [CHILD, String(n)], {
      execArgv: [...process.execArgv, "--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: Figures | undefined
    p.on("message", (m) => (result = m as Figures))
    p.on("error", reject)
    p.on("exit", (code) => (result !== undefined ? resolve(result) : reject(new Error(`export child exited ${code}`))))
  })

/** Runs every size, each in its own process. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  const all: Array<Figures> = []
  for (const n of SIZES) {
    const f = await runChild(n)
    rows.push({
      name: `export ${f.entries.toLocaleString("en-US")} entries (${f.rows.toLocaleString("en-US")} rows), SQLite`,
      value: `${f.seconds.toFixed(2)} s, ${Math.round(f.rows / f.seconds).toLocaleString("en-US")} rows/s, ` +
        `archive ${mb(f.archiveBytes)} MB, RSS ${f.rssBeforeMb} MB before, peak ${f.rssPeakMb} MB ` +
        `(+${Math.round((f.rssPeakMb - f.rssBeforeMb) * 10) / 10} MB)`,
      baseline: `${f.baselineSeconds.toFixed(2)} s paged SELECT without the archive`,
      ratio: `${(f.seconds / f.baselineSeconds).toFixed(1)}x`
    })
    all.push(f)
  }
  // growth against the smallest size: linear time keeps the per-row ratio near 1, flat memory the RSS one
  const first = all[0]
  for (const f of all.slice(1)) {
    if (first === undefined) break
    const rowsX = f.rows / first.rows
    const timeX = f.seconds / first.seconds
    rows.push({
      name: `growth ${first.entries.toLocaleString("en-US")} → ${f.entries.toLocaleString("en-US")} entries`,
      value: `rows ×${rowsX.toFixed(1)}, time ×${timeX.toFixed(1)} (per row ×${(timeX / rowsX).toFixed(2)}), ` +
        `paged SELECT ×${(f.baselineSeconds / first.baselineSeconds).toFixed(1)}, ` +
        `peak RSS ×${(f.rssPeakMb / first.rssPeakMb).toFixed(2)} (${first.rssPeakMb} → ${f.rssPeakMb} MB)`
    })
  }
  return rows
}

if (process.argv[2] === CHILD) await child(Number(process.argv[3]))

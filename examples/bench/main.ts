/**
 * `pnpm bench`: runs every benchmark module and prints its figures, each against a baseline
 * measured in the same run. Benchmarks are never tests: they print, they do not assert.
 * The script builds the packages first and runs against their built `dist` (what a host
 * imports), not the TypeScript sources through tsx's loader, whose transform roughly halves the
 * pipeline's throughput. `pnpm bench ledger` runs one module.
 */
import * as CompanionPropose from "./companion-propose.js"
import * as CompanionQuality from "./companion-quality.js"
import * as Executions from "./executions.js"
import * as Guardrails from "./guardrails.js"
import * as Http from "./http.js"
import * as Kpi from "./kpi.js"
import * as Ledger from "./ledger.js"
import * as AgentMemory from "./memory.js"
import * as Pipeline from "./pipeline.js"
import * as Scheduler from "./scheduler.js"
import * as ShadowReport from "./shadow-report.js"
import * as TenantExport from "./tenant-export.js"

/** One printed line of a benchmark. */
export interface BenchRow {
  readonly name: string
  readonly value: string
  readonly baseline?: string
  readonly ratio?: string
  readonly target?: string
}

const modules: ReadonlyArray<{ readonly title: string; readonly run: () => Promise<ReadonlyArray<BenchRow>> }> = [
  { title: "core pipeline", run: Pipeline.run },
  { title: "http server", run: Http.run },
  { title: "guardrails gate stack", run: Guardrails.run },
  { title: "ledger", run: Ledger.run },
  { title: "agent memory", run: AgentMemory.run },
  { title: "kpi rollups", run: Kpi.run },
  { title: "companion-quality", run: CompanionQuality.run },
  { title: "executions", run: Executions.run },
  { title: "scheduler", run: Scheduler.run },
  { title: "companion-propose", run: CompanionPropose.run },
  { title: "shadow-report", run: ShadowReport.run },
  { title: "tenant export", run: TenantExport.run }
]

const only = process.argv.slice(2)
for (const m of modules) {
  if (only.length > 0 && !only.some((o) => m.title.includes(o))) continue
  console.log(`\n## ${m.title}`)
  const rows = await m.run()
  for (const r of rows) {
    const parts = [`${r.name}: ${r.value}`]
    if (r.baseline) parts.push(`baseline ${r.baseline}`)
    if (r.ratio) parts.push(`ratio ${r.ratio}`)
    if (r.target) parts.push(`target ${r.target}`)
    console.log(`- ${parts.join(" | ")}`)
  }
}

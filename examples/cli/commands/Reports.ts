/**
 * `airlock shadow-report --tenant <id> --period 7d|30d|180d` (rollout runbook: `shadow_report.py`)
 * and `airlock auditor run --tenant <id> --days 7` (companion runbook: `companion_run_auditor`),
 * over companion `CompanionReports` (the math is in `ShadowReport` and `Auditor`).
 */
import { CompanionReports, ShadowReport } from "@airlock/companion"
import { Ids } from "@airlock/core"
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as R from "../Runtime.js"

const percent = (v: number | null) => v === null ? "n/a" : `${(v * 100).toFixed(1)} %`
const figure = (v: number | null) => v === null ? "n/a" : v.toFixed(3)

/** `airlock shadow-report --tenant <id> --period 7d|30d|180d [--out-dir artifacts/post_deploy]`. */
export const shadowReport = Command.make(
  "shadow-report",
  {
    period: Options.text("period").pipe(
      Options.withDefault("30d"),
      Options.withDescription("The window: 7d, 30d or 180d (default 30d)")
    ),
    outDir: Options.text("out-dir").pipe(
      Options.withDefault("artifacts/post_deploy"),
      Options.withDescription("Where the files go, relative to the working directory (default: artifacts/post_deploy)")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, json, outDir, period, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const reports = yield* CompanionReports.CompanionReports
        const p = yield* CompanionReports.parsePeriod(period)
        const who = yield* R.resolveActor(tenant, actor)
        const compute = reports.shadowReport(Ids.TenantId.make(tenant), who, p)
        // a long period reads many pages of proposal details: a progress bar on a terminal
        const report = yield* (p === "7d" ? compute : R.withSpinner(`shadow report ${tenant} ${p}`, compute))
        const base = R.resolvePath(outDir)
        mkdirSync(base, { recursive: true })
        const written: Array<string> = []
        for (const file of ShadowReport.files(report)) {
          const path = join(base, file.name)
          writeFileSync(path, file.contents)
          written.push(path)
        }
        const readiness = {
          p1_to_p2: report.readiness.p1_to_p2.ready,
          p2_to_p3: report.readiness.p2_to_p3.ready
        }
        if (json) {
          return yield* R.printJson({
            tenant_id: report.tenant_id,
            period: report.period,
            population_n: report.population_n,
            readiness,
            files: written
          })
        }
        yield* R.line(
          `${R.ok} shadow report for tenant ${report.tenant_id}, ${report.period} ` +
            `(${report.window_start_ts} to ${report.window_end_ts}): ${report.population_n} proposal(s)`
        )
        yield* R.line(
          `   automation candidates ${percent(report.automation_candidates_rate)}, ` +
            `JE imbalance ${report.je_imbalance_count}, Brier ${figure(report.brier)}`
        )
        yield* R.line(
          `   ready P1 -> P2: ${readiness.p1_to_p2 ? "yes" : "no"}; P2 -> P3: ${readiness.p2_to_p3 ? "yes" : "no"}`
        )
        for (const path of written) yield* R.line(`${R.ok} ${path}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Computes the companion's shadow report of a period (companion.read) and writes the runbook's four files: " +
    "shadow_report_<tenant>_<period>.json and .csv, shadow_reason_counts_<tenant>_<period>.csv, " +
    "shadow_charts_<tenant>_<period>.txt. A progress bar on a terminal for 30d and 180d. A bad period: exit 2.",
  "airlock shadow-report --tenant pilot_sanity --period 7d",
  "airlock shadow-report --tenant pilot_sanity --period 180d --out-dir reports"
)))

/** Severities that fail the run (exit 1). */
const failing = new Set(["critical", "high"])

/** `airlock auditor run --tenant <id> --days 7`. */
const auditorRun = Command.make(
  "run",
  {
    days: Options.integer("days").pipe(
      Options.withDefault(7),
      Options.withDescription("Entries dated in the last N days (1 to 366, default 7)")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, days, json, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const reports = yield* CompanionReports.CompanionReports
        const who = yield* R.resolveActor(tenant, actor)
        const report = yield* reports.runAuditor(Ids.TenantId.make(tenant), who, days)
        const serious = report.findings.filter((f) => failing.has(f.severity)).length
        if (json) {
          yield* R.printJson(report)
        } else {
          yield* R.line(
            `${serious > 0 ? R.fail : report.status === "clean" ? R.ok : R.warn} integrity report ${report.id}: ` +
              `${report.status}, ${report.entries_checked} entries and ${report.audit_records_checked} audit records ` +
              `checked (${report.window_start} to ${report.window_end})`
          )
          for (const [code, n] of Object.entries(report.counts)) yield* R.line(`   ${code}: ${n}`)
          for (const f of report.findings.slice(0, 20)) yield* R.line(`   [${f.severity}] ${f.code}: ${f.message}`)
          if (report.findings.length > 20) yield* R.line(R.dim(`   … ${report.findings.length - 20} more (--json)`))
        }
        if (serious > 0) return yield* R.exit(R.ExitCode.checkFailed)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Runs the rules-first auditor over the tenant's entries of the last --days days (audit.read) and stores the " +
    "integrity report. Exit 1 when it has a finding of severity high or critical; medium or low only: exit 0.",
  "airlock auditor run --tenant pilot_sanity --days 7"
)))

/** `airlock auditor`. */
export const auditor = Command.make("auditor").pipe(
  Command.withDescription(R.help("The companion's integrity auditor.", "airlock auditor run --days 7")),
  Command.withSubcommands([auditorRun])
)

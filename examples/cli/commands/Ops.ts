/**
 * `airlock baseline capture`, `airlock digest weekly` (ops console runbook: `capture_baseline.py`,
 * `generate_weekly_digest.py`) and `airlock executions reconcile` (data platform runbook).
 */
import { Errors } from "@airlock/core"
import { Baseline, Digest, Executions } from "@airlock/ops"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import * as R from "../Runtime.js"

const outDir = Options.text("out-dir").pipe(
  Options.withDefault("output/baseline"),
  Options.withDescription("Where the files go, relative to the working directory (default: output/baseline)")
)

/** `airlock baseline capture --windows 24 --window-minutes 5`. */
const baselineCapture = Command.make(
  "capture",
  {
    windows: Options.integer("windows").pipe(
      Options.optional,
      Options.withDescription("Number of metric windows (default AIRLOCK_BASELINE_WINDOWS, 24)")
    ),
    windowMinutes: Options.integer("window-minutes").pipe(
      Options.optional,
      Options.withDescription("Minutes per window (default AIRLOCK_BASELINE_WINDOW_MINUTES, 5)")
    ),
    outDir,
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, json, outDir, tenant, windowMinutes, windows }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const baselines = yield* Baseline.Baselines
        const who = yield* R.resolveActor(tenant, actor)
        const record = yield* baselines.capture(who, {
          windows: Option.getOrUndefined(windows),
          window_minutes: Option.getOrUndefined(windowMinutes)
        }, tenant)
        const base = R.resolvePath(outDir)
        const written: Array<string> = []
        for (const file of Baseline.baselineFiles(record)) {
          const path = join(base, file.path)
          mkdirSync(dirname(path), { recursive: true })
          writeFileSync(path, file.text)
          written.push(path)
        }
        if (json) return yield* R.printJson({ id: record.id, tenant_id: record.tenant_id, files: written })
        yield* R.line(`${R.ok} baseline ${record.id} captured for tenant ${record.tenant_id}`)
        for (const path of written) yield* R.line(`   wrote ${path}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Captures a guardrails baseline (budgets, stop conditions, LLM spend, provider failure rate, metric windows), " +
    "stores it as the tenant's latest and writes output/baseline/baseline_latest.json and " +
    "output/baseline/metrics/metrics_latest.json.",
  "airlock baseline capture --windows 24 --window-minutes 5"
)))

/** `airlock baseline`. */
export const baseline = Command.make("baseline").pipe(
  Command.withDescription(R.help("Baseline snapshots.", "airlock baseline capture")),
  Command.withSubcommands([baselineCapture])
)

/** `airlock digest weekly --lookback-days 7 [--anchor-date] [--print-markdown] [--allow-duplicate-anchor]`. */
const digestWeekly = Command.make(
  "weekly",
  {
    lookbackDays: Options.integer("lookback-days").pipe(
      Options.withDefault(Digest.DEFAULT_LOOKBACK_DAYS),
      Options.withDescription("Days of evidence ending on the anchor date (default 7)")
    ),
    anchorDate: Options.text("anchor-date").pipe(
      Options.optional,
      Options.withDescription("Pin the digest date, YYYY-MM-DD (default today, UTC)")
    ),
    printMarkdown: Options.boolean("print-markdown").pipe(
      Options.withDescription("Print the publish-ready markdown")
    ),
    allowDuplicateAnchor: Options.boolean("allow-duplicate-anchor").pipe(
      Options.withDescription("Create another draft for a week that has one")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, allowDuplicateAnchor, anchorDate, json, lookbackDays, printMarkdown, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const digests = yield* Digest.Digests
        const who = yield* R.resolveActor(tenant, actor)
        const result = yield* digests.weekly(who, {
          lookback_days: lookbackDays,
          anchor_date: Option.getOrUndefined(anchorDate),
          allow_duplicate_anchor: allowDuplicateAnchor
        }, tenant).pipe(
          // the library names its input field; here it is a flag
          Effect.catchIf(
            (e): e is Errors.Conflict => e._tag === "Conflict" && e.code === "kpi.digest_exists",
            (e) =>
              Effect.fail(
                new Errors.Conflict({
                  code: e.code,
                  message: e.message.replace("pass allow_duplicate_anchor", "pass --allow-duplicate-anchor"),
                  details: e.details
                })
              )
          )
        )
        if (result.status === "insufficient_evidence") {
          if (json) {
            yield* R.printJson(result)
          } else {
            yield* R.line(`${R.warn} status=insufficient_evidence: no draft created (week of ${result.anchor_week})`)
            yield* R.line(`   events:    observed ${result.observed.events}, required ${result.required.events}`)
            yield* R.line(`   llm_calls: observed ${result.observed.llm_calls}, required ${result.required.llm_calls}`)
          }
          return yield* R.exit(R.ExitCode.checkFailed)
        }
        const d = result.draft
        if (json) {
          return yield* R.printJson({ status: result.status, draft: printMarkdown ? d : { ...d, markdown: undefined } })
        }
        yield* R.line(`${R.ok} status=created: digest ${d.id} for the week of ${d.anchor_week} (draft ${d.seq})`)
        if (printMarkdown) yield* R.line(d.markdown)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Generates the weekly digest draft (fixed template, every figure linked to its record). Skipped with " +
    "status=insufficient_evidence and exit code 1 when the window has too few events or LLM calls.",
  "airlock digest weekly --lookback-days 7",
  "airlock digest weekly --anchor-date 2026-11-30 --print-markdown"
)))

/** `airlock digest`. */
export const digest = Command.make("digest").pipe(
  Command.withDescription(R.help("Weekly digests.", "airlock digest weekly --lookback-days 7")),
  Command.withSubcommands([digestWeekly])
)

/** `airlock executions reconcile --stale-after 300`. */
const reconcile = Command.make(
  "reconcile",
  {
    staleAfter: Options.integer("stale-after").pipe(
      Options.optional,
      Options.withDescription(
        "Seconds without a heartbeat after which a RUNNING execution fails (default AIRLOCK_EXEC_STALE_AFTER_SECONDS)"
      )
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, json, staleAfter, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const executions = yield* Executions.Executions
        const who = yield* R.resolveActor(tenant, actor)
        const result = yield* executions.reconcile(who, who.tenant_id, Option.getOrUndefined(staleAfter))
        const out = { ...result, count: result.reconciled.length }
        if (json) return yield* R.printJson(out)
        yield* R.line(
          `${R.ok} reconciled ${out.count} stale execution(s) (no heartbeat for ${out.stale_after_seconds} s)`
        )
        for (const id of out.reconciled) yield* R.line(`   ${id} -> FAILED (stale)`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Fails RUNNING executions whose heartbeat is older than --stale-after seconds (reason stale), as the " +
    "server's reconcile loop does.",
  "airlock executions reconcile --stale-after 300"
)))

/** `airlock executions`. */
export const executions = Command.make("executions").pipe(
  Command.withDescription(R.help("Executions.", "airlock executions reconcile --stale-after 300")),
  Command.withSubcommands([reconcile])
)

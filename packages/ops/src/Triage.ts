/**
 * Failure triage (data-platform runbook, "AI Failure Triage"). Every failed execution is
 * triaged in the background:
 *
 * 1. Deterministic heuristics ({@link classify}, pure) read the error and the runner's last log
 *    lines and classify the failure — `budget`, `approval`, `out_of_memory`, `auth`,
 *    `dependency_unavailable` (with the assistant runbook's outage class: `dns_resolution`,
 *    `timeout`, `network_unreachable`, `provider_unavailable`, recognised by `OutageClass` as
 *    the doctor's are), `timeout`, `input` (missing
 *    input or schema mismatch), else `unknown` — keeping the evidence lines that decided it.
 * 2. When a language model is configured (an `@effect/ai` `LanguageModel` in the context and
 *    `AIRLOCK_TRIAGE_LLM_MODEL` priced in the LLM budget) and the budget allows, the model
 *    refines the summary: metered under task `triage`, behind the provider breaker `triage-llm`.
 *    Without one (or when the budget or the breaker says no), triage completes on heuristics.
 * 3. The report is stored on the execution, written to the tenant's agent memory as a `failure`
 *    item (thread `job:<job>`, `source_ref` `execution:<run_id>`; `AIRLOCK_TRIAGE_MEMORY_ENABLED`,
 *    the runbook's `MEMORY_FAILURE_BRIDGE_ENABLED`) and logged (`ops.triage`).
 */
import { Actor, AgentMemory, type Errors, type Ids, Rbac, TenantScope } from "@airlock/core"
import { Budgets } from "@airlock/guardrails"
import { LanguageModel } from "@effect/ai"
import { Clock, Effect, Layer, Metric, Option, Schema } from "effect"
import { ExecutionsConfig } from "./ExecutionsConfig.js"
import { ExecutionRecord, ExecutionStore } from "./ExecutionStore.js"
import * as Outage from "./OutageClass.js"

/** What kind of failure it was. */
export const FailureCategory = Schema.Literal(
  "budget",
  "approval",
  "out_of_memory",
  "auth",
  "dependency_unavailable",
  "timeout",
  "input",
  "unknown"
)
/** Type of {@link FailureCategory}. */
export type FailureCategory = typeof FailureCategory.Type

/** The assistant runbook's outage classes (for `dependency_unavailable`): the doctor's, from `OutageClass`. */
export const OutageClass = Outage.OutageClass
/** Type of {@link OutageClass}. */
export type OutageClass = Outage.OutageClass

/** A triage report. */
export class TriageReport extends Schema.Class<TriageReport>("TriageReport")({
  run_id: Schema.String,
  job_name: Schema.String,
  category: FailureCategory,
  outage_class: Schema.NullOr(OutageClass),
  /** The rule that matched (for reading the evidence). */
  rule: Schema.String,
  /** The lines that decided the category, as found. */
  evidence: Schema.Array(Schema.String),
  /** The heuristics' one-line summary. */
  summary: Schema.String,
  /** What an operator should check first. */
  suggestion: Schema.String,
  /** The model's refinement of the summary, when a model ran. */
  refined_summary: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  /** Why the model did not run, when one is configured (`tenant_budget_exceeded`, `provider_unavailable`, …). */
  llm_fallback_reason: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  failure_reason: Schema.NullOr(Schema.String),
  attempts: Schema.Number,
  retry_count: Schema.Number,
  triaged_at: Schema.Number,
  /** The agent-memory item it was written to, when the bridge is on. */
  memory_uid: Schema.NullOr(Schema.String)
}) {}

interface Rule {
  readonly name: string
  readonly category: FailureCategory
  readonly outage: OutageClass | null
  readonly pattern: RegExp
  readonly suggestion: string
}

const DEPENDENCY_SUGGESTIONS: Record<OutageClass, string> = {
  dns_resolution: "A dependency's host name does not resolve: check DNS and the configured host",
  network_unreachable: "A dependency is unreachable: check that it runs and that the network path is open",
  timeout: "A dependency did not answer in time: check its health and latency, then retry",
  provider_unavailable: "A provider is failing or throttling: wait for it to recover (or switch provider), then retry"
}

// Ordered: the first rule with a matching line decides. Refusals come first (their wording is
// exact), then resource exhaustion and credentials, then the dependency outage classes in
// `OutageClass`'s order and wording (the doctor's classes, shared), then plain timeouts and input
// problems.
const RULES: ReadonlyArray<Rule> = [
  {
    name: "budget_refusal",
    category: "budget",
    outage: null,
    pattern: /budget\.exceeded|budget exceeded|quota exceeded|spend limit|insufficient (funds|credits)/i,
    suggestion: "Check the billing summary; raise the limit or wait for the month rollover"
  },
  {
    name: "approval_refusal",
    category: "approval",
    outage: null,
    pattern: /approval_required|approval required|not approved|approval (was )?revoked/i,
    suggestion: "Approve the plan (POST /api/v1/approvals with job_name and plan_hash), then retry"
  },
  {
    name: "out_of_memory",
    category: "out_of_memory",
    outage: null,
    pattern:
      /out of memory|\bOOM\b|heap out of memory|MemoryError|cannot allocate memory|exit code 137|OOMKilled|memory limit exceeded/i,
    suggestion: "Give the job more memory or process the input in smaller batches"
  },
  {
    name: "auth",
    category: "auth",
    outage: null,
    pattern:
      /\b401\b|\b403\b|unauthori[sz]ed|forbidden|permission denied|access denied|invalid (api )?(key|token)|authentication failed|expired (token|credentials)|EACCES/i,
    suggestion: "Check the job's credentials and the permissions of its service account"
  },
  ...Outage.textPatterns.map(([outage, pattern]): Rule => ({
    name: outage === "timeout" ? "dependency_timeout" : outage,
    category: "dependency_unavailable",
    outage,
    pattern,
    suggestion: DEPENDENCY_SUGGESTIONS[outage]
  })),
  {
    name: "timeout",
    category: "timeout",
    outage: null,
    pattern: /timed? ?out|timeout|deadline exceeded|took too long|no heartbeat|stale/i,
    suggestion: "The job ran too long or stopped reporting: check for hangs, raise its time limit, then retry"
  },
  {
    name: "input",
    category: "input",
    outage: null,
    pattern:
      /no such file|ENOENT|not found|does not exist|missing (column|field|input|file|table|required|key)|schema mismatch|unexpected (column|field|type)|type mismatch|KeyError|invalid input|validation|cannot parse|malformed/i,
    suggestion: "An input is missing or does not match the expected schema: check the plan's sources"
  }
]

/** What {@link classify} found. */
export interface Classification {
  readonly category: FailureCategory
  readonly outage_class: OutageClass | null
  readonly rule: string
  readonly evidence: ReadonlyArray<string>
  readonly summary: string
  readonly suggestion: string
}

const LABELS: Record<FailureCategory, string> = {
  budget: "Refused by the execution budget",
  approval: "Refused for a missing approval",
  out_of_memory: "Out of memory",
  auth: "Authentication or permission failure",
  dependency_unavailable: "A dependency is unavailable",
  timeout: "Timed out",
  input: "Missing input or schema mismatch",
  unknown: "Unclassified failure"
}

const MAX_EVIDENCE = 5

/**
 * Classifies a failure from its error and log lines (pure): the first rule (in order) with a
 * matching line decides; its matching lines, at most five, are the evidence. The error line is
 * read first, then the log from the newest line back.
 */
export const classify = (input: {
  readonly error: string | null
  readonly failure_reason: string | null
  readonly log: ReadonlyArray<string>
}): Classification => {
  const lines: Array<string> = []
  if (input.error !== null && input.error.trim() !== "")
    lines.push(...input.error.split("\n").filter((l) => l.trim() !== ""))
  if (input.failure_reason === "stale") lines.push("stale: no heartbeat within stale_after_seconds")
  for (let i = input.log.length - 1; i >= 0; i--) if (input.log[i]!.trim() !== "") lines.push(input.log[i]!)
  for (const rule of RULES) {
    const evidence = lines.filter((l) => rule.pattern.test(l)).slice(0, MAX_EVIDENCE)
    if (evidence.length > 0) {
      const label = rule.outage === null ? LABELS[rule.category] : `${LABELS[rule.category]} (${rule.outage})`
      return {
        category: rule.category,
        outage_class: rule.outage,
        rule: rule.name,
        evidence,
        summary: `${label}: ${evidence[0]!.slice(0, 300)}`,
        suggestion: rule.suggestion
      }
    }
  }
  return {
    category: "unknown",
    outage_class: null,
    rule: "none",
    evidence: lines.slice(0, 1),
    summary: lines.length > 0 ? `${LABELS.unknown}: ${lines[0]!.slice(0, 300)}` : LABELS.unknown,
    suggestion: "Read the execution's log; retry once the cause is fixed"
  }
}

/** A job's triage reports: the latest and the history, newest first. */
export interface TriageHistory {
  readonly job_name: string
  readonly latest: TriageReport | null
  readonly history: ReadonlyArray<TriageReport>
}

/** Failures triaged, by category (exported as a `/metrics` counter). */
export const triagedTotal = Metric.counter("ops_triage_total", {
  description: "Failed executions triaged, by category",
  incremental: true
})

/** The LLM task and provider breaker triage goes through. */
export const TRIAGE_TASK = "triage"
/** The provider breaker of triage's model calls. */
export const TRIAGE_PROVIDER = "triage-llm"

/** The agent triage writes memory as (a system actor with the `AGENT` role, which holds `memory.write`). */
export const triageActor = (tenant: string): Actor.Actor =>
  new Actor.Actor({
    id: "ops.triage" as Ids.ActorId,
    tenant_id: tenant as Ids.TenantId,
    kind: "system",
    name: "ops failure triage",
    role: "AGENT",
    active: true,
    created_at: 0
  }, true)

const prompt = (record: ExecutionRecord, c: Classification) =>
  [
    "You triage failed data-job executions. In at most three sentences, say what most likely failed and what to check first.",
    `Job: ${record.job_name} (attempt ${record.attempts}, retry ${record.retry_count})`,
    `Heuristic category: ${c.category}${c.outage_class === null ? "" : ` / ${c.outage_class}`}`,
    `Error: ${record.error ?? "(none)"}`,
    "Last log lines:",
    ...record.log_tail.slice(-20)
  ].join("\n")

/** Triage of failed executions. */
export class Triage extends Effect.Service<Triage>()("@airlock/ops/Triage", {
  effect: Effect.gen(function*() {
    const store = yield* ExecutionStore
    const memory = yield* AgentMemory.AgentMemory
    const config = yield* ExecutionsConfig
    const llm = yield* Budgets.LlmBudget
    const model = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const rbac = yield* Rbac.Rbac

    const refine = (record: ExecutionRecord, c: Classification) =>
      Effect.gen(function*() {
        if (config.triageModel === null || Option.isNone(model)) {
          return { refined: null, model: null, fallback: null } as const
        }
        const result = yield* llm.call({
          tenant_id: record.tenant_id,
          task: TRIAGE_TASK,
          model: config.triageModel,
          provider: TRIAGE_PROVIDER,
          run: LanguageModel.generateText({ prompt: prompt(record, c) }).pipe(
            Effect.map((r) => ({
              value: r.text.trim() as string | null,
              usage: { input_tokens: r.usage.inputTokens ?? 0, output_tokens: r.usage.outputTokens ?? 0 }
            })),
            Effect.provideService(LanguageModel.LanguageModel, model.value)
          ),
          fallback: Effect.succeed(null as string | null)
        })
        return {
          refined: result.value === "" ? null : result.value,
          model: result.fallback_active ? null : config.triageModel,
          fallback: result.fallback_reason
        } as const
      })

    const remember = (tenant: string, report: TriageReport) =>
      memory.write(tenant as Ids.TenantId, triageActor(tenant), {
        thread_id: `job:${report.job_name}`.slice(0, 200),
        agent_id: "ops.triage",
        kind: AgentMemory.FAILURE_KIND,
        value: Schema.encodeSync(TriageReport)(report),
        content: (report.refined_summary ?? report.summary).slice(0, 65_536),
        importance: 0.6,
        source_ref: `execution:${report.run_id}`.slice(0, 200)
      })

    /** Stores the report on the execution (compare-and-set, retried on a concurrent write). */
    const attach = (record: ExecutionRecord, report: TriageReport) =>
      Effect.gen(function*() {
        for (let attempt = 0; attempt < 10; attempt++) {
          const found = yield* store.getById(record.run_id)
          if (Option.isNone(found)) return
          const current = found.value
          const next = new ExecutionRecord(
            { ...current, triage: Schema.encodeSync(TriageReport)(report), version: current.version + 1 },
            true
          )
          if (yield* store.update(next, current.version)) return
        }
      })

    /**
     * Triages one failed execution: classifies, refines when a model is configured, stores the
     * report (execution, agent memory) and logs it. Never fails: a storage failure is logged.
     */
    const triage = (record: ExecutionRecord): Effect.Effect<TriageReport | null> =>
      Effect.gen(function*() {
        const c = classify({ error: record.error, failure_reason: record.failure_reason, log: record.log_tail })
        const refined = yield* refine(record, c)
        const base = new TriageReport({
          run_id: record.run_id,
          job_name: record.job_name,
          category: c.category,
          outage_class: c.outage_class,
          rule: c.rule,
          evidence: [...c.evidence],
          summary: c.summary,
          suggestion: c.suggestion,
          refined_summary: refined.refined,
          model: refined.model,
          llm_fallback_reason: refined.fallback,
          error: record.error,
          failure_reason: record.failure_reason,
          attempts: record.attempts,
          retry_count: record.retry_count,
          triaged_at: yield* Clock.currentTimeMillis,
          memory_uid: null
        }, true)
        let report = base
        if (config.triageMemoryEnabled) {
          const written = yield* remember(record.tenant_id, base)
          report = new TriageReport({ ...base, memory_uid: written.item.uid }, true)
        }
        yield* attach(record, report)
        yield* Metric.increment(Metric.tagged(triagedTotal, "category", report.category))
        yield* Effect.logInfo("ops.triage").pipe(
          Effect.annotateLogs({
            tenant_id: record.tenant_id,
            run_id: report.run_id,
            job_name: report.job_name,
            category: report.category,
            outage_class: report.outage_class ?? "",
            rule: report.rule,
            refined: report.refined_summary !== null
          })
        )
        return report
      }).pipe(
        Effect.catchAll((e: Errors.AirlockError) =>
          Effect.as(
            Effect.logWarning("ops.triage failed", e).pipe(Effect.annotateLogs({ run_id: record.run_id })),
            null
          )
        )
      )

    const decodeReport = Schema.decodeUnknownOption(TriageReport)

    /**
     * The latest triage report of a job and its history, newest first (`ops.read`): from the
     * tenant's agent memory when the bridge is on (every failure, across retries), else from the
     * executions (the last failure of each).
     */
    const reports = (
      actor: Actor.Actor,
      tenant: Ids.TenantId,
      jobName: string,
      limit = 20
    ): Effect.Effect<TriageHistory, Errors.AirlockError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        const n = Math.min(Math.max(limit, 1), 200)
        const found: Array<TriageReport> = []
        if (config.triageMemoryEnabled) {
          const page = yield* memory.failures(tenant, actor, { job: jobName, thread_id: undefined, limit: 500 })
          for (const item of page.items) {
            if (item.agent_id !== "ops.triage" || item.thread_id !== `job:${jobName}`) continue
            const report = decodeReport(item.value)
            // the value was written before its item existed: the uid is the item's
            if (Option.isSome(report)) found.push(new TriageReport({ ...report.value, memory_uid: item.uid }, true))
          }
        } else {
          const rows = yield* store.list(tenant, { job_name: jobName, triaged: true, limit: n })
          for (const row of rows) {
            const report = decodeReport(row.triage)
            if (Option.isSome(report)) found.push(report.value)
          }
        }
        const history = found.sort((a, b) => b.triaged_at - a.triaged_at || (a.run_id < b.run_id ? 1 : -1)).slice(0, n)
        return { job_name: jobName, latest: history[0] ?? null, history }
      })

    return { triage, reports } as const
  })
}) {}

/**
 * The model triage refines summaries with, for a host that builds one elsewhere (the companion's
 * `LlmConfig.layerModel`): provide it below `Executions.layer`, with `AIRLOCK_TRIAGE_LLM_MODEL`
 * naming the priced model.
 */
export const layerModel = (model: LanguageModel.Service): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.succeed(LanguageModel.LanguageModel, model)

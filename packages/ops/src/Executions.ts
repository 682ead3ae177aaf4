/**
 * Executions (data-platform runbook): builds submitted through preflight, run by host job
 * runners, retried, canceled and reconciled when stale.
 *
 * - **Submit** (`POST /api/v1/builds {job_name, plan, risk_score, estimated_cost_usd}`): the plan
 *   hash is `sha256` of the plan's canonical JSON. The build is a governed action of kind
 *   `ops.build` (protected, `executions.run`), whose guardrails policy is
 *   `KindPolicy.buildRequest` with the plan hash: preflight is the pipeline's gates — approval
 *   when `risk_score` ≥ the threshold (409 `approval_required` with `job_name` and `plan_hash`;
 *   the job name is the approval's subject), the execution budget (409 `exec.budget.exceeded`,
 *   charged atomically at apply) — and the kind's handler queues the execution in the apply
 *   transaction. Answer: `{run_id, status: "QUEUED", plan_hash}`.
 * - **Run**: workers claim queued executions (each by exactly one instance, see
 *   `ExecutionStore.claim`) and run the job's runner (`JobRunner`); its heartbeats, progress,
 *   cost and log are recorded; the actual cost is booked into billing (`ai_by_task[job_name]`,
 *   part of `spent_usd`). A runner whose execution was canceled or reconciled is interrupted.
 * - **Retry** (FAILED or CANCELED only): back to QUEUED without preflight, `retry_count + 1`.
 * - **Reconcile**: RUNNING executions whose heartbeat is older than `stale_after_seconds` become
 *   FAILED with reason `stale`, on an interval and on demand.
 * - Every failure is triaged in the background (`Triage`).
 * - While a run is running, the build (`ops.build`, an applied governed action) and every
 *   execution run to its end (`ops.execution`) count in the run's metrics (`RunControl`).
 */
import {
  ActionRegistry,
  Audit,
  Canonical,
  Errors,
  GovernedActions,
  Ids,
  Rbac,
  TenantScope,
  UnitOfWork
} from "@airlock/core"
import type { Actor, AgentMemory, SystemState } from "@airlock/core"
import { Budgets, BudgetStore, KindPolicy, Usd, Windows } from "@airlock/guardrails"
import type { BreakerEvents, StopConditions } from "@airlock/guardrails"
import { Cause, Clock, Duration, Effect, Exit, Fiber, FiberSet, Layer, Metric, Option, Ref, Schema } from "effect"
import { Drain } from "./Drain.js"
import { ExecutionsConfig } from "./ExecutionsConfig.js"
import { ExecutionRecord, type ExecutionStatus, ExecutionStore } from "./ExecutionStore.js"
import { JobCanceled, type JobContext, JobError, JobRunners } from "./JobRunner.js"
import { EXECUTION_ACTION_KIND, RunControl } from "./RunControl.js"
import type { RunStore } from "./RunStore.js"
import { Triage } from "./Triage.js"

/** The governed-action kind of a build. */
export const BUILD_KIND = "ops.build"

const JobName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/),
  Schema.maxLength(200),
  Schema.annotations({ description: "1-200 letters, digits or . _ : -" })
)

/** Body of `POST /api/v1/builds`. */
export const BuildRequest = Schema.Struct({
  job_name: JobName,
  plan: Schema.Unknown,
  risk_score: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0 }),
  // a decimal text of at most 64 characters (as the ledger's amounts); its format is checked by `submit`
  estimated_cost_usd: Schema.optionalWith(Schema.Union(Schema.String.pipe(Schema.maxLength(64)), Schema.Number), {
    default: () => "0"
  })
}).annotations({ identifier: "BuildRequest", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link BuildRequest}. */
export type BuildRequest = typeof BuildRequest.Type

/** The payload of an `ops.build` action: the request with its plan hash and the cost as a decimal. */
export const BuildPayload = Schema.Struct({
  job_name: Schema.String,
  plan: Schema.Unknown,
  plan_hash: Schema.String,
  risk_score: Schema.Number,
  estimated_cost_usd: Schema.String
})
/** Type of {@link BuildPayload}. */
export type BuildPayload = typeof BuildPayload.Type

/** What a submit answers (202). */
export interface Submitted {
  readonly run_id: string
  readonly status: "QUEUED"
  readonly plan_hash: string
  readonly action_id: string
}

/** A page of executions. */
export interface ExecutionPage {
  readonly executions: ReadonlyArray<ExecutionRecord>
  readonly next_cursor: string | null
}

/** Result of a reconcile. */
export interface ReconcileResult {
  readonly stale_after_seconds: number
  readonly reconciled: ReadonlyArray<string>
}

/** Executions by final status (exported as a `/metrics` counter). */
export const executionsFinishedTotal = Metric.counter("ops_executions_finished_total", {
  description: "Executions that ended, by status (SUCCEEDED, FAILED, CANCELED)",
  incremental: true
})

/** Executions claimed by this instance (exported as a `/metrics` counter). */
export const executionsClaimedTotal = Metric.counter("ops_executions_claimed_total", {
  description: "Queued executions claimed by a worker of this instance",
  incremental: true
})

const MAX_LOG_LINES = 50
const MAX_LOG_LINE = 2_000
const RECONCILE_BATCH = 500

const terminal = (s: ExecutionStatus) => s === "SUCCEEDED" || s === "FAILED" || s === "CANCELED"

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

const notFound = (runId: string) =>
  new Errors.NotFound({ message: `Execution ${runId} not found`, details: { entity: "execution", id: runId } })

const with_ = (r: ExecutionRecord, patch: Partial<ExecutionRecord>): ExecutionRecord =>
  new ExecutionRecord({ ...r, ...patch, version: r.version + 1 }, true)

/** The system actor id the interval (background, every tenant) reconcile audits as. */
export const RECONCILE_ACTOR = "system:ops.reconcile"

/** Options of a worker. */
export interface WorkerOptions {
  /** The instance's name in `claimed_by` (default: this service's instance id). */
  readonly instance?: string
  /** Executions run at once (default `AIRLOCK_EXEC_WORKER_CONCURRENCY`). */
  readonly concurrency?: number
  /**
   * The process's drain (default: the `Drain` in the context, if any). While it does not accept,
   * the worker claims nothing; claimed executions run as its tracked background fibers, so a
   * controlled restart or a shutdown waits for them up to its timeout.
   */
  readonly drain?: Drain
}

/** Builds, executions, retries, cancels and reconcile. */
export class Executions extends Effect.Service<Executions>()("@airlock/ops/Executions", {
  scoped: Effect.gen(function*() {
    const store = yield* ExecutionStore
    const pipeline = yield* GovernedActions.GovernedActions
    const registry = yield* ActionRegistry.ActionRegistry
    const policies = yield* KindPolicy.KindPolicies
    const budgets = yield* BudgetStore.BudgetStore
    const runners = yield* JobRunners
    const triage = yield* Triage
    const control = yield* RunControl
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac
    const uow = yield* UnitOfWork.UnitOfWork
    const ids = yield* Ids.IdGenerator
    const config = yield* ExecutionsConfig
    const instanceId = yield* ids.next("inst")
    const background = yield* FiberSet.make<unknown, never>()

    yield* registry.registerKind({
      name: BUILD_KIND,
      payload: BuildPayload,
      permissions: { propose: "executions.run", apply: "executions.run" },
      aiGoverned: false,
      protected: true,
      subject: (p) => p.job_name,
      apply: ({ action, actor, payload, tenant }) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const run_id = yield* ids.next("run")
          yield* store.insert(
            new ExecutionRecord({
              run_id,
              tenant_id: tenant.id,
              job_name: payload.job_name,
              plan: payload.plan,
              plan_hash: payload.plan_hash,
              risk_score: payload.risk_score,
              estimated_cost_usd: costOf(payload.estimated_cost_usd),
              actual_cost_usd: 0n,
              status: "QUEUED",
              attempts: 0,
              retry_count: 0,
              requested_by: actor.id,
              action_id: action.id,
              claimed_by: null,
              queued_at: now,
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
            }, true)
          )
          return { run_id }
        })
    })
    yield* policies.register<BuildPayload>(BUILD_KIND, KindPolicy.buildRequest({ planHash: (p) => p.plan_hash }))

    const costOf = (decimal: string): bigint => {
      const micros = Usd.microsOf(decimal)
      return typeof micros === "bigint" ? micros : 0n
    }

    const load = (tenant: string, runId: string) =>
      Effect.flatMap(
        store.get(tenant, runId),
        Option.match({ onNone: () => Effect.fail(notFound(runId)), onSome: Effect.succeed })
      )

    /**
     * Submits a build (`executions.run`): preflight through the pipeline, then the execution is
     * queued. Refusals: `approval_required` (with `job_name`, `plan_hash`), `exec.budget.exceeded`,
     * `lockdown.active`, `rbac.forbidden`, `validation.*`.
     */
    const submit = (
      actor: Actor.Actor,
      tenant: Ids.TenantId,
      body: unknown
    ): Effect.Effect<Submitted, Errors.AirlockError> =>
      Effect.gen(function*() {
        const input = yield* Schema.decodeUnknown(BuildRequest)(body).pipe(
          Effect.mapError((e) => invalid("validation.schema", e.message))
        )
        if (input.plan === undefined) return yield* invalid("validation.plan", "plan is required")
        const cost = Usd.microsOf(input.estimated_cost_usd)
        if (typeof cost !== "bigint" || cost < 0n) {
          return yield* invalid("validation.amount_format", "estimated_cost_usd must be a non-negative dollar amount", {
            estimated_cost_usd: input.estimated_cost_usd
          })
        }
        const plan_hash = yield* Effect.try({
          try: () => Canonical.hashOf(input.plan),
          catch: () => invalid("validation.plan", "plan must be JSON (finite numbers, no cycles)")
        })
        const payload: typeof BuildPayload.Encoded = {
          job_name: input.job_name,
          plan: input.plan,
          plan_hash,
          risk_score: input.risk_score,
          estimated_cost_usd: Usd.formatUsd(cost)
        }
        const withJob = (e: Errors.AirlockError): Errors.AirlockError =>
          e._tag === "ApprovalRequired"
            ? new Errors.ApprovalRequired({
              subject: e.subject,
              plan_hash: e.plan_hash,
              message: e.message,
              details: { ...e.details, job_name: input.job_name }
            })
            : e
        const proposed = yield* pipeline.propose({ tenant_id: tenant, actor, kind: BUILD_KIND, payload }).pipe(
          Effect.mapError(withJob)
        )
        const applied = yield* pipeline.apply(tenant, proposed.action.id, actor).pipe(Effect.mapError(withJob))
        const run_id = (applied.result as { readonly run_id: string }).run_id
        return { run_id, status: "QUEUED", plan_hash, action_id: proposed.action.id } satisfies Submitted
      })

    /** One execution (`ops.read`). */
    const get = (actor: Actor.Actor, tenant: Ids.TenantId, runId: string) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        return yield* load(tenant, runId)
      })

    /** A tenant's executions by job and status, newest first (`ops.read`; `limit` 1–500, default 50). */
    const list = (
      actor: Actor.Actor,
      tenant: Ids.TenantId,
      query: {
        readonly job_name?: string | undefined
        readonly status?: ExecutionStatus | undefined
        readonly limit?: number | undefined
        readonly cursor?: string | undefined
      }
    ): Effect.Effect<ExecutionPage, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        const limit = Math.min(Math.max(query.limit ?? 50, 1), 500)
        const executions = yield* store.list(tenant, {
          job_name: query.job_name,
          status: query.status,
          before: query.cursor,
          limit
        })
        const last = executions[executions.length - 1]
        return { executions, next_cursor: executions.length === limit && last ? last.run_id : null }
      })

    /** Applies `change` to a stored execution by compare-and-set, retrying on a concurrent write. */
    const modify = <E>(
      tenant: string | null,
      runId: string,
      change: (current: ExecutionRecord) => Effect.Effect<Option.Option<ExecutionRecord>, E>
    ): Effect.Effect<
      { readonly before: ExecutionRecord; readonly after: ExecutionRecord | null },
      E | Errors.NotFound | Errors.StorageError
    > =>
      Effect.gen(function*() {
        for (let attempt = 0;; attempt++) {
          const found = tenant === null ? yield* store.getById(runId) : yield* store.get(tenant, runId)
          if (Option.isNone(found)) return yield* notFound(runId)
          const next = yield* change(found.value)
          if (Option.isNone(next)) return { before: found.value, after: null }
          if (yield* store.update(next.value, found.value.version)) return { before: found.value, after: next.value }
          if (attempt >= 50) return yield* Effect.dieMessage("executions: too much contention")
        }
      })

    const finished = (status: ExecutionStatus) =>
      Metric.increment(Metric.tagged(executionsFinishedTotal, "status", status))

    const triageLater = (record: ExecutionRecord) => FiberSet.run(background, triage.triage(record))

    /** Cancels a QUEUED or RUNNING execution (`executions.run`); its runner is interrupted. */
    const cancel = (actor: Actor.Actor, tenant: Ids.TenantId, runId: string) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "executions.run")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const { after } = yield* uow.transaction(Effect.gen(function*() {
          const changed = yield* modify(tenant, runId, (r) =>
            terminal(r.status)
              ? Effect.fail(
                new Errors.Conflict({
                  code: "exec.not_cancelable",
                  message: `Execution is ${r.status}; only QUEUED or RUNNING executions can be canceled`,
                  details: { run_id: runId, status: r.status }
                })
              )
              : Effect.succeed(
                Option.some(with_(r, { status: "CANCELED", failure_reason: "canceled", finished_at: now }))
              ))
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "execution.canceled",
            subject: runId,
            data: { run_id: runId, job_name: changed.before.job_name, was: changed.before.status }
          })
          return changed
        }))
        yield* finished("CANCELED")
        return after!
      })

    /**
     * Retries a FAILED or CANCELED execution (`executions.run`) without re-running preflight:
     * back to QUEUED, `retry_count + 1`.
     */
    const retry = (actor: Actor.Actor, tenant: Ids.TenantId, runId: string) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "executions.run")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const { after } = yield* uow.transaction(Effect.gen(function*() {
          const changed = yield* modify(tenant, runId, (r) =>
            r.status !== "FAILED" && r.status !== "CANCELED"
              ? Effect.fail(
                new Errors.Conflict({
                  code: "exec.not_retryable",
                  message: `Execution is ${r.status}; only FAILED or CANCELED executions can be retried`,
                  details: { run_id: runId, status: r.status }
                })
              )
              : Effect.succeed(Option.some(with_(r, {
                status: "QUEUED",
                retry_count: r.retry_count + 1,
                queued_at: now,
                claimed_by: null,
                started_at: null,
                heartbeat_at: null,
                finished_at: null,
                progress: null,
                progress_message: null,
                error: null,
                failure_reason: null,
                log_tail: []
              }))))
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "execution.retried",
            subject: runId,
            data: {
              run_id: runId,
              job_name: changed.before.job_name,
              was: changed.before.status,
              retry_count: changed.after!.retry_count
            }
          })
          return changed
        }))
        return after!
      })

    /**
     * Fails RUNNING executions whose heartbeat is older than `staleAfterSeconds` (reason `stale`):
     * of every tenant, audited as {@link RECONCILE_ACTOR} (the interval reconcile), or, with a
     * `scope`, of that tenant only, audited as the actor who asked for it.
     */
    const reconcileStale = (
      staleAfterSeconds: number = config.staleAfterSeconds,
      scope?: { readonly tenant: Ids.TenantId; readonly actorId: string }
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cutoff = now - staleAfterSeconds * 1000
        const candidates = yield* store.stale(cutoff, RECONCILE_BATCH, scope?.tenant)
        const reconciled: Array<string> = []
        for (const candidate of candidates) {
          const { after } = yield* uow.transaction(Effect.gen(function*() {
            const changed = yield* modify(scope?.tenant ?? null, candidate.run_id, (r) =>
              Effect.succeed(
                r.status === "RUNNING" && (r.heartbeat_at ?? r.started_at ?? 0) < cutoff
                  ? Option.some(with_(r, {
                    status: "FAILED",
                    failure_reason: "stale",
                    error: `stale: no heartbeat for more than ${staleAfterSeconds} s (last at ${
                      new Date(r.heartbeat_at ?? r.started_at ?? 0).toISOString()
                    })`,
                    finished_at: now
                  }))
                  : Option.none()
              ))
            if (changed.after !== null) {
              yield* audit.append({
                tenant_id: changed.after.tenant_id as Ids.TenantId,
                actor_id: scope?.actorId ?? RECONCILE_ACTOR,
                action: "execution.reconciled",
                subject: changed.after.run_id,
                data: {
                  run_id: changed.after.run_id,
                  job_name: changed.after.job_name,
                  stale_after_seconds: staleAfterSeconds,
                  on_demand: scope !== undefined
                }
              })
            }
            return changed
          })).pipe(Effect.catchTag("NotFound", () => Effect.succeed({ after: null })))
          if (after !== null) {
            reconciled.push(after.run_id)
            yield* finished("FAILED")
            yield* triageLater(after)
          }
        }
        return { stale_after_seconds: staleAfterSeconds, reconciled } satisfies ReconcileResult
      })

    /**
     * {@link reconcileStale} on demand (`ops.write`), for the tenant the actor acts on (an admin
     * with `tenant.cross` may name another); `stale_after_seconds` 1 s – 30 days. Audited as the
     * actor.
     */
    const reconcile = (actor: Actor.Actor, tenant: Ids.TenantId, staleAfterSeconds?: number) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        yield* TenantScope.requireTenant(rbac, actor, tenant)
        const seconds = staleAfterSeconds ?? config.staleAfterSeconds
        if (!Number.isFinite(seconds) || seconds < 1 || seconds > 30 * 86_400) {
          return yield* invalid("validation.stale_after_seconds", "stale_after_seconds must be between 1 and 2592000")
        }
        return yield* reconcileStale(seconds, { tenant, actorId: actor.id })
      })

    // how often a running execution is checked for a cancel or a reconcile
    const watchEvery = Duration.millis(Math.max(config.pollIntervalMillis, 1_000))

    // --- running -------------------------------------------------------------------------------

    // The claim is fenced by its attempt: a claim is one more attempt, so after a reconcile, a
    // retry and a new claim by the same instance, the old runner's heartbeats, its watch and its
    // finishing compare-and-set see a newer attempt and stand down.
    const isOurs = (claimed: ExecutionRecord, instance: string) => (r: ExecutionRecord) =>
      r.status === "RUNNING" && r.claimed_by === instance && r.attempts === claimed.attempts

    /**
     * Gives a claim back: the execution, still this claim's, is QUEUED again with its attempt
     * released (a shutdown or a drain interrupted its runner, or it could not be started).
     */
    const release = (claimed: ExecutionRecord, instance: string, why: string): Effect.Effect<void> =>
      modify(null, claimed.run_id, (r) =>
        Effect.succeed(
          isOurs(claimed, instance)(r)
            ? Option.some(with_(r, {
              status: "QUEUED",
              attempts: Math.max(0, r.attempts - 1),
              claimed_by: null,
              started_at: null,
              heartbeat_at: null,
              progress: null,
              progress_message: null
            }))
            : Option.none()
        )).pipe(
          Effect.flatMap(({ after }) =>
            after === null
              ? Effect.void
              : Effect.logInfo("execution requeued").pipe(
                Effect.annotateLogs({ run_id: claimed.run_id, job_name: claimed.job_name, reason: why })
              )
          ),
          Effect.catchAll((e) =>
            Effect.logError("execution could not be requeued", e).pipe(Effect.annotateLogs({ run_id: claimed.run_id }))
          )
        )

    /**
     * Runs one claimed execution to its end on `instance`. Interrupted (a shutdown, a drain's
     * timeout), it gives the claim back: QUEUED, attempt released.
     */
    const runClaimed = (claimed: ExecutionRecord, instance: string): Effect.Effect<ExecutionRecord | null> =>
      Effect.gen(function*() {
        const cost = yield* Ref.make(0n)
        const logs = yield* Ref.make<ReadonlyArray<string>>([])
        const ours = isOurs(claimed, instance)

        const touch = (patch: Partial<ExecutionRecord>): Effect.Effect<void, JobCanceled> =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const { after, before } = yield* modify(null, claimed.run_id, (r) =>
              Effect.succeed(ours(r) ? Option.some(with_(r, { ...patch, heartbeat_at: now })) : Option.none()))
            if (after === null)
              return yield* new JobCanceled({ run_id: claimed.run_id, status: before.status })
          }).pipe(
            Effect.catchTags({
              NotFound: () =>
                new JobCanceled({ run_id: claimed.run_id, status: "MISSING" }),
              StorageError: (e) =>
                Effect.logWarning("execution heartbeat not recorded", e)
            })
          )

        const context: JobContext = {
          execution: claimed,
          plan: claimed.plan,
          heartbeat: touch({}),
          progress: (fraction, message) =>
            touch({
              progress: Number.isFinite(fraction) ? Math.min(Math.max(fraction, 0), 1) : null,
              progress_message: message === undefined ? null : message.slice(0, 500)
            }),
          reportCost: (micros) => Ref.update(cost, (c) => (micros > 0n ? c + micros : c)),
          log: (line) => Ref.update(logs, (l) => [...l, line.slice(0, MAX_LOG_LINE)].slice(-MAX_LOG_LINES))
        }

        // a runner that stops heartbeating never sees a cancel or a reconcile: watch for both
        const watch = Effect.gen(function*() {
          while (true) {
            yield* Effect.sleep(watchEvery)
            const found = yield* Effect.orElseSucceed(store.getById(claimed.run_id), () => Option.some(claimed))
            if (Option.isNone(found) || !ours(found.value)) {
              return yield* new JobCanceled({
                run_id: claimed.run_id,
                status: Option.match(found, { onNone: () => "MISSING", onSome: (r) => r.status })
              })
            }
          }
        })

        const runner = runners.lookup(claimed.job_name)
        const exit = yield* Option.match(runner, {
          onNone: () =>
            Effect.exit(Effect.fail(new JobError({ message: `No job runner registered for job ${claimed.job_name}` }))),
          onSome: (run) => Effect.exit(Effect.raceFirst(run(context), watch))
        })
        if (Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), (e) => e._tag === "JobCanceled")) {
          return null
        }
        const lines = yield* Ref.get(logs)
        const spent = yield* Ref.get(cost)
        const now = yield* Clock.currentTimeMillis
        const outcome: { status: ExecutionStatus; error: string | null; evidence: ReadonlyArray<string> } = Exit.match(
          exit,
          {
            onSuccess: () => ({ status: "SUCCEEDED", error: null, evidence: [] }),
            onFailure: (cause) =>
              Option.match(Cause.failureOption(cause), {
                onSome: (e) => ({
                  status: "FAILED",
                  error: e.message,
                  evidence: e._tag === "JobError" ? e.evidence ?? [] : []
                }),
                onNone: () => ({
                  status: "FAILED",
                  error: Cause.pretty(cause).split("\n").slice(0, 5).join("\n"),
                  evidence: []
                })
              })
          }
        )
        const { after } = yield* uow.transaction(Effect.gen(function*() {
          const changed = yield* modify(null, claimed.run_id, (r) =>
            Effect.succeed(
              ours(r)
                ? Option.some(with_(r, {
                  status: outcome.status,
                  error: outcome.error === null ? null : outcome.error.slice(0, 4_000),
                  failure_reason: outcome.status === "FAILED" ? "error" : null,
                  finished_at: now,
                  progress: outcome.status === "SUCCEEDED" ? 1 : r.progress,
                  actual_cost_usd: r.actual_cost_usd + spent,
                  log_tail: [...lines, ...outcome.evidence.map((l) => l.slice(0, MAX_LOG_LINE))].slice(-MAX_LOG_LINES)
                }))
                : Option.none()
            ))
          if (changed.after !== null && spent > 0n) {
            // the actual cost, in billing: part of spent_usd, under ai_by_task[job_name]
            yield* budgets.add(
              BudgetStore.Scopes.ai(changed.after.tenant_id),
              Windows.monthKey(now),
              changed.after.job_name,
              spent,
              null
            )
          }
          return changed
        }))
        if (after === null) return null
        yield* Budgets.countSpend("execution_actual", spent)
        yield* finished(after.status)
        // the run's metrics: an execution run to its end is one action of the open run
        yield* control.recordAction(EXECUTION_ACTION_KIND).pipe(
          Effect.catchAll((e) => Effect.logWarning("run metrics not recorded", e))
        )
        if (after.status === "FAILED") yield* triageLater(after)
        return after
      }).pipe(
        Effect.catchAll((e) =>
          Effect.as(
            Effect.logError("execution could not be finished", e).pipe(Effect.annotateLogs({ run_id: claimed.run_id })),
            null
          )
        ),
        Effect.onInterrupt(() => release(claimed, instance, "interrupted"))
      )

    /**
     * Claims up to `max` queued executions on `instance` and runs them to their end, at once;
     * returns what they ended as (null for one canceled or reconciled meanwhile). For tests,
     * drills and one-shot workers; {@link worker} is the long-running form.
     */
    const processAvailable = (max: number, instance: string = instanceId) =>
      Effect.gen(function*() {
        const claimed = yield* store.claim(instance, yield* Clock.currentTimeMillis, max)
        yield* Metric.incrementBy(executionsClaimedTotal, claimed.length)
        return yield* Effect.forEach(claimed, (r) => runClaimed(r, instance), { concurrency: "unbounded" })
      })

    /**
     * A worker: claims queued executions one at a time while it has a free slot (`concurrency`)
     * and runs each in the background; polls every `AIRLOCK_EXEC_POLL_INTERVAL_MS` when nothing
     * is queued. Runs until interrupted (in-flight runners are interrupted with it).
     */
    const worker = (options: WorkerOptions = {}): Effect.Effect<never> =>
      Effect.scoped(Effect.gen(function*() {
        const instance = options.instance ?? instanceId
        const drain = options.drain ?? Option.getOrUndefined(yield* Effect.serviceOption(Drain))
        const slots = yield* Effect.makeSemaphore(options.concurrency ?? config.workerConcurrency)
        const running = yield* FiberSet.make<unknown, never>()
        // runners forked through the drain are daemons: interrupt them with the worker
        const tracked = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
        yield* Effect.addFinalizer(() => Effect.suspend(() => Fiber.interruptAll([...tracked])))
        const idle = Duration.millis(config.pollIntervalMillis)
        return yield* Effect.forever(Effect.gen(function*() {
          yield* slots.take(1)
          if (drain !== undefined && !drain.isAccepting()) {
            // draining (restart or shutdown): claim nothing new
            yield* slots.release(1)
            return yield* Effect.sleep(idle)
          }
          const claimed = yield* store.claim(instance, yield* Clock.currentTimeMillis, 1).pipe(
            Effect.catchAll((e) => Effect.as(Effect.logWarning("execution claim failed", e), []))
          )
          const first = claimed[0]
          if (first === undefined) {
            yield* slots.release(1)
            return yield* Effect.sleep(idle)
          }
          yield* Metric.increment(executionsClaimedTotal)
          const run = Effect.ensuring(runClaimed(first, instance), slots.release(1))
          if (drain === undefined) return yield* FiberSet.run(running, run)
          // a tracked background fiber of the drain: a restart waits for it (up to its timeout)
          yield* Effect.uninterruptibleMask((restore) =>
            drain.fork(restore(run)).pipe(
              Effect.tap((fiber) =>
                Effect.sync(() => {
                  tracked.add(fiber)
                  fiber.addObserver(() => tracked.delete(fiber))
                })
              ),
              // the drain began between the check and the claim: give the claim back
              Effect.catchAll(() => Effect.zipRight(release(first, instance, "draining"), slots.release(1)))
            )
          )
        }))
      }))

    /** The stale reconcile every `AIRLOCK_EXEC_RECONCILE_INTERVAL_SECONDS` (first after one interval). */
    const reconcileLoop: Effect.Effect<never> = Effect.forever(
      Effect.zipRight(
        Effect.sleep(Duration.seconds(config.reconcileIntervalSeconds)),
        reconcileStale().pipe(Effect.catchAll((e) => Effect.logWarning("stale reconcile failed", e)))
      )
    )

    return {
      instanceId,
      submit,
      get,
      list,
      cancel,
      retry,
      reconcile,
      reconcileStale,
      processAvailable,
      worker,
      reconcileLoop,
      /** Waits until every background triage has finished (tests, graceful shutdown). */
      awaitTriage: FiberSet.awaitEmpty(background)
    } as const
  })
}) {}

/**
 * Run controls, executions, triage and the job-runner registry, over the ops ports (`RunStore`,
 * `ExecutionStore`), core, guardrails and {@link ExecutionsConfig}. Register runners through the
 * `JobRunners` this layer provides; start workers with `Executions.worker` (see
 * {@link layerBackground}).
 */
export const layer: Layer.Layer<
  Executions | RunControl | Triage | JobRunners,
  never,
  | RunStore
  | ExecutionStore
  | ExecutionsConfig
  | SystemState.SystemStateStore
  | StopConditions.StopConditions
  | BreakerEvents.BreakerEvents
  | Budgets.LlmBudget
  | KindPolicy.KindPolicies
  | BudgetStore.BudgetStore
  | AgentMemory.AgentMemory
  | Audit.AuditLog
  | Rbac.Rbac
  | UnitOfWork.UnitOfWork
  | GovernedActions.GovernedActions
  | ActionRegistry.ActionRegistry
  | Ids.IdGenerator
> = Executions.Default.pipe(
  Layer.provideMerge(Layer.mergeAll(RunControl.Default, Triage.Default, JobRunners.Default))
)

/** A worker and the interval reconcile, running for the life of the layer. */
export const layerBackground = (options: WorkerOptions = {}): Layer.Layer<never, never, Executions> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const executions = yield* Executions
      yield* Effect.forkScoped(executions.worker(options))
      yield* Effect.forkScoped(executions.reconcileLoop)
    })
  )

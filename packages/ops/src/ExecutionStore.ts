/**
 * Storage port of executions (data-platform runbook): a build's run on a job runner, from
 * `QUEUED` through `RUNNING` to `SUCCEEDED | FAILED | CANCELED`, with attempts, retries,
 * heartbeat, progress, error, timing, cost and the failure's triage report.
 *
 * The one promise that matters across instances: {@link ExecutionStore} `claim` hands each
 * queued execution to exactly one claimer (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent
 * claimers skip each other's rows instead of waiting; SQLite and memory: one atomic
 * `UPDATE … RETURNING` under the single writer). Every other write is a compare-and-set on the
 * record's version, so a heartbeat, a cancel, a reconcile and a finish never overwrite each other.
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"

/** Where an execution stands. */
export const ExecutionStatus = Schema.Literal("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED")
/** Type of {@link ExecutionStatus}. */
export type ExecutionStatus = typeof ExecutionStatus.Type

/** One execution. Money is bigint micro-dollars. */
export class ExecutionRecord extends Schema.Class<ExecutionRecord>("ExecutionRecord")({
  run_id: Schema.String,
  tenant_id: Schema.String,
  job_name: Schema.String,
  /** The plan as submitted (JSON). */
  plan: Schema.Unknown,
  /** sha256 of the canonical JSON of the plan: what approvals are keyed by. */
  plan_hash: Schema.String,
  risk_score: Schema.NullOr(Schema.Number),
  estimated_cost_usd: Schema.BigIntFromSelf,
  actual_cost_usd: Schema.BigIntFromSelf,
  status: ExecutionStatus,
  /** Times a runner started it (a claim is an attempt). */
  attempts: Schema.Number,
  /** Times it was retried after FAILED or CANCELED. */
  retry_count: Schema.Number,
  requested_by: Schema.String,
  /** The governed action that admitted it (preflight's decision trace). */
  action_id: Schema.NullOr(Schema.String),
  /** The instance running it. */
  claimed_by: Schema.NullOr(Schema.String),
  queued_at: Schema.Number,
  started_at: Schema.NullOr(Schema.Number),
  heartbeat_at: Schema.NullOr(Schema.Number),
  finished_at: Schema.NullOr(Schema.Number),
  /** 0..1 as the runner reported it. */
  progress: Schema.NullOr(Schema.Number),
  progress_message: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  /** Why it failed or ended: `error`, `stale`, `canceled`. */
  failure_reason: Schema.NullOr(Schema.String),
  /** The last lines the runner logged (evidence for triage), oldest first. */
  log_tail: Schema.Array(Schema.String),
  /** The triage report of its last failure (JSON), once triaged. */
  triage: Schema.NullOr(Schema.Unknown),
  /** Starts at 1; every write increments it. */
  version: Schema.Number
}) {}

/** Listing filter, newest first. */
export interface ExecutionQuery {
  readonly job_name?: string | undefined
  readonly status?: ExecutionStatus | undefined
  /** Only executions that carry a triage report. */
  readonly triaged?: boolean | undefined
  /** Run ids strictly less than this (the previous page's last id). */
  readonly before?: string | undefined
  readonly limit: number
}

/** Storage port for executions. */
export class ExecutionStore extends Context.Tag("@airlock/ops/ExecutionStore")<
  ExecutionStore,
  {
    /** Inserts a new execution; `conflict.duplicate` when the run id exists. */
    readonly insert: (record: ExecutionRecord) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly get: (tenant: string, runId: string) => Effect.Effect<Option.Option<ExecutionRecord>, Errors.StorageError>
    /** Any tenant's execution by run id (workers and reconcile). */
    readonly getById: (runId: string) => Effect.Effect<Option.Option<ExecutionRecord>, Errors.StorageError>
    /** Writes if the stored version is `expectedVersion`; returns whether it did. */
    readonly update: (record: ExecutionRecord, expectedVersion: number) => Effect.Effect<boolean, Errors.StorageError>
    /** A tenant's executions, newest first. */
    readonly list: (
      tenant: string,
      query: ExecutionQuery
    ) => Effect.Effect<ReadonlyArray<ExecutionRecord>, Errors.StorageError>
    /**
     * Claims up to `limit` queued executions of any tenant, oldest first: each becomes RUNNING,
     * `claimed_by = instance`, one more attempt, started and heartbeat at `now`. A queued
     * execution is handed to exactly one claimer, whatever the number of concurrent claimers.
     */
    readonly claim: (
      instance: string,
      now: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<ExecutionRecord>, Errors.StorageError>
    /**
     * RUNNING executions whose heartbeat is older than `before`, oldest first: of `tenant` when
     * given, else of any tenant.
     */
    readonly stale: (
      before: number,
      limit: number,
      tenant?: string
    ) => Effect.Effect<ReadonlyArray<ExecutionRecord>, Errors.StorageError>
  }
>() {}

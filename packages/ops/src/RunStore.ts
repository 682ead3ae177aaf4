/**
 * Storage port of run controls (ops console runbook): the runs an operator started — id, reason,
 * who started them and when, how they ended — and the run's metrics, counters of actions by kind
 * since it started. At most one run is open (not ended) at a time, across every instance: the
 * store refuses a second open run (`run.already_active`), so two operators starting at once
 * start one run. Whether the open run is paused lives in core's runtime overrides
 * (`run.active`, `run.paused`), which guardrails' stop conditions write too.
 */
import { Errors } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"

/** One run. `ended_at` is null while it is open. */
export class RunRecord extends Schema.Class<RunRecord>("RunRecord")({
  run_id: Schema.String,
  reason: Schema.NullOr(Schema.String),
  /** The token's actor that started it. */
  started_by: Schema.String,
  /** The operator's name as typed in the console ("Actor name"), when given. */
  started_by_name: Schema.NullOr(Schema.String),
  started_at: Schema.Number,
  ended_at: Schema.NullOr(Schema.Number),
  ended_by: Schema.NullOr(Schema.String),
  ended_by_name: Schema.NullOr(Schema.String),
  /** `stopped` (an operator), `reset`. */
  end_reason: Schema.NullOr(Schema.String),
  /** Starts at 1; every write increments it. */
  version: Schema.Number
}) {}

/** Storage port for runs and their metrics. */
export class RunStore extends Context.Tag("@airlock/ops/RunStore")<
  RunStore,
  {
    /** The open run, if any. */
    readonly open: () => Effect.Effect<Option.Option<RunRecord>, Errors.StorageError>
    /** A run by id. */
    readonly get: (runId: string) => Effect.Effect<Option.Option<RunRecord>, Errors.StorageError>
    /**
     * Inserts a new open run; `run.already_active` when another run is open (its `run_id` may be
     * unknown to the adapter: null), `conflict.duplicate` when the id was used before.
     */
    readonly start: (run: RunRecord) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    /** Writes `run` if the stored version is `expectedVersion`; returns whether it did. */
    readonly update: (run: RunRecord, expectedVersion: number) => Effect.Effect<boolean, Errors.StorageError>
    /** Runs, newest start first, at most `limit`. */
    readonly list: (limit: number) => Effect.Effect<ReadonlyArray<RunRecord>, Errors.StorageError>
    /** Adds `n` to the counter of `kind` in run `runId` (atomic across instances). */
    readonly count: (runId: string, kind: string, n: number) => Effect.Effect<void, Errors.StorageError>
    /** The counters of a run, by kind. */
    readonly counts: (runId: string) => Effect.Effect<Readonly<Record<string, number>>, Errors.StorageError>
  }
>() {}

/** The error adapters raise when a run is already open. */
export const alreadyActiveError = (open: string | null): Errors.Conflict =>
  new Errors.Conflict({
    code: "run.already_active",
    message: "A run is already active; stop it before starting another",
    details: { run_id: open }
  })

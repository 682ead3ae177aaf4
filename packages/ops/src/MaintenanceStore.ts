/**
 * The maintenance loop's storage port: runs (immediate, interval or enqueued; an enqueued run is
 * taken once, by compare-and-set, by whichever instance's loop gets to it) and failure records.
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, Schema } from "effect"

/** Why a run happened: the loop's interval, an operator's "run now", or an enqueued request. */
export const RunTrigger = Schema.Literal("interval", "manual", "enqueue")
/** Type of {@link RunTrigger}. */
export type RunTrigger = typeof RunTrigger.Type

/** A run's state. */
export const RunStatus = Schema.Literal("queued", "running", "succeeded", "failed")
/** Type of {@link RunStatus}. */
export type RunStatus = typeof RunStatus.Type

/** One run of one maintenance command. */
export class MaintenanceRun extends Schema.Class<MaintenanceRun>("MaintenanceRun")({
  id: Schema.String,
  command: Schema.String,
  trigger: RunTrigger,
  status: RunStatus,
  requested_by: Schema.String,
  enqueued_at: Schema.Number,
  owner: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.Number),
  finished_at: Schema.NullOr(Schema.Number),
  result: Schema.Unknown,
  error: Schema.NullOr(Schema.String)
}) {}

/** A failed run, kept for operators (and written as a `failure` item into agent memory). */
export class MaintenanceFailure extends Schema.Class<MaintenanceFailure>("MaintenanceFailure")({
  id: Schema.String,
  run_id: Schema.String,
  command: Schema.String,
  at: Schema.Number,
  error: Schema.String,
  /** The agent-memory item written for it; null when that write failed. */
  memory_uid: Schema.NullOr(Schema.String)
}) {}

/** Storage port of the maintenance loop. */
export class MaintenanceStore extends Context.Tag("@airlock/ops/MaintenanceStore")<
  MaintenanceStore,
  {
    readonly insertRun: (run: MaintenanceRun) => Effect.Effect<void, Errors.StorageError>
    /** Takes up to `limit` queued runs, oldest first, each by compare-and-set (`queued` → `running`). */
    readonly takeQueued: (
      owner: string,
      now: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<MaintenanceRun>, Errors.StorageError>
    /** Ends a run the owner holds; false when it does not. */
    readonly finishRun: (
      id: string,
      owner: string,
      outcome: {
        readonly status: "succeeded" | "failed"
        readonly now: number
        readonly result: unknown
        readonly error: string | null
      }
    ) => Effect.Effect<boolean, Errors.StorageError>
    /** The newest run of each command. */
    readonly lastRuns: () => Effect.Effect<ReadonlyArray<MaintenanceRun>, Errors.StorageError>
    /** Runs, newest first. */
    readonly runs: (
      options: { readonly limit: number; readonly status?: RunStatus | undefined }
    ) => Effect.Effect<ReadonlyArray<MaintenanceRun>, Errors.StorageError>
    readonly insertFailure: (failure: MaintenanceFailure) => Effect.Effect<void, Errors.StorageError>
    /** Failures, newest first, of one command or all, with ids before `before` when given. */
    readonly failures: (
      options: { readonly limit: number; readonly command?: string | undefined; readonly before?: string | undefined }
    ) => Effect.Effect<ReadonlyArray<MaintenanceFailure>, Errors.StorageError>
  }
>() {}

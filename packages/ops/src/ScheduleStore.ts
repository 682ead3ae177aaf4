/**
 * The scheduler's storage port: schedules with their cursor, one dispatch record per
 * (schedule, due time) under a unique key, and the `schedule.trigger` event rows. Exactly-once
 * dispatch rests on {@link ScheduleStore.claim} (and `claimMany`, the same for a batch of
 * schedules): in one transaction it moves the schedule's cursor by compare-and-set and inserts the dispatch record and its event, the record with
 * insert-or-ignore on the unique key — so whichever instances tick, a due time is dispatched once.
 * Execution is leased ({@link ScheduleStore.acquire}): a claimed record whose lease expires is
 * taken again by any instance (at-least-once execution).
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"
import type { ScheduleRecord } from "./Schedules.js"

/**
 * A dispatch record's state: `pending` (claimed, waiting to run or to be retried), `running`
 * (leased), `succeeded`, `failed` (attempts exhausted, or no such target), `skipped` (overlap
 * policy `skip` while an earlier run was active).
 */
export const DispatchStatus = Schema.Literal("pending", "running", "succeeded", "failed", "skipped")
/** Type of {@link DispatchStatus}. */
export type DispatchStatus = typeof DispatchStatus.Type

/** One dispatch: a schedule's due time, claimed once, and its execution. */
export class Dispatch extends Schema.Class<Dispatch>("ScheduleDispatch")({
  schedule: Schema.String,
  due_at: Schema.Number,
  target: Schema.String,
  dispatched_at: Schema.Number,
  dispatched_by: Schema.String,
  late: Schema.Boolean,
  status: DispatchStatus,
  attempts: Schema.Number,
  available_at: Schema.Number,
  lease_owner: Schema.NullOr(Schema.String),
  lease_until: Schema.NullOr(Schema.Number),
  started_at: Schema.NullOr(Schema.Number),
  finished_at: Schema.NullOr(Schema.Number),
  last_error: Schema.NullOr(Schema.String),
  result: Schema.Unknown
}) {}

/** A `schedule.trigger` event: written with its dispatch record, in the same transaction. */
export class TriggerEvent extends Schema.Class<TriggerEvent>("ScheduleTriggerEvent")({
  id: Schema.String,
  type: Schema.Literal("schedule.trigger"),
  schedule: Schema.String,
  due_at: Schema.Number,
  at: Schema.Number,
  instance: Schema.String,
  data: Schema.Unknown
}) {}

/** What {@link ScheduleStore.claim} is asked to do. */
export interface ClaimInput {
  readonly schedule: string
  /** The cursor the caller read; the claim does nothing if it has moved. */
  readonly expected_next_due_at: number
  readonly next_due_at: number
  /** The record to insert (status `pending`), or null to move the cursor only (catch-up `skip`). */
  readonly dispatch: Dispatch | null
  /** Overlap `skip`: store the record as `skipped` when the schedule has an active (pending or live-leased) record. */
  readonly skip_if_active: boolean
  /** The event to write with a new record (its `data.status` is set to the record's status). */
  readonly event: TriggerEvent | null
  readonly now: number
}

/**
 * What a claim did: `dispatched` (record and event written), `skipped` (written as skipped),
 * `advanced` (cursor moved, nothing dispatched), `duplicate` (cursor moved but the record existed
 * already: nothing written), `lost` (the cursor had moved: another instance decided).
 */
export type ClaimOutcome = "dispatched" | "skipped" | "advanced" | "duplicate" | "lost"

/** What {@link ScheduleStore.acquire} is asked to do. */
export interface AcquireInput {
  readonly schedule: string
  readonly due_at: number
  /** The attempts count the caller read (compare-and-set). */
  readonly attempts: number
  readonly owner: string
  readonly lease_until: number
  readonly now: number
  /** Overlap `queue`: refuse while an earlier record of the schedule is open, or another holds a live lease. */
  readonly exclusive: boolean
}

/** What a lease attempt did. */
export type AcquireOutcome = "acquired" | "taken" | "blocked"

/** The end of one attempt, written only by the lease holder. */
export interface FinishInput {
  readonly schedule: string
  readonly due_at: number
  readonly owner: string
  /** `pending` for a retry (with `available_at`), or a final status. */
  readonly status: "pending" | "succeeded" | "failed"
  readonly now: number
  readonly available_at: number
  readonly error: string | null
  readonly result: unknown
}

/** Backlog counters at one instant (see `Scheduler.status`). */
export interface BacklogFacts {
  /** Enabled schedules whose cursor is at or before now (due, not yet dispatched). */
  readonly due: number
  /** The earliest such cursor. */
  readonly oldest_due_at: number | null
  /** Records claimed and waiting to run (`pending`). */
  readonly dispatched: number
  /** The earliest due time among them. */
  readonly oldest_dispatched_due_at: number | null
  /** Records under a live lease. */
  readonly running: number
  /** Due schedules and pending records whose due time is before `late_before`. */
  readonly late: number
  /** The newest recorded execution error. */
  readonly last_error: {
    readonly schedule: string
    readonly due_at: number
    readonly error: string
    readonly at: number
  } | null
}

/** Storage port of the scheduler. */
export class ScheduleStore extends Context.Tag("@airlock/ops/ScheduleStore")<
  ScheduleStore,
  {
    /** Inserts a schedule (`conflict.duplicate` when the name is taken). */
    readonly insert: (schedule: ScheduleRecord) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly get: (name: string) => Effect.Effect<Option.Option<ScheduleRecord>, Errors.StorageError>
    /** Every schedule, by name. */
    readonly list: () => Effect.Effect<ReadonlyArray<ScheduleRecord>, Errors.StorageError>
    /** Replaces a schedule if its stored version is `expected` (`conflict.stale`, `not_found`). */
    readonly update: (
      schedule: ScheduleRecord,
      expected: number
    ) => Effect.Effect<void, Errors.Conflict | Errors.NotFound | Errors.StorageError>
    /** Deletes a schedule and its dispatch records (events stay); `not_found` when absent. */
    readonly remove: (name: string) => Effect.Effect<void, Errors.NotFound | Errors.StorageError>
    /** Enabled schedules whose cursor is at or before `now`, earliest first, at most `limit`. */
    readonly due: (now: number, limit: number) => Effect.Effect<ReadonlyArray<ScheduleRecord>, Errors.StorageError>
    /** Moves the cursor and writes the dispatch record and its event, in one transaction (see the module doc). */
    readonly claim: (input: ClaimInput) => Effect.Effect<ClaimOutcome, Errors.StorageError>
    /**
     * {@link claim} for many schedules (each named once) in one transaction: every input is
     * decided exactly as `claim` would decide it alone, and the outcomes come back in input order.
     * A tick claims its due schedules this way, a batch at a time.
     */
    readonly claimMany: (
      inputs: ReadonlyArray<ClaimInput>
    ) => Effect.Effect<ReadonlyArray<ClaimOutcome>, Errors.StorageError>
    /**
     * Records that can be leased at `now`: `pending` ones whose `available_at` has come, and
     * `running` ones whose lease expired; earliest due time first, at most `limit`.
     */
    readonly leasable: (now: number, limit: number) => Effect.Effect<ReadonlyArray<Dispatch>, Errors.StorageError>
    /** Leases one record by compare-and-set on its attempts and state; counts the attempt. */
    readonly acquire: (input: AcquireInput) => Effect.Effect<AcquireOutcome, Errors.StorageError>
    /** Extends a lease the owner still holds; false when it lost it. */
    readonly renew: (
      schedule: string,
      dueAt: number,
      owner: string,
      leaseUntil: number
    ) => Effect.Effect<boolean, Errors.StorageError>
    /** Ends an attempt if `owner` still holds the lease; false otherwise (the result is dropped). */
    readonly finish: (input: FinishInput) => Effect.Effect<boolean, Errors.StorageError>
    /** One record. */
    readonly dispatch: (schedule: string, dueAt: number) => Effect.Effect<Option.Option<Dispatch>, Errors.StorageError>
    /** A schedule's records, newest due time first, before `before` when given. */
    readonly history: (
      schedule: string,
      options: { readonly limit: number; readonly before?: number | undefined }
    ) => Effect.Effect<ReadonlyArray<Dispatch>, Errors.StorageError>
    /** `schedule.trigger` events, oldest first, of one schedule or all. */
    readonly events: (
      options: { readonly schedule?: string | undefined; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<TriggerEvent>, Errors.StorageError>
    /** Backlog counters at `now`; `late_before` is `now` minus the grace period. */
    readonly backlog: (now: number, lateBefore: number) => Effect.Effect<BacklogFacts, Errors.StorageError>
  }
>() {}

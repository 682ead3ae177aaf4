/**
 * The storage port of product events: append idempotently on `(tenant, event_id)`, and the
 * aggregates the KPI rollups, the baseline windows and the digest's evidence gate read. Every
 * aggregate is computed where the events are (SQL `GROUP BY` on the SQL adapters), so a rollup
 * over a million events never loads them.
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, Schema } from "effect"

/** The kind of subject an event is about. */
export const SubjectType = Schema.Literal("user", "session")
/** Type of {@link SubjectType}. */
export type SubjectType = typeof SubjectType.Type

/** One stored product event. `day` is the UTC day index (days since 1970-01-01) of `occurred_at`. */
export class ProductEvent extends Schema.Class<ProductEvent>("ProductEvent")({
  tenant_id: Schema.String,
  event_id: Schema.String,
  step: Schema.String,
  subject_type: SubjectType,
  subject_id: Schema.String,
  occurred_at: Schema.Number,
  day: Schema.Number,
  recorded_at: Schema.Number
}) {}

/** Events and distinct subjects of one step on one day. */
export interface StepCount {
  readonly day: number
  readonly step: string
  readonly events: number
  readonly subjects: number
}

/**
 * A cohort: the subjects whose first event (any step, ever) fell on `day`, and how many of them
 * had an event on day + 1 (`d1`) and on day + 7 (`d7`).
 */
export interface CohortCount {
  readonly day: number
  readonly size: number
  readonly d1: number
  readonly d7: number
}

/** Events of one step in one window (`window` counts from the first window, 0-based). */
export interface WindowCount {
  readonly window: number
  readonly step: string
  readonly events: number
}

/** Storage port for product events. */
export class ProductEventStore extends Context.Tag("@airlock/ops/ProductEventStore")<
  ProductEventStore,
  {
    /** Inserts the events whose `(tenant_id, event_id)` is new; returns the ids inserted (the rest were already there). */
    readonly append: (
      events: ReadonlyArray<ProductEvent>
    ) => Effect.Effect<ReadonlyArray<string>, Errors.StorageError>
    /** Per day and step of `fromDay..toDay` (inclusive): events and distinct subjects. */
    readonly stepCounts: (
      tenant: string,
      fromDay: number,
      toDay: number
    ) => Effect.Effect<ReadonlyArray<StepCount>, Errors.StorageError>
    /** The cohorts whose day is in `fromDay..toDay` (inclusive), with D1 and D7 returns. */
    readonly cohorts: (
      tenant: string,
      fromDay: number,
      toDay: number
    ) => Effect.Effect<ReadonlyArray<CohortCount>, Errors.StorageError>
    /** Events with `from <= occurred_at < to`. */
    readonly count: (tenant: string, from: number, to: number) => Effect.Effect<number, Errors.StorageError>
    /** Events per step in `windows` consecutive windows of `windowMs` starting at `from`. */
    readonly windowCounts: (
      tenant: string,
      from: number,
      windowMs: number,
      windows: number
    ) => Effect.Effect<ReadonlyArray<WindowCount>, Errors.StorageError>
    /** Tenants with an event on `fromDay` or later (what the rollup task walks). */
    readonly tenantsSince: (fromDay: number) => Effect.Effect<ReadonlyArray<string>, Errors.StorageError>
  }
>() {}

/**
 * The storage port of the KPI console: stored daily rollups, the alert webhook's cooldown claims
 * and delivery attempts, baseline snapshots with their `latest` pointer, and weekly digest
 * drafts (one per anchor week unless a duplicate is asked for).
 */
import { Errors } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"
import type { ProductEventStore } from "./EventStore.js"

/** Events and distinct subjects of one funnel step on one day. */
export const StepFigures = Schema.Struct({ events: Schema.Number, subjects: Schema.Number })
/** Type of {@link StepFigures}. */
export type StepFigures = typeof StepFigures.Type

/**
 * One tenant's stored rollup of one UTC day: counts only (rates and retention are exact ratios of
 * these, rendered at the edge). The cohort is the subjects first seen that day; `d1_retained` /
 * `d7_retained` of them came back on day + 1 / day + 7.
 */
export class DailyRollup extends Schema.Class<DailyRollup>("DailyRollup")({
  tenant_id: Schema.String,
  /** `YYYY-MM-DD` (UTC). */
  day: Schema.String,
  /** Days since 1970-01-01. */
  day_index: Schema.Number,
  steps: Schema.Record({ key: Schema.String, value: StepFigures }),
  cohort_size: Schema.Number,
  d1_retained: Schema.Number,
  d7_retained: Schema.Number,
  computed_at: Schema.Number
}) {}

/** What one webhook attempt ended with. */
export const DeliveryOutcome = Schema.Literal("delivered", "failed", "refused")
/** Type of {@link DeliveryOutcome}. */
export type DeliveryOutcome = typeof DeliveryOutcome.Type

/** One recorded webhook delivery attempt. */
export class DeliveryAttempt extends Schema.Class<DeliveryAttempt>("DeliveryAttempt")({
  id: Schema.String,
  tenant_id: Schema.String,
  /** The notification this attempt belongs to (sent as `X-Airlock-Delivery`). */
  delivery_id: Schema.String,
  payload_hash: Schema.String,
  /** 1 for the first attempt. */
  attempt: Schema.Number,
  outcome: DeliveryOutcome,
  http_status: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String),
  /** The URL's host (the URL itself may carry a token in its path: not stored). */
  host: Schema.String,
  at: Schema.Number,
  duration_ms: Schema.Number
}) {}

/** A stored baseline snapshot: the JSON document and who captured it when. */
export class BaselineRecord extends Schema.Class<BaselineRecord>("BaselineRecord")({
  id: Schema.String,
  tenant_id: Schema.String,
  captured_at: Schema.Number,
  captured_by: Schema.String,
  document: Schema.Unknown
}) {}

/** A stored weekly digest draft. */
export class DigestDraft extends Schema.Class<DigestDraft>("DigestDraft")({
  id: Schema.String,
  tenant_id: Schema.String,
  /** Monday (UTC) of the ISO week of `anchor_date`: the week the draft is for. */
  anchor_week: Schema.String,
  anchor_date: Schema.String,
  /** 1 for a week's first draft; later ones only with `allow_duplicate_anchor`. */
  seq: Schema.Number,
  lookback_days: Schema.Number,
  window_from: Schema.String,
  window_to: Schema.String,
  created_at: Schema.Number,
  created_by: Schema.String,
  markdown: Schema.String,
  evidence: Schema.Unknown
}) {}

/** The refusal of a second draft for an anchor week (`kpi.digest_exists`, 409). */
export const digestExistsError = (tenant: string, week: string): Errors.Conflict =>
  new Errors.Conflict({
    code: "kpi.digest_exists",
    message: `A digest draft for the week of ${week} already exists (pass allow_duplicate_anchor to add another)`,
    details: { tenant_id: tenant, anchor_week: week }
  })

/** Storage port of the KPI console. */
export class KpiStore extends Context.Tag("@airlock/ops/KpiStore")<
  KpiStore,
  {
    /** Inserts or replaces rollups by `(tenant_id, day)`. */
    readonly putRollups: (rows: ReadonlyArray<DailyRollup>) => Effect.Effect<void, Errors.StorageError>
    /** A tenant's stored rollups with `day_index` in `from..to`, latest day first. */
    readonly listRollups: (
      tenant: string,
      from: number,
      to: number
    ) => Effect.Effect<ReadonlyArray<DailyRollup>, Errors.StorageError>
    /**
     * Claims the cooldown slot of `(tenant, payload_hash)` for `owner` until `until`, atomically:
     * true when no claim exists or the existing one ended at or before `now`; false otherwise
     * (another instance, or an earlier notification, holds it).
     */
    readonly claimNotification: (
      tenant: string,
      hash: string,
      owner: string,
      now: number,
      until: number
    ) => Effect.Effect<boolean, Errors.StorageError>
    /** Gives a claim back (only `owner`'s), after a delivery that failed on every attempt. */
    readonly releaseNotification: (
      tenant: string,
      hash: string,
      owner: string
    ) => Effect.Effect<void, Errors.StorageError>
    readonly recordDelivery: (attempt: DeliveryAttempt) => Effect.Effect<void, Errors.StorageError>
    /** A tenant's delivery attempts, newest first. */
    readonly listDeliveries: (
      tenant: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<DeliveryAttempt>, Errors.StorageError>
    /** Stores a snapshot and points the tenant's `latest` at it, in one transaction. */
    readonly putBaseline: (record: BaselineRecord) => Effect.Effect<void, Errors.StorageError>
    readonly getBaseline: (
      tenant: string,
      id: string
    ) => Effect.Effect<Option.Option<BaselineRecord>, Errors.StorageError>
    /** The snapshot the tenant's `latest` pointer names. */
    readonly latestBaseline: (tenant: string) => Effect.Effect<Option.Option<BaselineRecord>, Errors.StorageError>
    /** A tenant's snapshots, newest first (history). */
    readonly listBaselines: (
      tenant: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<BaselineRecord>, Errors.StorageError>
    /**
     * Inserts a draft. Its `seq` is 1 unless `allowDuplicate`, then one more than the week's
     * highest. A first draft for a week that has one fails with {@link digestExistsError}: the
     * unique `(tenant_id, anchor_week, seq)` key decides, so concurrent requests make one draft.
     */
    readonly insertDigest: (
      draft: Omit<DigestDraft, "seq">,
      allowDuplicate: boolean
    ) => Effect.Effect<DigestDraft, Errors.Conflict | Errors.StorageError>
    readonly getDigest: (tenant: string, id: string) => Effect.Effect<Option.Option<DigestDraft>, Errors.StorageError>
    /** A tenant's drafts, newest first. */
    readonly listDigests: (
      tenant: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<DigestDraft>, Errors.StorageError>
  }
>() {}

/** Every ops KPI port, as one type (what a storage adapter provides for this part of ops). */
export type KpiPorts = KpiStore | ProductEventStore

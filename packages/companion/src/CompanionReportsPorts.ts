/**
 * The storage ports of the companion's reports: the auditor's integrity reports, the reads the
 * shadow report and the operator drill-down page through (proposal details by creation time,
 * proposals under one not-auto-post reason, reason counts across tenants), and rule promotions
 * (the companion's proposal to turn a vendor's consistent labels into a tenant rule, waiting for a
 * person). `adapters-storage` implements each in memory and on SQL (`companion_*` tables,
 * migration `0014_companion_reports`).
 */
import type { Errors, Ids } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"
import type { ProposalDetail } from "./CompanionPorts.js"

/** How bad an integrity finding is. */
export const Severity = Schema.Literal("critical", "high", "medium", "low")
/** Type of {@link Severity}. */
export type Severity = typeof Severity.Type

/** One finding of the auditor: a stable code, a severity, what it is about and the entities it names. */
export const Finding = Schema.Struct({
  code: Schema.String,
  severity: Severity,
  message: Schema.String,
  /** The entities the finding names: `entry_id`, `bank_transaction_id`, `proposal_id`, `audit_seq`, … */
  entities: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) })
})
/** Type of {@link Finding}. */
export type Finding = typeof Finding.Type

/** A stored integrity report: one auditor run over a window of a tenant's books. */
export class IntegrityReport extends Schema.Class<IntegrityReport>("IntegrityReport")({
  id: Schema.String,
  tenant_id: Schema.String,
  created_at: Schema.Number,
  created_by: Schema.String,
  /** The window in days and its first and last day (entry dates, inclusive). */
  days: Schema.Int,
  window_start: Schema.String,
  window_end: Schema.String,
  /** `clean` (no finding) or `findings`. */
  status: Schema.Literal("clean", "findings"),
  entries_checked: Schema.Int,
  audit_records_checked: Schema.Int,
  /** Findings per code (all of them, also when `findings` was cut at its limit). */
  counts: Schema.Record({ key: Schema.String, value: Schema.Int }),
  findings: Schema.Array(Finding),
  /** True when more findings were found than a report keeps. */
  truncated: Schema.Boolean
}) {}

/** Storage port for integrity reports. */
export class IntegrityReportStore extends Context.Tag("@airlock/companion/IntegrityReportStore")<
  IntegrityReportStore,
  {
    /** Inserts; `conflict.duplicate` when the id is taken. */
    readonly insert: (report: IntegrityReport) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly get: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<Option.Option<IntegrityReport>, Errors.StorageError>
    /** Newest first (by id, which sorts by creation), ids strictly before `before`, at most `limit`. */
    readonly list: (
      tenant: Ids.TenantId,
      query: { readonly before?: string | undefined; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<IntegrityReport>, Errors.StorageError>
  }
>() {}

/** A position in proposal details ordered by (created_at, proposal_id). */
export interface DetailPosition {
  readonly created_at: number
  readonly proposal_id: string
}

/** A reason count of one tenant. */
export interface TenantReasonCount {
  readonly tenant_id: string
  readonly reason: string
  readonly count: number
}

/** Reads of proposal details for reports, paged so a report never holds a window in memory. */
export class CompanionReportReader extends Context.Tag("@airlock/companion/CompanionReportReader")<
  CompanionReportReader,
  {
    /** Details created in [from, to), by (created_at, proposal_id), strictly after `after`, at most `limit`. */
    readonly detailsPage: (
      tenant: Ids.TenantId,
      query: {
        readonly from: number
        readonly to: number
        readonly after?: DetailPosition | undefined
        readonly limit: number
      }
    ) => Effect.Effect<ReadonlyArray<ProposalDetail>, Errors.StorageError>
    /** Details created in [from, to) not auto-posted under `reason`, newest first, strictly before `before`. */
    readonly byReason: (
      tenant: Ids.TenantId,
      query: {
        readonly reason: string
        readonly from: number
        readonly to: number
        readonly before?: DetailPosition | undefined
        readonly limit: number
      }
    ) => Effect.Effect<ReadonlyArray<ProposalDetail>, Errors.StorageError>
    /** Reason counts of proposals created in [from, to), per tenant and reason (all tenants). */
    readonly reasonCountsAll: (
      query: { readonly from: number; readonly to: number }
    ) => Effect.Effect<ReadonlyArray<TenantReasonCount>, Errors.StorageError>
  }
>() {}

/**
 * Where a rule promotion stands: `pending` (waiting for a person), `approved` (its rule is
 * active), `rejected` (with the reason) or `superseded` (the vendor's labels moved on before a
 * person decided).
 */
export const PromotionStatus = Schema.Literal("pending", "approved", "rejected", "superseded")
/** Type of {@link PromotionStatus}. */
export type PromotionStatus = typeof PromotionStatus.Type

/** One person's label a promotion rests on: the reviewed proposal, who booked it to what, when. */
export const PromotionLabel = Schema.Struct({
  proposal_id: Schema.String,
  account_code: Schema.String,
  direction: Schema.Literal("inflow", "outflow"),
  reviewed_by: Schema.String,
  reviewed_at: Schema.Number,
  review_outcome: Schema.Literal("applied", "corrected")
})
/** Type of {@link PromotionLabel}. */
export type PromotionLabel = typeof PromotionLabel.Type

/**
 * A rule promotion: the companion's proposal to turn a vendor's consistent labels from people
 * into a tenant rule (description contains the vendor key, this direction → this account). It is
 * a governed action (`action_id`); approving it activates the rule `rule_id`.
 */
export class RulePromotion extends Schema.Class<RulePromotion>("RulePromotion")({
  id: Schema.String,
  tenant_id: Schema.String,
  vendor_key: Schema.String,
  direction: Schema.Literal("inflow", "outflow"),
  account_code: Schema.String,
  /** How many agreeing labels the promotion rests on (the threshold in force when it was made). */
  labels: Schema.Int,
  /** The labels themselves, newest first, and the threshold. JSON. */
  evidence: Schema.Struct({
    threshold: Schema.Int,
    labels: Schema.Array(PromotionLabel),
    /** The promotion this one superseded, if any. */
    supersedes: Schema.NullOr(Schema.String)
  }),
  status: PromotionStatus,
  /** The governed action (`companion.rule.promote`) that carries the decision and its traces. */
  action_id: Schema.NullOr(Schema.String),
  /** The rule the approval activated (its id is the promotion's id). */
  rule_id: Schema.NullOr(Schema.String),
  created_at: Schema.Number,
  /** The person whose label completed the evidence. */
  created_by: Schema.String,
  reviewed_at: Schema.NullOr(Schema.Number),
  /** Who approved or rejected it (or the companion's actor when it was superseded). */
  reviewed_by: Schema.NullOr(Schema.String),
  review_reason: Schema.NullOr(Schema.String),
  version: Schema.Int
}) {}

/** Storage port for rule promotions. */
export class RulePromotionStore extends Context.Tag("@airlock/companion/RulePromotionStore")<
  RulePromotionStore,
  {
    /**
     * Inserts; `conflict.duplicate` when the id is taken or the vendor already has a pending
     * promotion (at most one pending promotion per tenant and vendor, held by the store).
     */
    readonly insert: (promotion: RulePromotion) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    /** Replaces a promotion whose stored version is `expectedVersion`; `conflict.stale` or `not_found` otherwise. */
    readonly update: (
      promotion: RulePromotion,
      expectedVersion: number
    ) => Effect.Effect<void, Errors.Conflict | Errors.NotFound | Errors.StorageError>
    readonly get: (tenant: Ids.TenantId, id: string) => Effect.Effect<Option.Option<RulePromotion>, Errors.StorageError>
    /** The vendor's promotions, newest first (by id), at most `limit`. */
    readonly forVendor: (
      tenant: Ids.TenantId,
      vendorKey: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<RulePromotion>, Errors.StorageError>
    /** Newest first (by id), optionally of one status, ids strictly before `before`, at most `limit`. */
    readonly list: (
      tenant: Ids.TenantId,
      query: {
        readonly status?: PromotionStatus | undefined
        readonly before?: string | undefined
        readonly limit: number
      }
    ) => Effect.Effect<ReadonlyArray<RulePromotion>, Errors.StorageError>
  }
>() {}

/** Every port of the companion's reports. */
export type CompanionReportsPorts = IntegrityReportStore | CompanionReportReader | RulePromotionStore

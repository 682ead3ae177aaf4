/**
 * The companion's storage ports: what it keeps beside core's shadow records and agent memory and
 * the ledger's tables — the tenant's categorisation rules, the classifier's model versions, the
 * calibration versions with their threshold certificates, and per proposal the chain's stage
 * details, the auto-post decision with its reason codes, and the review outcome (applied,
 * corrected, rejected, auto-posted) with any correction. `adapters-storage` implements each port
 * in memory and on SQL (`companion_*` tables).
 */
import { CorePorts, Errors, type Ids } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"

/** Money direction of a bank transaction: positive amounts come in, negative go out. */
export const Direction = Schema.Literal("inflow", "outflow")
/** Type of {@link Direction}. */
export type Direction = typeof Direction.Type

/** What a rule matches; every given condition must hold (amounts are absolute decimals, inclusive). */
export const RuleMatch = Schema.Struct({
  description_contains: Schema.NullOr(Schema.String),
  description_regex: Schema.NullOr(Schema.String),
  amount_min: Schema.NullOr(Schema.String),
  amount_max: Schema.NullOr(Schema.String),
  direction: Schema.NullOr(Direction)
})
/** Type of {@link RuleMatch}. */
export type RuleMatch = typeof RuleMatch.Type

/** One line of a split template: an account and its share of the amount in basis points. */
export const SplitShare = Schema.Struct({ account_code: Schema.String, share_bps: Schema.Int })
/** Type of {@link SplitShare}. */
export type SplitShare = typeof SplitShare.Type

/** Where a rule books a match: one account, or a split template (shares add up to 10,000 bps). */
export const RuleTarget = Schema.Struct({
  account_code: Schema.NullOr(Schema.String),
  splits: Schema.Array(SplitShare)
})
/** Type of {@link RuleTarget}. */
export type RuleTarget = typeof RuleTarget.Type

/** A tenant's categorisation rule (business policy): the first active match by priority wins. */
export class CompanionRule extends Schema.Class<CompanionRule>("CompanionRule")({
  id: Schema.String,
  tenant_id: Schema.String,
  name: Schema.String,
  /** Lower runs first; ties by id. */
  priority: Schema.Int,
  active: Schema.Boolean,
  match: RuleMatch,
  target: RuleTarget,
  created_at: Schema.Number,
  created_by: Schema.String,
  updated_at: Schema.Number,
  updated_by: Schema.String,
  version: Schema.Int
}) {}

/** Storage port for rules. */
export class CompanionRuleStore extends Context.Tag("@airlock/companion/CompanionRuleStore")<
  CompanionRuleStore,
  {
    /** Inserts; `conflict.duplicate` when the id is taken. */
    readonly insert: (rule: CompanionRule) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    /** Replaces a rule whose stored version is `expectedVersion`; `conflict.stale` or `not_found` otherwise. */
    readonly update: (
      rule: CompanionRule,
      expectedVersion: number
    ) => Effect.Effect<void, Errors.Conflict | Errors.NotFound | Errors.StorageError>
    readonly get: (tenant: Ids.TenantId, id: string) => Effect.Effect<Option.Option<CompanionRule>, Errors.StorageError>
    /** Every rule of the tenant, by priority then id. */
    readonly list: (tenant: Ids.TenantId) => Effect.Effect<ReadonlyArray<CompanionRule>, Errors.StorageError>
    /** Deletes one rule; false when there was none. */
    readonly remove: (tenant: Ids.TenantId, id: string) => Effect.Effect<boolean, Errors.StorageError>
  }
>() {}

/** One stored version of a tenant's classifier. */
export class ClassifierVersion extends Schema.Class<ClassifierVersion>("ClassifierVersion")({
  tenant_id: Schema.String,
  version: Schema.Int,
  /** The model as JSON (the classifier's own encoding). */
  model: Schema.Unknown,
  /** Labelled examples the model has seen in total. */
  examples: Schema.Int,
  created_at: Schema.Number
}) {}

/** One stored calibration of a tenant: the calibrator, the auto-post threshold certificate and metrics. */
export class CalibrationVersion extends Schema.Class<CalibrationVersion>("CalibrationVersion")({
  tenant_id: Schema.String,
  version: Schema.Int,
  /** The fitted calibrator as JSON, or null when there was not enough history to fit one. */
  calibrator: Schema.Unknown,
  /** The threshold certificate as JSON (threshold or null, bound, sample, reason). */
  certificate: Schema.Unknown,
  /** Brier score, ECE and bins as JSON. */
  metrics: Schema.Unknown,
  /** Reviewed proposals the fit saw. */
  sample: Schema.Int,
  fitted_at: Schema.Number
}) {}

/** Storage port for classifier and calibration versions (append-only, versioned per tenant). */
export class CompanionModelStore extends Context.Tag("@airlock/companion/CompanionModelStore")<
  CompanionModelStore,
  {
    /** Stores a new classifier version; `conflict.duplicate` when the tenant has that version. */
    readonly putClassifier: (v: ClassifierVersion) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly latestClassifier: (
      tenant: Ids.TenantId
    ) => Effect.Effect<Option.Option<ClassifierVersion>, Errors.StorageError>
    /** Stores a new calibration version; `conflict.duplicate` when the tenant has that version. */
    readonly putCalibration: (v: CalibrationVersion) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly latestCalibration: (
      tenant: Ids.TenantId
    ) => Effect.Effect<Option.Option<CalibrationVersion>, Errors.StorageError>
    readonly getCalibration: (
      tenant: Ids.TenantId,
      version: number
    ) => Effect.Effect<Option.Option<CalibrationVersion>, Errors.StorageError>
  }
>() {}

/** How a person (or the auto-post) closed a proposal. `corrected` = applied with other splits. */
export const ReviewOutcome = Schema.Literal("applied", "corrected", "rejected", "auto_posted")
/** Type of {@link ReviewOutcome}. */
export type ReviewOutcome = typeof ReviewOutcome.Type

/** A split as the companion stores it (amount as a decimal string of minor units). */
export const StoredSplit = Schema.Struct({ account_code: Schema.String, amount_minor: Schema.String })
/** Type of {@link StoredSplit}. */
export type StoredSplit = typeof StoredSplit.Type

/** What the companion knows about one of its proposals, beside core's record of it. */
export class ProposalDetail extends Schema.Class<ProposalDetail>("ProposalDetail")({
  tenant_id: Schema.String,
  /** Core's action id of the ledger proposal. */
  proposal_id: Schema.String,
  bank_transaction_id: Schema.String,
  vendor_key: Schema.String,
  /** The bank amount, signed minor units, as a decimal string. */
  amount_minor: Schema.String,
  direction: Direction,
  /** The splits the chain proposed. */
  splits: Schema.Array(StoredSplit),
  /** Every stage's result, JSON (the categorizer contract's `StageResult`). */
  stages: Schema.Unknown,
  /** The stage whose answer the proposal carries (null when none answered). */
  deciding_stage: Schema.NullOr(Schema.String),
  confidence: Schema.Number,
  calibrated_probability: Schema.NullOr(Schema.Number),
  calibration_version: Schema.NullOr(Schema.Int),
  classifier_version: Schema.NullOr(Schema.Int),
  /** The auto-post decision at propose time: each check, the reasons, the certificate used. JSON. */
  autopost: Schema.Unknown,
  /** The reason codes it was not auto-posted under (empty when it was). */
  not_auto_post_reasons: Schema.Array(Schema.String),
  /** When this proposal is a person's correction: the proposal it corrects. */
  corrects_proposal_id: Schema.NullOr(Schema.String),
  created_at: Schema.Number,
  created_by: Schema.String,
  review_outcome: Schema.NullOr(ReviewOutcome),
  reviewed_by: Schema.NullOr(Schema.String),
  reviewed_at: Schema.NullOr(Schema.Number),
  review_reason: Schema.NullOr(Schema.String),
  /** The splits finally booked (a correction's, or the proposal's own). */
  final_splits: Schema.NullOr(Schema.Array(StoredSplit)),
  /** The proposal that was applied: this one, or the correction that superseded it. */
  applied_proposal_id: Schema.NullOr(Schema.String),
  entry_id: Schema.NullOr(Schema.String),
  /** What the review taught (memory writes by uid, classifier version), JSON. */
  learning: Schema.Unknown,
  version: Schema.Int
}) {}

/** A count of proposals not auto-posted under one reason code. */
export interface ReasonCount {
  readonly reason: string
  readonly count: number
}

/** Storage port for proposal details. */
export class CompanionProposalStore extends Context.Tag("@airlock/companion/CompanionProposalStore")<
  CompanionProposalStore,
  {
    /** Inserts a detail with its reason rows; `conflict.duplicate` when the proposal has one. */
    readonly insert: (detail: ProposalDetail) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly get: (
      tenant: Ids.TenantId,
      proposalId: string
    ) => Effect.Effect<Option.Option<ProposalDetail>, Errors.StorageError>
    /** Replaces a detail whose stored version is `expectedVersion` (reasons are not changed). */
    readonly update: (
      detail: ProposalDetail,
      expectedVersion: number
    ) => Effect.Effect<void, Errors.Conflict | Errors.NotFound | Errors.StorageError>
    /** Reviewed details (not corrections themselves) reviewed at or after `since`, newest first. */
    readonly reviewed: (
      tenant: Ids.TenantId,
      query: { readonly since: number; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<ProposalDetail>, Errors.StorageError>
    /** Reviewed details of one vendor (booked: applied, corrected or auto-posted), newest first. */
    readonly vendorHistory: (
      tenant: Ids.TenantId,
      vendorKey: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<ProposalDetail>, Errors.StorageError>
    /** Proposals created at or after `since` counted per not-auto-post reason code, by code. */
    readonly reasonCounts: (
      tenant: Ids.TenantId,
      since: number
    ) => Effect.Effect<ReadonlyArray<ReasonCount>, Errors.StorageError>
  }
>() {}

/** Every companion store port. */
export type CompanionPorts = CompanionRuleStore | CompanionModelStore | CompanionProposalStore

/** The refusal of a duplicate key (core's shape), for the adapters. */
export const duplicateError = CorePorts.duplicateError
/** The refusal of a missing row (core's shape), for the adapters. */
export const notFoundError = CorePorts.notFoundError
/** The refusal of an update whose stored version moved on (`conflict.stale`). */
export const staleError = (entity: string, id: string): Errors.Conflict =>
  new Errors.Conflict({
    code: "conflict.stale",
    message: `${entity} ${id} changed concurrently`,
    details: { entity, id }
  })

/**
 * Contract of the companion's proposal routes (the companion runbook's `/api/companion/v2/…`
 * under `/api/v1/companion/…`): propose for bank transactions, list and inspect shadow events,
 * apply (optionally with corrected splits), apply a batch in `drafts`, reject, wipe, provenance,
 * the tenant's categorization rules, the not-auto-posted counts and the calibration report.
 * Tenant-scoped. Amounts are decimal strings in the transaction's currency.
 *
 * Errors: 403 `companion.disabled` (a kill-switch layer is off; `details.layer` names it),
 * 403 `breaker.velocity`, 403 `mode.forbidden` (apply in `shadow_only`, batch outside `drafts`),
 * 403 `rbac.forbidden`, 404 `not_found`, 409 `proposal.closed` (superseded or rejected),
 * 409 `period.locked`, 400 `validation.*` (splits that do not add up, inactive accounts, a rule
 * with an unsafe pattern), 403 `approval_required`.
 */
import { Companion, RulesStage } from "@airlock/companion"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, type HttpMethod, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { DecimalText, Entry } from "../Ledger/Api.js"
import { IdCursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))
const Json = Schema.Unknown
const Code = Schema.Struct({ code: Schema.String, message: Schema.String })

/** One split as the API shows it: the account and the decimal amount. */
export const Split = Schema.Struct({ account_code: Schema.String, amount: Schema.String })

/**
 * A split as stored with the companion's details (minor units as a string). Not on the wire any
 * more: every split the API serves is a {@link Split} with a decimal amount.
 */
export const StoredSplit = Schema.Struct({ account_code: Schema.String, amount_minor: Schema.String })

/**
 * The stage results of a proposal (the categorizer contract's `StageResult`, a plugin's own
 * `details` included), with each stage's splits as {@link Split}s.
 */
export const Stages = Schema.Array(Json)

/**
 * The companion's details of a shadow event: vendor key, the bank amount (decimal), the proposed
 * splits, every stage's result, the calibration and classifier versions, the auto-post decision
 * and the review (who, when, final splits, what it taught).
 */
export const ShadowDetail = Schema.Struct({
  tenant_id: Schema.String,
  proposal_id: Schema.String,
  bank_transaction_id: Schema.String,
  vendor_key: Schema.String,
  /** The bank amount, signed, in the transaction's currency. */
  amount: Schema.String,
  direction: Schema.String,
  splits: Schema.Array(Split),
  stages: Stages,
  deciding_stage: Schema.NullOr(Schema.String),
  confidence: Schema.Number,
  calibrated_probability: Schema.NullOr(Schema.Number),
  calibration_version: Schema.NullOr(Schema.Number),
  classifier_version: Schema.NullOr(Schema.Number),
  autopost: Json,
  not_auto_post_reasons: Schema.Array(Schema.String),
  corrects_proposal_id: Schema.NullOr(Schema.String),
  created_at: Timestamp,
  created_by: Schema.String,
  review_outcome: Schema.NullOr(Schema.String),
  reviewed_by: Schema.NullOr(Schema.String),
  reviewed_at: Schema.NullOr(Timestamp),
  review_reason: Schema.NullOr(Schema.String),
  final_splits: Schema.NullOr(Schema.Array(Split)),
  applied_proposal_id: Schema.NullOr(Schema.String),
  entry_id: Schema.NullOr(Schema.String),
  learning: Json,
  version: Schema.Number
}).annotations({ identifier: "CompanionShadowDetail" })

/**
 * A threshold certificate (see `docs/companion.md`): the threshold or null with its reason, the
 * evidence counts and bound, and its window as times.
 */
export const Certificate = Schema.Struct({
  threshold: Schema.NullOr(Schema.Number),
  target_precision: Schema.Number,
  delta: Schema.Number,
  n_at_or_above: Schema.Number,
  errors_at_or_above: Schema.Number,
  error_upper_bound: Schema.Number,
  n_window: Schema.Number,
  window_start: Timestamp,
  window_end: Timestamp,
  method: Schema.String,
  evidence_start: Schema.optional(Schema.NullOr(Timestamp)),
  spot_checks: Schema.optional(Schema.Struct({ n: Schema.Number, errors: Schema.Number, p_value: Schema.Number })),
  version: Schema.String,
  reason: Schema.NullOr(Schema.String)
}).annotations({ identifier: "CompanionCertificate" })

/** The bank transaction a proposal is about: description, date and amount (runbook's review list). */
export const BankTransactionView = Schema.Struct({
  id: Schema.String,
  account_code: Schema.String,
  date: Schema.String,
  description: Schema.String,
  amount: Schema.String,
  currency: Schema.String,
  payee: Schema.NullOr(Schema.String),
  memo: Schema.NullOr(Schema.String)
}).annotations({ identifier: "CompanionBankTransaction" })

/** A shadow event: the ledger proposal (its payload read out) and its status. */
export const Proposal = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  bank_transaction_id: Schema.NullOr(Schema.String),
  splits: Schema.Array(Split),
  confidence: Schema.NullOr(Schema.Number),
  calibrated_probability: Schema.NullOr(Schema.Number),
  rationale: Schema.NullOr(Schema.String),
  questions: Schema.Array(Schema.String),
  risk_reasons: Schema.Array(Schema.String),
  tier: Schema.NullOr(Schema.Number),
  review_reasons: Schema.Array(Schema.String),
  proposed_by: Schema.String,
  proposed_at: Timestamp,
  closed_by: Schema.NullOr(Schema.String),
  closed_at: Schema.NullOr(Timestamp),
  close_reason: Schema.NullOr(Schema.String),
  result: Schema.NullOr(Json)
}).annotations({ identifier: "CompanionProposal" })

/** A proposal with its bank transaction (the review list's row). */
export const ProposalRow = Schema.Struct({
  proposal: Proposal,
  bank_transaction: Schema.NullOr(BankTransactionView)
}).annotations({ identifier: "CompanionProposalRow" })

/** A page of proposals, newest first; `next_cursor` goes into `cursor` for the next page. */
export const ProposalPage = Schema.Struct({
  items: Schema.Array(ProposalRow),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "CompanionProposalPage" })

/**
 * `GET /api/v1/companion/proposals` query. Without `status` the list is of `proposed` shadow
 * events (the companion runbook's review page); `status=all` lists every status.
 */
export const ListQuery = Schema.Struct({
  status: Schema.optional(
    Schema.Literal("proposed", "applied", "rejected", "rolled_back", "superseded", "wiped", "all")
  ),
  cursor: Schema.optional(IdCursor),
  limit: pageLimit({ default: 50, max: 200 })
})

/** A shadow event with its bank transaction and the companion's details (stages, auto-post decision, review). */
export const ShadowEvent = Schema.Struct({
  proposal: Proposal,
  bank_transaction: Schema.NullOr(BankTransactionView),
  detail: Schema.NullOr(ShadowDetail)
}).annotations({ identifier: "CompanionShadowEvent" })

/** Body of a propose call: the transactions, or none for every unprocessed one (at most 1,000). */
export const ProposeBody = strictBody({
  bank_transaction_ids: Schema.optional(Schema.Array(Id).pipe(Schema.maxItems(Companion.MAX_BATCH)))
})

/** What happened to one transaction of a propose call. */
export const ProposeItem = Schema.Struct({
  bank_transaction_id: Schema.String,
  status: Schema.Literal("proposed", "auto_posted", "unresolved", "skipped", "failed"),
  proposal_id: Schema.NullOr(Schema.String),
  /** `unresolved`: the open no-answer proposal (no splits; apply it with `{splits}`), or null when none is stored. */
  no_answer_proposal_id: Schema.NullOr(Schema.String),
  entry_id: Schema.NullOr(Schema.String),
  splits: Schema.Array(Split),
  confidence: Schema.NullOr(Schema.Number),
  calibrated_probability: Schema.NullOr(Schema.Number),
  tier: Schema.NullOr(Schema.Number),
  rationale: Schema.NullOr(Schema.String),
  questions: Schema.Array(Schema.String),
  risk_reasons: Schema.Array(Schema.String),
  not_auto_post_reasons: Schema.Array(Schema.String),
  error: Schema.NullOr(Code)
}).annotations({ identifier: "CompanionProposeItem" })

/** The result of a propose call: per-item results and counts. */
export const ProposeResult = Schema.Struct({
  items: Schema.Array(ProposeItem),
  proposed: Schema.Number,
  auto_posted: Schema.Number,
  unresolved: Schema.Number,
  /** Transactions that already have a journal entry (nothing proposed). */
  skipped: Schema.Number,
  failed: Schema.Number,
  more: Schema.Boolean
}).annotations({ identifier: "CompanionProposeResult" })

/** Body of an apply: optional corrected splits (they must add up to the bank amount). */
export const ApplyBody = strictBody({
  splits: Schema.optional(
    Schema.Array(strictBody({
      account_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)),
      amount: DecimalText,
      description: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500))))
    })).pipe(Schema.minItems(1), Schema.maxItems(50))
  )
})

/** The result of an apply. */
export const ApplyResult = Schema.Struct({
  proposal_id: Schema.String,
  applied_proposal_id: Schema.String,
  outcome: Schema.String,
  entry_id: Schema.NullOr(Schema.String),
  entry_no: Schema.NullOr(Schema.Number),
  already_applied: Schema.Boolean,
  correction: Schema.NullOr(Schema.Struct({
    original_splits: Schema.Array(Split),
    corrected_splits: Schema.Array(Split)
  })),
  learning: Json
}).annotations({ identifier: "CompanionApplyResult" })

/** Body of a batch apply (`drafts` mode). */
export const BatchBody = strictBody({ ids: Schema.Array(Id).pipe(Schema.minItems(1), Schema.maxItems(200)) })

/** One item of a batch apply, all-or-nothing. */
export const BatchItem = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal("applied", "failed"),
  result: Schema.NullOr(ApplyResult),
  error: Schema.NullOr(Code)
}).annotations({ identifier: "CompanionBatchItem" })

/** Body of a rejection. */
export const RejectBody = strictBody({ reason: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2000)) })

/** The result of a rejection: the closed proposal, what it taught, the trust breaker's reading. */
export const RejectResult = Schema.Struct({
  proposal: Proposal,
  learning: Json,
  trust: Schema.NullOr(Schema.Struct({
    rejection_rate: Schema.Number,
    sample: Schema.Number,
    tripped: Schema.Boolean,
    /** The mode change the trust breaker made now, if any. */
    downgraded: Schema.NullOr(Schema.Struct({ from: Schema.String, to: Schema.String }))
  }))
}).annotations({ identifier: "CompanionRejectResult" })

/** `POST /api/v1/companion/shadow-events/wipe` query. */
export const WipeQuery = Schema.Struct({
  status: Schema.Literal("proposed", "rejected", "superseded")
})

/** `GET /api/v1/companion/provenance` query: exactly one of the two. */
export const ProvenanceQuery = Schema.Struct({
  shadow_event_id: Schema.optional(Id),
  entry_id: Schema.optional(Id)
})

/** One decision trace of a phase: who, when, the outcome and each gate's verdict. */
export const GateTrace = Schema.Struct({
  trace_id: Schema.String,
  actor_id: Schema.String,
  at: Timestamp,
  outcome: Schema.String,
  gates: Json
}).annotations({ identifier: "CompanionGateTrace" })

/** The AI's side of a provenance answer: its stages, proposal, auto-post decision and the review. */
export const ProvenanceAi = Schema.Struct({
  vendor_key: Schema.String,
  stages: Stages,
  deciding_stage: Schema.NullOr(Schema.String),
  proposed_splits: Schema.Array(Split),
  confidence: Schema.Number,
  calibrated_probability: Schema.NullOr(Schema.Number),
  classifier_version: Schema.NullOr(Schema.Number),
  autopost: Json,
  not_auto_post_reasons: Schema.Array(Schema.String),
  review: Schema.Struct({
    outcome: Schema.NullOr(Schema.String),
    by: Schema.NullOr(Schema.String),
    at: Schema.NullOr(Timestamp),
    reason: Schema.NullOr(Schema.String),
    final_splits: Schema.NullOr(Schema.Array(Split)),
    applied_proposal_id: Schema.NullOr(Schema.String),
    entry_id: Schema.NullOr(Schema.String),
    learning: Json
  })
}).annotations({ identifier: "CompanionProvenanceAi" })

/** The calibration a proposal was scored with (or, when that version was pruned, its number). */
export const ProvenanceCalibration = Schema.Union(
  Schema.Struct({
    version: Schema.Number,
    fitted_at: Timestamp,
    sample: Schema.Number,
    calibrator: Json,
    certificate: Schema.NullOr(Certificate),
    metrics: Json
  }),
  Schema.Struct({ version: Schema.NullOr(Schema.Number), pruned: Schema.Literal(true) })
).annotations({ identifier: "CompanionProvenanceCalibration" })

/** A person's correction: the AI's splits, the person's, who and when. */
export const Correction = Schema.Struct({
  original_proposal_id: Schema.NullOr(Schema.String),
  correction_proposal_id: Schema.NullOr(Schema.String),
  original_splits: Schema.NullOr(Schema.Array(Split)),
  corrected_splits: Schema.NullOr(Schema.Array(Split)),
  by: Schema.NullOr(Schema.String),
  at: Schema.NullOr(Timestamp)
}).annotations({ identifier: "CompanionCorrection" })

/** "Why did the AI do this?" — see `docs/companion.md`. */
export const Provenance = Schema.Struct({
  shadow_event_id: Schema.NullOr(Schema.String),
  bank_transaction: Schema.NullOr(BankTransactionView),
  proposal: Schema.NullOr(Proposal),
  entry: Schema.NullOr(Entry),
  ai: Schema.NullOr(ProvenanceAi),
  calibration: Schema.NullOr(ProvenanceCalibration),
  gates: Schema.Struct({ propose: Schema.Array(GateTrace), apply: Schema.Array(GateTrace) }),
  applied: Schema.NullOr(Schema.Struct({
    proposal_id: Schema.String,
    by: Schema.NullOr(Schema.String),
    at: Schema.NullOr(Timestamp),
    result: Schema.NullOr(Json)
  })),
  correction: Schema.NullOr(Correction)
}).annotations({ identifier: "CompanionProvenance" })

/** A categorization rule. */
export const Rule = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  priority: Schema.Number,
  active: Schema.Boolean,
  match: Json,
  target: Json,
  created_at: Timestamp,
  created_by: Schema.String,
  updated_at: Timestamp,
  updated_by: Schema.String,
  version: Schema.Number
}).annotations({ identifier: "CompanionRule" })

/** `GET /api/v1/companion/not-auto-post-counts` query: since when (default: the last 30 days). */
export const CountsQuery = Schema.Struct({ since: Schema.optional(Timestamp) })

/** The latest calibration: version, sample, Brier, ECE (10 uniform bins), bins and the certificate. */
export const CalibrationReport = Schema.Struct({
  version: Schema.NullOr(Schema.Number),
  fitted_at: Schema.NullOr(Timestamp),
  sample: Schema.Number,
  calibrator: Schema.NullOr(Json),
  certificate: Schema.NullOr(Certificate),
  metrics: Schema.NullOr(Json)
}).annotations({ identifier: "CompanionCalibration" })

const ProposalId = HttpApiSchema.param("id", Id)
const ShadowEventId = HttpApiSchema.param("id", Id)
const RuleId = HttpApiSchema.param("id", Id)

/**
 * The errors of the endpoints that run the companion's gates (propose, apply, the batch, reject):
 * RBAC and the mode, not found, the kill switch, the velocity breaker, lockdown, a closed proposal,
 * a locked period, an approval, the LLM budget and an unavailable dependency.
 */
const gatedErrors = <
  Name extends string,
  Method extends HttpMethod.HttpMethod,
  Path,
  UrlParams,
  Payload,
  Headers,
  Success,
  Error,
  R,
  RE
>(endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method, Path, UrlParams, Payload, Headers, Success, Error, R, RE>) =>
  endpoint
    .addError(ApiError.Forbidden)
    .addError(ApiError.NotFound)
    .addError(ApiError.CompanionDisabled)
    .addError(ApiError.VelocityBreakerTripped)
    .addError(ApiError.LockdownActive)
    .addError(ApiError.Conflict)
    .addError(ApiError.PeriodLocked)
    .addError(ApiError.ApprovalRequired)
    .addError(ApiError.BudgetExceeded)
    .addError(ApiError.Unavailable)

/** The companion's proposal group. */
export class CompanionProposalsApi extends HttpApiGroup.make("companionProposals")
  .add(
    HttpApiEndpoint.post("propose", "/api/v1/companion/proposals")
      .setPayload(ProposeBody)
      .addSuccess(ProposeResult)
      .pipe(gatedErrors)
  )
  .add(
    HttpApiEndpoint.get("listProposals", "/api/v1/companion/proposals")
      .setUrlParams(ListQuery)
      .addSuccess(ProposalPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("getShadowEvent")`/api/v1/companion/shadow-events/${ShadowEventId}`
      .addSuccess(ShadowEvent)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.post("applyBatch", "/api/v1/companion/proposals/apply")
      .setPayload(BatchBody)
      .addSuccess(Schema.Struct({ items: Schema.Array(BatchItem) }))
      .pipe(gatedErrors)
  )
  .add(
    HttpApiEndpoint.post("apply")`/api/v1/companion/proposals/${ProposalId}/apply`
      .setPayload(ApplyBody)
      .addSuccess(ApplyResult)
      .pipe(gatedErrors)
  )
  .add(
    HttpApiEndpoint.post("reject")`/api/v1/companion/proposals/${ProposalId}/reject`
      .setPayload(RejectBody)
      .addSuccess(RejectResult)
      .pipe(gatedErrors)
  )
  .add(
    HttpApiEndpoint.post("wipe", "/api/v1/companion/shadow-events/wipe")
      .setUrlParams(WipeQuery)
      .addSuccess(Schema.Struct({ status: Schema.String, wiped: Schema.Number }))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("provenance", "/api/v1/companion/provenance")
      .setUrlParams(ProvenanceQuery)
      .addSuccess(Provenance)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.get("listRules", "/api/v1/companion/rules")
      .addSuccess(Schema.Struct({ rules: Schema.Array(Rule) }))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("createRule", "/api/v1/companion/rules")
      .setPayload(RulesStage.RuleInput)
      .addSuccess(Rule, { status: 201 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.put("updateRule")`/api/v1/companion/rules/${RuleId}`
      .setPayload(RulesStage.RuleInput)
      .addSuccess(Rule)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.del("deleteRule")`/api/v1/companion/rules/${RuleId}`
      .addSuccess(Schema.Struct({ deleted: Schema.Boolean }))
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.get("notAutoPostCounts", "/api/v1/companion/not-auto-post-counts")
      .setUrlParams(CountsQuery)
      .addSuccess(Schema.Struct({
        since: Timestamp,
        not_auto_post_counts: Schema.Record({ key: Schema.String, value: Schema.Number })
      }))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("calibration", "/api/v1/companion/calibration")
      .addSuccess(CalibrationReport)
      .addError(ApiError.Forbidden)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Companion proposals")
  .annotate(
    OpenApi.Description,
    "Propose for bank transactions, review (apply with corrections, batch apply, reject), wipe, " +
      "provenance, categorization rules, not-auto-posted counts and calibration"
  )
{}

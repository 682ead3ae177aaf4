/**
 * Contract of the companion reports group: the auditor (`POST /api/v1/companion/auditor/run`)
 * and its integrity reports, the shadow report (JSON or CSV) with its rollout readiness checks,
 * `GET /api/v1/metrics/latest`, and the operator drill-down of `not_auto_post_counts` (by reason,
 * from a reason to its proposals and their decision traces, CSV export; every tenant's counts on
 * the admin route), and rule promotions (list, one, approve, reject). Tenant-scoped: an admin names another tenant with `X-Tenant` under the
 * cross-tenant guards. The companion's `CompanionReports` service checks permissions and computes.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Admin, TenantScoped } from "../Auth.js"
import { Cursor, IdCursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const Rate = Schema.NullOr(Schema.Number)
const Period = Schema.Literal("7d", "30d", "180d")

/** One auditor finding. */
export const Finding = Schema.Struct({
  code: Schema.String,
  severity: Schema.Literal("critical", "high", "medium", "low"),
  message: Schema.String,
  entities: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) })
}).annotations({ identifier: "IntegrityFinding" })

/** An integrity report. */
export const IntegrityReport = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  created_at: Timestamp,
  created_by: Schema.String,
  days: Schema.Number,
  window_start: Schema.String,
  window_end: Schema.String,
  status: Schema.Literal("clean", "findings"),
  entries_checked: Schema.Number,
  audit_records_checked: Schema.Number,
  counts: Schema.Record({ key: Schema.String, value: Schema.Number }),
  findings: Schema.Array(Finding),
  truncated: Schema.Boolean
}).annotations({ identifier: "IntegrityReport" })

/** A page of integrity reports. */
export const IntegrityReportPage = Schema.Struct({
  items: Schema.Array(IntegrityReport),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "IntegrityReportPage" })

const Criterion = Schema.Struct({
  name: Schema.String,
  observed: Schema.NullOr(Schema.Number),
  comparator: Schema.Literal(">=", "<="),
  required: Schema.Number,
  pass: Schema.Boolean
})
const Readiness = Schema.Struct({ ready: Schema.Boolean, criteria: Schema.Array(Criterion) })
const Counts = Schema.Record({ key: Schema.String, value: Schema.Number })
const BudgetStatus = Schema.Struct({ fallback_active: Schema.Boolean, fallback_reason: Schema.NullOr(Schema.String) })

/** The shadow report (see `docs/companion-reports.md` for each rate's definition). */
export const ShadowReport = Schema.Struct({
  schema_version: Schema.String,
  tenant_id: Schema.String,
  period: Period,
  window_start_ts: Schema.String,
  window_end_ts: Schema.String,
  population_n: Schema.Number,
  automation_candidates_rate: Rate,
  automation_rate: Rate,
  auto_post_rate: Rate,
  accuracy: Rate,
  brier: Rate,
  ece: Rate,
  calibration_bins: Schema.Array(Schema.Struct({
    lower: Schema.Number,
    upper: Schema.Number,
    count: Schema.Number,
    mean_predicted: Rate,
    observed_rate: Rate
  })),
  reviewed_n: Schema.Number,
  scored_n: Schema.Number,
  open_n: Schema.Number,
  auto_posted_n: Schema.Number,
  je_imbalance_count: Schema.Number,
  reconciliation_rate: Rate,
  high_confidence: Schema.Struct({ threshold: Schema.Number, n: Schema.Number, accuracy: Rate }),
  not_auto_post_counts: Counts,
  llm_spend_usd: Schema.String,
  llm_spend_months: Schema.Array(Schema.String),
  llm_budget_status: BudgetStatus,
  readiness: Schema.Struct({ p1_to_p2: Readiness, p2_to_p3: Readiness }),
  drift: Schema.Array(Schema.Struct({
    kind: Schema.String,
    subject: Schema.String,
    statistic: Schema.Number,
    threshold: Schema.Number,
    detail: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  })),
  reason_counts_csv: Schema.String,
  chart: Schema.String
}).annotations({ identifier: "ShadowReport" })

/** `GET /api/v1/metrics/latest` (schema 1.0). */
export const MetricsLatest = Schema.Struct({
  schema_version: Schema.Literal("1.0"),
  tenant_id: Schema.String,
  period: Period,
  window_start_ts: Schema.String,
  window_end_ts: Schema.String,
  population_n: Schema.Number,
  automation_candidates_rate: Rate,
  automation_rate: Rate,
  auto_post_rate: Rate,
  accuracy: Rate,
  brier: Rate,
  ece: Rate,
  je_imbalance_count: Schema.Number,
  llm_budget_status: BudgetStatus,
  not_auto_post_counts: Counts
}).annotations({ identifier: "MetricsLatest" })

/** A tenant's `not_auto_post_counts` in a period. */
export const ReasonCounts = Schema.Struct({
  tenant_id: Schema.String,
  period: Period,
  window_start_ts: Schema.String,
  window_end_ts: Schema.String,
  not_auto_post_counts: Counts
}).annotations({ identifier: "NotAutoPostCounts" })

/** Every tenant's `not_auto_post_counts` in a period. */
export const ReasonCountsAll = Schema.Struct({
  period: Period,
  window_start_ts: Schema.String,
  window_end_ts: Schema.String,
  tenants: Schema.Array(Schema.Struct({ tenant_id: Schema.String, not_auto_post_counts: Counts }))
}).annotations({ identifier: "NotAutoPostCountsAll" })

/** A page of the proposals under one reason, each with its stored details and decision traces. */
export const ReasonProposalPage = Schema.Struct({
  reason: Schema.String,
  period: Period,
  items: Schema.Array(Schema.Struct({ detail: Schema.Unknown, traces: Schema.Array(Schema.Unknown) })),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "NotAutoPostProposalPage" })

const Direction = Schema.Literal("inflow", "outflow")

/** A rule promotion: the companion's proposal of a tenant rule from a vendor's consistent labels. */
export const RulePromotion = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  vendor_key: Schema.String,
  direction: Direction,
  account_code: Schema.String,
  labels: Schema.Number,
  evidence: Schema.Struct({
    threshold: Schema.Number,
    labels: Schema.Array(Schema.Struct({
      proposal_id: Schema.String,
      account_code: Schema.String,
      direction: Direction,
      reviewed_by: Schema.String,
      reviewed_at: Timestamp,
      review_outcome: Schema.Literal("applied", "corrected")
    })),
    supersedes: Schema.NullOr(Schema.String)
  }),
  status: Schema.Literal("pending", "approved", "rejected", "superseded"),
  action_id: Schema.NullOr(Schema.String),
  rule_id: Schema.NullOr(Schema.String),
  created_at: Timestamp,
  created_by: Schema.String,
  reviewed_at: Schema.NullOr(Timestamp),
  reviewed_by: Schema.NullOr(Schema.String),
  review_reason: Schema.NullOr(Schema.String),
  version: Schema.Number
}).annotations({ identifier: "RulePromotion" })

/** A page of rule promotions, newest first. */
export const RulePromotionPage = Schema.Struct({
  items: Schema.Array(RulePromotion),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "RulePromotionPage" })

/** One rule promotion with the decision traces of its governed action (`companion.rule.promote`). */
export const RulePromotionView = Schema.Struct({
  promotion: RulePromotion,
  traces: Schema.Array(Schema.Unknown)
}).annotations({ identifier: "RulePromotionView" })

const PromotionId = HttpApiSchema.param("id", IdCursor)

const PeriodParam = Schema.Struct({ period: Schema.optional(Period) })
const Reason = HttpApiSchema.param(
  "reason",
  Schema.String.pipe(Schema.pattern(/^[a-z0-9_.:-]{1,100}$/, { message: () => "Expected a reason code" }))
)
const ReportId = HttpApiSchema.param("id", IdCursor)

/** The companion reports group. */
export class CompanionReportsApi extends HttpApiGroup.make("companionReports")
  .add(
    HttpApiEndpoint.post("runAuditor", "/api/v1/companion/auditor/run")
      .setPayload(strictBody({ days: Schema.Number.pipe(Schema.int(), Schema.between(1, 366)) }))
      .addSuccess(IntegrityReport, { status: 201 })
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("integrityReports", "/api/v1/companion/integrity-reports")
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(IdCursor), limit: pageLimit({ default: 20, max: 100 }) }))
      .addSuccess(IntegrityReportPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("integrityReport")`/api/v1/companion/integrity-reports/${ReportId}`
      .addSuccess(IntegrityReport)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.get("shadowReport", "/api/v1/companion/shadow-report")
      .setUrlParams(
        Schema.Struct({ period: Schema.optional(Period), format: Schema.optional(Schema.Literal("json", "csv")) })
      )
      .addSuccess(ShadowReport)
      .addError(ApiError.Forbidden)
      .annotate(OpenApi.Description, "format=csv answers the report as text/csv (metric,value)")
  )
  .add(
    HttpApiEndpoint.get("metricsLatest", "/api/v1/metrics/latest")
      .setUrlParams(PeriodParam)
      .addSuccess(MetricsLatest)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("notAutoPostCounts", "/api/v1/companion/not-auto-post")
      .setUrlParams(PeriodParam)
      .addSuccess(ReasonCounts)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("notAutoPostProposals")`/api/v1/companion/not-auto-post/${Reason}/proposals`
      .setUrlParams(Schema.Struct({
        period: Schema.optional(Period),
        cursor: Schema.optional(Cursor),
        limit: pageLimit({ default: 50, max: 200 })
      }))
      .addSuccess(ReasonProposalPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("notAutoPostCsv")`/api/v1/companion/not-auto-post/${Reason}/proposals.csv`
      .setUrlParams(PeriodParam)
      .addSuccess(HttpApiSchema.Text({ contentType: "text/csv" }))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("rulePromotions", "/api/v1/companion/rule-promotions")
      .setUrlParams(Schema.Struct({
        status: Schema.optional(Schema.Literal("pending", "approved", "rejected", "superseded")),
        cursor: Schema.optional(IdCursor),
        limit: pageLimit({ default: 50, max: 200 })
      }))
      .addSuccess(RulePromotionPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("rulePromotion")`/api/v1/companion/rule-promotions/${PromotionId}`
      .addSuccess(RulePromotionView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.post("approveRulePromotion")`/api/v1/companion/rule-promotions/${PromotionId}/approve`
      .addSuccess(RulePromotionView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
      .addError(ApiError.LockdownActive)
      .annotate(
        OpenApi.Description,
        "Activates the promoted rule. A person with companion.settings.manage other than the labeller who " +
          "completed the evidence; agents and the system are refused"
      )
  )
  .add(
    HttpApiEndpoint.post("rejectRulePromotion")`/api/v1/companion/rule-promotions/${PromotionId}/reject`
      .setPayload(strictBody({ reason: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2000)) }))
      .addSuccess(RulePromotionView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
      .addError(ApiError.LockdownActive)
  )
  .middleware(TenantScoped)
  .add(
    HttpApiEndpoint.get("notAutoPostAll", "/api/admin/companion/not-auto-post")
      .setUrlParams(PeriodParam)
      .addSuccess(ReasonCountsAll)
      .addError(ApiError.Forbidden)
      .middleware(Admin)
  )
  .annotate(OpenApi.Title, "Companion reports")
  .annotate(
    OpenApi.Description,
    "Auditor and integrity reports, shadow report with rollout readiness, metrics/latest, not-auto-post drill-down, " +
      "rule promotions waiting for a person"
  )
{}

/**
 * Contract of the KPI group: product events (`POST /api/v1/events`, tenant-scoped), and the admin
 * KPI console (`/api/admin/kpi/*`, `/api/admin/baseline*`, `/api/admin/digest/*`: admin role, IP
 * allowlist, and writes only with admin writes enabled; an admin's `X-Tenant` picks the tenant).
 * The ops services check permissions and compute everything; the handlers only translate. A GET
 * never writes: rollups are computed by `POST /api/admin/kpi/rollups/run` and the scheduled task.
 */
import { KpiAlerts, KpiRollups, ProductEvents } from "@airlock/ops"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { AdminTenantScoped, TenantScoped } from "../Auth.js"
import { pageLimit, strictBody, Timestamp } from "../Wire.js"

const DateText = Schema.String.pipe(
  Schema.maxLength(10),
  Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "Expected a date YYYY-MM-DD" })
)

/** Body of `POST /api/v1/events`: a batch of product events (at most `AIRLOCK_KPI_EVENTS_BATCH_MAX`). */
export const EventBatch = strictBody({
  events: Schema.Array(strictBody(ProductEvents.EventInput.fields))
}).annotations({ identifier: "ProductEventBatch" })

/** A rollup as served (ops' `KpiRollups.RenderedRollup`), `computed_at` an ISO 8601 time. */
export const Rollup = Schema.Struct({ ...KpiRollups.RenderedRollup.fields, computed_at: Timestamp }).annotations({
  identifier: "KpiRollup"
})

/** A page of daily rollups, latest day first. */
export const RollupPage = Schema.Struct({
  tenant_id: Schema.String,
  from: Schema.String,
  to: Schema.String,
  rollups: Schema.Array(Rollup)
}).annotations({ identifier: "KpiRollupPage" })

/** The alert evaluation (ops' `KpiAlerts.AlertReport`), `evaluated_at` an ISO 8601 time. */
export const AlertReport = Schema.Struct({ ...KpiAlerts.AlertReport.fields, evaluated_at: Timestamp }).annotations({
  identifier: "KpiAlertReport"
})

/** What a notification did. */
export const NotifyResult = Schema.Struct({
  tenant_id: Schema.String,
  status: Schema.Literal("disabled", "no_critical", "cooldown", "refused", "delivered", "failed"),
  critical: Schema.Number,
  payload_hash: Schema.NullOr(Schema.String),
  delivery_id: Schema.NullOr(Schema.String),
  attempts: Schema.Number,
  detail: Schema.NullOr(Schema.String)
}).annotations({ identifier: "KpiNotifyResult" })

/** One recorded webhook delivery attempt. */
export const DeliveryAttempt = Schema.Struct({
  id: Schema.String,
  delivery_id: Schema.String,
  payload_hash: Schema.String,
  attempt: Schema.Number,
  outcome: Schema.Literal("delivered", "failed", "refused"),
  http_status: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String),
  host: Schema.String,
  at: Timestamp,
  duration_ms: Schema.Number
}).annotations({ identifier: "KpiDeliveryAttempt" })

/** A stored baseline snapshot. */
export const Baseline = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  captured_at: Timestamp,
  captured_by: Schema.String,
  document: Schema.Unknown
}).annotations({ identifier: "Baseline" })

/** A weekly digest draft. */
export const DigestDraft = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  anchor_week: Schema.String,
  anchor_date: Schema.String,
  seq: Schema.Number,
  lookback_days: Schema.Number,
  window_from: Schema.String,
  window_to: Schema.String,
  created_at: Timestamp,
  created_by: Schema.String,
  markdown: Schema.String,
  evidence: Schema.Unknown
}).annotations({ identifier: "DigestDraft" })

const Counts = Schema.Struct({ events: Schema.Number, llm_calls: Schema.Number })

/** What `POST /api/admin/digest/weekly` answers: a draft, or the evidence gate's refusal. */
export const DigestResult = Schema.Union(
  Schema.Struct({ status: Schema.Literal("created"), draft: DigestDraft }),
  Schema.Struct({
    status: Schema.Literal("insufficient_evidence"),
    tenant_id: Schema.String,
    anchor_week: Schema.String,
    window_from: Schema.String,
    window_to: Schema.String,
    observed: Counts,
    required: Counts
  })
).annotations({ identifier: "DigestResult" })

/** A list's `limit` with its default (the handler's) and maximum. */
const Limit = (defaultSize: number) => Schema.Struct({ limit: pageLimit({ default: defaultSize, max: 500 }) })

const Id = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.:-]{1,128}$/, { message: () => "Expected an id" }))
const BaselineId = HttpApiSchema.param("id", Id)
const DraftId = HttpApiSchema.param("id", Id)

/** The KPI group. */
export class KpiApi extends HttpApiGroup.make("kpi")
  .add(
    HttpApiEndpoint.post("recordEvents", "/api/v1/events")
      .setPayload(EventBatch)
      .addSuccess(ProductEvents.RecordResult)
      .addError(ApiError.Forbidden)
      .middleware(TenantScoped)
  )
  .add(
    HttpApiEndpoint.get("rollups", "/api/admin/kpi/rollups")
      .setUrlParams(Schema.Struct({ from: Schema.optional(DateText), to: Schema.optional(DateText) }))
      .addSuccess(RollupPage)
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.post("runRollups", "/api/admin/kpi/rollups/run")
      .setPayload(strictBody({ from: Schema.optional(DateText), to: Schema.optional(DateText) }))
      .addSuccess(RollupPage)
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("alerts", "/api/admin/kpi/alerts")
      .addSuccess(AlertReport)
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.post("notify", "/api/admin/kpi/alerts/notify")
      .addSuccess(NotifyResult)
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("deliveries", "/api/admin/kpi/alerts/deliveries")
      .setUrlParams(Limit(100))
      .addSuccess(Schema.Array(DeliveryAttempt))
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.post("captureBaseline", "/api/admin/baseline")
      .setPayload(strictBody({
        windows: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 1000))),
        window_minutes: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 1440)))
      }))
      .addSuccess(Baseline, { status: 201 })
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("latestBaseline", "/api/admin/baseline/latest")
      .addSuccess(Baseline)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("baseline")`/api/admin/baseline/${BaselineId}`
      .addSuccess(Baseline)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.post("weeklyDigest", "/api/admin/digest/weekly")
      .setPayload(strictBody({
        lookback_days: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 90))),
        anchor_date: Schema.optional(DateText),
        allow_duplicate_anchor: Schema.optional(Schema.Boolean)
      }))
      .addSuccess(DigestResult)
      .addError(ApiError.Forbidden)
      .addError(ApiError.Conflict)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("digestDrafts", "/api/admin/digest/drafts")
      .setUrlParams(Limit(50))
      .addSuccess(Schema.Array(DigestDraft))
      .addError(ApiError.Forbidden)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("digestDraft")`/api/admin/digest/drafts/${DraftId}`
      .addSuccess(DigestDraft)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .middleware(AdminTenantScoped)
  )
  .add(
    HttpApiEndpoint.get("digestMarkdown")`/api/admin/digest/drafts/${DraftId}/markdown`
      .addSuccess(HttpApiSchema.Text({ contentType: "text/markdown" }))
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .middleware(AdminTenantScoped)
  )
  .annotate(OpenApi.Title, "KPI")
  .annotate(
    OpenApi.Description,
    "Product events, daily KPI rollups, alerts and their webhook, baseline snapshots, weekly digest drafts"
  )
{}

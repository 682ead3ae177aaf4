/**
 * Contract of the health group: liveness (`/healthz`, and the runbook's
 * `/api/v1/health/live`), readiness (`/readyz`, 503 `unavailable` with every check's outcome when
 * a check fails) and Prometheus metrics (`/metrics`). Public: probes and scrapers send no token.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"

/** Liveness: the process answers. */
export const Live = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "Live" })

/** One readiness check's outcome (checks may add public details such as migration ids). */
export const CheckOutcome = Schema.Struct(
  { ok: Schema.Boolean, duration_ms: Schema.Number, reason: Schema.optional(Schema.String) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({ identifier: "CheckOutcome" })

/** Readiness when every check passes. */
export const Ready = Schema.Struct({
  status: Schema.Literal("ready"),
  checks: Schema.Record({ key: Schema.String, value: CheckOutcome })
}).annotations({ identifier: "Ready" })

/** Prometheus text exposition (format 0.0.4). */
export const PrometheusText = Schema.String.pipe(
  HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain; version=0.0.4; charset=utf-8" })
)

/** The health group. */
export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(Live))
  .add(HttpApiEndpoint.get("live", "/api/v1/health/live").addSuccess(Live))
  .add(HttpApiEndpoint.get("readyz", "/readyz").addSuccess(Ready).addError(ApiError.Unavailable))
  .add(HttpApiEndpoint.get("metrics", "/metrics").addSuccess(PrometheusText))
  .annotate(OpenApi.Title, "Health")
  .annotate(OpenApi.Description, "Liveness, readiness and Prometheus metrics (no token needed)")
{}

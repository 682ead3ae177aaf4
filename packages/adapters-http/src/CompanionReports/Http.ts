/** Handlers of the companion reports group: translate between JSON and the companion's `CompanionReports`. */
import { CompanionReports, RulePromotion, ShadowReport } from "@airlock/companion"
import { HttpApiBuilder, type HttpApiGroup, HttpServerResponse } from "@effect/platform"
import { Effect, type Layer, Stream } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin, TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

const csvResponse = (body: string, filename: string) =>
  HttpServerResponse.text(body, {
    contentType: "text/csv; charset=utf-8",
    headers: { "content-disposition": `attachment; filename="${filename}"` }
  })

/** The companion reports group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "companionReports">,
  never,
  CompanionReports.CompanionReports | RulePromotion.RulePromotions | TenantScoped | Admin
> = HttpApiBuilder.group(AirlockApi, "companionReports", (handlers) =>
  Effect.gen(function*() {
    const reports = yield* CompanionReports.CompanionReports
    const promotions = yield* RulePromotion.RulePromotions
    return handlers
      .handle("runAuditor", ({ payload }) =>
        withPrincipal((actor, tenant) => reports.runAuditor(tenant, actor, payload.days)))
      .handle("integrityReports", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          reports.listReports(tenant, actor, { before: urlParams.cursor, limit: urlParams.limit ?? 20 })
        ))
      .handle("integrityReport", ({ path }) =>
        withPrincipal((actor, tenant) =>
          reports.getReport(tenant, actor, path.id)
        ))
      .handle("shadowReport", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(reports.shadowReport(tenant, actor, urlParams.period ?? "30d"), (r) =>
            urlParams.format === "csv"
              ? csvResponse(ShadowReport.toCsv(r), `shadow_report_${tenant}_${r.period}.csv`)
              : { ...r, reason_counts_csv: ShadowReport.reasonCountsCsv(r), chart: ShadowReport.textChart(r) })
        ))
      .handle("metricsLatest", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(reports.metricsLatest(tenant, actor, urlParams.period ?? "30d"), (m) => ({
            ...m,
            schema_version: "1.0" as const
          }))
        ))
      .handle("notAutoPostCounts", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          reports.reasonCounts(tenant, actor, urlParams.period ?? "30d")
        ))
      .handle("notAutoPostProposals", ({ path, urlParams }) =>
        withPrincipal((actor, tenant) =>
          reports.reasonProposals(tenant, actor, {
            reason: path.reason,
            period: urlParams.period ?? "30d",
            cursor: urlParams.cursor,
            limit: urlParams.limit ?? 50
          })
        ))
      .handle("notAutoPostCsv", ({ path, urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            reports.reasonProposalsCsvStream(tenant, actor, { reason: path.reason, period: urlParams.period ?? "30d" }),
            // streamed a page at a time: the window may hold any number of proposals
            (lines) =>
              HttpServerResponse.stream(Stream.encodeText(lines), {
                contentType: "text/csv; charset=utf-8",
                headers: {
                  "content-disposition": `attachment; filename="not_auto_post_${tenant}_${path.reason}_${
                    urlParams.period ?? "30d"
                  }.csv"`
                }
              })
          )
        ))
      .handle("rulePromotions", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          promotions.list(tenant, actor, {
            status: urlParams.status,
            cursor: urlParams.cursor,
            limit: urlParams.limit ?? RulePromotion.PAGE.default
          })
        ))
      .handle("rulePromotion", ({ path }) =>
        withPrincipal((actor, tenant) =>
          promotions.get(tenant, actor, path.id)
        ))
      .handle("approveRulePromotion", ({ path }) =>
        withPrincipal((actor, tenant) =>
          promotions.approve(tenant, actor, path.id)
        ))
      .handle("rejectRulePromotion", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          promotions.reject(tenant, actor, path.id, payload.reason)
        ))
      .handle("notAutoPostAll", ({ urlParams }) =>
        withPrincipal((actor) =>
          reports.reasonCountsAll(actor, urlParams.period ?? "30d")
        ))
  }))

/** Handlers of the KPI group: translate between JSON and the ops KPI services. */
import { AlertWebhook, Baseline, Digest, KpiAlerts, KpiRollups, type KpiStore, ProductEvents } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { AdminTenantScoped, TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

const baselineJson = (b: KpiStore.BaselineRecord) => ({
  id: b.id,
  tenant_id: b.tenant_id,
  captured_at: b.captured_at,
  captured_by: b.captured_by,
  document: b.document
})

const draftJson = (d: KpiStore.DigestDraft) => ({
  id: d.id,
  tenant_id: d.tenant_id,
  anchor_week: d.anchor_week,
  anchor_date: d.anchor_date,
  seq: d.seq,
  lookback_days: d.lookback_days,
  window_from: d.window_from,
  window_to: d.window_to,
  created_at: d.created_at,
  created_by: d.created_by,
  markdown: d.markdown,
  evidence: d.evidence
})

/** The KPI group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "kpi">,
  never,
  | ProductEvents.ProductEvents
  | KpiRollups.KpiRollups
  | KpiAlerts.KpiAlerts
  | AlertWebhook.AlertWebhook
  | Baseline.Baselines
  | Digest.Digests
  | TenantScoped
  | AdminTenantScoped
> = HttpApiBuilder.group(AirlockApi, "kpi", (handlers) =>
  Effect.gen(function*() {
    const events = yield* ProductEvents.ProductEvents
    const rollups = yield* KpiRollups.KpiRollups
    const alerts = yield* KpiAlerts.KpiAlerts
    const webhook = yield* AlertWebhook.AlertWebhook
    const baselines = yield* Baseline.Baselines
    const digests = yield* Digest.Digests
    return handlers
      .handle("recordEvents", ({ payload }) => withPrincipal((actor, tenant) => events.record(actor, payload, tenant)))
      .handle("rollups", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          rollups.list(actor, {
            ...(urlParams.from !== undefined ? { from: urlParams.from } : {}),
            ...(urlParams.to !== undefined ? { to: urlParams.to } : {})
          }, tenant)
        ))
      .handle("runRollups", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          rollups.run(actor, {
            ...(payload.from !== undefined ? { from: payload.from } : {}),
            ...(payload.to !== undefined ? { to: payload.to } : {})
          }, tenant)
        ))
      .handle("alerts", () => withPrincipal((actor, tenant) => alerts.list(actor, tenant)))
      .handle("notify", () => withPrincipal((actor, tenant) => webhook.notify(actor, tenant)))
      .handle("deliveries", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            webhook.deliveries(actor, urlParams.limit ?? 100, tenant),
            (list) =>
              list.map((a) => ({
                id: a.id,
                delivery_id: a.delivery_id,
                payload_hash: a.payload_hash,
                attempt: a.attempt,
                outcome: a.outcome,
                http_status: a.http_status,
                error: a.error,
                host: a.host,
                at: a.at,
                duration_ms: a.duration_ms
              }))
          )
        ))
      .handle("captureBaseline", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(baselines.capture(actor, payload, tenant), baselineJson)
        ))
      .handle("latestBaseline", () =>
        withPrincipal((actor, tenant) =>
          Effect.map(baselines.latest(actor, tenant), baselineJson)
        ))
      .handle("baseline", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(baselines.get(actor, path.id, tenant), baselineJson)
        ))
      .handle("weeklyDigest", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            digests.weekly(actor, payload, tenant),
            (r) => (r.status === "created" ? { status: "created" as const, draft: draftJson(r.draft) } : r)
          )
        ))
      .handle("digestDrafts", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(digests.list(actor, urlParams.limit ?? 50, tenant), (list) =>
            list.map(draftJson))
        ))
      .handle("digestDraft", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(digests.get(actor, path.id, tenant), draftJson)
        ))
      .handle("digestMarkdown", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(digests.get(actor, path.id, tenant), (d) =>
            d.markdown)
        ))
  }))

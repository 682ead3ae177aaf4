/**
 * The companion reports routes end to end on a real server (SQLite): the auditor run and its
 * integrity reports (persisted rows checked through SQL), the shadow report as JSON and CSV,
 * `metrics/latest`, the not-auto-post drill-down and its cross-tenant guards.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const reportRows = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql.unsafe<{ n: unknown }>("SELECT COUNT(*) AS n FROM companion_integrity_reports WHERE tenant_id = ?", [tenant])
        .pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
  )

const get = (s: H.TestServerShape, path: string, token: string, extra: Record<string, string> = {}) =>
  s.raw(path, { headers: H.auth(token, extra) })

layer(H.layer(), { excludeTestServices: true })("companion reports routes", (it) => {
  it.effect("auditor: run, list, read back; permission and input checked", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const run = yield* s.raw("/api/v1/companion/auditor/run", H.json("POST", H.tokens.owner, { days: 30 }))
      expect(run.status).toBe(201)
      expect(run.json).toMatchObject({ tenant_id: "default", days: 30, status: "clean", counts: {}, findings: [] })
      expect(yield* reportRows("default")).toBe(1)
      const list = yield* get(s, "/api/v1/companion/integrity-reports?limit=10", H.tokens.owner)
      expect(list.status).toBe(200)
      expect(list.json.items.map((r: { id: string }) => r.id)).toStrictEqual([run.json.id])
      expect(list.json.next_cursor).toBeNull()
      const one = yield* get(s, `/api/v1/companion/integrity-reports/${run.json.id}`, H.tokens.owner)
      expect(one.status).toBe(200)
      expect(one.json.id).toBe(run.json.id)
      const missing = yield* get(
        s,
        "/api/v1/companion/integrity-reports/irp_01J0000000000000000000000A",
        H.tokens.owner
      )
      expect(missing.status).toBe(404)
      // a viewer lacks audit.read; a bad window is refused; neither writes a report
      const viewer = yield* s.raw("/api/v1/companion/auditor/run", H.json("POST", H.tokens.viewer, { days: 30 }))
      expect(viewer.status).toBe(403)
      const bad = yield* s.raw("/api/v1/companion/auditor/run", H.json("POST", H.tokens.owner, { days: 0 }))
      expect(bad.status).toBe(400)
      expect(yield* reportRows("default")).toBe(1)
      // another tenant's owner cannot read this tenant's reports
      const other = yield* get(s, "/api/v1/companion/integrity-reports", H.tokens.acmeOwner, { "x-tenant": "default" })
      expect(other.status).toBe(403)
    }))

  it.effect("shadow report (JSON and CSV), metrics/latest and the drill-down", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const report = yield* get(s, "/api/v1/companion/shadow-report?period=7d", H.tokens.viewer)
      expect(report.status).toBe(200)
      expect(report.json).toMatchObject({ schema_version: "1.0", tenant_id: "default", period: "7d", population_n: 0 })
      expect(report.json.readiness.p1_to_p2.ready).toBe(false)
      expect(report.json.readiness.p1_to_p2.criteria.map((c: { name: string }) => c.name)).toStrictEqual([
        "automation_candidates_rate",
        "je_imbalance_count",
        "brier"
      ])
      expect(report.json.chart).toContain("Shadow report default 7d")
      expect(report.json.reason_counts_csv).toBe("reason,count\n")
      const csv = yield* get(s, "/api/v1/companion/shadow-report?period=180d&format=csv", H.tokens.viewer)
      expect(csv.status).toBe(200)
      expect(csv.headers.get("content-type")).toContain("text/csv")
      expect(csv.text.split("\n")[0]).toBe("metric,value")
      expect(csv.text).toContain("period,180d")
      const badPeriod = yield* get(s, "/api/v1/companion/shadow-report?period=9d", H.tokens.viewer)
      expect(badPeriod.status).toBe(400)

      const latest = yield* get(s, "/api/v1/metrics/latest", H.tokens.viewer)
      expect(latest.status).toBe(200)
      expect(latest.json).toMatchObject({
        schema_version: "1.0",
        period: "30d",
        population_n: 0,
        llm_budget_status: { fallback_active: false, fallback_reason: null },
        not_auto_post_counts: {}
      })
      expect(latest.json.window_end_ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      expect(latest.json.window_start_ts).toMatch(/T00:00:00Z$/)

      const counts = yield* get(s, "/api/v1/companion/not-auto-post?period=30d", H.tokens.viewer)
      expect(counts.status).toBe(200)
      expect(counts.json).toMatchObject({ tenant_id: "default", period: "30d", not_auto_post_counts: {} })
      const page = yield* get(s, "/api/v1/companion/not-auto-post/autopost.mode/proposals", H.tokens.viewer)
      expect(page.status).toBe(200)
      expect(page.json).toStrictEqual({ reason: "autopost.mode", period: "30d", items: [], next_cursor: null })
      const export_ = yield* get(s, "/api/v1/companion/not-auto-post/autopost.mode/proposals.csv", H.tokens.viewer)
      expect(export_.status).toBe(200)
      expect(export_.text.split("\n")[0]).toContain("proposal_id,bank_transaction_id")
      // an admin of another tenant reads this tenant's counts by naming it; an owner of another may not
      const cross = yield* get(s, "/api/v1/companion/not-auto-post", H.tokens.acmeAdmin, { "x-tenant": "default" })
      expect(cross.status).toBe(200)
      expect(cross.json.tenant_id).toBe("default")
      const refused = yield* get(s, "/api/v1/companion/not-auto-post", H.tokens.acmeOwner, { "x-tenant": "default" })
      expect(refused.status).toBe(403)
      // every tenant's counts: the admin route only
      const all = yield* get(s, "/api/admin/companion/not-auto-post?period=7d", H.tokens.admin)
      expect(all.status).toBe(200)
      expect(all.json).toMatchObject({ period: "7d", tenants: [] })
      const notAdmin = yield* get(s, "/api/admin/companion/not-auto-post", H.tokens.owner)
      expect(notAdmin.status).toBe(403)
    }))
})

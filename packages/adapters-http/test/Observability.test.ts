import { Migrations } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { describe, expect, it as vitest, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as H from "./support/Harness.js"

/** The value of one sample of the Prometheus text, or 0 when absent. */
const sample = (text: string, name: string, labels: Record<string, string>): number => {
  // labels sorted by name, except a histogram's `le`, which comes last
  const { le, ...rest } = labels
  const entries = Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1))
  if (le !== undefined) entries.push(["le", le])
  const wanted = entries.map(([k, v]) => `${k}="${v}"`).join(",")
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${wanted}}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

// bare metric names here (the served prefix has its own test in Metrics.test.ts)
const bare = H.layer({ metrics: { prefix: "" } })

layer(bare, { excludeTestServices: true })("health, readiness, metrics, documents", (it) => {
  it.effect("liveness at /healthz and the runbook's /api/v1/health/live, without a token", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      for (const path of ["/healthz", "/api/v1/health/live"]) {
        const r = yield* s.raw(path)
        expect([r.status, r.json]).toStrictEqual([200, { status: "ok" }])
        expect(r.headers.get("x-request-id")).toMatch(/^req_/)
      }
      // the runbook sends a token and a tenant; they are ignored
      const withHeaders = yield* s.raw("/api/v1/health/live", {
        headers: H.auth("whatever", { "x-tenant": "default" })
      })
      expect(withHeaders.status).toBe(200)
      expect(yield* s.client().health.healthz()).toStrictEqual({ status: "ok" })
    }))

  it.effect("readiness: storage reachable and migrations at head", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const r = yield* s.raw("/readyz")
      expect(r.status).toBe(200)
      expect(r.json).toMatchObject({
        status: "ready",
        checks: { storage: { ok: true }, migrations: { ok: true, current: Migrations.head, head: Migrations.head } }
      })
    }))

  it.effect("metrics: requests counted by route template and status, with duration histograms", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = (yield* s.raw("/metrics")).text
      const base = (method: string, path: string, status: string) =>
        sample(before, "http_requests_total", { method, path, status })
      yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })
      yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer, { "x-tenant": "default" }) })
      yield* s.raw("/api/v1/companion/settings")
      yield* s.raw("/api/v1/companion/settings/", { headers: H.auth(H.tokens.viewer) })
      yield* s.raw("/no/such/thing/1")
      yield* s.raw("/no/such/thing/2")
      const m = yield* s.raw("/metrics")
      expect(m.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      const after = m.text
      const count = (method: string, path: string, status: string) =>
        sample(after, "http_requests_total", { method, path, status }) - base(method, path, status)
      expect(count("GET", "/api/v1/companion/settings", "200")).toBe(3)
      expect(count("GET", "/api/v1/companion/settings", "401")).toBe(1)
      expect(count("GET", "unmatched", "404")).toBe(2)
      expect(after).not.toContain("/no/such/thing")
      expect(after).toContain("# TYPE http_requests_total counter")
      expect(after).toContain("# TYPE http_request_duration_seconds histogram")
      const bucketInf = sample(after, "http_request_duration_seconds_bucket", {
        method: "GET",
        path: "/api/v1/companion/settings",
        status: "200",
        le: "+Inf"
      })
      const histogramCount = sample(after, "http_request_duration_seconds_count", {
        method: "GET",
        path: "/api/v1/companion/settings",
        status: "200"
      })
      expect(bucketInf).toBe(histogramCount)
      expect(histogramCount).toBeGreaterThanOrEqual(3)
      expect(
        sample(after, "http_request_duration_seconds_sum", {
          method: "GET",
          path: "/api/v1/companion/settings",
          status: "200"
        })
      ).toBeGreaterThan(0)
    }))

  it.effect("the OpenAPI document and the docs page come from the declaration", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const doc = (yield* s.raw("/openapi.json")).json
      expect(Object.keys(doc.paths).sort()).toStrictEqual([
        "/api/admin/ai-global",
        "/api/admin/audit",
        "/api/admin/audit/verify",
        "/api/admin/backup",
        "/api/admin/backups",
        "/api/admin/baseline",
        "/api/admin/baseline/latest",
        "/api/admin/baseline/{id}",
        "/api/admin/companion/not-auto-post",
        "/api/admin/control/restart",
        "/api/admin/control/run/pause",
        "/api/admin/control/run/reset",
        "/api/admin/control/run/resume",
        "/api/admin/control/run/start",
        "/api/admin/control/run/stop",
        "/api/admin/digest/drafts",
        "/api/admin/digest/drafts/{id}",
        "/api/admin/digest/drafts/{id}/markdown",
        "/api/admin/digest/weekly",
        "/api/admin/doctor",
        "/api/admin/doctor/fix",
        "/api/admin/kpi/alerts",
        "/api/admin/kpi/alerts/deliveries",
        "/api/admin/kpi/alerts/notify",
        "/api/admin/kpi/rollups",
        "/api/admin/kpi/rollups/run",
        "/api/admin/maintenance/enqueue",
        "/api/admin/maintenance/failures",
        "/api/admin/maintenance/run",
        "/api/admin/maintenance/status",
        "/api/admin/metrics/run",
        "/api/admin/schedules",
        "/api/admin/schedules/tick",
        "/api/admin/schedules/{name}",
        "/api/admin/schedules/{name}/dispatches",
        "/api/admin/schedules/{name}/events",
        "/api/admin/status",
        "/api/v1/approvals",
        "/api/v1/approvals/{subject}/{plan_hash}",
        "/api/v1/bank-transactions/import",
        "/api/v1/billing/budget",
        "/api/v1/billing/summary",
        "/api/v1/builds",
        "/api/v1/companion/auditor/run",
        "/api/v1/companion/breaker-events",
        "/api/v1/companion/calibration",
        "/api/v1/companion/integrity-reports",
        "/api/v1/companion/integrity-reports/{id}",
        "/api/v1/companion/not-auto-post",
        "/api/v1/companion/not-auto-post-counts",
        "/api/v1/companion/not-auto-post/{reason}/proposals",
        "/api/v1/companion/not-auto-post/{reason}/proposals.csv",
        "/api/v1/companion/proposals",
        "/api/v1/companion/proposals/apply",
        "/api/v1/companion/proposals/{id}/apply",
        "/api/v1/companion/proposals/{id}/reject",
        "/api/v1/companion/provenance",
        "/api/v1/companion/rule-promotions",
        "/api/v1/companion/rule-promotions/{id}",
        "/api/v1/companion/rule-promotions/{id}/approve",
        "/api/v1/companion/rule-promotions/{id}/reject",
        "/api/v1/companion/rules",
        "/api/v1/companion/rules/{id}",
        "/api/v1/companion/settings",
        "/api/v1/companion/settings/changes",
        "/api/v1/companion/settings/changes/{id}/approve",
        "/api/v1/companion/settings/changes/{id}/reject",
        "/api/v1/companion/settings/named",
        "/api/v1/companion/shadow-events/wipe",
        "/api/v1/companion/shadow-events/{id}",
        "/api/v1/companion/shadow-report",
        "/api/v1/events",
        "/api/v1/executions",
        "/api/v1/executions/reconcile",
        "/api/v1/executions/{run_id}",
        "/api/v1/executions/{run_id}/cancel",
        "/api/v1/executions/{run_id}/retry",
        "/api/v1/export/qbo",
        "/api/v1/export/qbo/{batch_id}.csv",
        "/api/v1/health/live",
        "/api/v1/ledger/accounts",
        "/api/v1/ledger/entries",
        "/api/v1/ledger/entries/{id}/reverse",
        "/api/v1/ledger/period-lock",
        "/api/v1/ledger/trial-balance",
        "/api/v1/memory/as-of",
        "/api/v1/memory/items",
        "/api/v1/memory/items/{uid}",
        "/api/v1/memory/state/consistency/report",
        "/api/v1/memory/state/failures",
        "/api/v1/memory/state/graph/{uid}",
        "/api/v1/memory/state/kpis",
        "/api/v1/memory/state/review/conflicts",
        "/api/v1/memory/state/review/{uid}/resolve",
        "/api/v1/memory/state/stats",
        "/api/v1/memory/state/tiering/run",
        "/api/v1/metrics/latest",
        "/api/v1/system/lockdown",
        "/api/v1/system/status",
        "/api/v1/system/unlock",
        "/api/v1/system/unlock-code/rotate",
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant}",
        "/api/v1/tenants/{tenant}/companion",
        "/api/v1/tenants/{tenant}/export",
        "/api/v1/tenants/{tenant}/health",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/triage/failure/{job_name}",
        "/healthz",
        "/metrics",
        "/readyz"
      ])
      expect(doc.components.securitySchemes).toStrictEqual({ bearer: { type: "http", scheme: "bearer" } })
      const put = doc.paths["/api/v1/companion/settings"].put
      expect(Object.keys(put.responses).sort()).toStrictEqual(["200", "400", "401", "403", "404", "413", "429", "500"])
      expect(JSON.stringify(doc)).not.toContain("HttpApiDecodeError")
      // the CSV export's parameter is the bare batch id; `.csv` is part of the path
      const csvParams = doc.paths["/api/v1/export/qbo/{batch_id}.csv"].get.parameters
      expect(csvParams.map((p: any) => [p.name, p.in])).toStrictEqual([["batch_id", "path"]])
      expect(csvParams[0].schema.pattern).not.toContain("csv")
      // the bank import takes JSON, a raw CSV file or a raw OFX file
      expect(Object.keys(doc.paths["/api/v1/bank-transactions/import"].post.requestBody.content).sort()).toStrictEqual([
        "application/json",
        "application/x-ofx",
        "text/csv"
      ])
      // an idempotent retry of a post is a 200 with the original entry, a creation a 201
      expect(Object.keys(doc.paths["/api/v1/ledger/entries"].post.responses)).toEqual(
        expect.arrayContaining(["200", "201", "409"])
      )
      expect(doc.components.schemas.UnauthorizedError.properties.error.required).toStrictEqual([
        "code",
        "message",
        "details",
        "request_id"
      ])
      const docs = yield* s.raw("/docs")
      expect(docs.status).toBe(200)
      expect(docs.headers.get("content-type")).toContain("text/html")
      expect(docs.text).toContain("swagger-ui")
    }))
})

layer(H.layer({ http: { tracing: true } }), { excludeTestServices: true })("with tracing on", (it) => {
  it.effect("requests are served the same", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      expect((yield* s.client(H.tokens.owner).companion.updateSettings({ payload: { ai_mode: "drafts" } })).ai_mode)
        .toBe("drafts")
      H.expectError(yield* s.raw("/api/v1/companion/settings"), 401, "auth.unauthorized")
    }))
})

// the newest migration below head (ids may have gaps while packages add theirs)
const previousMigration = Math.max(
  ...Object.keys(Migrations.migrations).map((k) => Number.parseInt(k, 10)).filter((id) => id < Migrations.head)
)

layer(H.layer(), { excludeTestServices: true })("readiness when migrations are behind", (it) => {
  it.effect("503 unavailable with every check's outcome, and ready again once at head", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      const saved = yield* sql`SELECT * FROM effect_sql_migrations WHERE migration_id = ${Migrations.head}`.pipe(
        Effect.orDie
      )
      yield* sql`DELETE FROM effect_sql_migrations WHERE migration_id = ${Migrations.head}`.pipe(Effect.orDie)
      const r = yield* s.raw("/readyz")
      const error = H.expectError(r, 503, "unavailable")
      expect(error.details).toMatchObject({
        status: "not_ready",
        checks: {
          storage: { ok: true },
          migrations: { ok: false, reason: "behind", current: previousMigration, head: Migrations.head }
        }
      })
      const typed = yield* Effect.flip(s.client().health.readyz())
      expect(typed._tag).toBe("Unavailable")
      yield* sql`INSERT INTO effect_sql_migrations ${sql.insert(saved[0]!)}`.pipe(Effect.orDie)
      expect((yield* s.raw("/readyz")).status).toBe(200)
      // liveness is not readiness
      expect((yield* s.raw("/healthz")).status).toBe(200)
    }))
})

if (H.pgEnabled()) {
  const database = `airlock_ready_${randomBytes(5).toString("hex")}`
  layer(H.layer({ storage: "postgres", pgDatabase: database }), { excludeTestServices: true })(
    "readiness on PostgreSQL",
    (it) => {
      it.effect("503 while the database refuses connections, ready again after", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          expect((yield* s.raw("/readyz")).status).toBe(200)
          expect((yield* s.client(H.tokens.viewer).companion.getSettings()).tenant_id).toBe("default")
          yield* H.pgAdmin(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`)
          yield* H.pgAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`)
          const down = yield* s.raw("/readyz")
          const error = H.expectError(down, 503, "unavailable")
          expect(error.details).toMatchObject({ checks: { storage: { ok: false, reason: "unreachable" } } })
          expect(down.text).not.toMatch(/postgres:|password|ECONN|terminat/i)
          const failing = yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) })
          expect(failing.status).toBe(500)
          expect(["storage.failure", "internal"]).toContain(failing.json.error.code)
          yield* H.pgAdmin(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`)
          const up = yield* s.raw("/readyz")
          expect(up.status).toBe(200)
          expect((yield* s.client(H.tokens.viewer).companion.getSettings()).tenant_id).toBe("default")
        }))
    }
  )
} else {
  describe("readiness on PostgreSQL", () => {
    vitest.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
}

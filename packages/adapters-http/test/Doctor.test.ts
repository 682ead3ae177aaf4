/**
 * The doctor: outage classes against real local conditions (an unresolvable `.invalid` name, a
 * closed port, a server that hangs, a server answering 503), and the admin routes — findings
 * with stable codes, `fix` running migrations and creating the default tenant, the rest reported.
 */
import { OperationsDoctor } from "@airlock/adapters-http"
import { Migrations } from "@airlock/adapters-storage"
import { OutageClass } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { afterAll, beforeAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import { createServer, type Server, type Socket } from "node:net"
import * as H from "./support/Harness.js"

const listen = (server: Server | HttpServer) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  )

let closedPort = 0
let hangingPort = 0
let unavailablePort = 0
let okPort = 0
const hanging = createServer((socket) => void sockets.push(socket))
const sockets: Array<Socket> = []
const unavailable = createHttpServer((_, res) => res.writeHead(503).end("overloaded"))
const healthy = createHttpServer((_, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"))

beforeAll(async () => {
  const probe = createServer()
  closedPort = await listen(probe)
  await new Promise((r) => probe.close(r))
  hangingPort = await listen(hanging)
  unavailablePort = await listen(unavailable)
  okPort = await listen(healthy)
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all([hanging, unavailable, healthy].map((s) => new Promise((r) => s.close(r))))
})

describe("outage classes (pure)", () => {
  it("maps error codes and HTTP statuses", () => {
    expect(["ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "ECONNRESET", undefined].map(
      OutageClass.fromErrorCode
    )).toStrictEqual([
      "dns_resolution",
      "dns_resolution",
      "timeout",
      "network_unreachable",
      "network_unreachable",
      "network_unreachable",
      "network_unreachable"
    ])
    expect([200, 404, 429, 500, 503].map(OutageClass.fromHttpStatus)).toStrictEqual([
      null,
      null,
      "provider_unavailable",
      "provider_unavailable",
      "provider_unavailable"
    ])
  })
})

describe("the network probe against real local conditions", () => {
  const probe = (kind: "tcp" | "http", url: string, timeoutMillis = 1500) =>
    Effect.runPromise(OperationsDoctor.probe({ kind, url, timeoutMillis }))

  it("an unresolvable .invalid host: dns_resolution", async () => {
    expect(await probe("http", "http://airlock-doctor-test.invalid/v1")).toMatchObject({
      ok: false,
      outage_class: "dns_resolution"
    })
    expect(await probe("tcp", "postgres://u:secret@airlock-doctor-test.invalid:5432/db")).toMatchObject({
      ok: false,
      outage_class: "dns_resolution"
    })
  })

  it("a closed local port: network_unreachable", async () => {
    expect(await probe("http", `http://127.0.0.1:${closedPort}/v1`)).toStrictEqual({
      ok: false,
      outage_class: "network_unreachable",
      detail: "ECONNREFUSED"
    })
    expect(await probe("tcp", `postgres://u:p@127.0.0.1:${closedPort}/db`)).toMatchObject({
      ok: false,
      outage_class: "network_unreachable"
    })
  })

  it("a server that accepts and never answers: timeout (within the probe's time)", async () => {
    const started = Date.now()
    expect(await probe("http", `http://127.0.0.1:${hangingPort}/v1`, 400)).toMatchObject({
      ok: false,
      outage_class: "timeout"
    })
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it("a server answering 503: provider_unavailable; 200 and an open TCP port: reachable", async () => {
    expect(await probe("http", `http://127.0.0.1:${unavailablePort}/v1`)).toStrictEqual({
      ok: false,
      outage_class: "provider_unavailable",
      detail: "http_503"
    })
    expect(await probe("http", `http://127.0.0.1:${okPort}/v1`)).toMatchObject({ ok: true, status: 200 })
    expect(await probe("tcp", `postgres://u:p@127.0.0.1:${okPort}/db`)).toMatchObject({ ok: true, status: null })
  })
})

// a code version one migration ahead of the database: the doctor finds it pending and fix runs it
const ahead = {
  ...Migrations.migrations,
  [`${Migrations.head + 1}_doctor_pending`]: Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE TABLE doctor_pending (id INTEGER PRIMARY KEY)`
  )
}
const doctorMigrations = {
  status: Effect.map(Migrations.status, (s) => ({ current: s.current, head: s.head + 1, atHead: s.current > s.head })),
  run: Migrator.make({})({ loader: Migrator.fromRecord(ahead) })
}

describe("doctor over HTTP", () => {
  layer(
    H.layer({
      http: { environment: "production", adminWriteEnabled: true },
      doctorMigrations,
      doctor: {
        environment: "production",
        adminWriteEnabled: true,
        adminIpAllowlist: [],
        developmentTokens: [H.tokens.viewer, "dev_nothing_here"],
        defaultTenant: { id: "fresh", name: "Fresh" },
        databaseUrl: null,
        llmBaseUrl: "http://127.0.0.1:1/v1",
        probeTimeoutMillis: 1000
      }
    }),
    { excludeTestServices: true }
  )("production with problems", (it) => {
    it.effect("reports every problem with a stable code; fix repairs migrations and the default tenant, reports the rest", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        H.expectError(yield* s.raw("/api/admin/doctor", { headers: H.auth(H.tokens.owner) }), 403, "rbac.forbidden")
        const r = yield* s.raw("/api/admin/doctor", { headers: H.auth(H.tokens.admin) })
        expect(r.status).toBe(200)
        const byCheck = Object.fromEntries(r.json.findings.map((f: any) => [f.check, f]))
        expect(r.json.ok).toBe(false)
        expect(byCheck).toMatchObject({
          storage: { status: "ok", code: "storage.reachable" },
          migrations: { status: "fail", code: "migrations.behind", fixable: true },
          "config.dev_tokens": { status: "fail", code: "config.dev_tokens_in_production", details: { tokens: 1 } },
          "config.admin_writes": { status: "warn", code: "config.admin_writes_in_production" },
          "config.admin_ip_allowlist": { status: "warn", code: "config.admin_allowlist_empty" },
          "tenant.default": { status: "fail", code: "tenant.default_missing", fixable: true },
          llm: { status: "fail", code: "llm.unreachable", outage_class: "network_unreachable" },
          postgres: { status: "skipped", code: "postgres.not_configured" },
          scheduler: { status: "skipped", code: "scheduler.not_registered" }
        })
        // nothing in the report gives away a token
        expect(r.text).not.toContain(H.tokens.viewer)
        expect(r.json.needs_attention).toStrictEqual([
          "config.admin_writes_in_production",
          "config.admin_allowlist_empty",
          "config.dev_tokens_in_production",
          "llm.unreachable"
        ])

        const fixed = yield* s.raw("/api/admin/doctor/fix", { method: "POST", headers: H.auth(H.tokens.admin) })
        expect(fixed.status).toBe(200)
        expect(fixed.json.fixed).toStrictEqual([
          { check: "migrations", action: "run_migrations", ok: true, details: { applied: 1 } },
          { check: "tenant.default", action: "create_default_tenant", ok: true, details: { tenant: "fresh" } }
        ])
        const after = Object.fromEntries(fixed.json.findings.map((f: any) => [f.check, f]))
        expect(after.migrations).toMatchObject({ status: "ok", code: "migrations.at_head" })
        expect(after["tenant.default"]).toMatchObject({ status: "ok", code: "tenant.default_present" })
        // what fix must not touch is still reported
        expect(fixed.json.needs_attention).toContain("config.dev_tokens_in_production")
        const stored = yield* sql`SELECT MAX(migration_id) AS id FROM effect_sql_migrations`.pipe(Effect.orDie)
        expect(Number(stored[0]!.id)).toBe(Migrations.head + 1)
        // the pending migration really ran
        expect(yield* sql`SELECT COUNT(*) AS n FROM doctor_pending`.pipe(Effect.orDie)).toStrictEqual([{ n: 0 }])
        const tenant = yield* sql`SELECT name FROM core_tenants WHERE id = 'fresh'`.pipe(Effect.orDie)
        expect(tenant).toStrictEqual([{ name: "Fresh" }])
        const audit =
          yield* sql`SELECT action FROM core_audit WHERE tenant_id = 'default' AND action = 'system.doctor_fix'`
            .pipe(Effect.orDie)
        expect(audit.length).toBe(1)
        // a second fix has nothing to do
        const again = yield* s.raw("/api/admin/doctor/fix", { method: "POST", headers: H.auth(H.tokens.admin) })
        expect(again.json.fixed).toStrictEqual([])
      }))
  })

  layer(
    H.layer({ doctor: { environment: "development", llmBaseUrl: null, defaultTenant: { id: "default", name: "D" } } }),
    { excludeTestServices: true }
  )("development, healthy", (it) => {
    it.effect("ok, LLM not configured is reported as such", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const r = yield* s.raw("/api/admin/doctor", { headers: H.auth(H.tokens.admin) })
        expect(r.json.ok).toBe(true)
        const byCheck = Object.fromEntries(r.json.findings.map((f: any) => [f.check, f]))
        expect(byCheck.llm).toMatchObject({ status: "ok", code: "llm.not_configured" })
        expect(byCheck["tenant.default"]).toMatchObject({ status: "ok" })
        expect(r.json.needs_attention).toStrictEqual([])
      }))
  })

  layer(H.layer(), { excludeTestServices: true })("not configured", (it) => {
    it.effect("409 ops.doctor_unconfigured", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        H.expectError(
          yield* s.raw("/api/admin/doctor", { headers: H.auth(H.tokens.admin) }),
          409,
          "ops.doctor_unconfigured"
        )
      }))
  })
})

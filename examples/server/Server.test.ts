/**
 * The reference server as a real process: started the way the README starts it (through tsx,
 * configured by the environment), talked to over loopback HTTP, stopped with signals.
 */
import { Sqlite } from "@airlock/adapters-storage"
import { ApiToken, Ids, Kernel, Tenants } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { Agent, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, inject, it } from "vitest"
import * as Fake from "../../packages/companion/test/support/FakeOpenAiServer.js"

const examples = join(import.meta.dirname, "..")

interface Running {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly output: () => string
  /** Sends a signal and resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

const start = (env: Record<string, string>): Promise<Running> =>
  new Promise((resolve, reject) => {
    // as `pnpm start` runs it: node with tsx's loader (tsx's CLI would stand between the signal and the server)
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "server/main.ts"], {
      cwd: examples,
      // the one-person setup these tests change settings in (a raise would otherwise wait for a second person);
      // without the companion's labelled history unless a test asks for it
      env: {
        ...process.env,
        PORT: "0",
        HOST: "127.0.0.1",
        AIRLOCK_COMPANION_AUTONOMY_APPROVAL: "false",
        AIRLOCK_DEV_SEED_HISTORY: "false",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)))
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = /listening\s+(http:\/\/127\.0\.0\.1:(\d+))/.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve({
          url: m[1]!,
          port: Number(m[2]),
          child,
          output: () => output,
          stop: (signal = "SIGTERM") => {
            child.kill(signal)
            return exited
          }
        })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}:\n${output}`))
    })
  })

const get = async (url: string, token?: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } })
  return { status: response.status, json: (await response.json()) as any }
}

const put = async (url: string, token: string, body: unknown) => {
  const response = await fetch(url, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, json: (await response.json()) as any }
}

const post = async (url: string, token: string, body: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, json: (await response.json()) as any }
}

const sqlite = <A>(filename: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, f).pipe(
      Effect.provide(SqliteClient.layer({ filename })),
      Effect.scoped,
      Effect.orDie
    )
  )

describe("reference server: development", () => {
  it("prints the URLs and dev tokens, seeds once, answers with the dev tokens, stops cleanly", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const first = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    try {
      const out = first.output()
      expect(out).toContain(`Airlock reference server (development) on SQLite ${db}`)
      expect(out).toContain(`docs       ${first.url}/docs`)
      for (
        const token of [
          "dev_admin_token",
          "dev_bookkeeper_token",
          "dev_controller_token",
          "dev_viewer_token",
          "dev_agent_token"
        ]
      )
        expect(out).toContain(token)
      const settings = await get(`${first.url}/api/v1/companion/settings`, "dev_admin_token")
      expect(settings).toMatchObject({ status: 200, json: { tenant_id: "default", ai_mode: "suggest_only" } })
      expect((await get(`${first.url}/api/v1/system/status`, "dev_agent_token")).json).toMatchObject({
        environment: "development",
        admin_write_enabled: true
      })
      expect((await put(`${first.url}/api/v1/companion/settings`, "dev_viewer_token", { ai_mode: "drafts" })).status)
        .toBe(403)
      expect(
        (await put(`${first.url}/api/v1/companion/settings`, "dev_bookkeeper_token", { ai_mode: "drafts" })).status
      ).toBe(403)
      expect((await get(`${first.url}/readyz`)).status).toBe(200)
      expect((await get(`${first.url}/docs`.replace("/docs", "/openapi.json"))).status).toBe(200)
    } finally {
      expect(await first.stop("SIGINT")).toBe(0)
    }
    const second = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    try {
      const audit = await get(`${second.url}/api/admin/audit?limit=1000`, "dev_admin_token")
      expect(audit.json.records.map((r: any) => r.action)).toStrictEqual([
        "tenant.created",
        "actor.created",
        "actor.created",
        "actor.created",
        "actor.created",
        "actor.created",
        "ledger.chart.preset_imported",
        "ledger.bank.imported"
      ])
      // the seeded chart and sample bank transactions, once
      const accounts = await get(`${second.url}/api/v1/ledger/accounts`, "dev_viewer_token")
      expect(accounts.json.map((a: any) => a.code)).toContain("1000")
      expect(audit.json.chain.ok).toBe(true)
    } finally {
      expect(await second.stop()).toBe(0)
    }
    const counts = await sqlite(db, (sql) =>
      Effect.all([
        sql`SELECT COUNT(*) AS n FROM core_tenants`,
        sql`SELECT COUNT(*) AS n FROM core_actors`,
        sql`SELECT COUNT(*) AS n FROM core_api_tokens WHERE revoked_at IS NULL`,
        sql`SELECT COUNT(*) AS n FROM ledger_accounts WHERE tenant_id = 'default'`,
        sql`SELECT COUNT(*) AS n FROM ledger_bank_transactions WHERE tenant_id = 'default'`
      ]).pipe(Effect.map((rs) => rs.map((r) => Number(r[0]!.n)))))
    expect(counts).toStrictEqual([1, 5, 5, 14, 5])
  })

  it("the build-approval drill with the dev tokens: the bookkeeper submits, the controller approves", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const server = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    try {
      const build = { job_name: "drill_job", plan: { demo: "succeed", steps: 1 }, risk_score: 0.9 }
      const refused = await post(`${server.url}/api/v1/builds`, "dev_bookkeeper_token", build)
      expect([refused.status, refused.json.error.code]).toStrictEqual([409, "approval_required"])
      const planHash = refused.json.error.details.plan_hash as string
      const approval = { job_name: "drill_job", plan_hash: planHash, approver: "Dev Controller", notes: "drill" }
      // the requester may not approve; the controller (like the admin) may
      expect((await post(`${server.url}/api/v1/approvals`, "dev_bookkeeper_token", approval)).json.error.code).toBe(
        "rbac.forbidden"
      )
      const granted = await post(`${server.url}/api/v1/approvals`, "dev_controller_token", approval)
      expect(granted).toMatchObject({ status: 200, json: { approved: true, approver: "controller" } })
      const accepted = await post(`${server.url}/api/v1/builds`, "dev_bookkeeper_token", build)
      expect(accepted).toMatchObject({ status: 202, json: { status: "QUEUED", plan_hash: planHash } })
      // the development server's default tenant cannot be deleted, not even by the dev admin
      const deleted = await fetch(`${server.url}/api/v1/tenants/default?confirm=true`, {
        method: "DELETE",
        headers: { authorization: "Bearer dev_admin_token" }
      })
      expect([deleted.status, ((await deleted.json()) as any).error.code]).toStrictEqual([
        403,
        "tenant.delete.protected"
      ])
      expect((await get(`${server.url}/api/v1/ledger/accounts`, "dev_viewer_token")).status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    const rows = await sqlite(db, (sql) => sql`SELECT role FROM core_actors WHERE id = 'controller'`)
    expect(rows.map((r) => r.role)).toStrictEqual(["CONTROLLER"])
    const kept = await sqlite(db, (sql) =>
      Effect.all([
        sql`SELECT COUNT(*) AS n FROM core_tenants WHERE id = 'default'`,
        sql`SELECT COUNT(*) AS n FROM core_api_tokens WHERE tenant_id = 'default' AND revoked_at IS NULL`,
        sql`SELECT COUNT(*) AS n FROM ledger_accounts WHERE tenant_id = 'default'`
      ]).pipe(Effect.map((rs) => rs.map((r) => Number(r[0]!.n)))))
    expect(kept).toStrictEqual([1, 5, 14])
  })

  it("the console's Reset Dev World: reset (and start with reset) re-run the development seed", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const server = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    const control = (command: string, body: unknown) =>
      post(`${server.url}/api/admin/control/run/${command}`, "dev_admin_token", body)
    try {
      const reset = await control("reset", { actor_name: "Dev Ops" })
      expect(reset).toMatchObject({
        status: 200,
        json: { phase: "idle", reseeded: true, message: "Dev world reset + reseeded" }
      })
      const started = await control("start", { run_id: "dev-reset", reset: true })
      expect(started).toMatchObject({ status: 200, json: { phase: "running", run_id: "dev-reset" } })
      expect((await control("reset", {})).json.error.code).toBe("run.reset_while_active")
      expect((await control("stop", {})).status).toBe(200)
      expect(server.output().match(/dev world reset \+ reseeded/g)?.length).toBe(2)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    const audit = await sqlite(
      db,
      (sql) => sql`SELECT action, data FROM core_audit WHERE action LIKE 'ops.run.%' ORDER BY seq`
    )
    expect(audit.map((r) => r.action)).toStrictEqual(["ops.run.reset", "ops.run.started", "ops.run.stopped"])
    expect(JSON.parse(String(audit[0]!.data))).toMatchObject({ hook: true, operator_name: "Dev Ops" })
    expect(JSON.parse(String(audit[1]!.data))).toMatchObject({ reset: true })
  })

  it("graceful shutdown: stops accepting, drains an in-flight request, then closes storage", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const server = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    const body = JSON.stringify({ ai_mode: "drafts", extensions: { note: "written while shutting down" } })
    let signalled = false
    const exited = new Promise<number | null>((r) => server.child.on("exit", (code) => r(code)))
    const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: server.port,
          method: "PUT",
          path: "/api/v1/companion/settings",
          headers: {
            authorization: "Bearer dev_admin_token",
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body))
          },
          agent: false
        },
        (res) => {
          let text = ""
          res.on("data", (c) => (text += c))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
        }
      )
      req.on("error", reject)
      req.write(body.slice(0, 10))
      // the request is on the wire; now ask the server to stop, then finish sending
      setTimeout(() => {
        server.child.kill("SIGTERM")
        signalled = true
        setTimeout(() => req.end(body.slice(10)), 700)
      }, 300)
    })
    // a new connection after the signal is refused
    await new Promise((r) => setTimeout(r, 600))
    expect(signalled).toBe(true)
    const refused = await fetch(`${server.url}/healthz`).then(() => "answered", (e) => String(e.cause?.code ?? e))
    expect(refused).toBe("ECONNREFUSED")
    const answer = await inFlight
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.text)).toMatchObject({
      ai_mode: "drafts",
      extensions: { note: "written while shutting down" }
    })
    expect(await exited).toBe(0)
    expect(server.output()).toContain("draining in-flight requests")
    expect(server.output()).toContain("http server stopped")
    const stored = await sqlite(
      db,
      (sql) => sql`SELECT ai_mode, extensions FROM core_ai_settings WHERE tenant_id = 'default'`
    )
    expect(stored[0]).toMatchObject({
      ai_mode: "drafts",
      extensions: JSON.stringify({ note: "written while shutting down" })
    })
  })
})

describe("reference server: SIGTERM under load", () => {
  it("requests in flight at the signal complete with their normal status; later ones get 503 + Retry-After, never a reset", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const server = await start({
      AIRLOCK_ENV: "development",
      AIRLOCK_DB: db,
      AIRLOCK_RATE_LIMIT_ENABLED: "false",
      AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS: "10"
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 64 })
    let signalled = false
    let stop = false
    const outcomes: Array<{ sentBeforeSignal: boolean; result: string; retryAfter: string | null }> = []
    const send = (method: "GET" | "PUT", body?: string, hold = false, fresh = false) => {
      const sentBeforeSignal = !signalled
      let finish = () => {}
      let started = (_: unknown) => {}
      const accepted = new Promise((r) => (started = r))
      const done = new Promise<{ status: number; text: string }>((resolve) => {
        const req = request({
          host: "127.0.0.1",
          port: server.port,
          method,
          path: "/api/v1/companion/settings",
          agent: hold || fresh ? false : agent,
          headers: {
            authorization: "Bearer dev_admin_token",
            // a held write asks for 100 Continue: the server's answer proves it is handling the request
            ...(hold ? { expect: "100-continue" } : {}),
            ...(body === undefined ? {} : {
              "content-type": "application/json",
              "content-length": String(Buffer.byteLength(body))
            })
          }
        }, (res) => {
          let text = ""
          res.on("data", (c) => (text += c))
          res.on("end", () => {
            outcomes.push({
              sentBeforeSignal,
              result: String(res.statusCode),
              retryAfter: res.headers["retry-after"] ?? null
            })
            resolve({ status: res.statusCode ?? 0, text })
          })
        })
        req.on("error", (e: NodeJS.ErrnoException) => {
          outcomes.push({ sentBeforeSignal, result: e.code ?? "error", retryAfter: null })
          resolve({ status: 0, text: e.code ?? "" })
        })
        if (body === undefined) req.end()
        else if (hold) {
          req.on("continue", () => {
            req.write(body.slice(0, 5))
            started(null)
          })
          req.flushHeaders()
          finish = () => req.end(body.slice(5))
        } else req.end(body)
      })
      return { done, accepted, finish: () => finish() }
    }
    const loop = async (i: number) => {
      while (!stop) {
        const r = i % 2 === 0
          ? await send("GET").done
          : await send("PUT", JSON.stringify({ extensions: { loop: i } })).done
        if (r.status === 0 || r.status === 503) return
      }
    }
    const loops = Array.from({ length: 24 }, (_, i) => loop(i))
    await new Promise((r) => setTimeout(r, 800))
    // five writes certainly in flight on the server (it answered 100 Continue), body still coming
    const held = Array.from({ length: 5 }, (_, i) => send("PUT", JSON.stringify({ extensions: { held: i } }), true))
    await Promise.all(held.map((h) => h.accepted))
    const exited = new Promise<number | null>((r) => server.child.on("exit", (code) => r(code)))
    // a burst of requests on new connections just before the signal: the ones still in the listen
    // backlog when the server stops must be answered (200 or 503), never reset
    const burst = Array.from({ length: 60 }, () => send("GET", undefined, false, true))
    signalled = true
    server.child.kill("SIGTERM")
    const burstAnswers = await Promise.all(burst.map((b) => b.done))
    expect(burstAnswers.filter((a) => a.status !== 200 && a.status !== 503).map((a) => a.text)).toStrictEqual([])
    expect(burstAnswers.filter((a) => a.status === 503).every((a) => JSON.parse(a.text).error.code === "unavailable"))
      .toBe(true)
    await new Promise((r) => setTimeout(r, 300))
    for (const h of held) h.finish()
    const heldAnswers = await Promise.all(held.map((h) => h.done))
    stop = true
    await Promise.all(loops)
    expect(await exited).toBe(0)
    agent.destroy()
    for (const a of heldAnswers) {
      expect(a.status).toBe(200)
      expect(JSON.parse(a.text).extensions).toHaveProperty("held")
    }
    const before = outcomes.filter((o) => o.sentBeforeSignal)
    expect(before.length).toBeGreaterThan(50)
    // sent before the signal: answered, with their own status or a clean 503
    expect(before.filter((o) => o.result !== "200" && o.result !== "503")).toStrictEqual([])
    // after it: a clean 503 with Retry-After on an open connection, or a refused new connection
    for (const o of outcomes.filter((o) => !o.sentBeforeSignal))
      expect(["200", "503", "ECONNREFUSED"]).toContain(o.result)
    for (const o of outcomes.filter((o) => o.result === "503")) expect(o.retryAfter).not.toBeNull()
    expect(outcomes.some((o) => o.result === "ECONNRESET")).toBe(false)
    expect(server.output()).toContain("http server stopped")
    // every write answered 200 is stored: the last one's value is the stored one
    const stored = await sqlite(db, (sql) => sql`SELECT extensions FROM core_ai_settings WHERE tenant_id = 'default'`)
    expect(stored.length).toBe(1)
  })
})

/** Adds a second tenant with one BOOKKEEPER token to a (new) database before the server starts. */
const addTenant = (filename: string, tenant: string, token: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const tenant_id = Ids.TenantId.make(tenant)
      const actor_id = Ids.ActorId.make(`${tenant}_user`)
      yield* tenants.create({ id: tenant_id, name: tenant })
      yield* tenants.addActor({ tenant_id, id: actor_id, kind: "user", name: "User", role: "BOOKKEEPER" })
      yield* (yield* ApiToken.ApiTokens).register(token, { tenant_id, actor_id, name: token })
    }).pipe(Effect.provide(Kernel.layer.pipe(Layer.provideMerge(Sqlite.layer({ filename })))), Effect.orDie)
  )

const getRaw = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } })

describe("reference server: rate limiting", () => {
  it("limits per token and per tenant (429 rate_limited + Retry-After); another tenant is unaffected", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    await addTenant(db, "other", "other_token")
    const server = await start({
      AIRLOCK_ENV: "development",
      AIRLOCK_DB: db,
      AIRLOCK_RATE_LIMIT_ENABLED: "true",
      AIRLOCK_RATE_LIMIT_RPM: "3",
      AIRLOCK_RATE_LIMIT_TENANT_RPM: "5"
    })
    const settings = `${server.url}/api/v1/companion/settings`
    try {
      for (let i = 0; i < 3; i++) expect((await getRaw(settings, "dev_viewer_token")).status).toBe(200)
      const refused = await getRaw(settings, "dev_viewer_token")
      expect(refused.status).toBe(429)
      const body = (await refused.json()) as any
      expect(body.error).toMatchObject({ code: "rate_limited", details: { scope: "token", limit_per_minute: 3 } })
      const retryAfter = Number(refused.headers.get("retry-after"))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      // sliding minute over two fixed windows: at most two minutes away
      expect(retryAfter).toBeLessThanOrEqual(120)
      expect(retryAfter).toBe(Math.max(1, Math.ceil(body.error.details.retry_after_seconds)))
      // the refused request gave its tenant slot back: 3 used, 2 left for the tenant
      for (let i = 0; i < 2; i++) expect((await getRaw(settings, "dev_bookkeeper_token")).status).toBe(200)
      const tenantFull = await getRaw(settings, "dev_bookkeeper_token")
      expect(tenantFull.status).toBe(429)
      expect(((await tenantFull.json()) as any).error).toMatchObject({
        code: "rate_limited",
        details: { scope: "tenant", limit_per_minute: 5 }
      })
      expect(tenantFull.headers.get("retry-after")).not.toBeNull()
      // another tenant counts on its own
      for (let i = 0; i < 3; i++) {
        const other = await get(settings, "other_token")
        expect(other).toMatchObject({ status: 200, json: { tenant_id: "other" } })
      }
      // unauthenticated routes are not limited
      expect((await get(`${server.url}/healthz`)).status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })
})

describe("reference server: shutdown timeout", () => {
  it("a request that never finishes does not hold shutdown past AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const server = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db, AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS: "1" })
    const req = request({
      host: "127.0.0.1",
      port: server.port,
      method: "PUT",
      path: "/api/v1/companion/settings",
      headers: {
        authorization: "Bearer dev_admin_token",
        "content-type": "application/json",
        "content-length": "1000"
      },
      agent: false
    })
    req.on("error", () => {})
    req.write("{")
    await new Promise((r) => setTimeout(r, 300))
    const started = Date.now()
    expect(await server.stop()).toBe(0)
    expect(Date.now() - started).toBeLessThan(8000)
    expect(server.output()).toContain("up to 1000 ms")
    req.destroy()
  })
})

describe("reference server: production", () => {
  it("has no working dev tokens and refuses admin writes by default", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const dev = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db })
    expect(await dev.stop()).toBe(0)
    const prod = await start({ AIRLOCK_ENV: "production", AIRLOCK_DB: db })
    try {
      expect(prod.output()).not.toContain("dev_admin_token  ")
      expect(prod.output()).toContain("admin writes disabled")
      expect(prod.output()).toMatch(/revoked the development token dev_admin_token/)
      for (
        const token of [
          "dev_admin_token",
          "dev_bookkeeper_token",
          "dev_controller_token",
          "dev_viewer_token",
          "dev_agent_token"
        ]
      ) {
        expect((await get(`${prod.url}/api/v1/system/status`, token)).json.error.code).toBe("auth.unauthorized")
      }
      expect((await get(`${prod.url}/healthz`)).status).toBe(200)
      expect((await get(`${prod.url}/readyz`)).status).toBe(200)
    } finally {
      expect(await prod.stop()).toBe(0)
    }
    // a fresh production database gets no dev tokens at all
    const fresh = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const clean = await start({ AIRLOCK_ENV: "production", AIRLOCK_DB: fresh })
    expect(await clean.stop()).toBe(0)
    const tokens = await sqlite(fresh, (sql) => sql`SELECT COUNT(*) AS n FROM core_api_tokens`)
    expect(Number(tokens[0]!.n)).toBe(0)
  })
})

/** Every row of every table of a SQLite file as one string (to look for a secret in it). */
const dumpSqlite = (filename: string) =>
  sqlite(filename, (sql) =>
    Effect.gen(function*() {
      const tables = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
      const out: Array<string> = []
      for (const { name } of tables) out.push(JSON.stringify(yield* sql.unsafe(`SELECT * FROM "${name}"`)))
      return out.join("\n")
    }))

describe("reference server: bootstrap of the first admin token", () => {
  it("AIRLOCK_BOOTSTRAP_ADMIN_TOKEN on a fresh production database: an admin bearer token, hashed, never logged; later starts change nothing", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    const first = randomBytes(36).toString("base64url")
    const second = randomBytes(36).toString("base64url")
    const prod = { AIRLOCK_ENV: "production", AIRLOCK_DB: db }
    const a = await start({ ...prod, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: first })
    let created: any
    try {
      expect(a.output()).toMatch(/bootstrap: stored the admin token tok_[0-9a-f]{24} for actor admin of tenant default/)
      const status = await get(`${a.url}/api/admin/status`, first)
      expect([status.status, status.json.environment]).toStrictEqual([200, "production"])
      // production is operable without code: the admin makes the tenant's first user token over HTTP
      const owner = await fetch(`${a.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${first}`, "content-type": "application/json" },
        body: JSON.stringify({ actor: "admin", name: "second admin device" })
      })
      created = await owner.json()
      expect(owner.status).toBe(201)
      expect((await get(`${a.url}/api/v1/system/status`, created.token)).status).toBe(200)
    } finally {
      expect(await a.stop()).toBe(0)
    }
    expect(a.output()).not.toContain(first)
    const dump = await dumpSqlite(db)
    expect(dump).not.toContain(first)
    expect(dump).not.toContain(created.token)
    expect(dump).toContain(ApiToken.tokenHash(first))

    // a second start with another secret: nothing created, the first still works, the second does not
    const b = await start({ ...prod, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: second })
    try {
      expect(b.output()).toContain("bootstrap: an admin token exists, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN changed nothing")
      expect((await get(`${b.url}/api/admin/status`, first)).status).toBe(200)
      expect((await get(`${b.url}/api/admin/status`, second)).json.error.code).toBe("auth.unauthorized")
    } finally {
      expect(await b.stop()).toBe(0)
    }
    expect(b.output()).not.toContain(second)
    const rows = await sqlite(db, (sql) => sql`SELECT id FROM core_api_tokens ORDER BY id`)
    expect(rows.map((r) => r.id).sort()).toStrictEqual([ApiToken.tokenLookupId(first), created.id].sort())
    expect(await dumpSqlite(db)).not.toContain(second)

    // a malformed secret stops the start, without printing it
    const weak = "a".repeat(40)
    const refused = await start({ ...prod, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: weak }).then(
      async (r) => ({ started: true, output: (await r.stop(), r.output()) }),
      (e: Error) => ({ started: false, output: e.message })
    )
    expect(refused.started).toBe(false)
    expect(refused.output).toContain("The bootstrap admin token does not look random")
    expect(refused.output).not.toContain(weak)
  })

  it("with an existing admin token nothing is created", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
    await addTenant(db, "ops", "ops_bookkeeper_token")
    await Effect.runPromise(
      Effect.gen(function*() {
        const tenants = yield* Tenants.Tenants
        const tenant_id = Ids.TenantId.make("ops")
        const actor_id = Ids.ActorId.make("ops_admin")
        yield* tenants.addActor({ tenant_id, id: actor_id, kind: "user", name: "Ops", role: "ADMIN" })
        yield* (yield* ApiToken.ApiTokens).register("ops_admin_token_0123", { tenant_id, actor_id, name: "ops" })
      }).pipe(Effect.provide(Kernel.layer.pipe(Layer.provideMerge(Sqlite.layer({ filename: db })))), Effect.orDie)
    )
    const secret = randomBytes(36).toString("base64url")
    const server = await start({ AIRLOCK_ENV: "production", AIRLOCK_DB: db, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: secret })
    try {
      expect(server.output()).toContain("AIRLOCK_BOOTSTRAP_ADMIN_TOKEN changed nothing")
      expect((await get(`${server.url}/api/admin/status`, secret)).json.error.code).toBe("auth.unauthorized")
      expect((await get(`${server.url}/api/admin/status`, "ops_admin_token_0123")).status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    const counts = await sqlite(
      db,
      (sql) =>
        sql`SELECT (SELECT COUNT(*) FROM core_api_tokens) AS tokens, (SELECT COUNT(*) FROM core_tenants) AS tenants`
    )
    expect([Number(counts[0]!.tokens), Number(counts[0]!.tenants)]).toStrictEqual([2, 1])
  })
})

const pgAdmin: string = inject("pgUrl")

describe.skipIf(pgAdmin === "")("reference server: two instances on one PostgreSQL", () => {
  it("share every state: settings, the global AI switch, tokens, rate limits, lockdown; posts happen once; both ready", async () => {
    const name = `airlock_srv_${randomBytes(5).toString("hex")}`
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(pgAdmin), maxConnections: 1 })),
        Effect.scoped,
        Effect.orDie
      )
    )
    const url = new URL(pgAdmin)
    url.pathname = `/${name}`
    const env = { AIRLOCK_ENV: "development", AIRLOCK_DATABASE_URL: url.toString(), AIRLOCK_RATE_LIMIT_RPM: "8" }
    const a = await start(env)
    const b = await start(env)
    try {
      expect(a.output()).toContain("on PostgreSQL")
      expect((await get(`${a.url}/readyz`)).status).toBe(200)
      expect((await get(`${b.url}/readyz`)).status).toBe(200)
      expect((await put(`${a.url}/api/v1/companion/settings`, "dev_admin_token", { ai_mode: "drafts" })).status).toBe(
        200
      )
      expect((await get(`${b.url}/api/v1/companion/settings`, "dev_viewer_token")).json.ai_mode).toBe("drafts")
      expect((await put(`${b.url}/api/admin/ai-global`, "dev_admin_token", { enabled: false })).status).toBe(200)
      expect((await get(`${a.url}/api/v1/system/status`, "dev_viewer_token")).json.companion).toMatchObject({
        enabled: false,
        layer: "global"
      })
      // seeding twice created nothing twice, and the audit chain written by both is intact
      const audit = await get(`${a.url}/api/admin/audit?limit=1000`, "dev_admin_token")
      expect(audit.json.records.filter((r: any) => r.action === "tenant.created").length).toBe(1)
      expect(audit.json.chain.ok).toBe(true)

      // one rate limit: 8 requests a minute per token, counted by both processes together
      const statuses: Array<number> = []
      for (let i = 0; i < 9; i++)
        statuses.push((await get(`${i % 2 === 0 ? a.url : b.url}/api/v1/companion/settings`, "dev_agent_token")).status)
      expect(statuses).toStrictEqual([200, 200, 200, 200, 200, 200, 200, 200, 429])

      // the same post through both processes at once: stored once, 201 on one and 200 on the other
      const post = (base: string, key: string) =>
        fetch(`${base}/api/v1/ledger/entries`, {
          method: "POST",
          headers: { authorization: "Bearer dev_bookkeeper_token", "content-type": "application/json" },
          body: JSON.stringify({
            date: "2026-02-10",
            memo: key,
            idempotency_key: key,
            lines: [{ account_code: "1000", debit: "5.00" }, { account_code: "4000", credit: "5.00" }]
          })
        }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }))
      for (const key of ["p-1", "p-2", "p-3"]) {
        const [ra, rb] = await Promise.all([post(a.url, key), post(b.url, key)])
        expect([ra.status, rb.status].sort()).toStrictEqual([200, 201])
        expect(ra.json.entry.id).toBe(rb.json.entry.id)
      }
      const listed = await get(`${b.url}/api/v1/ledger/entries?limit=100`, "dev_viewer_token")
      expect(listed.json.items.map((e: any) => e.idempotency_key).sort()).toStrictEqual(["p-1", "p-2", "p-3"])

      // a lockdown engaged through one process is the other's; lifted there with the code rotated here
      const post0 = (base: string, path: string, body: unknown) =>
        fetch(`${base}${path}`, {
          method: "POST",
          headers: { authorization: "Bearer dev_admin_token", "content-type": "application/json" },
          body: JSON.stringify(body)
        })
          .then(async (r) => ({ status: r.status, json: (await r.json()) as any }))
      expect((await post0(a.url, "/api/v1/system/lockdown", { reason: "drill" })).json.active).toBe(true)
      expect((await get(`${b.url}/api/v1/system/status`, "dev_viewer_token")).json.lockdown).toMatchObject({
        active: true,
        reason: "drill"
      })
      const code = (await post0(a.url, "/api/v1/system/unlock-code/rotate", {})).json.code
      expect((await post0(b.url, "/api/v1/system/unlock", { code })).json.active).toBe(false)
      expect((await get(`${a.url}/api/v1/system/status`, "dev_bookkeeper_token")).json.lockdown.active).toBe(false)
    } finally {
      expect(await a.stop()).toBe(0)
      expect(await b.stop()).toBe(0)
    }
  })
  it(
    "development seed: labelled history, so the first proposals use vendor memory and a calibrated, certified p",
    async () => {
      const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
      const server = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db, AIRLOCK_DEV_SEED_HISTORY: "true" })
      try {
        expect(server.output()).toMatch(/seeded companion history: \d+ applied, \d+ corrected over 20 weeks/)
        const post = async (path: string, token: string, body: unknown) => {
          const r = await fetch(`${server.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          })
          return { status: r.status, json: (await r.json()) as any }
        }
        // the README's quick tour: propose → review → apply with a correction → provenance
        const proposed = await post("/api/v1/companion/proposals", "dev_agent_token", {})
        expect(proposed.status).toBe(200)
        expect(proposed.json.failed).toBe(0)
        const items: Array<any> = proposed.json.items
        const known = items.filter((i) => i.rationale.startsWith("vendor_memory"))
        expect(known.length).toBeGreaterThan(10)
        expect(known.every((i) => i.calibrated_probability !== null)).toBe(true)
        // in suggest_only with auto-post off only the settings keep the best-known vendors from auto-posting
        expect(known.some((i) => i.not_auto_post_reasons.join() === "autopost.mode,autopost.disabled")).toBe(true)
        const list = await get(
          `${server.url}/api/v1/companion/proposals?status=proposed&limit=200`,
          "dev_bookkeeper_token"
        )
        const rent = list.json.items.find((i: any) => i.bank_transaction.description === "Office rent January")
        expect(rent.bank_transaction).toMatchObject({ date: "2026-01-07", amount: "-1800.00" })
        const applied = await post(`/api/v1/companion/proposals/${rent.proposal.id}/apply`, "dev_bookkeeper_token", {
          splits: [{ account_code: "6400", amount: "300.00" }, { account_code: "6100", amount: "1500.00" }]
        })
        expect(applied.json).toMatchObject({ outcome: "corrected", already_applied: false })
        const prov = await get(
          `${server.url}/api/v1/companion/provenance?shadow_event_id=${rent.proposal.id}`,
          "dev_viewer_token"
        )
        expect(prov.json).toMatchObject({
          bank_transaction: { description: "Office rent January" },
          applied: { by: "dev_bookkeeper" },
          correction: { by: "dev_bookkeeper", original_proposal_id: rent.proposal.id }
        })
        expect(prov.json.calibration.certificate.threshold).not.toBeNull()
      } finally {
        expect(await server.stop()).toBe(0)
      }
      // a restart seeds nothing again
      const again = await start({ AIRLOCK_ENV: "development", AIRLOCK_DB: db, AIRLOCK_DEV_SEED_HISTORY: "true" })
      try {
        expect(again.output()).not.toContain("seeded companion history")
      } finally {
        expect(await again.stop()).toBe(0)
      }
    },
    120_000
  )
})

describe("reference server: development seed with a language model configured", () => {
  it(
    "the seed makes no model call; afterwards a raw-confident but poorly calibrated line asks the model",
    async () => {
      const fake = await Fake.start()
      fake.setDefault(Fake.json({ account_code: "6400", rationale: "sounds like a meal" }))
      const db = join(mkdtempSync(join(tmpdir(), "airlock-server-")), "airlock.db")
      const server = await start({
        AIRLOCK_ENV: "development",
        AIRLOCK_DB: db,
        AIRLOCK_DEV_SEED_HISTORY: "true",
        AIRLOCK_LLM_BASE_URL: fake.url,
        AIRLOCK_LLM_MODEL: "fake-model",
        AIRLOCK_LLM_PRICES: JSON.stringify({ "fake-model": { input: "0.15", output: "0.60" } })
      })
      try {
        expect(server.output()).toMatch(/seeded companion history: \d+ applied/)
        // ~400 proposals seeded, not one request reached the model (14 with AIRLOCK_DEV_SEED_LLM=true)
        expect(fake.requests).toHaveLength(0)
        // a line nothing knows: the classifier's raw score clears AIRLOCK_LLM_CALL_BELOW, its calibrated p does not
        const imported = await post(`${server.url}/api/v1/bank-transactions/import`, "dev_admin_token", {
          account_code: "1000",
          format: "json",
          transactions: [{ date: "2026-11-20", description: "QWXZ PLORB 77", amount: "-42.00" }]
        })
        const proposed = await post(`${server.url}/api/v1/companion/proposals`, "dev_agent_token", {
          bank_transaction_ids: imported.json.ids
        })
        const item = proposed.json.items[0]
        expect(item.status).toBe("proposed")
        expect(fake.requests).toHaveLength(1)
        // the model was offered only accounts the proposal could be applied with: not the bank account, no income
        const offered: Array<string> = fake.requests[0]!.body.response_format.json_schema.schema.properties.account_code
          .enum
        expect(offered).toContain("6400")
        expect(offered).not.toContain("1000")
        expect(offered).not.toContain("4000")
        const llmOf = (d: any) => d.stages.find((s: any) => s.stage === "llm")
        const detail =
          (await get(`${server.url}/api/v1/companion/shadow-events/${item.proposal_id}`, "dev_admin_token"))
            .json.detail
        const llm = llmOf(detail)
        expect(llm).toMatchObject({
          outcome: "candidates",
          details: {
            called: true,
            unsure: { call: true, basis: "calibrated", stage: "classifier", call_below: 0.6 }
          }
        })
        // the classifier's answer was raw-confident but poorly calibrated (raw ≥ 0.6, calibrated < 0.6) ...
        const judged = llm.details.unsure
        expect(judged.raw_confidence).toBeGreaterThanOrEqual(0.6)
        expect(judged.calibrated_probability).toBeLessThan(0.6)
        expect(llm.judged_against).toStrictEqual({
          stage: "classifier",
          raw_confidence: judged.raw_confidence,
          calibrated_probability: judged.calibrated_probability
        })
        // ... below the model's prior 0.5 (the seed's line: raw 0.85, calibrated 0.49), so the model's
        // answer, weighed against that calibrated probability and not the raw score, is proposed
        expect(judged.calibrated_probability).toBeLessThan(0.5)
        expect([detail.deciding_stage, item.splits.map((x: any) => x.account_code), item.confidence]).toStrictEqual([
          "llm",
          ["6400"],
          0.5
        ])
        expect(item.rationale).toContain(
          "Weighed on the calibrated scale: llm's 0.5 beat classifier's calibrated 0.489"
        )
      } finally {
        expect(await server.stop()).toBe(0)
        await fake.close()
      }
    },
    120_000
  )
})

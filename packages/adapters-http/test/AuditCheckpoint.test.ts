/**
 * Incremental audit verification over HTTP: listing pages verify from the stored checkpoint and
 * the records they show (never the whole log); `POST /api/admin/audit/verify {full: true}` walks
 * from the first record and finds tampering before the checkpoint (raw storage, SQLite and
 * PostgreSQL); a full verification of 100,000 records leaves health checks answering.
 */
import { Audit, Ids } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const verify = "/api/admin/audit/verify"

const checkpointRow = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<
        { seq: number | string; hash: string }
      >`SELECT seq, hash FROM core_audit_checkpoints WHERE tenant_id = ${tenant}`
        .pipe(Effect.map((r) => (r[0] ? { seq: Number(r[0].seq), hash: r[0].hash } : null)), Effect.orDie)
  )

const scenario = Effect.gen(function*() {
  const s = yield* H.TestServer
  const sql = yield* SqlClient.SqlClient
  const audit = yield* Audit.AuditLog
  const admin = (path: string, init: RequestInit = {}) =>
    s.raw(path, { ...init, headers: { ...H.auth(H.tokens.admin, { "x-tenant": "acme" }), ...(init.headers ?? {}) } })
  for (let i = 0; i < 30; i++) {
    yield* audit.append({ tenant_id: Ids.TenantId.make("acme"), actor_id: "u", action: "test.e", subject: `s${i}` })
  }
  const total = yield* H.auditCount("acme")
  expect(yield* checkpointRow("acme")).toBeNull()
  // the first listing walks from the start once and stores the checkpoint
  const first = yield* admin("/api/admin/audit?limit=5")
  expect(first.json.chain).toMatchObject({ ok: true, scope: "incremental", verified_through: total, complete: true })
  expect(yield* checkpointRow("acme")).toMatchObject({ seq: total })
  // later listings hash the page and what is new, not the log
  yield* audit.append({ tenant_id: Ids.TenantId.make("acme"), actor_id: "u", action: "test.e", subject: "new" })
  const second = yield* admin("/api/admin/audit?limit=5&after_seq=20")
  expect(second.json.chain).toMatchObject({ ok: true, checked: 1 + 5, verified_through: total + 1 })

  // tampering in raw storage before the checkpoint, outside the page shown
  yield* sql`UPDATE core_audit SET subject = 'forged' WHERE tenant_id = 'acme' AND seq = 3`.pipe(Effect.orDie)
  const page = yield* admin("/api/admin/audit?limit=5&after_seq=20")
  expect(page.json.chain).toMatchObject({ ok: true, checked: 5 })
  const incremental = yield* admin(verify, H.json("POST", undefined, {}))
  expect(incremental.json).toMatchObject({ ok: true, checked: 0, scope: "incremental" })
  // the full verification finds it
  const full = yield* admin(verify, H.json("POST", undefined, { full: true }))
  expect([full.status, full.json]).toStrictEqual([200, {
    ok: false,
    checked: 2,
    first_break: { seq: 3, reason: "hash_mismatch" },
    scope: "full",
    verified_through: 0,
    complete: true
  }])
  // and so does a listing that shows the tampered record
  const shown = yield* admin("/api/admin/audit?limit=5")
  expect(shown.json.chain).toMatchObject({ ok: false, first_break: { seq: 3, reason: "hash_mismatch" } })
  // the checkpoint did not move past what a failed walk saw
  expect((yield* checkpointRow("acme"))!.seq).toBe(total + 1)
  // the verification route: admin only, changes nothing, works with admin writes off (see the guard tests)
  H.expectError(yield* s.raw(verify, H.json("POST", H.tokens.owner, {})), 403, "rbac.forbidden")
  H.expectError(yield* admin(verify, H.json("POST", undefined, { full: "yes" })), 400, "validation.schema")
})

describe("audit checkpoint", () => {
  layer(H.layer({ storage: "sqlite", http: { adminWriteEnabled: false } }), { excludeTestServices: true })(
    "sqlite",
    (it) => {
      it.effect("listing is incremental; the full verify finds tampering before the checkpoint", () => scenario)
    }
  )
  layer(H.layer({ storage: "postgres", http: { adminWriteEnabled: false } }), { excludeTestServices: true })(
    "postgres",
    (it) => {
      it.effect("listing is incremental; the full verify finds tampering before the checkpoint", () => scenario)
    }
  )
})

/** Writes `n` chained records for `tenant` straight into storage (and the chain head). */
const seedChain = (tenant: string, n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let head: Audit.ChainHead | null = null
    const batch: Array<Audit.AuditRecord> = []
    const flush = Effect.suspend(() => {
      const rows = batch.splice(0).map((r) => ({
        tenant_id: r.tenant_id,
        seq: r.seq,
        at: r.at,
        actor_id: r.actor_id,
        action: r.action,
        subject: r.subject,
        data: JSON.stringify(r.data),
        prev_hash: r.prev_hash,
        hash: r.hash
      }))
      return rows.length === 0 ? Effect.void : Effect.asVoid(sql`INSERT INTO core_audit ${sql.insert(rows)}`)
    })
    yield* sql.withTransaction(Effect.gen(function*() {
      for (let i = 0; i < n; i++) {
        const record: Audit.AuditRecord = Audit.nextRecord(head, {
          tenant_id: Ids.TenantId.make(tenant),
          actor_id: "loader",
          action: "test.bulk",
          subject: `s${i}`,
          data: { i, note: "bulk audit record for the verification load test" }
        }, 1_700_000_000_000 + i)
        head = { seq: record.seq, hash: record.hash }
        batch.push(record)
        if (batch.length === 400) yield* flush
      }
      yield* flush
      yield* sql`INSERT INTO core_audit_heads (tenant_id, seq, hash) VALUES (${tenant}, ${head!.seq}, ${head!.hash})`
    })).pipe(Effect.orDie)
  })

layer(H.layer({ storage: "sqlite" }), { excludeTestServices: true })("audit verification under load", (it) => {
  it.effect("health checks keep answering during a full verify of 100,000 records", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO core_tenants (id, name, ai_companion_enabled, created_at) VALUES ('bulk', 'Bulk', 1, 0)`
        .pipe(Effect.orDie)
      yield* seedChain("bulk", 100_000)
      const result = yield* Effect.promise(async () => {
        const latencies: Array<number> = []
        let done = false
        const started = performance.now()
        const run = fetch(`${s.url}${verify}`, {
          method: "POST",
          headers: { ...H.auth(H.tokens.admin, { "x-tenant": "bulk" }), "content-type": "application/json" },
          body: JSON.stringify({ full: true })
        }).then(async (r) => {
          done = true
          return { status: r.status, json: await r.json(), ms: performance.now() - started }
        })
        while (!done) {
          const t0 = performance.now()
          const r = await fetch(`${s.url}/healthz`)
          await r.text()
          latencies.push(performance.now() - t0)
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        return { verify: await run, latencies }
      })
      expect(result.verify.status).toBe(200)
      expect(result.verify.json).toMatchObject({ ok: true, checked: 100_000, scope: "full", verified_through: 100_000 })
      const sorted = [...result.latencies].sort((a, b) => a - b)
      const max = sorted[sorted.length - 1]!
      const p50 = sorted[Math.floor(sorted.length / 2)]!
      yield* Effect.logInfo(
        `full verify of 100,000 records: ${
          Math.round(result.verify.ms)
        } ms; ${sorted.length} health checks during it, ` +
          `p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`
      )
      // the verification takes a while, and health checks are answered all along
      expect(sorted.length).toBeGreaterThanOrEqual(5)
      expect(max).toBeLessThan(250)
    }), { timeout: 120_000 })
})

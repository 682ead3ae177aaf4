import { SqlClient } from "@effect/sql"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const items = "/api/v1/memory/items"
const conflicts = "/api/v1/memory/state/review/conflicts?limit=50"
const resolvePath = (uid: string) => `/api/v1/memory/state/review/${uid}/resolve`

const itemRow = (uid: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ status: string; valid_to: number | string | null; expired_at: number | string | null }>`
      SELECT status, valid_to, expired_at FROM core_memory_items WHERE uid = ${uid}`
  ).pipe(
    Effect.map((rows) => rows[0]),
    Effect.orDie
  )

const reviewRow = (uid: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ status: string; decision: string | null; resolution: string | null; resolved_by: string | null }>`
      SELECT status, decision, resolution, resolved_by FROM core_memory_reviews WHERE uid = ${uid}`
  ).pipe(
    Effect.map((rows) => rows[0]),
    Effect.orDie
  )

const fact = (value: unknown, extra: Record<string, unknown> = {}) => ({
  thread_id: "vendor:starbucks",
  agent_id: "categorizer",
  kind: "fact",
  subject: "vendor:starbucks",
  predicate: "account",
  value,
  content: `Starbucks posts to ${String(value)}`,
  token_count: 120,
  ...extra
})

// bare metric names (the served prefix has its own test in Metrics.test.ts)
const metrics = { prefix: "" }

for (const storage of ["sqlite", "postgres"] as const) {
  layer(H.layer({ storage, metrics }), { excludeTestServices: true })(`memory routes (${storage})`, (it) => {
    it.effect("the runbook's operator flow: a contradiction waits in the queue, a person resolves it with a note, the queue drains", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const first = yield* s.raw(items, H.json("POST", H.tokens.agent, fact("6100")))
        expect(first.status).toBe(201)
        expect(first.json).toMatchObject({ outcome: "created", item: { status: "active", tier: "hot", value: "6100" } })
        expect(first.json.item.valid_from).toMatch(/^\d{4}-\d{2}-\d{2}T/)
        const existingUid: string = first.json.item.uid

        // the same value again reinforces: 200, no second row
        const again = yield* s.raw(items, H.json("POST", H.tokens.agent, fact("6100")))
        expect(again.status).toBe(200)
        expect(again.json).toMatchObject({ outcome: "reinforced", item: { uid: existingUid, reinforced_count: 2 } })

        // a different value is a conflict: stored pending_review, the fact in force stays
        const second = yield* s.raw(items, H.json("POST", H.tokens.agent, fact("6200")))
        expect(second.status).toBe(201)
        expect(second.json).toMatchObject({
          outcome: "conflict",
          item: { status: "pending_review" },
          existing: { uid: existingUid }
        })
        const uid: string = second.json.item.uid
        expect((yield* itemRow(existingUid))!.status).toBe("active")
        expect((yield* itemRow(uid))!.status).toBe("pending_review")

        const view = yield* s.raw(`${items}/${existingUid}`, { headers: H.auth(H.tokens.viewer) })
        expect(view.status).toBe(200)
        expect(view.json).toMatchObject({ item: { uid: existingUid, status: "active" }, conflicts_pending: 1 })
        // the as-of read says the same: the fact in force, and one contradiction waiting for a person
        const asOfPath = "/api/v1/memory/as-of?thread_id=vendor:starbucks&subject=vendor:starbucks&predicate=account"
        const pendingAsOf = yield* s.raw(asOfPath, { headers: H.auth(H.tokens.viewer) })
        expect(pendingAsOf.status).toBe(200)
        expect(Object.keys(pendingAsOf.json).sort()).toStrictEqual(["conflicts_pending", "item"])
        expect(pendingAsOf.json).toMatchObject({ item: { uid: existingUid, value: "6100" }, conflicts_pending: 1 })

        // 1. fetch open conflicts: the evidence the runbook asks the operator to capture
        const open = yield* s.raw(conflicts, { headers: H.auth(H.tokens.admin) })
        expect(open.status).toBe(200)
        const entry = open.json.items.find((e: { uid: string }) => e.uid === uid)
        expect(entry).toMatchObject({
          uid,
          existing_uid: existingUid,
          thread_id: "vendor:starbucks",
          agent_id: "categorizer",
          status: "open",
          item: { value: "6200" },
          existing: { value: "6100" }
        })
        expect(typeof entry.id).toBe("string")
        expect(entry.reason.length).toBeGreaterThan(0)

        // 3. resolve with an explicit note, exactly the runbook's body (decision defaults to keep_existing)
        const resolved = yield* s.raw(
          resolvePath(uid),
          H.json("POST", H.tokens.admin, { resolution: "vendor confirmed 6100" })
        )
        expect(resolved.status).toBe(200)
        expect(resolved.json.review).toMatchObject({
          uid,
          status: "resolved",
          decision: "keep_existing",
          resolution: "vendor confirmed 6100",
          resolved_by: "admin"
        })
        expect(yield* reviewRow(uid)).toMatchObject({
          status: "resolved",
          decision: "keep_existing",
          resolution: "vendor confirmed 6100",
          resolved_by: "admin"
        })
        expect((yield* itemRow(uid))!.status).toBe("rejected")
        expect((yield* itemRow(existingUid))!.status).toBe("active")

        // 4. the queue drained for that uid
        const after = yield* s.raw(conflicts, { headers: H.auth(H.tokens.admin) })
        expect(after.json.items.some((e: { uid: string }) => e.uid === uid)).toBe(false)
        const settledAsOf = yield* s.raw(asOfPath, { headers: H.auth(H.tokens.viewer) })
        expect(settledAsOf.json).toMatchObject({ item: { uid: existingUid }, conflicts_pending: 0 })

        // resolving twice is a clear conflict, never a second effect
        const twice = yield* s.raw(
          resolvePath(uid),
          H.json("POST", H.tokens.admin, { resolution: "again", decision: "accept_new" })
        )
        H.expectError(twice, 409, "memory.review.resolved")
        expect((yield* itemRow(uid))!.status).toBe("rejected")
        expect((yield* itemRow(existingUid))!.status).toBe("active")
      }))

    it.effect("accept_new supersedes the fact in force: statuses, validity and links change together", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const body = { ...fact("1000"), thread_id: "vendor:acme-supplies", subject: "vendor:acme-supplies" }
        const first = yield* s.raw(items, H.json("POST", H.tokens.agent, body))
        const second = yield* s.raw(items, H.json("POST", H.tokens.agent, { ...body, value: "2000" }))
        const oldUid: string = first.json.item.uid
        const uid: string = second.json.item.uid
        const r = yield* s.raw(
          resolvePath(uid),
          H.json("POST", H.tokens.owner, { resolution: "new account per controller", decision: "accept_new" })
        )
        expect(r.status).toBe(200)
        const byUid = Object.fromEntries(r.json.items.map((i: { uid: string }) => [i.uid, i]))
        expect(byUid[uid]).toMatchObject({ status: "active" })
        expect(byUid[oldUid]).toMatchObject({ status: "superseded" })
        expect(byUid[oldUid].valid_to).not.toBeNull()
        const old = (yield* itemRow(oldUid))!
        expect(old.status).toBe("superseded")
        expect(old.expired_at).not.toBeNull()
        const view = yield* s.raw(`${items}/${uid}`, { headers: H.auth(H.tokens.viewer) })
        expect(view.json.links).toContainEqual(
          expect.objectContaining({ from_uid: uid, to_uid: oldUid, relation: "supersedes" })
        )
        // the graph from the new fact reaches the old one
        const graph = yield* s.raw(`/api/v1/memory/state/graph/${uid}?depth=2`, { headers: H.auth(H.tokens.viewer) })
        expect(graph.status).toBe(200)
        expect(graph.json.nodes.map((n: { uid: string }) => n.uid).sort()).toStrictEqual([oldUid, uid].sort())
        // the as-of read: the new fact now, the old one before the resolution
        const now = yield* s.raw(
          `/api/v1/memory/as-of?thread_id=vendor:acme-supplies&subject=vendor:acme-supplies&predicate=account`,
          { headers: H.auth(H.tokens.viewer) }
        )
        expect(now.json.item).toMatchObject({ uid, value: "2000" })
        const before = yield* s.raw(
          `/api/v1/memory/as-of?thread_id=vendor:acme-supplies&subject=vendor:acme-supplies&predicate=account&recorded_at=${
            encodeURIComponent(first.json.item.recorded_at)
          }&valid_at=${encodeURIComponent(first.json.item.valid_from)}`,
          { headers: H.auth(H.tokens.viewer) }
        )
        expect(before.json.item).toMatchObject({ uid: oldUid, value: "1000" })
        // the consistency report of the thread: one contradiction, raised and resolved, one supersede chain
        const report = yield* s.raw(
          `/api/v1/memory/state/consistency/report?thread_id=vendor:acme-supplies&from_ts=0&to_ts=${
            Math.ceil(Date.now() / 1000) + 60
          }`,
          { headers: H.auth(H.tokens.viewer) }
        )
        expect(report.status).toBe(200)
        expect(report.json).toMatchObject({
          thread_id: "vendor:acme-supplies",
          contradictions: { raised: 1, resolved: 1, pending: 0 }
        })
        expect(report.json.supersede_chains).toContainEqual([uid, oldUid])
        expect(report.json.from_ts).toBe("1970-01-01T00:00:00.000Z")
      }))

    it.effect("permissions and tenants: writes need memory.write, resolutions memory.review; another tenant sees nothing", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const body = { ...fact("7000"), thread_id: "vendor:perm", subject: "vendor:perm" }
        const denied = yield* s.raw(items, H.json("POST", H.tokens.viewer, body))
        expect(H.expectError(denied, 403, "rbac.forbidden").details).toMatchObject({ permission: "memory.write" })
        const first = yield* s.raw(items, H.json("POST", H.tokens.bookkeeper, body))
        expect(first.status).toBe(201)
        const second = yield* s.raw(items, H.json("POST", H.tokens.agent, { ...body, value: "7100" }))
        const uid: string = second.json.item.uid
        for (const token of [H.tokens.bookkeeper, H.tokens.agent, H.tokens.viewer]) {
          const r = yield* s.raw(
            resolvePath(uid),
            H.json("POST", token, { resolution: "mine", decision: "accept_new" })
          )
          expect(H.expectError(r, 403, "rbac.forbidden").details).toMatchObject({ permission: "memory.review" })
        }
        expect((yield* reviewRow(uid))!.status).toBe("open")
        expect((yield* itemRow(uid))!.status).toBe("pending_review")
        // another tenant's owner neither reads the item nor resolves it
        const foreign = yield* s.raw(`${items}/${uid}`, { headers: H.auth(H.tokens.acmeOwner) })
        H.expectError(foreign, 404, "not_found")
        const foreignResolve = yield* s.raw(resolvePath(uid), H.json("POST", H.tokens.acmeOwner, { resolution: "x" }))
        H.expectError(foreignResolve, 404, "not_found")
        expect((yield* reviewRow(uid))!.status).toBe("open")
        // a missing note, an unknown decision and unknown fields are 400s that change nothing
        for (
          const bad of [{}, { resolution: "  " }, { resolution: "ok", decision: "flip_coin" }, {
            resolution: "ok",
            extra: 1
          }]
        ) {
          const r = yield* s.raw(resolvePath(uid), H.json("POST", H.tokens.owner, bad))
          expect(r.status).toBe(400)
          expect(r.json.error.code).toMatch(/^validation\./)
        }
        expect((yield* reviewRow(uid))!.status).toBe("open")
        const unknown = yield* s.raw(resolvePath("mem_unknown"), H.json("POST", H.tokens.owner, { resolution: "x" }))
        H.expectError(unknown, 404, "not_found")
        // a write with half a key or a bad importance is refused and stores nothing
        const halfKey = yield* s.raw(
          items,
          H.json("POST", H.tokens.agent, { thread_id: "t", agent_id: "a", kind: "fact", subject: "s" })
        )
        expect(halfKey.status).toBe(400)
        const badImportance = yield* s.raw(items, H.json("POST", H.tokens.agent, { ...body, importance: 2 }))
        expect(badImportance.status).toBe(400)
        // clean up the open entry so later counts stay readable
        yield* s.client(H.tokens.owner).memory.resolve({
          path: { uid },
          payload: { resolution: "cleanup", decision: "reject_both" }
        })
      }))

    it.effect("stats, failures, tiering and /metrics report what is stored", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const client = s.client(H.tokens.owner)
        const failure = yield* client.memory.writeItem({
          payload: {
            thread_id: "job:nightly-etl",
            agent_id: "triage",
            kind: "failure",
            content: "nightly-etl failed: upstream schema changed",
            source_ref: "execution:run_1"
          }
        })
        assert(failure.outcome === "created")
        const failures = yield* client.memory.failures({ urlParams: { job: "nightly-etl" } })
        expect(failures.items.map((i) => i.uid)).toContain(failure.item.uid)
        const byThread = yield* client.memory.failures({ urlParams: { thread_id: "job:nightly-etl" } })
        expect(byThread.items.map((i) => i.uid)).toContain(failure.item.uid)

        const stats = yield* client.memory.stats()
        const sql = yield* SqlClient.SqlClient
        const counted = yield* sql<
          { n: number | string }
        >`SELECT COUNT(*) AS n FROM core_memory_items WHERE tenant_id = 'default'`
        expect(stats.items).toBe(Number(counted[0]!.n))
        expect(stats.by_kind.failure).toBeGreaterThanOrEqual(1)
        expect(
          stats.by_status.active + stats.by_status.pending_review + stats.by_status.superseded +
            stats.by_status.rejected
        ).toBe(stats.items)

        const tiering = yield* client.memory.runTiering()
        expect(tiering).toMatchObject({ enabled: true })
        // every item of the tenant is examined, whatever its tier or status
        expect(tiering.examined).toBe(stats.items)

        const kpis = yield* client.memory.kpis({ urlParams: {} })
        const tenantLive = yield* sql<{ n: number | string }>`
          SELECT COUNT(*) AS n FROM core_memory_items WHERE tenant_id = 'default' AND status IN ('active', 'pending_review')`
        expect(kpis.memory_items_count).toBe(Number(tenantLive[0]!.n))
        const metrics = yield* s.raw("/metrics")
        expect(metrics.status).toBe(200)
        for (
          const name of [
            "memory_items",
            "memory_avg_tokens_saved",
            "memory_reconciliation_rate",
            "memory_hallucination_incidents"
          ]
        ) {
          expect(metrics.text).toMatch(new RegExp(`^# TYPE ${name} gauge$`, "m"))
          // every gauge has a reading: contradictions were raised in the window, so even the rate is a number
          expect(metrics.text).toMatch(new RegExp(`^${name} [0-9.eE+-]+$`, "m"))
        }
        const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics.text)![1])
        const live = yield* sql<{ n: number | string }>`
          SELECT COUNT(*) AS n FROM core_memory_items WHERE status IN ('active', 'pending_review')`
        expect(metrics.text).toMatch(new RegExp(`^memory_items ${Number(live[0]!.n)}$`, "m"))
        // everything here was written within the KPI window: the gauges equal what the tables hold
        const rejected = yield* sql<
          { n: number | string }
        >`SELECT COUNT(*) AS n FROM core_memory_items WHERE status = 'rejected'`
        expect(Number(rejected[0]!.n)).toBeGreaterThanOrEqual(1)
        expect(gauge("memory_hallucination_incidents")).toBe(Number(rejected[0]!.n))
        const reviews = yield* sql<{ raised: number | string; resolved: number | string }>`
          SELECT COUNT(*) AS raised, SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END) AS resolved FROM core_memory_reviews`
        expect(gauge("memory_reconciliation_rate")).toBeCloseTo(
          Number(reviews[0]!.resolved) / Number(reviews[0]!.raised),
          9
        )

        // the tenant's own deletion removes one item; nobody else may
        const viewerDelete = yield* s.raw(`${items}/${failure.item.uid}`, {
          method: "DELETE",
          headers: H.auth(H.tokens.bookkeeper)
        })
        expect(viewerDelete.status).toBe(403)
        const del = yield* s.raw(`${items}/${failure.item.uid}`, { method: "DELETE", headers: H.auth(H.tokens.owner) })
        expect(del.status).toBe(204)
        const gone = yield* sql`SELECT uid FROM core_memory_items WHERE uid = ${failure.item.uid}`
        expect(gone.length).toBe(0)
        H.expectError(
          yield* s.raw(`${items}/${failure.item.uid}`, { headers: H.auth(H.tokens.owner) }),
          404,
          "not_found"
        )
      }))
  })
}

describe("memory query times", () => {
  it("from_ts and to_ts take epoch seconds or ISO 8601", async () => {
    const { MemoryApi } = await import("@airlock/adapters-http")
    const { Schema } = await import("effect")
    const decode = Schema.decodeUnknownSync(MemoryApi.TimeParam)
    expect(decode("1728675932")).toBe(1_728_675_932_000)
    expect(decode("2024-10-11T19:45:32Z")).toBe(1_728_675_932_000)
    expect(() => decode("yesterday")).toThrow()
  })
})

/**
 * The memory adapter's agent-memory store, beyond the conformance suite: its reads cost what the
 * answer costs, not what the tenant holds (a page never reads a row past the page, a key's or a
 * thread's entries never read another's), and its sorted indexes follow a failed transaction
 * back, as its tables do. A row that throws when read stands for "a row the read must not touch".
 */
import { Memory, MemoryDatabase } from "@airlock/adapters-storage"
import { AgentMemory, Ids, Trusted, UnitOfWork } from "@airlock/core"
import { expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"

const tenant = Ids.TenantId.make("t-mem")

const item = (uid: string, thread: string, extra: Partial<AgentMemory.MemoryItem> = {}) =>
  Trusted.make(AgentMemory.MemoryItem, {
    uid,
    tenant_id: tenant,
    thread_id: thread,
    agent_id: "copilot",
    kind: "fact",
    subject: thread,
    predicate: "account",
    value: uid,
    value_hash: uid,
    content: "",
    importance: 0.5,
    tier: "hot",
    status: "active",
    source_actor: "agent",
    source_ref: null,
    token_count: 0,
    reinforced_count: 0,
    last_confirmed_at: 0,
    last_used_at: 0,
    valid_from: 0,
    valid_to: null,
    valid_to_history: [],
    recorded_at: 0,
    expired_at: null,
    accepted_at: 0,
    version: 1,
    ...extra
  })

const review = (id: string, uid: string, thread: string, extra: Partial<AgentMemory.ReviewEntry> = {}) =>
  Trusted.make(AgentMemory.ReviewEntry, {
    id,
    tenant_id: tenant,
    uid,
    existing_uid: `${uid}-existing`,
    thread_id: thread,
    agent_id: "copilot",
    reason: "contradiction",
    created_at: 0,
    status: "open",
    decision: null,
    resolution: null,
    resolved_by: null,
    resolved_at: null,
    version: 1,
    ...extra
  })

const keyOf = (thread: string) => ({ thread_id: thread, subject: thread, predicate: "account" })

/** Replaces a stored row with one that throws on any read of a field. */
const poison = (table: string, id: string) =>
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => {
    const rows = db.scoped<object>(table)
    if (!rows.has(tenant, id)) throw new Error(`no row ${id} in ${table}`)
    rows.set(
      tenant,
      id,
      new Proxy({}, {
        get: (_, field) => {
          throw new Error(`read ${String(field)} of ${table} row ${id}, past what the call asked for`)
        }
      })
    )
  })

const pad = (n: number) => String(n).padStart(4, "0")

it.effect("pages and per-key / per-thread reads never read rows outside the answer", () =>
  Effect.gen(function*() {
    const store = yield* AgentMemory.AgentMemoryStore
    for (let n = 0; n < 200; n++) {
      const thread = n % 2 === 0 ? "vendor:even" : "vendor:odd"
      yield* store.insertItem(item(`mem_${pad(n)}`, thread, n % 4 === 0 ? { kind: "failure" } : {}))
      yield* store.insertReview(review(`mrv_${pad(n)}`, `mem_${pad(n)}`, thread), keyOf(thread))
    }
    // the newest item and entry (both of thread odd) can no longer be read, nor the entry the queue page starts after
    yield* poison("memory_items", "mem_0199")
    yield* poison("memory_reviews", "mrv_0199")
    yield* poison("memory_reviews", "mrv_0001")

    const page = yield* store.listItems(tenant, { limit: 10 })
    expect(page.map((i) => i.uid)).toStrictEqual(Array.from({ length: 10 }, (_, n) => `mem_${pad(n)}`))
    const next = yield* store.listItems(tenant, { after: "mem_0100", limit: 3 })
    expect(next.map((i) => i.uid)).toStrictEqual(["mem_0101", "mem_0102", "mem_0103"])
    const thread = yield* store.listItems(tenant, { thread_id: "vendor:odd", after: "mem_0001", limit: 2 })
    expect(thread.map((i) => i.uid)).toStrictEqual(["mem_0003", "mem_0005"])
    const failures = yield* store.listItems(tenant, { kind: "failure", limit: 3 })
    expect(failures.map((i) => i.uid)).toStrictEqual(["mem_0000", "mem_0004", "mem_0008"])

    const queue = yield* store.listOpenReviews(tenant, { after: "mrv_0001", limit: 3 })
    expect(queue.map((r) => r.id)).toStrictEqual(["mrv_0002", "mrv_0003", "mrv_0004"])
    // another key's and another thread's entries (the odd ones) are not read
    yield* poison("memory_reviews", "mrv_0003")
    yield* poison("memory_reviews", "mrv_0005")
    const even = yield* store.openReviewsForKey(tenant, keyOf("vendor:even"))
    expect(even.length).toBe(100)
    const evenThread = yield* store.reviewsOfThread(tenant, "vendor:even")
    expect(evenThread.map((r) => r.id).slice(0, 3)).toStrictEqual(["mrv_0000", "mrv_0002", "mrv_0004"])
    const byKey = yield* store.itemsByKey(tenant, keyOf("vendor:even"))
    expect(byKey.length).toBe(100)
    expect(byKey[0]!.uid).toBe("mem_0000")
  }).pipe(Effect.provide(Memory.layer)))

it.effect("a failed transaction leaves the sorted indexes as they were; resolving and removing keep them in step", () =>
  Effect.gen(function*() {
    const store = yield* AgentMemory.AgentMemoryStore
    const uow = yield* UnitOfWork.UnitOfWork
    yield* store.insertItem(item("mem_0002", "vendor:a"))
    yield* store.insertReview(review("mrv_0002", "mem_0002", "vendor:a"), keyOf("vendor:a"))
    const snapshot = Effect.all({
      all: Effect.map(store.listItems(tenant, { limit: 100 }), (xs) => xs.map((i) => i.uid)),
      thread: Effect.map(store.listItems(tenant, { thread_id: "vendor:a", limit: 100 }), (xs) => xs.map((i) => i.uid)),
      kind: Effect.map(store.listItems(tenant, { kind: "fact", limit: 100 }), (xs) => xs.map((i) => i.uid)),
      key: Effect.map(store.itemsByKey(tenant, keyOf("vendor:a")), (xs) => xs.map((i) => i.uid)),
      open: Effect.map(store.listOpenReviews(tenant, { limit: 100 }), (xs) => xs.map((r) => r.id)),
      openKey: Effect.map(store.openReviewsForKey(tenant, keyOf("vendor:a")), (xs) => xs.map((r) => r.id)),
      reviewThread: Effect.map(store.reviewsOfThread(tenant, "vendor:a"), (xs) => xs.map((r) => r.id))
    })
    const before = yield* snapshot
    expect(before).toStrictEqual({
      all: ["mem_0002"],
      thread: ["mem_0002"],
      kind: ["mem_0002"],
      key: ["mem_0002"],
      open: ["mrv_0002"],
      openKey: ["mrv_0002"],
      reviewThread: ["mrv_0002"]
    })

    const failed = yield* Effect.exit(uow.transaction(Effect.gen(function*() {
      // one out of order (placed by search), one appended, a resolution, a removal, then a failure
      yield* store.insertItem(item("mem_0001", "vendor:a"))
      yield* store.insertItem(item("mem_0003", "vendor:a", { kind: "failure" }))
      yield* store.insertReview(review("mrv_0003", "mem_0003", "vendor:a"), keyOf("vendor:a"))
      yield* store.updateReview(review("mrv_0002", "mem_0002", "vendor:a", { status: "resolved", version: 2 }), 1)
      yield* store.updateItem(item("mem_0002", "vendor:a", { kind: "note", version: 2 }), 1)
      yield* store.remove(tenant, "mem_0001")
      return yield* Effect.fail("boom")
    })))
    expect(Exit.isFailure(failed)).toBe(true)
    expect(yield* snapshot).toStrictEqual(before)

    // the same steps committed
    yield* uow.transaction(Effect.gen(function*() {
      yield* store.insertItem(item("mem_0001", "vendor:a"))
      yield* store.insertItem(item("mem_0003", "vendor:a", { kind: "failure" }))
      yield* store.insertReview(review("mrv_0003", "mem_0003", "vendor:a"), keyOf("vendor:a"))
      yield* store.updateReview(review("mrv_0002", "mem_0002", "vendor:a", { status: "resolved", version: 2 }), 1)
    }))
    expect(yield* snapshot).toStrictEqual({
      all: ["mem_0001", "mem_0002", "mem_0003"],
      thread: ["mem_0001", "mem_0002", "mem_0003"],
      kind: ["mem_0001", "mem_0002"],
      key: ["mem_0001", "mem_0002", "mem_0003"],
      open: ["mrv_0003"],
      openKey: ["mrv_0003"],
      reviewThread: ["mrv_0002", "mrv_0003"]
    })
    expect(yield* store.remove(tenant, "mem_0003")).toBe(true)
    expect(yield* snapshot).toStrictEqual({
      all: ["mem_0001", "mem_0002"],
      thread: ["mem_0001", "mem_0002"],
      kind: ["mem_0001", "mem_0002"],
      key: ["mem_0001", "mem_0002"],
      open: [],
      openKey: [],
      reviewThread: ["mrv_0002"]
    })
  }).pipe(Effect.provide(Memory.layer)))

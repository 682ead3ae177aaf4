/**
 * The agent-memory store's hot queries on SQLite use their indexes: each store call runs through
 * a recording statement layer, and every statement it ran is checked with `EXPLAIN QUERY PLAN`
 * (no `SCAN core_memory_…`, the named index searched). The texts are the adapter's own, so a
 * query rewritten into a scan fails here.
 */
import { AgentMemory, type Ids } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { agentMemoryStore } from "../src/internal/sql/agentMemory.js"
import * as SqlitePlans from "./support/SqlitePlans.js"

const { layer: TestLayer, plansOf } = SqlitePlans.recorder(agentMemoryStore)

const tenant = "t" as Ids.TenantId
const key = { thread_id: "vendor:acme", subject: "vendor:acme", predicate: "account" }

const expectIndexed = (
  plans: ReadonlyArray<{ readonly text: string; readonly plan: string }>,
  indexes: ReadonlyArray<string>
) => {
  expect(plans.length).toBeGreaterThan(0)
  for (const p of plans) {
    expect(p.plan, p.text).not.toMatch(/SCAN core_memory_/)
    // a search on the tenant alone walks every row of the tenant
    // (the open queue's partial index holds only open entries: the tenant alone is its search)
    expect(p.plan, p.text).not.toMatch(/INDEX (?!core_memory_reviews_open )\S+ \(tenant_id=\?\)/)
  }
  const all = plans.map((p) => p.plan).join(" | ")
  for (const name of indexes) expect(all).toMatch(new RegExp(`USING (COVERING )?INDEX ${name}\\b`))
}

it.layer(TestLayer)("agent memory on SQLite: hot queries search their indexes", (it) => {
  it.effect("a key's items (every keyed write) use the key index, uid last, not the thread's", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.itemsByKey(tenant, key)), ["core_memory_items_key"])
    }))

  it.effect("a key's open entries use the open-by-key index, id last", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.openReviewsForKey(tenant, key)), ["core_memory_reviews_open_key"])
    }))

  it.effect("links of items: the primary key by from_uid and the to_uid index, never a scan", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.linksOf(tenant, ["a", "b"])), [
        "sqlite_autoindex_core_memory_links_1",
        "core_memory_links_to"
      ])
    }))

  it.effect("an item's entries: by pending uid and by existing uid", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.reviewsOfItem(tenant, "a")), [
        "core_memory_reviews_uid",
        "core_memory_reviews_existing"
      ])
    }))

  it.effect("a thread's entries and the open queue use their indexes", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.reviewsOfThread(tenant, "vendor:acme")), ["core_memory_reviews_thread"])
      expectIndexed(yield* plansOf(store.listOpenReviews(tenant, { limit: 50 })), ["core_memory_reviews_open"])
      expectIndexed(yield* plansOf(store.listOpenReviews(tenant, { after: "x", limit: 50 })), [
        "core_memory_reviews_open"
      ])
    }))

  it.effect("failures: by kind, by kind and job, by kind and thread", () =>
    Effect.gen(function*() {
      const store = yield* AgentMemory.AgentMemoryStore
      expectIndexed(yield* plansOf(store.listItems(tenant, { kind: "failure", limit: 51 })), [
        "core_memory_items_kind"
      ])
      expectIndexed(yield* plansOf(store.listItems(tenant, { kind: "failure", job: "etl", limit: 51 })), [
        "core_memory_items_kind_thread",
        "core_memory_items_kind_subject"
      ])
      expectIndexed(
        yield* plansOf(store.listItems(tenant, { kind: "failure", thread_id: "job:etl", after: "a", limit: 51 })),
        ["core_memory_items_kind_thread"]
      )
    }))

  it.effect("the tenant's deletion of an item deletes its links by either end through an index", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AgentMemory.AgentMemoryStore
      yield* sql`INSERT INTO core_memory_items (tenant_id, uid, thread_id, agent_id, kind, subject, predicate, value,
          value_hash, content, importance, tier, status, source_actor, source_ref, token_count, reinforced_count,
          last_confirmed_at, last_used_at, valid_from, valid_to, valid_to_history, recorded_at, expired_at, accepted_at,
          version, search_text)
        VALUES (${tenant}, 'gone', 'vendor:acme', 'agent', 'fact', 'vendor:acme', 'account', '1', 'h', '', 0.5, 'hot',
          'active', 'agent', NULL, 0, 0, 0, 0, 0, NULL, '[]', 0, NULL, NULL, 1, '')`
      const plans = yield* plansOf(store.remove(tenant, "gone"))
      expect(plans.filter((p) => p.text.startsWith("DELETE FROM core_memory_links")).length).toBe(2)
      expectIndexed(plans, ["sqlite_autoindex_core_memory_links_1", "core_memory_links_to", "core_memory_reviews_uid"])
      expect(yield* sql`SELECT uid FROM core_memory_items WHERE uid = 'gone'`).toStrictEqual([])
    }))
})

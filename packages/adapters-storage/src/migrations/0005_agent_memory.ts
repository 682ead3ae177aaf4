/**
 * Agent memory (core's `AgentMemory`): items (with `valid_to_history`, the JSON list of earlier
 * ends of the valid period and when each was replaced, and `search_text`, the normalised text
 * search matches, `AgentMemoryRules.searchTextOf`), links, the review queue, and one key-head row per
 * structured key, which writers of that key lock (`FOR UPDATE` through an upsert on PostgreSQL)
 * so contradictory writes serialise. Indexes follow the queries, each ending in the column the
 * query orders by so no plan trades the search for the order (SQLite's plans are checked in
 * `AgentMemoryPlans.test.ts`): a key's items (partial: keyless notes take no entry), a thread's
 * items, a kind's items (failures), a kind's items by thread and by subject (a job's failures),
 * links by their far end (the primary key serves the near end), the open queue oldest first, open
 * entries of a key, and entries by thread and by the fact they contradict.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE core_memory_items (
    tenant_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    predicate TEXT,
    value TEXT NOT NULL,
    value_hash TEXT,
    content TEXT NOT NULL,
    importance DOUBLE PRECISION NOT NULL,
    tier TEXT NOT NULL,
    status TEXT NOT NULL,
    source_actor TEXT NOT NULL,
    source_ref TEXT,
    token_count BIGINT NOT NULL,
    reinforced_count BIGINT NOT NULL,
    last_confirmed_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT,
    valid_to_history TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    expired_at BIGINT,
    accepted_at BIGINT,
    version INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    PRIMARY KEY (tenant_id, uid)
  )`
  yield* sql`CREATE INDEX core_memory_items_key ON core_memory_items (tenant_id, thread_id, subject, predicate, uid)
    WHERE subject IS NOT NULL`
  yield* sql`CREATE INDEX core_memory_items_thread ON core_memory_items (tenant_id, thread_id, uid)`
  yield* sql`CREATE INDEX core_memory_items_kind ON core_memory_items (tenant_id, kind, uid)`
  yield* sql`CREATE INDEX core_memory_items_kind_thread ON core_memory_items (tenant_id, kind, thread_id, uid)`
  yield* sql`CREATE INDEX core_memory_items_kind_subject ON core_memory_items (tenant_id, kind, subject, uid)
    WHERE subject IS NOT NULL`
  yield* sql`CREATE TABLE core_memory_links (
    tenant_id TEXT NOT NULL,
    from_uid TEXT NOT NULL,
    to_uid TEXT NOT NULL,
    relation TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, from_uid, to_uid, relation)
  )`
  yield* sql`CREATE INDEX core_memory_links_to ON core_memory_links (tenant_id, to_uid)`
  yield* sql`CREATE TABLE core_memory_reviews (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    uid TEXT NOT NULL,
    existing_uid TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    predicate TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    resolution TEXT,
    resolved_by TEXT,
    resolved_at BIGINT,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX core_memory_reviews_uid ON core_memory_reviews (tenant_id, uid)`
  yield* sql`CREATE INDEX core_memory_reviews_open ON core_memory_reviews (tenant_id, id) WHERE status = 'open'`
  yield* sql`CREATE INDEX core_memory_reviews_open_key ON core_memory_reviews (tenant_id, thread_id, subject, predicate, id)
    WHERE status = 'open'`
  yield* sql`CREATE INDEX core_memory_reviews_thread ON core_memory_reviews (tenant_id, thread_id, id)`
  yield* sql`CREATE INDEX core_memory_reviews_existing ON core_memory_reviews (tenant_id, existing_uid, id)`
  yield* sql`CREATE TABLE core_memory_keys (
    tenant_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    predicate TEXT NOT NULL,
    PRIMARY KEY (tenant_id, thread_id, subject, predicate)
  )`
})

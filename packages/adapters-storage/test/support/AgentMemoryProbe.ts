/**
 * Raw access to the stored agent memory (items, links, review entries), bypassing the store:
 * the agent-memory suite checks persisted state through it and tampers with rows to prove the
 * consistency report catches what the service would never write.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** A stored item's governed fields. */
export interface ItemRow {
  readonly uid: string
  readonly predicate: string | null
  readonly status: string
  readonly tier: string
  readonly value_hash: string | null
  readonly reinforced_count: number
  readonly valid_from: number
  readonly valid_to: number | null
  /** Earlier ends with the time each was replaced, oldest first. */
  readonly valid_to_history: ReadonlyArray<{ readonly valid_to: number | null; readonly replaced_at: number }>
  readonly expired_at: number | null
  readonly accepted_at: number | null
  readonly last_used_at: number
  readonly version: number
}

/** A stored review entry. */
export interface ReviewRow {
  readonly id: string
  readonly uid: string
  readonly existing_uid: string
  readonly status: string
  readonly decision: string | null
  readonly resolution: string | null
  readonly resolved_by: string | null
  readonly resolved_at: number | null
}

/** A stored link. */
export interface LinkRow {
  readonly from_uid: string
  readonly to_uid: string
  readonly relation: string
}

/** Raw reads and writes of stored agent memory. */
export class AgentMemoryProbe extends Context.Tag("test/AgentMemoryProbe")<
  AgentMemoryProbe,
  {
    /** Items of a tenant by uid. */
    readonly items: (tenant: string) => Effect.Effect<ReadonlyArray<ItemRow>>
    /** Review entries of a tenant by id. */
    readonly reviews: (tenant: string) => Effect.Effect<ReadonlyArray<ReviewRow>>
    /** Links of a tenant, sorted. */
    readonly links: (tenant: string) => Effect.Effect<ReadonlyArray<LinkRow>>
    /** Stores a link row as is (its ends need not exist). */
    readonly rawLink: (tenant: string, from: string, to: string, relation: string) => Effect.Effect<void>
    /** Overwrites an item's status in place. */
    readonly setStatus: (tenant: string, uid: string, status: string) => Effect.Effect<void>
  }
>() {}

const num = (v: unknown) => Number(v)
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v))
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v))

const toItemRow = (r: Record<string, unknown>): ItemRow => ({
  uid: String(r.uid),
  predicate: strOrNull(r.predicate),
  status: String(r.status),
  tier: String(r.tier),
  value_hash: strOrNull(r.value_hash),
  reinforced_count: num(r.reinforced_count),
  valid_from: num(r.valid_from),
  valid_to: numOrNull(r.valid_to),
  // a JSON column on SQL, the array itself in memory
  valid_to_history: typeof r.valid_to_history === "string"
    ? JSON.parse(r.valid_to_history)
    : (r.valid_to_history as ItemRow["valid_to_history"]).map((c) => ({ ...c })),
  expired_at: numOrNull(r.expired_at),
  accepted_at: numOrNull(r.accepted_at),
  last_used_at: num(r.last_used_at),
  version: num(r.version)
})

const toReviewRow = (r: Record<string, unknown>): ReviewRow => ({
  id: String(r.id),
  uid: String(r.uid),
  existing_uid: String(r.existing_uid),
  status: String(r.status),
  decision: strOrNull(r.decision),
  resolution: strOrNull(r.resolution),
  resolved_by: strOrNull(r.resolved_by),
  resolved_at: numOrNull(r.resolved_at)
})

const byKey = <A>(key: (a: A) => string) => (a: A, b: A) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
const linkKey = (l: LinkRow) => `${l.from_uid} ${l.to_uid} ${l.relation}`

/** Probe over the memory database. */
export const memory = Layer.effect(
  AgentMemoryProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    items: (tenant) =>
      Effect.sync(() =>
        [...db.scoped<Record<string, unknown>>("memory_items").inScope(tenant)].map(toItemRow).sort(byKey((r) => r.uid))
      ),
    reviews: (tenant) =>
      Effect.sync(() =>
        [...db.scoped<Record<string, unknown>>("memory_reviews").inScope(tenant)].map(toReviewRow).sort(
          byKey((r) => r.id)
        )
      ),
    links: (tenant) =>
      Effect.sync(() =>
        [...db.scoped<LinkRow>("memory_links").inScope(tenant)]
          .map((l) => ({ from_uid: l.from_uid, to_uid: l.to_uid, relation: l.relation }))
          .sort(byKey(linkKey))
      ),
    rawLink: (tenant, from, to, relation) =>
      Effect.sync(() => {
        const link = { tenant_id: tenant, from_uid: from, to_uid: to, relation, created_at: 0, created_by: "probe" }
        const id = `${from}\u0000${to}\u0000${relation}`
        db.scoped<unknown>("memory_links").set(tenant, id, link)
        const idx = db.scoped<ReadonlyArray<string>>("memory_links_by_uid")
        idx.set(tenant, from, [...(idx.get(tenant, from) ?? []), id])
        idx.set(tenant, to, [...(idx.get(tenant, to) ?? []), id])
      }),
    setStatus: (tenant, uid, status) =>
      Effect.sync(() => {
        const t = db.scoped<Record<string, unknown>>("memory_items")
        const r = t.get(tenant, uid)
        if (r) t.set(tenant, uid, Object.assign(Object.create(Object.getPrototypeOf(r)), r, { status }))
      })
  }))
)

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  AgentMemoryProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    items: (tenant) =>
      sql`SELECT * FROM core_memory_items WHERE tenant_id = ${tenant} ORDER BY uid`.pipe(
        Effect.map((rs) => rs.map(toItemRow)),
        Effect.orDie
      ),
    reviews: (tenant) =>
      sql`SELECT * FROM core_memory_reviews WHERE tenant_id = ${tenant} ORDER BY id`.pipe(
        Effect.map((rs) => rs.map(toReviewRow)),
        Effect.orDie
      ),
    links: (tenant) =>
      sql`SELECT from_uid, to_uid, relation FROM core_memory_links WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((rs) =>
          rs.map((r) => ({ from_uid: String(r.from_uid), to_uid: String(r.to_uid), relation: String(r.relation) }))
            .sort(byKey(linkKey))
        ),
        Effect.orDie
      ),
    rawLink: (tenant, from, to, relation) =>
      sql`INSERT INTO core_memory_links (tenant_id, from_uid, to_uid, relation, created_at, created_by)
          VALUES (${tenant}, ${from}, ${to}, ${relation}, 0, 'probe')`.pipe(Effect.asVoid, Effect.orDie),
    setStatus: (tenant, uid, status) =>
      sql`UPDATE core_memory_items SET status = ${status} WHERE tenant_id = ${tenant} AND uid = ${uid}`.pipe(
        Effect.asVoid,
        Effect.orDie
      )
  }))
)

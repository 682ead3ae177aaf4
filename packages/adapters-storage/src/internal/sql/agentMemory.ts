/**
 * SQL implementation of core's {@link AgentMemory.AgentMemoryStore}, written once for SQLite and
 * PostgreSQL (tables `core_memory_*`, migration `0005`). The one dialect difference is the key
 * lock: on PostgreSQL an upsert of the key's head row takes its row lock until commit, so
 * writers of one key serialise across connections; SQLite's transactions already hold the only
 * writer.
 */
import { AgentMemory, AgentMemoryRules, CorePorts, type Errors, type Ids, Trusted } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { type Fragment, literal, SqlDb } from "./db.js"
import {
  forShare,
  forUpdate,
  ignoreRows,
  int,
  intOrNull,
  isUniqueViolation,
  json,
  orStorage,
  storageError,
  toJson,
  uniqueErrors,
  versioned
} from "./dialect.js"

type Row = Record<string, unknown>
type Item = AgentMemory.MemoryItem

const ITEM_COLUMNS = literal(
  "tenant_id, uid, thread_id, agent_id, kind, subject, predicate, value, value_hash, content, importance, tier, status, " +
    "source_actor, source_ref, token_count, reinforced_count, last_confirmed_at, last_used_at, valid_from, valid_to, " +
    "valid_to_history, recorded_at, expired_at, accepted_at, version"
)
const REVIEW_COLUMNS = literal(
  "tenant_id, id, uid, existing_uid, thread_id, agent_id, reason, created_at, status, decision, resolution, resolved_by, " +
    "resolved_at, version"
)
const NO_LOCK = literal("")
const KEEP_TIER = literal("tier")
// the large IN lists (graph frontiers, a thread's links) go in chunks, under every driver's parameter limit
const CHUNK = 500

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

const toItem = (r: Row): Item =>
  Trusted.make(AgentMemory.MemoryItem, {
    uid: String(r.uid),
    tenant_id: r.tenant_id as Ids.TenantId,
    thread_id: String(r.thread_id),
    agent_id: String(r.agent_id),
    kind: String(r.kind),
    subject: str(r.subject),
    predicate: str(r.predicate),
    value: json(r.value),
    value_hash: str(r.value_hash),
    content: String(r.content),
    importance: Number(r.importance),
    tier: r.tier as AgentMemory.MemoryTier,
    status: r.status as AgentMemory.MemoryStatus,
    source_actor: String(r.source_actor),
    source_ref: str(r.source_ref),
    token_count: int(r.token_count),
    reinforced_count: int(r.reinforced_count),
    last_confirmed_at: int(r.last_confirmed_at),
    last_used_at: int(r.last_used_at),
    valid_from: int(r.valid_from),
    valid_to: intOrNull(r.valid_to),
    valid_to_history: json(r.valid_to_history) as Item["valid_to_history"],
    recorded_at: int(r.recorded_at),
    expired_at: intOrNull(r.expired_at),
    accepted_at: intOrNull(r.accepted_at),
    version: int(r.version)
  })

const toLink = (r: Row) =>
  Trusted.make(AgentMemory.MemoryLink, {
    tenant_id: r.tenant_id as Ids.TenantId,
    from_uid: String(r.from_uid),
    to_uid: String(r.to_uid),
    relation: r.relation as AgentMemory.LinkRelation,
    created_at: int(r.created_at),
    created_by: String(r.created_by)
  })

const toReview = (r: Row) =>
  Trusted.make(AgentMemory.ReviewEntry, {
    id: String(r.id),
    tenant_id: r.tenant_id as Ids.TenantId,
    uid: String(r.uid),
    existing_uid: String(r.existing_uid),
    thread_id: String(r.thread_id),
    agent_id: String(r.agent_id),
    reason: String(r.reason),
    created_at: int(r.created_at),
    status: r.status as AgentMemory.ReviewStatus,
    decision: str(r.decision) as AgentMemory.ReviewDecision | null,
    resolution: str(r.resolution),
    resolved_by: str(r.resolved_by),
    resolved_at: intOrNull(r.resolved_at),
    version: int(r.version)
  })

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

const chunks = <A>(xs: ReadonlyArray<A>): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK))
  return out
}

// the entry's id taken, or its pending item already queued (the unique key on uid)
const reviewDuplicate = uniqueErrors<AgentMemory.ReviewEntry, Errors.Conflict>(
  [["uid", (r) => CorePorts.duplicateError("memory_item_review", r.uid)]],
  (r) => CorePorts.duplicateError("memory_review", r.id)
)

const countsBy = (rows: ReadonlyArray<Row>) => Object.fromEntries(rows.map((r) => [String(r.k), int(r.n)]))

/** SQL {@link AgentMemory.AgentMemoryStore}. */
export const agentMemoryStore: Layer.Layer<AgentMemory.AgentMemoryStore, never, SqlDb> = Layer.effect(
  AgentMemory.AgentMemoryStore,
  Effect.map(SqlDb, (sql) => {
    const lockRow = forUpdate(sql)

    const shareRow = forShare(sql)

    const itemsIn = (tenant: string, uids: ReadonlyArray<string>, options?: { readonly forShare?: boolean }) =>
      Effect.map(
        Effect.forEach(
          chunks([...new Set(uids)].sort()),
          (part) =>
            sql`SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE tenant_id = ${tenant} AND ${sql.in("uid", part)}
                ORDER BY uid ${options?.forShare === true ? shareRow : NO_LOCK}`
              .query(
                (rs) => rs.map(toItem),
                storageError
              )
        ),
        (parts) => parts.flat()
      )

    const service: AgentMemory.AgentMemoryStore["Type"] = {
      lockKey: (tenant, key) =>
        sql.dialect === "pg"
          ? sql`INSERT INTO core_memory_keys (tenant_id, thread_id, subject, predicate)
                VALUES (${tenant}, ${key.thread_id}, ${key.subject}, ${key.predicate})
                ON CONFLICT (tenant_id, thread_id, subject, predicate) DO UPDATE SET subject = core_memory_keys.subject`
            .query(
              ignoreRows,
              storageError
            )
          : Effect.void,
      insertItem: (i) =>
        sql`INSERT INTO core_memory_items (${ITEM_COLUMNS}, search_text) VALUES (${i.tenant_id}, ${i.uid}, ${i.thread_id}, ${i.agent_id},
              ${i.kind}, ${i.subject}, ${i.predicate}, ${
          toJson(i.value)
        }, ${i.value_hash}, ${i.content}, ${i.importance},
              ${i.tier}, ${i.status}, ${i.source_actor}, ${i.source_ref}, ${i.token_count}, ${i.reinforced_count},
              ${i.last_confirmed_at}, ${i.last_used_at}, ${i.valid_from}, ${i.valid_to}, ${
          toJson(i.valid_to_history)
        }, ${i.recorded_at}, ${i.expired_at},
              ${i.accepted_at}, ${i.version}, ${AgentMemoryRules.searchTextOf(i)})`.query(
          ignoreRows,
          (e): Errors.Conflict | Errors.StorageError =>
            isUniqueViolation(e) ? CorePorts.duplicateError("memory_item", i.uid) : storageError(e)
        ),
      updateItem: (i, expected, options) =>
        versioned(
          // touch and setTier change no version: the later use wins, and the tier is the stored one unless
          // this change sets it (a portable CASE rather than GREATEST / two-argument MAX)
          sql`UPDATE core_memory_items SET agent_id = ${i.agent_id}, kind = ${i.kind}, value = ${toJson(i.value)},
                value_hash = ${i.value_hash}, content = ${i.content}, importance = ${i.importance},
                tier = ${options?.tier === true ? sql`${i.tier}` : KEEP_TIER},
                status = ${i.status}, source_ref = ${i.source_ref}, token_count = ${i.token_count},
                reinforced_count = ${i.reinforced_count}, last_confirmed_at = ${i.last_confirmed_at},
                last_used_at = CASE WHEN last_used_at > ${i.last_used_at} THEN last_used_at ELSE ${i.last_used_at} END,
                valid_from = ${i.valid_from}, valid_to = ${i.valid_to},
                valid_to_history = ${toJson(i.valid_to_history)},
                expired_at = ${i.expired_at}, accepted_at = ${i.accepted_at}, version = ${i.version},
                search_text = ${AgentMemoryRules.searchTextOf(i)}
              WHERE tenant_id = ${i.tenant_id} AND uid = ${i.uid} AND version = ${expected} RETURNING uid`.query(
            (rs) => rs.length,
            storageError
          ),
          sql`SELECT uid FROM core_memory_items WHERE tenant_id = ${i.tenant_id} AND uid = ${i.uid}`.query(
            (rs) => rs.length > 0,
            storageError
          ),
          () => AgentMemory.staleItem("memory_item", i.uid),
          () => AgentMemory.itemNotFound(i.uid)
        ),
      getItem: (tenant, uid) =>
        sql`SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE tenant_id = ${tenant} AND uid = ${uid}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toItem(rs[0]!))),
          storageError
        ),
      getItems: itemsIn,
      itemsByKey: (tenant, key) =>
        sql`SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE tenant_id = ${tenant} AND thread_id = ${key.thread_id}
              AND subject = ${key.subject} AND predicate = ${key.predicate} ORDER BY uid`.query(
          (rs) => rs.map(toItem),
          storageError
        ),
      listItems: (tenant, q) => {
        const where: Array<Fragment> = [sql`tenant_id = ${tenant}`]
        if (q.after !== undefined) where.push(sql`uid > ${q.after}`)
        if (q.thread_id !== undefined) where.push(sql`thread_id = ${q.thread_id}`)
        if (q.kind !== undefined) where.push(sql`kind = ${q.kind}`)
        if (q.status !== undefined) where.push(sql`status = ${q.status}`)
        if (q.tier !== undefined) where.push(sql`tier = ${q.tier}`)
        if (q.text !== undefined) {
          // the stored search text and the needle are normalised in JavaScript, never by the database's LOWER
          where.push(sql`search_text LIKE ${`%${escapeLike(AgentMemoryRules.normaliseSearch(q.text))}%`} ESCAPE '\\'`)
        }
        if (q.job !== undefined) {
          // a job's items: its thread, or its subject elsewhere — two ordered index searches merged (an OR walks
          // every item of the kind)
          const thread = `job:${q.job}`
          return sql`SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE ${sql.and(where)} AND thread_id = ${thread}
              UNION ALL
              SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE ${
            sql.and(where)
          } AND subject = ${q.job} AND thread_id <> ${thread}
              ORDER BY uid LIMIT ${q.limit}`.query((rs) => rs.map(toItem), storageError)
        }
        return sql`SELECT ${ITEM_COLUMNS} FROM core_memory_items WHERE ${sql.and(where)} ORDER BY uid LIMIT ${q.limit}`
          .query(
            (rs) => rs.map(toItem),
            storageError
          )
      },
      touch: (tenant, uid, at, olderThan) =>
        sql`UPDATE core_memory_items SET last_used_at = ${at}
              WHERE tenant_id = ${tenant} AND uid = ${uid} AND last_used_at < ${olderThan}`.query(
          ignoreRows,
          storageError
        ),
      setTier: (tenant, uid, from, to, lastUse) =>
        sql`UPDATE core_memory_items SET tier = ${to}
              WHERE tenant_id = ${tenant} AND uid = ${uid} AND tier = ${from}
                AND last_used_at <= ${lastUse} AND last_confirmed_at <= ${lastUse} RETURNING uid`.query(
          (rs) => rs.length > 0,
          storageError
        ),
      insertLink: (l) =>
        sql`INSERT INTO core_memory_links (tenant_id, from_uid, to_uid, relation, created_at, created_by)
              VALUES (${l.tenant_id}, ${l.from_uid}, ${l.to_uid}, ${l.relation}, ${l.created_at}, ${l.created_by})
              ON CONFLICT (tenant_id, from_uid, to_uid, relation) DO NOTHING`.query(ignoreRows, storageError),
      linksOf: (tenant, uids) =>
        Effect.map(
          Effect.forEach(chunks([...new Set(uids)]), (part) =>
            // two indexed lookups (the primary key by from_uid, core_memory_links_to by to_uid), deduplicated
            // below: an OR of the two would scan the tenant's links, and a UNION's merge prefers the primary key
            sql`SELECT tenant_id, from_uid, to_uid, relation, created_at, created_by FROM core_memory_links
                  WHERE tenant_id = ${tenant} AND ${sql.in("from_uid", part)}
                UNION ALL
                SELECT tenant_id, from_uid, to_uid, relation, created_at, created_by FROM core_memory_links
                  WHERE tenant_id = ${tenant} AND ${sql.in("to_uid", part)}`
              .query((rs) => rs.map(toLink), storageError)),
          (parts) => {
            const seen = new Map<string, AgentMemory.MemoryLink>()
            for (const l of parts.flat())
              seen.set(`${l.from_uid}\u0000${l.to_uid}\u0000${l.relation}`, l)
            return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, l]) => l)
          }
        ),
      insertReview: (r, key) =>
        sql`INSERT INTO core_memory_reviews (tenant_id, id, uid, existing_uid, thread_id, subject, predicate, agent_id, reason,
              created_at, status, decision, resolution, resolved_by, resolved_at, version)
            VALUES (${r.tenant_id}, ${r.id}, ${r.uid}, ${r.existing_uid}, ${r.thread_id}, ${key.subject}, ${key.predicate},
              ${r.agent_id}, ${r.reason}, ${r.created_at}, ${r.status}, ${r.decision}, ${r.resolution}, ${r.resolved_by},
              ${r.resolved_at}, ${r.version})`.query(
          ignoreRows,
          reviewDuplicate(r)
        ),
      getReview: (tenant, uid, options) =>
        sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND uid = ${uid}
              ${options?.forUpdate === true ? lockRow : NO_LOCK}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toReview(rs[0]!))),
          storageError
        ),
      updateReview: (r, expected) =>
        versioned(
          sql`UPDATE core_memory_reviews SET existing_uid = ${r.existing_uid}, status = ${r.status}, decision = ${r.decision}, resolution = ${r.resolution},
                resolved_by = ${r.resolved_by}, resolved_at = ${r.resolved_at}, version = ${r.version}
              WHERE tenant_id = ${r.tenant_id} AND id = ${r.id} AND version = ${expected} RETURNING id`.query(
            (rs) => rs.length,
            storageError
          ),
          sql`SELECT id FROM core_memory_reviews WHERE tenant_id = ${r.tenant_id} AND id = ${r.id}`.query(
            (rs) => rs.length > 0,
            storageError
          ),
          () => AgentMemory.staleItem("memory_review", r.id),
          () => CorePorts.notFoundError("memory_review", r.id)
        ),
      listOpenReviews: (tenant, { after, limit }) =>
        (after === undefined
          ? sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND status = 'open'
                  ORDER BY id LIMIT ${limit}`
          : sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND status = 'open' AND id > ${after}
                  ORDER BY id LIMIT ${limit}`).query((rs) => rs.map(toReview), storageError),
      openReviewsForKey: (tenant, key) =>
        sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND status = 'open'
              AND thread_id = ${key.thread_id} AND subject = ${key.subject} AND predicate = ${key.predicate} ORDER BY id`
          .query(
            (rs) => rs.map(toReview),
            storageError
          ),
      reviewsOfItem: (tenant, uid) =>
        // two indexed lookups, merged and ordered here (an OR, or a UNION's ordered merge, walks the tenant's entries)
        sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND uid = ${uid}
            UNION ALL
            SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND existing_uid = ${uid}`
          .query(
            (rs) => {
              const byId = new Map<string, AgentMemory.ReviewEntry>()
              for (const r of rs) byId.set(String(r.id), toReview(r))
              return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
            },
            storageError
          ),
      reviewsOfThread: (tenant, threadId) =>
        sql`SELECT ${REVIEW_COLUMNS} FROM core_memory_reviews WHERE tenant_id = ${tenant} AND thread_id = ${threadId} ORDER BY id`
          .query(
            (rs) => rs.map(toReview),
            storageError
          ),
      stats: (tenant) =>
        Effect.all({
          by_tier:
            sql`SELECT tier AS k, COUNT(*) AS n FROM core_memory_items WHERE tenant_id = ${tenant} GROUP BY tier`,
          by_status:
            sql`SELECT status AS k, COUNT(*) AS n FROM core_memory_items WHERE tenant_id = ${tenant} GROUP BY status`,
          by_kind:
            sql`SELECT kind AS k, COUNT(*) AS n FROM core_memory_items WHERE tenant_id = ${tenant} GROUP BY kind`,
          queue: sql`SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM core_memory_reviews
                     WHERE tenant_id = ${tenant} AND status = 'open'`
        }).pipe(
          Effect.map((r) => ({
            by_tier: countsBy(r.by_tier),
            by_status: countsBy(r.by_status),
            by_kind: countsBy(r.by_kind),
            queue_depth: int(r.queue[0]!.n),
            oldest_open_at: intOrNull(r.queue[0]!.oldest)
          })),
          orStorage
        ),
      kpiFacts: (tenant, w) => {
        const scope = tenant === null ? sql`1 = 1` : sql`tenant_id = ${tenant}`
        return Effect.all({
          items: sql`SELECT
              SUM(CASE WHEN status IN ('active', 'pending_review') THEN 1 ELSE 0 END) AS live,
              SUM(CASE WHEN status = 'active' AND last_used_at BETWEEN ${w.from_ts} AND ${w.to_ts} THEN 1 ELSE 0 END) AS used,
              SUM(CASE WHEN status = 'active' AND last_used_at BETWEEN ${w.from_ts} AND ${w.to_ts} THEN token_count ELSE 0 END) AS tokens,
              SUM(CASE WHEN status = 'rejected' AND expired_at BETWEEN ${w.from_ts} AND ${w.to_ts} THEN 1 ELSE 0 END) AS rejected
            FROM core_memory_items WHERE ${scope}`,
          reviews: sql`SELECT COUNT(*) AS raised,
              SUM(CASE WHEN status = 'resolved' AND resolved_at <= ${w.to_ts} THEN 1 ELSE 0 END) AS resolved
            FROM core_memory_reviews WHERE ${scope} AND created_at BETWEEN ${w.from_ts} AND ${w.to_ts}`
        }).pipe(
          Effect.map(({ items: [i], reviews: [r] }) => ({
            live_items: int(i!.live ?? 0),
            used_items: int(i!.used ?? 0),
            used_tokens_sum: int(i!.tokens ?? 0),
            rejected: int(i!.rejected ?? 0),
            raised: int(r!.raised ?? 0),
            raised_resolved: int(r!.resolved ?? 0)
          })),
          orStorage
        )
      },
      tenants: () =>
        sql`SELECT DISTINCT tenant_id FROM core_memory_items ORDER BY tenant_id`.query(
          (rs) => rs.map((r) => r.tenant_id as Ids.TenantId),
          storageError
        ),
      remove: (tenant, uid) =>
        Effect.gen(function*() {
          const gone =
            yield* sql`DELETE FROM core_memory_items WHERE tenant_id = ${tenant} AND uid = ${uid} RETURNING uid`.query(
              (rs) => rs.length > 0,
              storageError
            )
          if (!gone) return false
          // one indexed delete per end (an OR of the two would scan the tenant's links)
          yield* sql`DELETE FROM core_memory_links WHERE tenant_id = ${tenant} AND from_uid = ${uid}`.query(
            ignoreRows,
            storageError
          )
          yield* sql`DELETE FROM core_memory_links WHERE tenant_id = ${tenant} AND to_uid = ${uid}`.query(
            ignoreRows,
            storageError
          )
          yield* sql`DELETE FROM core_memory_reviews WHERE tenant_id = ${tenant} AND uid = ${uid}`.query(
            ignoreRows,
            storageError
          )
          return true
        })
    }
    return service
  })
)

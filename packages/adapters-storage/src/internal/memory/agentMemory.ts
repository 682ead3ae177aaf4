/**
 * Memory implementation of core's {@link AgentMemory.AgentMemoryStore}: items, links and review
 * entries in scoped tables (one map per tenant), with indexes kept beside them so no call costs
 * more as the tenant grows: sorted uid lists (the tenant's items, by thread, by key, by kind) and
 * sorted entry ids (open entries, open by key, by thread), changed in place and undone through
 * `onRollback` when a transaction fails; links and entries by item in small tables. Keys are
 * serialised by the database's single writer, so `lockKey` has nothing to do.
 */
import { AgentMemory, AgentMemoryRules, CorePorts, type Errors, type Ids, Trusted } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase, type MemoryDatabaseShape, type ScopedTable } from "../../MemoryDatabase.js"
import { toJson } from "../json.js"

type Item = AgentMemory.MemoryItem
type Link = AgentMemory.MemoryLink
type Review = AgentMemory.ReviewEntry

const SEP = "\u0000"
const keyString = (k: AgentMemory.MemoryKey) => `${k.thread_id}${SEP}${k.subject}${SEP}${k.predicate}`
const itemKey = (
  i: Item
) => (i.subject === null || i.predicate === null ? null : `${i.thread_id}${SEP}${i.subject}${SEP}${i.predicate}`)
const linkId = (l: Link) => `${l.from_uid}${SEP}${l.to_uid}${SEP}${l.relation}`

/** Appends to a small list kept in a scoped table (copy on write, so the undo log restores the old list). */
const push = (t: ScopedTable<ReadonlyArray<string>>, scope: string, key: string, value: string) => {
  const before = t.get(scope, key)
  if (before === undefined) t.set(scope, key, [value])
  else if (!before.includes(value)) t.set(scope, key, [...before, value])
}

const drop = (t: ScopedTable<ReadonlyArray<string>>, scope: string, key: string, value: string) => {
  const before = t.get(scope, key)
  if (before === undefined) return
  const after = before.filter((v) => v !== value)
  if (after.length === 0) t.delete(scope, key)
  else t.set(scope, key, after)
}

/** Index of the first element not below `value` (binary search). */
const lowerBound = (xs: ReadonlyArray<string>, value: string): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Index of the first element above `value`. */
const upperBound = (xs: ReadonlyArray<string>, value: string): number => {
  const at = lowerBound(xs, value)
  return xs[at] === value ? at + 1 : at
}

/**
 * A value as a JSON column gives it back (the SQL adapters' encoding: bigints as strings, dates
 * as ISO strings, undefined members dropped, -0 as 0), never the caller's object itself.
 */
const jsonCopy = (v: unknown): unknown => {
  if (v === null || v === undefined) return null
  if (typeof v === "string" || typeof v === "boolean") return v
  return JSON.parse(toJson(v))
}

/** The stored item with a value of its own (an object value is copied out, as a SQL read parses one afresh). */
const stored = (i: Item): Item => {
  if (i.value === null || typeof i.value !== "object") {
    return i
  }
  return Trusted.make(AgentMemory.MemoryItem, { ...i, value: JSON.parse(JSON.stringify(i.value)) })
}

/** The item to keep: its value a JSON copy. */
const toStore = (i: Item): Item => {
  const value = jsonCopy(i.value)
  return Object.is(value, i.value) ? i : Trusted.make(AgentMemory.MemoryItem, { ...i, value })
}

const EMPTY: ReadonlyArray<string> = []

const byId = (a: Review, b: Review) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * Sorted string lists by (scope, name), changed in place: uids and ids are made in increasing
 * order, so an insert is almost always an append (O(1)); an out-of-order one is placed by binary
 * search. Each change records its undo with the database, so a failed transaction leaves nothing.
 */
class SortedLists {
  private readonly scopes = new Map<string, Map<string, Array<string>>>()
  constructor(private readonly db: MemoryDatabaseShape) {}
  get(scope: string, name: string): ReadonlyArray<string> {
    return this.scopes.get(scope)?.get(name) ?? EMPTY
  }
  add(scope: string, name: string, value: string): void {
    let names = this.scopes.get(scope)
    if (names === undefined) this.scopes.set(scope, names = new Map())
    let xs = names.get(name)
    if (xs === undefined) names.set(name, xs = [])
    const list = xs
    if (list.length === 0 || list[list.length - 1]! < value) list.push(value)
    else {
      const at = lowerBound(list, value)
      if (list[at] === value) return
      list.splice(at, 0, value)
    }
    this.db.onRollback(() => {
      const at = lowerBound(list, value)
      if (list[at] === value) list.splice(at, 1)
    })
  }
  /** Drops every list of a scope (a removed tenant), with its undo. */
  dropScope(scope: string): void {
    const names = this.scopes.get(scope)
    if (names === undefined) return
    this.scopes.delete(scope)
    this.db.onRollback(() => void this.scopes.set(scope, names))
  }
  remove(scope: string, name: string, value: string): void {
    const list = this.scopes.get(scope)?.get(name)
    if (list === undefined) return
    const at = lowerBound(list, value)
    if (list[at] !== value) return
    list.splice(at, 1)
    this.db.onRollback(() => {
      const back = lowerBound(list, value)
      if (list[back] !== value) list.splice(back, 0, value)
    })
  }
}

const matches = (i: Item, q: AgentMemory.ItemQuery, text: string | undefined, searchText: () => string) =>
  (q.after === undefined || i.uid > q.after) &&
  (q.thread_id === undefined || i.thread_id === q.thread_id) &&
  (q.kind === undefined || i.kind === q.kind) &&
  (q.status === undefined || i.status === q.status) &&
  (q.tier === undefined || i.tier === q.tier) &&
  (q.job === undefined || i.thread_id === `job:${q.job}` || i.subject === q.job) &&
  (text === undefined || searchText().includes(text))

const inWindow = (t: number | null, w: AgentMemory.KpiWindow) => t !== null && t >= w.from_ts && t <= w.to_ts

/** Memory {@link AgentMemory.AgentMemoryStore}. */
export const agentMemoryStore: Layer.Layer<AgentMemory.AgentMemoryStore, never, MemoryDatabase> = Layer.effect(
  AgentMemory.AgentMemoryStore,
  Effect.map(MemoryDatabase, (db) => {
    const items = db.scoped<Item>("memory_items")
    // the normalised search text of each item, stored at write time as the SQL adapter's column is
    const searchTexts = db.scoped<string>("memory_items_search")
    const links = db.scoped<Link>("memory_links")
    const linksByUid = db.scoped<ReadonlyArray<string>>("memory_links_by_uid")
    const reviews = db.scoped<Review>("memory_reviews")
    const reviewKeys = db.scoped<string>("memory_review_keys")
    const reviewByUid = db.scoped<string>("memory_reviews_by_uid")
    const reviewsByItem = db.scoped<ReadonlyArray<string>>("memory_reviews_by_item")
    // sorted uids: the tenant's ("" names all), by thread, by key, by kind
    const itemOrder = new SortedLists(db)
    const byThread = new SortedLists(db)
    const byKey = new SortedLists(db)
    const byKind = new SortedLists(db)
    // sorted entry ids: open ones ("" names all), open ones by key, all by thread
    const openOrder = new SortedLists(db)
    const openByKey = new SortedLists(db)
    const reviewsByThread = new SortedLists(db)
    db.onTenantRemoved((tenant) => {
      for (const lists of [itemOrder, byThread, byKey, byKind, openOrder, openByKey, reviewsByThread]) {
        lists.dropScope(tenant)
      }
    })

    const itemsOf = (tenant: string, uids: ReadonlyArray<string>) => {
      const out: Array<Item> = []
      for (const uid of uids) {
        const i = items.get(tenant, uid)
        if (i !== undefined) out.push(stored(i))
      }
      return out
    }

    const reviewsOf = (tenant: string, ids: ReadonlyArray<string>) => {
      const out: Array<Review> = []
      for (const id of ids) {
        const r = reviews.get(tenant, id)
        if (r !== undefined) out.push(r)
      }
      return out
    }

    /** Up to `limit` entries of a sorted id list after `after`, read no further than the page. */
    const pageOf = <A>(
      ids: ReadonlyArray<string>,
      after: string | undefined,
      limit: number,
      get: (id: string) => A | undefined,
      keep: (a: A) => boolean
    ) => {
      const out: Array<A> = []
      for (let at = after === undefined ? 0 : upperBound(ids, after); at < ids.length && out.length < limit; at++) {
        const a = get(ids[at]!)
        if (a !== undefined && keep(a)) out.push(a)
      }
      return out
    }

    const indexOpen = (tenant: string, r: Review) => {
      openOrder.add(tenant, "", r.id)
      const k = reviewKeys.get(tenant, r.id)
      if (k !== undefined) openByKey.add(tenant, k, r.id)
    }

    const unindexOpen = (tenant: string, r: Review) => {
      openOrder.remove(tenant, "", r.id)
      const k = reviewKeys.get(tenant, r.id)
      if (k !== undefined) openByKey.remove(tenant, k, r.id)
    }

    const service: AgentMemory.AgentMemoryStore["Type"] = {
      lockKey: () => Effect.void,
      insertItem: (input) =>
        db.writeEffect(() => {
          const item = toStore(input)
          if (items.has(item.tenant_id, item.uid)) {
            return Effect.fail(CorePorts.duplicateError("memory_item", item.uid))
          }
          items.set(item.tenant_id, item.uid, item)
          searchTexts.set(item.tenant_id, item.uid, AgentMemoryRules.searchTextOf(item))
          itemOrder.add(item.tenant_id, "", item.uid)
          byThread.add(item.tenant_id, item.thread_id, item.uid)
          byKind.add(item.tenant_id, item.kind, item.uid)
          const k = itemKey(item)
          if (k !== null) byKey.add(item.tenant_id, k, item.uid)
          return Effect.void
        }),
      updateItem: (change, expected, options) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const current = items.get(change.tenant_id, change.uid)
          if (current === undefined) return Effect.fail(AgentMemory.itemNotFound(change.uid))
          if (current.version !== expected) return Effect.fail(AgentMemory.staleItem("memory_item", change.uid))
          // touch and setTier change no version: the later use wins, the stored tier stays unless this sets it
          const item = Trusted.make(AgentMemory.MemoryItem, {
            ...change,
            value: jsonCopy(change.value),
            last_used_at: Math.max(current.last_used_at, change.last_used_at),
            tier: options?.tier === true ? change.tier : current.tier
          })
          items.set(item.tenant_id, item.uid, item)
          searchTexts.set(item.tenant_id, item.uid, AgentMemoryRules.searchTextOf(item))
          if (current.kind !== item.kind) {
            byKind.remove(item.tenant_id, current.kind, item.uid)
            byKind.add(item.tenant_id, item.kind, item.uid)
          }
          return Effect.void
        }),
      getItem: (tenant, uid) => db.read(() => Option.map(Option.fromNullable(items.get(tenant, uid)), stored)),
      getItems: (tenant, uids) => db.read(() => itemsOf(tenant, [...new Set(uids)])),
      itemsByKey: (tenant, key) => db.read(() => itemsOf(tenant, byKey.get(tenant, keyString(key)))),
      listItems: (tenant, q) =>
        db.read(() => {
          const text = q.text === undefined ? undefined : AgentMemoryRules.normaliseSearch(q.text)
          // the narrowest sorted list that holds every match, read from the cursor to the end of the page
          const source = q.thread_id !== undefined
            ? byThread.get(tenant, q.thread_id)
            : q.kind !== undefined
            ? byKind.get(tenant, q.kind)
            : itemOrder.get(tenant, "")
          return pageOf(
            source,
            q.after,
            q.limit,
            (uid) => items.get(tenant, uid),
            (i) => matches(i, q, text, () => searchTexts.get(tenant, i.uid) ?? "")
          ).map(stored)
        }),
      touch: (tenant, uid, at, olderThan) =>
        db.write(() => {
          const i = items.get(tenant, uid)
          if (i !== undefined && i.last_used_at < olderThan) {
            items.set(tenant, uid, Trusted.make(AgentMemory.MemoryItem, { ...i, last_used_at: at }))
          }
        }),
      setTier: (tenant, uid, from, to, lastUse) =>
        db.write(() => {
          const i = items.get(tenant, uid)
          if (i === undefined || i.tier !== from || i.last_used_at > lastUse || i.last_confirmed_at > lastUse) {
            return false
          }
          items.set(tenant, uid, Trusted.make(AgentMemory.MemoryItem, { ...i, tier: to }))
          return true
        }),
      insertLink: (link) =>
        db.write(() => {
          const id = linkId(link)
          if (links.has(link.tenant_id, id)) return
          links.set(link.tenant_id, id, link)
          push(linksByUid, link.tenant_id, link.from_uid, id)
          push(linksByUid, link.tenant_id, link.to_uid, id)
        }),
      linksOf: (tenant, uids) =>
        db.read(() => {
          const ids = new Set<string>()
          for (const uid of uids) for (const id of linksByUid.get(tenant, uid) ?? []) ids.add(id)
          return [...ids].sort().map((id) => links.get(tenant, id)!).filter((l) => l !== undefined)
        }),
      insertReview: (entry, key) =>
        db.writeEffect(() => {
          if (reviews.has(entry.tenant_id, entry.id)) {
            return Effect.fail(CorePorts.duplicateError("memory_review", entry.id))
          }
          if (reviewByUid.has(entry.tenant_id, entry.uid)) {
            return Effect.fail(CorePorts.duplicateError("memory_item_review", entry.uid))
          }
          reviews.set(entry.tenant_id, entry.id, entry)
          reviewKeys.set(entry.tenant_id, entry.id, keyString(key))
          reviewByUid.set(entry.tenant_id, entry.uid, entry.id)
          push(reviewsByItem, entry.tenant_id, entry.uid, entry.id)
          push(reviewsByItem, entry.tenant_id, entry.existing_uid, entry.id)
          reviewsByThread.add(entry.tenant_id, entry.thread_id, entry.id)
          if (entry.status === "open") indexOpen(entry.tenant_id, entry)
          return Effect.void
        }),
      getReview: (tenant, uid) =>
        db.read(() => {
          const id = reviewByUid.get(tenant, uid)
          return id === undefined ? Option.none() : Option.fromNullable(reviews.get(tenant, id))
        }),
      updateReview: (entry, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const current = reviews.get(entry.tenant_id, entry.id)
          if (current === undefined) return Effect.fail(CorePorts.notFoundError("memory_review", entry.id))
          if (current.version !== expected) return Effect.fail(AgentMemory.staleItem("memory_review", entry.id))
          reviews.set(entry.tenant_id, entry.id, entry)
          if (current.status === "open" && entry.status !== "open") unindexOpen(entry.tenant_id, current)
          else if (current.status !== "open" && entry.status === "open") indexOpen(entry.tenant_id, entry)
          if (current.existing_uid !== entry.existing_uid) {
            // re-pointed to the fact now in force: the index follows
            if (current.existing_uid !== entry.uid) drop(reviewsByItem, entry.tenant_id, current.existing_uid, entry.id)
            push(reviewsByItem, entry.tenant_id, entry.existing_uid, entry.id)
          }
          return Effect.void
        }),
      listOpenReviews: (tenant, { after, limit }) =>
        db.read(() =>
          pageOf(openOrder.get(tenant, ""), after, limit, (id) => reviews.get(tenant, id), (r) => r.status === "open")
        ),
      openReviewsForKey: (tenant, key) =>
        db.read(() => reviewsOf(tenant, openByKey.get(tenant, keyString(key))).filter((r) => r.status === "open")),
      reviewsOfItem: (tenant, uid) =>
        db.read(() => reviewsOf(tenant, reviewsByItem.get(tenant, uid) ?? EMPTY).sort(byId)),
      reviewsOfThread: (tenant, threadId) => db.read(() => reviewsOf(tenant, reviewsByThread.get(tenant, threadId))),
      stats: (tenant) =>
        db.read(() => {
          const by_tier: Record<string, number> = {}
          const by_status: Record<string, number> = {}
          const by_kind: Record<string, number> = {}
          for (const i of items.inScope(tenant)) {
            by_tier[i.tier] = (by_tier[i.tier] ?? 0) + 1
            by_status[i.status] = (by_status[i.status] ?? 0) + 1
            by_kind[i.kind] = (by_kind[i.kind] ?? 0) + 1
          }
          let queue_depth = 0
          let oldest_open_at: number | null = null
          for (const r of reviews.inScope(tenant)) {
            if (r.status !== "open") continue
            queue_depth++
            if (oldest_open_at === null || r.created_at < oldest_open_at) oldest_open_at = r.created_at
          }
          return { by_tier, by_status, by_kind, queue_depth, oldest_open_at }
        }),
      kpiFacts: (tenant, window) =>
        db.read(() => {
          const facts = { live_items: 0, used_tokens_sum: 0, used_items: 0, raised: 0, raised_resolved: 0, rejected: 0 }
          const itemRows = tenant === null ? items.values() : items.inScope(tenant)
          for (const i of itemRows) {
            if (i.status === "active" || i.status === "pending_review") facts.live_items++
            if (i.status === "active" && inWindow(i.last_used_at, window)) {
              facts.used_items++
              facts.used_tokens_sum += i.token_count
            }
            if (i.status === "rejected" && inWindow(i.expired_at, window)) facts.rejected++
          }
          const reviewRows = tenant === null ? reviews.values() : reviews.inScope(tenant)
          for (const r of reviewRows) {
            if (!inWindow(r.created_at, window)) continue
            facts.raised++
            if (r.status === "resolved" && r.resolved_at !== null && r.resolved_at <= window.to_ts)
              facts.raised_resolved++
          }
          return facts
        }),
      tenants: () =>
        db.read(() => {
          const out = new Set<string>()
          for (const i of items.values()) out.add(i.tenant_id)
          return [...out].sort() as Array<Ids.TenantId>
        }),
      remove: (tenant, uid) =>
        db.write(() => {
          const item = items.get(tenant, uid)
          if (item === undefined) return false
          items.delete(tenant, uid)
          searchTexts.delete(tenant, uid)
          itemOrder.remove(tenant, "", uid)
          byThread.remove(tenant, item.thread_id, uid)
          byKind.remove(tenant, item.kind, uid)
          const k = itemKey(item)
          if (k !== null) byKey.remove(tenant, k, uid)
          for (const id of linksByUid.get(tenant, uid) ?? []) {
            const l = links.get(tenant, id)
            if (l === undefined) continue
            links.delete(tenant, id)
            drop(linksByUid, tenant, l.from_uid === uid ? l.to_uid : l.from_uid, id)
          }
          linksByUid.delete(tenant, uid)
          const own = reviewByUid.get(tenant, uid)
          if (own !== undefined) {
            const r = reviews.get(tenant, own)
            if (r !== undefined) {
              if (r.status === "open") unindexOpen(tenant, r)
              reviewsByThread.remove(tenant, r.thread_id, own)
              drop(reviewsByItem, tenant, r.existing_uid, own)
            }
            reviews.delete(tenant, own)
            reviewKeys.delete(tenant, own)
            reviewByUid.delete(tenant, uid)
            drop(reviewsByItem, tenant, uid, own)
          }
          return true
        })
    }
    return service
  })
)

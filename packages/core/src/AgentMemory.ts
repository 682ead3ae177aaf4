/**
 * Agent memory under governance: facts an agent learned (a vendor's usual account, a job's
 * failure triage, a user's preference), kept with tiers, importance and bi-temporal validity.
 *
 * Memory never decides a contradiction alone and never loses a fact:
 * - a write with the same key and value as the fact in force reinforces it (no duplicate);
 * - a write with the same key and a different value is stored `pending_review` with a
 *   review-queue entry and a `contradicts` link; the fact in force stays until a person resolves
 *   the entry (`memory.review`), unless the host marked the source authoritative, in which case
 *   the old fact is superseded (status, validity end, `supersedes` link, audit);
 * - superseding and rejecting only set statuses and timestamps; only the tenant's own deletion
 *   ({@link AgentMemory} `remove`) removes an item.
 *
 * Times are epoch milliseconds. `valid_from` / `valid_to` say when a fact holds in the world
 * (half-open, `valid_to` null = open); `recorded_at` / `expired_at` say when we learned and
 * retired it; `accepted_at` is when it became the believed fact.
 */
import { Context, Effect, Option, Schema } from "effect"
import type { Actor } from "./Actor.js"
import { Conflict, type Forbidden, NotFound, type StorageError, type ValidationError } from "./Errors.js"
import { TenantId } from "./Ids.js"

// ---------------------------------------------------------------------------------------------
// Schemas

/** Storage tier: hot items are recent or important, archived ones stay readable. */
export const MemoryTier = Schema.Literal("hot", "warm", "archive")
/** Type of {@link MemoryTier}. */
export type MemoryTier = typeof MemoryTier.Type

/** Lifecycle of an item. Only `active` items are believed; `pending_review` ones wait for a person. */
export const MemoryStatus = Schema.Literal("active", "pending_review", "superseded", "rejected")
/** Type of {@link MemoryStatus}. */
export type MemoryStatus = typeof MemoryStatus.Type

/** How two items relate. `contradicts` and `supersedes` are made by governance only. */
export const LinkRelation = Schema.Literal("related_to", "derived_from", "contradicts", "supersedes")
/** Type of {@link LinkRelation}. */
export type LinkRelation = typeof LinkRelation.Type

/** A reviewer's decision on a contradiction. */
export const ReviewDecision = Schema.Literal("keep_existing", "accept_new", "keep_both", "reject_both")
/** Type of {@link ReviewDecision}. */
export type ReviewDecision = typeof ReviewDecision.Type

/** Status of a review-queue entry. */
export const ReviewStatus = Schema.Literal("open", "resolved")
/** Type of {@link ReviewStatus}. */
export type ReviewStatus = typeof ReviewStatus.Type

/** An item's kind: open (`fact`, `preference`, `failure`, `triage`, `note`, …), 1–64 characters. */
export const MemoryKind = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_.:-]{0,63}$/),
  Schema.annotations({ identifier: "MemoryKind", description: "lower-case kind, e.g. fact, preference, failure" })
)

/** The kind of items the failure lookup reads. */
export const FAILURE_KIND = "failure"

/** One memory item. Items are never deleted by governance: statuses and timestamps change. */
export class MemoryItem extends Schema.Class<MemoryItem>("MemoryItem")({
  uid: Schema.String,
  tenant_id: TenantId,
  /** The subject scope, e.g. `vendor:starbucks` or `job:nightly-etl`. */
  thread_id: Schema.String,
  /** The agent that learned it. */
  agent_id: Schema.String,
  kind: Schema.String,
  /** The structured key is (thread_id, subject, predicate); both null for a keyless note. */
  subject: Schema.NullOr(Schema.String),
  predicate: Schema.NullOr(Schema.String),
  /** JSON value, compared by canonical JSON. */
  value: Schema.Unknown,
  /** `Canonical.hashOf(value)` for keyed items, null for keyless ones. */
  value_hash: Schema.NullOr(Schema.String),
  content: Schema.String,
  /** Importance as written, 0..1 (tiering decays a derived value, never this one). */
  importance: Schema.Number,
  tier: MemoryTier,
  status: MemoryStatus,
  /** The actor whose write stored it. */
  source_actor: Schema.String,
  /** Provenance: `proposal:act_…`, `entry:…`, `execution:…`, … */
  source_ref: Schema.NullOr(Schema.String),
  /** Tokens the item stands for (what recalling it saves re-deriving). */
  token_count: Schema.Number,
  /** 1 on create, +1 for each write of the same value. */
  reinforced_count: Schema.Number,
  last_confirmed_at: Schema.Number,
  /** Last write or read (reads update it at most once an hour, see `AgentMemory.get`). */
  last_used_at: Schema.Number,
  valid_from: Schema.Number,
  valid_to: Schema.NullOr(Schema.Number),
  recorded_at: Schema.Number,
  expired_at: Schema.NullOr(Schema.Number),
  /** When it became the believed fact: recorded_at for a direct write, the resolution time for an accepted one, null if never. */
  accepted_at: Schema.NullOr(Schema.Number),
  version: Schema.Number
}) {}

/** A directed link between two items of a tenant. */
export class MemoryLink extends Schema.Class<MemoryLink>("MemoryLink")({
  tenant_id: TenantId,
  from_uid: Schema.String,
  to_uid: Schema.String,
  relation: LinkRelation,
  created_at: Schema.Number,
  created_by: Schema.String
}) {}

/** A review-queue entry: the pending item (`uid`) against the fact in force (`existing_uid`). */
export class ReviewEntry extends Schema.Class<ReviewEntry>("ReviewEntry")({
  id: Schema.String,
  tenant_id: TenantId,
  uid: Schema.String,
  existing_uid: Schema.String,
  thread_id: Schema.String,
  agent_id: Schema.String,
  reason: Schema.String,
  created_at: Schema.Number,
  status: ReviewStatus,
  decision: Schema.NullOr(ReviewDecision),
  /** The reviewer's note. */
  resolution: Schema.NullOr(Schema.String),
  resolved_by: Schema.NullOr(Schema.String),
  resolved_at: Schema.NullOr(Schema.Number),
  version: Schema.Number
}) {}

const Text = (max: number) => Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max))
const Millis = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** A link the writer asks for; `contradicts` and `supersedes` are governance's own. */
export const WriteLink = Schema.Struct({
  relation: Schema.Literal("related_to", "derived_from"),
  to_uid: Text(128)
})
/** Type of {@link WriteLink}. */
export type WriteLink = typeof WriteLink.Type

/** A write (also the HTTP body; the encoded side is JSON, unknown fields are refused). */
export const WriteInput = Schema.Struct({
  thread_id: Text(200),
  agent_id: Text(128),
  kind: MemoryKind,
  subject: Schema.optional(Text(200)),
  predicate: Schema.optional(Text(200)),
  value: Schema.optional(Schema.Unknown),
  content: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(65_536)), { default: () => "" }),
  importance: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.5 }),
  source_ref: Schema.optional(Text(200)),
  token_count: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.between(0, 10_000_000)), { default: () => 0 }),
  valid_from: Schema.optional(Millis),
  valid_to: Schema.optional(Millis),
  links: Schema.optional(Schema.Array(WriteLink).pipe(Schema.maxItems(50)))
}).annotations({ identifier: "MemoryWriteInput", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link WriteInput} (defaults applied). */
export type WriteInput = typeof WriteInput.Type
/** What callers pass: the encoded side (defaults optional). */
export type WriteInputEncoded = typeof WriteInput.Encoded

/** What a write did. */
export const WriteOutcome = Schema.Literal("created", "reinforced", "conflict", "superseded")
/** Type of {@link WriteOutcome}. */
export type WriteOutcome = typeof WriteOutcome.Type

/**
 * Result of a write: `created` (a new believed fact or a keyless item), `reinforced` (same
 * value: the active fact, or a pending item, counted again; `item` is that item), `conflict`
 * (stored `pending_review`; `existing` is the fact in force, `review` the queue entry),
 * `superseded` (authoritative source: `existing` is the old fact, now superseded).
 */
export const WriteResult = Schema.Struct({
  outcome: WriteOutcome,
  item: MemoryItem,
  existing: Schema.NullOr(MemoryItem),
  review: Schema.NullOr(ReviewEntry)
})
/** Type of {@link WriteResult}. */
export type WriteResult = typeof WriteResult.Type

/** A resolution (also the HTTP body). `valid_from`/`valid_to` scope the new fact for `keep_both`. */
export const ResolveInput = Schema.Struct({
  resolution: Schema.String.pipe(Schema.maxLength(4_000), Schema.filter((s) => s.trim().length > 0 || "a non-empty resolution note")),
  decision: Schema.optionalWith(ReviewDecision, { default: () => "keep_existing" as const }),
  valid_from: Schema.optional(Millis),
  valid_to: Schema.optional(Millis)
}).annotations({ identifier: "MemoryResolveInput", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link ResolveInput} (defaults applied). */
export type ResolveInput = typeof ResolveInput.Type
/** What callers pass: the encoded side. */
export type ResolveInputEncoded = typeof ResolveInput.Encoded

/** Result of a resolution: the drained entry and both items after the decision. */
export const ResolveResult = Schema.Struct({
  review: ReviewEntry,
  items: Schema.Array(MemoryItem)
})
/** Type of {@link ResolveResult}. */
export type ResolveResult = typeof ResolveResult.Type

/**
 * One item as a reader sees it: its links, the open review entry about it (its own when
 * pending, else the oldest naming it as the fact in force) and `conflicts_pending`, the number of
 * open entries on its key.
 */
export const ItemView = Schema.Struct({
  item: MemoryItem,
  links: Schema.Array(MemoryLink),
  pending_review: Schema.NullOr(ReviewEntry),
  conflicts_pending: Schema.Number
})
/** Type of {@link ItemView}. */
export type ItemView = typeof ItemView.Type

/** An open queue entry with both items (the conflicts listing). */
export const ConflictView = Schema.Struct({
  ...ReviewEntry.fields,
  item: MemoryItem,
  existing: Schema.NullOr(MemoryItem)
})
/** Type of {@link ConflictView}. */
export type ConflictView = typeof ConflictView.Type

/** A page of results with an opaque cursor for the next one (null at the end). */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly next_cursor: string | null
}

/** Schema of a {@link Page} of `item`. */
export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({ items: Schema.Array(item), next_cursor: Schema.NullOr(Schema.String) })

/** Counts of a tenant's memory (every item, whatever its status) and of its review queue. */
export const Stats = Schema.Struct({
  items: Schema.Number,
  by_tier: Schema.Struct({ hot: Schema.Number, warm: Schema.Number, archive: Schema.Number }),
  by_status: Schema.Struct({
    active: Schema.Number,
    pending_review: Schema.Number,
    superseded: Schema.Number,
    rejected: Schema.Number
  }),
  by_kind: Schema.Record({ key: Schema.String, value: Schema.Number }),
  queue_depth: Schema.Number,
  oldest_open_age_seconds: Schema.NullOr(Schema.Number)
})
/** Type of {@link Stats}. */
export type Stats = typeof Stats.Type

/** Items reachable from `root` along links (both directions), within the depth and size limits. */
export const Graph = Schema.Struct({
  root: Schema.String,
  nodes: Schema.Array(MemoryItem),
  edges: Schema.Array(MemoryLink),
  /** True when the size limit cut the traversal. */
  truncated: Schema.Boolean
})
/** Type of {@link Graph}. */
export type Graph = typeof Graph.Type

/** Two facts of one key, believed for overlapping valid periods with different values. */
export const OverlappingFacts = Schema.Struct({
  subject: Schema.String,
  predicate: Schema.String,
  uids: Schema.Tuple(Schema.String, Schema.String)
})
/** Type of {@link OverlappingFacts}. */
export type OverlappingFacts = typeof OverlappingFacts.Type

/**
 * The consistency of one thread over a recorded-time range `[from_ts, to_ts]`:
 * contradictions `raised` (queue entries created in the range), `resolved` (resolved in the
 * range) and `pending` (raised in the range, still open); supersede chains touching the range
 * (newest first); links of the thread's items whose other end no longer exists; and active or
 * superseded facts of one key whose valid periods overlap with different values (none, unless
 * storage was changed behind memory's back).
 */
export const ConsistencyReport = Schema.Struct({
  thread_id: Schema.String,
  from_ts: Schema.Number,
  to_ts: Schema.Number,
  contradictions: Schema.Struct({ raised: Schema.Number, resolved: Schema.Number, pending: Schema.Number }),
  supersede_chains: Schema.Array(Schema.Array(Schema.String)),
  missing_links: Schema.Array(MemoryLink),
  overlapping_facts: Schema.Array(OverlappingFacts)
})
/** Type of {@link ConsistencyReport}. */
export type ConsistencyReport = typeof ConsistencyReport.Type

/**
 * Memory KPIs over a window `[window_start_ts, window_end_ts]`:
 * - `memory_items_count`: live items (`active` or `pending_review`) now, every tier; superseded
 *   and rejected items are history, not memory in use;
 * - `memory_avg_tokens_saved`: mean `token_count` of the active items used (read or written,
 *   `last_used_at`) in the window, the tokens one recall saves; 0 when none was used;
 * - `memory_reconciliation_rate`: of the contradictions raised in the window (queue entries
 *   created), the share resolved by the window's end; null when none was raised;
 * - `memory_hallucination_incidents`: items a reviewer rejected as wrong in the window
 *   (status `rejected`, `expired_at` in the window: `keep_existing` rejects one, `reject_both` two).
 */
export const Kpis = Schema.Struct({
  memory_items_count: Schema.Number,
  memory_avg_tokens_saved: Schema.Number,
  memory_reconciliation_rate: Schema.NullOr(Schema.Number),
  memory_hallucination_incidents: Schema.Number,
  window_start_ts: Schema.Number,
  window_end_ts: Schema.Number
})
/** Type of {@link Kpis}. */
export type Kpis = typeof Kpis.Type

/** What a tiering run did: items examined, decayed (effective < stored importance), moved. */
export const TieringReport = Schema.Struct({
  enabled: Schema.Boolean,
  examined: Schema.Number,
  decayed: Schema.Number,
  to_warm: Schema.Number,
  to_archive: Schema.Number
})
/** Type of {@link TieringReport}. */
export type TieringReport = typeof TieringReport.Type

// ---------------------------------------------------------------------------------------------
// Queries

/** A structured key: one fact per key at any valid time. */
export interface MemoryKey {
  readonly thread_id: string
  readonly subject: string
  readonly predicate: string
}

/** Items of one thread. */
export interface ThreadQuery {
  readonly thread_id: string
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** What we believed at recorded time `recorded_at` about valid time `valid_at` (both default to now). */
export interface AsOfQuery extends MemoryKey {
  readonly recorded_at?: number | undefined
  readonly valid_at?: number | undefined
}

/** Search filters (all optional; `text` matches content, subject and predicate, case-insensitive). */
export interface SearchQuery {
  readonly thread_id?: string | undefined
  readonly kind?: string | undefined
  readonly text?: string | undefined
  readonly status?: MemoryStatus | undefined
  readonly tier?: MemoryTier | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** The open review queue, oldest first (`limit` default 50, at most 500). */
export interface ConflictsQuery {
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** Failure items (kind `failure`), of a job (`thread_id` `job:<job>` or subject `<job>`) or thread. */
export interface FailuresQuery {
  readonly job?: string | undefined
  readonly thread_id?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** Graph limits: `depth` default 2 (max 5), `limit` nodes default 100 (max 500). */
export interface GraphOptions {
  readonly depth?: number | undefined
  readonly limit?: number | undefined
}

/** A consistency report's scope. */
export interface ConsistencyQuery {
  readonly thread_id: string
  readonly from_ts: number
  readonly to_ts: number
}

/** A KPI window. */
export interface KpiWindow {
  readonly from_ts: number
  readonly to_ts: number
}

// ---------------------------------------------------------------------------------------------
// Errors

/** `not_found` for an item (`details.entity: "memory_item"`). */
export const itemNotFound = (uid: string): NotFound =>
  new NotFound({ message: `Memory item ${uid} not found`, details: { entity: "memory_item", uid } })

/** `not_found` for a review-queue entry of a uid (`details.entity: "memory_review"`). */
export const reviewNotFound = (uid: string): NotFound =>
  new NotFound({ message: `No review entry for memory item ${uid}`, details: { entity: "memory_review", uid } })

/** `memory.review.resolved` (409): the entry was already resolved, possibly by another reviewer just now. */
export const reviewResolved = (uid: string, resolvedBy: string | null): Conflict =>
  new Conflict({
    code: "memory.review.resolved",
    message: `The review of memory item ${uid} is already resolved`,
    details: { uid, resolved_by: resolvedBy }
  })

/** `memory.conflict` (409): a contradicting write while the review queue is disabled. */
export const memoryConflict = (key: MemoryKey, existingUid: string): Conflict =>
  new Conflict({
    code: "memory.conflict",
    message: `A different fact is in force for ${key.subject} ${key.predicate}; the review queue is disabled, so the write is refused`,
    details: { ...key, existing_uid: existingUid }
  })

/** `memory.validity_overlap` (409): keep_both would leave two facts valid at once. */
export const validityOverlap = (uid: string, otherUid: string): Conflict =>
  new Conflict({
    code: "memory.validity_overlap",
    message: `Keeping both would leave ${uid} and ${otherUid} valid for overlapping periods; scope the new fact with valid_from/valid_to`,
    details: { uid, other_uid: otherUid }
  })

/** `conflict.stale` (409): a row changed between read and write (optimistic concurrency). */
export const staleItem = (entity: "memory_item" | "memory_review", id: string): Conflict =>
  new Conflict({ code: "conflict.stale", message: `${entity} ${id} changed concurrently`, details: { entity, id } })

// ---------------------------------------------------------------------------------------------
// Storage port

/** Filter of {@link AgentMemoryStore} `listItems`, ordered by uid (creation order). */
export interface ItemQuery {
  readonly thread_id?: string | undefined
  readonly kind?: string | undefined
  readonly status?: MemoryStatus | undefined
  readonly tier?: MemoryTier | undefined
  /** Case-insensitive substring of content, subject or predicate. */
  readonly text?: string | undefined
  /** Failure lookup: thread `job:<job>` or subject `<job>`. */
  readonly job?: string | undefined
  /** Only uids strictly after this one. */
  readonly after?: string | undefined
  readonly limit: number
}

/** Aggregates behind {@link Stats}. */
export interface StatsFacts {
  readonly by_tier: Readonly<Record<string, number>>
  readonly by_status: Readonly<Record<string, number>>
  readonly by_kind: Readonly<Record<string, number>>
  readonly queue_depth: number
  readonly oldest_open_at: number | null
}

/** Aggregates behind {@link Kpis} for a window (see `AgentMemoryRules.kpisOf`). */
export interface KpiFacts {
  /** Items active or pending_review. */
  readonly live_items: number
  /** Sum and count of token_count of active items with last_used_at in the window. */
  readonly used_tokens_sum: number
  readonly used_items: number
  /** Queue entries created in the window, and how many of them are resolved by its end. */
  readonly raised: number
  readonly raised_resolved: number
  /** Items rejected (expired_at) in the window. */
  readonly rejected: number
}

/** Storage port of agent memory. Every method is scoped to one tenant unless it says otherwise. */
export class AgentMemoryStore extends Context.Tag("@airlock/core/AgentMemoryStore")<
  AgentMemoryStore,
  {
    /**
     * Serialises writers of one key until the surrounding transaction ends: a key-head row
     * locked `FOR UPDATE` on PostgreSQL, the single writer on SQLite and in memory.
     */
    readonly lockKey: (tenant: TenantId, key: MemoryKey) => Effect.Effect<void, StorageError>
    /** Inserts; `conflict.duplicate` when the uid is taken. */
    readonly insertItem: (item: MemoryItem) => Effect.Effect<void, Conflict | StorageError>
    /** Writes a new state if the stored version is `expectedVersion`; `conflict.stale` otherwise, `not_found` if missing. */
    readonly updateItem: (item: MemoryItem, expectedVersion: number) => Effect.Effect<void, Conflict | NotFound | StorageError>
    readonly getItem: (tenant: TenantId, uid: string) => Effect.Effect<Option.Option<MemoryItem>, StorageError>
    /** The items of those uids that exist (any order). */
    readonly getItems: (tenant: TenantId, uids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** Every item of a key, any status, by uid. */
    readonly itemsByKey: (tenant: TenantId, key: MemoryKey) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** A page of items by uid. */
    readonly listItems: (tenant: TenantId, query: ItemQuery) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** Sets `last_used_at` to `at` when it is older than `olderThan` (no version change: bookkeeping, not state). */
    readonly touch: (tenant: TenantId, uid: string, at: number, olderThan: number) => Effect.Effect<void, StorageError>
    /** Stores a link; the same (from, to, relation) twice is stored once. */
    readonly insertLink: (link: MemoryLink) => Effect.Effect<void, StorageError>
    /** Links with either end among `uids`. */
    readonly linksOf: (tenant: TenantId, uids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<MemoryLink>, StorageError>
    /** Stores a queue entry, with the key of its pending item (for {@link openReviewsForKey}). */
    readonly insertReview: (entry: ReviewEntry, key: MemoryKey) => Effect.Effect<void, Conflict | StorageError>
    /**
     * The queue entry of a pending uid; with `forUpdate` locked until the transaction ends
     * (row lock on PostgreSQL, the writer lock elsewhere).
     */
    readonly getReview: (
      tenant: TenantId,
      uid: string,
      options?: { readonly forUpdate?: boolean }
    ) => Effect.Effect<Option.Option<ReviewEntry>, StorageError>
    /** Writes a new state if the stored version is `expectedVersion`; `conflict.stale` otherwise. */
    readonly updateReview: (entry: ReviewEntry, expectedVersion: number) => Effect.Effect<void, Conflict | NotFound | StorageError>
    /** Open entries by id (oldest first), after an id. */
    readonly listOpenReviews: (
      tenant: TenantId,
      query: { readonly after?: string | undefined; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Open entries of one key, oldest first. */
    readonly openReviewsForKey: (tenant: TenantId, key: MemoryKey) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Entries (any status) whose pending or existing uid is `uid`, oldest first. */
    readonly reviewsOfItem: (tenant: TenantId, uid: string) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Entries (any status) of a thread, oldest first. */
    readonly reviewsOfThread: (tenant: TenantId, threadId: string) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    readonly stats: (tenant: TenantId) => Effect.Effect<StatsFacts, StorageError>
    /** KPI aggregates for one tenant, or every tenant when `tenant` is null. */
    readonly kpiFacts: (tenant: TenantId | null, window: KpiWindow) => Effect.Effect<KpiFacts, StorageError>
    /** Tenants that have memory items, by id. */
    readonly tenants: () => Effect.Effect<ReadonlyArray<TenantId>, StorageError>
    /**
     * The tenant's own deletion: removes the item, its links (both ends) and the queue entries
     * of which it is the pending item; false when it did not exist.
     */
    readonly remove: (tenant: TenantId, uid: string) => Effect.Effect<boolean, StorageError>
  }
>() {}

// ---------------------------------------------------------------------------------------------
// Service

/** Errors a reader can meet. */
export type ReadError = Forbidden | ValidationError | NotFound | StorageError
/** Errors a writer can meet. */
export type WriteError = Forbidden | ValidationError | NotFound | Conflict | StorageError

/** The operations of {@link AgentMemory}. Each checks RBAC and tenant scope itself. */
export interface AgentMemoryShape {
  /** Writes a fact (`memory.write`): create, reinforce, queue a conflict, or supersede (authoritative source). */
  readonly write: (tenant: TenantId, actor: Actor, input: WriteInputEncoded) => Effect.Effect<WriteResult, WriteError>
  /** One item with its links and pending review (`memory.read`); counts as a use. */
  readonly get: (tenant: TenantId, actor: Actor, uid: string) => Effect.Effect<ItemView, ReadError>
  /** Items of a thread by creation (`memory.read`). */
  readonly listThread: (tenant: TenantId, actor: Actor, query: ThreadQuery) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** What we believed at a recorded time about a valid time, for one key (`memory.read`). */
  readonly asOf: (tenant: TenantId, actor: Actor, query: AsOfQuery) => Effect.Effect<Option.Option<MemoryItem>, ReadError>
  /** Search by thread, kind, text, status, tier (`memory.read`). */
  readonly search: (tenant: TenantId, actor: Actor, query: SearchQuery) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** Open review entries, oldest first, with both items (`memory.read`). */
  readonly conflicts: (tenant: TenantId, actor: Actor, query: ConflictsQuery) => Effect.Effect<Page<ConflictView>, ReadError>
  /** Resolves the entry of a pending uid (`memory.review`), in one transaction. */
  readonly resolve: (
    tenant: TenantId,
    actor: Actor,
    uid: string,
    input: ResolveInputEncoded
  ) => Effect.Effect<ResolveResult, WriteError>
  /** Counts per tier, status, kind; queue depth and age (`memory.read`). */
  readonly stats: (tenant: TenantId, actor: Actor) => Effect.Effect<Stats, ReadError>
  /** Failure items, by job or thread (`memory.read`). */
  readonly failures: (tenant: TenantId, actor: Actor, query: FailuresQuery) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** Items linked to `uid`, breadth first (`memory.read`). */
  readonly graph: (tenant: TenantId, actor: Actor, uid: string, options?: GraphOptions) => Effect.Effect<Graph, ReadError>
  /** Consistency report of a thread over a recorded-time range (`memory.read`). */
  readonly consistency: (tenant: TenantId, actor: Actor, query: ConsistencyQuery) => Effect.Effect<ConsistencyReport, ReadError>
  /** KPIs of one tenant over a window (no actor: for `/metrics`). */
  readonly kpis: (tenant: TenantId, window: KpiWindow) => Effect.Effect<Kpis, ValidationError | StorageError>
  /** KPIs over every tenant (one aggregate query). */
  readonly kpisAll: (window: KpiWindow) => Effect.Effect<Kpis, ValidationError | StorageError>
  /**
   * Decays importance and moves stale items down the tiers (`memory.review` for a tenant;
   * `system.admin` for `"all"`). A reported no-op when tiers are disabled.
   */
  readonly runTiering: (tenant: TenantId | "all", actor: Actor) => Effect.Effect<TieringReport, Forbidden | StorageError>
  /** The tenant's own deletion of one item (`tenant.admin`), audited. */
  readonly remove: (tenant: TenantId, actor: Actor, uid: string) => Effect.Effect<void, Forbidden | NotFound | StorageError>
}

const notYet = (name: string) => () => Effect.dieMessage(`AgentMemory.${name}: not implemented yet`)

/** Governed agent memory over an {@link AgentMemoryStore}. */
export class AgentMemory extends Effect.Service<AgentMemory>()("@airlock/core/AgentMemory", {
  effect: Effect.sync((): AgentMemoryShape => ({
    write: notYet("write"),
    get: notYet("get"),
    listThread: notYet("listThread"),
    asOf: notYet("asOf"),
    search: notYet("search"),
    conflicts: notYet("conflicts"),
    resolve: notYet("resolve"),
    stats: notYet("stats"),
    failures: notYet("failures"),
    graph: notYet("graph"),
    consistency: notYet("consistency"),
    kpis: notYet("kpis"),
    kpisAll: notYet("kpisAll"),
    runTiering: notYet("runTiering"),
    remove: notYet("remove")
  }))
}) {}

/**
 * Agent memory under governance: facts an agent learned (a vendor's usual account, a job's
 * failure triage, a user's preference), kept with tiers, importance and bi-temporal validity.
 *
 * Memory never decides a contradiction alone and never loses a fact:
 * - a write with the same key and value as the facts in force over its period, within the
 *   matching fact's period, reinforces it (no duplicate);
 * - a write with the same key and a different value than any fact in force over its period (or
 *   the same value over a longer period) is stored `pending_review` with a review-queue entry
 *   and a `contradicts` link; the facts in force stay until a person resolves the entry
 *   (`memory.review`), unless the host marked the source authoritative, in which case the old
 *   facts are superseded (status, validity end, `supersedes` link, audit);
 * - superseding and rejecting only set statuses and timestamps; only the tenant's own deletion
 *   ({@link AgentMemory} `remove`) removes an item.
 *
 * Times are epoch milliseconds. `valid_from` / `valid_to` say when a fact holds in the world
 * (half-open, `valid_to` null = open); `recorded_at` / `expired_at` say when we learned and
 * retired it; `accepted_at` is when it became the believed fact.
 */
import { Clock, Context, Effect, Option, type ParseResult, Schema } from "effect"
import type { Actor } from "./Actor.js"
import { AgentMemoryConfig } from "./AgentMemoryConfig.js"
import * as Rules from "./AgentMemoryRules.js"
import { AuditLog } from "./Audit.js"
import { canonicalJson, sha256Hex } from "./Canonical.js"
import { Conflict, type Forbidden, NotFound, type StorageError, ValidationError } from "./Errors.js"
import { IdGenerator, TenantId } from "./Ids.js"
import { Rbac } from "./Rbac.js"
import * as TenantScope from "./TenantScope.js"
import * as Trusted from "./Trusted.js"
import { UnitOfWork } from "./UnitOfWork.js"

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
  Schema.maxLength(64),
  Schema.annotations({ identifier: "MemoryKind", description: "lower-case kind, e.g. fact, preference, failure" })
)

/** The kind of items the failure lookup reads. */
export const FAILURE_KIND = "failure"

/**
 * One earlier end of an item's valid period: `valid_to` held (as we believed it) until the
 * recorded time `replaced_at`, when governance changed it (a supersede or keep-both cut, a
 * keep-both scope). Kept so "what did we believe at T" answers the same whenever it is asked.
 */
export const ValidToChange = Schema.Struct({
  valid_to: Schema.NullOr(Schema.Number),
  replaced_at: Schema.Number
})
/** Type of {@link ValidToChange}. */
export type ValidToChange = typeof ValidToChange.Type

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
  /**
   * Every earlier `valid_to`, oldest first, with the recorded time it was replaced: the end as
   * believed at time T is that of the first entry replaced after T, else `valid_to`
   * (`AgentMemoryRules.validToAt`). Empty until governance changes the end.
   */
  valid_to_history: Schema.Array(ValidToChange),
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
  token_count: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.between(0, 10_000_000)), {
    default: () => 0
  }),
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
 * value, within the matching item's period, and no different value in force: the active fact,
 * or a pending item, counted again; `item` is that item), `conflict` (stored `pending_review`;
 * `existing` is the fact in force it contradicts — the differing one, or the same value held
 * for a shorter period — `review` the queue entry), `superseded` (authoritative source:
 * `existing` is the old fact, now superseded).
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
  resolution: Schema.String.pipe(
    Schema.maxLength(4_000),
    Schema.filter((s) => s.trim().length > 0 || "a non-empty resolution note")
  ),
  decision: Schema.optionalWith(ReviewDecision, { default: () => "keep_existing" as const }),
  valid_from: Schema.optional(Millis),
  valid_to: Schema.optional(Millis)
}).annotations({ identifier: "MemoryResolveInput", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link ResolveInput} (defaults applied). */
export type ResolveInput = typeof ResolveInput.Type
/** What callers pass: the encoded side. */
export type ResolveInputEncoded = typeof ResolveInput.Encoded

/**
 * Result of a resolution: the drained entry, both items after the decision, then any
 * continuation created (the part of a fact in force that outlasts a shorter new one).
 */
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

/**
 * An as-of read: the fact believed then for that time (none when nothing was), and
 * `conflicts_pending`, the number of open review entries on the key now, so a reader knows a
 * person has yet to decide a contradiction of what it is reading.
 */
export interface AsOfView {
  readonly item: Option.Option<MemoryItem>
  readonly conflicts_pending: number
}

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

/**
 * What a tiering run did: items examined; `decayed`, the items whose effective importance is
 * below their stored importance by at least 1 % of it (`AgentMemoryRules.isDecayed`: about ten
 * hours unused at the default 30-day half-life); items moved to warm and to archive.
 */
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
    message:
      `A different fact is in force for ${key.subject} ${key.predicate}; the review queue is disabled, so the write is refused`,
    details: { ...key, existing_uid: existingUid }
  })

/** `memory.validity_overlap` (409): keep_both would leave two facts valid at once. */
export const validityOverlap = (uid: string, otherUid: string): Conflict =>
  new Conflict({
    code: "memory.validity_overlap",
    message:
      `Keeping both would leave ${uid} and ${otherUid} valid for overlapping periods; scope the new fact with valid_from/valid_to`,
    details: { uid, other_uid: otherUid }
  })

/**
 * `memory.review.pending` (409): the tenant's removal of the fact open review entries contradict,
 * with no other fact in force to take their place: a person resolves them first, so no entry is
 * left naming a missing item.
 */
export const reviewPending = (uid: string, entryIds: ReadonlyArray<string>): Conflict =>
  new Conflict({
    code: "memory.review.pending",
    message: `Memory item ${uid} is the fact open review entries contradict (${
      entryIds.join(", ")
    }); resolve them before removing it`,
    details: { uid, review_ids: [...entryIds] }
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
  /**
   * Substring of content, subject or predicate, case-insensitive: the adapter matches
   * `AgentMemoryRules.normaliseSearch(text)` in the stored `AgentMemoryRules.searchTextOf(item)`.
   */
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
    /**
     * Inserts, with its search text (`AgentMemoryRules.searchTextOf`); `conflict.duplicate`
     * (`CorePorts.duplicateError("memory_item", uid)`) when the uid is taken.
     */
    readonly insertItem: (item: MemoryItem) => Effect.Effect<void, Conflict | StorageError>
    /**
     * Writes a new state (and its search text) if the stored version is `expectedVersion`;
     * `conflict.stale` otherwise, `not_found` if missing. Bookkeeping written beside versions
     * is never put back by a state read before it: `last_used_at` becomes the later of the
     * stored and the new one ({@link touch}), and the tier is written only with `tier: true`
     * (a change that sets it, as a reinforcement moving the item back to hot) — else the
     * stored tier ({@link setTier}) stays.
     */
    readonly updateItem: (
      item: MemoryItem,
      expectedVersion: number,
      options?: { readonly tier?: boolean }
    ) => Effect.Effect<void, Conflict | NotFound | StorageError>
    readonly getItem: (tenant: TenantId, uid: string) => Effect.Effect<Option.Option<MemoryItem>, StorageError>
    /**
     * The items of those uids that exist (any order). With `forShare` they stay locked against
     * removal until the transaction ends (a share row lock on PostgreSQL, the writer lock
     * elsewhere): a writer linking to them knows they still exist when the link commits.
     */
    readonly getItems: (
      tenant: TenantId,
      uids: ReadonlyArray<string>,
      options?: { readonly forShare?: boolean }
    ) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** Every item of a key, any status, by uid. */
    readonly itemsByKey: (tenant: TenantId, key: MemoryKey) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** A page of items by uid. */
    readonly listItems: (tenant: TenantId, query: ItemQuery) => Effect.Effect<ReadonlyArray<MemoryItem>, StorageError>
    /** Sets `last_used_at` to `at` when it is older than `olderThan` (no version change: bookkeeping, not state). */
    readonly touch: (tenant: TenantId, uid: string, at: number, olderThan: number) => Effect.Effect<void, StorageError>
    /**
     * Moves an item from tier `from` to `to` if it is still at `from` and was neither used nor
     * confirmed after `lastUse` (compare-and-set); true when it moved. No version change: a tier
     * is bookkeeping, so writers of the item never meet `conflict.stale` because of tiering.
     */
    readonly setTier: (
      tenant: TenantId,
      uid: string,
      from: MemoryTier,
      to: MemoryTier,
      lastUse: number
    ) => Effect.Effect<boolean, StorageError>
    /** Stores a link; the same (from, to, relation) twice is stored once. */
    readonly insertLink: (link: MemoryLink) => Effect.Effect<void, StorageError>
    /** Links with either end among `uids`. */
    readonly linksOf: (
      tenant: TenantId,
      uids: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<MemoryLink>, StorageError>
    /**
     * Stores a queue entry, with the key of its pending item (for {@link openReviewsForKey});
     * `conflict.duplicate` for its id taken (entity `memory_review`, the id) or its pending item
     * already queued (entity `memory_item_review`, the uid).
     */
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
    /**
     * Writes a new state (status, decision, note, reviewer, time, and `existing_uid` when the
     * entry is re-pointed to the fact now in force) if the stored version is `expectedVersion`;
     * `conflict.stale` otherwise, `not_found` (entity `memory_review`, the id) if there is none.
     */
    readonly updateReview: (
      entry: ReviewEntry,
      expectedVersion: number
    ) => Effect.Effect<void, Conflict | NotFound | StorageError>
    /** Open entries by id (oldest first), after an id. */
    readonly listOpenReviews: (
      tenant: TenantId,
      query: { readonly after?: string | undefined; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Open entries of one key, oldest first. */
    readonly openReviewsForKey: (
      tenant: TenantId,
      key: MemoryKey
    ) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Entries (any status) whose pending or existing uid is `uid`, oldest first. */
    readonly reviewsOfItem: (tenant: TenantId, uid: string) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
    /** Entries (any status) of a thread, oldest first. */
    readonly reviewsOfThread: (
      tenant: TenantId,
      threadId: string
    ) => Effect.Effect<ReadonlyArray<ReviewEntry>, StorageError>
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
  readonly listThread: (
    tenant: TenantId,
    actor: Actor,
    query: ThreadQuery
  ) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** What we believed at a recorded time about a valid time, for one key, and its open conflicts (`memory.read`). */
  readonly asOf: (
    tenant: TenantId,
    actor: Actor,
    query: AsOfQuery
  ) => Effect.Effect<AsOfView, ReadError>
  /** Search by thread, kind, text, status, tier (`memory.read`). */
  readonly search: (tenant: TenantId, actor: Actor, query: SearchQuery) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** Open review entries, oldest first, with both items (`memory.read`). */
  readonly conflicts: (
    tenant: TenantId,
    actor: Actor,
    query: ConflictsQuery
  ) => Effect.Effect<Page<ConflictView>, ReadError>
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
  readonly failures: (
    tenant: TenantId,
    actor: Actor,
    query: FailuresQuery
  ) => Effect.Effect<Page<MemoryItem>, ReadError>
  /** Items linked to `uid`, breadth first (`memory.read`). */
  readonly graph: (
    tenant: TenantId,
    actor: Actor,
    uid: string,
    options?: GraphOptions
  ) => Effect.Effect<Graph, ReadError>
  /** Consistency report of a thread over a recorded-time range (`memory.read`). */
  readonly consistency: (
    tenant: TenantId,
    actor: Actor,
    query: ConsistencyQuery
  ) => Effect.Effect<ConsistencyReport, ReadError>
  /** KPIs of one tenant over a window (no actor: for `/metrics`). */
  readonly kpis: (tenant: TenantId, window: KpiWindow) => Effect.Effect<Kpis, ValidationError | StorageError>
  /** KPIs of one tenant for a reader (`memory.read`, tenant scope). */
  readonly readKpis: (tenant: TenantId, actor: Actor, window: KpiWindow) => Effect.Effect<Kpis, ReadError>
  /** KPIs over every tenant (one aggregate query). */
  readonly kpisAll: (window: KpiWindow) => Effect.Effect<Kpis, ValidationError | StorageError>
  /**
   * Decays importance and moves stale items down the tiers (`memory.review` for a tenant;
   * `system.admin` for `"all"`). A reported no-op when tiers are disabled.
   */
  readonly runTiering: (
    tenant: TenantId | "all",
    actor: Actor
  ) => Effect.Effect<TieringReport, Forbidden | StorageError>
  /**
   * The tenant's own deletion of one item (`tenant.admin`), audited; refused (409
   * `memory.review.pending`) while open entries contradict it and no other fact takes its place.
   */
  readonly remove: (
    tenant: TenantId,
    actor: Actor,
    uid: string
  ) => Effect.Effect<void, Forbidden | NotFound | Conflict | StorageError>
}

/** How long a read waits before it records another use of an item (reads write at most hourly). */
export const TOUCH_INTERVAL_MS = 3_600_000

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new ValidationError(details ? { code, message, details } : { code, message })

const decodeWrite = Schema.decodeUnknown(WriteInput, { onExcessProperty: "error" })
const decodeResolve = Schema.decodeUnknown(ResolveInput, { onExcessProperty: "error" })
const schemaError = (e: ParseResult.ParseError) => invalid("validation.schema", e.message)

const MAX_VALUE_CHARS = 65_536
const TIERING_PAGE = 500

const keyOfItem = (item: MemoryItem): MemoryKey | null =>
  item.subject === null || item.predicate === null
    ? null
    : { thread_id: item.thread_id, subject: item.subject, predicate: item.predicate }

/**
 * The item's next version. A change of `valid_to` appends the previous end, replaced at `at`,
 * to `valid_to_history`: history is never rewritten in place.
 */
const next = (item: MemoryItem, change: Partial<MemoryItem>, at: number): MemoryItem =>
  Trusted.make(MemoryItem, {
    ...item,
    ...change,
    ...(change.valid_to !== undefined && change.valid_to !== item.valid_to
      ? { valid_to_history: Rules.replacedValidTo(item, at) }
      : {}),
    version: item.version + 1
  })

const emptyTiering = (enabled: boolean): TieringReport => ({
  enabled,
  examined: 0,
  decayed: 0,
  to_warm: 0,
  to_archive: 0
})

/** Governed agent memory over an {@link AgentMemoryStore}; config from {@link AgentMemoryConfig} (defaults without it). */
export class AgentMemory extends Effect.Service<AgentMemory>()("@airlock/core/AgentMemory", {
  effect: Effect.gen(function*() {
    const store = yield* AgentMemoryStore
    const audit = yield* AuditLog
    const uow = yield* UnitOfWork
    const ids = yield* IdGenerator
    const rbac = yield* Rbac
    const settings = yield* AgentMemoryConfig

    /** Tenant scope (core's one rule), then the permission. */
    const access = (tenant: TenantId, actor: Actor, permission: string): Effect.Effect<void, Forbidden> =>
      TenantScope.allows(rbac, actor, tenant)
        ? rbac.require(actor, permission)
        : Effect.fail(TenantScope.mismatch({ details: { actor_tenant: actor.tenant_id } }))

    const cursorOf = (cursor: string | undefined): Effect.Effect<string | undefined, ValidationError> => {
      if (cursor === undefined || cursor === "") return Effect.succeed(undefined)
      const position = Rules.decodeCursor(cursor)
      return position === null ? Effect.fail(invalid("validation.cursor", "Unknown cursor")) : Effect.succeed(position)
    }

    /** Reads `limit + 1` rows to know whether there is a next page. */
    const page = <A>(rows: ReadonlyArray<A>, limit: number, position: (a: A) => string): Page<A> =>
      rows.length > limit
        ? { items: rows.slice(0, limit), next_cursor: Rules.encodeCursor(position(rows[limit - 1]!)) }
        : { items: rows, next_cursor: null }

    const getOrFail = (tenant: TenantId, uid: string) =>
      Effect.flatMap(
        store.getItem(tenant, uid),
        Option.match({ onNone: () => Effect.fail(itemNotFound(uid)), onSome: Effect.succeed })
      )

    const record = (tenant: TenantId, actor: Actor, action: string, subject: string, data: unknown) =>
      Effect.asVoid(audit.append({ tenant_id: tenant, actor_id: actor.id, action, subject, data }))

    const link = (tenant: TenantId, actor: Actor, from: string, to: string, relation: LinkRelation, at: number) =>
      store.insertLink(
        Trusted.make(MemoryLink, {
          tenant_id: tenant,
          from_uid: from,
          to_uid: to,
          relation,
          created_at: at,
          created_by: actor.id
        })
      )

    const update = (before: MemoryItem, change: Partial<MemoryItem>, at: number) => {
      const after = next(before, change, at)
      return Effect.as(store.updateItem(after, before.version, { tier: change.tier !== undefined }), after)
    }

    /**
     * A continuation of `old` for `tail` (what is left of its period after a shorter fact): the
     * same key, value and content, active and accepted now, linked `derived_from` the original.
     */
    const continuation = (tenant: TenantId, actor: Actor, old: MemoryItem, tail: Rules.Validity, now: number) =>
      Effect.gen(function*() {
        const item = Trusted.make(MemoryItem, {
          ...old,
          uid: yield* ids.next("mem"),
          status: "active",
          source_actor: actor.id,
          valid_from: tail.valid_from,
          valid_to: tail.valid_to,
          valid_to_history: [],
          recorded_at: now,
          expired_at: null,
          accepted_at: now,
          version: 1
        })
        yield* store.insertItem(item)
        yield* link(tenant, actor, item.uid, old.uid, "derived_from", now)
        return item
      })

    /**
     * Supersedes `olds` by `by` (accepted now): statuses, validity cut where `by` starts (recorded
     * in `valid_to_history`), `supersedes` links; an old fact that outlasts `by` goes on in a
     * continuation from `by`'s end.
     */
    const supersedeAll = (
      tenant: TenantId,
      actor: Actor,
      olds: ReadonlyArray<MemoryItem>,
      by: MemoryItem,
      now: number
    ) =>
      Effect.gen(function*() {
        const superseded: Array<MemoryItem> = []
        const continued: Array<MemoryItem> = []
        for (const old of olds) {
          superseded.push(
            yield* update(
              old,
              { status: "superseded", valid_to: Rules.cutAt(old, by.valid_from), expired_at: now },
              now
            )
          )
          yield* link(tenant, actor, by.uid, old.uid, "supersedes", now)
          const tail = Rules.tailAfter(old, by.valid_to)
          if (tail !== null) continued.push(yield* continuation(tenant, actor, old, tail, now))
        }
        return { superseded, continued }
      })

    /**
     * After the facts in force on `key` changed (inside the key lock, in the same transaction):
     * each open entry whose `existing_uid` no longer names a fact in force (`Rules.inForce`)
     * overlapping its pending item is re-pointed to the one that does now (the earliest), with a
     * `contradicts` link, so a
     * later `keep_existing` keeps what is in force. An entry with nothing in force over its
     * period keeps its fact (a person still decides).
     */
    const repoint = (tenant: TenantId, actor: Actor, key: MemoryKey, now: number) =>
      Effect.gen(function*() {
        const open = yield* store.openReviewsForKey(tenant, key)
        if (open.length === 0) return []
        const items = yield* store.itemsByKey(tenant, key)
        const byUid = new Map(items.map((i) => [i.uid, i]))
        const moved: Array<{ readonly review_id: string; readonly from: string; readonly to: string }> = []
        for (const entry of open) {
          const pending = byUid.get(entry.uid)
          if (pending === undefined) continue
          const named = byUid.get(entry.existing_uid)
          if (named !== undefined && Rules.inForce(named) && Rules.overlaps(named, pending)) continue
          const target = Rules.inForceOverlapping(items, pending, pending.uid)
            .slice()
            .sort((a, b) => a.valid_from - b.valid_from || (a.uid < b.uid ? -1 : 1))[0]
          if (target === undefined) continue
          // every updater of an entry holds its key's lock, as we do: a changed entry cannot
          // happen, and would only mean someone else already re-pointed or resolved it
          const updated = yield* store.updateReview(
            Trusted.make(ReviewEntry, { ...entry, existing_uid: target.uid, version: entry.version + 1 }),
            entry.version
          ).pipe(
            Effect.as(true),
            Effect.catchIf((e): e is Conflict | NotFound => e._tag === "Conflict" || e._tag === "NotFound", () =>
              Effect.succeed(false))
          )
          if (!updated)
            continue
          yield* link(tenant, actor, pending.uid, target.uid, "contradicts", now)
          moved.push({ review_id: entry.id, from: entry.existing_uid, to: target.uid })
        }
        return moved
      })

    /**
     * The value's hash and the value as stored: its canonical JSON parsed back, so every adapter
     * stores and returns the same thing (bigints as strings, dates as ISO strings, undefined
     * members dropped, -0 as 0) and nothing aliases the caller's object.
     */
    const validateValue = (
      value: unknown
    ): Effect.Effect<{ readonly hash: string; readonly value: unknown }, ValidationError> =>
      Effect.suspend(() => {
        try {
          const json = canonicalJson(value ?? null)
          return json.length > MAX_VALUE_CHARS
            ? Effect.fail(
              invalid("validation.memory_value", `value is larger than ${MAX_VALUE_CHARS} characters of JSON`)
            )
            : Effect.succeed({ hash: sha256Hex(json), value: JSON.parse(json) as unknown })
        } catch (e) {
          return Effect.fail(invalid("validation.memory_value", `value is not JSON: ${(e as Error).message}`))
        }
      })

    const write = (tenant: TenantId, actor: Actor, raw: WriteInputEncoded): Effect.Effect<WriteResult, WriteError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.write")
        const input = yield* Effect.mapError(decodeWrite(raw), schemaError)
        if ((input.subject === undefined) !== (input.predicate === undefined)) {
          return yield* invalid("validation.memory_key", "subject and predicate are given together or not at all")
        }
        const key: MemoryKey | null = input.subject === undefined || input.predicate === undefined
          ? null
          : { thread_id: input.thread_id, subject: input.subject, predicate: input.predicate }
        const { hash, value } = yield* validateValue(input.value)
        const now = yield* Clock.currentTimeMillis
        const validity = { valid_from: input.valid_from ?? now, valid_to: input.valid_to ?? null }
        if (Rules.isEmpty(validity)) {
          return yield* invalid("validation.memory_validity", "valid_to must be after valid_from", { ...validity })
        }
        const authoritative = settings.authoritative(input.kind, actor)

        const fresh = (uid: string, status: MemoryStatus): MemoryItem =>
          Trusted.make(MemoryItem, {
            uid,
            tenant_id: tenant,
            thread_id: input.thread_id,
            agent_id: input.agent_id,
            kind: input.kind,
            subject: key?.subject ?? null,
            predicate: key?.predicate ?? null,
            value,
            value_hash: key === null ? null : hash,
            content: input.content,
            importance: input.importance,
            tier: "hot",
            status,
            source_actor: actor.id,
            source_ref: input.source_ref ?? null,
            token_count: input.token_count,
            reinforced_count: 1,
            last_confirmed_at: now,
            last_used_at: now,
            valid_from: validity.valid_from,
            valid_to: validity.valid_to,
            valid_to_history: [],
            recorded_at: now,
            expired_at: null,
            accepted_at: status === "active" ? now : null,
            version: 1
          })

        const addLinks = (from: string) =>
          Effect.gen(function*() {
            const wanted = input.links ?? []
            if (wanted.length === 0) return
            const targets = [...new Set(wanted.map((l) => l.to_uid))]
            // the targets stay locked until commit: a removal running beside this write either
            // finishes first (the target is missing here) or waits and then deletes the link too
            const found = new Set((yield* store.getItems(tenant, targets, { forShare: true })).map((i) => i.uid))
            const missing = targets.filter((t) => !found.has(t))
            if (missing.length > 0) {
              return yield* invalid("validation.memory_link", `Linked items not found: ${missing.join(", ")}`, {
                missing
              })
            }
            yield* Effect.forEach(wanted, (l) => link(tenant, actor, from, l.to_uid, l.relation, now), {
              discard: true
            })
          })

        const create = (status: MemoryStatus) =>
          Effect.gen(function*() {
            const item = fresh(yield* ids.next("mem"), status)
            yield* store.insertItem(item)
            yield* addLinks(item.uid)
            return item
          })

        const reinforce = (item: MemoryItem) =>
          Effect.gen(function*() {
            const after = yield* update(item, {
              reinforced_count: item.reinforced_count + 1,
              last_confirmed_at: now,
              last_used_at: now,
              tier: "hot"
            }, now)
            yield* addLinks(item.uid)
            yield* record(tenant, actor, "memory.reinforced", item.uid, {
              thread_id: item.thread_id,
              status: item.status,
              reinforced_count: after.reinforced_count,
              agent_id: input.agent_id,
              source_ref: input.source_ref ?? null
            })
            return after
          })

        return yield* uow.transaction(Effect.gen(function*() {
          if (key === null) {
            const item = yield* create("active")
            yield* record(tenant, actor, "memory.created", item.uid, {
              thread_id: item.thread_id,
              kind: item.kind,
              keyed: false
            })
            return { outcome: "created" as const, item, existing: null, review: null }
          }
          yield* store.lockKey(tenant, key)
          const items = yield* store.itemsByKey(tenant, key)
          // facts in force over the write's period: active ones, and superseded ones over the period they were cut to
          const inForce = Rules.inForceOverlapping(items, validity)
          if (inForce.length === 0) {
            const item = yield* create("active")
            // an open entry whose pending item had nothing in force over its period now has this
            const repointed = yield* repoint(tenant, actor, key, now)
            yield* record(tenant, actor, "memory.created", item.uid, { ...key, kind: item.kind, repointed })
            return { outcome: "created" as const, item, existing: null, review: null }
          }
          // a reinforcement only when nothing in force over the write's period differs and the
          // period lies within the matching fact's: a contradiction, or a longer period, is a
          // person's decision, never silently counted or dropped
          const differing = inForce.filter((i) => i.value_hash !== hash)
          const same = inForce.find((i) => i.value_hash === hash && Rules.contains(i, validity))
          if (differing.length === 0 && same)
            return { outcome: "reinforced" as const, item: yield* reinforce(same), existing: null, review: null }
          const existing = differing[0] ?? inForce[0]!
          if (authoritative) {
            const item = yield* create("active")
            const { continued, superseded } = yield* supersedeAll(tenant, actor, inForce, item, now)
            const repointed = yield* repoint(tenant, actor, key, now)
            yield* record(tenant, actor, "memory.superseded", item.uid, {
              ...key,
              kind: item.kind,
              superseded: superseded.map((o) => o.uid),
              continued: continued.map((c) => c.uid),
              repointed,
              valid_from: item.valid_from,
              authoritative: true
            })
            return { outcome: "superseded" as const, item, existing: superseded[0]!, review: null }
          }
          const pendingSame = items.find((i) =>
            i.status === "pending_review" && i.value_hash === hash && Rules.contains(i, validity)
          )
          if (pendingSame) {
            const item = yield* reinforce(pendingSame)
            const review = Option.getOrNull(yield* store.getReview(tenant, item.uid))
            return { outcome: "reinforced" as const, item, existing, review }
          }
          if (!settings.reviewQueueEnabled) return yield* memoryConflict(key, existing.uid)
          const item = yield* create("pending_review")
          const review = Trusted.make(ReviewEntry, {
            id: yield* ids.next("mrv"),
            tenant_id: tenant,
            uid: item.uid,
            existing_uid: existing.uid,
            thread_id: item.thread_id,
            agent_id: item.agent_id,
            reason: existing.value_hash === hash
              ? `validity_conflict: ${key.subject} ${key.predicate} has the same value in force (${existing.uid}) for a different validity period`
              : `value_conflict: ${key.subject} ${key.predicate} has a different value in force (${existing.uid})`,
            created_at: now,
            status: "open",
            decision: null,
            resolution: null,
            resolved_by: null,
            resolved_at: null,
            version: 1
          })
          yield* store.insertReview(review, key)
          yield* link(tenant, actor, item.uid, existing.uid, "contradicts", now)
          yield* record(tenant, actor, "memory.conflict_raised", item.uid, {
            ...key,
            existing_uid: existing.uid,
            review_id: review.id,
            agent_id: item.agent_id
          })
          return { outcome: "conflict" as const, item, existing, review }
        }))
      })

    const get = (tenant: TenantId, actor: Actor, uid: string): Effect.Effect<ItemView, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        let item = yield* getOrFail(tenant, uid)
        const links = yield* store.linksOf(tenant, [uid])
        const open = (yield* store.reviewsOfItem(tenant, uid)).filter((r) => r.status === "open")
        const key = keyOfItem(item)
        const conflicts = key === null ? 0 : (yield* store.openReviewsForKey(tenant, key)).length
        const now = yield* Clock.currentTimeMillis
        // a read is a use (tiering decays unused items), recorded at most once an hour per item
        if (now - item.last_used_at >= TOUCH_INTERVAL_MS) {
          yield* store.touch(tenant, uid, now, now - TOUCH_INTERVAL_MS + 1)
          item = Trusted.make(MemoryItem, { ...item, last_used_at: now })
        }
        return {
          item,
          links,
          pending_review: open.find((r) => r.uid === uid) ?? open.find((r) => r.existing_uid === uid) ?? null,
          conflicts_pending: conflicts
        }
      })

    const listItems = (
      tenant: TenantId,
      actor: Actor,
      query: Omit<ItemQuery, "after" | "limit"> & {
        readonly limit?: number | undefined
        readonly cursor?: string | undefined
      }
    ): Effect.Effect<Page<MemoryItem>, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        const after = yield* cursorOf(query.cursor)
        const limit = Rules.clampLimit(query.limit, 50, 500)
        const rows = yield* store.listItems(tenant, {
          thread_id: query.thread_id,
          kind: query.kind,
          status: query.status,
          tier: query.tier,
          text: query.text === undefined || query.text === "" ? undefined : query.text,
          job: query.job,
          after,
          limit: limit + 1
        })
        return page(rows, limit, (i) => i.uid)
      })

    const asOf = (
      tenant: TenantId,
      actor: Actor,
      query: AsOfQuery
    ): Effect.Effect<AsOfView, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        const now = yield* Clock.currentTimeMillis
        const key = { thread_id: query.thread_id, subject: query.subject, predicate: query.predicate }
        const items = yield* store.itemsByKey(tenant, key)
        const open = yield* store.openReviewsForKey(tenant, key)
        return {
          item: Option.fromNullable(Rules.selectAsOf(items, query.recorded_at ?? now, query.valid_at ?? now)),
          conflicts_pending: open.length
        }
      })

    const conflicts = (
      tenant: TenantId,
      actor: Actor,
      query: ConflictsQuery
    ): Effect.Effect<Page<ConflictView>, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        const after = yield* cursorOf(query.cursor)
        const limit = Rules.clampLimit(query.limit, 50, 500)
        const rows = yield* store.listOpenReviews(tenant, { after, limit: limit + 1 })
        const shown = rows.slice(0, limit)
        const items = new Map(
          (yield* store.getItems(tenant, [...new Set(shown.flatMap((r) => [r.uid, r.existing_uid]))])).map((
            i
          ) => [i.uid, i])
        )
        const views: Array<ConflictView> = []
        for (const r of shown) {
          const item = items.get(r.uid)
          if (item === undefined) continue
          views.push({ ...r, item, existing: items.get(r.existing_uid) ?? null })
        }
        return { items: views, next_cursor: rows.length > limit ? Rules.encodeCursor(shown[limit - 1]!.id) : null }
      })

    const resolve = (
      tenant: TenantId,
      actor: Actor,
      uid: string,
      raw: ResolveInputEncoded
    ): Effect.Effect<ResolveResult, WriteError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.review")
        const input = yield* Effect.mapError(decodeResolve(raw), schemaError)
        const now = yield* Clock.currentTimeMillis
        return yield* uow.transaction(Effect.gen(function*() {
          const first = yield* store.getItem(tenant, uid)
          if (Option.isNone(first)) return yield* reviewNotFound(uid)
          const key = keyOfItem(first.value)
          // the key first, as writers take it: no lock-order inversion against a write of this key
          if (key !== null) yield* store.lockKey(tenant, key)
          const entry = yield* Effect.flatMap(
            store.getReview(tenant, uid, { forUpdate: true }),
            Option.match({ onNone: () => Effect.fail(reviewNotFound(uid)), onSome: Effect.succeed })
          )
          if (entry.status !== "open") return yield* reviewResolved(uid, entry.resolved_by)
          const item = yield* getOrFail(tenant, uid)
          if (item.status !== "pending_review") return yield* reviewResolved(uid, entry.resolved_by)
          const existing = Option.getOrNull(yield* store.getItem(tenant, entry.existing_uid))
          const keyed = key === null ? [] : yield* store.itemsByKey(tenant, key)
          const after: Array<MemoryItem> = []
          // continuations of facts a shorter one interrupted, listed after both items
          const continued: Array<MemoryItem> = []
          switch (input.decision) {
            case "keep_existing": {
              after.push(yield* update(item, { status: "rejected", expired_at: now }, now))
              if (existing) after.push(existing)
              break
            }
            case "reject_both": {
              after.push(yield* update(item, { status: "rejected", expired_at: now }, now))
              if (existing)
                after.push(
                  Rules.inForce(existing)
                    ? yield* update(existing, { status: "rejected", expired_at: now }, now)
                    : existing
                )
              break
            }
            case "accept_new": {
              const accepted = yield* update(item, { status: "active", accepted_at: now }, now)
              const olds = yield* supersedeAll(
                tenant,
                actor,
                Rules.inForceOverlapping(keyed, item, item.uid),
                accepted,
                now
              )
              continued.push(...olds.continued)
              after.push(accepted)
              const old = olds.superseded.find((o) => o.uid === entry.existing_uid)
              if (old) after.push(old)
              else if (existing) after.push(existing)
              break
            }
            case "keep_both": {
              const scoped = {
                valid_from: input.valid_from ?? item.valid_from,
                valid_to: input.valid_to !== undefined ? input.valid_to : item.valid_to
              }
              if (Rules.isEmpty(scoped)) {
                return yield* invalid("validation.memory_validity", "valid_to must be after valid_from", { ...scoped })
              }
              // the fact in force ends where the new one starts, when the new one starts later
              const cut = existing !== null && Rules.inForce(existing) && Rules.overlaps(existing, scoped) &&
                  scoped.valid_from > existing.valid_from
                ? { ...existing, valid_to: Rules.cutAt(existing, scoped.valid_from) }
                : existing
              const others = keyed.map((i) => (cut !== null && i.uid === cut.uid ? cut : i))
              const clash = Rules.inForceOverlapping(others, scoped, item.uid)
              if (clash.length > 0) return yield* validityOverlap(item.uid, clash[0]!.uid)
              after.push(yield* update(item, { status: "active", accepted_at: now, ...scoped }, now))
              if (existing && cut && cut.valid_to !== existing.valid_to) {
                after.push(yield* update(existing, { valid_to: cut.valid_to }, now))
                // the part of the fact in force after the new one ends goes on in a continuation
                const tail = Rules.tailAfter(existing, scoped.valid_to)
                if (tail !== null) continued.push(yield* continuation(tenant, actor, existing, tail, now))
              } else if (existing) {
                after.push(existing)
              }
              break
            }
          }
          const resolved = Trusted.make(ReviewEntry, {
            ...entry,
            status: "resolved",
            decision: input.decision,
            resolution: input.resolution,
            resolved_by: actor.id,
            resolved_at: now,
            version: entry.version + 1
          })
          yield* Effect.catchIf(
            store.updateReview(resolved, entry.version),
            (e): e is Conflict => e._tag === "Conflict",
            () => Effect.fail(reviewResolved(uid, null))
          )
          // the other open entries of the key name the fact in force now
          const repointed = key === null ? [] : yield* repoint(tenant, actor, key, now)
          yield* record(tenant, actor, "memory.review.resolved", uid, {
            review_id: entry.id,
            decision: input.decision,
            resolution: input.resolution,
            existing_uid: entry.existing_uid,
            statuses: Object.fromEntries(after.map((i) => [i.uid, i.status])),
            continued: continued.map((c) => ({ uid: c.uid, valid_from: c.valid_from, valid_to: c.valid_to })),
            repointed
          })
          return { review: resolved, items: [...after, ...continued] }
        }))
      })

    const stats = (tenant: TenantId, actor: Actor): Effect.Effect<Stats, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        const facts = yield* store.stats(tenant)
        const now = yield* Clock.currentTimeMillis
        const count = (r: Readonly<Record<string, number>>, k: string) => r[k] ?? 0
        const by_status = {
          active: count(facts.by_status, "active"),
          pending_review: count(facts.by_status, "pending_review"),
          superseded: count(facts.by_status, "superseded"),
          rejected: count(facts.by_status, "rejected")
        }
        return {
          items: by_status.active + by_status.pending_review + by_status.superseded + by_status.rejected,
          by_tier: {
            hot: count(facts.by_tier, "hot"),
            warm: count(facts.by_tier, "warm"),
            archive: count(facts.by_tier, "archive")
          },
          by_status,
          by_kind: { ...facts.by_kind },
          queue_depth: facts.queue_depth,
          oldest_open_age_seconds: facts.oldest_open_at === null
            ? null
            : Math.max(0, Math.floor((now - facts.oldest_open_at) / 1000))
        }
      })

    const graph = (
      tenant: TenantId,
      actor: Actor,
      uid: string,
      options: GraphOptions = {}
    ): Effect.Effect<Graph, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        const depth = Math.min(Math.max(Math.floor(options.depth ?? 2), 0), 5)
        const limit = Rules.clampLimit(options.limit, 100, 500)
        const root = yield* getOrFail(tenant, uid)
        const nodes = new Map<string, MemoryItem>([[root.uid, root]])
        const edges = new Map<string, MemoryLink>()
        let frontier = [root.uid]
        let truncated = false
        for (let d = 0; d < depth && frontier.length > 0 && !truncated; d++) {
          const links = yield* store.linksOf(tenant, frontier)
          const around = new Set<string>()
          for (const l of links) {
            edges.set(`${l.from_uid}\u0000${l.to_uid}\u0000${l.relation}`, l)
            if (!nodes.has(l.from_uid)) around.add(l.from_uid)
            if (!nodes.has(l.to_uid)) around.add(l.to_uid)
          }
          const found = (yield* store.getItems(tenant, [...around])).slice().sort((a, b) => (a.uid < b.uid ? -1 : 1))
          frontier = []
          for (const item of found) {
            if (nodes.size >= limit) {
              truncated = true
              break
            }
            nodes.set(item.uid, item)
            frontier.push(item.uid)
          }
        }
        return {
          root: root.uid,
          nodes: [...nodes.values()],
          edges: [...edges.values()].filter((l) => nodes.has(l.from_uid) && nodes.has(l.to_uid)),
          truncated
        }
      })

    const consistency = (
      tenant: TenantId,
      actor: Actor,
      query: ConsistencyQuery
    ): Effect.Effect<ConsistencyReport, ReadError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "memory.read")
        if (!(Number.isFinite(query.from_ts) && Number.isFinite(query.to_ts)) || query.from_ts > query.to_ts) {
          return yield* invalid("validation.time_range", "from_ts must not be after to_ts", { ...query })
        }
        const items: Array<MemoryItem> = []
        let after: string | undefined
        while (true) {
          const rows = yield* store.listItems(tenant, { thread_id: query.thread_id, after, limit: 1000 })
          items.push(...rows)
          if (rows.length < 1000) break
          after = rows[rows.length - 1]!.uid
        }
        const links = yield* store.linksOf(tenant, items.map((i) => i.uid))
        const known = new Set(items.map((i) => i.uid))
        const outside = [...new Set(links.flatMap((l) => [l.from_uid, l.to_uid]).filter((u) => !known.has(u)))]
        for (const i of yield* store.getItems(tenant, outside)) known.add(i.uid)
        const reviews = yield* store.reviewsOfThread(tenant, query.thread_id)
        return Rules.consistencyOf({ ...query, items, links, reviews, exists: (u) => known.has(u) })
      })

    // whole milliseconds only: a fractional bound is refused here, never passed to a BIGINT comparison
    const window = (w: KpiWindow) =>
      Number.isSafeInteger(w.from_ts) && Number.isSafeInteger(w.to_ts) && w.from_ts <= w.to_ts
        ? Effect.succeed(w)
        : Effect.fail(
          invalid("validation.time_range", "from_ts and to_ts are whole milliseconds, from_ts not after to_ts", {
            ...w
          })
        )

    const kpis = (tenant: TenantId, w: KpiWindow) =>
      Effect.flatMap(window(w), (w) => Effect.map(store.kpiFacts(tenant, w), (facts) => Rules.kpisOf(facts, w)))

    const kpisAll = (w: KpiWindow) =>
      Effect.flatMap(window(w), (w) => Effect.map(store.kpiFacts(null, w), (facts) => Rules.kpisOf(facts, w)))

    const tierTenant = (tenant: TenantId, actor: Actor, now: number) =>
      Effect.gen(function*() {
        let examined = 0
        let decayed = 0
        let toWarm = 0
        let toArchive = 0
        let after: string | undefined
        while (true) {
          const rows = yield* store.listItems(tenant, { after, limit: TIERING_PAGE })
          const moves: Array<readonly [MemoryItem, MemoryTier]> = []
          for (const item of rows) {
            examined++
            const d = Rules.decideTier(item, now, settings)
            if (d.decayed) decayed++
            if (d.tier !== item.tier) moves.push([item, d.tier])
          }
          if (moves.length > 0) {
            // Tier moves are bookkeeping (like `touch`): a compare-and-set per item, outside any
            // transaction and without the key lock or a version change, so tiering never holds
            // one row while waiting for another and writers never see it. An item used, confirmed
            // or moved meanwhile keeps its tier. One audit record per batch lists the moves.
            const done: Array<readonly [string, MemoryTier]> = []
            for (const [item, tier] of moves) {
              if (yield* store.setTier(tenant, item.uid, item.tier, tier, Rules.lastUseOf(item))) {
                done.push([item.uid, tier])
              }
            }
            const warm = done.filter(([, t]) => t === "warm").map(([u]) => u)
            const archive = done.filter(([, t]) => t === "archive").map(([u]) => u)
            if (done.length > 0) {
              yield* record(tenant, actor, "memory.tiered", tenant, { to_warm: warm, to_archive: archive, at: now })
            }
            toWarm += warm.length
            toArchive += archive.length
          }
          if (rows.length < TIERING_PAGE) break
          after = rows[rows.length - 1]!.uid
        }
        return { examined, decayed, to_warm: toWarm, to_archive: toArchive }
      })

    const runTiering = (
      tenant: TenantId | "all",
      actor: Actor
    ): Effect.Effect<TieringReport, Forbidden | StorageError> =>
      Effect.gen(function*() {
        if (tenant === "all") yield* rbac.require(actor, "system.admin")
        else yield* access(tenant, actor, "memory.review")
        if (!settings.tiersEnabled) return emptyTiering(false)
        const now = yield* Clock.currentTimeMillis
        const tenants = tenant === "all" ? yield* store.tenants() : [tenant]
        const total = { ...emptyTiering(true) }
        for (const t of tenants) {
          const r = yield* tierTenant(t, actor, now)
          total.examined += r.examined
          total.decayed += r.decayed
          total.to_warm += r.to_warm
          total.to_archive += r.to_archive
        }
        return total
      })

    const remove = (
      tenant: TenantId,
      actor: Actor,
      uid: string
    ): Effect.Effect<void, Forbidden | NotFound | Conflict | StorageError> =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "tenant.admin")
        const now = yield* Clock.currentTimeMillis
        yield* uow.transaction(Effect.gen(function*() {
          const found = yield* getOrFail(tenant, uid)
          const key = keyOfItem(found)
          if (key !== null) yield* store.lockKey(tenant, key)
          const item = key === null ? found : yield* getOrFail(tenant, uid)
          yield* store.remove(tenant, uid)
          // removing the fact in force changes what the key's open entries contradict
          const repointed = key === null ? [] : yield* repoint(tenant, actor, key, now)
          if (key !== null) {
            // an open entry still naming the removed fact had nothing else in force to follow:
            // it would name a missing item, so the removal waits for a person (rolled back)
            const stranded = (yield* store.openReviewsForKey(tenant, key)).filter((e) => e.existing_uid === uid)
            if (stranded.length > 0) return yield* reviewPending(uid, stranded.map((e) => e.id))
          }
          yield* record(tenant, actor, "memory.removed", uid, {
            thread_id: item.thread_id,
            kind: item.kind,
            status: item.status,
            subject: item.subject,
            predicate: item.predicate,
            repointed
          })
        }))
      })

    return {
      write,
      get,
      listThread: (tenant, actor, query) =>
        listItems(tenant, actor, { thread_id: query.thread_id, limit: query.limit, cursor: query.cursor }),
      asOf,
      search: (tenant, actor, query) => listItems(tenant, actor, query),
      conflicts,
      resolve,
      stats,
      failures: (tenant, actor, query) =>
        listItems(tenant, actor, {
          kind: FAILURE_KIND,
          job: query.job,
          thread_id: query.thread_id,
          limit: query.limit,
          cursor: query.cursor
        }),
      graph,
      consistency,
      kpis,
      readKpis: (tenant, actor, w) => Effect.zipRight(access(tenant, actor, "memory.read"), kpis(tenant, w)),
      kpisAll,
      runTiering,
      remove
    } satisfies AgentMemoryShape
  })
}) {}

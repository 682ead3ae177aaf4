/**
 * Contract of the memory group: core's governed agent memory over HTTP — writes, reads (by uid,
 * thread, key "as of" a time, search), the human conflict-review queue and its resolution, stats,
 * failures, the link graph, consistency reports, KPIs, on-demand tiering and the tenant's own
 * deletion. Tenant-scoped; `AgentMemory` checks permissions (`memory.read`, `memory.write`,
 * `memory.review`, `tenant.admin`). Times are ISO 8601 strings, like every other group; the
 * runbook's `from_ts` / `to_ts` query parameters also take epoch seconds.
 */
import { AgentMemory } from "@airlock/core"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { ParseResult, Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { Cursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const NullTime = Schema.NullOr(Timestamp)

/** One memory item (see core's `AgentMemory.MemoryItem`). */
export const Item = Schema.Struct({
  uid: Schema.String,
  tenant_id: Schema.String,
  thread_id: Schema.String,
  agent_id: Schema.String,
  kind: Schema.String,
  subject: Schema.NullOr(Schema.String),
  predicate: Schema.NullOr(Schema.String),
  value: Schema.Unknown,
  content: Schema.String,
  importance: Schema.Number,
  tier: AgentMemory.MemoryTier,
  status: AgentMemory.MemoryStatus,
  source_actor: Schema.String,
  source_ref: Schema.NullOr(Schema.String),
  token_count: Schema.Number,
  reinforced_count: Schema.Number,
  last_confirmed_at: Timestamp,
  last_used_at: Timestamp,
  valid_from: Timestamp,
  valid_to: NullTime,
  /** Earlier ends of the valid period, oldest first, each with the time it was replaced. */
  valid_to_history: Schema.Array(
    Schema.Struct({ valid_to: NullTime, replaced_at: Timestamp }).annotations({ identifier: "MemoryValidToChange" })
  ),
  recorded_at: Timestamp,
  expired_at: NullTime,
  accepted_at: NullTime,
  version: Schema.Number
}).annotations({ identifier: "MemoryItem" })

/** A link between two items. */
export const Link = Schema.Struct({
  from_uid: Schema.String,
  to_uid: Schema.String,
  relation: AgentMemory.LinkRelation,
  created_at: Timestamp,
  created_by: Schema.String
}).annotations({ identifier: "MemoryLink" })

/** A review-queue entry: the pending item (`uid`) against the fact in force (`existing_uid`). */
export const ReviewEntry = Schema.Struct({
  id: Schema.String,
  uid: Schema.String,
  existing_uid: Schema.String,
  thread_id: Schema.String,
  agent_id: Schema.String,
  reason: Schema.String,
  status: AgentMemory.ReviewStatus,
  decision: Schema.NullOr(AgentMemory.ReviewDecision),
  resolution: Schema.NullOr(Schema.String),
  resolved_by: Schema.NullOr(Schema.String),
  created_at: Timestamp,
  resolved_at: NullTime
}).annotations({ identifier: "MemoryReviewEntry" })

/** An open conflict with both items. */
export const Conflict = Schema.Struct({
  ...ReviewEntry.fields,
  item: Item,
  existing: Schema.NullOr(Item)
}).annotations({ identifier: "MemoryConflict" })

/** A page with an opaque cursor for the next one (null at the end). */
const PageOf = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.Struct({ items: Schema.Array(item), next_cursor: Schema.NullOr(Schema.String) })

/** A page of items. */
export const ItemPage = PageOf(Item).annotations({ identifier: "MemoryItemPage" })
/** A page of open conflicts, oldest first. */
export const ConflictPage = PageOf(Conflict).annotations({ identifier: "MemoryConflictPage" })

/** One item as a reader sees it: links, its open review, and how many conflicts wait on its key. */
export const ItemView = Schema.Struct({
  item: Item,
  links: Schema.Array(Link),
  pending_review: Schema.NullOr(ReviewEntry),
  conflicts_pending: Schema.Number
}).annotations({ identifier: "MemoryItemView" })

/** What a write did; `reinforced` answers 200, the other outcomes 201. */
export const WriteCreated = Schema.Struct({
  outcome: Schema.Literal("created", "conflict", "superseded"),
  item: Item,
  existing: Schema.NullOr(Item),
  review: Schema.NullOr(ReviewEntry)
}).annotations({ identifier: "MemoryWriteCreated" })

/** A write of the value already held: the item counted again, nothing new stored (200). */
export const WriteReinforced = Schema.Struct({
  outcome: Schema.Literal("reinforced"),
  item: Item,
  existing: Schema.NullOr(Item),
  review: Schema.NullOr(ReviewEntry)
}).annotations({ identifier: "MemoryWriteReinforced" })

const {
  content: _content,
  importance: _importance,
  token_count: _tokens,
  valid_from: _from,
  valid_to: _to,
  ...writeFields
} = AgentMemory.WriteInput.fields

/**
 * A write: core's `AgentMemory.WriteInput` as sent (its defaults — empty content, importance
 * 0.5, no tokens, valid from now — and its bounds are applied by `AgentMemory.write`), with the
 * validity as ISO times.
 */
export const WriteBody = strictBody({
  ...writeFields,
  content: Schema.optional(Schema.String.pipe(Schema.maxLength(65_536))),
  importance: Schema.optional(Schema.Number),
  token_count: Schema.optional(Schema.Number),
  valid_from: Schema.optional(Timestamp),
  valid_to: Schema.optional(Timestamp)
}).annotations({ identifier: "MemoryWrite" })

/**
 * A resolution: the reviewer's note (`resolution`, required) and the `decision` (default
 * `keep_existing`: the fact in force stays, the new one is rejected); `valid_from` / `valid_to`
 * scope the new fact when both are kept.
 */
export const ResolveBody = strictBody({
  resolution: Schema.String.pipe(Schema.maxLength(4_000)),
  decision: Schema.optional(AgentMemory.ReviewDecision),
  valid_from: Schema.optional(Timestamp),
  valid_to: Schema.optional(Timestamp)
}).annotations({ identifier: "MemoryResolve" })

/** A resolution's outcome: the drained entry and both items after the decision. */
export const ResolveResult = Schema.Struct({ review: ReviewEntry, items: Schema.Array(Item) }).annotations({
  identifier: "MemoryResolveResult"
})

/** Counts per tier, status and kind; the review queue's depth and the age of its oldest entry. */
export const Stats = Schema.Struct({
  items: Schema.Number,
  by_tier: AgentMemory.Stats.fields.by_tier,
  by_status: AgentMemory.Stats.fields.by_status,
  by_kind: AgentMemory.Stats.fields.by_kind,
  queue_depth: Schema.Number,
  oldest_open_age_seconds: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "MemoryStats" })

/** Items reachable from `root` along links. */
export const Graph = Schema.Struct({
  root: Schema.String,
  nodes: Schema.Array(Item),
  edges: Schema.Array(Link),
  truncated: Schema.Boolean
}).annotations({ identifier: "MemoryGraph" })

/** The consistency of one thread over a recorded-time range. */
export const ConsistencyReport = Schema.Struct({
  thread_id: Schema.String,
  from_ts: Timestamp,
  to_ts: Timestamp,
  contradictions: AgentMemory.ConsistencyReport.fields.contradictions,
  supersede_chains: Schema.Array(Schema.Array(Schema.String)),
  missing_links: Schema.Array(Link),
  overlapping_facts: Schema.Array(AgentMemory.OverlappingFacts)
}).annotations({ identifier: "MemoryConsistencyReport" })

/** The memory KPIs over a window (definitions on core's `AgentMemory.Kpis`). */
export const Kpis = Schema.Struct({
  memory_items_count: Schema.Number,
  memory_avg_tokens_saved: Schema.Number,
  memory_reconciliation_rate: Schema.NullOr(Schema.Number),
  memory_hallucination_incidents: Schema.Number,
  window_start_ts: Timestamp,
  window_end_ts: Timestamp
}).annotations({ identifier: "MemoryKpis" })

/** What a tiering run did. */
export const TieringReport = AgentMemory.TieringReport.annotations({ identifier: "MemoryTieringReport" })

/**
 * A time in a query: ISO 8601 (`2024-10-11T19:45:32Z`), or epoch seconds (`1728675932`, as the
 * runbook's `*_ts` parameters are often written); milliseconds in code.
 */
export const TimeParam: Schema.Schema<number, string> = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (s, options, ast) =>
    /^\d{1,11}(\.\d{1,3})?$/.test(s)
      ? ParseResult.succeed(Math.round(Number(s) * 1000))
      : ParseResult.mapError(
        ParseResult.decodeUnknown(Timestamp)(s, options),
        () => new ParseResult.Type(ast, s, "Expected an ISO 8601 time or epoch seconds")
      ),
  encode: (ms) => ParseResult.succeed(new Date(ms).toISOString())
}).annotations({
  identifier: "TimeParam",
  jsonSchema: { type: "string", description: "ISO 8601 time or epoch seconds" }
})

const Limit = (max: number) => Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, max))
const Uid = HttpApiSchema.param("uid", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)))

/** Query of the item search. */
export const SearchQuery = Schema.Struct({
  thread_id: Schema.optional(Schema.String),
  kind: Schema.optional(Schema.String),
  text: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  status: Schema.optional(AgentMemory.MemoryStatus),
  tier: Schema.optional(AgentMemory.MemoryTier),
  limit: pageLimit({ default: 50, max: 500 }),
  cursor: Schema.optional(Cursor)
})

/** Query of the as-of read: one key, what we believed at `recorded_at` about `valid_at`. */
export const AsOfQuery = Schema.Struct({
  thread_id: Schema.String,
  subject: Schema.String,
  predicate: Schema.String,
  recorded_at: Schema.optional(TimeParam),
  valid_at: Schema.optional(TimeParam)
})

/**
 * The fact that holds for a key as of the given times (null when none did), and how many review
 * entries are open on the key now (a person has yet to decide a contradiction of it).
 */
export const AsOfResult = Schema.Struct({ item: Schema.NullOr(Item), conflicts_pending: Schema.Number }).annotations({
  identifier: "MemoryAsOf"
})

/** The memory group. */
export class MemoryApi extends HttpApiGroup.make("memory")
  .add(
    HttpApiEndpoint.post("writeItem", "/api/v1/memory/items")
      .setPayload(WriteBody)
      .addSuccess(WriteCreated, { status: 201 })
      .addSuccess(WriteReinforced, { status: 200 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.get("searchItems", "/api/v1/memory/items").setUrlParams(SearchQuery).addSuccess(ItemPage).addError(
      ApiError.Forbidden
    )
  )
  .add(
    HttpApiEndpoint.get("asOf", "/api/v1/memory/as-of").setUrlParams(AsOfQuery).addSuccess(AsOfResult).addError(
      ApiError.Forbidden
    )
  )
  .add(
    HttpApiEndpoint.get("getItem")`/api/v1/memory/items/${Uid}`
      .addSuccess(ItemView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.del("removeItem")`/api/v1/memory/items/${Uid}`
      .addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.get("conflicts", "/api/v1/memory/state/review/conflicts")
      .setUrlParams(Schema.Struct({ limit: pageLimit({ default: 50, max: 500 }), cursor: Schema.optional(Cursor) }))
      .addSuccess(ConflictPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("resolve")`/api/v1/memory/state/review/${Uid}/resolve`
      .setPayload(ResolveBody)
      .addSuccess(ResolveResult)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(HttpApiEndpoint.get("stats", "/api/v1/memory/state/stats").addSuccess(Stats).addError(ApiError.Forbidden))
  .add(
    HttpApiEndpoint.get("failures", "/api/v1/memory/state/failures")
      .setUrlParams(Schema.Struct({
        job: Schema.optional(Schema.String),
        thread_id: Schema.optional(Schema.String),
        limit: pageLimit({ default: 50, max: 500 }),
        cursor: Schema.optional(Cursor)
      }))
      .addSuccess(ItemPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("graph")`/api/v1/memory/state/graph/${Uid}`
      .setUrlParams(Schema.Struct({ depth: Schema.optional(Limit(5)), limit: pageLimit({ default: 100, max: 500 }) }))
      .addSuccess(Graph)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.get("consistency", "/api/v1/memory/state/consistency/report")
      .setUrlParams(Schema.Struct({ thread_id: Schema.String, from_ts: TimeParam, to_ts: TimeParam }))
      .addSuccess(ConsistencyReport)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("kpis", "/api/v1/memory/state/kpis")
      .setUrlParams(Schema.Struct({ from_ts: Schema.optional(TimeParam), to_ts: Schema.optional(TimeParam) }))
      .addSuccess(Kpis)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("runTiering", "/api/v1/memory/state/tiering/run").addSuccess(TieringReport).addError(
      ApiError.Forbidden
    )
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Memory")
  .annotate(
    OpenApi.Description,
    "Agent memory under governance: facts with tiers and bi-temporal validity, a human conflict-review queue, stats, graph, consistency, KPIs"
  )
{}

/** Handlers of the memory group: translate between JSON and core's `AgentMemory` service. */
import { AgentMemory, AgentMemoryConfig } from "@airlock/core"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, type Layer, Option } from "effect"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

const DAY_MS = 86_400_000

/** The JSON form of an item (times stay milliseconds here; the API schema writes them as ISO). */
export const itemJson = (i: AgentMemory.MemoryItem) => ({
  uid: i.uid,
  tenant_id: i.tenant_id,
  thread_id: i.thread_id,
  agent_id: i.agent_id,
  kind: i.kind,
  subject: i.subject,
  predicate: i.predicate,
  value: i.value,
  content: i.content,
  importance: i.importance,
  tier: i.tier,
  status: i.status,
  source_actor: i.source_actor,
  source_ref: i.source_ref,
  token_count: i.token_count,
  reinforced_count: i.reinforced_count,
  last_confirmed_at: i.last_confirmed_at,
  last_used_at: i.last_used_at,
  valid_from: i.valid_from,
  valid_to: i.valid_to,
  valid_to_history: i.valid_to_history,
  recorded_at: i.recorded_at,
  expired_at: i.expired_at,
  accepted_at: i.accepted_at,
  version: i.version
})

const linkJson = (l: AgentMemory.MemoryLink) => ({
  from_uid: l.from_uid,
  to_uid: l.to_uid,
  relation: l.relation,
  created_at: l.created_at,
  created_by: l.created_by
})

const reviewJson = (r: AgentMemory.ReviewEntry) => ({
  id: r.id,
  uid: r.uid,
  existing_uid: r.existing_uid,
  thread_id: r.thread_id,
  agent_id: r.agent_id,
  reason: r.reason,
  status: r.status,
  decision: r.decision,
  resolution: r.resolution,
  resolved_by: r.resolved_by,
  created_at: r.created_at,
  resolved_at: r.resolved_at
})

const nullable = <A, B>(a: A | null, f: (a: A) => B): B | null => (a === null ? null : f(a))

const itemPage = (p: AgentMemory.Page<AgentMemory.MemoryItem>) => ({
  items: p.items.map(itemJson),
  next_cursor: p.next_cursor
})

/** The memory group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "memory">,
  never,
  AgentMemory.AgentMemory | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "memory", (handlers) =>
  Effect.gen(function*() {
    const memory = yield* AgentMemory.AgentMemory
    const settings = yield* AgentMemoryConfig.AgentMemoryConfig

    /** The KPI window: the given bounds, else the configured number of days up to now. */
    const window = (from: number | undefined, to: number | undefined) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const to_ts = to ?? now
        return { from_ts: from ?? to_ts - settings.kpiWindowDays * DAY_MS, to_ts }
      })

    return handlers
      .handle("writeItem", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const r = yield* memory.write(tenant, actor, payload)
            const body = {
              item: itemJson(r.item),
              existing: nullable(r.existing, itemJson),
              review: nullable(r.review, reviewJson)
            }
            // two branches so each matches its declared success (200 reinforced, 201 otherwise)
            return r.outcome === "reinforced" ? { outcome: r.outcome, ...body } : { outcome: r.outcome, ...body }
          })
        ))
      .handle("searchItems", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return itemPage(yield* memory.search(tenant, actor, urlParams))
          })
        ))
      .handle("asOf", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const found = yield* memory.asOf(tenant, actor, urlParams)
            return {
              item: Option.match(found.item, { onNone: () => null, onSome: itemJson }),
              conflicts_pending: found.conflicts_pending
            }
          })
        ))
      .handle("getItem", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const view = yield* memory.get(tenant, actor, path.uid)
            return {
              item: itemJson(view.item),
              links: view.links.map(linkJson),
              pending_review: nullable(view.pending_review, reviewJson),
              conflicts_pending: view.conflicts_pending
            }
          })
        ))
      .handle("removeItem", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            yield* memory.remove(tenant, actor, path.uid)
          })
        ))
      .handle("conflicts", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const p = yield* memory.conflicts(tenant, actor, urlParams)
            return {
              items: p.items.map((c) => ({
                ...reviewJson(c),
                item: itemJson(c.item),
                existing: nullable(c.existing, itemJson)
              })),
              next_cursor: p.next_cursor
            }
          })
        ))
      .handle("resolve", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const r = yield* memory.resolve(tenant, actor, path.uid, payload)
            return { review: reviewJson(r.review), items: r.items.map(itemJson) }
          })
        ))
      .handle("stats", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* memory.stats(tenant, actor)
          })
        ))
      .handle("failures", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return itemPage(yield* memory.failures(tenant, actor, urlParams))
          })
        ))
      .handle("graph", ({ path, urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const g = yield* memory.graph(tenant, actor, path.uid, urlParams)
            return { root: g.root, nodes: g.nodes.map(itemJson), edges: g.edges.map(linkJson), truncated: g.truncated }
          })
        ))
      .handle("consistency", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const r = yield* memory.consistency(tenant, actor, urlParams)
            return { ...r, missing_links: r.missing_links.map(linkJson) }
          })
        ))
      .handle("kpis", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* memory.readKpis(tenant, actor, yield* window(urlParams.from_ts, urlParams.to_ts))
          })
        ))
      .handle("runTiering", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* memory.runTiering(tenant, actor)
          })
        ))
  }))

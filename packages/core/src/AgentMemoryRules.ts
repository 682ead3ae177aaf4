/**
 * The pure rules of agent memory: validity intervals, importance decay and tier decisions, the
 * bi-temporal "as of" selection, the consistency analysis and the KPI arithmetic. No effects:
 * `AgentMemory` orchestrates storage around these, and hosts (the ops scheduler, a dashboard)
 * can call them directly.
 */
import type {
  ConsistencyReport,
  KpiFacts,
  Kpis,
  KpiWindow,
  MemoryItem,
  MemoryLink,
  MemoryTier,
  OverlappingFacts,
  ReviewEntry
} from "./AgentMemory.js"
import type { AgentMemorySettings } from "./AgentMemoryConfig.js"

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000

/** A half-open valid period `[valid_from, valid_to)`; `valid_to` null is open-ended. */
export interface Validity {
  readonly valid_from: number
  readonly valid_to: number | null
}

/** Is the period empty (a fact cut before it ever held)? */
export const isEmpty = (v: Validity): boolean => v.valid_to !== null && v.valid_to <= v.valid_from

/** Do two periods share an instant? Empty periods overlap nothing. */
export const overlaps = (a: Validity, b: Validity): boolean =>
  !isEmpty(a) && !isEmpty(b) &&
  (b.valid_to === null || a.valid_from < b.valid_to) &&
  (a.valid_to === null || b.valid_from < a.valid_to)

/**
 * The end a fact gets when another fact takes over from `at`: `at`, but never before the fact's
 * own start (a fact replaced from before it began ends up empty) and never later than its end.
 */
export const cutAt = (v: Validity, at: number): number => {
  const end = Math.max(v.valid_from, at)
  return v.valid_to === null ? end : Math.min(v.valid_to, end)
}

/** Does `outer` hold at every instant of `inner`? (An empty `inner` is contained anywhere it starts.) */
export const contains = (outer: Validity, inner: Validity): boolean =>
  outer.valid_from <= inner.valid_from &&
  (outer.valid_to === null || (inner.valid_to !== null && inner.valid_to <= outer.valid_to))

/**
 * What is left of `v` after a fact ending at `end` took over part of it: `[end, v.valid_to)`, or
 * null when nothing is (the other fact is open-ended, or `v` ends by `end`). A fact cut where
 * another starts keeps its head; this tail is what a continuation of it holds, so a fact that a
 * shorter one interrupts is believed again once that one ends.
 */
export const tailAfter = (v: Validity, end: number | null): Validity | null =>
  end === null || (v.valid_to !== null && v.valid_to <= end)
    ? null
    : { valid_from: Math.max(v.valid_from, end), valid_to: v.valid_to }

/** The last time an item was used or confirmed. */
export const lastUseOf = (item: Pick<MemoryItem, "last_used_at" | "last_confirmed_at">): number =>
  Math.max(item.last_used_at, item.last_confirmed_at)

/**
 * Importance after decay: halved every `halfLifeDays` without use. With decay disabled (or a
 * non-positive half-life) it is the stored importance.
 */
export const effectiveImportance = (
  importance: number,
  idleMs: number,
  settings: Pick<AgentMemorySettings, "importanceEnabled" | "importanceHalfLifeDays">
): number => {
  if (!settings.importanceEnabled || settings.importanceHalfLifeDays <= 0 || idleMs <= 0) return importance
  return importance * Math.pow(0.5, idleMs / DAY_MS / settings.importanceHalfLifeDays)
}

/** How far below its stored importance an item's effective importance must be to count as decayed: 1 %. */
export const DECAYED_FRACTION = 0.01

/**
 * Has an item decayed? Its effective importance is below its stored importance by at least
 * {@link DECAYED_FRACTION} of it (a moment of idleness is not decay; an importance of 0 cannot decay).
 */
export const isDecayed = (importance: number, effective: number): boolean =>
  importance > 0 && importance - effective >= importance * DECAYED_FRACTION

/** A tiering decision for one item. */
export interface TierDecision {
  readonly tier: MemoryTier
  readonly effective: number
  /** The effective importance is below the stored one by at least 1 % ({@link isDecayed}). */
  readonly decayed: boolean
}

/**
 * Where an item belongs now: stale (unused for `archiveAfterDays`) and below
 * `archiveBelowImportance` → archive; stale for `warmAfterDays` and below
 * `warmBelowImportance` → warm (from hot only). Items only move down: a write of the same value
 * brings one back to hot. Pending items stay where they are: a person has yet to look at them.
 */
export const decideTier = (
  item: Pick<MemoryItem, "importance" | "tier" | "status" | "last_used_at" | "last_confirmed_at">,
  now: number,
  settings: Pick<
    AgentMemorySettings,
    | "importanceEnabled"
    | "importanceHalfLifeDays"
    | "warmAfterDays"
    | "archiveAfterDays"
    | "warmBelowImportance"
    | "archiveBelowImportance"
  >
): TierDecision => {
  const idle = Math.max(0, now - lastUseOf(item))
  const effective = effectiveImportance(item.importance, idle, settings)
  const decayed = isDecayed(item.importance, effective)
  if (item.status === "pending_review") return { tier: item.tier, effective, decayed }
  const idleDays = idle / DAY_MS
  if (item.tier !== "archive" && idleDays >= settings.archiveAfterDays && effective < settings.archiveBelowImportance) {
    return { tier: "archive", effective, decayed }
  }
  if (item.tier === "hot" && idleDays >= settings.warmAfterDays && effective < settings.warmBelowImportance) {
    return { tier: "warm", effective, decayed }
  }
  return { tier: item.tier, effective, decayed }
}

/**
 * Was the item believed at recorded time `t`? From its acceptance on, until a reviewer rejected
 * it; a superseded fact stays believed for the (cut) period it held.
 */
export const believedAt = (item: MemoryItem, t: number): boolean =>
  item.accepted_at !== null && item.accepted_at <= t &&
  !(item.status === "rejected" && item.expired_at !== null && item.expired_at <= t)

/**
 * The end of an item's valid period as believed at recorded time `t`: the `valid_to` of the first
 * change in `valid_to_history` made after `t` (the end that change replaced), else the current
 * `valid_to`. A later supersede or keep-both cut therefore never changes an earlier answer.
 */
export const validToAt = (item: Pick<MemoryItem, "valid_to" | "valid_to_history">, t: number): number | null => {
  for (const change of item.valid_to_history) if (t < change.replaced_at) return change.valid_to
  return item.valid_to
}

/** `valid_to_history` after the current end is replaced at recorded time `at`. */
export const replacedValidTo = (
  item: Pick<MemoryItem, "valid_to" | "valid_to_history">,
  at: number
): MemoryItem["valid_to_history"] => [...item.valid_to_history, { valid_to: item.valid_to, replaced_at: at }]

/**
 * What we believed at recorded time `recordedAt` about valid time `validAt`, among the items of
 * one key: believed then, valid at `validAt` as known then; the most recently accepted wins.
 */
export const selectAsOf = (
  items: ReadonlyArray<MemoryItem>,
  recordedAt: number,
  validAt: number
): MemoryItem | null => {
  let best: MemoryItem | null = null
  for (const item of items) {
    if (!believedAt(item, recordedAt)) continue
    const end = validToAt(item, recordedAt)
    if (item.valid_from > validAt || (end !== null && validAt >= end)) continue
    if (
      best === null || item.accepted_at! > best.accepted_at! ||
      (item.accepted_at === best.accepted_at && item.uid > best.uid)
    ) best = item
  }
  return best
}

/**
 * Is the item a fact in force over its own period: active, or superseded and still believed for
 * the (non-empty) period it was cut to? A superseded fact is cut where its successor starts, so
 * facts in force never overlap one another, and a write over the cut period meets the superseded
 * fact as it would an active one.
 */
export const inForce = (
  i: Pick<MemoryItem, "accepted_at" | "valid_from" | "valid_to"> & { readonly status: string }
): boolean => i.status === "active" || (i.status === "superseded" && i.accepted_at !== null && !isEmpty(i))

/** Facts in force ({@link inForce}, other than `except`) whose period overlaps `v`. */
export const inForceOverlapping = (
  items: ReadonlyArray<MemoryItem>,
  v: Validity,
  except?: string
): ReadonlyArray<MemoryItem> => items.filter((i) => inForce(i) && i.uid !== except && overlaps(i, v))

/** Active items (other than `except`) whose period overlaps `v`. */
export const activeOverlapping = (
  items: ReadonlyArray<MemoryItem>,
  v: Validity,
  except?: string
): ReadonlyArray<MemoryItem> => items.filter((i) => i.status === "active" && i.uid !== except && overlaps(i, v))

const keyOf = (
  i: MemoryItem
) => (i.subject === null || i.predicate === null ? null : `${i.subject}\u0000${i.predicate}`)

const inRange = (t: number | null, from: number, to: number) => t !== null && t >= from && t <= to

/**
 * Supersede chains from `supersedes` links (newer → older): each path from a fact nobody
 * superseded down to the oldest, as uids newest first; only chains with a link created in
 * `[from, to]`.
 */
export const supersedeChains = (
  links: ReadonlyArray<MemoryLink>,
  from: number,
  to: number
): ReadonlyArray<ReadonlyArray<string>> => {
  const sup = links.filter((l) => l.relation === "supersedes")
  const next = new Map<string, Array<MemoryLink>>()
  const superseded = new Set<string>()
  for (const l of sup) {
    const list = next.get(l.from_uid)
    if (list) list.push(l)
    else next.set(l.from_uid, [l])
    superseded.add(l.to_uid)
  }
  const heads = [...next.keys()].filter((u) => !superseded.has(u)).sort()
  const chains: Array<ReadonlyArray<string>> = []
  const walk = (path: Array<string>, touched: boolean) => {
    const out = (next.get(path[path.length - 1]!) ?? []).slice().sort((a, b) => (a.to_uid < b.to_uid ? -1 : 1))
    const fresh = out.filter((l) => !path.includes(l.to_uid))
    if (fresh.length === 0) {
      if (touched && path.length > 1) chains.push(path)
      return
    }
    for (const l of fresh) walk([...path, l.to_uid], touched || inRange(l.created_at, from, to))
  }
  for (const h of heads) walk([h], false)
  return chains
}

/**
 * Believed facts (active or superseded) of one key whose periods overlap with different values:
 * memory's invariant says there are none, so any pair found means storage was changed behind it.
 */
export const overlappingFacts = (items: ReadonlyArray<MemoryItem>): ReadonlyArray<OverlappingFacts> => {
  const groups = new Map<string, Array<MemoryItem>>()
  for (const i of items) {
    const k = keyOf(i)
    if (k === null || (i.status !== "active" && i.status !== "superseded")) continue
    const g = groups.get(k)
    if (g) g.push(i)
    else groups.set(k, [i])
  }
  const out: Array<OverlappingFacts> = []
  for (const g of groups.values()) {
    g.sort((a, b) => (a.uid < b.uid ? -1 : 1))
    for (let a = 0; a < g.length; a++) {
      for (let b = a + 1; b < g.length; b++) {
        const x = g[a]!
        const y = g[b]!
        if (x.value_hash !== y.value_hash && overlaps(x, y)) {
          out.push({ subject: x.subject!, predicate: x.predicate!, uids: [x.uid, y.uid] })
        }
      }
    }
  }
  return out
}

/**
 * The consistency report of one thread over the recorded-time range `[from, to]`, from its
 * items (those recorded by `to` are considered), the links touching them, its queue entries, and
 * `exists` (does a uid name a stored item?).
 */
export const consistencyOf = (input: {
  readonly thread_id: string
  readonly from_ts: number
  readonly to_ts: number
  readonly items: ReadonlyArray<MemoryItem>
  readonly links: ReadonlyArray<MemoryLink>
  readonly reviews: ReadonlyArray<ReviewEntry>
  readonly exists: (uid: string) => boolean
}): ConsistencyReport => {
  const { from_ts: from, to_ts: to } = input
  const raised = input.reviews.filter((r) => inRange(r.created_at, from, to))
  return {
    thread_id: input.thread_id,
    from_ts: from,
    to_ts: to,
    contradictions: {
      raised: raised.length,
      resolved: input.reviews.filter((r) => r.status === "resolved" && inRange(r.resolved_at, from, to)).length,
      pending: raised.filter((r) => r.status === "open").length
    },
    supersede_chains: supersedeChains(input.links, from, to),
    missing_links: input.links.filter((l) => !input.exists(l.from_uid) || !input.exists(l.to_uid)),
    overlapping_facts: overlappingFacts(input.items.filter((i) => i.recorded_at <= to))
  }
}

/** The KPIs from their aggregates (definitions on `AgentMemory.Kpis`). */
export const kpisOf = (facts: KpiFacts, window: KpiWindow): Kpis => ({
  memory_items_count: facts.live_items,
  memory_avg_tokens_saved: facts.used_items === 0 ? 0 : facts.used_tokens_sum / facts.used_items,
  memory_reconciliation_rate: facts.raised === 0 ? null : facts.raised_resolved / facts.raised,
  memory_hallucination_incidents: facts.rejected,
  window_start_ts: window.from_ts,
  window_end_ts: window.to_ts
})

/** Joins the searched fields in a search text; no needle a person types holds it. */
const SEARCH_SEPARATOR = "\u001f"

/** How search text and needles are normalised, the same in every adapter: NFC, then JavaScript's lower case. */
export const normaliseSearch = (text: string): string => text.normalize("NFC").toLowerCase()

/**
 * The normalised text a search matches: content, subject and predicate, each through
 * {@link normaliseSearch}. Adapters store it when an item is written and match the normalised
 * needle as a substring, so search is the same (full Unicode case folding of JavaScript) on
 * every adapter, whatever the database's `LOWER` does.
 */
export const searchTextOf = (item: Pick<MemoryItem, "content" | "subject" | "predicate">): string =>
  [item.content, item.subject ?? "", item.predicate ?? ""].map(normaliseSearch).join(SEARCH_SEPARATOR)

/** A page limit: `fallback` when absent, clamped to `[1, max]`; non-integers are floored. */
export const clampLimit = (limit: number | undefined, fallback: number, max: number): number =>
  limit === undefined || !Number.isFinite(limit) ? fallback : Math.min(Math.max(Math.floor(limit), 1), max)

/** The opaque cursor of a position (an id). */
export const encodeCursor = (position: string): string => Buffer.from(`m1:${position}`, "utf8").toString("base64url")

/** The position a cursor names, or null when it is not one of ours. */
export const decodeCursor = (cursor: string): string | null => {
  if (cursor.length === 0 || cursor.length > 400 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null
  const text = Buffer.from(cursor, "base64url").toString("utf8")
  return text.startsWith("m1:") && text.length > 3 ? text.slice(3) : null
}

/**
 * The vendor-memory stage: what people taught the companion about a vendor, kept as facts in
 * core's agent memory (governed: contradictions wait in the review queue, nothing is lost).
 *
 * - Key: thread `vendor:<vendor key>`, subject `vendor`, predicate `account`, value
 *   `{"account_code": …}`, kind {@link LABEL_KIND}. Each label a person applies (a proposal
 *   applied as proposed, or corrected) is written by that person: the same account reinforces
 *   the fact (`reinforced_count` counts consistent labels); another account contradicts it. With
 *   the host's authoritative policy set to {@link authoritative} (people's labels), a person's
 *   label supersedes the old fact at once — so a vendor relabelled consistently is followed, not
 *   fought: the new account is proposed from the next transaction on, cold-start again until it
 *   has its own `coldstart_min_labels` labels. Labels from any other source (an agent, a host
 *   without the policy) go to memory's review queue, and the stage says a conflict is pending.
 * - A label that superseded another account (a person's relabel, or a reviewer accepting the new
 *   label) is a person's decision: until it decides, the stage marks its answer `authoritative`,
 *   so the chain follows it from the first label although the classifier, trained on the old
 *   account, is more confident; and it asks a person to confirm the new account. Not when a
 *   rejection disputes the label. Auto-posting still waits for the cold-start minimum.
 * - Rejections: a person rejecting a proposal booked to account A for the vendor writes the fact
 *   (`vendor:<key>`, `account:A`, `rejected`, `true`), kind {@link REJECTION_KIND}; its
 *   `reinforced_count` counts rejections. A rejection newer than the label's last confirmation
 *   makes the vendor disputed: the stage only offers a candidate and asks. The rejection's reason
 *   is kept in a keyless note on the vendor's thread (kind {@link REJECTION_NOTE_KIND}, value
 *   `{account_code, direction, reason, proposal_id}`), one per rejection.
 * - Every rejection no later label of the same account outweighs (a person's label of A confirmed
 *   after the rejection supersedes it) *stands*: the stage reports it in `rejected` (account, count,
 *   the newest reason) with its memory uids — also for a vendor with no label yet, whose answer is
 *   an `abstain` — so the chain demotes answers on A and asks when it still ends on A. It holds
 *   for transactions of the direction it was rejected on (money in or out, from the notes since
 *   A's last label; both when a note is missing): rejecting A for a refund says nothing about the
 *   vendor's purchases.
 *
 * The stage is pure over the facts read for one transaction ({@link read}); reading and writing
 * go through the memory store and service.
 */
import type { Actor, AgentMemory, AgentMemoryConfig, Errors, Ids } from "@airlock/core"
import { Effect } from "effect"
import type { CategorizerStage, RejectedAccount, StageResult } from "./Categorizer.js"
import { wholeAmount } from "./Categorizer.js"

/** The stage's name. */
export const NAME = "vendor_memory"
/** Memory kind of a vendor → account label. */
export const LABEL_KIND = "vendor_label"
/** Memory kind of a rejection of an account for a vendor. */
export const REJECTION_KIND = "vendor_rejection"
/** Memory kind of the keyless note that keeps one rejection's reason. */
export const REJECTION_NOTE_KIND = "vendor_rejection_note"
/** The longest reason a rejection note keeps (characters). */
export const MAX_REASON = 500
/** The agent id the companion writes memory under. */
export const AGENT_ID = "companion"

/** The memory thread of a vendor. */
export const threadOf = (vendorKey: string): string => `vendor:${vendorKey}`

/** The memory key of a vendor's account label. */
export const labelKey = (vendorKey: string): AgentMemory.MemoryKey => ({
  thread_id: threadOf(vendorKey),
  subject: "vendor",
  predicate: "account"
})

/** The memory key of the rejections of one account for a vendor. */
export const rejectionKey = (vendorKey: string, account: string): AgentMemory.MemoryKey => ({
  thread_id: threadOf(vendorKey),
  subject: `account:${account}`,
  predicate: "rejected"
})

/**
 * The authoritative-source policy for hosts (`AgentMemoryConfig.layerConfigWith({ authoritative })`):
 * vendor labels written by a person supersede; everything else is queued for review.
 */
export const authoritative: AgentMemoryConfig.AuthoritativePolicy = (kind, actor) =>
  kind === LABEL_KIND && actor.kind === "user"

/** What memory holds about one vendor now. */
export interface VendorFacts {
  readonly vendor_key: string
  /** The label in force now, if any. */
  readonly label: AgentMemory.MemoryItem | null
  /** The account of {@link label}. */
  readonly account_code: string | null
  /** Consistent labels of that account (the fact's `reinforced_count`). */
  readonly labels: number
  /** Contradicting labels waiting for review on the key. */
  readonly pending: number
  /** The rejections fact of the label's account, when there is one. */
  readonly rejection: AgentMemory.MemoryItem | null
  /**
   * The account the label in force superseded when it became the fact (a relabel by an
   * authoritative source or a reviewer's decision), else null. Optional for callers that build
   * facts by hand.
   */
  readonly relabelled_from?: string | null | undefined
  /**
   * The standing rejections of any account for the vendor (see the module comment), oldest
   * account code first. Optional for callers that build facts by hand.
   */
  readonly rejected?: ReadonlyArray<StandingRejection> | undefined
}

/** A rejection of one account for a vendor that no later label of that account outweighs. */
export interface StandingRejection {
  readonly account_code: string
  /** The rejections fact (`reinforced_count` rejections, the last at `last_confirmed_at`). */
  readonly item: AgentMemory.MemoryItem
  /** The newest rejection's note (its reason), when there is one. */
  readonly note: AgentMemory.MemoryItem | null
  /**
   * The money directions of the transactions it was rejected on since the account's last label
   * (from the notes), or null when that is not known for every one: then it holds for both.
   */
  readonly directions: ReadonlyArray<Direction> | null
}

/** The direction of a bank transaction: money in or out. */
export type Direction = "inflow" | "outflow"

/** The direction of a bank amount. */
export const directionOf = (amountMinor: bigint): Direction => (amountMinor < 0n ? "outflow" : "inflow")

/**
 * The standing rejections that hold for a transaction of `direction`: a rejection made on a refund
 * says nothing about the vendor's purchases, and the other way round.
 */
export const standingFor = (facts: VendorFacts, direction: Direction): ReadonlyArray<StandingRejection> =>
  (facts.rejected ?? []).filter((x) => x.directions === null || x.directions.includes(direction))

/** The standing rejections for a transaction of `direction` as a stage reports them (`StageResult.rejected`). */
export const rejectedOf = (facts: VendorFacts, direction: Direction): ReadonlyArray<RejectedAccount> =>
  standingFor(facts, direction).map((x) => ({
    account_code: x.account_code,
    rejections: x.item.reinforced_count,
    reason: reasonOf(x.note)
  }))

/** The reason kept in a rejection note, if any. */
export const reasonOf = (note: AgentMemory.MemoryItem | null): string | null => {
  const v = note?.value as { readonly reason?: unknown } | null | undefined
  return typeof v?.reason === "string" ? v.reason : null
}

const inForceAt = (item: AgentMemory.MemoryItem, now: number) =>
  item.status === "active" && item.valid_from <= now && (item.valid_to === null || item.valid_to > now)

const newest = (items: ReadonlyArray<AgentMemory.MemoryItem>, now: number) => {
  let best: AgentMemory.MemoryItem | null = null
  for (const i of items) {
    if (!inForceAt(i, now)) continue
    if (best === null || (i.accepted_at ?? 0) > (best.accepted_at ?? 0)) best = i
  }
  return best
}

const accountOf = (item: AgentMemory.MemoryItem | null): string | null => {
  const v = item?.value as { readonly account_code?: unknown } | null | undefined
  return typeof v?.account_code === "string" ? v.account_code : null
}

/** The account of the newest fact on the key that `label` superseded (a different account), else null. */
const supersededBy = (items: ReadonlyArray<AgentMemory.MemoryItem>, label: AgentMemory.MemoryItem): string | null => {
  const own = accountOf(label)
  const since = label.accepted_at ?? label.recorded_at
  let best: AgentMemory.MemoryItem | null = null
  for (const i of items) {
    // governance ends a superseded fact at the moment the superseding one is accepted
    if (i.status !== "superseded" || i.expired_at === null || i.expired_at < since) continue
    const account = accountOf(i)
    if (account === null || account === own) continue
    if (best === null || i.expired_at > (best.expired_at ?? 0)) best = i
  }
  return accountOf(best)
}

/** Reads a vendor's facts in force at `now` through the memory store (no RBAC: the caller checked it). */
export const read = (
  store: AgentMemory.AgentMemoryStore["Type"],
  tenant: Ids.TenantId,
  vendorKey: string,
  now: number
): Effect.Effect<VendorFacts, Errors.StorageError> =>
  Effect.gen(function*() {
    const items = yield* store.itemsByKey(tenant, labelKey(vendorKey))
    const label = newest(items, now)
    const account = accountOf(label)
    const pending = items.filter((i) => i.status === "pending_review").length
    // every rejection fact of the vendor (one per account, reinforced per rejection)
    const rejections = yield* store.listItems(tenant, {
      thread_id: threadOf(vendorKey),
      kind: REJECTION_KIND,
      status: "active",
      limit: MAX_ACCOUNTS
    })
    const byAccount = new Map<string, AgentMemory.MemoryItem>()
    for (const r of rejections) {
      const code = rejectedAccountOf(r)
      if (code === null || !inForceAt(r, now)) continue
      const seen = byAccount.get(code)
      if (seen === undefined || (r.accepted_at ?? 0) > (seen.accepted_at ?? 0)) byAccount.set(code, r)
    }
    const rejection = account === null ? null : byAccount.get(account) ?? null
    // the last time a person's label of each account was confirmed
    const labelledAt = new Map<string, number>()
    for (const i of items) {
      const code = accountOf(i)
      if (code === null || (i.status !== "active" && i.status !== "superseded") || i.accepted_at === null) continue
      labelledAt.set(code, Math.max(labelledAt.get(code) ?? -Infinity, i.last_confirmed_at))
    }
    // a rejection stands unless a label of its account was confirmed after it (by the person's later booking)
    const standing = [...byAccount.entries()]
      .filter(([code, r]) => (labelledAt.get(code) ?? -Infinity) <= r.last_confirmed_at)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const notes = standing.length === 0 ? new Map<string, Array<AgentMemory.MemoryItem>>() : yield* notesOf(
      store,
      tenant,
      vendorKey
    )
    const rejected = standing.map(([code, item]): StandingRejection => {
      // the notes of the rejections since the account's last label, oldest first
      const since = labelledAt.get(code) ?? -Infinity
      const own = (notes.get(code) ?? []).filter((n) => n.recorded_at >= since)
      const directions = own.map((n) => directionIn(n))
      const known = own.length > 0 && directions.every((d) => d !== null)
      return {
        account_code: code,
        item,
        note: own.at(-1) ?? notes.get(code)?.at(-1) ?? null,
        directions: known ? [...new Set(directions as Array<Direction>)].sort() : null
      }
    })
    return {
      vendor_key: vendorKey,
      label,
      account_code: account,
      labels: label?.reinforced_count ?? 0,
      pending,
      rejection,
      relabelled_from: label === null ? null : supersededBy(items, label),
      rejected
    }
  })

/** At most this many rejection facts are read for a vendor (one per account of the chart). */
const MAX_ACCOUNTS = 1_000

/** The account of a rejection fact (its subject `account:<code>`), else null. */
const rejectedAccountOf = (item: AgentMemory.MemoryItem): string | null =>
  item.predicate === "rejected" && item.subject !== null && item.subject.startsWith("account:")
    ? item.subject.slice("account:".length)
    : null

/** The direction a rejection note records, if any. */
const directionIn = (note: AgentMemory.MemoryItem): Direction | null => {
  const v = note.value as { readonly direction?: unknown } | null | undefined
  return v?.direction === "inflow" || v?.direction === "outflow" ? v.direction : null
}

/** The rejection notes of each account on the vendor's thread, oldest first (read in pages). */
const notesOf = (
  store: AgentMemory.AgentMemoryStore["Type"],
  tenant: Ids.TenantId,
  vendorKey: string
): Effect.Effect<Map<string, Array<AgentMemory.MemoryItem>>, Errors.StorageError> =>
  Effect.gen(function*() {
    const out = new Map<string, Array<AgentMemory.MemoryItem>>()
    let after: string | undefined = undefined
    for (;;) {
      const page: ReadonlyArray<AgentMemory.MemoryItem> = yield* store.listItems(tenant, {
        thread_id: threadOf(vendorKey),
        kind: REJECTION_NOTE_KIND,
        status: "active",
        limit: NOTE_PAGE,
        ...(after === undefined ? {} : { after })
      })
      for (const n of page) {
        const code = accountOf(n)
        if (code === null) continue
        const list = out.get(code) ?? []
        list.push(n)
        out.set(code, list)
      }
      if (page.length < NOTE_PAGE) {
        for (const list of out.values()) list.sort((a, b) => a.recorded_at - b.recorded_at || (a.uid < b.uid ? -1 : 1))
        return out
      }
      after = page[page.length - 1]!.uid
    }
  })

const NOTE_PAGE = 200

/** Is the label disputed: rejected since it was last confirmed? */
export const disputed = (facts: VendorFacts): boolean =>
  facts.label !== null && facts.rejection !== null &&
  facts.rejection.last_confirmed_at >= facts.label.last_confirmed_at

/** Is the vendor cold-start: no label, fewer than `minLabels` consistent ones, or disputed? */
export const coldStart = (facts: VendorFacts, minLabels: number): boolean =>
  facts.label === null || facts.labels < minLabels || disputed(facts)

/** The stage's raw confidence for `n` consistent labels: n / (n + 1), at most 0.99. */
export const confidenceOf = (n: number): number => Math.min(0.99, n / (n + 1))

/** The vendor-memory stage over one vendor's facts (read for the transaction at hand). */
export const make = (facts: VendorFacts, minLabels: number): CategorizerStage => ({
  name: NAME,
  run: (input) => {
    const vendor = input.vendor_key
    const direction = directionOf(input.transaction.amount_minor)
    const standing = standingFor(facts, direction)
    const uids = [
      ...(facts.label === null ? [] : [facts.label.uid, ...(facts.rejection ? [facts.rejection.uid] : [])]),
      ...standing.flatMap((x) => [x.item.uid, ...(x.note === null ? [] : [x.note.uid])])
    ]
    const rejected = rejectedOf(facts, direction)
    const base = {
      vendor_key: vendor,
      memory_uids: [...new Set(uids)],
      labels: facts.labels,
      coldstart_min_labels: minLabels,
      conflicts_pending: facts.pending,
      rejected: standing.map((x) => ({
        account_code: x.account_code,
        rejections: x.item.reinforced_count,
        reason: reasonOf(x.note),
        last_rejected_at: x.item.last_confirmed_at,
        memory_uid: x.item.uid,
        note_uid: x.note?.uid ?? null,
        directions: x.directions
      }))
    }
    const told = rejected.length === 0 ? {} : { rejected }
    const rejectedText = rejected.length === 0 ?
      "" :
      `; a person rejected ${
        rejected.map((x) =>
          `${x.account_code} (${x.rejections} time${x.rejections === 1 ? "" : "s"}${
            x.reason === null ? "" : `: “${x.reason.length <= 200 ? x.reason : `${x.reason.slice(0, 199)}…`}”`
          })`
        ).join(", ")
      } for it`
    if (facts.label === null || facts.account_code === null) {
      const r: StageResult = {
        stage: NAME,
        outcome: "abstain",
        splits: [],
        confidence: 0,
        candidates: [],
        rationale: `New vendor “${vendor}”: ${
          rejected.length === 0 ? "nothing learned yet" : "no label yet"
        }${rejectedText}`,
        reason: "vendor.unknown",
        questions: [`New vendor “${vendor}”: which account should it be booked to?`],
        details: { ...base, cold_start: true },
        ...told
      }
      return Effect.succeed(r)
    }
    const account = facts.account_code
    if (!input.accounts.some((a) => a.code === account && a.active)) {
      return Effect.succeed(
        {
          stage: NAME,
          outcome: "abstain",
          splits: [],
          confidence: 0,
          candidates: [],
          rationale: `Vendor “${vendor}” was booked to ${account}, which is no longer an active account`,
          reason: "vendor.account_inactive",
          questions: [`Vendor “${vendor}” used account ${account}, now inactive: which account now?`],
          details: { ...base, account_code: account, cold_start: true },
          ...told
        } satisfies StageResult
      )
    }
    const isDisputed = disputed(facts)
    const cold = coldStart(facts, minLabels)
    const questions: Array<string> = []
    if (isDisputed) {
      questions.push(`Account ${account} was rejected for “${vendor}” since it was last confirmed: is it still right?`)
    }
    if (facts.pending > 0) {
      questions.push(`${facts.pending} contradicting label(s) for “${vendor}” wait in memory review`)
    }
    const confidence = isDisputed ? confidenceOf(facts.labels) / 2 : confidenceOf(facts.labels)
    const decided = !cold && facts.pending === 0
    const relabelledFrom = facts.relabelled_from ?? null
    // a person's relabel stands until the new account decides on its own (or a rejection disputes it)
    const authoritative = relabelledFrom !== null && !decided && !isDisputed
    if (authoritative && cold) {
      questions.push(
        `“${vendor}” was relabelled from ${relabelledFrom} to ${account} by a person (${facts.labels} of ${minLabels} labels): is ${account} right?`
      )
    }
    return Effect.succeed(
      {
        stage: NAME,
        outcome: decided ? "decided" : "candidates",
        splits: wholeAmount(input.transaction, account),
        confidence,
        candidates: [{ account_code: account, score: confidence }],
        rationale: `Vendor “${vendor}” is booked to ${account} (${facts.labels} consistent label${
          facts.labels === 1 ? "" : "s"
        }${facts.labels < minLabels ? `, cold-start below ${minLabels}` : ""}${
          isDisputed ? ", disputed by a rejection" : ""
        }${authoritative ? `, relabelled from ${relabelledFrom} by a person` : ""})${rejectedText}`,
        reason: decided
          ? null
          : isDisputed
          ? "vendor.disputed"
          : cold
          ? "vendor.cold_start"
          : "vendor.conflict_pending",
        questions,
        details: {
          ...base,
          account_code: account,
          cold_start: cold,
          disputed: isDisputed,
          rejections: facts.rejection?.reinforced_count ?? 0,
          relabelled_from: relabelledFrom
        },
        ...(authoritative ? { authoritative: true } : {}),
        ...told
      } satisfies StageResult
    )
  }
})

/** Teaches a label: the person's booking of the vendor to `account` (reinforces, supersedes or queues). */
export const learnLabel = (
  memory: AgentMemory.AgentMemoryShape,
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  vendorKey: string,
  account: string,
  sourceRef: string
): Effect.Effect<AgentMemory.WriteResult, AgentMemory.WriteError> =>
  memory.write(tenant, actor, {
    ...labelKey(vendorKey),
    agent_id: AGENT_ID,
    kind: LABEL_KIND,
    value: { account_code: account },
    content: `Vendor ${vendorKey} is booked to account ${account}`,
    importance: 0.7,
    source_ref: sourceRef
  })

/**
 * Keeps one rejection's reason: a keyless note on the vendor's thread (never contradicts, one per
 * rejection), value `{account_code, direction, reason, proposal_id}` (the direction of the rejected
 * transaction's money); the reason is cut at {@link MAX_REASON}.
 */
export const learnRejectionReason = (
  memory: AgentMemory.AgentMemoryShape,
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  vendorKey: string,
  account: string,
  direction: Direction,
  reason: string,
  sourceRef: string
): Effect.Effect<AgentMemory.WriteResult, AgentMemory.WriteError> => {
  const kept = reason.trim().slice(0, MAX_REASON)
  return memory.write(tenant, actor, {
    thread_id: threadOf(vendorKey),
    agent_id: AGENT_ID,
    kind: REJECTION_NOTE_KIND,
    value: { account_code: account, direction, reason: kept, proposal_id: sourceRef.replace(/^proposal:/, "") },
    content: `A person rejected account ${account} for vendor ${vendorKey}: ${kept}`,
    importance: 0.5,
    source_ref: sourceRef
  })
}

/** Teaches a rejection of `account` for the vendor (counted by reinforcement). */
export const learnRejection = (
  memory: AgentMemory.AgentMemoryShape,
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  vendorKey: string,
  account: string,
  sourceRef: string
): Effect.Effect<AgentMemory.WriteResult, AgentMemory.WriteError> =>
  memory.write(tenant, actor, {
    ...rejectionKey(vendorKey, account),
    agent_id: AGENT_ID,
    kind: REJECTION_KIND,
    value: true,
    content: `A person rejected account ${account} for vendor ${vendorKey}`,
    importance: 0.6,
    source_ref: sourceRef
  })

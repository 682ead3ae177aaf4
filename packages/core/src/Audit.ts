/**
 * The append-only audit log, hash-chained per tenant: each record's hash covers its content and
 * the previous record's hash, so changing, removing or reordering any row breaks every later
 * link, and {@link AuditLog.verify} names the first broken one.
 */
import { Context, Effect, Schema } from "effect"
import { canonicalJson, sha256Hex } from "./Canonical.js"
import type { StorageError } from "./Errors.js"
import { TenantId } from "./Ids.js"
import * as Trusted from "./Trusted.js"

/** The `prev_hash` of a tenant's first record. */
export const GENESIS_HASH = "0".repeat(64)

/** One audit record. `seq` starts at 1 and has no gaps within a tenant. */
export class AuditRecord extends Schema.Class<AuditRecord>("AuditRecord")({
  tenant_id: TenantId,
  seq: Schema.Number,
  at: Schema.Number,
  actor_id: Schema.String,
  action: Schema.String,
  subject: Schema.String,
  data: Schema.Unknown,
  prev_hash: Schema.String,
  hash: Schema.String
}) {}

/** What a caller audits; the log fills in sequence, time and hashes. */
export interface AuditInput {
  readonly tenant_id: TenantId
  readonly actor_id: string
  readonly action: string
  readonly subject: string
  readonly data?: unknown
}

const str = (s: string) => JSON.stringify(s)

const num = (n: number) => {
  if (!Number.isFinite(n)) throw new TypeError("canonicalJson: non-finite number")
  return JSON.stringify(n)
}

/**
 * The canonical JSON of a record's hashed content, written out for this fixed shape: byte for
 * byte what `canonicalJson` gives for the same object (keys in sorted order), without building
 * and sorting an intermediate object on every append.
 */
const auditContentJson = (r: Omit<AuditRecord, "hash">): string =>
  `{"action":${str(r.action)},"actor_id":${str(r.actor_id)},"at":${num(r.at)},"data":${
    canonicalJson(r.data ?? null)
  },` +
  `"prev_hash":${str(r.prev_hash)},"seq":${num(r.seq)},"subject":${str(r.subject)},"tenant_id":${str(r.tenant_id)}}`

/** The hash of a record's content and its predecessor's hash. */
export const auditHash = (r: Omit<AuditRecord, "hash">): string => sha256Hex(auditContentJson(r))

/** The head of a tenant's chain: last sequence number and hash. */
export interface ChainHead {
  readonly seq: number
  readonly hash: string
}

/** Builds the next record after `head` (or the first one). Pure. */
export const nextRecord = (head: ChainHead | null, input: AuditInput, at: number): AuditRecord => {
  const prev = head ?? { seq: 0, hash: GENESIS_HASH }
  const partial = {
    tenant_id: input.tenant_id,
    seq: prev.seq + 1,
    at,
    actor_id: input.actor_id,
    action: input.action,
    subject: input.subject,
    data: input.data ?? null,
    prev_hash: prev.hash
  }
  return Trusted.make(AuditRecord, { ...partial, hash: auditHash(partial) })
}

/** The first problem found in a chain. */
export interface ChainBreak {
  readonly seq: number
  readonly reason: "hash_mismatch" | "prev_hash_mismatch" | "sequence_gap" | "truncated"
}

/** Result of verifying a chain. */
export interface VerifyReport {
  readonly ok: boolean
  readonly checked: number
  readonly first_break: ChainBreak | null
}

/** Checks consecutive records against the expected previous head; returns the first break. */
export const checkRecords = (
  expected: ChainHead,
  records: ReadonlyArray<AuditRecord>
): { readonly head: ChainHead; readonly break: ChainBreak | null } => {
  let head = expected
  for (const r of records) {
    if (r.seq !== head.seq + 1) return { head, break: { seq: head.seq + 1, reason: "sequence_gap" } }
    if (r.prev_hash !== head.hash) return { head, break: { seq: r.seq, reason: "prev_hash_mismatch" } }
    if (auditHash(r) !== r.hash) return { head, break: { seq: r.seq, reason: "hash_mismatch" } }
    head = { seq: r.seq, hash: r.hash }
  }
  return { head, break: null }
}

/** Storage port for the audit log. */
export class AuditStore extends Context.Tag("@airlock/core/AuditStore")<
  AuditStore,
  {
    /**
     * Appends atomically: locks the tenant's chain head, calls `build` with it, stores the
     * record. Concurrent appends for one tenant are serialised; the chain never forks.
     */
    readonly append: (
      tenant: TenantId,
      build: (head: ChainHead | null) => AuditRecord
    ) => Effect.Effect<AuditRecord, StorageError>
    /** The stored chain head (kept apart from the rows, so removing the newest rows is detected). */
    readonly head: (tenant: TenantId) => Effect.Effect<ChainHead | null, StorageError>
    /** Records with `seq > afterSeq` in order, at most `limit`. */
    readonly list: (
      tenant: TenantId,
      options: { readonly afterSeq: number; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<AuditRecord>, StorageError>
  }
>() {}

/** Appends to and verifies the audit log. */
export class AuditLog extends Effect.Service<AuditLog>()("@airlock/core/AuditLog", {
  effect: Effect.gen(function*() {
    const store = yield* AuditStore

    /** Appends one record stamped with `Clock` time. */
    const append = (input: AuditInput) =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        return store.append(input.tenant_id, (head) => nextRecord(head, input, now))
      })

    /** Reads a page of a tenant's log. */
    const list = (tenant: TenantId, options: { readonly afterSeq?: number; readonly limit?: number } = {}) =>
      store.list(tenant, { afterSeq: options.afterSeq ?? 0, limit: Math.min(Math.max(options.limit ?? 100, 1), 1000) })

    /**
     * Walks the whole chain page by page and reports the first broken link, if any; the last
     * record must also match the stored head, or the newest rows were removed.
     */
    const verify = (tenant: TenantId, pageSize = 500): Effect.Effect<VerifyReport, StorageError> =>
      Effect.gen(function*() {
        const stored = yield* store.head(tenant)
        let head: ChainHead = { seq: 0, hash: GENESIS_HASH }
        let checked = 0
        while (true) {
          const page = yield* store.list(tenant, { afterSeq: head.seq, limit: pageSize })
          const result = checkRecords(head, page)
          checked += result.head.seq - head.seq
          if (result.break) return { ok: false, checked, first_break: result.break }
          head = result.head
          if (page.length < pageSize) break
        }
        const expected = stored ?? { seq: 0, hash: GENESIS_HASH }
        if (expected.seq !== head.seq || expected.hash !== head.hash) {
          return { ok: false, checked, first_break: { seq: head.seq + 1, reason: "truncated" as const } }
        }
        return { ok: true, checked, first_break: null }
      })

    return { append, list, verify } as const
  })
}) {}

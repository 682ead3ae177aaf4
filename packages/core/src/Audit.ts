/**
 * The append-only audit log, hash-chained per tenant: each record's hash covers its content and
 * the previous record's hash, so changing, removing or reordering any row breaks every later
 * link, and {@link AuditLog.verify} names the first broken one. Verification is incremental: a
 * stored checkpoint (sequence and hash verified up to) lets a verification hash only what is new;
 * a full verification from the first record is an explicit action.
 */
import { Clock, Context, Deferred, Effect, type Exit, FiberId, Metric, Scheduler, Schema } from "effect"
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
  /** Records hashed by this verification. */
  readonly checked: number
  readonly first_break: ChainBreak | null
  /** `full`: from the first record; `incremental`: from the stored checkpoint. */
  readonly scope?: "full" | "incremental"
  /** The sequence the chain is verified up to (the checkpoint after this verification). */
  readonly verified_through?: number
  /** False when an incremental verification stopped at its record budget before the head. */
  readonly complete?: boolean
}

/** How far a tenant's chain has been verified: the sequence and hash of the last record checked. */
export interface AuditCheckpoint {
  readonly seq: number
  readonly hash: string
  readonly verified_at: number
}

/** Options of {@link AuditLog.verify}. */
export interface VerifyOptions {
  /** Walk from the first record (an explicit admin action), not from the checkpoint. */
  readonly full?: boolean
  /** Stop an incremental walk after this many records (listing pages bound their work). */
  readonly maxRecords?: number
  /** Records read and hashed per step (the event loop runs between steps). */
  readonly pageSize?: number
}

/**
 * Checks a page of records on its own: each record's hash, and the links between consecutive
 * ones (the first record's link to its predecessor is the chain walk's business). Pure.
 */
export const checkPage = (records: ReadonlyArray<AuditRecord>): ChainBreak | null => {
  let previous: AuditRecord | undefined
  for (const r of records) {
    if (previous !== undefined) {
      if (r.seq !== previous.seq + 1) return { seq: previous.seq + 1, reason: "sequence_gap" }
      if (r.prev_hash !== previous.hash) return { seq: r.seq, reason: "prev_hash_mismatch" }
    }
    if (auditHash(r) !== r.hash) return { seq: r.seq, reason: "hash_mismatch" }
    previous = r
  }
  return null
}

/**
 * A real turn of the event loop (a macrotask), whatever the Effect scheduler: long verification
 * runs in steps and lets the process answer other requests — health checks — between them.
 */
const yieldToEventLoop: Effect.Effect<void> = Effect.yieldNow().pipe(Effect.withScheduler(Scheduler.timer(0)))

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
    /** The stored verification checkpoint of a tenant's chain, or null before the first verification. */
    readonly checkpoint: (tenant: TenantId) => Effect.Effect<AuditCheckpoint | null, StorageError>
    /**
     * Stores the checkpoint when it moves forward: one at or below the stored sequence is ignored
     * (a conditional update), so two walks finishing out of order never move it backwards.
     */
    readonly saveCheckpoint: (tenant: TenantId, checkpoint: AuditCheckpoint) => Effect.Effect<void, StorageError>
  }
>() {}

/** Audit records hashed by chain verifications (a walk shared by concurrent callers counts once). */
export const verifiedRecords = Metric.counter("audit_verify_records_total", {
  description: "Audit records hashed by chain verifications",
  incremental: true
})

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
     * Verifies a tenant's chain and reports the first broken link, if any. Incremental by default:
     * from the stored checkpoint (sequence and hash verified up to), so only what is new is
     * hashed; `full` walks from the first record (an explicit admin action: tampering before the
     * checkpoint is found only so). At the head the last record must match the stored chain head,
     * or the newest rows were removed. A clean walk moves the checkpoint forward (also when an
     * incremental walk stops at `maxRecords`). Work is done `pageSize` records at a time, with a
     * turn of the event loop between steps.
     */
    const walk = (tenant: TenantId, options: VerifyOptions): Effect.Effect<VerifyReport, StorageError> =>
      Effect.gen(function*() {
        const pageSize = Math.max(1, options.pageSize ?? 200)
        const saved = options.full === true ? null : yield* store.checkpoint(tenant)
        const scope = options.full === true ? "full" as const : "incremental" as const
        const start: ChainHead = saved === null ? { seq: 0, hash: GENESIS_HASH } : { seq: saved.seq, hash: saved.hash }
        const budget = options.maxRecords ?? Number.POSITIVE_INFINITY
        const stored = yield* store.head(tenant)
        let head = start
        let checked = 0
        let complete = true
        while (true) {
          if (checked >= budget) {
            complete = false
            break
          }
          const page = yield* store.list(tenant, { afterSeq: head.seq, limit: Math.min(pageSize, budget - checked) })
          const result = checkRecords(head, page)
          checked += result.head.seq - head.seq
          yield* Metric.incrementBy(verifiedRecords, result.break ? page.length : result.head.seq - head.seq)
          if (result.break) {
            return {
              ok: false,
              checked,
              first_break: result.break,
              scope,
              verified_through: start.seq,
              complete: true
            } satisfies VerifyReport
          }
          head = result.head
          if (page.length < pageSize && checked < budget) break
          yield* yieldToEventLoop
        }
        if (complete) {
          const expected = stored ?? { seq: 0, hash: GENESIS_HASH }
          if (expected.seq !== head.seq || expected.hash !== head.hash) {
            return {
              ok: false,
              checked,
              first_break: { seq: head.seq + 1, reason: "truncated" as const },
              scope,
              verified_through: start.seq,
              complete
            } satisfies VerifyReport
          }
        }
        if (head.seq > 0 && (saved === null || head.seq !== saved.seq)) {
          yield* store.saveCheckpoint(tenant, { ...head, verified_at: yield* Clock.currentTimeMillis })
        }
        return { ok: true, checked, first_break: null, scope, verified_through: head.seq, complete }
      })

    // one walk per tenant at a time; callers asking for the same walk while it runs share its result
    const locks = new Map<string, Effect.Semaphore>()
    const running = new Map<string, Deferred.Deferred<VerifyReport, StorageError>>()
    const lockOf = (tenant: TenantId) => {
      let lock = locks.get(tenant)
      if (lock === undefined) {
        lock = Effect.unsafeMakeSemaphore(1)
        locks.set(tenant, lock)
      }
      return lock
    }

    /**
     * Verifies a tenant's chain (the rules are {@link walk}'s, above). One walk per tenant runs at a
     * time; a call with the same options while one runs awaits that walk's result instead of
     * hashing the same records again. The walk runs detached from its first caller, so a caller
     * going away (a closed connection) does not cut it short for the others.
     */
    const verifyChain = (tenant: TenantId, options: VerifyOptions = {}): Effect.Effect<VerifyReport, StorageError> =>
      Effect.suspend(() => {
        const key = `${tenant}\u0000${options.full === true}\u0000${options.maxRecords ?? ""}\u0000${
          options.pageSize ?? ""
        }`
        const shared = running.get(key)
        if (shared !== undefined) return Deferred.await(shared)
        const done = Deferred.unsafeMake<VerifyReport, StorageError>(FiberId.none)
        running.set(key, done)
        const finish = (exit: Exit.Exit<VerifyReport, StorageError>) =>
          Effect.suspend(() => {
            running.delete(key)
            return Deferred.done(done, exit)
          })
        return Effect.zipRight(
          Effect.forkDaemon(
            lockOf(tenant).withPermits(1)(walk(tenant, options)).pipe(
              Effect.exit,
              Effect.flatMap(finish),
              Effect.onInterrupt(() =>
                Effect.suspend(() => {
                  running.delete(key)
                  return Deferred.interrupt(done)
                })
              )
            )
          ),
          Deferred.await(done)
        )
      })

    /**
     * The full verification from the first record (`pageSize` records per step), reported as
     * `{ok, checked, first_break}`; a clean walk stores the checkpoint. See {@link verifyChain}
     * for the incremental one.
     */
    const verify = (tenant: TenantId, pageSize = 500): Effect.Effect<VerifyReport, StorageError> =>
      Effect.map(verifyChain(tenant, { full: true, pageSize }), (r) => ({
        ok: r.ok,
        checked: r.checked,
        first_break: r.first_break
      }))

    return { append, list, verify, verifyChain } as const
  })
}) {}

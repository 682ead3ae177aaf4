/**
 * The one path every canonical entry takes into the journal — manual posts, reversals and
 * applied proposals alike. It runs inside the caller's transaction and performs no RBAC (the
 * services and the governed pipeline check permissions before calling it).
 */
import { Errors, type Ids, Trusted } from "@airlock/core"
import { type Context, Effect, Option } from "effect"
import type { BankTransactionStore } from "../BankTransaction.js"
import type { AccountStore } from "../Chart.js"
import {
  checkDraft,
  contentHash,
  type EntryDraft,
  JournalEntry,
  type PostResult,
  type SideRule
} from "../JournalEntry.js"
import type { JournalStore } from "../JournalStore.js"
import { check as checkLock, type PeriodLockStore } from "../PeriodLock.js"

/** Options of one post. */
export interface PostOptions {
  /** Accept inactive accounts (reversals must be able to cancel history). */
  readonly allowInactive?: boolean
  /** Account-type rules for this kind of entry. */
  readonly rules?: ReadonlyArray<SideRule>
  /** Verb used in a `period.locked` message ("Posting", "Reversing", "Applying"). */
  readonly what?: string
}

/** The services posting needs. */
export interface PosterDeps {
  readonly store: Context.Tag.Service<typeof JournalStore>
  readonly accounts: Context.Tag.Service<typeof AccountStore>
  readonly locks: Context.Tag.Service<typeof PeriodLockStore>
  readonly bank: Context.Tag.Service<typeof BankTransactionStore>
  readonly ids: Context.Tag.Service<typeof Ids.IdGenerator>
}

/** Builds the poster over its stores. */
export const makePoster = (deps: PosterDeps) => {
  const { accounts, bank, ids, locks, store } = deps

  /** Same key: the original when the content matches, `idempotency.conflict` otherwise. */
  const sameContent = (existing: JournalEntry, draft: EntryDraft): Effect.Effect<PostResult, Errors.Conflict> =>
    existing.content_hash === contentHash(draft)
      ? Effect.succeed({ entry: existing, duplicate: true })
      : Effect.fail(
        new Errors.Conflict({
          code: "idempotency.conflict",
          message: "Idempotency key was already used with a different entry",
          details: { entry_id: existing.id }
        })
      )

  const post = (
    tenant: Ids.TenantId,
    draft: EntryDraft,
    postedBy: string,
    options: PostOptions = {}
  ): Effect.Effect<
    PostResult,
    Errors.ValidationError | Errors.PeriodLocked | Errors.Conflict | Errors.NotFound | Errors.StorageError
  > =>
    Effect.gen(function*() {
      if (draft.idempotency_key !== null) {
        const existing = yield* store.findByIdempotencyKey(tenant, draft.idempotency_key)
        if (Option.isSome(existing)) return yield* sameContent(existing.value, draft)
      }
      const lock = yield* locks.getForPosting(tenant)
      yield* checkLock(Option.isSome(lock) ? lock.value.lock_date : null, draft.date, options.what)
      if (draft.reverses_entry_id !== null) {
        const previous = yield* store.findReversal(tenant, draft.reverses_entry_id)
        if (Option.isSome(previous)) {
          return yield* new Errors.Conflict({
            code: "entry.already_reversed",
            message: "Entry was already reversed",
            details: { entry_id: draft.reverses_entry_id, reversal_id: previous.value.id }
          })
        }
      } else if (draft.bank_transaction_id !== null) {
        const txn = yield* bank.getForUpdate(tenant, draft.bank_transaction_id)
        if (Option.isNone(txn)) {
          return yield* new Errors.ValidationError({
            code: "validation.bank_transaction_unknown",
            message: `Bank transaction ${draft.bank_transaction_id} does not exist`,
            details: { bank_transaction_id: draft.bank_transaction_id }
          })
        }
        if (txn.value.currency !== draft.currency) {
          return yield* new Errors.ValidationError({
            code: "validation.currency_mismatch",
            message: `Bank transaction is in ${txn.value.currency}, the entry in ${draft.currency}`,
            details: { bank_transaction_id: draft.bank_transaction_id }
          })
        }
        const live = yield* store.liveForBankTransaction(tenant, draft.bank_transaction_id)
        if (live.length > 0) {
          return yield* new Errors.Conflict({
            code: "bank_transaction.already_posted",
            message: "Bank transaction already has a journal entry; reverse it first",
            details: { bank_transaction_id: draft.bank_transaction_id, entry_id: live[0]!.id }
          })
        }
      }
      const codes = [...new Set(draft.lines.map((l) => l.account_code))]
      const chart = yield* accounts.getMany(tenant, codes)
      yield* checkDraft(draft, chart, options)
      return { entry: yield* insertChecked(tenant, draft, postedBy), duplicate: false }
    })

  /**
   * Numbers and stores a draft that was already checked inside the same transaction (by the
   * apply-phase gates of a proposal, which held the row locks while checking).
   */
  const insertChecked = (
    tenant: Ids.TenantId,
    draft: EntryDraft,
    postedBy: string
  ): Effect.Effect<JournalEntry, Errors.Conflict | Errors.ValidationError | Errors.StorageError> =>
    // one id, one clock read, one store call: this runs on every applied proposal
    Effect.flatMap(ids.next("je"), (id) =>
      Effect.clockWith((clock) => {
        const entry = Trusted.make(JournalEntry, {
          tenant_id: tenant,
          id,
          entry_no: 0,
          date: draft.date,
          memo: draft.memo,
          currency: draft.currency,
          lines: draft.lines,
          source: draft.source,
          proposal_id: draft.proposal_id,
          bank_transaction_id: draft.bank_transaction_id,
          reverses_entry_id: draft.reverses_entry_id,
          idempotency_key: draft.idempotency_key,
          content_hash: contentHash(draft),
          posted_by: postedBy,
          posted_at: clock.unsafeCurrentTimeMillis()
        })
        return store.insert(entry)
      }))

  return { post, insertChecked, sameContent } as const
}

/**
 * The journal's storage port and the errors its adapters raise: every adapter builds its refusals
 * with the constructors here, so memory, SQLite and PostgreSQL say the same.
 */
import { Errors, type Ids } from "@airlock/core"
import { Context, type Effect, type Option, Schema } from "effect"
import { type EntrySource, type JournalEntry, Side } from "./JournalEntry.js"
import { MAX_TOTAL_MINOR, MinorUnits } from "./Money.js"

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/** Filter and cursor for listing entries (ordered by date, then entry number). */
export interface EntryQuery {
  readonly from?: string | undefined
  readonly to?: string | undefined
  readonly account_code?: string | undefined
  readonly source?: EntrySource | undefined
  /** Entries strictly after this position. */
  readonly after?: { readonly date: string; readonly entry_no: number } | undefined
  readonly limit: number
}

/** Debit and credit totals. */
export interface Totals {
  readonly debit: bigint
  readonly credit: bigint
}

/** One account's line with its entry's date and number: a row of the general ledger. */
export const AccountLine = Schema.Struct({
  entry_id: Schema.String,
  entry_no: Schema.Number,
  date: Schema.String,
  memo: Schema.String,
  line_no: Schema.Number,
  side: Side,
  amount_minor: MinorUnits,
  description: Schema.NullOr(Schema.String)
})
/** Type of {@link AccountLine}. */
export type AccountLine = typeof AccountLine.Type

/** Position in an account's lines (date, entry number, line number). */
export interface LinePosition {
  readonly date: string
  readonly entry_no: number
  readonly line_no: number
}

/**
 * The refusal of an entry that would take an account's debit (or credit) total of its day past
 * {@link MAX_TOTAL_MINOR}. Stores build it with this, so every adapter says the same.
 */
export const balanceRangeError = (account_code: string, date: string, side: Side): Errors.ValidationError =>
  invalid(
    "validation.amount_range",
    `This entry would take the ${side} total of account ${account_code} on ${date} past ${MAX_TOTAL_MINOR} minor units, the most a balance can hold`,
    { account_code, date, side }
  )

/** The refusal of an entry whose idempotency key another entry of the tenant holds. */
export const idempotencyKeyTakenError = (idempotency_key: string | null): Errors.Conflict =>
  new Errors.Conflict({
    code: "idempotency.key_taken",
    message: "Idempotency key already used",
    details: { idempotency_key }
  })

/** The refusal of a second reversal of one entry. */
export const alreadyReversedError = (entry_id: string | null): Errors.Conflict =>
  new Errors.Conflict({ code: "entry.already_reversed", message: "Entry was already reversed", details: { entry_id } })

/** The refusal of a second entry for one applied proposal. */
export const proposalPostedError = (proposal_id: string | null): Errors.Conflict =>
  new Errors.Conflict({
    code: "entry.proposal_posted",
    message: "Proposal already has its entry",
    details: { proposal_id }
  })

/** Storage port for the journal. It offers no way to change or delete an entry. */
export class JournalStore extends Context.Tag("@airlock/ledger/JournalStore")<
  JournalStore,
  {
    /**
     * Stores an entry with the next `entry_no` of the tenant (the given one is ignored) and adds
     * its lines to the materialised balances, atomically. Fails with `Conflict`:
     * {@link idempotencyKeyTakenError} (key used), {@link alreadyReversedError} (the reversed entry
     * already has a reversal), {@link proposalPostedError} (the proposal already has its entry),
     * core's `CorePorts.duplicateError` (the id is taken); and with
     * {@link balanceRangeError} when a materialised total of the entry's day would pass
     * {@link MAX_TOTAL_MINOR} (the caller's transaction then undoes whatever the store wrote).
     */
    readonly insert: (
      entry: JournalEntry
    ) => Effect.Effect<JournalEntry, Errors.Conflict | Errors.ValidationError | Errors.StorageError>
    readonly get: (tenant: Ids.TenantId, id: string) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    readonly findByIdempotencyKey: (
      tenant: Ids.TenantId,
      key: string
    ) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** The entry reversing `id`, if any. */
    readonly findReversal: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** The entry that promoted proposal `proposalId`, if any. */
    readonly findByProposal: (
      tenant: Ids.TenantId,
      proposalId: string
    ) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** Entries referencing a bank transaction that are neither reversals nor reversed. */
    readonly liveForBankTransaction: (
      tenant: Ids.TenantId,
      bankTransactionId: string
    ) => Effect.Effect<ReadonlyArray<JournalEntry>, Errors.StorageError>
    /** A page of entries by (date, entry_no). */
    readonly list: (
      tenant: Ids.TenantId,
      query: EntryQuery
    ) => Effect.Effect<ReadonlyArray<JournalEntry>, Errors.StorageError>
    /** An account's totals over entries dated on or before `asOf` (from the materialised balances). */
    readonly accountTotals: (
      tenant: Ids.TenantId,
      account: string,
      asOf: string
    ) => Effect.Effect<Totals, Errors.StorageError>
    /** Totals of every account with activity on or before `asOf`. */
    readonly allTotals: (
      tenant: Ids.TenantId,
      asOf: string
    ) => Effect.Effect<ReadonlyArray<Totals & { readonly account_code: string }>, Errors.StorageError>
    /** An account's lines dated in [from, to], after a position, ordered by position. */
    readonly accountLines: (
      tenant: Ids.TenantId,
      account: string,
      query: {
        readonly from: string
        readonly to: string
        readonly after?: LinePosition | undefined
        readonly limit: number
      }
    ) => Effect.Effect<ReadonlyArray<AccountLine>, Errors.StorageError>
    /** Totals of an account's lines on one day up to and including a position. */
    readonly dayTotalsThrough: (
      tenant: Ids.TenantId,
      account: string,
      position: LinePosition
    ) => Effect.Effect<Totals, Errors.StorageError>
  }
>() {}

/**
 * The canonical journal (Stream A): immutable double-entry entries. Posting validates
 * deterministically, each failure with a stable code; nothing updates or deletes an entry —
 * a correction is a reversing entry linked to the original, and an entry is reversed at most
 * once. An idempotency key makes a retried post return the original entry (same content) or
 * fail with `idempotency.conflict` (different content).
 */
import { type Actor, Audit, Canonical, Errors, Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Context, Effect, Either, Layer, Option, Schema } from "effect"
import * as CalendarDate from "./CalendarDate.js"
import { type Account, AccountStore, AccountType } from "./Chart.js"
import { makeAccess, notFound } from "./internal/access.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { CurrencyCode, DecimalInput, MAX_TOTAL_MINOR, MinorUnits, parseAmount } from "./Money.js"
import { PeriodLockStore } from "./PeriodLock.js"
import { makePoster } from "./internal/posting.js"
import { PageLimit, pageSize } from "./internal/paging.js"
import { BankTransactionStore } from "./BankTransaction.js"

/** Where an entry came from: a person, an applied companion proposal, or an import. */
export const EntrySource = Schema.Literal("manual", "companion", "import")
/** Type of {@link EntrySource}. */
export type EntrySource = typeof EntrySource.Type

/** Debit or credit. */
export const Side = Schema.Literal("debit", "credit")
/** Type of {@link Side}. */
export type Side = typeof Side.Type

/** One line of an entry: an account, a side and a positive amount in minor units. */
export const JournalLine = Schema.Struct({
  line_no: Schema.Number,
  account_code: Schema.String,
  side: Side,
  amount_minor: MinorUnits,
  description: Schema.NullOr(Schema.String),
  /** QuickBooks "Name" (customer / vendor / employee) of the line. */
  name: Schema.NullOr(Schema.String),
  /** QuickBooks "Class" of the line. */
  class: Schema.NullOr(Schema.String),
  /** QuickBooks "Location" of the line. */
  location: Schema.NullOr(Schema.String)
})
/** Type of {@link JournalLine}. */
export type JournalLine = typeof JournalLine.Type

/** A posted entry. Never changed after it is stored. */
export class JournalEntry extends Schema.Class<JournalEntry>("JournalEntry")({
  tenant_id: Schema.String,
  id: Schema.String,
  /** Per-tenant sequence number (1, 2, …), assigned by the store; the export's "Journal No.". */
  entry_no: Schema.Number,
  date: Schema.String,
  memo: Schema.String,
  currency: Schema.String,
  lines: Schema.Array(JournalLine),
  source: EntrySource,
  /** The applied shadow proposal this entry promotes (source `companion`). */
  proposal_id: Schema.NullOr(Schema.String),
  bank_transaction_id: Schema.NullOr(Schema.String),
  /** Set on a reversing entry: the entry it cancels. */
  reverses_entry_id: Schema.NullOr(Schema.String),
  idempotency_key: Schema.NullOr(Schema.String),
  /** Hash of the entry's content (what idempotency compares; an integrity fingerprint). */
  content_hash: Schema.String,
  posted_by: Schema.String,
  posted_at: Schema.Number
}) {}

/** An entry before it is numbered and stored: what validation checks. */
export interface EntryDraft {
  readonly date: string
  readonly memo: string
  readonly currency: string
  readonly lines: ReadonlyArray<JournalLine>
  readonly source: EntrySource
  readonly proposal_id: string | null
  readonly bank_transaction_id: string | null
  readonly reverses_entry_id: string | null
  readonly idempotency_key: string | null
}

/** A rule forbidding account types on one side (e.g. no income debited by an AI proposal). */
export interface SideRule {
  readonly side: Side
  readonly forbidden: ReadonlyArray<AccountType>
  readonly reason: string
}

const Text = (max: number) => Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(max))))

/** One line of a post request: exactly one of `debit` / `credit`, as a decimal (`"12.34"`). */
export const PostLine = Schema.Struct({
  account_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)),
  debit: Schema.optional(Schema.NullOr(DecimalInput)),
  credit: Schema.optional(Schema.NullOr(DecimalInput)),
  currency: Schema.optional(CurrencyCode),
  description: Text(500),
  name: Text(100),
  class: Text(100),
  location: Text(100)
})
/** Type of {@link PostLine}. */
export type PostLine = typeof PostLine.Type

/** Body of `POST /api/v1/ledger/entries`. */
export const PostEntry = Schema.Struct({
  date: Schema.String,
  memo: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  currency: Schema.optional(CurrencyCode),
  lines: Schema.Array(PostLine),
  idempotency_key: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))),
  source: Schema.optional(Schema.Literal("manual", "import")),
  bank_transaction_id: Schema.optional(Schema.NullOr(Schema.String))
})
/** Type of {@link PostEntry}. */
export type PostEntry = typeof PostEntry.Type

/** Body of `POST /api/v1/ledger/entries/{id}/reverse` (all optional; date defaults to the original's). */
export const ReverseEntry = Schema.Struct({
  date: Schema.optional(Schema.String),
  memo: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  idempotency_key: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))))
})
/** Type of {@link ReverseEntry}. */
export type ReverseEntry = typeof ReverseEntry.Type

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/**
 * Turns a post request into a draft: dates and amounts parsed in the entry's currency, at least
 * two lines, exactly one side per line, every amount positive, one currency. Pure.
 */
export const draftFromInput = (
  input: PostEntry,
  options: {
    readonly defaultCurrency: string
    readonly exponents: Readonly<Record<string, number>>
    readonly maxLines: number
    readonly source?: EntrySource
    readonly proposal_id?: string | null
  }
): Either.Either<EntryDraft, Errors.ValidationError> =>
  Either.gen(function*() {
    const date = yield* CalendarDate.parse(input.date)
    const currency = input.currency ?? input.lines.find((l) => l.currency !== undefined)?.currency ?? options.defaultCurrency
    if (!(currency in options.exponents)) return yield* Either.left(invalid("validation.currency", `Unknown currency ${currency}`, { currency }))
    if (input.lines.length < 2) return yield* Either.left(invalid("validation.min_lines", "An entry needs at least two lines", { lines: input.lines.length }))
    if (input.lines.length > options.maxLines) {
      return yield* Either.left(invalid("validation.too_many_lines", `An entry has at most ${options.maxLines} lines`, { lines: input.lines.length }))
    }
    const lines: Array<JournalLine> = []
    for (let i = 0; i < input.lines.length; i++) {
      const l = input.lines[i]!
      const n = i + 1
      if (l.currency !== undefined && l.currency !== currency) {
        return yield* Either.left(invalid("validation.mixed_currency", "All lines of an entry must be in one currency", { line: n, currency: l.currency, entry_currency: currency }))
      }
      const hasDebit = l.debit !== undefined && l.debit !== null && l.debit !== ""
      const hasCredit = l.credit !== undefined && l.credit !== null && l.credit !== ""
      if (hasDebit === hasCredit) {
        return yield* Either.left(invalid("validation.line_side", "Each line has exactly one of debit or credit", { line: n }))
      }
      const side: Side = hasDebit ? "debit" : "credit"
      const amount = yield* parseAmount((hasDebit ? l.debit : l.credit)!, currency, { field: `lines[${i}].${side}`, table: options.exponents }).pipe(
        Either.mapLeft((e) => invalid(e.code, e.message, { ...e.details, line: n }))
      )
      if (amount <= 0n) return yield* Either.left(invalid("validation.amount_positive", "Every amount must be positive", { line: n }))
      lines.push({
        line_no: n,
        account_code: l.account_code,
        side,
        amount_minor: amount,
        description: l.description ?? null,
        name: l.name ?? null,
        class: l.class ?? null,
        location: l.location ?? null
      })
    }
    return {
      date,
      memo: input.memo ?? "",
      currency,
      lines,
      source: options.source ?? input.source ?? "manual",
      proposal_id: options.proposal_id ?? null,
      bank_transaction_id: input.bank_transaction_id ?? null,
      reverses_entry_id: null,
      idempotency_key: input.idempotency_key ?? null
    } satisfies EntryDraft
  })

/** Sum of debits and credits of some lines. Pure. */
export const totals = (lines: ReadonlyArray<Pick<JournalLine, "side" | "amount_minor">>): { debit: bigint; credit: bigint } => {
  let debit = 0n
  let credit = 0n
  for (const l of lines) {
    if (l.side === "debit") debit += l.amount_minor
    else credit += l.amount_minor
  }
  return { debit, credit }
}

/**
 * The checks that need the chart: structure (≥ 2 lines, positive amounts), accounts exist, are
 * active (unless `allowInactive`, for reversals of history), share the entry's currency and
 * satisfy the side rules; and debits equal credits. Pure.
 */
export const checkDraft = (
  draft: EntryDraft,
  accounts: ReadonlyMap<string, Account>,
  options: { readonly allowInactive?: boolean; readonly rules?: ReadonlyArray<SideRule> } = {}
): Either.Either<EntryDraft, Errors.ValidationError> => {
  if (draft.lines.length < 2) return Either.left(invalid("validation.min_lines", "An entry needs at least two lines", { lines: draft.lines.length }))
  for (const l of draft.lines) {
    if (l.amount_minor <= 0n) return Either.left(invalid("validation.amount_positive", "Every amount must be positive", { line: l.line_no }))
    const a = accounts.get(l.account_code)
    if (!a) return Either.left(invalid("validation.account_unknown", `Account ${l.account_code} does not exist`, { line: l.line_no, account_code: l.account_code }))
    if (!a.active && !options.allowInactive) {
      return Either.left(invalid("validation.account_inactive", `Account ${l.account_code} is inactive`, { line: l.line_no, account_code: l.account_code }))
    }
    if (a.currency !== draft.currency) {
      return Either.left(invalid("validation.currency_mismatch", `Account ${l.account_code} is kept in ${a.currency}, the entry in ${draft.currency}`, { line: l.line_no, account_code: l.account_code, account_currency: a.currency, currency: draft.currency }))
    }
    for (const rule of options.rules ?? []) {
      if (rule.side === l.side && rule.forbidden.includes(a.type)) {
        return Either.left(invalid("validation.account_type", `A ${a.type} account cannot take this ${l.side}: ${rule.reason}`, { line: l.line_no, account_code: l.account_code, type: a.type, side: l.side }))
      }
    }
  }
  const t = totals(draft.lines)
  if (t.debit !== t.credit) {
    return Either.left(
      invalid("validation.unbalanced", "Debits must equal credits", {
        debit_total: t.debit.toString(),
        credit_total: t.credit.toString(),
        difference: (t.debit - t.credit).toString()
      })
    )
  }
  return Either.right(draft)
}

// strings that JSON.stringify leaves as they are between quotes (no quote, backslash, control
// character or surrogate): quoted directly, the common case on every post
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/

/** `${JSON.stringify(s)}`, byte for byte, with a fast path for plain strings. */
const quote = (s: unknown): string => (typeof s === "string" && PLAIN.test(s) ? `"${s}"` : `${JSON.stringify(s)}`)

/**
 * The hash idempotency compares: everything that makes an entry what it is, nothing about who
 * or when. Strings and nulls are JSON-encoded and fields separated, so the encoding is
 * unambiguous; it is built directly (not through generic canonical JSON) as it runs per post.
 */
export const contentHash = (draft: EntryDraft): string => {
  const j = quote
  let text = `v1|${j(draft.date)}|${j(draft.memo)}|${j(draft.currency)}|${draft.source}|${j(draft.proposal_id)}|${j(draft.bank_transaction_id)}|${j(draft.reverses_entry_id)}`
  for (const l of draft.lines) {
    text += `|${j(l.account_code)},${l.side},${l.amount_minor},${j(l.description)},${j(l.name)},${j(l.class)},${j(l.location)}`
  }
  return Canonical.sha256Hex(text)
}

/** The draft of the entry that cancels `entry`: same lines, sides swapped. Pure. */
export const reversalDraft = (
  entry: JournalEntry,
  options: { readonly date: string; readonly memo?: string | undefined; readonly idempotency_key?: string | null | undefined }
): EntryDraft => ({
  date: options.date,
  memo: options.memo ?? `Reversal of entry ${entry.entry_no}${entry.memo ? `: ${entry.memo}` : ""}`.slice(0, 500),
  currency: entry.currency,
  lines: entry.lines.map((l) => ({ ...l, side: l.side === "debit" ? "credit" as const : "debit" as const })),
  source: entry.source === "companion" ? "manual" : entry.source,
  proposal_id: null,
  bank_transaction_id: entry.bank_transaction_id,
  reverses_entry_id: entry.id,
  idempotency_key: options.idempotency_key ?? null
})

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

/** Storage port for the journal. It offers no way to change or delete an entry. */
export class JournalStore extends Context.Tag("@airlock/ledger/JournalStore")<
  JournalStore,
  {
    /**
     * Stores an entry with the next `entry_no` of the tenant (the given one is ignored) and adds
     * its lines to the materialised balances, atomically. Fails with `Conflict`:
     * `idempotency.key_taken` (key used), `entry.already_reversed` (the reversed entry already has
     * a reversal), `entry.proposal_posted` (the proposal already has its entry); and with
     * {@link balanceRangeError} when a materialised total of the entry's day would pass
     * {@link MAX_TOTAL_MINOR} (the caller's transaction then undoes whatever the store wrote).
     */
    readonly insert: (entry: JournalEntry) => Effect.Effect<JournalEntry, Errors.Conflict | Errors.ValidationError | Errors.StorageError>
    readonly get: (tenant: Ids.TenantId, id: string) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    readonly findByIdempotencyKey: (tenant: Ids.TenantId, key: string) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** The entry reversing `id`, if any. */
    readonly findReversal: (tenant: Ids.TenantId, id: string) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** The entry that promoted proposal `proposalId`, if any. */
    readonly findByProposal: (tenant: Ids.TenantId, proposalId: string) => Effect.Effect<Option.Option<JournalEntry>, Errors.StorageError>
    /** Entries referencing a bank transaction that are neither reversals nor reversed. */
    readonly liveForBankTransaction: (tenant: Ids.TenantId, bankTransactionId: string) => Effect.Effect<ReadonlyArray<JournalEntry>, Errors.StorageError>
    /** A page of entries by (date, entry_no). */
    readonly list: (tenant: Ids.TenantId, query: EntryQuery) => Effect.Effect<ReadonlyArray<JournalEntry>, Errors.StorageError>
    /** An account's totals over entries dated on or before `asOf` (from the materialised balances). */
    readonly accountTotals: (tenant: Ids.TenantId, account: string, asOf: string) => Effect.Effect<Totals, Errors.StorageError>
    /** Totals of every account with activity on or before `asOf`. */
    readonly allTotals: (
      tenant: Ids.TenantId,
      asOf: string
    ) => Effect.Effect<ReadonlyArray<Totals & { readonly account_code: string }>, Errors.StorageError>
    /** An account's lines dated in [from, to], after a position, ordered by position. */
    readonly accountLines: (
      tenant: Ids.TenantId,
      account: string,
      query: { readonly from: string; readonly to: string; readonly after?: LinePosition | undefined; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<AccountLine>, Errors.StorageError>
    /** Totals of an account's lines on one day up to and including a position. */
    readonly dayTotalsThrough: (
      tenant: Ids.TenantId,
      account: string,
      position: LinePosition
    ) => Effect.Effect<Totals, Errors.StorageError>
  }
>() {}

/** Balance of one account as of a day. `balance_minor` is positive on the account's normal side. */
export const AccountBalance = Schema.Struct({
  account_code: Schema.String,
  name: Schema.String,
  type: AccountType,
  normal_balance: Schema.Literal("debit", "credit"),
  currency: Schema.String,
  as_of: Schema.String,
  debit_minor: MinorUnits,
  credit_minor: MinorUnits,
  balance_minor: MinorUnits
})
/** Type of {@link AccountBalance}. */
export type AccountBalance = typeof AccountBalance.Type

/** A trial balance row: totals and the signed net (debits positive). */
export const TrialBalanceRow = Schema.Struct({
  account_code: Schema.String,
  name: Schema.String,
  type: AccountType,
  currency: Schema.String,
  debit_minor: MinorUnits,
  credit_minor: MinorUnits,
  net_minor: MinorUnits
})
/** Type of {@link TrialBalanceRow}. */
export type TrialBalanceRow = typeof TrialBalanceRow.Type

/** A trial balance: rows by account code and per-currency totals whose nets are zero. */
export const TrialBalance = Schema.Struct({
  as_of: Schema.String,
  rows: Schema.Array(TrialBalanceRow),
  totals: Schema.Array(Schema.Struct({ currency: Schema.String, debit_minor: MinorUnits, credit_minor: MinorUnits, net_minor: MinorUnits })),
  balanced: Schema.Boolean
})
/** Type of {@link TrialBalance}. */
export type TrialBalance = typeof TrialBalance.Type

/** A general-ledger row: a line with the account's running balance after it (normal side positive). */
export const GeneralLedgerRow = Schema.Struct({ ...AccountLine.fields, balance_minor: MinorUnits })
/** Type of {@link GeneralLedgerRow}. */
export type GeneralLedgerRow = typeof GeneralLedgerRow.Type

/** A page of the general ledger of one account; `opening_balance_minor` is the balance before its first row. */
export const GeneralLedger = Schema.Struct({
  account_code: Schema.String,
  currency: Schema.String,
  from: Schema.String,
  to: Schema.String,
  opening_balance_minor: MinorUnits,
  rows: Schema.Array(GeneralLedgerRow),
  next_cursor: Schema.NullOr(Schema.String)
})
/** Type of {@link GeneralLedger}. */
export type GeneralLedger = typeof GeneralLedger.Type

/** A page of entries with the cursor of the next page (null at the end). */
export const EntryPage = Schema.Struct({ items: Schema.Array(JournalEntry), next_cursor: Schema.NullOr(Schema.String) })
/** Type of {@link EntryPage}. */
export type EntryPage = typeof EntryPage.Type

/** One entry with the id of the entry that reversed it, if any. */
export const EntryWithReversal = Schema.Struct({ entry: JournalEntry, reversed_by: Schema.NullOr(Schema.String) })
/** Type of {@link EntryWithReversal}. */
export type EntryWithReversal = typeof EntryWithReversal.Type

/** Query of `GET /api/v1/ledger/entries`. */
export const ListEntries = Schema.Struct({
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  account_code: Schema.optional(Schema.String),
  source: Schema.optional(EntrySource),
  cursor: Schema.optional(Schema.String),
  /** A finite number, or its decimal string (as it arrives in a query string). */
  limit: Schema.optional(PageLimit)
})
/** Type of {@link ListEntries}. */
export type ListEntries = typeof ListEntries.Type

const encodeCursor = (parts: ReadonlyArray<string | number>) => parts.join("_")

const badCursor = () => invalid("validation.cursor", "Malformed cursor")

const decodeCursor = (cursor: string, size: number): Either.Either<ReadonlyArray<string>, Errors.ValidationError> => {
  const parts = cursor.split("_")
  return parts.length === size ? Either.right(parts) : Either.left(badCursor())
}

const signedFor = (normal: "debit" | "credit", t: Totals) => (normal === "debit" ? t.debit - t.credit : t.credit - t.debit)

const schemaError = (code: string) => (e: { readonly message: string }) => invalid(code, e.message)

/** What a post returns: the stored entry, and whether an idempotency key found it already there. */
export const PostResult = Schema.Struct({ entry: JournalEntry, duplicate: Schema.Boolean })
/** Type of {@link PostResult}. */
export type PostResult = typeof PostResult.Type

/** Errors of posting and reversing. */
export type PostError =
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.NotFound
  | Errors.Conflict
  | Errors.PeriodLocked
  | Errors.StorageError

/** Errors of reading. */
export type ReadError = Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.StorageError

/** The operations of {@link Journal}. */
export interface JournalShape {
  /**
   * Decimals per currency that this journal parses amounts with (`LedgerConfig.currencyExponents`):
   * edges that print amounts use the same table, so a host's override reads back as it was written.
   */
  readonly currencyExponents: Readonly<Record<string, number>>
  readonly post: (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) => Effect.Effect<PostResult, PostError>
  readonly reverse: (tenant: Ids.TenantId, actor: Actor.Actor, id: string, input?: unknown) => Effect.Effect<PostResult, PostError>
  readonly get: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<EntryWithReversal, ReadError>
  readonly list: (tenant: Ids.TenantId, actor: Actor.Actor, query?: unknown) => Effect.Effect<EntryPage, ReadError>
  readonly balance: (tenant: Ids.TenantId, actor: Actor.Actor, code: string, asOf?: string) => Effect.Effect<AccountBalance, ReadError>
  readonly trialBalance: (tenant: Ids.TenantId, actor: Actor.Actor, asOf?: string) => Effect.Effect<TrialBalance, ReadError>
  readonly generalLedger: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string,
    query?: { readonly from?: string; readonly to?: string; readonly cursor?: string; readonly limit?: number }
  ) => Effect.Effect<GeneralLedger, ReadError>
}

/** Builds the Journal service over its dependencies. */
export const make: Effect.Effect<JournalShape, never, JournalStore | AccountStore | PeriodLockStore | BankTransactionStore | Audit.AuditLog | UnitOfWork.UnitOfWork | Ids.IdGenerator | LedgerConfig | Rbac.Rbac> = Effect.gen(function*() {
  const store = yield* JournalStore
  const accounts = yield* AccountStore
  const locks = yield* PeriodLockStore
  const bank = yield* BankTransactionStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const ids = yield* Ids.IdGenerator
  const config = yield* LedgerConfig
  const access = makeAccess(yield* Rbac.Rbac)
  const poster = makePoster({ store, accounts, locks, bank, ids })

  const clampLimit = (limit: number | undefined) => pageSize(limit, config.maxPageSize)

  const load = (tenant: Ids.TenantId, id: string) =>
    Effect.flatMap(store.get(tenant, id), Option.match({ onNone: () => Effect.fail(notFound("entry", id)), onSome: Effect.succeed }))

  /** Runs a post in a transaction with its audit record; a lost idempotency race re-reads after. */
  const commit = (tenant: Ids.TenantId, actor: Actor.Actor, draft: EntryDraft, options: Parameters<typeof poster.post>[3]) =>
    uow.transaction(
      Effect.gen(function*() {
        const result = yield* poster.post(tenant, draft, actor.id, options)
        if (!result.duplicate) {
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: draft.reverses_entry_id ? "ledger.entry.reversed" : "ledger.entry.posted",
            subject: `entry:${result.entry.id}`,
            data: {
              entry_no: result.entry.entry_no,
              date: result.entry.date,
              currency: result.entry.currency,
              total_minor: totals(result.entry.lines).debit,
              content_hash: result.entry.content_hash,
              reverses_entry_id: result.entry.reverses_entry_id
            }
          })
        }
        return result
      })
    ).pipe(
      Effect.catchIf(
        (e): e is Errors.Conflict => e._tag === "Conflict" && e.code === "idempotency.key_taken" && draft.idempotency_key !== null,
        (e) =>
          Effect.flatMap(store.findByIdempotencyKey(tenant, draft.idempotency_key!), (found) =>
            Option.isSome(found) ? poster.sameContent(found.value, draft) : Effect.fail(e))
      )
    )

  /** Posts a manual (or imported) entry from a JSON-shaped request. */
  const post = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const decoded = yield* Effect.mapError(Schema.decodeUnknown(PostEntry)(input), schemaError("validation.schema"))
      const draft = yield* draftFromInput(decoded, {
        defaultCurrency: config.defaultCurrency,
        exponents: config.currencyExponents,
        maxLines: config.maxLinesPerEntry
      })
      return yield* commit(tenant, actor, draft, {})
    })

  /**
   * Posts the entry that cancels `id` (same lines, sides swapped), dated `date` or the
   * original's date. Refused for a reversal itself (`entry.is_reversal`), for an entry already
   * reversed (`entry.already_reversed`), before the original's date (`validation.reversal_date`)
   * and into a locked period (`period.locked`).
   */
  const reverse = (tenant: Ids.TenantId, actor: Actor.Actor, id: string, input: unknown = {}) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const body = yield* Effect.mapError(Schema.decodeUnknown(ReverseEntry)(input), schemaError("validation.schema"))
      const original = yield* load(tenant, id)
      if (original.reverses_entry_id !== null) {
        return yield* new Errors.Conflict({
          code: "entry.is_reversal",
          message: "A reversing entry cannot be reversed; post a new entry instead",
          details: { entry_id: id, reverses_entry_id: original.reverses_entry_id }
        })
      }
      const date = body.date === undefined ? original.date : yield* CalendarDate.parse(body.date)
      if (date < original.date) {
        // a correction cannot take effect before what it corrects: the books would show the
        // reversal alone (negative expense, phantom cash) for every day in between
        return yield* new Errors.ValidationError({
          code: "validation.reversal_date",
          message: `A reversal cannot be dated before the entry it reverses (${original.date})`,
          details: { entry_id: id, entry_date: original.date, date }
        })
      }
      const draft = reversalDraft(original, { date, memo: body.memo, idempotency_key: body.idempotency_key })
      return yield* commit(tenant, actor, draft, { allowInactive: true, what: "Reversing" })
    })

  /** One entry, with the id of the entry that reversed it (if any). */
  const get = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const entry = yield* load(tenant, id)
      const reversal = yield* store.findReversal(tenant, id)
      return { entry, reversed_by: Option.match(reversal, { onNone: () => null, onSome: (r) => r.id }) }
    })

  /** Entries by date range / account / source, ordered by (date, entry_no), with a cursor. */
  const list = (tenant: Ids.TenantId, actor: Actor.Actor, query: unknown = {}) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const q = yield* Effect.mapError(Schema.decodeUnknown(ListEntries)(query), schemaError("validation.schema"))
      if (q.from !== undefined) yield* CalendarDate.parse(q.from, "from")
      if (q.to !== undefined) yield* CalendarDate.parse(q.to, "to")
      let after: EntryQuery["after"]
      if (q.cursor !== undefined) {
        const [date, no] = yield* decodeCursor(q.cursor, 2)
        if (!CalendarDate.isCalendarDate(date!) || !/^\d+$/.test(no!)) return yield* Effect.fail(badCursor())
        after = { date: date!, entry_no: Number(no) }
      }
      const limit = clampLimit(q.limit)
      const items = yield* store.list(tenant, { from: q.from, to: q.to, account_code: q.account_code, source: q.source, after, limit: limit + 1 })
      const page = items.slice(0, limit)
      const last = page.at(-1)
      return {
        items: page,
        next_cursor: items.length > limit && last ? encodeCursor([last.date, last.entry_no]) : null
      } satisfies EntryPage
    })

  const account = (tenant: Ids.TenantId, code: string) =>
    Effect.flatMap(accounts.get(tenant, code), Option.match({ onNone: () => Effect.fail(notFound("account", code)), onSome: Effect.succeed }))

  const asOfDate = (asOf: string | undefined) => (asOf === undefined ? CalendarDate.today : CalendarDate.parse(asOf, "as_of"))

  /** An account's balance as of a day (default today, UTC), from the materialised balances. */
  const balance = (tenant: Ids.TenantId, actor: Actor.Actor, code: string, asOf?: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const day = yield* asOfDate(asOf)
      const a = yield* account(tenant, code)
      const t = yield* store.accountTotals(tenant, code, day)
      return {
        account_code: a.code,
        name: a.name,
        type: a.type,
        normal_balance: a.normal_balance,
        currency: a.currency,
        as_of: day,
        debit_minor: t.debit,
        credit_minor: t.credit,
        balance_minor: signedFor(a.normal_balance, t)
      } satisfies AccountBalance
    })

  /** The trial balance as of a day: every account with activity; nets sum to zero per currency. */
  const trialBalance = (tenant: Ids.TenantId, actor: Actor.Actor, asOf?: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const day = yield* asOfDate(asOf)
      const chart = new Map((yield* accounts.list(tenant)).map((a) => [a.code, a]))
      const all = yield* store.allTotals(tenant, day)
      const rows: Array<TrialBalanceRow> = []
      const byCurrency = new Map<string, { debit: bigint; credit: bigint }>()
      for (const t of [...all].sort((x, y) => (x.account_code < y.account_code ? -1 : 1))) {
        if (t.debit === 0n && t.credit === 0n) continue
        const a = chart.get(t.account_code)
        const currency = a?.currency ?? config.defaultCurrency
        rows.push({
          account_code: t.account_code,
          name: a?.name ?? t.account_code,
          type: a?.type ?? "Asset",
          currency,
          debit_minor: t.debit,
          credit_minor: t.credit,
          net_minor: t.debit - t.credit
        })
        const c = byCurrency.get(currency) ?? { debit: 0n, credit: 0n }
        byCurrency.set(currency, { debit: c.debit + t.debit, credit: c.credit + t.credit })
      }
      const totalsRows = [...byCurrency.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, t]) => ({
        currency,
        debit_minor: t.debit,
        credit_minor: t.credit,
        net_minor: t.debit - t.credit
      }))
      return { as_of: day, rows, totals: totalsRows, balanced: totalsRows.every((t) => t.net_minor === 0n) } satisfies TrialBalance
    })

  /**
   * The general ledger of one account over [from, to] (defaults: all history through today),
   * with an opening balance and a running balance per line; paged by cursor.
   */
  const generalLedger = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string,
    query: { readonly from?: string; readonly to?: string; readonly cursor?: string; readonly limit?: number } = {}
  ) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const a = yield* account(tenant, code)
      const from = query.from === undefined ? "1900-01-01" : yield* CalendarDate.parse(query.from, "from")
      const to = query.to === undefined ? yield* CalendarDate.today : yield* CalendarDate.parse(query.to, "to")
      let after: LinePosition | undefined
      if (query.cursor !== undefined) {
        const [date, no, line] = yield* decodeCursor(query.cursor, 3)
        if (!CalendarDate.isCalendarDate(date!) || !/^\d+$/.test(no!) || !/^\d+$/.test(line!)) return yield* Effect.fail(badCursor())
        after = { date: date!, entry_no: Number(no), line_no: Number(line) }
      }
      let opening: Totals
      if (after) {
        const before = yield* store.accountTotals(tenant, code, CalendarDate.previousDay(after.date))
        const sameDay = yield* store.dayTotalsThrough(tenant, code, after)
        opening = { debit: before.debit + sameDay.debit, credit: before.credit + sameDay.credit }
      } else {
        opening = from <= "1900-01-01" ? { debit: 0n, credit: 0n } : yield* store.accountTotals(tenant, code, CalendarDate.previousDay(from))
      }
      const limit = clampLimit(query.limit)
      const lines = yield* store.accountLines(tenant, code, { from, to, after, limit: limit + 1 })
      const page = lines.slice(0, limit)
      let running = signedFor(a.normal_balance, opening)
      const openingBalance = running
      const rows = page.map((l) => {
        const delta = l.side === a.normal_balance ? l.amount_minor : -l.amount_minor
        running += delta
        return { ...l, balance_minor: running }
      })
      const last = page.at(-1)
      return {
        account_code: a.code,
        currency: a.currency,
        from,
        to,
        opening_balance_minor: openingBalance,
        rows,
        next_cursor: lines.length > limit && last ? encodeCursor([last.date, last.entry_no, last.line_no]) : null
      } satisfies GeneralLedger
    })

  return { currencyExponents: config.currencyExponents, post, reverse, get, list, balance, trialBalance, generalLedger } as const
})

/** The journal service: post, reverse and read (RBAC `ledger.write` / `ledger.read`). */
export class Journal extends Context.Tag("@airlock/ledger/Journal")<Journal, JournalShape>() {}

/** The journal service as a layer. */
export const layer: Layer.Layer<Journal, never, JournalStore | AccountStore | PeriodLockStore | BankTransactionStore | Audit.AuditLog | UnitOfWork.UnitOfWork | Ids.IdGenerator | LedgerConfig | Rbac.Rbac> = Layer.effect(Journal, make)

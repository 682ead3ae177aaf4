/**
 * The canonical journal (Stream A) as a service: post, reverse and read immutable double-entry
 * entries. Posting validates deterministically, each failure with a stable code; nothing updates
 * or deletes an entry — a correction is a reversing entry linked to the original, and an entry is
 * reversed at most once. An idempotency key makes a retried post return the original entry (same
 * content) or fail with `idempotency.conflict` (different content). The entry model and its pure
 * checks are in {@link JournalEntry}, the storage port in {@link JournalStore}.
 */
import { type Actor, Audit, Errors, Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Effect, Either, Option, Schema } from "effect"
import { BankTransactionStore } from "./BankTransaction.js"
import * as CalendarDate from "./CalendarDate.js"
import { AccountStore, AccountType } from "./Chart.js"
import { makeAccess, notFound } from "./internal/access.js"
import { PageLimit, pageSize } from "./internal/paging.js"
import { makePoster } from "./internal/posting.js"
import {
  draftFromInput,
  type EntryDraft,
  EntrySource,
  JournalEntry,
  PostEntry,
  type PostResult,
  reversalDraft,
  totals
} from "./JournalEntry.js"
import { AccountLine, type EntryQuery, JournalStore, type LinePosition, type Totals } from "./JournalStore.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { MinorUnits } from "./Money.js"
import { PeriodLockStore } from "./PeriodLock.js"

/** Body of `POST /api/v1/ledger/entries/{id}/reverse` (all optional; date defaults to the original's). */
export const ReverseEntry = Schema.Struct({
  date: Schema.optional(Schema.String.pipe(Schema.maxLength(32))),
  memo: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  idempotency_key: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))))
})
/** Type of {@link ReverseEntry}. */
export type ReverseEntry = typeof ReverseEntry.Type

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

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
  totals: Schema.Array(
    Schema.Struct({ currency: Schema.String, debit_minor: MinorUnits, credit_minor: MinorUnits, net_minor: MinorUnits })
  ),
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

const signedFor = (
  normal: "debit" | "credit",
  t: Totals
) => (normal === "debit" ? t.debit - t.credit : t.credit - t.debit)

const schemaError = (code: string) => (e: { readonly message: string }) => invalid(code, e.message)

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
  readonly reverse: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string,
    input?: unknown
  ) => Effect.Effect<PostResult, PostError>
  readonly get: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<EntryWithReversal, ReadError>
  readonly list: (tenant: Ids.TenantId, actor: Actor.Actor, query?: unknown) => Effect.Effect<EntryPage, ReadError>
  readonly balance: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string,
    asOf?: string
  ) => Effect.Effect<AccountBalance, ReadError>
  readonly trialBalance: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    asOf?: string
  ) => Effect.Effect<TrialBalance, ReadError>
  readonly generalLedger: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string,
    query?: { readonly from?: string; readonly to?: string; readonly cursor?: string; readonly limit?: number }
  ) => Effect.Effect<GeneralLedger, ReadError>
}

/** Builds the Journal service over its dependencies. */
export const make: Effect.Effect<
  JournalShape,
  never,
  | JournalStore
  | AccountStore
  | PeriodLockStore
  | BankTransactionStore
  | Audit.AuditLog
  | UnitOfWork.UnitOfWork
  | Ids.IdGenerator
  | LedgerConfig
  | Rbac.Rbac
> = Effect.gen(function*() {
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
    Effect.flatMap(
      store.get(tenant, id),
      Option.match({ onNone: () => Effect.fail(notFound("entry", id)), onSome: Effect.succeed })
    )

  /** Runs a post in a transaction with its audit record; a lost idempotency race re-reads after. */
  const commit = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    draft: EntryDraft,
    options: Parameters<typeof poster.post>[3]
  ) =>
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
        (e): e is Errors.Conflict =>
          e._tag === "Conflict" && e.code === "idempotency.key_taken" && draft.idempotency_key !== null,
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
      const items = yield* store.list(tenant, {
        from: q.from,
        to: q.to,
        account_code: q.account_code,
        source: q.source,
        after,
        limit: limit + 1
      })
      const page = items.slice(0, limit)
      const last = page.at(-1)
      return {
        items: page,
        next_cursor: items.length > limit && last ? encodeCursor([last.date, last.entry_no]) : null
      } satisfies EntryPage
    })

  const account = (tenant: Ids.TenantId, code: string) =>
    Effect.flatMap(
      accounts.get(tenant, code),
      Option.match({ onNone: () => Effect.fail(notFound("account", code)), onSome: Effect.succeed })
    )

  const asOfDate = (
    asOf: string | undefined
  ) => (asOf === undefined ? CalendarDate.today : CalendarDate.parse(asOf, "as_of"))

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
      return {
        as_of: day,
        rows,
        totals: totalsRows,
        balanced: totalsRows.every((t) => t.net_minor === 0n)
      } satisfies TrialBalance
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
        if (!CalendarDate.isCalendarDate(date!) || !/^\d+$/.test(no!) || !/^\d+$/.test(line!))
          return yield* Effect.fail(badCursor())
        after = { date: date!, entry_no: Number(no), line_no: Number(line) }
      }
      let opening: Totals
      if (after) {
        const before = yield* store.accountTotals(tenant, code, CalendarDate.previousDay(after.date))
        const sameDay = yield* store.dayTotalsThrough(tenant, code, after)
        opening = { debit: before.debit + sameDay.debit, credit: before.credit + sameDay.credit }
      } else {
        opening = from <= "1900-01-01"
          ? { debit: 0n, credit: 0n }
          : yield* store.accountTotals(tenant, code, CalendarDate.previousDay(from))
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

  return {
    currencyExponents: config.currencyExponents,
    post,
    reverse,
    get,
    list,
    balance,
    trialBalance,
    generalLedger
  } as const
})

/** The journal service: post, reverse and read (RBAC `ledger.write` / `ledger.read`). */
export class Journal extends Effect.Service<Journal>()("@airlock/ledger/Journal", { effect: make }) {}

/**
 * The journal's entry model: an entry and its lines, the draft that validation checks, and the
 * pure functions over them — turning a post request into a draft, the checks that need the chart,
 * the content hash idempotency compares, and the draft of a reversal. No services, no storage.
 */
import { Canonical, Errors } from "@airlock/core"
import { Either, Schema } from "effect"
import * as CalendarDate from "./CalendarDate.js"
import type { Account, AccountType } from "./Chart.js"
import { CurrencyCode, DecimalInput, MinorUnits, parseAmount } from "./Money.js"

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
  date: Schema.String.pipe(Schema.maxLength(32)),
  memo: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  currency: Schema.optional(CurrencyCode),
  lines: Schema.Array(PostLine),
  idempotency_key: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))),
  source: Schema.optional(Schema.Literal("manual", "import")),
  bank_transaction_id: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(200))))
})
/** Type of {@link PostEntry}. */
export type PostEntry = typeof PostEntry.Type

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
    const currency = input.currency ?? input.lines.find((l) => l.currency !== undefined)?.currency ??
      options.defaultCurrency
    if (!(currency in options.exponents))
      return yield* Either.left(invalid("validation.currency", `Unknown currency ${currency}`, { currency }))
    if (input.lines.length < 2)
      return yield* Either.left(
        invalid("validation.min_lines", "An entry needs at least two lines", { lines: input.lines.length })
      )
    if (input.lines.length > options.maxLines) {
      return yield* Either.left(
        invalid("validation.too_many_lines", `An entry has at most ${options.maxLines} lines`, {
          lines: input.lines.length
        })
      )
    }
    const lines: Array<JournalLine> = []
    for (let i = 0; i < input.lines.length; i++) {
      const l = input.lines[i]!
      const n = i + 1
      if (l.currency !== undefined && l.currency !== currency) {
        return yield* Either.left(
          invalid("validation.mixed_currency", "All lines of an entry must be in one currency", {
            line: n,
            currency: l.currency,
            entry_currency: currency
          })
        )
      }
      const hasDebit = l.debit !== undefined && l.debit !== null && l.debit !== ""
      const hasCredit = l.credit !== undefined && l.credit !== null && l.credit !== ""
      if (hasDebit === hasCredit) {
        return yield* Either.left(
          invalid("validation.line_side", "Each line has exactly one of debit or credit", { line: n })
        )
      }
      const side: Side = hasDebit ? "debit" : "credit"
      const amount = yield* parseAmount((hasDebit ? l.debit : l.credit)!, currency, {
        field: `lines[${i}].${side}`,
        table: options.exponents
      }).pipe(
        Either.mapLeft((e) => invalid(e.code, e.message, { ...e.details, line: n }))
      )
      if (amount <= 0n)
        return yield* Either.left(invalid("validation.amount_positive", "Every amount must be positive", { line: n }))
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
export const totals = (
  lines: ReadonlyArray<Pick<JournalLine, "side" | "amount_minor">>
): { debit: bigint; credit: bigint } => {
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
  if (draft.lines.length < 2)
    return Either.left(
      invalid("validation.min_lines", "An entry needs at least two lines", { lines: draft.lines.length })
    )
  for (const l of draft.lines) {
    if (l.amount_minor <= 0n)
      return Either.left(invalid("validation.amount_positive", "Every amount must be positive", { line: l.line_no }))
    const a = accounts.get(l.account_code)
    if (!a)
      return Either.left(
        invalid("validation.account_unknown", `Account ${l.account_code} does not exist`, {
          line: l.line_no,
          account_code: l.account_code
        })
      )
    if (!a.active && !options.allowInactive) {
      return Either.left(
        invalid("validation.account_inactive", `Account ${l.account_code} is inactive`, {
          line: l.line_no,
          account_code: l.account_code
        })
      )
    }
    if (a.currency !== draft.currency) {
      return Either.left(
        invalid(
          "validation.currency_mismatch",
          `Account ${l.account_code} is kept in ${a.currency}, the entry in ${draft.currency}`,
          { line: l.line_no, account_code: l.account_code, account_currency: a.currency, currency: draft.currency }
        )
      )
    }
    for (const rule of options.rules ?? []) {
      if (rule.side === l.side && rule.forbidden.includes(a.type)) {
        return Either.left(
          invalid("validation.account_type", `A ${a.type} account cannot take this ${l.side}: ${rule.reason}`, {
            line: l.line_no,
            account_code: l.account_code,
            type: a.type,
            side: l.side
          })
        )
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
  let text = `v1|${j(draft.date)}|${j(draft.memo)}|${j(draft.currency)}|${draft.source}|${j(draft.proposal_id)}|${
    j(draft.bank_transaction_id)
  }|${j(draft.reverses_entry_id)}`
  for (const l of draft.lines) {
    text += `|${j(l.account_code)},${l.side},${l.amount_minor},${j(l.description)},${j(l.name)},${j(l.class)},${
      j(l.location)
    }`
  }
  return Canonical.sha256Hex(text)
}

/** The draft of the entry that cancels `entry`: same lines, sides swapped. Pure. */
export const reversalDraft = (
  entry: JournalEntry,
  options: {
    readonly date: string
    readonly memo?: string | undefined
    readonly idempotency_key?: string | null | undefined
  }
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

/** What a post returns: the stored entry, and whether an idempotency key found it already there. */
export const PostResult = Schema.Struct({ entry: JournalEntry, duplicate: Schema.Boolean })
/** Type of {@link PostResult}. */
export type PostResult = typeof PostResult.Type

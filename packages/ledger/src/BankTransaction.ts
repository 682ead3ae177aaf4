/**
 * Bank transactions: what the bank says happened, imported from CSV or OFX (or given as JSON).
 * They are inputs, not books: categorising one posts a journal entry that references it. Each
 * row has a fingerprint, so importing the same file again skips what is already there.
 */
import { type Actor, AiSettings, Audit, Canonical, Errors, Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Clock, Context, Effect, Either, Option, Schema } from "effect"
import {
  CsvMapping,
  fingerprints,
  importError,
  parseCsvFile,
  type ParsedRow,
  parseOfxFile,
  type RowProblem
} from "./BankImport.js"
import * as CalendarDate from "./CalendarDate.js"
import { AccountStore } from "./Chart.js"
import { makeAccess, notFound } from "./internal/access.js"
import { PageLimit, pageSize } from "./internal/paging.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { CurrencyCode, DecimalInput, MinorUnits, parseAmount } from "./Money.js"

/** The file format a transaction came from. */
export const SourceFormat = Schema.Literal("csv", "ofx", "json")
/** Type of {@link SourceFormat}. */
export type SourceFormat = typeof SourceFormat.Type

/** One bank transaction. `amount_minor` is signed: positive money in, negative money out. */
export class BankTransaction extends Schema.Class<BankTransaction>("BankTransaction")({
  tenant_id: Schema.String,
  id: Schema.String,
  /** The chart account of the bank or card the transaction belongs to. */
  account_code: Schema.String,
  date: Schema.String,
  description: Schema.String,
  amount_minor: MinorUnits,
  currency: Schema.String,
  payee: Schema.NullOr(Schema.String),
  memo: Schema.NullOr(Schema.String),
  /** The bank's own transaction id (OFX FITID), when the file has one. */
  fit_id: Schema.NullOr(Schema.String),
  /** What makes the row the same row when a file is imported again. */
  fingerprint: Schema.String,
  source_format: SourceFormat,
  /** Line of the row in its file (1-based), when it came from a file. */
  source_line: Schema.NullOr(Schema.Number),
  imported_at: Schema.Number,
  imported_by: Schema.String
}) {}

/** Filter and cursor for listing bank transactions (ordered by date, then id). */
export interface BankTransactionQuery {
  readonly from?: string | undefined
  readonly to?: string | undefined
  readonly account_code?: string | undefined
  /** Only those with no live journal entry (never categorised, or their entry was reversed). */
  readonly unposted?: boolean | undefined
  readonly after?: { readonly date: string; readonly id: string } | undefined
  readonly limit: number
}

/** Storage port for bank transactions. */
export class BankTransactionStore extends Context.Tag("@airlock/ledger/BankTransactionStore")<
  BankTransactionStore,
  {
    /**
     * Inserts the rows whose fingerprint the tenant does not have yet and returns those;
     * the others are skipped. Call inside a transaction to make a file all-or-nothing.
     */
    readonly insertNew: (
      rows: ReadonlyArray<BankTransaction>
    ) => Effect.Effect<ReadonlyArray<BankTransaction>, Errors.StorageError>
    readonly get: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<Option.Option<BankTransaction>, Errors.StorageError>
    /**
     * Reads a transaction and locks it until the transaction ends (row lock on PostgreSQL), so
     * two postings for one bank transaction serialise. Call inside a transaction.
     */
    readonly getForUpdate: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<Option.Option<BankTransaction>, Errors.StorageError>
    readonly list: (
      tenant: Ids.TenantId,
      query: BankTransactionQuery
    ) => Effect.Effect<ReadonlyArray<BankTransaction>, Errors.StorageError>
    /**
     * The tenant's transactions dated in each calendar month (`YYYY-MM`). Inside a transaction it
     * first takes the tenant's import lock (PostgreSQL: an advisory lock until commit), so
     * concurrent imports of one tenant count one after the other.
     */
    readonly countByMonth: (
      tenant: Ids.TenantId,
      months: ReadonlyArray<string>
    ) => Effect.Effect<Readonly<Record<string, number>>, Errors.StorageError>
  }
>() {}

/**
 * Where the tenant's monthly transaction limit lives in its `AiSettings.extensions` (a positive
 * integer; absent = no limit). Tenant templates set it (`max_transactions_per_month`).
 */
export const MONTHLY_LIMIT_KEY = "ledger.max_transactions_per_month"

/** The tenant's monthly limit from its settings, or null when it has none (or an invalid one). */
export const monthlyLimitOf = (settings: AiSettings.AiSettings | undefined): number | null => {
  const raw = settings?.extensions[MONTHLY_LIMIT_KEY]
  return typeof raw === "number" && Number.isSafeInteger(raw) && raw > 0 ? raw : null
}

/**
 * The months whose count would pass the limit: `after` holds the counts including the rows
 * being imported, `importing` how many of them this import adds. Pure.
 */
export const monthsOverLimit = (
  limit: number,
  after: Readonly<Record<string, number>>,
  importing: Readonly<Record<string, number>>
): ReadonlyArray<
  { readonly month: string; readonly limit: number; readonly existing: number; readonly importing: number }
> =>
  Object.keys(importing).sort().flatMap((month) => {
    const total = after[month] ?? 0
    const adding = importing[month] ?? 0
    return total > limit ? [{ month, limit, existing: total - adding, importing: adding }] : []
  })

/** One transaction of a JSON import. */
export const JsonTransaction = Schema.Struct({
  date: Schema.String.pipe(Schema.maxLength(32)),
  description: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)),
  /** Signed decimal: positive money in, negative money out. */
  amount: DecimalInput,
  payee: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(200)))),
  memo: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500)))),
  fit_id: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))))
})
/** Type of {@link JsonTransaction}. */
export type JsonTransaction = typeof JsonTransaction.Type

/** Body of `POST /api/v1/bank-transactions/import`. */
export const ImportRequest = Schema.Struct({
  /** The chart account (bank or card; Asset or Liability) the transactions belong to. */
  account_code: Schema.String.pipe(Schema.maxLength(20)),
  format: Schema.Literal("csv", "ofx", "json"),
  /** The file's text, for `csv` and `ofx` (at most 16 Mi characters; the body limit is usually lower). */
  content: Schema.optional(Schema.String.pipe(Schema.maxLength(16 * 1024 * 1024))),
  /** The rows, for `json`. */
  transactions: Schema.optional(Schema.Array(JsonTransaction)),
  /** Column mapping and date format, for `csv`. */
  csv: Schema.optional(CsvMapping),
  /** Currency of the file; must be the account's (the default). */
  currency: Schema.optional(CurrencyCode)
})
/** Type of {@link ImportRequest}. */
export type ImportRequest = typeof ImportRequest.Type

/** What an import did: rows stored now, rows already there, and the new rows' ids. */
export const ImportResult = Schema.Struct({
  new: Schema.Number,
  skipped: Schema.Number,
  ids: Schema.Array(Schema.String)
})
/** Type of {@link ImportResult}. */
export type ImportResult = typeof ImportResult.Type

/** Query of the bank-transaction listing. */
export const ListBankTransactions = Schema.Struct({
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  account_code: Schema.optional(Schema.String),
  unposted: Schema.optional(Schema.Union(Schema.Boolean, Schema.BooleanFromString)),
  cursor: Schema.optional(Schema.String),
  limit: Schema.optional(PageLimit)
})

/**
 * Why an import request is ambiguous — fields that contradict each other, so the import would
 * silently ignore one of them — or null when it is not: both `content` and `transactions`,
 * `content` with format `json`, `transactions` with `csv`/`ofx`, `csv` settings with another
 * format. `importFile` refuses such a request with `validation.ambiguous_body`; the HTTP edge
 * applies the same rule to the body.
 */
export const ambiguity = (
  req: Pick<ImportRequest, "format" | "content" | "transactions" | "csv">
): string | null => {
  if (req.content !== undefined && req.transactions !== undefined)
    return "Give either content (a csv or ofx file) or transactions (format json), not both"
  if (req.format === "json" && req.content !== undefined) return "format json takes transactions, not content"
  if (req.format !== "json" && req.transactions !== undefined)
    return `format ${req.format} takes content (the file's text), not transactions`
  if (req.format !== "csv" && req.csv !== undefined) return "csv settings apply to format csv only"
  return null
}

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

const parseJson = (
  rows: ReadonlyArray<JsonTransaction>,
  currency: string,
  exponents: Readonly<Record<string, number>>
): Either.Either<ReadonlyArray<ParsedRow>, ReadonlyArray<RowProblem>> => {
  const out: Array<ParsedRow> = []
  const problems: Array<RowProblem> = []
  rows.forEach((r, i) => {
    const line = i + 1
    const date = CalendarDate.isCalendarDate(r.date) ? r.date : null
    if (date === null)
      problems.push({ line, column: "date", code: "validation.date", message: "date must be YYYY-MM-DD" })
    const amount = parseAmount(r.amount, currency, { table: exponents })
    if (Either.isLeft(amount))
      problems.push({ line, column: "amount", code: amount.left.code, message: amount.left.message })
    else if (amount.right === 0n)
      problems.push({ line, column: "amount", code: "validation.amount_positive", message: "amount is zero" })
    // the schema's minLength sees the raw text; what is stored is trimmed, so judge that
    const description = r.description.replace(/\s+/g, " ").trim()
    if (description === "")
      problems.push({ line, column: "description", code: "validation.import_row", message: "description is empty" })
    if (date !== null && Either.isRight(amount) && amount.right !== 0n && description !== "") {
      out.push({
        line,
        date,
        description,
        amount_minor: amount.right,
        payee: r.payee ?? null,
        memo: r.memo ?? null,
        fit_id: r.fit_id ?? null
      })
    }
  })
  return problems.length > 0 ? Either.left(problems.slice(0, 50)) : Either.right(out)
}

/** A page of bank transactions. */
export const BankTransactionPage = Schema.Struct({
  items: Schema.Array(BankTransaction),
  next_cursor: Schema.NullOr(Schema.String)
})
/** Type of {@link BankTransactionPage}. */
export type BankTransactionPage = typeof BankTransactionPage.Type

/** The operations of {@link BankTransactions}. */
export interface BankTransactionsShape {
  readonly importFile: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    input: unknown
  ) => Effect.Effect<
    ImportResult,
    Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.BudgetExceeded | Errors.StorageError
  >
  readonly get: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<BankTransaction, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
  readonly list: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query?: unknown
  ) => Effect.Effect<BankTransactionPage, Errors.Forbidden | Errors.ValidationError | Errors.StorageError>
}

/** Builds the BankTransactions service over its dependencies. */
export const make: Effect.Effect<
  BankTransactionsShape,
  never,
  | BankTransactionStore
  | AccountStore
  | Audit.AuditLog
  | UnitOfWork.UnitOfWork
  | Ids.IdGenerator
  | LedgerConfig
  | Rbac.Rbac
  | AiSettings.AiSettingsStore
> = Effect.gen(function*() {
  const store = yield* BankTransactionStore
  const settingsStore = yield* AiSettings.AiSettingsStore
  const accounts = yield* AccountStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const ids = yield* Ids.IdGenerator
  const config = yield* LedgerConfig
  const access = makeAccess(yield* Rbac.Rbac)

  /**
   * The tenant's monthly transaction limit (its template's `max_transactions_per_month`), counted
   * per calendar month of the transactions' dates, after the new rows are inserted in the
   * import's transaction: any month over the limit fails the whole import
   * (`tenant.monthly_limit_exceeded`) and the transaction rolls back, so nothing is written.
   */
  const checkMonthlyLimit = (tenant: Ids.TenantId, inserted: ReadonlyArray<BankTransaction>) =>
    Effect.gen(function*() {
      if (inserted.length === 0) return
      const limit = monthlyLimitOf(Option.getOrUndefined(yield* settingsStore.get(tenant)))
      if (limit === null) return
      const importing: Record<string, number> = {}
      for (const r of inserted) importing[r.date.slice(0, 7)] = (importing[r.date.slice(0, 7)] ?? 0) + 1
      const counts = yield* store.countByMonth(tenant, Object.keys(importing))
      const over = monthsOverLimit(limit, counts, importing)
      if (over.length === 0) return
      const first = over[0]!
      return yield* new Errors.BudgetExceeded({
        code: "tenant.monthly_limit_exceeded",
        message: `The tenant's plan allows ${limit} bank transactions a month; ${first.month} has ${first.existing} ` +
          `and this import adds ${first.importing}: nothing was imported`,
        details: { limit, months: over.map((m) => ({ ...m })) }
      })
    })

  /**
   * Imports a CSV, OFX or JSON batch into one bank account. The whole file is parsed first: any
   * bad row fails the import with `validation.import_row` (line numbers in `details.problems`)
   * and nothing is stored. Rows already imported (same fingerprint) are skipped. A request whose
   * fields contradict each other ({@link ambiguity}: `content` and `transactions` together, …) is
   * refused with `validation.ambiguous_body` before anything is read.
   */
  const importFile = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const req = yield* Schema.decodeUnknown(ImportRequest)(input).pipe(
        Effect.mapError((e) => invalid("validation.schema", e.message))
      )
      // one source of rows, matching the format: never import one and silently drop the other
      const ambiguous = ambiguity(req)
      if (ambiguous !== null) return yield* invalid("validation.ambiguous_body", ambiguous)
      const account = yield* Effect.flatMap(
        accounts.get(tenant, req.account_code),
        Option.match({ onNone: () => Effect.fail(notFound("account", req.account_code)), onSome: Effect.succeed })
      )
      if (account.type !== "Asset" && account.type !== "Liability") {
        return yield* invalid(
          "validation.bank_account",
          "Bank transactions belong to an Asset (bank) or Liability (card) account",
          { account_code: account.code, type: account.type }
        )
      }
      if (!account.active)
        return yield* invalid("validation.account_inactive", `Account ${account.code} is inactive`, {
          account_code: account.code
        })
      const currency = req.currency ?? account.currency
      if (currency !== account.currency) {
        return yield* invalid(
          "validation.currency_mismatch",
          `Account ${account.code} is kept in ${account.currency}`,
          { currency, account_currency: account.currency }
        )
      }
      const exponent = config.currencyExponents[currency] ?? 2
      let parsed: Either.Either<ReadonlyArray<ParsedRow>, ReadonlyArray<RowProblem>>
      if (req.format === "json") {
        parsed = parseJson(req.transactions ?? [], currency, config.currencyExponents)
      } else {
        if (req.content === undefined)
          return yield* invalid("validation.schema", `content is required for ${req.format}`)
        if (req.format === "csv")
          parsed = parseCsvFile(req.content, exponent, req.csv ?? {})
        else {
          const ofx = parseOfxFile(req.content, exponent)
          if (Either.isRight(ofx)) {
            if (ofx.right.currency !== null && ofx.right.currency !== currency) {
              return yield* invalid(
                "validation.currency_mismatch",
                `The OFX file is in ${ofx.right.currency}, the account in ${currency}`,
                { file_currency: ofx.right.currency }
              )
            }
            if (ofx.right.account_ids.length > 1) {
              return yield* invalid(
                "validation.import_ofx_accounts",
                "The OFX file holds several accounts; import one account per file",
                { account_ids: [...ofx.right.account_ids] }
              )
            }
          }
          parsed = Either.map(ofx, (s) => s.rows)
        }
      }
      if (Either.isLeft(parsed)) return yield* importError(parsed.left)
      const rows = parsed.right
      if (rows.length > config.importMaxRows) {
        return yield* invalid("validation.import_too_large", `A file has at most ${config.importMaxRows} rows`, {
          rows: rows.length
        })
      }
      const prints = fingerprints(account.code, rows)
      const now = yield* Clock.currentTimeMillis
      const records: Array<BankTransaction> = []
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!
        records.push(
          new BankTransaction({
            tenant_id: tenant,
            id: yield* ids.next("btx"),
            account_code: account.code,
            date: r.date,
            description: r.description,
            amount_minor: r.amount_minor,
            currency,
            payee: r.payee,
            memo: r.memo,
            fit_id: r.fit_id,
            fingerprint: prints[i]!,
            source_format: req.format,
            source_line: r.line,
            imported_at: now,
            imported_by: actor.id
          }, true)
        )
      }
      return yield* uow.transaction(
        Effect.gen(function*() {
          const inserted = yield* store.insertNew(records)
          yield* checkMonthlyLimit(tenant, inserted)
          const result: ImportResult = {
            new: inserted.length,
            skipped: records.length - inserted.length,
            ids: inserted.map((r) => r.id)
          }
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "ledger.bank.imported",
            subject: `account:${account.code}`,
            data: {
              format: req.format,
              new: result.new,
              skipped: result.skipped,
              file_hash: req.content === undefined
                ? Canonical.hashOf(req.transactions ?? [])
                : Canonical.sha256Hex(req.content)
            }
          })
          return result
        })
      )
    })

  /** One bank transaction. */
  const get = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.zipRight(
      access(tenant, actor, "ledger.read"),
      Effect.flatMap(
        store.get(tenant, id),
        Option.match({ onNone: () => Effect.fail(notFound("bank_transaction", id)), onSome: Effect.succeed })
      )
    )

  /** Bank transactions by date (then id), filtered, with a cursor; `unposted` for the work queue. */
  const list = (tenant: Ids.TenantId, actor: Actor.Actor, query: unknown = {}) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const q = yield* Schema.decodeUnknown(ListBankTransactions)(query).pipe(
        Effect.mapError((e) => invalid("validation.schema", e.message))
      )
      let after: BankTransactionQuery["after"]
      if (q.cursor !== undefined) {
        const i = q.cursor.indexOf("_")
        const date = q.cursor.slice(0, i)
        if (i < 0 || !CalendarDate.isCalendarDate(date)) return yield* invalid("validation.cursor", "Malformed cursor")
        after = { date, id: q.cursor.slice(i + 1) }
      }
      const limit = pageSize(q.limit, config.maxPageSize)
      const items = yield* store.list(tenant, {
        from: q.from,
        to: q.to,
        account_code: q.account_code,
        unposted: q.unposted,
        after,
        limit: limit + 1
      })
      const page = items.slice(0, limit)
      const last = page.at(-1)
      return { items: page, next_cursor: items.length > limit && last ? `${last.date}_${last.id}` : null }
    })

  return { importFile, get, list } as const
})

/** Imports and lists bank transactions (RBAC: `ledger.write` to import, `ledger.read` to list). */
export class BankTransactions
  extends Effect.Service<BankTransactions>()("@airlock/ledger/BankTransactions", { effect: make })
{}

/**
 * Contract of the ledger group: chart of accounts, journal entries and reversals, the trial
 * balance, the period lock, the QuickBooks export and bank-transaction import. Tenant-scoped.
 * Amounts are decimal strings in the entry's currency (`"12.34"`); JSON numbers are refused.
 */
import { BankTransaction, Chart, Journal, JournalEntry, PeriodLock } from "@airlock/ledger"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { codedMessage } from "../internal/issues.js"
import { Cursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

/**
 * A decimal amount as it arrives: a string (the ledger checks it against the currency's
 * decimals); a JSON number is refused, since the JSON parser may already have rounded it.
 */
export const DecimalText: Schema.Schema<string> = Schema.String.annotations({
  message: () =>
    codedMessage("validation.amount_type", 'Amounts are decimal strings such as "12.34", not JSON numbers') as string,
  // the ledger's DecimalInput refuses more than 64 characters (validation.schema)
  jsonSchema: { type: "string", maxLength: 64, description: 'decimal amount such as "12.34"' }
})

/** An account of the chart. */
export const Account = Schema.Struct({
  code: Schema.String,
  name: Schema.String,
  type: Schema.String,
  normal_balance: Schema.String,
  parent_code: Schema.NullOr(Schema.String),
  currency: Schema.String,
  active: Schema.Boolean,
  description: Schema.NullOr(Schema.String),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "LedgerAccount" })

/** One line of a posted entry; `amount` in the entry's currency. */
export const EntryLine = Schema.Struct({
  line_no: Schema.Number,
  account_code: Schema.String,
  side: Schema.Literal("debit", "credit"),
  amount: Schema.String,
  description: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  class: Schema.NullOr(Schema.String),
  location: Schema.NullOr(Schema.String)
})

/** A posted entry. */
export const Entry = Schema.Struct({
  id: Schema.String,
  entry_no: Schema.Number,
  date: Schema.String,
  memo: Schema.String,
  currency: Schema.String,
  lines: Schema.Array(EntryLine),
  source: Schema.String,
  proposal_id: Schema.NullOr(Schema.String),
  bank_transaction_id: Schema.NullOr(Schema.String),
  reverses_entry_id: Schema.NullOr(Schema.String),
  idempotency_key: Schema.NullOr(Schema.String),
  content_hash: Schema.String,
  posted_by: Schema.String,
  posted_at: Timestamp
}).annotations({ identifier: "LedgerEntry" })

/** A post or reversal that created its entry (201). */
export const PostCreated = Schema.Struct({ entry: Entry, duplicate: Schema.Literal(false) }).annotations({
  identifier: "PostCreated"
})

/**
 * An idempotent retry (same key, same content): the original entry, nothing written (200). The
 * same key with different content is 409 `idempotency.conflict`.
 */
export const PostDuplicate = Schema.Struct({ entry: Entry, duplicate: Schema.Literal(true) }).annotations({
  identifier: "PostDuplicate"
})

/** A page of entries. */
export const EntryPage = Schema.Struct({ items: Schema.Array(Entry), next_cursor: Schema.NullOr(Schema.String) })

/** One line of a post request: exactly one of `debit` / `credit`. */
export const PostLine = strictBody({
  ...JournalEntry.PostLine.fields,
  debit: Schema.optional(Schema.NullOr(DecimalText)),
  credit: Schema.optional(Schema.NullOr(DecimalText))
})

/** Body of `POST /api/v1/ledger/entries`. */
export const PostEntry = strictBody({ ...JournalEntry.PostEntry.fields, lines: Schema.Array(PostLine) })

/**
 * Query of the entry listing: `limit` 1 to 500 (default 100; the ledger clamps it further to
 * `AIRLOCK_LEDGER_MAX_PAGE_SIZE`), the cursor of the previous page; the ledger validates dates,
 * source and the cursor's content.
 */
export const EntryQuery = Schema.Struct({
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  account_code: Schema.optional(Schema.String),
  source: Schema.optional(Schema.String),
  cursor: Schema.optional(Cursor),
  limit: pageLimit({ default: 100, max: 500 })
})

/** A trial-balance row (debits, credits and the signed net, debits positive). */
export const TrialBalanceRow = Schema.Struct({
  account_code: Schema.String,
  name: Schema.String,
  type: Schema.String,
  currency: Schema.String,
  debit: Schema.String,
  credit: Schema.String,
  net: Schema.String
})

/** The trial balance as of a day. */
export const TrialBalance = Schema.Struct({
  as_of: Schema.String,
  rows: Schema.Array(TrialBalanceRow),
  totals: Schema.Array(
    Schema.Struct({ currency: Schema.String, debit: Schema.String, credit: Schema.String, net: Schema.String })
  ),
  balanced: Schema.Boolean
}).annotations({ identifier: "TrialBalance" })

/** The tenant's period lock (`lock_date` null: nothing locked). */
export const PeriodLockView = Schema.Struct({
  lock_date: Schema.NullOr(Schema.String),
  updated_at: Timestamp,
  updated_by: Schema.String
}).annotations({ identifier: "PeriodLock" })

/** What an export did: the batch (null when nothing was new), entries exported now and skipped. */
export const ExportResult = Schema.Struct({
  batch_id: Schema.NullOr(Schema.String),
  new: Schema.Number,
  skipped: Schema.Number
})

/** What an import did. */
export const ImportResult = Schema.Struct({
  new: Schema.Number,
  skipped: Schema.Number,
  ids: Schema.Array(Schema.String)
})

/**
 * Query of a raw-file import (`text/csv` or OFX body): the account, the currency, and for CSV
 * the column mapping and date format (`date_column=Posted%20Date&date_format=DD/MM/YYYY`).
 * Columns are header names (case-insensitive) or 0-based indexes (digits). Not allowed with a
 * JSON body, which carries the same settings itself.
 */
export const ImportQuery = Schema.Struct({
  account_code: Schema.optional(Schema.String),
  /** `csv` or `ofx`; overrides the content type (e.g. a file sent as `text/plain`). */
  format: Schema.optional(Schema.Literal("csv", "ofx")),
  currency: Schema.optional(Schema.String),
  layout: Schema.optional(Schema.Literal("amount", "credit_debit")),
  date_column: Schema.optional(Schema.String),
  description_column: Schema.optional(Schema.String),
  amount_column: Schema.optional(Schema.String),
  credit_column: Schema.optional(Schema.String),
  debit_column: Schema.optional(Schema.String),
  payee_column: Schema.optional(Schema.String),
  memo_column: Schema.optional(Schema.String),
  date_format: Schema.optional(Schema.String),
  has_header: Schema.optional(Schema.Literal("true", "false")),
  delimiter: Schema.optional(Schema.String),
  negate: Schema.optional(Schema.Literal("true", "false"))
})

/**
 * Body of the bank import: the JSON request, a raw CSV file (`text/csv`), or a raw OFX file
 * (`application/x-ofx`; also `application/ofx`, `text/x-ofx`, or any type with `format=ofx`).
 * A raw file is UTF-8 unless it or the Content-Type's `charset=` says otherwise; a file that is
 * neither is refused with `validation.encoding`.
 */
export const ImportBody = Schema.Union(
  strictBody({
    ...BankTransaction.ImportRequest.fields,
    // JSON numbers are refused here as in entries: the parser has already rounded 0.30000000000000001
    transactions: Schema.optional(
      Schema.Array(strictBody({ ...BankTransaction.JsonTransaction.fields, amount: DecimalText }))
    )
  }).pipe(
    // one source of rows, matching the format: nothing the import would silently ignore
    Schema.filter((b) => {
      const ambiguous = BankTransaction.ambiguity(b)
      return ambiguous === null || codedMessage("validation.ambiguous_body", ambiguous)
    })
  ),
  HttpApiSchema.Text({ contentType: "text/csv" }),
  HttpApiSchema.Uint8Array({ contentType: "application/x-ofx" })
)

const EntryId = HttpApiSchema.param("id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))
// the path is `/api/v1/export/qbo/{batch_id}.csv`: the parameter is the bare id, `.csv` is literal
const BatchId = HttpApiSchema.param(
  "batch_id",
  Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,100}$/, { message: () => "Expected a batch id" }))
)

/** The ledger group. */
export class LedgerApi extends HttpApiGroup.make("ledger")
  .add(
    HttpApiEndpoint.get("listAccounts", "/api/v1/ledger/accounts")
      .setUrlParams(Schema.Struct({ include_inactive: Schema.optional(Schema.Literal("true", "false")) }))
      .addSuccess(Schema.Array(Account))
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("createAccount", "/api/v1/ledger/accounts")
      .setPayload(strictBody(Chart.NewAccount.fields))
      .addSuccess(Account, { status: 201 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.get("listEntries", "/api/v1/ledger/entries")
      .setUrlParams(EntryQuery)
      .addSuccess(EntryPage)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("postEntry", "/api/v1/ledger/entries")
      .setPayload(PostEntry)
      .addSuccess(PostCreated, { status: 201 })
      .addSuccess(PostDuplicate, { status: 200 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
      .addError(ApiError.PeriodLocked)
  )
  .add(
    HttpApiEndpoint.post("reverseEntry")`/api/v1/ledger/entries/${EntryId}/reverse`
      .setPayload(strictBody(Journal.ReverseEntry.fields))
      .addSuccess(PostCreated, { status: 201 })
      .addSuccess(PostDuplicate, { status: 200 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
      .addError(ApiError.PeriodLocked)
  )
  .add(
    HttpApiEndpoint.get("trialBalance", "/api/v1/ledger/trial-balance")
      .setUrlParams(Schema.Struct({ as_of: Schema.optional(Schema.String) }))
      .addSuccess(TrialBalance)
      .addError(ApiError.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("getPeriodLock", "/api/v1/ledger/period-lock").addSuccess(PeriodLockView).addError(
      ApiError.Forbidden
    )
  )
  .add(
    HttpApiEndpoint.put("setPeriodLock", "/api/v1/ledger/period-lock")
      .setPayload(strictBody(PeriodLock.SetPeriodLock.fields))
      .addSuccess(PeriodLockView)
      .addError(ApiError.Forbidden)
  )
  .add(HttpApiEndpoint.post("exportQbo", "/api/v1/export/qbo").addSuccess(ExportResult).addError(ApiError.Forbidden))
  .add(
    HttpApiEndpoint.get("exportQboCsv")`/api/v1/export/qbo/${BatchId}.csv`
      .addSuccess(HttpApiSchema.Text({ contentType: "text/csv" }))
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.post("importBankTransactions", "/api/v1/bank-transactions/import")
      .setPayload(ImportBody)
      .setUrlParams(ImportQuery)
      .addSuccess(ImportResult)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.BudgetExceeded)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Ledger")
  .annotate(
    OpenApi.Description,
    "Chart of accounts, journal, trial balance, period lock, QuickBooks export, bank import"
  )
{}

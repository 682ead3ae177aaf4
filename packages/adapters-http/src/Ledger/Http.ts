/** Handlers of the ledger group: translate between JSON (decimal strings) and the ledger services. */
import { Errors } from "@airlock/core"
import {
  BankFile,
  BankTransaction,
  Chart,
  Journal,
  type JournalEntry,
  Money,
  PeriodLock,
  QboExport
} from "@airlock/ledger"
import { HttpApiBuilder, type HttpApiGroup, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, type Layer, Option, Stream } from "effect"
import { IncomingMessage } from "node:http"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { bodyBytes } from "../internal/body.js"
import { CurrentRequest, withPrincipal } from "../RequestContext.js"
import type { ImportQuery } from "./Api.js"

/** Exponents by currency: the journal's own table, so amounts print with the decimals they were parsed with. */
type Exponents = Readonly<Record<string, number>>

/** The JSON form of an account. */
export const accountJson = (a: Chart.Account) => ({
  code: a.code,
  name: a.name,
  type: a.type,
  normal_balance: a.normal_balance,
  parent_code: a.parent_code,
  currency: a.currency,
  active: a.active,
  description: a.description,
  created_at: a.created_at,
  updated_at: a.updated_at
})

/**
 * The JSON form of an entry (amounts as decimal strings of its currency, with the decimals of
 * `exponents`: pass the journal's `currencyExponents` when the host overrides the ISO table).
 */
export const entryJson = (e: JournalEntry.JournalEntry, exponents: Exponents = Money.CurrencyExponents) => ({
  id: e.id,
  entry_no: e.entry_no,
  date: e.date,
  memo: e.memo,
  currency: e.currency,
  lines: e.lines.map((l) => ({
    line_no: l.line_no,
    account_code: l.account_code,
    side: l.side,
    amount: Money.formatAmount(l.amount_minor, e.currency, exponents),
    description: l.description,
    name: l.name,
    class: l.class,
    location: l.location
  })),
  source: e.source,
  proposal_id: e.proposal_id,
  bank_transaction_id: e.bank_transaction_id,
  reverses_entry_id: e.reverses_entry_id,
  idempotency_key: e.idempotency_key,
  content_hash: e.content_hash,
  posted_by: e.posted_by,
  posted_at: e.posted_at
})

/** 201 with the new entry, or 200 with the original one on an idempotent retry. */
const postJson = (r: JournalEntry.PostResult, exponents: Exponents) =>
  r.duplicate
    ? { entry: entryJson(r.entry, exponents), duplicate: true as const }
    : { entry: entryJson(r.entry, exponents), duplicate: false as const }

const lockJson = (l: PeriodLock.PeriodLock) => ({
  lock_date: l.lock_date,
  updated_at: l.updated_at,
  updated_by: l.updated_by
})

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  Effect.fail(new Errors.ValidationError(details === undefined ? { code, message } : { code, message, details }))

const CSV_PARAMS = [
  "layout",
  "date_column",
  "description_column",
  "amount_column",
  "credit_column",
  "debit_column",
  "payee_column",
  "memo_column",
  "date_format",
  "has_header",
  "delimiter",
  "negate"
] as const

/** A column given in the query: digits are a 0-based index, anything else a header name. */
const column = (raw: string): string | number => (/^\d{1,4}$/.test(raw) ? Number(raw) : raw)

/**
 * The ledger's import request for a raw CSV or OFX body: the format from `?format=` or the
 * content type, the account and currency from the query, and for CSV the column mapping.
 */
const rawImport = (
  body: { readonly bytes: Uint8Array } | { readonly text: string },
  query: typeof ImportQuery.Type,
  contentType: string | undefined
) =>
  Effect.gen(function*() {
    const format = query.format ?? BankFile.formatOf(contentType)
    if (format === undefined) {
      return yield* invalid(
        "validation.content_type",
        "Send a bank file as text/csv (CSV), application/x-ofx (OFX) or JSON, or name the format with ?format=csv|ofx",
        { content_type: BankFile.mediaType(contentType) }
      )
    }
    if (query.account_code === undefined || query.account_code === "") {
      return yield* invalid("validation.import_query", "account_code is required in the query string for a raw file", {
        parameter: "account_code"
      })
    }
    // text the platform decoded without us (no buffered bytes) is checked for lost bytes instead
    const content =
      yield* ("bytes" in body ? BankFile.decode(body.bytes, format, contentType) : BankFile.fromDecodedText(body.text))
    const given = CSV_PARAMS.filter((k) => query[k] !== undefined)
    if (format === "ofx" && given.length > 0) {
      return yield* invalid("validation.import_query", "CSV column settings do not apply to an OFX file", {
        parameters: given
      })
    }
    const csv: Record<string, unknown> = {}
    for (const k of given) {
      const v = query[k]!
      csv[k] = k.endsWith("_column") ? column(v) : k === "has_header" || k === "negate" ? v === "true" : v
    }
    return {
      account_code: query.account_code,
      format,
      content,
      ...(format === "csv" && given.length > 0 ? { csv } : {}),
      ...(query.currency !== undefined ? { currency: query.currency } : {})
    }
  })

/**
 * The export's CSV as response bytes, page by page (no length: the response is chunked, and
 * memory stays at one page however large the batch). A storage failure after the first byte
 * cannot become an error status any more; it is logged and the connection is cut before the
 * final chunk, so the client sees an incomplete download instead of a shorter file that looks
 * whole (a Node response otherwise ends cleanly on failure).
 */
const csvBody = (
  rows: Stream.Stream<string, Errors.StorageError>,
  request: HttpServerRequest.HttpServerRequest,
  batchId: string,
  requestId: Option.Option<string>
): Stream.Stream<Uint8Array, Errors.StorageError> =>
  rows.pipe(
    Stream.encodeText,
    Stream.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.zipRight(
        Effect.logError("export download failed mid-stream; connection cut", cause).pipe(
          Effect.annotateLogs({ batch_id: batchId, request_id: Option.getOrNull(requestId) })
        ),
        Effect.sync(() => {
          if (request.source instanceof IncomingMessage) request.source.socket?.destroy()
        })
      )
    )
  )

/** The ledger group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "ledger">,
  never,
  | Chart.ChartOfAccounts
  | Journal.Journal
  | PeriodLock.PeriodLocks
  | QboExport.QboExports
  | BankTransaction.BankTransactions
  | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "ledger", (handlers) =>
  Effect.gen(function*() {
    const chart = yield* Chart.ChartOfAccounts
    const journal = yield* Journal.Journal
    const locks = yield* PeriodLock.PeriodLocks
    const exports = yield* QboExport.QboExports
    const bank = yield* BankTransaction.BankTransactions
    const exponents = journal.currencyExponents
    const amount = (minor: bigint, currency: string) => Money.formatAmount(minor, currency, exponents)
    return handlers
      .handle("listAccounts", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const accounts = yield* chart.list(tenant, actor, {
              include_inactive: urlParams.include_inactive === "true"
            })
            return accounts.map(accountJson)
          })
        ))
      .handle("createAccount", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return accountJson(yield* chart.create(tenant, actor, payload))
          })
        ))
      .handle("listEntries", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const page = yield* journal.list(tenant, actor, urlParams)
            return { items: page.items.map((e) => entryJson(e, exponents)), next_cursor: page.next_cursor }
          })
        ))
      .handle("postEntry", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return postJson(yield* journal.post(tenant, actor, payload), exponents)
          })
        ))
      .handle("reverseEntry", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return postJson(yield* journal.reverse(tenant, actor, path.id, payload), exponents)
          })
        ))
      .handle("trialBalance", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const tb = yield* journal.trialBalance(tenant, actor, urlParams.as_of)
            return {
              as_of: tb.as_of,
              rows: tb.rows.map((r) => ({
                account_code: r.account_code,
                name: r.name,
                type: r.type,
                currency: r.currency,
                debit: amount(r.debit_minor, r.currency),
                credit: amount(r.credit_minor, r.currency),
                net: amount(r.net_minor, r.currency)
              })),
              totals: tb.totals.map((t) => ({
                currency: t.currency,
                debit: amount(t.debit_minor, t.currency),
                credit: amount(t.credit_minor, t.currency),
                net: amount(t.net_minor, t.currency)
              })),
              balanced: tb.balanced
            }
          })
        ))
      .handle("getPeriodLock", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return lockJson(yield* locks.get(tenant, actor))
          })
        ))
      .handle("setPeriodLock", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return lockJson(yield* locks.set(tenant, actor, payload))
          })
        ))
      .handle("exportQbo", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* exports.exportNew(tenant, actor)
          })
        ))
      .handle("exportQboCsv", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            // unknown batch, other tenant, no permission: failures before the first byte, so
            // they still get their status and error body (the id matches [A-Za-z0-9_-], safe
            // in the header)
            const rows = yield* exports.csv(tenant, actor, path.batch_id)
            const request = yield* HttpServerRequest.HttpServerRequest
            const requestId = Option.map(yield* Effect.serviceOption(CurrentRequest), (r) => r.id)
            return HttpServerResponse.stream(csvBody(rows, request, path.batch_id, requestId), {
              contentType: "text/csv; charset=utf-8",
              headers: { "content-disposition": `attachment; filename="${path.batch_id}.csv"` }
            })
          })
        ))
      .handle("importBankTransactions", ({ payload, urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            if (typeof payload !== "string" && !(payload instanceof Uint8Array)) {
              if (Object.keys(urlParams).length > 0) {
                return yield* invalid(
                  "validation.import_query",
                  "Query parameters apply to raw CSV or OFX bodies; a JSON body carries account_code, format and csv itself",
                  {
                    parameters: Object.keys(urlParams)
                  }
                )
              }
              return yield* bank.importFile(tenant, actor, payload)
            }
            const request = yield* HttpServerRequest.HttpServerRequest
            // a text/* body reaches us already decoded as UTF-8 (lossily): decode its bytes instead
            const bytes = typeof payload === "string" ? bodyBytes(request) : payload
            const body = bytes === undefined ? { text: payload as string } : { bytes }
            return yield* bank.importFile(
              tenant,
              actor,
              yield* rawImport(body, urlParams, request.headers["content-type"])
            )
          })
        ))
  }))

/**
 * QuickBooks Online journal-entry export. Each call exports the entries not exported before as
 * one batch (`{new: 5, skipped: 0}`, then `{new: 0, skipped: 5}`); a batch can be fetched again
 * at any time and is byte-identical, because entries never change and the account names are
 * snapshotted when the batch is made. The CSV is streamed page by page, so memory stays bounded
 * however large the batch.
 *
 * Columns follow QuickBooks Online's journal-entry import template (11 columns): Journal No.,
 * Journal Date, Currency, Memo, Account Name, Debits, Credits, Description, Name, Location,
 * Class. One journal number per entry (the entry's `entry_no`), so every journal balances;
 * sub-accounts are written `Parent:Sub`. Text cells that a spreadsheet would run as a formula
 * get a leading `'` ({@link neutralizeFormula}).
 */
import { type Actor, Audit, type Errors, Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Chunk, Clock, Context, Effect, Option, Schema, Stream } from "effect"
import { AccountStore, fullNames } from "./Chart.js"
import { makeAccess, notFound } from "./internal/access.js"
import type { JournalEntry } from "./JournalEntry.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { CurrencyExponents, formatMinor } from "./Money.js"

/** The header row, in QuickBooks Online's template order. */
export const QBO_COLUMNS = [
  "Journal No.",
  "Journal Date",
  "Currency",
  "Memo",
  "Account Name",
  "Debits",
  "Credits",
  "Description",
  "Name",
  "Location",
  "Class"
] as const

/** A stored export batch. */
export class ExportBatch extends Schema.Class<ExportBatch>("ExportBatch")({
  tenant_id: Schema.String,
  id: Schema.String,
  /** Per-tenant batch sequence number. */
  batch_no: Schema.Number,
  entry_count: Schema.Number,
  first_entry_no: Schema.Number,
  last_entry_no: Schema.Number,
  /** Date format the batch is written in (fixed at creation so refetches are identical). */
  date_format: Schema.String,
  created_at: Schema.Number,
  created_by: Schema.String
}) {}

/** What one export call did. `batch_id` is null when there was nothing new. */
export const ExportResult = Schema.Struct({
  batch_id: Schema.NullOr(Schema.String),
  new: Schema.Number,
  skipped: Schema.Number
})
/** Type of {@link ExportResult}. */
export type ExportResult = typeof ExportResult.Type

/** Storage port of the export's bookkeeping (which entries went out in which batch). */
export class ExportStore extends Context.Tag("@airlock/ledger/ExportStore")<
  ExportStore,
  {
    /**
     * Assigns every entry of the tenant not yet exported to `batch` (set-based, without loading
     * them) and stores the batch with the account-name snapshot. Returns the number of entries
     * exported before this call and the stored batch (null when no entry was new). Serialises
     * concurrent exports of a tenant. Call inside a transaction.
     */
    readonly exportNew: (
      draft: {
        readonly tenant_id: Ids.TenantId
        readonly id: string
        readonly date_format: string
        readonly created_at: number
        readonly created_by: string
      },
      names: ReadonlyMap<string, string>
    ) => Effect.Effect<{ readonly skipped: number; readonly batch: ExportBatch | null }, Errors.StorageError>
    readonly getBatch: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<Option.Option<ExportBatch>, Errors.StorageError>
    /** Batches of the tenant, newest first. */
    readonly listBatches: (
      tenant: Ids.TenantId,
      limit: number
    ) => Effect.Effect<ReadonlyArray<ExportBatch>, Errors.StorageError>
    /** The account-name snapshot of a batch (code → `Parent:Sub` name). */
    readonly batchNames: (
      tenant: Ids.TenantId,
      id: string
    ) => Effect.Effect<ReadonlyMap<string, string>, Errors.StorageError>
    /** A page of a batch's entries ordered by `entry_no`, after `afterEntryNo`. */
    readonly batchEntries: (
      tenant: Ids.TenantId,
      id: string,
      afterEntryNo: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<JournalEntry>, Errors.StorageError>
  }
>() {}

/** Quotes one CSV field when it needs it (RFC 4180). */
export const csvField = (value: string): string =>
  /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value

/** The first characters that make a spreadsheet read a cell as a formula (OWASP's CSV-injection list). */
const FORMULA_START = /^[=+\-@\t\r]/

/**
 * A free-text cell made inert for spreadsheets: one that starts with `=`, `+`, `-`, `@`, tab or
 * carriage return gets a leading `'` (OWASP's CSV-injection advice). Memos, descriptions and
 * names come from third parties (a bank description becomes a proposal's memo), and Excel,
 * LibreOffice or Google Sheets would otherwise run `=HYPERLINK(...)` or `=cmd|...` when a
 * bookkeeper opens the export before importing it. Only text columns go through this — dates,
 * journal numbers, currencies and amounts are ours and are written as they are. Deterministic,
 * so a batch still refetches byte-identical; the cost is that such a cell keeps the `'` in QBO.
 */
export const neutralizeFormula = (value: string): string => (FORMULA_START.test(value) ? `'${value}` : value)

/** One CSV record with CRLF. */
export const csvRecord = (fields: ReadonlyArray<string>): string => fields.map(csvField).join(",") + "\r\n"

/** Writes `YYYY-MM-DD` in a format made of `YYYY`, `MM`, `DD` and literals. */
export const formatDate = (date: string, format: string): string =>
  format.replace("YYYY", date.slice(0, 4)).replace("MM", date.slice(5, 7)).replace("DD", date.slice(8, 10))

/** The CSV rows of one entry (one per line); text cells pass through {@link neutralizeFormula}. Pure. */
export const entryRows = (
  entry: JournalEntry,
  names: ReadonlyMap<string, string>,
  dateFormat: string,
  exponents: Readonly<Record<string, number>> = CurrencyExponents
): string => {
  const exp = exponents[entry.currency] ?? 2
  let out = ""
  for (const l of entry.lines) {
    const amount = formatMinor(l.amount_minor, exp)
    out += csvRecord([
      String(entry.entry_no),
      formatDate(entry.date, dateFormat),
      entry.currency,
      neutralizeFormula(entry.memo),
      neutralizeFormula(names.get(l.account_code) ?? l.account_code),
      l.side === "debit" ? amount : "",
      l.side === "credit" ? amount : "",
      neutralizeFormula(l.description ?? ""),
      neutralizeFormula(l.name ?? ""),
      neutralizeFormula(l.location ?? ""),
      neutralizeFormula(l.class ?? "")
    ])
  }
  return out
}

/** The operations of {@link QboExports}. */
export interface QboExportsShape {
  readonly exportNew: (
    tenant: Ids.TenantId,
    actor: Actor.Actor
  ) => Effect.Effect<ExportResult, Errors.Forbidden | Errors.StorageError>
  readonly getBatch: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<ExportBatch, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
  readonly listBatches: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<ExportBatch>, Errors.Forbidden | Errors.StorageError>
  readonly csv: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<
    Stream.Stream<string, Errors.StorageError>,
    Errors.Forbidden | Errors.NotFound | Errors.StorageError
  >
  readonly csvText: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ) => Effect.Effect<string, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
}

/** Builds the QboExports service over its dependencies. */
export const make: Effect.Effect<
  QboExportsShape,
  never,
  ExportStore | AccountStore | Audit.AuditLog | UnitOfWork.UnitOfWork | Ids.IdGenerator | LedgerConfig | Rbac.Rbac
> = Effect.gen(function*() {
  const store = yield* ExportStore
  const accounts = yield* AccountStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const ids = yield* Ids.IdGenerator
  const config = yield* LedgerConfig
  const access = makeAccess(yield* Rbac.Rbac)

  /** Exports every entry not exported yet as one new batch. */
  const exportNew = (tenant: Ids.TenantId, actor: Actor.Actor) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const id = yield* ids.next("qbo")
      const now = yield* Clock.currentTimeMillis
      return yield* uow.transaction(
        Effect.gen(function*() {
          const names = fullNames(yield* accounts.list(tenant))
          const { batch, skipped } = yield* store.exportNew(
            { tenant_id: tenant, id, date_format: config.qboDateFormat, created_at: now, created_by: actor.id },
            names
          )
          const result: ExportResult = { batch_id: batch?.id ?? null, new: batch?.entry_count ?? 0, skipped }
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "ledger.export.qbo",
            subject: batch ? `qbo_batch:${batch.id}` : "qbo_batch:none",
            data: { ...result, batch_no: batch?.batch_no ?? null }
          })
          return result
        })
      )
    })

  const loadBatch = (tenant: Ids.TenantId, id: string) =>
    Effect.flatMap(
      store.getBatch(tenant, id),
      Option.match({ onNone: () => Effect.fail(notFound("export_batch", id)), onSome: Effect.succeed })
    )

  /** A batch's metadata. */
  const getBatch = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.zipRight(access(tenant, actor, "ledger.read"), loadBatch(tenant, id))

  /** Batches, newest first. */
  const listBatches = (tenant: Ids.TenantId, actor: Actor.Actor, limit = 100) =>
    Effect.zipRight(
      access(tenant, actor, "ledger.read"),
      store.listBatches(tenant, Math.min(Math.max(limit, 1), config.maxPageSize))
    )

  /**
   * The batch's CSV as a stream of text chunks (header, then one chunk per page of entries).
   * Fails before the first chunk when the batch does not exist or the actor may not read it.
   */
  const csv = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string
  ): Effect.Effect<
    Stream.Stream<string, Errors.StorageError>,
    Errors.Forbidden | Errors.NotFound | Errors.StorageError
  > =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const batch = yield* loadBatch(tenant, id)
      const names = yield* store.batchNames(tenant, id)
      const pages = Stream.paginateChunkEffect(batch.first_entry_no - 1, (after) =>
        Effect.map(store.batchEntries(tenant, id, after, config.exportPageSize), (entries) => {
          let text = ""
          for (const e of entries)
            text += entryRows(e, names, batch.date_format, config.currencyExponents)
          const last = entries.at(-1)
          return [
            text === "" ? Chunk.empty<string>() : Chunk.of(text),
            entries.length < config.exportPageSize || !last ? Option.none() : Option.some(last.entry_no)
          ] as const
        }))
      return Stream.concat(Stream.succeed(csvRecord(QBO_COLUMNS)), pages)
    })

  /** The whole CSV of a batch as one string (for small batches and tests; prefer {@link csv}). */
  const csvText = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.flatMap(csv(tenant, actor, id), (s) => Stream.runFold(s, "", (acc, chunk) => acc + chunk))

  return { exportNew, getBatch, listBatches, csv, csvText } as const
})

/** Makes export batches and streams their CSV (RBAC: `ledger.write` to export, `ledger.read` to fetch). */
export class QboExports extends Effect.Service<QboExports>()("@airlock/ledger/QboExports", { effect: make }) {}

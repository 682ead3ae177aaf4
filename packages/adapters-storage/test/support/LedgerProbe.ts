/**
 * Raw access to what a ledger adapter persisted, bypassing the adapter's methods: the ledger
 * suite checks stored rows through it (entries, lines, balances, bank rows, export marks).
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** A stored journal line as raw values (amount as a decimal string of minor units). */
export interface RawLine {
  readonly entry_id: string
  readonly line_no: number
  readonly account_code: string
  readonly side: string
  readonly amount: string
}

/** A stored bank transaction as raw values (amount as a decimal string of minor units). */
export interface RawBankRow {
  readonly date: string
  readonly description: string
  readonly amount: string
  readonly fit_id: string | null
  readonly memo: string | null
  readonly fingerprint: string
  readonly source_line: number | null
}

/** A stored decision trace, reduced to what the suite compares. */
export interface RawTrace {
  readonly phase: string
  readonly outcome: string
  /** The code of the gate that denied (null when none did). */
  readonly code: string | null
}

/** A stored account, reduced to what the suite compares. */
export interface RawAccount {
  readonly name: string
  readonly type: string
  readonly normal_balance: string
  readonly parent_code: string | null
  readonly currency: string
  readonly active: boolean
}

/** A stored shadow record, reduced to what the suite compares. */
export interface RawAction {
  readonly id: string
  readonly status: string
  readonly close_reason: string | null
}

const denialCode = (gates: ReadonlyArray<{ readonly verdict: string; readonly code: string | null }>) =>
  gates.find((g) => g.verdict === "deny")?.code ?? null

const byId = <A extends { readonly id: string }>(a: A, b: A) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** Raw reads of the ledger's stored rows. */
export class LedgerProbe extends Context.Tag("test/LedgerProbe")<
  LedgerProbe,
  {
    /** Rows of a logical table (`entries`, `lines`, `accounts`, `bank_transactions`, `exported`, `batches`) of a tenant. */
    readonly count: (table: string, tenant: string) => Effect.Effect<number>
    /** The stored entry row with its lines, as a plain JSON-safe snapshot (null when missing). */
    readonly entrySnapshot: (tenant: string, id: string) => Effect.Effect<unknown>
    /** Every stored line of the tenant, ordered by entry id and line number. */
    readonly lines: (tenant: string) => Effect.Effect<ReadonlyArray<RawLine>>
    /**
     * Sum of materialised balance rows of an account through a day: [debit, credit]. Summed
     * exactly outside the database, and dies on a stored value that is not an integer.
     */
    readonly materialised: (tenant: string, account: string, asOf: string) => Effect.Effect<readonly [string, string]>
    /** The tenant's stored entry-number counter (0 before its first entry). */
    readonly entryCounter: (tenant: string) => Effect.Effect<number>
    /** The stored lock date of the tenant (null when none). */
    readonly lockDate: (tenant: string) => Effect.Effect<string | null>
    /** Dates of every stored entry of the tenant. */
    readonly entryDates: (tenant: string) => Effect.Effect<ReadonlyArray<string>>
    /** Every stored bank transaction of the tenant, ordered by date, then source line. */
    readonly bankRows: (tenant: string) => Effect.Effect<ReadonlyArray<RawBankRow>>
    /** Stored decision traces of the tenant in id order: phase, outcome and the denying gate's code. */
    readonly traces: (tenant: string) => Effect.Effect<ReadonlyArray<RawTrace>>
    /** The stored row of one account as raw values (null when missing). */
    readonly account: (tenant: string, code: string) => Effect.Effect<RawAccount | null>
    /** Stored shadow records (actions) of one subject in id order: id, status, close reason. */
    readonly actions: (tenant: string, subject: string) => Effect.Effect<ReadonlyArray<RawAction>>
  }
>() {}

const memoryTables: Record<string, string> = {
  entries: "ledger_entries",
  accounts: "ledger_accounts",
  bank_transactions: "ledger_bank_transactions",
  exported: "ledger_qbo_exported",
  batches: "ledger_qbo_batches"
}

interface MemEntry {
  tenant_id: string
  id: string
  entry_no: number
  date: string
  memo: string
  currency: string
  source: string
  proposal_id: string | null
  bank_transaction_id: string | null
  reverses_entry_id: string | null
  idempotency_key: string | null
  content_hash: string
  posted_by: string
  lines: ReadonlyArray<{ line_no: number; account_code: string; side: string; amount_minor: bigint }>
}

interface MemTrace {
  id: string
  tenant_id: string
  phase: string
  outcome: string
  gates: ReadonlyArray<{ verdict: string; code: string | null }>
}

interface MemAction {
  id: string
  subject: string
  status: string
  close_reason: string | null
}

interface MemBankRow {
  date: string
  description: string
  amount_minor: bigint
  fit_id: string | null
  memo: string | null
  fingerprint: string
  source_line: number | null
}

const byDateThenLine = (a: RawBankRow, b: RawBankRow) =>
  a.date !== b.date ? (a.date < b.date ? -1 : 1) : (a.source_line ?? 0) - (b.source_line ?? 0)

const snapshotOf = (e: MemEntry) => ({
  id: e.id,
  entry_no: e.entry_no,
  date: e.date,
  memo: e.memo,
  currency: e.currency,
  source: e.source,
  proposal_id: e.proposal_id,
  bank_transaction_id: e.bank_transaction_id,
  reverses_entry_id: e.reverses_entry_id,
  idempotency_key: e.idempotency_key,
  content_hash: e.content_hash,
  posted_by: e.posted_by,
  lines: e.lines.map((l) => [l.line_no, l.account_code, l.side, l.amount_minor.toString()])
})

/** Probe over the memory database. */
export const memory = Layer.effect(
  LedgerProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => {
    const entries = () => [...db.scoped<MemEntry>("ledger_entries").values()]
    return {
      count: (table, tenant) =>
        Effect.sync(() => {
          if (table === "lines")
            return entries().filter((e) => e.tenant_id === tenant).reduce((n, e) => n + e.lines.length, 0)
          return [...db.scoped<unknown>(memoryTables[table]!).inScope(tenant)].length
        }),
      entrySnapshot: (tenant, id) =>
        Effect.sync(() => {
          const e = db.scoped<MemEntry>("ledger_entries").get(tenant, id)
          return e ? snapshotOf(e) : null
        }),
      lines: (tenant) =>
        Effect.sync(() =>
          entries()
            .filter((e) => e.tenant_id === tenant)
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .flatMap((e) =>
              e.lines.map((l) => ({
                entry_id: e.id,
                line_no: l.line_no,
                account_code: l.account_code,
                side: l.side,
                amount: l.amount_minor.toString()
              }))
            )
        ),
      // the memory adapter keeps its daily balances beside the tables; recompute from raw entries
      materialised: (tenant, account, asOf) =>
        Effect.sync(() => {
          let d = 0n
          let c = 0n
          for (const e of entries()) {
            if (e.tenant_id !== tenant || e.date > asOf) continue
            for (const l of e.lines) {
              if (l.account_code !== account) continue
              if (l.side === "debit") d += l.amount_minor
              else c += l.amount_minor
            }
          }
          return [d.toString(), c.toString()] as const
        }),
      entryCounter: (tenant) => Effect.sync(() => db.scoped<number>("ledger_counters").get(tenant, "entry_no") ?? 0),
      lockDate: (tenant) =>
        Effect.sync(() =>
          db.table<{ lock_date: string | null }>("ledger_period_locks").raw.get(tenant)?.lock_date ?? null
        ),
      entryDates: (tenant) => Effect.sync(() => entries().filter((e) => e.tenant_id === tenant).map((e) => e.date)),
      bankRows: (tenant) =>
        Effect.sync(() =>
          [...db.scoped<MemBankRow>("ledger_bank_transactions").inScope(tenant)]
            .map((r): RawBankRow => ({
              date: r.date,
              description: r.description,
              amount: r.amount_minor.toString(),
              fit_id: r.fit_id,
              memo: r.memo,
              fingerprint: r.fingerprint,
              source_line: r.source_line
            }))
            .sort(byDateThenLine)
        ),
      traces: (tenant) =>
        Effect.sync(() =>
          [...db.table<MemTrace>("traces").values()]
            .filter((t) => t.tenant_id === tenant)
            .sort(byId)
            .map((t): RawTrace => ({ phase: t.phase, outcome: t.outcome, code: denialCode(t.gates) }))
        ),
      account: (tenant, code) =>
        Effect.sync(() => {
          const a = db.scoped<RawAccount>("ledger_accounts").get(tenant, code)
          return a
            ? {
              name: a.name,
              type: a.type,
              normal_balance: a.normal_balance,
              parent_code: a.parent_code,
              currency: a.currency,
              active: a.active
            }
            : null
        }),
      actions: (tenant, subject) =>
        Effect.sync(() =>
          [...db.scoped<MemAction>("actions").inScope(tenant)]
            .filter((a) => a.subject === subject)
            .sort(byId)
            .map((a): RawAction => ({ id: a.id, status: a.status, close_reason: a.close_reason }))
        )
    }
  })
)

const sqlTables: Record<string, string> = {
  entries: "ledger_entries",
  lines: "ledger_lines",
  accounts: "ledger_accounts",
  bank_transactions: "ledger_bank_transactions",
  exported: "ledger_qbo_exported",
  batches: "ledger_qbo_batches"
}

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  LedgerProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    count: (table, tenant) =>
      sql`SELECT COUNT(*) AS n FROM ${sql(sqlTables[table]!)} WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      ),
    entrySnapshot: (tenant, id) =>
      Effect.gen(function*() {
        const rows = yield* sql`SELECT * FROM ledger_entries WHERE tenant_id = ${tenant} AND id = ${id}`
        if (rows.length === 0) return null
        const r = rows[0]!
        const lines = yield* sql`SELECT line_no, account_code, side, CAST(amount_minor AS TEXT) AS amount
                                 FROM ledger_lines WHERE tenant_id = ${tenant} AND entry_id = ${id} ORDER BY line_no`
        return {
          id: r.id,
          entry_no: Number(r.entry_no),
          date: r.date,
          memo: r.memo,
          currency: r.currency,
          source: r.source,
          proposal_id: r.proposal_id,
          bank_transaction_id: r.bank_transaction_id,
          reverses_entry_id: r.reverses_entry_id,
          idempotency_key: r.idempotency_key,
          content_hash: r.content_hash,
          posted_by: r.posted_by,
          lines: lines.map((l) => [Number(l.line_no), l.account_code, l.side, String(l.amount)])
        }
      }).pipe(Effect.orDie),
    lines: (tenant) =>
      sql`SELECT entry_id, line_no, account_code, side, CAST(amount_minor AS TEXT) AS amount FROM ledger_lines
          WHERE tenant_id = ${tenant} ORDER BY entry_id, line_no`.pipe(
        Effect.map((rows) =>
          rows.map((r) => ({
            entry_id: String(r.entry_id),
            line_no: Number(r.line_no),
            account_code: String(r.account_code),
            side: String(r.side),
            amount: String(r.amount)
          }))
        ),
        Effect.orDie
      ),
    // row by row: SQLite's SUM fails past 2^63 - 1, and a REAL that slipped into the column
    // reads as "9.5e+18", which BigInt refuses
    materialised: (tenant, account, asOf) =>
      sql`SELECT CAST(debit_minor AS TEXT) AS d, CAST(credit_minor AS TEXT) AS c
          FROM ledger_daily_balances WHERE tenant_id = ${tenant} AND account_code = ${account} AND day <= ${asOf}`.pipe(
        Effect.map((rows) => {
          let d = 0n
          let c = 0n
          for (const r of rows) {
            d += BigInt(String(r.d))
            c += BigInt(String(r.c))
          }
          return [d.toString(), c.toString()] as const
        }),
        Effect.orDie
      ),
    entryCounter: (tenant) =>
      sql`SELECT CAST(value AS TEXT) AS n FROM ledger_counters WHERE tenant_id = ${tenant} AND name = 'entry_no'`.pipe(
        Effect.map((r) => (r.length === 0 ? 0 : Number(r[0]!.n))),
        Effect.orDie
      ),
    lockDate: (tenant) =>
      sql`SELECT lock_date FROM ledger_period_locks WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => (r.length === 0 || r[0]!.lock_date === null ? null : String(r[0]!.lock_date))),
        Effect.orDie
      ),
    entryDates: (tenant) =>
      sql`SELECT date FROM ledger_entries WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => r.map((x) => String(x.date))),
        Effect.orDie
      ),
    bankRows: (tenant) =>
      sql`SELECT date, description, CAST(amount_minor AS TEXT) AS amount, fit_id, memo, fingerprint, source_line
          FROM ledger_bank_transactions WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((rows) =>
          rows
            .map((r): RawBankRow => ({
              date: String(r.date),
              description: String(r.description),
              amount: String(r.amount),
              fit_id: r.fit_id === null ? null : String(r.fit_id),
              memo: r.memo === null ? null : String(r.memo),
              fingerprint: String(r.fingerprint),
              source_line: r.source_line === null ? null : Number(r.source_line)
            }))
            .sort(byDateThenLine)
        ),
        Effect.orDie
      ),
    traces: (tenant) =>
      sql`SELECT id, phase, outcome, gates FROM core_traces WHERE tenant_id = ${tenant} ORDER BY id`.pipe(
        Effect.map((rows) =>
          rows.map((r): RawTrace => ({
            phase: String(r.phase),
            outcome: String(r.outcome),
            code: denialCode(JSON.parse(String(r.gates)))
          }))
        ),
        Effect.orDie
      ),
    account: (tenant, code) =>
      sql`SELECT name, type, normal_balance, parent_code, currency, active FROM ledger_accounts WHERE tenant_id = ${tenant} AND code = ${code}`
        .pipe(
          Effect.map((rows) => {
            const r = rows[0]
            return r === undefined ? null : {
              name: String(r.name),
              type: String(r.type),
              normal_balance: String(r.normal_balance),
              parent_code: r.parent_code === null ? null : String(r.parent_code),
              currency: String(r.currency),
              active: Number(r.active) === 1
            }
          }),
          Effect.orDie
        ),
    actions: (tenant, subject) =>
      sql`SELECT id, status, close_reason FROM core_actions WHERE tenant_id = ${tenant} AND subject = ${subject} ORDER BY id`
        .pipe(
          Effect.map((rows) =>
            rows.map((r): RawAction => ({
              id: String(r.id),
              status: String(r.status),
              close_reason: r.close_reason === null ? null : String(r.close_reason)
            }))
          ),
          Effect.orDie
        )
  }))
)

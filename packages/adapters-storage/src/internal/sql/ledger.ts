/**
 * SQL implementations of the ledger ports, written once for SQLite and PostgreSQL. Money is
 * bound as decimal text (both databases store it in BIGINT columns) and read back through
 * `CAST(... AS TEXT)`, so no amount ever passes through a JS number.
 */
import { CorePorts as CorePorts, type Errors, type Ids, Trusted } from "@airlock/core"
import {
  BankTransaction,
  Chart,
  JournalEntry,
  JournalStore,
  type LedgerPorts,
  Money,
  PeriodLock,
  QboExport
} from "@airlock/ledger"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option } from "effect"
import { literal, SqlDb } from "./db.js"
import {
  bool,
  forShare,
  forUpdate,
  ignoreRows,
  int,
  intOrNull,
  isIntegerOverflow,
  orDuplicate,
  orStorage,
  storageError,
  uniqueErrors
} from "./dialect.js"

type Row = Record<string, unknown>

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

const first = <A>(rows: ReadonlyArray<Row>, f: (r: Row) => A): Option.Option<A> =>
  rows.length === 0 ? Option.none() : Option.some(f(rows[0]!))

// Column lists of the reads that go through `Statement.query` (rows named once per statement).
const ACCOUNT_COLUMNS = literal(
  "tenant_id, code, name, type, normal_balance, parent_code, currency, active, description, created_at, updated_at"
)
const ENTRY_COLUMNS = literal(
  "e.tenant_id, e.id, e.entry_no, e.date, e.memo, e.currency, e.source, e.proposal_id, e.bank_transaction_id, " +
    "e.reverses_entry_id, e.idempotency_key, e.content_hash, e.posted_by, e.posted_at"
)
const LOCK_COLUMNS = literal("tenant_id, lock_date, updated_at, updated_by")

const toAccount = (r: Row) =>
  Trusted.make(Chart.Account, {
    tenant_id: String(r.tenant_id),
    code: String(r.code),
    name: String(r.name),
    type: r.type as Chart.AccountType,
    normal_balance: r.normal_balance as Chart.NormalBalance,
    parent_code: str(r.parent_code),
    currency: String(r.currency),
    active: bool(r.active),
    description: str(r.description),
    created_at: int(r.created_at),
    updated_at: int(r.updated_at)
  })

/** SQL {@link Chart.AccountStore}. */
export const accountStore: Layer.Layer<Chart.AccountStore, never, SqlDb> = Layer.effect(
  Chart.AccountStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (a) =>
      sql`INSERT INTO ledger_accounts (tenant_id, code, name, type, normal_balance, parent_code, currency, active, description, created_at, updated_at)
          VALUES (${a.tenant_id}, ${a.code}, ${a.name}, ${a.type}, ${a.normal_balance}, ${a.parent_code}, ${a.currency}, ${
        a.active ? 1 : 0
      },
                  ${a.description}, ${a.created_at}, ${a.updated_at})`.pipe(
        Effect.asVoid,
        orDuplicate("account", a.code)
      ),
    get: (tenant, code) =>
      sql`SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE tenant_id = ${tenant} AND code = ${code}`.query(
        (rs) => first(rs, toAccount),
        storageError
      ),
    getMany: (tenant, codes) =>
      codes.length === 0
        ? Effect.succeed(new Map<string, Chart.Account>())
        : sql`SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE tenant_id = ${tenant} AND code IN ${sql.in(codes)}`
          .query(
            (rs) => new Map(rs.map((r) => [String(r.code), toAccount(r)] as const)),
            storageError
          ),
    list: (tenant) =>
      sql`SELECT * FROM ledger_accounts WHERE tenant_id = ${tenant} ORDER BY code`.pipe(
        Effect.map((rs) => rs.map(toAccount)),
        orStorage
      ),
    update: (a) =>
      sql`UPDATE ledger_accounts SET name = ${a.name}, parent_code = ${a.parent_code}, description = ${a.description},
            active = ${a.active ? 1 : 0}, updated_at = ${a.updated_at}
          WHERE tenant_id = ${a.tenant_id} AND code = ${a.code} RETURNING code`.pipe(
        orStorage,
        Effect.flatMap((rs) =>
          rs.length === 0
            ? Effect.fail(CorePorts.notFoundError("account", a.code))
            : Effect.void
        )
      ),
    // the upsert row-locks the tenant's chart counter until commit (PostgreSQL); SQLite has one writer
    lockChart: (tenant) =>
      sql`INSERT INTO ledger_counters (tenant_id, name, value) VALUES (${tenant}, 'chart', 0)
          ON CONFLICT (tenant_id, name) DO UPDATE SET value = ledger_counters.value + 1`.query(ignoreRows, storageError)
  }))
)

const toLine = (r: Row): JournalEntry.JournalLine => ({
  line_no: int(r.line_no),
  account_code: String(r.account_code),
  side: r.side as JournalEntry.Side,
  amount_minor: BigInt(String(r.amount)),
  description: str(r.description),
  name: str(r.name),
  class: str(r.class),
  location: str(r.location)
})

const toEntry = (r: Row, lines: ReadonlyArray<JournalEntry.JournalLine>) =>
  Trusted.make(JournalEntry.JournalEntry, {
    tenant_id: String(r.tenant_id),
    id: String(r.id),
    entry_no: int(r.entry_no),
    date: String(r.date),
    memo: String(r.memo),
    currency: String(r.currency),
    lines,
    source: r.source as JournalEntry.EntrySource,
    proposal_id: str(r.proposal_id),
    bank_transaction_id: str(r.bank_transaction_id),
    reverses_entry_id: str(r.reverses_entry_id),
    idempotency_key: str(r.idempotency_key),
    content_hash: String(r.content_hash),
    posted_by: String(r.posted_by),
    posted_at: int(r.posted_at)
  })

/** The port's refusal for each unique key of the entries table an insert can hit. */
const entryConflict = uniqueErrors<JournalEntry.JournalEntry, Errors.Conflict>([
  ["idempotency_key", (e) => JournalStore.idempotencyKeyTakenError(e.idempotency_key)],
  ["reverses_entry_id", (e) => JournalStore.alreadyReversedError(e.reverses_entry_id)],
  ["proposal_id", (e) => JournalStore.proposalPostedError(e.proposal_id)]
], (e) => CorePorts.duplicateError("entry", e.id))

// a literal: bound as a parameter it would be a JS number (not exact past 2^53) or, as text, an
// untyped value PostgreSQL would have to guess the type of
const MAX_TOTAL = literal(Money.MAX_TOTAL_MINOR.toString())

const LINE_COLUMNS =
  "l.line_no, l.account_code, l.side, CAST(l.amount_minor AS TEXT) AS amount, l.description, l.name, l.class, l.location"

/** SQL {@link JournalStore.JournalStore}. Balances are materialised per account and day in the same statement batch as the entry. */
export const journalStore: Layer.Layer<JournalStore.JournalStore, never, SqlDb> = Layer.effect(
  JournalStore.JournalStore,
  Effect.map(SqlDb, (sql) => {
    const lineColumns = sql.literal(LINE_COLUMNS)

    /** Loads the lines of entries and assembles them, keeping the rows' order. */
    const withLines = (tenant: string, rows: ReadonlyArray<Row>) =>
      Effect.gen(function*() {
        if (rows.length === 0) return [] as Array<JournalEntry.JournalEntry>
        const ids = rows.map((r) => String(r.id))
        const lines = yield* sql`SELECT l.entry_id, ${lineColumns} FROM ledger_lines l
                                 WHERE l.tenant_id = ${tenant} AND l.entry_id IN ${
          sql.in(ids)
        } ORDER BY l.entry_id, l.line_no`
        const byEntry = new Map<string, Array<JournalEntry.JournalLine>>()
        for (const l of lines) {
          const id = String(l.entry_id)
          let xs = byEntry.get(id)
          if (!xs) byEntry.set(id, xs = [])
          xs.push(toLine(l))
        }
        return rows.map((r) => toEntry(r, byEntry.get(String(r.id)) ?? []))
      })

    const one = (tenant: string, rows: ReadonlyArray<Row>) =>
      Effect.map(withLines(tenant, rows.slice(0, 1)), (es) => Option.fromNullable(es[0]))

    const totalsOf = (rows: ReadonlyArray<Row>): JournalStore.Totals => ({
      debit: BigInt(String(rows[0]?.d ?? "0")),
      credit: BigInt(String(rows[0]?.c ?? "0"))
    })

    /** Adds up rows of `d` / `c` decimal texts exactly. */
    const sumRows = (rows: ReadonlyArray<Row>): JournalStore.Totals => {
      let debit = 0n
      let credit = 0n
      for (const r of rows) {
        debit += BigInt(String(r.d))
        credit += BigInt(String(r.c))
      }
      return { debit, credit }
    }

    /**
     * A sum in SQL, or, when SQLite reports that it passed 2^63 - 1 (its SUM over integers
     * fails then; PostgreSQL's returns numeric and never does), the rows added up here. Only
     * totals over several days get there: each day's total is kept within the limit.
     */
    const exactSum = <A>(fast: Effect.Effect<A, SqlError>, slow: Effect.Effect<A, SqlError>) =>
      orStorage(Effect.catchIf(fast, isIntegerOverflow, () => slow))

    // four statements (entry number, entry, lines, balances), each run and checked in one step
    const insert = (e: JournalEntry.JournalEntry) =>
      Effect.flatMap(
        sql`INSERT INTO ledger_counters (tenant_id, name, value) VALUES (${e.tenant_id}, 'entry_no', 1)
            ON CONFLICT (tenant_id, name) DO UPDATE SET value = ledger_counters.value + 1
            RETURNING value`.query((rows) => int(rows[0]!.value), storageError),
        (no) =>
          Effect.flatMap(
            sql`INSERT INTO ledger_entries (tenant_id, id, entry_no, date, memo, currency, source, proposal_id, bank_transaction_id,
                  reverses_entry_id, idempotency_key, content_hash, posted_by, posted_at)
                VALUES (${e.tenant_id}, ${e.id}, ${no}, ${e.date}, ${e.memo}, ${e.currency}, ${e.source}, ${e.proposal_id},
                  ${e.bank_transaction_id}, ${e.reverses_entry_id}, ${e.idempotency_key}, ${e.content_hash}, ${e.posted_by},
                  ${e.posted_at})`.query(ignoreRows, entryConflict(e)),
            () => Effect.flatMap(insertLines(e, no), () => insertBalances(e, no))
          )
      )

    const insertLines = (e: JournalEntry.JournalEntry, no: number) =>
      sql`INSERT INTO ledger_lines ${
        sql.insert(e.lines.map((l) => ({
          tenant_id: e.tenant_id,
          entry_id: e.id,
          line_no: l.line_no,
          account_code: l.account_code,
          side: l.side,
          amount_minor: l.amount_minor.toString(),
          description: l.description,
          name: l.name,
          class: l.class,
          location: l.location,
          date: e.date,
          entry_no: no
        })))
      }`.query(ignoreRows, storageError)

    // A day total never passes 2^63 - 1: on SQLite the addition would silently turn the column
    // into a REAL (and every later read of it fail), on PostgreSQL it would fail with 22003. The
    // upsert leaves a row whose total would pass it untouched, so it is missing from RETURNING;
    // the store then refuses the entry and the caller's transaction undoes the other rows.
    const insertBalances = (e: JournalEntry.JournalEntry, no: number) => {
      const perAccount = new Map<string, { debit: bigint; credit: bigint }>()
      for (const l of e.lines) {
        const t = perAccount.get(l.account_code) ?? { debit: 0n, credit: 0n }
        if (l.side === "debit") t.debit += l.amount_minor
        else t.credit += l.amount_minor
        perAccount.set(l.account_code, t)
      }
      // the entry alone past the limit (thousands of the largest lines on one account): a new
      // row would be stored as a REAL on SQLite, so it is refused before the statement
      for (const [account_code, t] of perAccount) {
        if (t.debit > Money.MAX_TOTAL_MINOR)
          return Effect.fail(JournalStore.balanceRangeError(account_code, e.date, "debit"))
        if (t.credit > Money.MAX_TOTAL_MINOR)
          return Effect.fail(JournalStore.balanceRangeError(account_code, e.date, "credit"))
      }
      return Effect.flatten(
        sql`INSERT INTO ledger_daily_balances ${
          sql.insert([...perAccount].map(([account_code, t]) => ({
            tenant_id: e.tenant_id,
            account_code,
            day: e.date,
            debit_minor: t.debit.toString(),
            credit_minor: t.credit.toString()
          })))
        } ON CONFLICT (tenant_id, account_code, day) DO UPDATE SET
            debit_minor = ledger_daily_balances.debit_minor + excluded.debit_minor,
            credit_minor = ledger_daily_balances.credit_minor + excluded.credit_minor
          WHERE ledger_daily_balances.debit_minor <= ${MAX_TOTAL} - excluded.debit_minor
            AND ledger_daily_balances.credit_minor <= ${MAX_TOTAL} - excluded.credit_minor
          RETURNING account_code`.query(
          (rows) =>
            rows.length === perAccount.size
              ? Effect.succeed(Trusted.make(JournalEntry.JournalEntry, { ...e, entry_no: no }))
              : outOfRange(e, perAccount, new Set(rows.map((r) => String(r.account_code)))),
          storageError
        )
      )
    }

    /**
     * The refusal naming the first account (in line order) the upsert left untouched, and the
     * side that would pass the limit, read back from its row (locked by the upsert until the
     * transaction ends). Runs only when an entry is refused.
     */
    const outOfRange = (
      e: JournalEntry.JournalEntry,
      perAccount: ReadonlyMap<string, { readonly debit: bigint; readonly credit: bigint }>,
      written: ReadonlySet<string>
    ): Effect.Effect<never, Errors.ValidationError | Errors.StorageError> => {
      const [account_code, delta] = [...perAccount].find(([code]) => !written.has(code))!
      return Effect.flatMap(
        sql`SELECT CAST(debit_minor AS TEXT) AS d, CAST(credit_minor AS TEXT) AS c FROM ledger_daily_balances
            WHERE tenant_id = ${e.tenant_id} AND account_code = ${account_code} AND day = ${e.date}`.query(
          totalsOf,
          storageError
        ),
        (stored) =>
          Effect.fail(
            JournalStore.balanceRangeError(
              account_code,
              e.date,
              stored.debit + delta.debit > Money.MAX_TOTAL_MINOR ? "debit" : "credit"
            )
          )
      )
    }

    const positionAfter = (p: JournalStore.LinePosition) =>
      sql`(l.date > ${p.date} OR (l.date = ${p.date} AND (l.entry_no > ${p.entry_no} OR (l.entry_no = ${p.entry_no} AND l.line_no > ${p.line_no}))))`

    return {
      insert,
      get: (tenant, id) =>
        Effect.flatMap(
          sql`SELECT * FROM ledger_entries WHERE tenant_id = ${tenant} AND id = ${id}`,
          (rs) => one(tenant, rs)
        ).pipe(orStorage),
      findByIdempotencyKey: (tenant, key) =>
        Effect.flatMap(
          sql`SELECT * FROM ledger_entries WHERE tenant_id = ${tenant} AND idempotency_key = ${key}`,
          (rs) => one(tenant, rs)
        ).pipe(orStorage),
      findReversal: (tenant, id) =>
        Effect.flatMap(
          sql`SELECT * FROM ledger_entries WHERE tenant_id = ${tenant} AND reverses_entry_id = ${id}`,
          (rs) => one(tenant, rs)
        ).pipe(orStorage),
      findByProposal: (tenant, proposal) =>
        Effect.flatMap(
          sql`SELECT * FROM ledger_entries WHERE tenant_id = ${tenant} AND proposal_id = ${proposal}`,
          (rs) => one(tenant, rs)
        ).pipe(orStorage),
      liveForBankTransaction: (tenant, btx) =>
        Effect.flatMap(
          // COALESCE (not IS NULL) and `entry_no + 0`: without them SQLite walks the reversal or
          // the entry-number index over every entry of the tenant instead of the
          // bank-transaction index, which finds the few rows of one bank transaction
          sql`SELECT ${ENTRY_COLUMNS} FROM ledger_entries e WHERE e.tenant_id = ${tenant} AND e.bank_transaction_id = ${btx}
                AND COALESCE(e.reverses_entry_id, '') = ''
                AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.tenant_id = e.tenant_id AND r.reverses_entry_id = e.id)
              ORDER BY e.entry_no + 0`.query((rs) => rs, storageError),
          // none, nearly always (checked before each post of the bank transaction)
          (rs) => (rs.length === 0 ? Effect.succeed([]) : orStorage(withLines(tenant, rs)))
        ),
      list: (tenant, q) => {
        const where = [sql`e.tenant_id = ${tenant}`]
        if (q.from !== undefined) where.push(sql`e.date >= ${q.from}`)
        if (q.to !== undefined) where.push(sql`e.date <= ${q.to}`)
        if (q.source !== undefined) where.push(sql`e.source = ${q.source}`)
        if (q.account_code !== undefined) {
          where.push(
            sql`EXISTS (SELECT 1 FROM ledger_lines l WHERE l.tenant_id = e.tenant_id AND l.entry_id = e.id AND l.account_code = ${q.account_code})`
          )
        }
        if (q.after !== undefined)
          where.push(sql`(e.date > ${q.after.date} OR (e.date = ${q.after.date} AND e.entry_no > ${q.after.entry_no}))`)
        return Effect.flatMap(
          sql`SELECT * FROM ledger_entries e WHERE ${sql.and(where)} ORDER BY e.date, e.entry_no LIMIT ${q.limit}`,
          (rs) => withLines(tenant, rs)
        ).pipe(orStorage)
      },
      accountTotals: (tenant, account, asOf) =>
        exactSum(
          Effect.map(
            sql`SELECT CAST(COALESCE(SUM(debit_minor), 0) AS TEXT) AS d, CAST(COALESCE(SUM(credit_minor), 0) AS TEXT) AS c
                FROM ledger_daily_balances WHERE tenant_id = ${tenant} AND account_code = ${account} AND day <= ${asOf}`,
            totalsOf
          ),
          Effect.map(
            sql`SELECT CAST(debit_minor AS TEXT) AS d, CAST(credit_minor AS TEXT) AS c
                FROM ledger_daily_balances WHERE tenant_id = ${tenant} AND account_code = ${account} AND day <= ${asOf}`,
            sumRows
          )
        ),
      allTotals: (tenant, asOf) =>
        exactSum(
          Effect.map(
            sql`SELECT account_code, CAST(SUM(debit_minor) AS TEXT) AS d, CAST(SUM(credit_minor) AS TEXT) AS c
                FROM ledger_daily_balances WHERE tenant_id = ${tenant} AND day <= ${asOf} GROUP BY account_code`,
            (rs) => rs.map((r) => ({ account_code: String(r.account_code), ...totalsOf([r]) }))
          ),
          Effect.map(
            sql`SELECT account_code, CAST(debit_minor AS TEXT) AS d, CAST(credit_minor AS TEXT) AS c
                FROM ledger_daily_balances WHERE tenant_id = ${tenant} AND day <= ${asOf}`,
            (rs) => {
              const byAccount = new Map<string, Array<Row>>()
              for (const r of rs) {
                const code = String(r.account_code)
                const rows = byAccount.get(code)
                if (rows) rows.push(r)
                else byAccount.set(code, [r])
              }
              return [...byAccount].map(([account_code, rows]) => ({ account_code, ...sumRows(rows) }))
            }
          )
        ),
      accountLines: (tenant, account, q) => {
        const where = [
          sql`l.tenant_id = ${tenant}`,
          sql`l.account_code = ${account}`,
          sql`l.date >= ${q.from}`,
          sql`l.date <= ${q.to}`
        ]
        if (q.after !== undefined) where.push(positionAfter(q.after))
        return sql`SELECT l.entry_id, l.entry_no, l.date, e.memo, ${lineColumns}
                   FROM ledger_lines l JOIN ledger_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
                   WHERE ${sql.and(where)} ORDER BY l.date, l.entry_no, l.line_no LIMIT ${q.limit}`.pipe(
          Effect.map((rs) =>
            rs.map((r): JournalStore.AccountLine => ({
              entry_id: String(r.entry_id),
              entry_no: int(r.entry_no),
              date: String(r.date),
              memo: String(r.memo),
              line_no: int(r.line_no),
              side: r.side as JournalEntry.Side,
              amount_minor: BigInt(String(r.amount)),
              description: str(r.description)
            }))
          ),
          orStorage
        )
      },
      // part of one day's lines, so within that day's total, which is kept within 2^63 - 1
      dayTotalsThrough: (tenant, account, p) =>
        sql`SELECT CAST(COALESCE(SUM(CASE WHEN side = 'debit' THEN amount_minor ELSE 0 END), 0) AS TEXT) AS d,
                   CAST(COALESCE(SUM(CASE WHEN side = 'credit' THEN amount_minor ELSE 0 END), 0) AS TEXT) AS c
            FROM ledger_lines WHERE tenant_id = ${tenant} AND account_code = ${account} AND date = ${p.date}
              AND (entry_no < ${p.entry_no} OR (entry_no = ${p.entry_no} AND line_no <= ${p.line_no}))`.pipe(
          Effect.map(totalsOf),
          orStorage
        )
    }
  })
)

const toLock = (r: Row) =>
  Trusted.make(PeriodLock.PeriodLock, {
    tenant_id: String(r.tenant_id),
    lock_date: str(r.lock_date),
    updated_at: int(r.updated_at),
    updated_by: String(r.updated_by)
  })

/** SQL {@link PeriodLock.PeriodLockStore}. Posting holds a shared row lock on PostgreSQL. */
export const periodLockStore: Layer.Layer<PeriodLock.PeriodLockStore, never, SqlDb> = Layer.effect(
  PeriodLock.PeriodLockStore,
  Effect.map(SqlDb, (sql) => {
    const clauses = { none: sql.literal(""), share: forShare(sql), update: forUpdate(sql) }
    const select = (tenant: Ids.TenantId, lock: "none" | "share" | "update") =>
      sql`SELECT ${LOCK_COLUMNS} FROM ledger_period_locks WHERE tenant_id = ${tenant} ${clauses[lock]}`.query(
        (rs) => first(rs, toLock),
        (e) => e
      )
    // a row must exist to be locked: the first post of a tenant creates an open one
    const locked = (tenant: Ids.TenantId, lock: "share" | "update") =>
      Effect.flatMap(select(tenant, lock), (found) =>
        Option.isSome(found)
          ? Effect.succeed(found)
          : Effect.zipRight(
            sql`INSERT INTO ledger_period_locks (tenant_id, lock_date, updated_at, updated_by)
                VALUES (${tenant}, NULL, 0, 'system') ON CONFLICT (tenant_id) DO NOTHING`,
            select(tenant, lock)
          )).pipe(orStorage)
    return {
      get: (tenant) => select(tenant, "none").pipe(orStorage),
      getForPosting: (tenant) => locked(tenant, "share"),
      getForUpdate: (tenant) => locked(tenant, "update"),
      put: (l) =>
        sql`INSERT INTO ledger_period_locks (tenant_id, lock_date, updated_at, updated_by)
            VALUES (${l.tenant_id}, ${l.lock_date}, ${l.updated_at}, ${l.updated_by})
            ON CONFLICT (tenant_id) DO UPDATE SET lock_date = excluded.lock_date, updated_at = excluded.updated_at,
              updated_by = excluded.updated_by`.pipe(Effect.asVoid, orStorage)
    }
  })
)

const toBankTxn = (r: Row) =>
  Trusted.make(BankTransaction.BankTransaction, {
    tenant_id: String(r.tenant_id),
    id: String(r.id),
    account_code: String(r.account_code),
    date: String(r.date),
    description: String(r.description),
    amount_minor: BigInt(String(r.amount)),
    currency: String(r.currency),
    payee: str(r.payee),
    memo: str(r.memo),
    fit_id: str(r.fit_id),
    fingerprint: String(r.fingerprint),
    source_format: r.source_format as BankTransaction.SourceFormat,
    source_line: intOrNull(r.source_line),
    imported_at: int(r.imported_at),
    imported_by: String(r.imported_by)
  })

const BANK_COLUMNS = literal(
  "b.tenant_id, b.id, b.account_code, b.date, b.description, CAST(b.amount_minor AS TEXT) AS amount, b.currency, b.payee, " +
    "b.memo, b.fit_id, b.fingerprint, b.source_format, b.source_line, b.imported_at, b.imported_by"
)

/** SQL {@link BankTransaction.BankTransactionStore}. */
export const bankTransactionStore: Layer.Layer<BankTransaction.BankTransactionStore, never, SqlDb> = Layer.effect(
  BankTransaction.BankTransactionStore,
  Effect.map(SqlDb, (sql) => {
    const columns = BANK_COLUMNS
    const noLock = sql.literal("")
    const lockRow = forUpdate(sql)
    const get = (tenant: Ids.TenantId, id: string, lock: boolean) =>
      sql`SELECT ${columns} FROM ledger_bank_transactions b WHERE b.tenant_id = ${tenant} AND b.id = ${id} ${
        lock ? lockRow : noLock
      }`.query(
        (rs) => first(rs, toBankTxn),
        storageError
      )
    return {
      insertNew: (rows) =>
        Effect.gen(function*() {
          const inserted = new Set<string>()
          for (let i = 0; i < rows.length; i += 500) {
            const chunk = rows.slice(i, i + 500)
            const ids = yield* sql`INSERT INTO ledger_bank_transactions ${
              sql.insert(chunk.map((r) => ({
                tenant_id: r.tenant_id,
                id: r.id,
                account_code: r.account_code,
                date: r.date,
                description: r.description,
                amount_minor: r.amount_minor.toString(),
                currency: r.currency,
                payee: r.payee,
                memo: r.memo,
                fit_id: r.fit_id,
                fingerprint: r.fingerprint,
                source_format: r.source_format,
                source_line: r.source_line,
                imported_at: r.imported_at,
                imported_by: r.imported_by
              })))
            } ON CONFLICT (tenant_id, fingerprint) DO NOTHING RETURNING id`
            for (const r of ids) inserted.add(String(r.id))
          }
          return rows.filter((r) => inserted.has(r.id))
        }).pipe(orStorage),
      get: (tenant, id) => get(tenant, id, false),
      getForUpdate: (tenant, id) => get(tenant, id, true),
      countByMonth: (tenant, months) =>
        Effect.gen(function*() {
          // PostgreSQL: imports of one tenant count one after the other (the lock ends with the
          // transaction); SQLite's writer lock already serialises them
          if (sql.dialect === "pg") {
            yield* sql`SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock(hashtext(${`ledger.bank_import:${tenant}`}))) l`
          }
          const out: Record<string, number> = {}
          for (const month of months) {
            const rows = yield* sql`SELECT COUNT(*) AS n FROM ledger_bank_transactions
              WHERE tenant_id = ${tenant} AND date >= ${`${month}-01`} AND date <= ${`${month}-31`}`
            out[month] = int(rows[0]?.n ?? 0)
          }
          return out
        }).pipe(orStorage),
      list: (tenant, q) => {
        const where = [sql`b.tenant_id = ${tenant}`]
        if (q.from !== undefined) where.push(sql`b.date >= ${q.from}`)
        if (q.to !== undefined) where.push(sql`b.date <= ${q.to}`)
        if (q.account_code !== undefined) where.push(sql`b.account_code = ${q.account_code}`)
        if (q.after !== undefined)
          where.push(sql`(b.date > ${q.after.date} OR (b.date = ${q.after.date} AND b.id > ${q.after.id}))`)
        if (q.unposted === true) {
          where.push(
            sql`NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.tenant_id = b.tenant_id AND e.bank_transaction_id = b.id
            AND COALESCE(e.reverses_entry_id, '') = ''
            AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.tenant_id = e.tenant_id AND r.reverses_entry_id = e.id))`
          )
        }
        return sql`SELECT ${columns} FROM ledger_bank_transactions b WHERE ${
          sql.and(where)
        } ORDER BY b.date, b.id LIMIT ${q.limit}`.pipe(
          Effect.map((rs) => rs.map(toBankTxn)),
          orStorage
        )
      }
    }
  })
)

const toBatch = (r: Row) =>
  Trusted.make(QboExport.ExportBatch, {
    tenant_id: String(r.tenant_id),
    id: String(r.id),
    batch_no: int(r.batch_no),
    entry_count: int(r.entry_count),
    first_entry_no: int(r.first_entry_no),
    last_entry_no: int(r.last_entry_no),
    date_format: String(r.date_format),
    created_at: int(r.created_at),
    created_by: String(r.created_by)
  })

/** SQL {@link QboExport.ExportStore}: marking is one `INSERT … SELECT`, never a load of the journal. */
export const exportStore: Layer.Layer<QboExport.ExportStore, never, SqlDb> = Layer.effect(
  QboExport.ExportStore,
  Effect.map(SqlDb, (sql) => {
    const lineColumns = sql.literal(LINE_COLUMNS)
    return {
      exportNew: (draft, names) =>
        Effect.gen(function*() {
          // serialises exports of a tenant (row lock on PostgreSQL; SQLite has one writer)
          yield* sql`INSERT INTO ledger_counters (tenant_id, name, value) VALUES (${draft.tenant_id}, 'qbo_export', 0)
                     ON CONFLICT (tenant_id, name) DO UPDATE SET value = ledger_counters.value + 1`
          const before = yield* sql`SELECT COUNT(*) AS n FROM ledger_qbo_exported WHERE tenant_id = ${draft.tenant_id}`
          yield* sql`INSERT INTO ledger_qbo_exported (tenant_id, entry_id, batch_id, entry_no)
                     SELECT e.tenant_id, e.id, ${draft.id}, e.entry_no FROM ledger_entries e
                     WHERE e.tenant_id = ${draft.tenant_id}
                       AND NOT EXISTS (SELECT 1 FROM ledger_qbo_exported x WHERE x.tenant_id = e.tenant_id AND x.entry_id = e.id)`
          const stats =
            yield* sql`SELECT COUNT(*) AS n, MIN(entry_no) AS lo, MAX(entry_no) AS hi FROM ledger_qbo_exported
                                   WHERE tenant_id = ${draft.tenant_id} AND batch_id = ${draft.id}`
          const skipped = int(before[0]!.n)
          const count = int(stats[0]!.n)
          if (count === 0) return { skipped, batch: null }
          const last =
            yield* sql`SELECT COALESCE(MAX(batch_no), 0) AS n FROM ledger_qbo_batches WHERE tenant_id = ${draft.tenant_id}`
          const batch = Trusted.make(QboExport.ExportBatch, {
            tenant_id: draft.tenant_id,
            id: draft.id,
            batch_no: int(last[0]!.n) + 1,
            entry_count: count,
            first_entry_no: int(stats[0]!.lo),
            last_entry_no: int(stats[0]!.hi),
            date_format: draft.date_format,
            created_at: draft.created_at,
            created_by: draft.created_by
          })
          yield* sql`INSERT INTO ledger_qbo_batches (tenant_id, id, batch_no, entry_count, first_entry_no, last_entry_no, date_format, created_at, created_by)
                     VALUES (${batch.tenant_id}, ${batch.id}, ${batch.batch_no}, ${batch.entry_count}, ${batch.first_entry_no},
                             ${batch.last_entry_no}, ${batch.date_format}, ${batch.created_at}, ${batch.created_by})`
          const rows = [...names].map(([account_code, full_name]) => ({
            tenant_id: draft.tenant_id,
            batch_id: draft.id,
            account_code,
            full_name
          }))
          for (let i = 0; i < rows.length; i += 500) {
            yield* sql`INSERT INTO ledger_qbo_batch_accounts ${sql.insert(rows.slice(i, i + 500))}`
          }
          return { skipped, batch }
        }).pipe(orStorage),
      getBatch: (tenant, id) =>
        sql`SELECT * FROM ledger_qbo_batches WHERE tenant_id = ${tenant} AND id = ${id}`.pipe(
          Effect.map((rs) => first(rs, toBatch)),
          orStorage
        ),
      listBatches: (tenant, limit) =>
        sql`SELECT * FROM ledger_qbo_batches WHERE tenant_id = ${tenant} ORDER BY batch_no DESC LIMIT ${limit}`.pipe(
          Effect.map((rs) => rs.map(toBatch)),
          orStorage
        ),
      batchNames: (tenant, id) =>
        sql`SELECT account_code, full_name FROM ledger_qbo_batch_accounts WHERE tenant_id = ${tenant} AND batch_id = ${id}`
          .pipe(
            Effect.map((rs) => new Map(rs.map((r) => [String(r.account_code), String(r.full_name)] as const))),
            orStorage
          ),
      batchEntries: (tenant, id, after, limit) =>
        Effect.gen(function*() {
          const rows =
            yield* sql`SELECT e.* FROM ledger_qbo_exported x JOIN ledger_entries e ON e.tenant_id = x.tenant_id AND e.id = x.entry_id
                                  WHERE x.tenant_id = ${tenant} AND x.batch_id = ${id} AND x.entry_no > ${after}
                                  ORDER BY x.entry_no LIMIT ${limit}`
          if (rows.length === 0) return []
          const lines = yield* sql`SELECT l.entry_id, ${lineColumns} FROM ledger_lines l
                                   WHERE l.tenant_id = ${tenant} AND l.entry_id IN ${
            sql.in(rows.map((r) => String(r.id)))
          }
                                   ORDER BY l.entry_id, l.line_no`
          const byEntry = new Map<string, Array<JournalEntry.JournalLine>>()
          for (const l of lines) {
            const eid = String(l.entry_id)
            let xs = byEntry.get(eid)
            if (!xs) byEntry.set(eid, xs = [])
            xs.push(toLine(l))
          }
          return rows.map((r) => toEntry(r, byEntry.get(String(r.id)) ?? []))
        }).pipe(orStorage)
    }
  })
)

/** Every ledger port on SQL (needs a migrated database behind `SqlDb`). */
export const layer: Layer.Layer<LedgerPorts.LedgerPorts, never, SqlDb> = Layer.mergeAll(
  accountStore,
  journalStore,
  periodLockStore,
  bankTransactionStore,
  exportStore
)

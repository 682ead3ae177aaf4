/**
 * Memory implementations of the ledger ports. Entries live in a table; sorted indexes (entries
 * by date, an account's lines by position) and the materialised daily balances are kept beside
 * it and undone through `onRollback` when a transaction fails.
 */
import { Errors, type Ids, Trusted } from "@airlock/core"
import { BankTransaction, Chart, Journal, type Ports, PeriodLock, QboExport } from "@airlock/ledger"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase, type MemoryDatabaseShape } from "../../MemoryDatabase.js"

const key = (a: string, b: string | number, c?: string | number) => (c === undefined ? `${a}\u0000${b}` : `${a}\u0000${b}\u0000${c}`)

const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.Conflict(details ? { code, message, details } : { code, message })

/** Index of the first element for which `before(element)` is false (binary search). */
const lowerBound = <A>(xs: ReadonlyArray<A>, before: (a: A) => boolean): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (before(xs[mid]!)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Inserts into a sorted array in place, with its undo. */
const insertSorted = <A>(db: MemoryDatabaseShape, xs: Array<A>, item: A, before: (a: A) => boolean) => {
  const at = lowerBound(xs, before)
  xs.splice(at, 0, item)
  db.onRollback(() => {
    const i = xs.indexOf(item, Math.max(0, at - 1))
    if (i >= 0) xs.splice(i, 1)
  })
}

/**
 * An index kept in insertion order and sorted only when read: posting appends (O(1), undone by
 * a pop), a read after writes sorts once. Posting is the hot path; reads are occasional.
 */
class LazySorted<A> {
  private items: Array<A> = []
  private sorted = true
  constructor(private readonly compare: (a: A, b: A) => number) {}
  push(db: MemoryDatabaseShape, item: A) {
    const items = this.items
    if (items.length > 0 && this.compare(items[items.length - 1]!, item) > 0) this.sorted = false
    items.push(item)
    db.onRollback(() => {
      const i = this.items.lastIndexOf(item)
      if (i >= 0) this.items.splice(i, 1)
    })
  }
  view(): ReadonlyArray<A> {
    if (!this.sorted) {
      this.items.sort(this.compare)
      this.sorted = true
    }
    return this.items
  }
}

const byPosition = (a: LineRef, b: LineRef) =>
  a.entry.date < b.entry.date ? -1 : a.entry.date > b.entry.date ? 1 : a.entry.entry_no - b.entry.entry_no || a.line.line_no - b.line.line_no

const byDateThenNo = (a: Journal.JournalEntry, b: Journal.JournalEntry) =>
  a.date < b.date ? -1 : a.date > b.date ? 1 : a.entry_no - b.entry_no

/** Memory {@link Chart.AccountStore}. */
export const accountStore: Layer.Layer<Chart.AccountStore, never, MemoryDatabase> = Layer.effect(
  Chart.AccountStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<Chart.Account>("ledger_accounts")
    const ofTenant = (tenant: string) =>
      [...rows.values()].filter((a) => a.tenant_id === tenant).sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    return {
      insert: (a) =>
        db.writeEffect(() => {
          const k = key(a.tenant_id, a.code)
          if (rows.has(k)) return Effect.fail(conflict("conflict.duplicate", `account ${a.code} already exists`, { entity: "account", id: a.code }))
          rows.set(k, a)
          return Effect.void
        }),
      get: (tenant, code) => db.read(() => Option.fromNullable(rows.get(key(tenant, code)))),
      getMany: (tenant, codes) =>
        db.read(() => {
          const out = new Map<string, Chart.Account>()
          for (const c of codes) {
            const a = rows.get(key(tenant, c))
            if (a) out.set(c, a)
          }
          return out
        }),
      list: (tenant) => db.read(() => ofTenant(tenant)),
      update: (a) =>
        db.writeEffect(() => {
          const k = key(a.tenant_id, a.code)
          if (!rows.has(k)) return Effect.fail(new Errors.NotFound({ message: `account ${a.code} not found`, details: { entity: "account", id: a.code } }))
          rows.set(k, a)
          return Effect.void
        })
    }
  })
)

/** One day's totals of one account. */
interface DayTotals {
  debit: bigint
  credit: bigint
}

/** An account's materialised balances: sorted days and their totals. */
interface AccountDays {
  readonly days: Array<string>
  readonly totals: Map<string, DayTotals>
}

/** A line in an account's position index. */
interface LineRef {
  readonly entry: Journal.JournalEntry
  readonly line: Journal.JournalLine
}

const positionBefore = (p: Journal.LinePosition) => (r: LineRef) =>
  r.entry.date < p.date ||
  (r.entry.date === p.date && (r.entry.entry_no < p.entry_no || (r.entry.entry_no === p.entry_no && r.line.line_no < p.line_no)))

/** Memory {@link Journal.JournalStore}. */
export const journalStore: Layer.Layer<Journal.JournalStore, never, MemoryDatabase> = Layer.effect(
  Journal.JournalStore,
  Effect.map(MemoryDatabase, (db) => {
    const entries = db.table<Journal.JournalEntry>("ledger_entries")
    const idem = db.table<string>("ledger_entry_keys")
    const reversals = db.table<string>("ledger_reversals")
    const byProposal = db.table<string>("ledger_entries_by_proposal")
    const byBank = db.table<ReadonlyArray<string>>("ledger_entries_by_bank_txn")
    const counters = db.table<number>("ledger_counters")
    const ordered = new Map<string, LazySorted<Journal.JournalEntry>>()
    const balances = new Map<string, AccountDays>()
    const lines = new Map<string, LazySorted<LineRef>>()

    const tenantEntries = (tenant: string) => {
      let xs = ordered.get(tenant)
      if (!xs) ordered.set(tenant, xs = new LazySorted(byDateThenNo))
      return xs
    }
    const accountDays = (tenant: string, account: string) => {
      const k = key(tenant, account)
      let d = balances.get(k)
      if (!d) balances.set(k, d = { days: [], totals: new Map() })
      return d
    }
    const accountLines = (tenant: string, account: string) => {
      const k = key(tenant, account)
      let xs = lines.get(k)
      if (!xs) lines.set(k, xs = new LazySorted(byPosition))
      return xs
    }

    const addToBalance = (tenant: string, account: string, date: string, side: Journal.Side, amount: bigint) => {
      const d = accountDays(tenant, account)
      let t = d.totals.get(date)
      if (!t) {
        t = { debit: 0n, credit: 0n }
        d.totals.set(date, t)
        insertSorted(db, d.days, date, (x) => x < date)
        db.onRollback(() => void d.totals.delete(date))
      }
      const cell = t
      if (side === "debit") cell.debit += amount
      else cell.credit += amount
      db.onRollback(() => {
        if (side === "debit") cell.debit -= amount
        else cell.credit -= amount
      })
    }

    const sumThrough = (d: AccountDays | undefined, asOf: string): Journal.Totals => {
      let debit = 0n
      let credit = 0n
      if (!d) return { debit, credit }
      for (const day of d.days) {
        if (day > asOf) break
        const t = d.totals.get(day)!
        debit += t.debit
        credit += t.credit
      }
      return { debit, credit }
    }

    const reversed = (tenant: string, id: string) => reversals.has(key(tenant, id))

    return {
      insert: (e) =>
        db.writeEffect((): Effect.Effect<Journal.JournalEntry, Errors.Conflict> => {
          const t = e.tenant_id
          if (e.idempotency_key !== null && idem.has(key(t, e.idempotency_key))) {
            return Effect.fail(conflict("idempotency.key_taken", "Idempotency key already used", { idempotency_key: e.idempotency_key }))
          }
          if (e.reverses_entry_id !== null && reversals.has(key(t, e.reverses_entry_id))) {
            return Effect.fail(conflict("entry.already_reversed", "Entry was already reversed", { entry_id: e.reverses_entry_id }))
          }
          if (e.proposal_id !== null && byProposal.has(key(t, e.proposal_id))) {
            return Effect.fail(conflict("entry.proposal_posted", "Proposal already has its entry", { proposal_id: e.proposal_id }))
          }
          if (entries.has(key(t, e.id))) return Effect.fail(conflict("conflict.duplicate", `entry ${e.id} already exists`))
          const no = (counters.get(key(t, "entry_no")) ?? 0) + 1
          counters.set(key(t, "entry_no"), no)
          const entry = Trusted.make(Journal.JournalEntry, { ...e, entry_no: no })
          entries.set(key(t, e.id), entry)
          if (e.idempotency_key !== null) idem.set(key(t, e.idempotency_key), e.id)
          if (e.reverses_entry_id !== null) reversals.set(key(t, e.reverses_entry_id), e.id)
          if (e.proposal_id !== null) byProposal.set(key(t, e.proposal_id), e.id)
          if (e.bank_transaction_id !== null) {
            const bk = key(t, e.bank_transaction_id)
            byBank.set(bk, [...(byBank.get(bk) ?? []), e.id])
          }
          tenantEntries(t).push(db, entry)
          for (const line of entry.lines) {
            addToBalance(t, line.account_code, entry.date, line.side, line.amount_minor)
            accountLines(t, line.account_code).push(db, { entry, line })
          }
          return Effect.succeed(entry)
        }),
      get: (tenant, id) => db.read(() => Option.fromNullable(entries.get(key(tenant, id)))),
      findByIdempotencyKey: (tenant, k) =>
        db.read(() => {
          const id = idem.get(key(tenant, k))
          return id === undefined ? Option.none() : Option.fromNullable(entries.get(key(tenant, id)))
        }),
      findReversal: (tenant, id) =>
        db.read(() => {
          const r = reversals.get(key(tenant, id))
          return r === undefined ? Option.none() : Option.fromNullable(entries.get(key(tenant, r)))
        }),
      findByProposal: (tenant, proposal) =>
        db.read(() => {
          const id = byProposal.get(key(tenant, proposal))
          return id === undefined ? Option.none() : Option.fromNullable(entries.get(key(tenant, id)))
        }),
      liveForBankTransaction: (tenant, btx) =>
        db.read(() =>
          (byBank.get(key(tenant, btx)) ?? [])
            .map((id) => entries.get(key(tenant, id))!)
            .filter((e) => e.reverses_entry_id === null && !reversed(tenant, e.id))
        ),
      list: (tenant, q) =>
        db.read(() => {
          const xs = ordered.get(tenant)?.view() ?? []
          const start = q.after
            ? lowerBound(xs, (e) => e.date < q.after!.date || (e.date === q.after!.date && e.entry_no <= q.after!.entry_no))
            : q.from !== undefined
            ? lowerBound(xs, (e) => e.date < q.from!)
            : 0
          const out: Array<Journal.JournalEntry> = []
          for (let i = start; i < xs.length && out.length < q.limit; i++) {
            const e = xs[i]!
            if (q.to !== undefined && e.date > q.to) break
            if (q.from !== undefined && e.date < q.from) continue
            if (q.source !== undefined && e.source !== q.source) continue
            if (q.account_code !== undefined && !e.lines.some((l) => l.account_code === q.account_code)) continue
            out.push(e)
          }
          return out
        }),
      accountTotals: (tenant, account, asOf) => db.read(() => sumThrough(balances.get(key(tenant, account)), asOf)),
      allTotals: (tenant, asOf) =>
        db.read(() => {
          const prefix = key(tenant, "")
          const out: Array<Journal.Totals & { account_code: string }> = []
          for (const [k, d] of balances) {
            if (!k.startsWith(prefix)) continue
            out.push({ account_code: k.slice(prefix.length), ...sumThrough(d, asOf) })
          }
          return out
        }),
      accountLines: (tenant, account, q) =>
        db.read(() => {
          const xs = lines.get(key(tenant, account))?.view() ?? []
          const start = q.after
            ? lowerBound(xs, (r) => positionBefore(q.after!)(r) || (r.entry.date === q.after!.date && r.entry.entry_no === q.after!.entry_no && r.line.line_no === q.after!.line_no))
            : lowerBound(xs, (r) => r.entry.date < q.from)
          const out: Array<Journal.AccountLine> = []
          for (let i = start; i < xs.length && out.length < q.limit; i++) {
            const { entry, line } = xs[i]!
            if (entry.date > q.to) break
            if (entry.date < q.from) continue
            out.push({
              entry_id: entry.id,
              entry_no: entry.entry_no,
              date: entry.date,
              memo: entry.memo,
              line_no: line.line_no,
              side: line.side,
              amount_minor: line.amount_minor,
              description: line.description
            })
          }
          return out
        }),
      dayTotalsThrough: (tenant, account, p) =>
        db.read(() => {
          const xs = lines.get(key(tenant, account))?.view() ?? []
          let debit = 0n
          let credit = 0n
          for (let i = lowerBound(xs, (r) => r.entry.date < p.date); i < xs.length; i++) {
            const r = xs[i]!
            if (r.entry.date !== p.date || !(positionBefore(p)(r) || (r.entry.entry_no === p.entry_no && r.line.line_no === p.line_no))) break
            if (r.line.side === "debit") debit += r.line.amount_minor
            else credit += r.line.amount_minor
          }
          return { debit, credit }
        })
    }
  })
)

/** Memory {@link PeriodLock.PeriodLockStore}. */
export const periodLockStore: Layer.Layer<PeriodLock.PeriodLockStore, never, MemoryDatabase> = Layer.effect(
  PeriodLock.PeriodLockStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<PeriodLock.PeriodLock>("ledger_period_locks")
    const get = (tenant: Ids.TenantId) => db.read(() => Option.fromNullable(rows.get(tenant)))
    return {
      get,
      getForPosting: get,
      getForUpdate: get,
      put: (lock) => db.write(() => rows.set(lock.tenant_id, lock))
    }
  })
)

/** Memory {@link BankTransaction.BankTransactionStore}. */
export const bankTransactionStore: Layer.Layer<BankTransaction.BankTransactionStore, never, MemoryDatabase> = Layer.effect(
  BankTransaction.BankTransactionStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<BankTransaction.BankTransaction>("ledger_bank_transactions")
    const prints = db.table<string>("ledger_bank_fingerprints")
    const entriesByBank = db.table<ReadonlyArray<string>>("ledger_entries_by_bank_txn")
    const entries = db.table<Journal.JournalEntry>("ledger_entries")
    const reversals = db.table<string>("ledger_reversals")
    const get = (tenant: Ids.TenantId, id: string) => db.read(() => Option.fromNullable(rows.get(key(tenant, id))))
    const posted = (t: BankTransaction.BankTransaction) =>
      (entriesByBank.get(key(t.tenant_id, t.id)) ?? []).some((id) => {
        const e = entries.get(key(t.tenant_id, id))
        return e !== undefined && e.reverses_entry_id === null && !reversals.has(key(t.tenant_id, e.id))
      })
    return {
      insertNew: (batch) =>
        db.write(() => {
          const out: Array<BankTransaction.BankTransaction> = []
          for (const r of batch) {
            const fk = key(r.tenant_id, r.fingerprint)
            if (prints.has(fk)) continue
            prints.set(fk, r.id)
            rows.set(key(r.tenant_id, r.id), r)
            out.push(r)
          }
          return out
        }),
      get,
      getForUpdate: get,
      list: (tenant, q) =>
        db.read(() =>
          [...rows.values()]
            .filter((t) =>
              t.tenant_id === tenant &&
              (q.from === undefined || t.date >= q.from) &&
              (q.to === undefined || t.date <= q.to) &&
              (q.account_code === undefined || t.account_code === q.account_code) &&
              (q.after === undefined || t.date > q.after.date || (t.date === q.after.date && t.id > q.after.id)) &&
              (q.unposted !== true || !posted(t))
            )
            .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
            .slice(0, q.limit)
        )
    }
  })
)

/** Memory {@link QboExport.ExportStore}. */
export const exportStore: Layer.Layer<QboExport.ExportStore, never, MemoryDatabase> = Layer.effect(
  QboExport.ExportStore,
  Effect.map(MemoryDatabase, (db) => {
    const entries = db.table<Journal.JournalEntry>("ledger_entries")
    const exported = db.table<string>("ledger_qbo_exported")
    const batches = db.table<QboExport.ExportBatch>("ledger_qbo_batches")
    const batchEntryIds = db.table<ReadonlyArray<string>>("ledger_qbo_batch_entries")
    const names = db.table<ReadonlyMap<string, string>>("ledger_qbo_batch_accounts")
    const counters = db.table<number>("ledger_counters")
    return {
      exportNew: (draft, accountNames) =>
        db.write(() => {
          const t = draft.tenant_id
          const prefix = key(t, "")
          const fresh: Array<Journal.JournalEntry> = []
          let skipped = 0
          for (const [k, e] of entries.raw) {
            if (!k.startsWith(prefix)) continue
            if (exported.has(key(t, e.id))) skipped++
            else fresh.push(e)
          }
          if (fresh.length === 0) return { skipped, batch: null }
          fresh.sort((a, b) => a.entry_no - b.entry_no)
          const no = (counters.get(key(t, "qbo_batch_no")) ?? 0) + 1
          counters.set(key(t, "qbo_batch_no"), no)
          const batch = new QboExport.ExportBatch({
            tenant_id: t,
            id: draft.id,
            batch_no: no,
            entry_count: fresh.length,
            first_entry_no: fresh[0]!.entry_no,
            last_entry_no: fresh.at(-1)!.entry_no,
            date_format: draft.date_format,
            created_at: draft.created_at,
            created_by: draft.created_by
          }, true)
          for (const e of fresh) exported.set(key(t, e.id), draft.id)
          batches.set(key(t, draft.id), batch)
          batchEntryIds.set(key(t, draft.id), fresh.map((e) => e.id))
          names.set(key(t, draft.id), new Map(accountNames))
          return { skipped, batch }
        }),
      getBatch: (tenant, id) => db.read(() => Option.fromNullable(batches.get(key(tenant, id)))),
      listBatches: (tenant, limit) =>
        db.read(() =>
          [...batches.values()].filter((b) => b.tenant_id === tenant).sort((a, b) => b.batch_no - a.batch_no).slice(0, limit)
        ),
      batchNames: (tenant, id) => db.read(() => names.get(key(tenant, id)) ?? new Map()),
      batchEntries: (tenant, id, after, limit) =>
        db.read(() => {
          const ids = batchEntryIds.get(key(tenant, id)) ?? []
          const entryOf = (eid: string) => entries.get(key(tenant, eid))!
          const out: Array<Journal.JournalEntry> = []
          for (let i = lowerBound(ids, (eid) => entryOf(eid).entry_no <= after); i < ids.length && out.length < limit; i++) {
            out.push(entryOf(ids[i]!))
          }
          return out
        })
    }
  })
)

/** Every ledger port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<Ports.LedgerPorts, never, MemoryDatabase> = Layer.mergeAll(
  accountStore,
  journalStore,
  periodLockStore,
  bankTransactionStore,
  exportStore
)

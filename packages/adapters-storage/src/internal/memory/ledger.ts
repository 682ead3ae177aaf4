/**
 * Memory implementations of the ledger ports. Entries live in a table; sorted indexes (entries
 * by date, an account's lines by position) and the materialised daily balances are kept beside
 * it and undone through `onRollback` when a transaction fails.
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
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase, type MemoryDatabaseShape } from "../../MemoryDatabase.js"

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
  a.entry.date < b.entry.date
    ? -1
    : a.entry.date > b.entry.date
    ? 1
    : a.entry.entry_no - b.entry.entry_no || a.line.line_no - b.line.line_no

const byDateThenNo = (a: JournalEntry.JournalEntry, b: JournalEntry.JournalEntry) =>
  a.date < b.date ? -1 : a.date > b.date ? 1 : a.entry_no - b.entry_no

/** Memory {@link Chart.AccountStore}. */
export const accountStore: Layer.Layer<Chart.AccountStore, never, MemoryDatabase> = Layer.effect(
  Chart.AccountStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<Chart.Account>("ledger_accounts")
    const ofTenant = (tenant: string) =>
      [...rows.inScope(tenant)].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    return {
      insert: (a) =>
        db.writeEffect(() => {
          if (rows.has(a.tenant_id, a.code)) return Effect.fail(CorePorts.duplicateError("account", a.code))
          rows.set(a.tenant_id, a.code, a)
          return Effect.void
        }),
      get: (tenant, code) => db.read(() => Option.fromNullable(rows.get(tenant, code))),
      getMany: (tenant, codes) =>
        db.read(() => {
          const out = new Map<string, Chart.Account>()
          for (const c of codes) {
            const a = rows.get(tenant, c)
            if (a) out.set(c, a)
          }
          return out
        }),
      list: (tenant) => db.read(() => ofTenant(tenant)),
      update: (a) =>
        db.writeEffect(() => {
          if (!rows.has(a.tenant_id, a.code)) return Effect.fail(CorePorts.notFoundError("account", a.code))
          rows.set(a.tenant_id, a.code, a)
          return Effect.void
        }),
      // transactions hold the writer lock until they end: joining it is the whole lock
      lockChart: () => db.write(() => undefined)
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
  readonly entry: JournalEntry.JournalEntry
  readonly line: JournalEntry.JournalLine
}

const positionBefore = (p: JournalStore.LinePosition) => (r: LineRef) =>
  r.entry.date < p.date ||
  (r.entry.date === p.date &&
    (r.entry.entry_no < p.entry_no || (r.entry.entry_no === p.entry_no && r.line.line_no < p.line_no)))

/** Memory {@link JournalStore.JournalStore}. */
export const journalStore: Layer.Layer<JournalStore.JournalStore, never, MemoryDatabase> = Layer.effect(
  JournalStore.JournalStore,
  Effect.map(MemoryDatabase, (db) => {
    const entries = db.scoped<JournalEntry.JournalEntry>("ledger_entries")
    const idem = db.scoped<string>("ledger_entry_keys")
    const reversals = db.scoped<string>("ledger_reversals")
    const byProposal = db.scoped<string>("ledger_entries_by_proposal")
    const byBank = db.scoped<ReadonlyArray<string>>("ledger_entries_by_bank_txn")
    const counters = db.scoped<number>("ledger_counters")
    const ordered = new Map<string, LazySorted<JournalEntry.JournalEntry>>()
    // by tenant, then account
    const balances = new Map<string, Map<string, AccountDays>>()
    const lines = new Map<string, Map<string, LazySorted<LineRef>>>()
    db.onTenantRemoved((tenant) => {
      for (const m of [ordered, balances, lines] as Array<Map<string, unknown>>) {
        const before = m.get(tenant)
        if (before === undefined) continue
        m.delete(tenant)
        db.onRollback(() => void m.set(tenant, before))
      }
    })
    const ofTenant = <A>(m: Map<string, Map<string, A>>, tenant: string) => {
      let inner = m.get(tenant)
      if (inner === undefined) m.set(tenant, inner = new Map())
      return inner
    }

    const tenantEntries = (tenant: string) => {
      let xs = ordered.get(tenant)
      if (!xs) ordered.set(tenant, xs = new LazySorted(byDateThenNo))
      return xs
    }
    const accountDays = (byAccount: Map<string, AccountDays>, account: string) => {
      let d = byAccount.get(account)
      if (!d) byAccount.set(account, d = { days: [], totals: new Map() })
      return d
    }
    const accountLines = (byAccount: Map<string, LazySorted<LineRef>>, account: string) => {
      let xs = byAccount.get(account)
      if (!xs) byAccount.set(account, xs = new LazySorted(byPosition))
      return xs
    }

    const addToBalance = (
      byAccount: Map<string, AccountDays>,
      account: string,
      date: string,
      side: JournalEntry.Side,
      amount: bigint
    ) => {
      const d = accountDays(byAccount, account)
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

    const sumThrough = (d: AccountDays | undefined, asOf: string): JournalStore.Totals => {
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

    const reversed = (tenant: string, id: string) => reversals.has(tenant, id)

    /**
     * The refusal when `e` would take a day total of one of its accounts past what the SQL
     * adapters' 64-bit columns hold (the same limit here, so every adapter agrees), checked
     * before anything is written: the first such account in line order, debits before credits.
     * The common case costs one pass: the whole entry's debits and credits fit on every total.
     */
    const outOfRange = (
      byAccount: Map<string, AccountDays> | undefined,
      e: JournalEntry.JournalEntry
    ): Errors.ValidationError | undefined => {
      let debit = 0n
      let credit = 0n
      for (const l of e.lines) {
        if (l.side === "debit") debit += l.amount_minor
        else credit += l.amount_minor
      }
      for (const l of e.lines) {
        const day = byAccount?.get(l.account_code)?.totals.get(e.date)
        const d0 = day?.debit ?? 0n
        const c0 = day?.credit ?? 0n
        if (d0 + debit <= Money.MAX_TOTAL_MINOR && c0 + credit <= Money.MAX_TOTAL_MINOR) continue
        const own = JournalEntry.totals(e.lines.filter((x) => x.account_code === l.account_code))
        if (d0 + own.debit > Money.MAX_TOTAL_MINOR)
          return JournalStore.balanceRangeError(l.account_code, e.date, "debit")
        if (c0 + own.credit > Money.MAX_TOTAL_MINOR)
          return JournalStore.balanceRangeError(l.account_code, e.date, "credit")
      }
      return undefined
    }

    return {
      insert: (e) =>
        db.writeEffect((): Effect.Effect<JournalEntry.JournalEntry, Errors.Conflict | Errors.ValidationError> => {
          const t = e.tenant_id
          if (e.idempotency_key !== null && idem.has(t, e.idempotency_key)) {
            return Effect.fail(JournalStore.idempotencyKeyTakenError(e.idempotency_key))
          }
          if (e.reverses_entry_id !== null && reversals.has(t, e.reverses_entry_id)) {
            return Effect.fail(JournalStore.alreadyReversedError(e.reverses_entry_id))
          }
          if (e.proposal_id !== null && byProposal.has(t, e.proposal_id)) {
            return Effect.fail(JournalStore.proposalPostedError(e.proposal_id))
          }
          if (entries.has(t, e.id)) return Effect.fail(CorePorts.duplicateError("entry", e.id))
          const refused = outOfRange(balances.get(t), e)
          if (refused !== undefined) return Effect.fail(refused)
          const no = (counters.get(t, "entry_no") ?? 0) + 1
          counters.set(t, "entry_no", no)
          const entry = Trusted.make(JournalEntry.JournalEntry, { ...e, entry_no: no })
          entries.set(t, e.id, entry)
          if (e.idempotency_key !== null) idem.set(t, e.idempotency_key, e.id)
          if (e.reverses_entry_id !== null) reversals.set(t, e.reverses_entry_id, e.id)
          if (e.proposal_id !== null) byProposal.set(t, e.proposal_id, e.id)
          if (e.bank_transaction_id !== null) {
            const before = byBank.get(t, e.bank_transaction_id)
            byBank.set(t, e.bank_transaction_id, before === undefined ? [e.id] : [...before, e.id])
          }
          tenantEntries(t).push(db, entry)
          const tenantBalances = ofTenant(balances, t)
          const tenantLines = ofTenant(lines, t)
          for (const line of entry.lines) {
            addToBalance(tenantBalances, line.account_code, entry.date, line.side, line.amount_minor)
            accountLines(tenantLines, line.account_code).push(db, { entry, line })
          }
          return Effect.succeed(entry)
        }),
      get: (tenant, id) => db.read(() => Option.fromNullable(entries.get(tenant, id))),
      findByIdempotencyKey: (tenant, k) =>
        db.read(() => {
          const id = idem.get(tenant, k)
          return id === undefined ? Option.none() : Option.fromNullable(entries.get(tenant, id))
        }),
      findReversal: (tenant, id) =>
        db.read(() => {
          const r = reversals.get(tenant, id)
          return r === undefined ? Option.none() : Option.fromNullable(entries.get(tenant, r))
        }),
      findByProposal: (tenant, proposal) =>
        db.read(() => {
          const id = byProposal.get(tenant, proposal)
          return id === undefined ? Option.none() : Option.fromNullable(entries.get(tenant, id))
        }),
      liveForBankTransaction: (tenant, btx) =>
        db.read(() =>
          (byBank.get(tenant, btx) ?? [])
            .map((id) => entries.get(tenant, id)!)
            .filter((e) => e.reverses_entry_id === null && !reversed(tenant, e.id))
        ),
      list: (tenant, q) =>
        db.read(() => {
          const xs = ordered.get(tenant)?.view() ?? []
          const start = q.after
            ? lowerBound(xs, (e) =>
              e.date < q.after!.date || (e.date === q.after!.date && e.entry_no <= q.after!.entry_no))
            : q.from !== undefined
            ? lowerBound(xs, (e) =>
              e.date < q.from!)
            : 0
          const out: Array<JournalEntry.JournalEntry> = []
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
      accountTotals: (tenant, account, asOf) => db.read(() => sumThrough(balances.get(tenant)?.get(account), asOf)),
      allTotals: (tenant, asOf) =>
        db.read(() => {
          const out: Array<JournalStore.Totals & { account_code: string }> = []
          for (const [account, d] of balances.get(tenant) ?? [])
            out.push({ account_code: account, ...sumThrough(d, asOf) })
          return out
        }),
      accountLines: (tenant, account, q) =>
        db.read(() => {
          const xs = lines.get(tenant)?.get(account)?.view() ?? []
          const start = q.after
            ? lowerBound(xs, (r) =>
              positionBefore(q.after!)(r) ||
              (r.entry.date === q.after!.date && r.entry.entry_no === q.after!.entry_no &&
                r.line.line_no === q.after!.line_no))
            : lowerBound(xs, (r) => r.entry.date < q.from)
          const out: Array<JournalStore.AccountLine> = []
          for (let i = start; i < xs.length && out.length < q.limit; i++) {
            const { entry, line } = xs[i]!
            if (entry.date > q.to)
              break
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
          const xs = lines.get(tenant)?.get(account)?.view() ?? []
          let debit = 0n
          let credit = 0n
          for (let i = lowerBound(xs, (r) => r.entry.date < p.date); i < xs.length; i++) {
            const r = xs[i]!
            if (
              r.entry.date !== p.date ||
              !(positionBefore(p)(r) || (r.entry.entry_no === p.entry_no && r.line.line_no === p.line_no))
            ) break
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
export const bankTransactionStore: Layer.Layer<BankTransaction.BankTransactionStore, never, MemoryDatabase> = Layer
  .effect(
    BankTransaction.BankTransactionStore,
    Effect.map(MemoryDatabase, (db) => {
      const rows = db.scoped<BankTransaction.BankTransaction>("ledger_bank_transactions")
      const prints = db.scoped<string>("ledger_bank_fingerprints")
      const entriesByBank = db.scoped<ReadonlyArray<string>>("ledger_entries_by_bank_txn")
      const entries = db.scoped<JournalEntry.JournalEntry>("ledger_entries")
      const reversals = db.scoped<string>("ledger_reversals")
      const get = (tenant: Ids.TenantId, id: string) => db.read(() => Option.fromNullable(rows.get(tenant, id)))
      const posted = (t: BankTransaction.BankTransaction) =>
        (entriesByBank.get(t.tenant_id, t.id) ?? []).some((id) => {
          const e = entries.get(t.tenant_id, id)
          return e !== undefined && e.reverses_entry_id === null && !reversals.has(t.tenant_id, e.id)
        })
      return {
        insertNew: (batch) =>
          db.write(() => {
            const out: Array<BankTransaction.BankTransaction> = []
            for (const r of batch) {
              if (prints.has(r.tenant_id, r.fingerprint)) continue
              prints.set(r.tenant_id, r.fingerprint, r.id)
              rows.set(r.tenant_id, r.id, r)
              out.push(r)
            }
            return out
          }),
        get,
        getForUpdate: get,
        countByMonth: (tenant, months) =>
          db.read(() => {
            const out: Record<string, number> = Object.fromEntries(months.map((m) => [m, 0]))
            for (const t of rows.inScope(tenant)) {
              const m = t.date.slice(0, 7)
              if (m in out) out[m]! += 1
            }
            return out
          }),
        list: (tenant, q) =>
          db.read(() =>
            [...rows.inScope(tenant)]
              .filter((t) =>
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
    const entries = db.scoped<JournalEntry.JournalEntry>("ledger_entries")
    const exported = db.scoped<string>("ledger_qbo_exported")
    const batches = db.scoped<QboExport.ExportBatch>("ledger_qbo_batches")
    const batchEntryIds = db.scoped<ReadonlyArray<string>>("ledger_qbo_batch_entries")
    const names = db.scoped<ReadonlyMap<string, string>>("ledger_qbo_batch_accounts")
    const counters = db.scoped<number>("ledger_counters")
    return {
      exportNew: (draft, accountNames) =>
        db.write(() => {
          const t = draft.tenant_id
          const fresh: Array<JournalEntry.JournalEntry> = []
          let skipped = 0
          for (const e of entries.inScope(t)) {
            if (exported.has(t, e.id)) skipped++
            else fresh.push(e)
          }
          if (fresh.length === 0) return { skipped, batch: null }
          fresh.sort((a, b) => a.entry_no - b.entry_no)
          const no = (counters.get(t, "qbo_batch_no") ?? 0) + 1
          counters.set(t, "qbo_batch_no", no)
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
          for (const e of fresh) exported.set(t, e.id, draft.id)
          batches.set(t, draft.id, batch)
          batchEntryIds.set(t, draft.id, fresh.map((e) => e.id))
          names.set(t, draft.id, new Map(accountNames))
          return { skipped, batch }
        }),
      getBatch: (tenant, id) => db.read(() => Option.fromNullable(batches.get(tenant, id))),
      listBatches: (tenant, limit) =>
        db.read(() => [...batches.inScope(tenant)].sort((a, b) => b.batch_no - a.batch_no).slice(0, limit)),
      batchNames: (tenant, id) => db.read(() => names.get(tenant, id) ?? new Map()),
      batchEntries: (tenant, id, after, limit) =>
        db.read(() => {
          const ids = batchEntryIds.get(tenant, id) ?? []
          const entryOf = (eid: string) => entries.get(tenant, eid)!
          const out: Array<JournalEntry.JournalEntry> = []
          for (
            let i = lowerBound(ids, (eid) => entryOf(eid).entry_no <= after);
            i < ids.length && out.length < limit;
            i++
          ) {
            out.push(entryOf(ids[i]!))
          }
          return out
        })
    }
  })
)

/** Every ledger port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<LedgerPorts.LedgerPorts, never, MemoryDatabase> = Layer.mergeAll(
  accountStore,
  journalStore,
  periodLockStore,
  bankTransactionStore,
  exportStore
)

/**
 * The rules-first auditor: over a tenant's canonical entries dated in the last N days (and the
 * provenance that links them to bank transactions, proposals and decision traces) it checks what
 * must always hold, writes an integrity report and returns it. The rules are pure functions of an
 * entry and what it links to; the run pages through the journal (bounded memory: one page of
 * entries, plus per bank transaction the ids of its entries in the window).
 *
 * | code | severity | what broke |
 * |---|---|---|
 * | `auditor.entry_unbalanced` | critical | debits ≠ credits, or a line amount is not positive |
 * | `auditor.bank_amount_mismatch` | high | the entry's net on the bank account ≠ its bank transaction's amount (or the transaction is gone) |
 * | `auditor.account_type_misuse` | medium | money out debited to an Income account, money in credited to an Expense account, or a line on an account not in the chart |
 * | `auditor.duplicate_live_entry` | critical | more than one live (neither reversed nor reversing) entry for one bank transaction |
 * | `auditor.posted_in_locked_period` | high | the entry is dated on or before the lock date that held when it was posted |
 * | `auditor.provenance_missing` | high | a companion entry without its proposal, its apply trace, or (auto-posted) its companion details |
 * | `auditor.provenance_broken` | high | the proposal is not applied, names another entry or bank transaction, its payload no longer matches its hash, or the details name another entry |
 * | `auditor.audit_chain_broken` | critical | the tenant's hash-chained audit log has a broken link (full walk) |
 *
 * The lock that held at posting time is rebuilt from the audit log's `period_lock:<tenant>`
 * records (before/after, time); the same walk verifies the chain. Pure rules, an Effect task.
 */
import { Action, Audit, Canonical, Errors, Ids } from "@airlock/core"
import { BankTransaction, CalendarDate, Chart, type JournalEntry, JournalStore, Proposals } from "@airlock/ledger"
import { Clock, Effect, Option } from "effect"
import * as Companion from "./Companion.js"
import { CompanionProposalStore, type ProposalDetail } from "./CompanionPorts.js"
import { type Finding, IntegrityReport, IntegrityReportStore, type Severity } from "./CompanionReportsPorts.js"

/** The finding codes. */
export const Codes = {
  unbalanced: "auditor.entry_unbalanced",
  bankAmount: "auditor.bank_amount_mismatch",
  accountType: "auditor.account_type_misuse",
  duplicateLive: "auditor.duplicate_live_entry",
  lockedPeriod: "auditor.posted_in_locked_period",
  provenanceMissing: "auditor.provenance_missing",
  provenanceBroken: "auditor.provenance_broken",
  chainBroken: "auditor.audit_chain_broken"
} as const

/** Severity of each code. */
export const SeverityOf: Readonly<Record<string, Severity>> = {
  [Codes.unbalanced]: "critical",
  [Codes.bankAmount]: "high",
  [Codes.accountType]: "medium",
  [Codes.duplicateLive]: "critical",
  [Codes.lockedPeriod]: "high",
  [Codes.provenanceMissing]: "high",
  [Codes.provenanceBroken]: "high",
  [Codes.chainBroken]: "critical"
}

/** Most findings a report keeps (counts stay exact). */
export const MAX_FINDINGS = 1000
/** Largest window a run accepts, in days. */
export const MAX_DAYS = 366
/** The id of the system actor of scheduled runs. */
export const SYSTEM_ACTOR_ID = "sys_companion_auditor"

const finding = (
  code: string,
  message: string,
  entities: Record<string, string | number>
): Finding => ({ code, severity: SeverityOf[code] ?? "medium", message, entities })

const entityOf = (e: JournalEntry.JournalEntry): Record<string, string | number> => {
  const out: Record<string, string | number> = { entry_id: e.id, entry_no: e.entry_no }
  if (e.bank_transaction_id !== null) out.bank_transaction_id = e.bank_transaction_id
  if (e.proposal_id !== null) out.proposal_id = e.proposal_id
  return out
}

/** Debits = credits and every amount positive. Pure. */
export const checkBalance = (e: JournalEntry.JournalEntry): ReadonlyArray<Finding> => {
  let debit = 0n
  let credit = 0n
  for (const l of e.lines) {
    if (l.amount_minor <= 0n) {
      return [finding(Codes.unbalanced, `Line ${l.line_no} of entry ${e.entry_no} is not positive`, {
        ...entityOf(e),
        line_no: l.line_no
      })]
    }
    if (l.side === "debit") debit += l.amount_minor
    else credit += l.amount_minor
  }
  return debit === credit ? [] : [
    finding(Codes.unbalanced, `Entry ${e.entry_no} debits ${debit} and credits ${credit} minor units`, {
      ...entityOf(e),
      debit_minor: debit.toString(),
      credit_minor: credit.toString()
    })
  ]
}

/** The entry's net on its bank transaction's account equals the transaction's signed amount. Pure. */
export const checkBankAmount = (
  e: JournalEntry.JournalEntry,
  txn: BankTransaction.BankTransaction | null
): ReadonlyArray<Finding> => {
  if (e.bank_transaction_id === null || e.reverses_entry_id !== null) return []
  if (txn === null) {
    return [finding(Codes.bankAmount, `The bank transaction of entry ${e.entry_no} does not exist`, entityOf(e))]
  }
  let net = 0n
  for (const l of e.lines) {
    if (l.account_code === txn.account_code) net += l.side === "debit" ? l.amount_minor : -l.amount_minor
  }
  return net === txn.amount_minor ? [] : [
    finding(
      Codes.bankAmount,
      `Entry ${e.entry_no} moves ${net} minor units on ${txn.account_code}; its bank transaction is ${txn.amount_minor}`,
      { ...entityOf(e), entry_net_minor: net.toString(), bank_amount_minor: txn.amount_minor.toString() }
    )
  ]
}

/**
 * Account types against the money's direction (the ledger's `Proposals.splitRules`): no Income
 * debited for money out, no Expense credited for money in; every line's account in the chart. Pure.
 */
export const checkAccountTypes = (
  e: JournalEntry.JournalEntry,
  txn: BankTransaction.BankTransaction | null,
  types: ReadonlyMap<string, Chart.AccountType>
): ReadonlyArray<Finding> => {
  const out: Array<Finding> = []
  for (const l of e.lines) {
    if (!types.has(l.account_code)) {
      out.push(finding(Codes.accountType, `Line ${l.line_no} books to ${l.account_code}, which is not in the chart`, {
        ...entityOf(e),
        line_no: l.line_no,
        account_code: l.account_code
      }))
    }
  }
  if (txn === null || e.reverses_entry_id !== null || txn.amount_minor === 0n) return out
  const rules = Proposals.splitRules(txn.amount_minor < 0n ? "outflow" : "inflow")
  for (const l of e.lines) {
    if (l.account_code === txn.account_code) continue
    const type = types.get(l.account_code)
    if (type === undefined) continue
    for (const r of rules) {
      if (r.side === l.side && r.forbidden.includes(type)) {
        out.push(finding(Codes.accountType, `Line ${l.line_no}: ${r.reason} (${l.side} of ${type} ${l.account_code})`, {
          ...entityOf(e),
          line_no: l.line_no,
          account_code: l.account_code,
          account_type: type,
          side: l.side
        }))
      }
    }
  }
  return out
}

/** One change of a tenant's lock date, from its audit record. */
export interface LockChange {
  readonly at: number
  readonly lock_date: string | null
}

/** The lock date in force at `at`, from the changes in time order (null before the first). Pure. */
export const lockAt = (changes: ReadonlyArray<LockChange>, at: number): string | null => {
  let lock: string | null = null
  for (const c of changes) {
    if (c.at > at) break
    lock = c.lock_date
  }
  return lock
}

/** The entry is not dated inside the period that was locked when it was posted. Pure. */
export const checkLockedPeriod = (
  e: JournalEntry.JournalEntry,
  changes: ReadonlyArray<LockChange>
): ReadonlyArray<Finding> => {
  const lock = lockAt(changes, e.posted_at)
  return lock !== null && e.date <= lock
    ? [
      finding(
        Codes.lockedPeriod,
        `Entry ${e.entry_no} is dated ${e.date}, inside the period locked through ${lock} when it was posted`,
        { ...entityOf(e), lock_date: lock, date: e.date }
      )
    ]
    : []
}

/** What a companion entry's provenance check reads. */
export interface ProvenanceInput {
  readonly proposal: Action.ActionRecord | null
  readonly applyTraces: ReadonlyArray<Action.DecisionTrace>
  readonly detail: ProposalDetail | null
  /** The id of the actor that auto-posts (its entries must have the companion's details). */
  readonly autopostActorId: string
}

/**
 * A companion entry (source `companion`) names its applied `ledger.proposal`, whose result names
 * the entry and whose payload names the same bank transaction and still matches its hash; an
 * apply trace exists that allowed it, or that a person applied over a review verdict (the value
 * breaker, say: never the auto-poster); an auto-posted entry has the companion's details, naming the entry. Pure.
 */
export const checkProvenance = (e: JournalEntry.JournalEntry, p: ProvenanceInput): ReadonlyArray<Finding> => {
  if (e.source !== "companion") return []
  const missing = (why: string) => [finding(Codes.provenanceMissing, `Entry ${e.entry_no}: ${why}`, entityOf(e))]
  const broken = (why: string) => [finding(Codes.provenanceBroken, `Entry ${e.entry_no}: ${why}`, entityOf(e))]
  if (e.proposal_id === null) return missing("a companion entry without its proposal")
  const a = p.proposal
  if (a === null) return missing(`its proposal ${e.proposal_id} does not exist`)
  if (a.kind !== Proposals.KIND) return broken(`its proposal is of kind ${a.kind}`)
  if (a.status !== "applied") return broken(`its proposal is ${a.status}, not applied`)
  const result = a.result as { readonly entry_id?: unknown } | null
  if (result?.entry_id !== e.id) return broken(`its proposal's result names entry ${String(result?.entry_id)}`)
  const bankId = (a.payload as { readonly bank_transaction_id?: unknown } | null)?.bank_transaction_id
  if (bankId !== e.bank_transaction_id) return broken(`its proposal is about bank transaction ${String(bankId)}`)
  if (Canonical.hashOf({ kind: a.kind, payload: a.payload }) !== a.payload_hash) {
    return broken("its proposal's payload does not match its hash")
  }
  // gates that ask for review (the value breaker, say) let a person apply; never the auto-poster
  const applied = (t: Action.DecisionTrace) =>
    t.phase === "apply" && (t.outcome === "allow" || (t.outcome === "review" && t.actor_id !== p.autopostActorId))
  if (!p.applyTraces.some(applied)) {
    return missing("its proposal has no apply trace that allowed it (or a person's apply over a review)")
  }
  const auto = e.posted_by === p.autopostActorId
  if (p.detail === null) return auto ? missing("an auto-posted entry without the companion's details") : []
  if (p.detail.entry_id !== null && p.detail.entry_id !== e.id) {
    return broken(`the companion's details name entry ${p.detail.entry_id}`)
  }
  if (auto && p.detail.review_outcome !== "auto_posted") {
    return broken(`auto-posted, but the companion's details say ${String(p.detail.review_outcome)}`)
  }
  return []
}

/** A bank transaction with more than one live entry in the window. Pure. */
export const checkDuplicates = (
  bankTransactionId: string,
  liveEntryIds: ReadonlyArray<string>
): ReadonlyArray<Finding> =>
  liveEntryIds.length > 1
    ? [
      finding(
        Codes.duplicateLive,
        `Bank transaction ${bankTransactionId} has ${liveEntryIds.length} live entries`,
        {
          bank_transaction_id: bankTransactionId,
          entry_ids: [...liveEntryIds].sort().join(","),
          live: liveEntryIds.length
        }
      )
    ]
    : []

/** A break in the audit chain as a finding. Pure. */
export const chainFinding = (b: Audit.ChainBreak): Finding =>
  finding(Codes.chainBroken, `The audit chain breaks at record ${b.seq} (${b.reason})`, {
    audit_seq: b.seq,
    reason: b.reason
  })

/** Collects findings with exact counts and at most {@link MAX_FINDINGS} kept. */
export const collector = () => {
  const counts: Record<string, number> = {}
  const kept: Array<Finding> = []
  let truncated = false
  return {
    add: (fs: ReadonlyArray<Finding>) => {
      for (const f of fs) {
        counts[f.code] = (counts[f.code] ?? 0) + 1
        if (kept.length < MAX_FINDINGS) kept.push(f)
        else truncated = true
      }
    },
    result: () => ({ counts: { ...counts }, findings: kept, truncated })
  }
}

const DAY_MS = 86_400_000
const PAGE = 500

/** Builds the auditor. */
export const make = Effect.gen(function*() {
  const journal = yield* JournalStore.JournalStore
  const bank = yield* BankTransaction.BankTransactionStore
  const accounts = yield* Chart.AccountStore
  const actions = yield* Action.ActionStore
  const traces = yield* Action.TraceStore
  const auditStore = yield* Audit.AuditStore
  const details = yield* CompanionProposalStore
  const reports = yield* IntegrityReportStore
  const ids = yield* Ids.IdGenerator

  /** Walks the whole audit chain once: the first break, and the tenant's lock changes in order. */
  const walkAudit = (tenant: Ids.TenantId) =>
    Effect.gen(function*() {
      const changes: Array<LockChange> = []
      const subject = `period_lock:${tenant}`
      let head: Audit.ChainHead = { seq: 0, hash: Audit.GENESIS_HASH }
      let checked = 0
      let broken: Audit.ChainBreak | null = null
      for (;;) {
        const page = yield* auditStore.list(tenant, { afterSeq: head.seq, limit: PAGE })
        for (const r of page) {
          if (
            r.subject === subject &&
            (r.action === "ledger.period_lock.set" || r.action === "ledger.period_lock.moved_back")
          ) {
            const after = (r.data as { readonly after?: unknown } | null)?.after
            changes.push({ at: r.at, lock_date: typeof after === "string" ? after : null })
          }
        }
        if (broken === null) {
          const checkedPage = Audit.checkRecords(head, page)
          checked += checkedPage.head.seq - head.seq
          if (checkedPage.break !== null) broken = checkedPage.break
          head = checkedPage.head
        }
        if (page.length < PAGE) break
        // after a break, keep reading lock changes from where the page ended
        if (broken !== null) head = { seq: page.at(-1)!.seq, hash: page.at(-1)!.hash }
      }
      if (broken === null) {
        const stored = (yield* auditStore.head(tenant)) ?? { seq: 0, hash: Audit.GENESIS_HASH }
        if (stored.seq !== head.seq || stored.hash !== head.hash) broken = { seq: head.seq + 1, reason: "truncated" }
      }
      changes.sort((a, b) => a.at - b.at)
      return { changes, broken, checked }
    })

  /**
   * Audits the tenant's entries dated in the last `days` days (today included) and stores the
   * integrity report. No permission check: callers (a route, a schedule) check theirs.
   */
  const run = (tenant: Ids.TenantId, options: { readonly days: number; readonly by: string }) =>
    Effect.gen(function*() {
      if (!Number.isInteger(options.days) || options.days < 1 || options.days > MAX_DAYS) {
        return yield* new Errors.ValidationError({
          code: "validation.auditor_days",
          message: `days must be a whole number from 1 to ${MAX_DAYS}`,
          details: { days: options.days }
        })
      }
      const now = yield* Clock.currentTimeMillis
      const windowEnd = CalendarDate.fromMillis(now)
      const windowStart = CalendarDate.fromMillis(now - (options.days - 1) * DAY_MS)
      const types = new Map((yield* accounts.list(tenant)).map((a) => [a.code, a.type] as const))
      const audit = yield* walkAudit(tenant)
      const found = collector()
      const byBank = new Map<string, Array<string>>()
      let entries = 0
      let after: { date: string; entry_no: number } | undefined
      for (;;) {
        const page = yield* journal.list(tenant, { from: windowStart, after, limit: PAGE })
        for (const e of page) {
          entries++
          const txn = e.bank_transaction_id === null
            ? null
            : Option.getOrNull(yield* bank.get(tenant, e.bank_transaction_id))
          found.add(checkBalance(e))
          found.add(checkBankAmount(e, txn))
          found.add(checkAccountTypes(e, txn, types))
          found.add(checkLockedPeriod(e, audit.changes))
          if (e.source === "companion") {
            const proposal = e.proposal_id === null
              ? null
              : Option.getOrNull(yield* actions.get(tenant, Ids.ActionId.make(e.proposal_id)))
            found.add(checkProvenance(e, {
              proposal,
              applyTraces: proposal === null ? [] : yield* traces.listByAction(tenant, proposal.id),
              detail: e.proposal_id === null ? null : Option.getOrNull(yield* details.get(tenant, e.proposal_id)),
              autopostActorId: Companion.SYSTEM_ACTOR_ID
            }))
          }
          if (e.bank_transaction_id !== null && e.reverses_entry_id === null) {
            const xs = byBank.get(e.bank_transaction_id)
            if (xs === undefined) byBank.set(e.bank_transaction_id, [e.id])
            else xs.push(e.id)
          }
        }
        if (page.length < PAGE) break
        after = { date: page.at(-1)!.date, entry_no: page.at(-1)!.entry_no }
      }
      for (const [bankId, entryIds] of byBank) {
        if (entryIds.length < 2) continue
        const live: Array<string> = []
        for (const id of entryIds) {
          if (Option.isNone(yield* journal.findReversal(tenant, id))) live.push(id)
        }
        found.add(checkDuplicates(bankId, live))
      }
      if (audit.broken !== null) found.add([chainFinding(audit.broken)])
      const result = found.result()
      const report = new IntegrityReport({
        id: yield* ids.next("irp"),
        tenant_id: tenant,
        created_at: now,
        created_by: options.by,
        days: options.days,
        window_start: windowStart,
        window_end: windowEnd,
        status: result.findings.length === 0 ? "clean" : "findings",
        entries_checked: entries,
        audit_records_checked: audit.checked,
        counts: result.counts,
        findings: result.findings,
        truncated: result.truncated
      })
      // a fresh id cannot be taken: a conflict here is a defect
      yield* reports.insert(report).pipe(Effect.catchTag("Conflict", Effect.die))
      return report
    })

  return { run } as const
})

/** The auditor: `run(tenant, {days, by})` writes and returns an integrity report. */
export class Auditor extends Effect.Service<Auditor>()("@airlock/companion/Auditor", { effect: make }) {}

/** The auditor as a plain task a scheduler can call (as {@link SYSTEM_ACTOR_ID}). */
export const task = (tenant: Ids.TenantId, days: number) =>
  Effect.flatMap(Auditor, (a) => a.run(tenant, { days, by: SYSTEM_ACTOR_ID }))

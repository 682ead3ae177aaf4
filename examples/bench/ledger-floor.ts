/**
 * A reference for the in-memory target: the work of one governed apply of a ledger proposal,
 * written as plain synchronous JavaScript over `Map`s, with no Effect, no ports, no schema
 * records, no lock and no typed errors. It calls the SDK's own pure functions where the apply
 * does (the proposal's draft, the posting checks, the entry's content hash, the audit record
 * with its hash chain) and otherwise does what the apply writes: six gate outcomes with the
 * inputs they read, the entry with its lines and daily balances, the proposal's new state, the
 * decision trace, the audit record, three ids and an undo log.
 *
 * It is not an implementation of anything: it measures how fast the apply's own work can run in
 * this process, so the governed figure can be read against it.
 */
import { Audit, Ids } from "@airlock/core"
import { BankTransaction, Chart, JournalEntry, Proposals } from "@airlock/ledger"
import { Either } from "effect"
import { getRandomValues } from "node:crypto"

/** Monotonic prefixed ULIDs from a millisecond clock and 80 random bits, as `Ids.IdGenerator` makes them. */
const makeIds = () => {
  let lastMs = -1
  const random = new Uint8Array(10)
  return (prefix: string): string => {
    const ms = Date.now()
    if (ms > lastMs) {
      lastMs = ms
      getRandomValues(random)
    } else {
      for (let i = 9; i >= 0; i--) {
        random[i] = (random[i]! + 1) & 0xff
        if (random[i] !== 0) break
      }
    }
    return `${prefix}_${Ids.encodeUlid(lastMs, random)}`
  }
}

/** Applies `n` prepared proposals one by one as plain JS; returns applies per second. */
export const run = (n: number): number => {
  const tenant = "floor" as Ids.TenantId
  const nextId = makeIds()
  const account = (code: string, type: Chart.AccountType) =>
    new Chart.Account({
      tenant_id: tenant,
      code,
      name: code,
      type,
      normal_balance: type === "Asset" || type === "Expense" ? "debit" : "credit",
      parent_code: null,
      currency: "USD",
      active: true,
      description: null,
      created_at: 0,
      updated_at: 0
    })
  const chart = new Map([["1000", account("1000", "Asset")], ["6200", account("6200", "Expense")], [
    "6100",
    account("6100", "Expense")
  ]])
  const settings = { ai_enabled: true, kill_switch: false, ai_mode: "suggest_only" }
  const actor = { id: "human", tenant_id: tenant, role: "BOOKKEEPER" }
  const bank = new Map<string, BankTransaction.BankTransaction>()
  const actions = new Map<
    string,
    {
      readonly id: string
      readonly kind: string
      readonly status: string
      readonly payload: Proposals.ProposalPayload
      readonly payload_hash: string
      readonly version: number
      readonly result: unknown
    }
  >()
  for (let i = 0; i < n; i++) {
    const amount = BigInt((i % 500) + 1) * 100n + 25n
    const txn = BankTransaction.BankTransaction.make({
      tenant_id: tenant,
      id: `btx_${i}`,
      account_code: "1000",
      date: "2024-03-01",
      description: `Vendor ${i % 97}`,
      amount_minor: -amount,
      currency: "USD",
      payee: null,
      memo: null,
      fit_id: `B${i}`,
      fingerprint: `fp${i}`,
      source_format: "json",
      source_line: null,
      imported_at: 0,
      imported_by: "human"
    })
    bank.set(txn.id, txn)
    const payload = {
      bank_transaction_id: txn.id,
      splits: [{ account_code: "6200", amount_minor: amount - 25n }, { account_code: "6100", amount_minor: 25n }],
      confidence: 0.97,
      calibrated_probability: 0.95,
      rationale: "vendor seen 12 times with this account",
      questions: [],
      risk_reasons: [],
      tier: 1
    } as unknown as Proposals.ProposalPayload
    actions.set(`act_${i}`, {
      id: `act_${i}`,
      kind: Proposals.KIND,
      status: "proposed",
      payload,
      payload_hash: "h".repeat(64),
      version: 1,
      result: null
    })
  }
  const entries = new Map<string, unknown>()
  const byBank = new Map<string, ReadonlyArray<string>>()
  const balances = new Map<string, { readonly debit: bigint; readonly credit: bigint }>()
  const traces = new Map<string, unknown>()
  const audit: Array<Audit.AuditRecord> = []
  const undo: Array<readonly [Map<string, unknown>, string, unknown]> = []
  let head: Audit.ChainHead | null = null
  let entryNo = 0
  const set = <V>(table: Map<string, V>, key: string, value: V) => {
    undo.push([table as Map<string, unknown>, key, table.get(key)])
    table.set(key, value)
  }

  const apply = (id: string) => {
    undo.length = 0
    const action = actions.get(id)
    if (action === undefined || action.status !== "proposed") throw new Error(`not applicable: ${id}`)
    const gates: Array<
      {
        gate: string
        verdict: string
        code: null
        message: null
        reasons: Array<string>
        inputs: Record<string, unknown>
      }
    > = []
    const allow = (gate: string, inputs: Record<string, unknown>) =>
      gates.push({ gate, verdict: "allow", code: null, message: null, reasons: [], inputs })
    allow("tenant_scope", { actor_tenant: actor.tenant_id })
    if (settings.kill_switch || !settings.ai_enabled) throw new Error("disabled")
    allow("kill_switch", {
      global_enabled: true,
      tenant_ai_companion_enabled: true,
      ai_enabled: settings.ai_enabled,
      kill_switch: settings.kill_switch
    })
    allow("rbac", { role: actor.role, permission: "companion.actions" })
    allow("mode", { ai_mode: settings.ai_mode, trigger: "human" })
    const txn = bank.get(action.payload.bank_transaction_id)!
    allow("ledger.period_lock", { bank_transaction_id: txn.id, entry_date: txn.date, lock_date: null })
    const types: Record<string, string | null> = {}
    let splitsTotal = 0n
    for (const s of action.payload.splits) {
      types[s.account_code] = chart.get(s.account_code)?.type ?? null
      splitsTotal += s.amount_minor
    }
    const checked = Either.flatMap(
      Proposals.draftFromProposal(action.payload, txn, action.id),
      (draft) => JournalEntry.checkDraft(draft, chart, { rules: Proposals.splitRules("outflow") })
    )
    if (Either.isLeft(checked)) throw checked.left
    if ((byBank.get(txn.id) ?? []).length > 0) throw new Error("already posted")
    allow("ledger.validation", {
      bank_transaction_id: txn.id,
      bank_amount_minor: txn.amount_minor.toString(),
      splits_total_minor: splitsTotal.toString(),
      account_types: types,
      balanced: true
    })
    const draft = checked.right
    const entry = {
      ...draft,
      tenant_id: tenant,
      id: nextId("je"),
      entry_no: ++entryNo,
      content_hash: JournalEntry.contentHash(draft),
      posted_by: actor.id,
      posted_at: Date.now()
    }
    set(entries, entry.id, entry)
    set(byBank, txn.id, [entry.id])
    for (const line of draft.lines) {
      const key = `${line.account_code}|${draft.date}`
      const b = balances.get(key) ?? { debit: 0n, credit: 0n }
      set(
        balances,
        key,
        line.side === "debit"
          ? { debit: b.debit + line.amount_minor, credit: b.credit }
          : { debit: b.debit, credit: b.credit + line.amount_minor }
      )
    }
    const result = { entry_id: entry.id, entry_no: entry.entry_no }
    set(actions, action.id, { ...action, status: "applied", version: action.version + 1, result })
    const trace = {
      id: nextId("trc"),
      tenant_id: tenant,
      action_id: action.id,
      kind: action.kind,
      phase: "apply",
      actor_id: actor.id,
      at: Date.now(),
      outcome: "allow",
      gates
    }
    set(traces, trace.id, trace)
    const record = Audit.nextRecord(head, {
      tenant_id: tenant,
      actor_id: actor.id,
      action: "action.applied",
      subject: action.id,
      data: {
        kind: action.kind,
        subject: `bank_txn:${txn.id}`,
        payload_hash: action.payload_hash,
        result,
        trace_id: trace.id
      }
    }, Date.now())
    audit.push(record)
    head = { seq: record.seq, hash: record.hash }
  }

  const start = performance.now()
  for (let i = 0; i < n; i++) apply(`act_${i}`)
  return n / ((performance.now() - start) / 1000)
}

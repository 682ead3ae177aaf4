/**
 * Ledger benchmarks.
 *
 * 1. Governed apply throughput: applying ledger proposals through core's pipeline (gates incl.
 *    the ledger's period-lock and validation gates, the canonical entry with its lines and
 *    materialised balances, the proposal's state change, the decision trace and the hash-chained
 *    audit record), one transaction per apply, in memory and on a SQLite file. Proposals and
 *    bank transactions are made before the clock starts.
 * 2. Baseline, same run: the same rows written with raw better-sqlite3 prepared statements, one
 *    transaction per apply, into the same schema with the same pragmas — what the database alone
 *    costs. The two run in interleaved rounds so load changes on a shared machine hit both.
 * 3. Balance queries with 1,000,000 journal lines on a SQLite file (and in memory): p50/p95 of
 *    an account balance as of a random day and of a trial balance, against the baseline of
 *    summing the raw journal lines.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import {
  CoreConfig,
  type CorePorts,
  GovernedActions,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants,
  UnitOfWork
} from "@airlock/core"
import {
  BankTransaction,
  CalendarDate,
  Chart,
  Journal,
  JournalEntry,
  JournalStore,
  Ledger,
  LedgerConfig,
  type LedgerPorts as LedgerPorts,
  Proposals
} from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Floor from "./ledger-floor.js"
import type { BenchRow } from "./main.js"

const APPLIES_MEMORY = Number(process.env.BENCH_APPLIES_MEMORY ?? 20_000)
const APPLIES_SQLITE = Number(process.env.BENCH_APPLIES_SQLITE ?? 5_000)
const LINES = Number(process.env.BENCH_LINES ?? 1_000_000)
const ROUNDS = 10

const tenantId = Ids.TenantId.make("bench")

const environment = <E, R>(ports: Layer.Layer<R, E>) =>
  Ledger.layerWithConfig.pipe(
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(ports)
  )

/** Tenant, chart, `n` bank transactions and one proposal each; returns the proposal ids and the applier. */
const prepare = (n: number) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    yield* tenants.create({ id: tenantId, name: "bench", settings: { ai_mode: "suggest_only" } })
    const owner = yield* tenants.addActor({ tenant_id: tenantId, kind: "user", name: "o", role: "OWNER" })
    const human = yield* tenants.addActor({ tenant_id: tenantId, kind: "user", name: "h", role: "BOOKKEEPER" })
    const agent = yield* tenants.addActor({ tenant_id: tenantId, kind: "agent", name: "a", role: "AGENT" })
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenantId, owner, "standard_small_business")
    const bank = yield* BankTransaction.BankTransactions
    const pipeline = yield* GovernedActions.GovernedActions
    const ids: Array<Ids.ActionId> = []
    for (let start = 0; start < n; start += 1000) {
      const count = Math.min(1000, n - start)
      const imported = yield* bank.importFile(tenantId, human, {
        account_code: "1000",
        format: "json",
        transactions: Array.from({ length: count }, (_, i) => ({
          date: CalendarDate.fromEpochDay(CalendarDate.toEpochDay("2024-01-01") + ((start + i) % 365)),
          description: `Vendor ${(start + i) % 97}`,
          amount: `-${((start + i) % 500) + 1}.25`,
          fit_id: `B${start + i}`
        }))
      })
      for (const [i, btx] of imported.ids.entries()) {
        const k = start + i
        const total = BigInt(((k % 500) + 1) * 100 + 25)
        const { action } = yield* pipeline.propose({
          tenant_id: tenantId,
          actor: agent,
          kind: Proposals.KIND,
          payload: {
            bank_transaction_id: btx,
            splits: [
              { account_code: "6200", amount_minor: (total - 25n).toString() },
              { account_code: "6100", amount_minor: "25" }
            ],
            confidence: 0.97,
            calibrated_probability: 0.95,
            rationale: "vendor seen 12 times with this account",
            questions: [],
            risk_reasons: [],
            tier: 1
          }
        })
        ids.push(action.id)
      }
    }
    return { ids, human, pipeline }
  })

/** Applies every prepared proposal one by one; returns applies per second. */
const applyAll = (n: number) =>
  Effect.gen(function*() {
    const { human, ids, pipeline } = yield* prepare(n)
    const start = performance.now()
    for (const id of ids) yield* pipeline.apply(tenantId, id, human)
    const seconds = (performance.now() - start) / 1000
    return n / seconds
  })

/**
 * The rows one governed apply writes, inserted with raw better-sqlite3 statements, one
 * transaction per apply, on a database with the adapter's pragmas: the action's status update, the trace row, the audit row and head,
 * the entry-number counter, the entry, its three lines and their three daily-balance upserts.
 */
const makeRawBaseline = (file: string, n: number) => {
  const db = new Database(file)
  // the adapter's pragmas (see adapters-storage internal/sql/sqlite.ts)
  db.pragma("journal_mode = WAL")
  db.pragma("foreign_keys = ON")
  db.pragma("busy_timeout = 5000")
  db.pragma("synchronous = NORMAL")
  db.pragma("wal_autocheckpoint = 20000")
  const tenant = "raw"
  const insertAction = db.prepare(
    `INSERT INTO core_actions (tenant_id, id, kind, subject, payload, payload_hash, status, review_reasons,
    idempotency_key, proposed_by, proposed_at, closed_by, closed_at, close_reason, result, version)
    VALUES (?, ?, 'ledger.proposal', ?, ?, ?, 'proposed', '[]', NULL, 'agent', 0, NULL, NULL, NULL, NULL, 1)`
  )
  const payload = JSON.stringify({
    bank_transaction_id: "btx",
    splits: [{ account_code: "6200", amount_minor: "1000" }, { account_code: "6100", amount_minor: "25" }],
    confidence: 0.97,
    calibrated_probability: 0.95,
    rationale: "vendor seen 12 times with this account",
    questions: [],
    risk_reasons: [],
    tier: 1
  })
  const seed = db.transaction(() => {
    for (let i = 0; i < n; i++) insertAction.run(tenant, `act_${i}`, `bank_txn:btx_${i}`, payload, "h".repeat(64))
  })
  seed()
  const selectAction = db.prepare("SELECT * FROM core_actions WHERE tenant_id = ? AND id = ?")
  const updateAction = db.prepare(
    `UPDATE core_actions SET status = 'applied', review_reasons = '[]', closed_by = ?, closed_at = ?,
    close_reason = NULL, result = ?, version = 2 WHERE tenant_id = ? AND id = ? AND version = 1`
  )
  const insertTrace = db.prepare(
    `INSERT INTO core_traces (id, tenant_id, action_id, kind, phase, actor_id, at, outcome, gates)
    VALUES (?, ?, ?, 'ledger.proposal', 'apply', 'human', ?, 'allow', ?)`
  )
  const gates = JSON.stringify([
    {
      gate: "tenant_scope",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: { actor_tenant: "bench" }
    },
    {
      gate: "kill_switch",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: { global_enabled: true, tenant_ai_companion_enabled: true, ai_enabled: true, kill_switch: false }
    },
    {
      gate: "rbac",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: { role: "BOOKKEEPER", permission: "companion.actions" }
    },
    {
      gate: "mode",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: { ai_mode: "suggest_only", trigger: "human" }
    },
    {
      gate: "ledger.period_lock",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: { bank_transaction_id: "btx_01J0000000000000000000000", entry_date: "2024-01-01", lock_date: null }
    },
    {
      gate: "ledger.validation",
      verdict: "allow",
      code: null,
      message: null,
      reasons: [],
      inputs: {
        bank_transaction_id: "btx_01J0000000000000000000000",
        bank_amount_minor: "-1025",
        splits_total_minor: "1025",
        account_types: { "1000": "Asset", "6200": "Expense", "6100": "Expense" },
        balanced: true,
        debit_total_minor: "1025"
      }
    }
  ])
  const headUpsert = db.prepare(
    `INSERT INTO core_audit_heads (tenant_id, seq, hash) VALUES (?, 0, ?) ON CONFLICT (tenant_id) DO NOTHING`
  )
  const headSelect = db.prepare("SELECT seq, hash FROM core_audit_heads WHERE tenant_id = ?")
  const insertAudit = db.prepare(
    `INSERT INTO core_audit (tenant_id, seq, at, actor_id, action, subject, data, prev_hash, hash)
    VALUES (?, ?, ?, 'human', 'action.applied', ?, ?, ?, ?)`
  )
  const headUpdate = db.prepare("UPDATE core_audit_heads SET seq = ?, hash = ? WHERE tenant_id = ?")
  const counter = db.prepare(`INSERT INTO ledger_counters (tenant_id, name, value) VALUES (?, 'entry_no', 1)
    ON CONFLICT (tenant_id, name) DO UPDATE SET value = ledger_counters.value + 1 RETURNING value`)
  const insertEntry = db.prepare(
    `INSERT INTO ledger_entries (tenant_id, id, entry_no, date, memo, currency, source, proposal_id,
    bank_transaction_id, reverses_entry_id, idempotency_key, content_hash, posted_by, posted_at)
    VALUES (?, ?, ?, '2024-03-01', 'Vendor 12', 'USD', 'companion', ?, ?, NULL, NULL, ?, 'human', ?)`
  )
  const insertLine = db.prepare(
    `INSERT INTO ledger_lines (tenant_id, entry_id, line_no, account_code, side, amount_minor, description,
    name, class, location, date, entry_no) VALUES (?, ?, ?, ?, ?, ?, 'Vendor 12', 'Vendor 12', NULL, NULL, '2024-03-01', ?)`
  )
  const upsertBalance = db.prepare(
    `INSERT INTO ledger_daily_balances (tenant_id, account_code, day, debit_minor, credit_minor)
    VALUES (?, ?, '2024-03-01', ?, ?) ON CONFLICT (tenant_id, account_code, day) DO UPDATE SET
    debit_minor = ledger_daily_balances.debit_minor + excluded.debit_minor, credit_minor = ledger_daily_balances.credit_minor + excluded.credit_minor`
  )
  const auditData = JSON.stringify({
    kind: "ledger.proposal",
    subject: "bank_txn:btx_01J0000000000000000000000",
    payload_hash: "h".repeat(64),
    result: { entry_id: "je_01J0000000000000000000000", entry_no: 1 },
    trace_id: "trc_01J0000000000000000000000"
  })
  const apply = db.transaction((i: number) => {
    selectAction.get(tenant, `act_${i}`)
    headUpsert.run(tenant, "0".repeat(64))
    const head = headSelect.get(tenant) as { seq: number; hash: string }
    const no = (counter.get(tenant) as { value: number }).value
    const entryId = `je_${String(i).padStart(24, "0")}`
    insertEntry.run(tenant, entryId, no, `act_${i}`, `btx_${i}`, "c".repeat(64), i)
    insertLine.run(tenant, entryId, 1, "1000", "credit", "1025", no)
    insertLine.run(tenant, entryId, 2, "6200", "debit", "1000", no)
    insertLine.run(tenant, entryId, 3, "6100", "debit", "25", no)
    upsertBalance.run(tenant, "1000", "0", "1025")
    upsertBalance.run(tenant, "6200", "1000", "0")
    upsertBalance.run(tenant, "6100", "25", "0")
    updateAction.run("human", i, JSON.stringify({ entry_id: entryId, entry_no: no }), tenant, `act_${i}`)
    insertTrace.run(`trc_${String(i).padStart(24, "0")}`, tenant, `act_${i}`, i, gates)
    insertAudit.run(tenant, head.seq + 1, i, `act_${i}`, auditData, head.hash, "a".repeat(64))
    headUpdate.run(head.seq + 1, "a".repeat(64), tenant)
  })
  return {
    /** Applies rows `from` (inclusive) to `to` (exclusive); returns the milliseconds taken. */
    applyRange: (from: number, to: number): number => {
      const start = performance.now()
      for (let i = from; i < to; i++) apply(i)
      return performance.now() - start
    },
    close: () => db.close()
  }
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Loads `lines` journal lines (entries of 2–4 lines over 3 years, 13 accounts) through the journal store. */
const loadJournal = (lines: number) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    yield* tenants.create({ id: tenantId, name: "bench", settings: {} })
    const owner = yield* tenants.addActor({ tenant_id: tenantId, kind: "user", name: "o", role: "OWNER" })
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenantId, owner, "standard_small_business")
    const store = yield* JournalStore.JournalStore
    const uow = yield* UnitOfWork.UnitOfWork
    const accounts = [
      "1000",
      "1200",
      "1500",
      "2000",
      "2100",
      "2200",
      "3000",
      "4000",
      "5000",
      "6000",
      "6100",
      "6200",
      "6300"
    ]
    let seed = 42
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    let written = 0
    let k = 0
    while (written < lines) {
      yield* uow.transaction(Effect.gen(function*() {
        for (let j = 0; j < 2000 && written < lines; j++) {
          const n = 2 + rnd(3)
          const amounts = Array.from({ length: n - 1 }, () => BigInt(1 + rnd(500_000)))
          const total = amounts.reduce((a, b) => a + b, 0n)
          const date = CalendarDate.fromEpochDay(CalendarDate.toEpochDay("2022-01-01") + rnd(3 * 365))
          const entryLines: Array<JournalEntry.JournalLine> = [
            {
              line_no: 1,
              account_code: accounts[rnd(accounts.length)]!,
              side: "credit",
              amount_minor: total,
              description: null,
              name: null,
              class: null,
              location: null
            },
            ...amounts.map((a, i) => ({
              line_no: i + 2,
              account_code: accounts[rnd(accounts.length)]!,
              side: "debit" as const,
              amount_minor: a,
              description: null,
              name: null,
              class: null,
              location: null
            }))
          ]
          yield* store.insert(
            new JournalEntry.JournalEntry({
              tenant_id: tenantId,
              id: `je_${String(k++).padStart(10, "0")}`,
              entry_no: 0,
              date,
              memo: "bench",
              currency: "USD",
              lines: entryLines,
              source: "import",
              proposal_id: null,
              bank_transaction_id: null,
              reverses_entry_id: null,
              idempotency_key: null,
              content_hash: "-",
              posted_by: owner.id,
              posted_at: 0
            }, true)
          )
          written += n
        }
      }))
    }
    return { owner, accounts, written }
  })

const day = (i: number) => CalendarDate.fromEpochDay(CalendarDate.toEpochDay("2022-01-01") + ((i * 7919) % (3 * 365)))

const queryLatencies = Effect.gen(function*() {
  const { accounts, owner, written } = yield* loadJournal(LINES)
  const journal = yield* Journal.Journal
  const balanceTimes: Array<number> = []
  for (let i = 0; i < 1000; i++) {
    const t = performance.now()
    yield* journal.balance(tenantId, owner, accounts[i % accounts.length]!, day(i))
    balanceTimes.push(performance.now() - t)
  }
  const tbTimes: Array<number> = []
  for (let i = 0; i < 100; i++) {
    const t = performance.now()
    const tb = yield* journal.trialBalance(tenantId, owner, day(i))
    if (!tb.balanced) return yield* Effect.dieMessage("trial balance not balanced")
    tbTimes.push(performance.now() - t)
  }
  return { written, balanceTimes, tbTimes, accounts }
})

/** The baseline: the same balances summed from the raw journal lines (no materialisation). */
const rawSums = (accounts: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const times: Array<number> = []
    for (let i = 0; i < 100; i++) {
      const t = performance.now()
      yield* sql`SELECT CAST(COALESCE(SUM(CASE WHEN side = 'debit' THEN amount_minor ELSE 0 END), 0) AS TEXT) AS d,
                        CAST(COALESCE(SUM(CASE WHEN side = 'credit' THEN amount_minor ELSE 0 END), 0) AS TEXT) AS c
                 FROM ledger_lines WHERE tenant_id = ${tenantId} AND account_code = ${accounts[
        i % accounts.length
      ]!} AND date <= ${day(i)}`
      times.push(performance.now() - t)
    }
    return times
  })

const ms = (x: number) => `${x.toFixed(3)} ms`
const perSecond = (x: number) => `${Math.round(x).toLocaleString("en-US")} applies/s`

/** Runs the ledger benchmarks. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  const memory = await Effect.runPromise(applyAll(APPLIES_MEMORY).pipe(Effect.provide(environment(Memory.layer))))
  Floor.run(Math.ceil(APPLIES_MEMORY / 4)) // warms the JIT up, as the governed run's proposals did
  const floor = Floor.run(APPLIES_MEMORY)
  rows.push({
    name: `governed apply, memory (${APPLIES_MEMORY.toLocaleString("en-US")} applies, 1 per transaction)`,
    value: perSecond(memory),
    baseline: `the same work as plain synchronous JS ${perSecond(floor)} (bench/ledger-floor.ts)`,
    ratio: `${(memory / floor).toFixed(3)} of it`,
    target: "≥ 50,000 applies/s"
  })

  const dir = mkdtempSync(join(tmpdir(), "airlock-ledger-bench-"))
  const rawFile = join(dir, "raw.db")
  // Interleaved rounds, so a change of load on this shared machine hits both sides alike.
  const { rawMs, sqliteMs } = await Effect.runPromise(
    Effect.gen(function*() {
      const { human, ids, pipeline } = yield* prepare(APPLIES_SQLITE)
      const raw = makeRawBaseline(rawFile, APPLIES_SQLITE)
      const chunk = Math.ceil(APPLIES_SQLITE / ROUNDS)
      let sqliteMs = 0
      let rawMs = 0
      for (let from = 0; from < APPLIES_SQLITE; from += chunk) {
        const to = Math.min(APPLIES_SQLITE, from + chunk)
        const start = performance.now()
        for (let i = from; i < to; i++) yield* pipeline.apply(tenantId, ids[i]!, human)
        sqliteMs += performance.now() - start
        rawMs += raw.applyRange(from, to)
      }
      raw.close()
      return { rawMs, sqliteMs }
    }).pipe(
      Effect.provide(environment(Sqlite.layer({ filename: join(dir, "governed.db") }))),
      // the raw file gets the same schema (migrated by the adapter) and the same background
      // checkpointer as the governed one: only the statements differ
      Effect.provide(Sqlite.layerClient({ filename: rawFile }))
    )
  )
  const rawRate = APPLIES_SQLITE / (rawMs / 1000)
  const sqliteRate = APPLIES_SQLITE / (sqliteMs / 1000)
  rows.push({
    name: `raw better-sqlite3, same rows, 1 apply per transaction (${
      APPLIES_SQLITE.toLocaleString("en-US")
    }, ${ROUNDS} rounds interleaved)`,
    value: perSecond(rawRate)
  })
  rows.push({
    name: `governed apply, SQLite file WAL (${
      APPLIES_SQLITE.toLocaleString("en-US")
    } applies, 1 per transaction, ${ROUNDS} rounds interleaved)`,
    value: perSecond(sqliteRate),
    baseline: perSecond(rawRate),
    ratio: `${(sqliteRate / rawRate).toFixed(3)} of raw`,
    target: "≥ 0.5 of raw"
  })

  const balanceFile = join(dir, "balances.db")
  const sq = await Effect.runPromise(
    Effect.flatMap(queryLatencies, (r) => Effect.map(rawSums(r.accounts), (rawTimes) => ({ ...r, rawTimes }))).pipe(
      Effect.provide(environment(Sqlite.layer({ filename: balanceFile })))
    )
  )
  rows.push({
    name: `SQLite: account balance as of a day, ${sq.written.toLocaleString("en-US")} journal lines (1000 queries)`,
    value: `p50 ${ms(percentile(sq.balanceTimes, 50))}, p95 ${ms(percentile(sq.balanceTimes, 95))}`,
    baseline: `SUM over raw lines p50 ${ms(percentile(sq.rawTimes, 50))}, p95 ${ms(percentile(sq.rawTimes, 95))}`,
    ratio: `${(percentile(sq.rawTimes, 50) / percentile(sq.balanceTimes, 50)).toFixed(1)}× faster at p50`
  })
  rows.push({
    name: `SQLite: trial balance as of a day (100 queries)`,
    value: `p50 ${ms(percentile(sq.tbTimes, 50))}, p95 ${ms(percentile(sq.tbTimes, 95))}`
  })
  const mem = await Effect.runPromise(queryLatencies.pipe(Effect.provide(environment(Memory.layer))))
  rows.push({
    name: `memory: account balance as of a day, ${mem.written.toLocaleString("en-US")} journal lines (1000 queries)`,
    value: `p50 ${ms(percentile(mem.balanceTimes, 50))}, p95 ${ms(percentile(mem.balanceTimes, 95))}`
  })
  rows.push({
    name: `memory: trial balance as of a day (100 queries)`,
    value: `p50 ${ms(percentile(mem.tbTimes, 50))}, p95 ${ms(percentile(mem.tbTimes, 95))}`
  })
  return rows
}

/** For `bench/profile.ts`: prepares `n` proposals, then runs the applies between `start` and `stop`; returns applies/s. */
export const profileApply = <E>(
  n: number,
  ports: Layer.Layer<CorePorts.CorePorts | LedgerPorts.LedgerPorts, E>,
  start: () => Promise<void>,
  stop: () => Promise<void>
): Effect.Effect<number, unknown> =>
  Effect.gen(function*() {
    const { human, ids, pipeline } = yield* prepare(n)
    yield* Effect.promise(start)
    const t = performance.now()
    for (const id of ids) yield* pipeline.apply(tenantId, id, human)
    const rate = n / ((performance.now() - t) / 1000)
    yield* Effect.promise(stop)
    return rate
  }).pipe(Effect.provide(environment(ports)))

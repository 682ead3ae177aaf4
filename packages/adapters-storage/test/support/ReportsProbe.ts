/**
 * Raw tampering for the companion reports suite: breaks entries, bank transactions, proposals and
 * audit records in storage itself (SQL `UPDATE`, or the memory store's rows mutated in place),
 * never through an adapter, so the auditor meets what a bug or an intruder would leave behind.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** The tampering operations. */
export class ReportsProbe extends Context.Tag("test/ReportsProbe")<
  ReportsProbe,
  {
    /** Adds one minor unit to a line's amount. */
    readonly bumpLine: (tenant: string, entryId: string, lineNo: number) => Effect.Effect<void>
    /** Moves a line to another account. */
    readonly lineAccount: (tenant: string, entryId: string, lineNo: number, account: string) => Effect.Effect<void>
    /** Sets a bank transaction's signed amount. */
    readonly bankAmount: (tenant: string, bankId: string, amountMinor: bigint) => Effect.Effect<void>
    /** Points an entry at another bank transaction. */
    readonly entryBank: (tenant: string, entryId: string, bankId: string) => Effect.Effect<void>
    /** Sets an entry's posting time. */
    readonly entryPostedAt: (tenant: string, entryId: string, at: number) => Effect.Effect<void>
    /** Clears an entry's proposal link. */
    readonly entryProposalNull: (tenant: string, entryId: string) => Effect.Effect<void>
    /** Sets a shadow record's status. */
    readonly actionStatus: (tenant: string, actionId: string, status: string) => Effect.Effect<void>
    /** Changes an audit record's subject (its hash no longer matches). */
    readonly auditSubject: (tenant: string, seq: number, subject: string) => Effect.Effect<void>
    /** Rows of `companion_integrity_reports` of a tenant. */
    readonly reports: (tenant: string) => Effect.Effect<number>
  }
>() {}

/** Probe over SQL. */
export const sql = Layer.effect(
  ReportsProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    bumpLine: (t, e, n) =>
      sql`UPDATE ledger_lines SET amount_minor = amount_minor + 1
          WHERE tenant_id = ${t} AND entry_id = ${e} AND line_no = ${n}`.pipe(Effect.asVoid, Effect.orDie),
    lineAccount: (t, e, n, a) =>
      sql`UPDATE ledger_lines SET account_code = ${a} WHERE tenant_id = ${t} AND entry_id = ${e} AND line_no = ${n}`
        .pipe(Effect.asVoid, Effect.orDie),
    bankAmount: (t, b, amount) =>
      sql`UPDATE ledger_bank_transactions SET amount_minor = ${amount.toString()} WHERE tenant_id = ${t} AND id = ${b}`
        .pipe(Effect.asVoid, Effect.orDie),
    entryBank: (t, e, b) =>
      sql`UPDATE ledger_entries SET bank_transaction_id = ${b} WHERE tenant_id = ${t} AND id = ${e}`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    entryPostedAt: (t, e, at) =>
      sql`UPDATE ledger_entries SET posted_at = ${at} WHERE tenant_id = ${t} AND id = ${e}`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    entryProposalNull: (t, e) =>
      sql`UPDATE ledger_entries SET proposal_id = NULL WHERE tenant_id = ${t} AND id = ${e}`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    actionStatus: (t, a, s) =>
      sql`UPDATE core_actions SET status = ${s} WHERE tenant_id = ${t} AND id = ${a}`.pipe(Effect.asVoid, Effect.orDie),
    auditSubject: (t, seq, subject) =>
      sql`UPDATE core_audit SET subject = ${subject} WHERE tenant_id = ${t} AND seq = ${seq}`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    reports: (t) =>
      sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM companion_integrity_reports WHERE tenant_id = ${t}`.pipe(
        Effect.map((rs) => Number(rs[0]!.n)),
        Effect.orDie
      )
  }))
)

// the memory adapter keeps rows as objects; tampering mutates them where they are stored
type Mutable = Record<string, unknown>

/** Probe over the memory database. */
export const memory = Layer.effect(
  ReportsProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => {
    const row = (table: string, t: string, key: string | number) => {
      const r = db.scoped<Mutable>(table).get(t, key)
      if (r === undefined) throw new Error(`no ${table} row ${t}/${key}`)
      return r
    }
    const line = (t: string, e: string, n: number) =>
      (row("ledger_entries", t, e).lines as Array<Mutable>).find((l) => l.line_no === n)!
    return {
      bumpLine: (t, e, n) =>
        Effect.sync(() => {
          const l = line(t, e, n)
          l.amount_minor = (l.amount_minor as bigint) + 1n
        }),
      lineAccount: (t, e, n, a) => Effect.sync(() => void (line(t, e, n).account_code = a)),
      bankAmount: (t, b, amount) =>
        Effect.sync(() => void (row("ledger_bank_transactions", t, b).amount_minor = amount)),
      entryBank: (t, e, b) => Effect.sync(() => void (row("ledger_entries", t, e).bank_transaction_id = b)),
      entryPostedAt: (t, e, at) => Effect.sync(() => void (row("ledger_entries", t, e).posted_at = at)),
      entryProposalNull: (t, e) => Effect.sync(() => void (row("ledger_entries", t, e).proposal_id = null)),
      actionStatus: (t, a, s) => Effect.sync(() => void (row("actions", t, a).status = s)),
      auditSubject: (t, seq, subject) => Effect.sync(() => void (row("audit", t, seq).subject = subject)),
      reports: (t) => Effect.sync(() => [...db.scoped<unknown>("companion_integrity_reports").inScope(t)].length)
    }
  })
)

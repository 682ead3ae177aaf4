/**
 * Ledger tables: chart of accounts, the canonical journal (entries, lines, materialised daily
 * balances), period locks, bank transactions and the QuickBooks export bookkeeping.
 * Unique indexes carry the ledger's invariants: one idempotency key, one reversal per entry,
 * one entry per proposal, one bank row per fingerprint, each entry exported once.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ledger_accounts (
    tenant_id TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    normal_balance TEXT NOT NULL,
    parent_code TEXT,
    currency TEXT NOT NULL,
    active INTEGER NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code)
  )`
  yield* sql`CREATE TABLE ledger_counters (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
  )`
  yield* sql`CREATE TABLE ledger_entries (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    entry_no BIGINT NOT NULL,
    date TEXT NOT NULL,
    memo TEXT NOT NULL,
    currency TEXT NOT NULL,
    source TEXT NOT NULL,
    proposal_id TEXT,
    bank_transaction_id TEXT,
    reverses_entry_id TEXT,
    idempotency_key TEXT,
    content_hash TEXT NOT NULL,
    posted_by TEXT NOT NULL,
    posted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX ledger_entries_no ON ledger_entries (tenant_id, entry_no)`
  yield* sql`CREATE INDEX ledger_entries_date ON ledger_entries (tenant_id, date, entry_no)`
  yield* sql`CREATE UNIQUE INDEX ledger_entries_idempotency ON ledger_entries (tenant_id, idempotency_key)`
  yield* sql`CREATE UNIQUE INDEX ledger_entries_reverses ON ledger_entries (tenant_id, reverses_entry_id)`
  yield* sql`CREATE UNIQUE INDEX ledger_entries_proposal ON ledger_entries (tenant_id, proposal_id)`
  yield* sql`CREATE INDEX ledger_entries_bank_txn ON ledger_entries (tenant_id, bank_transaction_id)`
  yield* sql`CREATE TABLE ledger_lines (
    tenant_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    account_code TEXT NOT NULL,
    side TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    description TEXT,
    name TEXT,
    class TEXT,
    location TEXT,
    date TEXT NOT NULL,
    entry_no BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, entry_id, line_no)
  )`
  yield* sql`CREATE INDEX ledger_lines_account ON ledger_lines (tenant_id, account_code, date, entry_no, line_no)`
  yield* sql`CREATE TABLE ledger_daily_balances (
    tenant_id TEXT NOT NULL,
    account_code TEXT NOT NULL,
    day TEXT NOT NULL,
    debit_minor BIGINT NOT NULL,
    credit_minor BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_code, day)
  )`
  yield* sql`CREATE TABLE ledger_period_locks (
    tenant_id TEXT PRIMARY KEY,
    lock_date TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE ledger_bank_transactions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    account_code TEXT NOT NULL,
    date TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    payee TEXT,
    memo TEXT,
    fit_id TEXT,
    fingerprint TEXT NOT NULL,
    source_format TEXT NOT NULL,
    source_line INTEGER,
    imported_at BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX ledger_bank_transactions_fingerprint ON ledger_bank_transactions (tenant_id, fingerprint)`
  yield* sql`CREATE INDEX ledger_bank_transactions_date ON ledger_bank_transactions (tenant_id, date, id)`
  yield* sql`CREATE TABLE ledger_qbo_batches (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    batch_no BIGINT NOT NULL,
    entry_count BIGINT NOT NULL,
    first_entry_no BIGINT NOT NULL,
    last_entry_no BIGINT NOT NULL,
    date_format TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
  )`
  yield* sql`CREATE UNIQUE INDEX ledger_qbo_batches_no ON ledger_qbo_batches (tenant_id, batch_no)`
  yield* sql`CREATE TABLE ledger_qbo_exported (
    tenant_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    entry_no BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
  )`
  yield* sql`CREATE INDEX ledger_qbo_exported_batch ON ledger_qbo_exported (tenant_id, batch_id, entry_no)`
  yield* sql`CREATE TABLE ledger_qbo_batch_accounts (
    tenant_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    account_code TEXT NOT NULL,
    full_name TEXT NOT NULL,
    PRIMARY KEY (tenant_id, batch_id, account_code)
  )`
})

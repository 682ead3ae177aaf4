/** Handlers of the ledger group: translate between JSON (decimal strings) and the ledger services. */
import { BankTransaction, Chart, Journal, PeriodLock, QboExport } from "@airlock/ledger"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AirlockApi } from "../Api.js"
import { CurrentPrincipal, type TenantScoped } from "../Auth.js"
import { formatAmount, scaleOf } from "../Money.js"

const amount = (minor: bigint, currency: string) => formatAmount(minor, scaleOf(currency) ?? 2)

/** The JSON form of an account. */
export const accountJson = (a: Chart.Account) => ({
  code: a.code,
  name: a.name,
  type: a.type,
  normal_balance: a.normal_balance,
  parent_code: a.parent_code,
  currency: a.currency,
  active: a.active,
  description: a.description,
  created_at: a.created_at,
  updated_at: a.updated_at
})

/** The JSON form of an entry (amounts as decimal strings of its currency). */
export const entryJson = (e: Journal.JournalEntry) => ({
  id: e.id,
  entry_no: e.entry_no,
  date: e.date,
  memo: e.memo,
  currency: e.currency,
  lines: e.lines.map((l) => ({
    line_no: l.line_no,
    account_code: l.account_code,
    side: l.side,
    amount: amount(l.amount_minor, e.currency),
    description: l.description,
    name: l.name,
    class: l.class,
    location: l.location
  })),
  source: e.source,
  proposal_id: e.proposal_id,
  bank_transaction_id: e.bank_transaction_id,
  reverses_entry_id: e.reverses_entry_id,
  idempotency_key: e.idempotency_key,
  content_hash: e.content_hash,
  posted_by: e.posted_by,
  posted_at: e.posted_at
})

/** 201 with the new entry, or 200 with the original one on an idempotent retry. */
const postJson = (r: Journal.PostResult) =>
  r.duplicate ? { entry: entryJson(r.entry), duplicate: true as const } : { entry: entryJson(r.entry), duplicate: false as const }

const lockJson = (l: PeriodLock.PeriodLock) => ({ lock_date: l.lock_date, updated_at: l.updated_at, updated_by: l.updated_by })

/** The ledger group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "ledger">,
  never,
  | Chart.ChartOfAccounts
  | Journal.Journal
  | PeriodLock.PeriodLocks
  | QboExport.QboExports
  | BankTransaction.BankTransactions
  | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "ledger", (handlers) =>
  Effect.gen(function*() {
    const chart = yield* Chart.ChartOfAccounts
    const journal = yield* Journal.Journal
    const locks = yield* PeriodLock.PeriodLocks
    const exports = yield* QboExport.QboExports
    const bank = yield* BankTransaction.BankTransactions
    return handlers
      .handle("listAccounts", ({ urlParams }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          const accounts = yield* chart.list(tenant.id, actor, { include_inactive: urlParams.include_inactive === "true" })
          return accounts.map(accountJson)
        }))
      .handle("createAccount", ({ payload }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return accountJson(yield* chart.create(tenant.id, actor, payload))
        }))
      .handle("listEntries", ({ urlParams }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          const page = yield* journal.list(tenant.id, actor, urlParams)
          return { items: page.items.map(entryJson), next_cursor: page.next_cursor }
        }))
      .handle("postEntry", ({ payload }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return postJson(yield* journal.post(tenant.id, actor, payload))
        }))
      .handle("reverseEntry", ({ path, payload }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return postJson(yield* journal.reverse(tenant.id, actor, path.id, payload))
        }))
      .handle("trialBalance", ({ urlParams }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          const tb = yield* journal.trialBalance(tenant.id, actor, urlParams.as_of)
          return {
            as_of: tb.as_of,
            rows: tb.rows.map((r) => ({
              account_code: r.account_code,
              name: r.name,
              type: r.type,
              currency: r.currency,
              debit: amount(r.debit_minor, r.currency),
              credit: amount(r.credit_minor, r.currency),
              net: amount(r.net_minor, r.currency)
            })),
            totals: tb.totals.map((t) => ({
              currency: t.currency,
              debit: amount(t.debit_minor, t.currency),
              credit: amount(t.credit_minor, t.currency),
              net: amount(t.net_minor, t.currency)
            })),
            balanced: tb.balanced
          }
        }))
      .handle("getPeriodLock", () =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return lockJson(yield* locks.get(tenant.id, actor))
        }))
      .handle("setPeriodLock", ({ payload }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return lockJson(yield* locks.set(tenant.id, actor, payload))
        }))
      .handle("exportQbo", () =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return yield* exports.exportNew(tenant.id, actor)
        }))
      .handle("exportQboCsv", ({ path }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return yield* exports.csvText(tenant.id, actor, path.batch_id)
        }))
      .handle("importBankTransactions", ({ payload }) =>
        Effect.gen(function*() {
          const { actor, tenant } = yield* CurrentPrincipal
          return yield* bank.importFile(tenant.id, actor, payload)
        }))
  }))

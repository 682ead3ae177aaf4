/**
 * The chain's "unusual amount" question speaks in the API's money: decimal amounts with their
 * currency (as every amount the API shows), not minor units.
 */
import { Chain } from "@airlock/companion"
import { BankTransaction } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"

const txn = (amount_minor: bigint, currency: string) =>
  new BankTransaction.BankTransaction({
    tenant_id: "t",
    id: "btx_1",
    account_code: "1000",
    date: "2026-11-20",
    description: "SQ *BLUE BOTTLE COFFEE 0407 OAKLAND CA",
    amount_minor,
    currency,
    payee: null,
    memo: null,
    fit_id: null,
    fingerprint: "f",
    source_format: "json",
    source_line: null,
    imported_at: 0,
    imported_by: "x"
  })

const questionsFor = (amount_minor: bigint, currency: string, usual: ReadonlyArray<bigint>) =>
  Chain.combine([], {
    tenant_id: "t",
    transaction: txn(amount_minor, currency),
    accounts: [],
    vendor_key: "blue bottle coffee"
  }, {
    vendor_history: usual.map((a) => ({ amount_minor: a, splits: 1 }))
  }).questions

describe("Chain unusual-amount question", () => {
  it("a coffee at $950 against a usual $8.80: decimal amounts with the currency", () => {
    expect(questionsFor(-95000n, "USD", [-880n, -880n, -920n])).toStrictEqual([
      "Unusual amount for “blue bottle coffee”: 950.00 USD against a usual 8.80 USD"
    ])
  })

  it("uses the currency's decimals (JPY has none)", () => {
    expect(questionsFor(-50000n, "JPY", [-1000n, -1200n, -900n])).toStrictEqual([
      "Unusual amount for “blue bottle coffee”: 50000 JPY against a usual 1000 JPY"
    ])
  })

  it("an amount within three times the usual asks nothing", () => {
    expect(questionsFor(-2000n, "USD", [-880n, -880n, -920n])).toStrictEqual([])
  })
})

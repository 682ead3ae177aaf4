/**
 * Well-known double-entry cases as facts: unbalanced entries are refused, precision is refused
 * rather than rounded, a reversal is the exact mirror of its entry, and the pure pieces of the
 * journal, the chart, the proposals and the export behave as documented.
 */
import { Chart, JournalEntry, Presets, Proposals, QboExport } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { createHash } from "node:crypto"

const account = (code: string, type: Chart.AccountType, extra: Partial<Chart.Account> = {}) =>
  new Chart.Account({
    tenant_id: "t",
    code,
    name: `Account ${code}`,
    type,
    normal_balance: Chart.defaultNormalBalance(type),
    parent_code: null,
    currency: "USD",
    active: true,
    description: null,
    created_at: 0,
    updated_at: 0,
    ...extra
  })

const chart = new Map([
  ["1000", account("1000", "Asset")],
  ["4000", account("4000", "Income")],
  ["6000", account("6000", "Expense")],
  ["6100", account("6100", "Expense", { active: false })]
])

const options = { defaultCurrency: "USD", exponents: { USD: 2, JPY: 0 }, maxLines: 10 }

const draft = (lines: ReadonlyArray<JournalEntry.PostLine>, extra: Partial<JournalEntry.PostEntry> = {}) =>
  JournalEntry.draftFromInput({ date: "2024-01-10", lines, ...extra }, options)

const codeOf = <A>(e: Either.Either<A, { code: string }>) => (Either.isLeft(e) ? e.left.code : "ok")

describe("Journal facts", () => {
  it("an unbalanced entry is refused with the difference, a balanced one passes", () => {
    const unbalanced = Either.flatMap(
      draft([{ account_code: "6000", debit: "100.00" }, { account_code: "1000", credit: "99.99" }]),
      (d) => JournalEntry.checkDraft(d, chart)
    )
    expect(Either.isLeft(unbalanced) && unbalanced.left.details).toStrictEqual({
      debit_total: "10000",
      credit_total: "9999",
      difference: "1"
    })
    const balanced = Either.flatMap(
      draft([{ account_code: "6000", debit: "100.00" }, { account_code: "1000", credit: "100.00" }]),
      (d) => JournalEntry.checkDraft(d, chart)
    )
    expect(codeOf(balanced)).toBe("ok")
  })

  it("three-way splits balance to the cent; a one-cent rounding gap is refused, not absorbed", () => {
    const third = Either.flatMap(
      draft([{ account_code: "6000", debit: "33.33" }, { account_code: "6000", debit: "33.33" }, {
        account_code: "6000",
        debit: "33.33"
      }, { account_code: "1000", credit: "100.00" }]),
      (d) => JournalEntry.checkDraft(d, chart)
    )
    expect(codeOf(third)).toBe("validation.unbalanced")
    const exact = Either.flatMap(
      draft([{ account_code: "6000", debit: "33.34" }, { account_code: "6000", debit: "33.33" }, {
        account_code: "6000",
        debit: "33.33"
      }, { account_code: "1000", credit: "100.00" }]),
      (d) => JournalEntry.checkDraft(d, chart)
    )
    expect(codeOf(exact)).toBe("ok")
  })

  it("amounts with more decimals than the currency are refused, per currency", () => {
    expect(codeOf(draft([{ account_code: "6000", debit: "1.005" }, { account_code: "1000", credit: "1.005" }]))).toBe(
      "validation.amount_precision"
    )
    // the field is a JSON path into the request (0-based); `line` is the 1-based line number
    const second = draft([{ account_code: "6000", debit: "1.00" }, { account_code: "1000", credit: "1.005" }])
    expect(Either.isLeft(second) && second.left.details).toMatchObject({
      field: "lines[1].credit",
      line: 2,
      allowed_decimals: 2
    })
    expect(
      codeOf(
        draft([{ account_code: "6000", debit: "1.5" }, { account_code: "1000", credit: "1.5" }], { currency: "JPY" })
      )
    ).toBe("validation.amount_precision")
    const yen = draft([{ account_code: "6000", debit: "1500" }, { account_code: "1000", credit: "1500" }], {
      currency: "JPY"
    })
    expect(Either.isRight(yen) && yen.right.lines.map((l) => l.amount_minor)).toStrictEqual([1500n, 1500n])
  })

  it("structural rules: two lines, one side per line, positive amounts, one currency", () => {
    expect(codeOf(draft([{ account_code: "6000", debit: "1" }]))).toBe("validation.min_lines")
    expect(codeOf(draft([{ account_code: "6000" }, { account_code: "1000", credit: "1" }]))).toBe(
      "validation.line_side"
    )
    expect(codeOf(draft([{ account_code: "6000", debit: "-1" }, { account_code: "1000", credit: "-1" }]))).toBe(
      "validation.amount_positive"
    )
    expect(
      codeOf(
        draft([{ account_code: "6000", debit: "1", currency: "USD" }, {
          account_code: "1000",
          credit: "1",
          currency: "JPY"
        }])
      )
    ).toBe("validation.mixed_currency")
    expect(codeOf(draft(Array.from({ length: 11 }, (_, i) => ({ account_code: "6000", debit: String(i + 1) }))))).toBe(
      "validation.too_many_lines"
    )
  })

  it("accounts must exist and be active, except that reversals may touch inactive ones", () => {
    const d = Either.getOrThrow(draft([{ account_code: "6100", debit: "5" }, { account_code: "1000", credit: "5" }]))
    expect(codeOf(JournalEntry.checkDraft(d, chart))).toBe("validation.account_inactive")
    expect(codeOf(JournalEntry.checkDraft(d, chart, { allowInactive: true }))).toBe("ok")
    const unknown = Either.getOrThrow(
      draft([{ account_code: "9999", debit: "5" }, { account_code: "1000", credit: "5" }])
    )
    expect(codeOf(JournalEntry.checkDraft(unknown, chart))).toBe("validation.account_unknown")
  })

  it("a reversal mirrors every line and keeps totals, so entry + reversal nets to zero per account", () => {
    const base = Either.getOrThrow(
      draft([{ account_code: "6000", debit: "80.00" }, { account_code: "6000", debit: "20.00" }, {
        account_code: "1000",
        credit: "100.00"
      }], { memo: "Rent" })
    )
    const entry = new JournalEntry.JournalEntry({
      ...base,
      tenant_id: "t",
      id: "je_1",
      entry_no: 7,
      content_hash: JournalEntry.contentHash(base),
      posted_by: "u",
      posted_at: 0
    })
    const rev = JournalEntry.reversalDraft(entry, { date: "2024-02-01" })
    expect(rev.reverses_entry_id).toBe("je_1")
    expect(rev.memo).toBe("Reversal of entry 7: Rent")
    expect(rev.lines.map((l) => [l.account_code, l.side, l.amount_minor])).toStrictEqual([["6000", "credit", 8000n], [
      "6000",
      "credit",
      2000n
    ], ["1000", "debit", 10000n]])
    const net = new Map<string, bigint>()
    for (const l of [...entry.lines, ...rev.lines])
      net.set(l.account_code, (net.get(l.account_code) ?? 0n) + (l.side === "debit" ? l.amount_minor : -l.amount_minor))
    expect([...net.values()]).toStrictEqual([0n, 0n])
    expect(JournalEntry.contentHash(rev)).not.toBe(entry.content_hash)
  })

  it("the content hash ignores nothing that matters and nothing about who posted", () => {
    const a = Either.getOrThrow(draft([{ account_code: "6000", debit: "1" }, { account_code: "1000", credit: "1" }]))
    const b = Either.getOrThrow(draft([{ account_code: "6000", debit: "1.00" }, { account_code: "1000", credit: 1 }]))
    const c = Either.getOrThrow(
      draft([{ account_code: "6000", debit: "1", description: "x" }, { account_code: "1000", credit: "1" }])
    )
    expect(JournalEntry.contentHash(a)).toBe(JournalEntry.contentHash(b))
    expect(JournalEntry.contentHash(a)).not.toBe(JournalEntry.contentHash(c))
  })

  it("the content hash is the SHA-256 of its documented text, with every string JSON-encoded", () => {
    const j = JSON.stringify
    for (
      const memo of [
        "plain memo",
        'quote " and \\ back',
        "tab\tnew\nline\u0000",
        "café ✓ 😀",
        "lone \ud800 surrogate",
        "\u2028 sep \u007f"
      ]
    ) {
      const d = {
        ...Either.getOrThrow(
          draft([{ account_code: "6000", debit: "1", description: memo }, { account_code: "1000", credit: "1" }])
        ),
        memo
      }
      let text = `v1|${j(d.date)}|${j(d.memo)}|${j(d.currency)}|${d.source}|${j(d.proposal_id)}|${
        j(d.bank_transaction_id)
      }|${j(d.reverses_entry_id)}`
      for (const l of d.lines) {
        text += `|${j(l.account_code)},${l.side},${l.amount_minor},${j(l.description)},${j(l.name)},${j(l.class)},${
          j(l.location)
        }`
      }
      expect(JournalEntry.contentHash(d)).toBe(createHash("sha256").update(text, "utf8").digest("hex"))
    }
  })
})

describe("Chart and presets", () => {
  it("ships 14 / 14 / 19 accounts, unique codes, parents before children, a contra account in each business chart", () => {
    expect(Object.fromEntries(Object.entries(Presets.presets).map(([k, v]) => [k, v.length]))).toStrictEqual({
      standard_small_business: 14,
      standard_professional_services: 14,
      gaap_accounting_firm: 19
    })
    for (const rows of Object.values(Presets.presets)) {
      const codes = rows.map((r) => r.code)
      expect(new Set(codes).size).toBe(codes.length)
      expect(new Set(rows.map((r) => r.type))).toStrictEqual(
        new Set(["Asset", "Liability", "Equity", "Income", "Expense"])
      )
      rows.forEach((r, i) => {
        if (r.parent_code) expect(codes.indexOf(r.parent_code)).toBeLessThan(i)
      })
    }
    expect(Presets.presets.gaap_accounting_firm.find((r) => r.code === "1590")?.normal_balance).toBe("credit")
    expect(Presets.presets.standard_professional_services.slice(0, 3).map((r) => r.name)).toStrictEqual([
      "Operating Account",
      "Payroll Account",
      "Accounts Receivable"
    ])
  })

  it("parents must exist, share type and currency, and never form a cycle", () => {
    const lookup = (m: Map<string, Chart.Account>) => (c: string) => m.get(c)
    const accounts = new Map([
      ["1000", account("1000", "Asset")],
      ["1010", account("1010", "Asset", { parent_code: "1000" })],
      ["4000", account("4000", "Income")]
    ])
    expect(Either.isRight(Chart.checkParent(account("1011", "Asset"), "1010", lookup(accounts)))).toBe(true)
    expect(Either.isLeft(Chart.checkParent(account("1011", "Asset"), "4000", lookup(accounts)))).toBe(true)
    expect(Either.isLeft(Chart.checkParent(account("1000", "Asset"), "1010", lookup(accounts)))).toBe(true)
    expect(Either.isLeft(Chart.checkParent(account("1011", "Asset"), "9999", lookup(accounts)))).toBe(true)
    expect(Chart.fullNames([...accounts.values()]).get("1010")).toBe("Account 1000:Account 1010")
  })
})

describe("Proposal drafts", () => {
  const txn = (amount: bigint) =>
    ({
      id: "btx_1",
      account_code: "1000",
      amount_minor: amount,
      currency: "USD",
      date: "2024-03-01",
      description: "Vendor",
      payee: "Vendor"
    }) as never
  const payload = (splits: ReadonlyArray<readonly [string, bigint]>): Proposals.ProposalPayload => ({
    bank_transaction_id: "btx_1",
    splits: splits.map(([account_code, amount_minor]) => ({ account_code, amount_minor })),
    confidence: 0.9,
    calibrated_probability: null,
    rationale: "",
    questions: [],
    risk_reasons: [],
    tier: 0
  })

  it("money out credits the bank and debits the splits; money in the reverse", () => {
    const out = Either.getOrThrow(
      Proposals.draftFromProposal(payload([["6000", 700n], ["6100", 300n]]), txn(-1000n), "act_1")
    )
    expect(out.lines.map((l) => [l.account_code, l.side, l.amount_minor])).toStrictEqual([["1000", "credit", 1000n], [
      "6000",
      "debit",
      700n
    ], ["6100", "debit", 300n]])
    expect([out.source, out.proposal_id, out.bank_transaction_id, out.date]).toStrictEqual([
      "companion",
      "act_1",
      "btx_1",
      "2024-03-01"
    ])
    const inflow = Either.getOrThrow(Proposals.draftFromProposal(payload([["4000", 500n]]), txn(500n), "act_2"))
    expect(inflow.lines.map((l) => [l.account_code, l.side])).toStrictEqual([["1000", "debit"], ["4000", "credit"]])
  })

  it("the splits must sum to the bank amount, be positive and avoid the bank account", () => {
    expect(codeOf(Proposals.draftFromProposal(payload([["6000", 999n]]), txn(-1000n), "a"))).toBe(
      "validation.split_sum"
    )
    expect(codeOf(Proposals.draftFromProposal(payload([["6000", 1001n], ["6100", -1n]]), txn(-1000n), "a"))).toBe(
      "validation.amount_positive"
    )
    expect(codeOf(Proposals.draftFromProposal(payload([["1000", 1000n]]), txn(-1000n), "a"))).toBe(
      "validation.split_account"
    )
    const income = Either.getOrThrow(Proposals.draftFromProposal(payload([["4000", 1000n]]), txn(-1000n), "a"))
    expect(codeOf(JournalEntry.checkDraft(income, chart, { rules: Proposals.splitRules("outflow") }))).toBe(
      "validation.account_type"
    )
  })
})

describe("QuickBooks rows", () => {
  it("quotes per RFC 4180 and writes one balanced journal per entry", () => {
    expect(QboExport.csvField("plain")).toBe("plain")
    expect(QboExport.csvField("a,b")).toBe('"a,b"')
    expect(QboExport.csvField('say "hi"')).toBe('"say ""hi"""')
    expect(QboExport.csvField(" padded")).toBe('" padded"')
    expect(QboExport.formatDate("2024-01-09", "DD/MM/YYYY")).toBe("09/01/2024")
    const entry = new JournalEntry.JournalEntry({
      tenant_id: "t",
      id: "je_1",
      entry_no: 3,
      date: "2024-01-09",
      memo: "Memo",
      currency: "USD",
      lines: [
        {
          line_no: 1,
          account_code: "6000",
          side: "debit",
          amount_minor: 1005n,
          description: null,
          name: "Acme",
          class: null,
          location: null
        },
        {
          line_no: 2,
          account_code: "1000",
          side: "credit",
          amount_minor: 1005n,
          description: "paid",
          name: null,
          class: "C",
          location: "L"
        }
      ],
      source: "manual",
      proposal_id: null,
      bank_transaction_id: null,
      reverses_entry_id: null,
      idempotency_key: null,
      content_hash: "h",
      posted_by: "u",
      posted_at: 0
    })
    expect(QboExport.entryRows(entry, new Map([["6000", "Expenses:Rent"]]), "MM/DD/YYYY")).toBe(
      "3,01/09/2024,USD,Memo,Expenses:Rent,10.05,,,Acme,,\r\n3,01/09/2024,USD,Memo,1000,,10.05,paid,,L,C\r\n"
    )
    expect(QboExport.QBO_COLUMNS.length).toBe(11)
  })

  it("text cells a spreadsheet would run as a formula get a leading quote; dates, numbers and amounts are untouched", () => {
    for (const v of ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
      expect(QboExport.neutralizeFormula(v)).toBe(`'${v}`)
    for (const v of ["plain", "", "a=b", "1-2", "'=already quoted", "Rent - January"])
      expect(QboExport.neutralizeFormula(v)).toBe(v)
    const entry = new JournalEntry.JournalEntry({
      tenant_id: "t",
      id: "je_9",
      entry_no: 12,
      date: "2024-03-05",
      memo: '=HYPERLINK("http://evil","x")',
      currency: "JPY",
      lines: [
        {
          line_no: 1,
          account_code: "6000",
          side: "debit",
          amount_minor: 1200n,
          description: "+1+cmd|' /C calc'!A0",
          name: "@SUM(A1)",
          class: "\r=2",
          location: "\t=3"
        },
        {
          line_no: 2,
          account_code: "1000",
          side: "credit",
          amount_minor: 1200n,
          description: "-5 refund",
          name: "Acme",
          class: null,
          location: null
        }
      ],
      source: "companion",
      proposal_id: null,
      bank_transaction_id: null,
      reverses_entry_id: null,
      idempotency_key: null,
      content_hash: "h",
      posted_by: "u",
      posted_at: 0
    })
    const rows = QboExport.entryRows(entry, new Map([["6000", "-Misc:=Fees"]]), "YYYY-MM-DD")
    expect(rows).toBe(
      '12,2024-03-05,JPY,"\'=HYPERLINK(""http://evil"",""x"")",\'-Misc:=Fees,1200,,\'+1+cmd|\' /C calc\'!A0,\'@SUM(A1),\'\t=3,"\'\r=2"\r\n' +
        '12,2024-03-05,JPY,"\'=HYPERLINK(""http://evil"",""x"")",1000,,1200,\'-5 refund,Acme,,\r\n'
    )
  })
})

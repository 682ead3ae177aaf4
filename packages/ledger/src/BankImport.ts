/**
 * Parsing of bank files into rows, pure and all-or-nothing: a file either yields every row or
 * a list of problems, each with its line number. CSV goes through `csv-parse` (quoting,
 * embedded newlines, BOM, line tracking); the QuickBooks bank-upload layouts
 * `Date,Description,Amount` and `Date,Description,Credit,Debit` are recognised from the header,
 * and any other file is read through a column mapping and a date format. OFX 1.x (SGML, leaf
 * tags left open) and 2.x (XML) are read by a small tolerant tokenizer that knows the OFX
 * aggregates by name (every other element is a leaf, possibly empty).
 */
import { Canonical, Errors } from "@airlock/core"
import { parse as parseCsv } from "csv-parse/sync"
import { Either, Schema } from "effect"
import * as CalendarDate from "./CalendarDate.js"
import { parseDecimal } from "./Money.js"

/** One parsed bank row, amounts in minor units (signed: money in is positive). */
export interface ParsedRow {
  /** 1-based line where the row starts in the file (for OFX: the line of its `<STMTTRN>`). */
  readonly line: number
  readonly date: string
  readonly description: string
  readonly amount_minor: bigint
  readonly payee: string | null
  readonly memo: string | null
  readonly fit_id: string | null
}

/** A problem with one row or field of a file. */
export interface RowProblem {
  readonly line: number
  readonly column?: string
  readonly code: string
  readonly message: string
}

/** A column: a header name (at most 200 characters) or a 0-based index. */
const Column = Schema.Union(Schema.String.pipe(Schema.maxLength(200)), Schema.Number)

/** How to read a CSV file. Everything has a default matching QuickBooks' bank-upload layouts. */
export const CsvMapping = Schema.Struct({
  /** `amount`: one signed column; `credit_debit`: money in / money out columns; detected when omitted. */
  layout: Schema.optional(Schema.Literal("amount", "credit_debit")),
  /** Header names (case-insensitive) or 0-based column indexes. */
  date_column: Schema.optional(Column),
  description_column: Schema.optional(Column),
  amount_column: Schema.optional(Column),
  credit_column: Schema.optional(Column),
  debit_column: Schema.optional(Column),
  payee_column: Schema.optional(Column),
  memo_column: Schema.optional(Column),
  /**
   * Tokens `YYYY YY MM M DD D`, e.g. `MM/DD/YYYY` (default), `DD/MM/YYYY`, `YYYY-MM-DD`. Months
   * and days take one or two digits between separators (`1/5/2024`); years their exact width.
   */
  date_format: Schema.optional(Schema.String.pipe(Schema.maxLength(32))),
  /** Whether the first record is a header (default true). */
  has_header: Schema.optional(Schema.Boolean),
  delimiter: Schema.optional(Schema.String.pipe(Schema.length(1))),
  /** Flip every sign (files that write money out as positive in an `amount` column). */
  negate: Schema.optional(Schema.Boolean)
})
/** Type of {@link CsvMapping}. */
export type CsvMapping = typeof CsvMapping.Type

/** Default date format of CSV files (QuickBooks Online US). */
export const DEFAULT_CSV_DATE_FORMAT = "MM/DD/YYYY"

const problem = (line: number, code: string, message: string, column?: string): RowProblem =>
  column === undefined ? { line, code, message } : { line, column, code, message }

/**
 * Parses a bank-file amount: optional currency symbol, thousands separators (`1,234.56`),
 * parentheses for negatives (`(12.00)`). Never rounds (see `Money.parseDecimal`).
 */
export const parseBankAmount = (raw: string, exponent: number): Either.Either<bigint, Errors.ValidationError> => {
  let text = raw.trim()
  let negative = false
  if (/^\(.*\)$/.test(text)) {
    negative = true
    text = text.slice(1, -1).trim()
  }
  if (text.startsWith("-")) {
    negative = !negative
    text = text.slice(1).trim()
  } else if (text.startsWith("+")) {
    text = text.slice(1).trim()
  }
  text = text.replace(/^[$€£¥]\s*/, "")
  if (/^\d{1,3}(,\d{3})+(\.\d*)?$/.test(text)) text = text.replace(/,/g, "")
  return Either.map(parseDecimal(text, exponent), (v) => (negative ? -v : v))
}

const clean = (s: string | undefined) => {
  const v = (s ?? "").replace(/\s+/g, " ").trim()
  return v
}

type Column = string | number | undefined

const CR = 13
const LF = 10

/**
 * The 1-based line of the first record starting at or after a UTF-8 byte offset: empty lines
 * there are skipped (as csv-parse skips them). A line ends at LF, CRLF or a lone CR. Offsets must
 * not decrease between calls (the count resumes where the last call stopped).
 */
const lineCounter = (content: string): (offset: number) => number => {
  const bytes = new TextEncoder().encode(content)
  let pos = 0
  let line = 1
  const step = () => {
    const b = bytes[pos++]
    if (b === LF || (b === CR && bytes[pos] !== LF)) line++
  }
  return (offset) => {
    while (pos < offset && pos < bytes.length) step()
    while (pos < bytes.length && (bytes[pos] === CR || bytes[pos] === LF)) step()
    return line
  }
}

/** Number of cells up to the last non-blank one. */
const filledWidth = (cells: ReadonlyArray<string>): number => {
  let n = cells.length
  while (n > 0 && cells[n - 1]!.trim() === "") n--
  return n
}

const resolve = (header: ReadonlyArray<string> | null, column: Column, fallback: string | null): number | undefined => {
  if (typeof column === "number") return column
  const name = column ?? fallback
  if (name === null || header === null) return undefined
  const idx = header.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase())
  return idx < 0 ? undefined : idx
}

/** Parses a CSV bank file; every row, or every problem found (up to 50). */
export const parseCsvFile = (
  content: string,
  exponent: number,
  mapping: CsvMapping = {}
): Either.Either<ReadonlyArray<ParsedRow>, ReadonlyArray<RowProblem>> => {
  // csv-parse counts lines where a record ENDS (and counts a quoted CRLF as two); a row is
  // reported where it STARTS: the first byte after the previous record that is not part of a
  // skipped empty line. Offsets are csv-parse's (UTF-8 bytes after a record's delimiter).
  const lineOf = lineCounter(content)
  const records: Array<{ record: Array<string>; line: number }> = []
  let previousEnd = 0
  try {
    parseCsv(content, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: false,
      delimiter: mapping.delimiter ?? ",",
      on_record: (record: Array<string>, info: { bytes: number }) => {
        records.push({ record, line: lineOf(previousEnd) })
        previousEnd = info.bytes
        return null
      }
    })
  } catch (e) {
    const err = e as { message?: string; code?: string }
    const message = err.code === "CSV_QUOTE_NOT_CLOSED"
      ? "A quoted field opened in the row starting on this line is never closed"
      : (err.message ?? "parse error").replace(/ at line \d+/, "")
    return Either.left([problem(lineOf(previousEnd), "validation.import_csv", `Malformed CSV: ${message}`)])
  }
  const hasHeader = mapping.has_header ?? true
  const header = hasHeader && records.length > 0 ? records[0]!.record : null
  const body = hasHeader ? records.slice(1) : records
  const headerLine = hasHeader && records.length > 0 ? records[0]!.line : 1
  const dateIdx = resolve(header, mapping.date_column, "Date")
  const descIdx = resolve(header, mapping.description_column, "Description")
  const amountIdx = resolve(header, mapping.amount_column, "Amount")
  const creditIdx = resolve(header, mapping.credit_column, "Credit")
  const debitIdx = resolve(header, mapping.debit_column, "Debit")
  const payeeIdx = resolve(header, mapping.payee_column, mapping.payee_column === undefined ? null : "Payee")
  const memoIdx = resolve(header, mapping.memo_column, mapping.memo_column === undefined ? null : "Memo")
  const layout = mapping.layout ??
    (amountIdx === undefined && creditIdx !== undefined && debitIdx !== undefined ? "credit_debit" : "amount")
  const missing: Array<string> = []
  if (dateIdx === undefined) missing.push(String(mapping.date_column ?? "Date"))
  if (descIdx === undefined) missing.push(String(mapping.description_column ?? "Description"))
  if (layout === "amount" && amountIdx === undefined) missing.push(String(mapping.amount_column ?? "Amount"))
  if (layout === "credit_debit") {
    if (creditIdx === undefined) missing.push(String(mapping.credit_column ?? "Credit"))
    if (debitIdx === undefined) missing.push(String(mapping.debit_column ?? "Debit"))
  }
  if (missing.length > 0) {
    return Either.left([problem(headerLine, "validation.import_header", `Missing column(s): ${missing.join(", ")}`)])
  }
  const format = mapping.date_format ?? DEFAULT_CSV_DATE_FORMAT
  // A row wider than its header has cells the mapping does not read: an unquoted `1,234.56` or a
  // comma in an unquoted description shifts the columns, and reading only the mapped cells would
  // import a wrong amount. Trailing empty cells (spreadsheet padding) do not count, and a
  // mapping may name a column past the header by index.
  const headerWidth = header === null ? 0 : filledWidth(header)
  const widthLimit = Math.max(
    headerWidth,
    ...[dateIdx, descIdx, amountIdx, creditIdx, debitIdx, payeeIdx, memoIdx].map((i) => (i === undefined ? 0 : i + 1))
  )
  const rows: Array<ParsedRow> = []
  const problems: Array<RowProblem> = []
  for (const { line, record } of body) {
    if (record.every((c) => c.trim() === "")) continue
    if (header !== null) {
      const width = filledWidth(record)
      if (width > widthLimit) {
        problems.push(problem(
          line,
          "validation.import_row",
          `Row has more cells than the header (${width} cells, header has ${headerWidth}${
            widthLimit > headerWidth ? `, the mapping reads ${widthLimit}` : ""
          }): an unquoted comma in an amount or description? Quote the field or remove the separator`
        ))
        if (problems.length >= 50) break
        continue
      }
    }
    const rowProblems: Array<RowProblem> = []
    const cell = (i: number | undefined) => (i === undefined ? "" : record[i] ?? "")
    const rawDate = cell(dateIdx).trim()
    const date = CalendarDate.parseWithFormat(rawDate, format)
    if (date === null)
      rowProblems.push(
        problem(line, "validation.date", `Date ${JSON.stringify(rawDate)} does not match ${format}`, "date")
      )
    let amount: bigint | null = null
    if (layout === "amount") {
      const raw = cell(amountIdx)
      if (raw.trim() === "") rowProblems.push(problem(line, "validation.amount_format", "Amount is empty", "amount"))
      else {
        const parsed = parseBankAmount(raw, exponent)
        if (Either.isLeft(parsed)) rowProblems.push(problem(line, parsed.left.code, parsed.left.message, "amount"))
        else amount = mapping.negate ? -parsed.right : parsed.right
      }
    } else {
      const rawCredit = cell(creditIdx).trim()
      const rawDebit = cell(debitIdx).trim()
      const credit = rawCredit === "" ? Either.right(0n) : parseBankAmount(rawCredit, exponent)
      const debit = rawDebit === "" ? Either.right(0n) : parseBankAmount(rawDebit, exponent)
      if (Either.isLeft(credit)) rowProblems.push(problem(line, credit.left.code, credit.left.message, "credit"))
      if (Either.isLeft(debit)) rowProblems.push(problem(line, debit.left.code, debit.left.message, "debit"))
      if (Either.isRight(credit) && Either.isRight(debit)) {
        const c = credit.right < 0n ? -credit.right : credit.right
        const d = debit.right < 0n ? -debit.right : debit.right
        if (c !== 0n && d !== 0n)
          rowProblems.push(problem(line, "validation.import_row", "A row has both a credit and a debit", "credit"))
        else amount = mapping.negate ? d - c : c - d
      }
    }
    if (amount === 0n) rowProblems.push(problem(line, "validation.amount_positive", "Amount is zero", "amount"))
    const description = clean(cell(descIdx))
    if (description === "")
      rowProblems.push(problem(line, "validation.import_row", "Description is empty", "description"))
    if (description.length > 500)
      rowProblems.push(
        problem(line, "validation.import_row", "Description is longer than 500 characters", "description")
      )
    if (rowProblems.length > 0 || date === null || amount === null) {
      problems.push(...rowProblems)
      if (problems.length >= 50) break
      continue
    }
    const payee = clean(cell(payeeIdx))
    const memo = clean(cell(memoIdx))
    rows.push({ line, date, description, amount_minor: amount, payee: payee || null, memo: memo || null, fit_id: null })
  }
  return problems.length > 0 ? Either.left(problems) : Either.right(rows)
}

interface OfxNode {
  readonly name: string
  readonly line: number
  value: string | null
  readonly children: Array<OfxNode>
}

/**
 * The OFX aggregates (elements that hold other elements) a bank or card statement file may
 * carry, from the OFX 1.6 / 2.1.1 specifications: signon, banking, credit card, account info.
 * Every other element is a leaf: in OFX 1.x SGML a leaf's end tag is optional, so an element
 * cannot be told from an aggregate by its shape — an empty `<MEMO>` would otherwise swallow the
 * fields after it.
 */
const OFX_AGGREGATES: ReadonlySet<string> = new Set([
  "OFX",
  // signon
  "SIGNONMSGSRQV1",
  "SIGNONMSGSRSV1",
  "SONRQ",
  "SONRS",
  "STATUS",
  "FI",
  // banking
  "BANKMSGSRQV1",
  "BANKMSGSRSV1",
  "STMTTRNRQ",
  "STMTTRNRS",
  "STMTRQ",
  "STMTRS",
  "INCTRAN",
  "BANKACCTFROM",
  "BANKACCTTO",
  "BANKTRANLIST",
  "STMTTRN",
  "PAYEE",
  "CURRENCY",
  "ORIGCURRENCY",
  "IMAGEDATA",
  "LEDGERBAL",
  "AVAILBAL",
  "BALLIST",
  "BAL",
  "STMTENDTRNRQ",
  "STMTENDTRNRS",
  "STMTENDRQ",
  "STMTENDRS",
  "CLOSING",
  // credit card
  "CREDITCARDMSGSRQV1",
  "CREDITCARDMSGSRSV1",
  "CCSTMTTRNRQ",
  "CCSTMTTRNRS",
  "CCSTMTRQ",
  "CCSTMTRS",
  "CCACCTFROM",
  "CCACCTTO",
  "REWARDINFO",
  "CCSTMTENDTRNRQ",
  "CCSTMTENDTRNRS",
  "CCSTMTENDRQ",
  "CCSTMTENDRS",
  "CCCLOSING",
  // account information
  "SIGNUPMSGSRQV1",
  "SIGNUPMSGSRSV1",
  "ACCTINFOTRNRQ",
  "ACCTINFOTRNRS",
  "ACCTINFORQ",
  "ACCTINFORS",
  "ACCTINFO",
  "BANKACCTINFO",
  "CCACCTINFO"
])

/**
 * Reads OFX 1.x SGML or 2.x XML into a tree of aggregates and leaf values. Only the aggregates
 * above hold children; any other element is a leaf whose value is the text up to the next tag
 * (none when empty: `<MEMO>` followed by a tag, `<MEMO></MEMO>` or `<MEMO/>`).
 */
const ofxTree = (content: string): Either.Either<OfxNode, RowProblem> => {
  const start = content.search(/<OFX>/i)
  if (start < 0) return Either.left(problem(1, "validation.import_ofx", "No <OFX> element found"))
  let line = content.slice(0, start).split("\n").length
  const root: OfxNode = { name: "#root", line: 1, value: null, children: [] }
  const stack: Array<OfxNode> = [root]
  const tag = /<(\/?)([A-Za-z0-9_.]+)[^>]*>/g
  tag.lastIndex = start
  let m: RegExpExecArray | null
  let last = start
  // the leaf whose value is the text before the next tag
  let pendingLeaf: OfxNode | null = null
  while ((m = tag.exec(content)) !== null) {
    const between = content.slice(last, m.index)
    line += between.split("\n").length - 1
    if (pendingLeaf && between.trim() !== "") pendingLeaf.value = decodeEntities(between.trim())
    const leafBefore = pendingLeaf
    pendingLeaf = null
    last = tag.lastIndex
    const name = m[2]!.toUpperCase()
    if (m[1] === "/") {
      // a leaf's own end tag (XML, or optional SGML) just ends its value
      if (leafBefore?.name === name) continue
      const at = stack.map((n) => n.name).lastIndexOf(name)
      if (at > 0) stack.length = at
      continue
    }
    const node: OfxNode = { name, line, value: null, children: [] }
    stack[stack.length - 1]!.children.push(node)
    if (m[0].endsWith("/>")) continue
    if (OFX_AGGREGATES.has(name)) stack.push(node)
    else pendingLeaf = node
  }
  return Either.right(root)
}

const decodeEntities = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")

const findAll = (node: OfxNode, name: string, out: Array<OfxNode> = []): Array<OfxNode> => {
  for (const c of node.children) {
    if (c.name === name) out.push(c)
    else findAll(c, name, out)
  }
  return out
}

const child = (node: OfxNode, name: string): OfxNode | undefined => node.children.find((c) => c.name === name)

const leaf = (node: OfxNode, ...path: ReadonlyArray<string>): OfxNode | undefined => {
  let n: OfxNode | undefined = node
  for (const p of path) n = n ? child(n, p) : undefined
  return n
}

/** What an OFX file says about itself besides its transactions. */
export interface OfxStatement {
  readonly currency: string | null
  readonly account_ids: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ParsedRow>
}

/** Parses an OFX (1.x SGML or 2.x XML) bank or credit-card statement file. */
export const parseOfxFile = (
  content: string,
  exponent: number
): Either.Either<OfxStatement, ReadonlyArray<RowProblem>> => {
  const tree = ofxTree(content)
  if (Either.isLeft(tree)) return Either.left([tree.left])
  const statements = [...findAll(tree.right, "STMTRS"), ...findAll(tree.right, "CCSTMTRS")]
  if (statements.length === 0)
    return Either.left([
      problem(1, "validation.import_ofx", "No bank or credit-card statement (STMTRS / CCSTMTRS) found")
    ])
  const currencies = new Set<string>()
  const accountIds = new Set<string>()
  const rows: Array<ParsedRow> = []
  const problems: Array<RowProblem> = []
  for (const st of statements) {
    const cur = leaf(st, "CURDEF")?.value
    if (cur) currencies.add(cur.toUpperCase())
    const acct = leaf(st, "BANKACCTFROM", "ACCTID")?.value ?? leaf(st, "CCACCTFROM", "ACCTID")?.value
    if (acct) accountIds.add(acct)
    for (const t of findAll(st, "STMTTRN")) {
      const rowProblems: Array<RowProblem> = []
      const posted = leaf(t, "DTPOSTED")
      const rawDate = posted?.value ?? ""
      const dm = /^(\d{4})(\d{2})(\d{2})/.exec(rawDate)
      const date = dm && CalendarDate.isValidYmd(Number(dm[1]), Number(dm[2]), Number(dm[3]))
        ? `${dm[1]}-${dm[2]}-${dm[3]}`
        : null
      if (date === null)
        rowProblems.push(
          problem(
            posted?.line ?? t.line,
            "validation.date",
            `DTPOSTED ${JSON.stringify(rawDate)} is not a date`,
            "DTPOSTED"
          )
        )
      const amt = leaf(t, "TRNAMT")
      let raw = amt?.value ?? ""
      if (/^[+-]?\d+,\d+$/.test(raw)) raw = raw.replace(",", ".")
      const parsed = raw === ""
        ? Either.left(new Errors.ValidationError({ code: "validation.amount_format", message: "TRNAMT is missing" }))
        : parseDecimal(raw, exponent, "TRNAMT")
      if (Either.isLeft(parsed))
        rowProblems.push(problem(amt?.line ?? t.line, parsed.left.code, parsed.left.message, "TRNAMT"))
      else if (parsed.right === 0n)
        rowProblems.push(problem(amt?.line ?? t.line, "validation.amount_positive", "TRNAMT is zero", "TRNAMT"))
      const name = clean(leaf(t, "NAME")?.value ?? leaf(t, "PAYEE", "NAME")?.value ?? undefined)
      const memo = clean(leaf(t, "MEMO")?.value ?? undefined)
      const fitId = clean(leaf(t, "FITID")?.value ?? undefined)
      const description = name || memo || clean(leaf(t, "TRNTYPE")?.value ?? undefined)
      if (description === "")
        rowProblems.push(problem(t.line, "validation.import_row", "Transaction has no NAME, MEMO or TRNTYPE", "NAME"))
      if (rowProblems.length > 0 || date === null || Either.isLeft(parsed)) {
        problems.push(...rowProblems)
        continue
      }
      rows.push({
        line: t.line,
        date,
        description: description.slice(0, 500),
        amount_minor: parsed.right,
        payee: name || null,
        memo: memo || null,
        fit_id: fitId || null
      })
    }
  }
  if (problems.length > 0) return Either.left(problems.slice(0, 50))
  return Either.right({
    currency: currencies.size === 1 ? [...currencies][0]! : currencies.size === 0 ? null : "MIXED",
    account_ids: [...accountIds],
    rows
  })
}

/**
 * Fingerprints of parsed rows: the bank's FITID when there is one, otherwise date, amount and
 * normalised description plus the occurrence number among identical rows of the same file — so
 * two identical coffees on one day stay two rows, and a re-imported file matches itself.
 *
 * A FITID is meant to be unique per account, but some banks repeat one inside a file (`0` on
 * every row, an id reused for a correction). Rows of one file that share a FITID but differ in
 * date, amount or description are different transactions: their fingerprint is the FITID plus
 * their content, so each is kept and the same file imported again still matches them. Rows
 * sharing a FITID and their content are one transaction listed twice (the second is skipped).
 */
export const fingerprints = (accountCode: string, rows: ReadonlyArray<ParsedRow>): ReadonlyArray<string> => {
  const content = (r: ParsedRow) => ({ d: r.date, m: r.amount_minor, t: r.description.toLowerCase() })
  const contentByFitId = new Map<string, string>()
  const reused = new Set<string>()
  for (const r of rows) {
    if (r.fit_id === null) continue
    const c = Canonical.canonicalJson(content(r))
    const first = contentByFitId.get(r.fit_id)
    if (first === undefined) contentByFitId.set(r.fit_id, c)
    else if (first !== c) reused.add(r.fit_id)
  }
  const seen = new Map<string, number>()
  return rows.map((r) => {
    if (r.fit_id !== null) {
      return reused.has(r.fit_id)
        ? Canonical.hashOf({ a: accountCode, fit: r.fit_id, ...content(r) })
        : Canonical.hashOf({ a: accountCode, fit: r.fit_id })
    }
    const base = Canonical.canonicalJson({ a: accountCode, ...content(r) })
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    return Canonical.sha256Hex(`${base}#${n}`)
  })
}

/** The error a refused file fails with: `validation.import_row`, the first problem's line first. */
export const importError = (problems: ReadonlyArray<RowProblem>): Errors.ValidationError => {
  const first = problems[0]!
  return new Errors.ValidationError({
    code: "validation.import_row",
    message: `Line ${first.line}: ${first.message}${
      problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : ""
    }; nothing was imported`,
    details: { line: first.line, problems: problems.slice(0, 50).map((p) => ({ ...p })) }
  })
}

import { Canonical } from "@airlock/core"
import { BankImport } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"

const rows = (e: Either.Either<ReadonlyArray<BankImport.ParsedRow>, unknown>) =>
  Either.getOrThrow(e).map((r) => [r.line, r.date, r.description, r.amount_minor])

const problems = (e: Either.Either<unknown, ReadonlyArray<BankImport.RowProblem>>) =>
  Either.isLeft(e) ? e.left.map((p) => [p.line, p.code]) : []

describe("CSV", () => {
  it("reads QuickBooks' three-column layout with quoting, BOM, CRLF and blank lines", () => {
    const csv =
      '\uFEFFDate,Description,Amount\r\n01/02/2024,"Coffee, large",-4.50\r\n\r\n01/03/2024,"Multi\nline","1,200.00"\r\n01/04/2024,Fee,(2.00)\r\n'
    expect(rows(BankImport.parseCsvFile(csv, 2))).toStrictEqual([
      [2, "2024-01-02", "Coffee, large", -450n],
      [4, "2024-01-03", "Multi line", 120000n],
      [6, "2024-01-04", "Fee", -200n]
    ])
  })

  it("reads single-digit months and days with the default MM/DD/YYYY", () => {
    const csv = "Date,Description,Amount\n1/5/2024,Coffee,-4.50\n12/31/2024,Deposit,10.00\n"
    expect(rows(BankImport.parseCsvFile(csv, 2))).toStrictEqual([
      [2, "2024-01-05", "Coffee", -450n],
      [3, "2024-12-31", "Deposit", 1000n]
    ])
    expect(problems(BankImport.parseCsvFile("Date,Description,Amount\n1/5/24,Coffee,-4.50\n", 2))).toStrictEqual([[
      2,
      "validation.date"
    ]])
  })

  it("reads the four-column layout: credit is money in, debit money out", () => {
    const csv =
      "Date,Description,Credit,Debit\n02/01/2024,Deposit,100.00,\n02/02/2024,Rent,,1500.00\n02/03/2024,Card,,-20.00\n"
    expect(rows(BankImport.parseCsvFile(csv, 2))).toStrictEqual([
      [2, "2024-02-01", "Deposit", 10000n],
      [3, "2024-02-02", "Rent", -150000n],
      [4, "2024-02-03", "Card", -2000n]
    ])
    expect(problems(BankImport.parseCsvFile("Date,Description,Credit,Debit\n02/01/2024,Both,1.00,2.00\n", 2)))
      .toStrictEqual([[2, "validation.import_row"]])
  })

  it("maps columns by name or index, with any date format and an optional sign flip", () => {
    const csv = "x;when;what;value\n;2024-03-05;Card purchase;12.50\n"
    const parsed = BankImport.parseCsvFile(csv, 2, {
      delimiter: ";",
      date_column: 1,
      description_column: "WHAT",
      amount_column: "value",
      date_format: "YYYY-MM-DD",
      negate: true
    })
    expect(rows(parsed)).toStrictEqual([[2, "2024-03-05", "Card purchase", -1250n]])
    const noHeader = BankImport.parseCsvFile("05/03/2024,Shop,-1\n", 2, {
      has_header: false,
      date_column: 0,
      description_column: 1,
      amount_column: 2,
      date_format: "DD/MM/YYYY"
    })
    expect(rows(noHeader)).toStrictEqual([[1, "2024-03-05", "Shop", -100n]])
  })

  it("reports every bad row with its line number and returns no rows", () => {
    const csv =
      'Date,Description,Amount\n01/01/2024,ok,1.00\n13/01/2024,bad date,1.00\n01/02/2024,,1.00\n01/03/2024,precise,1.001\n01/04/2024,zero,0\n01/05/2024,"open quote,1\n'
    const good =
      "Date,Description,Amount\n01/01/2024,ok,1.00\n13/01/2024,bad date,1.00\n01/02/2024,,1.00\n01/03/2024,precise,1.001\n01/04/2024,zero,0\n"
    expect(problems(BankImport.parseCsvFile(good, 2))).toStrictEqual([
      [3, "validation.date"],
      [4, "validation.import_row"],
      [5, "validation.amount_precision"],
      [6, "validation.amount_positive"]
    ])
    expect(problems(BankImport.parseCsvFile(csv, 2))).toStrictEqual([[7, "validation.import_csv"]])
    expect(problems(BankImport.parseCsvFile("Day,Text\n", 2))).toStrictEqual([[1, "validation.import_header"]])
  })

  it("reports a row spanning several lines, and an unclosed quote, at the line where the row starts", () => {
    const multi = 'Date,Description,Amount\n01/02/2024,"Multi\nline\nrow",abc\n\n01/03/2024,"Two\nlines",1.001\n'
    expect(problems(BankImport.parseCsvFile(multi, 2))).toStrictEqual([[2, "validation.amount_format"], [
      6,
      "validation.amount_precision"
    ]])
    const unclosed =
      'Date,Description,Amount\n01/01/2024,ok,1\n\n01/02/2024,"open,1\n01/03/2024,ok,2\n01/04/2024,ok,3\n'
    const refused = BankImport.parseCsvFile(unclosed, 2)
    expect(problems(refused)).toStrictEqual([[4, "validation.import_csv"]])
    expect(Either.isLeft(refused) && refused.left[0]!.message).toMatch(/never closed/)
    // a quoted CRLF is one line break; multi-byte characters do not shift the count
    const afterMultiline =
      '\ufeffDate,Description,Amount\r\n01/02/2024,"Caf\u00e9 \u20ac\r\nb",1\r\n\r\n01/03/2024,"bad"x,2\r\n'
    expect(problems(BankImport.parseCsvFile(afterMultiline, 2))).toStrictEqual([[5, "validation.import_csv"]])
    const crlf = 'Date,Description,Amount\r\n01/02/2024,"a\r\nb",1\r\n01/03/2024,c,x\r\n'
    expect(problems(BankImport.parseCsvFile(crlf, 2))).toStrictEqual([[4, "validation.amount_format"]])
  })

  it("refuses a row with more cells than the header (unquoted thousands separator or comma), naming its line", () => {
    const thousands = "Date,Description,Amount\n01/01/2024,Coffee,-4.50\n01/02/2024,Client deposit,1,234.56\n"
    const refused = BankImport.parseCsvFile(thousands, 2)
    expect(problems(refused)).toStrictEqual([[3, "validation.import_row"]])
    expect(Either.isLeft(refused) && refused.left[0]!.message).toContain("4 cells, header has 3")
    const comma = "Date,Description,Amount\n01/02/2024,Payment 1,200,-4.50\n"
    expect(problems(BankImport.parseCsvFile(comma, 2))).toStrictEqual([[2, "validation.import_row"]])
    const fourColumns = "Date,Description,Credit,Debit\n01/02/2024,Rent,,1,500.00\n"
    const wide = BankImport.parseCsvFile(fourColumns, 2)
    expect(problems(wide)).toStrictEqual([[2, "validation.import_row"]])
    expect(Either.isLeft(wide) && wide.left[0]!.message).toContain("5 cells, header has 4")
    // a trailing empty header cell is padding, not a column
    expect(problems(BankImport.parseCsvFile("Date,Description,Amount,\n01/02/2024,Payment 1,200,-4.50\n", 2)))
      .toStrictEqual([[2, "validation.import_row"]])
  })

  it("accepts short rows and empty trailing cells; a mapping may read past the header by index", () => {
    const csv =
      "Date,Description,Credit,Debit\n02/01/2024,Deposit,100.00\n02/02/2024,Rent,,1500.00,,\n02/03/2024,Fee,,2.00, \n"
    expect(rows(BankImport.parseCsvFile(csv, 2))).toStrictEqual([
      [2, "2024-02-01", "Deposit", 10000n],
      [3, "2024-02-02", "Rent", -150000n],
      [4, "2024-02-03", "Fee", -200n]
    ])
    const padded = "Date,Description,Amount,,\n02/01/2024,Coffee,-4.50,,\n"
    expect(rows(BankImport.parseCsvFile(padded, 2))).toStrictEqual([[2, "2024-02-01", "Coffee", -450n]])
    const byIndex = "Date,Description\n02/01/2024,Coffee,-4.50\n"
    expect(rows(BankImport.parseCsvFile(byIndex, 2, { amount_column: 2 }))).toStrictEqual([[
      2,
      "2024-02-01",
      "Coffee",
      -450n
    ]])
    expect(problems(BankImport.parseCsvFile("Date,Description\n02/01/2024,Coffee,-4.50,x\n", 2, { amount_column: 2 })))
      .toStrictEqual([[2, "validation.import_row"]])
  })

  it("fingerprints keep identical rows distinct within a file and equal across re-imports", () => {
    const parsed = Either.getOrThrow(
      BankImport.parseCsvFile("Date,Description,Amount\n01/02/2024,Coffee,-4.50\n01/02/2024,COFFEE,-4.50\n", 2)
    )
    const a = BankImport.fingerprints("1000", parsed)
    expect(new Set(a).size).toBe(2)
    expect(BankImport.fingerprints("1000", parsed)).toStrictEqual(a)
    expect(BankImport.fingerprints("1100", parsed)[0]).not.toBe(a[0])
  })
})

describe("fingerprints", () => {
  const row = (
    line: number,
    date: string,
    description: string,
    amount_minor: bigint,
    fit_id: string | null
  ): BankImport.ParsedRow => ({
    line,
    date,
    description,
    amount_minor,
    payee: null,
    memo: null,
    fit_id
  })

  it("a FITID repeated with different content in one file keeps both rows; repeated with the same content, one", () => {
    const rows = [
      row(1, "2024-01-01", "Shop A", -100n, "0"),
      row(2, "2024-01-02", "Shop B", -25000n, "0"),
      row(3, "2024-01-01", "shop a", -100n, "0"),
      row(4, "2024-01-03", "Rent", -90000n, "R1"),
      row(5, "2024-01-03", "Rent", -90000n, "R1")
    ]
    const prints = BankImport.fingerprints("1000", rows)
    expect(prints[0]).not.toBe(prints[1])
    expect(prints[2]).toBe(prints[0])
    expect(prints[4]).toBe(prints[3])
    expect(new Set(prints).size).toBe(3)
    // the same file again gives the same fingerprints, and another account others
    expect(BankImport.fingerprints("1000", rows)).toStrictEqual(prints)
    expect(BankImport.fingerprints("1100", rows)[1]).not.toBe(prints[1])
    // the amount alone, or the date alone, tells two rows apart
    const amount = BankImport.fingerprints("1000", [
      row(1, "2024-01-01", "Shop", -100n, "7"),
      row(2, "2024-01-01", "Shop", -200n, "7")
    ])
    const date = BankImport.fingerprints("1000", [
      row(1, "2024-01-01", "Shop", -100n, "7"),
      row(2, "2024-01-02", "Shop", -100n, "7")
    ])
    expect(new Set(amount).size).toBe(2)
    expect(new Set(date).size).toBe(2)
  })

  it("fingerprints of files imported before stay what they were: the FITID alone, or content plus occurrence", () => {
    const rows = [
      row(1, "2024-01-01", "Coffee", -450n, null),
      row(2, "2024-01-01", "COFFEE", -450n, null),
      row(3, "2024-01-02", "Rent", -100n, "F1")
    ]
    const base = Canonical.canonicalJson({ a: "1000", d: "2024-01-01", m: -450n, t: "coffee" })
    expect(BankImport.fingerprints("1000", rows)).toStrictEqual([
      Canonical.sha256Hex(`${base}#0`),
      Canonical.sha256Hex(`${base}#1`),
      Canonical.hashOf({ a: "1000", fit: "F1" })
    ])
  })
})

describe("OFX", () => {
  it("reads SGML leaf tags without closing tags, entities, and credit-card statements", () => {
    const ofx =
      "OFXHEADER:100\n<OFX><CREDITCARDMSGSRSV1><CCSTMTTRNRS><CCSTMTRS><CURDEF>USD<CCACCTFROM><ACCTID>4111</CCACCTFROM>\n<BANKTRANLIST>\n<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240301<TRNAMT>-10.5<FITID>A1<NAME>Tom &amp; Co<MEMO>lunch</STMTTRN>\n<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240302<TRNAMT>3,25<FITID>A2<MEMO>refund</STMTTRN>\n</BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>"
    const s = Either.getOrThrow(BankImport.parseOfxFile(ofx, 2))
    expect([s.currency, s.account_ids]).toStrictEqual(["USD", ["4111"]])
    expect(s.rows.map((r) => [r.line, r.date, r.description, r.amount_minor, r.fit_id, r.memo])).toStrictEqual([
      [4, "2024-03-01", "Tom & Co", -1050n, "A1", "lunch"],
      [5, "2024-03-02", "refund", 325n, "A2", "refund"]
    ])
  })

  it("reads an empty leaf (SGML `<MEMO>` with no value, XML `<MEMO/>` or `<MEMO></MEMO>`) without swallowing the fields after it", () => {
    const fields = (ofx: string) =>
      Either.getOrThrow(BankImport.parseOfxFile(ofx, 2)).rows.map((
        r
      ) => [r.line, r.date, r.description, r.amount_minor, r.fit_id, r.payee, r.memo])
    const sgml =
      "OFXHEADER:100\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>1<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST>\n" +
      "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240101<TRNAMT>-1.00<MEMO><FITID>A1<NAME>Shop</STMTTRN>\n" +
      "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240102<TRNAMT>-2.00<FITID>A2<NAME><MEMO>card 4411<SIC></STMTTRN>\n" +
      "</BANKTRANLIST><LEDGERBAL><BALAMT>10.00<DTASOF>20240131</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    expect(fields(sgml)).toStrictEqual([
      [3, "2024-01-01", "Shop", -100n, "A1", "Shop", null],
      [4, "2024-01-02", "card 4411", -200n, "A2", null, "card 4411"]
    ])
    const xml =
      '<?xml version="1.0"?>\n<OFX><CREDITCARDMSGSRSV1><CCSTMTTRNRS><CCSTMTRS><CURDEF>USD</CURDEF><CCACCTFROM><ACCTID>4111</ACCTID></CCACCTFROM><BANKTRANLIST>\n' +
      "<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240101</DTPOSTED><TRNAMT>-1.00</TRNAMT><MEMO/><FITID>A1</FITID><NAME>Shop</NAME></STMTTRN>\n" +
      "<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240102</DTPOSTED><TRNAMT>-2.00</TRNAMT><NAME></NAME><MEMO>x</MEMO><FITID>A2</FITID><CHECKNUM /></STMTTRN>\n" +
      "<STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>20240103</DTPOSTED><TRNAMT>3.00</TRNAMT><FITID>A3</FITID><PAYEE><NAME>Payee Co</NAME><ADDR1/><CITY>Oslo</CITY></PAYEE><MEMO>m</MEMO></STMTTRN>\n" +
      "</BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>"
    const s = Either.getOrThrow(BankImport.parseOfxFile(xml, 2))
    expect(s.account_ids).toStrictEqual(["4111"])
    expect(fields(xml)).toStrictEqual([
      [3, "2024-01-01", "Shop", -100n, "A1", "Shop", null],
      [4, "2024-01-02", "x", -200n, "A2", null, "x"],
      [5, "2024-01-03", "Payee Co", 300n, "A3", "Payee Co", "m"]
    ])
  })

  it("reports the line of a bad field and refuses files without a statement", () => {
    const ofx =
      "<OFX><STMTRS><CURDEF>USD\n<BANKTRANLIST>\n<STMTTRN><DTPOSTED>20240230<TRNAMT>1.00<FITID>X<NAME>a</STMTTRN>\n<STMTTRN><DTPOSTED>20240201\n<TRNAMT>abc<FITID>Y<NAME>b</STMTTRN>\n</BANKTRANLIST></STMTRS></OFX>"
    expect(problems(BankImport.parseOfxFile(ofx, 2))).toStrictEqual([[3, "validation.date"], [
      5,
      "validation.amount_format"
    ]])
    expect(problems(BankImport.parseOfxFile("hello", 2))).toStrictEqual([[1, "validation.import_ofx"]])
    expect(problems(BankImport.parseOfxFile("<OFX><SIGNONMSGSRSV1></SIGNONMSGSRSV1></OFX>", 2))).toStrictEqual([[
      1,
      "validation.import_ofx"
    ]])
  })
})

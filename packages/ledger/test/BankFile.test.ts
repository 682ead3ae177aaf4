/**
 * Raw bank files: the format a content type names, and text decoded without ever losing a
 * character (strict UTF-8, then the OFX header's charset, then the content type's).
 */
import { BankFile } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"

/** Bytes of a string whose characters are all below 256 (a Windows-1252 / Latin-1 file). */
const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))

// Excel's "CSV" on Windows: Windows-1252, é is the single byte 0xE9
const cp1252 = latin1Bytes("Date,Description,Amount\n01/02/2024,Caf\xe9 Nord,-4.50\n")
const text = "Date,Description,Amount\n01/02/2024,Café Nord,-4.50\n"

const refusal = (e: Either.Either<string, { code: string; message: string; details?: unknown }>) =>
  Either.match(e, {
    onRight: (t) => ({ text: t }),
    onLeft: (x) => ({ code: x.code, message: x.message, details: x.details })
  })

describe("BankFile", () => {
  it("a content type names its format; parameters and case do not matter", () => {
    expect([
      BankFile.formatOf("text/csv"),
      BankFile.formatOf("Text/CSV; charset=windows-1252"),
      BankFile.formatOf("application/csv"),
      BankFile.formatOf("text/comma-separated-values"),
      BankFile.formatOf("application/x-ofx"),
      BankFile.formatOf("application/ofx"),
      BankFile.formatOf("text/x-ofx"),
      BankFile.formatOf("text/ofx"),
      BankFile.formatOf("application/octet-stream"),
      BankFile.formatOf(undefined)
    ]).toStrictEqual(["csv", "csv", "csv", "csv", "ofx", "ofx", "ofx", "ofx", undefined, undefined])
    expect(BankFile.mediaType(" Text/CSV ; charset=x")).toBe("text/csv")
    expect([
      BankFile.charsetOf('text/csv; charset="ISO-8859-1"'),
      BankFile.charsetOf("text/csv;CHARSET=utf-8"),
      BankFile.charsetOf("text/csv")
    ])
      .toStrictEqual(["ISO-8859-1", "utf-8", undefined])
  })

  it("UTF-8 bytes decode as they are, a BOM dropped, whatever charset is named", () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)])
    expect(refusal(BankFile.decode(bytes, "csv", "text/csv; charset=windows-1252"))).toStrictEqual({ text })
    expect(refusal(BankFile.decode(new TextEncoder().encode(text), "csv", undefined))).toStrictEqual({ text })
  })

  it("bytes that are not UTF-8 decode with the charset named, never with replacement characters", () => {
    expect(refusal(BankFile.decode(cp1252, "csv", "text/csv; charset=windows-1252"))).toStrictEqual({ text })
    expect(refusal(BankFile.decode(cp1252, "csv", 'text/csv; charset="ISO-8859-1"'))).toStrictEqual({ text })
  })

  it("with no charset named, a wrong one or an unknown one, the file is refused with validation.encoding", () => {
    const none = refusal(BankFile.decode(cp1252, "csv", "text/csv"))
    expect(none).toMatchObject({ code: "validation.encoding", details: { line: 2 } })
    expect("message" in none && none.message).toMatch(/charset=windows-1252/)
    expect(refusal(BankFile.decode(cp1252, "csv", "text/csv; charset=utf-8"))).toStrictEqual({
      code: "validation.encoding",
      message: "The file is not valid utf-8 text, the charset its Content-Type names",
      details: { charset: "utf-8", source: "Content-Type", line: 2 }
    })
    expect(refusal(BankFile.decode(cp1252, "csv", "text/csv; charset=x-no-such-charset"))).toStrictEqual({
      code: "validation.encoding",
      message: 'Unsupported charset "x-no-such-charset" (from the Content-Type)',
      details: { charset: "x-no-such-charset", source: "Content-Type" }
    })
  })

  it("an OFX file's own charset (1.x header, 2.x XML declaration) wins over the content type, UTF-8 content over both", () => {
    const sgml = "OFXHEADER:100\nCHARSET:1252\n<OFX><NAME>Caf\xe9</NAME></OFX>"
    expect(refusal(BankFile.decode(latin1Bytes(sgml), "ofx", "application/x-ofx; charset=x-no-such-charset")))
      .toStrictEqual({ text: sgml.replace("\xe9", "é") })
    const xml = '<?xml version="1.0" encoding="ISO-8859-1"?><OFX><NAME>Caf\xe9</NAME></OFX>'
    expect(BankFile.ofxDeclaredCharset(latin1Bytes(xml))).toBe("ISO-8859-1")
    expect(refusal(BankFile.decode(latin1Bytes(xml), "ofx", undefined))).toStrictEqual({
      text: xml.replace("\xe9", "é")
    })
    // a header saying CHARSET:1252 over UTF-8 content (common boilerplate): the bytes are UTF-8
    const utf8 = sgml.replace("\xe9", "é")
    expect(refusal(BankFile.decode(new TextEncoder().encode(utf8), "ofx", undefined))).toStrictEqual({ text: utf8 })
    // a CSV never reads an OFX header
    expect(refusal(BankFile.decode(latin1Bytes(sgml), "csv", undefined))).toMatchObject({ code: "validation.encoding" })
  })

  it("text decoded elsewhere is refused when it lost bytes (U+FFFD), else kept without its BOM", () => {
    expect(refusal(BankFile.fromDecodedText("Caf\uFFFD"))).toMatchObject({ code: "validation.encoding" })
    expect(refusal(BankFile.fromDecodedText(`\uFEFF${text}`))).toStrictEqual({ text })
  })
})

/**
 * A raw bank file as it arrives: bytes and the MIME type they were sent with. This module finds
 * the format (CSV or OFX) a media type names and turns the bytes into text without ever losing a
 * character: strict UTF-8 first, else the charset the OFX file declares, else the charset its
 * content type names; a file that none of those decodes is refused with `validation.encoding`.
 * Pure: an adapter (HTTP, a file watcher) hands it what it received and passes the text on to
 * `BankTransactions.importFile`.
 */
import { Errors } from "@airlock/core"
import { Either } from "effect"

/** The raw formats a bank file comes in. */
export type Format = "csv" | "ofx"

const CSV_TYPES = new Set(["text/csv", "application/csv", "text/comma-separated-values"])
const OFX_TYPES = new Set(["application/x-ofx", "application/ofx", "text/x-ofx", "text/ofx"])

/** The media type of a content type, lower case, without parameters (`text/csv`). */
export const mediaType = (contentType: string | undefined): string =>
  (contentType ?? "").split(";")[0]!.trim().toLowerCase()

/** The format a content type names (`text/csv`, `application/x-ofx`, …), or undefined. */
export const formatOf = (contentType: string | undefined): Format | undefined => {
  const media = mediaType(contentType)
  return CSV_TYPES.has(media) ? "csv" : OFX_TYPES.has(media) ? "ofx" : undefined
}

/** The `charset=` parameter of a content type, if any. */
export const charsetOf = (contentType: string | undefined): string | undefined =>
  /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? "")?.[1]

/**
 * The charset an OFX file declares itself: the OFX 1.x header `CHARSET:1252` (or `ISO-8859-1`),
 * or the XML declaration's `encoding` in OFX 2.x.
 */
export const ofxDeclaredCharset = (bytes: Uint8Array): string | undefined => {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 512))
  if (/CHARSET:\s*(1252|(ISO-?)?8859-1)\b/i.test(head)) return "windows-1252"
  return /<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/i.exec(head)?.[1]
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** A decoder for a charset label (fatal: bytes it cannot map fail), or undefined when unknown. */
const decoderFor = (label: string) => {
  try {
    return new TextDecoder(label, { fatal: true })
  } catch {
    return undefined
  }
}

const encodingError = (message: string, details: Record<string, unknown>) =>
  new Errors.ValidationError({ code: "validation.encoding", message, details })

/** The 1-based line of the first byte sequence that is not UTF-8 (a hint for the error). */
const firstBadUtf8Line = (bytes: Uint8Array): number => {
  const lossy = new TextDecoder("utf-8").decode(bytes)
  const at = lossy.indexOf("\uFFFD")
  return at < 0 ? 1 : lossy.slice(0, at).split("\n").length
}

const withoutBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

/**
 * The text of a raw bank file, never with replacement characters: strict UTF-8 first (a UTF-8
 * BOM is dropped) — text in another charset is almost never valid UTF-8, and OFX headers often
 * say `CHARSET:1252` over UTF-8 content. Failing that, the charset the OFX file declares, else
 * the content type's `charset=` (any label `TextDecoder` knows: `windows-1252`, `iso-8859-1`, …);
 * with neither the file is refused with `validation.encoding` rather than stored with its
 * accents replaced by U+FFFD.
 */
export const decode = (
  bytes: Uint8Array,
  format: Format,
  contentType: string | undefined
): Either.Either<string, Errors.ValidationError> => {
  try {
    return Either.right(withoutBom(utf8.decode(bytes)))
  } catch {
    // not UTF-8: below
  }
  const declared = format === "ofx" ? ofxDeclaredCharset(bytes) : undefined
  const label = declared ?? charsetOf(contentType)
  const source = declared !== undefined ? "file header" : "Content-Type"
  if (label === undefined) {
    const line = firstBadUtf8Line(bytes)
    return Either.left(encodingError(
      `Line ${line}: the file is not UTF-8 text. Save it as UTF-8 (Excel: "CSV UTF-8"), or name its encoding, e.g. Content-Type: text/csv; charset=windows-1252`,
      { line }
    ))
  }
  const decoder = decoderFor(label)
  if (decoder === undefined) {
    return Either.left(
      encodingError(`Unsupported charset ${JSON.stringify(label)} (from the ${source})`, { charset: label, source })
    )
  }
  return Either.try({
    try: () => withoutBom(decoder.decode(bytes)),
    catch: () =>
      encodingError(`The file is not valid ${decoder.encoding} text, the charset its ${source} names`, {
        charset: label,
        source,
        ...(decoder.encoding === "utf-8" ? { line: firstBadUtf8Line(bytes) } : {})
      })
  })
}

/**
 * A file that reached the adapter already decoded as UTF-8 by someone else (no bytes left):
 * refused when it holds U+FFFD, since bytes were lost on the way; a BOM is dropped.
 */
export const fromDecodedText = (text: string): Either.Either<string, Errors.ValidationError> =>
  text.includes("\uFFFD")
    ? Either.left(
      new Errors.ValidationError({
        code: "validation.encoding",
        message: "The file is not UTF-8 text; name its encoding with Content-Type: text/csv; charset=…",
        details: {}
      })
    )
    : Either.right(withoutBom(text))

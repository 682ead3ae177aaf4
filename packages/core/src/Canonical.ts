/**
 * Canonical JSON and hashing: one byte-exact encoding of a value (sorted keys, bigints as
 * decimal strings, no undefined), so hashes of audit records and plans are reproducible on
 * every adapter and in every process.
 */
import { createHash, timingSafeEqual } from "node:crypto"

/** Encodes `value` as canonical JSON: object keys sorted, bigint as string, undefined dropped. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || value === undefined) return "null"
  switch (typeof value) {
    case "bigint":
      return JSON.stringify(value.toString())
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number")
      return JSON.stringify(value)
    case "string":
    case "boolean":
      return JSON.stringify(value)
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
      if (value instanceof Date) return JSON.stringify(value.toISOString())
      const entries = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      return `{${entries.join(",")}}`
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`)
  }
}

/** Hex SHA-256 of a UTF-8 string. */
export const sha256Hex = (input: string): string => createHash("sha256").update(input, "utf8").digest("hex")

/** Hex SHA-256 of the canonical JSON of `value`: the hash of a plan, an audit record, a file. */
export const hashOf = (value: unknown): string => sha256Hex(canonicalJson(value))

/** Compares two hex digests in constant time (for the same length; unequal lengths are unequal). */
export const constantTimeEqualHex = (a: string, b: string): boolean => {
  const ab = Buffer.from(a, "utf8")
  const bb = Buffer.from(b, "utf8")
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab)
    return false
  }
  return timingSafeEqual(ab, bb)
}

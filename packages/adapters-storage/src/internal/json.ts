/**
 * JSON encoding of stored values shared by the memory and SQL adapters, so both give back the
 * same value: bigints as decimal strings, dates as ISO strings, undefined members dropped.
 */

const bigintsAsStrings = (_k: string, x: unknown) => (typeof x === "bigint" ? x.toString() : x)

/** A value as JSON text (`null` for null or undefined), bigints written as strings. */
export const toJson = (v: unknown): string => {
  // a replacer function puts JSON.stringify on its slow path; only values holding a bigint need it
  try {
    return JSON.stringify(v ?? null)
  } catch {
    return JSON.stringify(v ?? null, bigintsAsStrings)
  }
}

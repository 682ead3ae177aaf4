/** Page sizes of the ledger's listings. */
import { Schema } from "effect"

/**
 * A requested page size: a number, or its decimal string as it arrives in a query string. It
 * must be finite: `NumberFromString` reads "NaN" and "Infinity", and a NaN limit would reach SQL
 * as a type error and memory as an empty page.
 */
export const PageLimit = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite())

/** The page size to use: the request's, floored and clamped to 1..`max`, or `fallback`. */
export const pageSize = (limit: number | undefined, max: number, fallback = 100): number =>
  Math.min(Math.max(Math.floor(limit !== undefined && Number.isFinite(limit) ? limit : fallback), 1), max)

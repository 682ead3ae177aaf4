/**
 * Money in guardrails: US dollars as `bigint` **micro-dollars** (1 USD = 1_000_000). Micro-dollars
 * keep budgets, caps and execution estimates exact and make LLM prices exact too: a price is given
 * per million tokens in micro-dollars (`$0.15 / 1M tokens` = `150_000`), so `tokens × price` is an
 * exact integer in micro-dollars × 10⁻⁶, and a call's cost is that product divided by 10⁶, rounded
 * up (a meter never under-counts; the rounding is below one micro-dollar per call). Decimals appear
 * only at the edges: `"12.34"` in, `"12.34"` out; more than six decimals is refused, never rounded.
 */
import { Errors } from "@airlock/core"
import { Either, ParseResult, Schema } from "effect"

/** Micro-dollars in one dollar. */
export const MICROS_PER_USD = 1_000_000n

/** An amount of US dollars in micro-dollars. */
export type UsdMicros = bigint

const DECIMAL = /^(-?)(\d{1,15})(?:\.(\d+))?$/

/**
 * Micro-dollars of a decimal text, or why not: `"format"` (not a decimal amount) or `"precision"`
 * (more than six decimals). No allocation beyond the result: cost estimates are read from every
 * proposal's payload.
 */
export const microsOf = (input: string | number): UsdMicros | "format" | "precision" => {
  const text = typeof input === "number" ? (Number.isFinite(input) ? String(input) : "NaN") : input.trim()
  const m = DECIMAL.exec(text)
  if (!m) return "format"
  const fraction = m[3] ?? ""
  if (fraction.length > 6) return "precision"
  // one decimal parse of the digits with the fraction padded to six places: whole × 10⁶ + fraction
  const micros = BigInt(m[2]! + fraction.padEnd(6, "0"))
  return m[1] === "-" ? -micros : micros
}

/** Parses a decimal dollar amount (`"12.34"`, `12.34`, `"0.000185"`) into micro-dollars. */
export const parseUsd = (
  input: string | number,
  field = "amount"
): Either.Either<UsdMicros, Errors.ValidationError> => {
  const micros = microsOf(input)
  if (micros === "format") {
    return Either.left(
      new Errors.ValidationError({
        code: "validation.amount",
        message: `${field} must be a decimal dollar amount`,
        details: { field, value: String(input) }
      })
    )
  }
  if (micros === "precision") {
    return Either.left(
      new Errors.ValidationError({
        code: "validation.amount_precision",
        message: `${field} has more than 6 decimal places`,
        details: { field, value: String(input) }
      })
    )
  }
  return Either.right(micros)
}

/** Parses a non-negative dollar amount; negative amounts are refused with `validation.amount_negative`. */
export const parseUsdNonNegative = (
  input: string | number,
  field = "amount"
): Either.Either<UsdMicros, Errors.ValidationError> =>
  Either.flatMap(parseUsd(input, field), (v) =>
    v < 0n
      ? Either.left(
        new Errors.ValidationError({
          code: "validation.amount_negative",
          message: `${field} must not be negative`,
          details: { field }
        })
      )
      : Either.right(v))

/** Formats micro-dollars as a decimal string with at least two decimals (`"50.00"`, `"0.000185"`). */
export const formatUsd = (micros: UsdMicros): string => {
  const negative = micros < 0n
  const abs = negative ? -micros : micros
  let whole: string
  let digits: string
  if (abs <= MAX_SAFE) {
    // exact in doubles below 2^53: number arithmetic instead of bigint division
    const n = Number(abs)
    const fraction = n % 1_000_000
    whole = String((n - fraction) / 1_000_000)
    digits = String(fraction).padStart(6, "0")
  } else {
    whole = (abs / MICROS_PER_USD).toString()
    digits = (abs % MICROS_PER_USD).toString().padStart(6, "0")
  }
  let end = 6
  while (end > 2 && digits.charCodeAt(end - 1) === 48) end--
  return `${negative ? "-" : ""}${whole}.${digits.slice(0, end)}`
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** Micro-dollars from a literal decimal string, for configuration defaults; throws on bad input. */
export const usd = (decimal: string): UsdMicros => Either.getOrThrowWith(parseUsd(decimal), (e) => new Error(e.message))

/** `ceil(a / b)` for non-negative bigints. */
export const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b

/**
 * Schema of a non-negative dollar amount: decodes `"12.34"` or `12.34` into micro-dollars and
 * encodes back to a decimal string. Refuses more than six decimals with `validation.amount_precision`.
 */
export const Usd: Schema.Schema<UsdMicros, string | number> = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  Schema.BigIntFromSelf,
  {
    strict: true,
    decode: (input, _, ast) =>
      Either.mapLeft(parseUsdNonNegative(input), (e) => new ParseResult.Type(ast, input, `${e.code}: ${e.message}`)),
    encode: (micros) => ParseResult.succeed(formatUsd(micros))
  }
)

/** Schema of micro-dollars carried as an integer string (storage and inter-process form). */
export const Micros: Schema.Schema<UsdMicros, string> = Schema.BigInt

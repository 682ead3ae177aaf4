/**
 * Money at the edges. Inside Airlock an amount is always an integer count of the currency's
 * minor units (`bigint`); decimals exist only where people and files meet the system. Parsing
 * never rounds: an input with more (non-zero) decimals than the currency has is refused with
 * `validation.amount_precision`, and so is a JS number that is not exact at that precision.
 */
import { Errors } from "@airlock/core"
import { Either, Schema } from "effect"

/**
 * Minor-unit exponents of the ISO 4217 currencies Airlock knows out of the box. A host may pass
 * further ones wherever a table is accepted.
 */
export const CurrencyExponents: Readonly<Record<string, number>> = {
  AED: 2,
  ARS: 2,
  AUD: 2,
  BGN: 2,
  BHD: 3,
  BRL: 2,
  CAD: 2,
  CHF: 2,
  CLP: 0,
  CNY: 2,
  COP: 2,
  CZK: 2,
  DKK: 2,
  EGP: 2,
  EUR: 2,
  GBP: 2,
  HKD: 2,
  HUF: 2,
  IDR: 2,
  ILS: 2,
  INR: 2,
  ISK: 0,
  JOD: 3,
  JPY: 0,
  KES: 2,
  KRW: 0,
  KWD: 3,
  MAD: 2,
  MXN: 2,
  MYR: 2,
  NGN: 2,
  NOK: 2,
  NZD: 2,
  OMR: 3,
  PEN: 2,
  PHP: 2,
  PKR: 2,
  PLN: 2,
  QAR: 2,
  RON: 2,
  RSD: 2,
  SAR: 2,
  SEK: 2,
  SGD: 2,
  THB: 2,
  TND: 3,
  TRY: 2,
  TWD: 2,
  UAH: 2,
  UGX: 0,
  USD: 2,
  VND: 0,
  XAF: 0,
  XOF: 0,
  ZAR: 2
}

/** A currency code: three upper-case letters. */
export const CurrencyCode = Schema.String.pipe(
  Schema.maxLength(3),
  Schema.pattern(/^[A-Z]{3}$/),
  Schema.annotations({ identifier: "CurrencyCode" })
)
/** Type of {@link CurrencyCode}. */
export type CurrencyCode = typeof CurrencyCode.Type

/**
 * Largest absolute amount accepted, in minor units (10^15): far above any real posting. It
 * bounds one amount, not a sum: a few thousand such lines on one account add up past a signed
 * 64-bit column, which the stores guard separately (see {@link MAX_TOTAL_MINOR}).
 */
export const MAX_ABS_MINOR = 10n ** 15n

/**
 * Largest materialised total a store keeps — an account's debits, or its credits, of one day:
 * 2^63 − 1, what a signed 64-bit column holds. A post that would pass it is refused with
 * `validation.amount_range`; sums over several days are exact beyond it.
 */
export const MAX_TOTAL_MINOR = 2n ** 63n - 1n

/** Amount in minor units; encoded in JSON as a string of digits (e.g. `"1234"` for 12.34 USD). */
export const MinorUnits = Schema.BigInt.pipe(Schema.annotations({ identifier: "MinorUnits" }))

/** An amount as given at an edge: a decimal string (`"12.34"`) or an exact JS number. */
export const DecimalInput = Schema.Union(Schema.String.pipe(Schema.maxLength(64)), Schema.Number).pipe(
  Schema.annotations({ identifier: "DecimalInput", description: 'Decimal amount, e.g. "12.34"' })
)
/** Type of {@link DecimalInput}. */
export type DecimalInput = typeof DecimalInput.Type

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/** The exponent of `currency`, or `validation.currency` when it is unknown. */
export const exponentOf = (
  currency: string,
  table: Readonly<Record<string, number>> = CurrencyExponents
): Either.Either<number, Errors.ValidationError> => {
  // own keys only: "toString", "constructor", … are found on every object's prototype
  const e = Object.hasOwn(table, currency) ? table[currency] : undefined
  return e === undefined
    ? Either.left(invalid("validation.currency", `Unknown currency ${currency}`, { currency }))
    : Either.right(e)
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d*))?$/
const DECIMAL_LEADING_DOT = /^([+-])?()\.(\d+)$/

/**
 * Parses a decimal string into minor units with `exponent` decimals. Trailing zeros beyond the
 * exponent are accepted (the value is exact); any other extra digit is refused, never rounded.
 */
export const parseDecimal = (
  input: string,
  exponent: number,
  field = "amount"
): Either.Either<bigint, Errors.ValidationError> => {
  const text = input.trim()
  const m = DECIMAL.exec(text) ?? DECIMAL_LEADING_DOT.exec(text)
  if (!m || text.length > 40) {
    return Either.left(
      invalid("validation.amount_format", `${field} is not a decimal number: ${JSON.stringify(input.slice(0, 40))}`, {
        field,
        value: input.slice(0, 40)
      })
    )
  }
  const negative = m[1] === "-"
  const whole = m[2] === "" ? "0" : m[2]!
  const fraction = m[3] ?? ""
  const kept = fraction.slice(0, exponent)
  const extra = fraction.slice(exponent)
  if (/[1-9]/.test(extra)) {
    return Either.left(
      invalid("validation.amount_precision", `${field} has more decimals than the currency allows (${exponent})`, {
        field,
        value: text,
        allowed_decimals: exponent
      })
    )
  }
  const minor = BigInt(whole + kept.padEnd(exponent, "0"))
  if (minor > MAX_ABS_MINOR) {
    return Either.left(invalid("validation.amount_range", `${field} is too large`, { field, value: text }))
  }
  return Either.right(negative ? -minor : minor)
}

/**
 * Converts a JS number into minor units, only when it is exact at the currency's precision:
 * `12.34` is 1234 cents, `0.1 + 0.2` (0.30000000000000004) is refused, and so is any number
 * too large to be exact in binary floating point.
 */
export const parseNumber = (
  input: number,
  exponent: number,
  field = "amount"
): Either.Either<bigint, Errors.ValidationError> => {
  if (!Number.isFinite(input)) {
    return Either.left(invalid("validation.amount_format", `${field} is not a finite number`, { field }))
  }
  if (Math.abs(input) * 10 ** exponent > Number.MAX_SAFE_INTEGER) {
    return Either.left(
      invalid("validation.amount_range", `${field} is too large to be exact as a number; send it as a string`, {
        field
      })
    )
  }
  // the shortest round-trip form is the decimal the sender meant; exponent notation only
  // appears for tiny magnitudes here, and those are never exact at a currency's precision
  const text = String(input)
  if (/e/i.test(text)) {
    return Either.left(
      invalid("validation.amount_precision", `${field} is not exact at ${exponent} decimals`, {
        field,
        value: text,
        allowed_decimals: exponent
      })
    )
  }
  return parseDecimal(text, exponent, field)
}

/** Parses an edge amount (decimal string or exact number) for `currency` into minor units. */
export const parseAmount = (
  input: DecimalInput,
  currency: string,
  options: { readonly field?: string; readonly table?: Readonly<Record<string, number>> } = {}
): Either.Either<bigint, Errors.ValidationError> =>
  Either.flatMap(
    exponentOf(currency, options.table),
    (exp) =>
      typeof input === "number" ? parseNumber(input, exp, options.field) : parseDecimal(input, exp, options.field)
  )

/** Formats minor units as a plain decimal string with the exponent's decimals (`-12.30`, `1500`). */
export const formatMinor = (minor: bigint, exponent: number): string => {
  const negative = minor < 0n
  const digits = (negative ? -minor : minor).toString()
  if (exponent === 0) return (negative ? "-" : "") + digits
  const padded = digits.padStart(exponent + 1, "0")
  const whole = padded.slice(0, padded.length - exponent)
  return `${negative ? "-" : ""}${whole}.${padded.slice(padded.length - exponent)}`
}

/** Formats minor units of `currency` (unknown currencies format with 2 decimals). */
export const formatAmount = (
  minor: bigint,
  currency: string,
  table: Readonly<Record<string, number>> = CurrencyExponents
): string => formatMinor(minor, (Object.hasOwn(table, currency) ? table[currency] : undefined) ?? 2)

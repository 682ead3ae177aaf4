/**
 * Money at the JSON edge. Inside Airlock an amount is a `bigint` of minor units (cents); on the
 * wire it is a decimal string such as `"12.34"`. Decoding is exact: a string with more decimals
 * than the currency has is refused with `validation.amount_precision` (never rounded), and JSON
 * numbers are refused with `validation.amount_type` because a parsed number may already have
 * been rounded by the JSON parser (`0.30000000000000001` arrives as `0.3`).
 *
 * Route groups use {@link Amount} (fixed scale), {@link AmountIn} (a known currency) or
 * {@link Money} (amount and currency in one object) in their `Api.ts` schemas; failures surface
 * as 400 with the issue's code (see `ApiError`).
 */
import { Either, ParseResult, Schema } from "effect"
import { codedMessage } from "./internal/issues.js"

/** The largest magnitude stored (fits a signed 64-bit BIGINT column). */
export const MAX_MINOR: bigint = 2n ** 63n - 1n

const EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
const EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
const EXPONENT_4 = "CLF UYW"
const EXPONENT_2 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
  "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD " +
  "HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU " +
  "MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK " +
  "SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG " +
  "YER ZAR ZMW ZWG"

const scales: ReadonlyMap<string, number> = new Map([
  ...EXPONENT_0.split(" ").map((c) => [c, 0] as const),
  ...EXPONENT_2.split(" ").map((c) => [c, 2] as const),
  ...EXPONENT_3.split(" ").map((c) => [c, 3] as const),
  ...EXPONENT_4.split(" ").map((c) => [c, 4] as const)
])

/** The number of minor-unit digits of an ISO 4217 currency (`USD` 2, `JPY` 0, `KWD` 3), or undefined. */
export const scaleOf = (currency: string): number | undefined => scales.get(currency)

/** Why a decimal string is not an amount; `code` is the stable error code clients see. */
export interface AmountIssue {
  readonly code: "validation.amount_format" | "validation.amount_precision" | "validation.amount_range"
  readonly message: string
}

const DECIMAL = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

/**
 * Parses a decimal string into minor units at `scale`, exactly. Digits beyond the scale are
 * accepted only when they are zeros (`"1.50"` at scale 1 is 15), so nothing is ever rounded.
 */
export const parseAmount = (input: string, scale: number): Either.Either<bigint, AmountIssue> => {
  const m = DECIMAL.exec(input)
  if (m === null) {
    return Either.left({
      code: "validation.amount_format",
      message: `Amount ${JSON.stringify(input.slice(0, 40))} is not a decimal number such as "12.34"`
    })
  }
  const [, sign, whole, fraction = ""] = m
  const kept = fraction.slice(0, scale)
  if (/[^0]/.test(fraction.slice(scale))) {
    return Either.left({
      code: "validation.amount_precision",
      message: `Amount ${input} has more decimals than the currency allows (${scale}); it is never rounded`
    })
  }
  if (whole!.length > 20) return Either.left({ code: "validation.amount_range", message: `Amount ${input.slice(0, 40)} is too large` })
  const magnitude = BigInt(whole! + kept.padEnd(scale, "0"))
  if (magnitude > MAX_MINOR) return Either.left({ code: "validation.amount_range", message: `Amount ${input} is too large` })
  return Either.right(sign === "-" ? -magnitude : magnitude)
}

/** Formats minor units as a decimal string with exactly `scale` decimals (`1234n`, 2 → `"12.34"`). */
export const formatAmount = (minor: bigint, scale: number): string => {
  const negative = minor < 0n
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, "0")
  const whole = scale === 0 ? digits : digits.slice(0, digits.length - scale)
  const fraction = scale === 0 ? "" : `.${digits.slice(digits.length - scale)}`
  return `${negative ? "-" : ""}${whole}${fraction}`
}

const typeIssue = (ast: Schema.Schema.AnyNoContext["ast"], actual: unknown) =>
  new ParseResult.Type(
    ast,
    actual,
    codedMessage("validation.amount_type", 'Amounts are decimal strings such as "12.34", not JSON numbers')
  )

const decodeAt = (scale: number, actual: unknown, ast: Schema.Schema.AnyNoContext["ast"]) => {
  if (typeof actual !== "string") return ParseResult.fail(typeIssue(ast, actual))
  return Either.match(parseAmount(actual, scale), {
    onLeft: (issue) => ParseResult.fail(new ParseResult.Type(ast, actual, codedMessage(issue.code, issue.message))),
    onRight: ParseResult.succeed
  })
}

/** A JSON amount at a fixed scale: decimal string on the wire, `bigint` minor units in code. */
export const Amount = (scale: number): Schema.Schema<bigint, string> =>
  Schema.transformOrFail(Schema.Unknown, Schema.BigIntFromSelf, {
    strict: true,
    decode: (actual, _, ast) => decodeAt(scale, actual, ast),
    encode: (minor) => ParseResult.succeed(formatAmount(minor, scale))
  }).annotations({
    jsonSchema: { type: "string", pattern: DECIMAL.source, description: `decimal amount with at most ${scale} decimals` }
  }) as unknown as Schema.Schema<bigint, string>

/** A JSON amount in a known currency (its ISO 4217 scale). */
export const AmountIn = (currency: string): Schema.Schema<bigint, string> => {
  const scale = scaleOf(currency)
  if (scale === undefined) throw new Error(`Unknown currency ${currency}`)
  return Amount(scale)
}

/** An ISO 4217 currency code Airlock knows the scale of (`validation.currency` otherwise). */
export const Currency: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((c) => scales.has(c) || codedMessage("validation.currency", `Unknown currency ${JSON.stringify(c.slice(0, 10))}`))
)

/** Money in code: minor units and currency. */
export interface MoneyValue {
  readonly amount: bigint
  readonly currency: string
}

/** Money on the wire: `{ "amount": "12.34", "currency": "USD" }`, decoded with the currency's scale. */
export const Money: Schema.Schema<MoneyValue, { readonly amount: string; readonly currency: string }> = Schema.transformOrFail(
  Schema.Struct({
    amount: Schema.Unknown.annotations({ jsonSchema: { type: "string", pattern: DECIMAL.source, description: "decimal amount" } }),
    currency: Currency
  }),
  Schema.Struct({ amount: Schema.BigIntFromSelf, currency: Schema.String }),
  {
    strict: true,
    decode: (input, _, ast) =>
      ParseResult.map(decodeAt(scaleOf(input.currency)!, input.amount, ast), (amount) => ({ amount, currency: input.currency })),
    encode: (money, _, ast) => {
      const scale = scaleOf(money.currency)
      return scale === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, money, `Unknown currency ${money.currency}`))
        : ParseResult.succeed({ amount: formatAmount(money.amount, scale), currency: money.currency })
    }
  }
) as unknown as Schema.Schema<MoneyValue, { readonly amount: string; readonly currency: string }>

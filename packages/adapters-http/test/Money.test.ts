import { ApiError, Money } from "@airlock/adapters-http"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, ParseResult, Schema } from "effect"
import fc from "fast-check"

const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown) => Schema.decodeUnknownEither(schema)(input)

/** The error code a request with this body would be refused with. */
const refusal = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string =>
  Either.match(decode(schema, input), {
    onRight: () => "accepted",
    onLeft: (e) => ApiError.fromDecodeError(Effect.runSync(HttpApiDecodeError.fromParseError(e))).code
  })

describe("Money at the JSON edge", () => {
  it("decimal strings decode exactly to minor units and back", () => {
    const usd = Money.AmountIn("USD")
    expect(Either.getOrThrow(decode(usd, "12.34"))).toBe(1234n)
    expect(Either.getOrThrow(decode(usd, "-0.05"))).toBe(-5n)
    expect(Either.getOrThrow(decode(usd, "7"))).toBe(700n)
    expect(Either.getOrThrow(decode(usd, "7.5"))).toBe(750n)
    expect(Either.getOrThrow(decode(usd, "92233720368547758.07"))).toBe(2n ** 63n - 1n)
    expect(Either.getOrThrow(decode(Money.AmountIn("JPY"), "1500"))).toBe(1500n)
    expect(Either.getOrThrow(decode(Money.AmountIn("KWD"), "1.234"))).toBe(1234n)
    expect(Schema.encodeSync(usd)(1234n)).toBe("12.34")
    expect(Schema.encodeSync(usd)(-5n)).toBe("-0.05")
    expect(Schema.encodeSync(Money.AmountIn("JPY"))(1500n)).toBe("1500")
    expect(Schema.encodeSync(Money.AmountIn("KWD"))(1n)).toBe("0.001")
  })

  it("more decimals than the currency allows is refused, never rounded", () => {
    const usd = Money.AmountIn("USD")
    for (const input of ["12.345", "0.001", "1.999", "-0.005", "12.3401"]) {
      expect(refusal(usd, input), input).toBe("validation.amount_precision")
    }
    expect(refusal(Money.AmountIn("JPY"), "1.5")).toBe("validation.amount_precision")
    // trailing zeros change nothing, so they are exact
    expect(Either.getOrThrow(decode(usd, "12.3400"))).toBe(1234n)
  })

  it("numbers, junk and out-of-range amounts are refused with their own codes", () => {
    const usd = Money.AmountIn("USD")
    for (const input of [12.34, 12, 0.1 + 0.2, 1e21]) expect(refusal(usd, input), String(input)).toBe("validation.amount_type")
    for (const input of ["", " 1.00", "1.00 ", "+1", "1e3", "1,000.00", ".5", "5.", "0x10", "NaN", "Infinity", "--1", "01.00", "１２"]) {
      expect(refusal(usd, input), JSON.stringify(input)).toBe("validation.amount_format")
    }
    expect(refusal(usd, "92233720368547758.08")).toBe("validation.amount_range")
    expect(refusal(usd, "9".repeat(30))).toBe("validation.amount_range")
    expect(refusal(usd, null)).toBe("validation.amount_type")
  })

  it("Money objects decode with their currency's scale; unknown currencies are refused", () => {
    expect(Either.getOrThrow(decode(Money.Money, { amount: "1.5", currency: "JPY" }).pipe(Either.orElse(() => Either.right("refused"))))).toBe("refused")
    expect(Either.getOrThrow(decode(Money.Money, { amount: "1.50", currency: "EUR" }))).toStrictEqual({ amount: 150n, currency: "EUR" })
    expect(refusal(Money.Money, { amount: "1.505", currency: "EUR" })).toBe("validation.amount_precision")
    expect(refusal(Money.Money, { amount: "1.50", currency: "XXX" })).toBe("validation.currency")
    expect(refusal(Money.Money, { amount: "1.50", currency: "usd" })).toBe("validation.currency")
    expect(refusal(Money.Money, { currency: "USD" })).toBe("validation.amount_type")
    expect(Schema.encodeSync(Money.Money)({ amount: -123456n, currency: "BHD" })).toStrictEqual({ amount: "-123.456", currency: "BHD" })
    expect(() => Money.AmountIn("ZZZ")).toThrow()
  })

  it("round trip: every bigint formats and parses back to itself at every scale", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n) + 1n, max: 2n ** 63n - 1n }), fc.integer({ min: 0, max: 4 }), (minor, scale) => {
        const text = Money.formatAmount(minor, scale)
        expect(Money.parseAmount(text, scale)).toStrictEqual(Either.right(minor))
      })
    )
  })

  it("a parse never rounds: the value re-formatted has the input's digits", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/), fc.integer({ min: 0, max: 4 }), (input, scale) => {
        const parsed = Money.parseAmount(input, scale)
        const fraction = input.split(".")[1] ?? ""
        const exact = fraction.slice(scale).replace(/0/g, "") === ""
        expect(Either.isRight(parsed)).toBe(exact)
        if (Either.isRight(parsed)) {
          const [, sign, whole, frac = ""] = /^(-?)(\d+)(?:\.(\d+))?$/.exec(input)!
          const digits = scale === 0 ? whole : `${whole}.${frac.padEnd(scale, "0").slice(0, scale)}`
          expect(Money.formatAmount(parsed.right, scale)).toBe(parsed.right === 0n ? digits : `${sign}${digits}`)
        }
      })
    )
  })

  it("issues carry their code through ParseResult", () => {
    const e = Either.getLeft(decode(Money.AmountIn("USD"), "1.001"))
    expect(e._tag).toBe("Some")
    const text = ParseResult.TreeFormatter.formatErrorSync((e as any).value)
    expect(text).toContain("[validation.amount_precision]")
  })
})

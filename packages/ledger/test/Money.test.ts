import { CalendarDate, LedgerConfig, Money } from "@airlock/ledger"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"

const ok = <A>(e: Either.Either<A, unknown>) => Either.getOrThrow(e)
const code = <A>(e: Either.Either<A, { code: string }>) => (Either.isLeft(e) ? e.left.code : "ok")

describe("Money", () => {
  it("knows a currency only by the table's own keys, never by names on Object's prototype", () => {
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expect([name, code(Money.exponentOf(name))]).toStrictEqual([name, "validation.currency"])
      expect([name, code(Money.parseAmount("1.00", name))]).toStrictEqual([name, "validation.currency"])
    }
    expect(ok(Money.exponentOf("JPY"))).toBe(0)
    expect(Money.formatAmount(1234n, "toString")).toBe("12.34")
  })

  it.effect("AIRLOCK_LEDGER_DEFAULT_CURRENCY must be a currency of the table, not a prototype name", () =>
    Effect.gen(function*() {
      const read = (value: string) =>
        Effect.either(
          Effect.withConfigProvider(
            LedgerConfig.config,
            ConfigProvider.fromMap(new Map([["AIRLOCK_LEDGER_DEFAULT_CURRENCY", value]]))
          )
        )
      expect(Either.isLeft(yield* read("toString"))).toBe(true)
      expect(Either.isLeft(yield* read("constructor"))).toBe(true)
      expect(Either.map(yield* read("EUR"), (c) => c.defaultCurrency)).toStrictEqual(Either.right("EUR"))
    }))

  it("parses decimals into minor units per currency exponent", () => {
    expect(ok(Money.parseAmount("12.34", "USD"))).toBe(1234n)
    expect(ok(Money.parseAmount("-0.05", "USD"))).toBe(-5n)
    expect(ok(Money.parseAmount("1500", "JPY"))).toBe(1500n)
    expect(ok(Money.parseAmount("1.234", "KWD"))).toBe(1234n)
    expect(ok(Money.parseAmount(".5", "EUR"))).toBe(50n)
    expect(ok(Money.parseAmount("7.", "EUR"))).toBe(700n)
  })

  it("refuses decimals beyond the currency (never rounds) but accepts exact trailing zeros", () => {
    expect(code(Money.parseAmount("10.005", "USD"))).toBe("validation.amount_precision")
    expect(code(Money.parseAmount("10.5", "JPY"))).toBe("validation.amount_precision")
    expect(code(Money.parseAmount("1.2345", "BHD"))).toBe("validation.amount_precision")
    expect(ok(Money.parseAmount("10.500", "USD"))).toBe(1050n)
    expect(ok(Money.parseAmount("3.000", "JPY"))).toBe(3n)
  })

  it("accepts a JS number only when it is exact at the currency's precision", () => {
    expect(ok(Money.parseAmount(12.34, "USD"))).toBe(1234n)
    expect(ok(Money.parseAmount(0.1, "USD"))).toBe(10n)
    expect(code(Money.parseAmount(0.1 + 0.2, "USD"))).toBe("validation.amount_precision")
    expect(code(Money.parseAmount(1e-7, "USD"))).toBe("validation.amount_precision")
    expect(code(Money.parseAmount(2 ** 53, "USD"))).toBe("validation.amount_range")
    expect(code(Money.parseAmount(Number.NaN, "USD"))).toBe("validation.amount_format")
  })

  it("refuses malformed text, unknown currencies and absurd magnitudes", () => {
    for (const bad of ["", "1,000.00", "1e5", "12.3.4", "$12", "abc", " - 1"]) {
      expect([bad, code(Money.parseAmount(bad, "USD"))]).toStrictEqual([bad, "validation.amount_format"])
    }
    expect(code(Money.parseAmount("1", "ZZZ"))).toBe("validation.currency")
    expect(code(Money.parseAmount("10000000000000.01", "USD"))).toBe("validation.amount_range")
  })

  it("formats minor units back exactly", () => {
    expect(Money.formatAmount(1234n, "USD")).toBe("12.34")
    expect(Money.formatAmount(-5n, "USD")).toBe("-0.05")
    expect(Money.formatAmount(1500n, "JPY")).toBe("1500")
    expect(Money.formatAmount(1n, "BHD")).toBe("0.001")
    expect(Money.formatAmount(0n, "EUR")).toBe("0.00")
  })
})

describe("CalendarDate", () => {
  it("validates real days, leap years included", () => {
    expect(CalendarDate.isCalendarDate("2024-02-29")).toBe(true)
    expect(CalendarDate.isCalendarDate("2023-02-29")).toBe(false)
    expect(CalendarDate.isCalendarDate("1900-02-29")).toBe(false)
    expect(CalendarDate.isCalendarDate("2000-02-29")).toBe(true)
    expect(CalendarDate.isCalendarDate("2024-1-05")).toBe(false)
  })

  it("does day arithmetic without the host clock or time zone", () => {
    expect(CalendarDate.previousDay("2024-03-01")).toBe("2024-02-29")
    expect(CalendarDate.nextDay("2023-12-31")).toBe("2024-01-01")
    expect(CalendarDate.fromMillis(0)).toBe("1970-01-01")
    expect(CalendarDate.fromMillis(1_709_164_800_000)).toBe("2024-02-29")
    for (const d of ["1999-12-31", "2024-02-29", "2100-03-01"]) {
      expect(CalendarDate.fromEpochDay(CalendarDate.toEpochDay(d))).toBe(d)
    }
  })

  it("reads bank date formats strictly", () => {
    expect(CalendarDate.parseWithFormat("01/02/2024", "MM/DD/YYYY")).toBe("2024-01-02")
    expect(CalendarDate.parseWithFormat("01/02/2024", "DD/MM/YYYY")).toBe("2024-02-01")
    expect(CalendarDate.parseWithFormat("1/2/24", "M/D/YY")).toBe("2024-01-02")
    expect(CalendarDate.parseWithFormat("15.01.2024", "DD.MM.YYYY")).toBe("2024-01-15")
    expect(CalendarDate.parseWithFormat("2024-01-15", "YYYY-MM-DD")).toBe("2024-01-15")
    expect(CalendarDate.parseWithFormat("02/30/2024", "MM/DD/YYYY")).toBe(null)
    expect(CalendarDate.parseWithFormat("2024/01/15", "MM/DD/YYYY")).toBe(null)
  })

  it("reads a month or day of one or two digits between separators (QuickBooks' template and Excel write 1/5/2024)", () => {
    expect(CalendarDate.parseWithFormat("1/5/2024", "MM/DD/YYYY")).toBe("2024-01-05")
    expect(CalendarDate.parseWithFormat("12/5/2024", "MM/DD/YYYY")).toBe("2024-12-05")
    expect(CalendarDate.parseWithFormat("1/15/2024", "MM/DD/YYYY")).toBe("2024-01-15")
    expect(CalendarDate.parseWithFormat("5.3.2024", "DD.MM.YYYY")).toBe("2024-03-05")
    expect(CalendarDate.parseWithFormat("2024-3-5", "YYYY-MM-DD")).toBe("2024-03-05")
    // never three digits, and years keep their width
    expect(CalendarDate.parseWithFormat("001/05/2024", "MM/DD/YYYY")).toBe(null)
    expect(CalendarDate.parseWithFormat("1/5/24", "MM/DD/YYYY")).toBe(null)
    expect(CalendarDate.parseWithFormat("1/5/202", "MM/DD/YY")).toBe(null)
    expect(CalendarDate.parseWithFormat("13/5/2024", "MM/DD/YYYY")).toBe(null)
    // numbers with no separator between them keep their width: 2024115 is not a day
    expect(CalendarDate.parseWithFormat("20240105", "YYYYMMDD")).toBe("2024-01-05")
    expect(CalendarDate.parseWithFormat("2024115", "YYYYMMDD")).toBe(null)
    expect(CalendarDate.parseWithFormat("01052024", "MMDDYYYY")).toBe("2024-01-05")
    expect(CalendarDate.parseWithFormat("1052024", "MMDDYYYY")).toBe(null)
  })
})

/**
 * Accounting dates: plain calendar days written `YYYY-MM-DD`, with no time zone. They compare
 * as strings, so period locks and "as of" queries are string comparisons on every adapter.
 */
import { Calendar, Errors } from "@airlock/core"
import { Clock, Effect, Either, Schema } from "effect"

const ISO = /^(\d{4})-(\d{2})-(\d{2})$/

const daysIn = (year: number, month: number) =>
  month === 2
    ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28)
    : [4, 6, 9, 11].includes(month)
    ? 30
    : 31

/** Is `y-m-d` a real calendar day (years 1900–9999)? */
export const isValidYmd = (y: number, m: number, d: number): boolean =>
  Number.isInteger(y) && y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)

/** Is `s` a valid `YYYY-MM-DD` day? */
export const isCalendarDate = (s: string): boolean => {
  const m = ISO.exec(s)
  return m !== null && isValidYmd(Number(m[1]), Number(m[2]), Number(m[3]))
}

/** A calendar day `YYYY-MM-DD`. */
export const CalendarDate = Schema.String.pipe(
  Schema.maxLength(10),
  Schema.filter((s) => isCalendarDate(s) || "a real calendar day written YYYY-MM-DD"),
  Schema.annotations({ identifier: "CalendarDate" })
)
/** Type of {@link CalendarDate}. */
export type CalendarDate = typeof CalendarDate.Type

/** Formats year, month, day as `YYYY-MM-DD`. */
export const ymd = (y: number, m: number, d: number): string =>
  `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`

/** Validates a `YYYY-MM-DD` string, failing with `validation.date`. */
export const parse = (s: string, field = "date"): Either.Either<string, Errors.ValidationError> =>
  isCalendarDate(s)
    ? Either.right(s)
    : Either.left(
      new Errors.ValidationError({
        code: "validation.date",
        message: `${field} must be a calendar day YYYY-MM-DD`,
        details: { field, value: String(s).slice(0, 40) }
      })
    )

/** Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian). */
export const toEpochDay = (date: string): number =>
  Calendar.daysFromCivil(Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10)))

/** The `YYYY-MM-DD` date of a day count since 1970-01-01. */
export const fromEpochDay = (days: number): string => {
  const { d, m, y } = Calendar.civilFromDays(days)
  return ymd(y, m, d)
}

/** The UTC calendar day of a millisecond timestamp (pure arithmetic, no host clock or zone). */
export const fromMillis = (millis: number): string => fromEpochDay(Math.floor(millis / 86_400_000))

/** Today (UTC) from Effect's `Clock`. */
export const today: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, fromMillis)

/** The day before `date`. */
export const previousDay = (date: string): string => fromEpochDay(toEpochDay(date) - 1)

/** The day after `date`. */
export const nextDay = (date: string): string => fromEpochDay(toEpochDay(date) + 1)

/** Supported tokens of a bank file's date format. */
export const DATE_FORMAT_TOKENS = ["YYYY", "YY", "MM", "M", "DD", "D"] as const

type FormatToken = { readonly kind: "Y" | "y" | "M" | "D"; readonly width: 1 | 2 | 4 } | {
  readonly kind: "literal"
  readonly text: string
}

const tokenize = (format: string): Array<FormatToken> => {
  const out: Array<FormatToken> = []
  for (let i = 0; i < format.length;) {
    const rest = format.slice(i)
    const token: FormatToken = rest.startsWith("YYYY")
      ? { kind: "Y", width: 4 }
      : rest.startsWith("YY")
      ? { kind: "y", width: 2 }
      : rest.startsWith("MM")
      ? { kind: "M", width: 2 }
      : rest.startsWith("M")
      ? { kind: "M", width: 1 }
      : rest.startsWith("DD")
      ? { kind: "D", width: 2 }
      : rest.startsWith("D")
      ? { kind: "D", width: 1 }
      : { kind: "literal", text: format[i]! }
    i += token.kind === "literal" ? 1 : token.width
    out.push(token)
  }
  return out
}

/**
 * Parses a date written in `format` (tokens `YYYY YY MM M DD D`, any other character literal,
 * e.g. `MM/DD/YYYY`, `DD.MM.YYYY`, `YYYY-MM-DD`) into `YYYY-MM-DD`; `null` when it does not
 * match or is not a real day. Two-digit years are 2000–2099.
 *
 * Bank files are lenient about leading zeros: QuickBooks' own template and Excel write
 * `1/5/2024` for `MM/DD/YYYY`, so a month or day takes one or two digits (`MM` reads like `M`,
 * `DD` like `D`). Where a month or day touches another number with no separator between them
 * (`YYYYMMDD`) it takes exactly its width, or `2024115` would be read as two different days.
 * Years always take exactly their width.
 */
export const parseWithFormat = (input: string, format: string): string | null => {
  const tokens = tokenize(format)
  const isNumber = (t: FormatToken | undefined) => t !== undefined && t.kind !== "literal"
  let pattern = "^"
  const order: Array<"Y" | "y" | "M" | "D"> = []
  tokens.forEach((t, i) => {
    if (t.kind === "literal") {
      pattern += t.text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")
      return
    }
    order.push(t.kind)
    if (t.kind === "Y" || t.kind === "y") pattern += `(\\d{${t.width}})`
    else if (t.width === 1 || (!isNumber(tokens[i - 1]) && !isNumber(tokens[i + 1]))) pattern += "(\\d{1,2})"
    else pattern += "(\\d{2})"
  })
  const m = new RegExp(pattern + "$").exec(input.trim())
  if (!m) return null
  let y = 0
  let mo = 0
  let d = 0
  order.forEach((t, idx) => {
    const v = Number(m[idx + 1])
    if (t === "Y") y = v
    else if (t === "y") y = 2000 + v
    else if (t === "M") mo = v
    else d = v
  })
  return isValidYmd(y, mo, d) ? ymd(y, mo, d) : null
}

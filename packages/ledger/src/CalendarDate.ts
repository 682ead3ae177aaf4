/**
 * Accounting dates: plain calendar days written `YYYY-MM-DD`, with no time zone. They compare
 * as strings, so period locks and "as of" queries are string comparisons on every adapter.
 */
import { Clock, Effect, Either, Schema } from "effect"
import { Errors } from "@airlock/core"

const ISO = /^(\d{4})-(\d{2})-(\d{2})$/

const daysIn = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

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
    : Either.left(new Errors.ValidationError({ code: "validation.date", message: `${field} must be a calendar day YYYY-MM-DD`, details: { field, value: String(s).slice(0, 40) } }))

/** Days since 1970-01-01 of a civil date (proleptic Gregorian; Hinnant's algorithm). */
export const toEpochDay = (date: string): number => {
  let y = Number(date.slice(0, 4))
  const m = Number(date.slice(5, 7))
  const d = Number(date.slice(8, 10))
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The civil date of a day count since 1970-01-01. */
export const fromEpochDay = (days: number): string => {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp + (mp < 10 ? 3 : -9)
  return ymd(yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
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

/**
 * Parses a date written in `format` (tokens `YYYY YY MM M DD D`, any other character literal,
 * e.g. `MM/DD/YYYY`, `DD.MM.YYYY`, `YYYY-MM-DD`) into `YYYY-MM-DD`; `null` when it does not
 * match or is not a real day. Two-digit years are 2000–2099.
 */
export const parseWithFormat = (input: string, format: string): string | null => {
  let pattern = "^"
  const order: Array<"Y" | "y" | "M" | "D"> = []
  for (let i = 0; i < format.length;) {
    const rest = format.slice(i)
    if (rest.startsWith("YYYY")) {
      pattern += "(\\d{4})"
      order.push("Y")
      i += 4
    } else if (rest.startsWith("YY")) {
      pattern += "(\\d{2})"
      order.push("y")
      i += 2
    } else if (rest.startsWith("MM")) {
      pattern += "(\\d{2})"
      order.push("M")
      i += 2
    } else if (rest.startsWith("M")) {
      pattern += "(\\d{1,2})"
      order.push("M")
      i += 1
    } else if (rest.startsWith("DD")) {
      pattern += "(\\d{2})"
      order.push("D")
      i += 2
    } else if (rest.startsWith("D")) {
      pattern += "(\\d{1,2})"
      order.push("D")
      i += 1
    } else {
      pattern += format[i]!.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")
      i += 1
    }
  }
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

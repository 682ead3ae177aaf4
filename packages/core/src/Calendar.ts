/**
 * Proleptic Gregorian calendar arithmetic on day counts since 1970-01-01 (Hinnant's algorithms):
 * pure integer math, no `Date` and no host time zone, shared by every package that keys things
 * by UTC day or month.
 */

/** A civil date: year, month 1–12, day 1–31. */
export interface CivilDate {
  readonly y: number
  readonly m: number
  readonly d: number
}

/** The civil date of a day count since 1970-01-01. */
export const civilFromDays = (days: number): CivilDate => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return { y: era * 400 + yoe + (m <= 2 ? 1 : 0), m, d }
}

/** Days since 1970-01-01 of a civil date (inverse of {@link civilFromDays}). */
export const daysFromCivil = (year: number, m: number, d: number): number => {
  const y = m <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

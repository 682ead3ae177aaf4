/**
 * The pure math of guardrails: fixed and sliding windows, retry-after, trailing sums, UTC
 * calendar periods (day and month keys, month rollover). No clock is read here: every function
 * takes `now` in epoch milliseconds, so the services feed it from Effect's `Clock` and tests from
 * `TestClock`.
 */
import { Calendar } from "@airlock/core"

/** Start of the fixed window of `sizeMs` that contains `now`. */
export const windowStart = (now: number, sizeMs: number): number => Math.floor(now / sizeMs) * sizeMs

/**
 * How much of the previous fixed window still counts in a sliding window at `now`: its count
 * weighted by the part of it the sliding window still covers, rounded up (never under-counts).
 */
export const previousWeight = (previous: number, now: number, sizeMs: number): number => {
  const elapsed = now - windowStart(now, sizeMs)
  return Math.floor((previous * (sizeMs - elapsed) + sizeMs - 1) / sizeMs)
}

/** The sliding-window estimate of events in the last `sizeMs`: weighted previous + current. */
export const slidingCount = (previous: number, current: number, now: number, sizeMs: number): number =>
  previousWeight(previous, now, sizeMs) + current

/**
 * How many events the current fixed window may hold at `now` so the sliding estimate stays
 * within `limit` (the cap an atomic conditional increment enforces).
 */
export const slidingCapacity = (limit: number, previous: number, now: number, sizeMs: number): number =>
  Math.max(0, limit - previousWeight(previous, now, sizeMs))

/**
 * Milliseconds until a sliding-window limiter refusing at `now` (previous window count
 * `previous`, current `current`) would admit one more event. Pure; at least 1 ms.
 */
export const retryAfterMs = (limit: number, previous: number, current: number, now: number, sizeMs: number): number => {
  const start = windowStart(now, sizeMs)
  const elapsed = now - start
  // still in this window: need ceil(P·(S−e)/S) ≤ L − C − 1
  const room = limit - current - 1
  if (room >= 0 && previous > 0) {
    // smallest e with P·(S−e) ≤ room·S  ⇔  e ≥ S·(P − room)/P
    const e = Math.ceil((sizeMs * (previous - room)) / previous)
    if (e < sizeMs) return Math.max(1, e - elapsed)
  }
  // next window: the current count becomes the previous one; need ceil(C·(S−e)/S) ≤ L − 1
  const untilNext = sizeMs - elapsed
  if (current <= limit - 1) return Math.max(1, untilNext)
  const e = Math.ceil((sizeMs * (current - (limit - 1))) / current)
  return Math.max(1, untilNext + e)
}

/** Whole seconds to wait, at least 1 (what `Retry-After` carries). */
export const toRetrySeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

/** Starts of the buckets of `bucketMs` covering the trailing `windowMs` that ends at `now` (the first bucket counts whole, so the window rounds outward and never under-counts). */
export const trailingBuckets = (
  now: number,
  windowMs: number,
  bucketMs: number
): { readonly from: number; readonly to: number } => {
  const to = windowStart(now, bucketMs)
  const from = windowStart(now - windowMs + 1, bucketMs)
  return { from, to }
}

// --- UTC calendar -----------------------------------------------------------------------------

const DAY_MS = 86_400_000

const civil = Calendar.civilFromDays
const daysFromCivil = Calendar.daysFromCivil

const pad = (n: number, w: number) => String(n).padStart(w, "0")

// the month of the last call: budgets ask for the current month on every gate evaluation
let lastMonth = { from: 0, to: 0, key: "" }

/** The UTC month of `now` as `YYYY-MM` (the key budgets reset on). */
export const monthKey = (now: number): string => {
  if (now >= lastMonth.from && now < lastMonth.to) return lastMonth.key
  const { y, m } = civil(Math.floor(now / DAY_MS))
  const key = `${pad(y, 4)}-${pad(m, 2)}`
  lastMonth = {
    from: daysFromCivil(y, m, 1) * DAY_MS,
    to: daysFromCivil(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) * DAY_MS,
    key
  }
  return key
}

/** The UTC day of `now` as `YYYY-MM-DD`. */
export const dayKey = (now: number): string => {
  const { y, m, d } = civil(Math.floor(now / DAY_MS))
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`
}

/** Epoch milliseconds when the UTC month after the one containing `now` starts. */
export const nextMonthStart = (now: number): number => {
  const { y, m } = civil(Math.floor(now / DAY_MS))
  return daysFromCivil(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) * DAY_MS
}

/** Epoch milliseconds of a UTC civil date at midnight (for tests and fixtures). */
export const utcMillis = (y: number, m: number, d: number): number => daysFromCivil(y, m, d) * DAY_MS

/** A budget period: calendar month or day (UTC). */
export type Period = "month" | "day"

/** The key of the period containing `now`. */
export const periodKey = (period: Period, now: number): string => (period === "month" ? monthKey(now) : dayKey(now))

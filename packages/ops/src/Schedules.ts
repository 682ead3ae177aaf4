/**
 * Schedules: what runs when. A schedule names a host-registered target, a timing (a standard
 * cron expression read in the schedule's time zone, or `@every:N` seconds), whether it is
 * enabled, and two policies with stated defaults — overlap (`skip`) and catch-up (`once`). This
 * module is pure: the record, the input schemas, validation with stable codes, and the due-time
 * arithmetic the scheduler and its tests share. Cron expressions are parsed and stepped by
 * Effect's `Cron` (`Cron.parse` with the zone, `Cron.next`), never by a hand-written parser.
 */
import { Errors } from "@airlock/core"
import { Cron, DateTime, Either, Option, Schema } from "effect"

/** A schedule's name: lower case, digits and `_ . : -`, 1–128 characters. */
export const ScheduleName = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9_.:-]{0,127}$/),
  Schema.maxLength(128),
  Schema.annotations({ identifier: "ScheduleName", description: "lower case, digits and _ . : -, 1–128 characters" })
)

/**
 * What happens when a due time comes while an earlier run of the same schedule has not finished:
 * `skip` (the default) records the new due time as `skipped`, `allow` runs both at once, `queue`
 * runs the new one after the earlier ones, in due-time order.
 */
export const OverlapPolicy = Schema.Literal("skip", "allow", "queue")
/** Type of {@link OverlapPolicy}. */
export type OverlapPolicy = typeof OverlapPolicy.Type

/**
 * What happens to due times missed by more than the grace period (the scheduler was down, the
 * clock jumped forward): `once` (the default) runs once for the whole missed window, at its
 * latest due time; `skip` runs nothing for it and waits for the next due time. Several missed due
 * times never run back to back, under either policy.
 */
export const CatchUpPolicy = Schema.Literal("once", "skip")
/** Type of {@link CatchUpPolicy}. */
export type CatchUpPolicy = typeof CatchUpPolicy.Type

/** The stated defaults of a schedule's optional fields. */
export const defaults = {
  time_zone: "UTC",
  enabled: true,
  overlap: "skip" as OverlapPolicy,
  catch_up: "once" as CatchUpPolicy
} as const

/** The longest `@every:N` interval: one year of seconds. */
export const MAX_EVERY_SECONDS = 31_536_000

/** A stored schedule. `next_due_at` is the cursor: the next due time not yet decided (null while disabled). */
export class ScheduleRecord extends Schema.Class<ScheduleRecord>("ScheduleRecord")({
  name: ScheduleName,
  expression: Schema.String,
  time_zone: Schema.String,
  target: Schema.String,
  args: Schema.Unknown,
  enabled: Schema.Boolean,
  overlap: OverlapPolicy,
  catch_up: CatchUpPolicy,
  next_due_at: Schema.NullOr(Schema.Number),
  created_at: Schema.Number,
  updated_at: Schema.Number,
  updated_by: Schema.String,
  version: Schema.Number
}) {}

const Expression = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
const Zone = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))
const Target = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))

/** A new schedule (also the HTTP body; unknown fields are refused). */
export const ScheduleInput = Schema.Struct({
  name: ScheduleName,
  expression: Expression,
  time_zone: Schema.optional(Zone),
  target: Target,
  args: Schema.optional(Schema.Unknown),
  enabled: Schema.optional(Schema.Boolean),
  overlap: Schema.optional(OverlapPolicy),
  catch_up: Schema.optional(CatchUpPolicy)
}).annotations({ identifier: "ScheduleInput", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link ScheduleInput}. */
export type ScheduleInput = typeof ScheduleInput.Type

/** A change to a schedule: the fields given replace the stored ones (at least one). */
export const ScheduleUpdate = Schema.Struct({
  expression: Schema.optional(Expression),
  time_zone: Schema.optional(Zone),
  target: Schema.optional(Target),
  args: Schema.optional(Schema.Unknown),
  enabled: Schema.optional(Schema.Boolean),
  overlap: Schema.optional(OverlapPolicy),
  catch_up: Schema.optional(CatchUpPolicy)
}).annotations({ identifier: "ScheduleUpdate", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link ScheduleUpdate}. */
export type ScheduleUpdate = typeof ScheduleUpdate.Type

/** A parsed timing: a cron expression in a zone, or a fixed interval in milliseconds. */
export type Timing =
  | { readonly _tag: "Cron"; readonly cron: Cron.Cron }
  | { readonly _tag: "Every"; readonly millis: number }

const EVERY = /^@every:(\d{1,9})$/

const invalid = (code: string, message: string, details: Record<string, unknown>) =>
  new Errors.ValidationError({ code, message, details })

/**
 * Zone names that are UTC itself. Their cron sequence is read in a zero offset zone: the same
 * due times, without the `Intl` offset look-ups a named zone costs on every step.
 */
const UTC_NAMES = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu"])
const UTC_ZONE = DateTime.zoneMakeOffset(0)

/**
 * Parses an expression in a time zone: `@every:N` (N whole seconds, 1 to one year), or a
 * standard cron expression of five fields (minute hour day month weekday) or six (seconds first),
 * through `Cron.parse`. Fails with `validation.schedule_timezone` for an unknown IANA zone and
 * `validation.schedule_expression` for anything else.
 */
export const parseTiming = (expression: string, timeZone: string): Either.Either<Timing, Errors.ValidationError> => {
  const zone = UTC_NAMES.has(timeZone) ? Option.some(UTC_ZONE) : DateTime.zoneFromString(timeZone)
  if (Option.isNone(zone)) {
    return Either.left(
      invalid("validation.schedule_timezone", `Unknown time zone: ${timeZone}`, { time_zone: timeZone })
    )
  }
  const trimmed = expression.trim()
  if (trimmed.startsWith("@")) {
    const m = EVERY.exec(trimmed)
    const seconds = m === null ? NaN : Number(m[1])
    if (!(seconds >= 1 && seconds <= MAX_EVERY_SECONDS)) {
      return Either.left(
        invalid(
          "validation.schedule_expression",
          `Expected @every:N with N whole seconds between 1 and ${MAX_EVERY_SECONDS}`,
          { expression }
        )
      )
    }
    return Either.right({ _tag: "Every", millis: seconds * 1000 })
  }
  return Either.flatMap(
    Either.mapLeft(
      Cron.parse(trimmed, zone.value),
      (e) => invalid("validation.schedule_expression", `Invalid cron expression: ${e.message}`, { expression })
    ),
    (cron) => {
      try {
        // an expression that never matches (`0 0 31 2 *`) makes Cron.next throw: refuse it here, once
        Cron.next(cron, new Date(0))
        return Either.right<Timing>({ _tag: "Cron", cron })
      } catch {
        return Either.left(
          invalid("validation.schedule_expression", "The cron expression never comes due", { expression })
        )
      }
    }
  )
}

/**
 * The first due time strictly after `after` (epoch milliseconds). `@every:N` due times are the
 * multiples of N seconds since the Unix epoch, so every instance and every restart agrees on them
 * without an anchor; cron due times come from `Cron.next` in the schedule's zone.
 */
export const nextDue = (timing: Timing, after: number): number =>
  timing._tag === "Every"
    ? (Math.floor(after / timing.millis) + 1) * timing.millis
    : Cron.next(timing.cron, new Date(after)).getTime()

/** Stepping a cron sequence further than this falls back to `Cron.prev` (a very long outage). */
const MAX_STEPS = 10_000

/**
 * The latest due time in `[from, now]` and the first after `now`, stepping from the due time
 * `from` (the cursor) with the same `nextDue` that produced it, so both are times `nextDue`
 * yields; null when `from` is after `now`. The step that passes `now` is the next due time, so
 * a plan costs one `Cron.next` per due time in the window, not one more.
 */
const dueWindow = (
  timing: Timing,
  from: number,
  now: number
): { readonly latest: number; readonly next: number } | null => {
  if (from > now) return null
  if (timing._tag === "Every") {
    return {
      latest: Math.max(from, Math.floor(now / timing.millis) * timing.millis),
      next: nextDue(timing, now)
    }
  }
  let current = from
  for (let i = 0; i < MAX_STEPS; i++) {
    const following = nextDue(timing, current)
    if (following > now) return { latest: current, next: following }
    current = following
  }
  return { latest: Math.max(from, Cron.prev(timing.cron, new Date(now + 1000)).getTime()), next: nextDue(timing, now) }
}

/**
 * The latest due time in `[from, now]`, stepping from the due time `from` (the cursor) with the
 * same `nextDue` that produced it, so the answer is one of the times `nextDue` yields; null when
 * `from` is after `now`.
 */
export const latestDue = (timing: Timing, from: number, now: number): number | null =>
  dueWindow(timing, from, now)?.latest ?? null

/**
 * The cursor of a new (or re-enabled, or re-timed) schedule at `now`: its latest due time when
 * that is within the grace period — so `@every:60` added and ticked at once runs at once, as the
 * runbook's scheduler check expects — else its next due time (a daily 02:30 job added at noon
 * does not run at noon).
 */
export const initialCursor = (timing: Timing, now: number, graceMillis: number): number => {
  const previous = timing._tag === "Every"
    ? Math.floor(now / timing.millis) * timing.millis
    : Cron.prev(timing.cron, new Date(now + 1000)).getTime()
  return now - previous <= graceMillis ? previous : nextDue(timing, now)
}

/** What one tick decides for one schedule whose cursor is due. */
export interface DuePlan {
  /** The due time to dispatch, or null (catch-up `skip` over a missed window). */
  readonly due_at: number | null
  /** The due time was missed by more than the grace period. */
  readonly late: boolean
  /** Due times in the window that were passed over for `due_at` (collapsed, never run). */
  readonly collapsed: boolean
  /** The new cursor: the first due time after `now`. */
  readonly next_due_at: number
}

/**
 * Decides a due schedule at `now` (pure): the latest due time in `[cursor, now]` is dispatched
 * when it is within `graceMillis` of now; older than that the window was missed, and the
 * catch-up policy decides (`once`: dispatch it, marked late; `skip`: nothing). Earlier due
 * times of the window are collapsed into it. The cursor moves past `now` either way. Null when
 * nothing is due yet (the cursor is in the future — a clock stepped back finds nothing to redo).
 */
export const planDue = (
  timing: Timing,
  cursor: number,
  now: number,
  graceMillis: number,
  catchUp: CatchUpPolicy
): DuePlan | null => {
  const w = dueWindow(timing, cursor, now)
  if (w === null) return null
  const late = now - w.latest > graceMillis
  return {
    due_at: late && catchUp === "skip" ? null : w.latest,
    late,
    collapsed: w.latest > cursor,
    next_due_at: w.next
  }
}

/** The name of a schedule not found, as the port reports it. */
export const notFound = (name: string): Errors.NotFound =>
  new Errors.NotFound({ message: `schedule ${name} not found`, details: { entity: "schedule", id: name } })

/** A stale compare-and-set on a schedule (another writer changed it first). */
export const stale = (name: string): Errors.Conflict =>
  new Errors.Conflict({
    code: "conflict.stale",
    message: `schedule ${name} was changed by someone else; read it again`,
    details: { entity: "schedule", id: name }
  })

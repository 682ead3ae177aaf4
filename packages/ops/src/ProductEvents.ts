/**
 * Product funnel events (`POST /api/v1/events`, or {@link ProductEvents.record} from a host's
 * code): a funnel step, a subject (a user or a session), a time, and an event id the write is
 * idempotent on. A batch is checked whole before anything is written: one bad event refuses the
 * batch, and nothing of it is stored.
 */
import { type Actor, Errors, Rbac, TenantScope } from "@airlock/core"
import { Clock, Effect, Metric, Schema } from "effect"
import { ProductEvent, ProductEventStore, SubjectType } from "./EventStore.js"
import { KpiConfig } from "./KpiConfig.js"
import { dayIndexOf } from "./KpiRollups.js"

const EventId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, {
    message: () => "Expected an event id: 1-128 letters, digits, and _ . : -"
  }),
  Schema.maxLength(128)
)

/** An event's time: epoch milliseconds, or an ISO-8601 date-time with a zone (`2024-05-01T10:00:00Z`). */
export const EventTime = Schema.Union(
  Schema.Number.pipe(Schema.int(), Schema.between(0, 8_640_000_000_000_000)),
  Schema.String.pipe(
    Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/, {
      message: () => "Expected epoch milliseconds or an ISO-8601 date-time with a zone"
    }),
    // the longest the pattern allows: `2024-05-01T10:00:00.123456789+00:00`
    Schema.maxLength(35)
  )
)

/** One event as a host sends it. */
export const EventInput = Schema.Struct({
  event_id: EventId,
  step: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)),
  subject_type: SubjectType,
  subject_id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  occurred_at: EventTime
}).annotations({ identifier: "ProductEventInput" })
/** Type of {@link EventInput}. */
export type EventInput = typeof EventInput.Type

/** Body of `POST /api/v1/events`. */
export const EventBatch = Schema.Struct({ events: Schema.Array(EventInput) }).annotations({
  identifier: "ProductEventBatch"
})
/** Type of {@link EventBatch}. */
export type EventBatch = typeof EventBatch.Type

/** What recording a batch did. */
export const RecordResult = Schema.Struct({
  tenant_id: Schema.String,
  received: Schema.Number,
  /** Events stored now. */
  inserted: Schema.Number,
  /** Events whose id was already stored (or repeated in the batch): nothing written for them. */
  duplicates: Schema.Number
}).annotations({ identifier: "ProductEventsRecorded" })
/** Type of {@link RecordResult}. */
export type RecordResult = typeof RecordResult.Type

/** Product events recorded (inserted, not duplicates). */
export const eventsRecorded = Metric.counter("kpi_events_recorded_total", {
  description: "Product funnel events stored (idempotent duplicates are not counted)",
  incremental: true
})

const invalid = (code: string, message: string, details: Record<string, unknown>) =>
  new Errors.ValidationError({ code, message, details })

/** The epoch milliseconds of an event time, or null when the text is not a real instant. */
export const timeOf = (t: number | string): number | null => {
  if (typeof t === "number") return t
  const ms = Date.parse(t)
  return Number.isFinite(ms) ? ms : null
}

/** Records product events. */
export class ProductEvents extends Effect.Service<ProductEvents>()("@airlock/ops/ProductEvents", {
  effect: Effect.gen(function*() {
    const store = yield* ProductEventStore
    const settings = yield* KpiConfig
    const rbac = yield* Rbac.Rbac

    /**
     * Checks and stores a batch for a tenant (no RBAC: for a host's own code). Refuses the whole
     * batch when it is empty or too large (`validation.kpi_batch`), names an unknown step
     * (`validation.kpi_step`), or has a time that is not an instant or lies too far ahead of the
     * clock (`validation.kpi_event_time`).
     */
    const recordFor = (
      tenant: string,
      events: ReadonlyArray<EventInput>
    ): Effect.Effect<RecordResult, Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        if (events.length === 0 || events.length > settings.eventsBatchMax) {
          return yield* invalid("validation.kpi_batch", `A batch holds 1 to ${settings.eventsBatchMax} events`, {
            received: events.length,
            max: settings.eventsBatchMax
          })
        }
        const now = yield* Clock.currentTimeMillis
        const latest = now + settings.eventMaxFutureSeconds * 1000
        const rows: Array<ProductEvent> = []
        const seen = new Set<string>()
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!
          if (!settings.steps.includes(e.step)) {
            return yield* invalid("validation.kpi_step", `Unknown funnel step ${e.step}`, {
              index: i,
              step: e.step,
              steps: settings.steps
            })
          }
          const at = timeOf(e.occurred_at)
          if (at === null || at < 0 || at > latest) {
            return yield* invalid(
              "validation.kpi_event_time",
              at === null || at < 0 ? "occurred_at is not a valid time" : "occurred_at is in the future",
              { index: i, occurred_at: e.occurred_at, max_future_seconds: settings.eventMaxFutureSeconds }
            )
          }
          if (seen.has(e.event_id)) continue
          seen.add(e.event_id)
          rows.push(
            new ProductEvent({
              tenant_id: tenant,
              event_id: e.event_id,
              step: e.step,
              subject_type: e.subject_type,
              subject_id: e.subject_id,
              occurred_at: at,
              day: dayIndexOf(at),
              recorded_at: now
            }, true)
          )
        }
        const inserted = yield* store.append(rows)
        yield* Metric.incrementBy(eventsRecorded, inserted.length)
        return {
          tenant_id: tenant,
          received: events.length,
          inserted: inserted.length,
          duplicates: events.length - inserted.length
        }
      })

    /** `POST /api/v1/events`: {@link recordFor} for the actor's tenant (another with `tenant.cross`); needs `ops.write`. */
    const record = (
      actor: Actor.Actor,
      batch: EventBatch,
      tenant?: string
    ): Effect.Effect<RecordResult, Errors.Forbidden | Errors.ValidationError | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        const target = yield* TenantScope.acting(rbac, actor, tenant)
        return yield* recordFor(target, batch.events)
      })

    return { record, recordFor } as const
  })
}) {}

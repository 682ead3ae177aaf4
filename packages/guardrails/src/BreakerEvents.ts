/**
 * Guardrail events: every breaker trip and reset, every stop, lockdown and unlock is one row
 * carrying the kind, the tenant (null for global events), the reason and the numbers that
 * decided it. `BreakerEvents` serves them (`GET /api/v1/companion/breaker-events`).
 */
import { type Actor, type Errors, Ids, Rbac, TenantScope } from "@airlock/core"
import { Clock, Context, Effect, Metric, Schema } from "effect"

/** What raised an event. */
export const EventKind = Schema.Literal("velocity", "value", "trust", "provider", "stop_condition", "lockdown")
/** Type of {@link EventKind}. */
export type EventKind = typeof EventKind.Type

/** One guardrail event row. */
export class GuardrailEvent extends Schema.Class<GuardrailEvent>("GuardrailEvent")({
  id: Schema.String,
  /** The tenant it concerns, or null for a global event (provider, stop, lockdown). */
  tenant_id: Schema.NullOr(Schema.String),
  kind: EventKind,
  /** `trip`, `reset`, `simulation_stopped_guardrail`, `lockdown`, `unlock`, `unlock_failed`, `code_rotated`, … */
  type: Schema.String,
  reason: Schema.String,
  /** The numbers that decided it (counts, thresholds, rates, amounts as decimal strings). */
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Who caused it: an actor id, or `system` for automatic trips. */
  actor_id: Schema.String,
  at: Schema.Number
}) {}

/** Filter for listing events, newest first. */
export interface EventQuery {
  /** Only this tenant's events; `null` = only global events; omitted = all. */
  readonly tenant_id?: string | null | undefined
  readonly kinds?: ReadonlyArray<EventKind> | undefined
  /** Events with id strictly less than this (the previous page's last id). */
  readonly before?: string | undefined
  readonly limit: number
}

/** Storage port for guardrail events (append-only). */
export class EventStore extends Context.Tag("@airlock/guardrails/EventStore")<
  EventStore,
  {
    readonly append: (event: GuardrailEvent) => Effect.Effect<void, Errors.StorageError>
    readonly list: (query: EventQuery) => Effect.Effect<ReadonlyArray<GuardrailEvent>, Errors.StorageError>
  }
>() {}

/** What a service needs to record an event. */
export interface EventInput {
  readonly tenant_id: string | null
  readonly kind: EventKind
  readonly type: string
  readonly reason: string
  readonly data: Record<string, unknown>
  readonly actor_id?: string
}

/** Breaker trips, stop-condition stops and lockdowns, by breaker (a `/metrics` counter). */
export const breakerTripsTotal = Metric.counter("guardrails_breaker_trips_total", {
  description: "Guardrail trips recorded: breaker trips, stop-condition stops and lockdowns, by breaker (event kind)",
  incremental: true
})

/** The event types that are a trip (a breaker opening, a run stopped, a lockdown engaged). */
const TRIP_TYPES: ReadonlySet<string> = new Set(["trip", "simulation_stopped_guardrail", "lockdown"])

/** Records and serves guardrail events. */
export class BreakerEvents extends Effect.Service<BreakerEvents>()("@airlock/guardrails/BreakerEvents", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const ids = yield* Ids.IdGenerator
    const rbac = yield* Rbac.Rbac

    /** Appends one event stamped with `Clock` time. */
    const record = (input: EventInput): Effect.Effect<GuardrailEvent, Errors.StorageError> =>
      Effect.gen(function*() {
        const event = new GuardrailEvent({
          id: yield* ids.next("gev"),
          tenant_id: input.tenant_id,
          kind: input.kind,
          type: input.type,
          reason: input.reason,
          data: input.data,
          actor_id: input.actor_id ?? "system",
          at: yield* Clock.currentTimeMillis
        }, true)
        yield* store.append(event)
        if (TRIP_TYPES.has(event.type)) yield* Metric.increment(Metric.tagged(breakerTripsTotal, "breaker", event.kind))
        return event
      })

    /**
     * The breaker events of a tenant (velocity, value, trust), newest first: `options.tenant`,
     * default the actor's own (another only with `tenant.cross`); needs `companion.read`. This is
     * what `GET /api/v1/companion/breaker-events` serves.
     */
    const listForTenant = (
      actor: Actor.Actor,
      options: {
        readonly limit?: number
        readonly before?: string
        readonly kinds?: ReadonlyArray<EventKind>
        readonly tenant?: string
      } = {}
    ): Effect.Effect<ReadonlyArray<GuardrailEvent>, Errors.Forbidden | Errors.StorageError> =>
      Effect.zipRight(
        rbac.require(actor, "companion.read"),
        Effect.flatMap(TenantScope.acting(rbac, actor, options.tenant), (tenant) =>
          store.list({
            tenant_id: tenant,
            kinds: options.kinds ?? ["velocity", "value", "trust"],
            before: options.before,
            limit: Math.min(Math.max(options.limit ?? 100, 1), 500)
          }))
      )

    /** Global events (provider, stop conditions, lockdown), newest first; needs `ops.read`. */
    const listGlobal = (
      actor: Actor.Actor,
      options: { readonly limit?: number; readonly before?: string } = {}
    ): Effect.Effect<ReadonlyArray<GuardrailEvent>, Errors.Forbidden | Errors.StorageError> =>
      Effect.zipRight(
        rbac.require(actor, "ops.read"),
        store.list({ tenant_id: null, before: options.before, limit: Math.min(Math.max(options.limit ?? 100, 1), 500) })
      )

    return { record, listForTenant, listGlobal, list: store.list } as const
  })
}) {}

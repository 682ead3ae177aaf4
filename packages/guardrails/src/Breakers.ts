/**
 * Breaker state in storage: one row per breaker (a tenant's velocity or trust breaker, a
 * provider's breaker, the run's stop latch), changed only by compare-and-set on its version, so
 * when several instances race to trip or reset a breaker exactly one wins and records the event.
 */
import type { Errors } from "@airlock/core"
import { Context, Effect, Option, Schema } from "effect"

/** The classic three states. */
export const BreakerStatus = Schema.Literal("closed", "open", "half_open")
/** Type of {@link BreakerStatus}. */
export type BreakerStatus = typeof BreakerStatus.Type

/** One breaker's stored state. */
export class BreakerRecord extends Schema.Class<BreakerRecord>("BreakerRecord")({
  /** `velocity:<tenant>`, `trust:<tenant>`, `provider:<name>`, `stop:run`, … */
  key: Schema.String,
  kind: Schema.String,
  tenant_id: Schema.NullOr(Schema.String),
  state: BreakerStatus,
  /** Why it last tripped. */
  reason: Schema.NullOr(Schema.String),
  opened_at: Schema.NullOr(Schema.Number),
  /** Open until (cooldown end), when open. */
  until: Schema.NullOr(Schema.Number),
  consecutive_failures: Schema.Number,
  /** A half-open probe holds the slot until this time. */
  probe_until: Schema.NullOr(Schema.Number),
  /** The numbers of the last trip. */
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  updated_at: Schema.Number,
  /** Starts at 1; every write increments it. */
  version: Schema.Number
}) {}

/** Storage port for breaker state. */
export class BreakerStore extends Context.Tag("@airlock/guardrails/BreakerStore")<
  BreakerStore,
  {
    readonly get: (key: string) => Effect.Effect<Option.Option<BreakerRecord>, Errors.StorageError>
    /**
     * Writes `record` if the stored version is `expectedVersion` (0 = the row must not exist);
     * returns whether it was written. `record.version` must be `expectedVersion + 1`.
     */
    readonly put: (record: BreakerRecord, expectedVersion: number) => Effect.Effect<boolean, Errors.StorageError>
    /** Breakers whose key starts with `prefix`, ordered by key. */
    readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<BreakerRecord>, Errors.StorageError>
  }
>() {}

/** A closed breaker that was never written (version 0). */
export const initial = (key: string, kind: string, tenant_id: string | null, now: number): BreakerRecord =>
  new BreakerRecord({
    key,
    kind,
    tenant_id,
    state: "closed",
    reason: null,
    opened_at: null,
    until: null,
    consecutive_failures: 0,
    probe_until: null,
    data: {},
    updated_at: now,
    version: 0
  }, true)

/** The next version of a record with some fields changed. */
export const next = (
  current: BreakerRecord,
  patch: Partial<Omit<BreakerRecord, "key" | "version">>,
  now: number
): BreakerRecord => new BreakerRecord({ ...current, ...patch, updated_at: now, version: current.version + 1 }, true)

/**
 * Reads a breaker and applies `step` by compare-and-set, retrying on a lost race (bounded).
 * `step` returns the new record (or `None` to write nothing) and a result; the result of the
 * winning attempt is returned with whether this call's write landed.
 */
export const update = <A>(
  store: Context.Tag.Service<BreakerStore>,
  key: string,
  make: () => BreakerRecord,
  step: (current: BreakerRecord) => readonly [Option.Option<BreakerRecord>, A]
): Effect.Effect<
  { readonly result: A; readonly wrote: boolean; readonly record: BreakerRecord },
  Errors.StorageError
> =>
  Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      const current = Option.getOrElse(yield* store.get(key), make)
      const [change, result] = step(current)
      if (Option.isNone(change)) return { result, wrote: false, record: current }
      if (yield* store.put(change.value, current.version)) return { result, wrote: true, record: change.value }
      if (attempt >= 50) return yield* Effect.dieMessage(`breaker ${key}: too much contention`)
    }
  })

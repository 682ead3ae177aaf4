/**
 * Windowed counters in storage: the shared truth behind rate limits, the velocity breaker,
 * failure rates and attempt limits, so every instance on one database counts the same events.
 * Increments are atomic; a capped increment never lets the count pass its cap, which is what
 * makes "two processes hammering one limit admit exactly the limit" hold.
 */
import type { Errors } from "@airlock/core"
import { Context, type Effect, type Option } from "effect"

/** Storage port for windowed counters. A counter is identified by `(key, window)`. */
export class CounterStore extends Context.Tag("@airlock/guardrails/CounterStore")<
  CounterStore,
  {
    /**
     * Adds `by` to the counter atomically and returns the new count. With a `cap`, the add
     * happens only if the new count stays `<= cap`; otherwise nothing is written and the result
     * is `None`. `expiresAt` says when the row may be purged.
     */
    readonly increment: (
      key: string,
      window: number,
      by: number,
      cap: number | null,
      expiresAt: number
    ) => Effect.Effect<Option.Option<number>, Errors.StorageError>
    /** The count of one window (0 when absent). */
    readonly get: (key: string, window: number) => Effect.Effect<number, Errors.StorageError>
    /** The sum of the counts of windows `from..to` (inclusive). */
    readonly sum: (key: string, from: number, to: number) => Effect.Effect<number, Errors.StorageError>
    /** Deletes counters that expired before `now`; returns how many. */
    readonly purge: (now: number) => Effect.Effect<number, Errors.StorageError>
  }
>() {}

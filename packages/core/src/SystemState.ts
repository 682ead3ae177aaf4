/**
 * Runtime overrides that outlive a process and are shared by every instance: the global AI
 * switch flipped by an operator, `active=false / paused=true` written by a stop condition,
 * lockdown state. Values are JSON; each write says who made it.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { StorageError } from "./Errors.js"

/** One stored override. */
export class SystemStateEntry extends Schema.Class<SystemStateEntry>("SystemStateEntry")({
  key: Schema.String,
  value: Schema.Unknown,
  updated_at: Schema.Number,
  updated_by: Schema.String
}) {}

/** Storage port for runtime overrides (global, not per tenant: prefix keys to scope them). */
export class SystemStateStore extends Context.Tag("@airlock/core/SystemStateStore")<
  SystemStateStore,
  {
    readonly get: (key: string) => Effect.Effect<Option.Option<SystemStateEntry>, StorageError>
    readonly put: (entry: SystemStateEntry) => Effect.Effect<void, StorageError>
    /** Entries whose key starts with `prefix`, ordered by key. */
    readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<SystemStateEntry>, StorageError>
  }
>() {}

/** Key of the operator override of the global AI switch (boolean). */
export const AI_GLOBAL_ENABLED_KEY = "ai.global_enabled"

/**
 * The unit of work: runs an effect so that every store write inside it commits together or not
 * at all. Promotion (canonical write + proposal state + provenance + audit) always runs in one.
 */
import { Context, type Effect, Layer } from "effect"
import type { StorageError } from "./Errors.js"

/** Storage port for transactions. Nested calls join the outer transaction. */
export class UnitOfWork extends Context.Tag("@airlock/core/UnitOfWork")<
  UnitOfWork,
  {
    readonly transaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StorageError, R>
  }
>() {}

/** A unit of work that adds no atomicity: only for stores that are atomic per call anyway. */
export const layerNoop: Layer.Layer<UnitOfWork> = Layer.succeed(UnitOfWork, { transaction: (self) => self })

/**
 * A registry of named entries, filled by the host's layers when they are built: the scheduler's
 * targets and the maintenance loop's commands are both one. Registering a name again replaces
 * its entry; reads are synchronous (the registry is complete once the layers are built).
 */
import { type Context, Effect, Layer, Option } from "effect"

/** What a registry holds: anything with a name. */
export interface Entry {
  readonly name: string
}

/** A name → entry registry. */
export interface Registry<A extends Entry> {
  /** Registers (or replaces) an entry under its name. */
  readonly register: (entry: A) => Effect.Effect<void>
  /** The entry of that name. */
  readonly get: (name: string) => Option.Option<A>
  /** Every entry, by name. */
  readonly list: () => ReadonlyArray<A>
}

const byName = (a: Entry, b: Entry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** A new, empty registry. */
export const make = <A extends Entry>(): Registry<A> => {
  const entries = new Map<string, A>()
  return {
    register: (entry) => Effect.sync(() => void entries.set(entry.name, entry)),
    get: (name) => Option.fromNullable(entries.get(name)),
    list: () => [...entries.values()].sort(byName)
  }
}

/**
 * A layer that registers one entry, made by `make`, in the registry service `tag` when built
 * (the form of `Scheduler.registerTarget` and `Maintenance.registerCommand`).
 */
export const layerRegister = <I, S extends { readonly register: (entry: never) => Effect.Effect<void> }, R>(
  tag: Context.Tag<I, S>,
  make: Effect.Effect<Parameters<S["register"]>[0], never, R>
): Layer.Layer<never, never, I | R> =>
  Layer.effectDiscard(Effect.flatMap(Effect.zip(tag, make), ([registry, entry]) => registry.register(entry as never)))

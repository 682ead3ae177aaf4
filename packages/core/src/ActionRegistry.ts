/**
 * The kinds, gates and observers known to this process. Packages and hosts register into it from
 * layers; the pipeline asks it for a kind by name, for the gates guarding a kind in a phase, and
 * for the observers to tell of an applied action.
 */
import { Effect, Option } from "effect"
import type { Phase } from "./Action.js"
import type { ActionKind } from "./ActionKind.js"
import type { ActionObserver } from "./ActionObserver.js"
import type { Gate } from "./Gate.js"

/** Kinds and gates known to this process. Packages and hosts register into it from layers. */
export class ActionRegistry extends Effect.Service<ActionRegistry>()("@airlock/core/ActionRegistry", {
  sync: () => {
    const kinds = new Map<string, ActionKind>()
    const gates: Array<Gate> = []
    const cache = new Map<string, ReadonlyArray<Gate>>()
    let observers: ReadonlyArray<ActionObserver> = []
    return {
      /** Registers a kind; registering a second kind under the same name is a defect. */
      registerKind: <P, PI>(kind: ActionKind<P, PI>) =>
        Effect.suspend(() =>
          kinds.has(kind.name)
            ? Effect.dieMessage(`ActionRegistry: kind ${kind.name} registered twice`)
            : Effect.sync(() => void kinds.set(kind.name, kind as ActionKind))
        ),
      /** Registers a gate; gate names must be unique. */
      registerGate: (gate: Gate) =>
        Effect.suspend(() =>
          gates.some((g) => g.name === gate.name)
            ? Effect.dieMessage(`ActionRegistry: gate ${gate.name} registered twice`)
            : Effect.sync(() => {
              gates.push(gate)
              cache.clear()
            })
        ),
      /** Registers an observer of applied actions; one registered under the same name is replaced. */
      registerObserver: (observer: ActionObserver) =>
        Effect.sync(() => {
          observers = [...observers.filter((o) => o.name !== observer.name), observer]
        }),
      /** The observers of applied actions, in registration order. */
      observers: (): ReadonlyArray<ActionObserver> => observers,
      kind: (name: string): Option.Option<ActionKind> => Option.fromNullable(kinds.get(name)),
      kinds: (): ReadonlyArray<ActionKind> => [...kinds.values()],
      /** The gates guarding `kind` in `phase`, in order (stable for equal orders). */
      gatesFor: (kind: ActionKind, phase: Phase): ReadonlyArray<Gate> => {
        const key = `${kind.name}\u0000${phase}`
        let list = cache.get(key)
        if (!list) {
          list = gates
            .map((g, i) => [g, i] as const)
            .filter(([g]) => g.phases.includes(phase) && (g.appliesTo ? g.appliesTo(kind) : true))
            .sort(([a, ai], [b, bi]) => a.order - b.order || ai - bi)
            .map(([g]) => g)
          cache.set(key, list)
        }
        return list
      }
    }
  }
}) {}

/**
 * Observers of the governed-action pipeline: code a package or a host registers in the
 * `ActionRegistry` to hear of every action the pipeline applied, once its transaction committed
 * (ops' run metrics count them by kind while a run is running). The dependency points from the
 * observer to core: core calls whatever is registered and knows nothing of who listens.
 */
import type { Effect } from "effect"
import type { ActionRecord } from "./Action.js"
import type { Actor } from "./Actor.js"
import type { AirlockError } from "./Errors.js"

/** What an observer hears: an action the pipeline applied (committed), and who applied it. */
export interface AppliedAction {
  readonly action: ActionRecord
  readonly actor: Actor
}

/** An observer of applied actions, registered with `ActionRegistry.registerObserver`. */
export interface ActionObserver {
  /** Its name; registering another observer under the same name replaces it (a rebuilt layer). */
  readonly name: string
  /**
   * Called once per applied action, after the commit — never for an apply that found the work
   * already done, nor for a denied or failed one. Its failures (and defects) are logged and never
   * reach the caller: the action stays applied.
   */
  readonly applied: (event: AppliedAction) => Effect.Effect<void, AirlockError>
}

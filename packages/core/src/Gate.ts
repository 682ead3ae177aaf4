/**
 * Gates: the small, ordered checks every governed action passes at propose and at apply. A gate
 * reads a {@link GateContext} and answers a {@link GateDecision} (allow, deny with a coded
 * error, or review with reasons) together with the inputs it read, which the pipeline stores
 * as the decision trace. Where each built-in gate sits is the `GateOrder` table.
 */
import { Effect, Exit } from "effect"
import type { ActionRecord, GateOutcome, Phase } from "./Action.js"
import type { ActionKind } from "./ActionKind.js"
import type { Actor } from "./Actor.js"
import type { AiSettings } from "./AiSettings.js"
import type { AirlockError, StorageError } from "./Errors.js"
import type { Trigger } from "./KillSwitch.js"
import type { Tenant } from "./Tenant.js"

/** Everything a gate may read to decide. */
export interface GateContext {
  readonly tenant: Tenant
  readonly settings: AiSettings
  readonly actor: Actor
  readonly kind: ActionKind
  /** The record (at propose time: the one about to be stored). */
  readonly action: ActionRecord
  /** The decoded payload. */
  readonly payload: unknown
  readonly phase: Phase
  readonly trigger: Trigger
}

/** A gate's decision, with the inputs it read (stored in the trace as provenance). */
export type GateDecision =
  | { readonly verdict: "allow"; readonly inputs?: Record<string, unknown> }
  | { readonly verdict: "deny"; readonly error: AirlockError; readonly inputs?: Record<string, unknown> }
  | { readonly verdict: "review"; readonly reasons: ReadonlyArray<string>; readonly inputs?: Record<string, unknown> }

/** Constructors for gate decisions. */
export const Decision = {
  allow: (
    inputs?: Record<string, unknown>
  ): GateDecision => (inputs ? { verdict: "allow", inputs } : { verdict: "allow" }),
  deny: (error: AirlockError, inputs?: Record<string, unknown>): GateDecision =>
    inputs ? { verdict: "deny", error, inputs } : { verdict: "deny", error },
  review: (reasons: ReadonlyArray<string>, inputs?: Record<string, unknown>): GateDecision =>
    inputs ? { verdict: "review", reasons, inputs } : { verdict: "review", reasons }
} as const

/** A gate: small, ordered (lower `order` runs first), limited to phases and optionally to kinds. */
export interface Gate {
  readonly name: string
  readonly order: number
  readonly phases: ReadonlyArray<Phase>
  /** Which kinds it guards; all kinds when omitted. */
  readonly appliesTo?: (kind: ActionKind) => boolean
  readonly evaluate: (ctx: GateContext) => Effect.Effect<GateDecision, StorageError>
}

/** Result of running the gates once. */
export interface Evaluation {
  readonly outcome: "allow" | "deny" | "review"
  readonly gates: ReadonlyArray<GateOutcome>
  readonly denial: AirlockError | null
  readonly reasons: ReadonlyArray<string>
}

/** Runs gates in order, stopping at the first denial. Pure orchestration. */
export const runGates = (
  gates: ReadonlyArray<Gate>,
  ctx: GateContext
): Effect.Effect<Evaluation, StorageError> =>
  Effect.suspend(() => {
    const outcomes: Array<GateOutcome> = []
    const reasons: Array<string> = []
    let i = 0
    // records one decision; returns the evaluation when it ends the run (a denial)
    const decide = (gate: Gate, d: GateDecision): Evaluation | undefined => {
      const inputs = d.inputs ?? {}
      if (d.verdict === "deny") {
        outcomes.push({
          gate: gate.name,
          verdict: "deny",
          code: d.error.code,
          message: d.error.message,
          reasons: [],
          inputs
        })
        return { outcome: "deny", gates: outcomes, denial: d.error, reasons }
      }
      if (d.verdict === "review") {
        reasons.push(...d.reasons)
        outcomes.push({
          gate: gate.name,
          verdict: "review",
          code: null,
          message: null,
          reasons: [...d.reasons],
          inputs
        })
      } else {
        outcomes.push({ gate: gate.name, verdict: "allow", code: null, message: null, reasons: [], inputs })
      }
      return undefined
    }
    // a gate that answers with an already-completed effect (a pure gate's `Effect.succeed`) is
    // read on the spot: no fiber step per pure gate on the hot path
    const loop = (): Effect.Effect<Evaluation, StorageError> => {
      while (i < gates.length) {
        const gate = gates[i++]!
        const decision = gate.evaluate(ctx)
        if (Exit.isExit(decision)) {
          const exit = decision as Exit.Exit<GateDecision, StorageError>
          if (exit._tag === "Failure") return Exit.failCause(exit.cause)
          const done = decide(gate, exit.value)
          if (done) return Effect.succeed(done)
          continue
        }
        return Effect.flatMap(decision, (d) => {
          const done = decide(gate, d)
          return done ? Effect.succeed(done) : loop()
        })
      }
      return Effect.succeed({
        outcome: reasons.length > 0 ? "review" : "allow",
        gates: outcomes,
        denial: null,
        reasons
      })
    }
    return loop()
  })

/** The trigger of an actor's request: people are `human`, agents and the system `auto`. */
export const triggerOf = (actor: Actor): Trigger => (actor.kind === "user" ? "human" : "auto")

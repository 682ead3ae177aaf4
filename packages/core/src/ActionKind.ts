/**
 * A kind of governed action: what can be proposed (its payload schema and subject), who may
 * propose and apply it, the policies it opts into (AI governance, lockdown protection) and the
 * deterministic handler that promotes it. Packages and hosts register kinds in the
 * `ActionRegistry`.
 */
import type { Effect, Schema } from "effect"
import type { ActionRecord } from "./Action.js"
import type { Actor } from "./Actor.js"
import type { AiSettings } from "./AiSettings.js"
import type { AirlockError } from "./Errors.js"
import type { Tenant } from "./Tenant.js"

/** What a kind's handler receives. */
export interface HandlerContext<P> {
  readonly action: ActionRecord
  readonly payload: P
  readonly actor: Actor
  readonly tenant: Tenant
  readonly settings: AiSettings
}

/**
 * A kind of governed action: its payload schema, the permissions it needs, and the
 * deterministic handler that promotes it. Handlers run inside the apply transaction and must
 * have no requirements left (capture services when the kind is built).
 */
export interface ActionKind<P = any, PI = any> {
  readonly name: string
  readonly payload: Schema.Schema<P, PI>
  readonly permissions: {
    readonly propose: string
    readonly apply: string
    /** Permission to reject; defaults to `apply`. */
    readonly reject?: string
  }
  /** AI actions are subject to the kill switch and the tenant's mode. */
  readonly aiGoverned: boolean
  /** Protected actions are refused during a lockdown (opt-in: only kinds that declare it). */
  readonly protected?: boolean
  /** What the action is about (e.g. `bank_txn:42`); approvals and listings key on it. */
  readonly subject: (payload: P) => string
  /** Promotes the action; its JSON result is stored on the record (e.g. the entry id). */
  readonly apply: (ctx: HandlerContext<P>) => Effect.Effect<unknown, AirlockError>
  /** Compensates an applied action (e.g. posts a reversing entry); without it rollback is refused. */
  readonly rollback?: (ctx: HandlerContext<P> & { readonly result: unknown }) => Effect.Effect<unknown, AirlockError>
}

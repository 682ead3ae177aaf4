/**
 * The data of the governed-action pipeline: shadow records (what the AI or an operator
 * proposed), decision traces (what every gate decided and what it read), and their store ports.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import { Conflict, type NotFound, type StorageError } from "./Errors.js"
import { ActionId, TenantId } from "./Ids.js"

/** Lifecycle of a shadow record. Only `proposed` can move; every other status is final. */
export const ActionStatus = Schema.Literal("proposed", "applied", "rejected", "rolled_back", "superseded", "wiped")
/** Type of {@link ActionStatus}. */
export type ActionStatus = typeof ActionStatus.Type

/** A proposed action in the shadow stream. It never touches canonical data until applied. */
export class ActionRecord extends Schema.Class<ActionRecord>("ActionRecord")({
  id: ActionId,
  tenant_id: TenantId,
  kind: Schema.String,
  /** What the action is about, e.g. `bank_txn:123` or `job:nightly`; used by approvals and listings. */
  subject: Schema.String,
  /** The kind's payload in its encoded (JSON) form. */
  payload: Schema.Unknown,
  /** Hash of the canonical payload: the "plan hash" approvals bind to. */
  payload_hash: Schema.String,
  status: ActionStatus,
  /** Reasons gates gave for human review at propose time (e.g. the value breaker). */
  review_reasons: Schema.Array(Schema.String),
  idempotency_key: Schema.NullOr(Schema.String),
  proposed_by: Schema.String,
  proposed_at: Schema.Number,
  closed_by: Schema.NullOr(Schema.String),
  closed_at: Schema.NullOr(Schema.Number),
  close_reason: Schema.NullOr(Schema.String),
  /** What the handler returned on apply (e.g. the canonical entry id), JSON. */
  result: Schema.NullOr(Schema.Unknown),
  version: Schema.Number
}) {}

/** What one gate decided. */
export const GateVerdict = Schema.Literal("allow", "deny", "review")
/** Type of {@link GateVerdict}. */
export type GateVerdict = typeof GateVerdict.Type

/** One gate's line in a decision trace. */
export const GateOutcome = Schema.Struct({
  gate: Schema.String,
  verdict: GateVerdict,
  /** Stable error code when denied. */
  code: Schema.NullOr(Schema.String),
  message: Schema.NullOr(Schema.String),
  /** Why a human should look, when the verdict is `review`. */
  reasons: Schema.Array(Schema.String),
  /** The values the gate read to decide: the provenance of the decision. */
  inputs: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
/** Type of {@link GateOutcome}. */
export type GateOutcome = typeof GateOutcome.Type

/** When gates ran. */
export const Phase = Schema.Literal("propose", "apply")
/** Type of {@link Phase}. */
export type Phase = typeof Phase.Type

/** The stored record of one evaluation of the gate stack. */
export class DecisionTrace extends Schema.Class<DecisionTrace>("DecisionTrace")({
  id: Schema.String,
  tenant_id: TenantId,
  action_id: ActionId,
  kind: Schema.String,
  phase: Phase,
  actor_id: Schema.String,
  at: Schema.Number,
  /** `allow` when every gate allowed; `deny` when one denied (evaluation stops there); else `review`. */
  outcome: GateVerdict,
  gates: Schema.Array(GateOutcome)
}) {}

/** Filter and cursor for listing actions (newest first by id). */
export interface ActionQuery {
  readonly status?: ActionStatus | undefined
  readonly kind?: string | undefined
  readonly subject?: string | undefined
  /** Return records with id strictly less than this (the previous page's last id). */
  readonly before?: string | undefined
  readonly limit: number
}

/** Storage port for shadow records. */
export class ActionStore extends Context.Tag("@airlock/core/ActionStore")<
  ActionStore,
  {
    /** Inserts; `conflict.duplicate` when the id, or the (tenant, kind, idempotency key), is taken. */
    readonly insert: (record: ActionRecord) => Effect.Effect<void, Conflict | StorageError>
    readonly get: (tenant: TenantId, id: ActionId) => Effect.Effect<Option.Option<ActionRecord>, StorageError>
    /**
     * Reads a record and locks it until the surrounding transaction ends (row lock on
     * PostgreSQL, the writer lock on SQLite and in memory). Call inside `UnitOfWork.transaction`.
     */
    readonly getForUpdate: (tenant: TenantId, id: ActionId) => Effect.Effect<Option.Option<ActionRecord>, StorageError>
    readonly findByIdempotencyKey: (
      tenant: TenantId,
      kind: string,
      key: string
    ) => Effect.Effect<Option.Option<ActionRecord>, StorageError>
    /**
     * Writes a new state of a record if its stored `version` is `expectedVersion`
     * (optimistic concurrency); `conflict.stale` otherwise, `not_found` if missing.
     */
    readonly update: (
      record: ActionRecord,
      expectedVersion: number
    ) => Effect.Effect<void, Conflict | NotFound | StorageError>
    readonly list: (tenant: TenantId, query: ActionQuery) => Effect.Effect<ReadonlyArray<ActionRecord>, StorageError>
    /**
     * Marks every record of the tenant with `status` (and `kind`, when given) as `wiped`;
     * returns how many. Never touches an `applied`, `rolled_back` or already `wiped` record
     * (whatever the filter), nor anything else.
     */
    readonly wipe: (
      tenant: TenantId,
      filter: { readonly status: ActionStatus; readonly kind?: string | undefined },
      at: number,
      by: string
    ) => Effect.Effect<number, StorageError>
  }
>() {}

/** The refusal of {@link ActionStore}'s `update` when the stored version moved on (`conflict.stale`). */
export const staleError = (id: string): Conflict =>
  new Conflict({ code: "conflict.stale", message: `Action ${id} changed concurrently` })

/** Storage port for decision traces (append-only). */
export class TraceStore extends Context.Tag("@airlock/core/TraceStore")<
  TraceStore,
  {
    readonly insert: (trace: DecisionTrace) => Effect.Effect<void, StorageError>
    /** Traces of one action, oldest first. */
    readonly listByAction: (
      tenant: TenantId,
      action: ActionId
    ) => Effect.Effect<ReadonlyArray<DecisionTrace>, StorageError>
  }
>() {}

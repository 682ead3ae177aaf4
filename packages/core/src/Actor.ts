/** Actors — the users, AI agents and system jobs that act in a tenant — and their store port. */
import { Context, type Effect, type Option, Schema } from "effect"
import type { Conflict, NotFound, StorageError } from "./Errors.js"
import { ActorId, TenantId } from "./Ids.js"

/** What kind of principal acts: a person, an AI agent, or the system itself. */
export const ActorKind = Schema.Literal("user", "agent", "system")
/** Type of {@link ActorKind}. */
export type ActorKind = typeof ActorKind.Type

/** An actor of one tenant, with one role (a key of the permission matrix). */
export class Actor extends Schema.Class<Actor>("Actor")({
  id: ActorId,
  tenant_id: TenantId,
  kind: ActorKind,
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  role: Schema.String,
  active: Schema.Boolean,
  created_at: Schema.Number
}) {}

/** Storage port for actors. */
export class ActorStore extends Context.Tag("@airlock/core/ActorStore")<
  ActorStore,
  {
    readonly insert: (actor: Actor) => Effect.Effect<void, Conflict | StorageError>
    readonly get: (tenant: TenantId, id: ActorId) => Effect.Effect<Option.Option<Actor>, StorageError>
    /** Actors of a tenant ordered by id. */
    readonly list: (tenant: TenantId) => Effect.Effect<ReadonlyArray<Actor>, StorageError>
    readonly update: (actor: Actor) => Effect.Effect<void, NotFound | StorageError>
  }
>() {}

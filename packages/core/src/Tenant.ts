/** Tenants (workspaces) and their store port. */
import { Context, type Effect, type Option, Schema } from "effect"
import type { Conflict, NotFound, StorageError } from "./Errors.js"
import { TenantId } from "./Ids.js"

/** A tenant: the unit of isolation. `ai_companion_enabled` is the kill switch's tenant layer. */
export class Tenant extends Schema.Class<Tenant>("Tenant")({
  id: TenantId,
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  ai_companion_enabled: Schema.Boolean,
  created_at: Schema.Number
}) {}

/** Storage port for tenants. */
export class TenantStore extends Context.Tag("@airlock/core/TenantStore")<
  TenantStore,
  {
    /** Inserts a tenant; `conflict.duplicate` when the id is taken. */
    readonly insert: (tenant: Tenant) => Effect.Effect<void, Conflict | StorageError>
    readonly get: (id: TenantId) => Effect.Effect<Option.Option<Tenant>, StorageError>
    /** All tenants ordered by id. */
    readonly list: () => Effect.Effect<ReadonlyArray<Tenant>, StorageError>
    /** Replaces the mutable fields (name, flag); `not_found` when missing. */
    readonly update: (tenant: Tenant) => Effect.Effect<void, NotFound | StorageError>
  }
>() {}

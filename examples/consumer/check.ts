/**
 * Compiled against the BUILT packages (dist/*.d.ts, no `source` condition) after `pnpm build`:
 * proves a consumer can name Airlock's types and values as the README shows them.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import { type Action, Errors, GovernedActions, Ids, Kernel, type Tenant } from "@airlock/core"
import { Effect, Layer } from "effect"

const tenant: Ids.TenantId = Ids.TenantId.make("default")
const failure: Errors.AirlockError = new Errors.PeriodLocked({ message: "locked" })
const details: Errors.ErrorDetails = { entity: "tenant" }
const status: number = Errors.httpStatus(failure)
const live: Layer.Layer<Kernel.CoreServices, unknown> = Kernel.layer.pipe(
  Layer.provideMerge(Sqlite.layer({ filename: ":memory:" }))
)
const test = Kernel.layer.pipe(Layer.provideMerge(Memory.layer))
const list = (
  t: Tenant.Tenant
): Effect.Effect<ReadonlyArray<Action.ActionRecord>, Errors.StorageError, GovernedActions.GovernedActions> =>
  Effect.flatMap(GovernedActions.GovernedActions, (p) => p.list(t.id, { limit: 10 }))

export { details, list, live, status, tenant, test }

/**
 * Period locks: a tenant's books are closed through a date. Posting, applying or reversing into
 * a day on or before it fails with `period.locked`. Moving the date forward needs
 * `ledger.period_lock`; moving it back (or clearing it) reopens closed books, so it needs
 * `ledger.period_unlock` or `tenant.admin`, and is audited as `ledger.period_lock.moved_back`.
 */
import { type Actor, Audit, Errors, type Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Clock, Context, Effect, Option, Schema } from "effect"
import { CalendarDate } from "./CalendarDate.js"
import { makeAccess, makeAccessAny } from "./internal/access.js"

/** A tenant's lock: `lock_date` null means nothing is locked. */
export class PeriodLock extends Schema.Class<PeriodLock>("PeriodLock")({
  tenant_id: Schema.String,
  lock_date: Schema.NullOr(Schema.String),
  updated_at: Schema.Number,
  updated_by: Schema.String
}) {}

/** Storage port for period locks (one row per tenant). */
export class PeriodLockStore extends Context.Tag("@airlock/ledger/PeriodLockStore")<
  PeriodLockStore,
  {
    /** The tenant's lock. */
    readonly get: (tenant: Ids.TenantId) => Effect.Effect<Option.Option<PeriodLock>, Errors.StorageError>
    /**
     * The lock as seen by a posting transaction: it holds a shared lock on the row until the
     * transaction ends (PostgreSQL `FOR SHARE`), so a concurrent lock change waits for the post
     * and a post never lands in a period closed while it ran. Call inside a transaction.
     */
    readonly getForPosting: (tenant: Ids.TenantId) => Effect.Effect<Option.Option<PeriodLock>, Errors.StorageError>
    /** The lock, holding an exclusive row lock until the transaction ends (for changing it). */
    readonly getForUpdate: (tenant: Ids.TenantId) => Effect.Effect<Option.Option<PeriodLock>, Errors.StorageError>
    /** Inserts or replaces the tenant's lock. */
    readonly put: (lock: PeriodLock) => Effect.Effect<void, Errors.StorageError>
  }
>() {}

/** Is `date` inside the closed period? Pure. */
export const isLocked = (lockDate: string | null, date: string): boolean => lockDate !== null && date <= lockDate

/** Fails with `period.locked` when `date` is on or before `lockDate`. */
export const check = (
  lockDate: string | null,
  date: string,
  what = "Posting"
): Effect.Effect<void, Errors.PeriodLocked> =>
  isLocked(lockDate, date)
    ? Effect.fail(
      new Errors.PeriodLocked({
        message: `${what} on ${date} is refused: the books are locked through ${lockDate}`,
        details: { lock_date: lockDate, date }
      })
    )
    : Effect.void

/** Input of `PUT /api/v1/ledger/period-lock`. */
export const SetPeriodLock = Schema.Struct({ lock_date: Schema.NullOr(CalendarDate) })
/** Type of {@link SetPeriodLock}. */
export type SetPeriodLock = typeof SetPeriodLock.Type

/** The operations of {@link PeriodLocks}. */
export interface PeriodLocksShape {
  readonly get: (
    tenant: Ids.TenantId,
    actor: Actor.Actor
  ) => Effect.Effect<PeriodLock, Errors.Forbidden | Errors.StorageError>
  readonly set: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    input: unknown
  ) => Effect.Effect<PeriodLock, Errors.Forbidden | Errors.ValidationError | Errors.StorageError>
}

/** Builds the PeriodLocks service over its dependencies. */
export const make: Effect.Effect<
  PeriodLocksShape,
  never,
  PeriodLockStore | Audit.AuditLog | UnitOfWork.UnitOfWork | Rbac.Rbac
> = Effect.gen(function*() {
  const store = yield* PeriodLockStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const rbac = yield* Rbac.Rbac
  const access = makeAccess(rbac)
  const accessAny = makeAccessAny(rbac)

  const none = (tenant: Ids.TenantId) =>
    new PeriodLock({ tenant_id: tenant, lock_date: null, updated_at: 0, updated_by: "system" }, true)

  /** The tenant's current lock (`lock_date: null` when the books are open). */
  const get = (tenant: Ids.TenantId, actor: Actor.Actor) =>
    Effect.zipRight(
      access(tenant, actor, "ledger.read"),
      Effect.map(store.get(tenant), Option.getOrElse(() => none(tenant)))
    )

  /**
   * Sets the lock date. Forward (or first lock) needs `ledger.period_lock`; back or cleared
   * needs `ledger.period_unlock` or `tenant.admin`. Every change is audited with before/after.
   */
  const set = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      const { lock_date } = yield* Schema.decodeUnknown(SetPeriodLock)(input).pipe(
        Effect.mapError((e) => new Errors.ValidationError({ code: "validation.date", message: e.message }))
      )
      yield* access(tenant, actor, "ledger.period_lock").pipe(
        Effect.catchTag("Forbidden", (e) =>
          // an unlock-holder may also move the date; the direction check below decides
          e.code === "rbac.forbidden"
            ? accessAny(tenant, actor, ["ledger.period_unlock", "tenant.admin"])
            : Effect.fail(e))
      )
      return yield* uow.transaction(
        Effect.gen(function*() {
          const before = Option.getOrElse(yield* store.getForUpdate(tenant), () => none(tenant))
          const backwards = before.lock_date !== null && (lock_date === null || lock_date < before.lock_date)
          if (backwards) yield* accessAny(tenant, actor, ["ledger.period_unlock", "tenant.admin"])
          if (before.lock_date === lock_date) return before
          const after = new PeriodLock({
            tenant_id: tenant,
            lock_date,
            updated_at: yield* Clock.currentTimeMillis,
            updated_by: actor.id
          }, true)
          yield* store.put(after)
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: backwards ? "ledger.period_lock.moved_back" : "ledger.period_lock.set",
            subject: `period_lock:${tenant}`,
            data: { before: before.lock_date, after: lock_date }
          })
          return after
        })
      )
    })

  return { get, set } as const
})

/** Reads and moves a tenant's period lock. */
export class PeriodLocks extends Effect.Service<PeriodLocks>()("@airlock/ledger/PeriodLocks", { effect: make }) {}

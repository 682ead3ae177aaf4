/**
 * Lockdown (assistant platform runbook). It engages automatically on a burst of readiness
 * failures or rollbacks (N within a window), or when an admin sets it. While it is active,
 * protected actions are refused with `lockdown.active` (the `lockdown` gate, and
 * {@link Lockdown.guard} for operations outside the pipeline). An admin lifts it with the current
 * unlock code before the code's TTL runs out; wrong codes are counted and, past the limit, refused
 * with `rate_limited`; with no lockdown active an unlock is refused with `lockdown.not_active`.
 * Codes rotate (a new code replaces the old; a used code is spent) and only their salted hash is
 * stored. The state lives in storage, shared by every instance.
 */
import { type Actor, Audit, Canonical, Errors, Rbac, SecureRandom, SystemState, TenantScope } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids } from "@airlock/core"
import { Clock, Effect, Option, Schema } from "effect"
import { BreakerEvents } from "./BreakerEvents.js"
import * as Breakers from "./Breakers.js"
import { CounterStore } from "./CounterStore.js"
import { GuardrailsConfig } from "./GuardrailsConfig.js"
import { toRetrySeconds, trailingBuckets, windowStart } from "./Windows.js"

/** The key of the stored unlock code (hash, salt, expiry). */
export const UNLOCK_CODE_KEY = "guardrails.unlock_code"
const BREAKER = "lockdown"
const FAILURES = "lockdown:unlock_failures"

/** What can engage a lockdown automatically. */
export type LockdownSignal = "readiness_failure" | "rollback"

/** The lockdown state as served (`GET /api/v1/system/status`). */
export class LockdownState extends Schema.Class<LockdownState>("LockdownState")({
  active: Schema.Boolean,
  /** `admin` or `auto`, when active. */
  source: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  since: Schema.NullOr(Schema.Number),
  set_by: Schema.NullOr(Schema.String),
  /** When the current unlock code expires, or null when there is none (rotate to get one). */
  code_expires_at: Schema.NullOr(Schema.Number)
}) {}

/** A freshly rotated code: shown once, never stored in clear. */
export interface RotatedCode {
  readonly code: string
  readonly expires_at: number
}

/** Body of `POST /api/v1/system/lockdown`. */
export const LockdownInput = Schema.Struct({ reason: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))) })
/** Body of `POST /api/v1/system/unlock`. */
export const UnlockInput = Schema.Struct({ code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)) })

const StoredCode = Schema.Struct({
  hash: Schema.String,
  salt: Schema.String,
  created_at: Schema.Number,
  expires_at: Schema.Number,
  created_by: Schema.String
})

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** The hash of a code with its salt (what is stored). */
export const codeHash = (code: string, salt: string): string =>
  Canonical.sha256Hex(`airlock.unlock\u0000${salt}\u0000${code.trim().toUpperCase()}`)

/** The lockdown service (its layer also needs {@link Ids.IdGenerator}, for its events). */
export class Lockdown extends Effect.Service<Lockdown>()("@airlock/guardrails/Lockdown", {
  effect: Effect.gen(function*() {
    const breakers = yield* Breakers.BreakerStore
    const audit = yield* Audit.AuditLog
    const random = yield* SecureRandom.SecureRandom
    const rbac = yield* Rbac.Rbac
    const state = yield* SystemState.SystemStateStore
    const counters = yield* CounterStore
    const events = yield* BreakerEvents
    const config = yield* GuardrailsConfig
    const windowMs = config.lockdownWindowSeconds * 1000
    const bucketMs = Math.max(1000, Math.floor(windowMs / 60))
    const attemptMs = config.unlockAttemptWindowSeconds * 1000

    const admin = (actor: Actor.Actor) => rbac.require(actor, "system.admin")

    const storedCode = Effect.map(
      state.get(UNLOCK_CODE_KEY),
      (e) => Option.isSome(e) ? Option.getOrNull(Schema.decodeUnknownOption(StoredCode)(e.value.value)) : null
    )

    /** Is the system locked down? (one storage read: what the gate uses) */
    const isActive: Effect.Effect<boolean, Errors.StorageError> = Effect.map(
      breakers.get(BREAKER),
      (r) => Option.isSome(r) && r.value.state === "open"
    )

    /** The lockdown state. */
    const current: Effect.Effect<LockdownState, Errors.StorageError> = Effect.gen(function*() {
      const r = Option.getOrNull(yield* breakers.get(BREAKER))
      const code = yield* storedCode
      const now = yield* Clock.currentTimeMillis
      const active = r !== null && r.state === "open"
      return new LockdownState({
        active,
        source: active ? String(r.data.source ?? "admin") : null,
        reason: active ? r.reason : null,
        since: active ? r.opened_at : null,
        set_by: active ? String(r.data.set_by ?? "system") : null,
        code_expires_at: code !== null && code.expires_at > now ? code.expires_at : null
      }, true)
    })

    const engage = (source: "admin" | "auto", reason: string, by: string, data: Record<string, unknown>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const outcome = yield* Breakers.update(
          breakers,
          BREAKER,
          () => Breakers.initial(BREAKER, "lockdown", null, now),
          (c) =>
            c.state === "open"
              ? [Option.none(), false] as const
              : [
                Option.some(
                  Breakers.next(c, {
                    state: "open",
                    reason,
                    opened_at: now,
                    until: null,
                    data: { ...data, source, set_by: by }
                  }, now)
                ),
                true
              ] as const
        )
        if (outcome.wrote)
          yield* events.record({
            tenant_id: null,
            kind: "lockdown",
            type: "lockdown",
            reason,
            data: { ...data, source },
            actor_id: by
          })
        return outcome.wrote
      })

    /**
     * Locks the system down by hand; needs `system.admin`. Idempotent. Audited in `tenant` (the
     * tenant the request acts on; default the admin's own).
     */
    const lock = (
      actor: Actor.Actor,
      reason?: string,
      tenant?: string
    ): Effect.Effect<LockdownState, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* admin(actor)
        const auditTenant = yield* TenantScope.acting(rbac, actor, tenant)
        const engaged = yield* engage("admin", reason ?? "manual", actor.id, {})
        if (engaged) {
          yield* audit.append({
            tenant_id: auditTenant,
            actor_id: actor.id,
            action: "system.lockdown",
            subject: "system",
            data: { reason: reason ?? "manual" }
          })
        }
        return yield* current
      })

    /** Counts a readiness failure or a rollback; N within the window engages the lockdown. */
    const recordSignal = (signal: LockdownSignal): Effect.Effect<boolean, Errors.StorageError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const key = `lockdown:${signal}`
        const bucket = windowStart(now, bucketMs)
        yield* counters.increment(key, bucket, 1, null, bucket + windowMs + bucketMs)
        const { from, to } = trailingBuckets(now, windowMs, bucketMs)
        const seen = yield* counters.sum(key, from, to)
        const threshold = signal === "rollback" ? config.lockdownRollbacks : config.lockdownReadinessFailures
        if (seen < threshold) return false
        return yield* engage("auto", signal === "rollback" ? "rollback_burst" : "readiness_failure_burst", "system", {
          signal,
          count: seen,
          threshold,
          window_seconds: config.lockdownWindowSeconds
        })
      })

    /** Makes a new unlock code (admin); the old one stops working. The code is returned once. Audited in `tenant`. */
    const rotateCode = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<RotatedCode, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* admin(actor)
        const auditTenant = yield* TenantScope.acting(rbac, actor, tenant)
        const bytes = yield* random.bytes(16)
        const code = Array.from(bytes.subarray(0, 10), (b) => CROCKFORD[b & 31]).join("")
        const salt = Array.from(bytes.subarray(10), (b) => b.toString(16).padStart(2, "0")).join("")
        const now = yield* Clock.currentTimeMillis
        const expires_at = now + config.unlockCodeTtlSeconds * 1000
        yield* state.put(
          new SystemState.SystemStateEntry({
            key: UNLOCK_CODE_KEY,
            value: { hash: codeHash(code, salt), salt, created_at: now, expires_at, created_by: actor.id },
            updated_at: now,
            updated_by: actor.id
          }, true)
        )
        yield* events.record({
          tenant_id: null,
          kind: "lockdown",
          type: "code_rotated",
          reason: "rotated",
          data: { expires_at },
          actor_id: actor.id
        })
        yield* audit.append({
          tenant_id: auditTenant,
          actor_id: actor.id,
          action: "system.unlock_code_rotated",
          subject: "system",
          data: { expires_at }
        })
        return { code, expires_at }
      })

    const refuse = (code: string, message: string) => new Errors.Forbidden({ code, message })

    // nothing to lift: neither a failed attempt nor an unlock (no event, no audit, the code is not spent)
    const notActive = () =>
      new Errors.Conflict({
        code: "lockdown.not_active",
        message: "No lockdown is active: nothing to unlock"
      })

    /**
     * Lifts the lockdown with the current code (admin). Wrong or expired codes count towards the
     * attempt limit; past it every attempt is `rate_limited` until the window ends. A used code
     * is spent. With no lockdown active (or one lifted meanwhile by another request) it fails with
     * `lockdown.not_active` (409), whatever the code, and writes nothing. Audited in `tenant`.
     */
    const unlock = (
      actor: Actor.Actor,
      code: string,
      tenant?: string
    ): Effect.Effect<LockdownState, Errors.Forbidden | Errors.Conflict | Errors.RateLimited | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* admin(actor)
        const auditTenant = yield* TenantScope.acting(rbac, actor, tenant)
        if (!(yield* isActive)) return yield* notActive()
        const now = yield* Clock.currentTimeMillis
        const w = windowStart(now, attemptMs)
        // an attempt takes a slot atomically, so no number of instances can try more than the limit
        const slot = yield* counters.increment(FAILURES, w, 1, config.unlockMaxAttempts, w + attemptMs)
        if (Option.isNone(slot)) {
          return yield* new Errors.RateLimited({
            retry_after_seconds: toRetrySeconds(w + attemptMs - now),
            message: "Too many wrong unlock codes",
            details: { limit: config.unlockMaxAttempts, window_seconds: config.unlockAttemptWindowSeconds }
          })
        }
        const stored = yield* storedCode
        const expired = stored !== null && stored.expires_at <= now
        const valid = stored !== null && !expired &&
          Canonical.constantTimeEqualHex(codeHash(code, stored.salt), stored.hash)
        if (!valid) {
          yield* events.record({
            tenant_id: null,
            kind: "lockdown",
            type: "unlock_failed",
            reason: stored === null ? "no_code" : expired ? "code_expired" : "code_invalid",
            data: { attempts: slot.value, limit: config.unlockMaxAttempts },
            actor_id: actor.id
          })
          return yield* (expired
            ? refuse("lockdown.code_expired", "Unlock code expired")
            : refuse("lockdown.code_invalid", "Invalid unlock code"))
        }
        // a right code does not count as a wrong attempt
        yield* counters.increment(FAILURES, w, -1, null, w + attemptMs)
        const r = yield* breakers.get(BREAKER)
        const lifted = Option.isSome(r) && r.value.state === "open" &&
          (yield* breakers.put(Breakers.next(r.value, { state: "closed" }, now), r.value.version))
        // another request lifted it between the check and here: it spends the code and audits
        if (!lifted || Option.isNone(r)) return yield* notActive()
        yield* events.record({
          tenant_id: null,
          kind: "lockdown",
          type: "unlock",
          reason: "code_accepted",
          data: { locked_since: r.value.opened_at },
          actor_id: actor.id
        })
        yield* audit.append({
          tenant_id: auditTenant,
          actor_id: actor.id,
          action: "system.unlock",
          subject: "system",
          data: { locked_since: r.value.opened_at }
        })
        // the code is spent: a new one must be rotated for the next unlock
        yield* state.put(
          new SystemState.SystemStateEntry(
            { key: UNLOCK_CODE_KEY, value: null, updated_at: now, updated_by: actor.id },
            true
          )
        )
        return yield* current
      })

    /** Fails with `lockdown.active` while locked down; for protected operations outside the pipeline. */
    const guard = (operation: string): Effect.Effect<void, Errors.LockdownActive | Errors.StorageError> =>
      Effect.flatMap(isActive, (active) =>
        active
          ? Effect.fail(
            new Errors.LockdownActive({
              message: "System is locked down; protected actions are refused",
              details: { operation }
            })
          )
          : Effect.void)

    // effect-valued members are restated so the published declarations can name their errors
    return {
      lock,
      unlock,
      rotateCode,
      recordSignal,
      guard,
      isActive: isActive as Effect.Effect<boolean, Errors.StorageError>,
      current: current as Effect.Effect<LockdownState, Errors.StorageError>
    } as const
  }),
  dependencies: [BreakerEvents.Default]
}) {}

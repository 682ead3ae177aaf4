/**
 * The trust breaker (companion runbook): when people reject too many of the AI's proposals, the
 * tenant's mode is downgraded (e.g. `autopilot_limited` → `suggest_only`). The rejection rate is
 * computed from core's shadow records — of the proposals made in the window that were decided
 * (applied or rejected), the share rejected — and only with at least the minimum sample. A trip
 * changes the settings through `Tenants.updateSettings` (audited as `settings.updated`), and the
 * trip and the later reset are event rows. The mode is never raised back automatically. A tenant
 * may set its own threshold, minimum sample, window and downgrade target
 * (`GuardrailsConfig.TenantKeys`, in `AiSettings.extensions`; {@link settingsFor}).
 */
import { Action, type Actor, AiSettings, type Errors, type Ids, Rbac, Tenants } from "@airlock/core"
import { Clock, Effect, Option } from "effect"
import { BreakerEvents } from "./BreakerEvents.js"
import * as Breakers from "./Breakers.js"
import {
  GuardrailsConfig,
  type GuardrailsSettings,
  MALFORMED,
  type TenantExtensions,
  TenantKeys,
  tenantNumber,
  TenantRanges
} from "./GuardrailsConfig.js"

const RANK: Record<AiSettings.AiMode, number> = { shadow_only: 0, suggest_only: 1, drafts: 2, autopilot_limited: 3 }

/** Is `mode` more autonomous than `target` (so a downgrade would change it)? */
export const above = (mode: AiSettings.AiMode, target: AiSettings.AiMode): boolean => RANK[mode] > RANK[target]

/** The rejection rate of a sample, or 0 when empty. Pure. */
export const rejectionRate = (rejected: number, applied: number): number => {
  const n = rejected + applied
  return n === 0 ? 0 : rejected / n
}

/** Should the breaker trip for this sample? Pure. */
export const shouldTrip = (rejected: number, applied: number, minSample: number, threshold: number): boolean =>
  rejected + applied >= minSample && rejectionRate(rejected, applied) >= threshold

/** The trust-breaker settings in force for one tenant. */
export interface TrustSettings {
  /** Rejection rate at or above which the breaker trips. */
  readonly rejectionRate: number
  /** Fewer decided proposals than this in the window never trip. */
  readonly minSample: number
  /** The window decided proposals are counted over. */
  readonly windowSeconds: number
  /** The mode a trip downgrades to. */
  readonly downgradeTo: AiSettings.AiMode
}

const MODES: ReadonlyArray<unknown> = ["shadow_only", "suggest_only", "drafts", "autopilot_limited"]

/**
 * The tenant's trust-breaker settings: its own override (`guardrails.trust_*`), else the
 * deployment's. A malformed stored override fails safe — the strictest reading: a rejection
 * rate of 0 (any sample of the minimum size trips), a minimum sample of 1, a downgrade to
 * `shadow_only`. A malformed window reads as the deployment's: neither a longer nor a shorter
 * window is stricter in general (a longer one lets an older good record outweigh a recent run of
 * rejections, a shorter one may never reach the minimum sample). Pure.
 */
export const settingsFor = (
  config: Pick<
    GuardrailsSettings,
    "trustRejectionRate" | "trustMinSample" | "trustWindowSeconds" | "trustDowngradeTo"
  >,
  settings?: TenantExtensions
): TrustSettings => {
  const rate = tenantNumber(settings, TenantKeys.trustRejectionRate, TenantRanges.trustRejectionRate)
  const sample = tenantNumber(settings, TenantKeys.trustMinSample, TenantRanges.trustMinSample)
  const window = tenantNumber(settings, TenantKeys.trustWindowSeconds, TenantRanges.trustWindowSeconds)
  const has = settings !== undefined && Object.hasOwn(settings.extensions, TenantKeys.trustDowngradeTo) &&
    settings.extensions[TenantKeys.trustDowngradeTo] != null
  const target = has ? settings!.extensions[TenantKeys.trustDowngradeTo] : undefined
  return {
    rejectionRate: rate === null ? config.trustRejectionRate : rate === MALFORMED
      ? TenantRanges.trustRejectionRate.min
      : rate,
    minSample: sample === null ? config.trustMinSample : sample === MALFORMED
      ? TenantRanges.trustMinSample.min
      : sample,
    windowSeconds: window === null || window === MALFORMED ? config.trustWindowSeconds : window,
    downgradeTo: !has
      ? config.trustDowngradeTo
      : MODES.includes(target)
      ? target as AiSettings.AiMode
      : "shadow_only"
  }
}

/** What one evaluation read and did. */
export interface TrustReading {
  readonly tenant_id: string
  readonly rejected: number
  readonly applied: number
  readonly sample: number
  readonly rejection_rate: number
  readonly threshold: number
  readonly min_sample: number
  readonly window_seconds: number
  readonly tripped: boolean
  /** The mode change made by this evaluation, if any. */
  readonly downgraded: { readonly from: AiSettings.AiMode; readonly to: AiSettings.AiMode } | null
}

const PAGE = 500
const MAX_ROWS = 5000

/** The breaker key of a tenant. */
export const breakerKey = (tenant: string) => `trust:${tenant}`

/** The trust breaker. */
export class TrustBreaker extends Effect.Service<TrustBreaker>()("@airlock/guardrails/TrustBreaker", {
  effect: Effect.gen(function*() {
    const actions = yield* Action.ActionStore
    const rbac = yield* Rbac.Rbac
    const settingsStore = yield* AiSettings.AiSettingsStore
    const tenants = yield* Tenants.Tenants
    const breakers = yield* Breakers.BreakerStore
    const events = yield* BreakerEvents
    const config = yield* GuardrailsConfig
    // when each tenant was last evaluated by the propose-time gate (this process only)
    const lastEvaluated = new Map<string, number>()
    const everyMs = config.trustEvaluateEverySeconds * 1000

    /** Decided proposals of one status proposed since `since` (newest first, bounded). */
    const countSince = (
      tenant: Ids.TenantId,
      status: "rejected" | "applied",
      since: number
    ): Effect.Effect<number, Errors.StorageError> =>
      Effect.gen(function*() {
        let n = 0
        let before: string | undefined
        while (n < MAX_ROWS) {
          const page = yield* actions.list(tenant, { status, limit: PAGE, before })
          for (const a of page) {
            if (a.proposed_at < since) return n
            n++
          }
          if (page.length < PAGE) return n
          before = page.at(-1)!.id
        }
        return n
      })

    /**
     * Computes the tenant's rejection rate over the window and, above the threshold with enough
     * sample, trips the breaker and downgrades the mode; below it, resets a tripped breaker. The
     * window, threshold, sample and target are the tenant's ({@link settingsFor}, read from its
     * stored settings here, so every caller enforces the same values).
     */
    const evaluate = (
      tenant: string
    ): Effect.Effect<TrustReading, Errors.StorageError | Errors.NotFound | Errors.Forbidden> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const id = tenant as Ids.TenantId
        const stored = Option.getOrUndefined(yield* settingsStore.get(id))
        const t = settingsFor(config, stored)
        const since = now - t.windowSeconds * 1000
        const rejected = yield* countSince(id, "rejected", since)
        const applied = yield* countSince(id, "applied", since)
        const rate = rejectionRate(rejected, applied)
        const trip = shouldTrip(rejected, applied, t.minSample, t.rejectionRate)
        const numbers = {
          rejected,
          applied,
          sample: rejected + applied,
          rejection_rate: rate,
          threshold: t.rejectionRate,
          min_sample: t.minSample,
          window_seconds: t.windowSeconds
        }
        let downgraded: TrustReading["downgraded"] = null
        const current = Option.getOrUndefined(yield* breakers.get(breakerKey(tenant)))
        if (trip) {
          // the mode read again just before the change: the breaker only ever lowers it
          const settings = yield* settingsStore.get(id)
          const mode = Option.isSome(settings) ? settings.value.ai_mode : "shadow_only"
          const wasOpen = current?.state === "open"
          if (above(mode, t.downgradeTo)) {
            yield* tenants.updateSettings(id, { ai_mode: t.downgradeTo }, "system")
            downgraded = { from: mode, to: t.downgradeTo }
          }
          if (!wasOpen || downgraded !== null) {
            // one compare-and-set from the state read above: concurrent evaluations record one trip
            const base = current ?? Breakers.initial(breakerKey(tenant), "trust", tenant, now)
            const wrote = yield* breakers.put(
              Breakers.next(
                base,
                { state: "open", reason: "rejection_rate", opened_at: now, data: { ...numbers } },
                now
              ),
              base.version
            )
            if (wrote) {
              yield* events.record({
                tenant_id: tenant,
                kind: "trust",
                type: "trip",
                reason: "rejection_rate",
                data: { ...numbers, downgraded_from: downgraded?.from ?? null, downgraded_to: downgraded?.to ?? null }
              })
            }
          }
        } else if (current?.state === "open") {
          const closed = Breakers.next(current, { state: "closed" }, now)
          if (yield* breakers.put(closed, current.version)) {
            yield* events.record({
              tenant_id: tenant,
              kind: "trust",
              type: "reset",
              reason: "rejection_rate_recovered",
              data: numbers
            })
          }
        }
        return { tenant_id: tenant, ...numbers, tripped: trip, downgraded }
      })

    /** Evaluates at most once per `trustEvaluateEverySeconds` per tenant in this process. */
    const evaluateThrottled = (
      tenant: string
    ): Effect.Effect<Option.Option<TrustReading>, Errors.StorageError | Errors.NotFound | Errors.Forbidden> =>
      // on every AI proposal: the throttled answer is one clock read, no generator
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const last = lastEvaluated.get(tenant)
        if (last !== undefined && now - last < everyMs) return Effect.succeed(Option.none<TrustReading>())
        lastEvaluated.set(tenant, now)
        return Effect.map(evaluate(tenant), Option.some)
      })

    /** Evaluates the actor's tenant on demand; needs `companion.settings.manage`. */
    const evaluateFor = (
      actor: Actor.Actor
    ): Effect.Effect<TrustReading, Errors.StorageError | Errors.NotFound | Errors.Forbidden> =>
      Effect.zipRight(rbac.require(actor, "companion.settings.manage"), evaluate(actor.tenant_id))

    /** The stored breaker of a tenant. */
    const state = (tenant: string): Effect.Effect<Breakers.BreakerRecord, Errors.StorageError> =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          Effect.map(
            breakers.get(breakerKey(tenant)),
            Option.getOrElse(() => Breakers.initial(breakerKey(tenant), "trust", tenant, now))
          )
      )

    /** The tenant's trust-breaker settings ({@link settingsFor} with this deployment's values). */
    const settingsOf = (settings?: TenantExtensions): TrustSettings => settingsFor(config, settings)

    return { evaluate, evaluateThrottled, evaluateFor, state, settingsFor: settingsOf } as const
  }),
  dependencies: [BreakerEvents.Default]
}) {}

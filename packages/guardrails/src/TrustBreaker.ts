/**
 * The trust breaker (companion runbook): when people reject too many of the AI's proposals, the
 * tenant's mode is downgraded (e.g. `autopilot_limited` → `suggest_only`). The rejection rate is
 * computed from core's shadow records of AI-governed kinds — of the proposals made in the window
 * that were decided, the share rejected or reversed — and only with at least the minimum sample
 * ({@link outcomeOf}: an apply counts as accepted only when a person made it; an auto-post, the
 * system's own decision, is left out of the sample). A trip
 * changes the settings through `Tenants.updateSettings` (audited as `settings.updated`), and the
 * trip and the later reset are event rows. The mode is never raised back automatically. A tenant
 * may set its own threshold, minimum sample, window and downgrade target
 * (`GuardrailsConfig.TenantKeys`, in `AiSettings.extensions`; {@link settingsFor}).
 */
import { Action, ActionRegistry, type Actor, AiSettings, type Errors, Ids, Rbac, Tenants } from "@airlock/core"
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

/** The statuses of a decided proposal the trust breaker reads. */
export type DecidedStatus = "applied" | "rejected" | "rolled_back"

/**
 * How one decided proposal counts in the trust breaker's sample. Pure.
 * - `rejected`: rejected, by whoever — it did not stand.
 * - `reversed`: applied and later rolled back (reversed) — a person undid it.
 * - `accepted`: applied by a person (an actor of kind `user`): a person vouched for it.
 * - `excluded`: applied by the system or an agent (an auto-post, an agent's own promotion) or by
 *   an actor the tenant does not know: not a person's decision, so not in the sample at all.
 * Only a person's apply lowers the rate; any refusal or reversal raises it (fail safe).
 */
export const outcomeOf = (
  status: DecidedStatus,
  appliedBy: Actor.ActorKind | null
): "rejected" | "reversed" | "accepted" | "excluded" =>
  status === "rejected"
    ? "rejected"
    : status === "rolled_back"
    ? "reversed"
    : appliedBy === "user"
    ? "accepted"
    : "excluded"

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
  /** Proposals in the window rejected. */
  readonly rejected: number
  /** Proposals in the window applied and later rolled back (counted as rejections). */
  readonly reversed: number
  /** Proposals in the window a person applied (with the splits proposed: the accepted ones). */
  readonly applied: number
  /** Proposals in the window applied by the system or an agent (auto-posts): not in the sample. */
  readonly excluded: number
  /** `rejected + reversed + applied`. */
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
    const store = yield* Action.ActionStore
    const registry = yield* ActionRegistry.ActionRegistry
    const rbac = yield* Rbac.Rbac
    const settingsStore = yield* AiSettings.AiSettingsStore
    const tenants = yield* Tenants.Tenants
    const breakers = yield* Breakers.BreakerStore
    const events = yield* BreakerEvents
    const config = yield* GuardrailsConfig
    // when each tenant was last evaluated by the propose-time gate (this process only)
    const lastEvaluated = new Map<string, number>()
    const everyMs = config.trustEvaluateEverySeconds * 1000

    /**
     * The tenant's decided proposals of AI-governed kinds proposed since `since`, by
     * {@link outcomeOf} (newest first, at most {@link MAX_ROWS} of each status and kind). Who
     * applied is read from the tenant's actors (once per actor per evaluation).
     */
    const tally = (
      tenant: Ids.TenantId,
      since: number
    ): Effect.Effect<Record<ReturnType<typeof outcomeOf>, number>, Errors.StorageError> =>
      Effect.gen(function*() {
        const counts = { rejected: 0, reversed: 0, accepted: 0, excluded: 0 }
        const closers = new Map<string, Actor.ActorKind | null>()
        const kindOfCloser = (id: string | null) =>
          id === null
            ? Effect.succeed(null)
            : closers.has(id)
            ? Effect.succeed(closers.get(id)!)
            : tenants.getActor(tenant, Ids.ActorId.make(id)).pipe(
              Effect.map((a): Actor.ActorKind | null => a.kind),
              Effect.catchTag("NotFound", () => Effect.succeed(null)),
              Effect.tap((kind) => closers.set(id, kind))
            )
        const kinds = registry.kinds().filter((k) => k.aiGoverned).map((k) => k.name)
        for (const kind of kinds) {
          for (const status of ["rejected", "rolled_back", "applied"] as const) {
            let n = 0
            let before: string | undefined
            scan: while (n < MAX_ROWS) {
              const page = yield* store.list(tenant, { status, kind, limit: PAGE, before })
              for (const a of page) {
                if (a.proposed_at < since) break scan
                n++
                counts[outcomeOf(status, status === "applied" ? yield* kindOfCloser(a.closed_by) : null)]++
              }
              if (page.length < PAGE) break
              before = page.at(-1)!.id
            }
          }
        }
        return counts
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
        const counted = yield* tally(id, since)
        const against = counted.rejected + counted.reversed
        const rate = rejectionRate(against, counted.accepted)
        const trip = shouldTrip(against, counted.accepted, t.minSample, t.rejectionRate)
        const numbers = {
          rejected: counted.rejected,
          reversed: counted.reversed,
          applied: counted.accepted,
          excluded: counted.excluded,
          sample: against + counted.accepted,
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

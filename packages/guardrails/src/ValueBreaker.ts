/**
 * The value breaker (companion runbook): an amount at or above the tenant's
 * `value_breaker_threshold` still gets its proposal created, but forced into review — its tier
 * is raised, its risk reasons carry `value_breaker`, and it is never promoted automatically.
 * As a gate it answers `review` at propose and at apply (core then refuses automatic apply);
 * {@link ValueBreaker.assess} gives callers (the companion, the ledger) the same verdict with
 * the tier and reason to put on their proposals.
 */
import type { AiSettings, Errors } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service layer (TS2742)
import type { Ids, Rbac } from "@airlock/core"
import { Effect } from "effect"
import { BreakerEvents, type GuardrailEvent } from "./BreakerEvents.js"
import { GuardrailsConfig, tenantDecimal, TenantKeys } from "./GuardrailsConfig.js"
import { memo } from "./internal/memo.js"
import type { ScaledAmount } from "./KindPolicy.js"

/** The risk reason the value breaker adds. */
export const REASON = "value_breaker"

const DECIMAL = /^(\d+)(?:\.(\d+))?$/

/** Formats a scaled amount as a decimal string (`{minor: 123456n, scale: 2}` → `"1234.56"`). */
export const formatScaled = ({ minor, scale }: ScaledAmount): string => {
  if (scale <= 0) return minor.toString()
  const negative = minor < 0n
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

/**
 * Compares a scaled amount with a decimal threshold exactly (no floating point): negative when
 * below, 0 when equal, positive when above. Returns null for a malformed threshold.
 */
export const compareToThreshold = (amount: ScaledAmount, threshold: string): number | null => {
  const t = parseThreshold(threshold)
  if (t === null) return null
  // bring both to the larger scale (exact: only multiplications by powers of ten)
  const a = amount.scale < t.scale ? amount.minor * pow10(t.scale - amount.scale) : amount.minor
  const b = t.scale < amount.scale ? t.minor * pow10(amount.scale - t.scale) : t.minor
  return a < b ? -1 : a > b ? 1 : 0
}

const pow10 = (n: number): bigint => 10n ** BigInt(n)

// thresholds are a few strings (the default and the tenants' own), parsed once each
const parseThreshold: (threshold: string) => ScaledAmount | null = memo((threshold) => {
  const m = DECIMAL.exec(threshold.trim())
  if (!m) return null
  const fraction = m[2] ?? ""
  return { minor: BigInt(m[1]! + fraction), scale: fraction.length }
})

/** What the value breaker decided for one amount. */
export interface ValueAssessment {
  readonly tripped: boolean
  readonly amount: string
  /** The threshold applied, or null when the breaker is off for the tenant. */
  readonly threshold: string | null
  /** Risk reasons to add to the proposal (`["value_breaker"]` when tripped). */
  readonly risk_reasons: ReadonlyArray<string>
  /** The lowest tier the proposal may have (raised when tripped), or null. */
  readonly min_tier: number | null
  /** Tripped proposals are never auto-applied. */
  readonly auto_apply_allowed: boolean
}

/** The value breaker (its layer also needs {@link Ids.IdGenerator} and {@link Rbac.Rbac}, for its events). */
export class ValueBreaker extends Effect.Service<ValueBreaker>()("@airlock/guardrails/ValueBreaker", {
  effect: Effect.gen(function*() {
    const config = yield* GuardrailsConfig
    const events = yield* BreakerEvents

    /** The tenant's threshold: its own setting, else the configured default (null = off). */
    const thresholdFor = (settings: AiSettings.AiSettings): string | null =>
      tenantDecimal(settings, TenantKeys.valueBreakerThreshold) ?? config.valueBreakerThreshold

    /** Assesses an amount for a tenant. Pure given the settings. */
    const assess = (settings: AiSettings.AiSettings, amount: ScaledAmount): ValueAssessment => {
      const threshold = thresholdFor(settings)
      const cmp = threshold === null ? null : compareToThreshold(amount, threshold)
      // a malformed stored threshold fails safe: everything goes to review
      const tripped = threshold !== null && (cmp === null || cmp >= 0)
      return {
        tripped,
        amount: formatScaled(amount),
        threshold,
        risk_reasons: tripped ? [REASON] : [],
        min_tier: tripped ? config.valueBreakerTier : null,
        auto_apply_allowed: !tripped
      }
    }

    /** A tier raised to the value breaker's floor when tripped. */
    const raiseTier = (tier: number, assessment: ValueAssessment): number =>
      assessment.min_tier === null ? tier : Math.max(tier, assessment.min_tier)

    /** Records a trip as an event row (once per proposal that tripped). */
    const recordTrip = (
      tenant: string,
      assessment: ValueAssessment,
      subject: string,
      actor_id: string
    ): Effect.Effect<GuardrailEvent, Errors.StorageError> =>
      events.record({
        tenant_id: tenant,
        kind: "value",
        type: "trip",
        reason: REASON,
        data: { amount: assessment.amount, threshold: assessment.threshold, subject, min_tier: assessment.min_tier },
        actor_id
      })

    return { assess, raiseTier, recordTrip, thresholdFor } as const
  }),
  dependencies: [BreakerEvents.Default]
}) {}

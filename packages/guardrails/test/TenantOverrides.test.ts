/** A tenant's own velocity and trust breaker settings as guardrails reads them: override, deployment, fail-safe. */
import { GuardrailsConfig, TrustBreaker, VelocityBreaker } from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"

const K = GuardrailsConfig.TenantKeys
const config = GuardrailsConfig.defaults
const tenant = (extensions: Record<string, unknown>) => ({ extensions })

describe("VelocityBreaker.limitsFor", () => {
  it("the tenant's own limit and cooldown; a tenant without them (or no settings) gets the deployment's", () => {
    expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityMaxPerMinute]: 5, [K.velocityCooldownSeconds]: 60 })))
      .toStrictEqual({ maxPerMinute: 5, cooldownSeconds: 60 })
    expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityMaxPerMinute]: 5 })))
      .toStrictEqual({ maxPerMinute: 5, cooldownSeconds: 300 })
    expect(VelocityBreaker.limitsFor(config, tenant({}))).toStrictEqual({ maxPerMinute: 30, cooldownSeconds: 300 })
    expect(VelocityBreaker.limitsFor(config)).toStrictEqual({ maxPerMinute: 30, cooldownSeconds: 300 })
    expect(VelocityBreaker.limitsFor({ velocityMaxPerMinute: 7, velocityCooldownSeconds: 9 }, tenant({})))
      .toStrictEqual({ maxPerMinute: 7, cooldownSeconds: 9 })
  })

  it("a malformed stored value fails safe: the strictest a tenant may set (1 a minute, a day's cooldown)", () => {
    for (const bad of ["50", 0, -3, 2.5, 10_001, Number.NaN, true, { n: 5 }]) {
      expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityMaxPerMinute]: bad })))
        .toStrictEqual({ maxPerMinute: 1, cooldownSeconds: 300 })
    }
    for (const bad of ["50", 0, -3, 2.5, 86_401, Number.NaN, true, { n: 5 }]) {
      expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityCooldownSeconds]: bad })))
        .toStrictEqual({ maxPerMinute: 30, cooldownSeconds: 86_400 })
    }
    // the range's ends are valid
    expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityMaxPerMinute]: 10_000 })).maxPerMinute).toBe(10_000)
    expect(VelocityBreaker.limitsFor(config, tenant({ [K.velocityCooldownSeconds]: 1 })).cooldownSeconds).toBe(1)
  })
})

describe("TrustBreaker.settingsFor", () => {
  const deployment = { rejectionRate: 0.5, minSample: 20, windowSeconds: 604_800, downgradeTo: "suggest_only" }

  it("the tenant's own threshold, sample, window and target; otherwise the deployment's", () => {
    expect(TrustBreaker.settingsFor(
      config,
      tenant({
        [K.trustRejectionRate]: 0.3,
        [K.trustMinSample]: 4,
        [K.trustWindowSeconds]: 3600,
        [K.trustDowngradeTo]: "shadow_only"
      })
    )).toStrictEqual({ rejectionRate: 0.3, minSample: 4, windowSeconds: 3600, downgradeTo: "shadow_only" })
    expect(TrustBreaker.settingsFor(config, tenant({}))).toStrictEqual(deployment)
    expect(TrustBreaker.settingsFor(config)).toStrictEqual(deployment)
    expect(TrustBreaker.settingsFor(config, tenant({ [K.trustRejectionRate]: 0, [K.trustMinSample]: 5_000 })))
      .toMatchObject({ rejectionRate: 0, minSample: 5_000 })
  })

  it("a malformed stored value fails safe: rate 0, sample 1, downgrade to shadow_only; the window stays the deployment's", () => {
    const read = (key: string, bad: unknown) => TrustBreaker.settingsFor(config, tenant({ [key]: bad }))
    for (const bad of ["0.5", -0.1, 1.5, Number.POSITIVE_INFINITY, false]) {
      expect(read(K.trustRejectionRate, bad)).toStrictEqual({ ...deployment, rejectionRate: 0 })
    }
    for (const bad of ["5", 0, 2.5, 5_001, Number.NaN, { n: 5 }]) {
      expect(read(K.trustMinSample, bad)).toStrictEqual({ ...deployment, minSample: 1 })
    }
    for (const bad of ["3600", 59, 3600.5, 90 * 86_400 + 1, true]) {
      expect(read(K.trustWindowSeconds, bad)).toStrictEqual(deployment)
    }
    expect(TrustBreaker.settingsFor(config, tenant({ [K.trustDowngradeTo]: "off" })).downgradeTo).toBe("shadow_only")
    expect(TrustBreaker.settingsFor(config, tenant({ [K.trustDowngradeTo]: 3 })).downgradeTo).toBe("shadow_only")
  })

  it("the trip rule applies the tenant's numbers", () => {
    const own = TrustBreaker.settingsFor(config, tenant({ [K.trustRejectionRate]: 0.6, [K.trustMinSample]: 3 }))
    expect(TrustBreaker.shouldTrip(2, 1, own.minSample, own.rejectionRate)).toBe(true)
    const dep = TrustBreaker.settingsFor(config, tenant({}))
    expect(TrustBreaker.shouldTrip(2, 1, dep.minSample, dep.rejectionRate)).toBe(false)
  })
})

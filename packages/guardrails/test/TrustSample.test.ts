import { TrustBreaker } from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"

describe("trust breaker sample", () => {
  it("only a person's apply is an acceptance; an auto-post is left out; a rejection or reversal counts against", () => {
    expect(TrustBreaker.outcomeOf("applied", "user")).toBe("accepted")
    expect(TrustBreaker.outcomeOf("applied", "system")).toBe("excluded")
    expect(TrustBreaker.outcomeOf("applied", "agent")).toBe("excluded")
    // an actor the tenant does not know (the companion's auto-post actor is not stored) is no person
    expect(TrustBreaker.outcomeOf("applied", null)).toBe("excluded")
    expect(TrustBreaker.outcomeOf("rejected", "user")).toBe("rejected")
    expect(TrustBreaker.outcomeOf("rejected", null)).toBe("rejected")
    expect(TrustBreaker.outcomeOf("rolled_back", "user")).toBe("reversed")
  })

  it("many auto-posts and a few rejections trip at the configured rate", () => {
    // 90 auto-posts, 2 rejections, 1 reversal, 3 applied by a person; rate 0.4, minimum sample 5
    const records = [
      ...Array.from({ length: 90 }, () => ["applied", "system"] as const),
      ["rejected", "user"] as const,
      ["rejected", "user"] as const,
      ["rolled_back", "user"] as const,
      ...Array.from({ length: 3 }, () => ["applied", "user"] as const)
    ]
    const counts = { rejected: 0, reversed: 0, accepted: 0, excluded: 0 }
    for (const [status, by] of records) counts[TrustBreaker.outcomeOf(status, by)]++
    expect(counts).toStrictEqual({ rejected: 2, reversed: 1, accepted: 3, excluded: 90 })
    const against = counts.rejected + counts.reversed
    expect(TrustBreaker.rejectionRate(against, counts.accepted)).toBe(0.5)
    expect(TrustBreaker.shouldTrip(against, counts.accepted, 5, 0.4)).toBe(true)
    // what counting the auto-posts as accepted read: 3 / 96, no trip
    expect(TrustBreaker.shouldTrip(against, counts.accepted + counts.excluded, 5, 0.4)).toBe(false)
  })
})

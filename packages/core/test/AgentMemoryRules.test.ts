import { Actor, AgentMemory, AgentMemoryConfig, AgentMemoryRules as R, Ids, Trusted } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"

const DAY = R.DAY_MS

const item = (over: Partial<AgentMemory.MemoryItem>): AgentMemory.MemoryItem =>
  Trusted.make(AgentMemory.MemoryItem, {
    uid: "mem_1",
    tenant_id: Ids.TenantId.make("t"),
    thread_id: "th",
    agent_id: "a",
    kind: "fact",
    subject: "s",
    predicate: "p",
    value: 1,
    value_hash: "h1",
    content: "",
    importance: 0.5,
    tier: "hot",
    status: "active",
    source_actor: "a",
    source_ref: null,
    token_count: 0,
    reinforced_count: 1,
    last_confirmed_at: 0,
    last_used_at: 0,
    valid_from: 0,
    valid_to: null,
    valid_to_history: [],
    recorded_at: 0,
    expired_at: null,
    accepted_at: 0,
    version: 1,
    ...over
  })

const link = (from_uid: string, to_uid: string, relation: AgentMemory.LinkRelation, created_at = 0) =>
  Trusted.make(AgentMemory.MemoryLink, {
    tenant_id: Ids.TenantId.make("t"),
    from_uid,
    to_uid,
    relation,
    created_at,
    created_by: "x"
  })

describe("AgentMemoryRules: validity", () => {
  it("half-open periods overlap only when they share an instant; empty periods overlap nothing", () => {
    const v = (valid_from: number, valid_to: number | null) => ({ valid_from, valid_to })
    expect(R.overlaps(v(0, 10), v(10, null))).toBe(false)
    expect(R.overlaps(v(10, null), v(0, 10))).toBe(false)
    expect(R.overlaps(v(0, 11), v(10, null))).toBe(true)
    expect(R.overlaps(v(0, null), v(100, 200))).toBe(true)
    expect(R.overlaps(v(5, 5), v(0, null))).toBe(false)
    expect(R.overlaps(v(20, null), v(0, 10))).toBe(false)
  })
  it("the tail a shorter fact leaves: from its end to the old end; none after an open or later end", () => {
    expect(R.tailAfter({ valid_from: 0, valid_to: null }, 40)).toStrictEqual({ valid_from: 40, valid_to: null })
    expect(R.tailAfter({ valid_from: 0, valid_to: 100 }, 40)).toStrictEqual({ valid_from: 40, valid_to: 100 })
    expect([R.tailAfter({ valid_from: 0, valid_to: 100 }, null), R.tailAfter({ valid_from: 0, valid_to: 100 }, 100)])
      .toStrictEqual([null, null])
  })
  it("containment: the outer period holds at every instant of the inner one", () => {
    const v = (valid_from: number, valid_to: number | null) => ({ valid_from, valid_to })
    expect([R.contains(v(0, null), v(5, null)), R.contains(v(0, 10), v(2, 10)), R.contains(v(0, 10), v(2, 11))])
      .toStrictEqual([true, true, false])
    expect([R.contains(v(0, 10), v(2, null)), R.contains(v(5, null), v(4, 6))]).toStrictEqual([false, false])
  })
  it("a cut never starts before the fact nor extends its end", () => {
    expect(R.cutAt({ valid_from: 10, valid_to: null }, 50)).toBe(50)
    expect(R.cutAt({ valid_from: 10, valid_to: null }, 5)).toBe(10)
    expect(R.cutAt({ valid_from: 10, valid_to: 30 }, 50)).toBe(30)
  })
})

describe("AgentMemoryRules: decay and tiers", () => {
  const settings = AgentMemoryConfig.defaults
  it("importance halves every half-life of idleness; disabled means no decay", () => {
    expect(R.effectiveImportance(0.8, 30 * DAY, settings)).toBeCloseTo(0.4, 10)
    expect(R.effectiveImportance(0.8, 60 * DAY, settings)).toBeCloseTo(0.2, 10)
    expect(R.effectiveImportance(0.8, 0, settings)).toBe(0.8)
    expect(R.effectiveImportance(0.8, 60 * DAY, { ...settings, importanceEnabled: false })).toBe(0.8)
  })
  it("stale low-importance items move down; fresh, important and pending ones stay; never up", () => {
    const at = (days: number, over: Partial<AgentMemory.MemoryItem> = {}) =>
      R.decideTier(item(over), days * DAY, settings).tier
    expect(at(6, { importance: 0.1 })).toBe("hot")
    expect(at(7, { importance: 0.4 })).toBe("warm")
    expect(at(7, { importance: 0.9 })).toBe("hot")
    expect(at(30, { importance: 0.3 })).toBe("archive")
    expect(at(30, { importance: 0.3, tier: "warm" })).toBe("archive")
    expect(at(100, { importance: 0.01, status: "pending_review" })).toBe("hot")
    expect(at(0, { importance: 1, tier: "archive" })).toBe("archive")
    // a recent confirmation counts as use
    expect(at(30, { importance: 0.3, last_confirmed_at: 29 * DAY })).toBe("hot")
    expect(R.decideTier(item({ importance: 0.3 }), 30 * DAY, settings).decayed).toBe(true)
  })
  it("decayed means at least 1 % below the stored importance, not merely idle", () => {
    const HOUR = 3_600_000
    const decayed = (ms: number, importance = 0.5) => R.decideTier(item({ importance }), ms, settings).decayed
    // 1 % is lost after 30 * log2(1 / 0.99) days, about 10.4 hours at the default half-life
    expect([decayed(1), decayed(HOUR), decayed(10 * HOUR), decayed(11 * HOUR), decayed(DAY)]).toStrictEqual([
      false,
      false,
      false,
      true,
      true
    ])
    expect(decayed(100 * DAY, 0)).toBe(false)
    expect([R.isDecayed(1, 0.99), R.isDecayed(1, 0.991), R.isDecayed(0.5, 0.495)]).toStrictEqual([true, false, true])
  })
})

describe("AgentMemoryRules: as of", () => {
  // old held from 0; at 100 an authoritative write superseded it from 50
  const old = item({
    uid: "mem_a",
    value_hash: "a",
    status: "superseded",
    valid_to: 50,
    valid_to_history: [{ valid_to: null, replaced_at: 100 }],
    expired_at: 100,
    accepted_at: 0
  })
  const now = item({ uid: "mem_b", value_hash: "b", valid_from: 50, accepted_at: 100, recorded_at: 100 })
  const pending = item({ uid: "mem_c", value_hash: "c", status: "pending_review", accepted_at: null })
  const rejected = item({
    uid: "mem_d",
    value_hash: "d",
    status: "rejected",
    valid_from: 0,
    accepted_at: 0,
    expired_at: 200
  })
  const pick = (items: ReadonlyArray<AgentMemory.MemoryItem>, t: number, v: number) =>
    R.selectAsOf(items, t, v)?.uid ?? null
  it("what we believed at a recorded time about a valid time", () => {
    const all = [old, now, pending]
    expect(pick(all, 99, 70)).toBe("mem_a") // before the supersede we believed the old fact, open-ended
    expect(pick(all, 100, 70)).toBe("mem_b")
    expect(pick(all, 100, 10)).toBe("mem_a")
    expect(pick(all, -1, 10)).toBe(null)
    expect(pick([pending], 1000, 1000)).toBe(null)
  })
  it("an end replaced later is the end believed before: several cuts, a finite first end", () => {
    // held [0, 365); at 100 cut to 200, at 300 cut to 150 (two resolutions)
    const cut = item({
      uid: "mem_e",
      valid_to: 150,
      valid_to_history: [{ valid_to: 365, replaced_at: 100 }, { valid_to: 200, replaced_at: 300 }]
    })
    expect([R.validToAt(cut, 0), R.validToAt(cut, 99), R.validToAt(cut, 100), R.validToAt(cut, 299)]).toStrictEqual(
      [365, 365, 200, 200]
    )
    expect([R.validToAt(cut, 300), R.validToAt(cut, 10_000)]).toStrictEqual([150, 150])
    expect([pick([cut], 50, 364), pick([cut], 50, 365), pick([cut], 150, 199), pick([cut], 350, 199)]).toStrictEqual(
      ["mem_e", null, "mem_e", null]
    )
    // a superseded fact that had a finite end before: never read as open-ended
    const finite = item({
      uid: "mem_f",
      status: "superseded",
      valid_to: 50,
      valid_to_history: [{ valid_to: 80, replaced_at: 100 }],
      expired_at: 100
    })
    expect([pick([finite], 99, 79), pick([finite], 99, 90), pick([finite], 100, 60)]).toStrictEqual([
      "mem_f",
      null,
      null
    ])
    expect(R.replacedValidTo(cut, 400)).toStrictEqual([
      { valid_to: 365, replaced_at: 100 },
      { valid_to: 200, replaced_at: 300 },
      { valid_to: 150, replaced_at: 400 }
    ])
  })
  it("a rejected fact was believed until its rejection only", () => {
    expect(pick([rejected], 199, 10)).toBe("mem_d")
    expect(pick([rejected], 200, 10)).toBe(null)
  })
})

describe("AgentMemoryRules: consistency", () => {
  it("supersede chains run newest to oldest; only those touching the range", () => {
    const links = [
      link("c", "b", "supersedes", 20),
      link("b", "a", "supersedes", 10),
      link("x", "y", "supersedes", 500),
      link("c", "z", "related_to")
    ]
    expect(R.supersedeChains(links, 0, 100)).toStrictEqual([["c", "b", "a"]])
    expect(R.supersedeChains(links, 0, 1000)).toStrictEqual([["c", "b", "a"], ["x", "y"]])
  })
  it("reports overlapping believed facts with different values, dangling links and queue counts", () => {
    const a = item({ uid: "a", value_hash: "1", valid_from: 0 })
    const b = item({ uid: "b", value_hash: "2", valid_from: 10 })
    const c = item({ uid: "c", value_hash: "2", valid_from: 10, status: "pending_review" })
    const review = (created_at: number, status: "open" | "resolved", resolved_at: number | null) =>
      Trusted.make(AgentMemory.ReviewEntry, {
        id: `r${created_at}`,
        tenant_id: Ids.TenantId.make("t"),
        uid: "c",
        existing_uid: "a",
        thread_id: "th",
        agent_id: "x",
        reason: "",
        created_at,
        status,
        decision: null,
        resolution: null,
        resolved_by: null,
        resolved_at,
        version: 1
      })
    const report = R.consistencyOf({
      thread_id: "th",
      from_ts: 0,
      to_ts: 100,
      items: [a, b, c],
      links: [link("a", "gone", "related_to")],
      reviews: [
        review(5, "resolved", 50),
        review(6, "open", null),
        review(500, "open", null),
        review(1, "resolved", 150)
      ],
      exists: (u) => u !== "gone"
    })
    expect(report.contradictions).toStrictEqual({ raised: 3, resolved: 1, pending: 1 })
    expect(report.overlapping_facts).toStrictEqual([{ subject: "s", predicate: "p", uids: ["a", "b"] }])
    expect(report.missing_links.map((l) => l.to_uid)).toStrictEqual(["gone"])
  })
})

describe("AgentMemoryRules: KPIs and cursors", () => {
  it("rates are null without contradictions, averages 0 without use", () => {
    const w = { from_ts: 0, to_ts: 10 }
    expect(
      R.kpisOf({ live_items: 4, used_tokens_sum: 0, used_items: 0, raised: 0, raised_resolved: 0, rejected: 0 }, w)
    ).toStrictEqual({
      memory_items_count: 4,
      memory_avg_tokens_saved: 0,
      memory_reconciliation_rate: null,
      memory_hallucination_incidents: 0,
      window_start_ts: 0,
      window_end_ts: 10
    })
    expect(
      R.kpisOf({ live_items: 4, used_tokens_sum: 300, used_items: 4, raised: 4, raised_resolved: 3, rejected: 2 }, w)
    ).toMatchObject({
      memory_avg_tokens_saved: 75,
      memory_reconciliation_rate: 0.75,
      memory_hallucination_incidents: 2
    })
  })
  it("cursors round-trip and foreign strings are refused", () => {
    expect(R.decodeCursor(R.encodeCursor("mrv_01J"))).toBe("mrv_01J")
    expect(R.decodeCursor("not a cursor")).toBe(null)
    expect(R.decodeCursor(Buffer.from("x:1").toString("base64url"))).toBe(null)
    expect([
      R.clampLimit(undefined, 50, 500),
      R.clampLimit(9999, 50, 500),
      R.clampLimit(0, 50, 500),
      R.clampLimit(2.7, 50, 500)
    ]).toStrictEqual([50, 500, 1, 2])
  })
})

describe("AgentMemoryConfig", () => {
  it.effect("reads AIRLOCK_MEMORY_* with the stated defaults; the policy comes from code", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>, code: Partial<AgentMemoryConfig.AgentMemorySettings> = {}) =>
        Effect.provide(
          AgentMemoryConfig.AgentMemoryConfig,
          AgentMemoryConfig.layerConfigWith(code).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
          )
        )
      const d = yield* read({})
      expect({ ...d, authoritative: undefined }).toStrictEqual({
        ...AgentMemoryConfig.defaults,
        authoritative: undefined
      })
      const off = yield* read(
        { AIRLOCK_MEMORY_TIERS_ENABLED: "false", AIRLOCK_MEMORY_IMPORTANCE_HALF_LIFE_DAYS: "7" },
        { authoritative: () => true }
      )
      const someone = Trusted.make(Actor.Actor, {
        id: Ids.ActorId.make("act_1"),
        tenant_id: Ids.TenantId.make("t"),
        kind: "user",
        name: "Lee",
        role: "CONTROLLER",
        active: true,
        created_at: 0
      })
      expect([off.tiersEnabled, off.importanceHalfLifeDays, off.authoritative("fact", someone)]).toStrictEqual([
        false,
        7,
        true
      ])
      const bad = yield* Effect.either(read({ AIRLOCK_MEMORY_WARM_BELOW_IMPORTANCE: "2" }))
      expect(bad._tag).toBe("Left")
      // without any layer the defaults apply
      expect((yield* AgentMemoryConfig.AgentMemoryConfig).reviewQueueEnabled).toBe(true)
    }))
})

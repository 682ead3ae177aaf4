import { Audit, Calendar, Canonical, Errors, Ids, KillSwitch, Rbac, SecureRandom } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema, TestClock } from "effect"

const actor = (role: string, active = true) =>
  ({ id: "a1", tenant_id: "t", kind: "user", name: "n", role, active, created_at: 0 }) as never

describe("Rbac", () => {
  const rbac = Rbac.makeRbac(Rbac.defaultMatrix)
  it("follows the runbook: companion.actions for OWNER/CONTROLLER/BOOKKEEPER only", () => {
    const roles = Rbac.Role.literals.filter((r) => rbac.can(actor(r), "companion.actions"))
    expect(roles).toStrictEqual(["OWNER", "CONTROLLER", "BOOKKEEPER", "ADMIN"])
    expect(rbac.can(actor("VIEWER"), "ledger.write")).toBe(false)
    expect(rbac.can(actor("OWNER", false), "ledger.read")).toBe(false)
    expect(rbac.can(actor("OWNER"), "tenant.cross")).toBe(false)
    expect(rbac.can(actor("ADMIN"), "tenant.cross")).toBe(true)
    expect(rbac.can(actor("UNKNOWN"), "ledger.read")).toBe(false)
  })
  it.effect("require fails with rbac.forbidden and the missing permission", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(rbac.require(actor("VIEWER"), "companion.shadow.wipe"))
      expect([error.code, error.details]).toStrictEqual(["rbac.forbidden", {
        permission: "companion.shadow.wipe",
        role: "VIEWER",
        actor_id: "a1"
      }])
    }))
  it("ownership scope: read_all roles see everything, others only their own", () => {
    expect(Rbac.ownershipScope(rbac, actor("CONTROLLER"))).toStrictEqual({ _tag: "All" })
    const scope = Rbac.ownershipScope(rbac, actor("BOOKKEEPER"))
    expect(scope).toStrictEqual({ _tag: "Owner", owner_id: "a1" })
    expect(Effect.runSync(Effect.either(Rbac.requireOwnership(scope, "someone-else")))._tag).toBe("Left")
    expect(Effect.runSync(Effect.either(Rbac.requireOwnership(scope, "a1")))._tag).toBe("Right")
  })
  it("a host matrix replaces the default", () => {
    const custom = Rbac.makeRbac({ AUDITOR: ["audit.read"] })
    expect(custom.can(actor("AUDITOR"), "audit.read")).toBe(true)
    expect(custom.can(actor("OWNER"), "audit.read")).toBe(false)
  })
})

describe("KillSwitch", () => {
  const on = { ai_companion_enabled: true }
  const s = (ai_enabled: boolean, kill_switch: boolean) => ({ ai_enabled, kill_switch })
  it("all three layers must allow; kill_switch overrides ai_enabled", () => {
    expect(KillSwitch.evaluateKillSwitch(true, on, s(true, false))).toStrictEqual({ enabled: true })
    expect(KillSwitch.evaluateKillSwitch(false, on, s(true, false))).toMatchObject({ enabled: false, layer: "global" })
    expect(KillSwitch.evaluateKillSwitch(true, { ai_companion_enabled: false }, s(true, false))).toMatchObject({
      layer: "tenant"
    })
    expect(KillSwitch.evaluateKillSwitch(true, on, s(true, true))).toMatchObject({ layer: "kill_switch" })
    expect(KillSwitch.evaluateKillSwitch(true, on, s(false, true))).toMatchObject({ layer: "kill_switch" })
    expect(KillSwitch.evaluateKillSwitch(true, on, s(false, false))).toMatchObject({ layer: "ai_enabled" })
  })
  it("global layer: a stored override can turn the configured value off, never on", () => {
    expect([
      KillSwitch.globalEnabledOf(true, undefined),
      KillSwitch.globalEnabledOf(true, true),
      KillSwitch.globalEnabledOf(true, false),
      KillSwitch.globalEnabledOf(false, true),
      KillSwitch.globalEnabledOf(false, undefined)
    ]).toStrictEqual([true, true, false, false, false])
  })
  it("modes: shadow_only never applies, suggest_only/drafts on a human's request, autopilot_limited also automatically", () => {
    const table = (["shadow_only", "suggest_only", "drafts", "autopilot_limited"] as const).map((m) => [
      m,
      KillSwitch.modeAllowsApply(m, "human"),
      KillSwitch.modeAllowsApply(m, "auto")
    ])
    expect(table).toStrictEqual([
      ["shadow_only", false, false],
      ["suggest_only", true, false],
      ["drafts", true, false],
      ["autopilot_limited", true, true]
    ])
  })
})

describe("Audit records", () => {
  it("hash exactly the canonical JSON of their content, and are the records the schema constructor makes", () => {
    const inputs = [
      { tenant_id: "t" as never, actor_id: "a", action: "x", subject: "s" },
      {
        tenant_id: "t-2" as never,
        actor_id: 'a\u0000"q',
        action: "é✓",
        subject: "",
        data: { z: 1n, a: [null, { b: undefined, "k y": 2.5 }] }
      }
    ]
    let head: Audit.ChainHead | null = null
    for (const input of inputs) {
      const r = Audit.nextRecord(head, input, 1_700_000_000_123)
      const { hash, ...content } = r
      expect(hash).toBe(Canonical.sha256Hex(Canonical.canonicalJson(content)))
      expect(r).toBeInstanceOf(Audit.AuditRecord)
      expect(r).toStrictEqual(new Audit.AuditRecord({ ...content, hash }))
      head = { seq: r.seq, hash: r.hash }
    }
  })
})

describe("Canonical", () => {
  it("sorts keys, encodes bigints as strings, drops undefined", () => {
    expect(Canonical.canonicalJson({ b: 1, a: [2n, { d: undefined, c: "x" }] })).toBe('{"a":["2",{"c":"x"}],"b":1}')
    expect(Canonical.hashOf({ a: 1, b: 2 })).toBe(Canonical.hashOf({ b: 2, a: 1 }))
    expect(() => Canonical.canonicalJson({ x: Number.NaN })).toThrow()
  })
  it("compares digests in constant time and rejects different lengths", () => {
    const h = Canonical.sha256Hex("x")
    expect(Canonical.constantTimeEqualHex(h, h)).toBe(true)
    expect(Canonical.constantTimeEqualHex(h, Canonical.sha256Hex("y"))).toBe(false)
    expect(Canonical.constantTimeEqualHex(h, h.slice(1))).toBe(false)
  })
})

describe("Ids", () => {
  const ids = Ids.layerIdGenerator.pipe(Layer.provide(SecureRandom.layerSeeded(1)))
  it.effect("ULIDs are 26 Crockford characters, time-prefixed, and sort in creation order within a millisecond", () =>
    Effect.gen(function*() {
      const gen = yield* Ids.IdGenerator
      yield* TestClock.setTime(1_700_000_000_000)
      const made = []
      for (let i = 0; i < 50; i++) made.push(yield* gen.next())
      yield* TestClock.adjust("1 millis")
      made.push(yield* gen.next("act"))
      expect(made[0]).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
      expect(made.slice(0, 50)).toStrictEqual([...made.slice(0, 50)].sort())
      expect(new Set(made).size).toBe(51)
      expect(made[50]!.startsWith("act_")).toBe(true)
      expect(Ids.encodeUlid(0, new Uint8Array(10))).toBe("0".repeat(26))
    }).pipe(Effect.provide(ids)))
  it("branded ids reject empty and unsafe values", () => {
    expect(() => Ids.TenantId.make("")).toThrow()
    expect(() => Ids.TenantId.make("a b")).toThrow()
    expect(Ids.TenantId.make("default")).toBe("default")
  })
})

describe("Audit chain (pure)", () => {
  it("links records and detects every kind of break", () => {
    const t = Ids.TenantId.make("t")
    const r1 = Audit.nextRecord(null, { tenant_id: t, actor_id: "a", action: "x", subject: "s" }, 1)
    const r2 = Audit.nextRecord(r1, { tenant_id: t, actor_id: "a", action: "y", subject: "s", data: { n: 1 } }, 2)
    const genesis = { seq: 0, hash: Audit.GENESIS_HASH }
    expect(Audit.checkRecords(genesis, [r1, r2]).break).toBeNull()
    expect(Audit.checkRecords(genesis, [r2]).break).toStrictEqual({ seq: 1, reason: "sequence_gap" })
    const forged = new Audit.AuditRecord({ ...r2, data: { n: 2 } })
    expect(Audit.checkRecords(genesis, [r1, forged]).break).toStrictEqual({ seq: 2, reason: "hash_mismatch" })
    const relinked = new Audit.AuditRecord({ ...r2, prev_hash: "f".repeat(64) })
    expect(Audit.checkRecords(genesis, [r1, relinked]).break).toStrictEqual({ seq: 2, reason: "prev_hash_mismatch" })
  })
})

describe("Errors", () => {
  it("carry stable codes and HTTP statuses, and encode without the cause", () => {
    const e = new Errors.PeriodLocked({ message: "locked through 2024-01-31" })
    expect([e.code, Errors.httpStatus(e), Errors.isAirlockError(e)]).toStrictEqual(["period.locked", 409, true])
    expect(Errors.httpStatus(new Errors.RateLimited({ message: "slow down", retry_after_seconds: 3 }))).toBe(429)
    expect(Errors.isAirlockError(new Error("x"))).toBe(false)
    const encoded = Schema.encodeSync(Errors.AirlockError)(
      new Errors.ApprovalRequired({ message: "m", subject: "job:x", plan_hash: "h" })
    )
    expect(encoded).toStrictEqual({
      _tag: "ApprovalRequired",
      code: "approval_required",
      message: "m",
      subject: "job:x",
      plan_hash: "h"
    })
  })
})

describe("Calendar", () => {
  it("converts civil dates and day counts both ways, leap years included", () => {
    expect(Calendar.daysFromCivil(1970, 1, 1)).toBe(0)
    expect(Calendar.civilFromDays(0)).toStrictEqual({ y: 1970, m: 1, d: 1 })
    expect(Calendar.civilFromDays(Calendar.daysFromCivil(2024, 2, 29))).toStrictEqual({ y: 2024, m: 2, d: 29 })
    expect(Calendar.daysFromCivil(2024, 3, 1) - Calendar.daysFromCivil(2024, 2, 28)).toBe(2)
    expect(Calendar.daysFromCivil(2100, 3, 1) - Calendar.daysFromCivil(2100, 2, 28)).toBe(1)
    expect(Calendar.daysFromCivil(2000, 3, 1) - Calendar.daysFromCivil(2000, 2, 28)).toBe(2)
    for (let day = -200_000; day <= 120_000; day += 37) {
      const c = Calendar.civilFromDays(day)
      expect(Calendar.daysFromCivil(c.y, c.m, c.d)).toBe(day)
    }
  })
})

/**
 * The conformance suite for core's agent memory (`AgentMemory` over `AgentMemoryStore`). Every
 * adapter runs it unchanged. It goes through the service and checks persisted state through the
 * raw {@link AgentMemoryProbe}: reinforcement never duplicates, a contradiction waits in the
 * queue with the fact in force untouched, resolutions change statuses, validity, links, queue
 * and audit together and only once, concurrent contradictory writes leave one active fact, and
 * nothing is ever deleted but by the tenant's own removal.
 */
import {
  AgentMemory,
  AgentMemoryConfig,
  AgentMemoryRules,
  Audit,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants,
  Trusted
} from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Option, TestClock, TestContext } from "effect"
import { AgentMemoryProbe } from "./support/AgentMemoryProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)
const DAY = 86_400_000

const environment = <E>(ports: Layer.Layer<CorePorts.CorePorts | AgentMemoryProbe, E>) =>
  Kernel.layerWithAmbient.pipe(
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(11))),
    Layer.provideMerge(ports)
  )

const fixture = (id: string) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}` })
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    return {
      tenant: tenant.id,
      agent: yield* add("copilot", "AGENT", "agent"),
      reviewer: yield* add("Cora", "CONTROLLER"),
      reviewer2: yield* add("Carl", "CONTROLLER"),
      owner: yield* add("Olga", "OWNER"),
      viewer: yield* add("Vic", "VIEWER"),
      admin: yield* add("Ada", "ADMIN")
    }
  })

const memory = AgentMemory.AgentMemory

/** Runs `f` against a service built with other settings (same storage). */
const withSettings = <A, E, R>(
  settings: Partial<AgentMemoryConfig.AgentMemorySettings>,
  f: (m: AgentMemory.AgentMemory) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(memory, f).pipe(
    Effect.provide(AgentMemory.AgentMemory.Default),
    Effect.provideService(AgentMemoryConfig.AgentMemoryConfig, { ...AgentMemoryConfig.defaults, ...settings })
  )

const fact = (subject: string, predicate: string, value: unknown, extra: Record<string, unknown> = {}) => ({
  thread_id: "vendor:starbucks",
  agent_id: "copilot",
  kind: "fact",
  subject,
  predicate,
  value,
  content: `${subject} ${predicate} ${JSON.stringify(value)}`,
  ...extra
})

const codeOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail"
    ? (exit.cause.error as { code?: string }).code ?? "?"
    : Exit.isSuccess(exit)
    ? "ok"
    : "defect"

const auditActions = (tenant: Ids.TenantId) =>
  Effect.map(Effect.flatMap(Audit.AuditLog, (a) => a.list(tenant, { limit: 1000 })), (rs) => rs.map((r) => r.action))

/** Runs the suite against an adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<CorePorts.CorePorts | AgentMemoryProbe, E>,
  capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`agent memory conformance: ${name}`, (it) => {
    // each test on its own TestClock starting at 0 (the layer's clock is shared by the tests)
    const test = <E>(
      title: string,
      self: () => Effect.Effect<void, E, CorePorts.CorePorts | AgentMemoryProbe | Kernel.CoreServices>
    ) => it.effect(title, () => Effect.provide(self(), TestContext.TestContext))

    test("write: a new key is created; the same value reinforces it (no second row); audited", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-write")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const first = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "account", "6100", { token_count: 40, source_ref: "proposal:act_1" })
        )
        expect(first.outcome).toBe("created")
        expect(first.item).toMatchObject({
          status: "active",
          tier: "hot",
          reinforced_count: 1,
          accepted_at: 0,
          valid_from: 0,
          valid_to: null,
          source_actor: fx.agent.id
        })
        expect(first.item.uid).toMatch(/^mem_/)
        yield* TestClock.adjust("1 hour")
        // the same value with keys in another order is the same canonical JSON
        const again = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        expect(again.outcome).toBe("reinforced")
        expect(again.item).toMatchObject({ uid: first.item.uid, reinforced_count: 2, last_confirmed_at: 3_600_000 })
        const obj = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "terms", { days: 30, net: true }))
        const objAgain = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "terms", { net: true, days: 30 }))
        expect([obj.outcome, objAgain.outcome, objAgain.item.uid]).toStrictEqual([
          "created",
          "reinforced",
          obj.item.uid
        ])
        const rows = yield* probe.items(fx.tenant)
        expect(rows.map((r) => [r.status, r.reinforced_count, r.version])).toStrictEqual([["active", 2, 2], [
          "active",
          2,
          2
        ]])
        expect(yield* probe.reviews(fx.tenant)).toStrictEqual([])
        expect(yield* auditActions(fx.tenant)).toStrictEqual(
          expect.arrayContaining(["memory.created", "memory.reinforced"])
        )
        expect((yield* auditActions(fx.tenant)).filter((a) => a.startsWith("memory.")).length).toBe(4)
        // keyless notes never conflict
        const n1 = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "vendor:starbucks",
          agent_id: "copilot",
          kind: "note",
          content: "likes oat milk"
        })
        const n2 = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "vendor:starbucks",
          agent_id: "copilot",
          kind: "note",
          content: "likes oat milk"
        })
        expect([n1.outcome, n2.outcome, n1.item.value_hash]).toStrictEqual(["created", "created", null])
      }))

    test("conflict: a different value waits in the queue; the fact in force stays; readers see it; the same pending value reinforces", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-conflict")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const old = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        yield* TestClock.adjust("1 minute")
        const c = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        expect(c.outcome).toBe("conflict")
        expect(c.item).toMatchObject({ status: "pending_review", accepted_at: null })
        expect(c.existing?.uid).toBe(old.item.uid)
        expect(c.review).toMatchObject({
          uid: c.item.uid,
          existing_uid: old.item.uid,
          thread_id: "vendor:starbucks",
          agent_id: "copilot",
          status: "open"
        })
        expect(c.review!.id).toMatch(/^mrv_/)
        expect(c.review!.reason).toContain("value_conflict")
        const view = yield* mem.get(fx.tenant, fx.viewer, old.item.uid)
        expect(view.item.status).toBe("active")
        expect(view.conflicts_pending).toBe(1)
        expect(view.pending_review?.uid).toBe(c.item.uid)
        const pendingView = yield* mem.get(fx.tenant, fx.viewer, c.item.uid)
        expect(pendingView.pending_review?.id).toBe(c.review!.id)
        expect(pendingView.links.map((l) => [l.from_uid, l.to_uid, l.relation])).toStrictEqual([[
          c.item.uid,
          old.item.uid,
          "contradicts"
        ]])
        // the fact in force is still what we believe
        const now = yield* mem.asOf(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          subject: "starbucks",
          predicate: "account"
        })
        expect(Option.map(now.item, (i) => i.uid)).toStrictEqual(Option.some(old.item.uid))
        // and readers of the key see that a person has a contradiction to decide
        expect(now.conflicts_pending).toBe(1)
        const again = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        expect([again.outcome, again.item.uid, again.item.reinforced_count, again.review?.id]).toStrictEqual([
          "reinforced",
          c.item.uid,
          2,
          c.review!.id
        ])
        const rows = yield* probe.items(fx.tenant)
        expect(rows.map((r) => [r.uid, r.status])).toStrictEqual([[old.item.uid, "active"], [
          c.item.uid,
          "pending_review"
        ]])
        expect((yield* probe.reviews(fx.tenant)).map((r) => [r.uid, r.existing_uid, r.status])).toStrictEqual([[
          c.item.uid,
          old.item.uid,
          "open"
        ]])
        expect(yield* probe.links(fx.tenant)).toStrictEqual([{
          from_uid: c.item.uid,
          to_uid: old.item.uid,
          relation: "contradicts"
        }])
        expect(yield* auditActions(fx.tenant)).toContain("memory.conflict_raised")
      }))

    test("reinforcement needs agreement: a value contradicting any fact in force, or a longer period, is queued", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-reinforce-rules")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        yield* TestClock.adjust(20 * DAY)
        const rowOf = (uid: string) => Effect.map(probe.items(fx.tenant), (rs) => rs.find((r) => r.uid === uid)!)
        // a [0, 5) and b [5, ∞): a write of a over [0, ∞) agrees with one and contradicts the other
        const a = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "account", "a", { valid_from: 0, valid_to: 5 * DAY })
        )
        const b = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "b", { valid_from: 5 * DAY }))
        expect([a.outcome, b.outcome]).toStrictEqual(["created", "created"])
        const mixed = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "a", { valid_from: 0 }))
        expect(mixed.outcome).toBe("conflict")
        expect(mixed.existing?.uid).toBe(b.item.uid)
        expect(mixed.review?.reason).toContain("value_conflict")
        expect((yield* rowOf(a.item.uid)).reinforced_count).toBe(1)
        expect((yield* rowOf(mixed.item.uid)).status).toBe("pending_review")

        // the same value over a longer period: queued with the reason, not silently dropped
        const t = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "terms", "net30", { valid_from: 0, valid_to: 5 * DAY })
        )
        const longer = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "terms", "net30", { valid_from: 3 * DAY, valid_to: 8 * DAY })
        )
        expect([longer.outcome, longer.existing?.uid, longer.item.status]).toStrictEqual([
          "conflict",
          t.item.uid,
          "pending_review"
        ])
        expect(longer.review?.reason).toContain("validity_conflict")
        expect(longer.review?.reason).toContain("different validity period")
        // within the fact's period it is a reinforcement
        const within = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "terms", "net30", { valid_from: DAY, valid_to: 2 * DAY })
        )
        expect([within.outcome, within.item.uid, within.item.reinforced_count]).toStrictEqual([
          "reinforced",
          t.item.uid,
          2
        ])
        // a person decides the longer period: accepting it cuts the old one where it starts, nothing lost
        const r = yield* mem.resolve(fx.tenant, fx.reviewer, longer.item.uid, {
          resolution: "r",
          decision: "accept_new"
        })
        expect(r.items.map((i) => [i.status, i.valid_from, i.valid_to])).toStrictEqual([
          ["active", 3 * DAY, 8 * DAY],
          ["superseded", 0, 3 * DAY]
        ])

        // a pending item is reinforced only by a write its period contains
        const h = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Seattle", { valid_from: 0 }))
        const p = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Tacoma", { valid_from: 2 * DAY }))
        const pAgain = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Tacoma", { valid_from: 3 * DAY }))
        expect([pAgain.outcome, pAgain.item.uid]).toStrictEqual(["reinforced", p.item.uid])
        const pEarlier = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Tacoma", { valid_from: DAY }))
        expect([pEarlier.outcome, pEarlier.existing?.uid]).toStrictEqual(["conflict", h.item.uid])
        expect((yield* rowOf(p.item.uid)).reinforced_count).toBe(2)
        const open = (yield* probe.reviews(fx.tenant)).filter((e) => e.status === "open").map((
          e
        ) => [e.uid, e.existing_uid])
        expect(open).toStrictEqual([
          [mixed.item.uid, b.item.uid],
          [p.item.uid, h.item.uid],
          [pEarlier.item.uid, h.item.uid]
        ])
        // with the queue disabled a contained write still reinforces, a longer period is refused like a contradiction
        const contained = yield* Effect.exit(
          withSettings({ reviewQueueEnabled: false }, (m) =>
            m.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Seattle", { valid_from: 0, valid_to: 40 * DAY })))
        )
        expect(codeOf(contained)).toBe("ok")
        const extended = yield* Effect.exit(
          withSettings({ reviewQueueEnabled: false }, (m) =>
            m.write(fx.tenant, fx.agent, fact("starbucks", "terms", "net30", { valid_from: 0, valid_to: 9 * DAY })))
        )
        expect(codeOf(extended)).toBe("memory.conflict")
      }))

    test("resolve keep_existing: the new item is rejected, the entry drained with who, when and the note; twice is a 409", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-keep")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const old = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        const c = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        yield* TestClock.adjust("5 minutes")
        const denied = yield* Effect.exit(mem.resolve(fx.tenant, fx.agent, c.item.uid, { resolution: "no" }))
        expect(codeOf(denied)).toBe("rbac.forbidden")
        const empty = yield* Effect.exit(mem.resolve(fx.tenant, fx.reviewer, c.item.uid, { resolution: "  " }))
        expect(codeOf(empty)).toBe("validation.schema")
        const r = yield* mem.resolve(fx.tenant, fx.reviewer, c.item.uid, { resolution: "receipt says 6100" })
        expect(r.review).toMatchObject({
          status: "resolved",
          decision: "keep_existing",
          resolution: "receipt says 6100",
          resolved_by: fx.reviewer.id,
          resolved_at: 300_000
        })
        expect(r.items.map((i) => [i.uid, i.status, i.expired_at])).toStrictEqual([[c.item.uid, "rejected", 300_000], [
          old.item.uid,
          "active",
          null
        ]])
        const twice = yield* Effect.exit(
          mem.resolve(fx.tenant, fx.reviewer2, c.item.uid, { resolution: "again", decision: "accept_new" })
        )
        expect(codeOf(twice)).toBe("memory.review.resolved")
        const missing = yield* Effect.exit(mem.resolve(fx.tenant, fx.reviewer, old.item.uid, { resolution: "x" }))
        expect(codeOf(missing)).toBe("not_found")
        expect((yield* probe.items(fx.tenant)).map((i) => [i.status, i.expired_at])).toStrictEqual([["active", null], [
          "rejected",
          300_000
        ]])
        expect(yield* probe.reviews(fx.tenant)).toMatchObject([{
          status: "resolved",
          decision: "keep_existing",
          resolution: "receipt says 6100",
          resolved_by: fx.reviewer.id,
          resolved_at: 300_000
        }])
        expect((yield* mem.conflicts(fx.tenant, fx.viewer, {})).items).toStrictEqual([])
        expect(
          (yield* auditActions(fx.tenant)).filter((a) =>
            a === "memory.review.resolved"
          ).length
        ).toBe(1)
      }))

    test("resolve accept_new: the old fact is superseded with its validity cut, the new one active; as-of answers both times", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-accept")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const old = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        yield* TestClock.adjust(1000)
        const c = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        yield* TestClock.adjust(1000)
        const r = yield* mem.resolve(fx.tenant, fx.owner, c.item.uid, {
          resolution: "vendor changed category",
          decision: "accept_new"
        })
        const [accepted, superseded] = r.items
        expect(accepted).toMatchObject({ uid: c.item.uid, status: "active", accepted_at: 2000, valid_from: 1000 })
        expect(superseded).toMatchObject({ uid: old.item.uid, status: "superseded", valid_to: 1000, expired_at: 2000 })
        expect(yield* probe.links(fx.tenant)).toStrictEqual(
          [
            { from_uid: c.item.uid, to_uid: old.item.uid, relation: "contradicts" },
            { from_uid: c.item.uid, to_uid: old.item.uid, relation: "supersedes" }
          ]
        )
        const key = { thread_id: "vendor:starbucks", subject: "starbucks", predicate: "account" }
        const at = (recorded_at: number, valid_at: number) =>
          Effect.map(
            mem.asOf(fx.tenant, fx.viewer, { ...key, recorded_at, valid_at }),
            (r) =>
              Option.map(r.item, (i) => i.uid)
          )
        expect(yield* at(1500, 1500)).toStrictEqual(Option.some(old.item.uid)) // before the resolution we believed the old value
        expect(yield* at(2500, 1500)).toStrictEqual(Option.some(c.item.uid))
        expect(yield* at(2500, 500)).toStrictEqual(Option.some(old.item.uid)) // the old one still held before 1000
        expect(yield* at(500, 500)).toStrictEqual(Option.some(old.item.uid))
        expect(yield* at(-1, 500)).toStrictEqual(Option.none())
        expect((yield* probe.items(fx.tenant)).map((i) => [i.status, i.valid_to, i.expired_at, i.accepted_at]))
          .toStrictEqual([
            ["superseded", 1000, 2000, 0],
            ["active", null, null, 2000]
          ])
      }))

    test("resolve keep_both: non-overlapping validity (cut or scoped); still overlapping is a 409 and changes nothing", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-both")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        yield* TestClock.adjust(10 * DAY)
        const old = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "address", "1 Main St", { valid_from: 5 * DAY })
        )
        // a new fact starting earlier than the one in force, open-ended: keeping both overlaps
        const early = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "address", "9 Old Rd", { valid_from: 0 }))
        const before = yield* probe.items(fx.tenant)
        const overlap = yield* Effect.exit(
          mem.resolve(fx.tenant, fx.reviewer, early.item.uid, { resolution: "both", decision: "keep_both" })
        )
        expect(codeOf(overlap)).toBe("memory.validity_overlap")
        expect(yield* probe.items(fx.tenant)).toStrictEqual(before)
        expect((yield* probe.reviews(fx.tenant))[0]!.status).toBe("open")
        const bad = yield* Effect.exit(
          mem.resolve(fx.tenant, fx.reviewer, early.item.uid, {
            resolution: "x",
            decision: "keep_both",
            valid_from: 3 * DAY,
            valid_to: 2 * DAY
          })
        )
        expect(codeOf(bad)).toBe("validation.memory_validity")
        // scoped to before the fact in force: both stand
        const scoped = yield* mem.resolve(fx.tenant, fx.reviewer, early.item.uid, {
          resolution: "moved in May",
          decision: "keep_both",
          valid_to: 5 * DAY
        })
        expect(scoped.items.map((i) => [i.status, i.valid_from, i.valid_to])).toStrictEqual([["active", 0, 5 * DAY], [
          "active",
          5 * DAY,
          null
        ]])
        // a new fact starting later cuts the one in force at its start
        const later = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "address", "7 New Ave", { valid_from: 8 * DAY })
        )
        expect(later.existing?.uid).toBe(old.item.uid)
        const cut = yield* mem.resolve(fx.tenant, fx.reviewer, later.item.uid, {
          resolution: "moved again",
          decision: "keep_both"
        })
        expect(cut.items.map((i) => [i.uid, i.status, i.valid_from, i.valid_to])).toStrictEqual([
          [later.item.uid, "active", 8 * DAY, null],
          [old.item.uid, "active", 5 * DAY, 8 * DAY]
        ])
        const stored = yield* probe.items(fx.tenant)
        expect(stored.map((i) => [i.status, i.valid_from, i.valid_to])).toStrictEqual([
          ["active", 5 * DAY, 8 * DAY],
          ["active", 0, 5 * DAY],
          ["active", 8 * DAY, null]
        ])
        const key = { thread_id: "vendor:starbucks", subject: "starbucks", predicate: "address" }
        const valueAt = (v: number) =>
          Effect.map(mem.asOf(fx.tenant, fx.viewer, { ...key, valid_at: v }), (r) => Option.map(r.item, (i) => i.value))
        expect([yield* valueAt(DAY), yield* valueAt(6 * DAY), yield* valueAt(9 * DAY)]).toStrictEqual(
          [Option.some("9 Old Rd"), Option.some("1 Main St"), Option.some("7 New Ave")]
        )
      }))

    test("bi-temporal history: accept_new never rewrites what we believed earlier (a finite end stays finite)", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-history-accept")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const ms = (iso: string) => Date.parse(iso)
        yield* TestClock.setTime(ms("2024-01-01T00:00:00Z"))
        const a = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "hq", "a", { valid_from: ms("2020-01-01"), valid_to: ms("2020-12-31") })
        )
        const b = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "b", { valid_from: ms("2020-06-01") }))
        expect(b.outcome).toBe("conflict")
        const t1 = yield* TestClock.currentTimeMillis
        const key = { thread_id: "vendor:starbucks", subject: "starbucks", predicate: "hq" }
        const at = (recorded_at: number, valid_at: number) =>
          Effect.map(
            mem.asOf(fx.tenant, fx.viewer, { ...key, recorded_at, valid_at }),
            (r) => Option.getOrNull(Option.map(r.item, (i) => i.uid))
          )
        const before = [yield* at(t1, ms("2021-06-01")), yield* at(t1, ms("2020-09-01"))]
        expect(before).toStrictEqual([null, a.item.uid])
        yield* TestClock.adjust("1 hour")
        const resolvedAt = t1 + 3_600_000
        yield* mem.resolve(fx.tenant, fx.reviewer, b.item.uid, { resolution: "moved", decision: "accept_new" })
        // asked again, the same question about T1 gets the same answer
        expect([yield* at(t1, ms("2021-06-01")), yield* at(t1, ms("2020-09-01"))]).toStrictEqual(before)
        expect([yield* at(resolvedAt, ms("2021-06-01")), yield* at(resolvedAt, ms("2020-03-01"))]).toStrictEqual([
          b.item.uid,
          a.item.uid
        ])
        const stored = (yield* probe.items(fx.tenant)).find((i) => i.uid === a.item.uid)!
        expect([stored.status, stored.valid_to, stored.valid_to_history]).toStrictEqual([
          "superseded",
          ms("2020-06-01"),
          [{ valid_to: ms("2020-12-31"), replaced_at: resolvedAt }]
        ])
      }))

    test("bi-temporal history: keep_both cuts are recorded, several on one item; earlier answers stay", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-history-both")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const ms = (iso: string) => Date.parse(iso)
        yield* TestClock.setTime(ms("2024-01-01T00:00:00Z"))
        const key = { thread_id: "vendor:starbucks", subject: "starbucks", predicate: "hq" }
        const at = (recorded_at: number, valid_at: number) =>
          Effect.map(
            mem.asOf(fx.tenant, fx.viewer, { ...key, recorded_at, valid_at }),
            (r) => Option.getOrNull(Option.map(r.item, (i) => i.uid))
          )
        const x = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "x", { valid_from: ms("2020-01-01") }))
        const y = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "y", { valid_from: ms("2022-01-01") }))
        const t1 = yield* TestClock.currentTimeMillis
        expect(yield* at(t1, ms("2023-01-01"))).toBe(x.item.uid)
        yield* TestClock.adjust(1000)
        yield* mem.resolve(fx.tenant, fx.reviewer, y.item.uid, { resolution: "both", decision: "keep_both" })
        expect(yield* at(t1, ms("2023-01-01"))).toBe(x.item.uid)
        const t2 = yield* TestClock.currentTimeMillis
        expect([yield* at(t2, ms("2023-01-01")), yield* at(t2, ms("2021-06-01"))]).toStrictEqual([
          y.item.uid,
          x.item.uid
        ])
        // a second cut of x: z holds [2021, 2022)
        const z = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "z", { valid_from: ms("2021-01-01") }))
        yield* TestClock.adjust(1000)
        yield* mem.resolve(fx.tenant, fx.reviewer, z.item.uid, {
          resolution: "scoped",
          decision: "keep_both",
          valid_to: ms("2022-01-01")
        })
        const t3 = yield* TestClock.currentTimeMillis
        expect([yield* at(t1, ms("2021-06-01")), yield* at(t1, ms("2023-01-01"))]).toStrictEqual([
          x.item.uid,
          x.item.uid
        ])
        expect([yield* at(t2, ms("2021-06-01")), yield* at(t2, ms("2023-01-01"))]).toStrictEqual([
          x.item.uid,
          y.item.uid
        ])
        expect([yield* at(t3, ms("2021-06-01")), yield* at(t3, ms("2020-06-01"))]).toStrictEqual([
          z.item.uid,
          x.item.uid
        ])
        const stored = (yield* probe.items(fx.tenant)).find((i) => i.uid === x.item.uid)!
        expect([stored.status, stored.valid_to, stored.valid_to_history]).toStrictEqual([
          "active",
          ms("2021-01-01"),
          [{ valid_to: null, replaced_at: t2 }, { valid_to: ms("2022-01-01"), replaced_at: t3 }]
        ])
      }))

    test("a fact keeps its tail: accept_new, keep_both and authoritative writes of a shorter fact leave a continuation", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-tail")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        yield* TestClock.adjust(20 * DAY)
        const key = (predicate: string) => ({ thread_id: "vendor:starbucks", subject: "starbucks", predicate })
        const valueAt = (predicate: string, v: number) =>
          Effect.map(
            mem.asOf(fx.tenant, fx.viewer, { ...key(predicate), valid_at: v }),
            (r) => Option.getOrNull(Option.map(r.item, (i) => i.value))
          )
        /** At most one active fact per key at any valid time, on the stored rows. */
        const oneActivePerKey = Effect.gen(function*() {
          const rows = yield* probe.items(fx.tenant)
          const active = (yield* mem.search(fx.tenant, fx.viewer, { status: "active", limit: 500 })).items
          expect(active.length).toBe(
            rows.filter((r) => r.status === "active").length
          )
          for (const a of active) {
            for (const b of active) {
              if (a.uid < b.uid && a.predicate === b.predicate) {
                expect(AgentMemoryRules.overlaps(a, b)).toBe(false)
              }
            }
          }
        })
        const rowOf = (uid: string) => Effect.map(probe.items(fx.tenant), (rs) => rs.find((r) => r.uid === uid)!)
        const continuationOf = (uid: string) =>
          Effect.map(
            probe.links(fx.tenant),
            (ls) => ls.filter((l) => l.to_uid === uid && l.relation === "derived_from").map((l) => l.from_uid)
          )

        // accept_new: an open-ended fact interrupted by [2, 4) goes on from 4
        const e1 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "a", { valid_from: 0 }))
        const p1 = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "account", "b", { valid_from: 2 * DAY, valid_to: 4 * DAY })
        )
        yield* TestClock.adjust(1000)
        const r1 = yield* mem.resolve(fx.tenant, fx.reviewer, p1.item.uid, { resolution: "r", decision: "accept_new" })
        const [c1] = yield* continuationOf(e1.item.uid)
        expect(r1.items.map((i) => [i.uid, i.status, i.valid_from, i.valid_to])).toStrictEqual([
          [p1.item.uid, "active", 2 * DAY, 4 * DAY],
          [e1.item.uid, "superseded", 0, 2 * DAY],
          [c1, "active", 4 * DAY, null]
        ])
        expect(yield* rowOf(c1!)).toMatchObject({
          status: "active",
          value_hash: e1.item.value_hash,
          valid_from: 4 * DAY,
          valid_to: null,
          valid_to_history: [],
          accepted_at: 20 * DAY + 1000,
          version: 1
        })
        expect([yield* valueAt("account", DAY), yield* valueAt("account", 3 * DAY), yield* valueAt("account", 5 * DAY)])
          .toStrictEqual(["a", "b", "a"])
        yield* oneActivePerKey

        // keep_both: a finite fact [0, 10) interrupted by [2, 4) keeps [0, 2), goes on [4, 10)
        const e2 = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "terms", "net30", { valid_from: 0, valid_to: 10 * DAY })
        )
        const p2 = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "terms", "net60", { valid_from: 2 * DAY, valid_to: 4 * DAY })
        )
        const r2 = yield* mem.resolve(fx.tenant, fx.reviewer, p2.item.uid, { resolution: "r", decision: "keep_both" })
        const [c2] = yield* continuationOf(e2.item.uid)
        expect(r2.items.map((i) => [i.uid, i.status, i.valid_from, i.valid_to])).toStrictEqual([
          [p2.item.uid, "active", 2 * DAY, 4 * DAY],
          [e2.item.uid, "active", 0, 2 * DAY],
          [c2, "active", 4 * DAY, 10 * DAY]
        ])
        expect((yield* rowOf(e2.item.uid)).valid_to_history).toStrictEqual([{
          valid_to: 10 * DAY,
          replaced_at: 20 * DAY + 1000
        }])
        expect([yield* valueAt("terms", 5 * DAY), yield* valueAt("terms", 11 * DAY)]).toStrictEqual(["net30", null])
        yield* oneActivePerKey

        // an authoritative write of a shorter fact: the same
        const e3 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Seattle", { valid_from: 0 }))
        const w3 = yield* withSettings(
          {
            authoritative: (_kind, actor) => actor.id === fx.reviewer.id
          },
          (m) =>
            m.write(
              fx.tenant,
              fx.reviewer,
              fact("starbucks", "hq", "Tacoma", { valid_from: 2 * DAY, valid_to: 3 * DAY })
            )
        )
        expect(w3.outcome).toBe("superseded")
        const [c3] = yield* continuationOf(e3.item.uid)
        expect([(yield* rowOf(c3!)).valid_from, (yield* rowOf(c3!)).valid_to]).toStrictEqual([3 * DAY, null])
        expect([yield* valueAt("hq", DAY), yield* valueAt("hq", 2 * DAY), yield* valueAt("hq", 4 * DAY)])
          .toStrictEqual(["Seattle", "Tacoma", "Seattle"])
        yield* oneActivePerKey
        // every key's periods, active facts only: no gap was lost, none overlaps; open-ended new facts leave no tail
        const active = (yield* mem.search(fx.tenant, fx.viewer, { status: "active", limit: 500 })).items
        expect(
          active.map((i) => `${i.predicate} ${i.valid_from / DAY}-${i.valid_to === null ? "" : i.valid_to / DAY}`)
            .sort()
        )
          .toStrictEqual(["account 2-4", "account 4-", "hq 2-3", "hq 3-", "terms 0-2", "terms 2-4", "terms 4-10"])
      }))

    test("open entries follow the fact in force: accept_new, keep_both and authoritative writes re-point the key's other entries", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-repoint")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        yield* TestClock.adjust(20 * DAY)
        const entryOf = (uid: string) => Effect.map(probe.reviews(fx.tenant), (rs) => rs.find((r) => r.uid === uid)!)
        // accept_new: the other entry now names the accepted fact; keep_existing then keeps that one
        const e = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        const p1 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        const p2 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6300"))
        yield* mem.resolve(fx.tenant, fx.reviewer, p1.item.uid, { resolution: "6200", decision: "accept_new" })
        expect((yield* entryOf(p2.item.uid)).existing_uid).toBe(p1.item.uid)
        expect(yield* probe.links(fx.tenant)).toContainEqual({
          from_uid: p2.item.uid,
          to_uid: p1.item.uid,
          relation: "contradicts"
        })
        const listed = (yield* mem.conflicts(fx.tenant, fx.viewer, {})).items
        expect(listed.map((c) => [c.uid, c.existing_uid, c.existing?.status])).toStrictEqual([[
          p2.item.uid,
          p1.item.uid,
          "active"
        ]])
        expect((yield* mem.get(fx.tenant, fx.viewer, p1.item.uid)).pending_review?.uid).toBe(p2.item.uid)
        const kept = yield* mem.resolve(fx.tenant, fx.reviewer, p2.item.uid, { resolution: "6200 stays" })
        expect(kept.items.map((i) => [i.uid, i.status])).toStrictEqual([[p2.item.uid, "rejected"], [
          p1.item.uid,
          "active"
        ]])
        expect((yield* probe.items(fx.tenant)).filter((i) => i.status === "active").map((i) => i.uid)).toStrictEqual([
          p1.item.uid
        ])
        expect(e.item.uid).not.toBe(p1.item.uid)

        // keep_both: an entry whose period the cut fact no longer covers names the new one
        const x = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Seattle", { valid_from: 0 }))
        const y = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "hq", "Tacoma", { valid_from: 5 * DAY }))
        const z = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "hq", "Olympia", { valid_from: 6 * DAY, valid_to: 8 * DAY })
        )
        const w = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "hq", "Redmond", { valid_from: DAY, valid_to: 2 * DAY })
        )
        expect([z.existing?.uid, w.existing?.uid]).toStrictEqual([x.item.uid, x.item.uid])
        yield* mem.resolve(fx.tenant, fx.reviewer, y.item.uid, { resolution: "moved", decision: "keep_both" })
        // z [6, 8) now lies in y's period; w [1, 2) still in x's
        expect([(yield* entryOf(z.item.uid)).existing_uid, (yield* entryOf(w.item.uid)).existing_uid]).toStrictEqual([
          y.item.uid,
          x.item.uid
        ])

        // an authoritative write: the open entry names the new fact in force
        const t = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "terms", "net30"))
        const q = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "terms", "net45"))
        expect(q.existing?.uid).toBe(t.item.uid)
        const labelled = yield* withSettings(
          { authoritative: (_kind, actor) => actor.id === fx.reviewer.id },
          (m) => m.write(fx.tenant, fx.reviewer, fact("starbucks", "terms", "net60"))
        )
        expect((yield* entryOf(q.item.uid)).existing_uid).toBe(labelled.item.uid)
        const audit = yield* Effect.flatMap(Audit.AuditLog, (a) => a.list(fx.tenant, { limit: 1000 }))
        const superseded = audit.find((r) => r.action === "memory.superseded")!
        expect((superseded.data as { repointed: unknown }).repointed).toStrictEqual([{
          review_id: (yield* entryOf(q.item.uid)).id,
          from: t.item.uid,
          to: labelled.item.uid
        }])

        // after reject_both nothing is in force and the other entry keeps its fact; a new fact takes it over
        const s0 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "size", "small"))
        const s1 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "size", "medium"))
        const s2 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "size", "large"))
        yield* mem.resolve(fx.tenant, fx.reviewer, s1.item.uid, { resolution: "neither", decision: "reject_both" })
        expect((yield* entryOf(s2.item.uid)).existing_uid).toBe(s0.item.uid)
        const s3 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "size", "huge"))
        expect(s3.outcome).toBe("created")
        expect((yield* entryOf(s2.item.uid)).existing_uid).toBe(s3.item.uid)

        // the tenant removes the fact an entry names: the entry names the other fact now in force over its period
        const m0 = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("starbucks", "mcc", "5814", { valid_from: 0, valid_to: DAY })
        )
        const m1 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "mcc", "5812", { valid_from: DAY }))
        const m2 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "mcc", "5499", { valid_from: 0 }))
        expect([m1.outcome, m2.existing?.uid]).toStrictEqual(["created", m0.item.uid])
        yield* mem.remove(fx.tenant, fx.owner, m0.item.uid)
        expect((yield* entryOf(m2.item.uid)).existing_uid).toBe(m1.item.uid)
      }))

    test("resolve reject_both: both rejected, none in force; the hallucination KPI counts both", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-reject")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        const c = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
        yield* TestClock.adjust(1000)
        const r = yield* mem.resolve(fx.tenant, fx.reviewer, c.item.uid, {
          resolution: "both wrong",
          decision: "reject_both"
        })
        expect(r.items.map((i) => i.status)).toStrictEqual(["rejected", "rejected"])
        expect((yield* probe.items(fx.tenant)).map((i) => [i.status, i.expired_at])).toStrictEqual([
          ["rejected", 1000],
          ["rejected", 1000]
        ])
        const none = yield* mem.asOf(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          subject: "starbucks",
          predicate: "account"
        })
        expect(Option.isNone(none.item)).toBe(true)
        expect(none.conflicts_pending).toBe(0)
        const k = yield* mem.kpis(fx.tenant, { from_ts: 0, to_ts: 2000 })
        expect(k).toStrictEqual({
          memory_items_count: 0,
          memory_avg_tokens_saved: 0,
          memory_reconciliation_rate: 1,
          memory_hallucination_incidents: 2,
          window_start_ts: 0,
          window_end_ts: 2000
        })
      }))

    test("authoritative source: supersedes directly (no queue), cut validity, link and audit; open entries stay for a person", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-auth")
        const probe = yield* AgentMemoryProbe
        const mem = yield* memory
        const old = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        const pending = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6300"))
        yield* TestClock.adjust(1000)
        const labelled = yield* withSettings(
          { authoritative: (kind, actor) => kind === "fact" && actor.id === fx.reviewer.id },
          (m) => m.write(fx.tenant, fx.reviewer, fact("starbucks", "account", "6200"))
        )
        expect(labelled.outcome).toBe("superseded")
        expect(labelled.review).toBeNull()
        expect(labelled.existing).toMatchObject({
          uid: old.item.uid,
          status: "superseded",
          valid_to: 1000,
          expired_at: 1000
        })
        expect(labelled.item).toMatchObject({ status: "active", accepted_at: 1000, valid_from: 1000 })
        const rows = yield* probe.items(fx.tenant)
        expect(rows.map((r) => r.status)).toStrictEqual(["superseded", "pending_review", "active"])
        expect((yield* probe.reviews(fx.tenant)).map((r) => [r.uid, r.status])).toStrictEqual([[
          pending.item.uid,
          "open"
        ]])
        expect(yield* probe.links(fx.tenant)).toContainEqual({
          from_uid: labelled.item.uid,
          to_uid: old.item.uid,
          relation: "supersedes"
        })
        expect(yield* auditActions(fx.tenant)).toContain("memory.superseded")
        // the open entry is still resolvable: accepting it supersedes the fact now in force
        const r = yield* mem.resolve(fx.tenant, fx.reviewer, pending.item.uid, {
          resolution: "6300 is right",
          decision: "accept_new"
        })
        expect(r.items[0]).toMatchObject({ status: "active" })
        const actives = (yield* probe.items(fx.tenant)).filter((i) => i.status === "active")
        expect(actives.map((i) => i.uid)).toStrictEqual([pending.item.uid])
      }))

    test("authoritative policy: decided on the authenticated actor, never on the body's agent_id", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-auth-actor")
        const probe = yield* AgentMemoryProbe
        const policy = {
          authoritative: (kind: string, actor: { readonly role: string; readonly kind: string }) =>
            kind === "fact" && actor.kind === "user" && actor.role === "CONTROLLER"
        }
        yield* memory.pipe(Effect.flatMap((m) => m.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))))
        // an agent claiming to be the labeller in the body is still an agent: its write waits for a person
        const claimed = yield* withSettings(
          policy,
          (m) => m.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200", { agent_id: "labeller" }))
        )
        expect(claimed.outcome).toBe("conflict")
        const labelled = yield* withSettings(
          policy,
          (m) => m.write(fx.tenant, fx.reviewer, fact("starbucks", "account", "6300", { agent_id: "copilot" }))
        )
        expect(labelled.outcome).toBe("superseded")
        expect((yield* probe.items(fx.tenant)).map((i) => i.status)).toStrictEqual([
          "superseded",
          "pending_review",
          "active"
        ])
      }))

    test("review queue disabled: a contradicting write is refused (memory.conflict) and nothing is written", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-noqueue")
        const probe = yield* AgentMemoryProbe
        const mem = yield* memory
        yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        const before = yield* probe.items(fx.tenant)
        const refused = yield* Effect.exit(
          withSettings(
            { reviewQueueEnabled: false },
            (m) => m.write(fx.tenant, fx.agent, fact("starbucks", "account", "6200"))
          )
        )
        expect(codeOf(refused)).toBe("memory.conflict")
        expect(yield* probe.items(fx.tenant)).toStrictEqual(before)
        expect(yield* probe.reviews(fx.tenant)).toStrictEqual([])
        const same = yield* withSettings(
          { reviewQueueEnabled: false },
          (m) => m.write(fx.tenant, fx.agent, fact("starbucks", "account", "6100"))
        )
        expect(same.outcome).toBe("reinforced")
      }))

    test("input and access: unknown fields, half keys, empty validity, bad links and cursors are refused; RBAC and tenant scope", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-input")
        const other = yield* fixture("mem-input-other")
        const probe = yield* AgentMemoryProbe
        const mem = yield* memory
        const codes = yield* Effect.all([
          Effect.exit(mem.write(fx.tenant, fx.agent, { ...fact("a", "b", 1), colour: "red" } as never)),
          Effect.exit(mem.write(fx.tenant, fx.agent, { thread_id: "t", agent_id: "a", kind: "fact", subject: "x" })),
          Effect.exit(mem.write(fx.tenant, fx.agent, fact("a", "b", 1, { valid_from: 10, valid_to: 10 }))),
          Effect.exit(mem.write(fx.tenant, fx.agent, fact("a", "b", 1, { importance: 2 }))),
          Effect.exit(mem.write(fx.tenant, fx.agent, fact("a", "b", 1, { kind: "Not A Kind" }))),
          Effect.exit(
            mem.write(
              fx.tenant,
              fx.agent,
              fact("a", "b", 1, { links: [{ relation: "related_to", to_uid: "mem_missing" }] })
            )
          ),
          Effect.exit(
            mem.write(fx.tenant, fx.agent, fact("a", "b", 1, { links: [{ relation: "supersedes", to_uid: "mem_x" }] }))
          ),
          Effect.exit(mem.write(fx.tenant, fx.viewer, fact("a", "b", 1))),
          Effect.exit(mem.write(fx.tenant, other.agent, fact("a", "b", 1))),
          Effect.exit(mem.listThread(fx.tenant, fx.viewer, { thread_id: "t", cursor: "garbage!" })),
          Effect.exit(mem.get(fx.tenant, fx.viewer, "mem_nope")),
          Effect.exit(mem.remove(fx.tenant, fx.reviewer, "mem_nope")),
          Effect.exit(mem.runTiering("all", fx.owner))
        ])
        expect(codes.map((e) => codeOf(e as Exit.Exit<unknown, unknown>))).toStrictEqual([
          "validation.schema",
          "validation.memory_key",
          "validation.memory_validity",
          "validation.schema",
          "validation.schema",
          "validation.memory_link",
          "validation.schema",
          "rbac.forbidden",
          "tenant.mismatch",
          "validation.cursor",
          "not_found",
          "rbac.forbidden",
          "rbac.forbidden"
        ])
        const nf = codes[10]!
        expect(Exit.isFailure(nf) && nf.cause._tag === "Fail" && (nf.cause.error as { details?: unknown }).details)
          .toStrictEqual({ entity: "memory_item", uid: "mem_nope" })
        expect(yield* probe.items(fx.tenant)).toStrictEqual([])
        expect(yield* probe.links(fx.tenant)).toStrictEqual([])
      }))

    test("reads: thread pages with cursors, search by kind/status/text, failures by job, conflicts oldest first", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-reads")
        const mem = yield* memory
        const uids: Array<string> = []
        for (let i = 0; i < 5; i++) {
          uids.push((yield* mem.write(fx.tenant, fx.agent, fact(`item${i}`, "account", String(i)))).item.uid)
          yield* TestClock.adjust(10)
        }
        const p1 = yield* mem.listThread(fx.tenant, fx.viewer, { thread_id: "vendor:starbucks", limit: 2 })
        const p2 = yield* mem.listThread(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          limit: 2,
          cursor: p1.next_cursor!
        })
        const p3 = yield* mem.listThread(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          limit: 2,
          cursor: p2.next_cursor!
        })
        expect([...p1.items, ...p2.items, ...p3.items].map((i) => i.uid)).toStrictEqual(uids)
        expect(p3.next_cursor).toBeNull()
        const f1 = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "job:nightly-etl",
          agent_id: "triage",
          kind: "failure",
          content: "OOM in stage 3"
        })
        yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "job:other",
          agent_id: "triage",
          kind: "failure",
          content: "Timeout"
        })
        yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "runs",
          agent_id: "triage",
          kind: "failure",
          subject: "nightly-etl",
          predicate: "last_error",
          value: "OOM"
        })
        const byJob = yield* mem.failures(fx.tenant, fx.viewer, { job: "nightly-etl" })
        expect(byJob.items.length).toBe(2)
        expect(byJob.items[0]!.uid).toBe(f1.item.uid)
        expect((yield* mem.failures(fx.tenant, fx.viewer, { thread_id: "job:other" })).items.map((i) => i.content))
          .toStrictEqual(["Timeout"])
        expect((yield* mem.failures(fx.tenant, fx.viewer, {})).items.length).toBe(3)
        expect((yield* mem.search(fx.tenant, fx.viewer, { text: "oom IN" })).items.map((i) => i.uid)).toStrictEqual([
          f1.item.uid
        ])
        expect((yield* mem.search(fx.tenant, fx.viewer, { text: "100%_" })).items).toStrictEqual([])
        expect((yield* mem.search(fx.tenant, fx.viewer, { kind: "fact", status: "active", tier: "hot" })).items.length)
          .toBe(5)
        const c1 = yield* mem.write(fx.tenant, fx.agent, fact("item1", "account", "x"))
        yield* TestClock.adjust(10)
        const c2 = yield* mem.write(fx.tenant, fx.agent, fact("item3", "account", "y"))
        const q1 = yield* mem.conflicts(fx.tenant, fx.viewer, { limit: 1 })
        const q2 = yield* mem.conflicts(fx.tenant, fx.viewer, { limit: 1, cursor: q1.next_cursor! })
        expect([q1.items[0]!.uid, q2.items[0]!.uid, q2.next_cursor]).toStrictEqual([c1.item.uid, c2.item.uid, null])
        expect(q1.items[0]!.existing?.uid).toBe(uids[1])
        expect(q1.items[0]!.item.status).toBe("pending_review")
      }))

    test("search: the same Unicode case folding on every adapter; % and _ in the needle are literal", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-search")
        const mem = yield* memory
        const note = (content: string, extra: Record<string, unknown> = {}) =>
          mem.write(fx.tenant, fx.agent, { thread_id: "s", agent_id: "x", kind: "note", content, ...extra })
        const ecole = yield* note("Inscrite à l'école du Louvre")
        const strasse = yield* note("Lieferung", { subject: "ÖLSTRASSE", predicate: "ZUSTELLUNG", value: 1 })
        const pct = yield* note("50% off_now")
        yield* note("50x offXnow")
        const found = (text: string) =>
          Effect.map(mem.search(fx.tenant, fx.viewer, { thread_id: "s", text }), (p) => p.items.map((i) => i.uid))
        expect(yield* found("ÉCOLE")).toStrictEqual([ecole.item.uid])
        expect(yield* found("École DU")).toStrictEqual([ecole.item.uid])
        // a decomposed needle (E + combining acute) is the same text
        expect(yield* found("E\u0301COLE")).toStrictEqual([ecole.item.uid])
        expect(yield* found("ölstr")).toStrictEqual([strasse.item.uid])
        expect(yield* found("zustellung")).toStrictEqual([strasse.item.uid])
        expect(yield* found("0% off_")).toStrictEqual([pct.item.uid])
        expect(yield* found("%")).toStrictEqual([pct.item.uid])
        expect(yield* found("_")).toStrictEqual([pct.item.uid])
        expect(yield* found("\\")).toStrictEqual([])
      }))

    test("stats: counts per tier, status and kind; queue depth and age", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-stats")
        const mem = yield* memory
        yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 1))
        yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 2))
        yield* mem.write(fx.tenant, fx.agent, { thread_id: "job:x", agent_id: "t", kind: "failure", content: "boom" })
        yield* TestClock.adjust("90 seconds")
        expect(yield* mem.stats(fx.tenant, fx.viewer)).toStrictEqual({
          items: 3,
          by_tier: { hot: 3, warm: 0, archive: 0 },
          by_status: { active: 2, pending_review: 1, superseded: 0, rejected: 0 },
          by_kind: { fact: 2, failure: 1 },
          queue_depth: 1,
          oldest_open_age_seconds: 90
        })
      }))

    test("KPIs: items in use, tokens saved, reconciliation rate (null when none raised), per tenant and over all", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-kpi")
        const mem = yield* memory
        const empty = yield* mem.kpis(fx.tenant, { from_ts: 0, to_ts: 1000 })
        expect(empty.memory_reconciliation_rate).toBeNull()
        yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 1, { token_count: 100 }))
        yield* mem.write(fx.tenant, fx.agent, fact("b", "p", 1, { token_count: 50 }))
        const c1 = yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 2, { token_count: 999 }))
        yield* mem.write(fx.tenant, fx.agent, fact("b", "p", 2))
        yield* TestClock.adjust(100)
        yield* mem.resolve(fx.tenant, fx.reviewer, c1.item.uid, { resolution: "wrong" })
        // a second tenant, so the aggregate over all spans several
        const other = yield* fixture("mem-kpi-other")
        yield* mem.write(other.tenant, other.agent, fact("a", "p", 1, { token_count: 10 }))
        const k = yield* mem.kpis(fx.tenant, { from_ts: 0, to_ts: 1000 })
        expect(k).toStrictEqual({
          memory_items_count: 3,
          memory_avg_tokens_saved: 75,
          memory_reconciliation_rate: 0.5,
          memory_hallucination_incidents: 1,
          window_start_ts: 0,
          window_end_ts: 1000
        })
        // over every tenant: exactly the sum of each tenant's aggregates (other tests' tenants share the storage)
        const w = { from_ts: 0, to_ts: 1000 }
        const store = yield* AgentMemory.AgentMemoryStore
        const sum = { live_items: 0, used_tokens_sum: 0, used_items: 0, raised: 0, raised_resolved: 0, rejected: 0 }
        for (const t of yield* store.tenants()) {
          const f = yield* store.kpiFacts(t, w)
          for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += f[k]
        }
        const all = yield* mem.kpisAll(w)
        expect(all).toStrictEqual(AgentMemoryRules.kpisOf(sum, w))
        expect(all.memory_items_count).toBe(sum.live_items)
        expect(codeOf(yield* Effect.exit(mem.kpis(fx.tenant, { from_ts: 5, to_ts: 1 })))).toBe("validation.time_range")
      }))

    test("graph: breadth first along links both ways, within depth and size limits", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-graph")
        const mem = yield* memory
        const a = yield* mem.write(fx.tenant, fx.agent, { thread_id: "g", agent_id: "x", kind: "note", content: "a" })
        const b = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "g",
          agent_id: "x",
          kind: "note",
          content: "b",
          links: [{ relation: "related_to", to_uid: a.item.uid }]
        })
        const c = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "g",
          agent_id: "x",
          kind: "note",
          content: "c",
          links: [{ relation: "derived_from", to_uid: b.item.uid }]
        })
        const d = yield* mem.write(fx.tenant, fx.agent, {
          thread_id: "g",
          agent_id: "x",
          kind: "note",
          content: "d",
          links: [{ relation: "related_to", to_uid: a.item.uid }]
        })
        const g1 = yield* mem.graph(fx.tenant, fx.viewer, a.item.uid, { depth: 1 })
        expect(g1.nodes.map((n) => n.content).sort()).toStrictEqual(["a", "b", "d"])
        expect(g1.edges.length).toBe(2)
        expect(g1.truncated).toBe(false)
        const g2 = yield* mem.graph(fx.tenant, fx.viewer, a.item.uid)
        expect(g2.nodes.map((n) => n.content).sort()).toStrictEqual(["a", "b", "c", "d"])
        expect(g2.edges.map((e) => [e.from_uid, e.to_uid, e.relation])).toContainEqual([
          c.item.uid,
          b.item.uid,
          "derived_from"
        ])
        const small = yield* mem.graph(fx.tenant, fx.viewer, a.item.uid, { limit: 2 })
        expect([small.nodes.length, small.truncated]).toStrictEqual([2, true])
        // the root, then the first neighbour by uid
        expect(small.nodes.map((n) => n.uid)).toStrictEqual([a.item.uid, [b.item.uid, d.item.uid].sort()[0]])
        const edge = (e: { from_uid: string; to_uid: string; relation: string }) =>
          `${e.from_uid}>${e.to_uid}:${e.relation}`
        expect(g1.edges.map(edge).sort()).toStrictEqual(
          [`${b.item.uid}>${a.item.uid}:related_to`, `${d.item.uid}>${a.item.uid}:related_to`].sort()
        )
        expect(g2.edges.map(edge).sort()).toStrictEqual(
          [
            `${b.item.uid}>${a.item.uid}:related_to`,
            `${c.item.uid}>${b.item.uid}:derived_from`,
            `${d.item.uid}>${a.item.uid}:related_to`
          ].sort()
        )
      }))

    test("consistency report: contradictions raised/resolved/pending, supersede chains, missing links, overlapping facts", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-consistency")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const v1 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "1"))
        yield* TestClock.adjust(100)
        const v2 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "2"))
        yield* mem.resolve(fx.tenant, fx.reviewer, v2.item.uid, { resolution: "ok", decision: "accept_new" })
        yield* TestClock.adjust(100)
        const v3 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "3"))
        yield* mem.resolve(fx.tenant, fx.reviewer, v3.item.uid, { resolution: "ok", decision: "accept_new" })
        yield* TestClock.adjust(100)
        const v4 = yield* mem.write(fx.tenant, fx.agent, fact("starbucks", "account", "4"))
        const report = yield* mem.consistency(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          from_ts: 0,
          to_ts: 1000
        })
        expect(report.contradictions).toStrictEqual({ raised: 3, resolved: 2, pending: 1 })
        expect(report.supersede_chains).toStrictEqual([[v3.item.uid, v2.item.uid, v1.item.uid]])
        expect(report.missing_links).toStrictEqual([])
        expect(report.overlapping_facts).toStrictEqual([])
        const narrow = yield* mem.consistency(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          from_ts: 250,
          to_ts: 1000
        })
        expect(narrow.contradictions).toStrictEqual({ raised: 1, resolved: 0, pending: 1 })
        // storage changed behind memory's back: a dangling link and two facts in force at once
        yield* probe.rawLink(fx.tenant, v1.item.uid, "mem_gone", "related_to")
        yield* probe.setStatus(fx.tenant, v4.item.uid, "active")
        const broken = yield* mem.consistency(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          from_ts: 0,
          to_ts: 1000
        })
        expect(broken.missing_links.map((l) => l.to_uid)).toStrictEqual(["mem_gone"])
        expect(broken.overlapping_facts).toStrictEqual([{
          subject: "starbucks",
          predicate: "account",
          uids: [v3.item.uid, v4.item.uid]
        }])
      }))

    test("tiering: unused low-importance items go hot → warm → archive (TestClock), stay readable; reads count as use; switches", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-tiers")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const low = yield* mem.write(fx.tenant, fx.agent, fact("low", "p", 1, { importance: 0.3 }))
        const high = yield* mem.write(fx.tenant, fx.agent, fact("high", "p", 1, { importance: 1 }))
        const used = yield* mem.write(fx.tenant, fx.agent, fact("used", "p", 1, { importance: 0.3 }))
        const other = yield* fixture("mem-tiers-other")
        yield* mem.write(other.tenant, other.agent, fact("x", "p", 1, { importance: 0.1 }))
        const tierOf = (uid: string) => Effect.map(probe.items(fx.tenant), (rs) => rs.find((r) => r.uid === uid)!.tier)
        expect(yield* mem.runTiering(fx.tenant, fx.reviewer)).toStrictEqual({
          enabled: true,
          examined: 3,
          decayed: 0,
          to_warm: 0,
          to_archive: 0
        })
        yield* TestClock.adjust(8 * DAY)
        yield* mem.get(fx.tenant, fx.viewer, used.item.uid)
        expect((yield* probe.items(fx.tenant)).find((r) => r.uid === used.item.uid)!.last_used_at).toBe(8 * DAY)
        const off = yield* withSettings({ tiersEnabled: false }, (m) => m.runTiering(fx.tenant, fx.reviewer))
        expect(off).toStrictEqual({ enabled: false, examined: 0, decayed: 0, to_warm: 0, to_archive: 0 })
        expect(yield* tierOf(low.item.uid)).toBe("hot")
        const r1 = yield* mem.runTiering(fx.tenant, fx.reviewer)
        expect(r1).toStrictEqual({ enabled: true, examined: 3, decayed: 2, to_warm: 1, to_archive: 0 })
        expect([yield* tierOf(low.item.uid), yield* tierOf(high.item.uid), yield* tierOf(used.item.uid)]).toStrictEqual(
          ["warm", "hot", "hot"]
        )
        // a second get within the hour writes nothing
        const v = (yield* probe.items(fx.tenant)).find((r) => r.uid === used.item.uid)!
        yield* TestClock.adjust(1000)
        yield* mem.get(fx.tenant, fx.viewer, used.item.uid)
        expect((yield* probe.items(fx.tenant)).find((r) => r.uid === used.item.uid)!.last_used_at).toBe(v.last_used_at)
        yield* TestClock.adjust(30 * DAY)
        const noDecay = yield* withSettings(
          { importanceEnabled: false, archiveBelowImportance: 0.2 },
          (m) => m.runTiering(fx.tenant, fx.reviewer)
        )
        // undecayed 0.3 is not below 0.2: nothing archived, but `used` (idle 30 days, 0.3 < 0.5) goes warm
        expect(noDecay).toStrictEqual({ enabled: true, examined: 3, decayed: 0, to_warm: 1, to_archive: 0 })
        const r2 = yield* mem.runTiering(fx.tenant, fx.reviewer)
        // 38 idle days halve importance 2^(38/30) times: even the important one (1 → 0.41) leaves hot
        expect(r2).toStrictEqual({ enabled: true, examined: 3, decayed: 3, to_warm: 1, to_archive: 2 })
        expect([yield* tierOf(low.item.uid), yield* tierOf(used.item.uid), yield* tierOf(high.item.uid)]).toStrictEqual(
          ["archive", "archive", "warm"]
        )
        // archived items stay readable, and a write of the same value brings one back to hot
        expect((yield* mem.get(fx.tenant, fx.viewer, low.item.uid)).item.tier).toBe("archive")
        yield* mem.write(fx.tenant, fx.agent, fact("low", "p", 1))
        expect(yield* tierOf(low.item.uid)).toBe("hot")
        expect(yield* auditActions(fx.tenant)).toContain("memory.tiered")
        const all = yield* mem.runTiering("all", fx.admin)
        const store = yield* AgentMemory.AgentMemoryStore
        let everyItem = 0
        for (const t of yield* store.tenants()) everyItem += (yield* probe.items(t)).length
        expect(all.examined).toBe(everyItem)
        expect((yield* probe.items(other.tenant))[0]!.tier).toBe("archive")
      }))

    test("tiering: `decayed` counts items at least 1 % below their stored importance, not every idle item", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-decay")
        const mem = yield* memory
        yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 1, { importance: 0.6 }))
        yield* mem.write(fx.tenant, fx.agent, fact("b", "p", 1, { importance: 0 }))
        yield* TestClock.adjust("1 hour")
        expect(yield* mem.runTiering(fx.tenant, fx.reviewer)).toStrictEqual({
          enabled: true,
          examined: 2,
          decayed: 0,
          to_warm: 0,
          to_archive: 0
        })
        // about 10.4 hours unused lose 1 % at the default 30-day half-life; importance 0 never decays
        yield* TestClock.adjust("10 hours")
        expect((yield* mem.runTiering(fx.tenant, fx.reviewer)).decayed).toBe(1)
      }))

    test("tiering is bookkeeping: no version change, so a writer that read before it never meets conflict.stale", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-tier-cas")
        const mem = yield* memory
        const store = yield* AgentMemory.AgentMemoryStore
        const probe = yield* AgentMemoryProbe
        const low = yield* mem.write(fx.tenant, fx.agent, fact("low", "p", 1, { importance: 0.3 }))
        const used = yield* mem.write(fx.tenant, fx.agent, fact("used", "p", 1, { importance: 0.3 }))
        yield* TestClock.adjust(8 * DAY)
        // a writer reads the item, tiering moves it, the writer's versioned update still applies
        const read = Option.getOrThrow(yield* store.getItem(fx.tenant, low.item.uid))
        expect((yield* mem.runTiering(fx.tenant, fx.reviewer)).to_warm).toBe(2)
        const rows = yield* probe.items(fx.tenant)
        expect(rows.map((r) => [r.uid, r.tier, r.version])).toStrictEqual([
          [low.item.uid, "warm", 1],
          [used.item.uid, "warm", 1]
        ])
        const written = yield* Effect.exit(
          store.updateItem(
            Trusted.make(AgentMemory.MemoryItem, { ...read, reinforced_count: 7, version: read.version + 1 }),
            read.version
          )
        )
        expect(codeOf(written)).toBe("ok")
        expect((yield* probe.items(fx.tenant))[0]).toMatchObject({ reinforced_count: 7, version: 2 })
        // the compare-and-set: not from another tier, not after a use it did not see
        const u = Option.getOrThrow(yield* store.getItem(fx.tenant, used.item.uid))
        expect(yield* store.setTier(fx.tenant, used.item.uid, "hot", "archive", u.last_used_at)).toBe(false)
        yield* TestClock.adjust(2 * 3_600_000)
        yield* mem.get(fx.tenant, fx.viewer, used.item.uid)
        expect(yield* store.setTier(fx.tenant, used.item.uid, "warm", "archive", u.last_used_at)).toBe(false)
        const touched = Option.getOrThrow(yield* store.getItem(fx.tenant, used.item.uid))
        expect(yield* store.setTier(fx.tenant, used.item.uid, "warm", "archive", touched.last_used_at)).toBe(true)
        // the stale full-row update above did not put the tier back: tiering's warm stays
        expect((yield* probe.items(fx.tenant)).map((r) => [r.tier, r.version])).toStrictEqual([["warm", 2], [
          "archive",
          1
        ]])
      }))

    test("values: stored and returned as their JSON (bigint as string, Date as ISO, undefined dropped, -0 as 0); never the caller's object", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-values")
        const mem = yield* memory
        const store = yield* AgentMemory.AgentMemoryStore
        const input = { big: 5n, when: new Date(0), gone: undefined, zero: -0, list: [1, { x: undefined, y: "z" }] }
        const expected = { big: "5", list: [1, { y: "z" }], when: "1970-01-01T00:00:00.000Z", zero: 0 }
        const w = yield* mem.write(fx.tenant, fx.agent, { ...fact("val", "p", null), value: input })
        expect(w.item.value).toStrictEqual(expected)
        // the caller's object changes afterwards, then a reader's copy does: the stored value does not
        input.list.push(2)
        ;(input as { big: unknown }).big = 6
        const read = Option.getOrThrow(yield* store.getItem(fx.tenant, w.item.uid))
        expect(read.value).toStrictEqual(expected)
        ;(read.value as { list: Array<unknown> }).list.push(3)
        ;(w.item.value as { list: Array<unknown> }).list.push(4)
        expect(Option.getOrThrow(yield* store.getItem(fx.tenant, w.item.uid)).value).toStrictEqual(expected)
        expect((yield* store.itemsByKey(fx.tenant, { thread_id: "vendor:starbucks", subject: "val", predicate: "p" }))
          .map((i) => i.value)).toStrictEqual([expected])
        expect((yield* store.listItems(fx.tenant, { thread_id: "vendor:starbucks", limit: 10 })).map((i) => i.value))
          .toStrictEqual([expected])
        // the same value again (canonically) reinforces; a store-level write of a raw value is copied the same way
        expect((yield* mem.write(fx.tenant, fx.agent, fact("val", "p", expected))).outcome).toBe("reinforced")
        const raw = Trusted.make(AgentMemory.MemoryItem, {
          ...read,
          uid: "mem_raw_value",
          subject: null,
          predicate: null,
          value: { n: -0, d: new Date(0), u: undefined, b: 7n }
        })
        yield* store.insertItem(raw)
        ;(raw.value as { n: number }).n = 9
        const back = Option.getOrThrow(yield* store.getItem(fx.tenant, "mem_raw_value")).value
        expect(back).toStrictEqual({ b: "7", d: "1970-01-01T00:00:00.000Z", n: 0 })
        expect(Object.is((back as { n: number }).n, 0)).toBe(true)
        // a value canonical JSON cannot hold is refused, nothing stored
        const before = (yield* store.listItems(fx.tenant, { limit: 100 })).length
        expect(codeOf(yield* Effect.exit(mem.write(fx.tenant, fx.agent, fact("val2", "p", { n: Number.NaN })))))
          .toBe("validation.memory_value")
        expect((yield* store.listItems(fx.tenant, { limit: 100 })).length).toBe(before)
      }))

    test("a superseded fact is in force over the period it was cut to: a later write there with another value is queued against it", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-cut-period")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const paris = yield* mem.write(fx.tenant, fx.agent, fact("hq", "city", "Paris", { valid_from: 0 }))
        yield* TestClock.adjust(10 * DAY)
        const lyon = yield* withSettings(
          { authoritative: (_kind, actor) => actor.id === fx.reviewer.id },
          (m) => m.write(fx.tenant, fx.reviewer, fact("hq", "city", "Lyon", { valid_from: 5 * DAY }))
        )
        expect(lyon.outcome).toBe("superseded")
        const row = (uid: string) => Effect.map(probe.items(fx.tenant), (rs) => rs.find((r) => r.uid === uid)!)
        expect(yield* row(paris.item.uid)).toMatchObject({ status: "superseded", valid_from: 0, valid_to: 5 * DAY })
        // nothing active over [1, 2) days, but Paris is believed there: a different value is a contradiction
        const nice = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("hq", "city", "Nice", { valid_from: DAY, valid_to: 2 * DAY })
        )
        expect(nice.outcome).toBe("conflict")
        expect(nice.existing?.uid).toBe(paris.item.uid)
        expect(yield* row(nice.item.uid)).toMatchObject({ status: "pending_review", accepted_at: null })
        expect((yield* probe.reviews(fx.tenant)).map((r) => [r.uid, r.existing_uid, r.status])).toStrictEqual([
          [nice.item.uid, paris.item.uid, "open"]
        ])
        expect((yield* probe.links(fx.tenant)).filter((l) => l.relation === "contradicts")).toStrictEqual([
          { from_uid: nice.item.uid, to_uid: paris.item.uid, relation: "contradicts" }
        ])
        // the believed value over that period reinforces the superseded fact; Lyon's period is untouched
        const again = yield* mem.write(
          fx.tenant,
          fx.agent,
          fact("hq", "city", "Paris", { valid_from: DAY, valid_to: 2 * DAY })
        )
        expect(again.outcome).toBe("reinforced")
        expect(again.item.uid).toBe(paris.item.uid)
        expect(yield* row(paris.item.uid)).toMatchObject({
          status: "superseded",
          reinforced_count: 2,
          valid_to: 5 * DAY
        })
        const asOf = yield* mem.asOf(fx.tenant, fx.viewer, {
          thread_id: "vendor:starbucks",
          subject: "hq",
          predicate: "city",
          valid_at: DAY + 1
        })
        expect(Option.map(asOf.item, (i) => i.uid)).toStrictEqual(Option.some(paris.item.uid))
        expect(asOf.conflicts_pending).toBe(1)
        // accepting it cuts Paris again and keeps Paris's tail; no two facts in force overlap
        yield* mem.resolve(fx.tenant, fx.reviewer, nice.item.uid, { resolution: "moved", decision: "accept_new" })
        const rows = yield* probe.items(fx.tenant)
        const believed = rows.filter((r) => AgentMemoryRules.inForce(r))
        for (let a = 0; a < believed.length; a++) {
          for (let b = a + 1; b < believed.length; b++) {
            expect(AgentMemoryRules.overlaps(believed[a]!, believed[b]!)).toBe(false)
          }
        }
        expect(yield* row(paris.item.uid)).toMatchObject({ status: "superseded", valid_to: DAY })
        expect(yield* row(nice.item.uid)).toMatchObject({ status: "active", valid_from: DAY, valid_to: 2 * DAY })
        expect(rows.filter((r) => r.status === "active").map((r) => [r.valid_from, r.valid_to])).toStrictEqual([
          [5 * DAY, null],
          [DAY, 2 * DAY],
          [2 * DAY, 5 * DAY]
        ])
      }))

    test("store errors: duplicates name the taken key, a missing entry is not_found; fractional KPI bounds are a validation error", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-errors")
        const mem = yield* memory
        const store = yield* AgentMemory.AgentMemoryStore
        const probe = yield* AgentMemoryProbe
        const a = yield* mem.write(fx.tenant, fx.agent, fact("err", "p", 1))
        const c = yield* mem.write(fx.tenant, fx.agent, fact("err", "p", 2))
        const entry = c.review!
        const failure = <A, E>(exit: Exit.Exit<A, E>) =>
          Exit.isFailure(exit) && exit.cause._tag === "Fail"
            ? (({ _tag, code, details }) => ({ _tag, code, details }))(
              exit.cause.error as { _tag: string; code?: string; details?: unknown }
            )
            : exit._tag
        expect(failure(yield* Effect.exit(store.insertItem(a.item)))).toStrictEqual({
          _tag: "Conflict",
          code: "conflict.duplicate",
          details: { entity: "memory_item", id: a.item.uid }
        })
        const key = { thread_id: "vendor:starbucks", subject: "err", predicate: "p" }
        expect(failure(
          yield* Effect.exit(store.insertReview(
            Trusted.make(AgentMemory.ReviewEntry, { ...entry, uid: "mem_other" }),
            key
          ))
        )).toStrictEqual({
          _tag: "Conflict",
          code: "conflict.duplicate",
          details: { entity: "memory_review", id: entry.id }
        })
        expect(failure(
          yield* Effect.exit(store.insertReview(
            Trusted.make(AgentMemory.ReviewEntry, { ...entry, id: "mrv_other" }),
            key
          ))
        )).toStrictEqual({
          _tag: "Conflict",
          code: "conflict.duplicate",
          details: { entity: "memory_item_review", id: entry.uid }
        })
        expect(failure(
          yield* Effect.exit(store.updateReview(
            Trusted.make(AgentMemory.ReviewEntry, { ...entry, id: "mrv_missing", version: 2 }),
            1
          ))
        )).toStrictEqual({
          _tag: "NotFound",
          code: "not_found",
          details: { entity: "memory_review", id: "mrv_missing" }
        })
        expect(failure(
          yield* Effect.exit(store.updateReview(
            Trusted.make(AgentMemory.ReviewEntry, { ...entry, version: 9 }),
            8
          ))
        )).toMatchObject({ _tag: "Conflict", code: "conflict.stale" })
        expect((yield* probe.reviews(fx.tenant)).map((r) => r.id)).toStrictEqual([entry.id])
        for (const w of [{ from_ts: 0.5, to_ts: 10 }, { from_ts: 0, to_ts: 10.25 }]) {
          expect(codeOf(yield* Effect.exit(mem.kpis(fx.tenant, w)))).toBe("validation.time_range")
          expect(codeOf(yield* Effect.exit(mem.kpisAll(w)))).toBe("validation.time_range")
        }
        expect(codeOf(yield* Effect.exit(mem.kpis(fx.tenant, { from_ts: 0, to_ts: 10 })))).toBe("ok")
      }))

    test("a full-row update read before touch and setTier keeps the later use and the stored tier; a change that sets the tier writes it", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-bookkeeping")
        const mem = yield* memory
        const store = yield* AgentMemory.AgentMemoryStore
        const probe = yield* AgentMemoryProbe
        const w = yield* mem.write(fx.tenant, fx.agent, fact("book", "p", 1))
        const stale = Option.getOrThrow(yield* store.getItem(fx.tenant, w.item.uid))
        yield* TestClock.adjust(5 * DAY)
        // written beside versions: a use and a tier move
        yield* store.touch(fx.tenant, w.item.uid, 5 * DAY, 5 * DAY)
        expect(yield* store.setTier(fx.tenant, w.item.uid, "hot", "warm", 5 * DAY)).toBe(true)
        yield* store.updateItem(
          Trusted.make(AgentMemory.MemoryItem, { ...stale, content: "edited", version: stale.version + 1 }),
          stale.version
        )
        const row = () => Effect.map(probe.items(fx.tenant), (rs) => rs.find((r) => r.uid === w.item.uid)!)
        expect(yield* row()).toMatchObject({ last_used_at: 5 * DAY, tier: "warm", version: 2 })
        // an older last_used_at in a later update never moves it back either; an explicit tier is written
        const current = Option.getOrThrow(yield* store.getItem(fx.tenant, w.item.uid))
        expect(current.content).toBe("edited")
        yield* store.updateItem(
          Trusted.make(AgentMemory.MemoryItem, { ...current, last_used_at: DAY, tier: "hot", version: 3 }),
          2,
          { tier: true }
        )
        expect(yield* row()).toMatchObject({ last_used_at: 5 * DAY, tier: "hot", version: 3 })
        // through the service: a reinforcement after tiering moves the fact back to hot
        expect(yield* store.setTier(fx.tenant, w.item.uid, "hot", "warm", 5 * DAY)).toBe(true)
        yield* TestClock.adjust(DAY)
        const again = yield* mem.write(fx.tenant, fx.agent, fact("book", "p", 1))
        expect(again.outcome).toBe("reinforced")
        expect(yield* row()).toMatchObject({ last_used_at: 6 * DAY, tier: "hot", reinforced_count: 2, version: 4 })
      }))

    if (capabilities.parallelConnections) {
      test("tiering beside concurrent writers on separate connections: no writer fails", () =>
        Effect.gen(function*() {
          const fx = yield* fixture("mem-tier-race")
          const mem = yield* memory
          const probe = yield* AgentMemoryProbe
          const keys = Array.from({ length: 24 }, (_, i) => `k${i}`)
          for (const k of keys) yield* mem.write(fx.tenant, fx.agent, fact(k, "p", 1, { importance: 0.1 }))
          for (let round = 0; round < 3; round++) {
            yield* TestClock.adjust(40 * DAY)
            const results = yield* Effect.all(
              [
                Effect.exit(mem.runTiering(fx.tenant, fx.reviewer)),
                ...keys.map((k) => Effect.exit(mem.write(fx.tenant, fx.agent, fact(k, "p", 1))))
              ],
              { concurrency: 8 }
            )
            expect(results.map((e) => codeOf(e as Exit.Exit<unknown, unknown>))).toStrictEqual(
              results.map(() => "ok")
            )
          }
          const rows = yield* probe.items(fx.tenant)
          expect(rows.length).toBe(keys.length)
          expect(rows.every((r) => r.reinforced_count === 4 && r.version === 4)).toBe(true)
        }))
    }

    test("remove: only the tenant's admin; removes the item, its links and its queue entry; audited", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-remove")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const old = yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 1))
        const c = yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 2))
        expect(codeOf(yield* Effect.exit(mem.remove(fx.tenant, fx.reviewer, c.item.uid)))).toBe("rbac.forbidden")
        yield* mem.remove(fx.tenant, fx.owner, c.item.uid)
        expect((yield* probe.items(fx.tenant)).map((i) => i.uid)).toStrictEqual([old.item.uid])
        expect(yield* probe.reviews(fx.tenant)).toStrictEqual([])
        expect(yield* probe.links(fx.tenant)).toStrictEqual([])
        expect(codeOf(yield* Effect.exit(mem.get(fx.tenant, fx.viewer, c.item.uid)))).toBe("not_found")
        expect(yield* auditActions(fx.tenant)).toContain("memory.removed")
        expect((yield* mem.get(fx.tenant, fx.viewer, old.item.uid)).conflicts_pending).toBe(0)
      }))

    test("remove: the fact open entries contradict is refused while nothing else is in force (409 memory.review.pending, nothing changed)", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-remove-named")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const old = yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 1))
        const c = yield* mem.write(fx.tenant, fx.agent, fact("a", "p", 2))
        const state = Effect.all({
          items: probe.items(fx.tenant),
          reviews: probe.reviews(fx.tenant),
          links: probe.links(fx.tenant)
        })
        const before = yield* state
        const refused = yield* Effect.exit(mem.remove(fx.tenant, fx.owner, old.item.uid))
        expect(codeOf(refused)).toBe("memory.review.pending")
        expect(yield* state).toStrictEqual(before)
        expect(yield* auditActions(fx.tenant)).not.toContain("memory.removed")
        // once a person decided, the removal goes through and leaves nothing naming it
        yield* mem.resolve(fx.tenant, fx.reviewer, c.item.uid, { resolution: "wrong", decision: "keep_existing" })
        yield* mem.remove(fx.tenant, fx.owner, old.item.uid)
        const items = new Set((yield* probe.items(fx.tenant)).map((i) => i.uid))
        expect(items.has(old.item.uid)).toBe(false)
        expect((yield* probe.links(fx.tenant)).filter((l) => !items.has(l.from_uid) || !items.has(l.to_uid)))
          .toStrictEqual([])
      }))

    test("concurrency: removing a fact beside contradicting and linking writes leaves no link or open entry naming a missing item", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-remove-race")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const rounds = capabilities.parallelConnections ? 12 : 4
        for (let round = 0; round < rounds; round++) {
          const target = yield* mem.write(fx.tenant, fx.agent, fact(`rm${round}`, "p", 1))
          const link = [{ relation: "related_to" as const, to_uid: target.item.uid }]
          const results = yield* Effect.all(
            [
              mem.remove(fx.tenant, fx.owner, target.item.uid),
              mem.write(fx.tenant, fx.agent, fact(`rm${round}`, "p", 2)),
              mem.write(fx.tenant, fx.agent, fact(`rm${round}`, "p", 3, { links: link })),
              mem.write(fx.tenant, fx.agent, fact(`other${round}`, "p", 1, { links: link })),
              mem.write(fx.tenant, fx.agent, {
                ...fact(`note${round}`, "p", 1),
                subject: undefined,
                predicate: undefined,
                value: undefined,
                links: link
              })
            ].map((e) => Effect.exit(e as Effect.Effect<unknown, unknown>)),
            { concurrency: 5 }
          )
          // a linking write that runs after the removal is refused, and so is a removal after a contradiction
          // (an open entry would name a missing fact); nothing else fails
          expect(
            results.slice(1).map(codeOf).every((c) => c === "ok" || c === "validation.memory_link"),
            JSON.stringify(results.map(codeOf))
          ).toBe(true)
          expect(["ok", "memory.review.pending"]).toContain(codeOf(results[0]!))
        }
        const items = new Set((yield* probe.items(fx.tenant)).map((i) => i.uid))
        const dangling = (yield* probe.links(fx.tenant)).filter((l) => !items.has(l.from_uid) || !items.has(l.to_uid))
        expect(dangling).toStrictEqual([])
        const orphaned = (yield* probe.reviews(fx.tenant)).filter((r) =>
          r.status === "open" && (!items.has(r.uid) || !items.has(r.existing_uid))
        )
        expect(orphaned).toStrictEqual([])
        const open = new Set((yield* probe.reviews(fx.tenant)).filter((r) => r.status === "open").map((r) => r.uid))
        const unqueued = (yield* probe.items(fx.tenant)).filter((i) =>
          i.status === "pending_review" && !open.has(i.uid)
        )
        expect(unqueued).toStrictEqual([])
      }))

    test("concurrency: contradictory writes at once leave exactly one active fact, the rest queued; racing resolvers resolve once", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("mem-race")
        const mem = yield* memory
        const probe = yield* AgentMemoryProbe
        const n = capabilities.parallelConnections ? 8 : 4
        for (let round = 0; round < 3; round++) {
          const subject = `race${round}`
          const results = yield* Effect.all(
            Array.from({ length: n }, (_, i) => mem.write(fx.tenant, fx.agent, fact(subject, "account", `v${i}`))),
            { concurrency: n }
          )
          expect(results.filter((r) => r.outcome === "created").length).toBe(1)
          expect(results.filter((r) => r.outcome === "conflict").length).toBe(n - 1)
          const rows = (yield* probe.items(fx.tenant)).filter((r) => results.some((x) => x.item.uid === r.uid))
          expect(rows.filter((r) => r.status === "active").length).toBe(1)
          expect(rows.filter((r) => r.status === "pending_review").length).toBe(n - 1)
          // the same value at once: one row, reinforced
          const same = yield* Effect.all(
            Array.from({ length: n }, () => mem.write(fx.tenant, fx.agent, fact(`${subject}-same`, "account", "v"))),
            { concurrency: n }
          )
          expect(new Set(same.map((r) => r.item.uid)).size).toBe(1)
        }
        const reviews = yield* probe.reviews(fx.tenant)
        expect(reviews.length).toBe(3 * (n - 1))
        const target = reviews[0]!
        const racing = yield* Effect.all(
          [fx.reviewer, fx.reviewer2, fx.owner, fx.admin].map((who, i) =>
            Effect.exit(
              mem.resolve(fx.tenant, who, target.uid, {
                resolution: `decision ${i}`,
                decision: i % 2 === 0 ? "accept_new" : "keep_existing"
              })
            )
          ),
          { concurrency: 4 }
        )
        expect(racing.filter(Exit.isSuccess).length).toBe(1)
        expect(racing.filter((e) => codeOf(e) === "memory.review.resolved").length).toBe(3)
        const after = (yield* probe.reviews(fx.tenant)).find((r) => r.id === target.id)!
        expect(after.status).toBe("resolved")
        expect((yield* auditActions(fx.tenant)).filter((a) => a === "memory.review.resolved").length).toBe(1)
        // every key has at most one active fact
        const actives = (yield* probe.items(fx.tenant)).filter((r) => r.status === "active")
        expect(actives.length).toBe(6)
      }))
  })

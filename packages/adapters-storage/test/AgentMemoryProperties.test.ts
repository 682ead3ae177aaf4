/**
 * Properties of agent memory over random sequences of writes (agent and authoritative, open or
 * with a finite valid_to), resolutions (every decision, scoped or not), tiering runs, removals
 * and clock steps, on the memory adapter and SQLite: no item ever disappears (but by removal), at
 * most one active fact per key at any valid time, every pending item has an open queue entry and
 * vice versa, every open entry names an active fact over its pending item's period whenever there
 * is one, and an as-of answer about a recorded time already past never changes (bi-temporal
 * history is not rewritten; only the tenant's removal may change it).
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import {
  AgentMemory,
  AgentMemoryConfig,
  AgentMemoryRules,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, TestClock, TestContext } from "effect"
import fc from "fast-check"
import * as AgentMemoryProbe from "./support/AgentMemoryProbe.js"

type Cmd =
  | {
    readonly _tag: "write"
    readonly key: number
    readonly value: number
    readonly from: number | null
    readonly length: number | null
    readonly authoritative: boolean
  }
  | {
    readonly _tag: "resolve"
    readonly pick: number
    readonly decision: AgentMemory.ReviewDecision
    readonly scope: readonly [number, number] | null
  }
  | { readonly _tag: "tier" }
  | { readonly _tag: "remove"; readonly pick: number }
  | { readonly _tag: "wait"; readonly days: number }

const DAY = AgentMemoryRules.DAY_MS
const KEYS = ["account", "terms", "address"] as const

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("write" as const),
      key: fc.nat(KEYS.length - 1),
      value: fc.nat(3),
      from: fc.option(fc.nat(60), { nil: null }),
      length: fc.option(fc.integer({ min: 1, max: 60 }), { nil: null }),
      authoritative: fc.integer({ min: 0, max: 9 }).map((n) => n < 3)
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("resolve" as const),
      pick: fc.nat(20),
      decision: fc.constantFrom("keep_existing", "accept_new", "keep_both", "reject_both"),
      scope: fc.option(fc.tuple(fc.nat(60), fc.integer({ min: 1, max: 30 })), { nil: null })
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "tier" as const }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("remove" as const), pick: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("wait" as const), days: fc.integer({ min: 1, max: 20 }) }) }
)

let runs = 0

const run = (cmds: ReadonlyArray<Cmd>) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = Ids.TenantId.make(`mprop${++runs}`)
    yield* tenants.create({ id: tenant, name: "Prop" })
    const agent = yield* tenants.addActor({ tenant_id: tenant, kind: "agent", name: "A", role: "AGENT" })
    const owner = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "O", role: "OWNER" })
    // the authoritative source: a person applying labels (the policy reads the authenticated actor only)
    const labeller = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "L", role: "BOOKKEEPER" })
    const mem = yield* AgentMemory.AgentMemory
    const probe = yield* AgentMemoryProbe.AgentMemoryProbe
    yield* TestClock.adjust(100 * DAY)
    const known = new Set<string>()
    const removed = new Set<string>()
    /** As-of answers recorded so far: what we believed at `recorded_at` (already past) about `valid_at`. */
    let answers: Array<{
      readonly predicate: string
      readonly recorded_at: number
      readonly valid_at: number
      readonly uid: string | null
    }> = []
    const asOf = (predicate: string, recorded_at: number, valid_at: number) =>
      Effect.map(
        mem.asOf(tenant, owner, { thread_id: "vendor:v", subject: "v", predicate, recorded_at, valid_at }),
        (r) => (r.item._tag === "Some" ? r.item.value.uid : null)
      )
    const checkAnswers = Effect.gen(function*() {
      for (const a of answers) {
        expect({ ...a, uid: yield* asOf(a.predicate, a.recorded_at, a.valid_at) }).toStrictEqual(a)
      }
    })
    for (const c of cmds) {
      switch (c._tag) {
        case "write": {
          const now = yield* TestClock.currentTimeMillis
          const from = c.from === null ? now : now - c.from * DAY
          const exit = yield* Effect.exit(mem.write(tenant, c.authoritative ? labeller : agent, {
            thread_id: "vendor:v",
            agent_id: "copilot",
            kind: "fact",
            subject: "v",
            predicate: KEYS[c.key]!,
            value: `value-${c.value}`,
            ...(c.from === null ? {} : { valid_from: from }),
            ...(c.length === null ? {} : { valid_to: from + c.length * DAY })
          }))
          expect(Exit.isSuccess(exit)).toBe(true)
          if (Exit.isSuccess(exit)) known.add(exit.value.item.uid)
          break
        }
        case "resolve": {
          const open = (yield* probe.reviews(tenant)).filter((r) => r.status === "open")
          if (open.length === 0) break
          const entry = open[c.pick % open.length]!
          const now = yield* TestClock.currentTimeMillis
          const exit = yield* Effect.exit(mem.resolve(tenant, owner, entry.uid, {
            resolution: "property",
            decision: c.decision,
            ...(c.scope === null
              ? {}
              : { valid_from: now - c.scope[0] * DAY, valid_to: now - c.scope[0] * DAY + c.scope[1] * DAY })
          }))
          if (Exit.isFailure(exit)) {
            const code = exit.cause._tag === "Fail" ? (exit.cause.error as { code?: string }).code : "defect"
            expect(code).toBe("memory.validity_overlap")
          }
          break
        }
        case "tier":
          yield* mem.runTiering(tenant, owner)
          break
        case "remove": {
          const items = yield* probe.items(tenant)
          if (items.length === 0) break
          const uid = items[c.pick % items.length]!.uid
          // the tenant's own deletion may change what we believed: check the answers so far, then forget them
          yield* checkAnswers
          const gone = (yield* mem.get(tenant, owner, uid)).item.predicate
          const exit = yield* Effect.exit(mem.remove(tenant, owner, uid))
          if (Exit.isFailure(exit)) {
            // the fact open entries contradict, with nothing else in force for them: refused, nothing changed
            const code = exit.cause._tag === "Fail" ? (exit.cause.error as { code?: string }).code : "defect"
            expect(code).toBe("memory.review.pending")
            expect((yield* probe.items(tenant)).some((i) => i.uid === uid)).toBe(true)
            break
          }
          removed.add(uid)
          answers = answers.filter((a) => a.predicate !== gone)
          break
        }
        case "wait":
          yield* TestClock.adjust(c.days * DAY)
          break
      }
      // invariants after every step, on the stored rows
      const items = yield* probe.items(tenant)
      const stored = new Set(items.map((i) => i.uid))
      for (const uid of known) if (!removed.has(uid)) expect(stored.has(uid)).toBe(true)
      for (const key of KEYS) {
        const view = yield* mem.search(tenant, owner, { thread_id: "vendor:v", status: "active", limit: 500 })
        const active = view.items.filter((i) => i.predicate === key)
        for (let a = 0; a < active.length; a++) {
          for (let b = a + 1; b < active.length; b++)
            expect(AgentMemoryRules.overlaps(active[a]!, active[b]!)).toBe(false)
        }
      }
      const open = (yield* probe.reviews(tenant)).filter((r) => r.status === "open")
      const pending = items.filter((i) => i.status === "pending_review").map((i) => i.uid).sort()
      expect(open.map((r) => r.uid).sort()).toStrictEqual(pending)
      // every open entry names a fact in force (active, or superseded over its cut period) over its pending
      // item's period, whenever there is one, and never a missing item; no link names a missing item
      const byUid = new Map(items.map((i) => [i.uid, i]))
      for (const r of open) {
        const item = byUid.get(r.uid)!
        expect(stored.has(r.existing_uid)).toBe(true)
        const inForce = items
          .filter((i) =>
            AgentMemoryRules.inForce(i) && i.predicate === item.predicate &&
            AgentMemoryRules.overlaps(i, item)
          )
          .map((i) => i.uid)
        if (inForce.length > 0) expect(inForce).toContain(r.existing_uid)
      }
      for (const l of yield* probe.links(tenant)) expect(stored.has(l.from_uid) && stored.has(l.to_uid)).toBe(true)
      // record what we believed just before now (every later change is recorded at now or after)
      const now = yield* TestClock.currentTimeMillis
      for (const predicate of KEYS) {
        for (const valid_at of [now - 45 * DAY, now - 5 * DAY, now + 30 * DAY]) {
          answers.push({ predicate, recorded_at: now - 1, valid_at, uid: yield* asOf(predicate, now - 1, valid_at) })
        }
      }
    }
    yield* checkAnswers
  }).pipe(Effect.provide(TestContext.TestContext))

const environment = <E>(ports: Layer.Layer<CorePorts.CorePorts | AgentMemoryProbe.AgentMemoryProbe, E>) =>
  Kernel.layerWithAmbient.pipe(
    Layer.provideMerge(Layer.mergeAll(
      CoreConfig.layer(),
      Rbac.layer,
      SecureRandom.layerSeeded(3),
      AgentMemoryConfig.layer({ authoritative: (_kind, actor) => actor.kind === "user" && actor.role === "BOOKKEEPER" })
    )),
    Layer.provideMerge(ports)
  )

const adapters = [
  { name: "memory", runs: 60, ports: () => Layer.provideMerge(AgentMemoryProbe.memory, Memory.layer) },
  {
    name: "sqlite",
    runs: 15,
    ports: () => Layer.provideMerge(AgentMemoryProbe.sql, Sqlite.layer({ filename: ":memory:" }))
  }
] as const

describe("agent memory properties", () => {
  for (const adapter of adapters) {
    it(`random write / resolve / tier / remove sequences keep memory sound (${adapter.name})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(cmd, { minLength: 1, maxLength: 30 }),
          (cmds) => Effect.runPromise(run(cmds).pipe(Effect.provide(environment(adapter.ports()))))
        ),
        { numRuns: adapter.runs }
      )
    }, 120_000)
  }
})

/**
 * Agent-memory benchmarks, in memory and on a SQLite file, with 100,000 items in the tenant.
 *
 * 1. Writes per second with conflict detection: `AgentMemory.write` — RBAC and tenant scope,
 *    input validation, the key lock, the read of the key's facts, then a create, a reinforcement
 *    or a queued conflict (a third each), with its audit record — one transaction per write.
 * 2. Baseline, same run: the store's bare `insertItem` of an equivalent item, one transaction each:
 *    what storage alone costs, with no detection, no validation and no audit. Rounds alternate.
 * 3. Conflict-queue listing latency: p50/p95 of `AgentMemory.conflicts` for the first page of 50
 *    and for a page deep in the queue (by cursor), with thousands of open entries.
 *
 * 4. A busy thread: 20,000 facts in ONE thread (a vendor with many keys, a job with many
 *    failures), then the same timed writes into it — what a key lookup costs when its thread is
 *    large, against the same bare-insert baseline.
 *
 * The tenant is seeded through the service itself (100,000 writes, batched 1,000 to a
 * transaction), so every row is as a real write leaves it.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import {
  type Actor,
  AgentMemory,
  CoreConfig,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants,
  Trusted,
  UnitOfWork
} from "@airlock/core"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchRow } from "./main.js"

const ITEMS = Number(process.env.BENCH_MEMORY_ITEMS ?? 100_000)
/** Every this many seeded items, one contradicting write: ~2,000 open entries with 100,000 items. */
const CONFLICT_EVERY = 50
const WRITES = Number(process.env.BENCH_MEMORY_WRITES ?? 3_000)
const BUSY_THREAD_ITEMS = Number(process.env.BENCH_MEMORY_BUSY_THREAD ?? 20_000)
const ROUNDS = 6
const LISTINGS = 300

const tenantId = Ids.TenantId.make("bench")

const environment = <E, R>(ports: Layer.Layer<R, E>) =>
  Kernel.layerWithAmbient.pipe(
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
    Layer.provideMerge(ports)
  )

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const fact = (key: number, value: string, thread = `vendor:v${key % 5_000}`): AgentMemory.WriteInputEncoded => ({
  thread_id: thread,
  agent_id: "categorizer",
  kind: "fact",
  subject: `vendor:v${key}`,
  predicate: "account",
  value,
  content: `vendor ${key} posts to ${value}`,
  token_count: 80
})

const run1 = (label: string, ports: Layer.Layer<any, any>) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const memory = yield* AgentMemory.AgentMemory
    const store = yield* AgentMemory.AgentMemoryStore
    const uow = yield* UnitOfWork.UnitOfWork
    yield* tenants.create({ id: tenantId, name: "bench", settings: {} })
    const agent: Actor.Actor = yield* tenants.addActor({
      tenant_id: tenantId,
      kind: "agent",
      name: "categorizer",
      role: "AGENT"
    })
    const reviewer: Actor.Actor = yield* tenants.addActor({
      tenant_id: tenantId,
      kind: "user",
      name: "r",
      role: "CONTROLLER"
    })

    // seed: ITEMS items, one key each, plus a contradiction every CONFLICT_EVERY keys
    const seedStart = performance.now()
    let seeded = 0
    for (let start = 0; start < ITEMS; start += 1_000) {
      yield* uow.transaction(
        Effect.forEach(Array.from({ length: Math.min(1_000, ITEMS - start) }, (_, i) => start + i), (k) =>
          k % CONFLICT_EVERY === CONFLICT_EVERY - 1
            ? memory.write(tenantId, agent, fact(k - 1, "6200"))
            : memory.write(tenantId, agent, fact(k, "6100")), { discard: true })
      )
      seeded = Math.min(ITEMS, start + 1_000)
    }
    const seedSeconds = (performance.now() - seedStart) / 1000
    const stats = yield* memory.stats(tenantId, reviewer)

    // timed writes: new key, same value (reinforce), different value (conflict), in turn
    let next = ITEMS
    const ours = () =>
      Effect.gen(function*() {
        const t0 = performance.now()
        for (let i = 0; i < WRITES; i++) {
          const mode = i % 3
          const key = mode === 0 ? next++ : (i * 7919) % ITEMS
          yield* memory.write(tenantId, agent, fact(key, mode === 2 ? `x${i}` : "6100"))
        }
        return WRITES / ((performance.now() - t0) / 1000)
      })
    // the baseline: the same number of bare inserts of an equivalent item, one transaction each
    let raw = 0
    const template = (yield* memory.search(tenantId, reviewer, { limit: 1 })).items[0]!
    const baseline = () =>
      Effect.gen(function*() {
        const t0 = performance.now()
        for (let i = 0; i < WRITES; i++) {
          const uid = `mem_raw_${label}_${raw++}`
          yield* uow.transaction(
            store.insertItem(Trusted.make(AgentMemory.MemoryItem, { ...template, uid, subject: `raw:${uid}` }))
          )
        }
        return WRITES / ((performance.now() - t0) / 1000)
      })
    const oursRounds: Array<number> = []
    const baseRounds: Array<number> = []
    for (let r = 0; r < ROUNDS; r++) {
      oursRounds.push(yield* ours())
      baseRounds.push(yield* baseline())
    }
    const best = (xs: ReadonlyArray<number>) =>
      Math.max(...xs)

    // queue listing: the first page and a page deep in the queue
    const deepCursor = yield* Effect.gen(function*() {
      let page = yield* memory.conflicts(tenantId, reviewer, { limit: 500 })
      for (let i = 0; i < 2 && page.next_cursor !== null; i++) {
        page = yield* memory.conflicts(tenantId, reviewer, { limit: 500, cursor: page.next_cursor })
      }
      return page.next_cursor ?? undefined
    })
    const time = (cursor: string | undefined) =>
      Effect.gen(function*() {
        const xs: Array<number> = []
        for (let i = 0; i < LISTINGS; i++) {
          const t0 = performance.now()
          const page = yield* memory.conflicts(tenantId, reviewer, { limit: 50, cursor })
          xs.push(performance.now() - t0)
          if (page.items.length === 0)
            throw new Error("empty conflict page")
        }
        return xs.sort((a, b) =>
          a - b
        )
      })
    const first = yield* time(undefined)
    const deep = yield* time(deepCursor)

    // a busy thread: BUSY_THREAD_ITEMS keys in one thread, then timed writes into it
    const busy = "vendor:busy"
    for (let start = 0; start < BUSY_THREAD_ITEMS; start += 1_000) {
      yield* uow.transaction(
        Effect.forEach(
          Array.from({ length: Math.min(1_000, BUSY_THREAD_ITEMS - start) }, (_, i) => 1_000_000 + start + i),
          (k) => memory.write(tenantId, agent, fact(k, "6100", busy)),
          { discard: true }
        )
      )
    }
    let busyNext = 2_000_000
    const busyWrites = () =>
      Effect.gen(function*() {
        const t0 = performance.now()
        for (let i = 0; i < WRITES; i++) {
          const mode = i % 3
          const key = mode === 0 ? busyNext++ : 1_000_000 + ((i * 7919) % BUSY_THREAD_ITEMS)
          yield* memory.write(tenantId, agent, fact(key, mode === 2 ? `y${i}` : "6100", busy))
        }
        return WRITES / ((performance.now() - t0) / 1000)
      })
    const busyRounds: Array<number> = []
    const busyBase: Array<number> = []
    for (let r = 0; r < 2; r++) {
      busyRounds.push(yield* busyWrites())
      busyBase.push(yield* baseline())
    }
    const ms = (x: number) => `${x.toFixed(2)} ms`
    return [
      {
        name: `${label}: seeded ${seeded.toLocaleString("en")} items (${
          stats.queue_depth.toLocaleString("en")
        } open conflicts)`,
        value: `${(seeded / seedSeconds).toFixed(0)} writes/s in batches of 1,000`
      },
      {
        name: `${label}: write with conflict detection (1/3 new, 1/3 reinforce, 1/3 conflict), one transaction each`,
        value: `${best(oursRounds).toFixed(0)}/s`,
        baseline: `bare store insert ${best(baseRounds).toFixed(0)}/s`,
        ratio: (best(oursRounds) / best(baseRounds)).toFixed(2)
      },
      {
        name: `${label}: conflict queue, first page of 50`,
        value: `p50 ${ms(percentile(first, 0.5))}, p95 ${ms(percentile(first, 0.95))}`
      },
      {
        name: `${label}: conflict queue, page of 50 after 1,500 entries`,
        value: `p50 ${ms(percentile(deep, 0.5))}, p95 ${ms(percentile(deep, 0.95))}`
      },
      {
        name: `${label}: write with conflict detection into one thread of ${
          BUSY_THREAD_ITEMS.toLocaleString("en")
        } facts`,
        value: `${best(busyRounds).toFixed(0)}/s`,
        baseline: `bare store insert ${best(busyBase).toFixed(0)}/s`,
        ratio: (best(busyRounds) / best(busyBase)).toFixed(2)
      }
    ] satisfies ReadonlyArray<BenchRow>
  }).pipe(Effect.provide(environment(ports)))

/** Runs the memory benchmarks on both adapters. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const dir = mkdtempSync(join(tmpdir(), "airlock-memory-bench-"))
  const memoryRows = await Effect.runPromise(run1("memory", Memory.layer))
  const sqliteRows = await Effect.runPromise(run1("sqlite", Sqlite.layer({ filename: join(dir, "memory.db") })))
  return [...memoryRows, ...sqliteRows]
}

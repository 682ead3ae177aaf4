/**
 * Core pipeline throughput: propose + apply (gates, handler, state change, trace, audit) in
 * memory and on a SQLite file, against a baseline of the same number of bare `Effect.sync`
 * steps, so the figure says what the governance costs on this machine.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import {
  ActionRegistry,
  CoreConfig,
  GovernedActions,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  SystemState,
  Tenants
} from "@airlock/core"
import { Effect, Layer, Schema } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchRow } from "./main.js"

const N = 5_000

const Kind = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const state = yield* SystemState.SystemStateStore
    yield* registry.registerKind({
      name: "bench.note",
      payload: Schema.Struct({ n: Schema.Number }),
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `n:${p.n}`,
      apply: ({ action, payload }) =>
        state.put(
          new SystemState.SystemStateEntry({
            key: `bench:${action.id}`,
            value: payload.n,
            updated_at: 0,
            updated_by: "bench"
          })
        )
    })
  })
)

const measure = (ports: Layer.Layer<any, any>) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const pipeline = yield* GovernedActions.GovernedActions
    const tenant = Ids.TenantId.make("bench")
    yield* tenants.create({ id: tenant, name: "bench", settings: { ai_mode: "suggest_only" } })
    const human = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "h", role: "BOOKKEEPER" })
    const agent = yield* tenants.addActor({ tenant_id: tenant, kind: "agent", name: "a", role: "AGENT" })
    const start = performance.now()
    for (let i = 0; i < N; i++) {
      const { action } = yield* pipeline.propose({
        tenant_id: tenant,
        actor: agent,
        kind: "bench.note",
        payload: { n: i }
      })
      yield* pipeline.apply(tenant, action.id, human)
    }
    return (N / (performance.now() - start)) * 1000
  }).pipe(
    Effect.provide(
      Kind.pipe(
        Layer.provideMerge(Kernel.layerWithAmbient),
        Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
        Layer.provideMerge(ports)
      )
    )
  )

/** Runs the pipeline benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const baseline = await Effect.runPromise(Effect.gen(function*() {
    const start = performance.now()
    let x = 0
    for (let i = 0; i < N * 20; i++) x += yield* Effect.sync(() => i)
    void x
    return (N / (performance.now() - start)) * 1000
  }))
  const memory = await Effect.runPromise(measure(Memory.layer))
  const file = join(mkdtempSync(join(tmpdir(), "airlock-bench-")), "bench.db")
  const sqlite = await Effect.runPromise(measure(Sqlite.layer({ filename: file })))
  const fmt = (n: number) => `${Math.round(n).toLocaleString("en-US")} propose+apply/s`
  return [
    { name: "baseline: 20 bare Effect steps per unit", value: fmt(baseline) },
    { name: "memory", value: fmt(memory), baseline: fmt(baseline), ratio: (memory / baseline).toFixed(3) },
    {
      name: "sqlite file (WAL)",
      value: fmt(sqlite),
      baseline: fmt(memory),
      ratio: `${(sqlite / memory).toFixed(3)} of memory`
    }
  ]
}

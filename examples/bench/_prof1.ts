import { Memory } from "@airlock/adapters-storage"
import { CoreConfig, Governance, Ids, Kernel, Rbac, SecureRandom, SystemState, Tenants } from "@airlock/core"
import { Effect, Layer, Schema } from "effect"
const N = 5000
const Kind = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* Governance.ActionRegistry
    const state = yield* SystemState.SystemStateStore
    yield* registry.registerKind({
      name: "bench.note",
      payload: Schema.Struct({ n: Schema.Number }),
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `n:${p.n}`,
      apply: ({ action, payload }) =>
        state.put(new SystemState.SystemStateEntry({ key: `bench:${action.id}`, value: payload.n, updated_at: 0, updated_by: "bench" }))
    })
  })
)
const prog = Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const pipeline = yield* Governance.GovernedActions
    const tenant = Ids.TenantId.make("bench")
    yield* tenants.create({ id: tenant, name: "bench", settings: { ai_mode: "suggest_only" } })
    const human = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "h", role: "BOOKKEEPER" })
    const agent = yield* tenants.addActor({ tenant_id: tenant, kind: "agent", name: "a", role: "AGENT" })
    const ids = []
    let start = performance.now()
    for (let i = 0; i < N; i++) {
      const { action } = yield* pipeline.propose({ tenant_id: tenant, actor: agent, kind: "bench.note", payload: { n: i } })
      ids.push(action.id)
    }
    console.log("propose/s", N / (performance.now() - start) * 1000)
    start = performance.now()
    for (const id of ids) yield* pipeline.apply(tenant, id, human)
    console.log("apply/s", N / (performance.now() - start) * 1000)
  }).pipe(
    Effect.provide(
      Kind.pipe(
        Layer.provideMerge(Kernel.layerWithAmbient),
        Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
        Layer.provideMerge(Memory.layer)
      )
    )
  )
await Effect.runPromise(prog)
await Effect.runPromise(prog)

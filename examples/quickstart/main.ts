/**
 * Quickstart: opens the embedded SQLite store (`./airlock.db`, or `AIRLOCK_DB`), creates the
 * `default` tenant once, and walks one AI proposal through the governed pipeline — propose as
 * the agent, evaluate, apply as a human — then prints the decision trace and verifies the audit chain.
 */
import { Sqlite } from "@airlock/adapters-storage"
import { ActionRegistry, Audit, GovernedActions, Ids, Kernel, SystemState, Tenants } from "@airlock/core"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Option, Schema } from "effect"
import { join } from "node:path"

const tenantId = Ids.TenantId.make("default")

/** A demo kind: promoting a "note" stores it in system state (our stand-in for canonical data). */
const DemoKind = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const state = yield* SystemState.SystemStateStore
    yield* registry.registerKind({
      name: "demo.note",
      payload: Schema.Struct({ text: Schema.String.pipe(Schema.maxLength(200)) }),
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `note:${p.text.slice(0, 20)}`,
      apply: ({ action, actor, payload }) =>
        Effect.as(
          state.put(
            new SystemState.SystemStateEntry({
              key: `demo.note:${action.id}`,
              value: payload.text,
              updated_at: action.proposed_at,
              updated_by: actor.id
            })
          ),
          { stored: `demo.note:${action.id}` }
        )
    })
  })
)

const program = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const pipeline = yield* GovernedActions.GovernedActions
  const audit = yield* Audit.AuditLog
  const existing = yield* Effect.option(tenants.get(tenantId))
  if (Option.isNone(existing)) {
    yield* tenants.create({ id: tenantId, name: "Default workspace", settings: { ai_mode: "suggest_only" } })
    yield* tenants.addActor({
      tenant_id: tenantId,
      id: Ids.ActorId.make("bookkeeper"),
      kind: "user",
      name: "Bea Bookkeeper",
      role: "BOOKKEEPER"
    })
    yield* tenants.addActor({
      tenant_id: tenantId,
      id: Ids.ActorId.make("copilot"),
      kind: "agent",
      name: "Copilot",
      role: "AGENT"
    })
    yield* Console.log("created tenant 'default' (mode suggest_only) with a bookkeeper and an AI agent")
  }
  const human = yield* tenants.getActor(tenantId, Ids.ActorId.make("bookkeeper"))
  const agent = yield* tenants.getActor(tenantId, Ids.ActorId.make("copilot"))

  const { action } = yield* pipeline.propose({
    tenant_id: tenantId,
    actor: agent,
    kind: "demo.note",
    payload: { text: "Categorise ACME invoice as Software" }
  })
  yield* Console.log(`proposed ${action.id} (${action.status}) by the agent`)
  const selfApply = yield* Effect.either(pipeline.apply(tenantId, action.id, agent))
  if (selfApply._tag === "Left") yield* Console.log(`the agent may not promote it itself: ${selfApply.left.code}`)
  const applied = yield* pipeline.apply(tenantId, action.id, human)
  yield* Console.log(`applied by ${human.name}: ${JSON.stringify(applied.result)}`)
  for (const trace of yield* pipeline.traces(tenantId, action.id)) {
    yield* Console.log(
      `  trace ${trace.phase} by ${trace.actor_id}: ${trace.outcome} — ${
        trace.gates.map((g) => `${g.gate}=${g.verdict}${g.code ? `(${g.code})` : ""}`).join(", ")
      }`
    )
  }
  const again = yield* pipeline.apply(tenantId, action.id, human)
  yield* Console.log(`applying again changes nothing: already_applied=${again.already_applied}`)
  const verified = yield* audit.verify(tenantId)
  yield* Console.log(`audit chain of 'default': ${verified.ok ? "intact" : "BROKEN"} (${verified.checked} records)`)
})

const main = Effect.gen(function*() {
  // pnpm runs scripts inside examples/; INIT_CWD is where the user typed the command.
  const filename = yield* Config.string("AIRLOCK_DB").pipe(
    Config.withDefault(join(process.env.INIT_CWD ?? process.cwd(), "airlock.db"))
  )
  yield* Console.log(`Airlock quickstart on SQLite ${filename}`)
  yield* program.pipe(
    Effect.provide(DemoKind.pipe(Layer.provideMerge(Kernel.layer), Layer.provideMerge(Sqlite.layer({ filename }))))
  )
})

NodeRuntime.runMain(main)

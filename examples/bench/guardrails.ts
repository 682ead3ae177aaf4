/**
 * Guardrails gate stack against `@microsoft/agent-governance-sdk`, in one run.
 *
 * Ours: the governed-action gate stack kill switch + RBAC + velocity + value breaker + budget +
 * approval, evaluated by core's `runGates` on a propose-phase context, plus one audit append —
 * on the memory adapter, the velocity counter incremented, the approval and the budget read from
 * storage, the audit record hash-chained.
 *
 * Theirs: the SDK's `PolicyEngine.evaluatePolicy` with one policy document of equivalent rules
 * (kill switch deny, role deny, value → require_approval, budget deny, unapproved high risk deny,
 * default allow with a per-minute rate limit — the SDK's velocity), fed by the same facts read
 * from in-process maps, plus one `AuditLogger.log` (its hash-chained log).
 *
 * The facts each side reads are the same: the global AI switch (ours from the system-state store,
 * theirs from a map), the tenant's switches, the actor's role, the amount, the month's spend
 * against the limit, and the approval of (subject, plan hash) — valid only unexpired, unrevoked
 * and not granted by the requester (both check the clock and the approver on every evaluation).
 *
 * Both take the allow path (nothing trips), so every rule/gate is evaluated; both check after each
 * round that every audit entry landed. Rounds alternate between the two in one process after a
 * warm-up of each (so machine load and GC hit both alike). Figures are microseconds per
 * evaluation+append, the best round of 10,000 (the median round beside it); the ratio is
 * ours / theirs on the best rounds (target ≤ 1.0).
 */
import { Memory } from "@airlock/adapters-storage"
import {
  Action,
  ActionRegistry,
  Audit,
  Canonical,
  CoreConfig,
  type Errors,
  Gate,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { Approvals, Budgets, Guardrails, GuardrailsConfig, KindPolicy, Usd } from "@airlock/guardrails"
import { AuditLogger, ConflictResolutionStrategy, PolicyEngine } from "@microsoft/agent-governance-sdk"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import type { BenchRow } from "./main.js"

const N = 10_000
const WARMUP = 3_000
const ROUNDS = 9

const Build = Schema.Struct({
  job_name: Schema.String,
  plan: Schema.String,
  risk_score: Schema.Number,
  estimated_cost_usd: Schema.String,
  amount_cents: Schema.Number
})

const Kind = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const policies = yield* KindPolicy.KindPolicies
    yield* registry.registerKind({
      name: "bench.build",
      payload: Build,
      permissions: { propose: "executions.run", apply: "executions.run" },
      aiGoverned: true,
      subject: (p) => `job:${p.job_name}`,
      apply: () => Effect.succeed(null)
    })
    yield* policies.register<typeof Build.Type>(
      "bench.build",
      KindPolicy.buildRequest({ amount: (p) => ({ minor: BigInt(p.amount_cents), scale: 2 }) })
    )
  })
)

const STACK = ["kill_switch", "rbac", "velocity", "value_breaker", "budget", "approval"]

/** Core, guardrails and the bench kind over the memory adapter. */
export const environment: Layer.Layer<Kernel.CoreServices | Guardrails.GuardrailsServices | Audit.AuditStore, unknown> =
  Kind.pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerWebCrypto,
        GuardrailsConfig.layer({ velocityMaxPerMinute: 1_000_000_000, valueBreakerThreshold: "10000.00" })
      )
    ),
    Layer.provideMerge(Memory.layer)
  )

const payload = { job_name: "nightly", plan: "v1", risk_score: 0.8, estimated_cost_usd: "1.50", amount_cents: 12_345 }

/** What the timed loop of ours needs: the stack, the propose-time context and the audit log. */
export interface Prepared {
  readonly gates: ReadonlyArray<Gate.Gate>
  readonly ctx: Gate.GateContext
  readonly audit: Audit.AuditLog
  /** One evaluation of the stack plus one audit append (fails loudly unless the stack allows). */
  readonly once: Effect.Effect<void, Errors.StorageError>
}

/** Sets up the tenant, its budget and the approval; returns the propose-time gate context. */
export const prepare: Effect.Effect<
  Prepared,
  Errors.AirlockError,
  Tenants.Tenants | ActionRegistry.ActionRegistry | Audit.AuditLog | Budgets.ExecutionBudgets | Approvals.Approvals
> = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const registry = yield* ActionRegistry.ActionRegistry
  const audit = yield* Audit.AuditLog
  const tenant = yield* tenants.create({
    id: Ids.TenantId.make("bench"),
    name: "bench",
    settings: { ai_mode: "suggest_only" }
  })
  const agent = yield* tenants.addActor({ tenant_id: tenant.id, kind: "agent", name: "copilot", role: "AGENT" })
  const controller = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Cleo", role: "CONTROLLER" })
  const settings = yield* tenants.settings(tenant.id)
  yield* (yield* Budgets.ExecutionBudgets).setBudget(controller, { limit_usd: Usd.usd("1000000") })
  const kind = registry.kind("bench.build").pipe((o) => (o._tag === "Some" ? o.value : undefined))!
  const gates = registry.gatesFor(kind, "propose").filter((g) => STACK.includes(g.name))
  if (gates.map((g) => g.name).join() !== STACK.join()) throw new Error(`unexpected stack ${gates.map((g) => g.name)}`)
  const decoded = Schema.decodeUnknownSync(Build)(payload)
  // the record the gates see at propose time (as the pipeline builds it)
  const encoded = Schema.encodeSync(Build)(decoded)
  const pipelineDraft = new Action.ActionRecord({
    id: Ids.ActionId.make("act_bench"),
    tenant_id: tenant.id,
    kind: kind.name,
    subject: kind.subject(decoded),
    payload: encoded,
    payload_hash: Canonical.hashOf({ kind: kind.name, payload: encoded }),
    status: "proposed",
    review_reasons: [],
    idempotency_key: null,
    proposed_by: agent.id,
    proposed_at: 0,
    closed_by: null,
    closed_at: null,
    close_reason: null,
    result: null,
    version: 1
  })
  yield* (yield* Approvals.Approvals).grant(controller, {
    subject: pipelineDraft.subject,
    plan_hash: pipelineDraft.payload_hash
  })
  const ctx: Gate.GateContext = {
    tenant,
    settings,
    actor: agent,
    kind,
    action: pipelineDraft,
    payload: decoded,
    phase: "propose",
    trigger: "auto"
  }
  const once = Effect.gen(function*() {
    const evaluation = yield* Gate.runGates(gates, ctx)
    if (evaluation.outcome !== "allow") throw new Error(`stack did not allow: ${JSON.stringify(evaluation.gates)}`)
    yield* audit.append({
      tenant_id: tenant.id,
      actor_id: agent.id,
      action: "action.evaluated",
      subject: pipelineDraft.subject,
      data: { outcome: evaluation.outcome }
    })
  })
  return { gates, ctx, audit, once }
})

/** Ours: sets up a tenant, warms up and returns one timed batch (µs per gate stack + audit append). */
export const ours: Effect.Effect<
  Effect.Effect<number, Errors.StorageError>,
  Errors.AirlockError,
  | Tenants.Tenants
  | ActionRegistry.ActionRegistry
  | Audit.AuditLog
  | Audit.AuditStore
  | Budgets.ExecutionBudgets
  | Approvals.Approvals
> = Effect.gen(function*() {
  const { ctx, once } = yield* prepare
  const store = yield* Audit.AuditStore
  const seq = Effect.map(store.head(ctx.tenant.id), (h) => h?.seq ?? 0)
  for (let i = 0; i < WARMUP; i++) yield* once
  return Effect.gen(function*() {
    const before = yield* seq
    const start = performance.now()
    for (let i = 0; i < N; i++) yield* once
    const us = ((performance.now() - start) * 1000) / N
    if ((yield* seq) !== before + N) throw new Error("airlock audit log lost entries")
    return us
  })
})

/** Theirs: sets up the engine and returns one timed batch (µs per policy evaluation + audit log). */
const theirs = () => {
  const engine = new PolicyEngine(undefined, ConflictResolutionStrategy.DenyOverrides)
  engine.loadPolicy({
    name: "governed-build",
    scope: "tenant",
    default_action: "deny",
    rules: [
      {
        name: "kill_switch",
        condition: "global_enabled == false or tenant_enabled == false or kill_switch == true or ai_enabled == false",
        ruleAction: "deny",
        priority: 100
      },
      {
        name: "rbac",
        condition: "role not in ['OWNER', 'CONTROLLER', 'BOOKKEEPER', 'ADMIN', 'AGENT']",
        ruleAction: "deny",
        priority: 90
      },
      { name: "value_breaker", condition: "amount_cents >= 1000000", ruleAction: "require_approval", priority: 70 },
      { name: "budget", condition: "projected_spend_micros >= 1000000000000", ruleAction: "deny", priority: 80 },
      { name: "approval", condition: "risk_score >= 0.7 and approved == false", ruleAction: "deny", priority: 60 },
      {
        name: "allow",
        condition: "role in ['OWNER', 'CONTROLLER', 'BOOKKEEPER', 'ADMIN', 'AGENT']",
        ruleAction: "allow",
        priority: 1,
        limit: "1000000000/minute"
      }
    ]
  })
  const logger = new AuditLogger({ maxEntries: WARMUP + N * ROUNDS + 10 })
  // the facts the SDK leaves to the caller, kept in process like the memory adapter keeps ours:
  // the global switch, the tenant's switches, the month's spend and the approvals by
  // (subject, plan hash), with their approver and expiry
  const agent = "did:agent:copilot"
  const system = new Map([["ai.global_enabled", true]])
  const approvals = new Map([
    [`job:nightly\u0000${"ab".repeat(32)}`, {
      approver: "did:user:cleo",
      expires_at: Date.now() + 3_600_000,
      revoked: false
    }]
  ])
  const spend = new Map([["bench", 0]])
  const tenant = { enabled: true, kill_switch: false, ai_enabled: true }
  const once = () => {
    const approval = approvals.get(`job:nightly\u0000${"ab".repeat(32)}`)
    const now = Date.now()
    const decision = engine.evaluatePolicy(agent, {
      global_enabled: system.get("ai.global_enabled") ?? true,
      tenant_enabled: tenant.enabled,
      kill_switch: tenant.kill_switch,
      ai_enabled: tenant.ai_enabled,
      role: "AGENT",
      amount_cents: payload.amount_cents,
      projected_spend_micros: spend.get("bench")! + 1_500_000,
      risk_score: payload.risk_score,
      approved: approval !== undefined && !approval.revoked && approval.expires_at > now && approval.approver !== agent
    })
    if (!decision.allowed) throw new Error(`policy did not allow: ${decision.matchedRule}`)
    logger.log({ agentId: agent, action: "bench.build", decision: "allow" })
  }
  for (let i = 0; i < WARMUP; i++) once()
  return () => {
    const start = performance.now()
    for (let i = 0; i < N; i++) once()
    const us = ((performance.now() - start) * 1000) / N
    if (logger.length !== WARMUP + N * (++batches)) throw new Error("SDK audit log lost entries")
    return us
  }
}
let batches = 0

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/**
 * Runs the guardrails benchmark: rounds alternate between the two, each going first every other
 * round (so machine load and GC hit both alike), and each side's best round is reported.
 */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const runtime = ManagedRuntime.make(environment)
  const batchOurs = await runtime.runPromise(ours)
  const batchTheirs = theirs()
  const mine: Array<number> = []
  const sdk: Array<number> = []
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      mine.push(await runtime.runPromise(batchOurs))
      sdk.push(batchTheirs())
    } else {
      sdk.push(batchTheirs())
      mine.push(await runtime.runPromise(batchOurs))
    }
  }
  await runtime.dispose()
  const fmt = (xs: ReadonlyArray<number>) => `${Math.min(...xs).toFixed(2)} µs/op (median ${median(xs).toFixed(2)})`
  return [
    { name: "@microsoft/agent-governance-sdk 4.0.0: equivalent policy + audit log", value: fmt(sdk) },
    {
      name: "airlock: gate stack (kill switch, RBAC, velocity, value, budget, approval) + audit append, memory",
      value: fmt(mine),
      baseline: fmt(sdk),
      ratio: (Math.min(...mine) / Math.min(...sdk)).toFixed(3),
      target: "≤ 1.000"
    }
  ]
}

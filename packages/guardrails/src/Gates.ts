/**
 * Every guard as a gate of core's governed-action pipeline, registered from {@link layer}:
 *
 * | gate | order (core's `GateOrder`) | phases | applies to |
 * |---|---|---|---|
 * | `lockdown` | `GateOrder.lockdown` (15) | propose, apply | kinds marked `protected` |
 * | `trust` | `GateOrder.trust` (35) | propose | AI-governed kinds (re-evaluated at most once a minute per tenant) |
 * | `velocity` | `GateOrder.velocity` (40) | propose (counts, see `CommandCounted`), apply (checks) | AI-governed kinds |
 * | `value_breaker` | `GateOrder.value` (70) | propose, apply | kinds whose policy gives an amount |
 * | `budget` | `GateOrder.budget` (80) | propose (checks), apply (charges, in the apply transaction) | kinds with a cost estimate |
 * | `approval` | `GateOrder.approval` (90) | propose and apply (or apply only) | kinds with a risk score |
 *
 * Each gate puts what it read into the decision trace. The same guards are services of their own
 * for callers outside the pipeline.
 */
import { ActionRegistry, Errors, Gate, GateOrder } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { Approvals } from "./Approvals.js"
import type * as Budgets from "./Budgets.js"
import { ExecutionBudgets } from "./Budgets.js"
import { KindPolicies } from "./KindPolicy.js"
import { Lockdown } from "./Lockdown.js"
import { TrustBreaker } from "./TrustBreaker.js"
import { formatUsd } from "./Usd.js"
import { ValueBreaker } from "./ValueBreaker.js"
import { CommandCounted, VelocityBreaker, type VelocityReading } from "./VelocityBreaker.js"

const { Decision } = Gate

/** Names of the guardrails gates. */
export const GateNames = {
  lockdown: "lockdown",
  trust: "trust",
  velocity: "velocity",
  value: "value_breaker",
  budget: "budget",
  approval: "approval"
} as const

/** The guardrails gates, by role. */
export interface GuardrailsGates {
  readonly lockdownGate: Gate.Gate
  readonly trustGate: Gate.Gate
  readonly velocityGate: Gate.Gate
  readonly valueGate: Gate.Gate
  readonly budgetGate: Gate.Gate
  readonly approvalGate: Gate.Gate
}

/** Builds the guardrails gates from the services (for hosts that register a subset). */
export const make: Effect.Effect<
  GuardrailsGates,
  never,
  Lockdown | VelocityBreaker | ValueBreaker | TrustBreaker | ExecutionBudgets | Approvals | KindPolicies
> = Effect.gen(function*() {
  const lockdown = yield* Lockdown
  const velocity = yield* VelocityBreaker
  const value = yield* ValueBreaker
  const trust = yield* TrustBreaker
  const budgets = yield* ExecutionBudgets
  const approvals = yield* Approvals
  const policies = yield* KindPolicies

  const lockdownGate: Gate.Gate = {
    name: GateNames.lockdown,
    order: GateOrder.lockdown,
    phases: ["propose", "apply"],
    appliesTo: (kind) => kind.protected === true,
    evaluate: ({ kind }) =>
      Effect.map(lockdown.isActive, (active) =>
        active
          ? Decision.deny(
            new Errors.LockdownActive({
              message: "System is locked down; protected actions are refused",
              details: { operation: kind.name }
            }),
            { lockdown_active: true }
          )
          : Decision.allow({ lockdown_active: false }))
  }

  const trustGate: Gate.Gate = {
    name: GateNames.trust,
    order: GateOrder.trust,
    phases: ["propose"],
    appliesTo: (kind) => kind.aiGoverned,
    evaluate: ({ tenant }) =>
      trust.evaluateThrottled(tenant.id).pipe(
        Effect.map(Option.match({
          onNone: () => Decision.allow({ evaluated: false }),
          onSome: (r) =>
            Decision.allow({
              evaluated: true,
              rejection_rate: r.rejection_rate,
              sample: r.sample,
              tripped: r.tripped,
              downgraded: r.downgraded
            })
        })),
        Effect.catchIf(
          (e): e is Errors.NotFound | Errors.Forbidden => e._tag !== "StorageError",
          (e) => Effect.succeed(Decision.allow({ evaluated: false, error: e.code }))
        )
      )
  }

  const velocityDecision = (tenant: string, r: VelocityReading, counted: boolean): Gate.GateDecision => {
    if (!r.tripped) return Decision.allow({ count: r.count, limit: r.limit, counted })
    const e = velocity.tripped(tenant, r)
    return Decision.deny(e, { ...e.details, counted })
  }

  const velocityGate: Gate.Gate = {
    name: GateNames.velocity,
    order: GateOrder.velocity,
    phases: ["propose", "apply"],
    appliesTo: (kind) => policies.resolve(kind).velocity,
    // the tenant's own limit when it sets one (`VelocityBreaker.limitsFor`)
    evaluate: ({ phase, settings, tenant }) =>
      Effect.flatMap(CommandCounted, (counted) =>
        phase === "propose" && !counted
          ? Effect.map(velocity.recordReading(tenant.id, settings), (r) => velocityDecision(tenant.id, r, true))
          : Effect.map(velocity.checkReading(tenant.id, settings), (r) => velocityDecision(tenant.id, r, false)))
  }

  const valueGate: Gate.Gate = {
    name: GateNames.value,
    order: GateOrder.value,
    phases: ["propose", "apply"],
    appliesTo: (kind) => policies.get(kind.name).pipe(Option.exists((p) => p.amount !== undefined)),
    evaluate: ({ kind, payload, settings, tenant, action, actor, phase }) => {
      const amount = policies.resolve(kind).amount(payload)
      if (amount === undefined) return Effect.succeed(Decision.allow({ amount: null }))
      const a = value.assess(settings, amount)
      const inputs = { amount: a.amount, threshold: a.threshold, min_tier: a.min_tier }
      if (!a.tripped) return Effect.succeed(Decision.allow(inputs))
      const review = Decision.review(a.risk_reasons, inputs)
      return phase === "propose"
        ? Effect.as(value.recordTrip(tenant.id, a, action.subject, actor.id), review)
        : Effect.succeed(review)
    }
  }

  const budgetAllow = (r: Budgets.ChargeReading, charged: boolean, task: string): Gate.GateDecision =>
    Decision.allow({
      period: r.period,
      limit_usd: r.limit_usd === null ? null : formatUsd(r.limit_usd),
      spent_usd: formatUsd(r.spent_usd),
      estimate_usd: formatUsd(r.estimate_usd),
      charged,
      task
    })

  const budgetGate: Gate.Gate = {
    name: GateNames.budget,
    order: GateOrder.budget,
    phases: ["propose", "apply"],
    evaluate: ({ kind, payload, tenant, phase }) => {
      const policy = policies.resolve(kind)
      const estimate = policy.estimatedCost(payload)
      if (estimate === undefined) return Effect.succeed(Decision.allow({ estimate_usd: null }))
      const task = policy.task(payload)
      if (phase === "propose") {
        return Effect.map(budgets.checkReading(tenant.id, estimate), ({ exceeded, reading }) => {
          if (!exceeded) return budgetAllow(reading, false, task)
          const e = budgets.exceeded(reading)
          return Decision.deny(e, { ...e.details, task })
        })
      }
      return budgets.charge(tenant.id, task, estimate).pipe(
        Effect.map((r) => budgetAllow(r, true, task)),
        Effect.catchTag("BudgetExceeded", (e) => Effect.succeed(Decision.deny(e, { ...(e.details ?? {}), task })))
      )
    }
  }

  const approvalGate: Gate.Gate = {
    name: GateNames.approval,
    order: GateOrder.approval,
    phases: ["propose", "apply"],
    evaluate: ({ kind, payload, tenant, settings, action, actor, phase }) => {
      const policy = policies.resolve(kind)
      const risk = policy.riskScore(payload)
      if (risk === undefined) return Effect.succeed(Decision.allow({ risk_score: null }))
      if (phase === "propose" && policy.approvalAt === "apply")
        return Effect.succeed(Decision.allow({ risk_score: risk, checked_at: "apply" }))
      const requested_by = phase === "propose" ? actor.id : action.proposed_by
      const planHash = policy.planHash(payload) ?? action.payload_hash
      const input = {
        tenant_id: tenant.id,
        subject: action.subject,
        plan_hash: planHash,
        risk_score: risk,
        requested_by,
        settings
      }
      return Effect.flatMap(approvals.check(input), (c) => {
        if (!c.required)
          return Effect.succeed(Decision.allow({ risk_score: risk, threshold: c.threshold, required: false }))
        if (c.approved) {
          return Effect.succeed(
            Decision.allow({
              risk_score: risk,
              threshold: c.threshold,
              approver: c.record.approver,
              granted_at: c.record.granted_at,
              expires_at: c.record.expires_at
            })
          )
        }
        const e = approvals.required(action.subject, planHash, {
          risk_score: c.risk_score,
          threshold: c.threshold,
          status: c.status
        })
        const denial = Decision.deny(e, { risk_score: risk, subject: e.subject, plan_hash: e.plan_hash, ...e.details })
        // at apply the gate runs inside the apply transaction: a denial rolls back; the request
        // was recorded when the action was proposed
        return phase === "propose" ? Effect.as(approvals.recordRequest(input), denial) : Effect.succeed(denial)
      })
    }
  }

  return { lockdownGate, trustGate, velocityGate, valueGate, budgetGate, approvalGate } as const
})

/** Registers every guardrails gate in the action registry. */
export const layer: Layer.Layer<
  never,
  never,
  | ActionRegistry.ActionRegistry
  | Lockdown
  | VelocityBreaker
  | ValueBreaker
  | TrustBreaker
  | ExecutionBudgets
  | Approvals
  | KindPolicies
> = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const gates = yield* make
    for (const gate of Object.values(gates)) yield* registry.registerGate(gate)
  })
)

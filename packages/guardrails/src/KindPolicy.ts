/**
 * What guardrails need to know about a kind of governed action beyond core's `ActionKind`: its
 * risk score (approvals), the amount the value breaker compares, the cost estimate charged to the
 * execution budget and the task it is booked under. A kind opts into each policy by declaring
 * it (kinds register a policy from a layer); a kind without a declaration is not subject to
 * approvals, budgets or the value breaker, whatever its payload holds. {@link buildRequest}
 * declares the runbooks' build-request shape (`risk_score`, `estimated_cost_usd`,
 * `job_name`/`task`) for kinds whose payload has it.
 */
import type { ActionKind } from "@airlock/core"
import { Effect, Option } from "effect"
import { microsOf, type UsdMicros } from "./Usd.js"

/** An amount in minor units with its scale (cents: scale 2). */
export interface ScaledAmount {
  readonly minor: bigint
  readonly scale: number
}

/** A kind's guardrails policy. Every extractor is optional; absent means "does not apply". */
export interface KindPolicy<P = any> {
  /** Risk score in 0..1; at or above the approval threshold the action needs an approval. */
  readonly riskScore?: (payload: P) => number | undefined
  /** Where approvals are checked: at propose and apply (default), or only at apply. */
  readonly approvalAt?: "propose" | "apply"
  /** The amount the value breaker compares with the tenant's threshold. */
  readonly amount?: (payload: P) => ScaledAmount | undefined
  /** The execution's cost estimate, charged to the tenant's monthly budget when applied. */
  readonly estimatedCost?: (payload: P) => UsdMicros | undefined
  /** The task the cost is booked under in the billing summary. */
  readonly task?: (payload: P) => string | undefined
  /** Counted by the velocity breaker; defaults to the kind's `aiGoverned`. */
  readonly velocity?: boolean
  /**
   * The plan hash approvals are keyed by; defaults to the action's `payload_hash`. A kind whose
   * payload carries more than the plan (a risk score, a cost estimate) declares the hash of the
   * plan alone, so an approval follows the plan (e.g. ops builds: the canonical plan's hash).
   */
  readonly planHash?: (payload: P) => string | undefined
}

/** The policy as the gates read it: what the kind did not declare does not apply. */
export interface ResolvedPolicy {
  readonly riskScore: (payload: unknown) => number | undefined
  readonly approvalAt: "propose" | "apply"
  readonly amount: (payload: unknown) => ScaledAmount | undefined
  readonly estimatedCost: (payload: unknown) => UsdMicros | undefined
  readonly task: (payload: unknown) => string
  readonly velocity: boolean
  readonly planHash: (payload: unknown) => string | undefined
}

const field = (payload: unknown, name: string): unknown =>
  typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>)[name] : undefined

/** `risk_score` of a payload when it is a number in 0..1 (read by {@link buildRequest}). */
export const conventionalRisk = (payload: unknown): number | undefined => {
  const v = field(payload, "risk_score")
  return typeof v === "number" && Number.isFinite(v) ? v : undefined
}

/**
 * `estimated_cost_usd` of a payload: bigint micro-dollars, or a decimal string / number in
 * dollars (read by {@link buildRequest}).
 */
export const conventionalCost = (payload: unknown): UsdMicros | undefined => {
  const v = field(payload, "estimated_cost_usd")
  if (typeof v === "bigint") return v
  if (typeof v === "string" || typeof v === "number") {
    const micros = microsOf(v)
    return typeof micros === "bigint" && micros >= 0n ? micros : undefined
  }
  return undefined
}

/** `job_name` or `task` of a payload (read by {@link buildRequest}). */
export const conventionalTask = (payload: unknown): string | undefined => {
  const v = field(payload, "job_name") ?? field(payload, "task")
  return typeof v === "string" && v.length > 0 ? v : undefined
}

/**
 * The policy of a build-request kind, declared: risk from `risk_score` (approvals), cost from
 * `estimated_cost_usd` (execution budget), booked under `job_name` or `task`. `overrides` adds
 * or replaces parts (e.g. `{ approvalAt: "apply" }` or an `amount`).
 */
export const buildRequest = <P = unknown>(overrides: KindPolicy<P> = {}): KindPolicy<P> => ({
  riskScore: conventionalRisk,
  estimatedCost: conventionalCost,
  task: conventionalTask,
  ...overrides
})

const none = (): undefined => undefined

/** Kind policies known to this process; kinds register theirs from layers. */
export class KindPolicies extends Effect.Service<KindPolicies>()("@airlock/guardrails/KindPolicies", {
  sync: () => {
    const policies = new Map<string, KindPolicy>()
    const resolved = new Map<string, ResolvedPolicy>()
    const resolve = (kind: ActionKind.ActionKind): ResolvedPolicy => {
      let r = resolved.get(kind.name)
      if (!r) {
        const p = policies.get(kind.name) ?? {}
        r = {
          riskScore: p.riskScore ?? none,
          approvalAt: p.approvalAt ?? "propose",
          amount: p.amount ?? none,
          estimatedCost: p.estimatedCost ?? none,
          task: (payload) => p.task?.(payload) ?? kind.name,
          velocity: p.velocity ?? kind.aiGoverned,
          planHash: p.planHash ?? none
        }
        resolved.set(kind.name, r)
      }
      return r
    }
    return {
      /** Registers the policy of a kind (by name); a second registration replaces the first. */
      register: <P>(kindName: string, policy: KindPolicy<P>) =>
        Effect.sync(() => {
          policies.set(kindName, policy as KindPolicy)
          resolved.delete(kindName)
        }),
      /** The registered policy of a kind, if any. */
      get: (kindName: string): Option.Option<KindPolicy> => Option.fromNullable(policies.get(kindName)),
      /** The policy the gates apply to `kind`: its declared parts; nothing else applies. */
      resolve
    }
  }
}) {}

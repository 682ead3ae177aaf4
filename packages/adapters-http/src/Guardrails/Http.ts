/** Handlers of the guardrails group: translate between JSON and the guardrails services. */
import { Errors, Tenants } from "@airlock/core"
import { Approvals, BreakerEvents, Budgets, Lockdown } from "@airlock/guardrails"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Effect, type Layer, Schema } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin, AdminBreakGlass, TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

const approvalJson = (v: Approvals.ApprovalView) => ({
  subject: v.subject,
  plan_hash: v.plan_hash,
  status: v.status,
  approved: v.approved,
  requested_by: v.requested_by,
  requested_at: v.requested_at,
  risk_score: v.risk_score,
  approver: v.approver,
  approver_name: v.approver_name,
  notes: v.notes,
  granted_at: v.granted_at,
  expires_at: v.expires_at,
  revoked_at: v.revoked_at,
  revoked_by: v.revoked_by
})

/** The JSON form of the lockdown state. */
export const lockdownJson = (s: Lockdown.LockdownState) => ({
  active: s.active,
  source: s.source,
  reason: s.reason,
  since: s.since,
  set_by: s.set_by,
  code_expires_at: s.code_expires_at
})

/** The JSON form of a billing summary (USD as decimal strings). */
export const encodeSummary = (s: Budgets.BillingSummary) =>
  Effect.map(Schema.encode(Budgets.BillingSummary)(s).pipe(Effect.orDie), (e) => ({
    ...e,
    resets_at: s.resets_at,
    limit_usd: e.limit_usd === null ? null : String(e.limit_usd),
    spent_usd: String(e.spent_usd),
    exec_spent_estimated_usd: String(e.exec_spent_estimated_usd),
    ai_spent_actual_usd: String(e.ai_spent_actual_usd),
    ai_by_task: Object.fromEntries(Object.entries(e.ai_by_task).map(([k, v]) => [k, String(v)])),
    exec_by_task: Object.fromEntries(Object.entries(e.exec_by_task).map(([k, v]) => [k, String(v)])),
    remaining_estimated_usd: e.remaining_estimated_usd === null ? null : String(e.remaining_estimated_usd),
    llm_budget: e.llm_budget as unknown as Record<string, unknown>
  }))

const decodeBudget = (input: unknown) =>
  Schema.decodeUnknown(Budgets.BudgetInput)(input).pipe(
    Effect.mapError((e) => new Errors.ValidationError({ code: "validation.amount_format", message: e.message }))
  )

/** The guardrails group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "guardrails">,
  never,
  Approvals.Approvals | Budgets.ExecutionBudgets | BreakerEvents.BreakerEvents | Tenants.Tenants | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "guardrails", (handlers) =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    const budgets = yield* Budgets.ExecutionBudgets
    const events = yield* BreakerEvents.BreakerEvents
    const tenants = yield* Tenants.Tenants
    return handlers
      .handle("grantApproval", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const { job_name, subject, ...rest } = payload
            const named = subject ?? job_name
            if (named === undefined || (subject !== undefined && job_name !== undefined && subject !== job_name)) {
              return yield* new Errors.ValidationError({
                code: "validation.approval_subject",
                message: "Give the plan's subject or its job_name (exactly one)"
              })
            }
            const input = { ...rest, subject: named }
            return approvalJson(yield* approvals.grant(actor, input, tenant))
          })
        ))
      .handle("approvalStatus", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return approvalJson(yield* approvals.status(actor, path.subject, path.plan_hash, tenant))
          })
        ))
      .handle("revokeApproval", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return approvalJson(yield* approvals.revoke(actor, path.subject, path.plan_hash, tenant))
          })
        ))
      .handle("billingSummary", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* encodeSummary(yield* budgets.summary(actor, yield* tenants.settings(tenant), tenant))
          })
        ))
      .handle("setBudget", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* encodeSummary(yield* budgets.setBudget(actor, yield* decodeBudget(payload), tenant))
          })
        ))
      .handle("breakerEvents", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const list = yield* events.listForTenant(actor, {
              tenant,
              ...(urlParams.limit !== undefined ? { limit: urlParams.limit } : {}),
              ...(urlParams.before !== undefined ? { before: urlParams.before } : {})
            })
            return list.map((e) => ({
              id: e.id,
              kind: e.kind,
              type: e.type,
              reason: e.reason,
              data: e.data,
              actor_id: e.actor_id,
              at: e.at
            }))
          })
        ))
  }))

/** The lockdown group's handlers (admin routes; audited in the tenant the request acts on). */
export const layerLockdown: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "lockdown">,
  never,
  Lockdown.Lockdown | Admin | AdminBreakGlass
> = HttpApiBuilder.group(AirlockApi, "lockdown", (handlers) =>
  Effect.gen(function*() {
    const lockdown = yield* Lockdown.Lockdown
    return handlers
      .handle("lockdown", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return lockdownJson(yield* lockdown.lock(actor, payload.reason, tenant))
          })
        ))
      .handle("unlock", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return lockdownJson(yield* lockdown.unlock(actor, payload.code, tenant))
          })
        ))
      .handle("rotateUnlockCode", () =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            return yield* lockdown.rotateCode(actor, tenant)
          })
        ))
  }))

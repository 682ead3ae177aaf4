/**
 * Approvals (data-platform runbook): an action whose risk score is at or above the threshold
 * (default 0.70) fails with `approval_required` (409, carrying its subject and plan hash) until a
 * human approves exactly that plan. An approval is keyed by (tenant, subject, plan hash): a changed
 * plan has another hash and needs a new approval. It expires after the TTL (default 3600 s), can
 * be revoked, and is never valid when granted by the actor who requested the action. The gate
 * re-checks it at apply time, not only when the action was requested.
 */
import { type Actor, type AiSettings, Audit, Errors, type Ids, Rbac, TenantScope } from "@airlock/core"
import { Clock, Context, Effect, Option, Schema, Struct } from "effect"
import { GuardrailsConfig, TenantKeys } from "./GuardrailsConfig.js"

/** A stored approval: the request (who needs it) and the grant (who gave it), if any. */
export class ApprovalRecord extends Schema.Class<ApprovalRecord>("ApprovalRecord")({
  tenant_id: Schema.String,
  subject: Schema.String,
  plan_hash: Schema.String,
  requested_by: Schema.NullOr(Schema.String),
  requested_at: Schema.NullOr(Schema.Number),
  risk_score: Schema.NullOr(Schema.Number),
  approver: Schema.NullOr(Schema.String),
  approver_name: Schema.NullOr(Schema.String),
  notes: Schema.NullOr(Schema.String),
  granted_at: Schema.NullOr(Schema.Number),
  expires_at: Schema.NullOr(Schema.Number),
  revoked_at: Schema.NullOr(Schema.Number),
  revoked_by: Schema.NullOr(Schema.String),
  /** Starts at 1; every write increments it. */
  version: Schema.Number
}) {}

/** Storage port for approvals. */
export class ApprovalStore extends Context.Tag("@airlock/guardrails/ApprovalStore")<
  ApprovalStore,
  {
    readonly get: (
      tenant: string,
      subject: string,
      planHash: string
    ) => Effect.Effect<Option.Option<ApprovalRecord>, Errors.StorageError>
    /** Writes if the stored version is `expectedVersion` (0 = must not exist); returns whether it did. */
    readonly put: (record: ApprovalRecord, expectedVersion: number) => Effect.Effect<boolean, Errors.StorageError>
    /** A tenant's approvals of one subject (all subjects when omitted), newest grant first. */
    readonly list: (
      tenant: string,
      subject?: string
    ) => Effect.Effect<ReadonlyArray<ApprovalRecord>, Errors.StorageError>
  }
>() {}

/** Where an approval stands. */
export const ApprovalStatus = Schema.Literal("none", "pending", "approved", "expired", "revoked")
/** Type of {@link ApprovalStatus}. */
export type ApprovalStatus = typeof ApprovalStatus.Type

/** An approval as served (`GET /api/v1/approvals/{subject}/{plan_hash}`). */
export class ApprovalView extends Schema.Class<ApprovalView>("ApprovalView")({
  ...Struct.omit(ApprovalRecord.fields, "version"),
  status: ApprovalStatus,
  approved: Schema.Boolean
}) {}

/** The status of a record at `now` (pure). */
export const statusOf = (record: ApprovalRecord | null, now: number): ApprovalStatus => {
  if (record === null) return "none"
  if (record.granted_at === null) return "pending"
  if (record.revoked_at !== null) return "revoked"
  if (record.expires_at !== null && now >= record.expires_at) return "expired"
  return "approved"
}

/** A record as served at `now`. */
export const view = (
  tenant: string,
  subject: string,
  planHash: string,
  record: ApprovalRecord | null,
  now: number
): ApprovalView => {
  const status = statusOf(record, now)
  return new ApprovalView({
    tenant_id: tenant,
    subject,
    plan_hash: planHash,
    status,
    approved: status === "approved",
    requested_by: record?.requested_by ?? null,
    requested_at: record?.requested_at ?? null,
    risk_score: record?.risk_score ?? null,
    approver: record?.approver ?? null,
    approver_name: record?.approver_name ?? null,
    notes: record?.notes ?? null,
    granted_at: record?.granted_at ?? null,
    expires_at: record?.expires_at ?? null,
    revoked_at: record?.revoked_at ?? null,
    revoked_by: record?.revoked_by ?? null
  }, true)
}

/** Body of `POST /api/v1/approvals`. */
export const GrantInput = Schema.Struct({
  subject: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)),
  plan_hash: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  /** Display name of the approver; the approving actor is the authenticated one. */
  approver: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  notes: Schema.optional(Schema.String.pipe(Schema.maxLength(4000)))
})
/** Type of {@link GrantInput}. */
export type GrantInput = typeof GrantInput.Type

/** What a check found: approved (with the grant), not required, or missing (with why). */
export type ApprovalCheck =
  | { readonly required: false; readonly risk_score: number | null; readonly threshold: number }
  | {
    readonly required: true
    readonly approved: true
    readonly risk_score: number
    readonly threshold: number
    readonly record: ApprovalRecord
  }
  | {
    readonly required: true
    readonly approved: false
    readonly risk_score: number
    readonly threshold: number
    readonly status: ApprovalStatus | "self_approved"
  }

/** What {@link Approvals.require} needs. */
export interface RequireInput {
  readonly tenant_id: string
  readonly subject: string
  readonly plan_hash: string
  readonly risk_score: number | null
  /** Who asks for the action; may never approve it. */
  readonly requested_by: string
  /** The tenant's settings (for a per-tenant threshold), when at hand. */
  readonly settings?: AiSettings.AiSettings
  /** Record a pending request when missing (false inside transactions that may roll back). */
  readonly recordRequest?: boolean
}

/** Grant, check and revoke approvals. */
export class Approvals extends Effect.Service<Approvals>()("@airlock/guardrails/Approvals", {
  effect: Effect.gen(function*() {
    const store = yield* ApprovalStore
    const config = yield* GuardrailsConfig
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac
    const ttlMs = config.approvalTtlSeconds * 1000

    const thresholdFor = (settings?: AiSettings.AiSettings): number => {
      const v = settings?.extensions[TenantKeys.approvalRiskThreshold]
      return typeof v === "number" && v >= 0 && v <= 1 ? v : config.approvalRiskThreshold
    }

    const load = (tenant: string, subject: string, planHash: string) =>
      Effect.map(store.get(tenant, subject, planHash), Option.getOrNull)

    const blank = (tenant: string, subject: string, planHash: string) =>
      new ApprovalRecord({
        tenant_id: tenant,
        subject,
        plan_hash: planHash,
        requested_by: null,
        requested_at: null,
        risk_score: null,
        approver: null,
        approver_name: null,
        notes: null,
        granted_at: null,
        expires_at: null,
        revoked_at: null,
        revoked_by: null,
        version: 0
      }, true)

    /** Applies `change` by compare-and-set, retrying when another writer got there first. */
    const modify = <E>(
      tenant: string,
      subject: string,
      planHash: string,
      change: (current: ApprovalRecord) => Effect.Effect<Option.Option<ApprovalRecord>, E>
    ): Effect.Effect<ApprovalRecord, E | Errors.StorageError> =>
      Effect.gen(function*() {
        for (let attempt = 0;; attempt++) {
          const current = (yield* load(tenant, subject, planHash)) ?? blank(tenant, subject, planHash)
          const next = yield* change(current)
          if (Option.isNone(next)) return current
          const written = new ApprovalRecord({ ...next.value, version: current.version + 1 }, true)
          if (yield* store.put(written, current.version)) return written
          if (attempt >= 20) return yield* Effect.dieMessage("approvals: too much contention")
        }
      })

    /** Checks an action's approval; pure reading, no writes. */
    const check = (input: Omit<RequireInput, "recordRequest">): Effect.Effect<ApprovalCheck, Errors.StorageError> => {
      const threshold = thresholdFor(input.settings)
      const risk = input.risk_score
      if (risk === null || risk < threshold) return Effect.succeed({ required: false, risk_score: risk, threshold })
      // one read and the clock, no intermediate effects: this runs on every risky proposal
      return Effect.flatMap(
        store.get(input.tenant_id, input.subject, input.plan_hash),
        (found) =>
          Effect.clockWith((clock): Effect.Effect<ApprovalCheck> => {
            const record = Option.isSome(found) ? found.value : null
            const status = statusOf(record, clock.unsafeCurrentTimeMillis())
            if (status !== "approved")
              return Effect.succeed({ required: true, approved: false, risk_score: risk, threshold, status })
            return Effect.succeed(
              record!.approver === input.requested_by
                ? { required: true, approved: false, risk_score: risk, threshold, status: "self_approved" }
                : { required: true, approved: true, risk_score: risk, threshold, record: record! }
            )
          })
      )
    }

    /** The `approval_required` error of a subject and plan. */
    const required = (subject: string, planHash: string, details: Record<string, unknown>): Errors.ApprovalRequired =>
      new Errors.ApprovalRequired({ subject, plan_hash: planHash, message: "Approval required for this plan", details })

    /**
     * Fails with `approval_required` unless the action is below the threshold or approved; records
     * the pending request (who asked) so the requester cannot approve it.
     */
    const require = (
      input: RequireInput
    ): Effect.Effect<ApprovalCheck, Errors.ApprovalRequired | Errors.StorageError> =>
      Effect.flatMap(check(input), (result) => {
        if (!result.required || result.approved) return Effect.succeed(result)
        const refusal = required(input.subject, input.plan_hash, {
          risk_score: result.risk_score,
          threshold: result.threshold,
          status: result.status
        })
        return input.recordRequest !== false
          ? Effect.zipRight(recordRequest(input), Effect.fail(refusal))
          : Effect.fail(refusal)
      })

    /** Records who requested an approval (once; an existing request or grant is kept). */
    const recordRequest = (input: RequireInput): Effect.Effect<ApprovalRecord, Errors.StorageError> =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          modify(input.tenant_id, input.subject, input.plan_hash, (current) =>
            Effect.succeed(
              current.requested_by !== null
                ? Option.none()
                : Option.some(
                  new ApprovalRecord({
                    ...current,
                    requested_by: input.requested_by,
                    requested_at: now,
                    risk_score: input.risk_score
                  }, true)
                )
            ))
      )

    /**
     * Grants an approval of (subject, plan hash) in the actor's tenant; needs `approvals.grant`.
     * Refused with `approval.self_approval` when the actor requested the action. A new grant
     * replaces an expired or revoked one and restarts the TTL.
     */
    const grant = (
      actor: Actor.Actor,
      input: GrantInput,
      tenant?: string
    ): Effect.Effect<ApprovalView, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "approvals.grant")
        const tenantId = yield* TenantScope.acting(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const record = yield* modify(tenantId, input.subject, input.plan_hash, (current) =>
          current.requested_by === actor.id
            ? Effect.fail(
              new Errors.Forbidden({
                code: "approval.self_approval",
                message: "The requester of an action cannot approve it",
                details: { subject: input.subject, plan_hash: input.plan_hash }
              })
            )
            : Effect.succeed(Option.some(
              new ApprovalRecord({
                ...current,
                approver: actor.id,
                approver_name: input.approver ?? actor.name,
                notes: input.notes ?? null,
                granted_at: now,
                expires_at: now + ttlMs,
                revoked_at: null,
                revoked_by: null
              }, true)
            )))
        yield* audit.append({
          tenant_id: tenantId as Ids.TenantId,
          actor_id: actor.id,
          action: "approval.granted",
          subject: `${input.subject}@${input.plan_hash}`,
          data: {
            subject: input.subject,
            plan_hash: input.plan_hash,
            approver_name: record.approver_name,
            notes: record.notes,
            expires_at: record.expires_at
          }
        })
        return view(tenantId, input.subject, input.plan_hash, record, now)
      })

    /** The status of an approval; needs `ops.read` or `approvals.grant`. */
    const status = (
      actor: Actor.Actor,
      subject: string,
      planHash: string,
      tenant?: string
    ): Effect.Effect<ApprovalView, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        if (!rbac.can(actor, "approvals.grant")) yield* rbac.require(actor, "ops.read")
        const tenantId = yield* TenantScope.acting(rbac, actor, tenant)
        const record = yield* load(tenantId, subject, planHash)
        return view(tenantId, subject, planHash, record, yield* Clock.currentTimeMillis)
      })

    /** Revokes a granted approval; needs `approvals.grant`. `not_found` when nothing was granted. */
    const revoke = (
      actor: Actor.Actor,
      subject: string,
      planHash: string,
      tenant?: string
    ): Effect.Effect<ApprovalView, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "approvals.grant")
        const tenantId = yield* TenantScope.acting(rbac, actor, tenant)
        const now = yield* Clock.currentTimeMillis
        const record = yield* modify(tenantId, subject, planHash, (current) =>
          current.granted_at === null
            ? Effect.fail(
              new Errors.NotFound({
                message: "No approval granted for this plan",
                details: { entity: "approval", subject, plan_hash: planHash }
              })
            )
            : Effect.succeed(
              current.revoked_at !== null
                ? Option.none()
                : Option.some(new ApprovalRecord({ ...current, revoked_at: now, revoked_by: actor.id }, true))
            ))
        yield* audit.append({
          tenant_id: tenantId as Ids.TenantId,
          actor_id: actor.id,
          action: "approval.revoked",
          subject: `${subject}@${planHash}`,
          data: { subject, plan_hash: planHash }
        })
        return view(tenantId, subject, planHash, record, now)
      })

    return { grant, status, revoke, check, require, required, recordRequest, thresholdFor } as const
  })
}) {}

/**
 * The governed-action pipeline. Every AI or operator action goes the same way:
 *
 * 1. `propose` records the intent in the shadow stream (never touching canonical data), after
 *    the propose-phase gates;
 * 2. `evaluate` runs the ordered gates and stores a decision trace;
 * 3. `apply` re-evaluates the gates at apply time and, if they allow, runs the kind's
 *    deterministic handler in one transaction with the status change, trace and audit record —
 *    idempotently: applying twice has one effect;
 * 4. `reject` / `rollback` close the action with a reason.
 *
 * Kinds (what can be proposed, and the handler that promotes it) and gates (who may, when)
 * are registered by packages and hosts in the `ActionRegistry`; the gates' places are `GateOrder`.
 * Observers registered there (`ActionObserver`) hear of each applied action after its commit.
 */
import { Clock, Effect, Metric, Option, ParseResult, Schema } from "effect"
import {
  type ActionQuery,
  ActionRecord,
  type ActionStatus,
  ActionStore,
  DecisionTrace,
  type Phase,
  TraceStore
} from "./Action.js"
import type { ActionKind } from "./ActionKind.js"
import { ActionRegistry } from "./ActionRegistry.js"
import type { Actor } from "./Actor.js"
import { type AiSettings, AiSettingsStore, defaultSettings } from "./AiSettings.js"
import { AuditLog } from "./Audit.js"
import { hashOf } from "./Canonical.js"
import * as CoreGates from "./CoreGates.js"
import { type AirlockError, Conflict, NotFound, ValidationError } from "./Errors.js"
import { type Evaluation, type GateContext, runGates, triggerOf } from "./Gate.js"
import { ActionId, IdGenerator, type TenantId } from "./Ids.js"
import * as ValidatedPayloads from "./internal/validatedPayloads.js"
import { Rbac } from "./Rbac.js"
import { type Tenant, TenantStore } from "./Tenant.js"
import * as Trusted from "./Trusted.js"
import { UnitOfWork } from "./UnitOfWork.js"

/** Governed actions proposed (recorded in the shadow stream), by kind (a `/metrics` counter). */
export const actionsProposedTotal = Metric.counter("governed_actions_proposed_total", {
  description: "Governed actions proposed (recorded in the shadow stream), by kind",
  incremental: true
})

/** Governed actions applied (committed), by kind (a `/metrics` counter). */
export const actionsAppliedTotal = Metric.counter("governed_actions_applied_total", {
  description: "Governed actions applied (committed), by kind",
  incremental: true
})

/** Governed actions rejected, by kind (a `/metrics` counter). */
export const actionsRejectedTotal = Metric.counter("governed_actions_rejected_total", {
  description: "Governed actions rejected, by kind",
  incremental: true
})

// tagged once per (counter, kind): the apply path is hot
const byKind = new Map<string, Metric.Metric.Counter<number>>()
const countKind = (counter: Metric.Metric.Counter<number>, name: string, kind: string): Effect.Effect<void> =>
  Effect.sync(() => {
    const key = `${name} ${kind}`
    let tagged = byKind.get(key)
    if (tagged === undefined) {
      tagged = Metric.tagged(counter, "kind", kind)
      byKind.set(key, tagged)
    }
    tagged.unsafeUpdate(1, [])
  })

/** Input to {@link GovernedActions} `propose`. */
export interface ProposeInput {
  readonly tenant_id: TenantId
  readonly actor: Actor
  readonly kind: string
  /** The payload in its encoded (JSON) form; decoded with the kind's schema. */
  readonly payload: unknown
  readonly idempotency_key?: string | undefined
}

/** What `propose` returns. `duplicate` is true when an idempotency key returned an earlier record. */
export interface ProposeResult {
  readonly action: ActionRecord
  readonly trace: DecisionTrace | null
  readonly duplicate: boolean
}

/** What `apply` returns. `already_applied` is true when this call found the work done. */
export interface ApplyResult {
  readonly action: ActionRecord
  readonly result: unknown
  readonly trace: DecisionTrace | null
  readonly already_applied: boolean
}

/** Carries a gate denial out of a rolled-back transaction so its trace can still be stored. */
class GateDenied {
  readonly _tag = "GateDenied"
  constructor(readonly error: AirlockError, readonly trace: DecisionTrace) {}
}

const formatParseError = (e: ParseResult.ParseError) =>
  new ValidationError({ code: "validation.schema", message: ParseResult.TreeFormatter.formatErrorSync(e) })

/** The governed-action pipeline. */
export class GovernedActions extends Effect.Service<GovernedActions>()("@airlock/core/GovernedActions", {
  effect: Effect.gen(function*() {
    const registry = yield* ActionRegistry
    const actions = yield* ActionStore
    const traces = yield* TraceStore
    const tenants = yield* TenantStore
    const settingsStore = yield* AiSettingsStore
    const audit = yield* AuditLog
    const uow = yield* UnitOfWork
    const ids = yield* IdGenerator
    const rbac = yield* Rbac

    for (const gate of yield* CoreGates.make) yield* registry.registerGate(gate)

    const kindOf = (name: string) =>
      Option.match(registry.kind(name), {
        onNone: () =>
          Effect.fail(
            new ValidationError({ code: "validation.unknown_kind", message: `Unknown action kind: ${name}` })
          ),
        onSome: Effect.succeed
      })

    const loadTenant = (id: TenantId) =>
      Effect.flatMap(tenants.get(id), (t) =>
        Option.match(t, {
          onNone: () =>
            Effect.fail(new NotFound({ message: `Tenant ${id} not found`, details: { entity: "tenant", id } })),
          onSome: Effect.succeed
        }))

    const loadSettings = (tenant: TenantId) =>
      Effect.map(settingsStore.get(tenant), (s) => Option.getOrElse(s, () => defaultSettings(tenant, 0, "system")))

    const loadAction = (tenant: TenantId, id: ActionId, forUpdate: boolean) =>
      Effect.flatMap(forUpdate ? actions.getForUpdate(tenant, id) : actions.get(tenant, id), (a) =>
        Option.match(a, {
          onNone: () =>
            Effect.fail(new NotFound({ message: `Action ${id} not found`, details: { entity: "action", id } })),
          onSome: Effect.succeed
        }))

    const decode = (kind: ActionKind, payload: unknown) =>
      Schema.decodeUnknown(kind.payload)(payload).pipe(Effect.mapError(formatParseError))

    const validated = ValidatedPayloads.make()

    /** The stored payload, decoded (or taken from the propose-time validation when still exact). */
    const decodeStored = (kind: ActionKind, action: ActionRecord): Effect.Effect<unknown, ValidationError> => {
      const v = validated.lookup(action)
      return v !== undefined ? Effect.succeed(v.payload) : decode(kind, action.payload)
    }

    const makeTrace = (
      ctx: { tenant: Tenant; actor: Actor; action: ActionRecord; phase: Phase },
      evaluation: Evaluation
    ) =>
      Effect.gen(function*() {
        return new DecisionTrace({
          id: yield* ids.next("trc"),
          tenant_id: ctx.tenant.id,
          action_id: ctx.action.id,
          kind: ctx.action.kind,
          phase: ctx.phase,
          actor_id: ctx.actor.id,
          at: yield* Clock.currentTimeMillis,
          outcome: evaluation.outcome,
          gates: evaluation.gates
        }, true)
      })

    const evaluateAt = (
      phase: Phase,
      kind: ActionKind,
      tenant: Tenant,
      settings: AiSettings,
      actor: Actor,
      action: ActionRecord,
      payload: unknown
    ) =>
      Effect.gen(function*() {
        const ctx: GateContext = { tenant, settings, actor, kind, action, payload, phase, trigger: triggerOf(actor) }
        const evaluation = yield* runGates(registry.gatesFor(kind, phase), ctx)
        const trace = yield* makeTrace({ tenant, actor, action, phase }, evaluation)
        return { evaluation, trace }
      })

    const propose = (input: ProposeInput): Effect.Effect<ProposeResult, AirlockError> =>
      Effect.gen(function*() {
        const kind = yield* kindOf(input.kind)
        const payload = yield* decode(kind, input.payload)
        const encoded = yield* Schema.encode(kind.payload)(payload).pipe(Effect.mapError(formatParseError))
        const payload_hash = hashOf({ kind: kind.name, payload: encoded })
        const key = input.idempotency_key ?? null
        if (key !== null) {
          const existing = yield* actions.findByIdempotencyKey(input.tenant_id, kind.name, key)
          if (Option.isSome(existing)) return yield* sameIdempotentProposal(existing.value, payload_hash)
        }
        const tenant = yield* loadTenant(input.tenant_id)
        const settings = yield* loadSettings(tenant.id)
        const now = yield* Clock.currentTimeMillis
        const draft = new ActionRecord({
          id: ActionId.make(yield* ids.next("act")),
          tenant_id: tenant.id,
          kind: kind.name,
          subject: kind.subject(payload),
          payload: encoded,
          payload_hash,
          status: "proposed",
          review_reasons: [],
          idempotency_key: key,
          proposed_by: input.actor.id,
          proposed_at: now,
          closed_by: null,
          closed_at: null,
          close_reason: null,
          result: null,
          version: 1
        }, true)
        const { evaluation, trace } = yield* evaluateAt("propose", kind, tenant, settings, input.actor, draft, payload)
        if (evaluation.denial) {
          yield* traces.insert(trace)
          return yield* Effect.fail(evaluation.denial)
        }
        const action = new ActionRecord({ ...draft, review_reasons: [...evaluation.reasons] }, true)
        validated.remember(action, encoded, payload)
        const inserted = yield* uow.transaction(
          Effect.gen(function*() {
            yield* actions.insert(action)
            yield* traces.insert(trace)
            yield* audit.append({
              tenant_id: tenant.id,
              actor_id: input.actor.id,
              action: "action.proposed",
              subject: action.id,
              data: {
                kind: kind.name,
                subject: action.subject,
                payload_hash,
                review_reasons: action.review_reasons,
                trace_id: trace.id
              }
            })
            return { action, trace, duplicate: false } satisfies ProposeResult
          })
        ).pipe(
          Effect.catchIf(
            (e): e is Conflict => e._tag === "Conflict" && key !== null,
            (e) =>
              Effect.flatMap(actions.findByIdempotencyKey(tenant.id, kind.name, key!), (existing) =>
                Option.isSome(existing) ? sameIdempotentProposal(existing.value, payload_hash) : Effect.fail(e))
          )
        )
        // counted once committed (a duplicate of an idempotency key is not a new proposal)
        if (!inserted.duplicate)
          yield* countKind(actionsProposedTotal, "proposed", kind.name)
        return inserted
      })

    const sameIdempotentProposal = (existing: ActionRecord, payload_hash: string) =>
      existing.payload_hash === payload_hash
        ? Effect.succeed<ProposeResult>({ action: existing, trace: null, duplicate: true })
        : Effect.fail(
          new Conflict({
            code: "idempotency.conflict",
            message: "Idempotency key was already used with a different payload",
            details: { action_id: existing.id }
          })
        )

    /** Evaluates the apply-phase gates for an action without applying it; stores the trace. */
    const evaluate = (tenantId: TenantId, id: ActionId, actor: Actor) =>
      Effect.gen(function*() {
        const action = yield* loadAction(tenantId, id, false)
        const kind = yield* kindOf(action.kind)
        const payload = yield* decodeStored(kind, action)
        const tenant = yield* loadTenant(tenantId)
        const settings = yield* loadSettings(tenantId)
        const { trace } = yield* evaluateAt("apply", kind, tenant, settings, actor, action, payload)
        yield* traces.insert(trace)
        return trace
      })

    const close = (
      action: ActionRecord,
      status: ActionStatus,
      actor: Actor,
      reason: string | null,
      now: number,
      result?: unknown
    ) =>
      Trusted.make(ActionRecord, {
        id: action.id,
        tenant_id: action.tenant_id,
        kind: action.kind,
        subject: action.subject,
        payload: action.payload,
        payload_hash: action.payload_hash,
        status,
        review_reasons: action.review_reasons,
        idempotency_key: action.idempotency_key,
        proposed_by: action.proposed_by,
        proposed_at: action.proposed_at,
        closed_by: actor.id,
        closed_at: now,
        close_reason: reason,
        result: result === undefined ? action.result : result,
        version: action.version + 1
      })

    // an observer's failure is its own: logged, never the caller's (the action is applied)
    const notifyApplied = (action: ActionRecord, actor: Actor): Effect.Effect<void> => {
      const observers = registry.observers()
      if (observers.length === 0) return Effect.void
      return Effect.forEach(
        observers,
        (observer) =>
          Effect.catchAllCause(
            observer.applied({ action, actor }),
            (cause) =>
              Effect.logWarning("action observer failed", cause).pipe(
                Effect.annotateLogs({ observer: observer.name, kind: action.kind, action_id: action.id })
              )
          ),
        { discard: true }
      )
    }

    const actionNotFound = (id: ActionId) =>
      new NotFound({ message: `Action ${id} not found`, details: { entity: "action", id } })

    const unknownKind = (name: string) =>
      new ValidationError({ code: "validation.unknown_kind", message: `Unknown action kind: ${name}` })

    // The hot path of the pipeline: a chain of plain flatMaps (no generator, no Option left in
    // the way), pure steps done inline; the order of reads, checks and writes is the contract.
    const apply = (tenantId: TenantId, id: ActionId, actor: Actor): Effect.Effect<ApplyResult, AirlockError> =>
      uow.transaction(
        Effect.flatMap(
          actions.getForUpdate(tenantId, id),
          (found): Effect.Effect<ApplyResult, AirlockError | GateDenied> => {
            if (Option.isNone(found)) return Effect.fail(actionNotFound(id))
            const action = found.value
            if (action.status === "applied") {
              return Effect.succeed({ action, result: action.result, trace: null, already_applied: true })
            }
            if (action.status !== "proposed") {
              return Effect.fail(
                new Conflict({
                  code: "proposal.closed",
                  message: `Action is ${action.status}`,
                  details: { status: action.status }
                })
              )
            }
            const kind = registry.kind(action.kind)
            if (Option.isNone(kind)) return Effect.fail(unknownKind(action.kind))
            const v = validated.lookup(action)
            return v !== undefined
              ? applyDecoded(tenantId, actor, kind.value, action, v.payload)
              : Effect.flatMap(
                decode(kind.value, action.payload),
                (payload) => applyDecoded(tenantId, actor, kind.value, action, payload)
              )
          }
        )
      ).pipe(
        // counted and observed once committed; finding the work done is not a second apply
        Effect.tap((r) =>
          r.already_applied
            ? Effect.void
            : Effect.zipRight(countKind(actionsAppliedTotal, "applied", r.action.kind), notifyApplied(r.action, actor))
        ),
        Effect.catchIf(
          (e): e is GateDenied => e instanceof GateDenied,
          (denied) => Effect.zipRight(traces.insert(denied.trace), Effect.fail(denied.error))
        )
      )

    const applyDecoded = (
      tenantId: TenantId,
      actor: Actor,
      kind: ActionKind,
      action: ActionRecord,
      payload: unknown
    ): Effect.Effect<ApplyResult, AirlockError | GateDenied> =>
      Effect.flatMap(tenants.get(tenantId), (t) => {
        if (Option.isNone(t))
          return Effect.fail(
            new NotFound({ message: `Tenant ${tenantId} not found`, details: { entity: "tenant", id: tenantId } })
          )
        const tenant = t.value
        return Effect.flatMap(settingsStore.get(tenantId), (s) => {
          const settings = Option.isSome(s) ? s.value : defaultSettings(tenantId, 0, "system")
          const trigger = triggerOf(actor)
          const ctx: GateContext = { tenant, settings, actor, kind, action, payload, phase: "apply", trigger }
          return Effect.flatMap(runGates(registry.gatesFor(kind, "apply"), ctx), (evaluation) =>
            Effect.flatMap(ids.next("trc"), (traceId) =>
              Effect.clockWith((clock): Effect.Effect<ApplyResult, AirlockError | GateDenied> => {
                const trace = Trusted.make(DecisionTrace, {
                  id: traceId,
                  tenant_id: tenant.id,
                  action_id: action.id,
                  kind: action.kind,
                  phase: "apply",
                  actor_id: actor.id,
                  at: clock.unsafeCurrentTimeMillis(),
                  outcome: evaluation.outcome,
                  gates: evaluation.gates
                })
                if (evaluation.denial)
                  return Effect.fail(new GateDenied(evaluation.denial, trace))
                if (evaluation.outcome === "review" && trigger === "auto") {
                  const error = new Conflict({
                    code: "review_required",
                    message: "A human must review this action before it is applied",
                    details: { reasons: evaluation.reasons }
                  })
                  return Effect.fail(new GateDenied(error, trace))
                }
                return Effect.flatMap(kind.apply({ action, payload, actor, tenant, settings }), (handled) => {
                  const result = handled ?? null
                  const applied = close(action, "applied", actor, null, clock.unsafeCurrentTimeMillis(), result)
                  const done: ApplyResult = { action: applied, result, trace, already_applied: false }
                  return Effect.flatMap(actions.update(applied, action.version), () =>
                    Effect.flatMap(traces.insert(trace), () =>
                      Effect.map(
                        audit.append({
                          tenant_id: tenantId,
                          actor_id: actor.id,
                          action: "action.applied",
                          subject: action.id,
                          data: {
                            kind: kind.name,
                            subject: action.subject,
                            payload_hash: action.payload_hash,
                            result,
                            trace_id: trace.id
                          }
                        }),
                        () => {
                          // applied: its payload is not decoded again
                          validated.forget(action)
                          return done
                        }
                      )))
                })
              })))
        })
      })

    const closeProposed = (
      tenantId: TenantId,
      id: ActionId,
      actor: Actor,
      reason: string,
      status: "rejected",
      auditAction: string
    ) =>
      uow.transaction(
        Effect.gen(function*() {
          const action = yield* loadAction(tenantId, id, true)
          const kind = yield* kindOf(action.kind)
          yield* rbac.require(actor, kind.permissions.reject ?? kind.permissions.apply)
          if (action.status === status) return { record: action, changed: false }
          if (action.status !== "proposed") {
            return yield* new Conflict({
              code: "proposal.closed",
              message: `Action is ${action.status}`,
              details: { status: action.status }
            })
          }
          const closed = close(action, status, actor, reason, yield* Clock.currentTimeMillis)
          yield* actions.update(closed, action.version)
          yield* audit.append({
            tenant_id: tenantId,
            actor_id: actor.id,
            action: auditAction,
            subject: id,
            data: { reason }
          })
          return { record: closed, changed: true }
        })
      )

    /** Rejects a proposed action with a reason (idempotent: rejecting a rejected action returns it). */
    const reject = (tenantId: TenantId, id: ActionId, actor: Actor, reason: string) =>
      Effect.flatMap(
        closeProposed(tenantId, id, actor, reason, "rejected", "action.rejected"),
        ({ changed, record }) =>
          changed ? Effect.as(countKind(actionsRejectedTotal, "rejected", record.kind), record) : Effect.succeed(record)
      )

    /** Rolls back an applied action through its kind's compensating handler, in one transaction. */
    const rollback = (tenantId: TenantId, id: ActionId, actor: Actor, reason: string) =>
      uow.transaction(
        Effect.gen(function*() {
          const action = yield* loadAction(tenantId, id, true)
          const kind = yield* kindOf(action.kind)
          yield* rbac.require(actor, kind.permissions.apply)
          if (action.status === "rolled_back") return action
          if (action.status !== "applied") {
            return yield* new Conflict({ code: "proposal.not_applied", message: `Action is ${action.status}` })
          }
          if (!kind.rollback) {
            return yield* new Conflict({
              code: "rollback.unsupported",
              message: `Kind ${kind.name} cannot be rolled back`
            })
          }
          const payload = yield* decodeStored(kind, action)
          const tenant = yield* loadTenant(tenantId)
          const settings = yield* loadSettings(tenantId)
          const compensation = yield* kind.rollback({ action, payload, actor, tenant, settings, result: action.result })
          const closed = close(action, "rolled_back", actor, reason, yield* Clock.currentTimeMillis)
          yield* actions.update(closed, action.version)
          yield* audit.append({
            tenant_id: tenantId,
            actor_id: actor.id,
            action: "action.rolled_back",
            subject: id,
            data: { reason, compensation: compensation ?? null }
          })
          return closed
        })
      )

    /**
     * Wipes shadow records by status; canonical data is never touched. Needs `permission`.
     * Applied and rolled-back records are refused: they are the provenance of what was promoted
     * (a rolled-back one of an entry and its reversal). Wiping `wiped` finds nothing to wipe.
     */
    const wipe = (
      tenantId: TenantId,
      actor: Actor,
      filter: { readonly status: ActionStatus; readonly kind?: string | undefined },
      permission = "companion.shadow.wipe"
    ) =>
      Effect.gen(function*() {
        yield* rbac.require(actor, permission)
        if (filter.status === "applied" || filter.status === "rolled_back") {
          return yield* new ValidationError({
            code: "validation.wipe_applied",
            message: "Applied and rolled-back actions cannot be wiped: they are the provenance of what was promoted",
            details: { status: filter.status }
          })
        }
        return yield* uow.transaction(
          Effect.gen(function*() {
            const wiped = yield* actions.wipe(tenantId, filter, yield* Clock.currentTimeMillis, actor.id)
            yield* audit.append({
              tenant_id: tenantId,
              actor_id: actor.id,
              action: "action.wiped",
              subject: `status:${filter.status}`,
              data: { ...filter, wiped }
            })
            return wiped
          })
        )
      })

    return {
      propose,
      evaluate,
      apply,
      reject,
      rollback,
      wipe,
      get: (tenant: TenantId, id: ActionId) => loadAction(tenant, id, false),
      list: (tenant: TenantId, query: ActionQuery) =>
        actions.list(tenant, { ...query, limit: Math.min(Math.max(query.limit, 1), 500) }),
      traces: (tenant: TenantId, id: ActionId) => traces.listByAction(tenant, id)
    } as const
  })
}) {}

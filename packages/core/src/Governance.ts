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
 * are registered by packages and hosts in the {@link ActionRegistry}.
 */
import { Clock, Effect, Exit, Option, ParseResult, Schema } from "effect"
import { ActionRecord, type ActionQuery, ActionStore, type ActionStatus, DecisionTrace, type GateOutcome, type Phase, TraceStore } from "./Action.js"
import type { Actor } from "./Actor.js"
import { type AiSettings, AiSettingsStore, defaultSettings } from "./AiSettings.js"
import { AuditLog } from "./Audit.js"
import { hashOf } from "./Canonical.js"
import { CoreConfig } from "./CoreConfig.js"
import {
  type AirlockError,
  CompanionDisabled,
  Conflict,
  Forbidden,
  NotFound,
  type StorageError,
  ValidationError
} from "./Errors.js"
import { ActionId, IdGenerator, type TenantId } from "./Ids.js"
import { evaluateKillSwitch, globalEnabledOf, modeAllowsApply, type Trigger } from "./KillSwitch.js"
import { Rbac } from "./Rbac.js"
import { AI_GLOBAL_ENABLED_KEY, SystemStateStore } from "./SystemState.js"
import { type Tenant, TenantStore } from "./Tenant.js"
import * as Trusted from "./Trusted.js"
import { UnitOfWork } from "./UnitOfWork.js"

/** What a kind's handler receives. */
export interface HandlerContext<P> {
  readonly action: ActionRecord
  readonly payload: P
  readonly actor: Actor
  readonly tenant: Tenant
  readonly settings: AiSettings
}

/**
 * A kind of governed action: its payload schema, the permissions it needs, and the
 * deterministic handler that promotes it. Handlers run inside the apply transaction and must
 * have no requirements left (capture services when the kind is built).
 */
export interface ActionKind<P = any, PI = any> {
  readonly name: string
  readonly payload: Schema.Schema<P, PI>
  readonly permissions: {
    readonly propose: string
    readonly apply: string
    /** Permission to reject; defaults to `apply`. */
    readonly reject?: string
  }
  /** AI actions are subject to the kill switch and the tenant's mode. */
  readonly aiGoverned: boolean
  /** Protected actions are refused during a lockdown. */
  readonly protected?: boolean
  /** What the action is about (e.g. `bank_txn:42`); approvals and listings key on it. */
  readonly subject: (payload: P) => string
  /** Promotes the action; its JSON result is stored on the record (e.g. the entry id). */
  readonly apply: (ctx: HandlerContext<P>) => Effect.Effect<unknown, AirlockError>
  /** Compensates an applied action (e.g. posts a reversing entry); without it rollback is refused. */
  readonly rollback?: (ctx: HandlerContext<P> & { readonly result: unknown }) => Effect.Effect<unknown, AirlockError>
}

/** Everything a gate may read to decide. */
export interface GateContext {
  readonly tenant: Tenant
  readonly settings: AiSettings
  readonly actor: Actor
  readonly kind: ActionKind
  /** The record (at propose time: the one about to be stored). */
  readonly action: ActionRecord
  /** The decoded payload. */
  readonly payload: unknown
  readonly phase: Phase
  readonly trigger: Trigger
}

/** A gate's decision, with the inputs it read (stored in the trace as provenance). */
export type GateDecision =
  | { readonly verdict: "allow"; readonly inputs?: Record<string, unknown> }
  | { readonly verdict: "deny"; readonly error: AirlockError; readonly inputs?: Record<string, unknown> }
  | { readonly verdict: "review"; readonly reasons: ReadonlyArray<string>; readonly inputs?: Record<string, unknown> }

/** Constructors for gate decisions. */
export const Decision = {
  allow: (inputs?: Record<string, unknown>): GateDecision => (inputs ? { verdict: "allow", inputs } : { verdict: "allow" }),
  deny: (error: AirlockError, inputs?: Record<string, unknown>): GateDecision =>
    inputs ? { verdict: "deny", error, inputs } : { verdict: "deny", error },
  review: (reasons: ReadonlyArray<string>, inputs?: Record<string, unknown>): GateDecision =>
    inputs ? { verdict: "review", reasons, inputs } : { verdict: "review", reasons }
} as const

/** A gate: small, ordered (lower `order` runs first), limited to phases and optionally to kinds. */
export interface Gate {
  readonly name: string
  readonly order: number
  readonly phases: ReadonlyArray<Phase>
  /** Which kinds it guards; all kinds when omitted. */
  readonly appliesTo?: (kind: ActionKind) => boolean
  readonly evaluate: (ctx: GateContext) => Effect.Effect<GateDecision, StorageError>
}

/** Kinds and gates known to this process. Packages and hosts register into it from layers. */
export class ActionRegistry extends Effect.Service<ActionRegistry>()("@airlock/core/ActionRegistry", {
  sync: () => {
    const kinds = new Map<string, ActionKind>()
    const gates: Array<Gate> = []
    const cache = new Map<string, ReadonlyArray<Gate>>()
    return {
      /** Registers a kind; registering a second kind under the same name is a defect. */
      registerKind: <P, PI>(kind: ActionKind<P, PI>) =>
        Effect.suspend(() =>
          kinds.has(kind.name)
            ? Effect.dieMessage(`ActionRegistry: kind ${kind.name} registered twice`)
            : Effect.sync(() => void kinds.set(kind.name, kind as ActionKind))
        ),
      /** Registers a gate; gate names must be unique. */
      registerGate: (gate: Gate) =>
        Effect.suspend(() =>
          gates.some((g) => g.name === gate.name)
            ? Effect.dieMessage(`ActionRegistry: gate ${gate.name} registered twice`)
            : Effect.sync(() => {
              gates.push(gate)
              cache.clear()
            })
        ),
      kind: (name: string): Option.Option<ActionKind> => Option.fromNullable(kinds.get(name)),
      kinds: (): ReadonlyArray<ActionKind> => [...kinds.values()],
      /** The gates guarding `kind` in `phase`, in order (stable for equal orders). */
      gatesFor: (kind: ActionKind, phase: Phase): ReadonlyArray<Gate> => {
        const key = `${kind.name}\u0000${phase}`
        let list = cache.get(key)
        if (!list) {
          list = gates
            .map((g, i) => [g, i] as const)
            .filter(([g]) => g.phases.includes(phase) && (g.appliesTo ? g.appliesTo(kind) : true))
            .sort(([a, ai], [b, bi]) => a.order - b.order || ai - bi)
            .map(([g]) => g)
          cache.set(key, list)
        }
        return list
      }
    }
  }
}) {}

/** Result of running the gates once. */
interface Evaluation {
  readonly outcome: "allow" | "deny" | "review"
  readonly gates: ReadonlyArray<GateOutcome>
  readonly denial: AirlockError | null
  readonly reasons: ReadonlyArray<string>
}

/** Runs gates in order, stopping at the first denial. Pure orchestration. */
export const runGates = (
  gates: ReadonlyArray<Gate>,
  ctx: GateContext
): Effect.Effect<Evaluation, StorageError> =>
  Effect.suspend(() => {
    const outcomes: Array<GateOutcome> = []
    const reasons: Array<string> = []
    let i = 0
    // records one decision; returns the evaluation when it ends the run (a denial)
    const decide = (gate: Gate, d: GateDecision): Evaluation | undefined => {
      const inputs = d.inputs ?? {}
      if (d.verdict === "deny") {
        outcomes.push({ gate: gate.name, verdict: "deny", code: d.error.code, message: d.error.message, reasons: [], inputs })
        return { outcome: "deny", gates: outcomes, denial: d.error, reasons }
      }
      if (d.verdict === "review") {
        reasons.push(...d.reasons)
        outcomes.push({ gate: gate.name, verdict: "review", code: null, message: null, reasons: [...d.reasons], inputs })
      } else {
        outcomes.push({ gate: gate.name, verdict: "allow", code: null, message: null, reasons: [], inputs })
      }
      return undefined
    }
    // a gate that answers with an already-completed effect (a pure gate's `Effect.succeed`) is
    // read on the spot: no fiber step per pure gate on the hot path
    const loop = (): Effect.Effect<Evaluation, StorageError> => {
      while (i < gates.length) {
        const gate = gates[i++]!
        const decision = gate.evaluate(ctx)
        if (Exit.isExit(decision)) {
          const exit = decision as Exit.Exit<GateDecision, StorageError>
          if (exit._tag === "Failure") return Exit.failCause(exit.cause)
          const done = decide(gate, exit.value)
          if (done) return Effect.succeed(done)
          continue
        }
        return Effect.flatMap(decision, (d) => {
          const done = decide(gate, d)
          return done ? Effect.succeed(done) : loop()
        })
      }
      return Effect.succeed({ outcome: reasons.length > 0 ? "review" : "allow", gates: outcomes, denial: null, reasons })
    }
    return loop()
  })

/** Order of the built-in gates; packages slot theirs between (see each package's gates). */
export const GateOrder = {
  tenantScope: 0,
  killSwitch: 10,
  lockdown: 15,
  rbac: 20,
  mode: 30,
  velocity: 40,
  periodLock: 50,
  validation: 60,
  value: 70,
  budget: 80,
  approval: 90
} as const

/** The trigger of an actor's request: people are `human`, agents and the system `auto`. */
export const triggerOf = (actor: Actor): Trigger => (actor.kind === "user" ? "human" : "auto")

/** The core gates: tenant scope, the three-layer kill switch, RBAC and the mode rule. */
export const coreGates = Effect.gen(function*() {
  const rbac = yield* Rbac
  const config = yield* CoreConfig
  const system = yield* SystemStateStore

  const globalEnabledFrom = (entry: Option.Option<{ readonly value: unknown }>) =>
    globalEnabledOf(config.aiGlobalEnabled, Option.isSome(entry) ? entry.value.value : undefined)

  const tenantScope: Gate = {
    name: "tenant_scope",
    order: GateOrder.tenantScope,
    phases: ["propose", "apply"],
    evaluate: ({ actor, tenant }) =>
      Effect.succeed(
        actor.tenant_id === tenant.id || rbac.can(actor, "tenant.cross")
          ? Decision.allow({ actor_tenant: actor.tenant_id })
          : Decision.deny(
            new Forbidden({ code: "tenant.mismatch", message: "Actor belongs to another tenant" }),
            { actor_tenant: actor.tenant_id }
          )
      )
  }

  const killSwitch: Gate = {
    name: "kill_switch",
    order: GateOrder.killSwitch,
    phases: ["propose", "apply"],
    appliesTo: (kind) => kind.aiGoverned,
    evaluate: ({ settings, tenant }) =>
      // one read and one step: the stored override, then the decision
      Effect.map(system.get(AI_GLOBAL_ENABLED_KEY), (entry) => {
        const global = globalEnabledFrom(entry)
        const inputs = {
          global_enabled: global,
          tenant_ai_companion_enabled: tenant.ai_companion_enabled,
          ai_enabled: settings.ai_enabled,
          kill_switch: settings.kill_switch
        }
        const state = evaluateKillSwitch(global, tenant, settings)
        return state.enabled
          ? Decision.allow(inputs)
          : Decision.deny(new CompanionDisabled({ message: state.reason, details: { layer: state.layer } }), inputs)
      })
  }

  const rbacGate: Gate = {
    name: "rbac",
    order: GateOrder.rbac,
    phases: ["propose", "apply"],
    evaluate: ({ actor, kind, phase }) => {
      const permission = phase === "propose" ? kind.permissions.propose : kind.permissions.apply
      const inputs = { role: actor.role, permission }
      return Effect.succeed(
        rbac.can(actor, permission)
          ? Decision.allow(inputs)
          : Decision.deny(
            new Forbidden({
              code: "rbac.forbidden",
              message: `Role ${actor.role} lacks permission ${permission}`,
              details: inputs
            }),
            inputs
          )
      )
    }
  }

  const mode: Gate = {
    name: "mode",
    order: GateOrder.mode,
    phases: ["apply"],
    appliesTo: (kind) => kind.aiGoverned,
    evaluate: ({ settings, trigger }) => {
      const inputs = { ai_mode: settings.ai_mode, trigger }
      return Effect.succeed(
        modeAllowsApply(settings.ai_mode, trigger)
          ? Decision.allow(inputs)
          : Decision.deny(
            new Forbidden({
              code: "mode.forbidden",
              message: settings.ai_mode === "shadow_only"
                ? "Apply is blocked in shadow_only mode"
                : `Mode ${settings.ai_mode} does not allow ${trigger} apply`,
              details: inputs
            }),
            inputs
          )
      )
    }
  }

  return [tenantScope, killSwitch, rbacGate, mode] as const
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

const NOT_JSON: unknown = Symbol("not JSON")

/** A private deep copy of a JSON-shaped value (plain objects, arrays, primitives), else NOT_JSON. */
const copyJson = (v: unknown): unknown => {
  if (typeof v === "function" || typeof v === "symbol") return NOT_JSON
  if (v === null || typeof v !== "object") return v
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length)
    for (let i = 0; i < v.length; i++) {
      const c = copyJson(v[i])
      if (c === NOT_JSON) return NOT_JSON
      out[i] = c
    }
    return out
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return NOT_JSON
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k]
    if (x === undefined) continue
    const c = copyJson(x)
    if (c === NOT_JSON) return NOT_JSON
    out[k] = c
  }
  return out
}

/**
 * Is `a` the same JSON value as `b`, a {@link copyJson} copy? Keys in any order, undefined
 * members ignored — what equal canonical JSON means — and anything unusual counts as different.
 */
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const proto = Object.getPrototypeOf(a)
  if (proto !== Object.prototype && proto !== null) return false
  const rb = b as Record<string, unknown>
  let n = 0
  for (const k of Object.keys(a)) {
    const x = (a as Record<string, unknown>)[k]
    if (x === undefined) continue
    n++
    if (!Object.hasOwn(rb, k) || !sameJson(x, rb[k])) return false
  }
  return n === Object.keys(rb).length
}

/** How many pending proposals' validated payloads a pipeline keeps by id for their apply. */
const VALIDATED_CACHE_SIZE = 1024

/** A payload as validated at propose: what it was checked against, a private copy, the decoded value. */
interface Validated {
  readonly tenant: string
  readonly kind: string
  readonly hash: string
  readonly snapshot: unknown
  readonly payload: unknown
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

    for (const gate of yield* coreGates) yield* registry.registerGate(gate)

    const kindOf = (name: string) =>
      Option.match(registry.kind(name), {
        onNone: () =>
          Effect.fail(new ValidationError({ code: "validation.unknown_kind", message: `Unknown action kind: ${name}` })),
        onSome: Effect.succeed
      })

    const loadTenant = (id: TenantId) =>
      Effect.flatMap(tenants.get(id), (t) =>
        Option.match(t, {
          onNone: () => Effect.fail(new NotFound({ message: `Tenant ${id} not found`, details: { entity: "tenant", id } })),
          onSome: Effect.succeed
        }))

    const loadSettings = (tenant: TenantId) =>
      Effect.map(settingsStore.get(tenant), (s) => Option.getOrElse(s, () => defaultSettings(tenant, 0, "system")))

    const loadAction = (tenant: TenantId, id: ActionId, forUpdate: boolean) =>
      Effect.flatMap(forUpdate ? actions.getForUpdate(tenant, id) : actions.get(tenant, id), (a) =>
        Option.match(a, {
          onNone: () => Effect.fail(new NotFound({ message: `Action ${id} not found`, details: { entity: "action", id } })),
          onSome: Effect.succeed
        }))

    const decode = (kind: ActionKind, payload: unknown) =>
      Schema.decodeUnknown(kind.payload)(payload).pipe(Effect.mapError(formatParseError))

    /**
     * Payloads decoded and validated at propose in this process. Apply uses one only while the
     * stored record still carries exactly what was validated — the same tenant, kind and plan
     * hash, and an encoded payload structurally equal to a private copy of the one validated
     * (decoding is a pure function of it). Anything else (a changed row, a proposal made by
     * another process or no longer kept) is decoded again through the schema. Kept two ways:
     * - by the record proposed (a WeakMap: an entry lives as long as the record object), which
     *   is what a memory store hands back;
     * - by action id, for records read back from SQL as fresh objects: the pending ones (an entry
     *   goes when its action is applied here), at most {@link VALIDATED_CACHE_SIZE}, oldest out.
     */
    const validatedByRecord = new WeakMap<ActionRecord, Validated>()
    const validatedById = new Map<string, Validated>()

    const remember = (action: ActionRecord, encoded: unknown, payload: unknown) => {
      const snapshot = copyJson(encoded)
      if (snapshot === NOT_JSON) return
      const v: Validated = { tenant: action.tenant_id, kind: action.kind, hash: action.payload_hash, snapshot, payload }
      validatedByRecord.set(action, v)
      if (validatedById.size >= VALIDATED_CACHE_SIZE) validatedById.delete(validatedById.keys().next().value!)
      validatedById.set(action.id, v)
    }

    const validatedPayload = (action: ActionRecord): { readonly payload: unknown } | undefined => {
      const v = validatedByRecord.get(action) ?? validatedById.get(action.id)
      return v !== undefined && v.tenant === action.tenant_id && v.kind === action.kind && v.hash === action.payload_hash &&
          sameJson(action.payload, v.snapshot)
        ? v
        : undefined
    }

    /** The stored payload, decoded (or taken from the propose-time validation when still exact). */
    const decodeStored = (kind: ActionKind, action: ActionRecord): Effect.Effect<unknown, ValidationError> => {
      const v = validatedPayload(action)
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
        remember(action, encoded, payload)
        const inserted = yield* uow.transaction(
          Effect.gen(function*() {
            yield* actions.insert(action)
            yield* traces.insert(trace)
            yield* audit.append({
              tenant_id: tenant.id,
              actor_id: input.actor.id,
              action: "action.proposed",
              subject: action.id,
              data: { kind: kind.name, subject: action.subject, payload_hash, review_reasons: action.review_reasons, trace_id: trace.id }
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

    const close = (action: ActionRecord, status: ActionStatus, actor: Actor, reason: string | null, now: number, result?: unknown) =>
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

    const actionNotFound = (id: ActionId) => new NotFound({ message: `Action ${id} not found`, details: { entity: "action", id } })

    const unknownKind = (name: string) =>
      new ValidationError({ code: "validation.unknown_kind", message: `Unknown action kind: ${name}` })

    // The hot path of the pipeline: a chain of plain flatMaps (no generator, no Option left in
    // the way), pure steps done inline; the order of reads, checks and writes is the contract.
    const apply = (tenantId: TenantId, id: ActionId, actor: Actor): Effect.Effect<ApplyResult, AirlockError> =>
      uow.transaction(
        Effect.flatMap(actions.getForUpdate(tenantId, id), (found): Effect.Effect<ApplyResult, AirlockError | GateDenied> => {
          if (Option.isNone(found)) return Effect.fail(actionNotFound(id))
          const action = found.value
          if (action.status === "applied") {
            return Effect.succeed({ action, result: action.result, trace: null, already_applied: true })
          }
          if (action.status !== "proposed") {
            return Effect.fail(
              new Conflict({ code: "proposal.closed", message: `Action is ${action.status}`, details: { status: action.status } })
            )
          }
          const kind = registry.kind(action.kind)
          if (Option.isNone(kind)) return Effect.fail(unknownKind(action.kind))
          const v = validatedPayload(action)
          return v !== undefined
            ? applyDecoded(tenantId, actor, kind.value, action, v.payload)
            : Effect.flatMap(decode(kind.value, action.payload), (payload) => applyDecoded(tenantId, actor, kind.value, action, payload))
        })
      ).pipe(
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
        if (Option.isNone(t)) return Effect.fail(new NotFound({ message: `Tenant ${tenantId} not found`, details: { entity: "tenant", id: tenantId } }))
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
                if (evaluation.denial) return Effect.fail(new GateDenied(evaluation.denial, trace))
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
                          data: { kind: kind.name, subject: action.subject, payload_hash: action.payload_hash, result, trace_id: trace.id }
                        }),
                        () => {
                          // applied: its payload is not decoded again
                          validatedById.delete(action.id)
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
          if (action.status === status) return action
          if (action.status !== "proposed") {
            return yield* new Conflict({ code: "proposal.closed", message: `Action is ${action.status}`, details: { status: action.status } })
          }
          const closed = close(action, status, actor, reason, yield* Clock.currentTimeMillis)
          yield* actions.update(closed, action.version)
          yield* audit.append({ tenant_id: tenantId, actor_id: actor.id, action: auditAction, subject: id, data: { reason } })
          return closed
        })
      )

    /** Rejects a proposed action with a reason (idempotent: rejecting a rejected action returns it). */
    const reject = (tenantId: TenantId, id: ActionId, actor: Actor, reason: string) =>
      closeProposed(tenantId, id, actor, reason, "rejected", "action.rejected")

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
            return yield* new Conflict({ code: "rollback.unsupported", message: `Kind ${kind.name} cannot be rolled back` })
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

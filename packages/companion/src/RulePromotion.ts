/**
 * Rule promotion: when a vendor has enough consistent labels from people, the companion proposes a
 * tenant rule — "description contains the vendor key, this direction → this account" — and the
 * rule becomes active only when a person approves it. The proposal is a governed action of kind
 * {@link KIND} (its decision traces and audit records are core's), mirrored by a
 * `RulePromotion` row that lists and serves it.
 *
 * - Labels: reviewed proposals of the vendor applied as proposed or corrected by a person (an
 *   actor of kind `user`); auto-posts, agents' and the system's reviews never count. A label
 *   books the whole amount to one account (a split booking is no label for a one-account rule).
 * - Threshold: the latest {@link threshold} labels must agree on the account and the direction;
 *   the threshold is the larger of `AIRLOCK_COMPANION_PROMOTION_MIN_LABELS` (default
 *   {@link DEFAULT_MIN_LABELS}) and the tenant's `coldstart_min_labels`.
 * - Idempotent: at most one pending promotion per tenant and vendor (held by the store). When
 *   the vendor's newest label no longer agrees with its pending promotion, that promotion is
 *   superseded (and a new one proposed when the latest labels agree on something else). A vendor
 *   whose promoted rule is active, or whose same promotion was rejected, is not proposed again
 *   until {@link threshold} labels newer than the rejection agree.
 * - Approval: by a person (`companion.settings.manage`, as writing a rule is) other than the
 *   person whose label completed the evidence; never the system actor nor an agent. Approving
 *   inserts the rule (id = the promotion's id, name `promoted:<vendor key>`, priority
 *   {@link RULE_PRIORITY}, after people's own rules) in the apply transaction; rejecting records
 *   the reason.
 * - The tenant's `auto_rule_promotion` feature off (`TenantFeatures`): nothing is proposed or
 *   superseded (`none`, reason `feature.disabled`); pending promotions stay for people to decide.
 */
import {
  type Action,
  ActionRegistry,
  Actor,
  AiSettings,
  Errors,
  Gate,
  GateOrder,
  GovernedActions,
  Ids,
  Rbac,
  TenantScope,
  UnitOfWork
} from "@airlock/core"
import { Chart } from "@airlock/ledger"
import { Clock, Config, Context, Effect, Layer, Option, Schema } from "effect"
import { CompanionProposalStore, CompanionRule, CompanionRuleStore, type ProposalDetail } from "./CompanionPorts.js"
import {
  type PromotionLabel,
  type PromotionStatus,
  RulePromotion,
  RulePromotionStore
} from "./CompanionReportsPorts.js"
import * as CompanionSettings from "./CompanionSettings.js"
import { PROMOTED_ID_PREFIX } from "./RulesStage.js"
import * as TenantFeatures from "./TenantFeatures.js"

/** The kind of governed action a rule promotion is. */
export const KIND = "companion.rule.promote"
/** The gate of a promotion at apply: the approver is a person other than the labeller who completed it. */
export const APPROVER_GATE = "companion.rule_promotion_approver"
/** The id of the companion's actor that proposes (and supersedes) promotions. */
export const PROMOTER_ACTOR_ID = "sys_companion_promoter"
/** The role the promoter acts with (it proposes and withdraws; the approver gate refuses it as approver). */
export const PROMOTER_ROLE = "CONTROLLER"
/** Default of `AIRLOCK_COMPANION_PROMOTION_MIN_LABELS`. */
export const DEFAULT_MIN_LABELS = 5
/** A promoted rule's priority: after people's own rules (default 100). */
export const RULE_PRIORITY = 1000
/** Reviewed proposals of a vendor read when a label arrives. */
export const HISTORY = 200
/** Default and largest page of the listing. */
export const PAGE = { default: 50, max: 200 } as const

/** The name of a vendor's promoted rule. */
export const ruleName = (vendorKey: string): string => `promoted:${vendorKey}`

// --- configuration --------------------------------------------------------------------------------

/** How promotion is configured. */
export interface PromotionSettings {
  /** `AIRLOCK_COMPANION_PROMOTION_MIN_LABELS`: agreeing labels needed at least (1 … 1000). */
  readonly minLabels: number
}

/** The promotion settings. Absent from the context, they are read from {@link config}. */
export class RulePromotionConfig
  extends Context.Tag("@airlock/companion/RulePromotionConfig")<RulePromotionConfig, PromotionSettings>()
{}

/** The `Config` description. */
export const config: Config.Config<PromotionSettings> = Config.all({
  minLabels: Config.integer("AIRLOCK_COMPANION_PROMOTION_MIN_LABELS").pipe(
    Config.validate({ message: "must be an integer from 1 to 1000", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(DEFAULT_MIN_LABELS)
  )
})

/** The settings given in code. */
export const layerSettings = (settings: Partial<PromotionSettings> = {}): Layer.Layer<RulePromotionConfig> =>
  Layer.succeed(RulePromotionConfig, { minLabels: DEFAULT_MIN_LABELS, ...settings })

const current: Effect.Effect<PromotionSettings> = Effect.flatMap(
  Effect.serviceOption(RulePromotionConfig),
  Option.match({
    onSome: Effect.succeed,
    // a broken variable fails safe: the default (never a lower threshold)
    onNone: () => Effect.orElseSucceed(config, () => ({ minLabels: DEFAULT_MIN_LABELS }))
  })
)

/** The agreeing labels a tenant needs: the larger of the deployment's minimum and `coldstart_min_labels`. Pure. */
export const threshold = (settings: PromotionSettings, coldstartMinLabels: number): number =>
  Math.max(settings.minLabels, coldstartMinLabels)

// --- the pure part --------------------------------------------------------------------------------

/** The label a reviewed proposal gives, or null: only a person's apply or correction to one account. Pure. */
export const labelOf = (d: ProposalDetail, isPerson: (actorId: string) => boolean): PromotionLabel | null => {
  if (d.review_outcome !== "applied" && d.review_outcome !== "corrected") return null
  if (d.reviewed_by === null || d.reviewed_at === null || !isPerson(d.reviewed_by)) return null
  const accounts = new Set((d.final_splits ?? []).map((s) => s.account_code))
  if (accounts.size !== 1) return null
  return {
    proposal_id: d.proposal_id,
    account_code: [...accounts][0]!,
    direction: d.direction,
    reviewed_by: d.reviewed_by,
    reviewed_at: d.reviewed_at,
    review_outcome: d.review_outcome
  }
}

/** What the labels say: a candidate rule, or why not. */
export type Verdict =
  | {
    readonly _tag: "candidate"
    readonly account_code: string
    readonly direction: "inflow" | "outflow"
    /** The agreeing labels, newest first (exactly the threshold's number). */
    readonly labels: ReadonlyArray<PromotionLabel>
  }
  | { readonly _tag: "none"; readonly reason: "not_enough_labels" | "labels_disagree" }

/**
 * The verdict over a vendor's reviewed proposals (newest first, as `vendorHistory` gives them):
 * a candidate when the latest `needed` of people's reviews are all labels of one account and
 * one direction. A person's split booking among them breaks the agreement. Pure.
 */
export const verdict = (
  history: ReadonlyArray<ProposalDetail>,
  isPerson: (actorId: string) => boolean,
  needed: number
): Verdict => {
  const reviews = history.filter((d) =>
    (d.review_outcome === "applied" || d.review_outcome === "corrected") && d.reviewed_by !== null &&
    isPerson(d.reviewed_by)
  )
  if (reviews.length < needed) return { _tag: "none", reason: "not_enough_labels" }
  const latest = reviews.slice(0, needed).map((d) => labelOf(d, isPerson))
  const first = latest[0]
  if (
    first === null || first === undefined ||
    !latest.every((l) => l !== null && l.account_code === first.account_code && l.direction === first.direction)
  ) return { _tag: "none", reason: "labels_disagree" }
  return {
    _tag: "candidate",
    account_code: first.account_code,
    direction: first.direction,
    labels: latest as ReadonlyArray<PromotionLabel>
  }
}

/** The rule an approved promotion activates. Pure. */
export const ruleOf = (p: RulePromotion, approver: string, now: number): CompanionRule =>
  new CompanionRule({
    id: p.id,
    tenant_id: p.tenant_id,
    name: ruleName(p.vendor_key),
    priority: RULE_PRIORITY,
    active: true,
    match: {
      description_contains: p.vendor_key,
      description_regex: null,
      amount_min: null,
      amount_max: null,
      direction: p.direction
    },
    target: { account_code: p.account_code, splits: [] },
    created_at: now,
    created_by: approver,
    updated_at: now,
    updated_by: approver,
    version: 1
  })

// --- the service ----------------------------------------------------------------------------------

/** The payload of a `companion.rule.promote` action. */
export const PromotePayload = Schema.Struct({
  promotion_id: Schema.String,
  vendor_key: Schema.String,
  direction: Schema.Literal("inflow", "outflow"),
  account_code: Schema.String,
  labels: Schema.Int,
  /** The person whose label completed the evidence (may not approve). */
  triggered_by: Schema.String
})

/** What {@link RulePromotions} `consider` did after a person's label. */
export type ConsiderResult =
  | { readonly outcome: "proposed"; readonly promotion_id: string; readonly superseded: string | null }
  | { readonly outcome: "pending"; readonly promotion_id: string }
  | { readonly outcome: "none"; readonly reason: string; readonly superseded: string | null }

/** A promotion as served, with its governed action's decision traces. */
export interface PromotionView {
  readonly promotion: RulePromotion
  readonly traces: ReadonlyArray<Action.DecisionTrace>
}

/** The companion's promoter actor in a tenant (kind `system`: never an approver). */
export const promoterActor = (tenant: Ids.TenantId): Actor.Actor =>
  ({
    id: Ids.ActorId.make(PROMOTER_ACTOR_ID),
    tenant_id: tenant,
    kind: "system",
    name: "companion rule promoter",
    role: PROMOTER_ROLE,
    active: true,
    created_at: 0
  }) as Actor.Actor

/** What the decisions fail with (anything else the pipeline could raise is a defect here). */
export type PromotionError =
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.NotFound
  | Errors.Conflict
  | Errors.LockdownActive
  | Errors.StorageError

const EXPECTED = new Set(["Forbidden", "ValidationError", "NotFound", "Conflict", "LockdownActive", "StorageError"])

/** Narrows a pipeline failure to {@link PromotionError}; no other gate guards this kind. */
const narrow = <A, R>(self: Effect.Effect<A, Errors.AirlockError, R>): Effect.Effect<A, PromotionError, R> =>
  Effect.catchIf(
    self,
    (e): e is Exclude<Errors.AirlockError, PromotionError> => !EXPECTED.has(e._tag),
    (e) => Effect.die(e)
  ) as Effect.Effect<A, PromotionError, R>

const notFound = (id: string) =>
  new Errors.NotFound({ message: `Rule promotion ${id} not found`, details: { entity: "rule_promotion", id } })

const decided = (p: RulePromotion) =>
  new Errors.Conflict({
    code: "companion.rule_promotion.decided",
    message: `Rule promotion ${p.id} is already ${p.status}`,
    details: { promotion_id: p.id, status: p.status, reviewed_by: p.reviewed_by }
  })

/** Proposes rules from people's labels and decides them as governed actions. */
export class RulePromotions extends Effect.Service<RulePromotions>()("@airlock/companion/RulePromotions", {
  effect: Effect.gen(function*() {
    const store = yield* RulePromotionStore
    const rules = yield* CompanionRuleStore
    const details = yield* CompanionProposalStore
    const actors = yield* Actor.ActorStore
    const accounts = yield* Chart.AccountStore
    const settingsStore = yield* AiSettings.AiSettingsStore
    const registry = yield* ActionRegistry.ActionRegistry
    const pipeline = yield* GovernedActions.GovernedActions
    const rbac = yield* Rbac.Rbac
    const ids = yield* Ids.IdGenerator
    const uow = yield* UnitOfWork.UnitOfWork
    const settings = yield* current

    const access = (tenant: Ids.TenantId, actor: Actor.Actor, permission: string) =>
      Effect.zipRight(TenantScope.requireTenant(rbac, actor, tenant), rbac.require(actor, permission))

    const load = (tenant: Ids.TenantId, id: string) =>
      Effect.flatMap(
        store.get(tenant, id),
        Option.match({ onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })
      )

    const save = (p: RulePromotion, patch: Partial<RulePromotion>) =>
      Effect.as(
        store.update(new RulePromotion({ ...p, ...patch, version: p.version + 1 }), p.version),
        new RulePromotion({ ...p, ...patch, version: p.version + 1 })
      )

    yield* registry.registerKind({
      name: KIND,
      payload: PromotePayload,
      permissions: { propose: "companion.actions", apply: "companion.settings.manage" },
      aiGoverned: false,
      protected: true,
      subject: (p) => `vendor:${p.vendor_key}`,
      // runs inside the pipeline's apply transaction: the rule and the promotion's state change together
      apply: ({ actor, payload, tenant }) =>
        Effect.gen(function*() {
          const p = yield* load(tenant.id, payload.promotion_id)
          if (p.status !== "pending") return yield* decided(p)
          const found = yield* accounts.getMany(tenant.id, [p.account_code])
          if (!found.get(p.account_code)?.active) {
            return yield* new Errors.Conflict({
              code: "companion.rule_promotion.account_inactive",
              message: `Account ${p.account_code} is no longer active: reject this promotion`,
              details: { promotion_id: p.id, account_code: p.account_code }
            })
          }
          const now = yield* Clock.currentTimeMillis
          const rule = ruleOf(p, actor.id, now)
          yield* rules.insert(rule)
          yield* save(p, { status: "approved", rule_id: rule.id, reviewed_at: now, reviewed_by: actor.id })
          return { promotion_id: p.id, rule_id: rule.id, rule_name: rule.name, approved_by: actor.id }
        })
    })

    yield* registry.registerGate({
      name: APPROVER_GATE,
      order: GateOrder.approval,
      phases: ["apply"],
      appliesTo: (kind) => kind.name === KIND,
      evaluate: ({ action, actor, payload }) => {
        const triggeredBy = (payload as typeof PromotePayload.Type).triggered_by
        const inputs = { triggered_by: triggeredBy, approver: actor.id, approver_kind: actor.kind }
        if (actor.kind !== "user") {
          return Effect.succeed(Gate.Decision.deny(
            new Errors.Forbidden({
              code: "companion.rule_promotion.approver_not_person",
              message: "A rule promotion is approved by a person, never by an agent or the system",
              details: { action_id: action.id, approver_kind: actor.kind }
            }),
            inputs
          ))
        }
        if (actor.id === triggeredBy || actor.id === action.proposed_by) {
          return Effect.succeed(Gate.Decision.deny(
            new Errors.Forbidden({
              code: "approval.self_approval",
              message: "The person whose label completed a rule promotion cannot approve it: a second person does",
              details: { action_id: action.id }
            }),
            inputs
          ))
        }
        return Effect.succeed(Gate.Decision.allow(inputs))
      }
    })

    /** Withdraws a pending promotion the vendor's labels moved away from. */
    const supersede = (tenant: Ids.TenantId, p: RulePromotion, reason: string) =>
      Effect.gen(function*() {
        const promoter = promoterActor(tenant)
        if (p.action_id !== null) {
          yield* pipeline.reject(tenant, Ids.ActionId.make(p.action_id), promoter, reason)
        }
        yield* save(p, {
          status: "superseded",
          reviewed_at: yield* Clock.currentTimeMillis,
          reviewed_by: promoter.id,
          review_reason: reason
        })
      })

    /**
     * Called after a person's label of `vendorKey` was recorded (`description` is the labelled
     * transaction's): supersedes a pending promotion the labels moved away from and proposes one
     * when the latest labels agree. Idempotent; a concurrent proposal for the vendor wins.
     */
    const consider = (
      tenant: Ids.TenantId,
      person: Actor.Actor,
      vendorKey: string,
      description: string
    ): Effect.Effect<ConsiderResult, Errors.AirlockError> =>
      Effect.gen(function*() {
        if (person.kind !== "user") return { outcome: "none", reason: "not_a_person", superseded: null } as const
        const ai = Option.getOrElse(yield* settingsStore.get(tenant), () =>
          AiSettings.defaultSettings(tenant, 0, "system"))
        if (!(yield* TenantFeatures.current(ai)).auto_rule_promotion) {
          return { outcome: "none", reason: TenantFeatures.Reasons.disabled, superseded: null } as const
        }
        const needed = threshold(settings, CompanionSettings.fromAiSettings(ai).coldstart_min_labels)
        const history = yield* details.vendorHistory(tenant, vendorKey, HISTORY)
        const kinds = new Map<string, boolean>()
        for (
          const id of new Set(
            history.map((d) =>
              d.reviewed_by
            ).filter((x): x is string => x !== null)
          )
        ) {
          const a = yield* actors.get(tenant, Ids.ActorId.make(id))
          kinds.set(id, Option.isSome(a) && a.value.kind === "user")
        }
        const isPerson = (id: string) => kinds.get(id) === true
        const v = verdict(history, isPerson, needed)
        const known = yield* store.forVendor(tenant, vendorKey, 50)
        const open = known.find((p) => p.status === "pending") ?? null
        const newest = history.map((d) => labelOf(d, isPerson)).find((l) => l !== null) ?? null
        let superseded: string | null = null
        if (
          open !== null &&
          (v._tag === "candidate"
            ? v.account_code !== open.account_code || v.direction !== open.direction
            : newest === null || newest.account_code !== open.account_code || newest.direction !== open.direction)
        ) {
          yield* supersede(tenant, open, "superseded: the vendor's latest labels no longer agree with it")
          superseded = open.id
        } else if (open !== null) {
          return { outcome: "pending", promotion_id: open.id } as const
        }
        if (v._tag === "none") return { outcome: "none", reason: v.reason, superseded } as const
        if (!description.toLowerCase().includes(vendorKey)) {
          // the rule matches on the description: a key the description does not contain would never match
          return { outcome: "none", reason: "vendor_key_not_in_description", superseded } as const
        }
        const same = (p: RulePromotion) => p.account_code === v.account_code && p.direction === v.direction
        for (const p of known) {
          if (p.status === "approved" && same(p) && p.rule_id !== null) {
            const rule = yield* rules.get(tenant, p.rule_id)
            if (Option.isSome(rule) && rule.value.active) {
              return { outcome: "none", reason: "already_promoted", superseded } as const
            }
          }
          if (p.status === "rejected" && same(p) && (p.reviewed_at ?? 0) >= v.labels.at(-1)!.reviewed_at) {
            return { outcome: "none", reason: "rejected_before", superseded } as const
          }
        }
        const id = yield* ids.next(PROMOTED_ID_PREFIX.slice(0, -1))
        const now = yield* Clock.currentTimeMillis
        const created = yield* Effect.either(uow.transaction(Effect.gen(function*() {
          const proposed = yield* pipeline.propose({
            tenant_id: tenant,
            actor: promoterActor(tenant),
            kind: KIND,
            payload: {
              promotion_id: id,
              vendor_key: vendorKey,
              direction: v.direction,
              account_code: v.account_code,
              labels: v.labels.length,
              triggered_by: person.id
            }
          })
          yield* store.insert(
            new RulePromotion({
              id,
              tenant_id: tenant,
              vendor_key: vendorKey,
              direction: v.direction,
              account_code: v.account_code,
              labels: v.labels.length,
              evidence: { threshold: needed, labels: v.labels, supersedes: superseded },
              status: "pending",
              action_id: proposed.action.id,
              rule_id: null,
              created_at: now,
              created_by: person.id,
              reviewed_at: null,
              reviewed_by: null,
              review_reason: null,
              version: 1
            })
          )
        })))
        if (created._tag === "Left") {
          // another label of the vendor proposed it a moment ago (one pending promotion per vendor)
          if (created.left._tag === "Conflict" && created.left.code === "conflict.duplicate") {
            const now = (yield* store.forVendor(tenant, vendorKey, 1)).find((p) => p.status === "pending")
            if (now !== undefined) return { outcome: "pending", promotion_id: now.id } as const
          }
          return yield* Effect.fail(created.left)
        }
        return { outcome: "proposed", promotion_id: id, superseded } as const
      })

    const view = (tenant: Ids.TenantId, p: RulePromotion) =>
      Effect.map(
        p.action_id === null ? Effect.succeed([]) : pipeline.traces(tenant, Ids.ActionId.make(p.action_id)),
        (traces): PromotionView => ({ promotion: p, traces })
      )

    /** The tenant's promotions, newest first, optionally of one status (`companion.read`). */
    const list = (
      tenant: Ids.TenantId,
      actor: Actor.Actor,
      query: {
        readonly status?: PromotionStatus | undefined
        readonly cursor?: string | undefined
        readonly limit?: number | undefined
      }
    ) =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "companion.read")
        const limit = Math.min(Math.max(query.limit ?? PAGE.default, 1), PAGE.max)
        const items = yield* store.list(tenant, { status: query.status, before: query.cursor, limit })
        return { items, next_cursor: items.length === limit ? items.at(-1)!.id : null }
      })

    /** One promotion with its decision traces (`companion.read`). */
    const get = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
      Effect.gen(function*() {
        yield* access(tenant, actor, "companion.read")
        return yield* view(tenant, yield* load(tenant, id))
      })

    /**
     * Approves a pending promotion: the governed action is applied (gates, trace, audit) and its
     * handler activates the rule. Needs `companion.settings.manage`; 409
     * `companion.rule_promotion.decided` when it is no longer pending.
     */
    const approve = (
      tenant: Ids.TenantId,
      actor: Actor.Actor,
      id: string
    ): Effect.Effect<PromotionView, PromotionError> =>
      narrow(Effect.gen(function*() {
        yield* access(tenant, actor, "companion.settings.manage")
        const p = yield* load(tenant, id)
        if (p.status !== "pending" || p.action_id === null) return yield* decided(p)
        yield* pipeline.apply(tenant, Ids.ActionId.make(p.action_id), actor)
        return yield* view(tenant, yield* load(tenant, id))
      }))

    /** Rejects a pending promotion with a reason (`companion.settings.manage`); the action is rejected with it. */
    const reject = (
      tenant: Ids.TenantId,
      actor: Actor.Actor,
      id: string,
      reason: string
    ): Effect.Effect<PromotionView, PromotionError> =>
      narrow(Effect.gen(function*() {
        yield* access(tenant, actor, "companion.settings.manage")
        if (reason.trim().length === 0) {
          return yield* new Errors.ValidationError({ code: "validation.schema", message: "A rejection needs a reason" })
        }
        const p = yield* load(tenant, id)
        if (p.status !== "pending") return yield* decided(p)
        yield* uow.transaction(Effect.gen(function*() {
          if (p.action_id !== null) yield* pipeline.reject(tenant, Ids.ActionId.make(p.action_id), actor, reason)
          yield* save(p, {
            status: "rejected",
            reviewed_at: yield* Clock.currentTimeMillis,
            reviewed_by: actor.id,
            review_reason: reason
          })
        }))
        return yield* view(tenant, yield* load(tenant, id))
      }))

    return { consider, list, get, approve, reject } as const
  })
}) {}

/**
 * The promotions service. Provide it to the companion (`Companion.layer.pipe(Layer.provideMerge(
 * RulePromotion.layer))`): the companion then considers a promotion after each person's label.
 */
export const layer = RulePromotions.Default

/**
 * The companion's proposal flow for bank transactions: propose (run the categorizer chain and
 * store a shadow proposal through the ledger's `ledger.proposal` kind), review (apply as
 * proposed, apply with a person's correction, reject), auto-post in `autopilot_limited` when
 * every condition of `AutoPost` holds, and wipe. Nothing reaches the canonical journal except
 * through core's governed apply and the ledger's handler.
 *
 * What a review teaches: a person's apply or correction writes the vendor's label to agent memory
 * (as that person) and trains the tenant's classifier (a new stored version); a person's
 * rejection writes a rejection fact and a note with its reason, so the next proposal for the
 * vendor avoids the rejected account or asks about it. Auto-posts teach nothing (the model would
 * confirm itself).
 * The calibration (one calibrator per deciding stage) is refitted lazily at propose time once ten
 * more proposals were reviewed.
 * The tenant's feature flags (`TenantFeatures`) switch the classifier, the model stage, drift
 * questions and calibration off per tenant.
 */
import {
  Action,
  type Actor,
  AgentMemory,
  AiSettings,
  CoreConfig,
  Errors,
  GovernedActions,
  Ids,
  KillSwitch,
  Rbac,
  SystemState,
  Tenant,
  TenantScope,
  UnitOfWork
} from "@airlock/core"
import { Approvals, Budgets, KindPolicy, TrustBreaker, ValueBreaker, VelocityBreaker } from "@airlock/guardrails"
import { BankTransaction, Chart, JournalStore, LedgerConfig, Money, Proposals } from "@airlock/ledger"
import { Clock, Effect, Either, Layer, Metric, Option, Schema } from "effect"
import * as AutoPost from "./AutoPost.js"
import * as Calibration from "./Calibration.js"
import * as CalibrationMetrics from "./CalibrationMetrics.js"
import type { ProposedSplit } from "./Categorizer.js"
import * as Certification from "./Certification.js"
import * as Chain from "./Chain.js"
import * as Classifier from "./Classifier.js"
import * as ClassifierStage from "./ClassifierStage.js"
import {
  CalibrationVersion,
  ClassifierVersion,
  CompanionModelStore,
  CompanionProposalStore,
  CompanionRule,
  CompanionRuleStore,
  ProposalDetail,
  type ReasonCount,
  type ReviewOutcome,
  type StoredSplit
} from "./CompanionPorts.js"
import { CompanionProvenance } from "./CompanionProvenance.js"
import * as CompanionSettings from "./CompanionSettings.js"
import * as Drift from "./Drift.js"
import * as LlmStage from "./LlmStage.js"
import * as RulePromotion from "./RulePromotion.js"
import * as RulesStage from "./RulesStage.js"
import * as TenantFeatures from "./TenantFeatures.js"
import { vendorKey } from "./VendorKey.js"
import * as VendorMemoryStage from "./VendorMemoryStage.js"

/** Most transactions one propose call handles (the rest wait for the next call). */
export const MAX_BATCH = 1000
/** Reviews after which the calibration is refitted. */
export const REFIT_EVERY = 10
/** Booked proposals of a vendor read for its drift test on each new proposal (`Drift`). */
export const DRIFT_HISTORY = 200
/** How far back reviewed proposals count for calibration and certification. */
export const CALIBRATION_WINDOW_DAYS = 180
/**
 * The certificate's evidence may reach back this far when its 90-day window holds too few reviewed
 * items at a threshold (`Certification.certify`'s `max_age_days`): as far as the calibration
 * history, never further (365 days let a stale year of evidence certify a drifted quarter in the
 * quality bench).
 */
export const CERTIFICATION_MAX_AGE_DAYS = 180
/**
 * The evidence the certificate keeps at each threshold once auto-posting has thinned the reviews
 * out: three times the items at which its testing starts (3 × 93 = 279 for 0.95 at δ 0.05), so a
 * threshold whose error rate sits at about half the allowed one keeps certifying instead of
 * flickering on every second error.
 */
export const certificationMinItems = (target: number, delta: number): number =>
  3 * Certification.minCleanItems(target, delta, Certification.DEFAULT_START_ERRORS)
/** Tenants whose decoded classifier model the service keeps (least recently used leave first). */
export const MODEL_CACHE_TENANTS = 256
/** Recency half-life of the calibration fit. */
export const CALIBRATION_HALF_LIFE_DAYS = 90
/** The id of the system actor that auto-posts. */
export const SYSTEM_ACTOR_ID = "sys_companion_autopost"
/** The role the auto-posting system actor acts with (it needs `companion.actions`). */
export const SYSTEM_ACTOR_ROLE = "BOOKKEEPER"

const DAY_MS = 86_400_000

/** Is this ledger proposal a no-answer one (no splits: the companion had no suggestion)? */
export const isNoAnswer = (a: { readonly payload: unknown }): boolean => {
  const splits = (a.payload as { readonly splits?: unknown } | null)?.splits
  return Array.isArray(splits) && splits.length === 0
}

/** The question a no-answer proposal asks: a person chooses the account(s). */
export const NO_ANSWER_QUESTION = "No suggestion: choose the account(s) to book this transaction to"

/** The companion's own risk reasons on a proposal (besides the breakers'). */
export const RiskReasons = {
  /** No stage could categorise the transaction: a no-answer proposal. */
  noAnswer: "no_answer",
  /** The proposal asks a person a question (it never auto-posts: `autopost.open_questions`). */
  openQuestions: "open_questions"
} as const

/**
 * A proposal's tier before the breakers raise it: 0 when a stage decided and nothing is asked,
 * 1 for a candidate answer or an open question, 2 when there is no suggestion at all (a person
 * must choose the account). Pure.
 */
export const tierOf = (hasAnswer: boolean, decided: boolean, questions: number): number =>
  !hasAnswer ? 2 : decided && questions === 0 ? 0 : 1

/**
 * Whether a transaction no stage answered is stored as a no-answer proposal (no splits; a person
 * applies it with `{splits}`, which records the correction and teaches vendor memory and the
 * classifier) rather than left `unresolved` with nothing stored. It is stored when nothing but a
 * person's booking of it could ever teach the tenant the answer: the classifier is off or absent
 * from the chain, or it was trained but knows no account this transaction's direction may use,
 * or the tenant has no active rule and the classifier is untrained (a new tenant: without a rule
 * no proposal is ever applied, so nothing would ever train). With an active rule and an untrained
 * classifier the item stays `unresolved`: the rule's applied proposals train the classifier,
 * which then answers. Pure.
 */
export const storesNoAnswer = (
  rules: ReadonlyArray<{ readonly active: boolean }>,
  results: ReadonlyArray<{ readonly stage: string; readonly outcome: string; readonly reason: string | null }>
): boolean => {
  const classifier = results.find((r) => r.stage === ClassifierStage.NAME)
  if (classifier === undefined || classifier.outcome === "skipped") return true
  if (classifier.reason === "classifier.no_allowed_class") return true
  return classifier.reason === "classifier.untrained" && !rules.some((r) => r.active)
}

/** The body of a propose call. */
export const ProposeRequest = Schema.Struct({
  bank_transaction_ids: Schema.optional(
    Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))).pipe(Schema.maxItems(MAX_BATCH))
  )
})
/** Type of {@link ProposeRequest}. */
export type ProposeRequest = typeof ProposeRequest.Type

/** A corrected split as a person gives it (amount as a decimal in the bank's currency). */
export const CorrectionSplit = Schema.Struct({
  account_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)),
  amount: Money.DecimalInput,
  description: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500))))
})
/** Type of {@link CorrectionSplit}. */
export type CorrectionSplit = typeof CorrectionSplit.Type

/** What happened to one transaction of a propose call. */
export interface ProposeItem {
  readonly bank_transaction_id: string
  /** `proposed`, `auto_posted`, `unresolved` (no stage answered), `skipped` or `failed`. */
  readonly status: "proposed" | "auto_posted" | "unresolved" | "skipped" | "failed"
  /** The proposal with an answer (null when `unresolved`: there is nothing to apply as proposed). */
  readonly proposal_id: string | null
  /**
   * For an `unresolved` item: the open no-answer proposal of the transaction (no splits; a person
   * applies it with `{splits}`, see {@link storesNoAnswer}), or null when none is stored.
   */
  readonly no_answer_proposal_id: string | null
  readonly entry_id: string | null
  readonly splits: ReadonlyArray<{ readonly account_code: string; readonly amount: string }>
  readonly confidence: number | null
  readonly calibrated_probability: number | null
  readonly tier: number | null
  readonly rationale: string | null
  readonly questions: ReadonlyArray<string>
  readonly risk_reasons: ReadonlyArray<string>
  readonly not_auto_post_reasons: ReadonlyArray<string>
  readonly error: { readonly code: string; readonly message: string } | null
}

/** The result of a propose call. */
export interface ProposeResult {
  readonly items: ReadonlyArray<ProposeItem>
  readonly proposed: number
  readonly auto_posted: number
  readonly unresolved: number
  /** Transactions that already have a journal entry: nothing proposed. */
  readonly skipped: number
  readonly failed: number
  /** More unprocessed transactions wait beyond this call's {@link MAX_BATCH}. */
  readonly more: boolean
}

/** The result of an apply. */
export interface ApplyResult {
  readonly proposal_id: string
  /** The proposal that was applied: this one, or the correction that superseded it. */
  readonly applied_proposal_id: string
  readonly outcome: ReviewOutcome
  readonly entry_id: string | null
  readonly entry_no: number | null
  readonly already_applied: boolean
  readonly correction: {
    /** The bank transaction's currency (the splits' minor units are of it). */
    readonly currency: string
    readonly original_splits: ReadonlyArray<StoredSplit>
    readonly corrected_splits: ReadonlyArray<StoredSplit>
  } | null
  readonly learning: Record<string, unknown>
}

/** One item of a batch apply. */
export interface BatchItem {
  readonly id: string
  readonly status: "applied" | "failed"
  readonly result: ApplyResult | null
  readonly error: { readonly code: string; readonly message: string } | null
}

/** Any error of core's taxonomy. */
export type CompanionError = Proposals.AnyAirlockError

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

const notFound = (entity: string, id: string) =>
  new Errors.NotFound({ message: `${entity} ${id} not found`, details: { entity, id } })

const abs = (n: bigint) => (n < 0n ? -n : n)

const stored = (splits: ReadonlyArray<{ readonly account_code: string; readonly amount_minor: bigint }>) =>
  splits.map((s): StoredSplit => ({ account_code: s.account_code, amount_minor: s.amount_minor.toString() }))

const sameSplits = (a: ReadonlyArray<StoredSplit>, b: ReadonlyArray<StoredSplit>) => {
  const key = (xs: ReadonlyArray<StoredSplit>) => xs.map((s) => `${s.account_code}:${s.amount_minor}`).sort().join("|")
  return key(a) === key(b)
}

const errorOf = (e: unknown): { code: string; message: string } => {
  const x = e as { readonly code?: unknown; readonly message?: unknown }
  return {
    code: typeof x?.code === "string" ? x.code : "internal",
    message: typeof x?.message === "string" ? x.message : String(e)
  }
}

/** The system actor that auto-posts in a tenant. */
export const systemActor = (tenant: Ids.TenantId): Actor.Actor =>
  ({
    id: Ids.ActorId.make(SYSTEM_ACTOR_ID),
    tenant_id: tenant,
    kind: "system",
    name: "companion auto-post",
    role: SYSTEM_ACTOR_ROLE,
    active: true,
    created_at: 0
  }) as Actor.Actor

/** Builds the companion service over its dependencies. */
export const make = Effect.gen(function*() {
  const proposals = yield* Proposals.LedgerProposals
  const pipeline = yield* GovernedActions.GovernedActions
  const actions = yield* Action.ActionStore
  const bank = yield* BankTransaction.BankTransactionStore
  const accounts = yield* Chart.AccountStore
  const journal = yield* JournalStore.JournalStore
  const memory = yield* AgentMemory.AgentMemory
  const memoryStore = yield* AgentMemory.AgentMemoryStore
  const tenants = yield* Tenant.TenantStore
  const settingsStore = yield* AiSettings.AiSettingsStore
  const system = yield* SystemState.SystemStateStore
  const coreConfig = yield* CoreConfig.CoreConfig
  const rbac = yield* Rbac.Rbac
  const uow = yield* UnitOfWork.UnitOfWork
  const ids = yield* Ids.IdGenerator
  const ledgerConfig = yield* LedgerConfig.LedgerConfig
  const value = yield* ValueBreaker.ValueBreaker
  const velocity = yield* VelocityBreaker.VelocityBreaker
  const trust = yield* TrustBreaker.TrustBreaker
  const llmBudget = yield* Budgets.LlmBudget
  const policies = yield* KindPolicy.KindPolicies
  const approvals = yield* Approvals.Approvals
  const rules = yield* CompanionRuleStore
  const models = yield* CompanionModelStore
  const details = yield* CompanionProposalStore
  const chainStages = yield* Chain.ChainStages
  const llmStage = yield* Chain.LlmStageProvider
  // rule promotion is on when the host provides it (RulePromotion.layer under this layer)
  const promoter = yield* Effect.serviceOption(RulePromotion.RulePromotions)

  const exponentOf = (currency: string) =>
    Object.hasOwn(ledgerConfig.currencyExponents, currency) ? ledgerConfig.currencyExponents[currency]! : 2

  // -------------------------------------------------------------------------------------------
  // access, kill switch, settings

  const access = (tenant: Ids.TenantId, actor: Actor.Actor, permission: string) =>
    Effect.zipRight(TenantScope.requireTenant(rbac, actor, tenant), rbac.require(actor, permission))

  const loadSettings = (tenant: Ids.TenantId) =>
    Effect.map(settingsStore.get(tenant), Option.getOrElse(() => AiSettings.defaultSettings(tenant, 0, "system")))

  /** The three-layer kill switch: 403 `companion.disabled` naming the layer unless all allow. */
  const requireEnabled = (tenant: Ids.TenantId, settings: AiSettings.AiSettings) =>
    Effect.gen(function*() {
      const t = yield* Effect.flatMap(
        tenants.get(tenant),
        Option.match({ onNone: () => Effect.fail(notFound("tenant", tenant)), onSome: Effect.succeed })
      )
      const override = yield* system.get(SystemState.AI_GLOBAL_ENABLED_KEY)
      const global = KillSwitch.globalEnabledOf(
        coreConfig.aiGlobalEnabled,
        Option.isSome(override) ? override.value.value : undefined
      )
      const state = KillSwitch.evaluateKillSwitch(global, t, settings)
      if (!state.enabled) {
        return yield* new Errors.CompanionDisabled({ message: state.reason, details: { layer: state.layer } })
      }
    })

  // -------------------------------------------------------------------------------------------
  // models and calibration

  /**
   * Decoded classifier models by tenant, keyed by the stored row's version, time and example count.
   * Decoding (and encoding) a model through its schema costs far more than training it on one
   * review; models are immutable (`train` returns a new one), so a decoded one can be shared.
   */
  const modelCache = new Map<string, { readonly key: string; readonly model: Classifier.ClassifierModel }>()
  const modelKey = (v: ClassifierVersion) => `${v.version}|${v.created_at}|${v.examples}`
  const cacheModel = (tenant: Ids.TenantId, key: string, model: Classifier.ClassifierModel) => {
    modelCache.delete(tenant)
    if (modelCache.size >= MODEL_CACHE_TENANTS) modelCache.delete(modelCache.keys().next().value!)
    modelCache.set(tenant, { key, model })
  }

  const latestModel = (tenant: Ids.TenantId) =>
    Effect.map(models.latestClassifier(tenant), (v) =>
      Option.match(v, {
        onNone: () => null,
        onSome: (m) => {
          const key = modelKey(m)
          const cached = modelCache.get(tenant)
          if (cached !== undefined && cached.key === key) {
            cacheModel(tenant, key, cached.model)
            return cached.model
          }
          try {
            const model = Classifier.decode(m.model)
            cacheModel(tenant, key, model)
            return model
          } catch {
            return null
          }
        }
      }))

  /** The stored per-stage calibrators; null when none were fitted or the stored form is an older one. */
  const decodeCalibrator = (v: CalibrationVersion): Calibration.StageCalibrators | null => {
    if (v.calibrator === null) return null
    try {
      return Calibration.decodeStages(v.calibrator)
    } catch {
      return null
    }
  }

  const decodeCertificate = (v: CalibrationVersion): Certification.Certificate | null => {
    try {
      return Certification.decode(v.certificate)
    } catch {
      return null
    }
  }

  /** Refits the tenant's calibration and certificate from its reviewed history; stores a new version. */
  const refit = (tenant: Ids.TenantId, flow: CompanionSettings.Settings, previous: CalibrationVersion | null) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const since = now - Math.max(CALIBRATION_WINDOW_DAYS, CERTIFICATION_MAX_AGE_DAYS) * DAY_MS
      const all = yield* details.reviewed(tenant, { since, limit: 5000 })
      const reviewed = all.filter((d) => (d.reviewed_at ?? now) >= now - CALIBRATION_WINDOW_DAYS * DAY_MS)
      const correctOf = (d: ProposalDetail) => d.review_outcome === "applied"
      // one calibrator per deciding stage: the stages' raw scores are on different scales (Calibration.StageCalibrators)
      // a no-answer proposal (no deciding stage) has no score to calibrate
      const history = reviewed.filter((d) => d.deciding_stage !== null).map((d) => ({
        stage: d.deciding_stage ?? "unknown",
        score: d.confidence,
        correct: correctOf(d),
        at: d.reviewed_at ?? now
      }))
      const calibrator = Calibration.fitStages(history, { half_life_days: CALIBRATION_HALF_LIFE_DAYS, now })
      // the certificate uses the probabilities as they were proposed (out of sample), never refitted
      // ones, of the population that may auto-post: a cold-start vendor's proposal never does, nor one
      // asking a person a question, so their outcomes say nothing about what clears the threshold. Its
      // evidence reaches back up to 180 days where auto-posting has thinned the reviews out; the spot
      // checks are flagged for its drift test
      const eligible = (d: ProposalDetail) =>
        d.calibrated_probability !== null && !d.not_auto_post_reasons.includes(AutoPost.Reasons.coldStart) &&
        !d.not_auto_post_reasons.includes(AutoPost.Reasons.openQuestions)
      const toItem = (d: ProposalDetail) => ({
        p: d.calibrated_probability!,
        correct: correctOf(d),
        at: d.reviewed_at ?? now,
        spot_check: d.not_auto_post_reasons.includes(AutoPost.Reasons.spotCheck)
      })
      const scored = reviewed.filter(eligible).map(toItem)
      const certificate = Certification.certify(all.filter(eligible).map(toItem), {
        target_precision: flow.target_precision,
        delta: flow.certification_delta,
        now,
        min_items: certificationMinItems(flow.target_precision, flow.certification_delta),
        max_age_days: CERTIFICATION_MAX_AGE_DAYS
      })
      const ece = CalibrationMetrics.ece(scored, { bins: 10 })
      const version = new CalibrationVersion({
        tenant_id: tenant,
        version: (previous?.version ?? 0) + 1,
        calibrator: calibrator === null ? null : Calibration.encodeStages(calibrator),
        certificate: Certification.encode(certificate),
        metrics: {
          brier: scored.length === 0 ? null : CalibrationMetrics.brier(scored),
          ece: scored.length === 0 ? null : ece.ece,
          binning: "10 uniform bins over [0, 1]",
          bins: ece.bins,
          scored: scored.length
        },
        sample: reviewed.length,
        fitted_at: now
      })
      return yield* models.putCalibration(version).pipe(
        Effect.as(version),
        // another instance fitted the same version a moment ago: use the stored one
        Effect.catchIf(
          (e): e is Errors.Conflict => e._tag === "Conflict",
          () => Effect.map(models.latestCalibration(tenant), Option.getOrElse(() => version))
        )
      )
    })

  /** The tenant's current calibration, refitted when ten reviews are newer or its targets changed. */
  const calibrationFor = (tenant: Ids.TenantId, flow: CompanionSettings.Settings) =>
    Effect.gen(function*() {
      const latest = Option.getOrNull(yield* models.latestCalibration(tenant))
      if (latest !== null) {
        const cert = decodeCertificate(latest)
        const sameTargets = cert !== null && cert.target_precision === flow.target_precision &&
          cert.delta === flow.certification_delta
        const newer = yield* details.reviewed(tenant, { since: latest.fitted_at + 1, limit: REFIT_EVERY })
        // a calibrator stored in an older form (one pooled map) is refitted at once
        const current = latest.calibrator === null || decodeCalibrator(latest) !== null
        if (sameTargets && current && newer.length < REFIT_EVERY) return latest
      } else {
        const any = yield* details.reviewed(tenant, { since: 0, limit: 1 })
        if (any.length === 0) return null
      }
      return yield* refit(tenant, flow, latest)
    })

  // -------------------------------------------------------------------------------------------
  // propose

  /** Unposted bank transactions without an open proposal with an answer, oldest first, at most `MAX_BATCH`. */
  const unprocessed = (tenant: Ids.TenantId) =>
    Effect.gen(function*() {
      const open = new Set<string>()
      let before: string | undefined
      for (;;) {
        const page = yield* actions.list(tenant, { status: "proposed", kind: Proposals.KIND, before, limit: 500 })
        // an open no-answer proposal does not count: its transaction is tried again (a rule or the
        // classifier may answer now; if nothing does, the open one stays as it is)
        for (const a of page) if (!isNoAnswer(a)) open.add(a.subject)
        if (page.length < 500) break
        before = page.at(-1)!.id
      }
      const out: Array<BankTransaction.BankTransaction> = []
      let after: { date: string; id: string } | undefined
      for (;;) {
        const page = yield* bank.list(tenant, { unposted: true, after, limit: 500 })
        for (const t of page) {
          if (open.has(Proposals.subjectOf(t.id))) continue
          if (out.length === MAX_BATCH) return { txns: out, more: true }
          out.push(t)
        }
        if (page.length < 500) return { txns: out, more: false }
        after = { date: page.at(-1)!.date, id: page.at(-1)!.id }
      }
    })

  const failed = (txnId: string, e: unknown): ProposeItem => ({
    bank_transaction_id: txnId,
    status: "failed",
    proposal_id: null,
    no_answer_proposal_id: null,
    entry_id: null,
    splits: [],
    confidence: null,
    calibrated_probability: null,
    tier: null,
    rationale: null,
    questions: [],
    risk_reasons: [],
    not_auto_post_reasons: [],
    error: errorOf(e)
  })

  /** What one propose call reads once for all its transactions. */
  interface Batch {
    readonly tenant: Ids.TenantId
    readonly actor: Actor.Actor
    readonly settings: AiSettings.AiSettings
    readonly flow: CompanionSettings.Settings
    readonly chart: ReadonlyArray<Chart.Account>
    readonly rules: ReadonlyArray<CompanionRule>
    readonly model: Classifier.ClassifierModel | null
    readonly calibration: CalibrationVersion | null
    readonly calibrator: Calibration.StageCalibrators | null
    readonly certificate: Certification.Certificate | null
    readonly llmFallback: Budgets.LlmBudgetStatus
    /** The tenant's feature flags (`TenantFeatures`). */
    readonly features: TenantFeatures.Features
    readonly now: number
  }

  /** The transaction's open no-answer proposal (no splits), if any. */
  const openNoAnswer = (tenant: Ids.TenantId, txnId: string) =>
    Effect.map(
      actions.list(tenant, {
        status: "proposed",
        kind: Proposals.KIND,
        subject: Proposals.subjectOf(txnId),
        limit: 10
      }),
      (open) => open.find(isNoAnswer)?.id ?? null
    )

  /** Was an earlier proposal of this transaction held for a spot check? */
  const heldForSpotCheck = (tenant: Ids.TenantId, txnId: string, current: string) =>
    Effect.gen(function*() {
      const earlier = yield* actions.list(tenant, {
        kind: Proposals.KIND,
        subject: Proposals.subjectOf(txnId),
        limit: 50
      })
      for (const a of earlier) {
        if (a.id === current) continue
        const d = yield* details.get(tenant, a.id)
        if (Option.isSome(d) && d.value.not_auto_post_reasons.includes(AutoPost.Reasons.spotCheck)) return true
      }
      return false
    })

  const proposeOne = (b: Batch, txn: BankTransaction.BankTransaction) =>
    Effect.gen(function*() {
      const live = yield* journal.liveForBankTransaction(b.tenant, txn.id)
      if (live.length > 0) {
        return {
          ...failed(txn.id, { code: "bank_transaction.already_posted", message: "Already has a journal entry" }),
          status: "skipped",
          entry_id: live[0]!.id
        } satisfies ProposeItem
      }
      const vendor = vendorKey(txn.description, txn.payee)
      const facts = yield* VendorMemoryStage.read(memoryStore, b.tenant, vendor, b.now)
      const longHistory = yield* details.vendorHistory(b.tenant, vendor, DRIFT_HISTORY)
      const history = longHistory.slice(0, 20)
      const drift = Drift.empty(b.now)
      for (const h of longHistory) {
        const o = Drift.observe(h)
        if (o !== null) Drift.add(drift, o)
      }
      const stages = chainStages.stages({
        rules: RulesStage.make(b.rules, exponentOf),
        vendor_memory: VendorMemoryStage.make(facts, b.flow.coldstart_min_labels),
        classifier: TenantFeatures.gate(b.features, "ml_classifier", ClassifierStage.make(b.model)),
        llm: llmStage.stage && TenantFeatures.gate(b.features, "llm_fallback", llmStage.stage)
      })
      const input = { tenant_id: b.tenant, transaction: txn, accounts: b.chart, vendor_key: vendor }
      // the model stage judges "unsure" on the calibrated probability when the stage has a calibrator
      const calibrate = Calibration.stageCalibration(b.calibrator)
      const results = yield* Chain.run(stages, { ...input, calibrate })
      const combined = Chain.combine(results, input, {
        vendor_history: history.map((h) => ({
          amount_minor: BigInt(h.amount_minor),
          splits: h.final_splits?.length ?? 1
        })),
        drift_questions: b.features.drift_detection
          ? Drift.vendorFindings(drift, vendor).map((f) => Drift.question(f, txn.currency))
          : [],
        rejected: VendorMemoryStage.rejectedOf(facts, VendorMemoryStage.directionOf(txn.amount_minor))
      })
      const hasAnswer = combined.splits.length > 0
      if (!hasAnswer) {
        // still no answer: an open no-answer proposal stays as it is (no new one supersedes it)
        const open = yield* openNoAnswer(b.tenant, txn.id)
        if (open !== null || !storesNoAnswer(b.rules, results)) {
          return {
            ...failed(txn.id, null),
            status: "unresolved",
            no_answer_proposal_id: open,
            error: null,
            confidence: 0,
            rationale: combined.rationale,
            questions: open === null ? combined.questions : [NO_ANSWER_QUESTION, ...combined.questions].slice(0, 20)
          } satisfies ProposeItem
        }
      }
      const questions = hasAnswer ? combined.questions : [NO_ANSWER_QUESTION, ...combined.questions].slice(0, 20)
      const exponent = exponentOf(txn.currency)
      const assessment = value.assess(b.settings, { minor: abs(txn.amount_minor), scale: exponent })
      // a person rejected the account the chain still ends on: ask (the chain did), never auto-post
      const rejectedAgain = combined.rejected.length > 0
      const cold = VendorMemoryStage.coldStart(facts, b.flow.coldstart_min_labels) || rejectedAgain
      const p = b.calibrator === null || !hasAnswer
        ? null
        : Calibration.calibrateStage(b.calibrator, combined.deciding_stage, combined.confidence)
      const decidedClean = results.some((r) => r.outcome === "decided")
      const tier = value.raiseTier(tierOf(hasAnswer, decidedClean && !rejectedAgain, questions.length), assessment)
      const risk = [
        ...assessment.risk_reasons,
        ...(cold ? ["vendor_cold_start"] : []),
        ...(rejectedAgain ? ["vendor_rejected"] : []),
        ...(hasAnswer ? [] : [RiskReasons.noAnswer]),
        ...(questions.length > 0 ? [RiskReasons.openQuestions] : [])
      ]
      const splits = combined.splits.map((s) => ({
        account_code: s.account_code,
        amount: Money.formatMinor(s.amount_minor, exponent)
      }))
      return yield* uow.transaction(Effect.gen(function*() {
        const proposed = yield* proposals.propose(b.tenant, b.actor, {
          bank_transaction_id: txn.id,
          splits,
          confidence: combined.confidence,
          calibrated_probability: p,
          rationale: combined.rationale,
          questions,
          risk_reasons: risk,
          tier
        })
        const action = proposed.action
        const policy = policies.resolve({ name: Proposals.KIND } as never)
        const decoded = Schema.decodeUnknownOption(Proposals.ProposalPayload)(action.payload)
        const risk_score = Option.isSome(decoded) ? policy.riskScore(decoded.value) : undefined
        const approvalRequired = risk_score === undefined ? false : yield* Effect.map(
          approvals.check({
            tenant_id: b.tenant,
            subject: action.subject,
            plan_hash: action.payload_hash,
            risk_score,
            requested_by: action.proposed_by,
            settings: b.settings
          }),
          (c) => c.required && !c.approved
        )
        const sum = combined.splits.reduce((s, x) => s + x.amount_minor, 0n)
        const gateInput: AutoPost.AutoPostInput = {
          ai_mode: b.settings.ai_mode,
          autopost_enabled: b.flow.autopost_enabled,
          autopost_threshold: b.flow.autopost_threshold,
          has_answer: hasAnswer,
          cold_start: cold,
          open_questions: questions,
          calibrated_probability: p,
          certificate: b.certificate,
          balanced: hasAnswer && sum === abs(txn.amount_minor),
          llm_fallback_active: b.llmFallback.fallback_active,
          value_breaker_tripped: assessment.tripped,
          approval_required: approvalRequired,
          review_reasons: action.review_reasons.filter((r) => r !== ValueBreaker.REASON),
          // a stable draw (tenant, transaction, certificate): re-proposing does not draw again
          spot_check: Certification.spotCheck(
            AutoPost.spotCheckKey(b.tenant, txn.id, b.certificate?.version ?? null),
            b.flow.spot_check_rate
          )
        }
        let decision = AutoPost.decide(gateInput)
        // a transaction once held for a spot check stays held, whatever certificate is in force now
        if (decision.eligible && b.flow.spot_check_rate > 0 && (yield* heldForSpotCheck(b.tenant, txn.id, action.id))) {
          decision = AutoPost.decide({ ...gateInput, spot_check: true })
        }
        let reasons = decision.reasons
        let applied: GovernedActions.ApplyResult | null = null
        let applyError: { code: string; message: string } | null = null
        if (decision.eligible) {
          const r = yield* Effect.either(pipeline.apply(b.tenant, action.id, systemActor(b.tenant)))
          if (Either.isRight(r)) applied = r.right
          else {
            if (r.left._tag === "StorageError") return yield* Effect.fail(r.left)
            applyError = errorOf(r.left)
            reasons = [AutoPost.Reasons.applyFailed]
          }
        }
        const outcome = applied === null ? null : (applied.result as Proposals.ApplyOutcome)
        const detail = new ProposalDetail({
          tenant_id: b.tenant,
          proposal_id: action.id,
          bank_transaction_id: txn.id,
          vendor_key: vendor,
          amount_minor: txn.amount_minor.toString(),
          direction: txn.amount_minor < 0n ? "outflow" : "inflow",
          splits: stored(combined.splits),
          stages: results.map(Chain.resultJson),
          deciding_stage: combined.deciding_stage,
          confidence: combined.confidence,
          calibrated_probability: p,
          calibration_version: b.calibration?.version ?? null,
          classifier_version: b.model?.version ?? null,
          autopost: {
            eligible: decision.eligible,
            checks: decision.checks,
            threshold: decision.threshold,
            certified_threshold: decision.certified_threshold,
            certificate_version: b.certificate?.version ?? null,
            spot_check_rate: b.flow.spot_check_rate,
            llm_budget: {
              fallback_active: b.llmFallback.fallback_active,
              fallback_reason: b.llmFallback.fallback_reason
            },
            value_breaker: {
              tripped: assessment.tripped,
              amount: assessment.amount,
              threshold: assessment.threshold,
              min_tier: assessment.min_tier
            },
            approval_required: approvalRequired,
            apply_error: applyError,
            features: b.features
          },
          not_auto_post_reasons: reasons,
          corrects_proposal_id: null,
          created_at: b.now,
          created_by: b.actor.id,
          review_outcome: applied === null ? null : "auto_posted",
          reviewed_by: applied === null ? null : SYSTEM_ACTOR_ID,
          reviewed_at: applied === null ? null : b.now,
          review_reason: null,
          final_splits: applied === null ? null : stored(combined.splits),
          applied_proposal_id: applied === null ? null : action.id,
          entry_id: outcome?.entry_id ?? null,
          learning: null,
          version: 1
        })
        yield* details.insert(detail)
        return {
          bank_transaction_id: txn.id,
          status: applied !== null ? "auto_posted" : hasAnswer ? "proposed" : "unresolved",
          proposal_id: hasAnswer ? action.id : null,
          no_answer_proposal_id: hasAnswer ? null : action.id,
          entry_id: outcome?.entry_id ?? null,
          splits,
          confidence: combined.confidence,
          calibrated_probability: p,
          tier,
          rationale: combined.rationale,
          questions,
          risk_reasons: risk,
          not_auto_post_reasons: reasons,
          error: null
        } satisfies ProposeItem
      }))
    })

  /**
   * Proposes for the given transactions, or for every unprocessed one (unposted, without an open
   * proposal; at most {@link MAX_BATCH} a call). Needs `companion.propose`; fails as a whole with
   * 403 `companion.disabled` when a kill-switch layer is off and `breaker.velocity` when the
   * velocity breaker is open or this request trips it. The request is one AI command for the
   * breaker however many transactions it covers (counted here; the items' velocity gate only
   * checks), so "propose all" does not trip it while an agent repeating requests does. Each
   * transaction is all-or-nothing; its refusal (the breaker opened by other requests mid-batch,
   * an unknown id) is its item's `error`.
   */
  const propose = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    input: unknown
  ): Effect.Effect<ProposeResult, CompanionError> =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.propose")
      const req = yield* Schema.decodeUnknown(ProposeRequest)(input ?? {}).pipe(
        Effect.mapError((e) => invalid("validation.schema", e.message))
      )
      const settings = yield* loadSettings(tenant)
      yield* requireEnabled(tenant, settings)
      yield* velocity.record(tenant, settings)
      const flow = CompanionSettings.fromAiSettings(settings)
      const features = yield* TenantFeatures.current(settings)
      // calibration off: no calibrated probability, so nothing certifies and nothing auto-posts
      const calibration = features.calibration ? yield* calibrationFor(tenant, flow) : null
      const batch: Batch = {
        tenant,
        actor,
        settings,
        flow,
        chart: yield* accounts.list(tenant),
        rules: yield* rules.list(tenant),
        model: yield* latestModel(tenant),
        calibration,
        calibrator: calibration === null ? null : decodeCalibrator(calibration),
        certificate: calibration === null ? null : decodeCertificate(calibration),
        llmFallback: yield* llmBudget.status(tenant, settings),
        features,
        now: yield* Clock.currentTimeMillis
      }
      let txns: Array<BankTransaction.BankTransaction | { readonly missing: string }> = []
      let more = false
      if (req.bank_transaction_ids !== undefined) {
        for (const id of new Set(req.bank_transaction_ids)) {
          const t = yield* bank.get(tenant, id)
          txns.push(Option.isSome(t) ? t.value : { missing: id })
        }
      } else {
        const found = yield* unprocessed(tenant)
        txns = [...found.txns]
        more = found.more
      }
      const items: Array<ProposeItem> = []
      for (const t of txns) {
        if ("missing" in t) {
          items.push(failed(t.missing, notFound("bank_transaction", t.missing)))
          continue
        }
        const r = yield* Effect.either(
          proposeOne(batch, t).pipe(Effect.provideService(VelocityBreaker.CommandCounted, true))
        )
        if (Either.isRight(r)) {
          items.push(r.right)
          if (r.right.status === "auto_posted") yield* Metric.increment(AutoPost.autoPostsTotal)
        } else if (r.left._tag === "StorageError") return yield* Effect.fail(r.left)
        else items.push(failed(t.id, r.left))
      }
      const count = (s: ProposeItem["status"]) => items.filter((i) => i.status === s).length
      return {
        items,
        proposed: count("proposed"),
        auto_posted: count("auto_posted"),
        unresolved: count("unresolved"),
        skipped: count("skipped"),
        failed: count("failed"),
        more
      }
    })

  // -------------------------------------------------------------------------------------------
  // learning

  /** Teaches memory and the classifier from a person's booking; never fails the review. */
  const learn = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    txn: BankTransaction.BankTransaction,
    splits: ReadonlyArray<ProposedSplit>,
    sourceRef: string,
    corrected: boolean
  ) =>
    Effect.gen(function*() {
      const out: Record<string, unknown> = {}
      if (actor.kind !== "user") return { skipped: "not a person's review" }
      const vendor = vendorKey(txn.description, txn.payee)
      const main = ClassifierStage.exampleOf(txn, splits, corrected ? 2 : 1)
      if (main !== null) {
        const written = yield* Effect.either(
          VendorMemoryStage.learnLabel(memory, tenant, actor, vendor, main.account_code, sourceRef)
        )
        out.memory = Either.isRight(written)
          ? {
            outcome: written.right.outcome,
            uid: written.right.item.uid,
            existing_uid: written.right.existing?.uid ?? null
          }
          : { error: errorOf(written.left) }
        if (!(yield* TenantFeatures.current(yield* loadSettings(tenant))).ml_classifier) {
          out.classifier = { skipped: TenantFeatures.Reasons.disabled, feature: "ml_classifier" }
        } else {
          const trained = yield* Effect.either(trainClassifier(tenant, main))
          out.classifier = Either.isRight(trained) ? { version: trained.right } : { error: errorOf(trained.left) }
        }
      }
      return out
    })

  /**
   * After a person's label is recorded: lets the promoter propose (or supersede) the vendor's
   * rule promotion; never fails the review (its failure is reported in the result's learning).
   */
  const considerPromotion = (tenant: Ids.TenantId, actor: Actor.Actor, txn: BankTransaction.BankTransaction) =>
    Option.isNone(promoter) || actor.kind !== "user"
      ? Effect.succeed<Record<string, unknown>>({})
      : Effect.map(
        Effect.either(
          promoter.value.consider(tenant, actor, vendorKey(txn.description, txn.payee), txn.description)
        ),
        (r): Record<string, unknown> => ({ promotion: Either.isRight(r) ? r.right : { error: errorOf(r.left) } })
      )

  const trainClassifier = (tenant: Ids.TenantId, example: Classifier.TrainingExample) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = (yield* latestModel(tenant)) ?? Classifier.empty()
        const next = Classifier.train(current, [example])
        // the model's encoded form is the model itself (plain JSON data): no schema pass
        const row = new ClassifierVersion({
          tenant_id: tenant,
          version: next.version,
          model: next,
          examples: next.examples,
          created_at: yield* Clock.currentTimeMillis
        })
        const put = yield* Effect.either(models.putClassifier(row))
        if (Either.isRight(put)) {
          cacheModel(tenant, modelKey(row), next)
          return next.version
        }
        if (put.left._tag !== "Conflict") return yield* Effect.fail(put.left)
      }
      return yield* new Errors.Conflict({ code: "conflict.stale", message: "The classifier changed concurrently" })
    })

  // -------------------------------------------------------------------------------------------
  // review

  const loadProposal = (tenant: Ids.TenantId, id: string) =>
    Effect.flatMap(actions.get(tenant, id as Ids.ActionId), (a) =>
      Option.isSome(a) && a.value.kind === Proposals.KIND
        ? Effect.succeed(a.value)
        : Effect.fail(notFound("proposal", id)))

  const loadTxn = (tenant: Ids.TenantId, id: string) =>
    Effect.flatMap(
      bank.get(tenant, id),
      Option.match({ onNone: () => Effect.fail(notFound("bank_transaction", id)), onSome: Effect.succeed })
    )

  const payloadOf = (a: Action.ActionRecord) =>
    Schema.decodeUnknown(Proposals.ProposalPayload)(a.payload).pipe(
      Effect.mapError((e) => invalid("validation.schema", e.message))
    )

  const recordReview = (
    tenant: Ids.TenantId,
    id: string,
    patch: Partial<ProposalDetail>
  ) =>
    Effect.flatMap(details.get(tenant, id), (d) =>
      Option.isNone(d)
        ? Effect.void
        : details.update(new ProposalDetail({ ...d.value, ...patch, version: d.value.version + 1 }), d.value.version))

  /**
   * Applies a proposal on a person's (or the system's) request, optionally with corrected splits.
   * A correction is itself proposed by the person (superseding the original) and applied, in one
   * transaction: either both happen or neither. Gates: the pipeline's (kill switch, RBAC
   * `companion.actions`, mode — `shadow_only` refuses naming the mode —, period lock,
   * validation, value breaker, approval), exactly one canonical entry.
   */
  const apply = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    id: string,
    input: { readonly splits?: ReadonlyArray<CorrectionSplit> | undefined } = {}
  ): Effect.Effect<ApplyResult, CompanionError> =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.actions")
      const action = yield* loadProposal(tenant, id)
      const payload = yield* payloadOf(action)
      const txn = yield* loadTxn(tenant, payload.bank_transaction_id)
      const original = stored(payload.splits)
      const exponent = exponentOf(txn.currency)
      let corrected: ReadonlyArray<StoredSplit> | null = null
      if (input.splits !== undefined) {
        const parsed: Array<StoredSplit> = []
        for (const [i, s] of input.splits.entries()) {
          const minor = yield* Money.parseAmount(s.amount, txn.currency, {
            field: `splits[${i + 1}].amount`,
            table: ledgerConfig.currencyExponents
          })
          parsed.push({ account_code: s.account_code, amount_minor: minor.toString() })
        }
        if (parsed.length === 0) return yield* invalid("validation.schema", "splits must not be empty")
        if (!sameSplits(parsed, original)) corrected = parsed
      }
      if (corrected === null && original.length === 0 && action.status === "proposed") {
        return yield* invalid(
          "validation.splits_required",
          `Proposal ${action.id} has no suggestion: apply it with the splits a person chooses`,
          { proposal_id: action.id, status: action.status }
        )
      }
      if (corrected === null) {
        const r = yield* pipeline.apply(tenant, action.id, actor)
        const outcome = r.result as Proposals.ApplyOutcome | null
        const reviewOutcome: ReviewOutcome = actor.kind === "system" ? "auto_posted" : "applied"
        let learning: Record<string, unknown> = {}
        if (!r.already_applied) {
          const now = yield* Clock.currentTimeMillis
          learning = yield* learn(tenant, actor, txn, payload.splits, `proposal:${action.id}`, false)
          yield* recordReview(tenant, action.id, {
            review_outcome: reviewOutcome,
            reviewed_by: actor.id,
            reviewed_at: now,
            final_splits: original,
            applied_proposal_id: action.id,
            entry_id: outcome?.entry_id ?? null,
            learning
          })
          learning = { ...learning, ...(yield* considerPromotion(tenant, actor, txn)) }
        }
        return {
          proposal_id: action.id,
          applied_proposal_id: action.id,
          outcome: reviewOutcome,
          entry_id: outcome?.entry_id ?? null,
          entry_no: outcome?.entry_no ?? null,
          already_applied: r.already_applied,
          correction: null,
          learning
        } satisfies ApplyResult
      }
      // a correction: refused up front where the pipeline would refuse it, so nothing is proposed
      if (action.status !== "proposed") {
        return yield* new Errors.Conflict({
          code: "proposal.closed",
          message: `Action is ${action.status}`,
          details: { status: action.status }
        })
      }
      const settings = yield* loadSettings(tenant)
      yield* requireEnabled(tenant, settings)
      if (!KillSwitch.modeAllowsApply(settings.ai_mode, actor.kind === "user" ? "human" : "auto")) {
        return yield* new Errors.Forbidden({
          code: "mode.forbidden",
          message: settings.ai_mode === "shadow_only"
            ? "Apply is blocked in shadow_only mode"
            : `Mode ${settings.ai_mode} does not allow this apply`,
          details: { ai_mode: settings.ai_mode }
        })
      }
      const fixed = corrected
      const done = yield* uow.transaction(Effect.gen(function*() {
        // a person's correction is not an AI command: the velocity gate only checks the breaker
        const correction = yield* Effect.provideService(
          proposals.propose(tenant, actor, {
            bank_transaction_id: txn.id,
            splits: fixed.map((s) => ({
              account_code: s.account_code,
              amount: Money.formatMinor(BigInt(s.amount_minor), exponent)
            })),
            confidence: 1,
            calibrated_probability: null,
            rationale: `Correction by ${actor.name} (${actor.id}) of proposal ${action.id}`,
            questions: [],
            risk_reasons: [...payload.risk_reasons],
            tier: payload.tier
          }),
          VelocityBreaker.CommandCounted,
          true
        )
        const applied = yield* pipeline.apply(tenant, correction.action.id, actor)
        const now = yield* Clock.currentTimeMillis
        const outcome = applied.result as Proposals.ApplyOutcome
        const original_detail = Option.getOrNull(yield* details.get(tenant, action.id))
        yield* details.insert(
          new ProposalDetail({
            tenant_id: tenant,
            proposal_id: correction.action.id,
            bank_transaction_id: txn.id,
            vendor_key: original_detail?.vendor_key ?? vendorKey(txn.description, txn.payee),
            amount_minor: txn.amount_minor.toString(),
            direction: txn.amount_minor < 0n ? "outflow" : "inflow",
            splits: fixed,
            stages: [],
            deciding_stage: null,
            confidence: 1,
            calibrated_probability: null,
            calibration_version: null,
            classifier_version: null,
            autopost: null,
            not_auto_post_reasons: [],
            corrects_proposal_id: action.id,
            created_at: now,
            created_by: actor.id,
            review_outcome: "applied",
            reviewed_by: actor.id,
            reviewed_at: now,
            review_reason: null,
            final_splits: fixed,
            applied_proposal_id: correction.action.id,
            entry_id: outcome.entry_id,
            learning: null,
            version: 1
          })
        )
        return { correction: correction.action, outcome, now }
      }))
      const learning = yield* learn(
        tenant,
        actor,
        txn,
        fixed.map((s) => ({ account_code: s.account_code, amount_minor: BigInt(s.amount_minor) })),
        `proposal:${done.correction.id}`,
        true
      )
      yield* recordReview(tenant, action.id, {
        review_outcome: "corrected",
        reviewed_by: actor.id,
        reviewed_at: done.now,
        final_splits: fixed,
        applied_proposal_id: done.correction.id,
        entry_id: done.outcome.entry_id,
        learning
      })
      const promotion = yield* considerPromotion(tenant, actor, txn)
      return {
        proposal_id: action.id,
        applied_proposal_id: done.correction.id,
        outcome: "corrected",
        entry_id: done.outcome.entry_id,
        entry_no: done.outcome.entry_no,
        already_applied: false,
        correction: { currency: txn.currency, original_splits: original, corrected_splits: fixed },
        learning: { ...learning, ...promotion }
      } satisfies ApplyResult
    })

  /** Applies several proposals in `drafts` (or the higher `autopilot_limited`); each item all-or-nothing, results per item. */
  const applyBatch = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    ids: ReadonlyArray<string>
  ): Effect.Effect<ReadonlyArray<BatchItem>, CompanionError> =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.actions")
      const settings = yield* loadSettings(tenant)
      if (settings.ai_mode !== "drafts" && settings.ai_mode !== "autopilot_limited") {
        return yield* new Errors.Forbidden({
          code: "mode.forbidden",
          message: `Batch apply needs drafts mode or higher; the tenant is in ${settings.ai_mode}`,
          details: { ai_mode: settings.ai_mode }
        })
      }
      const out: Array<BatchItem> = []
      for (const id of ids) {
        const r = yield* Effect.either(apply(tenant, actor, id))
        if (Either.isRight(r)) out.push({ id, status: "applied", result: r.right, error: null })
        else if (r.left._tag === "StorageError") return yield* Effect.fail(r.left)
        else out.push({ id, status: "failed", result: null, error: errorOf(r.left) })
      }
      return out
    })

  /**
   * Rejects a proposal with a reason (recorded; counts toward the trust breaker, which is
   * evaluated at once; teaches vendor memory that the account was wrong for the vendor).
   */
  const reject = (tenant: Ids.TenantId, actor: Actor.Actor, id: string, reason: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.actions")
      if (reason.trim().length === 0) return yield* invalid("validation.schema", "A rejection needs a reason")
      const action = yield* loadProposal(tenant, id)
      const wasOpen = action.status === "proposed"
      const closed = yield* pipeline.reject(tenant, action.id, actor, reason)
      let learning: Record<string, unknown> = {}
      if (wasOpen) {
        const payload = yield* payloadOf(action)
        const txn = yield* loadTxn(tenant, payload.bank_transaction_id)
        const main = ClassifierStage.exampleOf(txn, payload.splits)
        if (actor.kind === "user" && main !== null) {
          const vendor = vendorKey(txn.description, txn.payee)
          const sourceRef = `proposal:${action.id}`
          // the rejection fact and the note with its reason, together
          const w = yield* Effect.either(uow.transaction(Effect.all([
            VendorMemoryStage.learnRejection(memory, tenant, actor, vendor, main.account_code, sourceRef),
            VendorMemoryStage.learnRejectionReason(
              memory,
              tenant,
              actor,
              vendor,
              main.account_code,
              VendorMemoryStage.directionOf(txn.amount_minor),
              reason,
              sourceRef
            )
          ])))
          learning = Either.isRight(w)
            ? { memory: { outcome: w.right[0].outcome, uid: w.right[0].item.uid, reason_uid: w.right[1].item.uid } }
            : { memory: { error: errorOf(w.left) } }
        }
        yield* recordReview(tenant, action.id, {
          review_outcome: "rejected",
          reviewed_by: actor.id,
          reviewed_at: yield* Clock.currentTimeMillis,
          review_reason: reason,
          learning
        })
      }
      const reading = yield* Effect.either(trust.evaluate(tenant))
      return {
        proposal: closed,
        learning,
        trust: Either.isRight(reading)
          ? {
            rejection_rate: reading.right.rejection_rate,
            sample: reading.right.sample,
            tripped: reading.right.tripped,
            downgraded: reading.right.downgraded
          }
          : null
      }
    })

  /** Wipes the tenant's ledger proposals of one status (`companion.shadow.wipe`); canonical data untouched. */
  const wipe = (tenant: Ids.TenantId, actor: Actor.Actor, status: Action.ActionStatus) =>
    Effect.zipRight(
      TenantScope.requireTenant(rbac, actor, tenant),
      pipeline.wipe(tenant, actor, { status, kind: Proposals.KIND })
    )

  // -------------------------------------------------------------------------------------------
  // rules

  const checkAccounts = (tenant: Ids.TenantId, codes: ReadonlyArray<string>) =>
    Effect.flatMap(accounts.getMany(tenant, codes), (found) => {
      const bad = codes.filter((c) => !found.get(c)?.active)
      return bad.length === 0
        ? Effect.void
        : Effect.fail(
          invalid("validation.rule", "A rule may only book to active accounts of the chart", { accounts: bad })
        )
    })

  const decodeRule = (input: unknown) =>
    Effect.flatMap(
      Schema.decodeUnknown(RulesStage.RuleInput, { onExcessProperty: "error" })(input).pipe(
        Effect.mapError((e) => invalid("validation.schema", e.message))
      ),
      (req) => Effect.map(RulesStage.validate(req), (v) => ({ req, ...v }))
    )

  /** The tenant's rules by priority (`companion.read`). */
  const listRules = (tenant: Ids.TenantId, actor: Actor.Actor) =>
    Effect.zipRight(access(tenant, actor, "companion.read"), rules.list(tenant))

  /** Creates a rule (`companion.settings.manage`). */
  const createRule = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.settings.manage")
      const { req, match, target } = yield* decodeRule(input)
      yield* checkAccounts(
        tenant,
        target.account_code !== null ? [target.account_code] : target.splits.map((s) => s.account_code)
      )
      const now = yield* Clock.currentTimeMillis
      const rule = new CompanionRule({
        id: yield* ids.next("rul"),
        tenant_id: tenant,
        name: req.name,
        priority: req.priority,
        active: req.active,
        match,
        target,
        created_at: now,
        created_by: actor.id,
        updated_at: now,
        updated_by: actor.id,
        version: 1
      })
      yield* rules.insert(rule)
      return rule
    })

  /** Replaces a rule (`companion.settings.manage`). */
  const updateRule = (tenant: Ids.TenantId, actor: Actor.Actor, id: string, input: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.settings.manage")
      const current = yield* Effect.flatMap(
        rules.get(tenant, id),
        Option.match({ onNone: () => Effect.fail(notFound("rule", id)), onSome: Effect.succeed })
      )
      const { req, match, target } = yield* decodeRule(input)
      yield* checkAccounts(
        tenant,
        target.account_code !== null ? [target.account_code] : target.splits.map((s) => s.account_code)
      )
      const rule = new CompanionRule({
        ...current,
        name: req.name,
        priority: req.priority,
        active: req.active,
        match,
        target,
        updated_at: yield* Clock.currentTimeMillis,
        updated_by: actor.id,
        version: current.version + 1
      })
      yield* rules.update(rule, current.version)
      return rule
    })

  /** Deletes a rule (`companion.settings.manage`). */
  const deleteRule = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.settings.manage")
      if (!(yield* rules.remove(tenant, id))) return yield* Effect.fail(notFound("rule", id))
    })

  // -------------------------------------------------------------------------------------------
  // reads

  /** Proposals by status, newest first, each with its bank transaction (`companion.read`). */
  const list = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: { readonly status?: Action.ActionStatus; readonly before?: string; readonly limit?: number }
  ) =>
    Effect.gen(function*() {
      const limit = Math.min(Math.max(query.limit ?? 50, 1), 200)
      const page = yield* proposals.list(tenant, actor, { ...query, limit })
      const items: Array<{ proposal: Action.ActionRecord; bank_transaction: BankTransaction.BankTransaction | null }> =
        []
      for (const p of page) {
        const bankId = (p.payload as { readonly bank_transaction_id?: string }).bank_transaction_id
        items.push({
          proposal: p,
          bank_transaction: bankId === undefined ? null : Option.getOrNull(yield* bank.get(tenant, bankId))
        })
      }
      return { items, next_cursor: page.length === limit ? page.at(-1)!.id : null }
    })

  /** One proposal with its bank transaction and the companion's details (`companion.read`). */
  const shadowEvent = (tenant: Ids.TenantId, actor: Actor.Actor, id: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.read")
      const proposal = yield* loadProposal(tenant, id)
      const bankId = (proposal.payload as { readonly bank_transaction_id?: string }).bank_transaction_id
      return {
        proposal,
        bank_transaction: bankId === undefined ? null : Option.getOrNull(yield* bank.get(tenant, bankId)),
        detail: Option.getOrNull(yield* details.get(tenant, proposal.id))
      }
    })

  /** Proposals not auto-posted since `since`, counted per reason code (`companion.read`). */
  const notAutoPostCounts = (tenant: Ids.TenantId, actor: Actor.Actor, since: number) =>
    Effect.zipRight(
      access(tenant, actor, "companion.read"),
      Effect.map(details.reasonCounts(tenant, since), (rows: ReadonlyArray<ReasonCount>) =>
        Object.fromEntries(rows.map((r) => [r.reason, r.count])) as Record<string, number>)
    )

  /** Refits the tenant's calibration now (`companion.settings.manage`). */
  const recalibrate = (tenant: Ids.TenantId, actor: Actor.Actor) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "companion.settings.manage")
      const flow = CompanionSettings.fromAiSettings(yield* loadSettings(tenant))
      return yield* refit(tenant, flow, Option.getOrNull(yield* models.latestCalibration(tenant)))
    })

  return {
    propose,
    apply,
    applyBatch,
    reject,
    wipe,
    listRules,
    createRule,
    updateRule,
    deleteRule,
    list,
    shadowEvent,
    notAutoPostCounts,
    recalibrate,
    calibration: (tenant: Ids.TenantId) => models.latestCalibration(tenant),
    /** The tenant's latest calibration (Brier, ECE, bins, certificate), null before any (`companion.read`). */
    calibrationReport: (tenant: Ids.TenantId, actor: Actor.Actor) =>
      Effect.zipRight(
        access(tenant, actor, "companion.read"),
        Effect.map(models.latestCalibration(tenant), Option.getOrNull)
      )
  } as const
})

/** The companion's proposal flow. */
export class Companion extends Effect.Service<Companion>()("@airlock/companion/Companion", { effect: make }) {}

/** The value breaker's amount for ledger proposals: the splits' total (scale 2; see docs/companion.md). */
export const proposalAmount = (payload: unknown): KindPolicy.ScaledAmount | undefined => {
  const p = payload as Proposals.ProposalPayload
  if (!Array.isArray(p?.splits)) return undefined
  let minor = 0n
  for (const s of p.splits) if (typeof s.amount_minor === "bigint") minor += s.amount_minor
  return { minor, scale: 2 }
}

/**
 * Declares the value breaker for `ledger.proposal` (its `amount`), merged into any policy a host
 * registered for the kind: the value gate then reviews proposals at or above the threshold at
 * propose (a trip event, the review reason) and at apply (never promoted automatically).
 */
export const layerPolicy: Layer.Layer<never, never, KindPolicy.KindPolicies> = Layer.effectDiscard(
  Effect.gen(function*() {
    const policies = yield* KindPolicy.KindPolicies
    const current: KindPolicy.KindPolicy = Option.getOrElse(
      policies.get(Proposals.KIND),
      (): KindPolicy.KindPolicy => ({})
    )
    yield* policies.register(Proposals.KIND, { ...current, amount: current.amount ?? proposalAmount })
  })
)

/** The companion service and its provenance lookup, with the value-breaker policy of `ledger.proposal` registered. */
export const layer = Layer.mergeAll(Companion.Default, CompanionProvenance.Default, layerPolicy)

/**
 * The language-model stage in the chain (`Chain.LlmStageProvider`), built by `LlmStage.make` from
 * `LlmConfig`, the optional `LlmModel` (none: the stage records `llm.not_configured`) and
 * guardrails' LLM budget. Provide it to {@link layer} to put the model behind the deterministic
 * stages; without it the chain has no model stage.
 */
export const layerLlmStage = Layer.effect(Chain.LlmStageProvider, Effect.map(LlmStage.make, (stage) => ({ stage })))

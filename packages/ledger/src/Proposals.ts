/**
 * The shadow stream of the ledger (Stream B): proposals to categorise a bank transaction,
 * carried by core's governed-action pipeline as kind {@link KIND}. A proposal holds the bank
 * transaction it is about, the proposed splits (account + amount) and what the companion knows
 * about it (confidence, calibrated probability, rationale, questions, risk reasons, tier).
 *
 * Applying one runs the gates (the ledger adds `ledger.period_lock` at `GateOrder.periodLock`
 * and `ledger.validation` at `GateOrder.validation`, so both appear in the decision trace) and
 * then the kind's handler inside core's apply transaction: it posts exactly one canonical entry
 * (source `companion`, `proposal_id` = the proposal), committed with the status change, the
 * trace and the audit record. Wiping proposals touches shadow records only.
 */
import {
  Action,
  type ActionKind,
  ActionRegistry,
  type Actor,
  Audit,
  Errors,
  Gate,
  GateOrder,
  GovernedActions,
  Ids,
  Rbac,
  UnitOfWork
} from "@airlock/core"
import { Clock, Effect, Either, Layer, Option, Schema } from "effect"
import { BankTransaction, BankTransactionStore } from "./BankTransaction.js"
import { AccountStore } from "./Chart.js"
import { makeAccess, notFound } from "./internal/access.js"
import { makePoster } from "./internal/posting.js"
import {
  checkDraft,
  type EntryDraft,
  JournalEntry,
  type JournalLine,
  reversalDraft,
  type SideRule,
  totals
} from "./JournalEntry.js"
import { JournalStore } from "./JournalStore.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { DecimalInput, MinorUnits, parseAmount } from "./Money.js"
import { isLocked, PeriodLockStore } from "./PeriodLock.js"

/** Name of the ledger proposal kind in the action registry. */
export const KIND = "ledger.proposal"

/** The subject of a ledger proposal: the bank transaction it is about. */
export const subjectOf = (bankTransactionId: string): string => `bank_txn:${bankTransactionId}`

/** One proposed split: the counter-account and the (positive) share of the bank amount. */
export const Split = Schema.Struct({
  account_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)),
  amount_minor: MinorUnits,
  description: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500)))),
  name: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(100)))),
  class: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(100)))),
  location: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(100))))
})
/** Type of {@link Split}. */
export type Split = typeof Split.Type

const Probability = Schema.Number.pipe(Schema.between(0, 1))

/** The payload of a ledger proposal, as stored in the shadow record. */
export const ProposalPayload = Schema.Struct({
  bank_transaction_id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)),
  /** Empty for a no-answer proposal (the companion had no suggestion): it applies only with a person's splits. */
  splits: Schema.Array(Split).pipe(Schema.maxItems(50)),
  memo: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  /** The categorizer's raw score. */
  confidence: Probability,
  /** The calibrated probability that the proposal is right (null before calibration). */
  calibrated_probability: Schema.NullOr(Probability),
  rationale: Schema.String.pipe(Schema.maxLength(4000)),
  questions: Schema.Array(Schema.String.pipe(Schema.maxLength(1000))).pipe(Schema.maxItems(20)),
  risk_reasons: Schema.Array(Schema.String.pipe(Schema.maxLength(200))).pipe(Schema.maxItems(20)),
  /** Review friction: 0 (routine) … 3 (highest); breakers raise it. */
  tier: Schema.Int.pipe(Schema.between(0, 3))
})
/** Type of {@link ProposalPayload}. */
export type ProposalPayload = typeof ProposalPayload.Type

/** What the handler stores as the applied proposal's result (the provenance link to the books). */
export interface ApplyOutcome {
  readonly entry_id: string
  readonly entry_no: number
}

/**
 * Account-type rules for proposed splits, as data: money out may not be booked as income, money
 * in may not be booked as an expense (refunds and contra cases go through a person).
 */
export const splitRules = (direction: "inflow" | "outflow"): ReadonlyArray<SideRule> =>
  direction === "outflow"
    ? [{ side: "debit", forbidden: ["Income"], reason: "money out of the bank is not income" }]
    : [{ side: "credit", forbidden: ["Expense"], reason: "money into the bank is not an expense" }]

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/**
 * The entry a proposal would post: the bank account on one side for the full amount, the splits
 * on the other. Checks the splits sum to the bank amount, are positive and avoid the bank
 * account itself. Pure.
 */
export const draftFromProposal = (
  payload: ProposalPayload,
  txn: BankTransaction,
  proposalId: string
): Either.Either<EntryDraft, Errors.ValidationError> => {
  const outflow = txn.amount_minor < 0n
  const total = outflow ? -txn.amount_minor : txn.amount_minor
  if (payload.splits.length === 0) {
    return Either.left(
      invalid("validation.splits_required", "The proposal has no splits: a person must choose the accounts", {
        bank_transaction_id: txn.id
      })
    )
  }
  let sum = 0n
  for (const [i, s] of payload.splits.entries()) {
    if (s.amount_minor <= 0n)
      return Either.left(invalid("validation.amount_positive", "Every split amount must be positive", { split: i + 1 }))
    if (s.account_code === txn.account_code) {
      return Either.left(
        invalid("validation.split_account", "A split cannot go to the bank account itself", {
          split: i + 1,
          account_code: s.account_code
        })
      )
    }
    sum += s.amount_minor
  }
  if (sum !== total) {
    return Either.left(
      invalid("validation.split_sum", "The splits must add up to the bank transaction amount", {
        bank_amount_minor: total.toString(),
        splits_total_minor: sum.toString(),
        difference: (sum - total).toString()
      })
    )
  }
  const bankSide = outflow ? "credit" : "debit"
  const splitSide = outflow ? "debit" : "credit"
  const lines: Array<JournalLine> = [{
    line_no: 1,
    account_code: txn.account_code,
    side: bankSide,
    amount_minor: total,
    description: txn.description,
    name: txn.payee,
    class: null,
    location: null
  }]
  payload.splits.forEach((s, i) =>
    lines.push({
      line_no: i + 2,
      account_code: s.account_code,
      side: splitSide,
      amount_minor: s.amount_minor,
      description: s.description ?? null,
      name: s.name ?? txn.payee,
      class: s.class ?? null,
      location: s.location ?? null
    })
  )
  return Either.right({
    date: txn.date,
    memo: payload.memo ?? txn.description,
    currency: txn.currency,
    lines,
    source: "companion",
    proposal_id: proposalId,
    bank_transaction_id: txn.id,
    reverses_entry_id: null,
    idempotency_key: null
  })
}

/** Registers the ledger proposal kind and the ledger gates in core's action registry. */
export const layerKind: Layer.Layer<
  never,
  never,
  ActionRegistry.ActionRegistry | JournalStore | AccountStore | PeriodLockStore | BankTransactionStore | Ids.IdGenerator
> = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const store = yield* JournalStore
    const accounts = yield* AccountStore
    const locks = yield* PeriodLockStore
    const bank = yield* BankTransactionStore
    const ids = yield* Ids.IdGenerator
    const poster = makePoster({ store, accounts, locks, bank, ids })

    const loadTxn = (tenant: Ids.TenantId, id: string, forUpdate: boolean) =>
      Effect.flatMap(forUpdate ? bank.getForUpdate(tenant, id) : bank.get(tenant, id), (t) =>
        Option.match(t, {
          onNone: () =>
            Effect.fail(
              invalid("validation.bank_transaction_unknown", `Bank transaction ${id} does not exist`, {
                bank_transaction_id: id
              })
            ),
          onSome: Effect.succeed
        }))

    /**
     * What the apply-phase gates established for one apply, handed to the handler of the same
     * apply: gates and handler run in one transaction on the same record object, and the gates
     * read under the locks posting needs (bank row `FOR UPDATE`, period lock `FOR SHARE`), so
     * the handler does not read and check everything a second time.
     */
    const prepared = new WeakMap<Action.ActionRecord, { readonly txn: BankTransaction; draft: EntryDraft | null }>()

    const fullApply = (action: Action.ActionRecord, actor: Actor.Actor, payload: ProposalPayload) =>
      Effect.gen(function*() {
        const txn = yield* loadTxn(action.tenant_id as Ids.TenantId, payload.bank_transaction_id, true)
        const draft = yield* draftFromProposal(payload, txn, action.id)
        const { entry } = yield* poster.post(action.tenant_id as Ids.TenantId, draft, actor.id, {
          rules: splitRules(txn.amount_minor < 0n ? "outflow" : "inflow"),
          what: "Applying"
        })
        return entry
      })

    /** The validation gate's checks of one proposal against its bank transaction and the chart. */
    const validate = (
      action: Action.ActionRecord,
      p: ProposalPayload,
      ready: { readonly txn: BankTransaction; draft: EntryDraft | null } | undefined,
      t: BankTransaction
    ): Effect.Effect<Gate.GateDecision, Errors.StorageError> => {
      const codes = [t.account_code]
      let splitsTotal = 0n
      for (const s of p.splits) {
        if (!codes.includes(s.account_code)) codes.push(s.account_code)
        splitsTotal += s.amount_minor
      }
      return Effect.flatMap(accounts.getMany(action.tenant_id, codes), (chart) => {
        // plain loops: this runs on every apply, and Object.fromEntries measured ~4 µs here
        const types: Record<string, string | null> = {}
        for (const c of codes) types[c] = chart.get(c)?.type ?? null
        const inputs: Record<string, unknown> = {
          bank_transaction_id: t.id,
          bank_amount_minor: t.amount_minor.toString(),
          splits_total_minor: splitsTotal.toString(),
          account_types: types
        }
        const checked = Either.flatMap(
          draftFromProposal(p, t, action.id),
          (draft) => checkDraft(draft, chart, { rules: splitRules(t.amount_minor < 0n ? "outflow" : "inflow") })
        )
        if (Either.isLeft(checked)) return Effect.succeed(Gate.Decision.deny(checked.left, inputs))
        return Effect.map(store.liveForBankTransaction(action.tenant_id, t.id), (live) => {
          if (live.length > 0) {
            return Gate.Decision.deny(
              new Errors.Conflict({
                code: "bank_transaction.already_posted",
                message: "Bank transaction already has a journal entry; reverse it first",
                details: { bank_transaction_id: t.id, entry_id: live[0]!.id }
              }),
              inputs
            )
          }
          // the draft is checked under the locks; the handler of this apply posts it as is
          if (ready) ready.draft = checked.right
          inputs.balanced = true
          inputs.debit_total_minor = totals(checked.right.lines).debit.toString()
          return Gate.Decision.allow(inputs)
        })
      })
    }

    yield* registry.registerKind<ProposalPayload, typeof ProposalPayload.Encoded>({
      name: KIND,
      payload: ProposalPayload,
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      protected: true,
      subject: (p) => subjectOf(p.bank_transaction_id),
      apply: ({ action, actor, payload }) => {
        const ready = prepared.get(action)
        prepared.delete(action)
        const entry = ready?.draft
          ? poster.insertChecked(action.tenant_id, ready.draft, actor.id)
          : fullApply(action, actor, payload)
        return Effect.map(entry, (e): ApplyOutcome => ({ entry_id: e.id, entry_no: e.entry_no }))
      },
      rollback: ({ action, actor, result }) =>
        Effect.gen(function*() {
          const outcome = result as ApplyOutcome
          const entry = yield* Effect.flatMap(
            store.get(action.tenant_id, outcome.entry_id),
            Option.match({
              onNone: () => Effect.fail(notFound("entry", outcome.entry_id)),
              onSome: Effect.succeed
            })
          )
          const { entry: reversal } = yield* poster.post(
            action.tenant_id,
            reversalDraft(entry, { date: entry.date }),
            actor.id,
            {
              allowInactive: true,
              what: "Reversing"
            }
          )
          return { reversal_entry_id: reversal.id }
        })
    })

    const ours = (kind: ActionKind.ActionKind) => kind.name === KIND

    yield* registry.registerGate({
      name: "ledger.period_lock",
      order: GateOrder.periodLock,
      phases: ["propose", "apply"],
      appliesTo: ours,
      // plain flatMaps, no generator: both ledger gates run on every apply
      evaluate: ({ action, payload, phase }) => {
        const p = payload as ProposalPayload
        const applying = phase === "apply"
        return Effect.flatMap(
          applying
            ? bank.getForUpdate(action.tenant_id, p.bank_transaction_id)
            : bank.get(action.tenant_id, p.bank_transaction_id),
          (txn) => {
            // an unknown transaction is the validation gate's to report
            if (Option.isNone(txn))
              return Effect.succeed(
                Gate.Decision.allow({ bank_transaction_id: p.bank_transaction_id, entry_date: null })
              )
            const t = txn.value
            return Effect.map(
              applying ? locks.getForPosting(action.tenant_id) : locks.get(action.tenant_id),
              (lock) => {
                const lockDate = Option.isSome(lock) ? lock.value.lock_date : null
                const inputs = { bank_transaction_id: t.id, entry_date: t.date, lock_date: lockDate }
                if (!isLocked(lockDate, t.date)) {
                  if (applying) prepared.set(action, { txn: t, draft: null })
                  return Gate.Decision.allow(inputs)
                }
                return !applying
                  ? Gate.Decision.review(["period.locked"], inputs)
                  : Gate.Decision.deny(
                    new Errors.PeriodLocked({
                      message: `Applying on ${t.date} is refused: the books are locked through ${lockDate}`,
                      details: { lock_date: lockDate, date: t.date }
                    }),
                    inputs
                  )
              }
            )
          }
        )
      }
    })

    yield* registry.registerGate({
      name: "ledger.validation",
      order: GateOrder.validation,
      phases: ["apply"],
      appliesTo: ours,
      evaluate: ({ action, payload }) => {
        const p = payload as ProposalPayload
        const ready = prepared.get(action)
        return ready
          ? validate(action, p, ready, ready.txn)
          : Effect.flatMap(bank.getForUpdate(action.tenant_id, p.bank_transaction_id), (txn) =>
            Option.isNone(txn)
              ? Effect.succeed(Gate.Decision.deny(
                invalid(
                  "validation.bank_transaction_unknown",
                  `Bank transaction ${p.bank_transaction_id} does not exist`
                ),
                { bank_transaction_id: p.bank_transaction_id }
              ))
              : validate(action, p, undefined, txn.value))
      }
    })
  })
)

/**
 * Input of a ledger proposal as the companion sends it: amounts as decimals in the bank's
 * currency. `currency` (for all amounts, or per split) may say so explicitly; any other currency
 * is refused, since the amounts would otherwise be read in the bank's.
 */
export const ProposeInput = Schema.Struct({
  bank_transaction_id: Schema.String,
  currency: Schema.optional(Schema.String),
  splits: Schema.Array(Schema.Struct({
    account_code: Schema.String,
    amount: DecimalInput,
    currency: Schema.optional(Schema.String),
    description: Schema.optional(Schema.NullOr(Schema.String)),
    name: Schema.optional(Schema.NullOr(Schema.String)),
    class: Schema.optional(Schema.NullOr(Schema.String)),
    location: Schema.optional(Schema.NullOr(Schema.String))
  })),
  memo: Schema.optional(Schema.String),
  confidence: Schema.Number,
  calibrated_probability: Schema.optional(Schema.NullOr(Schema.Number)),
  rationale: Schema.optional(Schema.String),
  questions: Schema.optional(Schema.Array(Schema.String)),
  risk_reasons: Schema.optional(Schema.Array(Schema.String)),
  tier: Schema.optional(Schema.Number),
  idempotency_key: Schema.optional(Schema.String)
})
/** Type of {@link ProposeInput}. */
export type ProposeInput = typeof ProposeInput.Type

/** Provenance of a canonical entry or a proposal: the proposal, its decision traces, the trace of the promotion, the entry and its bank transaction. */
export const Provenance: Schema.Struct<{
  entry: Schema.NullOr<typeof JournalEntry>
  proposal: Schema.NullOr<typeof Action.ActionRecord>
  traces: Schema.Array$<typeof Action.DecisionTrace>
  applied_by_trace: Schema.NullOr<typeof Action.DecisionTrace>
  bank_transaction: Schema.NullOr<typeof BankTransaction>
}> = Schema.Struct({
  entry: Schema.NullOr(JournalEntry),
  proposal: Schema.NullOr(Action.ActionRecord),
  traces: Schema.Array(Action.DecisionTrace),
  /** The apply-phase trace of the promotion itself (null while not applied). */
  applied_by_trace: Schema.NullOr(Action.DecisionTrace),
  bank_transaction: Schema.NullOr(BankTransaction)
})
/** Type of {@link Provenance}. */
export type Provenance = typeof Provenance.Type

const promotionTrace = (proposal: Action.ActionRecord | null, trail: ReadonlyArray<Action.DecisionTrace>) =>
  proposal === null || (proposal.status !== "applied" && proposal.status !== "rolled_back")
    ? null
    : [...trail].reverse().find((t) => t.phase === "apply" && t.outcome !== "deny") ?? null

/** Any error of core's taxonomy (what the governed pipeline may fail with). */
export type AnyAirlockError = InstanceType<(typeof Errors.AirlockErrors)[number]>

/** The operations of {@link LedgerProposals}. */
export interface LedgerProposalsShape {
  readonly propose: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    input: unknown
  ) => Effect.Effect<GovernedActions.ProposeResult, AnyAirlockError>
  readonly list: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query?: { readonly status?: Action.ActionStatus; readonly before?: string; readonly limit?: number }
  ) => Effect.Effect<ReadonlyArray<Action.ActionRecord>, Errors.Forbidden | Errors.StorageError>
  readonly ofEntry: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    entryId: string
  ) => Effect.Effect<Provenance, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
  readonly ofProposal: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    proposalId: string
  ) => Effect.Effect<Provenance, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
}

/** Builds the LedgerProposals service over its dependencies. */
export const make: Effect.Effect<
  LedgerProposalsShape,
  never,
  | GovernedActions.GovernedActions
  | Action.ActionStore
  | Action.TraceStore
  | JournalStore
  | BankTransactionStore
  | Audit.AuditLog
  | UnitOfWork.UnitOfWork
  | LedgerConfig
  | Rbac.Rbac
> = Effect.gen(function*() {
  const pipeline = yield* GovernedActions.GovernedActions
  const actions = yield* Action.ActionStore
  const traces = yield* Action.TraceStore
  const journal = yield* JournalStore
  const bank = yield* BankTransactionStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const config = yield* LedgerConfig
  const rbac = yield* Rbac.Rbac
  const access = makeAccess(rbac)

  /**
   * Records a proposal for a bank transaction (decimal amounts converted in its currency).
   * An older `proposed` proposal for the same transaction becomes `superseded`, in the same
   * transaction. Gates and RBAC are the pipeline's (`companion.propose`); a gate's refusal keeps
   * its decision trace and whatever the gate recorded (a breaker trip), as the pipeline does.
   */
  const propose = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      // checked again by the pipeline's gates; here so nothing is read for an outsider
      yield* access(tenant, actor, "companion.propose")
      const req = yield* Schema.decodeUnknown(ProposeInput)(input).pipe(
        Effect.mapError((e) => invalid("validation.schema", e.message))
      )
      const txn = yield* Effect.flatMap(
        bank.get(tenant, req.bank_transaction_id),
        Option.match({
          onNone: () => Effect.fail(notFound("bank_transaction", req.bank_transaction_id)),
          onSome: Effect.succeed
        })
      )
      const otherCurrency = (field: string, currency: string | undefined) =>
        currency === undefined || currency === txn.currency
          ? Effect.void
          : Effect.fail(
            invalid(
              "validation.currency_mismatch",
              `Amounts are in the bank transaction's currency ${txn.currency}, not ${currency}`,
              {
                field,
                currency,
                bank_currency: txn.currency,
                bank_transaction_id: txn.id
              }
            )
          )
      yield* otherCurrency("currency", req.currency)
      const splits: Array<typeof Split.Encoded> = []
      for (const [i, s] of req.splits.entries()) {
        yield* otherCurrency(`splits[${i + 1}].currency`, s.currency)
        const minor = yield* parseAmount(s.amount, txn.currency, {
          field: `splits[${i + 1}].amount`,
          table: config.currencyExponents
        })
        splits.push({
          account_code: s.account_code,
          amount_minor: minor.toString(),
          ...(s.description !== undefined ? { description: s.description } : {}),
          ...(s.name !== undefined ? { name: s.name } : {}),
          ...(s.class !== undefined ? { class: s.class } : {}),
          ...(s.location !== undefined ? { location: s.location } : {})
        })
      }
      const payload: typeof ProposalPayload.Encoded = {
        bank_transaction_id: txn.id,
        splits,
        ...(req.memo !== undefined ? { memo: req.memo } : {}),
        confidence: req.confidence,
        calibrated_probability: req.calibrated_probability ?? null,
        rationale: req.rationale ?? "",
        questions: req.questions ?? [],
        risk_reasons: req.risk_reasons ?? [],
        tier: req.tier ?? 0
      }
      const subject = subjectOf(txn.id)
      const outcome = yield* uow.transaction(
        Effect.gen(function*() {
          // Lock order: first the open proposals this one supersedes, then what the pipeline
          // locks (the audit chain). Apply and reject lock a proposal before the audit chain too,
          // so a propose racing an apply of the older proposal waits for it, where the reverse
          // order deadlocked on PostgreSQL.
          const open = yield* actions.list(tenant, { status: "proposed", kind: KIND, subject, limit: 100 })
          for (const o of [...open].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)))
            yield* actions.getForUpdate(tenant, o.id as Ids.ActionId)
          const proposed = yield* Effect.either(
            pipeline.propose({ tenant_id: tenant, actor, kind: KIND, payload, idempotency_key: req.idempotency_key })
          )
          if (Either.isLeft(proposed)) {
            // a refusal commits what the pipeline recorded with it, as it does when called on its
            // own: the denial trace, a breaker trip (a velocity breaker that opens, its event)
            return proposed.left._tag === "StorageError" ? yield* Effect.fail(proposed.left) : proposed
          }
          const result = proposed.right
          if (result.duplicate) return Either.right(result)
          // read again: a proposal committed since the first read is superseded as well
          const older = yield* actions.list(tenant, { status: "proposed", kind: KIND, subject, limit: 100 })
          const now = yield* Clock.currentTimeMillis
          for (const old of older) {
            if (old.id === result.action.id) continue
            const closed = new Action.ActionRecord({
              ...old,
              status: "superseded",
              closed_by: actor.id,
              closed_at: now,
              close_reason: `superseded by ${result.action.id}`,
              version: old.version + 1
            }, true)
            yield* actions.update(closed, old.version)
            yield* audit.append({
              tenant_id: tenant,
              actor_id: actor.id,
              action: "action.superseded",
              subject: old.id,
              data: { kind: KIND, superseded_by: result.action.id }
            })
          }
          return Either.right(result)
        })
      )
      return yield* outcome
    })

  /** Ledger proposals, newest first, optionally by status (RBAC `companion.read`). */
  const list = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    query: { readonly status?: Action.ActionStatus; readonly before?: string; readonly limit?: number } = {}
  ) =>
    Effect.zipRight(
      access(tenant, actor, "companion.read"),
      pipeline.list(tenant, { kind: KIND, status: query.status, before: query.before, limit: query.limit ?? 100 })
    )

  const txnOrNull = (tenant: Ids.TenantId, id: string | null) =>
    id === null ? Effect.succeed(null) : Effect.map(bank.get(tenant, id), Option.getOrNull)

  /** Provenance of an entry: its proposal and the proposal's decision traces (RBAC `ledger.read`). */
  const ofEntry = (tenant: Ids.TenantId, actor: Actor.Actor, entryId: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const entry = yield* Effect.flatMap(
        journal.get(tenant, entryId),
        Option.match({
          onNone: () => Effect.fail(notFound("entry", entryId)),
          onSome: Effect.succeed
        })
      )
      const proposal = entry.proposal_id === null
        ? null
        : Option.getOrNull(yield* actions.get(tenant, entry.proposal_id as Ids.ActionId))
      const trail = proposal === null ? [] : yield* traces.listByAction(tenant, proposal.id)
      return {
        entry,
        proposal,
        traces: trail,
        applied_by_trace: promotionTrace(proposal, trail),
        bank_transaction: yield* txnOrNull(tenant, entry.bank_transaction_id)
      } satisfies Provenance
    })

  /** Provenance of a proposal (shadow event): its traces and, once applied, its entry. */
  const ofProposal = (tenant: Ids.TenantId, actor: Actor.Actor, proposalId: string) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.read")
      const proposal = yield* Effect.flatMap(
        actions.get(tenant, proposalId as Ids.ActionId),
        Option.match({
          onNone: () => Effect.fail(notFound("proposal", proposalId)),
          onSome: Effect.succeed
        })
      )
      if (proposal.kind !== KIND) return yield* Effect.fail(notFound("proposal", proposalId))
      const entry = Option.getOrNull(yield* journal.findByProposal(tenant, proposal.id))
      const payload = proposal.payload as { readonly bank_transaction_id?: string }
      const trail = yield* traces.listByAction(tenant, proposal.id)
      return {
        entry,
        proposal,
        traces: trail,
        applied_by_trace: promotionTrace(proposal, trail),
        bank_transaction: yield* txnOrNull(tenant, payload.bank_transaction_id ?? null)
      } satisfies Provenance
    })

  return { propose, list, ofEntry, ofProposal } as const
})

/**
 * Ledger proposals: propose (superseding the bank transaction's older open proposal), list, and
 * provenance in both directions. Applying, rejecting and wiping go through core's
 * `GovernedActions` (`apply`, `reject`, `wipe`) — nothing here bypasses the gates.
 */
export class LedgerProposals
  extends Effect.Service<LedgerProposals>()("@airlock/ledger/LedgerProposals", { effect: make })
{}

/**
 * "Why did the AI do this?": the provenance of a companion proposal (shadow event) or of the
 * canonical entry it became. It joins the ledger's provenance (the proposal, its decision traces
 * at propose and apply, the entry, the bank transaction) with the companion's details (each
 * stage's output — the rule, the memory facts by uid, the classifier version and its top
 * candidates, the model or why it was not called —, the calibration version with its threshold
 * certificate, the auto-post decision) and the review (who applied, when, any correction).
 *
 * For a corrected proposal both sides are shown: asked about the AI's proposal, `correction`
 * names the person's proposal that was applied; asked about the entry (which the correction
 * posted), `original` holds the AI's proposal and its stages.
 */
import { type Action, type Actor, Errors, type Ids, Rbac, TenantScope } from "@airlock/core"
import { Proposals } from "@airlock/ledger"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declaration of this module's service (TS2742)
import type { BankTransaction, JournalEntry } from "@airlock/ledger"
import { Effect, Option } from "effect"
import { CompanionModelStore, CompanionProposalStore, type ProposalDetail } from "./CompanionPorts.js"

/** A provenance query: exactly one of the two ids. */
export interface ProvenanceQuery {
  readonly shadow_event_id?: string | undefined
  readonly entry_id?: string | undefined
}

const gatesOf = (traces: ReadonlyArray<Action.DecisionTrace>, phase: Action.Phase) =>
  traces.filter((t) => t.phase === phase).map((t) => ({
    trace_id: t.id,
    actor_id: t.actor_id,
    at: t.at,
    outcome: t.outcome,
    gates: t.gates
  }))

/** Builds the provenance service (its answer holds a {@link BankTransaction.BankTransaction} and a {@link JournalEntry.JournalEntry}). */
export const make = Effect.gen(function*() {
  const ledger = yield* Proposals.LedgerProposals
  const details = yield* CompanionProposalStore
  const models = yield* CompanionModelStore
  const rbac = yield* Rbac.Rbac

  const calibrationOf = (tenant: Ids.TenantId, d: ProposalDetail | null) =>
    d === null || d.calibration_version === null
      ? Effect.succeed(null)
      : Effect.map(models.getCalibration(tenant, d.calibration_version), (c) =>
        Option.match(c, {
          onNone: () => ({ version: d.calibration_version, pruned: true }),
          onSome: (v) => ({
            version: v.version,
            fitted_at: v.fitted_at,
            sample: v.sample,
            calibrator: v.calibrator,
            certificate: v.certificate,
            metrics: v.metrics
          })
        }))

  const view = (d: ProposalDetail | null) =>
    d === null ? null : {
      vendor_key: d.vendor_key,
      stages: d.stages,
      deciding_stage: d.deciding_stage,
      proposed_splits: d.splits,
      confidence: d.confidence,
      calibrated_probability: d.calibrated_probability,
      classifier_version: d.classifier_version,
      autopost: d.autopost,
      not_auto_post_reasons: d.not_auto_post_reasons,
      review: {
        outcome: d.review_outcome,
        by: d.reviewed_by,
        at: d.reviewed_at,
        reason: d.review_reason,
        final_splits: d.final_splits,
        applied_proposal_id: d.applied_proposal_id,
        entry_id: d.entry_id,
        learning: d.learning
      }
    }

  /** The provenance of a shadow event or an entry (`ledger.read`, tenant scope). */
  const lookup = (tenant: Ids.TenantId, actor: Actor.Actor, query: ProvenanceQuery) =>
    Effect.gen(function*() {
      yield* TenantScope.requireTenant(rbac, actor, tenant)
      const byProposal = query.shadow_event_id !== undefined
      if (byProposal === (query.entry_id !== undefined)) {
        return yield* new Errors.ValidationError({
          code: "validation.schema",
          message: "Give exactly one of shadow_event_id and entry_id"
        })
      }
      const base = byProposal
        ? yield* ledger.ofProposal(tenant, actor, query.shadow_event_id!)
        : yield* ledger.ofEntry(tenant, actor, query.entry_id!)
      const proposalId = base.proposal?.id ?? null
      const detail = proposalId === null ? null : Option.getOrNull(yield* details.get(tenant, proposalId))
      // the AI's proposal behind a person's correction, and the correction behind a corrected proposal
      const original = detail?.corrects_proposal_id
        ? Option.getOrNull(yield* details.get(tenant, detail.corrects_proposal_id))
        : null
      const correctionId = detail?.review_outcome === "corrected" ? detail.applied_proposal_id : null
      const correctionTrail = correctionId === null
        ? null
        : yield* Effect.option(ledger.ofProposal(tenant, actor, correctionId))
      const ai = original ?? detail
      const applyTraces = correctionTrail !== null && Option.isSome(correctionTrail)
        ? correctionTrail.value.traces
        : base.traces
      const applied = correctionTrail !== null && Option.isSome(correctionTrail)
        ? correctionTrail.value.proposal
        : base.proposal?.status === "applied"
        ? base.proposal
        : null
      return {
        shadow_event_id: ai?.proposal_id ?? proposalId,
        bank_transaction: base.bank_transaction,
        proposal: base.proposal,
        entry: base.entry ??
          (correctionTrail !== null && Option.isSome(correctionTrail) ? correctionTrail.value.entry : null),
        ai: view(ai),
        calibration: yield* calibrationOf(tenant, ai),
        gates: { propose: gatesOf(base.traces, "propose"), apply: gatesOf(applyTraces, "apply") },
        applied: applied === null ? null : {
          proposal_id: applied.id,
          by: applied.closed_by,
          at: applied.closed_at,
          result: applied.result
        },
        correction: ai?.review_outcome === "corrected" || original !== null
          ? {
            original_proposal_id: ai?.proposal_id ?? null,
            correction_proposal_id: original !== null ? proposalId : correctionId,
            original_splits: ai?.splits ?? null,
            corrected_splits: ai?.final_splits ?? null,
            by: ai?.reviewed_by ?? null,
            at: ai?.reviewed_at ?? null
          }
          : null
      }
    })

  return { lookup } as const
})

/** The provenance lookup. */
export class CompanionProvenance
  extends Effect.Service<CompanionProvenance>()("@airlock/companion/CompanionProvenance", { effect: make })
{}

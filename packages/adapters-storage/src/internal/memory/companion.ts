/** Memory implementations of the companion ports on {@link MemoryDatabase} (scoped per tenant). */
import { CompanionPorts as P } from "@airlock/companion"
import type { Errors } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"
import { toJson } from "../json.js"

// stored values are copied through their JSON, as the SQL adapter does, so no caller aliases them
const copy = <A>(v: A): A => (v === null || v === undefined ? v : JSON.parse(toJson(v)))

/** Memory {@link P.CompanionRuleStore}. */
export const ruleStore: Layer.Layer<P.CompanionRuleStore, never, MemoryDatabase> = Layer.effect(
  P.CompanionRuleStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<P.CompanionRule>("companion_rules")
    const save = (r: P.CompanionRule) => new P.CompanionRule({ ...r, match: copy(r.match), target: copy(r.target) })
    return {
      insert: (r) =>
        db.writeEffect(() =>
          rows.has(r.tenant_id, r.id)
            ? Effect.fail(P.duplicateError("companion_rule", r.id))
            : (rows.set(r.tenant_id, r.id, save(r)), Effect.void)
        ),
      update: (r, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const current = rows.get(r.tenant_id, r.id)
          if (!current) return Effect.fail(P.notFoundError("companion_rule", r.id))
          if (current.version !== expected) return Effect.fail(P.staleError("companion_rule", r.id))
          rows.set(r.tenant_id, r.id, save(r))
          return Effect.void
        }),
      get: (tenant, id) => db.read(() => Option.fromNullable(rows.get(tenant, id))),
      list: (tenant) =>
        db.read(() =>
          [...rows.inScope(tenant)].sort((a, b) => a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        ),
      remove: (tenant, id) =>
        db.write(() => {
          if (!rows.has(tenant, id)) return false
          rows.delete(tenant, id)
          return true
        })
    }
  })
)

/** Memory {@link P.CompanionModelStore}: a new classifier version deletes all but the three newest. */
export const modelStore: Layer.Layer<P.CompanionModelStore, never, MemoryDatabase> = Layer.effect(
  P.CompanionModelStore,
  Effect.map(MemoryDatabase, (db) => {
    const classifiers = db.scoped<P.ClassifierVersion>("companion_classifiers")
    const calibrations = db.scoped<P.CalibrationVersion>("companion_calibrations")
    const newest = <A extends { readonly version: number }>(xs: Iterable<A>) => {
      let best: A | undefined
      for (const x of xs) if (best === undefined || x.version > best.version) best = x
      return Option.fromNullable(best)
    }
    return {
      putClassifier: (v) =>
        db.writeEffect(() => {
          if (classifiers.has(v.tenant_id, v.version)) {
            return Effect.fail(P.duplicateError("companion_classifier", `${v.tenant_id}/${v.version}`))
          }
          for (const old of [...classifiers.inScope(v.tenant_id)]) {
            if (old.version <= v.version - 3) classifiers.delete(v.tenant_id, old.version)
          }
          classifiers.set(v.tenant_id, v.version, new P.ClassifierVersion({ ...v, model: copy(v.model) }))
          return Effect.void
        }),
      latestClassifier: (tenant) => db.read(() => newest(classifiers.inScope(tenant))),
      putCalibration: (v) =>
        db.writeEffect(() => {
          if (calibrations.has(v.tenant_id, v.version)) {
            return Effect.fail(P.duplicateError("companion_calibration", `${v.tenant_id}/${v.version}`))
          }
          calibrations.set(
            v.tenant_id,
            v.version,
            new P.CalibrationVersion({
              ...v,
              calibrator: copy(v.calibrator),
              certificate: copy(v.certificate),
              metrics: copy(v.metrics)
            })
          )
          return Effect.void
        }),
      latestCalibration: (tenant) => db.read(() => newest(calibrations.inScope(tenant))),
      getCalibration: (tenant, version) => db.read(() => Option.fromNullable(calibrations.get(tenant, version)))
    }
  })
)

const byReviewDesc = (a: P.ProposalDetail, b: P.ProposalDetail) =>
  (b.reviewed_at ?? 0) - (a.reviewed_at ?? 0) ||
  (a.proposal_id < b.proposal_id ? 1 : a.proposal_id > b.proposal_id ? -1 : 0)

/** Memory {@link P.CompanionProposalStore}. */
export const proposalStore: Layer.Layer<P.CompanionProposalStore, never, MemoryDatabase> = Layer.effect(
  P.CompanionProposalStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<P.ProposalDetail>("companion_proposals")
    const save = (d: P.ProposalDetail) =>
      new P.ProposalDetail({
        ...d,
        stages: copy(d.stages),
        autopost: copy(d.autopost),
        learning: copy(d.learning),
        splits: copy(d.splits),
        final_splits: copy(d.final_splits),
        not_auto_post_reasons: [...new Set(d.not_auto_post_reasons)]
      })
    return {
      insert: (d) =>
        db.writeEffect(() =>
          rows.has(d.tenant_id, d.proposal_id)
            ? Effect.fail(P.duplicateError("companion_proposal", d.proposal_id))
            : (rows.set(d.tenant_id, d.proposal_id, save(d)), Effect.void)
        ),
      get: (tenant, id) => db.read(() => Option.fromNullable(rows.get(tenant, id))),
      update: (d, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const current = rows.get(d.tenant_id, d.proposal_id)
          if (!current) return Effect.fail(P.notFoundError("companion_proposal", d.proposal_id))
          if (current.version !== expected) return Effect.fail(P.staleError("companion_proposal", d.proposal_id))
          // reason rows are written once, with the proposal
          rows.set(
            d.tenant_id,
            d.proposal_id,
            save(new P.ProposalDetail({ ...d, not_auto_post_reasons: current.not_auto_post_reasons }))
          )
          return Effect.void
        }),
      reviewed: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((d) =>
              d.reviewed_at !== null && d.reviewed_at >= q.since && d.corrects_proposal_id === null &&
              (d.review_outcome === "applied" || d.review_outcome === "corrected" || d.review_outcome === "rejected")
            )
            .sort(byReviewDesc)
            .slice(0, q.limit)
        ),
      vendorHistory: (tenant, vendor, limit) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((d) =>
              d.vendor_key === vendor && d.reviewed_at !== null && d.corrects_proposal_id === null &&
              (d.review_outcome === "applied" || d.review_outcome === "corrected" || d.review_outcome === "auto_posted")
            )
            .sort(byReviewDesc)
            .slice(0, limit)
        ),
      reasonCounts: (tenant, since) =>
        db.read(() => {
          const counts = new Map<string, number>()
          for (const d of rows.inScope(tenant)) {
            if (d.created_at < since) continue
            for (const r of d.not_auto_post_reasons) counts.set(r, (counts.get(r) ?? 0) + 1)
          }
          return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([reason, count]) => ({
            reason,
            count
          }))
        })
    }
  })
)

/** Every companion port in memory. */
export const layer: Layer.Layer<P.CompanionPorts, never, MemoryDatabase> = Layer.mergeAll(
  ruleStore,
  modelStore,
  proposalStore
)

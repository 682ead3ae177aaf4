/** SQL implementations of the companion ports, written once for SQLite and PostgreSQL. */
import { CompanionPorts as P } from "@airlock/companion"
import { Trusted } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { SqlDb } from "./db.js"
import { bool, int, intOrNull, json, orDuplicate, orStorage, storageError, toJson, versioned } from "./dialect.js"

type Row = Record<string, unknown>

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const first = <A>(rows: ReadonlyArray<Row>, f: (r: Row) => A): Option.Option<A> =>
  rows.length === 0 ? Option.none() : Option.some(f(rows[0]!))

const toRule = (r: Row) =>
  Trusted.make(P.CompanionRule, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    name: String(r.name),
    priority: int(r.priority),
    active: bool(r.active),
    match: json(r.match) as P.RuleMatch,
    target: json(r.target) as P.RuleTarget,
    created_at: int(r.created_at),
    created_by: String(r.created_by),
    updated_at: int(r.updated_at),
    updated_by: String(r.updated_by),
    version: int(r.version)
  })

/** SQL {@link P.CompanionRuleStore}. */
export const ruleStore: Layer.Layer<P.CompanionRuleStore, never, SqlDb> = Layer.effect(
  P.CompanionRuleStore,
  Effect.map(SqlDb, (sql) => {
    const get = (tenant: string, id: string) =>
      sql`SELECT * FROM companion_rules WHERE tenant_id = ${tenant} AND id = ${id}`.query(
        (rs) => first(rs, toRule),
        storageError
      )
    return {
      insert: (r) =>
        sql`INSERT INTO companion_rules (tenant_id, id, name, priority, active, match, target, created_at, created_by,
              updated_at, updated_by, version)
            VALUES (${r.tenant_id}, ${r.id}, ${r.name}, ${r.priority}, ${r.active ? 1 : 0}, ${toJson(r.match)},
              ${toJson(r.target)}, ${r.created_at}, ${r.created_by}, ${r.updated_at}, ${r.updated_by}, ${r.version})`
          .pipe(Effect.asVoid, orDuplicate("companion_rule", r.id)),
      update: (r, expected) =>
        versioned(
          sql`UPDATE companion_rules SET name = ${r.name}, priority = ${r.priority}, active = ${r.active ? 1 : 0},
                match = ${toJson(r.match)}, target = ${toJson(r.target)}, updated_at = ${r.updated_at},
                updated_by = ${r.updated_by}, version = ${r.version}
              WHERE tenant_id = ${r.tenant_id} AND id = ${r.id} AND version = ${expected} RETURNING id`.query(
            (rs) => rs.length,
            storageError
          ),
          Effect.map(get(r.tenant_id, r.id), Option.isSome),
          () => P.staleError("companion_rule", r.id),
          () => P.notFoundError("companion_rule", r.id)
        ),
      get,
      list: (tenant) =>
        sql`SELECT * FROM companion_rules WHERE tenant_id = ${tenant} ORDER BY priority, id`.query(
          (rs) => rs.map(toRule),
          storageError
        ),
      remove: (tenant, id) =>
        sql`DELETE FROM companion_rules WHERE tenant_id = ${tenant} AND id = ${id} RETURNING id`.query(
          (rs) => rs.length > 0,
          storageError
        )
    }
  })
)

const toClassifier = (r: Row) =>
  Trusted.make(P.ClassifierVersion, {
    tenant_id: String(r.tenant_id),
    version: int(r.version),
    model: json(r.model),
    examples: int(r.examples),
    created_at: int(r.created_at)
  })

const toCalibration = (r: Row) =>
  Trusted.make(P.CalibrationVersion, {
    tenant_id: String(r.tenant_id),
    version: int(r.version),
    calibrator: json(r.calibrator),
    certificate: json(r.certificate),
    metrics: json(r.metrics),
    sample: int(r.sample),
    fitted_at: int(r.fitted_at)
  })

/** SQL {@link P.CompanionModelStore}: a new classifier version deletes all but the three newest. */
export const modelStore: Layer.Layer<P.CompanionModelStore, never, SqlDb> = Layer.effect(
  P.CompanionModelStore,
  Effect.map(SqlDb, (sql) => ({
    putClassifier: (v) =>
      sql.withTransaction(
        Effect.zipRight(
          sql`INSERT INTO companion_classifiers (tenant_id, version, model, examples, created_at)
              VALUES (${v.tenant_id}, ${v.version}, ${toJson(v.model)}, ${v.examples}, ${v.created_at})`.pipe(
            orDuplicate("companion_classifier", `${v.tenant_id}/${v.version}`)
          ),
          sql`DELETE FROM companion_classifiers WHERE tenant_id = ${v.tenant_id} AND version <= ${v.version - 3}`.pipe(
            orStorage
          )
        )
      ).pipe(
        Effect.asVoid,
        Effect.catchTag("SqlError", (e) => Effect.fail(storageError(e)))
      ),
    latestClassifier: (tenant) =>
      sql`SELECT * FROM companion_classifiers WHERE tenant_id = ${tenant} ORDER BY version DESC LIMIT 1`.query(
        (rs) => first(rs, toClassifier),
        storageError
      ),
    putCalibration: (v) =>
      sql`INSERT INTO companion_calibrations (tenant_id, version, calibrator, certificate, metrics, sample, fitted_at)
          VALUES (${v.tenant_id}, ${v.version}, ${toJson(v.calibrator)}, ${toJson(v.certificate)}, ${toJson(v.metrics)},
            ${v.sample}, ${v.fitted_at})`.pipe(
        Effect.asVoid,
        orDuplicate("companion_calibration", `${v.tenant_id}/${v.version}`)
      ),
    latestCalibration: (tenant) =>
      sql`SELECT * FROM companion_calibrations WHERE tenant_id = ${tenant} ORDER BY version DESC LIMIT 1`.query(
        (rs) => first(rs, toCalibration),
        storageError
      ),
    getCalibration: (tenant, version) =>
      sql`SELECT * FROM companion_calibrations WHERE tenant_id = ${tenant} AND version = ${version}`.query(
        (rs) => first(rs, toCalibration),
        storageError
      )
  }))
)

/** A `companion_proposals` row as a detail (shared with the reports adapter). */
export const toDetail = (r: Row) =>
  Trusted.make(P.ProposalDetail, {
    tenant_id: String(r.tenant_id),
    proposal_id: String(r.proposal_id),
    bank_transaction_id: String(r.bank_transaction_id),
    vendor_key: String(r.vendor_key),
    amount_minor: String(r.amount_minor),
    direction: r.direction as P.Direction,
    splits: json(r.splits) as Array<P.StoredSplit>,
    stages: json(r.stages),
    deciding_stage: str(r.deciding_stage),
    confidence: Number(r.confidence),
    calibrated_probability: num(r.calibrated_probability),
    calibration_version: intOrNull(r.calibration_version),
    classifier_version: intOrNull(r.classifier_version),
    autopost: json(r.autopost),
    not_auto_post_reasons: json(r.not_auto_post_reasons) as Array<string>,
    corrects_proposal_id: str(r.corrects_proposal_id),
    created_at: int(r.created_at),
    created_by: String(r.created_by),
    review_outcome: str(r.review_outcome) as P.ReviewOutcome | null,
    reviewed_by: str(r.reviewed_by),
    reviewed_at: intOrNull(r.reviewed_at),
    review_reason: str(r.review_reason),
    final_splits: r.final_splits === null ? null : (json(r.final_splits) as Array<P.StoredSplit>),
    applied_proposal_id: str(r.applied_proposal_id),
    entry_id: str(r.entry_id),
    learning: json(r.learning),
    version: int(r.version)
  })

/** SQL {@link P.CompanionProposalStore}. */
export const proposalStore: Layer.Layer<P.CompanionProposalStore, never, SqlDb> = Layer.effect(
  P.CompanionProposalStore,
  Effect.map(SqlDb, (sql) => {
    const get = (tenant: string, id: string) =>
      sql`SELECT * FROM companion_proposals WHERE tenant_id = ${tenant} AND proposal_id = ${id}`.query(
        (rs) => first(rs, toDetail),
        storageError
      )
    return {
      insert: (d) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO companion_proposals (tenant_id, proposal_id, bank_transaction_id, vendor_key, amount_minor,
                direction, splits, stages, deciding_stage, confidence, calibrated_probability, calibration_version,
                classifier_version, autopost, not_auto_post_reasons, corrects_proposal_id, created_at, created_by,
                review_outcome, reviewed_by, reviewed_at, review_reason, final_splits, applied_proposal_id, entry_id,
                learning, version)
              VALUES (${d.tenant_id}, ${d.proposal_id}, ${d.bank_transaction_id}, ${d.vendor_key}, ${d.amount_minor},
                ${d.direction}, ${toJson(d.splits)}, ${toJson(d.stages)}, ${d.deciding_stage}, ${d.confidence},
                ${d.calibrated_probability}, ${d.calibration_version}, ${d.classifier_version}, ${toJson(d.autopost)},
                ${toJson(d.not_auto_post_reasons)}, ${d.corrects_proposal_id}, ${d.created_at}, ${d.created_by},
                ${d.review_outcome}, ${d.reviewed_by}, ${d.reviewed_at}, ${d.review_reason},
                ${d.final_splits === null ? null : toJson(d.final_splits)}, ${d.applied_proposal_id}, ${d.entry_id},
                ${toJson(d.learning)}, ${d.version})`
          for (const reason of new Set(d.not_auto_post_reasons)) {
            yield* sql`INSERT INTO companion_proposal_reasons (tenant_id, proposal_id, reason, created_at)
                VALUES (${d.tenant_id}, ${d.proposal_id}, ${reason}, ${d.created_at})`
          }
        })).pipe(Effect.asVoid, orDuplicate("companion_proposal", d.proposal_id)),
      get,
      update: (d, expected) =>
        versioned(
          sql`UPDATE companion_proposals SET review_outcome = ${d.review_outcome}, reviewed_by = ${d.reviewed_by},
                reviewed_at = ${d.reviewed_at}, review_reason = ${d.review_reason},
                final_splits = ${d.final_splits === null ? null : toJson(d.final_splits)},
                applied_proposal_id = ${d.applied_proposal_id}, entry_id = ${d.entry_id},
                learning = ${toJson(d.learning)}, autopost = ${toJson(d.autopost)}, version = ${d.version}
              WHERE tenant_id = ${d.tenant_id} AND proposal_id = ${d.proposal_id} AND version = ${expected}
              RETURNING proposal_id`.query((rs) => rs.length, storageError),
          Effect.map(get(d.tenant_id, d.proposal_id), Option.isSome),
          () => P.staleError("companion_proposal", d.proposal_id),
          () => P.notFoundError("companion_proposal", d.proposal_id)
        ),
      reviewed: (tenant, q) =>
        sql`SELECT * FROM companion_proposals
            WHERE tenant_id = ${tenant} AND reviewed_at IS NOT NULL AND reviewed_at >= ${q.since}
              AND corrects_proposal_id IS NULL AND review_outcome IN ('applied', 'corrected', 'rejected')
            ORDER BY reviewed_at DESC, proposal_id DESC LIMIT ${q.limit}`.query((rs) => rs.map(toDetail), storageError),
      vendorHistory: (tenant, vendor, limit) =>
        sql`SELECT * FROM companion_proposals
            WHERE tenant_id = ${tenant} AND vendor_key = ${vendor} AND reviewed_at IS NOT NULL
              AND corrects_proposal_id IS NULL AND review_outcome IN ('applied', 'corrected', 'auto_posted')
            ORDER BY reviewed_at DESC, proposal_id DESC LIMIT ${limit}`.query((rs) => rs.map(toDetail), storageError),
      reasonCounts: (tenant, since) =>
        sql`SELECT reason, COUNT(*) AS n FROM companion_proposal_reasons
            WHERE tenant_id = ${tenant} AND created_at >= ${since} GROUP BY reason ORDER BY reason`.query(
          (rs) => rs.map((r) => ({ reason: String(r.reason), count: int(r.n) })),
          storageError
        )
    }
  })
)

/** Every companion port on SQL. */
export const layer: Layer.Layer<P.CompanionPorts, never, SqlDb> = Layer.mergeAll(ruleStore, modelStore, proposalStore)

/** SQL implementations of the companion report ports, written once for SQLite and PostgreSQL. */
import { CompanionPorts as CP, CompanionReportsPorts as P } from "@airlock/companion"
import { Trusted } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { toDetail } from "./companion.js"
import { SqlDb } from "./db.js"
import { bool, int, intOrNull, json, orDuplicate, storageError, toJson, versioned } from "./dialect.js"

type Row = Record<string, unknown>

const toReport = (r: Row) =>
  Trusted.make(P.IntegrityReport, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    created_at: int(r.created_at),
    created_by: String(r.created_by),
    days: int(r.days),
    window_start: String(r.window_start),
    window_end: String(r.window_end),
    status: String(r.status) as "clean" | "findings",
    entries_checked: int(r.entries_checked),
    audit_records_checked: int(r.audit_records_checked),
    counts: json(r.counts) as Record<string, number>,
    findings: json(r.findings) as Array<P.Finding>,
    truncated: bool(r.truncated)
  })

/** SQL {@link P.IntegrityReportStore}. */
export const integrityReportStore: Layer.Layer<P.IntegrityReportStore, never, SqlDb> = Layer.effect(
  P.IntegrityReportStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (r) =>
      sql`INSERT INTO companion_integrity_reports (tenant_id, id, created_at, created_by, days, window_start,
            window_end, status, entries_checked, audit_records_checked, counts, findings, truncated)
          VALUES (${r.tenant_id}, ${r.id}, ${r.created_at}, ${r.created_by}, ${r.days}, ${r.window_start},
            ${r.window_end}, ${r.status}, ${r.entries_checked}, ${r.audit_records_checked}, ${toJson(r.counts)},
            ${toJson(r.findings)}, ${r.truncated ? 1 : 0})`.pipe(
        Effect.asVoid,
        orDuplicate("companion_integrity_report", r.id)
      ),
    get: (tenant, id) =>
      sql`SELECT * FROM companion_integrity_reports WHERE tenant_id = ${tenant} AND id = ${id}`.query(
        (rs) => (rs.length === 0 ? Option.none() : Option.some(toReport(rs[0]!))),
        storageError
      ),
    list: (tenant, q) =>
      (q.before === undefined
        ? sql`SELECT * FROM companion_integrity_reports WHERE tenant_id = ${tenant} ORDER BY id DESC LIMIT ${q.limit}`
        : sql`SELECT * FROM companion_integrity_reports WHERE tenant_id = ${tenant} AND id < ${q.before}
              ORDER BY id DESC LIMIT ${q.limit}`).query((rs) => rs.map(toReport), storageError)
  }))
)

/** SQL {@link P.CompanionReportReader}. */
export const reportReader: Layer.Layer<P.CompanionReportReader, never, SqlDb> = Layer.effect(
  P.CompanionReportReader,
  Effect.map(SqlDb, (sql) => ({
    detailsPage: (tenant, q) =>
      (q.after === undefined
        ? sql`SELECT * FROM companion_proposals WHERE tenant_id = ${tenant} AND created_at >= ${q.from}
                AND created_at < ${q.to} ORDER BY created_at, proposal_id LIMIT ${q.limit}`
        : sql`SELECT * FROM companion_proposals WHERE tenant_id = ${tenant} AND created_at >= ${q.from}
                AND created_at < ${q.to} AND (created_at > ${q.after.created_at}
                  OR (created_at = ${q.after.created_at} AND proposal_id > ${q.after.proposal_id}))
              ORDER BY created_at, proposal_id LIMIT ${q.limit}`).query((rs) => rs.map(toDetail), storageError),
    byReason: (tenant, q) =>
      (q.before === undefined
        ? sql`SELECT p.* FROM companion_proposal_reasons r JOIN companion_proposals p
                ON p.tenant_id = r.tenant_id AND p.proposal_id = r.proposal_id
              WHERE r.tenant_id = ${tenant} AND r.reason = ${q.reason} AND r.created_at >= ${q.from}
                AND r.created_at < ${q.to}
              ORDER BY r.created_at DESC, r.proposal_id DESC LIMIT ${q.limit}`
        : sql`SELECT p.* FROM companion_proposal_reasons r JOIN companion_proposals p
                ON p.tenant_id = r.tenant_id AND p.proposal_id = r.proposal_id
              WHERE r.tenant_id = ${tenant} AND r.reason = ${q.reason} AND r.created_at >= ${q.from}
                AND r.created_at < ${q.to} AND (r.created_at < ${q.before.created_at}
                  OR (r.created_at = ${q.before.created_at} AND r.proposal_id < ${q.before.proposal_id}))
              ORDER BY r.created_at DESC, r.proposal_id DESC LIMIT ${q.limit}`).query(
          (rs) => rs.map(toDetail),
          storageError
        ),
    reasonCountsAll: (q) =>
      sql`SELECT tenant_id, reason, COUNT(*) AS n FROM companion_proposal_reasons
          WHERE created_at >= ${q.from} AND created_at < ${q.to}
          GROUP BY tenant_id, reason ORDER BY tenant_id, reason`.query(
        (rs) => rs.map((r) => ({ tenant_id: String(r.tenant_id), reason: String(r.reason), count: int(r.n) })),
        storageError
      )
  }))
)

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

const toPromotion = (r: Row) =>
  Trusted.make(P.RulePromotion, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    vendor_key: String(r.vendor_key),
    direction: String(r.direction) as "inflow" | "outflow",
    account_code: String(r.account_code),
    labels: int(r.labels),
    evidence: json(r.evidence) as P.RulePromotion["evidence"],
    status: String(r.status) as P.PromotionStatus,
    action_id: strOrNull(r.action_id),
    rule_id: strOrNull(r.rule_id),
    created_at: int(r.created_at),
    created_by: String(r.created_by),
    reviewed_at: intOrNull(r.reviewed_at),
    reviewed_by: strOrNull(r.reviewed_by),
    review_reason: strOrNull(r.review_reason),
    version: int(r.version)
  })

/** SQL {@link P.RulePromotionStore}: one pending promotion per tenant and vendor (a partial unique index). */
export const rulePromotionStore: Layer.Layer<P.RulePromotionStore, never, SqlDb> = Layer.effect(
  P.RulePromotionStore,
  Effect.map(SqlDb, (sql) => {
    const get = (tenant: string, id: string) =>
      sql`SELECT * FROM companion_rule_promotions WHERE tenant_id = ${tenant} AND id = ${id}`.query(
        (rs) => (rs.length === 0 ? Option.none() : Option.some(toPromotion(rs[0]!))),
        storageError
      )
    return {
      insert: (p) =>
        sql`INSERT INTO companion_rule_promotions (tenant_id, id, vendor_key, direction, account_code, labels,
              evidence, status, action_id, rule_id, created_at, created_by, reviewed_at, reviewed_by, review_reason,
              version)
            VALUES (${p.tenant_id}, ${p.id}, ${p.vendor_key}, ${p.direction}, ${p.account_code}, ${p.labels},
              ${toJson(p.evidence)}, ${p.status}, ${p.action_id}, ${p.rule_id}, ${p.created_at}, ${p.created_by},
              ${p.reviewed_at}, ${p.reviewed_by}, ${p.review_reason}, ${p.version})`.pipe(
          Effect.asVoid,
          orDuplicate("companion_rule_promotion", p.id)
        ),
      update: (p, expected) =>
        versioned(
          sql`UPDATE companion_rule_promotions SET status = ${p.status}, action_id = ${p.action_id},
                rule_id = ${p.rule_id}, reviewed_at = ${p.reviewed_at}, reviewed_by = ${p.reviewed_by},
                review_reason = ${p.review_reason}, evidence = ${toJson(p.evidence)}, version = ${p.version}
              WHERE tenant_id = ${p.tenant_id} AND id = ${p.id} AND version = ${expected} RETURNING id`.query(
            (rs) => rs.length,
            storageError
          ),
          Effect.map(get(p.tenant_id, p.id), Option.isSome),
          () => CP.staleError("companion_rule_promotion", p.id),
          () => CP.notFoundError("companion_rule_promotion", p.id)
        ),
      get,
      forVendor: (tenant, vendor, limit) =>
        sql`SELECT * FROM companion_rule_promotions WHERE tenant_id = ${tenant} AND vendor_key = ${vendor}
            ORDER BY id DESC LIMIT ${limit}`.query((rs) => rs.map(toPromotion), storageError),
      list: (tenant, q) =>
        sql`SELECT * FROM companion_rule_promotions WHERE ${
          sql.and([
            sql`tenant_id = ${tenant}`,
            ...(q.status === undefined ? [] : [sql`status = ${q.status}`]),
            ...(q.before === undefined ? [] : [sql`id < ${q.before}`])
          ])
        } ORDER BY id DESC LIMIT ${q.limit}`.query((rs) => rs.map(toPromotion), storageError)
    }
  })
)

/** Every companion report port on SQL. */
export const layer: Layer.Layer<P.CompanionReportsPorts, never, SqlDb> = Layer.mergeAll(
  integrityReportStore,
  reportReader,
  rulePromotionStore
)

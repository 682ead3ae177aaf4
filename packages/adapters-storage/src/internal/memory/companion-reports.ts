/** Memory implementations of the companion report ports on {@link MemoryDatabase} (scoped per tenant). */
import { CompanionPorts as CP, CompanionReportsPorts as P } from "@airlock/companion"
import type { Errors } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"
import { toJson } from "../json.js"

const copy = <A>(v: A): A => (v === null || v === undefined ? v : JSON.parse(toJson(v)))

/** Memory {@link P.IntegrityReportStore}. */
export const integrityReportStore: Layer.Layer<P.IntegrityReportStore, never, MemoryDatabase> = Layer.effect(
  P.IntegrityReportStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<P.IntegrityReport>("companion_integrity_reports")
    return {
      insert: (r) =>
        db.writeEffect(() =>
          rows.has(r.tenant_id, r.id)
            ? Effect.fail(CP.duplicateError("companion_integrity_report", r.id))
            : (rows.set(
              r.tenant_id,
              r.id,
              new P.IntegrityReport({ ...r, counts: copy(r.counts), findings: copy(r.findings) })
            ),
              Effect.void)
        ),
      get: (tenant, id) => db.read(() => Option.fromNullable(rows.get(tenant, id))),
      list: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((r) => q.before === undefined || r.id < q.before)
            .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
            .slice(0, q.limit)
        )
    }
  })
)

const cmp = (a: { created_at: number; proposal_id: string }, b: { created_at: number; proposal_id: string }) =>
  a.created_at - b.created_at || (a.proposal_id < b.proposal_id ? -1 : a.proposal_id > b.proposal_id ? 1 : 0)

/** Memory {@link P.CompanionReportReader}. */
export const reportReader: Layer.Layer<P.CompanionReportReader, never, MemoryDatabase> = Layer.effect(
  P.CompanionReportReader,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<CP.ProposalDetail>("companion_proposals")
    return {
      detailsPage: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((d) =>
              d.created_at >= q.from && d.created_at < q.to && (q.after === undefined || cmp(d, q.after) > 0)
            )
            .sort(cmp)
            .slice(0, q.limit)
        ),
      byReason: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((d) =>
              d.created_at >= q.from && d.created_at < q.to && d.not_auto_post_reasons.includes(q.reason) &&
              (q.before === undefined || cmp(d, q.before) < 0)
            )
            .sort((a, b) => cmp(b, a))
            .slice(0, q.limit)
        ),
      reasonCountsAll: (q) =>
        db.read(() => {
          const counts = new Map<string, { tenant_id: string; reason: string; count: number }>()
          for (const d of rows.values()) {
            if (d.created_at < q.from || d.created_at >= q.to) continue
            for (const reason of d.not_auto_post_reasons) {
              const key = `${d.tenant_id}\u0000${reason}`
              const c = counts.get(key)
              if (c === undefined) counts.set(key, { tenant_id: d.tenant_id, reason, count: 1 })
              else c.count++
            }
          }
          return [...counts.values()].sort((a, b) =>
            a.tenant_id < b.tenant_id ? -1 : a.tenant_id > b.tenant_id ? 1 : a.reason < b.reason ? -1 : 1
          )
        })
    }
  })
)

const byIdDesc = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

/** Memory {@link P.RulePromotionStore}: one pending promotion per tenant and vendor, as the SQL index holds. */
export const rulePromotionStore: Layer.Layer<P.RulePromotionStore, never, MemoryDatabase> = Layer.effect(
  P.RulePromotionStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<P.RulePromotion>("companion_rule_promotions")
    const save = (p: P.RulePromotion) => new P.RulePromotion({ ...p, evidence: copy(p.evidence) })
    const pendingTaken = (p: P.RulePromotion) =>
      p.status === "pending" &&
      [...rows.inScope(p.tenant_id)].some((o) =>
        o.id !== p.id && o.status === "pending" && o.vendor_key === p.vendor_key
      )
    return {
      insert: (p) =>
        db.writeEffect(() =>
          rows.has(p.tenant_id, p.id) || pendingTaken(p)
            ? Effect.fail(CP.duplicateError("companion_rule_promotion", p.id))
            : (rows.set(p.tenant_id, p.id, save(p)), Effect.void)
        ),
      update: (p, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const stored = rows.get(p.tenant_id, p.id)
          if (!stored) return Effect.fail(CP.notFoundError("companion_rule_promotion", p.id))
          if (stored.version !== expected) return Effect.fail(CP.staleError("companion_rule_promotion", p.id))
          if (pendingTaken(p)) return Effect.fail(CP.duplicateError("companion_rule_promotion", p.id))
          rows.set(p.tenant_id, p.id, save(p))
          return Effect.void
        }),
      get: (tenant, id) => db.read(() => Option.fromNullable(rows.get(tenant, id))),
      forVendor: (tenant, vendor, limit) =>
        db.read(() => [...rows.inScope(tenant)].filter((p) => p.vendor_key === vendor).sort(byIdDesc).slice(0, limit)),
      list: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((p) =>
              (q.status === undefined || p.status === q.status) && (q.before === undefined || p.id < q.before)
            )
            .sort(byIdDesc)
            .slice(0, q.limit)
        )
    }
  })
)

/** Every companion report port in memory. */
export const layer: Layer.Layer<P.CompanionReportsPorts, never, MemoryDatabase> = Layer.mergeAll(
  integrityReportStore,
  reportReader,
  rulePromotionStore
)

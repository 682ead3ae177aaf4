/** Memory implementations of the ops KPI ports. */
import type { Errors } from "@airlock/core"
import { EventStore, KpiStore } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"

interface EventRow {
  readonly event_id: string
  readonly step: string
  readonly subject: string
  readonly occurred_at: number
  readonly day: number
}

interface ClaimRow {
  readonly owner: string
  readonly until: number
}

/** Memory {@link EventStore.ProductEventStore}: events scoped by tenant, keyed by event id. */
export const productEventStore: Layer.Layer<EventStore.ProductEventStore, never, MemoryDatabase> = Layer.effect(
  EventStore.ProductEventStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<EventRow>("ops_product_events")
    const days = db.scoped<{ readonly tenant_id: string; readonly day: number }>("ops_kpi_event_days")
    return {
      append: (events) =>
        db.write(() => {
          const inserted: Array<string> = []
          for (const e of events) {
            days.set(e.tenant_id, e.day, { tenant_id: e.tenant_id, day: e.day })
            if (rows.has(e.tenant_id, e.event_id)) continue
            rows.set(e.tenant_id, e.event_id, {
              event_id: e.event_id,
              step: e.step,
              subject: `${e.subject_type}:${e.subject_id}`,
              occurred_at: e.occurred_at,
              day: e.day
            })
            inserted.push(e.event_id)
          }
          return inserted
        }),
      stepCounts: (tenant, fromDay, toDay) =>
        db.read(() => {
          const groups = new Map<string, { day: number; step: string; events: number; subjects: Set<string> }>()
          for (const r of rows.inScope(tenant)) {
            if (r.day < fromDay || r.day > toDay) continue
            const k = `${r.day}\u0000${r.step}`
            let g = groups.get(k)
            if (g === undefined) groups.set(k, g = { day: r.day, step: r.step, events: 0, subjects: new Set() })
            g.events++
            g.subjects.add(r.subject)
          }
          return [...groups.values()].map((g) => ({
            day: g.day,
            step: g.step,
            events: g.events,
            subjects: g.subjects.size
          }))
        }),
      cohorts: (tenant, fromDay, toDay) =>
        db.read(() => {
          const seen = new Map<string, Set<number>>()
          for (const r of rows.inScope(tenant)) {
            let s = seen.get(r.subject)
            if (s === undefined) seen.set(r.subject, s = new Set())
            s.add(r.day)
          }
          const out = new Map<number, { day: number; size: number; d1: number; d7: number }>()
          for (const activeDays of seen.values()) {
            const first = Math.min(...activeDays)
            if (first < fromDay || first > toDay) continue
            let c = out.get(first)
            if (c === undefined) out.set(first, c = { day: first, size: 0, d1: 0, d7: 0 })
            c.size++
            if (activeDays.has(first + 1)) c.d1++
            if (activeDays.has(first + 7)) c.d7++
          }
          return [...out.values()]
        }),
      count: (tenant, from, to) =>
        db.read(() => {
          let n = 0
          for (const r of rows.inScope(tenant)) if (r.occurred_at >= from && r.occurred_at < to) n++
          return n
        }),
      windowCounts: (tenant, from, windowMs, windows) =>
        db.read(() => {
          const to = from + windowMs * windows
          const groups = new Map<string, { window: number; step: string; events: number }>()
          for (const r of rows.inScope(tenant)) {
            if (r.occurred_at < from || r.occurred_at >= to) continue
            const w = Math.floor((r.occurred_at - from) / windowMs)
            const k = `${w}\u0000${r.step}`
            const g = groups.get(k)
            if (g === undefined) groups.set(k, { window: w, step: r.step, events: 1 })
            else g.events++
          }
          return [...groups.values()]
        }),
      tenantsSince: (fromDay) =>
        db.read(() => {
          const out = new Set<string>()
          for (const d of days.values()) if (d.day >= fromDay) out.add(d.tenant_id)
          return [...out].sort()
        })
    }
  })
)

/** Memory {@link KpiStore.KpiStore}. */
export const kpiStore: Layer.Layer<KpiStore.KpiStore, never, MemoryDatabase> = Layer.effect(
  KpiStore.KpiStore,
  Effect.map(MemoryDatabase, (db) => {
    const rollups = db.scoped<KpiStore.DailyRollup>("ops_kpi_rollups")
    const claims = db.scoped<ClaimRow>("ops_kpi_alert_claims")
    const deliveries = db.scoped<KpiStore.DeliveryAttempt>("ops_kpi_webhook_deliveries")
    const baselines = db.scoped<KpiStore.BaselineRecord>("ops_kpi_baselines")
    const pointers = db.scoped<string>("ops_kpi_pointers")
    const digests = db.scoped<KpiStore.DigestDraft>("ops_kpi_digests")
    const newestFirst = <A extends { readonly id: string }>(at: (a: A) => number) => (a: A, b: A) =>
      at(b) - at(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
    return {
      putRollups: (rows) =>
        db.write(() => {
          for (const r of rows) rollups.set(r.tenant_id, r.day_index, r)
        }),
      listRollups: (tenant, from, to) =>
        db.read(() =>
          [...rollups.inScope(tenant)]
            .filter((r) => r.day_index >= from && r.day_index <= to)
            .sort((a, b) => b.day_index - a.day_index)
        ),
      claimNotification: (tenant, hash, owner, now, until) =>
        db.write(() => {
          const current = claims.get(tenant, hash)
          if (current !== undefined && current.until > now) return false
          claims.set(tenant, hash, { owner, until })
          return true
        }),
      releaseNotification: (tenant, hash, owner) =>
        db.write(() => {
          if (claims.get(tenant, hash)?.owner === owner) claims.delete(tenant, hash)
        }),
      recordDelivery: (a) => db.write(() => deliveries.set(a.tenant_id, a.id, a)),
      listDeliveries: (tenant, limit) =>
        db.read(() => [...deliveries.inScope(tenant)].sort(newestFirst((a) => a.at)).slice(0, limit)),
      putBaseline: (b) =>
        db.write(() => {
          baselines.set(b.tenant_id, b.id, b)
          pointers.set(b.tenant_id, "baseline.latest", b.id)
        }),
      getBaseline: (tenant, id) => db.read(() => Option.fromNullable(baselines.get(tenant, id))),
      latestBaseline: (tenant) =>
        db.read(() => {
          const id = pointers.get(tenant, "baseline.latest")
          return Option.fromNullable(id === undefined ? undefined : baselines.get(tenant, id))
        }),
      listBaselines: (tenant, limit) =>
        db.read(() => [...baselines.inScope(tenant)].sort(newestFirst((b) => b.captured_at)).slice(0, limit)),
      insertDigest: (d, allowDuplicate) =>
        db.writeEffect((): Effect.Effect<KpiStore.DigestDraft, Errors.Conflict> => {
          let max = 0
          for (const x of digests.inScope(d.tenant_id)) if (x.anchor_week === d.anchor_week) max = Math.max(max, x.seq)
          if (max > 0 && !allowDuplicate) return Effect.fail(KpiStore.digestExistsError(d.tenant_id, d.anchor_week))
          const draft = new KpiStore.DigestDraft({ ...d, seq: max + 1 }, true)
          digests.set(d.tenant_id, d.id, draft)
          return Effect.succeed(draft)
        }),
      getDigest: (tenant, id) => db.read(() => Option.fromNullable(digests.get(tenant, id))),
      listDigests: (tenant, limit) =>
        db.read(() => [...digests.inScope(tenant)].sort(newestFirst((d) => d.created_at)).slice(0, limit))
    }
  })
)

/** Every ops KPI port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<KpiStore.KpiPorts, never, MemoryDatabase> = Layer.mergeAll(
  productEventStore,
  kpiStore
)

/**
 * SQL implementations of the ops KPI ports, written once for SQLite and PostgreSQL. Every
 * rollup figure is a `GROUP BY` in the database (distinct subjects per day and step; each
 * subject's first day and its returns), so a rollup never reads the events into memory.
 */
import { Trusted } from "@airlock/core"
import { EventStore, KpiStore } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"
import { SqlDb } from "./db.js"
import { int, intOrNull, json, orStorage, storageError, toJson, uniqueViolation } from "./dialect.js"

type Row = Record<string, unknown>

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

/** The stored subject: type and id in one column, so distinct counts read one index column. */
const subjectOf = (e: EventStore.ProductEvent) => `${e.subject_type}:${e.subject_id}`

/** Rows per insert statement (7 parameters each: well under SQLite's and PostgreSQL's limits). */
const CHUNK = 500

/** SQL {@link EventStore.ProductEventStore}. */
export const productEventStore: Layer.Layer<EventStore.ProductEventStore, never, SqlDb> = Layer.effect(
  EventStore.ProductEventStore,
  Effect.map(SqlDb, (sql) => ({
    append: (events) =>
      events.length === 0 ? Effect.succeed([]) : sql.withTransaction(
        Effect.gen(function*() {
          const inserted: Array<string> = []
          for (let i = 0; i < events.length; i += CHUNK) {
            const chunk = events.slice(i, i + CHUNK)
            const rows = yield* sql`INSERT INTO ops_product_events ${
              sql.insert(chunk.map((e) => ({
                tenant_id: e.tenant_id,
                event_id: e.event_id,
                step: e.step,
                subject: subjectOf(e),
                occurred_at: e.occurred_at,
                day: e.day,
                recorded_at: e.recorded_at
              })))
            } ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id`
            for (const r of rows) inserted.push(String(r.event_id))
          }
          const days = new Map<string, { tenant_id: string; day: number }>()
          for (const e of events) days.set(`${e.tenant_id}\u0000${e.day}`, { tenant_id: e.tenant_id, day: e.day })
          const dayRows = [...days.values()]
          for (let i = 0; i < dayRows.length; i += CHUNK) {
            yield* sql`INSERT INTO ops_kpi_event_days ${
              sql.insert(dayRows.slice(i, i + CHUNK))
            } ON CONFLICT (day, tenant_id) DO NOTHING`
          }
          return inserted as ReadonlyArray<string>
        })
      ).pipe(orStorage),
    stepCounts: (tenant, fromDay, toDay) =>
      sql`SELECT day, step, COUNT(*) AS events, COUNT(DISTINCT subject) AS subjects
          FROM ops_product_events
          WHERE tenant_id = ${tenant} AND day >= ${fromDay} AND day <= ${toDay}
          GROUP BY day, step`.query(
        (rs) =>
          rs.map((r) => ({ day: int(r.day), step: String(r.step), events: int(r.events), subjects: int(r.subjects) })),
        storageError
      ),
    cohorts: (tenant, fromDay, toDay) =>
      sql`WITH firsts AS (
            SELECT subject, MIN(day) AS cohort FROM ops_product_events
            WHERE tenant_id = ${tenant}
            GROUP BY subject
            HAVING MIN(day) >= ${fromDay} AND MIN(day) <= ${toDay}
          )
          SELECT f.cohort AS day, COUNT(*) AS size,
            SUM(CASE WHEN EXISTS (SELECT 1 FROM ops_product_events e
                 WHERE e.tenant_id = ${tenant} AND e.subject = f.subject AND e.day = f.cohort + 1) THEN 1 ELSE 0 END) AS d1,
            SUM(CASE WHEN EXISTS (SELECT 1 FROM ops_product_events e
                 WHERE e.tenant_id = ${tenant} AND e.subject = f.subject AND e.day = f.cohort + 7) THEN 1 ELSE 0 END) AS d7
          FROM firsts f
          GROUP BY f.cohort`.query(
        (rs) => rs.map((r) => ({ day: int(r.day), size: int(r.size), d1: int(r.d1), d7: int(r.d7) })),
        storageError
      ),
    count: (tenant, from, to) =>
      sql`SELECT COUNT(*) AS n FROM ops_product_events
          WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to}`.query(
        (rs) => int(rs[0]!.n),
        storageError
      ),
    windowCounts: (tenant, from, windowMs, windows) =>
      sql`SELECT CAST((occurred_at - ${from}) / ${windowMs} AS INTEGER) AS w, step, COUNT(*) AS n
          FROM ops_product_events
          WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${from + windowMs * windows}
          GROUP BY 1, 2`.query(
        (rs) => rs.map((r) => ({ window: int(r.w), step: String(r.step), events: int(r.n) })),
        storageError
      ),
    tenantsSince: (fromDay) =>
      sql`SELECT DISTINCT tenant_id FROM ops_kpi_event_days WHERE day >= ${fromDay} ORDER BY tenant_id`.query(
        (rs) => rs.map((r) => String(r.tenant_id)),
        storageError
      )
  }))
)

const toRollup = (r: Row) =>
  Trusted.make(KpiStore.DailyRollup, {
    tenant_id: String(r.tenant_id),
    day: String(r.day),
    day_index: int(r.day_index),
    steps: json(r.steps) as Record<string, KpiStore.StepFigures>,
    cohort_size: int(r.cohort_size),
    d1_retained: int(r.d1_retained),
    d7_retained: int(r.d7_retained),
    computed_at: int(r.computed_at)
  })

const toDelivery = (r: Row) =>
  Trusted.make(KpiStore.DeliveryAttempt, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    delivery_id: String(r.delivery_id),
    payload_hash: String(r.payload_hash),
    attempt: int(r.attempt),
    outcome: r.outcome as KpiStore.DeliveryOutcome,
    http_status: intOrNull(r.http_status),
    error: str(r.error),
    host: String(r.host),
    at: int(r.at),
    duration_ms: int(r.duration_ms)
  })

const toBaseline = (r: Row) =>
  Trusted.make(KpiStore.BaselineRecord, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    captured_at: int(r.captured_at),
    captured_by: String(r.captured_by),
    document: json(r.document)
  })

const toDigest = (r: Row) =>
  Trusted.make(KpiStore.DigestDraft, {
    id: String(r.id),
    tenant_id: String(r.tenant_id),
    anchor_week: String(r.anchor_week),
    anchor_date: String(r.anchor_date),
    seq: int(r.seq),
    lookback_days: int(r.lookback_days),
    window_from: String(r.window_from),
    window_to: String(r.window_to),
    created_at: int(r.created_at),
    created_by: String(r.created_by),
    markdown: String(r.markdown),
    evidence: json(r.evidence)
  })

/** How often a duplicate draft retries when a concurrent one took its sequence number. */
const DUPLICATE_RETRIES = 5

/** SQL {@link KpiStore.KpiStore}. */
export const kpiStore: Layer.Layer<KpiStore.KpiStore, never, SqlDb> = Layer.effect(
  KpiStore.KpiStore,
  Effect.map(SqlDb, (sql) => {
    const insertDigestRow = (d: Omit<KpiStore.DigestDraft, "seq">, seq: number) =>
      sql`INSERT INTO ops_kpi_digests (id, tenant_id, anchor_week, anchor_date, seq, lookback_days, window_from,
            window_to, created_at, created_by, markdown, evidence)
          VALUES (${d.id}, ${d.tenant_id}, ${d.anchor_week}, ${d.anchor_date}, ${seq}, ${d.lookback_days},
            ${d.window_from}, ${d.window_to}, ${d.created_at}, ${d.created_by}, ${d.markdown}, ${toJson(d.evidence)})`
    const nextSeq = (tenant: string, week: string) =>
      sql`SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM ops_kpi_digests WHERE tenant_id = ${tenant} AND anchor_week = ${week}`
        .query((rs) => int(rs[0]!.n), storageError)
    return {
      putRollups: (rows) =>
        rows.length === 0 ? Effect.void : sql`INSERT INTO ops_kpi_rollups ${
          sql.insert(rows.map((r) => ({
            tenant_id: r.tenant_id,
            day_index: r.day_index,
            day: r.day,
            steps: toJson(r.steps),
            cohort_size: r.cohort_size,
            d1_retained: r.d1_retained,
            d7_retained: r.d7_retained,
            computed_at: r.computed_at
          })))
        } ON CONFLICT (tenant_id, day_index) DO UPDATE SET steps = excluded.steps, cohort_size = excluded.cohort_size,
            d1_retained = excluded.d1_retained, d7_retained = excluded.d7_retained, computed_at = excluded.computed_at`
          .pipe(Effect.asVoid, orStorage),
      listRollups: (tenant, from, to) =>
        sql`SELECT * FROM ops_kpi_rollups WHERE tenant_id = ${tenant} AND day_index >= ${from} AND day_index <= ${to}
            ORDER BY day_index DESC`.query((rs) => rs.map(toRollup), storageError),
      claimNotification: (tenant, hash, owner, now, until) =>
        sql`INSERT INTO ops_kpi_alert_claims (tenant_id, payload_hash, owner, claimed_at, until_at)
            VALUES (${tenant}, ${hash}, ${owner}, ${now}, ${until})
            ON CONFLICT (tenant_id, payload_hash) DO UPDATE SET owner = excluded.owner,
              claimed_at = excluded.claimed_at, until_at = excluded.until_at
            WHERE ops_kpi_alert_claims.until_at <= excluded.claimed_at
            RETURNING owner`.query((rs) => rs.length > 0 && String(rs[0]!.owner) === owner, storageError),
      releaseNotification: (tenant, hash, owner) =>
        sql`DELETE FROM ops_kpi_alert_claims WHERE tenant_id = ${tenant} AND payload_hash = ${hash} AND owner = ${owner}`
          .pipe(Effect.asVoid, orStorage),
      recordDelivery: (a) =>
        sql`INSERT INTO ops_kpi_webhook_deliveries (id, tenant_id, delivery_id, payload_hash, attempt, outcome,
              http_status, error, host, at, duration_ms)
            VALUES (${a.id}, ${a.tenant_id}, ${a.delivery_id}, ${a.payload_hash}, ${a.attempt}, ${a.outcome},
              ${a.http_status}, ${a.error}, ${a.host}, ${a.at}, ${a.duration_ms})`.pipe(Effect.asVoid, orStorage),
      listDeliveries: (tenant, limit) =>
        sql`SELECT * FROM ops_kpi_webhook_deliveries WHERE tenant_id = ${tenant}
            ORDER BY at DESC, id DESC LIMIT ${limit}`.query((rs) => rs.map(toDelivery), storageError),
      putBaseline: (b) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO ops_kpi_baselines (id, tenant_id, captured_at, captured_by, document)
                     VALUES (${b.id}, ${b.tenant_id}, ${b.captured_at}, ${b.captured_by}, ${toJson(b.document)})`
          yield* sql`INSERT INTO ops_kpi_pointers (tenant_id, name, ref_id, updated_at)
                     VALUES (${b.tenant_id}, ${"baseline.latest"}, ${b.id}, ${b.captured_at})
                     ON CONFLICT (tenant_id, name) DO UPDATE SET ref_id = excluded.ref_id, updated_at = excluded.updated_at`
        })).pipe(Effect.asVoid, orStorage),
      getBaseline: (tenant, id) =>
        sql`SELECT * FROM ops_kpi_baselines WHERE tenant_id = ${tenant} AND id = ${id}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toBaseline(rs[0]!))),
          storageError
        ),
      latestBaseline: (tenant) =>
        sql`SELECT b.* FROM ops_kpi_pointers p JOIN ops_kpi_baselines b ON b.id = p.ref_id
            WHERE p.tenant_id = ${tenant} AND p.name = ${"baseline.latest"}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toBaseline(rs[0]!))),
          storageError
        ),
      listBaselines: (tenant, limit) =>
        sql`SELECT * FROM ops_kpi_baselines WHERE tenant_id = ${tenant} ORDER BY captured_at DESC, id DESC LIMIT ${limit}`
          .query((rs) => rs.map(toBaseline), storageError),
      insertDigest: (d, allowDuplicate) =>
        Effect.gen(function*() {
          for (let attempt = 0;; attempt++) {
            const seq = allowDuplicate ? yield* nextSeq(d.tenant_id, d.anchor_week) : 1
            const outcome = yield* Effect.either(insertDigestRow(d, seq))
            if (outcome._tag === "Right") return Trusted.make(KpiStore.DigestDraft, { ...d, seq })
            const violation = uniqueViolation(outcome.left)
            if (violation === undefined || violation.columns.includes("id")) {
              return yield* Effect.fail(storageError(outcome.left))
            }
            if (!allowDuplicate) return yield* Effect.fail(KpiStore.digestExistsError(d.tenant_id, d.anchor_week))
            if (attempt >= DUPLICATE_RETRIES) return yield* Effect.fail(storageError(outcome.left))
          }
        }),
      getDigest: (tenant, id) =>
        sql`SELECT * FROM ops_kpi_digests WHERE tenant_id = ${tenant} AND id = ${id}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toDigest(rs[0]!))),
          storageError
        ),
      listDigests: (tenant, limit) =>
        sql`SELECT * FROM ops_kpi_digests WHERE tenant_id = ${tenant} ORDER BY created_at DESC, id DESC LIMIT ${limit}`
          .query((rs) => rs.map(toDigest), storageError)
    }
  })
)

/** Every ops KPI port on SQL (needs `SqlDb`). */
export const layer: Layer.Layer<KpiStore.KpiPorts, never, SqlDb> = Layer.mergeAll(productEventStore, kpiStore)

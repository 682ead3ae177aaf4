/**
 * Raw access to what an adapter persisted for the ops KPI ports, bypassing them: the KPI suite
 * checks stored events, rollups, claims, deliveries, baselines and digests through it.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** The KPI tables the probe counts rows of. */
export type KpiTable =
  | "ops_product_events"
  | "ops_kpi_rollups"
  | "ops_kpi_webhook_deliveries"
  | "ops_kpi_baselines"
  | "ops_kpi_digests"

/** Raw reads of KPI rows. */
export class KpiProbe extends Context.Tag("test/KpiProbe")<
  KpiProbe,
  {
    /** Rows of a table for a tenant. */
    readonly rows: (table: KpiTable, tenant: string) => Effect.Effect<number>
    /** The stored claim of `(tenant, hash)`: `{owner, until}`, or null. */
    readonly claim: (tenant: string, hash: string) => Effect.Effect<{ owner: string; until: number } | null>
    /** The id the tenant's `baseline.latest` pointer names, or null. */
    readonly latestPointer: (tenant: string) => Effect.Effect<string | null>
    /** The stored subject of an event (`user:u1`), or null. */
    readonly eventSubject: (tenant: string, eventId: string) => Effect.Effect<string | null>
  }
>() {}

/** Probe over the memory database. */
export const memory = Layer.effect(
  KpiProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    rows: (table, tenant) => Effect.sync(() => [...db.scoped<unknown>(table).inScope(tenant)].length),
    claim: (tenant, hash) =>
      Effect.sync(() => {
        const c = db.scoped<{ owner: string; until: number }>("ops_kpi_alert_claims").get(tenant, hash)
        return c === undefined ? null : { owner: c.owner, until: c.until }
      }),
    latestPointer: (tenant) =>
      Effect.sync(() => db.scoped<string>("ops_kpi_pointers").get(tenant, "baseline.latest") ?? null),
    eventSubject: (tenant, id) =>
      Effect.sync(() => db.scoped<{ subject: string }>("ops_product_events").get(tenant, id)?.subject ?? null)
  }))
)

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  KpiProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    rows: (table, tenant) =>
      sql.unsafe<{ n: unknown }>(
        `SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = $1`.replace(
          "$1",
          sql.onDialectOrElse({ pg: () => "$1", orElse: () => "?" })
        ),
        [tenant]
      ).pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie),
    claim: (tenant, hash) =>
      sql`SELECT owner, until_at FROM ops_kpi_alert_claims WHERE tenant_id = ${tenant} AND payload_hash = ${hash}`.pipe(
        Effect.map((r) => (r.length ? { owner: String(r[0]!.owner), until: Number(r[0]!.until_at) } : null)),
        Effect.orDie
      ),
    latestPointer: (tenant) =>
      sql`SELECT ref_id FROM ops_kpi_pointers WHERE tenant_id = ${tenant} AND name = 'baseline.latest'`.pipe(
        Effect.map((r) => (r.length ? String(r[0]!.ref_id) : null)),
        Effect.orDie
      ),
    eventSubject: (tenant, id) =>
      sql`SELECT subject FROM ops_product_events WHERE tenant_id = ${tenant} AND event_id = ${id}`.pipe(
        Effect.map((r) => (r.length ? String(r[0]!.subject) : null)),
        Effect.orDie
      )
  }))
)

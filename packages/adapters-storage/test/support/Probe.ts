/**
 * Raw access to what an adapter persisted, bypassing the adapter's own methods: the suite
 * checks stored state through it and tampers with rows to prove the audit chain catches it.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** Raw reads and writes of stored rows. */
export class Probe extends Context.Tag("test/Probe")<
  Probe,
  {
    /** Rows of a logical table (`tenants`, `actors`, `actions`, `traces`, `audit`, `system_state`, `api_tokens`) for a tenant ("" = all). */
    readonly count: (table: string, tenant: string) => Effect.Effect<number>
    /** The stored status of an action, or null. */
    readonly actionStatus: (tenant: string, id: string) => Effect.Effect<string | null>
    /** Rewrites the `data` of one audit row in place. */
    readonly tamperAudit: (tenant: string, seq: number, data: unknown) => Effect.Effect<void>
    /** Overwrites fields of an action's stored (encoded) payload in place. */
    readonly tamperActionPayload: (tenant: string, id: string, fields: Record<string, unknown>) => Effect.Effect<void>
    /** Deletes one audit row. */
    readonly deleteAudit: (tenant: string, seq: number) => Effect.Effect<void>
    /** The stored hash of a token, or null (to prove no plaintext is kept). */
    readonly tokenRow: (id: string) => Effect.Effect<Record<string, unknown> | null>
  }
>() {}

/** Probe over the memory database. */
export const memory = Layer.effect(
  Probe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => {
    // the memory adapter keeps these tables per tenant
    const scoped = new Set(["actors", "actions", "audit"])
    const rows = (table: string) =>
      scoped.has(table)
        ? [...db.scoped<Record<string, unknown>>(table).values()]
        : [...db.table<Record<string, unknown>>(table).values()]
    return {
      count: (table, tenant) =>
        Effect.sync(() =>
          rows(table).filter((r) => tenant === "" || r.tenant_id === tenant || (table === "tenants" && r.id === tenant))
            .length
        ),
      actionStatus: (tenant, id) =>
        Effect.sync(() => (db.scoped<{ status: string }>("actions").get(tenant, id)?.status ?? null)),
      tamperAudit: (tenant, seq, data) =>
        Effect.sync(() => {
          const t = db.scoped<Record<string, unknown>>("audit")
          const r = t.get(tenant, seq)
          if (r) t.set(tenant, seq, { ...r, data })
        }),
      tamperActionPayload: (tenant, id, fields) =>
        Effect.sync(() => {
          // in place: the stored record object (and its payload object) stays the same one
          const r = db.scoped<{ payload: Record<string, unknown> }>("actions").get(tenant, id)
          if (r) Object.assign(r.payload, fields)
        }),
      deleteAudit: (tenant, seq) => Effect.sync(() => db.scoped("audit").delete(tenant, seq)),
      tokenRow: (id) =>
        Effect.sync(() => {
          const r = db.table<Record<string, unknown>>("api_tokens").get(id)
          return r ? { ...r } : null
        })
    }
  })
)

const tables: Record<string, string> = {
  tenants: "core_tenants",
  actors: "core_actors",
  actions: "core_actions",
  traces: "core_traces",
  audit: "core_audit",
  system_state: "core_system_state",
  api_tokens: "core_api_tokens"
}

/** Probe over any SQL database (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  Probe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    count: (table, tenant) => {
      const name = sql(tables[table]!)
      const column = table === "tenants" ? sql("id") : sql("tenant_id")
      const q = table === "system_state" || tenant === ""
        ? sql`SELECT COUNT(*) AS n FROM ${name}`
        : sql`SELECT COUNT(*) AS n FROM ${name} WHERE ${column} = ${tenant}`
      return q.pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
    },
    actionStatus: (tenant, id) =>
      sql`SELECT status FROM core_actions WHERE tenant_id = ${tenant} AND id = ${id}`.pipe(
        Effect.map((r) => (r.length ? String(r[0]!.status) : null)),
        Effect.orDie
      ),
    tamperAudit: (tenant, seq, data) =>
      sql`UPDATE core_audit SET data = ${JSON.stringify(data)} WHERE tenant_id = ${tenant} AND seq = ${seq}`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    tamperActionPayload: (tenant, id, fields) =>
      sql`SELECT payload FROM core_actions WHERE tenant_id = ${tenant} AND id = ${id}`.pipe(
        Effect.flatMap((r) => {
          const payload = { ...JSON.parse(String(r[0]!.payload)), ...fields }
          return sql`UPDATE core_actions SET payload = ${
            JSON.stringify(payload)
          } WHERE tenant_id = ${tenant} AND id = ${id}`
        }),
        Effect.asVoid,
        Effect.orDie
      ),
    deleteAudit: (tenant, seq) =>
      sql`DELETE FROM core_audit WHERE tenant_id = ${tenant} AND seq = ${seq}`.pipe(Effect.asVoid, Effect.orDie),
    tokenRow: (id) =>
      sql`SELECT * FROM core_api_tokens WHERE id = ${id}`.pipe(
        Effect.map((r) => (r.length ? { ...r[0]! } : null)),
        Effect.orDie
      )
  }))
)

/**
 * Raw reads of a tenant's rows around the adapter: a digest of every row the tenant owns (to
 * prove a deletion left another tenant byte-for-byte as it was) and what is left of a tenant in
 * every table (SQL: every live table with a `tenant_id` column, so a table missing from the
 * registry is caught too).
 */
import { MemoryDatabase, TenantTables } from "@airlock/adapters-storage"
import { Canonical } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** Raw tenant reads. */
export class TenantProbe extends Context.Tag("test/TenantProbe")<
  TenantProbe,
  {
    /** SHA-256 over every row of the tenant in every table, in key order, as stored. */
    readonly digest: (tenant: string) => Effect.Effect<string>
    /** Rows of the tenant left per table (raw). */
    readonly leftovers: (tenant: string) => Effect.Effect<Record<string, number>>
  }
>() {}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x))

/** Probe over SQL (SQLite or PostgreSQL). */
export const sql = Layer.effect(
  TenantProbe,
  Effect.map(SqlClient.SqlClient, (client) => {
    const condition = (t: TenantTables.TenantTable, tenant: string) =>
      t.keys === undefined
        ? {
          text: `${t.tenantColumn} = ${client.onDialectOrElse({ pg: () => "$1", orElse: () => "?" })}`,
          params: [tenant]
        }
        : {
          text: `${t.tenantColumn} IN (${
            t.keys(tenant).map((_, i) => client.onDialectOrElse({ pg: () => `$${i + 1}`, orElse: () => "?" })).join(
              ", "
            )
          })`,
          params: t.keys(tenant)
        }
    return {
      digest: (tenant) =>
        Effect.gen(function*() {
          const parts: Array<string> = []
          for (const t of TenantTables.tenantTables) {
            const c = condition(t, tenant)
            const rows = yield* client.unsafe(
              `SELECT * FROM ${t.table} WHERE ${c.text} ORDER BY ${t.key.join(", ")}`,
              c.params
            )
            parts.push(`${t.table}:${json(rows)}`)
          }
          return Canonical.sha256Hex(parts.join("\n"))
        }).pipe(Effect.orDie),
      leftovers: (tenant) =>
        Effect.gen(function*() {
          const out: Record<string, number> = {}
          const live = yield* Effect.provideService(TenantTables.liveSchema, SqlClient.SqlClient, client)
          for (const t of live) {
            if (!t.columns.some((c) => c.name === "tenant_id")) continue
            const p = client.onDialectOrElse({ pg: () => "$1", orElse: () => "?" })
            const rows = yield* client.unsafe(`SELECT COUNT(*) AS n FROM ${t.table} WHERE tenant_id = ${p}`, [tenant])
            out[t.table] = Number((rows[0] as { n: unknown }).n)
          }
          for (const t of TenantTables.tenantTables) {
            const c = condition(t, tenant)
            const rows = yield* client.unsafe(`SELECT COUNT(*) AS n FROM ${t.table} WHERE ${c.text}`, c.params)
            out[t.table] = Number((rows[0] as { n: unknown }).n)
          }
          return out
        }).pipe(Effect.orDie)
    }
  })
)

/** Probe over the memory database. */
export const memory = Layer.effect(
  TenantProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => {
    const rowsOf = (name: string, rule: TenantTables.MemoryTableRule, tenant: string): Array<unknown> => {
      switch (rule._tag) {
        case "Scoped":
          return [...db.scoped(name).inScope(tenant)]
        case "ScopedKeys":
          return rule.keys(tenant).flatMap((k) => [...db.scoped(name).inScope(k)])
        case "Plain":
          return [...db.table(name).raw].filter(([k, r]) => rule.tenantOf(k, r) === tenant).map(([, r]) => r)
        case "System":
          return []
      }
    }
    return {
      digest: (tenant) =>
        Effect.sync(() =>
          Canonical.sha256Hex(
            Object.entries(TenantTables.memoryTables).map(([name, rule]) =>
              `${name}:${json(rowsOf(name, rule, tenant))}`
            )
              .join("\n")
          )
        ),
      leftovers: (tenant) =>
        Effect.sync(() => {
          const out: Record<string, number> = {}
          for (const name of db.tableNames()) {
            const rule = TenantTables.memoryTables[name]
            // an undeclared table: count rows naming the tenant in their fields
            out[name] = rule === undefined
              ? [...(() => {
                try {
                  return db.table<Record<string, unknown>>(name).values()
                } catch {
                  return db.scoped<Record<string, unknown>>(name).values()
                }
              })()].filter((r) => typeof r === "object" && r !== null && r.tenant_id === tenant).length
              : rowsOf(name, rule, tenant).length
          }
          return out
        })
    }
  })
)

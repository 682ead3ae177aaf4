/**
 * SQL {@link TenantData.TenantDataStore}: the registry's tables (`TenantTables.tenantTables`) read
 * page by page in primary-key order (a keyset cursor, {@link seek}), and deleted table by table in
 * the registry's delete order.
 */
import { TenantHealth } from "@airlock/companion"
import { type Errors, TenantData } from "@airlock/core"
import { Effect, Layer } from "effect"
import type { TenantTable } from "../../TenantTables.js"
import { tenantTables } from "../../TenantTables.js"
import { type Db, type Fragment, literal, SqlDb } from "./db.js"
import { int, orStorage } from "./dialect.js"

type Row = Record<string, unknown>

const byName = new Map(tenantTables.map((t) => [t.table, t]))
const deleteOrder = [...tenantTables].sort((a, b) => a.deleteOrder - b.deleteOrder)

const unknownTable = (table: string) => Effect.dieMessage(`not a tenant table: ${table}`)

/** The condition selecting the tenant's rows of a table. */
const tenantCondition = (sql: Db, t: TenantTable, tenant: string): Fragment =>
  t.keys === undefined
    ? sql`${literal(t.tenantColumn)} = ${tenant}`
    : sql.in(t.tenantColumn, t.keys(tenant))

/**
 * The keyset condition "after this key" for a page. A row-value comparison `(k1, k2) > (?, ?)` is
 * not turned into an index range by SQLite (it searches on the tenant column alone, so page k
 * re-reads the k − 1 pages before it and the export is quadratic). Instead: key columns fixed by
 * the tenant equality are dropped, and the rest expand to `k1 >= ? AND (k1 > ? OR (k1 = ? AND k2 > ?))`,
 * whose leading `k1 >= ?` is the range SQLite and PostgreSQL seek to (`EXPLAIN QUERY PLAN`:
 * `SEARCH … USING INDEX … (tenant_id=? AND id>?)`).
 */
export const seek = (sql: Db, t: TenantTable, after: ReadonlyArray<unknown>): Fragment => {
  const pinned = t.keys === undefined ? t.tenantColumn : undefined
  const keys = t.key.map((k, i) => [k, after[i]] as const).filter(([k]) => k !== pinned)
  if (keys.length === 0) return sql`1 = 0`
  const gt = (i: number): Fragment => {
    const [k, v] = keys[i]!
    return i === keys.length - 1
      ? sql`${literal(k)} > ${v}`
      : sql`(${literal(k)} > ${v} OR (${literal(k)} = ${v} AND ${gt(i + 1)}))`
  }
  const [k1, v1] = keys[0]!
  return keys.length === 1 ? gt(0) : sql`${literal(k1)} >= ${v1} AND ${gt(0)}`
}

/** The store over a registry (the default one, or a host's with its own tables added). */
export const make = (
  registry: ReadonlyArray<TenantTable> = tenantTables
): Effect.Effect<TenantData.TenantDataStore["Type"], never, SqlDb> =>
  Effect.map(SqlDb, (sql): TenantData.TenantDataStore["Type"] => {
    const tables = registry === tenantTables ? byName : new Map(registry.map((t) => [t.table, t]))
    const order = registry === tenantTables ? deleteOrder : [...registry].sort((a, b) => a.deleteOrder - b.deleteOrder)
    // PostgreSQL returns BIGINT as text: the BIGINT columns of each table, read once
    const bigintColumns = new Map<string, ReadonlySet<string>>()
    const bigints = (table: string): Effect.Effect<ReadonlySet<string>, Errors.StorageError> => {
      if (sql.dialect !== "pg") return Effect.succeed(new Set())
      const known = bigintColumns.get(table)
      if (known !== undefined) return Effect.succeed(known)
      return sql`SELECT column_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ${table} AND data_type = 'bigint'`.pipe(
        Effect.map((rows) => {
          const set = new Set(rows.map((r) => String(r.column_name)))
          bigintColumns.set(table, set)
          return set
        }),
        orStorage
      )
    }
    const exportRow = (t: TenantTable, ints: ReadonlySet<string>, r: Row): Row => {
      const out: Row = {}
      for (const [k, v] of Object.entries(r)) {
        if (t.omit?.includes(k)) continue
        if (ints.has(k) && typeof v === "string") {
          const n = Number(v)
          out[k] = Number.isSafeInteger(n) ? n : v
        } else if (typeof v === "bigint") {
          out[k] = Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
        } else out[k] = v
      }
      return out
    }

    return {
      tables: () => registry.map((t) => t.table),
      count: (tenant, table) => {
        const t = tables.get(table)
        if (t === undefined) return unknownTable(table)
        return sql`SELECT COUNT(*) AS n FROM ${literal(t.table)} WHERE ${tenantCondition(sql, t, tenant)}`.pipe(
          Effect.map((rows) => int(rows[0]?.n ?? 0)),
          orStorage
        )
      },
      page: (tenant, table, cursor, limit) => {
        const t = tables.get(table)
        if (t === undefined) return unknownTable(table)
        return Effect.gen(function*() {
          const ints = yield* bigints(t.table)
          const keyList = literal(t.key.join(", "))
          const after: ReadonlyArray<unknown> | null = cursor === null ? null : JSON.parse(cursor)
          const condition = after === null
            ? tenantCondition(sql, t, tenant)
            : sql.and([tenantCondition(sql, t, tenant), seek(sql, t, after)])
          const rows = yield* sql`SELECT * FROM ${literal(t.table)} WHERE ${condition}
                                  ORDER BY ${keyList} LIMIT ${limit}`.pipe(orStorage)
          const last = rows.length === limit ? rows[rows.length - 1] : undefined
          return {
            rows: rows.map((r) => exportRow(t, ints, r)),
            // the cursor keeps the key values as the driver gave them (compared in SQL as such)
            cursor: last === undefined
              ? null
              : JSON.stringify(t.key.map((k) => (typeof last[k] === "bigint" ? String(last[k]) : last[k])))
          }
        })
      },
      remove: (tenant) =>
        Effect.gen(function*() {
          const counts: Record<string, number> = {}
          for (const t of order) {
            const condition = tenantCondition(sql, t, tenant)
            const n = yield* sql`SELECT COUNT(*) AS n FROM ${literal(t.table)} WHERE ${condition}`.pipe(
              Effect.map((rows) => int(rows[0]?.n ?? 0)),
              orStorage
            )
            if (n > 0) yield* sql`DELETE FROM ${literal(t.table)} WHERE ${condition}`.pipe(orStorage)
            counts[t.table] = n
          }
          // registry (export) order for the caller
          return Object.fromEntries(registry.map((t) => [t.table, counts[t.table] ?? 0]))
        })
    }
  })

/** SQL {@link TenantData.TenantDataStore} over the default registry. */
export const tenantDataStore: Layer.Layer<TenantData.TenantDataStore, never, SqlDb> = Layer.effect(
  TenantData.TenantDataStore,
  make()
)

/**
 * SQL {@link TenantHealth.TenantHealthStore}: the latest import time of the tenant's bank
 * transactions and the rows imported then, and the companion proposals without a review.
 */
export const tenantHealthStore: Layer.Layer<TenantHealth.TenantHealthStore, never, SqlDb> = Layer.effect(
  TenantHealth.TenantHealthStore,
  Effect.map(SqlDb, (sql): TenantHealth.TenantHealthStore["Type"] => ({
    lastImport: (tenant) =>
      Effect.gen(function*() {
        const latest = yield* sql`SELECT MAX(imported_at) AS at FROM ledger_bank_transactions
                                  WHERE tenant_id = ${tenant}`
        const at = latest[0]?.at
        if (at === null || at === undefined) return null
        const rows = yield* sql`SELECT imported_by, COUNT(*) AS n FROM ledger_bank_transactions
                                WHERE tenant_id = ${tenant} AND imported_at = ${at}
                                GROUP BY imported_by ORDER BY COUNT(*) DESC, imported_by LIMIT 1`
        return { at: int(at), by: String(rows[0]?.imported_by ?? ""), transactions: int(rows[0]?.n ?? 0) }
      }).pipe(orStorage),
    openProposals: (tenant) =>
      sql`SELECT COUNT(*) AS n FROM companion_proposals WHERE tenant_id = ${tenant} AND review_outcome IS NULL`.pipe(
        Effect.map((rows) => int(rows[0]?.n ?? 0)),
        orStorage
      )
  }))
)

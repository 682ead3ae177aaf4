/**
 * Memory {@link TenantData.TenantDataStore}: the memory database's tables as the registry
 * (`TenantTables.memoryTables`) describes them. Rows are exported as the adapter holds them
 * (records' fields, big integers as decimal strings); the cursor is the count of rows already
 * read in the table's (insertion) order. Removal clears the tenant's scopes and rows, and the
 * structures stores keep beside the tables (`MemoryDatabase.onTenantRemoved`).
 */
import { type CompanionPorts, TenantHealth } from "@airlock/companion"
import { TenantData } from "@airlock/core"
import type { BankTransaction } from "@airlock/ledger"
import { Effect, Layer } from "effect"
import { MemoryDatabase, type MemoryDatabaseShape } from "../../MemoryDatabase.js"
import { type MemoryTableRule, memoryTables, tenantTables } from "../../TenantTables.js"

/** A stored value as JSON-ready data: bigints as strings, maps as objects, records as their fields. */
export const toExportValue = (value: unknown): unknown => {
  if (typeof value === "bigint") return value.toString()
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map(toExportValue)
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toExportValue(v)]))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toExportValue(v)
  return out
}

const omitted = new Map(tenantTables.map((t) => [t.table, new Set(t.omit ?? [])]))

/** The tenant's rows of one memory table (a live iteration: read it at once). */
const rowsOf = function*(db: MemoryDatabaseShape, name: string, rule: MemoryTableRule, tenant: string) {
  switch (rule._tag) {
    case "Scoped":
      yield* db.scoped<unknown>(name).inScope(tenant)
      return
    case "ScopedKeys": {
      const t = db.scoped<unknown>(name)
      for (const key of rule.keys(tenant)) yield* t.inScope(key)
      return
    }
    case "Plain": {
      for (const [key, row] of db.table<unknown>(name).raw) if (rule.tenantOf(key, row) === tenant) yield row
      return
    }
    case "System":
      return
  }
}

/** The memory store over the database's tables. */
export const make: Effect.Effect<TenantData.TenantDataStore["Type"], never, MemoryDatabase> = Effect.map(
  MemoryDatabase,
  (db): TenantData.TenantDataStore["Type"] => {
    const exported = Object.entries(memoryTables).flatMap(([name, rule]) =>
      rule._tag !== "System" && rule.export !== null ? [[rule.export, { name, rule }] as const] : []
    )
    const byExport = new Map(exported)
    // export order: the SQL registry's, so an archive reads the same from either adapter
    const order = tenantTables.map((t) => t.table).filter((t) => byExport.has(t))
    const source = (table: string) => {
      const found = byExport.get(table)
      if (found === undefined) throw new Error(`not a tenant table: ${table}`)
      return found
    }
    const exportRow = (table: string, row: unknown) => {
      const plain = toExportValue(row)
      // an index row is a bare value (an id): wrapped, so every exported row is an object
      if (plain === null || typeof plain !== "object" || Array.isArray(plain)) return { value: plain }
      const value = plain as Record<string, unknown>
      const omit = omitted.get(table)
      if (omit !== undefined) { for (const k of omit) delete value[k] }
      return value
    }

    return {
      tables: () => order,
      count: (tenant, table) =>
        db.read(() => {
          const { name, rule } = source(table)
          let n = 0
          for (const _ of rowsOf(db, name, rule, tenant)) n++
          return n
        }),
      page: (tenant, table, cursor, limit) =>
        db.read(() => {
          const { name, rule } = source(table)
          const skip = cursor === null ? 0 : Number(cursor)
          const rows: Array<Record<string, unknown>> = []
          let i = 0
          for (const row of rowsOf(db, name, rule, tenant)) {
            if (i++ < skip) continue
            rows.push(exportRow(table, row))
            if (rows.length === limit) break
          }
          return { rows, cursor: rows.length === limit ? String(skip + limit) : null }
        }),
      remove: (tenant) =>
        db.write(() => {
          const counts: Record<string, number> = {}
          for (const name of db.tableNames()) {
            const rule = memoryTables[name]
            if (rule === undefined) throw new Error(`memory table ${name} is not in TenantTables.memoryTables`)
            let n = 0
            switch (rule._tag) {
              case "Scoped":
                n = db.scoped<unknown>(name).clearScope(tenant)
                break
              case "ScopedKeys": {
                const t = db.scoped<unknown>(name)
                for (const key of rule.keys(tenant)) n += t.clearScope(key)
                break
              }
              case "Plain": {
                const t = db.table<unknown>(name)
                const keys = [...t.raw].filter(([key, row]) => rule.tenantOf(key, row) === tenant).map(([key]) => key)
                for (const key of keys) t.delete(key)
                n = keys.length
                break
              }
              case "System":
                break
            }
            if (rule._tag !== "System" && rule.export !== null) counts[rule.export] = n
          }
          db.tenantRemoved(tenant)
          return Object.fromEntries(order.map((t) => [t, counts[t] ?? 0]))
        })
    }
  }
)

/** Memory {@link TenantData.TenantDataStore}. */
export const tenantDataStore: Layer.Layer<TenantData.TenantDataStore, never, MemoryDatabase> = Layer.effect(
  TenantData.TenantDataStore,
  make
)

/** Memory {@link TenantHealth.TenantHealthStore} over the ledger's and the companion's maps. */
export const tenantHealthStore: Layer.Layer<TenantHealth.TenantHealthStore, never, MemoryDatabase> = Layer.effect(
  TenantHealth.TenantHealthStore,
  Effect.map(MemoryDatabase, (db): TenantHealth.TenantHealthStore["Type"] => ({
    lastImport: (tenant) =>
      db.read(() => {
        let at: number | null = null
        const by = new Map<string, number>()
        for (const row of db.scoped<BankTransaction.BankTransaction>("ledger_bank_transactions").inScope(tenant)) {
          if (at === null || row.imported_at > at) {
            at = row.imported_at
            by.clear()
          }
          if (row.imported_at === at) by.set(row.imported_by, (by.get(row.imported_by) ?? 0) + 1)
        }
        if (at === null) return null
        const [who, n] = [...by].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]!
        return { at, by: who, transactions: n }
      }),
    openProposals: (tenant) =>
      db.read(() => {
        let n = 0
        for (const d of db.scoped<CompanionPorts.ProposalDetail>("companion_proposals").inScope(tenant)) {
          if (d.review_outcome === null) n++
        }
        return n
      })
  }))
)

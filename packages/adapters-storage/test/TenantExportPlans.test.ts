/**
 * The tenant export's page query on SQLite seeks on its key: every registry table's "next page"
 * statement (the adapter's own text, recorded as it runs) is checked with `EXPLAIN QUERY PLAN` —
 * no `SCAN`, no temporary B-tree for the order, and a search on more than the tenant column, so
 * a page costs the same whether it is the first or the hundredth (the row-value cursor
 * `(k1, k2) > (?, ?)` searched on the tenant alone and made the export quadratic).
 */
import { TenantTables } from "@airlock/adapters-storage"
import { type Ids, TenantData } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { tenantDataStore } from "../src/internal/sql/tenantData.js"
import * as SqlitePlans from "./support/SqlitePlans.js"

const { layer: TestLayer, seen } = SqlitePlans.recorder(tenantDataStore)

const tenant = "t" as Ids.TenantId

// keyed by `id` alone, a few rows a week per tenant: their pages sort the tenant's rows (no index kept for them)
const SORTED_SMALL = new Set(["ops_kpi_webhook_deliveries", "ops_kpi_baselines", "ops_kpi_digests"])

it.layer(TestLayer)("tenant export on SQLite: the next page seeks on the key", (it) => {
  it.effect("every registry table's next-page query searches its index past the cursor, in key order", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* TenantData.TenantDataStore
      expect(store.tables()).toStrictEqual(TenantTables.tenantTables.map((t) => t.table))
      const bad: Array<string> = []
      for (const t of TenantTables.tenantTables) {
        const cursor = JSON.stringify(t.key.map((k) => (k === t.tenantColumn && t.keys === undefined ? tenant : "k")))
        seen.length = 0
        yield* store.page(tenant, t.table, cursor, 10)
        const statement = seen.find((s) => s.text.includes(`FROM ${t.table}`))!
        const plan = (yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${statement.text}`, statement.params))
          .map((r) => r.detail).join(" | ")
        if (/\bSCAN\b/.test(plan)) bad.push(`${t.table}: ${plan}`)
        if (SORTED_SMALL.has(t.table)) continue
        // a key beyond the tenant column is searched as a range, not filtered row by row
        const rest = t.key.filter((k) => !(k === t.tenantColumn && t.keys === undefined))
        const seeks = rest.length === 0 || new RegExp(`\\b${rest[0]}[>=]`).test(plan)
        if (/TEMP B-TREE/.test(plan) || !seeks) bad.push(`${t.table}: ${plan}`)
      }
      expect(bad).toStrictEqual([])
    }))
})

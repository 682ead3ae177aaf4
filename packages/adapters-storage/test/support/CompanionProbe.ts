/**
 * Raw reads for the companion suite: rows of the companion tables and the ledger's entries, read
 * from the SQL tables or the memory maps, never through the adapter under test.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** What the suite reads raw. */
export class CompanionProbe extends Context.Tag("test/CompanionProbe")<
  CompanionProbe,
  {
    /** Rows of `rules`, `classifiers`, `calibrations`, `proposals`, `reasons` or `entries` of a tenant. */
    readonly count: (
      table: "rules" | "classifiers" | "calibrations" | "proposals" | "reasons" | "entries",
      tenant: string
    ) => Effect.Effect<number>
    /** A proposal detail's review columns. */
    readonly review: (
      tenant: string,
      proposalId: string
    ) => Effect.Effect<{ outcome: string | null; entry_id: string | null; applied_proposal_id: string | null } | null>
    /** The proposal ids of the tenant's journal entries, by entry id. */
    readonly entryProposals: (tenant: string) => Effect.Effect<ReadonlyArray<string | null>>
  }
>() {}

const sqlTables = {
  rules: "companion_rules",
  classifiers: "companion_classifiers",
  calibrations: "companion_calibrations",
  proposals: "companion_proposals",
  reasons: "companion_proposal_reasons",
  entries: "ledger_entries"
} as const

/** Probe over SQL. */
export const sql = Layer.effect(
  CompanionProbe,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    count: (table, tenant) =>
      sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${sql(sqlTables[table])} WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((rs) => Number(rs[0]!.n)),
        Effect.orDie
      ),
    review: (tenant, id) =>
      sql<{ review_outcome: string | null; entry_id: string | null; applied_proposal_id: string | null }>`
        SELECT review_outcome, entry_id, applied_proposal_id FROM companion_proposals
        WHERE tenant_id = ${tenant} AND proposal_id = ${id}`.pipe(
        Effect.map((rs) =>
          rs.length === 0
            ? null
            : {
              outcome: rs[0]!.review_outcome,
              entry_id: rs[0]!.entry_id,
              applied_proposal_id: rs[0]!.applied_proposal_id
            }
        ),
        Effect.orDie
      ),
    entryProposals: (tenant) =>
      sql<
        { proposal_id: string | null }
      >`SELECT proposal_id FROM ledger_entries WHERE tenant_id = ${tenant} ORDER BY id`
        .pipe(Effect.map((rs) => rs.map((r) => r.proposal_id)), Effect.orDie)
  }))
)

interface MemDetail {
  readonly review_outcome: string | null
  readonly entry_id: string | null
  readonly applied_proposal_id: string | null
  readonly not_auto_post_reasons: ReadonlyArray<string>
}

/** Probe over the memory database. */
export const memory = Layer.effect(
  CompanionProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    count: (table, tenant) =>
      Effect.sync(() => {
        if (table === "reasons") {
          return [...db.scoped<MemDetail>("companion_proposals").inScope(tenant)].reduce(
            (n, d) => n + d.not_auto_post_reasons.length,
            0
          )
        }
        return [...db.scoped<unknown>(sqlTables[table]).inScope(tenant)].length
      }),
    review: (tenant, id) =>
      Effect.sync(() => {
        const d = db.scoped<MemDetail>("companion_proposals").get(tenant, id)
        return d
          ? { outcome: d.review_outcome, entry_id: d.entry_id, applied_proposal_id: d.applied_proposal_id }
          : null
      }),
    entryProposals: (tenant) =>
      Effect.sync(() =>
        [...db.scoped<{ id: string; proposal_id: string | null }>("ledger_entries").inScope(tenant)]
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((e) => e.proposal_id)
      )
  }))
)

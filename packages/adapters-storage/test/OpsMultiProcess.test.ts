/**
 * Executions across real processes: two OS processes share one PostgreSQL database and claim the
 * same queue at the same instant. Every queued execution must be claimed and run by exactly one
 * of them (`FOR UPDATE SKIP LOCKED`), once.
 */
import { Postgres } from "@airlock/adapters-storage"
import { ExecutionStore } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { worker } from "./support/ChildProcess.js"
import { environment } from "./support/OpsEnv.js"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

/** Runs one worker process and returns its JSON result. */
const run = worker<{ name: string; ran: Array<string> }>("ops-worker.ts", (job) => `ops worker ${job.name}`)

const admin = pgAdminUrl()
const N = 120

if (admin === "") {
  describe("executions across processes: postgres", () => {
    it.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
} else {
  describe("executions across processes: postgres", () => {
    const scenario = (url: string) =>
      Effect.gen(function*() {
        const store = yield* ExecutionStore.ExecutionStore
        const sql = yield* SqlClient.SqlClient
        const ids: Array<string> = []
        for (let i = 0; i < N; i++) {
          const run_id = `run_mp${String(i).padStart(4, "0")}`
          ids.push(run_id)
          yield* store.insert(
            new ExecutionStore.ExecutionRecord({
              run_id,
              tenant_id: "mp",
              job_name: "mp-job",
              plan: { do: "succeed" },
              plan_hash: "h",
              risk_score: 0,
              estimated_cost_usd: 0n,
              actual_cost_usd: 0n,
              status: "QUEUED",
              attempts: 0,
              retry_count: 0,
              requested_by: "act_mp",
              action_id: null,
              claimed_by: null,
              queued_at: 1_000 + i,
              started_at: null,
              heartbeat_at: null,
              finished_at: null,
              progress: null,
              progress_message: null,
              error: null,
              failure_reason: null,
              log_tail: [],
              triage: null,
              version: 1
            })
          )
        }
        const start_at = Date.now() + 4_000
        const [a, b] = yield* Effect.promise(() =>
          Promise.all([run({ url, name: "proc-a", start_at }), run({ url, name: "proc-b", start_at })])
        )
        const all = [...a.ran, ...b.ran]
        // each ran some (they overlapped), none ran one the other ran, together they ran all
        expect(a.ran.length).toBeGreaterThan(0)
        expect(b.ran.length).toBeGreaterThan(0)
        expect(new Set(all).size).toBe(all.length)
        expect([...all].sort()).toStrictEqual(ids)
        // persisted: every execution SUCCEEDED after exactly one attempt, by the process that reported it
        const rows = yield* sql`SELECT run_id, status, attempts, claimed_by FROM ops_executions WHERE tenant_id = 'mp'`
        expect(rows.length).toBe(N)
        for (const r of rows) {
          expect(r.status).toBe("SUCCEEDED")
          expect(Number(r.attempts)).toBe(1)
          expect(r.claimed_by).toBe(a.ran.includes(String(r.run_id)) ? "proc-a" : "proc-b")
        }
      }).pipe(Effect.provide(environment(Postgres.layer({ url, maxConnections: 4 }))))

    it.effect(
      "two processes on one database: every queued execution is claimed and run by exactly one",
      () => Effect.flatMap(freshDatabaseUrl(admin), scenario),
      { timeout: 120_000 }
    )
  })
}

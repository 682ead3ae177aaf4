/**
 * The scheduler across real processes: two OS processes tick one PostgreSQL database over many
 * due times of many schedules at once. Every (schedule, due time) must be dispatched exactly
 * once in total — one record and one `schedule.trigger` event —, none missed, and each run once.
 */
import { Postgres } from "@airlock/adapters-storage"
import { CoreConfig, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Scheduler } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { worker } from "./support/ChildProcess.js"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

/** Runs one worker process and returns its JSON result. */
const run = worker<any>("scheduler-worker.ts", () => "scheduler worker")

const admin = pgAdminUrl()
const SCHEDULES = 10
const STEPS = 40

if (admin === "") {
  describe("scheduler across processes: postgres", () => {
    it.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
} else {
  describe("scheduler across processes: postgres", () => {
    const scenario = (url: string) =>
      Effect.gen(function*() {
        const start = Date.UTC(2035, 0, 1, 12)
        yield* TestClock.setTime(start)
        const tenants = yield* Tenants.Tenants
        const tenant = yield* tenants.create({ id: Ids.TenantId.make("mp"), name: "multi-process" })
        const actor = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Ada", role: "ADMIN" })
        const targets = yield* Scheduler.ScheduleTargets
        yield* targets.register({ name: "mp.target", description: "counts", run: () => Effect.void })
        const scheduler = yield* Scheduler.Scheduler
        for (let i = 0; i < SCHEDULES; i++) {
          yield* scheduler.create(actor, {
            name: `mp-${String(i).padStart(2, "0")}`,
            expression: "@every:1",
            target: "mp.target",
            overlap: "allow"
          })
        }
        const job = { url, start, steps: STEPS, stepMillis: 1000 }
        const [a, b] = yield* Effect.promise(() => Promise.all([run(job), run(job)]))
        expect(a.instance).not.toBe(b.instance)
        expect(a.dispatched + b.dispatched).toBe(SCHEDULES * STEPS)
        expect(a.ran + b.ran).toBe(SCHEDULES * STEPS)

        const sql = yield* SqlClient.SqlClient
        const perDue = yield* sql<{ n: unknown; schedules: unknown }>`
          SELECT due_at, COUNT(*) AS n, COUNT(DISTINCT schedule_name) AS schedules FROM ops_schedule_dispatches
          GROUP BY due_at ORDER BY due_at`.pipe(Effect.orDie)
        expect(perDue.length).toBe(STEPS)
        expect(perDue.every((r) => Number(r.n) === SCHEDULES && Number(r.schedules) === SCHEDULES)).toBe(true)
        const dueTimes = (yield* sql<{ due_at: unknown }>`SELECT DISTINCT due_at FROM ops_schedule_dispatches
          ORDER BY due_at`.pipe(Effect.orDie)).map((r) => Number(r.due_at))
        expect(dueTimes).toStrictEqual(Array.from({ length: STEPS }, (_, k) => start + k * 1000))
        const events = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ops_schedule_events
          WHERE type = 'schedule.trigger'`.pipe(Effect.orDie)
        expect(Number(events[0]!.n)).toBe(SCHEDULES * STEPS)
        const duplicates = yield* sql`SELECT schedule_name, due_at FROM ops_schedule_events
          GROUP BY schedule_name, due_at HAVING COUNT(*) > 1`.pipe(Effect.orDie)
        expect(duplicates).toStrictEqual([])
        const statuses = yield* sql<{ status: string; attempts: unknown; n: unknown }>`
          SELECT status, attempts, COUNT(*) AS n FROM ops_schedule_dispatches GROUP BY status, attempts`.pipe(
          Effect.orDie
        )
        expect(statuses.map((r) => [r.status, Number(r.attempts), Number(r.n)])).toStrictEqual([[
          "succeeded",
          1,
          SCHEDULES * STEPS
        ]])
        // both processes did part of the work
        const by = yield* sql<{ dispatched_by: string }>`SELECT DISTINCT dispatched_by FROM ops_schedule_dispatches`
          .pipe(Effect.orDie)
        expect(by.map((r) => r.dispatched_by).sort()).toStrictEqual([a.instance, b.instance].sort())
      }).pipe(
        Effect.provide(
          Scheduler.layer.pipe(
            Layer.provideMerge(Kernel.layerWithAmbient),
            Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(3))),
            Layer.provideMerge(Postgres.layer({ url, maxConnections: 4 }))
          )
        )
      )

    it.effect(
      `two processes, ${SCHEDULES} schedules × ${STEPS} due times: each dispatched and run exactly once`,
      () => Effect.flatMap(freshDatabaseUrl(admin), scenario),
      { timeout: 180_000 }
    )
  })
}

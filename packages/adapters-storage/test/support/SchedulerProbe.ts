/**
 * Raw access to what an adapter persisted for the ops scheduler, bypassing the port: the
 * scheduler suite counts dispatch records and `schedule.trigger` events per due time through it.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** One stored dispatch record's key facts. */
export interface DispatchRow {
  readonly schedule: string
  readonly due_at: number
  readonly status: string
  readonly attempts: number
  readonly late: boolean
}

/** Raw reads of the scheduler's rows. */
export class SchedulerProbe extends Context.Tag("test/SchedulerProbe")<
  SchedulerProbe,
  {
    /** A schedule's dispatch records, by due time. */
    readonly dispatches: (schedule: string) => Effect.Effect<ReadonlyArray<DispatchRow>>
    /** The due times of a schedule's `schedule.trigger` events, in insertion order. */
    readonly triggers: (schedule: string) => Effect.Effect<ReadonlyArray<number>>
    /** A schedule's stored cursor (`next_due_at`), undefined when the schedule is absent. */
    readonly cursor: (schedule: string) => Effect.Effect<number | null | undefined>
  }
>() {}

/** Probe over the memory database. */
export const memory = Layer.effect(
  SchedulerProbe,
  Effect.map(MemoryDatabase.MemoryDatabase, (db) => ({
    dispatches: (schedule) =>
      Effect.sync(() =>
        [...db.scoped<DispatchRow>("ops_schedule_dispatches").inScope(schedule)]
          .map((d) => ({
            schedule: d.schedule,
            due_at: d.due_at,
            status: d.status,
            attempts: d.attempts,
            late: d.late
          }))
          .sort((a, b) => a.due_at - b.due_at)
      ),
    triggers: (schedule) =>
      Effect.sync(() =>
        [...db.table<{ id: string; schedule: string; due_at: number; type: string }>("ops_schedule_events").values()]
          .filter((e) => e.schedule === schedule && e.type === "schedule.trigger")
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((e) => e.due_at)
      ),
    cursor: (schedule) =>
      Effect.sync(() => db.table<{ next_due_at: number | null }>("ops_schedules").get(schedule)?.next_due_at)
  }))
)

/** Probe over the SQL tables. */
export const sql = Layer.effect(
  SchedulerProbe,
  Effect.map(SqlClient.SqlClient, (client) => ({
    dispatches: (schedule) =>
      client<{ schedule_name: string; due_at: unknown; status: string; attempts: unknown; late: unknown }>`
        SELECT schedule_name, due_at, status, attempts, late FROM ops_schedule_dispatches
        WHERE schedule_name = ${schedule} ORDER BY due_at`.pipe(
        Effect.map((rows) =>
          rows.map((r) => ({
            schedule: r.schedule_name,
            due_at: Number(r.due_at),
            status: r.status,
            attempts: Number(r.attempts),
            late: Number(r.late) === 1
          }))
        ),
        Effect.orDie
      ),
    triggers: (schedule) =>
      client<{ due_at: unknown }>`SELECT due_at FROM ops_schedule_events
        WHERE schedule_name = ${schedule} AND type = 'schedule.trigger' ORDER BY id`.pipe(
        Effect.map((rows) => rows.map((r) => Number(r.due_at))),
        Effect.orDie
      ),
    cursor: (schedule) =>
      client<{ next_due_at: unknown }>`SELECT next_due_at FROM ops_schedules WHERE name = ${schedule}`.pipe(
        Effect.map((rows) =>
          rows.length === 0 ? undefined : rows[0]!.next_due_at === null ? null : Number(rows[0]!.next_due_at)
        ),
        Effect.orDie
      )
  }))
)

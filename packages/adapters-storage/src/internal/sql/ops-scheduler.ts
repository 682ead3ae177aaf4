/**
 * SQL implementations of the ops scheduler's and maintenance loop's ports, written once for
 * SQLite and PostgreSQL. A claim is one transaction: the cursor's compare-and-set
 * (`UPDATE … WHERE next_due_at = expected`: on PostgreSQL a second instance waits on the row
 * lock, then finds the cursor moved), then the dispatch record with `ON CONFLICT DO NOTHING` on
 * the (schedule, due time) key, then its event.
 */
import { CorePorts, Trusted } from "@airlock/core"
import { MaintenanceStore, Schedules, ScheduleStore } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"
import { literal, SqlDb } from "./db.js"
import { bool, forUpdate, int, intOrNull, json, orStorage, storageError, toJson, uniqueErrors } from "./dialect.js"

type Row = Record<string, unknown>

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

const SCHEDULE_COLUMNS = literal(
  "name, expression, time_zone, target, args, enabled, overlap, catch_up, next_due_at, created_at, updated_at, " +
    "updated_by, version"
)
const DISPATCH_COLUMNS = literal(
  "schedule_name, due_at, target, dispatched_at, dispatched_by, late, status, attempts, available_at, lease_owner, " +
    "lease_until, started_at, finished_at, last_error, result"
)

const toSchedule = (r: Row) =>
  Trusted.make(Schedules.ScheduleRecord, {
    name: String(r.name),
    expression: String(r.expression),
    time_zone: String(r.time_zone),
    target: String(r.target),
    args: json(r.args),
    enabled: bool(r.enabled),
    overlap: r.overlap as Schedules.OverlapPolicy,
    catch_up: r.catch_up as Schedules.CatchUpPolicy,
    next_due_at: intOrNull(r.next_due_at),
    created_at: int(r.created_at),
    updated_at: int(r.updated_at),
    updated_by: String(r.updated_by),
    version: int(r.version)
  })

const toDispatch = (r: Row) =>
  Trusted.make(ScheduleStore.Dispatch, {
    schedule: String(r.schedule_name),
    due_at: int(r.due_at),
    target: String(r.target),
    dispatched_at: int(r.dispatched_at),
    dispatched_by: String(r.dispatched_by),
    late: bool(r.late),
    status: r.status as ScheduleStore.DispatchStatus,
    attempts: int(r.attempts),
    available_at: int(r.available_at),
    lease_owner: str(r.lease_owner),
    lease_until: intOrNull(r.lease_until),
    started_at: intOrNull(r.started_at),
    finished_at: intOrNull(r.finished_at),
    last_error: str(r.last_error),
    result: json(r.result)
  })

const toEvent = (r: Row) =>
  Trusted.make(ScheduleStore.TriggerEvent, {
    id: String(r.id),
    type: "schedule.trigger",
    schedule: String(r.schedule_name),
    due_at: int(r.due_at),
    at: int(r.at),
    instance: String(r.instance),
    data: json(r.data)
  })

/** SQL {@link ScheduleStore.ScheduleStore}. */
export const scheduleStore: Layer.Layer<ScheduleStore.ScheduleStore, never, SqlDb> = Layer.effect(
  ScheduleStore.ScheduleStore,
  Effect.map(SqlDb, (sql) => {
    const lock = forUpdate(sql)
    const insertError = uniqueErrors<Schedules.ScheduleRecord, ReturnType<typeof CorePorts.duplicateError>>(
      [],
      (s) => CorePorts.duplicateError("schedule", s.name)
    )
    const tx = <A, E>(self: Effect.Effect<A, E>) =>
      sql.withTransaction(self).pipe(
        Effect.mapError((e) => ((e as { _tag?: string })._tag === "SqlError" ? storageError(e as any) : (e as E)))
      )

    const claim = (input: ScheduleStore.ClaimInput) =>
      tx(Effect.gen(function*() {
        const moved = yield* sql`UPDATE ops_schedules SET next_due_at = ${input.next_due_at}
          WHERE name = ${input.schedule} AND enabled = 1 AND next_due_at = ${input.expected_next_due_at}
          RETURNING name`.pipe(orStorage)
        if (moved.length === 0) return "lost" as const
        const d = input.dispatch
        if (d === null) return "advanced" as const
        const skipped = input.skip_if_active &&
          (yield* sql`SELECT 1 AS x FROM ops_schedule_dispatches WHERE schedule_name = ${d.schedule}
            AND (status = 'pending' OR (status = 'running' AND lease_until >= ${input.now})) LIMIT 1`.pipe(orStorage))
              .length > 0
        const status = skipped ? "skipped" : "pending"
        const inserted = yield* sql`INSERT INTO ops_schedule_dispatches (${DISPATCH_COLUMNS})
          VALUES (${d.schedule}, ${d.due_at}, ${d.target}, ${d.dispatched_at}, ${d.dispatched_by}, ${d.late ? 1 : 0},
            ${status}, ${d.attempts}, ${d.available_at}, NULL, NULL, NULL, ${skipped ? input.now : null}, NULL, ${
          toJson(d.result ?? null)
        })
          ON CONFLICT (schedule_name, due_at) DO NOTHING RETURNING due_at`.pipe(orStorage)
        if (inserted.length === 0) return "duplicate" as const
        const e = input.event
        if (e !== null) {
          yield* sql`INSERT INTO ops_schedule_events (id, type, schedule_name, due_at, at, instance, data)
            VALUES (${e.id}, ${e.type}, ${e.schedule}, ${e.due_at}, ${e.at}, ${e.instance}, ${
            toJson({ ...(e.data as object), status })
          })
            ON CONFLICT DO NOTHING`.pipe(orStorage)
        }
        return skipped ? "skipped" as const : "dispatched" as const
      }))

    const acquire = (input: ScheduleStore.AcquireInput) =>
      tx(Effect.gen(function*() {
        if (input.exclusive) {
          // one leaser per schedule at a time decides the queue (the single writer on SQLite)
          yield* sql`SELECT name FROM ops_schedules WHERE name = ${input.schedule} ${lock}`.pipe(orStorage)
          const ahead = yield* sql`SELECT 1 AS x FROM ops_schedule_dispatches
            WHERE schedule_name = ${input.schedule} AND due_at <> ${input.due_at}
              AND status IN ('pending', 'running')
              AND (due_at < ${input.due_at} OR (status = 'running' AND lease_until >= ${input.now}))
            LIMIT 1`.pipe(orStorage)
          if (ahead.length > 0) return "blocked" as const
        }
        const rows = yield* sql`UPDATE ops_schedule_dispatches SET status = 'running', attempts = attempts + 1,
            lease_owner = ${input.owner}, lease_until = ${input.lease_until}, started_at = ${input.now}
          WHERE schedule_name = ${input.schedule} AND due_at = ${input.due_at} AND attempts = ${input.attempts}
            AND ((status = 'pending' AND available_at <= ${input.now})
              OR (status = 'running' AND lease_until < ${input.now}))
          RETURNING due_at`.pipe(orStorage)
        return rows.length > 0 ? "acquired" as const : "taken" as const
      }))

    return {
      insert: (s) =>
        sql`INSERT INTO ops_schedules (${SCHEDULE_COLUMNS})
            VALUES (${s.name}, ${s.expression}, ${s.time_zone}, ${s.target}, ${toJson(s.args ?? null)}, ${
          s.enabled ? 1 : 0
        },
              ${s.overlap}, ${s.catch_up}, ${s.next_due_at}, ${s.created_at}, ${s.updated_at}, ${s.updated_by}, ${s.version})`
          .pipe(Effect.asVoid, Effect.mapError(insertError(s))),
      get: (name) =>
        sql`SELECT ${SCHEDULE_COLUMNS} FROM ops_schedules WHERE name = ${name}`.query(
          (rs) => (rs.length === 0 ? Option.none() : Option.some(toSchedule(rs[0]!))),
          storageError
        ),
      list: () =>
        sql`SELECT ${SCHEDULE_COLUMNS} FROM ops_schedules ORDER BY name`.query(
          (rs) => rs.map(toSchedule),
          storageError
        ),
      update: (s, expected) =>
        Effect.flatMap(
          sql`UPDATE ops_schedules SET expression = ${s.expression}, time_zone = ${s.time_zone}, target = ${s.target},
                args = ${toJson(s.args ?? null)}, enabled = ${s.enabled ? 1 : 0}, overlap = ${s.overlap},
                catch_up = ${s.catch_up}, next_due_at = ${s.next_due_at}, updated_at = ${s.updated_at},
                updated_by = ${s.updated_by}, version = ${s.version}
              WHERE name = ${s.name} AND version = ${expected} RETURNING name`.pipe(orStorage),
          (rows) =>
            rows.length > 0
              ? Effect.void
              : Effect.flatMap(
                sql`SELECT 1 AS x FROM ops_schedules WHERE name = ${s.name}`.pipe(orStorage),
                (found) => Effect.fail(found.length > 0 ? Schedules.stale(s.name) : Schedules.notFound(s.name))
              )
        ),
      remove: (name) =>
        tx(Effect.gen(function*() {
          const gone = yield* sql`DELETE FROM ops_schedules WHERE name = ${name} RETURNING name`.pipe(orStorage)
          if (gone.length === 0) return yield* Effect.fail(Schedules.notFound(name))
          yield* sql`DELETE FROM ops_schedule_dispatches WHERE schedule_name = ${name}`.pipe(orStorage)
        })),
      due: (now, limit) =>
        sql`SELECT ${SCHEDULE_COLUMNS} FROM ops_schedules WHERE enabled = 1 AND next_due_at <= ${now}
            ORDER BY next_due_at, name LIMIT ${limit}`.query((rs) => rs.map(toSchedule), storageError),
      claim,
      leasable: (now, limit) =>
        sql`SELECT ${DISPATCH_COLUMNS} FROM ops_schedule_dispatches
            WHERE (status = 'pending' AND available_at <= ${now}) OR (status = 'running' AND lease_until < ${now})
            ORDER BY due_at, schedule_name LIMIT ${limit}`.query((rs) => rs.map(toDispatch), storageError),
      acquire,
      renew: (schedule, dueAt, owner, leaseUntil) =>
        sql`UPDATE ops_schedule_dispatches SET lease_until = ${leaseUntil}
            WHERE schedule_name = ${schedule} AND due_at = ${dueAt} AND status = 'running' AND lease_owner = ${owner}
            RETURNING due_at`.query((rs) => rs.length > 0, storageError),
      finish: (input) =>
        sql`UPDATE ops_schedule_dispatches SET status = ${input.status}, available_at = ${input.available_at},
              lease_owner = NULL, lease_until = NULL,
              finished_at = ${input.status === "pending" ? null : input.now},
              last_error = ${input.error ?? (input.status === "succeeded" ? null : sql.literal("last_error"))},
              result = ${toJson(input.result ?? null)}
            WHERE schedule_name = ${input.schedule} AND due_at = ${input.due_at} AND status = 'running'
              AND lease_owner = ${input.owner}
            RETURNING due_at`.query((rs) => rs.length > 0, storageError),
      dispatch: (schedule, dueAt) =>
        sql`SELECT ${DISPATCH_COLUMNS} FROM ops_schedule_dispatches WHERE schedule_name = ${schedule} AND due_at = ${dueAt}`
          .query((rs) => (rs.length === 0 ? Option.none() : Option.some(toDispatch(rs[0]!))), storageError),
      history: (schedule, options) =>
        (options.before === undefined
          ? sql`SELECT ${DISPATCH_COLUMNS} FROM ops_schedule_dispatches WHERE schedule_name = ${schedule}
                ORDER BY due_at DESC LIMIT ${options.limit}`
          : sql`SELECT ${DISPATCH_COLUMNS} FROM ops_schedule_dispatches WHERE schedule_name = ${schedule}
                AND due_at < ${options.before} ORDER BY due_at DESC LIMIT ${options.limit}`).query(
            (rs) => rs.map(toDispatch),
            storageError
          ),
      events: (options) =>
        (options.schedule === undefined
          ? sql`SELECT * FROM ops_schedule_events ORDER BY id LIMIT ${options.limit}`
          : sql`SELECT * FROM ops_schedule_events WHERE schedule_name = ${options.schedule} ORDER BY id LIMIT ${options.limit}`)
          .query((rs) => rs.map(toEvent), storageError),
      backlog: (now, lateBefore) =>
        Effect.gen(function*() {
          const s = (yield* sql`SELECT COUNT(*) AS n, MIN(next_due_at) AS oldest,
              SUM(CASE WHEN next_due_at < ${lateBefore} THEN 1 ELSE 0 END) AS late
            FROM ops_schedules WHERE enabled = 1 AND next_due_at <= ${now}`.pipe(orStorage))[0]!
          const d = (yield* sql`SELECT
              SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
              MIN(CASE WHEN status = 'pending' THEN due_at END) AS oldest,
              SUM(CASE WHEN status = 'pending' AND due_at < ${lateBefore} THEN 1 ELSE 0 END) AS late,
              SUM(CASE WHEN status = 'running' AND lease_until >= ${now} THEN 1 ELSE 0 END) AS running
            FROM ops_schedule_dispatches WHERE status IN ('pending', 'running')`.pipe(orStorage))[0]!
          const e = yield* sql`SELECT schedule_name, due_at, last_error,
              COALESCE(finished_at, started_at, dispatched_at) AS at
            FROM ops_schedule_dispatches WHERE last_error IS NOT NULL
            ORDER BY COALESCE(finished_at, started_at, dispatched_at) DESC LIMIT 1`.pipe(orStorage)
          return {
            due: int(s.n ?? 0),
            oldest_due_at: intOrNull(s.oldest),
            dispatched: int(d.pending ?? 0),
            oldest_dispatched_due_at: intOrNull(d.oldest),
            running: int(d.running ?? 0),
            late: int(s.late ?? 0) + int(d.late ?? 0),
            last_error: e.length === 0
              ? null
              : {
                schedule: String(e[0]!.schedule_name),
                due_at: int(e[0]!.due_at),
                error: String(e[0]!.last_error),
                at: int(e[0]!.at)
              }
          } satisfies ScheduleStore.BacklogFacts
        })
    }
  })
)

const RUN_COLUMNS = literal(
  "id, command, trigger, status, requested_by, enqueued_at, owner, started_at, finished_at, result, error"
)

const toRun = (r: Row) =>
  Trusted.make(MaintenanceStore.MaintenanceRun, {
    id: String(r.id),
    command: String(r.command),
    trigger: r.trigger as MaintenanceStore.RunTrigger,
    status: r.status as MaintenanceStore.RunStatus,
    requested_by: String(r.requested_by),
    enqueued_at: int(r.enqueued_at),
    owner: str(r.owner),
    started_at: intOrNull(r.started_at),
    finished_at: intOrNull(r.finished_at),
    result: json(r.result),
    error: str(r.error)
  })

const toFailure = (r: Row) =>
  Trusted.make(MaintenanceStore.MaintenanceFailure, {
    id: String(r.id),
    run_id: String(r.run_id),
    command: String(r.command),
    at: int(r.at),
    error: String(r.error),
    memory_uid: str(r.memory_uid)
  })

/** SQL {@link MaintenanceStore.MaintenanceStore}: queued runs are taken by compare-and-set, one per statement. */
export const maintenanceStore: Layer.Layer<MaintenanceStore.MaintenanceStore, never, SqlDb> = Layer.effect(
  MaintenanceStore.MaintenanceStore,
  Effect.map(SqlDb, (sql) => ({
    insertRun: (r) =>
      sql`INSERT INTO ops_maintenance_runs (${RUN_COLUMNS})
          VALUES (${r.id}, ${r.command}, ${r.trigger}, ${r.status}, ${r.requested_by}, ${r.enqueued_at}, ${r.owner},
            ${r.started_at}, ${r.finished_at}, ${toJson(r.result ?? null)}, ${r.error})`.pipe(Effect.asVoid, orStorage),
    takeQueued: (owner, now, limit) =>
      Effect.gen(function*() {
        const queued = yield* sql`SELECT id FROM ops_maintenance_runs WHERE status = 'queued'
          ORDER BY enqueued_at, id LIMIT ${limit}`.pipe(orStorage)
        const taken: Array<MaintenanceStore.MaintenanceRun> = []
        for (const q of queued) {
          const rows =
            yield* sql`UPDATE ops_maintenance_runs SET status = 'running', owner = ${owner}, started_at = ${now}
            WHERE id = ${String(q.id)} AND status = 'queued' RETURNING ${RUN_COLUMNS}`.pipe(orStorage)
          if (rows.length > 0) taken.push(toRun(rows[0]!))
        }
        return taken
      }),
    finishRun: (id, owner, o) =>
      sql`UPDATE ops_maintenance_runs SET status = ${o.status}, finished_at = ${o.now},
            result = ${toJson(o.result ?? null)}, error = ${o.error}
          WHERE id = ${id} AND status = 'running' AND owner = ${owner} RETURNING id`.query(
        (rs) => rs.length > 0,
        storageError
      ),
    lastRuns: () =>
      sql`SELECT ${RUN_COLUMNS} FROM ops_maintenance_runs r WHERE NOT EXISTS (
            SELECT 1 FROM ops_maintenance_runs n WHERE n.command = r.command
              AND (n.enqueued_at > r.enqueued_at OR (n.enqueued_at = r.enqueued_at AND n.id > r.id)))`.query(
        (rs) => rs.map(toRun),
        storageError
      ),
    runs: (o) =>
      (o.status === undefined
        ? sql`SELECT ${RUN_COLUMNS} FROM ops_maintenance_runs ORDER BY id DESC LIMIT ${o.limit}`
        : sql`SELECT ${RUN_COLUMNS} FROM ops_maintenance_runs WHERE status = ${o.status} ORDER BY id DESC LIMIT ${o.limit}`)
        .query((rs) => rs.map(toRun), storageError),
    insertFailure: (f) =>
      sql`INSERT INTO ops_maintenance_failures (id, run_id, command, at, error, memory_uid)
          VALUES (${f.id}, ${f.run_id}, ${f.command}, ${f.at}, ${f.error}, ${f.memory_uid})`.pipe(
        Effect.asVoid,
        orStorage
      ),
    failures: (o) => {
      const where = [sql`1 = 1`]
      if (o.command !== undefined) where.push(sql`command = ${o.command}`)
      if (o.before !== undefined) where.push(sql`id < ${o.before}`)
      return sql`SELECT * FROM ops_maintenance_failures WHERE ${sql.and(where)} ORDER BY id DESC LIMIT ${o.limit}`
        .query((rs) => rs.map(toFailure), storageError)
    }
  }))
)

/** Every ops-scheduler port on SQL. */
export const layer: Layer.Layer<ScheduleStore.ScheduleStore | MaintenanceStore.MaintenanceStore, never, SqlDb> = Layer
  .merge(scheduleStore, maintenanceStore)

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
import { type Db, literal, SqlDb } from "./db.js"
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

/** Claims per statement (a dispatch row has 15 parameters: 3,000 a statement). */
const CLAIM_CHUNK = 200
const CURSOR_TYPES = [null, "BIGINT", "BIGINT"] as const
const ACTIVE_TYPES = [null, "BIGINT"] as const

/**
 * `(?, CAST(? AS BIGINT)), (…)`: rows of parameters for a `VALUES` list, a column cast when
 * `types` names a type (PostgreSQL reads an untyped `VALUES` parameter as text). The columns are
 * `column1`, `column2`, … on both dialects.
 */
const valueRows = (sql: Db, rows: ReadonlyArray<ReadonlyArray<unknown>>, types: ReadonlyArray<string | null>) => {
  const strings: Array<string> = []
  const values: Array<unknown> = []
  let pending = ""
  rows.forEach((row, r) =>
    row.forEach((v, c) => {
      const type = types[c] ?? null
      strings.push(pending + (c === 0 ? (r === 0 ? "(" : "), (") : ", ") + (type === null ? "" : "CAST("))
      pending = type === null ? "" : ` AS ${type})`
      values.push(v)
    })
  )
  strings.push(pending + ")")
  return sql(Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray, ...values)
}

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

    // One chunk of claims. On PostgreSQL each statement covers the whole chunk, and the chunk's
    // schedule rows are locked first, in name order, so two instances claiming overlapping
    // chunks wait for each other instead of deadlocking; the one that waited then finds the
    // cursors moved and writes nothing for them. SQLite has one writer (BEGIN IMMEDIATE) and
    // runs the compare-and-sets row by row; the records and events are one insert each on both.
    const claimChunk = (inputs: ReadonlyArray<ScheduleStore.ClaimInput>) =>
      Effect.gen(function*() {
        const moved = new Set<string>()
        const active = new Set<string>()
        const isActive = (i: ScheduleStore.ClaimInput) =>
          moved.has(i.schedule) && i.dispatch !== null && i.skip_if_active
        if (sql.dialect === "sqlite") {
          // in-process statements cost microseconds; SQLite's UPDATE … FROM (VALUES …) plans poorly
          for (const i of inputs) {
            const rows = yield* sql`UPDATE ops_schedules SET next_due_at = ${i.next_due_at}
              WHERE name = ${i.schedule} AND enabled = 1 AND next_due_at = ${i.expected_next_due_at}
              RETURNING name`.pipe(orStorage)
            if (rows.length > 0) moved.add(i.schedule)
          }
          for (const i of inputs.filter(isActive)) {
            const rows = yield* sql`SELECT 1 AS x FROM ops_schedule_dispatches WHERE schedule_name = ${i.schedule}
              AND (status = 'pending' OR (status = 'running' AND lease_until >= ${i.now})) LIMIT 1`.pipe(orStorage)
            if (rows.length > 0) active.add(i.schedule)
          }
        } else {
          // one round trip per statement for the whole chunk
          const names = inputs.map((i) => i.schedule)
          yield* sql`SELECT name FROM ops_schedules WHERE ${sql.in("name", names)} ORDER BY name FOR UPDATE`.pipe(
            orStorage
          )
          const rows = yield* sql`UPDATE ops_schedules SET next_due_at = v.column3
            FROM (VALUES ${
            valueRows(sql, inputs.map((i) => [i.schedule, i.expected_next_due_at, i.next_due_at]), CURSOR_TYPES)
          }) AS v
            WHERE ops_schedules.name = v.column1 AND ops_schedules.enabled = 1 AND ops_schedules.next_due_at = v.column2
            RETURNING name`.pipe(orStorage)
          for (const r of rows) moved.add(String(r.name))
          const probe = inputs.filter(isActive)
          if (probe.length > 0) {
            const found = yield* sql`SELECT DISTINCT d.schedule_name FROM ops_schedule_dispatches d
              JOIN (VALUES ${valueRows(sql, probe.map((i) => [i.schedule, i.now]), ACTIVE_TYPES)}) AS v
                ON d.schedule_name = v.column1
              WHERE d.status = 'pending' OR (d.status = 'running' AND d.lease_until >= v.column2)`.pipe(orStorage)
            for (const r of found) active.add(String(r.schedule_name))
          }
        }
        const writing = inputs.filter((i) => moved.has(i.schedule) && i.dispatch !== null)
        const statusOf = (i: ScheduleStore.ClaimInput) =>
          i.skip_if_active && active.has(i.schedule) ? "skipped" as const : "pending" as const
        const inserted = new Set<string>()
        if (writing.length > 0) {
          const rows = yield* sql`INSERT INTO ops_schedule_dispatches ${
            sql.insert(writing.map((i) => {
              const d = i.dispatch!
              const status = statusOf(i)
              return {
                schedule_name: d.schedule,
                due_at: d.due_at,
                target: d.target,
                dispatched_at: d.dispatched_at,
                dispatched_by: d.dispatched_by,
                late: d.late ? 1 : 0,
                status,
                attempts: d.attempts,
                available_at: d.available_at,
                lease_owner: null,
                lease_until: null,
                started_at: null,
                finished_at: status === "skipped" ? i.now : null,
                last_error: null,
                result: toJson(d.result ?? null)
              }
            }))
          }
            ON CONFLICT (schedule_name, due_at) DO NOTHING RETURNING schedule_name, due_at`.pipe(orStorage)
          for (const r of rows) inserted.add(`${r.schedule_name}\u0000${int(r.due_at)}`)
        }
        const isNew = (i: ScheduleStore.ClaimInput) =>
          i.dispatch !== null && inserted.has(`${i.dispatch.schedule}\u0000${i.dispatch.due_at}`)
        const events = writing.filter((i) => i.event !== null && isNew(i))
        if (events.length > 0) {
          yield* sql`INSERT INTO ops_schedule_events ${
            sql.insert(events.map((i) => {
              const e = i.event!
              return {
                id: e.id,
                type: e.type,
                schedule_name: e.schedule,
                due_at: e.due_at,
                at: e.at,
                instance: e.instance,
                data: toJson({ ...(e.data as object), status: statusOf(i) })
              }
            }))
          } ON CONFLICT DO NOTHING`.pipe(orStorage)
        }
        return inputs.map((i): ScheduleStore.ClaimOutcome =>
          !moved.has(i.schedule)
            ? "lost"
            : i.dispatch === null
            ? "advanced"
            : !isNew(i)
            ? "duplicate"
            : statusOf(i) === "skipped"
            ? "skipped"
            : "dispatched"
        )
      })

    const claimMany = (inputs: ReadonlyArray<ScheduleStore.ClaimInput>) =>
      inputs.length === 0 ? Effect.succeed([]) : tx(Effect.gen(function*() {
        const outcomes: Array<ScheduleStore.ClaimOutcome> = []
        for (let i = 0; i < inputs.length; i += CLAIM_CHUNK) {
          outcomes.push(...(yield* claimChunk(inputs.slice(i, i + CLAIM_CHUNK))))
        }
        return outcomes
      }))

    const claim = (input: ScheduleStore.ClaimInput) => Effect.map(claimMany([input]), (o) => o[0]!)

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
      claimMany,
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

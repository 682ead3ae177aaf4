/**
 * Memory implementations of the ops scheduler's and maintenance loop's ports. Every claim,
 * lease and finish is one synchronous step under the database's writer lock, so the
 * compare-and-set and the unique (schedule, due time) key hold as they do on SQL.
 */
import { CorePorts, type Errors, Trusted } from "@airlock/core"
import { MaintenanceStore, Schedules, ScheduleStore } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"
import { toJson } from "../json.js"

type Dispatch = ScheduleStore.Dispatch

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

// stored values are JSON, as on SQL: the caller's object is never kept
const cloneJson = (v: unknown): unknown => JSON.parse(toJson(v ?? null))

/** Memory {@link ScheduleStore.ScheduleStore}. */
export const scheduleStore: Layer.Layer<ScheduleStore.ScheduleStore, never, MemoryDatabase> = Layer.effect(
  ScheduleStore.ScheduleStore,
  Effect.map(MemoryDatabase, (db) => {
    const schedules = db.table<Schedules.ScheduleRecord>("ops_schedules")
    const dispatches = db.scoped<Dispatch>("ops_schedule_dispatches")
    const events = db.table<ScheduleStore.TriggerEvent>("ops_schedule_events")

    const copy = (s: Schedules.ScheduleRecord) =>
      Trusted.make(Schedules.ScheduleRecord, { ...s, args: cloneJson(s.args) })
    const put = (d: Dispatch, change: Partial<Dispatch>) =>
      dispatches.set(d.schedule, d.due_at, Trusted.make(ScheduleStore.Dispatch, { ...d, ...change }))

    const live = (d: Dispatch, now: number) => d.status === "running" && (d.lease_until ?? 0) >= now
    const open = (d: Dispatch) => d.status === "pending" || d.status === "running"

    // one claim, run inside the writer lock by claim and claimMany
    const claimNow = (input: ScheduleStore.ClaimInput): ScheduleStore.ClaimOutcome => {
      const s = schedules.get(input.schedule)
      if (s === undefined || !s.enabled || s.next_due_at !== input.expected_next_due_at) return "lost"
      schedules.set(s.name, Trusted.make(Schedules.ScheduleRecord, { ...s, next_due_at: input.next_due_at }))
      const d = input.dispatch
      if (d === null) return "advanced"
      if (dispatches.has(d.schedule, d.due_at)) return "duplicate"
      const skipped = input.skip_if_active &&
        [...dispatches.inScope(d.schedule)].some((x) => x.status === "pending" || live(x, input.now))
      const status = skipped ? "skipped" as const : "pending" as const
      dispatches.set(
        d.schedule,
        d.due_at,
        Trusted.make(ScheduleStore.Dispatch, {
          ...d,
          status,
          finished_at: skipped ? input.now : null,
          result: cloneJson(d.result)
        })
      )
      if (input.event !== null) {
        events.set(
          input.event.id,
          Trusted.make(ScheduleStore.TriggerEvent, {
            ...input.event,
            data: cloneJson({ ...(input.event.data as object), status })
          })
        )
      }
      return skipped ? "skipped" : "dispatched"
    }

    return {
      insert: (s) =>
        db.writeEffect(() => {
          if (schedules.has(s.name)) return Effect.fail(CorePorts.duplicateError("schedule", s.name))
          schedules.set(s.name, copy(s))
          return Effect.void
        }),
      get: (name) => db.read(() => Option.map(Option.fromNullable(schedules.get(name)), copy)),
      list: () => db.read(() => [...schedules.values()].map(copy).sort(byName)),
      update: (s, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.NotFound | Errors.Conflict> => {
          const current = schedules.get(s.name)
          if (current === undefined) return Effect.fail(Schedules.notFound(s.name))
          if (current.version !== expected) return Effect.fail(Schedules.stale(s.name))
          schedules.set(s.name, copy(s))
          return Effect.void
        }),
      remove: (name) =>
        db.writeEffect(() => {
          if (!schedules.has(name)) return Effect.fail(Schedules.notFound(name))
          schedules.delete(name)
          for (const d of [...dispatches.inScope(name)]) dispatches.delete(name, d.due_at)
          return Effect.void
        }),
      due: (now, limit) =>
        db.read(() =>
          [...schedules.values()]
            .filter((s) => s.enabled && s.next_due_at !== null && s.next_due_at <= now)
            .sort((a, b) => a.next_due_at! - b.next_due_at! || byName(a, b))
            .slice(0, limit)
            .map(copy)
        ),
      claim: (input) => db.write(() => claimNow(input)),
      claimMany: (inputs) => db.write(() => inputs.map(claimNow)),
      leasable: (now, limit) =>
        db.read(() =>
          [...dispatches.values()]
            .filter((d) =>
              (d.status === "pending" && d.available_at <= now) ||
              (d.status === "running" && (d.lease_until ?? 0) < now)
            )
            .sort((a, b) => a.due_at - b.due_at || (a.schedule < b.schedule ? -1 : 1))
            .slice(0, limit)
        ),
      acquire: (input) =>
        db.write((): ScheduleStore.AcquireOutcome => {
          const d = dispatches.get(input.schedule, input.due_at)
          if (d === undefined || d.attempts !== input.attempts) return "taken"
          const takeable = (d.status === "pending" && d.available_at <= input.now) ||
            (d.status === "running" && (d.lease_until ?? 0) < input.now)
          if (!takeable) return "taken"
          if (input.exclusive) {
            for (const x of dispatches.inScope(input.schedule)) {
              if (x.due_at === d.due_at || !open(x)) continue
              if (x.due_at < d.due_at || live(x, input.now)) return "blocked"
            }
          }
          put(d, {
            status: "running",
            attempts: d.attempts + 1,
            lease_owner: input.owner,
            lease_until: input.lease_until,
            started_at: input.now
          })
          return "acquired"
        }),
      renew: (schedule, dueAt, owner, leaseUntil) =>
        db.write(() => {
          const d = dispatches.get(schedule, dueAt)
          if (d === undefined || d.status !== "running" || d.lease_owner !== owner) return false
          put(d, { lease_until: leaseUntil })
          return true
        }),
      finish: (input) =>
        db.write(() => {
          const d = dispatches.get(input.schedule, input.due_at)
          if (d === undefined || d.status !== "running" || d.lease_owner !== input.owner) return false
          put(d, {
            status: input.status,
            available_at: input.available_at,
            lease_owner: null,
            lease_until: null,
            finished_at: input.status === "pending" ? null : input.now,
            last_error: input.error ?? (input.status === "succeeded" ? null : d.last_error),
            result: cloneJson(input.result)
          })
          return true
        }),
      dispatch: (schedule, dueAt) => db.read(() => Option.fromNullable(dispatches.get(schedule, dueAt))),
      history: (schedule, options) =>
        db.read(() =>
          [...dispatches.inScope(schedule)]
            .filter((d) => options.before === undefined || d.due_at < options.before)
            .sort((a, b) => b.due_at - a.due_at)
            .slice(0, options.limit)
        ),
      events: (options) =>
        db.read(() =>
          [...events.values()]
            .filter((e) => options.schedule === undefined || e.schedule === options.schedule)
            .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
            .slice(0, options.limit)
        ),
      backlog: (now, lateBefore) =>
        db.read((): ScheduleStore.BacklogFacts => {
          let due = 0
          let oldestDue: number | null = null
          let late = 0
          for (const s of schedules.values()) {
            if (!s.enabled || s.next_due_at === null || s.next_due_at > now) continue
            due++
            if (oldestDue === null || s.next_due_at < oldestDue) oldestDue = s.next_due_at
            if (s.next_due_at < lateBefore) late++
          }
          let dispatched = 0
          let oldestDispatched: number | null = null
          let running = 0
          let lastError: ScheduleStore.BacklogFacts["last_error"] = null
          for (const d of dispatches.values()) {
            if (d.status === "pending") {
              dispatched++
              if (oldestDispatched === null || d.due_at < oldestDispatched) oldestDispatched = d.due_at
              if (d.due_at < lateBefore) late++
            } else if (live(d, now)) running++
            if (d.last_error !== null) {
              const at = d.finished_at ?? d.started_at ?? d.dispatched_at
              if (lastError === null || at > lastError.at) {
                lastError = { schedule: d.schedule, due_at: d.due_at, error: d.last_error, at }
              }
            }
          }
          return {
            due,
            oldest_due_at: oldestDue,
            dispatched,
            oldest_dispatched_due_at: oldestDispatched,
            running,
            late,
            last_error: lastError
          }
        })
    }
  })
)

/** Memory {@link MaintenanceStore.MaintenanceStore}. */
export const maintenanceStore: Layer.Layer<MaintenanceStore.MaintenanceStore, never, MemoryDatabase> = Layer.effect(
  MaintenanceStore.MaintenanceStore,
  Effect.map(MemoryDatabase, (db) => {
    const runs = db.table<MaintenanceStore.MaintenanceRun>("ops_maintenance_runs")
    const failures = db.table<MaintenanceStore.MaintenanceFailure>("ops_maintenance_failures")
    const newestFirst = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
    const put = (r: MaintenanceStore.MaintenanceRun, change: Partial<MaintenanceStore.MaintenanceRun>) => {
      const next = Trusted.make(MaintenanceStore.MaintenanceRun, { ...r, ...change })
      runs.set(r.id, next)
      return next
    }
    return {
      insertRun: (r) =>
        db.write(() =>
          void runs.set(r.id, Trusted.make(MaintenanceStore.MaintenanceRun, { ...r, result: cloneJson(r.result) }))
        ),
      takeQueued: (owner, now, limit) =>
        db.write(() =>
          [...runs.values()]
            .filter((r) => r.status === "queued")
            .sort((a, b) => a.enqueued_at - b.enqueued_at || (a.id < b.id ? -1 : 1))
            .slice(0, limit)
            .map((r) => put(r, { status: "running", owner, started_at: now }))
        ),
      finishRun: (id, owner, o) =>
        db.write(() => {
          const r = runs.get(id)
          if (r === undefined || r.status !== "running" || r.owner !== owner) return false
          put(r, { status: o.status, finished_at: o.now, result: cloneJson(o.result), error: o.error })
          return true
        }),
      lastRuns: () =>
        db.read(() => {
          const last = new Map<string, MaintenanceStore.MaintenanceRun>()
          for (const r of runs.values()) {
            const seen = last.get(r.command)
            if (
              seen === undefined || r.enqueued_at > seen.enqueued_at ||
              (r.enqueued_at === seen.enqueued_at && r.id > seen.id)
            ) {
              last.set(r.command, r)
            }
          }
          return [...last.values()]
        }),
      runs: (o) =>
        db.read(() =>
          [...runs.values()].filter((r) => o.status === undefined || r.status === o.status).sort(newestFirst).slice(
            0,
            o.limit
          )
        ),
      insertFailure: (f) => db.write(() => void failures.set(f.id, f)),
      failures: (o) =>
        db.read(() =>
          [...failures.values()]
            .filter((f) =>
              (o.command === undefined || f.command === o.command) && (o.before === undefined || f.id < o.before)
            )
            .sort(newestFirst)
            .slice(0, o.limit)
        )
    }
  })
)

/** Every ops-scheduler port in memory. */
export const layer: Layer.Layer<
  ScheduleStore.ScheduleStore | MaintenanceStore.MaintenanceStore,
  never,
  MemoryDatabase
> = Layer.merge(scheduleStore, maintenanceStore)

/**
 * The conformance suite of the ops scheduler's port (`ScheduleStore`), driven through the
 * `Scheduler` and checked through the raw {@link SchedulerProbe}. It covers what pg-boss and
 * BullMQ have open reports about: a restart mid-window, several instances ticking one store, a
 * clock jump forward (catch-up policy) and backward (no re-dispatch), and a daylight-saving change
 * in the schedule's zone — with `TestClock` throughout. Every adapter runs it unchanged; each
 * test uses its own schedule names.
 */
import {
  type Actor,
  AgentMemory,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import {
  Maintenance,
  MaintenanceConfig,
  type MaintenanceStore,
  Scheduler,
  SchedulerConfig,
  type Schedules,
  ScheduleStore
} from "@airlock/ops"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Ref, TestClock } from "effect"
import { SchedulerProbe } from "./support/SchedulerProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const MINUTE = 60_000
const HOUR = 3_600_000
/** 2035-01-01T00:00:00Z: whole minutes and hours from here. */
const T0 = Date.UTC(2035, 0, 1)

const environment = <E>(
  ports: Layer.Layer<
    CorePorts.CorePorts | ScheduleStore.ScheduleStore | MaintenanceStore.MaintenanceStore | SchedulerProbe,
    E
  >
) =>
  Layer.mergeAll(Kernel.layerWithAmbient, Scheduler.ScheduleTargets.Default, Maintenance.MaintenanceCommands.Default)
    .pipe(
      Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(16))),
      Layer.provideMerge(ports)
    )

/** A new scheduler instance over the same store (its own instance id), with settings. */
const instance = (settings: Partial<SchedulerConfig.SchedulerSettings> = {}) =>
  Scheduler.make.pipe(
    Effect.provideService(SchedulerConfig.SchedulerConfig, { ...SchedulerConfig.defaults, ...settings })
  )

let tenantSeq = 0
const admin = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const tenant = yield* tenants.create({ id: Ids.TenantId.make(`sched-${++tenantSeq}`), name: "scheduler" })
  return yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Ada", role: "ADMIN" })
})

/** Registers a target that counts its runs per due time; `fail` decides per run. */
const countingTarget = (
  name: string,
  fail: (ctx: Scheduler.TaskContext) => "ok" | "fail" | "die" = () => "ok"
) =>
  Effect.gen(function*() {
    const runs = yield* Ref.make<ReadonlyArray<{ due_at: number; attempt: number }>>([])
    const targets = yield* Scheduler.ScheduleTargets
    yield* targets.register({
      name,
      description: `test target ${name}`,
      run: (ctx) =>
        Effect.gen(function*() {
          yield* Ref.update(runs, (r) => [...r, { due_at: ctx.due_at, attempt: ctx.attempt }])
          const verdict = fail(ctx)
          if (verdict === "fail") return yield* Effect.fail(new Error(`boom ${ctx.attempt}`))
          if (verdict === "die") return yield* Effect.dieMessage("defect in task")
          return { ran: ctx.due_at }
        })
    })
    return runs
  })

const codeOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? (exit.cause.error as { code?: string }).code : "ok"

/** The items about the named schedules (other tests' schedules share the store and come due too). */
const only = <A extends { readonly schedule: string }>(names: ReadonlyArray<string>, items: ReadonlyArray<A>) =>
  items.filter((i) => names.includes(i.schedule))

/** Waits (real time, the store may be remote) until `cond` holds. */
const waitFor = <E>(cond: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (yield* cond) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
    throw new Error("condition not reached")
  })

/**
 * Each test's setup: the clock at `at`, a new admin, a counting target under `target` (`fail`
 * decides per run), a scheduler instance (with `settings`), the store and the probe.
 */
const fixture = (
  at: number,
  target: string,
  options: {
    readonly fail?: (ctx: Scheduler.TaskContext) => "ok" | "fail" | "die"
    readonly settings?: Partial<SchedulerConfig.SchedulerSettings>
  } = {}
) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(at)
    const probe = yield* SchedulerProbe
    const store = yield* ScheduleStore.ScheduleStore
    const actor = yield* admin
    const runs = yield* countingTarget(target, options.fail)
    const scheduler = yield* instance(options.settings)
    return { probe, store, actor, runs, scheduler }
  })

const add = (
  scheduler: Scheduler.SchedulerShape,
  actor: Actor.Actor,
  input: Partial<Schedules.ScheduleInput> & { name: string; target: string }
) => scheduler.create(actor, { expression: "@every:60", ...input })

/** Runs the conformance suite against `ports`. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<
    CorePorts.CorePorts | ScheduleStore.ScheduleStore | MaintenanceStore.MaintenanceStore | SchedulerProbe,
    E
  >,
  _capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`ops scheduler conformance: ${name}`, (it) => {
    it.effect("CRUD: defaults, validation codes, duplicate, re-timing resets the cursor, delete", () =>
      Effect.gen(function*() {
        const { probe, store, actor, scheduler } = yield* fixture(T0 + 30_000, "crud.target")
        const s = yield* add(scheduler, actor, { name: "crud-a", target: "crud.target" })
        expect(s).toMatchObject({
          time_zone: "UTC",
          enabled: true,
          overlap: "skip",
          catch_up: "once",
          next_due_at: T0,
          version: 1
        })
        // a daily 02:30 job created at 00:00:30 is not due until 02:30
        const daily = yield* add(scheduler, actor, { name: "crud-b", target: "crud.target", expression: "30 2 * * *" })
        expect(daily.next_due_at).toBe(T0 + 2 * HOUR + 30 * MINUTE)

        const bad = (input: Record<string, unknown>) =>
          Effect.map(Effect.exit(scheduler.create(actor, { name: "crud-x", target: "crud.target", ...input })), codeOf)
        expect(yield* bad({ expression: "61 * * * *" })).toBe("validation.schedule_expression")
        expect(yield* bad({ expression: "@every:0" })).toBe("validation.schedule_expression")
        expect(yield* bad({ expression: "@every:abc" })).toBe("validation.schedule_expression")
        expect(yield* bad({ expression: "0 0 31 2 *" })).toBe("validation.schedule_expression")
        expect(yield* bad({ expression: "* * * * *", time_zone: "Mars/Olympus" })).toBe("validation.schedule_timezone")
        expect(yield* bad({ expression: "* * * * *", target: "nope" })).toBe("validation.schedule_target")
        expect(yield* bad({ expression: "* * * * *", overlap: "sometimes" })).toBe("validation.schema")
        expect(yield* bad({ expression: "* * * * *", extra: 1 })).toBe("validation.schema")
        expect(
          codeOf(
            yield* Effect.exit(
              scheduler.create(actor, { name: "Bad Name", target: "crud.target", expression: "@every:5" })
            )
          )
        ).toBe("validation.schema")
        expect(codeOf(yield* Effect.exit(add(scheduler, actor, { name: "crud-a", target: "crud.target" })))).toBe(
          "conflict.duplicate"
        )
        expect(yield* probe.cursor("crud-x")).toBeUndefined()

        // a non-admin may not
        const tenants = yield* Tenants.Tenants
        const viewer = yield* tenants.addActor({
          tenant_id: actor.tenant_id,
          kind: "user",
          name: "Vic",
          role: "VIEWER"
        })
        expect(codeOf(yield* Effect.exit(add(scheduler, viewer, { name: "crud-v", target: "crud.target" })))).toBe(
          "rbac.forbidden"
        )

        // re-timing moves the cursor from now; disabling clears it; re-enabling starts from now
        yield* TestClock.setTime(T0 + 10 * MINUTE + 5_000)
        const retimed = yield* scheduler.update(actor, "crud-b", { expression: "*/15 * * * *" })
        expect(retimed).toMatchObject({ version: 2, next_due_at: T0 + 15 * MINUTE, expression: "*/15 * * * *" })
        expect(codeOf(yield* Effect.exit(scheduler.update(actor, "crud-b", {})))).toBe("validation.empty_update")
        const off = yield* scheduler.update(actor, "crud-b", { enabled: false })
        expect(off.next_due_at).toBeNull()
        expect(yield* probe.cursor("crud-b")).toBeNull()
        yield* TestClock.setTime(T0 + 40 * MINUTE)
        const on = yield* scheduler.update(actor, "crud-b", { enabled: true })
        expect(on.next_due_at).toBe(T0 + 45 * MINUTE)
        // the store refuses a stale version
        expect(codeOf(yield* Effect.exit(store.update(on, 1)))).toBe("conflict.stale")

        yield* scheduler.tick
        expect((yield* probe.dispatches("crud-a")).length).toBe(1)
        yield* scheduler.remove(actor, "crud-a")
        expect(yield* probe.cursor("crud-a")).toBeUndefined()
        expect(yield* probe.dispatches("crud-a")).toStrictEqual([])
        expect(codeOf(yield* Effect.exit(scheduler.remove(actor, "crud-a")))).toBe("not_found")
        expect(codeOf(yield* Effect.exit(scheduler.get("crud-a")))).toBe("not_found")
      }))

    it.effect("runbook check: @every:60 inserted, one tick → one schedule.trigger, no duplicate for the due time", () =>
      Effect.gen(function*() {
        const { probe, actor, runs, scheduler } = yield* fixture(T0 + HOUR + 12_000, "runbook.target")
        yield* add(scheduler, actor, { name: "runbook", target: "runbook.target" })
        const report = yield* scheduler.tick
        expect(only(["runbook"], report.dispatched)).toStrictEqual([{
          schedule: "runbook",
          due_at: T0 + HOUR,
          status: "pending",
          late: false
        }])
        expect(only(["runbook"], report.executed)).toMatchObject([{
          schedule: "runbook",
          due_at: T0 + HOUR,
          status: "succeeded"
        }])
        // ticking again, by this or another instance, at the same time adds nothing
        yield* scheduler.tick
        yield* Effect.flatMap(instance(), (other) => other.tick)
        expect(yield* probe.triggers("runbook")).toStrictEqual([T0 + HOUR])
        expect(yield* probe.dispatches("runbook")).toStrictEqual([
          { schedule: "runbook", due_at: T0 + HOUR, status: "succeeded", attempts: 1, late: false }
        ])
        expect(yield* Ref.get(runs)).toStrictEqual([{ due_at: T0 + HOUR, attempt: 1 }])
        expect(yield* probe.cursor("runbook")).toBe(T0 + HOUR + MINUTE)
        const history = yield* scheduler.history("runbook")
        expect(history.map((d) => [d.due_at, d.status, d.result])).toStrictEqual([[T0 + HOUR, "succeeded", {
          ran: T0 + HOUR
        }]])
        const events = yield* scheduler.events({ schedule: "runbook" })
        expect(events.map((e) => [e.type, e.due_at, (e.data as any).status])).toStrictEqual([[
          "schedule.trigger",
          T0 + HOUR,
          "pending"
        ]])
      }))

    it.effect("restart mid-window: a new instance over the same store neither duplicates nor misses", () =>
      Effect.gen(function*() {
        const start = T0 + 2 * HOUR
        const { probe, store, actor, runs, scheduler: first } = yield* fixture(start + 5_000, "restart.target")
        yield* add(first, actor, { name: "restart", target: "restart.target" })
        yield* first.tick
        // the process dies mid-window; a new one starts 20 s later, in the same minute
        yield* TestClock.setTime(start + 25_000)
        const second = yield* instance()
        expect(second.instance).not.toBe(first.instance)
        const again = yield* second.tick
        expect(only(["restart"], again.dispatched)).toStrictEqual([])
        // the next due time is dispatched once, by whichever instance ticks
        yield* TestClock.setTime(start + MINUTE + 1_000)
        yield* second.tick
        yield* first.tick
        expect(yield* probe.triggers("restart")).toStrictEqual([start, start + MINUTE])
        expect((yield* probe.dispatches("restart")).map((d) => [d.due_at, d.status])).toStrictEqual([
          [start, "succeeded"],
          [start + MINUTE, "succeeded"]
        ])
        expect((yield* Ref.get(runs)).map((r) => r.due_at)).toStrictEqual([start, start + MINUTE])

        // a process that died holding a lease: the lease expires and another instance runs the record again
        yield* TestClock.setTime(start + 2 * MINUTE + 1_000)
        yield* second.dispatchDue
        const due = start + 2 * MINUTE
        expect(
          yield* store.acquire({
            schedule: "restart",
            due_at: due,
            attempts: 0,
            owner: "dead-instance",
            lease_until: start + 2 * MINUTE + 61_000,
            now: start + 2 * MINUTE + 1_000,
            exclusive: false
          })
        ).toBe("acquired")
        expect(only(["restart"], yield* second.runDue)).toStrictEqual([])
        yield* TestClock.setTime(start + 2 * MINUTE + 62_000)
        const taken = only(["restart"], yield* second.runDue)
        expect(taken).toMatchObject([{ schedule: "restart", due_at: due, attempt: 2, status: "succeeded" }])
        // the dead instance's late finish is refused
        expect(
          yield* store.finish({
            schedule: "restart",
            due_at: due,
            owner: "dead-instance",
            status: "failed",
            now: start + 3 * MINUTE,
            available_at: start + 3 * MINUTE,
            error: "late",
            result: null
          })
        ).toBe(false)
        expect((yield* probe.dispatches("restart")).at(-1)).toMatchObject({ status: "succeeded", attempts: 2 })
      }))

    it.effect("several instances ticking concurrently: every (schedule, due time) dispatched exactly once", () =>
      Effect.gen(function*() {
        const start = T0 + 3 * HOUR
        const { probe, actor, runs } = yield* fixture(start, "fleet.target")
        const instances = yield* Effect.all(Array.from({ length: 6 }, () => instance()))
        const names = ["fleet-a", "fleet-b", "fleet-c", "fleet-d", "fleet-e"]
        for (const n of names) {
          yield* add(instances[0]!, actor, {
            name: n,
            target: "fleet.target",
            expression: n === "fleet-e" ? "* * * * *" : "@every:30",
            overlap: "allow"
          })
        }
        const rounds = 12
        for (let i = 0; i < rounds; i++) {
          yield* TestClock.setTime(start + i * 30_000 + 500)
          // all at once: on one connection the fibers still interleave between reading the cursors and claiming
          yield* Effect.all(instances.map((s) => s.tick), { concurrency: "unbounded" })
        }
        for (const n of names) {
          const rows = yield* probe.dispatches(n)
          const every30 = n !== "fleet-e"
          const expected = every30
            ? Array.from({ length: rounds }, (_, i) => start + i * 30_000)
            : Array.from({ length: rounds / 2 }, (_, i) => start + i * MINUTE)
          expect(rows.map((r) => r.due_at)).toStrictEqual(expected)
          expect(rows.every((r) => r.status === "succeeded" && r.attempts === 1)).toBe(true)
          expect(yield* probe.triggers(n)).toStrictEqual(expected)
        }
        expect((yield* Ref.get(runs)).length).toBe(4 * rounds + rounds / 2)
      }))

    it.effect("claim: two instances with the same cursor → one dispatch; a moved cursor over a taken due time → duplicate", () =>
      Effect.gen(function*() {
        const start = T0 + 3 * HOUR + 30 * MINUTE
        const { probe, store, actor, scheduler } = yield* fixture(start + 1_000, "claim.target")
        yield* add(scheduler, actor, { name: "claim", target: "claim.target" })
        const record = (by: string) =>
          ScheduleStore.Dispatch.make({
            schedule: "claim",
            due_at: start,
            target: "claim.target",
            dispatched_at: start + 1_000,
            dispatched_by: by,
            late: false,
            status: "pending",
            attempts: 0,
            available_at: start + 1_000,
            lease_owner: null,
            lease_until: null,
            started_at: null,
            finished_at: null,
            last_error: null,
            result: null
          })
        const event = (id: string) =>
          ScheduleStore.TriggerEvent.make({
            id,
            type: "schedule.trigger",
            schedule: "claim",
            due_at: start,
            at: start + 1_000,
            instance: id,
            data: {}
          })
        const claim = (by: string, expected: number) =>
          store.claim({
            schedule: "claim",
            expected_next_due_at: expected,
            next_due_at: start + MINUTE,
            dispatch: record(by),
            skip_if_active: false,
            event: event(`sev_${by}`),
            now: start + 1_000
          })
        const outcomes = yield* Effect.all([claim("a", start), claim("b", start)], { concurrency: "unbounded" })
        expect([...outcomes].sort()).toStrictEqual(["dispatched", "lost"])
        // a cursor set back by hand (or a stale plan) over a due time already dispatched writes nothing
        const s = yield* scheduler.get("claim")
        yield* store.update({ ...s, next_due_at: start, version: s.version + 1 } as Schedules.ScheduleRecord, s.version)
        expect(yield* claim("c", start)).toBe("duplicate")
        expect((yield* probe.dispatches("claim")).length).toBe(1)
        expect(yield* probe.triggers("claim")).toStrictEqual([start])
        expect(yield* probe.cursor("claim")).toBe(start + MINUTE)
      }))

    it.effect("claimMany: one call decides each claim as claim alone would, outcomes in input order", () =>
      Effect.gen(function*() {
        const start = T0 + 3 * HOUR + 45 * MINUTE
        const { probe, store, actor, scheduler } = yield* fixture(start + 1_000, "many.target")
        const names = ["many-new", "many-lost", "many-advance", "many-skip", "many-dup"]
        for (const n of names) yield* add(scheduler, actor, { name: n, target: "many.target" })
        const now = start + 1_000
        const record = (schedule: string, due_at: number) =>
          ScheduleStore.Dispatch.make({
            schedule,
            due_at,
            target: "many.target",
            dispatched_at: now,
            dispatched_by: "many",
            late: false,
            status: "pending",
            attempts: 0,
            available_at: now,
            lease_owner: null,
            lease_until: null,
            started_at: null,
            finished_at: null,
            last_error: null,
            result: null
          })
        const input = (
          schedule: string,
          options: { expected?: number; skip?: boolean; advanceOnly?: boolean } = {}
        ) => ({
          schedule,
          expected_next_due_at: options.expected ?? start,
          next_due_at: start + MINUTE,
          dispatch: options.advanceOnly ? null : record(schedule, start),
          skip_if_active: options.skip ?? false,
          event: options.advanceOnly ? null : ScheduleStore.TriggerEvent.make({
            id: `sev_many_${schedule}`,
            type: "schedule.trigger",
            schedule,
            due_at: start,
            at: now,
            instance: "many",
            data: { target: "many.target" }
          }),
          now
        })
        // many-skip has an active (pending) record from an earlier due time; many-dup's due time is taken already
        expect(
          yield* store.claim({ ...input("many-skip"), dispatch: record("many-skip", start - MINUTE), event: null })
        ).toBe("dispatched")
        const skipCursor = yield* probe.cursor("many-skip")
        const s = yield* scheduler.get("many-skip")
        yield* store.update({ ...s, next_due_at: start, version: s.version + 1 } as Schedules.ScheduleRecord, s.version)
        expect(skipCursor).toBe(start + MINUTE)
        expect(yield* store.claim(input("many-dup"))).toBe("dispatched")
        const d = yield* scheduler.get("many-dup")
        yield* store.update({ ...d, next_due_at: start, version: d.version + 1 } as Schedules.ScheduleRecord, d.version)

        const outcomes = yield* store.claimMany([
          input("many-new"),
          input("many-lost", { expected: start - MINUTE }),
          input("many-advance", { advanceOnly: true }),
          input("many-skip", { skip: true }),
          input("many-dup")
        ])
        expect(outcomes).toStrictEqual(["dispatched", "lost", "advanced", "skipped", "duplicate"])
        expect(yield* store.claimMany([])).toStrictEqual([])
        // persisted: cursors moved except the lost one; records and events only where written
        expect(yield* Effect.all(names.map((n) => probe.cursor(n)))).toStrictEqual([
          start + MINUTE,
          start,
          start + MINUTE,
          start + MINUTE,
          start + MINUTE
        ])
        expect(yield* probe.dispatches("many-new")).toStrictEqual([
          { schedule: "many-new", due_at: start, status: "pending", attempts: 0, late: false }
        ])
        expect(yield* probe.dispatches("many-lost")).toStrictEqual([])
        expect(yield* probe.dispatches("many-advance")).toStrictEqual([])
        expect((yield* probe.dispatches("many-skip")).map((r) => [r.due_at, r.status])).toStrictEqual([
          [start - MINUTE, "pending"],
          [start, "skipped"]
        ])
        expect((yield* probe.dispatches("many-dup")).length).toBe(1)
        expect(yield* probe.triggers("many-new")).toStrictEqual([start])
        expect(yield* probe.triggers("many-lost")).toStrictEqual([])
        expect(yield* probe.triggers("many-advance")).toStrictEqual([])
        expect(yield* probe.triggers("many-skip")).toStrictEqual([start])
        expect(yield* probe.triggers("many-dup")).toStrictEqual([start])
        const events = yield* scheduler.events({ schedule: "many-skip" })
        expect(events.map((e) => (e.data as { status?: string }).status)).toStrictEqual(["skipped"])
      }))

    it.effect("clock jump forward: catch-up `once` runs the missed window once, late; `skip` runs nothing", () =>
      Effect.gen(function*() {
        const start = T0 + 4 * HOUR
        const { probe, actor, scheduler } = yield* fixture(start + 1_000, "jump.target")
        const names = ["jump-once", "jump-skip"]
        yield* add(scheduler, actor, { name: "jump-once", target: "jump.target", expression: "@every:600" })
        yield* add(scheduler, actor, {
          name: "jump-skip",
          target: "jump.target",
          expression: "@every:600",
          catch_up: "skip"
        })
        yield* scheduler.tick
        // the clock jumps 27 minutes: due times +10 and +20 min were missed, the latest by 7 minutes (> 60 s grace)
        yield* TestClock.setTime(start + 27 * MINUTE)
        const jumped = yield* scheduler.tick
        expect(only(names, jumped.dispatched)).toStrictEqual([
          { schedule: "jump-once", due_at: start + 20 * MINUTE, status: "pending", late: true }
        ])
        expect(yield* probe.cursor("jump-skip")).toBe(start + 30 * MINUTE)
        expect(yield* probe.cursor("jump-once")).toBe(start + 30 * MINUTE)
        // a jump that lands within the grace period of a due time is on time, not a catch-up
        yield* TestClock.setTime(start + 30 * MINUTE + 45_000)
        const onTime = yield* scheduler.tick
        expect(only(names, onTime.dispatched).map((d) => [d.schedule, d.due_at, d.late])).toStrictEqual([
          ["jump-once", start + 30 * MINUTE, false],
          ["jump-skip", start + 30 * MINUTE, false]
        ])
        expect((yield* probe.dispatches("jump-once")).map((d) => [d.due_at, d.late, d.status])).toStrictEqual([
          [start, false, "succeeded"],
          [start + 20 * MINUTE, true, "succeeded"],
          [start + 30 * MINUTE, false, "succeeded"]
        ])
        expect((yield* probe.dispatches("jump-skip")).map((d) => d.due_at)).toStrictEqual([start, start + 30 * MINUTE])
        expect(yield* probe.triggers("jump-once")).toStrictEqual([start, start + 20 * MINUTE, start + 30 * MINUTE])
      }))

    it.effect("clock jump backward: nothing is dispatched again", () =>
      Effect.gen(function*() {
        const start = T0 + 5 * HOUR
        const { probe, actor, runs, scheduler } = yield* fixture(start + 2_000, "back.target")
        yield* add(scheduler, actor, { name: "back", target: "back.target" })
        yield* scheduler.tick
        yield* TestClock.setTime(start + MINUTE + 2_000)
        yield* scheduler.tick
        // the clock steps back five minutes, then walks forward again over the same due times
        for (const t of [start - 5 * MINUTE, start - MINUTE + 1_000, start + 1_000, start + MINUTE + 30_000]) {
          yield* TestClock.setTime(t)
          const r = yield* scheduler.tick
          expect(only(["back"], r.dispatched)).toStrictEqual([])
        }
        yield* TestClock.setTime(start + 2 * MINUTE + 1_000)
        yield* scheduler.tick
        expect(yield* probe.triggers("back")).toStrictEqual([start, start + MINUTE, start + 2 * MINUTE])
        expect((yield* Ref.get(runs)).map((r) => r.due_at)).toStrictEqual([start, start + MINUTE, start + 2 * MINUTE])
      }))

    it.effect("daylight saving in America/New_York: a 02:30 daily job runs once per day across both changes", () =>
      Effect.gen(function*() {
        const { probe, actor, scheduler } = yield* fixture(Date.UTC(2025, 2, 7, 12), "dst.target")
        const tickEvery30Min = (from: number, to: number) =>
          Effect.gen(function*() {
            for (let t = from; t <= to; t += 30 * MINUTE) {
              yield* TestClock.setTime(t)
              yield* scheduler.tick
            }
          })
        // spring forward: Sunday 2025-03-09 02:00 EST → 03:00 EDT (02:30 does not exist that day)
        yield* add(scheduler, actor, {
          name: "dst-spring",
          target: "dst.target",
          expression: "30 2 * * *",
          time_zone: "America/New_York"
        })
        yield* tickEvery30Min(Date.UTC(2025, 2, 7, 12), Date.UTC(2025, 2, 11, 12))
        expect((yield* probe.dispatches("dst-spring")).map((d) => new Date(d.due_at).toISOString())).toStrictEqual([
          "2025-03-08T07:30:00.000Z", // 02:30 EST
          "2025-03-09T07:30:00.000Z", // the skipped 02:30 runs at 03:30 EDT, once
          "2025-03-10T06:30:00.000Z", // 02:30 EDT
          "2025-03-11T06:30:00.000Z"
        ])
        // fall back: Sunday 2025-11-02 02:00 EDT → 01:00 EST (01:00–02:00 happens twice)
        yield* TestClock.setTime(Date.UTC(2025, 9, 31, 12))
        yield* add(scheduler, actor, {
          name: "dst-fall",
          target: "dst.target",
          expression: "30 2 * * *",
          time_zone: "America/New_York"
        })
        yield* add(scheduler, actor, {
          name: "dst-fall-130",
          target: "dst.target",
          expression: "30 1 * * *",
          time_zone: "America/New_York"
        })
        yield* tickEvery30Min(Date.UTC(2025, 9, 31, 12), Date.UTC(2025, 10, 4, 12))
        expect((yield* probe.dispatches("dst-fall")).map((d) => new Date(d.due_at).toISOString())).toStrictEqual([
          "2025-11-01T06:30:00.000Z", // 02:30 EDT
          "2025-11-02T07:30:00.000Z", // 02:30 EST, once
          "2025-11-03T07:30:00.000Z",
          "2025-11-04T07:30:00.000Z"
        ])
        // 01:30, which happens twice on the change day, runs once (at its first occurrence)
        expect((yield* probe.dispatches("dst-fall-130")).map((d) => new Date(d.due_at).toISOString())).toStrictEqual([
          "2025-11-01T05:30:00.000Z",
          "2025-11-02T05:30:00.000Z",
          "2025-11-03T06:30:00.000Z",
          "2025-11-04T06:30:00.000Z"
        ])
      }))

    it.effect("overlap: `skip` records skipped, `allow` runs both, `queue` runs in due order one at a time", () =>
      Effect.gen(function*() {
        const start = T0 + 6 * HOUR
        const { probe, store, actor, runs, scheduler } = yield* fixture(start + 1_000, "overlap.target")
        yield* add(scheduler, actor, { name: "ov-skip", target: "overlap.target" })
        yield* add(scheduler, actor, { name: "ov-allow", target: "overlap.target", overlap: "allow" })
        yield* add(scheduler, actor, { name: "ov-queue", target: "overlap.target", overlap: "queue" })
        // dispatch without running, twice: the first record is still open at the second due time
        yield* scheduler.dispatchDue
        yield* TestClock.setTime(start + MINUTE + 1_000)
        const overlap = ["ov-allow", "ov-queue", "ov-skip"]
        const second = yield* scheduler.dispatchDue
        expect(only(overlap, second.dispatched).map((d) => [d.schedule, d.status])).toStrictEqual([
          ["ov-allow", "pending"],
          ["ov-queue", "pending"],
          ["ov-skip", "skipped"]
        ])
        expect((yield* probe.dispatches("ov-skip")).map((d) => d.status)).toStrictEqual(["pending", "skipped"])
        const events = yield* scheduler.events({ schedule: "ov-skip" })
        expect(events.map((e) => (e.data as any).status)).toStrictEqual(["pending", "skipped"])
        // one round of execution: allow runs both; queue runs only its earliest
        const ran = only(overlap, yield* scheduler.runDue)
        expect(ran.filter((r) => r.schedule === "ov-allow").length).toBe(2)
        expect(ran.filter((r) => r.schedule === "ov-queue").map((r) => r.due_at)).toStrictEqual([start])
        const next = only(overlap, yield* scheduler.runDue)
        expect(next.map((r) => [r.schedule, r.due_at])).toStrictEqual([["ov-queue", start + MINUTE]])
        expect((yield* Ref.get(runs)).length).toBe(5)

        // queue across instances: while one holds the earlier record's lease, the later one is blocked
        yield* TestClock.setTime(start + 2 * MINUTE + 1_000)
        yield* scheduler.dispatchDue
        yield* TestClock.setTime(start + 3 * MINUTE + 1_000)
        yield* scheduler.dispatchDue
        const now = start + 3 * MINUTE + 1_000
        const lease = { owner: "other", lease_until: now + MINUTE, now, attempts: 0, exclusive: true }
        expect(yield* store.acquire({ schedule: "ov-queue", due_at: start + 3 * MINUTE, ...lease })).toBe("blocked")
        expect(yield* store.acquire({ schedule: "ov-queue", due_at: start + 2 * MINUTE, ...lease })).toBe("acquired")
        expect(yield* store.acquire({ schedule: "ov-queue", due_at: start + 3 * MINUTE, ...lease })).toBe("blocked")
        expect(yield* store.acquire({ schedule: "ov-queue", due_at: start + 2 * MINUTE, ...lease })).toBe("taken")
      }))

    it.effect("execution: a failing task is retried with backoff, a defect is recorded, attempts end in failed", () =>
      Effect.gen(function*() {
        const start = T0 + 7 * HOUR
        const { probe, store, actor, runs: flaky, scheduler } = yield* fixture(start + 1_000, "flaky.target", {
          fail: (ctx) => (ctx.attempt < 3 ? "fail" : "ok"),
          settings: { retryDelaySeconds: 10, maxAttempts: 3 }
        })
        yield* countingTarget("broken.target", () => "die")
        yield* add(scheduler, actor, { name: "flaky", target: "flaky.target", expression: "@every:3600" })
        yield* add(scheduler, actor, { name: "broken", target: "broken.target", expression: "@every:3600" })
        const mine = ["broken", "flaky"]
        const first = yield* scheduler.tick
        expect(only(mine, first.executed).map((e) => [e.schedule, e.status, e.error])).toStrictEqual([
          ["broken", "pending", "defect in task"],
          ["flaky", "pending", "boom 1"]
        ])
        // not before the retry delay (10 s, then 20 s)
        yield* TestClock.setTime(start + 1_000 + 9_000)
        expect(only(mine, (yield* scheduler.tick).executed)).toStrictEqual([])
        yield* TestClock.setTime(start + 1_000 + 10_000)
        expect(only(mine, (yield* scheduler.tick).executed).map((e) => e.attempt)).toStrictEqual([2, 2])
        yield* TestClock.setTime(start + 1_000 + 30_000)
        const third = yield* scheduler.tick
        expect(only(mine, third.executed).map((e) => [e.schedule, e.status])).toStrictEqual([
          ["broken", "failed"],
          ["flaky", "succeeded"]
        ])
        expect(yield* probe.dispatches("flaky")).toStrictEqual([
          { schedule: "flaky", due_at: start, status: "succeeded", attempts: 3, late: false }
        ])
        expect(yield* probe.dispatches("broken")).toStrictEqual([
          { schedule: "broken", due_at: start, status: "failed", attempts: 3, late: false }
        ])
        expect((yield* Ref.get(flaky)).map((r) => r.attempt)).toStrictEqual([1, 2, 3])
        const status = yield* scheduler.status
        expect(status.last_error).toMatchObject({ schedule: "broken", error: "defect in task" })
        // a target that is no longer registered fails its record at once
        const targets = yield* Scheduler.ScheduleTargets
        expect(targets.list().some((t) => t.name === "broken.target")).toBe(true)
        yield* TestClock.setTime(start + HOUR + 1_000)
        yield* scheduler.dispatchDue
        yield* store.update(
          { ...(yield* scheduler.get("broken")), target: "gone.target", version: 2 } as Schedules.ScheduleRecord,
          1
        )
        const d = yield* store.dispatch("broken", start + HOUR)
        expect(d._tag === "Some" && d.value.target).toBe("broken.target")
      }))

    it.effect("status: due, dispatched, running, late and lag", () =>
      Effect.gen(function*() {
        const start = T0 + 8 * HOUR
        const { store, actor, scheduler } = yield* fixture(start + 1_000, "status.target")
        const before = yield* scheduler.status
        yield* add(scheduler, actor, { name: "status-a", target: "status.target", expression: "@every:600" })
        yield* add(scheduler, actor, { name: "status-b", target: "status.target", expression: "@every:600" })
        const due = yield* scheduler.status
        expect(due.due - before.due).toBe(2)
        expect(due.lag_seconds).toBeGreaterThanOrEqual(1)
        yield* scheduler.dispatchDue
        const dispatched = yield* scheduler.status
        expect(dispatched.due - before.due).toBe(0)
        expect(dispatched.dispatched - before.dispatched).toBe(2)
        const now = start + 1_000
        yield* store.acquire({
          schedule: "status-a",
          due_at: start,
          attempts: 0,
          owner: "x",
          lease_until: now + MINUTE,
          now,
          exclusive: false
        })
        const running = yield* scheduler.status
        expect(running.running - before.running).toBe(1)
        expect(running.dispatched - before.dispatched).toBe(1)
        // two minutes on, the pending record is past the grace period: late
        yield* TestClock.setTime(start + 2 * MINUTE)
        const late = yield* scheduler.status
        expect(late.late - before.late).toBeGreaterThanOrEqual(1)
        expect(late.lag_seconds).toBeGreaterThanOrEqual(120)
        yield* scheduler.runDue
      }))

    it.effect("the tick loop runs on the interval (Effect Schedule) under TestClock", () =>
      Effect.gen(function*() {
        const start = T0 + 9 * HOUR
        const { probe, actor, scheduler } = yield* fixture(start + 500, "loop.target", { settings: { tickSeconds: 5 } })
        yield* add(scheduler, actor, { name: "loop", target: "loop.target", expression: "@every:5" })
        const done = (n: number) =>
          Effect.map(probe.dispatches("loop"), (rows) => rows.filter((r) => r.status === "succeeded").length >= n)
        const fiber = yield* Effect.fork(scheduler.loop)
        yield* waitFor(done(1))
        for (let i = 1; i <= 6; i++) {
          // let the tick that just finished go back to sleep before moving the clock
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
          yield* TestClock.adjust("5 seconds")
          yield* waitFor(done(i + 1))
        }
        yield* Fiber.interrupt(fiber)
        const rows = yield* probe.dispatches("loop")
        expect(rows.map((r) => r.due_at)).toStrictEqual(Array.from({ length: 7 }, (_, i) => start + i * 5_000))
      }))

    it.effect("maintenance: a failing and a defecting command become failure records and memory `failure` items; the loop goes on", () =>
      Effect.gen(function*() {
        const start = T0 + 10 * HOUR
        yield* TestClock.setTime(start)
        const actor = yield* admin
        const registry = yield* Maintenance.MaintenanceCommands
        const counts = yield* Ref.make({ ok: 0, fail: 0, die: 0 })
        const bump = (k: "ok" | "fail" | "die") => Ref.update(counts, (c) => ({ ...c, [k]: c[k] + 1 }))
        yield* registry.register({ name: "m.ok", description: "succeeds", run: Effect.as(bump("ok"), { vacuumed: 3 }) })
        yield* registry.register({
          name: "m.fail",
          description: "fails",
          run: Effect.zipRight(bump("fail"), Effect.fail(new Error("disk full")))
        })
        yield* registry.register({
          name: "m.die",
          description: "defects",
          run: Effect.zipRight(bump("die"), Effect.dieMessage("null pointer"))
        })
        const maintenance = yield* Maintenance.make.pipe(
          Effect.provideService(MaintenanceConfig.MaintenanceConfig, {
            ...MaintenanceConfig.defaults,
            enabled: true,
            intervalSeconds: 300,
            heartbeatIntervalSeconds: 60,
            commands: ["m.ok", "m.fail", "m.die"],
            failureTenant: actor.tenant_id
          })
        )
        const passes = (n: number) => Effect.map(Ref.get(counts), (c) => c.ok >= n && c.fail >= n && c.die >= n)
        const failuresAt = (n: number) => Effect.map(maintenance.failures(), (f) => f.length >= n)
        const fiber = yield* Effect.fork(maintenance.loop)
        yield* waitFor(Effect.zipWith(passes(1), failuresAt(2), (a, b) => a && b))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("60 seconds")
        yield* waitFor(Effect.zipWith(passes(2), failuresAt(4), (a, b) => a && b))
        yield* Fiber.interrupt(fiber)
        expect(yield* Ref.get(counts)).toStrictEqual({ ok: 2, fail: 2, die: 2 })
        const failures = yield* maintenance.failures()
        expect(failures.map((f) => [f.command, f.error]).sort()).toStrictEqual([
          ["m.die", "null pointer"],
          ["m.die", "null pointer"],
          ["m.fail", "disk full"],
          ["m.fail", "disk full"]
        ])
        expect(failures.every((f) => f.memory_uid !== null)).toBe(true)
        const memory = yield* AgentMemory.AgentMemory
        const items = yield* memory.failures(actor.tenant_id, actor, { job: "maintenance:m.fail" })
        expect(items.items.map((i) => [i.kind, i.thread_id])).toStrictEqual([
          ["failure", "job:maintenance:m.fail"],
          ["failure", "job:maintenance:m.fail"]
        ])
        expect(items.items.map((i) => i.uid).sort()).toStrictEqual(
          failures.filter((f) => f.command === "m.fail").map((f) => f.memory_uid).sort()
        )
        const status = yield* maintenance.status
        expect(status.last_heartbeat_at).toBeGreaterThanOrEqual(start + 240_000)
        expect(status.commands.map((c) => [c.name, c.last_run?.status, c.last_run?.trigger])).toStrictEqual([
          ["m.die", "failed", "interval"],
          ["m.fail", "failed", "interval"],
          ["m.ok", "succeeded", "interval"]
        ])
        expect(status.commands.find((c) => c.name === "m.ok")?.last_run?.result).toStrictEqual({ vacuumed: 3 })
      }))

    it.effect("maintenance: run now, enqueue (taken once across instances), unknown commands and non-admins refused", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0 + 11 * HOUR)
        const actor = yield* admin
        const registry = yield* Maintenance.MaintenanceCommands
        const ran = yield* Ref.make(0)
        yield* registry.register({ name: "m.count", description: "counts", run: Ref.updateAndGet(ran, (n) => n + 1) })
        const settings = { ...MaintenanceConfig.defaults, failureTenant: actor.tenant_id }
        const one = yield* Maintenance.make.pipe(Effect.provideService(MaintenanceConfig.MaintenanceConfig, settings))
        const two = yield* Maintenance.make.pipe(Effect.provideService(MaintenanceConfig.MaintenanceConfig, settings))
        const now = yield* one.runNow(actor, ["m.count"])
        expect(now.map((r) => [r.command, r.trigger, r.status, r.result])).toStrictEqual([[
          "m.count",
          "manual",
          "succeeded",
          1
        ]])
        const queued = yield* one.enqueue(actor, ["m.count"])
        expect(queued.map((r) => r.status)).toStrictEqual(["queued"])
        expect((yield* one.status).queued).toBeGreaterThanOrEqual(1)
        const [a, b] = yield* Effect.all([one.processQueue, two.processQueue], { concurrency: "unbounded" })
        expect([...a, ...b].filter((r) => r.command === "m.count").map((r) => [r.id, r.status])).toStrictEqual([[
          queued[0]!.id,
          "succeeded"
        ]])
        expect(yield* Ref.get(ran)).toBe(2)
        expect(codeOf(yield* Effect.exit(one.runNow(actor, ["m.count", "nope"])))).toBe(
          "validation.maintenance_command"
        )
        expect(yield* Ref.get(ran)).toBe(2)
        const tenants = yield* Tenants.Tenants
        const viewer = yield* tenants.addActor({
          tenant_id: actor.tenant_id,
          kind: "user",
          name: "Vic",
          role: "VIEWER"
        })
        expect(codeOf(yield* Effect.exit(one.enqueue(viewer, ["m.count"])))).toBe("rbac.forbidden")
      }))
  })

/**
 * `airlock schedules list | add | tick` (assistant platform runbook: the scheduler check) and
 * `airlock maintenance run | status | enqueue` (assistant: "Local Maintenance Loop"), over ops
 * `Scheduler` and `Maintenance` with the targets and commands the reference server registers
 * (`../server/Scheduling.ts`, shared).
 */
import { Maintenance, type MaintenanceStore, Scheduler } from "@airlock/ops"
import { Args, Command, Options } from "@effect/cli"
import { Clock, Effect, Option } from "effect"
import * as R from "../Runtime.js"

const stamp = (ms: number | null) => ms === null ? "-" : new Date(ms).toISOString()

/** `airlock schedules list`. */
const list = R.command(
  "list",
  { json: R.json },
  R.help(
    "Lists the schedules (timing, target, next due time) and the targets this distribution registers.",
    "airlock schedules list --json"
  ),
  ({ json }) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const schedules = yield* scheduler.list()
      const targets = scheduler.targets()
      if (json) return yield* R.printJson({ schedules, targets })
      yield* R.line(`${schedules.length} schedule(s)`)
      for (const s of schedules) {
        yield* R.line(
          `- ${R.bold(s.name)} ${s.expression} (${s.time_zone}) -> ${s.target}` +
            `${s.enabled ? "" : " [disabled]"}, next due ${stamp(s.next_due_at)}`
        )
      }
      yield* R.line(`targets: ${targets.map((t) => t.name).join(", ") || "-"}`)
    })
)

/** `airlock schedules add --cron '@every:60' --task memory.tiering [--name …]`. */
const add = R.command(
  "add",
  {
    cron: Options.text("cron").pipe(
      Options.withDescription("When: @every:N (seconds) or a cron expression of 5 or 6 fields")
    ),
    task: Options.text("task").pipe(
      Options.withDescription("The registered target to run (schedules list shows them)")
    ),
    name: Options.text("name").pipe(
      Options.optional,
      Options.withDescription("The schedule's name: lower case, digits and _ . : - (default: the task's name)")
    ),
    timeZone: Options.text("time-zone").pipe(
      Options.optional,
      Options.withDescription("IANA time zone of a cron expression (default UTC)")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  R.help(
    "Adds a schedule of a registered target (audited as --actor). An unknown target or a bad expression: exit 2; " +
      "a name in use: exit 4.",
    "airlock schedules add --cron '@every:60' --task memory.tiering",
    "airlock schedules add --cron '30 2 * * *' --time-zone Europe/Berlin --task memory.tiering --name nightly-tiering"
  ),
  ({ actor, cron, json, name, task, tenant, timeZone }) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const who = yield* R.resolveActor(tenant, actor)
      const created = yield* scheduler.create(who, {
        name: Option.getOrElse(name, () => task),
        expression: cron,
        target: task,
        ...Option.match(timeZone, { onNone: () => ({}), onSome: (time_zone) => ({ time_zone }) })
      })
      if (json) return yield* R.printJson(created)
      yield* R.line(
        `${R.ok} schedule ${created.name} added: ${created.expression} -> ${created.target}, ` +
          `next due ${stamp(created.next_due_at)}`
      )
    })
)

/** `airlock schedules tick`. */
const tick = R.command(
  "tick",
  { json: R.json },
  R.help(
    "One scheduler tick now: dispatches what is due (one schedule.trigger per due time, never twice) and runs it. " +
      "Exit 1 when a run failed.",
    "airlock schedules tick --json"
  ),
  ({ json }) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const report = yield* scheduler.tick
      const failed = report.executed.filter((x) => x.status === "failed").length
      if (json) {
        yield* R.printJson(report)
      } else {
        yield* R.line(
          `${R.ok} tick at ${stamp(report.at)}: ${report.dispatched.length} dispatched (schedule.trigger), ` +
            `${report.executed.length} run`
        )
        for (const d of report.dispatched) {
          yield* R.line(`   ${d.schedule} due ${stamp(d.due_at)} ${d.status}${d.late ? " (late)" : ""}`)
        }
        for (const x of report.executed) {
          yield* R.line(`   ${x.schedule} due ${stamp(x.due_at)} attempt ${x.attempt}: ${x.status}`)
          if (x.error !== null) yield* R.line(`     ${R.red(x.error)}`)
        }
      }
      yield* R.failIfAny(failed)
    })
)

/** `airlock schedules`. */
export const schedules = Command.make("schedules").pipe(
  Command.withDescription(R.help(
    "Schedules (the runbook's scheduler check: add, tick, tick again).",
    "airlock schedules add --cron '@every:60' --task memory.tiering && airlock schedules tick"
  )),
  Command.withSubcommands([list, add, tick])
)

const printRuns = (runs: ReadonlyArray<MaintenanceStore.MaintenanceRun>) =>
  Effect.forEach(runs, (r) =>
    Effect.zipRight(
      R.line(
        `   ${
          r.status === "failed" ? R.fail : r.status === "succeeded" ? R.ok : "•"
        } ${r.command} ${r.status} (${r.id})`
      ),
      r.error === null ? Effect.void : R.line(`     ${R.red(r.error)}`)
    ), { discard: true })

/** What `maintenance run` and `maintenance enqueue` share: the named commands, who asks, the output. */
const maintenanceOptions = {
  commands: Args.text({ name: "command" }).pipe(
    Args.repeated,
    Args.withDescription("Maintenance commands (default: every registered command)")
  ),
  json: R.json,
  actor: R.actor,
  tenant: R.tenant
}

/** `airlock maintenance run [command…]`. */
const run = R.command(
  "run",
  maintenanceOptions,
  R.help(
    "Runs maintenance commands now, one after another (every registered one when none is named). A failure is " +
      "recorded (maintenance failures, agent memory); exit 1 when any failed, 2 for an unknown command.",
    "airlock maintenance run",
    "airlock maintenance run memory.tiering --json"
  ),
  ({ actor, commands, json, tenant }) =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance.Maintenance
      const who = yield* R.resolveActor(tenant, actor)
      const runs = yield* maintenance.runNow(who, commands)
      const failed = runs.filter((r) => r.status === "failed").length
      if (json) {
        yield* R.printJson({ runs, failed })
      } else {
        yield* R.line(`${failed === 0 ? R.ok : R.fail} ${runs.length} maintenance command(s) run, ${failed} failed`)
        yield* printRuns(runs)
      }
      yield* R.failIfAny(failed)
    })
)

/** What `maintenance enqueue` warns when no maintenance loop runs. */
const loopDisabled = "the maintenance loop is disabled (AIRLOCK_MAINTENANCE_ENABLED is not true and no loop has " +
  "beaten recently): the run waits until a server runs with AIRLOCK_MAINTENANCE_ENABLED=true, or run it now " +
  "with airlock maintenance run"

/** `airlock maintenance enqueue [command…]`. */
const enqueue = R.command(
  "enqueue",
  maintenanceOptions,
  R.help(
    "Queues maintenance commands for the running server's loop (taken on its heartbeat). With the loop disabled " +
      "(AIRLOCK_MAINTENANCE_ENABLED, the default) and no recent heartbeat it warns (a warning field in --json): " +
      "the run waits for a loop, or use airlock maintenance run.",
    "airlock maintenance enqueue memory.tiering"
  ),
  ({ actor, commands, json, tenant }) =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance.Maintenance
      const who = yield* R.resolveActor(tenant, actor)
      const runs = yield* maintenance.enqueue(who, commands)
      // nothing takes queued runs without a loop: say so unless one is enabled here or beat recently elsewhere
      const s = yield* maintenance.status
      const now = yield* Clock.currentTimeMillis
      const beating = s.last_heartbeat_at !== null &&
        now - s.last_heartbeat_at <= 2 * s.heartbeat_interval_seconds * 1000
      const warning = s.enabled || beating ? null : loopDisabled
      if (json) return yield* R.printJson(warning === null ? { runs } : { runs, warning })
      yield* R.line(`${R.ok} ${runs.length} maintenance command(s) queued for the server's loop`)
      yield* printRuns(runs)
      if (warning !== null) yield* R.line(`${R.warn} ${R.yellow(warning)}`)
    })
)

/** `airlock maintenance status [--json]`. */
const status = R.command(
  "status",
  { json: R.json },
  R.help(
    "The maintenance loop: enabled, intervals, last heartbeat, queue length, each command's last run.",
    "airlock maintenance status --json"
  ),
  ({ json }) =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance.Maintenance
      const s = yield* maintenance.status
      if (json) return yield* R.printJson(s)
      yield* R.line(
        `maintenance loop ${s.enabled ? "enabled" : "disabled"}: every ${s.interval_seconds} s, ` +
          `heartbeat every ${s.heartbeat_interval_seconds} s, last ${stamp(s.last_heartbeat_at)}` +
          `${s.last_heartbeat_by === null ? "" : ` by ${s.last_heartbeat_by}`}; ${s.queued} queued`
      )
      for (const c of s.commands) {
        const last = c.last_run
        yield* R.line(
          `- ${R.bold(c.name)}${c.scheduled ? "" : " (on demand only)"}: ` +
            (last === null ? "never run" : `last ${last.status} at ${stamp(last.finished_at ?? last.enqueued_at)}`)
        )
      }
    })
)

/** `airlock maintenance`. */
export const maintenance = Command.make("maintenance").pipe(
  Command.withDescription(R.help("The maintenance loop's commands.", "airlock maintenance run")),
  Command.withSubcommands([run, status, enqueue])
)

/**
 * Profiles the scheduler's dispatch: `pnpm --filter @airlock/examples exec tsx
 * bench/profile-scheduler.ts [schedules] [sqlite|memory] [profile]` (after `pnpm build`) seeds that many
 * schedules all due now, times `dispatchDue` until every one is claimed and, with `profile`, writes
 * `scheduler-dispatch-<adapter>.cpuprofile` covering the claims only.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import { CoreConfig, Kernel, Rbac, SecureRandom } from "@airlock/core"
import { Scheduler, Schedules, ScheduleStore } from "@airlock/ops"
import { Effect, Layer } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

const count = Number(process.argv[2] ?? 5000)
const adapter = process.argv[3] === "memory" ? "memory" : "sqlite"
const profile = process.argv[4] === "profile"
const session = new Session()
session.connect()
const ports: Layer.Layer<any, unknown> = adapter === "memory"
  ? Memory.layer
  : Sqlite.layer({ filename: join(mkdtempSync(join(tmpdir(), "airlock-prof-")), "sched.db") })
const environment = Scheduler.layer.pipe(
  Layer.provideMerge(Kernel.layerWithAmbient),
  Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
  Layer.provideMerge(ports)
)
const program = Effect.gen(function*() {
  const store = yield* ScheduleStore.ScheduleStore
  const scheduler = yield* Scheduler.Scheduler
  const now = Date.now()
  const due = Math.floor(now / 1000) * 1000 - 1000
  for (let i = 0; i < count; i++) {
    yield* store.insert(Schedules.ScheduleRecord.make({
      name: `p-${i}`,
      expression: `${(due / 1000) % 60} * * * * *`,
      time_zone: "UTC",
      target: "noop",
      args: null,
      enabled: true,
      overlap: "allow",
      catch_up: "once",
      next_due_at: due,
      created_at: 0,
      updated_at: 0,
      updated_by: "p",
      version: 1
    }))
  }
  if (profile) {
    yield* Effect.promise(() => session.post("Profiler.enable"))
    yield* Effect.promise(() => session.post("Profiler.setSamplingInterval", { interval: 200 }))
    yield* Effect.promise(() => session.post("Profiler.start"))
  }
  const t0 = performance.now()
  let claimed = 0
  while (claimed < count) {
    const r = yield* scheduler.dispatchDue
    if (r.dispatched.length === 0) break
    claimed += r.dispatched.length
  }
  const ms = performance.now() - t0
  if (profile) {
    const { profile: p } = yield* Effect.promise(() => session.post("Profiler.stop"))
    writeFileSync(`scheduler-dispatch-${adapter}.cpuprofile`, JSON.stringify(p))
  }
  console.log(
    `${adapter}: ${claimed} claims in ${ms.toFixed(0)} ms: ${(ms / claimed).toFixed(3)} ms/claim, ${
      (claimed / ms * 1000).toFixed(0)
    } claims/s`
  )
})
await Effect.runPromise(Effect.orDie(Effect.scoped(Effect.provide(program, environment))))

/**
 * A worker process for the multi-process scheduler test: opens the given PostgreSQL database,
 * builds a scheduler instance over it and ticks once per simulated second over the given range
 * (its own clock, set before each tick), then prints what it dispatched and ran as one JSON line.
 *
 * Usage: node --import tsx --conditions=source scheduler-worker.ts '<json>'
 */
import { Postgres } from "@airlock/adapters-storage"
import { CoreConfig, Kernel, Rbac, SecureRandom } from "@airlock/core"
import { Scheduler } from "@airlock/ops"
import { Clock, Effect, Layer } from "effect"

interface Job {
  readonly url: string
  readonly start: number
  readonly steps: number
  readonly stepMillis: number
}

const job = JSON.parse(process.argv[2]!) as Job
let now = job.start

const base = Clock.make()
const clock: Clock.Clock = {
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => now,
  currentTimeMillis: Effect.sync(() => now),
  unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
  sleep: (d) => base.sleep(d)
}

const environment = Scheduler.layer.pipe(
  Layer.provideMerge(Kernel.layerWithAmbient),
  Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto)),
  Layer.provideMerge(Postgres.layer({ url: job.url, maxConnections: 4 }))
)

const program = Effect.gen(function*() {
  const targets = yield* Scheduler.ScheduleTargets
  let ran = 0
  yield* targets.register({ name: "mp.target", description: "counts", run: () => Effect.sync(() => ran++) })
  const scheduler = yield* Scheduler.Scheduler
  let dispatched = 0
  let lost = 0
  for (let k = 0; k < job.steps; k++) {
    now = job.start + k * job.stepMillis + 100
    const report = yield* scheduler.tick
    dispatched += report.dispatched.length
    lost += report.lost
  }
  return { instance: scheduler.instance, dispatched, lost, ran }
}).pipe(Effect.withClock(clock))

Effect.runPromise(Effect.provide(program, environment)).then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + "\n")
    process.exit(0)
  },
  (e) => {
    process.stderr.write(String(e) + "\n")
    process.exit(1)
  }
)

/**
 * A worker process for the multi-process executions test: opens the given PostgreSQL database
 * with the ops environment, waits for the common start instant, then claims and runs queued
 * executions (as instance `name`) until none is left, and prints the run ids it ran as one JSON
 * line.
 *
 * Usage: node --import tsx --conditions=source ops-worker.ts '<json>'
 */
import { Postgres } from "@airlock/adapters-storage"
import { SecureRandom } from "@airlock/core"
import { Executions } from "@airlock/ops"
import { Effect, Exit } from "effect"
import { environment } from "./OpsEnv.js"

interface Job {
  readonly url: string
  readonly name: string
  /** Epoch ms (real time) at which both processes start claiming. */
  readonly start_at: number
}

const job = JSON.parse(process.argv[2]!) as Job

const program = Effect.gen(function*() {
  const executions = yield* Executions.Executions
  const wait = job.start_at - Date.now()
  if (wait > 0) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, wait)))
  const ran: Array<string> = []
  // four claimers per process (four pool connections): claims race inside and across processes
  const claimer = Effect.gen(function*() {
    let empty = 0
    // a few empty polls in a row: another claimer may hold rows it locked but not yet claimed
    while (empty < 3) {
      const done = yield* executions.processAvailable(1, job.name)
      if (done.length === 0) {
        empty++
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        continue
      }
      empty = 0
      for (const r of done) if (r !== null) ran.push(r.run_id)
    }
  })
  yield* Effect.all([claimer, claimer, claimer, claimer], { concurrency: "unbounded", discard: true })
  return { name: job.name, ran }
})

const main = program.pipe(
  Effect.provide(environment(Postgres.layer({ url: job.url, maxConnections: 4 }), {}, SecureRandom.layerWebCrypto))
)

Effect.runPromiseExit(main).then((exit) => {
  if (Exit.isSuccess(exit)) {
    process.stdout.write(JSON.stringify(exit.value) + "\n")
    process.exit(0)
  }
  process.stderr.write(String(exit.cause) + "\n")
  process.exit(1)
})

/**
 * Profiles the guardrails gate stack + audit append (ours, memory): `pnpm --filter
 * @airlock/examples exec tsx bench/profile-guardrails.ts [batches]` (after `pnpm build`) writes
 * `guardrails-stack.cpuprofile` in the current directory, covering the timed batches only (set-up
 * and warm-up run before the profiler starts). Open it in Chrome DevTools or speedscope.
 */
import { ManagedRuntime } from "effect"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { environment, ours } from "./guardrails.js"

const batches = Number(process.argv[2] ?? 5)
const session = new Session()
session.connect()
const runtime = ManagedRuntime.make(environment)
const batch = await runtime.runPromise(ours)
await session.post("Profiler.enable")
await session.post("Profiler.setSamplingInterval", { interval: 100 })
await session.post("Profiler.start")
let best = Number.POSITIVE_INFINITY
for (let i = 0; i < batches; i++) best = Math.min(best, await runtime.runPromise(batch))
const { profile } = await session.post("Profiler.stop")
writeFileSync("guardrails-stack.cpuprofile", JSON.stringify(profile))
await runtime.dispose()
console.log(`${best.toFixed(2)} µs/op under the profiler; wrote guardrails-stack.cpuprofile`)

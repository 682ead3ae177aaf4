/**
 * Profiles governed applies of ledger proposals: `pnpm --filter @airlock/examples exec tsx
 * bench/profile.ts [applies] [memory|sqlite]` (after `pnpm build`) writes
 * `ledger-apply-<adapter>.cpuprofile` in the current directory, covering the applies only (the
 * proposals are prepared before the profiler starts). Open it in Chrome DevTools or speedscope.
 * `PROF_INTERVAL_US` sets the sampling interval (default 1000 µs; 50–100 for finer profiles).
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import type { CorePorts } from "@airlock/core"
import type { LedgerPorts as LedgerPorts } from "@airlock/ledger"
import { Effect, type Layer } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { profileApply } from "./ledger.js"

const applies = Number(process.argv[2] ?? 5000)
const adapter = process.argv[3] === "sqlite" ? "sqlite" : "memory"
const session = new Session()
session.connect()
const ports: Layer.Layer<CorePorts.CorePorts | LedgerPorts.LedgerPorts, unknown> = adapter === "memory"
  ? Memory.layer
  : Sqlite.layer({ filename: join(mkdtempSync(join(tmpdir(), "airlock-prof-")), "ledger.db") })
const rate = await Effect.runPromise(
  profileApply(
    applies,
    ports,
    async () => {
      await session.post("Profiler.enable")
      await session.post("Profiler.setSamplingInterval", { interval: Number(process.env.PROF_INTERVAL_US ?? 1000) })
      await session.post("Profiler.start")
    },
    async () => {
      const { profile } = await session.post("Profiler.stop")
      writeFileSync(`ledger-apply-${adapter}.cpuprofile`, JSON.stringify(profile))
    }
  )
)
console.log(`${Math.round(rate)} applies/s under the profiler (${adapter}); wrote ledger-apply-${adapter}.cpuprofile`)

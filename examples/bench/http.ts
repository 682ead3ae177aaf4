/**
 * HTTP throughput and latency of the reference server against a bare `node:http` server
 * answering a fixed JSON body, measured in the same run with the same load tool (autocannon,
 * in this process; each server in its own process, on loopback only).
 *
 * The Airlock request is a typical authenticated ledger write: `POST /api/v1/ledger/entries` (a
 * balanced two-line entry, amounts as decimal strings) with a bearer token — token verified
 * against the store, the guardrails rate limiter consulted (on, with limits too high to trip),
 * tenant resolved, the entry validated against the chart and period lock, numbered and stored
 * with an audit record in one transaction, on the embedded SQLite file. Two figures each:
 * saturation throughput (10 connections, fixed duration), and latency at a fixed 1,000 req/s.
 * Targets: throughput ≥ 0.35× the bare server; p99 < 20 ms at 1,000 req/s. The server runs the
 * built packages (`pnpm bench` builds first), as a host would, not the TypeScript sources. A
 * third server shows the framework's own ceiling: the smallest `HttpApi` server answering a
 * fixed JSON body (`bench/effect-hello.ts`), against the same bare baseline.
 */
import { Sqlite } from "@airlock/adapters-storage"
import { ApiToken, Ids, Kernel, Tenants } from "@airlock/core"
import autocannon from "autocannon"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchRow } from "./main.js"

const examples = join(import.meta.dirname, "..")
const SATURATION_SECONDS = 8
const RATE_SECONDS = 8
const WARMUP_SECONDS = 3
const RATE = 1_000

interface Target {
  readonly url: string
  readonly child: ChildProcess
}

const waitFor = (child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> =>
  new Promise((resolve, reject) => {
    let output = ""
    const timer = setTimeout(() => reject(new Error(`did not start:\n${output}`)), 60_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = pattern.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`exited with ${code}:\n${output}`)))
  })

const BARE = `
const http = require("node:http")
const body = JSON.stringify({ ok: true, tenant_id: "default", ai_mode: "suggest_only" })
const server = http.createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    res.end(body)
  })
})
server.listen(0, "127.0.0.1", () => console.log("listening http://127.0.0.1:" + server.address().port))
process.on("SIGTERM", () => server.close(() => process.exit(0)))
`

const startBare = async (): Promise<Target> => {
  const child = spawn(process.execPath, ["-e", BARE], { stdio: ["ignore", "pipe", "pipe"] })
  const m = await waitFor(child, /listening (http:\/\/127\.0\.0\.1:\d+)/)
  return { url: m[1]!, child }
}

/** The framework's ceiling: the smallest HttpApi server (`bench/effect-hello.ts`), built packages. */
const startEffectHello = async (): Promise<Target> => {
  const child = spawn(join(examples, "node_modules", ".bin", "tsx"), ["bench/effect-hello.ts"], {
    cwd: examples,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const m = await waitFor(child, /listening (http:\/\/127\.0\.0\.1:\d+)/)
  return { url: m[1]!, child }
}

const startAirlock = async (): Promise<Target> => {
  const db = join(mkdtempSync(join(tmpdir(), "airlock-bench-http-")), "airlock.db")
  const child = spawn(join(examples, "node_modules", ".bin", "tsx"), ["server/main.ts"], {
    cwd: examples,
    env: {
      ...process.env,
      AIRLOCK_ENV: "development",
      AIRLOCK_DB: db,
      PORT: "0",
      HOST: "127.0.0.1",
      // the limiter runs on every request, set high enough never to trip
      AIRLOCK_RATE_LIMIT_ENABLED: "true",
      AIRLOCK_RATE_LIMIT_RPM: "100000000",
      AIRLOCK_RATE_LIMIT_TENANT_RPM: "100000000"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const m = await waitFor(child, /listening\s+(http:\/\/127\.0\.0\.1:\d+)/)
  return { url: m[1]!, child }
}

const stop = (target: Target) =>
  new Promise<void>((resolve) => {
    target.child.on("exit", () => resolve())
    target.child.kill("SIGTERM")
  })

interface Load {
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly non2xx: number
  readonly errors: number
}

const load = (
  url: string,
  options: { readonly seconds: number; readonly rate?: number; readonly connections: number; readonly get?: string }
): Promise<Load> =>
  new Promise((resolve, reject) => {
    autocannon(
      {
        ...(options.get !== undefined ? { url: `${url}${options.get}` } : {
          url: `${url}/api/v1/ledger/entries`,
          method: "POST" as const,
          headers: { authorization: "Bearer dev_bookkeeper_token", "content-type": "application/json" },
          body: JSON.stringify({
            date: "2026-01-20",
            memo: "bench",
            lines: [{ account_code: "1000", debit: "10.00" }, { account_code: "4000", credit: "10.00" }]
          })
        }),
        connections: options.connections,
        duration: options.seconds,
        ...(options.rate ? { overallRate: options.rate } : {})
      },
      (error, result) => {
        if (error) return reject(error)
        resolve({
          rps: result.requests.total / options.seconds,
          p50: result.latency.p50,
          p99: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts
        })
      }
    )
  })

const measure = async (target: Target) => {
  await load(target.url, { seconds: WARMUP_SECONDS, connections: 10 })
  const saturation = await load(target.url, { seconds: SATURATION_SECONDS, connections: 10 })
  const rated = await load(target.url, { seconds: RATE_SECONDS, rate: RATE, connections: 20 })
  return { saturation, rated }
}

/**
 * The same work without HTTP, in this process: verify the token and update the settings through
 * core on a SQLite file — what the request costs before the adapter adds anything.
 */
const coreOnly = (count: number) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tokens = yield* ApiToken.ApiTokens
    const tenant = Ids.TenantId.make("default")
    yield* tenants.create({ id: tenant, name: "bench" })
    const admin = yield* tenants.addActor({
      tenant_id: tenant,
      id: Ids.ActorId.make("admin"),
      kind: "user",
      name: "admin",
      role: "ADMIN"
    })
    yield* tokens.register("dev_admin_token", { tenant_id: tenant, actor_id: admin.id, name: "admin" })
    const once = Effect.flatMap(tokens.verify("dev_admin_token"), (p) =>
      tenants.updateSettings(p.tenant.id, { ai_enabled: true }, p.actor))
    for (let i = 0; i < 200; i++)
      yield* once
    const start = performance.now()
    for (let i = 0; i < count; i++)
      yield* once
    return (count / (performance.now() - start)) * 1000
  }).pipe(
    // as the server runs requests (AIRLOCK_HTTP_TRACING off)
    Effect.withTracerEnabled(false),
    Effect.provide(
      Kernel.layer.pipe(
        Layer.provideMerge(
          Sqlite.layer({ filename: join(mkdtempSync(join(tmpdir(), "airlock-bench-core-")), "core.db") })
        )
      )
    )
  )

const n = (x: number) => Math.round(x).toLocaleString("en-US")
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`

/** Runs the HTTP benchmark. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const bare = await startBare()
  let baseline
  try {
    baseline = await measure(bare)
  } finally {
    await stop(bare)
  }
  const hello = await startEffectHello()
  let ceiling
  try {
    await load(hello.url, { seconds: WARMUP_SECONDS, connections: 10, get: "/hello" })
    ceiling = await load(hello.url, { seconds: SATURATION_SECONDS, connections: 10, get: "/hello" })
  } finally {
    await stop(hello)
  }
  const airlock = await startAirlock()
  let measured
  try {
    measured = await measure(airlock)
  } finally {
    await stop(airlock)
  }
  const core = await Effect.runPromise(coreOnly(2_000))
  const failures = (l: Load) => (l.non2xx + l.errors === 0 ? "" : ` (${l.non2xx} non-2xx, ${l.errors} errors)`)
  return [
    {
      name: "baseline: bare node:http, fixed JSON, 10 connections",
      value: `${n(baseline.saturation.rps)} req/s, p50 ${ms(baseline.saturation.p50)}, p99 ${
        ms(baseline.saturation.p99)
      }`
    },
    {
      name:
        "airlock POST /api/v1/ledger/entries (auth + rate limit + ledger write + audit, SQLite file), 10 connections",
      value: `${n(measured.saturation.rps)} req/s, p50 ${ms(measured.saturation.p50)}, p99 ${
        ms(measured.saturation.p99)
      }${failures(measured.saturation)}`,
      baseline: `${n(baseline.saturation.rps)} req/s`,
      ratio: (measured.saturation.rps / baseline.saturation.rps).toFixed(3),
      target: "≥ 0.35"
    },
    {
      name:
        "framework ceiling: smallest @effect/platform HttpApi server (one GET, fixed JSON, tracing off), 10 connections",
      value: `${n(ceiling.rps)} req/s, p50 ${ms(ceiling.p50)}, p99 ${ms(ceiling.p99)}${failures(ceiling)}`,
      baseline: `${n(baseline.saturation.rps)} req/s`,
      ratio: (ceiling.rps / baseline.saturation.rps).toFixed(3)
    },
    {
      name:
        "reference without HTTP (token verify + settings update through core, SQLite file, in process; lighter than the ledger write)",
      value: `${n(core)} ops/s`,
      ratio: `HTTP keeps ${(measured.saturation.rps / core).toFixed(3)} of it`
    },
    {
      name: `baseline at ${n(RATE)} req/s`,
      value: `p50 ${ms(baseline.rated.p50)}, p99 ${ms(baseline.rated.p99)} (${n(baseline.rated.rps)} req/s achieved)`
    },
    {
      name: `airlock at ${n(RATE)} req/s`,
      value: `p50 ${ms(measured.rated.p50)}, p99 ${ms(measured.rated.p99)} (${n(measured.rated.rps)} req/s achieved)${
        failures(measured.rated)
      }`,
      target: "p99 < 20 ms"
    }
  ]
}

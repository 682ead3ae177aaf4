/**
 * Failure drills (ops console runbook, "Failure-Mode Drill Commands"), on a real server:
 * - the LLM provider down: a real local HTTP server answering 500; every call falls back, the
 *   provider breaker opens and stops calling it, `provider_failures_repeated` stops the run after
 *   N failures in the window, and readiness shows it;
 * - the database unreachable at start (a clear error) and mid-run (readiness 503, writes refused
 *   with nothing half written, recovery when it returns);
 * - sustained pool pressure: `db_pool_pressure` after M consecutive samples, not before.
 */
import { Postgres } from "@airlock/adapters-storage"
import { Errors } from "@airlock/core"
import { ProviderBreaker, StopConditions } from "@airlock/guardrails"
import { SqlClient } from "@effect/sql"
import { afterAll, beforeAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { createServer, type Server } from "node:http"
import { createServer as createNetServer } from "node:net"
import * as H from "./support/Harness.js"

let hits = 0
let providerUrl = ""
const provider: Server = createServer((_, res) => {
  hits++
  res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: "upstream exploded" }))
})

beforeAll(async () => {
  await new Promise<void>((r) => provider.listen(0, "127.0.0.1", () => r()))
  providerUrl = `http://127.0.0.1:${(provider.address() as { port: number }).port}/v1/chat/completions`
})
afterAll(() => new Promise<void>((r) => provider.close(() => r())))

/** The LLM stage of a categorizer as the drill needs it: the provider through the breaker, else the rules. */
const categorize = (breaker: ProviderBreaker.ProviderBreaker) =>
  breaker.call(
    "llm",
    Effect.tryPromise({
      try: async () => {
        const r = await fetch(providerUrl, { method: "POST", body: "{}" })
        if (!r.ok) throw new Error(`provider answered ${r.status}`)
        return { source: "llm" as const }
      },
      catch: (cause) => new Errors.Unavailable({ message: "LLM provider failed", details: { cause: String(cause) } })
    })
  ).pipe(
    Effect.catchTag("Unavailable", () => Effect.succeed({ source: "fallback" as const }))
  )

describe("drill: the LLM provider down", () => {
  layer(
    H.layer({
      readinessGuardrails: true,
      guardrails: {
        providerConsecutiveFailures: 4,
        providerCooldownSeconds: 300,
        stopProviderFailureThreshold: 3,
        stopProviderFailureWindowSeconds: 300
      }
    }),
    { excludeTestServices: true }
  )("provider answering 500", (it) => {
    it.effect("fallback every time; the breaker opens and stops calling; the run stops after 3 failures; readiness says so", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const sql = yield* SqlClient.SqlClient
        const breaker = yield* ProviderBreaker.ProviderBreaker
        const stops = yield* StopConditions.StopConditions
        const outcomes: Array<string> = []
        for (let i = 0; i < 6; i++) outcomes.push((yield* categorize(breaker)).source)
        // every call got an answer: the fallback
        expect(outcomes).toStrictEqual(Array(6).fill("fallback"))
        // four calls reached the provider; then the breaker was open and the provider was left alone
        expect(hits).toBe(4)
        expect((yield* breaker.state("llm")).state).toBe("open")
        const trips = yield* sql`SELECT type, reason FROM guardrails_events WHERE kind = 'provider' ORDER BY at, id`
          .pipe(
            Effect.orDie
          )
        expect(trips.map((t) => [t.type, t.reason])).toStrictEqual([["trip", "consecutive_failures"]])
        // the third failure in the window stopped the run: once
        const stopsWritten =
          yield* sql`SELECT reason, data FROM guardrails_events WHERE type = ${StopConditions.STOP_EVENT}`
            .pipe(Effect.orDie)
        expect(stopsWritten.map((e) => e.reason)).toStrictEqual(["provider_failures_repeated"])
        expect(JSON.parse(String(stopsWritten[0]!.data))).toMatchObject({
          failures: 3,
          threshold: 3,
          last_provider: "llm"
        })
        expect(yield* stops.observe).toMatchObject({ active: false, paused: true, should_stop: true })
        const ready = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
        expect(ready.details).toMatchObject({
          checks: { run_overrides: { ok: false, stop_reason: "provider_failures_repeated" } }
        })
        // the admin status shows the open breaker and the stopped run
        const status = yield* s.raw("/api/v1/system/status", { headers: H.auth(H.tokens.admin) })
        expect(status.status).toBe(200)
        expect(JSON.stringify(status.json)).toContain("provider_failures_repeated")
      }))
  })
})

describe("drill: sustained database pool pressure", () => {
  layer(
    H.layer({ readinessGuardrails: true, guardrails: { stopDbPoolUtilization: 0.9, stopDbPoolSamples: 3 } }),
    { excludeTestServices: true }
  )("pool samples", (it) => {
    it.effect("a dip resets the streak; M consecutive samples at or above the threshold stop the run", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const stops = yield* StopConditions.StopConditions
        const sample = (in_use: number) => stops.recordPoolSample({ in_use, size: 10 })
        expect([yield* sample(10), yield* sample(9), yield* sample(5), yield* sample(9), yield* sample(10)])
          .toStrictEqual([false, false, false, false, false])
        expect((yield* s.raw("/readyz")).status).toBe(200)
        expect(yield* sample(9)).toBe(true)
        expect((yield* stops.observe).stop).toMatchObject({ reason: "db_pool_pressure", data: { samples: 3 } })
        const ready = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
        expect(ready.details).toMatchObject({ checks: { run_overrides: { stop_reason: "db_pool_pressure" } } })
      }))
  })
})

describe("drill: sustained database pool pressure on PostgreSQL", () => {
  if (H.pgEnabled()) {
    layer(
      H.layer({
        storage: "postgres",
        readinessGuardrails: true,
        guardrails: { stopDbPoolUtilization: 0.9, stopDbPoolSamples: 3 }
      }),
      { excludeTestServices: true }
    )("the pool sampler", (it) => {
      it.effect("connections held busy (pg_sleep up to the pool's size) trip db_pool_pressure through the sampler", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const sql = yield* SqlClient.SqlClient
          const stops = yield* StopConditions.StopConditions
          const pool = Option.getOrThrow(yield* Effect.serviceOption(Postgres.PostgresPool))
          const sampler = Postgres.layerPoolSampler({ intervalSeconds: 0.1 }).pipe(
            Layer.provide(Layer.succeed(Postgres.PostgresPool, pool)),
            Layer.provide(Layer.succeed(StopConditions.StopConditions, stops))
          )
          yield* Effect.scoped(Effect.gen(function*() {
            yield* Layer.build(sampler)
            // idle pool: samples below the threshold, nothing trips
            yield* Effect.sleep("500 millis")
            expect((yield* stops.observe).stop).toBeNull()
            expect((yield* pool.stats).size).toBe(4)
            // six queries for a pool of four: every connection busy (and two waiting) for 2 s
            yield* Effect.all(Array.from({ length: 6 }, () => sql`SELECT pg_sleep(1.5)`), {
              concurrency: "unbounded",
              discard: true
            }).pipe(Effect.orDie)
          }))
          expect((yield* stops.observe).stop).toMatchObject({
            reason: "db_pool_pressure",
            data: { samples: 3, size: 4 }
          })
          const written =
            yield* sql`SELECT reason, data FROM guardrails_events WHERE type = ${StopConditions.STOP_EVENT}`
              .pipe(Effect.orDie)
          expect(written.map((e) => e.reason)).toStrictEqual(["db_pool_pressure"])
          expect(JSON.parse(String(written[0]!.data))).toMatchObject({ in_use: 4, size: 4, threshold: 0.9 })
          const ready = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
          expect(ready.details).toMatchObject({ checks: { run_overrides: { stop_reason: "db_pool_pressure" } } })
          // idle again: the pool shows nothing busy
          expect(yield* pool.stats).toMatchObject({ in_use: expect.any(Number), waiting: 0 })
        }))
    })
  }
})

describe("drill: the database unreachable", () => {
  it.live("at start: building the store fails with a clear storage error, no hang", () =>
    Effect.gen(function*() {
      const closed = createNetServer()
      const port = yield* Effect.promise(() =>
        new Promise<number>((r) => closed.listen(0, "127.0.0.1", () => r((closed.address() as { port: number }).port)))
      )
      yield* Effect.promise(() => new Promise((r) => closed.close(r)))
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(Layer.build(Postgres.layer({ url: `postgres://airlock:secret@127.0.0.1:${port}/airlock` })))
      )
      expect(exit._tag).toBe("Failure")
      expect(Date.now() - started).toBeLessThan(30_000)
      const text = String(exit._tag === "Failure" ? exit.cause : "")
      expect(text).toMatch(/SqlError|connect|ECONNREFUSED/i)
    }), 60_000)

  if (H.pgEnabled()) {
    const database = `airlock_drill_${randomBytes(5).toString("hex")}`
    layer(H.layer({ storage: "postgres", pgDatabase: database, readinessGuardrails: true }), {
      excludeTestServices: true
    })("mid-run on PostgreSQL", (it) => {
      it.effect("readiness 503 and writes refused while it is gone, nothing half written; all back when it returns", () =>
        Effect.gen(function*() {
          const s = yield* H.TestServer
          const write = (mode: string) =>
            s.raw("/api/v1/companion/settings", H.json("PUT", H.tokens.owner, { ai_mode: mode }))
          expect((yield* write("drafts")).status).toBe(200)
          const auditBefore = yield* H.auditCount("default")
          yield* H.pgAdmin(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`)
          yield* H.pgAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`)
          const down = H.expectError(yield* s.raw("/readyz"), 503, "unavailable")
          expect(down.details).toMatchObject({ checks: { storage: { ok: false, reason: "unreachable" } } })
          const refused = yield* write("autopilot_limited")
          expect(refused.status).toBe(500)
          expect(refused.json.error.code).toBe("storage.failure")
          expect(refused.text).not.toMatch(/postgres:|password|secret/i)
          yield* H.pgAdmin(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`)
          expect((yield* s.raw("/readyz")).status).toBe(200)
          // the refused write left nothing: settings and the audit log are as before it
          expect(yield* H.settingsRow("default")).toMatchObject({ ai_mode: "drafts" })
          expect(yield* H.auditCount("default")).toBe(auditBefore)
          expect((yield* (yield* H.auditLog).verify("default" as never)).ok).toBe(true)
          expect((yield* write("suggest_only")).status).toBe(200)
        }))
    })
  }
})

/**
 * The adapter's own per-request cost, without sockets or a database: the API mounted as a web
 * handler (`HttpApiBuilder.toWebHandler`, the same request chain as the server) over the
 * in-memory store, with the guardrails rate limiter on. Times three requests — `/healthz` (the
 * chain alone), `GET /api/v1/companion/settings` (plus token verification, tenant resolution,
 * the limiter and a settings read) and `POST /api/v1/ledger/entries` (plus a JSON body and a
 * ledger write) — and, with `--profile`, writes `http-inproc.cpuprofile` covering the posts.
 *
 *   pnpm --filter @airlock/examples exec tsx --conditions=source bench/profile-http.ts [requests] [--profile]
 */
import { HttpConfig, HttpRateLimit, KpiWebhookTransport, Server } from "@airlock/adapters-http"
import { Memory } from "@airlock/adapters-storage"
import { Companion, CompanionReports, CompanionSettings, RulePromotion, TenantHealth } from "@airlock/companion"
import { Kernel } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger, LedgerConfig } from "@airlock/ledger"
import { Executions, ExecutionsConfig, Kpi, KpiConfig, Maintenance, Scheduler } from "@airlock/ops"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { Effect, Layer, ManagedRuntime } from "effect"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { seedDevelopment, seedLedger } from "../server/Seed.js"

const count = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 3000)
const profile = process.argv.includes("--profile")
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length)

const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layer(), KpiWebhookTransport.layer]))
const core = Companion.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(
    Ledger.layerWithConfig.pipe(Layer.provideMerge(LedgerConfig.layerConfig)),
    Executions.layer,
    Scheduler.layer,
    Maintenance.layer,
    Layer.provideMerge(kpi, Guardrails.layer),
    CompanionSettings.CompanionSettings.Default,
    CompanionReports.layerConfig,
    RulePromotion.layer,
    Layer.provide(TenantHealth.layerServices, Ledger.layer)
  )),
  Layer.provideMerge(Guardrails.layer),
  Layer.provideMerge(ExecutionsConfig.layer()),
  Layer.provideMerge(
    GuardrailsConfig.layer({ rateLimitEnabled: true, rateLimitRpm: 100_000_000, rateLimitTenantRpm: 100_000_000 })
  ),
  Layer.provideMerge(Kernel.layer),
  Layer.provideMerge(Memory.layer)
)
const runtime = ManagedRuntime.make(core)
await runtime.runPromise(Effect.zipRight(seedDevelopment, seedLedger))
const { dispose, handler } = HttpApiBuilder.toWebHandler(
  Layer.mergeAll(Server.layer, HttpServer.layerContext).pipe(
    Layer.provide(HttpRateLimit.layerGuardrails),
    Layer.provide(HttpConfig.layer({ environment: "production" })),
    Layer.provide(core)
  ),
  { memoMap: runtime.memoMap }
)

const auth = { authorization: "Bearer dev_bookkeeper_token" }
const body = JSON.stringify({
  date: "2026-01-20",
  memo: "bench",
  lines: [{ account_code: "1000", debit: "10.00" }, { account_code: "4000", credit: "10.00" }]
})
const requests = {
  healthz: () => new Request("http://bench.local/healthz"),
  settings: () => new Request("http://bench.local/api/v1/companion/settings", { headers: auth }),
  post: () =>
    new Request("http://bench.local/api/v1/ledger/entries", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body
    })
}

/** CPU time per request (user + system; steadier than wall time on a shared machine). */
const time = async (name: keyof typeof requests, n: number) => {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const r = await handler(requests[name]())
    if (r.status >= 300) throw new Error(`${name}: ${r.status} ${await r.text()}`)
    await r.arrayBuffer()
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

for (const name of Object.keys(requests) as Array<keyof typeof requests>) await time(name, 300)
const session = new Session()
if (profile) {
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
}
const results: Record<string, string> = {}
for (const name of (only ? [only] : Object.keys(requests)) as Array<keyof typeof requests>)
  results[name] = `${(await time(name, count)).toFixed(1)} µs CPU/request`
if (profile) {
  const { profile: p } = await session.post("Profiler.stop")
  writeFileSync("http-inproc.cpuprofile", JSON.stringify(p))
}
console.log(JSON.stringify(results))
await dispose()
await runtime.dispose()

import { HttpConfig, HttpRateLimit, KpiWebhookTransport, Server } from "@airlock/adapters-http"
import { Memory } from "@airlock/adapters-storage"
import { Companion, CompanionReports, CompanionSettings, RulePromotion, TenantHealth } from "@airlock/companion"
import { ApiToken, Errors, Ids, Kernel, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger, LedgerConfig } from "@airlock/ledger"
import { Executions, ExecutionsConfig, Kpi, KpiConfig, Maintenance, Scheduler } from "@airlock/ops"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { afterAll, expect, it } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime } from "effect"

// a host mounting the adapter as a fetch-style handler, on the in-memory store
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
  Layer.provideMerge(GuardrailsConfig.layer()),
  Layer.provideMerge(Kernel.layer),
  Layer.provideMerge(Memory.layer)
)
const limited: Array<HttpRateLimit.RateLimitRequest> = []
const limiter = Layer.succeed(HttpRateLimit.HttpRateLimit, {
  enabled: true,
  check: (request) =>
    Effect.suspend(() => {
      limited.push(request)
      return limited.length > 2
        ? Effect.fail(new Errors.RateLimited({ message: "Rate limit exceeded", retry_after_seconds: 2.5 }))
        : Effect.void
    })
})
const runtime = ManagedRuntime.make(core)
const { dispose, handler } = HttpApiBuilder.toWebHandler(
  Layer.mergeAll(Server.layer, HttpServer.layerContext).pipe(
    Layer.provide(limiter),
    Layer.provide(HttpConfig.layer({ environment: "test" })),
    Layer.provide(core)
  ),
  { memoMap: runtime.memoMap }
)
afterAll(async () => {
  await dispose()
  await runtime.dispose()
})

it("a host mounts the API as a web handler: same chain, same envelope, the rate-limit hook", async () => {
  await runtime.runPromise(Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tokens = yield* ApiToken.ApiTokens
    yield* tenants.create({ id: Ids.TenantId.make("host"), name: "Host" })
    const a = yield* tenants.addActor({
      tenant_id: Ids.TenantId.make("host"),
      id: Ids.ActorId.make("u"),
      kind: "user",
      name: "u",
      role: "OWNER"
    })
    yield* tokens.register("host_token_123", { tenant_id: a.tenant_id, actor_id: a.id, name: "u" })
  }))
  const call = (path: string, init: RequestInit = {}) => handler(new Request(`http://host.local${path}`, init))
  const health = await call("/healthz")
  expect([health.status, await health.json()]).toStrictEqual([200, { status: "ok" }])
  expect(health.headers.get("x-request-id")).toMatch(/^req_/)
  const auth = { authorization: "Bearer host_token_123" }
  expect((await call("/api/v1/companion/settings", { headers: auth })).status).toBe(200)
  expect((await call("/api/v1/system/status", { headers: auth })).status).toBe(200)
  expect(limited.map((r) => [r.tenant_id, r.actor_id, r.method, r.route])).toStrictEqual([
    ["host", "u", "GET", "/api/v1/companion/settings"],
    ["host", "u", "GET", "/api/v1/system/status"]
  ])
  const refused = await call("/api/v1/companion/settings", { headers: auth })
  expect(refused.status).toBe(429)
  expect(refused.headers.get("retry-after")).toBe("3")
  const body = (await refused.json()) as any
  expect(body.error).toMatchObject({
    code: "rate_limited",
    details: { retry_after_seconds: 2.5 },
    request_id: refused.headers.get("x-request-id")
  })
  const none = await call("/nowhere")
  expect([none.status, ((await none.json()) as any).error.code]).toStrictEqual([404, "not_found"])
  // the limiter is asked only after authentication
  const before = limited.length
  expect((await call("/api/v1/companion/settings")).status).toBe(401)
  expect(limited.length).toBe(before)
})

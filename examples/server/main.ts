/**
 * The reference server: Airlock's HTTP API over embedded SQLite (`./airlock.db` where the command
 * was run, `AIRLOCK_DB` overrides) or PostgreSQL (`AIRLOCK_DATABASE_URL=postgres://…`), migrated
 * on start, listening on `127.0.0.1:8080` (`HOST`, `PORT`), with the guardrails (request rate
 * limits per token and per tenant from `AIRLOCK_RATE_LIMIT_*`). In development it seeds the `default`
 * tenant and the well-known dev tokens and prints them. With `AIRLOCK_BOOTSTRAP_ADMIN_TOKEN` it
 * stores that secret (hashed) as the first admin token when no admin token exists — the way into
 * a fresh production database — and drops it from the process environment. SIGTERM/SIGINT drain
 * in-flight requests, then close storage.
 */
import { HttpConfig, HttpRateLimit, KpiWebhookTransport, Readiness, Server } from "@airlock/adapters-http"
import { Migrations, Postgres, Sqlite } from "@airlock/adapters-storage"
import { CompanionSettings } from "@airlock/companion"
import { Bootstrap, Kernel } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger } from "@airlock/ledger"
import { Kpi, KpiConfig } from "@airlock/ops"
import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { join } from "node:path"
import { devTenant, devTokens, revokeDevelopmentTokens, seedDevelopment, seedLedger } from "./Seed.js"

const main = Effect.gen(function*() {
  const settings = yield* HttpConfig.config
  const port = yield* Config.integer("PORT").pipe(Config.withDefault(8080))
  const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
  const databaseUrl = yield* Config.option(Config.redacted("AIRLOCK_DATABASE_URL"))
  // pnpm runs scripts inside examples/; INIT_CWD is where the user typed the command
  const filename = yield* Config.string("AIRLOCK_DB").pipe(
    Config.withDefault(join(process.env.INIT_CWD ?? process.cwd(), "airlock.db"))
  )
  const postgresUrl = Option.map(databaseUrl, Redacted.value)
  const storage = Option.match(postgresUrl, {
    onNone: () => Sqlite.layer({ filename }),
    onSome: (url) => Postgres.layer({ url })
  })
  const storageName = Option.isSome(postgresUrl) ? "PostgreSQL" : `SQLite ${filename}`
  // the first admin token of a fresh database: hashed at start, then forgotten (see docs/security.md)
  const bootstrapSecret = yield* Config.option(Config.redacted("AIRLOCK_BOOTSTRAP_ADMIN_TOKEN"))
  const bootstrapTenant = yield* Config.string("AIRLOCK_BOOTSTRAP_TENANT").pipe(Config.withDefault("default"))
  // out of the environment at once: nothing this process starts, or reads later, sees it
  delete process.env.AIRLOCK_BOOTSTRAP_ADMIN_TOKEN

  const core = Kernel.layer.pipe(Layer.provideMerge(storage))
  // guardrails (gates and services, incl. the per-token/per-tenant request limiter) from AIRLOCK_*
  const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layerConfig))
  // KPI events, rollups, alerts (+ webhook), baseline and digest, from AIRLOCK_KPI_* / AIRLOCK_DIGEST_*
  const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layerConfig, KpiWebhookTransport.layer]))
  // the ledger (chart, journal, period lock, export, bank import) from AIRLOCK_LEDGER_*
  const ledger = Ledger.layer
  // the companion's named settings and governed raises (AIRLOCK_COMPANION_AUTONOMY_APPROVAL)
  const companion = CompanionSettings.CompanionSettings.Default.pipe(Layer.provide(guardrails))
  const bootstrap = Option.match(bootstrapSecret, {
    onNone: () => Effect.void,
    onSome: (secret) =>
      Bootstrap.bootstrapAdminToken(secret, { tenant_id: bootstrapTenant }).pipe(
        Effect.tap((r) =>
          Effect.logInfo(
            r.created
              ? `bootstrap: stored the admin token ${r.token_id} for actor ${r.actor_id} of tenant ${r.tenant_id} ` +
                "(only its hash); remove AIRLOCK_BOOTSTRAP_ADMIN_TOKEN from the environment"
              : "bootstrap: an admin token exists, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN changed nothing; remove it from the environment"
          )
        ),
        Effect.ensuring(Effect.sync(() => Redacted.unsafeWipe(secret)))
      )
  })
  const seed = Layer.effectDiscard(
    Effect.zipRight(
      settings.environment === "development" ? Effect.zipRight(seedDevelopment, seedLedger) : revokeDevelopmentTokens,
      bootstrap
    )
  )
  const http = Server.serve.pipe(
    Layer.provideMerge(Server.layerNode({ port, host })),
    Layer.provide(
      Readiness.layerSql({ migrations: Migrations.status }).pipe(Layer.provideMerge(Readiness.Readiness.Default))
    ),
    Layer.provide(HttpRateLimit.layerGuardrails),
    Layer.provide(HttpConfig.layer(settings))
  )
  const banner = Layer.effectDiscard(
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      const url = address._tag === "TcpAddress"
        ? `http://${address.hostname}:${address.port}`
        : `unix://${address.path}`
      const lines = [
        `Airlock reference server (${settings.environment}) on ${storageName}`,
        `  listening  ${url}`,
        `  docs       ${url}/docs`,
        `  openapi    ${url}/openapi.json`
      ]
      if (settings.environment === "development") {
        lines.push(`  dev tokens (tenant ${devTenant}; development only):`)
        for (const d of devTokens) lines.push(`    ${d.token.padEnd(22)} ${d.note}`)
        lines.push(`  try: curl -H "Authorization: Bearer dev_admin_token" ${url}/api/v1/companion/settings`)
      } else {
        lines.push(`  admin writes ${settings.adminWriteEnabled ? "enabled" : "disabled"}; no development tokens`)
      }
      yield* Console.log(lines.join("\n"))
    })
  )
  const logger = settings.environment === "production" ? Logger.json : Logger.logFmt
  yield* Layer.launch(
    banner.pipe(
      Layer.provide(http),
      Layer.provide(seed),
      Layer.provide(Layer.mergeAll(Layer.provideMerge(kpi, guardrails), ledger, companion)),
      Layer.provide(core),
      Layer.provide(logger)
    )
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Info))
})

// the server installs its own logger (logfmt in development, JSON in production)
NodeRuntime.runMain(main, { disablePrettyLogger: true })

/**
 * The reference server: Airlock's HTTP API over embedded SQLite (`./airlock.db` where the command
 * was run, `AIRLOCK_DB` overrides) or PostgreSQL (`AIRLOCK_DATABASE_URL=postgres://…`), migrated
 * on start, listening on `127.0.0.1:8080` (`HOST`, `PORT`), with the guardrails (request rate
 * limits per token and per tenant from `AIRLOCK_RATE_LIMIT_*`). In development it seeds the `default`
 * tenant and the well-known dev tokens and prints them. SIGTERM/SIGINT drain in-flight requests,
 * then close storage.
 */
import { HttpConfig, HttpRateLimit, Readiness, Server } from "@airlock/adapters-http"
import { Migrations, Postgres, Sqlite } from "@airlock/adapters-storage"
import { Companion, CompanionSettings, LlmConfig, VendorMemoryStage } from "@airlock/companion"
import { AgentMemoryConfig, CoreConfig, Kernel, Rbac, SecureRandom } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger, LedgerConfig } from "@airlock/ledger"
import { FetchHttpClient, HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { join } from "node:path"
import { devTenant, devTokens, revokeDevelopmentTokens, seedDevelopment, seedLedger } from "./Seed.js"
import { seedCompanionHistory } from "./SeedHistory.js"

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

  // core with AIRLOCK_* config; agent memory treats a person's vendor label as authoritative (it supersedes)
  const ambient = Layer.mergeAll(
    CoreConfig.layerConfig,
    AgentMemoryConfig.layerConfigWith({ authoritative: VendorMemoryStage.authoritative }),
    Rbac.layer,
    SecureRandom.layerWebCrypto
  )
  const core = Kernel.layerWithAmbient.pipe(Layer.provideMerge(ambient), Layer.provideMerge(storage))
  // guardrails (gates and services, incl. the per-token/per-tenant request limiter) from AIRLOCK_*
  const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layerConfig))
  // the ledger (chart, journal, period lock, export, bank import) from AIRLOCK_LEDGER_*
  const ledger = Ledger.layerWithConfig.pipe(Layer.provideMerge(LedgerConfig.layerConfig))
  // the companion's named settings and governed raises (AIRLOCK_COMPANION_AUTONOMY_APPROVAL)
  const companion = CompanionSettings.CompanionSettings.Default.pipe(Layer.provide(guardrails))
  // the proposal flow; the language-model stage from AIRLOCK_LLM_* (none configured: it records why it was skipped)
  const llm = Companion.layerLlmStage.pipe(
    Layer.provide(
      LlmConfig.layerModel.pipe(Layer.provideMerge(LlmConfig.layerConfig), Layer.provide(FetchHttpClient.layer))
    )
  )
  const services = Companion.layer.pipe(
    Layer.provide(llm),
    Layer.provideMerge(Layer.mergeAll(guardrails, ledger, companion))
  )
  // AIRLOCK_DEV_SEED_HISTORY=false skips the companion's labelled history (development only)
  const history = yield* Config.boolean("AIRLOCK_DEV_SEED_HISTORY").pipe(Config.withDefault(true))
  const seed = Layer.effectDiscard(
    settings.environment === "development"
      ? Effect.all([seedDevelopment, seedLedger, history ? seedCompanionHistory : Effect.void], { discard: true })
      : revokeDevelopmentTokens
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
      Layer.provide(services),
      Layer.provide(core),
      Layer.provide(logger)
    )
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Info))
})

// the server installs its own logger (logfmt in development, JSON in production)
NodeRuntime.runMain(main, { disablePrettyLogger: true })

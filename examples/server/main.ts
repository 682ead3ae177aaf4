/**
 * The reference server: Airlock's HTTP API over embedded SQLite (`./airlock.db` where the command
 * was run, `AIRLOCK_DB` overrides) or PostgreSQL (`AIRLOCK_DATABASE_URL=postgres://…`), migrated
 * on start, listening on `127.0.0.1:8080` (`HOST`, `PORT`), with the guardrails (request rate
 * limits per token and per tenant from `AIRLOCK_RATE_LIMIT_*`). In development it seeds the `default`
 * tenant and the well-known dev tokens and prints them. SIGTERM/SIGINT drain in-flight requests
 * (new ones get 503 with `Retry-After`), then close storage; `POST /api/admin/control/restart`
 * drains the same way and resumes.
 */
import {
  HttpConfig,
  HttpRateLimit,
  KpiWebhookTransport,
  Metrics,
  OperationsDoctor,
  OperationsHttp,
  Readiness,
  Server
} from "@airlock/adapters-http"
import { Backup, Migrations, Postgres, Sqlite } from "@airlock/adapters-storage"
import { CompanionSettings } from "@airlock/companion"
import { Kernel } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger } from "@airlock/ledger"
import { Doctor, Drain, Executions, ExecutionsConfig, Kpi, KpiConfig, Readiness as OpsReadiness } from "@airlock/ops"
import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { dirname, join } from "node:path"
import * as DemoRunner from "./DemoRunner.js"
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
  // online backups of the SQLite file (POST /api/admin/backup); PostgreSQL uses pg_dump
  const backupDirectory = yield* Config.string("AIRLOCK_BACKUP_DIR").pipe(
    Config.withDefault(join(dirname(filename), "backups"))
  )
  const backupGzip = yield* Config.boolean("AIRLOCK_BACKUP_GZIP").pipe(Config.withDefault(true))
  const backupRetention = yield* Config.integer("AIRLOCK_BACKUP_RETENTION").pipe(
    Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(7)
  )
  // the doctor (GET /api/admin/doctor, POST /api/admin/doctor/fix): the facts it judges
  const llmBaseUrl = yield* Config.option(Config.string("AIRLOCK_LLM_BASE_URL"))
  const doctor = Doctor.Doctor.Default.pipe(
    Layer.provide(Doctor.layer({
      environment: settings.environment,
      adminWriteEnabled: settings.adminWriteEnabled,
      adminIpAllowlist: settings.adminIpAllowlist,
      developmentTokens: devTokens.map((d) => d.token),
      defaultTenant: { id: devTenant, name: "Default" },
      databaseUrl: Option.getOrNull(postgresUrl),
      llmBaseUrl: Option.getOrNull(llmBaseUrl)
    })),
    Layer.provide(OperationsDoctor.layerProbe),
    Layer.provide(OperationsDoctor.layerSetupSql({ status: Migrations.status, run: Migrations.run }))
  )
  const backups = Option.isSome(postgresUrl) ? Layer.empty : Layer.succeed(
    OperationsHttp.Backups,
    Backup.make({ filename, directory: backupDirectory, gzip: backupGzip, retention: backupRetention })
  )

  const core = Kernel.layer.pipe(Layer.provideMerge(storage))
  // guardrails (gates and services, incl. the per-token/per-tenant request limiter) from AIRLOCK_*
  const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layerConfig))
  // KPI events, rollups, alerts (+ webhook), baseline and digest, from AIRLOCK_KPI_* / AIRLOCK_DIGEST_*
  const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layerConfig, KpiWebhookTransport.layer]))
  // the ledger (chart, journal, period lock, export, bank import) from AIRLOCK_LEDGER_*
  const ledger = Ledger.layer
  // the companion's named settings and governed raises (AIRLOCK_COMPANION_AUTONOMY_APPROVAL)
  const companion = CompanionSettings.CompanionSettings.Default.pipe(Layer.provide(guardrails))
  // run controls, executions (a worker and the stale reconcile in the background, the demo job
  // runner) and failure triage, from AIRLOCK_EXEC_* / AIRLOCK_TRIAGE_*. The worker sees the
  // server's drain (the same layer values, so one instance): it claims nothing while a restart or
  // a shutdown drains, and the drain waits for the executions it runs.
  const ops = Layer.mergeAll(Executions.layerBackground(), DemoRunner.layer).pipe(
    Layer.provideMerge(Executions.layer),
    Layer.provideMerge(ExecutionsConfig.layerConfig),
    Layer.provide(Drain.Drain.DefaultWithoutDependencies.pipe(Layer.provide(OpsReadiness.Readiness.Default)))
  )
  const seed = Layer.effectDiscard(
    settings.environment === "development" ? Effect.zipRight(seedDevelopment, seedLedger) : revokeDevelopmentTokens
  )
  const http = Server.serve.pipe(
    Layer.provideMerge(Server.layerNode({ port, host })),
    Layer.provide(
      Readiness.layerSql({ migrations: Migrations.status }).pipe(
        // run overrides and lockdown as checks; repeated readiness failures feed the lockdown
        Layer.merge(OpsReadiness.layerGuardrails),
        Layer.provideMerge(Readiness.Readiness.Default)
      )
    ),
    Layer.provide(HttpRateLimit.layerGuardrails),
    Layer.provide(Metrics.layerConfig),
    Layer.provide(Drain.layerConfig),
    Layer.provide(backups),
    Layer.provide(doctor),
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
      Layer.provide(
        Layer.mergeAll(Layer.provideMerge(kpi, guardrails), ops.pipe(Layer.provideMerge(guardrails)), ledger, companion)
      ),
      Layer.provide(core),
      Layer.provide(logger)
    )
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Info))
})

// the server installs its own logger (logfmt in development, JSON in production)
NodeRuntime.runMain(main, { disablePrettyLogger: true })

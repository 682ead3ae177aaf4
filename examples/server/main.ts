/**
 * The reference server: Airlock's HTTP API over embedded SQLite (`./airlock.db` where the command
 * was run, `AIRLOCK_DB` overrides) or PostgreSQL (`AIRLOCK_DATABASE_URL=postgres://…`), migrated
 * on start, listening on `127.0.0.1:8080` (`HOST`, `PORT`), with the guardrails (request rate
 * limits per token and per tenant from `AIRLOCK_RATE_LIMIT_*`). In development it seeds the `default`
 * tenant and the well-known dev tokens and prints them. SIGTERM/SIGINT drain in-flight requests
 * (new ones get 503 with `Retry-After`), then close storage; `POST /api/admin/control/restart`
 * drains the same way and resumes. With `AIRLOCK_BOOTSTRAP_ADMIN_TOKEN` it stores that secret (hashed)
 * as the first admin token when no admin token exists — the way into a fresh production database —
 * and drops it from the process environment.
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
import { Backup, Migrations, Postgres } from "@airlock/adapters-storage"
import {
  Companion,
  CompanionReports,
  CompanionSettings,
  LlmConfig,
  RulePromotion,
  TenantHealth,
  TenantOnboarding,
  VendorMemoryStage
} from "@airlock/companion"
import { AgentMemoryConfig, Bootstrap, CoreConfig, Kernel, Rbac, SecureRandom, TenantData } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger, LedgerConfig } from "@airlock/ledger"
import {
  Doctor,
  Drain,
  Executions,
  ExecutionsConfig,
  Kpi,
  KpiConfig,
  Readiness as OpsReadiness,
  Scheduler,
  Triage
} from "@airlock/ops"
import { FetchHttpClient, HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { dirname, join } from "node:path"
import * as DemoRunner from "./DemoRunner.js"
import * as Scheduling from "./Scheduling.js"
import { devTenant, devTokens, layerRunHooks, revokeDevelopmentTokens, seedDevelopment, seedLedger } from "./Seed.js"
import { seedCompanionHistory } from "./SeedHistory.js"
import * as Storage from "./Storage.js"

const main = Effect.gen(function*() {
  const settings = yield* HttpConfig.config
  const port = yield* Config.integer("PORT").pipe(Config.withDefault(8080))
  const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
  // the same store as the `airlock` CLI: AIRLOCK_DB (SQLite, default ./airlock.db) or AIRLOCK_DATABASE_URL
  const choice = yield* Storage.config
  const filename = choice.filename
  const postgresUrl = Option.fromNullable(choice.postgresUrl)
  // on PostgreSQL, the same client layer value feeds the pool-pressure sampler (built once)
  const postgres = choice.postgresUrl === null ? null : Postgres.layer({ url: choice.postgresUrl })
  const storage = postgres ?? Storage.layer(choice)
  // each instance samples its pool for the `db_pool_pressure` stop condition (AIRLOCK_DB_POOL_SAMPLE_SECONDS)
  const poolSampler = postgres === null ? Layer.empty : Postgres.layerPoolSamplerConfig.pipe(Layer.provide(postgres))
  const storageName = choice.name
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
  // with the scheduler's `scheduler` check (lag, last error)
  const doctor = Layer.provideMerge(Scheduler.layerDoctor, Doctor.Doctor.Default).pipe(
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
  // the first admin token of a fresh database: hashed at start, then forgotten (see docs/security.md)
  const bootstrapSecret = yield* Config.option(Config.redacted("AIRLOCK_BOOTSTRAP_ADMIN_TOKEN"))
  const bootstrapTenant = yield* Config.string("AIRLOCK_BOOTSTRAP_TENANT").pipe(Config.withDefault("default"))
  // out of the environment at once: nothing this process starts, or reads later, sees it
  delete process.env.AIRLOCK_BOOTSTRAP_ADMIN_TOKEN

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
  // KPI events, rollups, alerts (+ webhook), baseline and digest, from AIRLOCK_KPI_* / AIRLOCK_DIGEST_*
  const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layerConfig, KpiWebhookTransport.layer]))
  // the ledger (chart, journal, period lock, export, bank import) from AIRLOCK_LEDGER_*
  const ledger = Ledger.layerWithConfig.pipe(Layer.provideMerge(LedgerConfig.layerConfig))
  // the companion's named settings and governed raises (AIRLOCK_COMPANION_AUTONOMY_APPROVAL)
  // and its reports (auditor, shadow report, metrics/latest, drill-down; AIRLOCK_ROLLOUT_*);
  // rule promotion from people's labels (AIRLOCK_COMPANION_PROMOTION_MIN_LABELS)
  const companion = Layer.mergeAll(
    CompanionSettings.CompanionSettings.Default,
    CompanionReports.layerConfig,
    RulePromotion.layer
  ).pipe(Layer.provide(guardrails))
  // tenants: onboarding from templates (AIRLOCK_TENANT_ID_PREFIX, AIRLOCK_TENANT_ADMIN_EMAIL_DOMAIN),
  // health, export and delete (AIRLOCK_TENANT_DELETE_PROTECTED, AIRLOCK_TENANT_EXPORT_PAGE_SIZE);
  // a development server always protects its `default` tenant from deletion
  const tenantDataConfig = Layer.effect(
    TenantData.TenantDataConfig,
    Effect.map(
      TenantData.config,
      (s) =>
        settings.environment === "development" && !s.protectedTenants.includes(devTenant)
          ? { ...s, protectedTenants: [...s.protectedTenants, devTenant] }
          : s
    )
  )
  const tenants = TenantHealth.layerServices.pipe(
    Layer.provide([ledger, guardrails, tenantDataConfig, TenantOnboarding.layerConfig])
  )
  // run controls, executions (a worker and the stale reconcile in the background, the demo job
  // runner) and failure triage, from AIRLOCK_EXEC_* / AIRLOCK_TRIAGE_*. The worker sees the
  // server's drain (the same layer values, so one instance): it claims nothing while a restart or
  // a shutdown drains, and the drain waits for the executions it runs.
  // the language model from AIRLOCK_LLM_* (none configured: None), for the companion's stage and triage
  const llmModel = LlmConfig.layerModel.pipe(
    Layer.provideMerge(LlmConfig.layerConfig),
    Layer.provide(FetchHttpClient.layer)
  )
  // failure triage refines its summaries with the same model when one is configured
  const triageModel = Layer.unwrapEffect(
    Effect.map(
      LlmConfig.LlmModel,
      (found) => Option.match(found, { onNone: () => Layer.empty, onSome: (m) => Triage.layerModel(m.model) })
    )
  ).pipe(Layer.provide(llmModel))
  // development: the console's "Reset Dev World" (and a start with reset) re-runs the development seed
  const runHooks = settings.environment === "development" ? layerRunHooks.pipe(Layer.provide(ledger)) : Layer.empty
  const ops = Layer.mergeAll(Executions.layerBackground(), DemoRunner.layer).pipe(
    Layer.provideMerge(Executions.layer),
    Layer.provide(triageModel),
    Layer.provide(runHooks),
    Layer.provideMerge(ExecutionsConfig.layerConfig),
    Layer.provide(Drain.Drain.DefaultWithoutDependencies.pipe(Layer.provide(OpsReadiness.Readiness.Default)))
  )
  // the scheduler and the maintenance loop (AIRLOCK_SCHEDULER_*, AIRLOCK_MAINTENANCE_*), with the
  // targets and commands this distribution has (agent-memory tiering over every tenant), shared with the CLI
  const scheduling = Scheduling.layerLoops
  // the proposal flow; the language-model stage from AIRLOCK_LLM_* (none configured: it records why it was skipped)
  const llm = Companion.layerLlmStage.pipe(Layer.provide(llmModel))
  const services = Companion.layer.pipe(
    Layer.provide(llm),
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.provideMerge(kpi, guardrails),
        ops.pipe(Layer.provideMerge(guardrails)),
        ledger,
        companion,
        tenants
      )
    )
  )
  // AIRLOCK_DEV_SEED_HISTORY=false skips the companion's labelled history (development only)
  const history = yield* Config.boolean("AIRLOCK_DEV_SEED_HISTORY").pipe(Config.withDefault(true))
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
      settings.environment === "development"
        ? Effect.all([seedDevelopment, seedLedger, history ? seedCompanionHistory : Effect.void], { discard: true })
        : revokeDevelopmentTokens,
      bootstrap
    )
  )
  const http = Server.serve.pipe(
    Layer.provideMerge(Server.layerNode({ port, host })),
    Layer.provide(
      Readiness.layerSql({ migrations: Migrations.status }).pipe(
        // run overrides and lockdown as checks; repeated readiness failures feed the lockdown
        Layer.merge(OpsReadiness.layerGuardrails),
        // the scheduler's lag (AIRLOCK_SCHEDULER_READY_MAX_LAG_SECONDS)
        Layer.merge(Scheduler.layerReadiness),
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
      Layer.provide(Layer.merge(scheduling, poolSampler)),
      Layer.provide(services),
      Layer.provide(core),
      Layer.provide(logger)
    )
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Info))
})

// the server installs its own logger (logfmt in development, JSON in production)
NodeRuntime.runMain(main, { disablePrettyLogger: true })

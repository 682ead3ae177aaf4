/**
 * A real server for the tests: the adapter's `Server.serve` on a Node server bound to a free
 * loopback port, over SQLite (a temp file), PostgreSQL (a fresh database) or memory, with two
 * seeded tenants and their tokens. Tests talk to it through the typed client and raw `fetch`,
 * and check persisted state through raw SQL, bypassing the adapter.
 */
import {
  Api,
  HttpConfig,
  HttpRateLimit,
  KpiWebhookTransport,
  Metrics,
  OperationsDoctor,
  OperationsHttp,
  Readiness,
  Server
} from "@airlock/adapters-http"
import { Backup, Postgres, Sqlite } from "@airlock/adapters-storage"
import { Migrations } from "@airlock/adapters-storage"
import {
  Autonomy,
  Companion,
  type CompanionProvenance,
  CompanionReports,
  CompanionSettings,
  RulePromotion,
  TenantHealth,
  TenantOnboarding,
  TenantTemplates,
  VendorMemoryStage
} from "@airlock/companion"
import {
  type Actor,
  AgentMemoryConfig,
  ApiToken,
  Audit,
  CoreConfig,
  type Errors,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  TenantData,
  Tenants
} from "@airlock/core"
import { Guardrails, GuardrailsConfig, type RateLimiter as GuardLimiter } from "@airlock/guardrails"
import { Chart, Ledger, LedgerConfig } from "@airlock/ledger"
import {
  Doctor,
  Drain,
  Executions,
  ExecutionsConfig,
  type JobRunner,
  Kpi,
  KpiConfig,
  Maintenance,
  Readiness as OpsReadiness,
  type RunControl,
  Scheduler,
  SchedulerConfig
} from "@airlock/ops"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Logger, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inject } from "vitest"

/** The seeded tokens (plaintexts) by name. */
export const tokens = {
  admin: "t_default_admin_000000",
  owner: "t_default_owner_000000",
  bookkeeper: "t_default_bookkeeper_0",
  viewer: "t_default_viewer_00000",
  agent: "t_default_agent_000000",
  acmeOwner: "t_acme_owner_000000000",
  acmeViewer: "t_acme_viewer_00000000",
  acmeAdmin: "t_acme_admin_000000000"
} as const

const makeClient = (url: string, token?: string, tenant?: string) =>
  HttpApiClient.make(Api.AirlockApi, {
    baseUrl: url,
    transformClient: HttpClient.mapRequest((r) => {
      let out = token === undefined ? r : HttpClientRequest.bearerToken(r, token)
      if (tenant !== undefined) out = HttpClientRequest.setHeader(out, "x-tenant", tenant)
      return out
    })
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** Any error the typed client can fail with from the server. */
export type ServerError = Errors.AirlockError

/** The typed client of the API. */
export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

/** A raw response: status, headers, text and (when JSON) the parsed body. */
export interface Raw {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

/** The running test server. */
export interface TestServerShape {
  readonly url: string
  readonly port: number
  /** A typed client sending `Authorization: Bearer <token>` (and `X-Tenant` when given). */
  readonly client: (token?: string, tenant?: string) => Client
  /** A raw request to `path`. */
  readonly raw: (path: string, init?: RequestInit) => Effect.Effect<Raw>
  /** Log lines (JSON) the server wrote. */
  readonly logs: Array<string>
  readonly actors: Record<string, Actor.Actor>
}

/** The running test server. */
export class TestServer extends Context.Tag("test/TestServer")<TestServer, TestServerShape>() {}

/** Which database backs the server. */
export type Storage = "sqlite" | "postgres" | "memory"

const pgAdminUrl = (): string => inject("pgUrl")

/** Creates an empty PostgreSQL database and returns its URL. */
export const freshPgUrl = (name = `airlock_h_${randomBytes(6).toString("hex")}`): Effect.Effect<string> =>
  Effect.gen(function*() {
    yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(pgAdminUrl()), maxConnections: 1 })),
      Effect.orDie
    )
    const url = new URL(pgAdminUrl())
    url.pathname = `/${name}`
    return url.toString()
  })

/** The URL of database `name` on the test PostgreSQL server (no creation). */
export const pgUrlOf = (name: string): string => {
  const url = new URL(pgAdminUrl())
  url.pathname = `/${name}`
  return url.toString()
}

/** Whether PostgreSQL tests run (the global setup gives no URL when they were turned off on purpose). */
export const pgEnabled = (): boolean => pgAdminUrl() !== ""

/** Runs SQL as the PostgreSQL superuser (for tests that block or unblock a database). */
export const pgAdmin = (statement: string): Effect.Effect<void> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
    Effect.asVoid,
    Effect.provide(PgClient.layer({ url: Redacted.make(pgAdminUrl()), maxConnections: 1 })),
    Effect.orDie,
    Effect.scoped
  )

const storageLayer = (storage: Storage, pgDatabase?: string, pgUrl?: string, sqliteFile?: string) => {
  if (pgUrl !== undefined) return Postgres.layer({ url: pgUrl, maxConnections: 4 })
  switch (storage) {
    case "sqlite": {
      const file = sqliteFile ?? join(mkdtempSync(join(tmpdir(), "airlock-http-")), "test.db")
      return Sqlite.layer({ filename: file })
    }
    case "postgres":
      return Layer.unwrapEffect(
        Effect.map(freshPgUrl(pgDatabase), (url) => Postgres.layer({ url, maxConnections: 4 }))
      )
    case "memory":
      throw new Error("memory storage has no SqlClient; use sqlite or postgres")
  }
}

const seed = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const apiTokens = yield* ApiToken.ApiTokens
  const actors: Record<string, Actor.Actor> = {}
  const add = (tenant: string, key: string, role: string, kind: "user" | "agent", token: string) =>
    Effect.gen(function*() {
      const actor = yield* tenants.addActor({
        tenant_id: Ids.TenantId.make(tenant),
        id: Ids.ActorId.make(key),
        kind,
        name: key,
        role
      })
      actors[key] = actor
      yield* apiTokens.register(token, { tenant_id: actor.tenant_id, actor_id: actor.id, name: key })
    })
  yield* tenants.create({ id: Ids.TenantId.make("default"), name: "Default", settings: { ai_mode: "suggest_only" } })
  yield* tenants.create({ id: Ids.TenantId.make("acme"), name: "Acme" })
  yield* add("default", "admin", "ADMIN", "user", tokens.admin)
  yield* add("default", "owner", "OWNER", "user", tokens.owner)
  yield* add("default", "bookkeeper", "BOOKKEEPER", "user", tokens.bookkeeper)
  yield* add("default", "viewer", "VIEWER", "user", tokens.viewer)
  yield* add("default", "agent", "AGENT", "agent", tokens.agent)
  yield* add("acme", "acme_owner", "OWNER", "user", tokens.acmeOwner)
  yield* add("acme", "acme_viewer", "VIEWER", "user", tokens.acmeViewer)
  yield* add("acme", "acme_admin", "ADMIN", "user", tokens.acmeAdmin)
  return actors
})

/** Options of the test server. */
export interface Options {
  readonly storage?: Storage
  /** The PostgreSQL database to create and use (storage `postgres`; default: a random name). */
  readonly pgDatabase?: string
  /** An existing PostgreSQL database to use as is (another server's: several servers, one database). */
  readonly pgUrl?: string
  readonly http?: Partial<HttpConfig.HttpSettings>
  /**
   * The rate-limit hook (default: disabled); tests inject faulty ones through it, or the
   * guardrails limiter (`HttpRateLimit.layerGuardrails`, with `guardrails.rateLimitEnabled`).
   */
  readonly rateLimiter?: Layer.Layer<
    HttpRateLimit.HttpRateLimit,
    never,
    GuardLimiter.RateLimiter | GuardrailsConfig.GuardrailsConfig
  >
  readonly seed?: boolean
  /** Guardrails settings (e.g. a short approval TTL). */
  readonly guardrails?: Partial<GuardrailsConfig.GuardrailsSettings>
  /** Core settings (e.g. larger settings extensions); default: core's defaults. */
  readonly core?: Partial<CoreConfig.CoreSettings>
  /** Ops executions settings (run controls, executions, triage). */
  readonly executions?: Partial<ExecutionsConfig.ExecutionsSettings>
  /** Ledger settings (e.g. a small export page); default: from `AIRLOCK_LEDGER_*`. */
  readonly ledger?: Partial<LedgerConfig.LedgerSettings>
  /**
   * Whether a settings change raising autonomy waits for a second person
   * (`AIRLOCK_COMPANION_AUTONOMY_APPROVAL`). Default here: off, the one-person setup the older
   * suites change settings in; the companion settings tests turn it on.
   */
  readonly autonomyApproval?: boolean
  /** KPI settings (e.g. the alert webhook); default: the stated defaults. */
  readonly kpi?: Partial<KpiConfig.KpiSettings>
  /** `/metrics` settings (default: the `airlock_` prefix). */
  readonly metrics?: Partial<Metrics.MetricsSettings>
  /** Drain and restart settings (default: ops' defaults). */
  readonly drain?: Partial<Drain.DrainSettings>
  /** The host's restart hook (default: none). */
  readonly restartHook?: Effect.Effect<void, unknown>
  /** Register the guardrails readiness checks and the lockdown feed (ops' `Readiness.layerGuardrails`). */
  readonly readinessGuardrails?: boolean
  /** Serve backups of the SQLite file into this directory (storage `sqlite`). */
  readonly backupDirectory?: string
  /** Serve the doctor with these settings (its ports: the Node probe and the SQL setup store). */
  readonly doctor?: Partial<Doctor.DoctorSettings>
  /** The doctor's migrations (default: the code's own, `Migrations.status` and `Migrations.run`). */
  readonly doctorMigrations?: Parameters<typeof OperationsDoctor.layerSetupSql>[0]
  /** Tenants that cannot be deleted (default: `default`, as the development server's). */
  readonly protectedTenants?: ReadonlyArray<string>
  /** Scheduler settings (default: ops' defaults). */
  readonly scheduler?: Partial<SchedulerConfig.SchedulerSettings>
  /** Register the scheduler's `scheduler` readiness check and doctor check, as the reference server does. */
  readonly schedulerChecks?: boolean
}

/**
 * The server and everything behind it: `TestServer`, core services and the `SqlClient`
 * (for raw checks of persisted state).
 */
export const layer = (options: Options = {}): Layer.Layer<
  | TestServer
  | SqlClient.SqlClient
  | Tenants.Tenants
  | ApiToken.ApiTokens
  | Audit.AuditLog
  | Kernel.CoreServices
  | HttpConfig.HttpConfig
  | Guardrails.GuardrailsServices
  | Ledger.LedgerServices
  | CompanionSettings.CompanionSettings
  | Executions.Executions
  | JobRunner.JobRunners
  | RunControl.RunControl
  | TenantOnboarding.TenantOnboarding
  | TenantTemplates.TenantTemplates
  | TenantData.TenantData
  | TenantData.TenantDataStore
  | Companion.Companion
  | CompanionProvenance.CompanionProvenance,
  unknown
> => {
  const logs: Array<string> = []
  const sqliteFile = (options.storage ?? "sqlite") === "sqlite" && options.pgUrl === undefined
    ? join(mkdtempSync(join(tmpdir(), "airlock-http-")), "test.db")
    : undefined
  const capture = Logger.replace(
    Logger.defaultLogger,
    Logger.map(Logger.jsonLogger, (line) => void logs.push(line))
  )
  const ledger = Ledger.layerWithConfig.pipe(
    Layer.provideMerge(options.ledger === undefined ? LedgerConfig.layerConfig : LedgerConfig.layer(options.ledger))
  )
  const companion = CompanionSettings.CompanionSettings.Default.pipe(
    Layer.provide(Autonomy.layer({ approvalRequired: options.autonomyApproval ?? false }))
  )
  const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layer(options.kpi), KpiWebhookTransport.layer]))
  const tenantServices = Layer.mergeAll(
    TenantOnboarding.TenantOnboarding.Default,
    TenantHealth.layer,
    TenantData.TenantData.Default.pipe(
      Layer.provide(TenantData.layerConfig({ protectedTenants: options.protectedTenants ?? ["default"] }))
    )
  ).pipe(Layer.provideMerge(TenantTemplates.layer))
  // `ledger` is one layer value: provided twice, built once
  const core = Companion.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      ledger,
      Executions.layer,
      Scheduler.layer,
      Maintenance.layer,
      Layer.provideMerge(kpi, Guardrails.layer),
      companion,
      CompanionReports.layerConfig,
      RulePromotion.layer,
      Layer.provide(tenantServices, ledger)
    )),
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(ExecutionsConfig.layer({ pollIntervalMillis: 50, ...options.executions })),
    Layer.provideMerge(options.scheduler === undefined ? Layer.empty : SchedulerConfig.layer(options.scheduler)),
    Layer.provideMerge(GuardrailsConfig.layer({ rateLimitEnabled: false, ...options.guardrails })),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(options.core),
        Rbac.layer,
        SecureRandom.layerWebCrypto,
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(storageLayer(options.storage ?? "sqlite", options.pgDatabase, options.pgUrl, sqliteFile))
  )
  const settings = HttpConfig.layer({ environment: "test", adminWriteEnabled: true, ...options.http })
  const backups = options.backupDirectory === undefined
    ? Layer.empty
    : Layer.succeed(
      OperationsHttp.Backups,
      Backup.make({ filename: sqliteFile!, directory: options.backupDirectory, gzip: false, retention: 3 })
    )
  const served = Server.serve.pipe(
    Layer.provideMerge(
      Readiness.layerSql({ migrations: Migrations.status }).pipe(
        Layer.merge(options.readinessGuardrails === true ? OpsReadiness.layerGuardrails : Layer.empty),
        Layer.merge(options.schedulerChecks === true ? Scheduler.layerReadiness : Layer.empty),
        Layer.provideMerge(Readiness.Readiness.Default)
      )
    ),
    Layer.provideMerge(Server.layerNode({ port: 0, host: "127.0.0.1" })),
    Layer.provide(options.rateLimiter ?? HttpRateLimit.layerDisabled),
    Layer.provide(Metrics.layer(options.metrics)),
    Layer.provide(Drain.layer(options.drain)),
    Layer.provide(backups),
    Layer.provide(
      options.doctor === undefined ? Layer.empty : (options.schedulerChecks === true
        ? Layer.provideMerge(Scheduler.layerDoctor, Doctor.Doctor.Default)
        : Doctor.Doctor.Default).pipe(
          Layer.provide(Doctor.layer(options.doctor)),
          Layer.provide(OperationsDoctor.layerProbe),
          Layer.provide(
            OperationsDoctor.layerSetupSql(
              options.doctorMigrations ?? { status: Migrations.status, run: Migrations.run }
            )
          )
        )
    ),
    Layer.provide(
      options.restartHook === undefined ? Layer.empty : Layer.succeed(Drain.RestartHook, { run: options.restartHook })
    ),
    Layer.provideMerge(settings)
  )
  const server = Layer.scoped(
    TestServer,
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      const port = address._tag === "TcpAddress" ? address.port : 0
      const url = `http://127.0.0.1:${port}`
      const actors = options.seed === false ? {} : yield* seed
      const client = (token?: string, tenant?: string): Client => Effect.runSync(makeClient(url, token, tenant))
      const raw = (path: string, init?: RequestInit) =>
        Effect.promise(async () => {
          const response = await fetch(`${url}${path}`, init)
          const text = await response.text()
          let json: unknown = undefined
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          return { status: response.status, headers: response.headers, text, json }
        })
      return { url, port, client, raw, logs, actors }
    })
  )
  const base = served.pipe(Layer.provideMerge(core), Layer.provide(capture))
  return Layer.provideMerge(server, base)
}

/** Audit rows of a tenant, straight from the database. */
export const auditCount = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT COUNT(*) AS n FROM core_audit WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      )
  )

/** The stored settings row of a tenant, straight from the database. */
export const settingsRow = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT ai_enabled, kill_switch, ai_mode, extensions FROM core_ai_settings WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => (r[0] ? { ...r[0], extensions: JSON.parse(String(r[0].extensions)) } : null)),
        Effect.orDie
      )
  )

/** Core's audit log (for verification checks). */
export const auditLog = Audit.AuditLog

/** Headers with a bearer token (and `X-Tenant`, JSON content type when asked). */
export const auth = (token: string, extra: Record<string, string> = {}): Record<string, string> => ({
  authorization: `Bearer ${token}`,
  ...extra
})

/** A JSON request init. */
export const json = (
  method: string,
  token: string | undefined,
  body: unknown,
  extra: Record<string, string> = {}
): RequestInit => ({
  method,
  headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json", ...extra },
  body: typeof body === "string" ? body : JSON.stringify(body)
})

/** A raw caller on the test server: `call(method, path, token, body?)` (a JSON body when given). */
export const caller = (s: TestServerShape) => (method: string, path: string, token: string, body?: unknown) =>
  s.raw(path, body === undefined ? { method, headers: auth(token) } : json(method, token, body))

/** Imports the `standard_small_business` chart of accounts into the owner's tenant. */
export const importStandardChart = (s: TestServerShape) =>
  Effect.flatMap(
    Chart.ChartOfAccounts,
    (chart) => chart.importPreset(s.actors.owner!.tenant_id, s.actors.owner!, "standard_small_business")
  )

/** Checks the error envelope of a raw response: status, code, and the request id in body and header. */
export const expectError = (r: Raw, status: number, code: string) => {
  const id = r.headers.get("x-request-id")
  const body = r.json as
    | { error?: { code?: string; message?: string; details?: unknown; request_id?: string } }
    | undefined
  const problems: Array<string> = []
  if (r.status !== status) problems.push(`status ${r.status} !== ${status}`)
  if (body?.error?.code !== code) problems.push(`code ${body?.error?.code} !== ${code}`)
  if (typeof body?.error?.message !== "string" || body.error.message.length === 0) problems.push("no message")
  if (typeof body?.error?.details !== "object" || body.error.details === null) problems.push("details not an object")
  if (!id || body?.error?.request_id !== id) problems.push(`request_id ${body?.error?.request_id} !== header ${id}`)
  if (problems.length > 0) throw new Error(`${problems.join("; ")}: ${r.text.slice(0, 500)}`)
  return body!.error!
}

/**
 * Every row of every table (SQLite or PostgreSQL), as sorted JSON lines per table, for "nothing
 * changed in storage" checks; `exclude` names tables that may change on any request (counters).
 */
export const storageFingerprint = (exclude: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const names = yield* sql.onDialectOrElse({
      pg: () =>
        sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
                              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
      orElse: () =>
        sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                              ORDER BY name`
    })
    const out: Record<string, ReadonlyArray<string>> = {}
    for (const { name } of names) {
      if (exclude.includes(name)) continue
      const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT * FROM ${name}`)
      out[name] = rows.map((r) => JSON.stringify(r, (_, v) => (typeof v === "bigint" ? `${v}n` : v))).sort()
    }
    return out
  }).pipe(Effect.orDie)

/**
 * `airlock doctor`, `airlock migrate`, `airlock setup-smoke` (assistant platform runbook: normal
 * start `make migrate` + `jarvis doctor --fix`, `make setup-smoke`).
 */
import { Api, HttpConfig, OperationsDoctor } from "@airlock/adapters-http"
import { Migrations } from "@airlock/adapters-storage"
import { Doctor, OutageClass, Scheduler } from "@airlock/ops"
import { Command, Options } from "@effect/cli"
import { OpenApi } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Config, type ConfigError, Effect, Layer, Option, Redacted } from "effect"
import { createServer } from "node:net"
import { devTenant, devTokens } from "../../server/Seed.js"
import type * as Storage from "../../server/Storage.js"
import * as R from "../Runtime.js"

/** The doctor as the reference server configures it. */
const doctorLayer = (choice: Storage.StorageChoice) =>
  Effect.gen(function*() {
    const settings = yield* HttpConfig.config
    const llmBaseUrl = yield* Config.option(Config.string("AIRLOCK_LLM_BASE_URL"))
    // with the scheduler's `scheduler` check (lag, last error), as the server's
    return Layer.provideMerge(Scheduler.layerDoctor, Doctor.Doctor.Default).pipe(
      Layer.provide(Doctor.layer({
        environment: settings.environment,
        adminWriteEnabled: settings.adminWriteEnabled,
        adminIpAllowlist: settings.adminIpAllowlist,
        developmentTokens: devTokens.map((d) => d.token),
        defaultTenant: { id: devTenant, name: "Default" },
        databaseUrl: choice.postgresUrl,
        llmBaseUrl: Option.getOrNull(llmBaseUrl)
      })),
      Layer.provide(OperationsDoctor.layerProbe),
      Layer.provide(OperationsDoctor.layerSetupSql({ status: Migrations.status, run: Migrations.run }))
    )
  })

const findingMark = (status: string) =>
  status === "ok" ? R.ok : status === "warn" ? R.warn : status === "fail" ? R.fail : R.dim("–")

/** Where the environment came from, for the report (`AIRLOCK_ENV`, or the production default). */
type EnvironmentSource = "AIRLOCK_ENV" | "default"

const printReport = (report: Doctor.DoctorReport, source: EnvironmentSource) =>
  Effect.gen(function*() {
    yield* R.line(
      R.bold(`airlock doctor (${report.environment}${source === "default" ? ", AIRLOCK_ENV not set" : ""})`)
    )
    for (const f of report.findings) {
      const cls = f.outage_class === null ? "" : ` [${f.outage_class}]`
      yield* R.line(`  ${findingMark(f.status)} ${f.check.padEnd(26)} ${f.code}${cls}  ${R.dim(f.message)}`)
    }
    if (report.fixed.length > 0) {
      yield* R.line("fixed:")
      for (const a of report.fixed) yield* R.line(`  ${a.ok ? R.ok : R.fail} ${a.check}: ${a.action}`)
    }
    if (report.needs_attention.length > 0) {
      yield* R.line("needs attention:")
      for (const code of report.needs_attention) yield* R.line(`  ${R.warn} ${code}`)
    }
    if (source === "default" && report.needs_attention.includes("config.dev_tokens_in_production")) {
      yield* R.line(
        `${R.warn} AIRLOCK_ENV is not set, so this is checked as production. A development database ` +
          "(scripts/start.sh, pnpm start): AIRLOCK_ENV=development, or pnpm airlock in the repository."
      )
    }
    yield* R.line(report.ok ? R.green("OK") : R.red("FAILED"))
  })

/** The error's cause chain, flattened: the first Node system error code (ECONNREFUSED, ENOTFOUND, …). */
const systemCode = (e: unknown, depth = 0): string | undefined => {
  if (typeof e !== "object" || e === null || depth > 5) return undefined
  const code = (e as { code?: unknown }).code
  if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return code
  const errors = (e as { errors?: unknown }).errors
  if (Array.isArray(errors)) {
    for (const x of errors) {
      const found = systemCode(x, depth + 1)
      if (found !== undefined) return found
    }
  }
  return systemCode((e as { cause?: unknown }).cause, depth + 1)
}

/**
 * The doctor's report when the store cannot be opened: a failed `storage` finding with its outage
 * class (PostgreSQL: a TCP probe of the URL's host and port — nothing listening is
 * `network_unreachable`, no answer `timeout`, a name that does not resolve `dns_resolution`, a
 * server that answers but refuses the connection `provider_unavailable`; SQLite: a local file, no
 * class), the migrations not checked.
 */
const unreachableReport = (choice: Storage.StorageChoice, environment: string, error: unknown) =>
  Effect.gen(function*() {
    const message = String((error as { message?: unknown } | null)?.message ?? error)
    let outage: OutageClass.OutageClass | null = null
    let detail: string = systemCode(error) ?? "open_failed"
    if (choice.postgresUrl !== null) {
      const probe = yield* OutageClass.DependencyProbe
      const r = yield* probe.probe({ kind: "tcp", url: choice.postgresUrl, timeoutMillis: 3000 })
      if (r.ok) {
        outage = "provider_unavailable"
      } else {
        outage = r.outage_class
        detail = r.detail
      }
    }
    const storage: Doctor.Finding = {
      check: "storage",
      status: "fail",
      code: "storage.unreachable",
      message: outage === null
        ? `${choice.name} cannot be opened: ${message}`
        : `The database is unavailable (${outage}): ${message}`,
      details: { storage: choice.postgresUrl === null ? choice.name : "PostgreSQL", detail },
      outage_class: outage,
      fixable: false
    }
    const migrations: Doctor.Finding = {
      check: "migrations",
      status: "skipped",
      code: "migrations.not_checked",
      message: "Storage unreachable",
      details: {},
      outage_class: null,
      fixable: false
    }
    const report: Doctor.DoctorReport = {
      ok: false,
      environment,
      findings: [storage, migrations],
      fixed: [],
      needs_attention: [storage.code]
    }
    return { report, message }
  }).pipe(Effect.provide(OperationsDoctor.layerProbe))

/** `airlock doctor [--fix] [--json]`. */
export const doctor = Command.make(
  "doctor",
  {
    fix: Options.boolean("fix").pipe(
      Options.withDescription("Repair what is safe (pending migrations, the default tenant), then check again")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, fix, json, tenant }) =>
    R.run(Effect.gen(function*() {
      const env = yield* R.environment
      const source: EnvironmentSource = env.explicit ? "AIRLOCK_ENV" : "default"
      const choice = yield* R.storage
      const checked = yield* R.withServices(() =>
        Effect.gen(function*() {
          const layer = yield* doctorLayer(choice)
          // --fix creates the default tenant when it is missing; any other tenant must exist
          if (tenant !== devTenant) yield* R.requireTenant(tenant)
          return yield* Effect.gen(function*() {
            const d = yield* Doctor.Doctor
            if (!fix) return yield* d.run
            return yield* d.fix(yield* R.resolveActor(tenant, actor, { tenantMayBeMissing: true }), tenant)
          }).pipe(Effect.provide(layer))
        })
      ).pipe(
        Effect.map((report) => ({ report, unreachable: null as string | null })),
        // the store cannot be opened: still the doctor's report, its storage finding classified (exit 3)
        Effect.catchIf(
          (e) => !(e instanceof R.Exit) && R.codeOf(e as never) === R.ExitCode.storageUnreachable,
          (e) =>
            Effect.map(unreachableReport(choice, env.value, e), ({ message, report }) => ({
              report,
              unreachable: message as string | null
            }))
        )
      )
      const { report, unreachable } = checked
      if (json) {
        yield* R.printJson({
          ...report,
          environment_source: source,
          // as every command's storage failure reads, next to the findings
          ...(unreachable === null ? {} : { error: { code: "storage.unreachable", message: unreachable } })
        })
      } else {
        yield* printReport(report, source)
      }
      if (unreachable !== null) return yield* R.exit(R.ExitCode.storageUnreachable)
      if (!report.ok) return yield* R.exit(R.ExitCode.checkFailed)
    }))
).pipe(Command.withDescription(R.help(
  "Checks storage, migrations, configuration, the default tenant and the PostgreSQL / LLM dependencies " +
    "(failed dependencies carry an outage class) in AIRLOCK_ENV's environment (production when not set). Exit " +
    "code 1 when a check still fails (after fixing, with --fix); 3 when the store cannot be opened (the report " +
    "then has the storage finding with its outage class).",
  "airlock doctor --fix",
  "airlock doctor --json"
)))

/** A bare migrated-or-not client on the configured store (no stores, no migration on open). */
const rawClient = (
  choice: Storage.StorageChoice
): Layer.Layer<SqlClient.SqlClient, SqlError | ConfigError.ConfigError> =>
  Layer.catchAllCause(
    choice.postgresUrl === null
      ? SqliteClient.layer({ filename: choice.filename }) as Layer.Layer<
        SqlClient.SqlClient,
        SqlError | ConfigError.ConfigError
      >
      : PgClient.layer({ url: Redacted.make(choice.postgresUrl), maxConnections: 2, applicationName: "airlock-cli" }),
    // better-sqlite3 throws when it cannot open the file (a missing directory): storage unreachable, not a bug
    (cause) =>
      Layer.fail(Option.getOrElse(Cause.failureOption(cause), () => {
        const defect = Cause.squash(cause)
        return new SqlError({
          cause: defect,
          message: `Cannot open ${choice.name}: ${defect instanceof Error ? defect.message : String(defect)}`
        })
      }))
  )

/** `airlock migrate status`: read only, what is applied and what a run would apply. */
const migrateStatus = Command.make("status", { json: R.json }, ({ json }) =>
  R.run(Effect.gen(function*() {
    const choice = yield* R.storage
    const report = yield* Migrations.report.pipe(Effect.provide(rawClient(choice)))
    const out = {
      storage: choice.name,
      initialized: report.initialized,
      applied: report.applied,
      current: report.current,
      head: report.head,
      at_head: report.atHead,
      pending: report.pending
    }
    if (json) return yield* R.printJson(out)
    yield* R.line(`migrations of ${choice.name}`)
    yield* R.line(
      !report.initialized
        ? `${R.warn} nothing applied yet (a fresh database: no migrations table)`
        : `${report.applied} applied, latest ${report.current} of ${report.head}`
    )
    if (report.pending.length === 0) return yield* R.line(`${R.ok} at head (${report.head})`)
    yield* R.line(`${report.pending.length} pending:`)
    for (const m of report.pending) yield* R.line(`  ${String(m.id).padStart(4, "0")}_${m.name}`)
    yield* R.line(R.dim("apply them with: airlock migrate"))
  }))).pipe(Command.withDescription(R.help(
    "Shows, without changing anything, how many migrations the configured store has applied and lists the " +
      "pending ones (every one on a fresh database).",
    "airlock migrate status",
    "airlock migrate status --json"
  )))

/** `airlock migrate`. */
export const migrate = Command.make("migrate", { json: R.json }, ({ json }) =>
  R.run(Effect.gen(function*() {
    const choice = yield* R.storage
    // the status after the run (Migrations.status asks the catalogue first, so a fresh store reads right)
    const result = yield* Effect.gen(function*() {
      const applied = yield* Migrations.run
      const after = yield* Migrations.status
      return { applied, after }
    }).pipe(Effect.provide(rawClient(choice)))
    const first = result.applied[0]
    const out = {
      storage: choice.name,
      before: first === undefined ? result.after.current : Math.max(0, first[0] - 1),
      applied: result.applied.map(([id, name]) => ({ id, name })),
      current: result.after.current,
      head: result.after.head,
      at_head: result.after.atHead
    }
    if (json) return yield* R.printJson(out)
    yield* R.line(`migrating ${choice.name}`)
    for (const m of out.applied) yield* R.line(`  ${R.ok} ${String(m.id).padStart(4, "0")}_${m.name}`)
    yield* R.line(
      out.applied.length === 0
        ? `already at head (${out.head})`
        : `applied ${out.applied.length}; now at ${out.current} of ${out.head}`
    )
  }))).pipe(
    Command.withDescription(R.help(
      "Applies the pending schema migrations to the configured store (AIRLOCK_DB or AIRLOCK_DATABASE_URL) and " +
        "prints what ran.",
      "airlock migrate",
      "AIRLOCK_DATABASE_URL=postgres://airlock@127.0.0.1/airlock airlock migrate --json"
    )),
    Command.withSubcommands([migrateStatus])
  )

interface SmokeStep {
  readonly step: string
  readonly ok: boolean
  readonly skipped?: boolean
  readonly detail: string
}

const portFree = (host: string, port: number) =>
  Effect.async<boolean>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen(port, host, () => server.close(() => resume(Effect.succeed(true))))
  })

/** `airlock setup-smoke [--running]`. */
export const setupSmoke = Command.make(
  "setup-smoke",
  {
    running: Options.boolean("running").pipe(
      Options.withDescription("The server is running already: skip the port preflight (make setup-smoke-running)")
    ),
    json: R.json
  },
  ({ json, running }) =>
    R.run(Effect.gen(function*() {
      const steps: Array<SmokeStep> = []
      // 1. toolchain: the Node.js the packages declare (engines >= 20.10), the SQLite driver loads
      const [major, minor] = process.versions.node.split(".").map(Number) as [number, number]
      const nodeOk = major > 20 || (major === 20 && minor >= 10)
      const driver = yield* Effect.either(Effect.tryPromise(() => import("better-sqlite3")))
      steps.push({
        step: "toolchain",
        ok: nodeOk && driver._tag === "Right",
        detail: `node ${process.versions.node} (needs >= 20.10); better-sqlite3 ${
          driver._tag === "Right" ? "loads" : "does not load"
        }`
      })
      // 2. the port the server will listen on
      const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
      const port = yield* Config.integer("PORT").pipe(Config.withDefault(8080))
      if (running) {
        steps.push({ step: "ports", ok: true, skipped: true, detail: `skipped (--running): ${host}:${port}` })
      } else {
        const free = yield* portFree(host, port)
        steps.push({
          step: "ports",
          ok: free,
          detail: free ? `${host}:${port} is free` : `${host}:${port} is in use (use --running if that is the server)`
        })
      }
      // 3. migrations on the configured store
      const choice = yield* R.storage
      const migrated = yield* Effect.either(
        Effect.gen(function*() {
          yield* Migrations.run
          return yield* Migrations.status
        }).pipe(Effect.provide(rawClient(choice)))
      )
      steps.push(
        migrated._tag === "Right"
          ? {
            step: "migrations",
            ok: migrated.right.atHead,
            detail: `${choice.name}: at ${migrated.right.current} of ${migrated.right.head}`
          }
          : { step: "migrations", ok: false, detail: `${choice.name}: ${String(migrated.left.message)}` }
      )
      // 4. bootstrap: the services build over the store, the API declaration yields its OpenAPI document
      const booted = migrated._tag === "Left"
        ? null
        : yield* Effect.either(
          Layer.build(R.servicesLayer(choice)).pipe(Effect.scoped, Effect.map(() => OpenApi.fromApi(Api.AirlockApi)))
        )
      steps.push(
        booted === null
          ? { step: "bootstrap", ok: false, skipped: true, detail: "skipped: the store did not migrate" }
          : booted._tag === "Right"
          ? {
            step: "bootstrap",
            ok: true,
            detail: `services start; API declares ${Object.keys(booted.right.paths).length} paths`
          }
          : {
            step: "bootstrap",
            ok: false,
            detail: String((booted.left as { message?: unknown }).message ?? booted.left)
          }
      )
      const passed = steps.every((s) => s.ok)
      if (json) {
        yield* R.printJson({ ok: passed, steps })
      } else {
        yield* R.line(R.bold("airlock setup-smoke"))
        let i = 1
        for (const s of steps) yield* R.line(`${i++}. ${s.step}: ${s.ok ? R.ok : R.fail} ${s.detail}`)
        yield* R.line(passed ? R.green("setup smoke passed") : R.red("setup smoke FAILED: fix the failing step, rerun"))
      }
      // the store could not be opened or migrated: storage unreachable (3), as for every other command
      if (migrated._tag === "Left") return yield* R.exit(R.ExitCode.storageUnreachable)
      if (!passed) return yield* R.exit(R.ExitCode.checkFailed)
    }))
).pipe(Command.withDescription(R.help(
  "Validates a setup: the toolchain (Node.js, the SQLite driver), the server's port, the migrations and that " +
    "the services start. Every step is printed; exit code 3 when the store cannot be opened or migrated, 1 when " +
    "another step fails.",
  "airlock setup-smoke",
  "airlock setup-smoke --running --json"
)))

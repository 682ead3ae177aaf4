/**
 * What every `airlock` command shares: the store (the reference server's, `../server/Storage.ts`),
 * the services over it (wired as the server wires them, without its background workers), the
 * actor the command acts as, output (JSON, or human text with colours on a terminal), progress on
 * a terminal, and the stable exit codes.
 */
import { KpiWebhookTransport } from "@airlock/adapters-http"
import { CompanionReports, TenantOnboarding, TenantTemplates } from "@airlock/companion"
import { Actor, Environment, Errors, Ids, Kernel, Tenant, TenantData } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { Ledger } from "@airlock/ledger"
import {
  Executions,
  ExecutionsConfig,
  type JobRunner,
  Kpi,
  KpiConfig,
  type Maintenance,
  type MaintenanceConfig,
  type RunControl,
  type Scheduler,
  type SchedulerConfig,
  type Triage
} from "@airlock/ops"
import { Command, HelpDoc, Options } from "@effect/cli"
import { Config, ConfigError, Console, Data, Effect, Layer, Option, type Types } from "effect"
import { join } from "node:path"
import * as Scheduling from "../server/Scheduling.js"
import { devTenant } from "../server/Seed.js"
import * as Storage from "../server/Storage.js"

// ---------------------------------------------------------------------------------------------
// exit codes

/** The stable exit codes (docs/cli.md). */
export const ExitCode = {
  /** Done; the check passed. */
  ok: 0,
  /** A check failed (doctor, setup-smoke, digest evidence gate, restore integrity). */
  checkFailed: 1,
  /** Bad command line or invalid input (unknown flag, a value the library refuses as invalid). */
  usage: 2,
  /** The store cannot be opened or a storage operation failed. */
  storageUnreachable: 3,
  /** Refused: forbidden, a conflict (already exists, already resolved, lockdown code invalid), rate limited. */
  refused: 4,
  /** What the command names does not exist. */
  notFound: 5,
  /** A bug: an unexpected failure (report it). */
  internal: 70
} as const

/** A command ends with this exit code after printing what it printed. */
export class Exit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

/** Ends the command with `code` (nothing more is printed). */
export const exit = (code: number) => Effect.fail(new Exit({ code }))

// ---------------------------------------------------------------------------------------------
// output

const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== ""
/** Colours only on a terminal (and never with `NO_COLOR`). */
export const colours = process.stdout.isTTY === true && !noColor
const paint = (code: number) => (s: string) => colours ? `\u001b[${code}m${s}\u001b[0m` : s
export const green = paint(32)
export const red = paint(31)
export const yellow = paint(33)
export const bold = paint(1)
export const dim = paint(2)

/** `✅` / `❌` / `⚠️` marks (the runbooks' check marks). */
export const ok = "✅"
export const fail = "❌"
export const warn = "⚠️"

/** Two-space JSON with a final newline on stdout. */
export const printJson = (value: unknown) =>
  Effect.sync(() => process.stdout.write(JSON.stringify(value, jsonReplacer, 2) + "\n"))

/** JSON has no bigint: money and counters as strings. */
export const jsonReplacer = (_key: string, value: unknown) => typeof value === "bigint" ? value.toString() : value

/** A line on stdout. */
export const line = (s: string = "") => Console.log(s)

/**
 * Runs `effect` showing an indeterminate progress bar with `label` on stderr while it runs —
 * only on a terminal; elsewhere it just runs.
 */
export const withSpinner = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  process.stderr.isTTY !== true ? effect : Effect.acquireUseRelease(
    Effect.sync(() => {
      let i = 0
      const width = 20
      return setInterval(() => {
        const pos = i++ % (width * 2)
        const at = pos < width ? pos : width * 2 - pos
        const bar = " ".repeat(Math.max(0, at - 3)) + "###" + " ".repeat(Math.max(0, width - at))
        process.stderr.write(`\r${label} [${bar.slice(0, width)}]`)
      }, 80)
    }),
    () => effect,
    (timer) =>
      Effect.sync(() => {
        clearInterval(timer)
        process.stderr.write(`\r${" ".repeat(label.length + 24)}\r`)
      })
  )

/** A determinate progress bar on stderr (terminal only): call with done/total; `end` clears it. */
export const progressBar = (label: string) => {
  const tty = process.stderr.isTTY === true
  return {
    update: (done: number, total: number) =>
      Effect.sync(() => {
        if (!tty || total <= 0) return
        const width = 30
        const filled = Math.round((Math.min(done, total) / total) * width)
        process.stderr.write(
          `\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`
        )
      }),
    end: Effect.sync(() => {
      if (tty) process.stderr.write(`\r${" ".repeat(label.length + 50)}\r`)
    })
  }
}

// ---------------------------------------------------------------------------------------------
// shared options

/** `--json`: machine-readable output (every read command has it). */
export const json = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of text"))

/** `--actor`: who the command acts as, recorded in the audit log. */
export const actor = Options.text("actor").pipe(
  Options.withDefault("cli"),
  Options.withDescription(
    "Who acts, recorded in the audit log: an actor id of the tenant (its role applies), else a system actor " +
      "with the ADMIN role (default: cli)"
  )
)

/** `--tenant`: the tenant acted on. */
export const tenant = Options.text("tenant").pipe(
  Options.withDefault(devTenant as string),
  Options.withDescription("Tenant id (default: default)")
)

/** Where files are written: the directory the command was typed in (pnpm runs scripts elsewhere). */
export const workingDirectory = (): string => process.env.INIT_CWD ?? process.cwd()

/** A path relative to the working directory. */
export const resolvePath = (path: string): string => path.startsWith("/") ? path : join(workingDirectory(), path)

// ---------------------------------------------------------------------------------------------
// services

/** The store the command opens (from the environment, as the server reads it). */
export const storage = Storage.config

/**
 * The environment the CLI acts in: `AIRLOCK_ENV` read as the server reads it (core's
 * `Environment.config`: any case), and `production` when it is not set — never development by
 * accident. `pnpm airlock` in the repository
 * sets `AIRLOCK_ENV=${AIRLOCK_ENV:-development}`, as `pnpm start` and `scripts/start.sh` do, so the
 * development server's database and the CLI agree; the built bin (a deployment) keeps production.
 */
export const environment = Effect.gen(function*() {
  const value = yield* Environment.config
  const set = yield* Config.option(Config.string("AIRLOCK_ENV"))
  return { value, explicit: Option.isSome(set) }
})

/**
 * Tenant export and delete settings (`AIRLOCK_TENANT_*`); in development the `default` tenant is
 * protected from deletion (`tenant.delete.protected`), as the reference server protects it.
 */
const tenantDataConfig = Layer.effect(
  TenantData.TenantDataConfig,
  Effect.gen(function*() {
    const settings = yield* TenantData.config
    const env = yield* Environment.config
    return env === "development" && !settings.protectedTenants.includes(devTenant)
      ? { ...settings, protectedTenants: [...settings.protectedTenants, devTenant] }
      : settings
  })
)

/** Core, guardrails, KPI and executions services over the store, configured from `AIRLOCK_*`. */
export const servicesLayer = (choice: Storage.StorageChoice) => {
  const core = Kernel.layer.pipe(Layer.provideMerge(Storage.layer(choice)))
  const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layerConfig))
  const kpi = Kpi.layer.pipe(Layer.provide([KpiConfig.layerConfig, KpiWebhookTransport.layer]))
  const ops = Executions.layer.pipe(Layer.provideMerge(ExecutionsConfig.layerConfig))
  // tenant onboarding (AIRLOCK_ONBOARDING_*, the templates), export and delete (AIRLOCK_TENANT_*)
  const tenants = Layer.mergeAll(
    TenantOnboarding.TenantOnboarding.Default.pipe(
      Layer.provide([TenantTemplates.layer, TenantOnboarding.layerConfig]),
      Layer.provide(Ledger.layer)
    ),
    TenantData.TenantData.Default.pipe(Layer.provide(tenantDataConfig))
  )
  // the scheduler and maintenance with the server's targets and commands (no loop: the CLI ticks on demand)
  // and the companion's reports (auditor, shadow report; AIRLOCK_ROLLOUT_*)
  const reports = CompanionReports.layerConfig.pipe(Layer.provide(guardrails))
  // the schedule targets run the KPI, executions and reports services: the same instances
  const targets = Layer.mergeAll(Layer.provideMerge(kpi, guardrails), ops.pipe(Layer.provideMerge(guardrails)), reports)
  return Layer.mergeAll(
    Ledger.layer,
    tenants,
    Scheduling.layer.pipe(Layer.provideMerge(targets))
  ).pipe(Layer.provideMerge(core))
}

/**
 * Fails with `NotFound` (exit 5, as the token commands answer an unknown tenant) when `tenantId`
 * names no tenant: a command never acts on, reports on or writes files for a tenant that does not exist.
 */
export const requireTenant = (
  tenantId: string
): Effect.Effect<void, Errors.StorageError | Errors.NotFound, Tenant.TenantStore> =>
  Effect.flatMap(Tenant.TenantStore, (tenants) => tenants.get(Ids.TenantId.make(tenantId))).pipe(
    Effect.flatMap((found) =>
      Option.isSome(found) ? Effect.void : Effect.fail(
        new Errors.NotFound({
          message: `Tenant ${tenantId} not found`,
          details: { entity: "tenant", id: tenantId }
        })
      )
    )
  )

/**
 * The actor a command acts as: `id` when it is an actor of `tenant` (its role applies; an
 * inactive one is refused), otherwise a system actor of that id with the ADMIN role — whoever runs
 * the CLI holds the database already. Its id is what the audit log records. The tenant must exist
 * ({@link requireTenant}); only a command that may create it (`doctor --fix` for the default tenant)
 * passes `{ tenantMayBeMissing: true }`.
 */
export const resolveActor = (
  tenantId: string,
  id: string,
  options: { readonly tenantMayBeMissing?: boolean } = {}
): Effect.Effect<
  Actor.Actor,
  Errors.StorageError | Errors.NotFound | Exit,
  Actor.ActorStore | Tenant.TenantStore
> =>
  Effect.gen(function*() {
    if (options.tenantMayBeMissing !== true) yield* requireTenant(tenantId)
    const store = yield* Actor.ActorStore
    const found = yield* store.get(Ids.TenantId.make(tenantId), Ids.ActorId.make(id))
    if (Option.isSome(found)) {
      if (!found.value.active) {
        yield* Console.error(`error actor.inactive: actor ${id} of tenant ${tenantId} is deactivated`)
        return yield* exit(ExitCode.refused)
      }
      return found.value
    }
    return new Actor.Actor({
      id: Ids.ActorId.make(id),
      tenant_id: Ids.TenantId.make(tenantId),
      kind: "system",
      name: id === "cli" ? "airlock cli" : id,
      role: "ADMIN",
      active: true,
      created_at: 0
    }, true)
  })

/** A command's help: what it does, then an example (every command has one). */
export const help = (description: string, ...examples: ReadonlyArray<string>): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    HelpDoc.p(description),
    ...examples.map((e) => HelpDoc.p(`Example: ${e}`))
  ])

/** What {@link servicesLayer} provides. */
export type Services = Layer.Layer.Success<ReturnType<typeof servicesLayer>>

/** Runs `body` with the services over the configured store. */
export const withServices = <A, E, R>(
  body: (choice: Storage.StorageChoice) => Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | Layer.Layer.Error<ReturnType<typeof servicesLayer>> | ConfigError.ConfigError,
  Exclude<R, Services>
> => Effect.flatMap(storage, (choice) => Effect.provide(body(choice), servicesLayer(choice)))

interface Tagged {
  readonly _tag?: string
  readonly code?: string
  readonly message?: string
  readonly details?: unknown
}

/** The exit code of a failure (docs/cli.md). */
export const codeOf = (e: Tagged): number => {
  switch (e._tag) {
    case "ValidationError":
    case "PayloadTooLarge":
    case "ParseError":
      return ExitCode.usage
    case "StorageError":
    case "SqlError":
    case "MigrationError":
      return ExitCode.storageUnreachable
    case "Forbidden":
    case "Unauthorized":
    case "Conflict":
    case "RateLimited":
    case "Unavailable":
      return ExitCode.refused
    case "NotFound":
      return ExitCode.notFound
    default:
      return ExitCode.internal
  }
}

/** Whether the command line asked for JSON (errors then go to stdout as `{"error": …}`). */
export const wantsJson = process.argv.includes("--json")

/** Prints a failure (stderr, or `{"error": {code, message, details}}` on stdout with `--json`) and ends with its code. */
export const failWith = (e: unknown): Effect.Effect<never, Exit> => {
  if (e instanceof Exit) return Effect.fail(e)
  const config = ConfigError.isConfigError(e)
  const t: Tagged = config ? { code: "config.invalid", message: String(e) } : (e ?? {}) as Tagged
  const exitCode = config ? ExitCode.usage : codeOf(t)
  const code = t.code ?? (exitCode === ExitCode.storageUnreachable ? "storage.unreachable" : "internal")
  const message = t.message ?? String(e)
  return Effect.zipRight(
    wantsJson
      ? printJson({ error: { code, message, details: t.details ?? {} } })
      : Console.error(`${red("error")} ${code}: ${message}`),
    Effect.fail(new Exit({ code: exitCode }))
  )
}

/** A command's body: every failure is printed and becomes its exit code; nothing else escapes. */
export const run = <A, E>(body: Effect.Effect<A, E>): Effect.Effect<void, Exit> =>
  body.pipe(Effect.asVoid, Effect.catchAll(failWith))

/**
 * The skeleton most commands share: `name` with its options and arguments, a body run over the
 * services ({@link withServices}; every failure printed and turned into its exit code, {@link run})
 * and its help (what it does, then an example).
 */
export const command = <Name extends string, const Config extends Command.Command.Config>(
  name: Name,
  config: Config,
  description: HelpDoc.HelpDoc,
  body: (args: Types.Simplify<Command.Command.ParseConfig<Config>>) => Effect.Effect<unknown, unknown, Services>
) =>
  Command.make(name, config, (args) => run(withServices(() => body(args)))).pipe(
    Command.withDescription(description)
  )

/** Ends the command with exit 1 (a check failed) when `failed` is more than zero. */
export const failIfAny = (failed: number): Effect.Effect<void, Exit> =>
  failed > 0 ? exit(ExitCode.checkFailed) : Effect.void

/** The services' own types, named here so the inferred layer type can be written down. */
export type ExecutionServices = Executions.Executions | RunControl.RunControl | Triage.Triage | JobRunner.JobRunners
/** The scheduling services' types (see {@link ExecutionServices}). */
export type SchedulingServices =
  | Scheduler.Scheduler
  | Scheduler.ScheduleTargets
  | Maintenance.Maintenance
  | Maintenance.MaintenanceCommands
  | SchedulerConfig.SchedulerConfig
  | MaintenanceConfig.MaintenanceConfig

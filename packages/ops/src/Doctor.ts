/**
 * The setup doctor (assistant platform runbook: "If setup is incomplete, run `doctor --fix`";
 * `doctor --json`). It checks storage, migrations, configuration sanity, the default tenant,
 * registered checks (the scheduler's) and external dependencies (the PostgreSQL URL, the LLM
 * endpoint), each finding with a stable `code`; a dependency that fails carries its
 * {@link OutageClass}. `fix` repairs what is safe — runs the pending migrations, creates the
 * default tenant — and reports the rest for a person.
 *
 * Pure: storage is the {@link SetupStore} port, the network the `DependencyProbe` port, the
 * facts about the deployment the {@link DoctorSettings} the host gives.
 */
import { type Actor, ApiToken, Audit, Ids, Rbac, Tenants, TenantScope } from "@airlock/core"
import type { Errors } from "@airlock/core"
import { Context, Effect, Layer, Option } from "effect"
import { DependencyProbe, type OutageClass, type ProbeTarget } from "./OutageClass.js"

/** Where the database stands against the code's migrations. */
export interface MigrationStatus {
  readonly current: number
  readonly head: number
  readonly atHead: boolean
}

/** The storage side of setup (implemented on SQL by `@airlock/adapters-http`'s `OperationsDoctor.layerSetupSql`). */
export class SetupStore extends Context.Tag("@airlock/ops/SetupStore")<
  SetupStore,
  {
    /** A round trip. */
    readonly ping: Effect.Effect<void, unknown>
    readonly migrations: Effect.Effect<MigrationStatus, unknown>
    /** Applies the pending migrations; returns how many ran. */
    readonly migrate: Effect.Effect<number, unknown>
  }
>() {}

/** Facts about the deployment the doctor judges (the host fills them from its configuration). */
export interface DoctorSettings {
  readonly environment: "development" | "test" | "production"
  readonly adminWriteEnabled: boolean
  readonly adminIpAllowlist: ReadonlyArray<string>
  /** Well-known development tokens (plaintexts) that must not work in production. */
  readonly developmentTokens: ReadonlyArray<string>
  /** The tenant a fresh install needs (null: none). */
  readonly defaultTenant: { readonly id: string; readonly name: string } | null
  /** The PostgreSQL URL in use, if any (`AIRLOCK_DATABASE_URL`; probed, never shown). */
  readonly databaseUrl: string | null
  /** The LLM endpoint (`AIRLOCK_LLM_BASE_URL`), or null when no LLM is configured. */
  readonly llmBaseUrl: string | null
  /** How long a dependency probe may take (default 3 s). */
  readonly probeTimeoutMillis: number
}

/** The settings service of the doctor. */
export class DoctorConfig extends Context.Tag("@airlock/ops/DoctorConfig")<DoctorConfig, DoctorSettings>() {}

/** Doctor settings given in code (unspecified: development, no tokens, no tenant, no dependencies). */
export const layer = (settings: Partial<DoctorSettings> = {}): Layer.Layer<DoctorConfig> =>
  Layer.succeed(DoctorConfig, {
    environment: "development",
    adminWriteEnabled: true,
    adminIpAllowlist: [],
    developmentTokens: [],
    defaultTenant: null,
    databaseUrl: null,
    llmBaseUrl: null,
    probeTimeoutMillis: 3000,
    ...settings
  })

/** How a finding stands. */
export type FindingStatus = "ok" | "warn" | "fail" | "skipped"

/** One finding. */
export interface Finding {
  /** Which check (`storage`, `migrations`, `config.dev_tokens`, …). */
  readonly check: string
  readonly status: FindingStatus
  /** Stable result code (`storage.reachable`, `migrations.behind`, `llm.unreachable`, …). */
  readonly code: string
  readonly message: string
  readonly details: Record<string, unknown>
  /** Set when an external dependency failed. */
  readonly outage_class: OutageClass | null
  /** Whether `fix` repairs it. */
  readonly fixable: boolean
}

/** What `fix` did. */
export interface FixAction {
  readonly check: string
  readonly action: string
  readonly ok: boolean
  readonly details: Record<string, unknown>
}

/** The doctor's JSON. */
export interface DoctorReport {
  /** No finding failed. */
  readonly ok: boolean
  readonly environment: string
  readonly findings: ReadonlyArray<Finding>
  /** What `fix` did (empty for a plain run). */
  readonly fixed: ReadonlyArray<FixAction>
  /** Failing or warning findings `fix` cannot repair: for a person. */
  readonly needs_attention: ReadonlyArray<string>
}

const finding = (
  check: string,
  status: FindingStatus,
  code: string,
  message: string,
  extra: { details?: Record<string, unknown>; outage_class?: OutageClass | null; fixable?: boolean } = {}
): Finding => ({
  check,
  status,
  code,
  message,
  details: extra.details ?? {},
  outage_class: extra.outage_class ?? null,
  fixable: extra.fixable ?? false
})

/** A check a package or host adds (the scheduler's, for one); it returns its finding. */
export type DoctorCheck = Effect.Effect<Finding>

/** Checks every deployment runs: the scheduler registers `scheduler`, reported `skipped` until then. */
const EXPECTED_REGISTERED = ["scheduler"] as const

/** The doctor. */
export class Doctor extends Effect.Service<Doctor>()("@airlock/ops/Doctor", {
  effect: Effect.gen(function*() {
    const settings = yield* DoctorConfig
    const tenants = yield* Tenants.Tenants
    const tokens = yield* ApiToken.ApiTokens
    const audit = yield* Audit.AuditLog
    const rbac = yield* Rbac.Rbac
    const setup = yield* Effect.serviceOption(SetupStore)
    const probe = yield* Effect.serviceOption(DependencyProbe)
    const registered = new Map<string, DoctorCheck>()
    const production = settings.environment === "production"

    const dependency = (check: string, name: string, target: ProbeTarget): Effect.Effect<Finding> =>
      Option.match(probe, {
        onNone: () => Effect.succeed(finding(check, "skipped", `${name}.not_probed`, "No network probe configured")),
        onSome: (p) =>
          Effect.map(p.probe(target), (r) =>
            r.ok
              ? finding(check, "ok", `${name}.reachable`, `${name} answers`, {
                details: { latency_ms: r.latency_ms, status: r.status }
              })
              : finding(check, "fail", `${name}.unreachable`, `${name} is unavailable (${r.outage_class})`, {
                details: { detail: r.detail },
                outage_class: r.outage_class
              }))
      })

    const storageChecks: Effect.Effect<ReadonlyArray<Finding>> = Option.match(setup, {
      onNone: () => Effect.succeed([finding("storage", "skipped", "storage.not_checked", "No setup store configured")]),
      onSome: (s) =>
        Effect.gen(function*() {
          // a driver or migrator failure may be a defect: every outcome is a finding here
          const ping = yield* Effect.either(Effect.sandbox(s.ping))
          if (ping._tag === "Left") {
            return [
              finding("storage", "fail", "storage.unreachable", "The database does not answer"),
              finding("migrations", "skipped", "migrations.not_checked", "Storage unreachable")
            ]
          }
          const status = yield* Effect.either(Effect.sandbox(s.migrations))
          const migrations = status._tag === "Left"
            ? finding("migrations", "fail", "migrations.unreadable", "The migration table cannot be read")
            : status.right.atHead
            ? finding("migrations", "ok", "migrations.at_head", "Migrations are at head", {
              details: { current: status.right.current, head: status.right.head }
            })
            : finding("migrations", "fail", "migrations.behind", "Migrations are pending", {
              details: { current: status.right.current, head: status.right.head },
              fixable: true
            })
          return [finding("storage", "ok", "storage.reachable", "The database answers"), migrations]
        })
    })

    const devTokens: Effect.Effect<Finding> = Effect.gen(function*() {
      const working: Array<string> = []
      for (const t of settings.developmentTokens) {
        if ((yield* Effect.either(tokens.verify(t)))._tag === "Right") working.push(t)
      }
      if (working.length === 0)
        return finding("config.dev_tokens", "ok", "config.dev_tokens_absent", "No development token works")
      return production
        ? finding(
          "config.dev_tokens",
          "fail",
          "config.dev_tokens_in_production",
          "Development tokens work in production",
          {
            details: { tokens: working.length }
          }
        )
        : finding("config.dev_tokens", "ok", "config.dev_tokens_development", "Development tokens work (development)", {
          details: { tokens: working.length }
        })
    })

    const configChecks: ReadonlyArray<Finding> = [
      production && settings.adminWriteEnabled
        ? finding(
          "config.admin_writes",
          "warn",
          "config.admin_writes_in_production",
          "Admin writes are enabled in production"
        )
        : finding(
          "config.admin_writes",
          "ok",
          "config.admin_writes_ok",
          "Admin writes as expected for the environment",
          {
            details: { enabled: settings.adminWriteEnabled }
          }
        ),
      production && settings.adminIpAllowlist.length === 0
        ? finding(
          "config.admin_ip_allowlist",
          "warn",
          "config.admin_allowlist_empty",
          "No admin IP allowlist in production"
        )
        : finding("config.admin_ip_allowlist", "ok", "config.admin_allowlist_ok", "Admin IP allowlist as expected", {
          details: { entries: settings.adminIpAllowlist.length }
        })
    ]

    const defaultTenant: Effect.Effect<Finding> = settings.defaultTenant === null
      ? Effect.succeed(
        finding("tenant.default", "skipped", "tenant.default_not_required", "No default tenant required")
      )
      : Effect.map(Effect.either(tenants.get(Ids.TenantId.make(settings.defaultTenant.id))), (r) =>
        r._tag === "Right"
          ? finding("tenant.default", "ok", "tenant.default_present", "The default tenant exists", {
            details: { tenant: settings.defaultTenant!.id }
          })
          : r.left._tag === "NotFound"
          ? finding("tenant.default", "fail", "tenant.default_missing", "The default tenant is missing", {
            details: { tenant: settings.defaultTenant!.id },
            fixable: true
          })
          : finding("tenant.default", "fail", "tenant.unreadable", "Tenants cannot be read"))

    const llm: Effect.Effect<Finding> = settings.llmBaseUrl === null
      ? Effect.succeed(
        finding("llm", "ok", "llm.not_configured", "No LLM configured: the deterministic categorizers only")
      )
      : dependency("llm", "llm", { kind: "http", url: settings.llmBaseUrl, timeoutMillis: settings.probeTimeoutMillis })

    const postgres: Effect.Effect<Finding> = settings.databaseUrl === null
      ? Effect.succeed(finding("postgres", "skipped", "postgres.not_configured", "Embedded SQLite in use"))
      : dependency("postgres", "postgres", {
        kind: "tcp",
        url: settings.databaseUrl,
        timeoutMillis: settings.probeTimeoutMillis
      })

    const extra: Effect.Effect<ReadonlyArray<Finding>> = Effect.suspend(() =>
      Effect.all([
        ...[...registered].map(([name, check]) =>
          check.pipe(
            Effect.catchAllCause(() => Effect.succeed(finding(name, "fail", `${name}.error`, "The check failed")))
          )
        ),
        ...EXPECTED_REGISTERED.filter((n) => !registered.has(n)).map((n) =>
          Effect.succeed(finding(n, "skipped", `${n}.not_registered`, `No ${n} check registered`))
        )
      ])
    )

    const report = (fixed: ReadonlyArray<FixAction>): Effect.Effect<DoctorReport> =>
      Effect.gen(function*() {
        const [storage, dev, tenant, llmFinding, pg, more] = yield* Effect.all(
          [storageChecks, devTokens, defaultTenant, llm, postgres, extra],
          { concurrency: "unbounded" }
        )
        const findings = [...storage, ...configChecks, dev, tenant, llmFinding, pg, ...more]
        return {
          ok: findings.every((f) => f.status !== "fail"),
          environment: settings.environment,
          findings,
          fixed,
          needs_attention: findings.filter((f) => (f.status === "fail" || f.status === "warn") && !f.fixable).map((
            f
          ) => f.code)
        }
      })

    /** Runs every check. */
    const run: Effect.Effect<DoctorReport> = report([])

    /**
     * Repairs what is safe (pending migrations, the missing default tenant), then checks again;
     * needs `system.admin`. Audited in `tenant` (default the admin's own) when something was done.
     */
    const fix = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<DoctorReport, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "system.admin")
        const before = yield* run
        const actions: Array<FixAction> = []
        const failing = (code: string) => before.findings.some((f) => f.code === code)
        if (failing("migrations.behind") && Option.isSome(setup)) {
          const applied = yield* Effect.either(Effect.sandbox(setup.value.migrate))
          if (applied._tag === "Left") yield* Effect.logError("doctor: migrations failed", applied.left)
          actions.push({
            check: "migrations",
            action: "run_migrations",
            ok: applied._tag === "Right",
            details: applied._tag === "Right" ? { applied: applied.right } : {}
          })
        }
        if (failing("tenant.default_missing") && settings.defaultTenant !== null) {
          const created = yield* Effect.either(tenants.create({
            id: Ids.TenantId.make(settings.defaultTenant.id),
            name: settings.defaultTenant.name
          }))
          actions.push({
            check: "tenant.default",
            action: "create_default_tenant",
            ok: created._tag === "Right",
            details: { tenant: settings.defaultTenant.id }
          })
        }
        if (actions.length > 0) {
          const auditTenant = yield* TenantScope.acting(rbac, actor, tenant)
          yield* audit.append({
            tenant_id: auditTenant,
            actor_id: actor.id,
            action: "system.doctor_fix",
            subject: "system",
            data: { actions: actions.map((a) => ({ action: a.action, ok: a.ok })) }
          })
        }
        return yield* report(actions)
      })

    return {
      run,
      fix,
      /** Registers (or replaces) a named check (the scheduler registers `scheduler`). */
      register: (name: string, check: DoctorCheck): Effect.Effect<void> =>
        Effect.sync(() => void registered.set(name, check)),
      /** Builds a finding (for registered checks). */
      finding
    }
  })
}) {}

/**
 * Development seed and production hygiene for the reference server.
 *
 * Development (`AIRLOCK_ENV=development`): the `default` tenant (mode `suggest_only`) and five
 * actors with well-known tokens, created once and found again on every start — safe to run from
 * several instances at once (a concurrent insert that loses the race is treated as "exists").
 * Production: the well-known tokens are public knowledge, so any that exist in the database (a
 * database first used in development) are revoked at start.
 */
import { ApiToken, Errors, Ids, Tenants } from "@airlock/core"
import { BankTransaction, Chart } from "@airlock/ledger"
import { RunControl } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"

/** The development tokens and the actors they speak for. */
export const devTokens = [
  {
    token: "dev_admin_token",
    actor: "dev_admin",
    role: "ADMIN",
    kind: "user",
    name: "Dev Admin",
    note: "ADMIN: every permission, admin routes, may act on other tenants (X-Tenant)"
  },
  {
    token: "dev_bookkeeper_token",
    actor: "dev_bookkeeper",
    role: "BOOKKEEPER",
    kind: "user",
    name: "Dev Bookkeeper",
    note: "BOOKKEEPER: reads, proposes and applies"
  },
  {
    token: "dev_controller_token",
    actor: "controller",
    role: "CONTROLLER",
    kind: "user",
    name: "Dev Controller",
    note: "CONTROLLER: grants approvals (the build-approval drill), ledger and companion settings"
  },
  {
    token: "dev_viewer_token",
    actor: "dev_viewer",
    role: "VIEWER",
    kind: "user",
    name: "Dev Viewer",
    note: "VIEWER: read-only"
  },
  {
    token: "dev_agent_token",
    actor: "dev_agent",
    role: "AGENT",
    kind: "agent",
    name: "Copilot",
    note: "AGENT: the AI agent actor (proposes, never promotes)"
  }
] as const

/** The tenant the development seed creates. */
export const devTenant = Ids.TenantId.make("default")

const existsAlready = (e: unknown) => e instanceof Errors.Conflict && e.code === "conflict.duplicate"

/** Creates the development tenant, actors and tokens unless they exist. */
export const seedDevelopment = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const tokens = yield* ApiToken.ApiTokens
  const store = yield* ApiToken.ApiTokenStore
  if (Option.isNone(yield* Effect.option(tenants.get(devTenant)))) {
    yield* tenants.create({ id: devTenant, name: "Default workspace", settings: { ai_mode: "suggest_only" } }).pipe(
      Effect.catchIf(existsAlready, () => Effect.void)
    )
  }
  for (const dev of devTokens) {
    const actorId = Ids.ActorId.make(dev.actor)
    if (Option.isNone(yield* Effect.option(tenants.getActor(devTenant, actorId)))) {
      yield* tenants.addActor({ tenant_id: devTenant, id: actorId, kind: dev.kind, name: dev.name, role: dev.role })
        .pipe(
          Effect.catchIf(existsAlready, () => Effect.void)
        )
    }
    yield* tokens.register(dev.token, { tenant_id: devTenant, actor_id: actorId, name: dev.actor }).pipe(
      Effect.catchIf(existsAlready, () => Effect.void)
    )
    const stored = yield* store.get(ApiToken.tokenLookupId(dev.token))
    if (Option.isSome(stored) && stored.value.revoked_at !== null) {
      yield* Effect.logWarning(
        `${dev.token} was revoked (this database ran in production); use a fresh database for development`
      )
    }
  }
})

/** Revokes any well-known development token found in a production database. */
export const revokeDevelopmentTokens = Effect.gen(function*() {
  const tokens = yield* ApiToken.ApiTokens
  const store = yield* ApiToken.ApiTokenStore
  for (const dev of devTokens) {
    const stored = yield* store.get(ApiToken.tokenLookupId(dev.token))
    if (Option.isSome(stored) && stored.value.revoked_at === null) {
      yield* tokens.revoke(stored.value.id)
      yield* Effect.logWarning(`revoked the development token ${dev.token}: it must not work in production`)
    }
  }
})

/** The chart preset the development tenant starts with. */
export const devChartPreset = "standard_professional_services" as const

/** Sample bank statement lines for the development tenant's operating account (1000). */
export const devBankCsv = [
  "Date,Description,Amount",
  "01/05/2026,Client payment - Northwind retainer,4500.00",
  "01/07/2026,Office rent January,-1800.00",
  "01/09/2026,Software subscription,-49.99",
  "01/12/2026,Coffee with prospect,-12.40",
  "01/15/2026,Client payment - Contoso project,2250.00"
].join("\n") + "\n"

/**
 * Gives the development tenant its chart of accounts and a few bank transactions, once: each
 * step runs only while its table is empty for the tenant (and both imports skip what exists).
 */
export const seedLedger = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const chart = yield* Chart.ChartOfAccounts
  const bank = yield* BankTransaction.BankTransactions
  const admin = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_admin"))
  // skipped when already there, so a restart appends nothing to the audit log either
  if ((yield* chart.list(devTenant, admin, { include_inactive: true })).length === 0) {
    // another instance seeding at the same moment may win the race: its accounts are ours
    yield* chart.importPreset(devTenant, admin, devChartPreset).pipe(
      Effect.tap((accounts) => Effect.logInfo(`seeded ${accounts.new} accounts (${devChartPreset})`)),
      Effect.catchIf(existsAlready, () => Effect.void)
    )
  }
  if ((yield* bank.list(devTenant, admin, { limit: 1 })).items.length === 0) {
    const imported = yield* bank.importFile(devTenant, admin, {
      account_code: "1000",
      format: "csv",
      content: devBankCsv
    })
    yield* Effect.logInfo(`seeded ${imported.new} bank transactions`)
  }
})

/**
 * The run controls' reset + reseed hook of a development server (`POST /api/admin/control/run/reset`,
 * and `start` with `reset: true`): the development seed and the ledger seed run again, so whatever
 * of them is missing (tenant, actors, dev tokens, the chart, the sample bank lines) is back. It
 * deletes nothing; a failure refuses the command (`storage.failure`) before the run state changes.
 */
export const layerRunHooks = Layer.effect(
  RunControl.RunHooks,
  Effect.map(
    Effect.context<
      | Tenants.Tenants
      | ApiToken.ApiTokens
      | ApiToken.ApiTokenStore
      | Chart.ChartOfAccounts
      | BankTransaction.BankTransactions
    >(),
    (context) => ({
      resetWorld: (operator: RunControl.Operator) =>
        Effect.zipRight(seedDevelopment, seedLedger).pipe(
          Effect.provide(context),
          Effect.tap(() =>
            Effect.logInfo("dev world reset + reseeded").pipe(
              Effect.annotateLogs({ actor: operator.actor.id, operator_name: operator.name ?? null })
            )
          ),
          Effect.catchAll((cause) =>
            Effect.fail(new Errors.StorageError({ message: "The development seed could not run again", cause }))
          )
        )
    })
  )
)

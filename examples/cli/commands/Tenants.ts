/**
 * `airlock onboard --template … --tenant "<name>"` (rollout: `pilot_onboard.py`) and
 * `airlock tenant export | delete` (rollout: `tenant_data_export_delete.py`).
 */
import { TenantArchive } from "@airlock/adapters-http"
import { TenantOnboarding } from "@airlock/companion"
import { Ids, TenantData } from "@airlock/core"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { devTenant } from "../../server/Seed.js"
import * as R from "../Runtime.js"

const rule = (title: string) => `━━━ ${title} ━━━`

/** `airlock onboard --template starter|pro|firm --tenant "Beta Accounting Inc"`. */
export const onboard = Command.make(
  "onboard",
  {
    template: Options.text("template").pipe(Options.withDescription("starter, pro or firm (or a host's template)")),
    name: Options.text("tenant").pipe(Options.withDescription('The new tenant\'s name, e.g. "Beta Accounting Inc"')),
    adminEmail: Options.text("admin-email").pipe(
      Options.optional,
      Options.withDescription(
        "The seed user's address (default pilot+<tenant id>@AIRLOCK_ONBOARDING_ADMIN_EMAIL_DOMAIN)"
      )
    ),
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.optional,
      Options.withDescription("Makes a rerun return the same tenant (its token is not shown again)")
    ),
    outDir: Options.text("out-dir").pipe(
      Options.withDefault("pilot_configs"),
      Options.withDescription("Where the config and .env files go (default pilot_configs)")
    ),
    json: R.json,
    actor: R.actor
  },
  ({ actor, adminEmail, idempotencyKey, json, name, outDir, template }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const onboarding = yield* TenantOnboarding.TenantOnboarding
        // a platform admin onboards: the actor is resolved in the default tenant
        const who = yield* R.resolveActor(devTenant, actor, { tenantMayBeMissing: true })
        const result = yield* onboarding.onboard({
          template,
          name,
          admin_email: Option.getOrUndefined(adminEmail),
          idempotency_key: Option.getOrUndefined(idempotencyKey)
        }, who)
        const dir = R.resolvePath(outDir)
        const configPath = join(dir, `${result.tenant_id}_config.json`)
        const envPath = join(dir, `${result.tenant_id}_env.txt`)
        mkdirSync(dirname(configPath), { recursive: true })
        // both hold the token: readable by the owner only
        writeFileSync(configPath, JSON.stringify(result.config, null, 2) + "\n", { mode: 0o600 })
        writeFileSync(envPath, result.env.endsWith("\n") ? result.env : result.env + "\n", { mode: 0o600 })
        if (json) {
          return yield* R.printJson({
            tenant_id: result.tenant_id,
            template: result.template,
            admin_actor_id: result.admin_actor_id,
            token_id: result.token_id,
            api_token: result.api_token,
            replayed: result.replayed,
            steps: result.steps,
            files: { config: configPath, env: envPath }
          })
        }
        yield* R.line(R.bold(rule(`Pilot Onboarding: ${name.trim()}`)))
        yield* R.line(`Template: ${result.template}`)
        yield* R.line()
        for (const s of result.steps) {
          yield* R.line(`${s.step}. ${s.title}`)
          yield* R.line(`   ${R.ok} ${s.result}`)
        }
        yield* R.line()
        yield* R.line(R.bold(rule(result.replayed ? "Onboarding Replayed" : "Onboarding Complete")))
        yield* R.line()
        yield* R.line(`📄 Config exported to: ${join(outDir, `${result.tenant_id}_config.json`)}`)
        yield* R.line(`📄 .env snippet: ${join(outDir, `${result.tenant_id}_env.txt`)}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Onboards a pilot tenant from a template in one transaction (tenant in shadow mode, chart of accounts, seed " +
    "user, API token shown once) and writes pilot_configs/<tenant>_config.json and <tenant>_env.txt.",
  'airlock onboard --template pro --tenant "Beta Accounting Inc"'
)))

/** `airlock tenant export --tenant <id> [--out file]`. */
const exportCommand = Command.make(
  "export",
  {
    tenant: Options.text("tenant").pipe(Options.withDescription("The tenant id")),
    out: Options.text("out").pipe(
      Options.optional,
      Options.withDescription("The archive to write (default <tenant>_export.tar.gz in the working directory)")
    ),
    json: R.json,
    actor: R.actor
  },
  ({ actor, json, out, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const data = yield* TenantData.TenantData
        yield* R.requireTenant(tenant)
        const who = yield* R.resolveActor(devTenant, actor, { tenantMayBeMissing: true })
        const path = R.resolvePath(Option.getOrElse(out, () => `${tenant}_export.tar.gz`))
        mkdirSync(dirname(path), { recursive: true })
        const bar = R.progressBar("exporting")
        const manifest = yield* TenantArchive.exportToFile(data, Ids.TenantId.make(tenant), who, path, {
          onProgress: (p) => Effect.runSync(bar.update(p.rows_done, p.rows_total))
        }).pipe(Effect.ensuring(bar.end))
        const rows = manifest.tables.reduce((n, t) => n + t.rows, 0)
        if (json) return yield* R.printJson({ path, rows, manifest })
        yield* R.line(`${R.ok} exported tenant ${tenant}: ${rows} rows in ${manifest.tables.length} tables`)
        yield* R.line(`📄 ${path}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Exports every row of a tenant (GDPR right of access) as a .tar.gz: one JSON-lines entry per page and table, " +
    "then manifest.json with counts and the audit chain head. Audited (tenant.exported).",
  "airlock tenant export --tenant pilot-beta-accounting-inc-31707447 --out beta.tar.gz"
)))

/** `airlock tenant delete --tenant <id> --confirm`. */
const deleteCommand = Command.make(
  "delete",
  {
    tenant: Options.text("tenant").pipe(Options.withDescription("The tenant id")),
    confirm: Options.boolean("confirm").pipe(Options.withDescription("Required: the deletion cannot be undone")),
    json: R.json,
    actor: R.actor
  },
  ({ actor, confirm, json, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const data = yield* TenantData.TenantData
        yield* R.requireTenant(tenant)
        const who = yield* R.resolveActor(devTenant, actor, { tenantMayBeMissing: true })
        const tombstone = yield* data.remove(Ids.TenantId.make(tenant), who, { confirm })
        if (json) return yield* R.printJson(tombstone)
        yield* R.line(`${R.ok} deleted tenant ${tenant}: ${tombstone.rows_deleted} rows`)
        for (const [table, n] of Object.entries(tombstone.counts)) if (n > 0) yield* R.line(`   ${table}: ${n}`)
        yield* R.line(`   tombstone in the system audit chain (seq ${tombstone.audit_seq})`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Deletes every row of a tenant (GDPR right to be forgotten) in one transaction and records a tombstone in " +
    "the system audit chain. Refused without --confirm (exit code 2) and for protected tenants.",
  "airlock tenant delete --tenant pilot-beta-accounting-inc-31707447 --confirm"
)))

/** `airlock tenant`. */
export const tenant = Command.make("tenant").pipe(
  Command.withDescription(R.help("Tenant data export and deletion.", "airlock tenant export --tenant <id>")),
  Command.withSubcommands([exportCommand, deleteCommand])
)

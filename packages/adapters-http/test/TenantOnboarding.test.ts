/**
 * Tenant templates, onboarding and the monthly transaction limit, through the library functions
 * (what the CLI calls) on SQLite and PostgreSQL, with persisted state read raw: the runbook's
 * template values, the id shape, settings, chart, admin and token, the config document and env
 * snippet, idempotency on a key, and a bank import refused whole past the template's limit.
 */
import { TenantOnboarding, TenantTemplates } from "@airlock/companion"
import { ApiToken, Ids, Tenants } from "@airlock/core"
import { BankTransaction } from "@airlock/ledger"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const count = (query: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.unsafe(query).pipe(Effect.map((r) => Number((r[0] as { n: unknown }).n)), Effect.orDie)
  )

describe("TenantTemplates", () => {
  it("the runbook's templates: limits, presets, auto-post policy, thresholds, budgets, flags", () => {
    const rows = TenantTemplates.builtIn.map((t) => [
      t.name,
      t.max_transactions_per_month,
      t.chart_preset,
      t.autopost,
      t.autopost_threshold,
      t.coldstart_min_labels,
      t.llm_tenant_cap_usd
    ])
    expect(rows).toStrictEqual([
      ["starter", 500, "standard_small_business", "off", 0.9, 3, "50.00"],
      ["pro", 2000, "standard_professional_services", "eligible_behind_approval", 0.92, 5, "100.00"],
      ["firm", 10000, "gaap_accounting_firm", "eligible_behind_approval", 0.92, 5, "250.00"]
    ])
    expect(TenantTemplates.pro.features).toStrictEqual({
      ml_classifier: true,
      llm_fallback: true,
      auto_rule_promotion: true,
      drift_detection: true,
      calibration: true
    })
  })
  it("slugs: the runbook's id shape from a name", () => {
    expect(TenantOnboarding.slugOf("Beta Accounting Inc")).toBe("beta-accounting-inc")
    expect(TenantOnboarding.slugOf("  Café & Co. — Zürich!! ")).toBe("cafe-co-zurich")
    expect(TenantOnboarding.slugOf("!!!")).toBe("")
  })
})

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage }), { excludeTestServices: true, timeout: 60_000 })(storage, (it) => {
    it.effect("onboarding pro: tenant, settings, chart, admin, token shown once, config and env", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const onboarding = yield* TenantOnboarding.TenantOnboarding
        const r = yield* onboarding.onboard({ template: "pro", name: "Beta Accounting Inc" }, s.actors.admin!)
        expect(r.tenant_id).toMatch(/^pilot-beta-accounting-inc-[0-9a-f]{8}$/)
        expect(r.replayed).toBe(false)
        expect(r.steps.map((x) => x.step)).toStrictEqual([1, 2, 3, 4, 5])
        expect(r.steps[2]!.result).toBe("Imported 14 accounts from standard_professional_services")
        expect(r.steps[3]!.result).toBe(`User: pilot+${r.tenant_id}@example.com`)
        expect(r.config.tenant).toMatchObject({
          tenant_id: r.tenant_id,
          tenant_name: "Beta Accounting Inc",
          tier: "pro",
          status: "active",
          coa_preset: "standard_professional_services",
          config: {
            autopost_enabled: false,
            autopost_eligible: true,
            autopost_requires_approval: true,
            autopost_threshold: 0.92,
            coldstart_min_labels: 5,
            llm_tenant_cap_usd: 100,
            max_transactions_per_month: 2000
          }
        })
        expect(r.config.coa.length).toBe(14)
        expect(r.config.coa[0]).toStrictEqual({ code: "1000", name: "Operating Account", type: "Asset" })
        expect(r.config.user).toMatchObject({ role: "admin", tenant_id: r.tenant_id })
        expect(r.env).toBe(
          `# Environment variables for Beta Accounting Inc\nTENANT_ID=${r.tenant_id}\nAPI_TOKEN=${r.api_token}\n` +
            "AUTOPOST_ENABLED=false\nAUTOPOST_THRESHOLD=0.92\n"
        )
        // persisted: tenant, shadow-mode settings with the template's values, chart, admin, token
        const principal = yield* (yield* ApiToken.ApiTokens).verify(r.api_token!)
        expect([principal.tenant.id, principal.actor.role, principal.actor.id]).toStrictEqual([
          r.tenant_id,
          "OWNER",
          r.admin_actor_id
        ])
        const row = yield* H.settingsRow(r.tenant_id)
        expect((row as Record<string, unknown>).ai_mode).toBe("shadow_only")
        expect(row!.extensions).toMatchObject({
          "companion.autopost_enabled": false,
          "companion.autopost_threshold": 0.92,
          "companion.coldstart_min_labels": 5,
          "guardrails.llm_tenant_cap_usd": "100.00",
          "ledger.max_transactions_per_month": 2000,
          "companion.template": "pro",
          "companion.autopost_policy": "eligible_behind_approval"
        })
        const accounts = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT COUNT(*) AS n FROM ledger_accounts WHERE tenant_id = ${r.tenant_id}`.pipe(Effect.orDie)
        )
        expect(Number(accounts[0]!.n)).toBe(14)
        const tokenRows = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT hash FROM core_api_tokens WHERE tenant_id = ${r.tenant_id}`.pipe(Effect.orDie)
        )
        expect(tokenRows.length).toBe(1)
        expect(JSON.stringify(tokenRows)).not.toContain(r.api_token!)
      }))

    it.effect("idempotent on a key: the same request replays without the token; another request conflicts", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const onboarding = yield* TenantOnboarding.TenantOnboarding
        const key = `k-${storage}-1`
        const first = yield* onboarding.onboard(
          { template: "firm", name: "Gamma LLP", idempotency_key: key },
          s.actors.admin!
        )
        const again = yield* onboarding.onboard(
          { template: "firm", name: "Gamma LLP", idempotency_key: key },
          s.actors.admin!
        )
        expect(again.tenant_id).toBe(first.tenant_id)
        expect(again.replayed).toBe(true)
        expect(again.api_token).toBeNull()
        expect(again.config.coa.length).toBe(19)
        expect(again.config.tenant.config.llm_tenant_cap_usd).toBe(250)
        const tenants = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT id FROM core_tenants WHERE name = ${"Gamma LLP"}`.pipe(Effect.orDie)
        )
        expect(tenants.length).toBe(1)
        const other = yield* Effect.flip(
          onboarding.onboard({ template: "pro", name: "Gamma LLP", idempotency_key: key }, s.actors.admin!)
        )
        expect(other).toMatchObject({ code: "tenant.onboarding.idempotency_conflict" })
        // without a key, two calls are two tenants
        const a = yield* onboarding.onboard({ template: "starter", name: "Delta" }, s.actors.admin!)
        const b = yield* onboarding.onboard({ template: "starter", name: "Delta" }, s.actors.admin!)
        expect(a.tenant_id).not.toBe(b.tenant_id)
        expect(a.config.tenant.config).toMatchObject({ autopost_eligible: false, max_transactions_per_month: 500 })
      }))

    it.effect("refusals: unknown template, a bad name, a tenant's own owner (not a platform admin)", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const onboarding = yield* TenantOnboarding.TenantOnboarding
        const before = yield* count("SELECT COUNT(*) AS n FROM core_tenants")
        expect(yield* Effect.flip(onboarding.onboard({ template: "gold", name: "X" }, s.actors.admin!))).toMatchObject({
          code: "tenant.template_unknown",
          details: { known: ["starter", "pro", "firm"] }
        })
        expect(yield* Effect.flip(onboarding.onboard({ template: "pro", name: " !! " }, s.actors.admin!)))
          .toMatchObject({ code: "tenant.name_invalid" })
        expect(yield* Effect.flip(onboarding.onboard({ template: "pro", name: "Y" }, s.actors.owner!))).toMatchObject({
          code: "rbac.forbidden"
        })
        expect(yield* count("SELECT COUNT(*) AS n FROM core_tenants")).toBe(before)
      }))

    it.effect("the monthly limit at bank import: per calendar month of the dates; past it the whole import is refused", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const registry = yield* TenantTemplates.TenantTemplates
        yield* registry.register({ ...TenantTemplates.starter, name: "tiny", max_transactions_per_month: 3 })
        const r = yield* (yield* TenantOnboarding.TenantOnboarding).onboard(
          { template: "tiny", name: "Tiny Co" },
          s.actors.admin!
        )
        const tenant = Ids.TenantId.make(r.tenant_id)
        const admin = yield* (yield* Tenants.Tenants).getActor(tenant, Ids.ActorId.make(r.admin_actor_id))
        const bank = yield* BankTransaction.BankTransactions
        const tx = (date: string, description: string, amount = "-1.00") => ({ date, description, amount })
        const importRows = (rows: ReadonlyArray<ReturnType<typeof tx>>) =>
          bank.importFile(tenant, admin, { account_code: "1000", format: "json", transactions: rows })
        const stored = () =>
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`SELECT COUNT(*) AS n FROM ledger_bank_transactions WHERE tenant_id = ${tenant}`.pipe(
                Effect.map((rows) => Number(rows[0]!.n)),
                Effect.orDie
              )
          )
        expect((yield* importRows([tx("2024-03-01", "a"), tx("2024-03-02", "b")])).new).toBe(2)
        const audits = yield* H.auditCount(tenant)
        // 2 + 2 > 3 in March (April's row alone would fit): refused whole
        const refused = yield* Effect.flip(
          importRows([tx("2024-03-03", "c"), tx("2024-03-04", "d"), tx("2024-04-01", "e")])
        )
        expect(refused).toMatchObject({
          _tag: "BudgetExceeded",
          code: "tenant.monthly_limit_exceeded",
          details: { limit: 3, months: [{ month: "2024-03", limit: 3, existing: 2, importing: 2 }] }
        })
        expect(yield* stored()).toBe(2)
        expect(yield* H.auditCount(tenant)).toBe(audits)
        // skipped duplicates do not count; another month has its own allowance
        expect((yield* importRows([tx("2024-03-01", "a"), tx("2024-03-03", "c")])).new).toBe(1)
        expect((yield* importRows([tx("2024-04-01", "e"), tx("2024-04-02", "f"), tx("2024-04-03", "g")])).new).toBe(3)
        expect(yield* stored()).toBe(6)
        // a tenant without a template has no limit
        const many = Array.from({ length: 10 }, (_, i) => tx(`2024-03-${String(i + 1).padStart(2, "0")}`, `x${i}`))
        const owner = s.actors.owner!
        const chart = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`SELECT COUNT(*) AS n FROM ledger_accounts WHERE tenant_id = ${"default"}`.pipe(Effect.orDie)
        )
        if (Number(chart[0]!.n) > 0) {
          const result = yield* bank.importFile(Ids.TenantId.make("default"), owner, {
            account_code: "1000",
            format: "json",
            transactions: many
          })
          expect(result.new).toBe(10)
        }
      }))
  })

suite("sqlite")
suite("postgres")

/**
 * Shared by the apply_failed and coverage suites: the companion's environment over an adapter's
 * ports (with a host's extra layer and guardrails settings), a tenant fixture, and the reviewed
 * history that makes a tenant eligible to auto-post (a certified threshold, `autopilot_limited`,
 * auto-post on, no spot check).
 */
import { Companion, CompanionPorts, VendorMemoryStage } from "@airlock/companion"
import { AgentMemoryConfig, CoreConfig, type CorePorts, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig, type GuardrailsPorts } from "@airlock/guardrails"
import { BankTransaction, Chart, Ledger, LedgerConfig, type LedgerPorts as LP } from "@airlock/ledger"
import { expect } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import type { CompanionProbe } from "./CompanionProbe.js"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declarations below (TS2742)
import type { CompanionProvenance } from "@airlock/companion"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- as above
import type { ActionRegistry, Actor, AgentMemory, ApiToken, Audit, Errors, GovernedActions } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- as above
import type { Proposals } from "@airlock/ledger"

/**
 * The ports a companion suite runs over. (The environment holds {@link CompanionProvenance.CompanionProvenance},
 * {@link ActionRegistry.ActionRegistry}, {@link GovernedActions.GovernedActions}, {@link AgentMemory.AgentMemory},
 * {@link ApiToken.ApiTokenStore} and {@link Audit.AuditLog}; the fixture's actors are {@link Actor.Actor}s,
 * its failures {@link Errors.StorageError}s; proposals are {@link Proposals.KIND}.)
 */
export type Ports =
  | CorePorts.CorePorts
  | LP.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | CompanionPorts.CompanionPorts
  | CompanionProbe

/**
 * The companion with guardrails, the ledger and the kernel over `ports`; `host` is merged beside
 * the companion (a host's gate, a model stage), `guardrails` overrides guardrails' settings.
 */
export const environment = <E, H, HE, HR>(
  ports: Layer.Layer<Ports, E>,
  options: {
    readonly host?: Layer.Layer<H, HE, HR>
    readonly guardrails?: Partial<GuardrailsConfig.GuardrailsSettings>
    readonly seed?: number
  } = {}
) =>
  Layer.merge(Companion.layer, options.host ?? Layer.empty).pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(GuardrailsConfig.layer({
      velocityMaxPerMinute: 10_000,
      valueBreakerThreshold: "5000.00",
      ...options.guardrails
    })),
    Layer.provideMerge(Ledger.layerWithConfig),
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerSeeded(options.seed ?? 37),
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(ports)
  )

/** A tenant (in `suggest_only`) with the small-business chart, a bookkeeper, the agent and an owner. */
export const fixture = (id: string) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({
      id: Ids.TenantId.make(id),
      name: `Tenant ${id}`,
      settings: { ai_mode: "suggest_only" }
    })
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    const owner = yield* add("Olga", "OWNER")
    const bookkeeper = yield* add("Bea", "BOOKKEEPER")
    const agent = yield* add("copilot", "AGENT", "agent")
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenant.id, owner, "standard_small_business")
    return { tenant: tenant.id, owner, bookkeeper, agent }
  })

/** What {@link fixture} returns. */
export type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

/** The ISO date `i` days after 2026-01-01. */
export const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString().slice(0, 10)

/** Imports one transaction into the bank account 1000. */
export const importOne = (fx: Fx, date: string, description: string, amount: string) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) =>
      b.importFile(fx.tenant, fx.bookkeeper, {
        account_code: "1000",
        format: "json",
        transactions: [{ date, description, amount }]
      })
  )

/** The three vendors of the reviewed history, each with a rule. */
export const vendors = [
  { description: "ACH DEBIT OAKWOOD PROPERTY MGMT", amount: "-2400.00", account: "6300", rule: "OAKWOOD PROPERTY" },
  { description: "ADOBE *CREATIVE CLD 800-833-6687 CA", amount: "-54.99", account: "6200", rule: "ADOBE" },
  { description: "MONTHLY SERVICE FEE", amount: "-15.00", account: "6100", rule: "SERVICE FEE" }
] as const

/**
 * Makes the fixture's tenant eligible to auto-post: rules for the three vendors, a person's
 * reviews (six hours apart) until a threshold certifies, then `autopilot_limited` with auto-post
 * on and no spot check. The number of reviews (one entry each).
 */
export const eligible = (fx: Fx) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const models = yield* CompanionPorts.CompanionModelStore
    for (const v of vendors) {
      yield* c.createRule(fx.tenant, fx.owner, { name: v.rule, description_contains: v.rule, account_code: v.account })
    }
    let reviews = 0
    let certified: number | null = null
    while (certified === null && reviews < 200) {
      const v = vendors[reviews % vendors.length]!
      const imported = yield* importOne(fx, day(reviews), `${v.description} ${1000 + reviews}`, v.amount)
      const item = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })).items[0]!
      expect(item.status).toBe("proposed")
      yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
      yield* TestClock.adjust("6 hours")
      reviews++
      const latest = yield* models.latestCalibration(fx.tenant)
      if (Option.isSome(latest)) {
        certified = (latest.value.certificate as { threshold?: number | null }).threshold ?? null
      }
    }
    expect(certified).not.toBeNull()
    yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, {
      ai_mode: "autopilot_limited",
      extensions: { "companion.autopost_enabled": true, "companion.spot_check_rate": 0 }
    }, fx.owner)
    return { reviews, certified: certified! }
  })

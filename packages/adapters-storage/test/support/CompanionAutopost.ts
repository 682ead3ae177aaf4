/**
 * Shared by the apply_failed and coverage suites, on top of {@link CompanionEnvironment}'s
 * environment and tenant fixture: the reviewed history that makes a tenant eligible to auto-post
 * (a certified threshold, `autopilot_limited`, auto-post on, no spot check).
 */
import { Companion, CompanionPorts } from "@airlock/companion"
import { Tenants } from "@airlock/core"
import { BankTransaction } from "@airlock/ledger"
import { expect } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import type * as CompanionEnvironment from "./CompanionEnvironment.js"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named only by the inferred declarations below (TS2742)
import type { Errors } from "@airlock/core"
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- as above
import type { Proposals } from "@airlock/ledger"

/**
 * A tenant fixture with at least {@link CompanionEnvironment.staff}: the owner, the bookkeeper and
 * the agent. (The inferred declarations below name core's {@link Errors.StorageError} and the
 * ledger's {@link Proposals.KIND}.)
 */
export type Fx = CompanionEnvironment.Fixture<typeof CompanionEnvironment.staff>

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

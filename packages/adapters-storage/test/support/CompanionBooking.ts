/**
 * Shared by the rejection and invalid-answer suites, on top of {@link CompanionEnvironment}'s tenant
 * fixture: a transaction imported a day after the last, and a person's booking of a vendor through a
 * one-off rule's proposal (the history vendor memory learns from).
 */
import { Companion } from "@airlock/companion"
import { BankTransaction } from "@airlock/ledger"
import { expect } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
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

/** Imports one transaction a day after the last. */
export const importOne = (fx: Fx, description: string, amount: string) =>
  Effect.gen(function*() {
    yield* TestClock.adjust("1 day")
    const date = new Date(yield* Clock.currentTimeMillis).toISOString().slice(0, 10)
    const imported = yield* (yield* BankTransaction.BankTransactions).importFile(fx.tenant, fx.bookkeeper, {
      account_code: "1000",
      format: "json",
      transactions: [{ date, description, amount }]
    })
    return imported.ids
  })

/** Books `description` to `account` through a one-off rule's proposal, applied by the person. */
export const bookByRule = (fx: Fx, description: string, account: string, amount: string) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const rule = yield* c.createRule(fx.tenant, fx.owner, {
      name: "one-off",
      description_contains: description,
      account_code: account
    })
    const ids = yield* importOne(fx, description, amount)
    const item = (yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: ids })).items[0]!
    expect([item.status, item.splits.map((s) => s.account_code)]).toStrictEqual(["proposed", [account]])
    yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
    yield* c.deleteRule(fx.tenant, fx.owner, rule.id)
  })

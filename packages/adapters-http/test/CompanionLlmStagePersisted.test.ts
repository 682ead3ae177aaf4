/**
 * What the language-model stage leaves behind in storage, for each case of issue #13's list that
 * `CompanionLlmStage.test.ts` checks by the stage's answer alone: the LLM budget's spend (metered
 * only when the provider answered) and the provider breaker's state (a failure counts only when
 * the provider failed). Same setup: a real local server speaking the OpenAI chat-completions
 * protocol, the in-memory store, guardrails' real budget and breaker.
 */
import { Budgets, ProviderBreaker, Usd } from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fake from "../../companion/test/support/FakeOpenAiServer.js"
import { account, inputOf, MODEL, spent, withStage } from "./support/LlmStage.js"

const accounts = [
  account("6100", "Office supplies", "Expense"),
  account("6200", "Software subscriptions", "Expense"),
  account("4000", "Sales", "Income")
]

const input = inputOf(accounts)

const state = Effect.flatMap(ProviderBreaker.ProviderBreaker, (p) => p.state("llm"))

describe("the language-model stage: persisted spend and breaker state", () => {
  it.live("malformed output is metered (the provider answered) and counts no provider failure", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script({ kind: "answer", content: "office supplies, I think" }, Fake.json({ account: "6100" }))
        for (let i = 0; i < 2; i++) {
          expect(yield* stage.run(input())).toMatchObject({ outcome: "abstain", reason: "llm.malformed_output" })
        }
        // 2 × (120 input × $1/M + 15 output × $2/M) = 300 micro-dollars
        expect(yield* spent).toBe(300n)
        const s = yield* state
        expect([s.state, s.consecutive_failures]).toStrictEqual(["closed", 0])
      })
    ))

  it.live("an account not in the chart is metered and counts no provider failure", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script(Fake.json({ account_code: "9999", rationale: "made up" }))
        expect(yield* stage.run(input())).toMatchObject({ outcome: "abstain", reason: "llm.account_not_in_chart" })
        expect(yield* spent).toBe(150n)
        expect((yield* state).consecutive_failures).toBe(0)
      })
    ))

  it.live("a timeout and a 500 are not metered; each counts one provider failure; a good answer resets them", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        fake.script({ kind: "hang" }, { kind: "status", status: 500 })
        expect(yield* stage.run(input())).toMatchObject({ outcome: "abstain", reason: "llm.timeout" })
        expect(yield* stage.run(input())).toMatchObject({ outcome: "abstain", reason: "llm.provider_error" })
        expect(yield* spent).toBe(0n)
        const failing = yield* state
        expect([failing.state, failing.consecutive_failures]).toStrictEqual(["closed", 2])
        fake.script(Fake.json({ account_code: "6100", rationale: "Staples sells office supplies" }))
        expect(yield* stage.run(input())).toMatchObject({ outcome: "candidates" })
        expect(yield* spent).toBe(150n)
        expect((yield* state).consecutive_failures).toBe(0)
      })
    ))

  it.live("budget exhausted: nothing more is metered, the budget reports the fallback, the breaker is untouched", () =>
    withStage(
      (stage, fake) =>
        Effect.gen(function*() {
          const budget = yield* Budgets.LlmBudget
          yield* budget.meter({
            tenant_id: "t1",
            task: "other",
            model: MODEL,
            usage: { input_tokens: 20_000, output_tokens: 0 }
          })
          expect(yield* spent).toBe(20_000n)
          fake.script(Fake.json({ account_code: "6100", rationale: "x" }))
          expect(yield* stage.run(input())).toMatchObject({ outcome: "skipped", reason: "llm.budget_exceeded" })
          expect(yield* spent).toBe(20_000n)
          const status = yield* budget.status("t1")
          expect([status.fallback_active, status.fallback_reason]).toStrictEqual([true, "tenant_budget_exceeded"])
          expect((yield* state).consecutive_failures).toBe(0)
          expect(fake.requests).toHaveLength(0)
        }),
      { guardrails: { llmTenantCap: Usd.usd("0.01") } }
    ))

  it.live("breaker open: nothing metered, no failure added, the breaker stays open", () =>
    withStage((stage, fake) =>
      Effect.gen(function*() {
        const breaker = yield* ProviderBreaker.ProviderBreaker
        for (let i = 0; i < 3; i++) yield* breaker.recordFailure("llm")
        const before = yield* state
        expect(before.state).toBe("open")
        fake.script(Fake.json({ account_code: "6100", rationale: "x" }))
        expect(yield* stage.run(input())).toMatchObject({ outcome: "skipped", reason: "llm.breaker_open" })
        expect(yield* spent).toBe(0n)
        const after = yield* state
        expect([after.state, after.consecutive_failures]).toStrictEqual(["open", before.consecutive_failures])
        expect(fake.requests).toHaveLength(0)
      })
    ))
})

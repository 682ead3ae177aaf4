/**
 * Failure triage's language-model refinement against a real local OpenAI-compatible server (the
 * companion's `FakeOpenAiServer`, node:http on 127.0.0.1), through the model the companion builds
 * for hosts (`LlmConfig.layerModel`), on the memory and SQLite adapters: a good refinement is
 * metered under task `triage`; a provider 500 leaves the heuristics' report and counts in the
 * `triage-llm` breaker; an exhausted LLM budget calls nothing. Every report lands in the
 * tenant's agent memory.
 */
import { Memory, Sqlite } from "@airlock/adapters-storage"
import { LlmConfig } from "@airlock/companion"
import { AgentMemory, Ids, Tenants } from "@airlock/core"
import { Budgets, CounterStore, ProviderBreaker, Windows } from "@airlock/guardrails"
import { Executions, ExecutionsConfig, JobRunner, Triage } from "@airlock/ops"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option, TestClock } from "effect"
import * as Fake from "../../companion/test/support/FakeOpenAiServer.js"
import { environment as guardEnvironment } from "./support/GuardEnv.js"
import { GuardProbe } from "./support/GuardProbe.js"
import * as GuardProbes from "./support/GuardProbe.js"
import { testRunner } from "./support/OpsEnv.js"

/** Priced in the guardrails test settings: $1 / $2 per million input / output tokens; tenant cap $0.01. */
const MODEL = "m1"

class FakeLlm extends Context.Tag("test/TriageFakeLlm")<FakeLlm, Fake.FakeOpenAiServer>() {}

/** The host's model over the fake server, as the `LanguageModel` triage looks for. */
const model = Layer.unwrapEffect(
  Effect.map(FakeLlm, (server) =>
    Layer.unwrapEffect(Effect.flatMap(
      LlmConfig.LlmModel,
      Option.match({
        onNone: () => Effect.dieMessage("no model configured"),
        onSome: (configured) => Effect.succeed(Triage.layerModel(configured.model))
      })
    )).pipe(
      Layer.provide(LlmConfig.layerModel),
      Layer.provide(LlmConfig.layer({ baseUrl: server.url, model: MODEL, timeoutMs: 2000 })),
      Layer.provide(FetchHttpClient.layer)
    ))
)

const runners = Layer.effectDiscard(
  Effect.flatMap(JobRunner.JobRunners, (r) => r.register(JobRunner.ANY_JOB, testRunner))
)

const environment = <E>(ports: Layer.Layer<any, E>) =>
  runners.pipe(
    Layer.provideMerge(Executions.layer),
    Layer.provideMerge(ExecutionsConfig.layer({ pollIntervalMillis: 50, triageModel: MODEL })),
    Layer.provideMerge(model),
    Layer.provideMerge(Layer.scoped(FakeLlm, Fake.scoped)),
    Layer.provideMerge(guardEnvironment(ports))
  )

const NOW = Windows.utcMillis(2031, 7, 14)

/** A tenant with an admin and a bookkeeper, and a failed execution of `job`, triaged. */
const failAndTriage = (tenantId: string, job: string, error: string) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW)
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: Ids.TenantId.make(tenantId), name: tenantId })
    const admin = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Ada", role: "ADMIN" })
    const bookkeeper = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Bea", role: "BOOKKEEPER" })
    const executions = yield* Executions.Executions
    const fake = yield* FakeLlm
    return {
      tenant,
      admin,
      fake,
      run: Effect.gen(function*() {
        const { run_id } = yield* executions.submit(bookkeeper, tenant.id, {
          job_name: job,
          plan: { do: "fail", error, log: ["loading orders"] }
        })
        const [failed] = yield* executions.processAvailable(10)
        expect(failed).toMatchObject({ run_id, status: "FAILED" })
        yield* executions.awaitTriage
        const history = yield* (yield* Triage.Triage).reports(admin, tenant.id, job)
        const report = history.latest!
        expect(report).toMatchObject({ run_id, job_name: job })
        // stored in the tenant's agent memory, whatever the model did
        expect(report.memory_uid).not.toBeNull()
        const item = yield* (yield* AgentMemory.AgentMemory).get(tenant.id, admin, report.memory_uid!)
        expect(item.item).toMatchObject({ kind: AgentMemory.FAILURE_KIND, thread_id: `job:${job}` })
        return { report, item: item.item }
      })
    }
  })

const failures = (from: number) =>
  Effect.flatMap(
    CounterStore.CounterStore,
    (c) => c.sum(`${ProviderBreaker.breakerKey(Triage.TRIAGE_PROVIDER)}:failures`, from, NOW + 3_600_000)
  )

const suite = <E>(name: string, ports: Layer.Layer<any, E>) =>
  layer(environment(ports), { timeout: 60_000 })(`triage refined by a language model: ${name}`, (it) => {
    it.effect("a good refinement: the model's summary is stored, metered under task triage", () =>
      Effect.gen(function*() {
        const { fake, run, tenant } = yield* failAndTriage("tr-good", "sync_orders", "connect ECONNREFUSED 10.0.0.7")
        const refined = "The orders database refused the connection; check that it is running, then retry."
        fake.reset()
        fake.script({ kind: "answer", content: `  ${refined}\n`, usage: { prompt_tokens: 120, completion_tokens: 15 } })
        const { item, report } = yield* run
        expect(report).toMatchObject({
          category: "dependency_unavailable",
          outage_class: "network_unreachable",
          summary: "A dependency is unavailable (network_unreachable): connect ECONNREFUSED 10.0.0.7",
          refined_summary: refined,
          model: MODEL,
          llm_fallback_reason: null
        })
        expect(item.content).toBe(refined)
        // one chat completion, for the configured model, about this failure
        expect(fake.requests).toHaveLength(1)
        const body = fake.requests[0]!.body
        expect(body.model).toBe(MODEL)
        const prompt = JSON.stringify(body.messages)
        expect(prompt).toContain("Job: sync_orders")
        expect(prompt).toContain("dependency_unavailable / network_unreachable")
        // metered: 120 input + 15 output tokens at $1 / $2 per million = 150 micro-dollars, under task triage
        const status = yield* (yield* Budgets.LlmBudget).status(tenant.id)
        expect(status.tenant_spent_usd).toBe(150n)
        expect(yield* (yield* GuardProbe).spend(`ai:${tenant.id}`, Windows.monthKey(NOW), Triage.TRIAGE_TASK)).toBe(
          "150"
        )
      }))

    it.effect("a provider 500: the heuristics' report stands, the breaker counts the failure, nothing is metered", () =>
      Effect.gen(function*() {
        const { fake, run, tenant } = yield* failAndTriage("tr-500", "load_sales", "getaddrinfo ENOTFOUND warehouse")
        const before = yield* failures(0)
        fake.reset()
        fake.script({ kind: "status", status: 500, message: "upstream exploded" })
        const { item, report } = yield* run
        expect(report).toMatchObject({
          category: "dependency_unavailable",
          outage_class: "dns_resolution",
          rule: "dns_resolution",
          summary: "A dependency is unavailable (dns_resolution): getaddrinfo ENOTFOUND warehouse",
          refined_summary: null,
          model: null,
          llm_fallback_reason: "provider_error"
        })
        expect(item.content).toBe(report.summary)
        expect(fake.requests).toHaveLength(1)
        expect(yield* failures(0)).toBe(before + 1)
        expect((yield* (yield* Budgets.LlmBudget).status(tenant.id)).tenant_spent_usd).toBe(0n)
      }))

    it.effect("an exhausted LLM budget: the model is not called; the heuristics' report is stored", () =>
      Effect.gen(function*() {
        const { fake, run, tenant } = yield* failAndTriage("tr-broke", "nightly", "Killed: out of memory")
        // the tenant's cap ($0.01) spent by another task
        yield* TestClock.setTime(NOW)
        yield* (yield* Budgets.LlmBudget).meter({
          tenant_id: tenant.id,
          task: "companion",
          model: MODEL,
          usage: { input_tokens: 10_000, output_tokens: 0 }
        })
        fake.reset()
        fake.setDefault({ kind: "answer", content: "must not be asked" })
        const before = yield* failures(0)
        const { item, report } = yield* run
        expect(report).toMatchObject({
          category: "out_of_memory",
          refined_summary: null,
          model: null,
          llm_fallback_reason: "tenant_budget_exceeded"
        })
        expect(item.content).toBe(report.summary)
        expect(fake.requests).toHaveLength(0)
        expect(yield* failures(0)).toBe(before)
        const spent = (yield* (yield* Budgets.LlmBudget).status(tenant.id)).tenant_spent_usd
        expect(spent).toBe(10_000n)
      }))
  })

describe("triage with a language model", () => {
  suite("memory", Layer.provideMerge(GuardProbes.memory, Memory.layer))
  suite("sqlite (:memory:)", Layer.provideMerge(GuardProbes.sql, Sqlite.layer({ filename: ":memory:" })))
})

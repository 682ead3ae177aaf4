/**
 * The conformance suite for guardrails' ports. Every adapter runs it unchanged. It drives each
 * guard through its service and through the governed-action pipeline, with `TestClock` for
 * windows, TTLs, cooldowns and month rollover, and checks persisted state through the raw
 * {@link GuardProbe}. Global guards (lockdown, stop conditions) are returned to their resting
 * state at the end of their tests; everything else uses its own tenant, provider or period.
 */
import {
  Action,
  type ActionKind,
  ActionRegistry,
  Audit,
  type CorePorts,
  Errors,
  type Gate,
  GovernedActions,
  Ids,
  Tenants
} from "@airlock/core"
import {
  Approvals,
  BreakerEvents,
  Breakers,
  Budgets,
  BudgetStore,
  CounterStore,
  Gates,
  GuardrailsConfig,
  type GuardrailsPorts as GuardrailsPorts,
  KindPolicy,
  Lockdown,
  ProviderBreaker,
  RateLimiter,
  StopConditions,
  SystemStatus,
  TrustBreaker,
  Usd,
  ValueBreaker,
  VelocityBreaker,
  Windows
} from "@airlock/guardrails"
import { expect, layer } from "@effect/vitest"
import { Chunk, Clock, Effect, Exit, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import { environment, settings } from "./support/GuardEnv.js"
import { GuardProbe } from "./support/GuardProbe.js"

/** What an adapter can do; the suite skips nothing else. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

/** A tenant with a bookkeeper, an agent, an autopilot agent (may apply), a viewer, a controller and a platform admin. */
const fixture = (id: string, mode: "shadow_only" | "suggest_only" | "autopilot_limited" = "suggest_only") =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}`, settings: { ai_mode: mode } })
    const add = (kind: "user" | "agent", name: string, role: string) =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    return {
      tenant,
      human: yield* add("user", "Bea", "BOOKKEEPER"),
      agent: yield* add("agent", "copilot", "AGENT"),
      autopilot: yield* add("agent", "autopilot", "BOOKKEEPER"),
      viewer: yield* add("user", "Vic", "VIEWER"),
      controller: yield* add("user", "Cleo", "CONTROLLER"),
      admin: yield* add("user", "Ada", "ADMIN")
    }
  })

const failureCode = <A, E>(exit: Exit.Exit<A, E>): string | undefined =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(
      Option.map(
        Exit.causeOption(exit).pipe(Option.flatMap((c) => Option.fromNullable((c as any).error))),
        (e: any) => e.code
      )
    )
    : undefined

const propose = (tenant: Ids.TenantId, actor: any, kind: string, payload: unknown) =>
  Effect.flatMap(GovernedActions.GovernedActions, (p) => p.propose({ tenant_id: tenant, actor, kind, payload }))

/**
 * Waits (in real time, up to 30 s: a loaded 2-core machine can be slow) until some fiber sleeps on
 * the test clock, and says so when none does rather than letting a later assertion fail obscurely.
 */
const untilSleeping = Effect.gen(function*() {
  const deadline = performance.now() + 30_000
  while (Chunk.isEmpty(yield* TestClock.sleeps())) {
    if (performance.now() > deadline) return yield* Effect.dieMessage("no fiber slept on the test clock within 30 s")
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
  }
})

/** Runs the suite against an adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<CorePorts.CorePorts | GuardrailsPorts.GuardrailsPorts | GuardProbe, E>,
  capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`guardrails conformance: ${name}`, (it) => {
    it.effect("velocity: more than N AI commands a minute trips the breaker; propose and apply fail until the cooldown", () =>
      Effect.gen(function*() {
        const { tenant, agent, human } = yield* fixture("vel")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* GuardProbe
        const first = yield* propose(tenant.id, agent, "g.note", { note: "v0" })
        for (let i = 1; i < 10; i++) yield* propose(tenant.id, agent, "g.note", { note: `v${i}` })
        expect(first.trace?.gates.find((g) => g.gate === "velocity")).toMatchObject({
          verdict: "allow",
          inputs: { count: 1, limit: 10 }
        })
        const eleventh = yield* Effect.exit(propose(tenant.id, agent, "g.note", { note: "v10" }))
        expect(eleventh).toStrictEqual(
          Exit.fail(
            expect.objectContaining({
              _tag: "VelocityBreakerTripped",
              code: "breaker.velocity",
              message: "Velocity circuit breaker tripped"
            })
          )
        )
        expect(Errors.httpStatus((eleventh as any).cause.error)).toBe(403)
        const openUntil = new Date((yield* Clock.currentTimeMillis) + 120_000).toISOString()
        expect((eleventh as any).cause.error.details).toStrictEqual({
          tenant_id: tenant.id,
          count: 11,
          limit: 10,
          until: openUntil
        })
        const applyWhileOpen = yield* Effect.exit(pipeline.apply(tenant.id, first.action.id, human))
        expect(failureCode(applyWhileOpen)).toBe("breaker.velocity")
        // while open, the refusal carries the count that tripped it, not a placeholder
        expect((applyWhileOpen as any).cause.error.details).toMatchObject({ count: 11, limit: 10, until: openUntil })
        // persisted: the counter (11 counted), the open breaker, one trip event with the numbers
        expect(yield* probe.counter(VelocityBreaker.counterKey(tenant.id), 0)).toBe(11)
        expect(yield* probe.breaker(VelocityBreaker.breakerKey(tenant.id))).toMatchObject({
          state: "open",
          reason: "velocity_exceeded"
        })
        const trips = (yield* probe.events("velocity")).filter((e) => e.tenant_id === tenant.id)
        expect(trips).toStrictEqual([
          expect.objectContaining({
            type: "trip",
            reason: "velocity_exceeded",
            data: expect.objectContaining({ count: 11, limit: 10, cooldown_seconds: 120 })
          })
        ])
        // refused commands while open are not counted; after the cooldown it resets once
        yield* Effect.exit(propose(tenant.id, agent, "g.note", { note: "v11" }))
        expect(yield* probe.counter(VelocityBreaker.counterKey(tenant.id), 0)).toBe(11)
        yield* TestClock.adjust("119 seconds")
        expect(failureCode(yield* Effect.exit(propose(tenant.id, agent, "g.note", { note: "v12" })))).toBe(
          "breaker.velocity"
        )
        yield* TestClock.adjust("1 second")
        const applied = yield* pipeline.apply(tenant.id, first.action.id, human)
        expect(applied.already_applied).toBe(false)
        yield* propose(tenant.id, agent, "g.note", { note: "v13" })
        const after = (yield* probe.events("velocity")).filter((e) => e.tenant_id === tenant.id).map((e) => e.type)
        expect(after).toStrictEqual(["trip", "reset"])
        expect(yield* probe.breaker(VelocityBreaker.breakerKey(tenant.id))).toMatchObject({ state: "closed" })
      }))

    it.effect("velocity: concurrent commands admit exactly N and record one trip", () =>
      Effect.gen(function*() {
        const { tenant, agent } = yield* fixture("vel-race")
        const probe = yield* GuardProbe
        const results = yield* Effect.all(
          Array.from({ length: 24 }, (_, i) => Effect.exit(propose(tenant.id, agent, "g.note", { note: `r${i}` }))),
          { concurrency: capabilities.parallelConnections ? 8 : 4 }
        )
        expect(results.filter(Exit.isSuccess).length).toBe(10)
        expect(results.filter((e) => failureCode(e) === "breaker.velocity").length).toBe(14)
        expect((yield* probe.events("velocity")).filter((e) => e.tenant_id === tenant.id && e.type === "trip").length)
          .toBe(1)
      }))

    it.effect("value breaker: the proposal is created for review, never auto-applied; a human may apply it", () =>
      Effect.gen(function*() {
        const { tenant, agent, autopilot, human, controller } = yield* fixture("val", "autopilot_limited")
        const pipeline = yield* GovernedActions.GovernedActions
        const value = yield* ValueBreaker.ValueBreaker
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe
        const small = yield* propose(tenant.id, agent, "g.note", { note: "small", amount_cents: 99_999 })
        expect(small.action.review_reasons).toStrictEqual([])
        const big = yield* propose(tenant.id, agent, "g.note", { note: "big", amount_cents: 100_000 })
        expect(big.action.status).toBe("proposed")
        expect(big.action.review_reasons).toStrictEqual([ValueBreaker.REASON])
        expect(big.trace?.gates.find((g) => g.gate === "value_breaker")).toMatchObject({
          verdict: "review",
          inputs: { amount: "1000.00", threshold: "1000.00", min_tier: 2 }
        })
        // the agent's own (automatic) apply is refused; the small one goes through
        expect((yield* pipeline.apply(tenant.id, small.action.id, autopilot)).already_applied).toBe(false)
        const auto = yield* Effect.exit(pipeline.apply(tenant.id, big.action.id, autopilot))
        expect(failureCode(auto)).toBe("review_required")
        expect((yield* pipeline.apply(tenant.id, big.action.id, human)).action.status).toBe("applied")
        const events = (yield* probe.events("value")).filter((e) => e.tenant_id === tenant.id)
        expect(events).toStrictEqual([
          expect.objectContaining({
            type: "trip",
            reason: "value_breaker",
            data: expect.objectContaining({ amount: "1000.00", threshold: "1000.00", subject: "note:big" })
          })
        ])
        // what the companion reads: the tier floor and the reason; a tenant's own threshold wins
        const settings = yield* tenants.settings(tenant.id)
        const assessed = value.assess(settings, { minor: 100_000n, scale: 2 })
        expect([
          assessed.tripped,
          assessed.min_tier,
          value.raiseTier(0, assessed),
          value.raiseTier(3, assessed),
          assessed.auto_apply_allowed
        ]).toStrictEqual([true, 2, 2, 3, false])
        yield* tenants.updateSettings(tenant.id, {
          extensions: { [GuardrailsConfig.TenantKeys.valueBreakerThreshold]: "50.5" }
        }, controller)
        const tighter = value.assess(yield* tenants.settings(tenant.id), { minor: 5_050n, scale: 2 })
        expect([tighter.tripped, tighter.threshold]).toStrictEqual([true, "50.5"])
        expect(value.assess(yield* tenants.settings(tenant.id), { minor: 5_049n, scale: 2 }).tripped).toBe(false)
      }))

    it.effect("trust: a high rejection rate with enough sample downgrades the mode, recorded and audited", () =>
      Effect.gen(function*() {
        const { tenant, agent, autopilot, human } = yield* fixture("trust", "autopilot_limited")
        const pipeline = yield* GovernedActions.GovernedActions
        const trust = yield* TrustBreaker.TrustBreaker
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe
        const ids: Array<Ids.ActionId> = []
        for (let i = 0; i < 5; i++) ids.push((yield* propose(tenant.id, agent, "g.note", { note: `t${i}` })).action.id)
        yield* pipeline.reject(tenant.id, ids[0]!, human, "wrong")
        yield* pipeline.reject(tenant.id, ids[1]!, human, "wrong")
        yield* pipeline.apply(tenant.id, ids[2]!, human)
        // 2 of 3 rejected, but the sample (3) is below the minimum (4): no trip
        const early = yield* trust.evaluate(tenant.id)
        expect([early.sample, early.tripped, early.downgraded]).toStrictEqual([3, false, null])
        yield* pipeline.reject(tenant.id, ids[3]!, human, "wrong")
        const reading = yield* trust.evaluate(tenant.id)
        expect(reading).toMatchObject({
          rejected: 3,
          applied: 1,
          sample: 4,
          rejection_rate: 0.75,
          tripped: true,
          downgraded: { from: "autopilot_limited", to: "suggest_only" }
        })
        expect((yield* tenants.settings(tenant.id)).ai_mode).toBe("suggest_only")
        expect(yield* probe.breaker(TrustBreaker.breakerKey(tenant.id))).toMatchObject({
          state: "open",
          reason: "rejection_rate"
        })
        const audit = (yield* (yield* Audit.AuditLog).list(tenant.id)).filter((r) => r.action === "settings.updated")
        expect(audit.at(-1)).toMatchObject({
          actor_id: "system",
          data: { before: { ai_mode: "autopilot_limited" }, after: { ai_mode: "suggest_only" } }
        })
        // evaluating again changes nothing and records nothing new
        yield* trust.evaluate(tenant.id)
        expect((yield* probe.events("trust")).filter((e) => e.tenant_id === tenant.id).map((e) => e.type))
          .toStrictEqual(["trip"])
        // the agent can no longer promote on its own
        expect(failureCode(yield* Effect.exit(pipeline.apply(tenant.id, ids[4]!, autopilot)))).toBe("mode.forbidden")
        // outside the window the sample is gone: the breaker resets (the mode stays down)
        yield* TestClock.adjust("2 hours")
        const later = yield* trust.evaluate(tenant.id)
        expect([later.sample, later.tripped]).toStrictEqual([0, false])
        expect((yield* probe.events("trust")).filter((e) => e.tenant_id === tenant.id).map((e) => e.type))
          .toStrictEqual(["trip", "reset"])
        expect((yield* tenants.settings(tenant.id)).ai_mode).toBe("suggest_only")
      }))

    it.effect("trust gate: proposals re-evaluate the tenant at most once per interval", () =>
      Effect.gen(function*() {
        const { tenant, agent, human } = yield* fixture("trust-gate", "autopilot_limited")
        const pipeline = yield* GovernedActions.GovernedActions
        const tenants = yield* Tenants.Tenants
        const ids: Array<Ids.ActionId> = []
        for (let i = 0; i < 4; i++)
          ids.push((yield* propose(tenant.id, agent, "g.note", { note: `g${i}` })).action.id)
        for (const id of ids)
          yield* pipeline.reject(tenant.id, id, human, "no")
        const soon = yield* propose(tenant.id, agent, "g.note", { note: "soon" })
        expect(soon.trace?.gates.find((g) => g.gate === "trust")).toMatchObject({ inputs: { evaluated: false } })
        expect((yield* tenants.settings(tenant.id)).ai_mode).toBe("autopilot_limited")
        yield* TestClock.adjust("61 seconds")
        const later = yield* propose(tenant.id, agent, "g.note", { note: "later" })
        expect(later.trace?.gates.find((g) => g.gate === "trust")).toMatchObject({
          inputs: { evaluated: true, tripped: true }
        })
        expect((yield* tenants.settings(tenant.id)).ai_mode).toBe("suggest_only")
      }))

    it.effect("provider breaker: consecutive failures open it; one probe after the cooldown; success closes it", () =>
      Effect.gen(function*() {
        const providers = yield* ProviderBreaker.ProviderBreaker
        const probe = yield* GuardProbe
        const fail = Effect.fail(new Errors.InternalError({ message: "boom" }))
        const ok = Effect.succeed("ok")
        expect(yield* providers.call("p-consec", ok)).toBe("ok")
        for (let i = 0; i < 3; i++)
          expect(Exit.isFailure(yield* Effect.exit(providers.call("p-consec", fail)))).toBe(true)
        expect(yield* probe.breaker(ProviderBreaker.breakerKey("p-consec"))).toMatchObject({
          state: "open",
          reason: "consecutive_failures"
        })
        const refused = yield* Effect.exit(providers.call("p-consec", ok))
        expect(refused).toStrictEqual(
          Exit.fail(
            expect.objectContaining({
              _tag: "Unavailable",
              details: expect.objectContaining({ provider: "p-consec", state: "open" })
            })
          )
        )
        yield* TestClock.adjust("30 seconds")
        // one caller gets the half-open probe; the next is refused while the probe is out
        expect(yield* providers.acquire("p-consec")).toBe("probe")
        expect(failureCode(yield* Effect.exit(providers.acquire("p-consec")))).toBe("unavailable")
        // a probe that never reports frees the slot after its timeout
        yield* TestClock.adjust("10 seconds")
        expect(yield* providers.acquire("p-consec")).toBe("probe")
        yield* providers.recordSuccess("p-consec")
        expect(yield* probe.breaker(ProviderBreaker.breakerKey("p-consec"))).toMatchObject({ state: "closed" })
        const events = (yield* probe.events("provider")).filter((e) => e.data.provider === "p-consec")
        expect(events.map((e) => [e.type, e.reason])).toStrictEqual([["trip", "consecutive_failures"], [
          "reset",
          "probe_succeeded"
        ]])
        expect(events[0]!.data).toMatchObject({ consecutive_failures: 3 })
        // a failed probe opens it again
        for (let i = 0; i < 3; i++) yield* Effect.exit(providers.call("p-consec", fail))
        yield* TestClock.adjust("30 seconds")
        expect(Exit.isFailure(yield* Effect.exit(providers.call("p-consec", fail)))).toBe(true)
        expect(yield* probe.breaker(ProviderBreaker.breakerKey("p-consec"))).toMatchObject({
          state: "open",
          reason: "probe_failed"
        })
        yield* (yield* StopConditions.StopConditions).resume((yield* fixture("prov-admin")).admin)
      }))

    it.effect("provider breaker: the failure rate over the window opens it once the minimum sample is reached", () =>
      Effect.gen(function*() {
        const providers = yield* ProviderBreaker.ProviderBreaker
        const probe = yield* GuardProbe
        yield* TestClock.setTime(Windows.utcMillis(2030, 1, 1))
        // success, failure alternating: the streak never reaches 3, the rate reaches 50 % at 6 calls
        for (let i = 0; i < 5; i++) {
          if (i % 2 === 0) yield* providers.recordSuccess("p-rate")
          else yield* providers.recordFailure("p-rate")
          yield* TestClock.adjust("1 second")
        }
        expect(yield* probe.breaker(ProviderBreaker.breakerKey("p-rate"))).toMatchObject({ state: "closed" })
        yield* providers.recordFailure("p-rate")
        expect(yield* probe.breaker(ProviderBreaker.breakerKey("p-rate"))).toMatchObject({
          state: "open",
          reason: "failure_rate"
        })
        const trip = (yield* probe.events("provider")).find((e) => e.data.provider === "p-rate")!
        expect(trip.data).toMatchObject({ calls: 6, failures: 3, failure_rate: 0.5 })
        yield* (yield* StopConditions.StopConditions).resume((yield* fixture("prov-rate-admin")).admin)
      }))

    it.effect("rate limiter: per token and per tenant RPM, 429 with retry_after_seconds, sliding minute", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const probe = yield* GuardProbe
        yield* TestClock.setTime(Windows.utcMillis(2030, 2, 1) + 30_000)
        const tok = { tenant_id: "rl", token_id: "tok_a" }
        const decisions = []
        for (let i = 0; i < 5; i++) decisions.push(yield* limiter.check(tok))
        expect(decisions.map((d) => d.remaining)).toStrictEqual([4, 3, 2, 1, 0])
        // the tighter of the two limits is reported; the window resets in 30 s
        expect(decisions[0]).toStrictEqual({ enabled: true, limit: 5, remaining: 4, reset_seconds: 30 })
        expect(yield* limiter.check({ tenant_id: "rl-tenant-only" })).toStrictEqual({
          enabled: true,
          limit: 8,
          remaining: 7,
          reset_seconds: 30
        })
        const refused = yield* Effect.flip(limiter.check(tok))
        expect(refused).toMatchObject({
          _tag: "RateLimited",
          code: "rate_limited",
          retry_after_seconds: 42,
          details: { scope: "token", limit_per_minute: 5 }
        })
        expect(Errors.httpStatus(refused)).toBe(429)
        const w = Windows.windowStart(Windows.utcMillis(2030, 2, 1) + 30_000, 60_000)
        expect(yield* probe.counter("rate:token:tok_a", w)).toBe(5)
        // the refused token request gave its tenant slot back
        expect(yield* probe.counter("rate:tenant:rl", w)).toBe(5)
        // another token of the tenant: 3 more reach the tenant's 8
        const viaB = []
        for (let i = 0; i < 3; i++) viaB.push(yield* limiter.check({ tenant_id: "rl", token_id: "tok_b" }))
        expect(viaB.map((d) => [d.limit, d.remaining])).toStrictEqual([[8, 2], [8, 1], [8, 0]])
        const tenantFull = yield* Effect.flip(limiter.check({ tenant_id: "rl", token_id: "tok_c" }))
        expect(tenantFull.details).toMatchObject({ scope: "tenant", limit_per_minute: 8 })
        // 30 s later a new window starts, but the previous minute still weighs (sliding): the
        // tenant's 8 old requests leave no room for 8 s (7.5 s rounded up), the token's 5 for 12 s
        yield* TestClock.adjust("30 seconds")
        expect(yield* Effect.flip(limiter.check(tok))).toMatchObject({
          retry_after_seconds: 8,
          details: { scope: "tenant" }
        })
        yield* TestClock.adjust("12 seconds")
        expect((yield* limiter.check(tok)).remaining).toBe(0)
        expect(Exit.isFailure(yield* Effect.exit(limiter.check(tok)))).toBe(true)
        yield* TestClock.adjust("60 seconds")
        expect((yield* limiter.check(tok)).remaining).toBe(3)
      }))

    it.effect("rate limiter: concurrent requests admit exactly the limit; disabled admits all", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        yield* TestClock.setTime(Windows.utcMillis(2030, 3, 1))
        const results = yield* Effect.all(
          Array.from({ length: 20 }, () => Effect.exit(limiter.check({ tenant_id: "rl-race", token_id: "tok_race" }))),
          { concurrency: capabilities.parallelConnections ? 8 : 4 }
        )
        expect(results.filter(Exit.isSuccess).length).toBe(5)
        const disabled = yield* Effect.provide(
          RateLimiter.RateLimiter,
          RateLimiter.RateLimiter.Default.pipe(
            Layer.provide(GuardrailsConfig.layer({ ...settings, rateLimitEnabled: false }))
          )
        ).pipe(Effect.provide(Layer.succeedContext(yield* Effect.context<GuardrailsPorts.GuardrailsPorts>())))
        for (let i = 0; i < 10; i++)
          expect((yield* disabled.check({ tenant_id: "rl-race", token_id: "tok_race" })).enabled).toBe(false)
      }))

    it.effect("LLM budget: calls are metered exactly; over the tenant cap the fallback runs and the model is not called", () =>
      Effect.gen(function*() {
        const llm = yield* Budgets.LlmBudget
        const exec = yield* Budgets.ExecutionBudgets
        const probe = yield* GuardProbe
        const { tenant, viewer } = yield* fixture("llm")
        yield* TestClock.setTime(Windows.utcMillis(2030, 4, 10))
        const calls = yield* Ref.make(0)
        const model = Effect.zipRight(
          Ref.update(calls, (n) => n + 1),
          Effect.succeed({ value: "model", usage: { input_tokens: 1234, output_tokens: 1000 } })
        )
        const fallback = Effect.succeed("rules")
        // 1234 × $1/M + 1000 × $2/M = $0.003234 exactly
        const first = yield* llm.call({ tenant_id: tenant.id, task: "categorize", model: "m1", run: model, fallback })
        expect(first).toStrictEqual({
          value: "model",
          fallback_active: false,
          fallback_reason: null,
          cost_usd: 3234n,
          usage: { input_tokens: 1234, output_tokens: 1000 }
        })
        yield* llm.call({ tenant_id: tenant.id, task: "triage", model: "m1", run: model, fallback })
        yield* llm.call({ tenant_id: tenant.id, task: "categorize", model: "m1", run: model, fallback })
        yield* llm.call({ tenant_id: tenant.id, task: "categorize", model: "m1", run: model, fallback })
        expect(yield* probe.spend("ai:llm", "2030-04", "*")).toBe("12936")
        expect(yield* probe.spend("ai:llm", "2030-04", "categorize")).toBe("9702")
        // $0.012936 ≥ $0.01: the check before the call falls back, the model is not called
        const over = yield* llm.call({ tenant_id: tenant.id, task: "categorize", model: "m1", run: model, fallback })
        expect(over).toStrictEqual({
          value: "rules",
          fallback_active: true,
          fallback_reason: "tenant_budget_exceeded",
          cost_usd: 0n,
          usage: null
        })
        expect(yield* Ref.get(calls)).toBe(4)
        const status = yield* llm.status(tenant.id)
        expect(Schema.encodeSync(Budgets.LlmBudgetStatus)(status)).toStrictEqual({
          tenant_id: "llm",
          period: "2030-04",
          fallback_active: true,
          fallback_reason: "tenant_budget_exceeded",
          tenant_spent_usd: "0.012936",
          tenant_cap_usd: "0.01",
          global_spent_usd: "0.012936",
          global_cap_usd: "0.03"
        })
        // unpriced models are never called
        expect(
          (yield* llm.call({ tenant_id: "other", task: "x", model: "unknown", run: model, fallback })).fallback_reason
        ).toBe("model_unpriced")
        // a tenant may carry its own cap; the summary breaks AI spend down by task
        const summary = Schema.encodeSync(Budgets.BillingSummary)(yield* exec.summary(viewer))
        expect(summary).toMatchObject({
          ai_spent_actual_usd: "0.012936",
          ai_by_task: { categorize: "0.009702", triage: "0.003234" },
          budget_status: "ok",
          limit_usd: null
        })
        // next month the meter starts from zero
        yield* TestClock.setTime(Windows.utcMillis(2030, 5, 1))
        expect(
          (yield* llm.call({ tenant_id: tenant.id, task: "categorize", model: "m1", run: model, fallback }))
            .fallback_active
        ).toBe(false)
      }))

    it.effect("LLM budget: the global cap stops every tenant; a failing budget read fails closed; provider errors fall back", () =>
      Effect.gen(function*() {
        const llm = yield* Budgets.LlmBudget
        yield* TestClock.setTime(Windows.utcMillis(2030, 6, 3))
        const big = Effect.succeed({ value: "model", usage: { input_tokens: 0, output_tokens: 5000 } }) // $0.01
        const fallback = Effect.succeed("rules")
        for (const t of ["g1", "g2", "g3"])
          yield* llm.call({ tenant_id: t, task: "t", model: "m1", run: big, fallback })
        const blocked = yield* llm.call({ tenant_id: "g4", task: "t", model: "m1", run: big, fallback })
        expect([blocked.fallback_active, blocked.fallback_reason]).toStrictEqual([true, "global_budget_exceeded"])
        // the store cannot be read: no model call
        const failing = Layer.succeed(BudgetStore.BudgetStore, {
          add: () => Effect.fail(new Errors.StorageError({ message: "down" })),
          read: () => Effect.fail(new Errors.StorageError({ message: "down" })),
          totals: () => Effect.fail(new Errors.StorageError({ message: "down" })),
          getLimit: () => Effect.fail(new Errors.StorageError({ message: "down" })),
          putLimit: () => Effect.fail(new Errors.StorageError({ message: "down" }))
        })
        const context = yield* Effect.context<any>()
        const blind = yield* Budgets.LlmBudget.pipe(
          Effect.provide(
            Budgets.LlmBudget.Default.pipe(Layer.provide(failing), Layer.provide(Layer.succeedContext(context)))
          )
        )
        let called = false
        const closed = yield* blind.call({
          tenant_id: "g5",
          task: "t",
          model: "m1",
          run: Effect.sync(() => (called = true, { value: "model", usage: { input_tokens: 1, output_tokens: 1 } })),
          fallback
        })
        expect([closed.fallback_reason, called]).toStrictEqual(["budget_unavailable", false])
        // through a provider: a failing call uses the fallback and counts against the provider
        yield* TestClock.setTime(Windows.utcMillis(2030, 7, 1))
        const broken = yield* llm.call({
          tenant_id: "g6",
          task: "t",
          model: "m1",
          provider: "p-llm",
          run: Effect.fail("timeout"),
          fallback
        })
        expect(broken.fallback_reason).toBe("provider_error")
        expect((yield* (yield* ProviderBreaker.ProviderBreaker).state("p-llm")).consecutive_failures).toBe(1)
      }))

    it.effect("execution budgets: refused at or past the limit with exec.budget.exceeded; summary statuses; month rollover", () =>
      Effect.gen(function*() {
        const exec = yield* Budgets.ExecutionBudgets
        const probe = yield* GuardProbe
        const { tenant, human, controller } = yield* fixture("budget")
        yield* TestClock.setTime(Windows.utcMillis(2031, 1, 15))
        const denied = yield* Effect.exit(exec.setBudget(human, { limit_usd: Usd.usd("100") }))
        expect(failureCode(denied)).toBe("rbac.forbidden")
        const input = Schema.decodeUnknownSync(Budgets.BudgetInput)({ limit_usd: "100.00" })
        const set = yield* exec.setBudget(controller, input)
        expect([set.limit_usd, set.budget_status, set.remaining_estimated_usd]).toStrictEqual([
          100_000_000n,
          "ok",
          100_000_000n
        ])
        expect(yield* probe.budget(tenant.id)).toBe("100000000")
        expect(Schema.decodeUnknownEither(Budgets.BudgetInput)({ limit_usd: "1.0000001" })._tag).toBe("Left")
        yield* exec.charge(tenant.id, "nightly", Usd.usd("79.99"))
        const ok = Schema.encodeSync(Budgets.BillingSummary)(yield* exec.summary(controller))
        expect(ok).toMatchObject({
          period: "2031-01",
          budget_status: "ok",
          spent_usd: "79.99",
          remaining_estimated_usd: "20.01",
          exec_by_task: { nightly: "79.99" }
        })
        yield* exec.charge(tenant.id, "adhoc", Usd.usd("0.01"))
        expect((yield* exec.summary(controller)).budget_status).toBe("warning")
        expect(yield* probe.spend("exec:budget", "2031-01", "*")).toBe("80000000")
        expect(yield* (yield* BudgetStore.BudgetStore).totals(["exec:budget", "exec:nobody", "ai:budget"], "2031-01"))
          .toStrictEqual([80_000_000n, 0n, 0n])
        // the runbook blocks when spent_usd >= limit_usd: 99.999999 is below, so 1.00 more is admitted
        yield* exec.charge(tenant.id, "adhoc", Usd.usd("19.999999"))
        const full = Schema.encodeSync(Budgets.BillingSummary)(yield* exec.summary(controller))
        expect(full).toMatchObject({
          spent_usd: "99.999999",
          remaining_estimated_usd: "0.000001",
          budget_status: "warning"
        })
        yield* exec.charge(tenant.id, "adhoc", Usd.usd("1"))
        // 100.999999 ≥ 100.00: refused from now on, nothing charged
        const refused = yield* Effect.flip(exec.charge(tenant.id, "adhoc", 1n))
        expect(refused).toMatchObject({
          _tag: "BudgetExceeded",
          code: "exec.budget.exceeded",
          details: { limit_usd: "100.00", spent_usd: "100.999999", estimate_usd: "0.000001" }
        })
        expect(Errors.httpStatus(refused)).toBe(409)
        expect(yield* probe.spend("exec:budget", "2031-01", "*")).toBe("100999999")
        expect(Schema.encodeSync(Budgets.BillingSummary)(yield* exec.summary(controller))).toMatchObject({
          budget_status: "exceeded",
          remaining_estimated_usd: "0.00"
        })
        // lowering the limit under the spend shows `exceeded`
        yield* exec.setBudget(controller, { limit_usd: Usd.usd("50") })
        expect(Schema.encodeSync(Budgets.BillingSummary)(yield* exec.summary(controller))).toMatchObject({
          budget_status: "exceeded",
          remaining_estimated_usd: "0.00"
        })
        // month rollover: a fresh budget
        yield* TestClock.setTime(Windows.utcMillis(2031, 2, 1))
        const fresh = yield* exec.summary(controller)
        expect([fresh.period, fresh.spent_usd, fresh.budget_status]).toStrictEqual(["2031-02", 0n, "ok"])
        yield* exec.charge(tenant.id, "nightly", Usd.usd("49"))
        const audit = (yield* (yield* Audit.AuditLog).list(tenant.id)).filter((r) => r.action === "billing.budget_set")
        expect(audit.map((r) => r.data)).toStrictEqual([{ before: null, after: "100.00" }, {
          before: "100.00",
          after: "50.00"
        }])
      }))

    it.effect("execution budgets: concurrent charges stop once the limit is reached", () =>
      Effect.gen(function*() {
        const exec = yield* Budgets.ExecutionBudgets
        const { controller, tenant } = yield* fixture("budget-race")
        yield* TestClock.setTime(Windows.utcMillis(2031, 3, 2))
        yield* exec.setBudget(controller, { limit_usd: Usd.usd("10") })
        const results = yield* Effect.all(
          Array.from({ length: 16 }, () => Effect.exit(exec.charge(tenant.id, "job", Usd.usd("1")))),
          { concurrency: capabilities.parallelConnections ? 8 : 4 }
        )
        // admitted while spent_usd < limit_usd: 10 × $1 fit, the 11th finds $10 spent
        expect(results.filter(Exit.isSuccess).length).toBe(10)
        expect((yield* exec.summary(controller)).spent_usd).toBe(Usd.usd("10"))
      }))

    it.effect("approvals: risk ≥ 0.70 needs an approval bound to subject and plan hash, re-checked at apply", () =>
      Effect.gen(function*() {
        const { tenant, human, controller, viewer } = yield* fixture("appr")
        const approvals = yield* Approvals.Approvals
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* GuardProbe
        yield* TestClock.setTime(Windows.utcMillis(2031, 4, 1))
        const build = { job_name: "nightly", plan: "v1", risk_score: 0.7, estimated_cost_usd: "1.00" }
        const first = yield* Effect.flip(propose(tenant.id, human, "g.build", build))
        expect(first).toMatchObject({ _tag: "ApprovalRequired", code: "approval_required", subject: "job:nightly" })
        const hash = (first as Errors.ApprovalRequired).plan_hash
        expect(hash).toMatch(/^[0-9a-f]{64}$/)
        expect(Errors.httpStatus(first as Errors.ApprovalRequired)).toBe(409)
        expect(yield* probe.approval(tenant.id, "job:nightly", hash)).toMatchObject({
          requested_by: human.id,
          granted_at: null
        })
        expect((yield* approvals.status(viewer, "job:nightly", hash)).status).toBe("pending")
        // the requester cannot approve itself; a viewer cannot approve at all
        expect(failureCode(yield* Effect.exit(approvals.grant(human, { subject: "job:nightly", plan_hash: hash }))))
          .toBe("rbac.forbidden")
        const granted = yield* approvals.grant(controller, {
          subject: "job:nightly",
          plan_hash: hash,
          approver: "alice",
          notes: "reviewed"
        })
        expect(granted).toMatchObject({
          status: "approved",
          approved: true,
          approver: controller.id,
          approver_name: "alice",
          notes: "reviewed",
          expires_at: Windows.utcMillis(2031, 4, 1) + 3_600_000
        })
        expect(Schema.encodeSync(Approvals.ApprovalView)(granted)).toMatchObject({
          subject: "job:nightly",
          plan_hash: hash,
          status: "approved"
        })
        const proposed = yield* propose(tenant.id, human, "g.build", build)
        expect(proposed.action.payload_hash).toBe(hash)
        expect(proposed.trace?.gates.find((g) => g.gate === "approval")).toMatchObject({
          verdict: "allow",
          inputs: { risk_score: 0.7, approver: controller.id }
        })
        // a changed plan is another hash: a new approval is needed
        const changed = yield* Effect.flip(propose(tenant.id, human, "g.build", { ...build, plan: "v2" }))
        expect(changed).toMatchObject({ code: "approval_required", subject: "job:nightly" })
        expect((changed as Errors.ApprovalRequired).plan_hash).not.toBe(hash)
        // below the threshold no approval is needed
        expect((yield* propose(tenant.id, human, "g.build", { ...build, risk_score: 0.69 })).action.status).toBe(
          "proposed"
        )
        // revoked before apply: the apply-time re-check refuses
        yield* approvals.revoke(controller, "job:nightly", hash)
        expect((yield* approvals.status(viewer, "job:nightly", hash)).status).toBe("revoked")
        const applyRevoked = yield* Effect.exit(pipeline.apply(tenant.id, proposed.action.id, human))
        expect(failureCode(applyRevoked)).toBe("approval_required")
        expect(yield* probe.approval(tenant.id, "job:nightly", hash)).toMatchObject({ revoked_by: controller.id })
        // granted again, then expired by the TTL: refused; granted again: applied
        yield* approvals.grant(controller, { subject: "job:nightly", plan_hash: hash })
        yield* TestClock.adjust("3600 seconds")
        expect((yield* approvals.status(controller, "job:nightly", hash)).status).toBe("expired")
        expect(failureCode(yield* Effect.exit(pipeline.apply(tenant.id, proposed.action.id, human)))).toBe(
          "approval_required"
        )
        yield* approvals.grant(controller, { subject: "job:nightly", plan_hash: hash })
        const applied = yield* pipeline.apply(tenant.id, proposed.action.id, human)
        expect(applied.action.status).toBe("applied")
        expect(applied.trace?.gates.find((g) => g.gate === "approval")?.verdict).toBe("allow")
        const audit = (yield* (yield* Audit.AuditLog).list(tenant.id)).map((r) => r.action).filter((a) =>
          a.startsWith("approval.")
        )
        expect(audit).toStrictEqual(["approval.granted", "approval.revoked", "approval.granted", "approval.granted"])
        expect(failureCode(yield* Effect.exit(approvals.revoke(controller, "job:none", hash)))).toBe("not_found")
        expect((yield* approvals.status(controller, "job:none", hash)).status).toBe("none")
      }))

    it.effect("approvals: the proposer of an action can never approve it, even granted before it asked", () =>
      Effect.gen(function*() {
        const { tenant, human, controller } = yield* fixture("appr-self")
        const pipeline = yield* GovernedActions.GovernedActions
        const build = { job_name: "j", plan: "p", risk_score: 0.9, estimated_cost_usd: "0" }
        const hash =
          ((yield* Effect.flip(propose(tenant.id, controller, "g.build", build))) as Errors.ApprovalRequired).plan_hash
        const self = yield* Effect.flip(
          (yield* Approvals.Approvals).grant(controller, { subject: "job:j", plan_hash: hash })
        )
        expect(self).toMatchObject({ _tag: "Forbidden", code: "approval.self_approval" })
        // an approval granted before anyone asked is still worthless to its approver: the admin
        // pre-approves a plan, then cannot propose and run it on its own approval
        const t2 = yield* fixture("appr-self2")
        const hash2 =
          ((yield* Effect.flip(propose(t2.tenant.id, t2.controller, "g.build", build))) as Errors.ApprovalRequired)
            .plan_hash
        yield* (yield* Approvals.Approvals).grant(t2.admin, { subject: "job:j", plan_hash: hash2 })
        const byAdmin = yield* Effect.flip(propose(t2.tenant.id, t2.admin, "g.build", build))
        expect(byAdmin).toMatchObject({ code: "approval_required", details: { status: "self_approved" } })
        const byController = yield* propose(t2.tenant.id, t2.controller, "g.build", build)
        expect((yield* pipeline.apply(t2.tenant.id, byController.action.id, t2.human)).action.status).toBe("applied")
        void human
      }))

    it.effect("budget gate: proposals check the budget, apply charges it in the apply transaction", () =>
      Effect.gen(function*() {
        const { tenant, human, controller } = yield* fixture("bgate")
        const exec = yield* Budgets.ExecutionBudgets
        const pipeline = yield* GovernedActions.GovernedActions
        yield* TestClock.setTime(Windows.utcMillis(2031, 5, 1))
        yield* exec.setBudget(controller, { limit_usd: Usd.usd("10") })
        const a = yield* propose(tenant.id, human, "g.build", {
          job_name: "a",
          plan: "1",
          risk_score: 0,
          estimated_cost_usd: "6"
        })
        const b = yield* propose(tenant.id, human, "g.build", {
          job_name: "b",
          plan: "1",
          risk_score: 0,
          estimated_cost_usd: "6"
        })
        expect(a.trace?.gates.find((g) => g.gate === "budget")).toMatchObject({
          verdict: "allow",
          inputs: { estimate_usd: "6.00", charged: false, task: "a" }
        })
        const d = yield* propose(tenant.id, human, "g.build", {
          job_name: "d",
          plan: "1",
          risk_score: 0,
          estimated_cost_usd: "1"
        })
        yield* pipeline.apply(tenant.id, a.action.id, human)
        // the runbook blocks once spent_usd >= limit_usd: 6 < 10, so b is admitted and takes the spend to 12
        yield* pipeline.apply(tenant.id, b.action.id, human)
        const third = yield* Effect.exit(pipeline.apply(tenant.id, d.action.id, human))
        expect(failureCode(third)).toBe("exec.budget.exceeded")
        const summary = yield* exec.summary(controller)
        expect([summary.spent_usd, summary.exec_by_task, summary.budget_status]).toStrictEqual([
          Usd.usd("12"),
          { a: Usd.usd("6"), b: Usd.usd("6") },
          "exceeded"
        ])
        const tooLate = yield* Effect.exit(
          propose(tenant.id, human, "g.build", { job_name: "c", plan: "1", risk_score: 0, estimated_cost_usd: "0.01" })
        )
        expect(failureCode(tooLate)).toBe("exec.budget.exceeded")
      }))

    it.effect("policies apply by declaration only: payload field names alone gate nothing", () =>
      Effect.gen(function*() {
        const { tenant, human, controller } = yield* fixture("declared")
        const exec = yield* Budgets.ExecutionBudgets
        const pipeline = yield* GovernedActions.GovernedActions
        const registry = yield* ActionRegistry.ActionRegistry
        const probe = yield* GuardProbe
        const gates = yield* Gates.make
        const now = Windows.utcMillis(2031, 7, 1)
        yield* TestClock.setTime(now)
        yield* exec.setBudget(controller, { limit_usd: Usd.usd("1") })
        const risky = { job_name: "risky", plan: "p", risk_score: 0.99, estimated_cost_usd: "5" }
        // a kind that declares no policy: no approval, no budget check or charge, no value breaker, no lockdown
        const undeclared = yield* propose(tenant.id, human, "g.undeclared", {
          ...risky,
          amount_cents: 10_000_000,
          protected: true
        })
        expect(undeclared.action.status).toBe("proposed")
        expect(undeclared.action.review_reasons).toStrictEqual([])
        const gatesRun = undeclared.trace?.gates.map((g) => [g.gate, g.verdict, g.inputs])
        expect(gatesRun).toContainEqual(["budget", "allow", { estimate_usd: null }])
        expect(gatesRun).toContainEqual(["approval", "allow", { risk_score: null }])
        expect(undeclared.trace?.gates.map((g) => g.gate)).not.toContain("lockdown")
        expect(undeclared.trace?.gates.map((g) => g.gate)).not.toContain("value_breaker")
        const kind = (name: string) => Option.getOrThrow(registry.kind(name))
        expect(gates.lockdownGate.appliesTo?.(kind("g.undeclared"))).toBe(false)
        expect(gates.lockdownGate.appliesTo?.(kind("g.build"))).toBe(true)
        expect(yield* probe.approval(tenant.id, "job:risky", undeclared.action.payload_hash)).toBe(null)
        const applied = yield* pipeline.apply(tenant.id, undeclared.action.id, human)
        expect(applied.action.status).toBe("applied")
        expect(yield* probe.spend(BudgetStore.Scopes.exec(tenant.id), Windows.monthKey(now), "risky")).toBe(null)
        expect((yield* exec.summary(controller)).spent_usd).toBe(0n)
        // the same payload under a kind that declares the build-request policy is gated: the risk
        // needs an approval, and once the budget is spent (the budget gate runs first) it is refused
        const required = yield* Effect.flip(propose(tenant.id, human, "g.build", risky))
        expect(required).toMatchObject({ _tag: "ApprovalRequired", code: "approval_required", subject: "job:risky" })
        expect(Errors.httpStatus(required as Errors.ApprovalRequired)).toBe(409)
        yield* exec.charge(tenant.id, "earlier", Usd.usd("1"))
        const overBudget = yield* Effect.flip(propose(tenant.id, human, "g.build", risky))
        expect(overBudget).toMatchObject({ _tag: "BudgetExceeded", code: "exec.budget.exceeded" })
        expect(Errors.httpStatus(overBudget as Errors.BudgetExceeded)).toBe(409)
      }))

    it.effect("stop conditions: repeated provider failures stop the run: overrides, one event, loops exit cleanly", () =>
      Effect.gen(function*() {
        const stops = yield* StopConditions.StopConditions
        const providers = yield* ProviderBreaker.ProviderBreaker
        const probe = yield* GuardProbe
        const { admin } = yield* fixture("stop")
        yield* TestClock.setTime(Windows.utcMillis(2032, 1, 1))
        yield* stops.resume(admin)
        const before = (yield* probe.events("stop_condition")).filter((e) =>
          e.type === StopConditions.STOP_EVENT
        ).length
        const steps = yield* Ref.make(0)
        const loop = yield* Effect.fork(stops.runWhileActive(Ref.update(steps, (n) => n + 1), "10 seconds"))
        // the loop reads storage between sleeps (real I/O on SQL): move the clock only once it sleeps
        yield* untilSleeping
        yield* TestClock.adjust("10 seconds")
        yield* untilSleeping
        yield* TestClock.adjust("10 seconds")
        yield* untilSleeping
        expect(yield* Ref.get(steps)).toBe(3)
        for (let i = 0; i < 3; i++) yield* providers.recordFailure(`p-stop-${i}`)
        expect((yield* stops.observe).should_stop).toBe(false)
        yield* TestClock.adjust("100 seconds")
        yield* providers.recordFailure("p-stop-3")
        expect(yield* probe.systemState(StopConditions.RUN_ACTIVE_KEY)).toBe(false)
        expect(yield* probe.systemState(StopConditions.RUN_PAUSED_KEY)).toBe(true)
        expect(yield* probe.systemState(StopConditions.STOP_KEY)).toMatchObject({
          reason: "provider_failures_repeated",
          data: { failures: 4, threshold: 4, window_seconds: 300 }
        })
        yield* providers.recordFailure("p-stop-4")
        const stopsNow = (yield* probe.events("stop_condition")).filter((e) => e.type === StopConditions.STOP_EVENT)
        expect(stopsNow.length).toBe(before + 1)
        expect(stopsNow.at(-1)).toMatchObject({ reason: "provider_failures_repeated", tenant_id: null })
        yield* untilSleeping
        yield* TestClock.adjust("10 seconds")
        const ended = yield* Fiber.join(loop)
        expect([ended.should_stop, ended.stop?.reason]).toStrictEqual([true, "provider_failures_repeated"])
        yield* stops.resume(admin)
        expect((yield* stops.observe).should_stop).toBe(false)
        expect(failureCode(yield* Effect.exit(stops.resume((yield* fixture("stop-b")).human)))).toBe("rbac.forbidden")
      }))

    it.effect("stop conditions: sustained pool pressure and the hard daily LLM budget stop the run", () =>
      Effect.gen(function*() {
        const stops = yield* StopConditions.StopConditions
        const llm = yield* Budgets.LlmBudget
        const probe = yield* GuardProbe
        const { admin } = yield* fixture("stop2")
        yield* TestClock.setTime(Windows.utcMillis(2032, 2, 1))
        yield* stops.resume(admin)
        yield* stops.recordPoolSample({ in_use: 10, size: 10 })
        yield* stops.recordPoolSample({ in_use: 10, size: 10 })
        yield* stops.recordPoolSample({ in_use: 5, size: 10 }) // the streak breaks
        yield* stops.recordPoolSample({ in_use: 9, size: 10 })
        yield* stops.recordPoolSample({ in_use: 10, size: 10 })
        expect((yield* stops.observe).should_stop).toBe(false)
        expect(yield* stops.recordPoolSample({ in_use: 10, size: 10 })).toBe(true)
        expect(yield* probe.systemState(StopConditions.STOP_KEY)).toMatchObject({
          reason: "db_pool_pressure",
          data: { samples: 3, threshold: 0.9 }
        })
        yield* stops.resume(admin)
        // hard budget: $0.05 of global spend in one UTC day
        for (let i = 0; i < 4; i++)
          yield* llm.meter({
            tenant_id: `hb${i}`,
            task: "t",
            model: "m1",
            usage: { input_tokens: 0, output_tokens: 6000 }
          })
        expect((yield* stops.observe).should_stop).toBe(false)
        yield* llm.meter({ tenant_id: "hb4", task: "t", model: "m1", usage: { input_tokens: 0, output_tokens: 6000 } })
        expect(yield* probe.systemState(StopConditions.STOP_KEY)).toMatchObject({
          reason: "budget_hard_exceeded",
          data: { spent_usd: "0.06", hard_cap_usd: "0.05", day: "2032-02-01" }
        })
        const reasons = (yield* probe.events("stop_condition")).filter((e) => e.type === StopConditions.STOP_EVENT).map(
          (e) => e.reason
        )
        expect(reasons.slice(-2)).toStrictEqual(["db_pool_pressure", "budget_hard_exceeded"])
        yield* stops.resume(admin)
        // instances tripping at once: one stop, one event (several rounds: the race is narrow)
        for (let round = 0; round < 10; round++) {
          const before = (yield* probe.events("stop_condition")).filter((e) =>
            e.type === StopConditions.STOP_EVENT
          ).length
          const racing = yield* Effect.all(
            Array.from({ length: 6 }, () => stops.trip("provider_failures_repeated", { failures: 9 })),
            { concurrency: capabilities.parallelConnections ? 6 : 3 }
          )
          yield* stops.resume(admin)
          expect(racing.filter((x) => x).length).toBe(1)
          expect((yield* probe.events("stop_condition")).filter((e) => e.type === StopConditions.STOP_EVENT).length)
            .toBe(before + 1)
        }
        // the next day starts from zero
        yield* TestClock.adjust("1 day")
        expect(yield* stops.checkHardBudget).toBe(false)
      }))

    it.effect("stop conditions: two instances tripping while the first is slow to write still stop the run once", () =>
      Effect.gen(function*() {
        const stops = yield* StopConditions.StopConditions
        const probe = yield* GuardProbe
        const { admin } = yield* fixture("stop3")
        yield* stops.resume(admin)
        // A store that pauses (real time) after a successful compare-and-set of the stop breaker:
        // the moment in which another instance reads the new version. It must then find the run
        // stopped, or wait for it, and never trip a second time.
        const store = yield* Breakers.BreakerStore
        const slow = Layer.succeed(Breakers.BreakerStore, {
          ...store,
          put: (record, expected) =>
            Effect.tap(store.put(record, expected), (ok) =>
              ok && record.key === "stop:run"
                ? Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 50)))
                : Effect.void)
        })
        const instance = Effect.provide(
          StopConditions.StopConditions,
          StopConditions.StopConditions.Default.pipe(Layer.provide(slow))
        )
        const [first, second] = [yield* instance, yield* instance]
        const before = (yield* probe.events("stop_condition")).filter((e) =>
          e.type === StopConditions.STOP_EVENT
        ).length
        const tripped = yield* Effect.all(
          [
            first.trip("provider_failures_repeated", { failures: 9 }),
            Effect.zipRight(
              Effect.sleep("10 millis").pipe(Effect.withClock(Clock.make())),
              second.trip("provider_failures_repeated", { failures: 9 })
            )
          ],
          { concurrency: 2 }
        )
        const events = (yield* probe.events("stop_condition")).filter((e) =>
          e.type === StopConditions.STOP_EVENT
        ).length
        yield* stops.resume(admin)
        expect(tripped.filter((x) => x).length).toBe(1)
        expect(events).toBe(before + 1)
      }))

    it.effect("lockdown: admin lockdown denies protected actions; unlock with the current code; wrong codes limited", () =>
      Effect.gen(function*() {
        const lockdown = yield* Lockdown.Lockdown
        const probe = yield* GuardProbe
        const { tenant, human, admin, agent, controller } = yield* fixture("lock")
        yield* TestClock.setTime(Windows.utcMillis(2033, 1, 1))
        expect(failureCode(yield* Effect.exit(lockdown.lock(controller)))).toBe("rbac.forbidden")
        const state = yield* lockdown.lock(admin, "incident 42")
        expect(state).toMatchObject({
          active: true,
          source: "admin",
          reason: "incident 42",
          set_by: admin.id,
          code_expires_at: null
        })
        const denied = yield* Effect.flip(
          propose(tenant.id, human, "g.build", { job_name: "x", plan: "1", risk_score: 0, estimated_cost_usd: "0" })
        )
        expect(denied).toMatchObject({ _tag: "LockdownActive", code: "lockdown.active" })
        expect(Errors.httpStatus(denied as Errors.LockdownActive)).toBe(403)
        // unprotected actions go on
        expect((yield* propose(tenant.id, agent, "g.note", { note: "fine" })).action.status).toBe("proposed")
        const rotated = yield* lockdown.rotateCode(admin)
        expect(rotated.code).toMatch(/^[0-9A-Z]{10}$/)
        const stored = yield* probe.systemState(Lockdown.UNLOCK_CODE_KEY)
        expect(JSON.stringify(stored)).not.toContain(rotated.code)
        expect((stored as any).hash).toBe(Lockdown.codeHash(rotated.code, (stored as any).salt))
        // wrong codes: counted; the 4th attempt in the window is rate limited, even with the right code
        for (let i = 0; i < 3; i++)
          expect(failureCode(yield* Effect.exit(lockdown.unlock(admin, "WRONGCODE0")))).toBe("lockdown.code_invalid")
        const limited = yield* Effect.flip(lockdown.unlock(admin, rotated.code))
        expect(limited).toMatchObject({ _tag: "RateLimited", code: "rate_limited", retry_after_seconds: 900 })
        yield* TestClock.adjust("900 seconds")
        // an old code stops working after a rotation
        const newer = yield* lockdown.rotateCode(admin)
        expect(failureCode(yield* Effect.exit(lockdown.unlock(admin, rotated.code)))).toBe("lockdown.code_invalid")
        const unlocked = yield* lockdown.unlock(admin, newer.code.toLowerCase())
        expect(unlocked.active).toBe(false)
        expect(
          (yield* propose(tenant.id, human, "g.build", {
            job_name: "x",
            plan: "1",
            risk_score: 0,
            estimated_cost_usd: "0"
          })).action.status
        ).toBe("proposed")
        // the code is spent
        yield* lockdown.lock(admin)
        expect(failureCode(yield* Effect.exit(lockdown.unlock(admin, newer.code)))).toBe("lockdown.code_invalid")
        // codes expire
        const third = yield* lockdown.rotateCode(admin)
        yield* TestClock.adjust("600 seconds")
        expect(failureCode(yield* Effect.exit(lockdown.unlock(admin, third.code)))).toBe("lockdown.code_expired")
        // three attempts used in this window: the next window starts afresh
        yield* TestClock.adjust("900 seconds")
        const fourth = yield* lockdown.rotateCode(admin)
        expect((yield* lockdown.unlock(admin, fourth.code)).active).toBe(false)
        const types = (yield* probe.events("lockdown")).map((e) => e.type)
        expect(types.filter((t) => t === "lockdown").length).toBeGreaterThanOrEqual(2)
        expect(types.filter((t) => t === "unlock").length).toBeGreaterThanOrEqual(2)
        const audit = (yield* (yield* Audit.AuditLog).list(tenant.id)).map((r) => r.action).filter((a) =>
          a.startsWith("system.")
        )
        expect(audit).toContain("system.lockdown")
        expect(audit).toContain("system.unlock")
      }))

    it.effect("lockdown: unlock with none active is refused (409 lockdown.not_active); nothing written, code kept", () =>
      Effect.gen(function*() {
        const lockdown = yield* Lockdown.Lockdown
        const probe = yield* GuardProbe
        const { tenant, admin, controller } = yield* fixture("lock-idle")
        const now = Windows.utcMillis(2033, 3, 1)
        yield* TestClock.setTime(now)
        expect(yield* lockdown.isActive).toBe(false)
        const rotated = yield* lockdown.rotateCode(admin)
        const storedBefore = yield* probe.systemState(Lockdown.UNLOCK_CODE_KEY)
        const eventsBefore = yield* probe.events("lockdown")
        const unlockAudits = Effect.map(
          Effect.flatMap(Audit.AuditLog, (a) => a.list(tenant.id)),
          (rows) => rows.filter((r) => r.action === "system.unlock").length
        )
        // the role is still checked first
        expect(failureCode(yield* Effect.exit(lockdown.unlock(controller, rotated.code)))).toBe("rbac.forbidden")
        // the right code and wrong ones, past the attempt limit (3): each is not_active, none is rate limited
        for (const code of [rotated.code, "WRONGCODE0", "WRONGCODE0", "WRONGCODE0", "WRONGCODE0"]) {
          const refused = yield* Effect.flip(lockdown.unlock(admin, code))
          expect(refused).toMatchObject({ _tag: "Conflict", code: "lockdown.not_active" })
          expect(Errors.httpStatus(refused as Errors.Conflict)).toBe(409)
        }
        // nothing written: no event, no audit, no attempt counted, the code stored as it was
        expect(yield* probe.events("lockdown")).toStrictEqual(eventsBefore)
        expect(yield* unlockAudits).toBe(0)
        expect(yield* probe.counter("lockdown:unlock_failures", Windows.windowStart(now, 900_000))).toBeNull()
        expect(yield* probe.systemState(Lockdown.UNLOCK_CODE_KEY)).toStrictEqual(storedBefore)
        expect((yield* lockdown.current).active).toBe(false)
        // the code, not spent, lifts the next lockdown
        yield* lockdown.lock(admin, "drill")
        expect((yield* lockdown.unlock(admin, rotated.code)).active).toBe(false)
        expect(yield* unlockAudits).toBe(1)
        // and a second unlock of the same code finds nothing to lift
        expect(failureCode(yield* Effect.exit(lockdown.unlock(admin, rotated.code)))).toBe("lockdown.not_active")
      }))

    it.effect("lockdown: a burst of readiness failures or rollbacks engages it automatically", () =>
      Effect.gen(function*() {
        const lockdown = yield* Lockdown.Lockdown
        const probe = yield* GuardProbe
        const { admin } = yield* fixture("lock-auto")
        yield* TestClock.setTime(Windows.utcMillis(2033, 2, 1))
        expect(yield* lockdown.recordSignal("readiness_failure")).toBe(false)
        yield* TestClock.adjust("11 minutes")
        // the first failure has left the 10-minute window
        expect(yield* lockdown.recordSignal("readiness_failure")).toBe(false)
        expect(yield* lockdown.recordSignal("readiness_failure")).toBe(false)
        expect(yield* lockdown.isActive).toBe(false)
        expect(yield* lockdown.recordSignal("readiness_failure")).toBe(true)
        const state = yield* lockdown.current
        expect(state).toMatchObject({ active: true, source: "auto", reason: "readiness_failure_burst" })
        expect((yield* probe.events("lockdown")).at(-1)).toMatchObject({
          type: "lockdown",
          reason: "readiness_failure_burst",
          data: { count: 3, threshold: 3 }
        })
        yield* lockdown.unlock(admin, (yield* lockdown.rotateCode(admin)).code)
        yield* lockdown.recordSignal("rollback")
        expect(yield* lockdown.recordSignal("rollback")).toBe(true)
        expect((yield* lockdown.current).reason).toBe("rollback_burst")
        yield* lockdown.unlock(admin, (yield* lockdown.rotateCode(admin)).code)
        expect(yield* lockdown.isActive).toBe(false)
      }))

    it.effect("optional gates: run stop, rate limit, media policy, LLM budget and provider breaker in the pipeline", () =>
      Effect.gen(function*() {
        const { tenant, human, admin } = yield* fixture("opt")
        const pipeline = yield* GovernedActions.GovernedActions
        const stops = yield* StopConditions.StopConditions
        const llm = yield* Budgets.LlmBudget
        const providers = yield* ProviderBreaker.ProviderBreaker
        yield* TestClock.setTime(Windows.utcMillis(2034, 1, 1))
        const fetch = {
          url: "https://media.example.com/a.jpg",
          mime_type: "image/jpeg",
          size_bytes: 1000,
          target_path: "t1/a.jpg",
          provider: "p-opt"
        }
        const ok = yield* propose(tenant.id, human, "g.fetch", fetch)
        expect(ok.trace?.gates.map((g) => [g.gate, g.verdict])).toStrictEqual([
          ["tenant_scope", "allow"],
          ["run_active", "allow"],
          ["rbac", "allow"],
          ["rate_limit", "allow"],
          ["media_policy", "allow"],
          ["budget", "allow"],
          ["llm_budget", "allow"],
          ["approval", "allow"]
        ])
        const host = yield* Effect.flip(
          propose(tenant.id, human, "g.fetch", { ...fetch, url: "https://evil.example.com/a.jpg" })
        )
        expect(host).toMatchObject({ _tag: "ValidationError", code: "media_host_denied" })
        expect(
          failureCode(
            yield* Effect.exit(propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "../../etc/x" }))
          )
        ).toBe("media_path_unsafe")
        // three proposals so far took rate slots (5 a minute per actor); two more fit
        yield* propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/b.jpg" })
        yield* propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/c.jpg" })
        expect(yield* Effect.flip(propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/d.jpg" })))
          .toMatchObject({ code: "rate_limited" })
        yield* TestClock.adjust("2 minutes")
        // the tenant's LLM spend reaches its cap: actions that would call a model are refused
        yield* llm.meter({
          tenant_id: tenant.id,
          task: "t",
          model: "m1",
          usage: { input_tokens: 0, output_tokens: 6000 }
        })
        expect(yield* Effect.flip(propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/e.jpg" })))
          .toMatchObject({ _tag: "BudgetExceeded", code: "llm.budget.exceeded" })
        yield* TestClock.setTime(Windows.utcMillis(2034, 2, 1))
        const later = yield* propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/f.jpg" })
        // the provider's breaker opens: applying (which would call it) is refused until it cools down
        for (let i = 0; i < 3; i++) yield* providers.recordFailure("p-opt")
        expect(yield* Effect.flip(pipeline.apply(tenant.id, later.action.id, human))).toMatchObject({
          _tag: "Unavailable",
          details: { provider: "p-opt", state: "open" }
        })
        yield* TestClock.adjust("30 seconds")
        expect((yield* pipeline.apply(tenant.id, later.action.id, human)).action.status).toBe("applied")
        // a stop condition holds the run: refused until resumed
        yield* stops.trip("db_pool_pressure", { samples: 3 })
        const stopped = yield* Effect.flip(propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/g.jpg" }))
        expect(stopped).toMatchObject({ _tag: "Unavailable", details: { stop_reason: "db_pool_pressure" } })
        yield* stops.resume(admin)
        expect((yield* propose(tenant.id, human, "g.fetch", { ...fetch, target_path: "t1/g.jpg" })).action.status).toBe(
          "proposed"
        )
      }))

    it.effect("gates: each verdict and the inputs it records, at propose and apply; what each phase writes", () =>
      Effect.gen(function*() {
        const { tenant, agent, human, controller, admin } = yield* fixture("gates")
        const registry = yield* ActionRegistry.ActionRegistry
        const policies = yield* KindPolicy.KindPolicies
        const probe = yield* GuardProbe
        const tenants = yield* Tenants.Tenants
        const exec = yield* Budgets.ExecutionBudgets
        const approvals = yield* Approvals.Approvals
        const gates = yield* Gates.make
        const now = Windows.utcMillis(2032, 3, 15)
        yield* TestClock.setTime(now)
        const note = Option.getOrThrow(registry.kind("g.note"))
        const build = Option.getOrThrow(registry.kind("g.build"))
        // a kind whose approval is checked at apply only
        const late = { ...build, name: "g.build-late" }
        yield* policies.register("g.build-late", KindPolicy.buildRequest({ approvalAt: "apply" }))
        const settings = yield* tenants.settings(tenant.id)
        const record = (kind: ActionKind.ActionKind, payload: unknown, by: string) =>
          new Action.ActionRecord({
            id: Ids.ActionId.make(`act_${kind.name}_${by}`),
            tenant_id: tenant.id,
            kind: kind.name,
            subject: kind.subject(payload),
            payload: payload as any,
            payload_hash: "ab".repeat(32),
            status: "proposed",
            review_reasons: [],
            idempotency_key: null,
            proposed_by: by,
            proposed_at: now,
            closed_by: null,
            closed_at: null,
            close_reason: null,
            result: null,
            version: 1
          }, true)
        const run = (
          gate: Gate.Gate,
          kind: ActionKind.ActionKind,
          payload: unknown,
          phase: "propose" | "apply",
          actor = agent
        ) =>
          Effect.map(
            gate.evaluate({
              tenant,
              settings,
              actor,
              kind,
              action: record(kind, payload, agent.id),
              payload,
              phase,
              trigger: "auto"
            }),
            (d) =>
              d.verdict === "deny"
                ? { verdict: d.verdict, inputs: d.inputs, code: d.error.code, details: d.error.details }
                : d.verdict === "review"
                ? { verdict: d.verdict, inputs: d.inputs, reasons: d.reasons }
                : { verdict: d.verdict, inputs: d.inputs }
          )
        const vKey = VelocityBreaker.counterKey(tenant.id)
        const window = Windows.windowStart(now, 60_000)

        // velocity: propose counts, apply only checks; over the limit it trips and both deny
        const small = { note: "n", amount_cents: 99_999 }
        expect(yield* run(gates.velocityGate, note, small, "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { count: 1, limit: 10, counted: true }
        })
        expect(yield* run(gates.velocityGate, note, small, "apply")).toStrictEqual({
          verdict: "allow",
          inputs: { count: 1, limit: 10, counted: false }
        })
        expect(yield* probe.counter(vKey, window)).toBe(1)
        for (let i = 2; i <= 10; i++) yield* run(gates.velocityGate, note, small, "propose")
        const until = new Date(now + 120_000).toISOString()
        expect(yield* run(gates.velocityGate, note, small, "propose")).toStrictEqual({
          verdict: "deny",
          inputs: { tenant_id: tenant.id, count: 11, limit: 10, until, counted: true },
          code: "breaker.velocity",
          details: { tenant_id: tenant.id, count: 11, limit: 10, until }
        })
        expect(yield* run(gates.velocityGate, note, small, "apply")).toStrictEqual({
          verdict: "deny",
          inputs: { tenant_id: tenant.id, count: 11, limit: 10, until, counted: false },
          code: "breaker.velocity",
          details: { tenant_id: tenant.id, count: 11, limit: 10, until }
        })
        expect(yield* run(gates.velocityGate, note, small, "propose")).toMatchObject({
          verdict: "deny",
          inputs: { count: 11, counted: true }
        })
        expect(yield* probe.counter(vKey, window)).toBe(11)

        // value breaker: below, at the threshold (review, one event at propose only), no amount
        expect(yield* run(gates.valueGate, note, small, "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { amount: "999.99", threshold: "1000.00", min_tier: null }
        })
        const big = { note: "big", amount_cents: 100_000 }
        const review = {
          verdict: "review",
          inputs: { amount: "1000.00", threshold: "1000.00", min_tier: 2 },
          reasons: ["value_breaker"]
        }
        expect(yield* run(gates.valueGate, note, big, "propose")).toStrictEqual(review)
        expect(yield* run(gates.valueGate, note, big, "apply")).toStrictEqual(review)
        expect((yield* probe.events("value")).filter((e) => e.tenant_id === tenant.id).map((e) => e.data))
          .toStrictEqual([
            { amount: "1000.00", threshold: "1000.00", subject: "note:big", min_tier: 2 }
          ])
        expect(yield* run(gates.valueGate, note, { note: "none" }, "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { amount: null }
        })
        yield* tenants.updateSettings(tenant.id, {
          extensions: { [GuardrailsConfig.TenantKeys.valueBreakerThreshold]: "abc" }
        }, admin)
        const malformed = yield* tenants.settings(tenant.id)
        expect(
          yield* Effect.map(
            gates.valueGate.evaluate({
              tenant,
              settings: malformed,
              actor: agent,
              kind: note,
              action: record(note, small, agent.id),
              payload: small,
              phase: "apply",
              trigger: "auto"
            }),
            (d) => d.verdict
          )
        )
          .toBe("review")

        // budget: no estimate, no limit, within, exceeded; apply charges
        const job = (job_name: string, estimated_cost_usd: string | undefined, risk_score = 0) =>
          estimated_cost_usd === undefined
            ? { job_name, plan: "p", risk_score }
            : { job_name, plan: "p", risk_score, estimated_cost_usd }
        const period = Windows.monthKey(now)
        expect(yield* run(gates.budgetGate, build, job("x", undefined), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { estimate_usd: null }
        })
        expect(yield* run(gates.budgetGate, build, job("a", "6"), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { period, limit_usd: null, spent_usd: "0.00", estimate_usd: "6.00", charged: false, task: "a" }
        })
        yield* exec.setBudget(controller, { limit_usd: Usd.usd("10") })
        expect(yield* run(gates.budgetGate, build, job("a", "6"), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { period, limit_usd: "10.00", spent_usd: "0.00", estimate_usd: "6.00", charged: false, task: "a" }
        })
        expect(yield* run(gates.budgetGate, build, job("a", "6"), "apply")).toStrictEqual({
          verdict: "allow",
          inputs: { period, limit_usd: "10.00", spent_usd: "6.00", estimate_usd: "6.00", charged: true, task: "a" }
        })
        expect(yield* probe.spend(BudgetStore.Scopes.exec(tenant.id), period, "a")).toBe(String(Usd.usd("6")))
        // below the limit (6 < 10) an estimate that reaches it is admitted (the runbook's spent >= limit rule)
        expect(yield* run(gates.budgetGate, build, job("b", "4"), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { period, limit_usd: "10.00", spent_usd: "6.00", estimate_usd: "4.00", charged: false, task: "b" }
        })
        expect(yield* run(gates.budgetGate, build, job("b", "4"), "apply")).toStrictEqual({
          verdict: "allow",
          inputs: { period, limit_usd: "10.00", spent_usd: "10.00", estimate_usd: "4.00", charged: true, task: "b" }
        })
        const over = { period, limit_usd: "10.00", spent_usd: "10.00", estimate_usd: "1.00" }
        expect(yield* run(gates.budgetGate, build, job("c", "1"), "propose")).toStrictEqual({
          verdict: "deny",
          inputs: { ...over, task: "c" },
          code: "exec.budget.exceeded",
          details: over
        })
        expect(yield* run(gates.budgetGate, build, job("c", "1"), "apply")).toStrictEqual({
          verdict: "deny",
          inputs: { ...over, task: "c" },
          code: "exec.budget.exceeded",
          details: over
        })
        expect(yield* probe.spend(BudgetStore.Scopes.exec(tenant.id), period, "c")).toBe(null)

        // approval: no risk, below, missing (request recorded at propose only), granted, self-approved, apply-only
        const hash = "ab".repeat(32)
        expect(yield* run(gates.approvalGate, note, small, "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { risk_score: null }
        })
        expect(yield* run(gates.approvalGate, build, job("low", "0", 0.69), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { risk_score: 0.69, threshold: 0.7, required: false }
        })
        const missing = (status: string) => ({
          verdict: "deny",
          inputs: { risk_score: 0.7, subject: "job:hi", plan_hash: hash, threshold: 0.7, status },
          code: "approval_required",
          details: { risk_score: 0.7, threshold: 0.7, status }
        })
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "apply")).toStrictEqual(missing("none"))
        expect(yield* probe.approval(tenant.id, "job:hi", hash)).toBe(null)
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "propose")).toStrictEqual(missing("none"))
        expect(yield* probe.approval(tenant.id, "job:hi", hash)).toMatchObject({ requested_by: agent.id })
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "propose")).toStrictEqual(missing("pending"))
        yield* approvals.grant(controller, { subject: "job:hi", plan_hash: hash })
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "apply")).toStrictEqual({
          verdict: "allow",
          inputs: {
            risk_score: 0.7,
            threshold: 0.7,
            approver: controller.id,
            granted_at: now,
            expires_at: now + 3_600_000
          }
        })
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "propose", controller)).toStrictEqual(
          missing("self_approved")
        )
        expect(yield* run(gates.approvalGate, late, job("late", "0", 0.9), "propose")).toStrictEqual({
          verdict: "allow",
          inputs: { risk_score: 0.9, checked_at: "apply" }
        })
        expect(yield* run(gates.approvalGate, late, job("late", "0", 0.9), "apply")).toMatchObject({
          verdict: "deny",
          code: "approval_required"
        })
        yield* TestClock.adjust("3600 seconds")
        expect(yield* run(gates.approvalGate, build, job("hi", "0", 0.7), "apply")).toStrictEqual(missing("expired"))
        void human
      }))

    it.effect("stores: counters and spend totals keep many windows and periods of one key apart", () =>
      Effect.gen(function*() {
        const counters = yield* CounterStore.CounterStore
        const budgets = yield* BudgetStore.BudgetStore
        const probe = yield* GuardProbe
        // more windows and periods per key than any adapter-side cache keeps, revisited out of order
        const windows = Array.from({ length: 20 }, (_, i) => 1_000_000 + i * 60_000)
        for (const [i, w] of windows.entries()) {
          for (let n = 0; n <= i; n++) yield* counters.increment("many:k", w, 1, null, w + 120_000)
        }
        for (const [i, w] of [...windows.entries()].reverse()) {
          expect(yield* counters.get("many:k", w)).toBe(i + 1)
          expect(yield* probe.counter("many:k", w)).toBe(i + 1)
        }
        expect(yield* counters.increment("many:k", windows[3]!, 1, 4, 0)).toStrictEqual(Option.none())
        expect(yield* counters.increment("many:k", windows[3]!, 1, 5, 0)).toStrictEqual(Option.some(5))
        expect(yield* counters.sum("many:k", windows[0]!, windows[19]!)).toBe(211)
        const periods = Array.from({ length: 20 }, (_, i) => `2040-${String(i + 1).padStart(2, "0")}`)
        for (const [i, p] of periods.entries()) yield* budgets.add("exec:many", p, "job", BigInt(i + 1), null)
        for (const [i, p] of [...periods.entries()].reverse()) {
          expect(yield* budgets.totals(["exec:many", "ai:many"], p)).toStrictEqual([BigInt(i + 1), 0n])
          expect(yield* probe.spend("exec:many", p, "job")).toBe(String(i + 1))
        }
        expect(yield* budgets.add("exec:many", periods[0]!, "job", 5n, 5n)).toStrictEqual(Option.none())
        expect(yield* budgets.add("exec:many", periods[0]!, "job", 4n, 5n)).toStrictEqual(Option.some(5n))
        expect((yield* budgets.read("exec:many", periods[0]!)).total).toBe(5n)
      }))

    it.effect("status and breaker events are served with RBAC", () =>
      Effect.gen(function*() {
        const status = yield* SystemStatus.SystemStatus
        const events = yield* BreakerEvents.BreakerEvents
        const { tenant, agent, viewer } = yield* fixture("status", "autopilot_limited")
        yield* propose(tenant.id, agent, "g.note", { note: "big", amount_cents: 500_000 })
        const s = yield* status.status(viewer)
        expect(s).toMatchObject({
          lockdown: { active: false },
          run: { should_stop: false },
          breakers: { velocity: { state: "closed" } },
          rate_limit: { enabled: true, rpm: 5, tenant_rpm: 8 }
        })
        expect(failureCode(yield* Effect.exit(status.status(agent)))).toBe("rbac.forbidden")
        const list = yield* events.listForTenant(viewer)
        expect(list.map((e) => [e.kind, e.type, e.tenant_id])).toStrictEqual([["value", "trip", "status"]])
        expect(Schema.encodeSync(BreakerEvents.GuardrailEvent)(list[0]!)).toMatchObject({
          kind: "value",
          data: { amount: "5000.00" }
        })
      }))
  })

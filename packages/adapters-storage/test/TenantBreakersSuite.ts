/**
 * The conformance suite of the tenants' own velocity and trust breaker settings, end to end: set
 * through the companion's named settings (lowering at once, raising only with a second person's
 * approval), enforced by guardrails' breakers through the governed-action pipeline and the
 * companion's propose, while another tenant keeps the deployment's values; a malformed stored
 * override fails safe. Persisted counters, breaker rows and event rows are read raw through
 * {@link GuardProbe}. Run unchanged on memory, SQLite and PostgreSQL.
 */
import { Autonomy, Companion, CompanionSettings } from "@airlock/companion"
import { ActionRegistry, type Actor, Audit, GovernedActions, type Ids, Tenants } from "@airlock/core"
import { GuardrailsConfig, TrustBreaker, VelocityBreaker, Windows } from "@airlock/guardrails"
import { Chart } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Layer, Schema, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { GuardProbe } from "./support/GuardProbe.js"

type Ports = CompanionEnvironment.Ports | GuardProbe

/** The deployment's breaker settings in this suite; tenants override some of them. */
const deployment = {
  velocityMaxPerMinute: 10,
  velocityCooldownSeconds: 120,
  trustRejectionRate: 0.5,
  trustMinSample: 10,
  trustWindowSeconds: 86_400,
  trustDowngradeTo: "suggest_only",
  trustEvaluateEverySeconds: 60
} as const satisfies Partial<GuardrailsConfig.GuardrailsSettings>

const Note = Schema.Struct({ note: Schema.String })

/** `tb.note`: an AI-governed kind with no policy of its own (the velocity gate counts it). */
const TestKind = Layer.effectDiscard(
  Effect.flatMap(ActionRegistry.ActionRegistry, (registry) =>
    registry.registerKind({
      name: "tb.note",
      payload: Note,
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `note:${p.note}`,
      apply: ({ action }) => Effect.succeed({ applied: action.id })
    }))
)

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  CompanionEnvironment.environment(ports, {
    seed: 43,
    guardrails: { ...deployment, valueBreakerThreshold: "5000.00" },
    host: Layer.merge(
      TestKind,
      CompanionSettings.CompanionSettings.Default.pipe(Layer.provide(Autonomy.layer({ approvalRequired: true })))
    )
  })

/** A tenant (no chart) with an owner, a controller (a second person who may approve), a bookkeeper and the agent. */
const fixture = (id: string, mode: "suggest_only" | "autopilot_limited" = "suggest_only") =>
  CompanionEnvironment.tenant(id, {
    settings: { ai_mode: mode },
    chart: false,
    members: {
      owner: CompanionEnvironment.people.owner,
      controller: { name: "Cleo", role: "CONTROLLER" },
      bookkeeper: CompanionEnvironment.people.bookkeeper,
      agent: CompanionEnvironment.people.agent
    }
  })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const note = (fx: Fx, text: string) =>
  Effect.flatMap(
    GovernedActions.GovernedActions,
    (p) => p.propose({ tenant_id: fx.tenant, actor: fx.agent, kind: "tb.note", payload: { note: text } })
  )

/** Proposes `n` notes that must all pass; the velocity gate's inputs of each. */
const notes = (fx: Fx, n: number, prefix: string) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
    Effect.map(
      note(fx, `${prefix}${i}`),
      (r) => r.trace?.gates.find((g) => g.gate === "velocity")?.inputs as Record<string, unknown>
    ))

const update = (fx: Fx, input: CompanionSettings.SettingsUpdate, actor: Actor.Actor = fx.owner) =>
  Effect.flatMap(CompanionSettings.CompanionSettings, (s) => s.update(fx.tenant, input, actor))

const events = (kind: "velocity" | "trust", tenant: string) =>
  Effect.map(Effect.flatMap(GuardProbe, (p) => p.events(kind)), (rows) => rows.filter((e) => e.tenant_id === tenant))

/**
 * How an effect that must be refused failed: its code and details (a success reads as
 * `{code: "succeeded"}`, so a failing assertion prints a small diff, not a whole result).
 */
const refusal = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.match(self, {
    onFailure: (e) => {
      const error = e as { readonly code?: unknown; readonly details?: unknown }
      return { code: error.code, details: error.details }
    },
    onSuccess: () => ({ code: "succeeded", details: undefined })
  })

/** The counter window the velocity breaker counts in now. */
const counterNow = (tenant: string) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) =>
      Effect.flatMap(GuardProbe, (p) => p.counter(VelocityBreaker.counterKey(tenant), Windows.windowStart(now, 60_000)))
  )

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 180_000 })(`tenant breakers: ${name}`, (it) => {
    it.effect("velocity: a tenant's own limit and cooldown are enforced; another tenant keeps the deployment's", () =>
      Effect.gen(function*() {
        const own = yield* fixture("tb-vel-own")
        const other = yield* fixture("tb-vel-other")
        const probe = yield* GuardProbe
        // a lower limit and a longer cooldown lower autonomy: applied at once
        const lowered = yield* update(own, { velocity_max_per_minute: 3, velocity_cooldown_seconds: 300 })
        expect(lowered.status).toBe("applied")
        expect(lowered.settings).toMatchObject({
          velocity_max_per_minute: 3,
          velocity_cooldown_seconds: 300,
          effective: { velocity_max_per_minute: 3, velocity_cooldown_seconds: 300 }
        })
        expect((yield* (yield* Tenants.Tenants).settings(own.tenant)).extensions).toMatchObject({
          [GuardrailsConfig.TenantKeys.velocityMaxPerMinute]: 3,
          [GuardrailsConfig.TenantKeys.velocityCooldownSeconds]: 300
        })

        // the own tenant trips on its 4th command (its limit 3), not on its 11th
        expect((yield* notes(own, 3, "o")).map((i) => [i.count, i.limit])).toStrictEqual([[1, 3], [2, 3], [3, 3]])
        const start = yield* Clock.currentTimeMillis
        const refused = yield* refusal(note(own, "o3"))
        expect(refused).toMatchObject({ code: "breaker.velocity" })
        expect(refused.details).toStrictEqual({
          tenant_id: own.tenant,
          count: 4,
          limit: 3,
          until: new Date(start + 300_000).toISOString()
        })
        // the other tenant keeps the deployment's 10 a minute and 120 s
        expect((yield* notes(other, 10, "x")).map((i) => i.limit)).toStrictEqual(Array(10).fill(10))
        expect(yield* refusal(note(other, "x10"))).toMatchObject({
          code: "breaker.velocity",
          details: { count: 11, limit: 10, until: new Date(start + 120_000).toISOString() }
        })

        // persisted: counters, open breaker rows and one trip each, with the numbers that applied
        expect(yield* counterNow(own.tenant)).toBe(4)
        expect(yield* counterNow(other.tenant)).toBe(11)
        expect(yield* probe.breaker(VelocityBreaker.breakerKey(own.tenant))).toMatchObject({
          state: "open",
          reason: "velocity_exceeded",
          data: { count: 4, limit: 3, cooldown_seconds: 300 }
        })
        expect(yield* events("velocity", own.tenant)).toStrictEqual([
          expect.objectContaining({
            type: "trip",
            data: expect.objectContaining({ count: 4, limit: 3, cooldown_seconds: 300 })
          })
        ])
        expect(yield* events("velocity", other.tenant)).toStrictEqual([
          expect.objectContaining({
            type: "trip",
            data: expect.objectContaining({ count: 11, limit: 10, cooldown_seconds: 120 })
          })
        ])

        // after the deployment's cooldown only the other tenant's breaker has closed
        yield* TestClock.adjust("120 seconds")
        yield* note(other, "x11")
        expect(yield* refusal(note(own, "o4"))).toMatchObject({ code: "breaker.velocity", details: { limit: 3 } })
        yield* TestClock.adjust("180 seconds")
        yield* note(own, "o5")
        expect((yield* events("velocity", own.tenant)).map((e) => [e.type, e.data.cooldown_seconds])).toStrictEqual([
          ["trip", 300],
          ["reset", 300]
        ])
        expect((yield* events("velocity", other.tenant)).map((e) => e.type)).toStrictEqual(["trip", "reset"])
        expect(yield* probe.breaker(VelocityBreaker.breakerKey(own.tenant))).toMatchObject({ state: "closed" })
      }))

    it.effect("velocity: the companion's propose counts against the tenant's own limit", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("tb-vel-companion")
        const other = yield* fixture("tb-vel-companion-other")
        yield* (yield* Chart.ChartOfAccounts).importPreset(fx.tenant, fx.owner, "standard_small_business")
        yield* (yield* Chart.ChartOfAccounts).importPreset(other.tenant, other.owner, "standard_small_business")
        const c = yield* Companion.Companion
        expect((yield* update(fx, { velocity_max_per_minute: 2 })).status).toBe("applied")
        yield* c.propose(fx.tenant, fx.agent, {})
        yield* c.propose(fx.tenant, fx.agent, {})
        expect(yield* refusal(c.propose(fx.tenant, fx.agent, {}))).toMatchObject({
          code: "breaker.velocity",
          details: { count: 3, limit: 2 }
        })
        expect(yield* counterNow(fx.tenant)).toBe(3)
        expect((yield* events("velocity", fx.tenant)).map((e) => [e.type, e.data.limit])).toStrictEqual([["trip", 2]])
        // the deployment's limit for a tenant without its own
        for (let i = 0; i < 3; i++) yield* c.propose(other.tenant, other.agent, {})
        expect(yield* events("velocity", other.tenant)).toStrictEqual([])
      }))

    it.effect("velocity: raising the limit waits for a second person; the lower limit holds until approved", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("tb-vel-raise")
        const settings = yield* CompanionSettings.CompanionSettings
        expect((yield* update(fx, { velocity_max_per_minute: 2 })).status).toBe("applied")
        const asked = yield* update(fx, { velocity_max_per_minute: 5 })
        expect(asked.status).toBe("pending_approval")
        if (asked.status !== "pending_approval") return
        expect(asked.change.raises).toStrictEqual([{ field: "velocity_max_per_minute", from: 2, to: 5 }])
        expect((yield* (yield* Tenants.Tenants).settings(fx.tenant)).extensions).toMatchObject({
          [GuardrailsConfig.TenantKeys.velocityMaxPerMinute]: 2
        })
        // still 2 a minute
        yield* notes(fx, 2, "a")
        expect(yield* refusal(note(fx, "a2"))).toMatchObject({ code: "breaker.velocity", details: { limit: 2 } })
        // the requester cannot approve; a second person can
        expect(yield* refusal(settings.approve(fx.tenant, asked.change.change_id, fx.owner))).toMatchObject({
          code: "approval.self_approval"
        })
        const approved = yield* settings.approve(fx.tenant, asked.change.change_id, fx.controller)
        expect(approved.settings).toMatchObject({
          velocity_max_per_minute: 5,
          effective: { velocity_max_per_minute: 5 }
        })
        expect((yield* (yield* Tenants.Tenants).settings(fx.tenant)).extensions).toMatchObject({
          [GuardrailsConfig.TenantKeys.velocityMaxPerMinute]: 5
        })
        // once the open breaker has cooled down and the minute has slid by: 5 a minute
        yield* TestClock.adjust("180 seconds")
        expect((yield* notes(fx, 5, "b")).map((i) => i.limit)).toStrictEqual([5, 5, 5, 5, 5])
        expect(yield* refusal(note(fx, "b5"))).toMatchObject({ code: "breaker.velocity", details: { limit: 5 } })
        expect((yield* events("velocity", fx.tenant)).map((e) => [e.type, e.data.limit ?? null])).toStrictEqual([
          ["trip", 2],
          ["reset", null],
          ["trip", 5]
        ])
      }))

    it.effect("trust: the tenant's threshold, minimum sample and target decide the downgrade; another tenant keeps the deployment's", () =>
      Effect.gen(function*() {
        const own = yield* fixture("tb-trust-own", "autopilot_limited")
        const other = yield* fixture("tb-trust-other", "autopilot_limited")
        const pipeline = yield* GovernedActions.GovernedActions
        const trust = yield* TrustBreaker.TrustBreaker
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe
        // all three lower autonomy (trip sooner, to a lower mode): applied at once
        const lowered = yield* update(own, {
          trust_rejection_rate: 0.4,
          trust_min_sample: 3,
          trust_downgrade_to: "shadow_only"
        })
        expect(lowered.status).toBe("applied")
        expect(lowered.settings.effective).toMatchObject({
          trust_rejection_rate: 0.4,
          trust_min_sample: 3,
          trust_downgrade_to: "shadow_only",
          trust_window_seconds: 86_400
        })
        // the same record at both: 2 rejected, 1 applied (rate 0.67, sample 3)
        for (const fx of [own, other]) {
          const ids: Array<Ids.ActionId> = []
          for (let i = 0; i < 3; i++) ids.push((yield* note(fx, `t${i}`)).action.id)
          yield* pipeline.reject(fx.tenant, ids[0]!, fx.bookkeeper, "wrong")
          yield* pipeline.reject(fx.tenant, ids[1]!, fx.bookkeeper, "wrong")
          yield* pipeline.apply(fx.tenant, ids[2]!, fx.bookkeeper)
        }
        const reading = yield* trust.evaluate(own.tenant)
        expect(reading).toMatchObject({
          sample: 3,
          threshold: 0.4,
          min_sample: 3,
          window_seconds: 86_400,
          tripped: true,
          downgraded: { from: "autopilot_limited", to: "shadow_only" }
        })
        expect((yield* tenants.settings(own.tenant)).ai_mode).toBe("shadow_only")
        expect(yield* probe.breaker(TrustBreaker.breakerKey(own.tenant))).toMatchObject({
          state: "open",
          reason: "rejection_rate",
          data: { threshold: 0.4, min_sample: 3, sample: 3 }
        })
        expect(yield* events("trust", own.tenant)).toStrictEqual([
          expect.objectContaining({
            type: "trip",
            data: expect.objectContaining({ threshold: 0.4, min_sample: 3, downgraded_to: "shadow_only" })
          })
        ])
        const audit = (yield* (yield* Audit.AuditLog).list(own.tenant)).filter((r) => r.action === "settings.updated")
        expect(audit.at(-1)).toMatchObject({
          actor_id: "system",
          data: { before: { ai_mode: "autopilot_limited" }, after: { ai_mode: "shadow_only" } }
        })
        // the other tenant: sample 3 is below the deployment's 10 — nothing trips, nothing is written
        const untouched = yield* trust.evaluate(other.tenant)
        expect(untouched).toMatchObject({ sample: 3, threshold: 0.5, min_sample: 10, tripped: false, downgraded: null })
        expect((yield* tenants.settings(other.tenant)).ai_mode).toBe("autopilot_limited")
        expect(yield* probe.breaker(TrustBreaker.breakerKey(other.tenant))).toBeNull()
        expect(yield* events("trust", other.tenant)).toStrictEqual([])
      }))

    it.effect("trust: a new window is a raise; once a second person approves it, the tenant's window counts", () =>
      Effect.gen(function*() {
        const own = yield* fixture("tb-window-own", "autopilot_limited")
        const other = yield* fixture("tb-window-other", "autopilot_limited")
        const settings = yield* CompanionSettings.CompanionSettings
        const pipeline = yield* GovernedActions.GovernedActions
        const trust = yield* TrustBreaker.TrustBreaker
        const tenants = yield* Tenants.Tenants
        expect((yield* update(own, { trust_min_sample: 3, trust_rejection_rate: 0.5 })).status).toBe("applied")
        expect((yield* update(other, { trust_min_sample: 3, trust_rejection_rate: 0.5 })).status).toBe("applied")
        // a shorter window is a raise too (it may never hold the minimum sample)
        const asked = yield* update(own, { trust_window_seconds: 3600 })
        expect(asked.status).toBe("pending_approval")
        if (asked.status !== "pending_approval") return
        expect(asked.change.raises).toStrictEqual([{ field: "trust_window_seconds", from: 86_400, to: 3600 }])
        yield* settings.approve(own.tenant, asked.change.change_id, own.controller)
        expect((yield* tenants.settings(own.tenant)).extensions).toMatchObject({
          [GuardrailsConfig.TenantKeys.trustWindowSeconds]: 3600
        })
        for (const fx of [own, other]) {
          const ids: Array<Ids.ActionId> = []
          for (let i = 0; i < 3; i++) ids.push((yield* note(fx, `w${i}`)).action.id)
          for (const id of ids) yield* pipeline.reject(fx.tenant, id, fx.bookkeeper, "wrong")
        }
        // two hours later the own tenant's hour-long window holds nothing; the other's day still does
        yield* TestClock.adjust("2 hours")
        expect(yield* trust.evaluate(own.tenant)).toMatchObject({ sample: 0, window_seconds: 3600, tripped: false })
        expect(yield* trust.evaluate(other.tenant)).toMatchObject({
          sample: 3,
          window_seconds: 86_400,
          tripped: true,
          downgraded: { from: "autopilot_limited", to: "suggest_only" }
        })
        expect((yield* tenants.settings(own.tenant)).ai_mode).toBe("autopilot_limited")
        expect((yield* tenants.settings(other.tenant)).ai_mode).toBe("suggest_only")
        expect(yield* events("trust", own.tenant)).toStrictEqual([])
      }))

    it.effect("a malformed stored override fails safe: the strictest value, shown as effective", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("tb-malformed", "autopilot_limited")
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe
        // written around the companion's validation (core stores any extension value)
        yield* tenants.updateSettings(fx.tenant, {
          extensions: {
            [GuardrailsConfig.TenantKeys.velocityMaxPerMinute]: "lots",
            [GuardrailsConfig.TenantKeys.trustDowngradeTo]: "off"
          }
        }, fx.owner)
        const view = yield* (yield* CompanionSettings.CompanionSettings).read(fx.tenant, fx.owner)
        expect(view).toMatchObject({
          velocity_max_per_minute: null,
          trust_downgrade_to: null,
          effective: { velocity_max_per_minute: 1, velocity_cooldown_seconds: 120, trust_downgrade_to: "shadow_only" }
        })
        yield* note(fx, "m0")
        expect(yield* refusal(note(fx, "m1"))).toMatchObject({
          code: "breaker.velocity",
          details: { count: 2, limit: 1 }
        })
        expect(yield* probe.breaker(VelocityBreaker.breakerKey(fx.tenant))).toMatchObject({
          state: "open",
          data: { limit: 1, cooldown_seconds: 120 }
        })
      }))

    it.effect("trust: auto-posts are not in the sample; many auto-posts and a few rejections trip at the tenant's rate", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("tb-trust-autopost", "autopilot_limited")
        const pipeline = yield* GovernedActions.GovernedActions
        const trust = yield* TrustBreaker.TrustBreaker
        const tenants = yield* Tenants.Tenants
        const probe = yield* GuardProbe
        expect((yield* update(fx, { trust_rejection_rate: 0.4, trust_min_sample: 3 })).status).toBe("applied")
        const ids: Array<Ids.ActionId> = []
        for (let i = 0; i < 12; i++) {
          // under the velocity limit of 10 a minute
          if (i === 6) yield* TestClock.adjust("2 minutes")
          ids.push((yield* note(fx, `ap${i}`)).action.id)
        }
        // nine auto-posts (the system actor applies), two rejections and one apply by a person
        for (const id of ids.slice(0, 9)) {
          expect((yield* pipeline.apply(fx.tenant, id, Companion.systemActor(fx.tenant))).action.status).toBe("applied")
        }
        yield* pipeline.reject(fx.tenant, ids[9]!, fx.bookkeeper, "wrong")
        yield* pipeline.reject(fx.tenant, ids[10]!, fx.bookkeeper, "wrong")
        yield* pipeline.apply(fx.tenant, ids[11]!, fx.bookkeeper)
        // counted as accepted, the auto-posts would dilute the rate to 2 / 12 = 0.17: no trip
        const reading = yield* trust.evaluate(fx.tenant)
        expect(reading).toMatchObject({
          rejected: 2,
          reversed: 0,
          applied: 1,
          excluded: 9,
          sample: 3,
          threshold: 0.4,
          tripped: true,
          downgraded: { from: "autopilot_limited", to: "suggest_only" }
        })
        expect(reading.rejection_rate).toBeCloseTo(2 / 3, 10)
        expect((yield* tenants.settings(fx.tenant)).ai_mode).toBe("suggest_only")
        expect(yield* probe.breaker(TrustBreaker.breakerKey(fx.tenant))).toMatchObject({
          state: "open",
          reason: "rejection_rate",
          data: { rejected: 2, applied: 1, excluded: 9, sample: 3 }
        })
        expect(yield* events("trust", fx.tenant)).toStrictEqual([
          expect.objectContaining({ type: "trip", data: expect.objectContaining({ excluded: 9, sample: 3 }) })
        ])
      }))
  })

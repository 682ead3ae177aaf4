/**
 * The conformance suite for core's ports. Every adapter runs it unchanged; an adapter is done
 * when it passes. It goes through the public services (pipeline, tenants, tokens, audit) and
 * checks persisted state through the raw {@link Probe}.
 */
import {
  Action,
  ActionRegistry,
  Actor,
  ApiToken,
  Audit,
  CoreConfig,
  type CorePorts,
  Errors,
  GovernedActions,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  SystemState,
  Tenant,
  Tenants,
  UnitOfWork
} from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Metric, Option, Schema, TestClock } from "effect"
import { Probe } from "./support/Probe.js"

/** What an adapter can do; the suite skips nothing else. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

/** A canonical side effect the test kinds write, so the suite can count effects. */
const effectKey = (tenant: string) => `test.effects:${tenant}`

/** Decodes of the `test.decodes` payload, counted by its schema. */
let payloadDecodes = 0

/**
 * Test kinds: `test.counter` increments a stored counter; `test.failing` writes, then fails;
 * `test.decodes` counts how often its payload is decoded.
 */
const TestKinds = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const state = yield* SystemState.SystemStateStore
    const bump = (tenant: string, by: string) =>
      Effect.gen(function*() {
        const current = yield* state.get(effectKey(tenant))
        const n = Option.match(current, { onNone: () => 0, onSome: (e) => e.value as number })
        yield* Effect.yieldNow()
        yield* state.put(
          new SystemState.SystemStateEntry({ key: effectKey(tenant), value: n + 1, updated_at: 0, updated_by: by })
        )
        return n + 1
      })
    const payload = Schema.Struct({ note: Schema.String })
    yield* registry.registerKind({
      name: "test.counter",
      payload,
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `note:${p.note}`,
      apply: ({ action, actor }) => Effect.map(bump(action.tenant_id, actor.id), (n) => ({ effect_no: n })),
      rollback: ({ action, actor }) => Effect.map(bump(action.tenant_id, actor.id), (n) => ({ compensation_no: n }))
    })
    yield* registry.registerKind<{ readonly note: string }, { readonly note: string }>({
      name: "test.decodes",
      payload: Schema.transform(payload, Schema.Struct({ note: Schema.String }), {
        strict: true,
        decode: (p) => {
          payloadDecodes++
          return p
        },
        encode: (p) => p
      }),
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `note:${p.note}`,
      apply: ({ payload }) => Effect.succeed({ note: payload.note })
    })
    yield* registry.registerKind({
      name: "test.failing",
      payload,
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: false,
      subject: (p) => `note:${p.note}`,
      apply: ({ action, actor }) =>
        Effect.zipRight(
          bump(action.tenant_id, actor.id),
          Effect.fail(new Errors.ValidationError({ code: "validation.test", message: "handler failed on purpose" }))
        )
    })
  })
)

/** Builds the full test environment for an adapter's ports. */
const environment = <E>(ports: Layer.Layer<CorePorts.CorePorts | Probe, E>) =>
  TestKinds.pipe(
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(7))),
    Layer.provideMerge(ports)
  )

/** Creates a tenant in `mode` with a human bookkeeper, an agent and an outsider from another tenant. */
const fixture = (id: string, mode: "shadow_only" | "suggest_only" | "autopilot_limited" = "suggest_only") =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}`, settings: { ai_mode: mode } })
    const human = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Bea", role: "BOOKKEEPER" })
    const agent = yield* tenants.addActor({ tenant_id: tenant.id, kind: "agent", name: "copilot", role: "AGENT" })
    const viewer = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Vic", role: "VIEWER" })
    const owner = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Olga", role: "OWNER" })
    return { tenant, human, agent, viewer, owner }
  })

const counter = (tenant: string) =>
  Effect.flatMap(
    SystemState.SystemStateStore,
    (s) => Effect.map(s.get(effectKey(tenant)), Option.match({ onNone: () => 0, onSome: (e) => e.value as number }))
  )

/** Runs the suite against an adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<CorePorts.CorePorts | Probe, E>,
  capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`core ports conformance: ${name}`, (it) => {
    it.effect("tenants: round trip, duplicate id refused, update, ordered list", () =>
      Effect.gen(function*() {
        const store = yield* Tenant.TenantStore
        const probe = yield* Probe
        const t = new Tenant.Tenant({ id: T("rt-b"), name: "B", ai_companion_enabled: true, created_at: 5 })
        yield* store.insert(t)
        yield* store.insert(new Tenant.Tenant({ ...t, id: T("rt-a"), name: "A" }))
        const dup = yield* Effect.exit(store.insert(t))
        expect(dup).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "Conflict", code: "conflict.duplicate" })))
        expect(Option.getOrThrow(yield* store.get(T("rt-b")))).toStrictEqual(t)
        yield* store.update(new Tenant.Tenant({ ...t, name: "B2", ai_companion_enabled: false }))
        const updated = Option.getOrThrow(yield* store.get(T("rt-b")))
        expect([updated.name, updated.ai_companion_enabled]).toStrictEqual(["B2", false])
        const ids = (yield* store.list()).map((x) => x.id).filter((x) => x.startsWith("rt-"))
        expect(ids).toStrictEqual(["rt-a", "rt-b"])
        const missing = yield* Effect.exit(store.update(new Tenant.Tenant({ ...t, id: T("rt-none") })))
        expect(Exit.isFailure(missing)).toBe(true)
        expect(yield* probe.count("tenants", "rt-b")).toBe(1)
      }))

    it.effect("a transaction that fails leaves nothing written", () =>
      Effect.gen(function*() {
        const uow = yield* UnitOfWork.UnitOfWork
        const tenants = yield* Tenant.TenantStore
        const audit = yield* Audit.AuditLog
        const probe = yield* Probe
        const exit = yield* Effect.exit(
          uow.transaction(
            Effect.gen(function*() {
              yield* tenants.insert(
                new Tenant.Tenant({ id: T("tx-fail"), name: "X", ai_companion_enabled: true, created_at: 0 })
              )
              yield* audit.append({ tenant_id: T("tx-fail"), actor_id: "system", action: "x", subject: "y" })
              return yield* Effect.fail("boom" as const)
            })
          )
        )
        expect(exit).toStrictEqual(Exit.fail("boom"))
        expect(yield* probe.count("tenants", "tx-fail")).toBe(0)
        expect(yield* probe.count("audit", "tx-fail")).toBe(0)
        expect(yield* audit.verify(T("tx-fail"))).toStrictEqual({ ok: true, checked: 0, first_break: null })
        // a nested transaction that fails is rolled back while the outer one commits
        yield* uow.transaction(
          Effect.gen(function*() {
            yield* tenants.insert(
              new Tenant.Tenant({ id: T("tx-outer"), name: "O", ai_companion_enabled: true, created_at: 0 })
            )
            yield* Effect.exit(uow.transaction(Effect.zipRight(
              tenants.insert(
                new Tenant.Tenant({ id: T("tx-inner"), name: "I", ai_companion_enabled: true, created_at: 0 })
              ),
              Effect.fail("inner")
            )))
          })
        )
        expect(yield* probe.count("tenants", "tx-outer")).toBe(1)
        expect(yield* probe.count("tenants", "tx-inner")).toBe(0)
      }))

    it.effect("readers never see writes of a transaction that is still open (and later rolls back)", () =>
      Effect.gen(function*() {
        const uow = yield* UnitOfWork.UnitOfWork
        const tenants = yield* Tenant.TenantStore
        const inserted = yield* Deferred.make<void>()
        const proceed = yield* Deferred.make<void>()
        const writer = yield* Effect.fork(Effect.exit(uow.transaction(Effect.gen(function*() {
          yield* tenants.insert(
            new Tenant.Tenant({ id: T("dirty"), name: "D", ai_companion_enabled: true, created_at: 0 })
          )
          yield* Deferred.succeed(inserted, undefined)
          yield* Deferred.await(proceed)
          return yield* Effect.fail("rollback" as const)
        }))))
        yield* Deferred.await(inserted)
        const reader = yield* Effect.fork(tenants.get(T("dirty")))
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        yield* Deferred.succeed(proceed, undefined)
        expect(yield* Fiber.join(writer)).toStrictEqual(Exit.fail("rollback"))
        expect(Option.isNone(yield* Fiber.join(reader))).toBe(true)
        expect(Option.isNone(yield* tenants.get(T("dirty")))).toBe(true)
      }))

    it.effect("tokens: shown once, stored hashed, verified, expired, revoked", () =>
      Effect.gen(function*() {
        const { tenant, human } = yield* fixture("tok")
        const tokens = yield* ApiToken.ApiTokens
        const probe = yield* Probe
        const issued = yield* tokens.issue({
          tenant_id: tenant.id,
          actor_id: human.id,
          name: "cli",
          expires_at: 60_000
        })
        expect(issued.token.startsWith("alk_")).toBe(true)
        const row = yield* probe.tokenRow(issued.record.id)
        expect(JSON.stringify(row)).not.toContain(issued.token)
        expect(row?.hash).toBe(ApiToken.tokenHash(issued.token))
        const principal = yield* tokens.verify(issued.token)
        expect([principal.actor.id, principal.tenant.id]).toStrictEqual([human.id, tenant.id])
        const wrong = yield* Effect.exit(tokens.verify(issued.token.slice(0, -1) + "x"))
        expect(wrong).toStrictEqual(Exit.fail(expect.objectContaining({ code: "auth.unauthorized" })))
        yield* TestClock.adjust("61 seconds")
        const expired = yield* Effect.exit(tokens.verify(issued.token))
        expect(expired).toStrictEqual(Exit.fail(expect.objectContaining({ message: "Token expired" })))
        const fixed = yield* tokens.register("dev_test_token_1", {
          tenant_id: tenant.id,
          actor_id: human.id,
          name: "dev"
        })
        const again = yield* tokens.register("dev_test_token_1", {
          tenant_id: tenant.id,
          actor_id: human.id,
          name: "dev"
        })
        expect(again.id).toBe(fixed.id)
        yield* tokens.verify("dev_test_token_1")
        yield* tokens.revoke(fixed.id)
        const revoked = yield* Effect.exit(tokens.verify("dev_test_token_1"))
        expect(revoked).toStrictEqual(Exit.fail(expect.objectContaining({ message: "Token revoked" })))
        expect((yield* tokens.list(tenant.id)).length).toBe(2)
      }))

    it.effect("token lifecycle: create (tenant.admin, shown once, audited), list (paged, no secret), revoke and expiry stop a token at once", () =>
      Effect.gen(function*() {
        const { tenant, human, owner, viewer } = yield* fixture("toklife")
        const other = yield* fixture("toklife-other")
        const tenants = yield* Tenants.Tenants
        const tokens = yield* ApiToken.ApiTokens
        const probe = yield* Probe
        const admin = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Ops", role: "ADMIN" })
        const auditLog = yield* Audit.AuditLog
        const auditOf = (id: string) =>
          Effect.map(
            auditLog.list(tenant.id, { limit: 1000 }),
            (rs) => rs.filter((r) => r.subject === id).map((r) => [r.action, r.actor_id, r.data] as const)
          )
        const tokenCount = Effect.map(tokens.list(tenant.id), (ts) => ts.length)
        const start = yield* TestClock.currentTimeMillis

        // refusals write nothing: no permission, an actor whose role the creator lacks, another tenant, bad input
        const refusals = [
          [tokens.create(tenant.id, { actor_id: human.id }, human), "rbac.forbidden"],
          [tokens.create(tenant.id, { actor_id: human.id }, viewer), "rbac.forbidden"],
          [tokens.create(tenant.id, { actor_id: admin.id }, owner), "rbac.forbidden"],
          [tokens.create(tenant.id, { actor_id: human.id }, other.owner), "tenant.mismatch"],
          [tokens.create(tenant.id, { actor_id: other.human.id }, owner), "not_found"],
          [tokens.create(tenant.id, { actor_id: human.id, expires_at: start }, owner), "validation.token_expiry"],
          [tokens.create(tenant.id, { actor_id: human.id, name: "x".repeat(101) }, owner), "validation.schema"]
        ] as const
        for (const [attempt, code] of refusals) {
          expect((yield* Effect.flip(attempt)).code).toBe(code)
        }
        expect(yield* tokenCount).toBe(0)

        // created by the tenant's owner: the plaintext once, only its hash stored, audited without it
        const made = yield* tokens.create(tenant.id, { actor_id: human.id, name: "laptop" }, owner)
        expect(made.token.startsWith("alk_")).toBe(true)
        expect(made.view).toMatchObject({
          actor_id: human.id,
          tenant_id: tenant.id,
          name: "laptop",
          prefix: made.token.slice(0, 8),
          created_at: start,
          last_used_at: null,
          expires_at: null,
          revoked_at: null,
          status: "active"
        })
        const row = yield* probe.tokenRow(made.record.id)
        expect(JSON.stringify(row)).not.toContain(made.token)
        expect(row?.hash).toBe(ApiToken.tokenHash(made.token))
        expect(yield* auditOf(made.record.id)).toStrictEqual([[
          "token.created",
          owner.id,
          { actor_id: human.id, name: "laptop", prefix: made.token.slice(0, 8), expires_at: null }
        ]])
        expect(JSON.stringify(yield* auditLog.list(tenant.id, { limit: 1000 }))).not.toContain(
          made.token
        )
        // the platform admin may act on another tenant; the system (CLI) may too
        const expiring = yield* tokens.create(tenant.id, { actor_id: viewer.id, expires_at: start + 60_000 }, admin)
        const forAdmin = yield* tokens.create(tenant.id, { actor_id: admin.id }, "system")
        const crossed = yield* tokens.create(other.tenant.id, { actor_id: other.viewer.id }, admin)
        expect(crossed.record.tenant_id).toBe(other.tenant.id)

        // last use: written on verification, at most once a minute per token
        yield* tokens.verify(made.token)
        expect(Number((yield* probe.tokenRow(made.record.id))?.last_used_at)).toBe(start)
        yield* TestClock.adjust("30 seconds")
        yield* tokens.verify(made.token)
        expect(Number((yield* probe.tokenRow(made.record.id))?.last_used_at)).toBe(start)
        yield* TestClock.adjust("31 seconds")
        yield* tokens.verify(made.token)
        expect(Number((yield* probe.tokenRow(made.record.id))?.last_used_at)).toBe(start + 61_000)

        // listing: paged by id, never the secret or hash, filtered by actor
        const page1 = yield* tokens.listTokens(tenant.id, owner, { limit: 2 })
        const page2 = yield* tokens.listTokens(tenant.id, owner, { limit: 2, after: page1.next_cursor! })
        expect(page2.next_cursor).toBeNull()
        const listed = [...page1.items, ...page2.items]
        expect(listed.map((t) => t.id)).toStrictEqual(
          [made.record.id, expiring.record.id, forAdmin.record.id].sort()
        )
        for (const t of listed) {
          expect(Object.keys(t).sort()).toStrictEqual([
            "actor_id",
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "prefix",
            "revoked_at",
            "status",
            "tenant_id"
          ])
        }
        expect(JSON.stringify(listed)).not.toContain(ApiToken.tokenHash(made.token))
        expect(listed.find((t) => t.id === made.record.id)?.last_used_at).toBe(start + 61_000)
        expect(listed.find((t) => t.id === expiring.record.id)?.status).toBe("expired")
        expect(
          (yield* tokens.listTokens(tenant.id, owner, { actor_id: human.id })).items.map((t) => t.id)
        ).toStrictEqual([made.record.id])
        expect((yield* Effect.flip(tokens.listTokens(tenant.id, owner, { after: "garbage" }))).code).toBe(
          "validation.cursor"
        )
        expect((yield* Effect.flip(tokens.listTokens(tenant.id, human))).code).toBe("rbac.forbidden")
        expect((yield* Effect.flip(tokens.listTokens(tenant.id, other.owner))).code).toBe("tenant.mismatch")

        // expired: refused
        expect(yield* Effect.exit(tokens.verify(expiring.token))).toStrictEqual(
          Exit.fail(expect.objectContaining({ message: "Token expired" }))
        )
        // revoked: refused at once; again changes nothing; another tenant's token is not found here
        expect((yield* Effect.flip(tokens.revokeToken(tenant.id, forAdmin.record.id, owner))).code).toBe(
          "rbac.forbidden"
        )
        expect((yield* Effect.flip(tokens.revokeToken(tenant.id, crossed.record.id, admin))).code).toBe("not_found")
        expect((yield* Effect.flip(tokens.revokeToken(tenant.id, "tok_nothing", owner))).code).toBe("not_found")
        const revoked = yield* tokens.revokeToken(tenant.id, made.record.id, owner)
        expect([revoked.status, revoked.revoked_at]).toStrictEqual(["revoked", start + 61_000])
        expect(yield* Effect.exit(tokens.verify(made.token))).toStrictEqual(
          Exit.fail(expect.objectContaining({ message: "Token revoked" }))
        )
        yield* TestClock.adjust("1 second")
        expect((yield* tokens.revokeToken(tenant.id, made.record.id, owner)).revoked_at).toBe(start + 61_000)
        expect((yield* auditOf(made.record.id)).map(([action]) => action)).toStrictEqual([
          "token.created",
          "token.revoked"
        ])
        expect(Number((yield* probe.tokenRow(made.record.id))?.revoked_at)).toBe(start + 61_000)
      }))

    it.effect("usable admin tokens: revoked, expired and inactive admins' tokens do not count", () =>
      Effect.gen(function*() {
        const { tenant } = yield* fixture("tokadmin")
        const tenants = yield* Tenants.Tenants
        const tokens = yield* ApiToken.ApiTokens
        const store = yield* ApiToken.ApiTokenStore
        const actors = yield* Actor.ActorStore
        const now = yield* TestClock.currentTimeMillis
        const roles = ["ADMIN_ONLY_IN_THIS_TEST"]
        expect(yield* store.usableForRoles(roles, now)).toBe(false)
        const ops = yield* actors.get(tenant.id, (yield* tenants.listActors(tenant.id))[0]!.id).pipe(
          Effect.map(Option.getOrThrow)
        )
        const admin = new Actor.Actor({ ...ops, id: Ids.ActorId.make("ops_only"), role: "ADMIN_ONLY_IN_THIS_TEST" })
        yield* actors.insert(admin)
        const revoked = yield* tokens.issue({ tenant_id: tenant.id, actor_id: admin.id, name: "r" })
        yield* tokens.revoke(revoked.record.id)
        yield* tokens.issue({ tenant_id: tenant.id, actor_id: admin.id, name: "e", expires_at: now })
        expect(yield* store.usableForRoles(roles, now)).toBe(false)
        yield* tokens.issue({ tenant_id: tenant.id, actor_id: admin.id, name: "ok", expires_at: now + 1 })
        expect(yield* store.usableForRoles(roles, now)).toBe(true)
        expect(yield* store.usableForRoles(roles, now + 1)).toBe(false)
        yield* tokens.issue({ tenant_id: tenant.id, actor_id: admin.id, name: "forever" })
        expect(yield* store.usableForRoles([], now)).toBe(false)
        expect(yield* store.usableForRoles(["VIEWER", ...roles], now + 10)).toBe(true)
        yield* actors.update(new Actor.Actor({ ...admin, active: false }))
        expect(yield* store.usableForRoles(roles, now + 10)).toBe(false)
      }))

    it.effect("propose records a shadow action and trace; apply promotes it once with audit", () =>
      Effect.gen(function*() {
        const { tenant, human, agent } = yield* fixture("flow")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* Probe
        const proposed = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "a" }
        })
        expect(proposed.action.status).toBe("proposed")
        expect(proposed.action.subject).toBe("note:a")
        expect(proposed.trace?.outcome).toBe("allow")
        expect(proposed.trace?.gates.map((g) => g.gate)).toStrictEqual(["tenant_scope", "kill_switch", "rbac"])
        expect(yield* counter(tenant.id)).toBe(0)
        expect(yield* probe.actionStatus(tenant.id, proposed.action.id)).toBe("proposed")

        const applied = yield* pipeline.apply(tenant.id, proposed.action.id, human)
        expect(applied.already_applied).toBe(false)
        expect(applied.result).toStrictEqual({ effect_no: 1 })
        expect(applied.trace?.gates.map((g) => g.gate)).toStrictEqual(["tenant_scope", "kill_switch", "rbac", "mode"])
        const again = yield* pipeline.apply(tenant.id, proposed.action.id, human)
        expect(again.already_applied).toBe(true)
        expect(again.result).toStrictEqual({ effect_no: 1 })
        expect(yield* counter(tenant.id)).toBe(1)
        expect(yield* probe.actionStatus(tenant.id, proposed.action.id)).toBe("applied")
        const traces = yield* pipeline.traces(tenant.id, proposed.action.id)
        expect(traces.map((t) => t.phase)).toStrictEqual(["propose", "apply"])
        const log = yield* (yield* Audit.AuditLog).list(tenant.id)
        expect(log.map((r) => r.action)).toContain("action.applied")
        const appliedRecord = log.find((r) => r.action === "action.applied")!
        expect(appliedRecord.data).toMatchObject({ kind: "test.counter", trace_id: traces[1]!.id })
      }))

    it.effect("apply takes the payload validated at propose while the stored one is unchanged, read back from storage too", () =>
      Effect.gen(function*() {
        const { tenant, human, agent } = yield* fixture("decodes")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* Probe
        const before = payloadDecodes
        const { action } = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.decodes",
          payload: { note: "once" }
        })
        expect(payloadDecodes - before).toBe(1)
        expect((yield* pipeline.apply(tenant.id, action.id, human)).result).toStrictEqual({ note: "once" })
        expect(payloadDecodes - before).toBe(1)
        // a stored payload changed after propose is decoded (and validated) again
        const second = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.decodes",
          payload: { note: "two" }
        })
        yield* probe.tamperActionPayload(tenant.id, second.action.id, { note: "changed" })
        expect((yield* pipeline.apply(tenant.id, second.action.id, human)).result).toStrictEqual({ note: "changed" })
        expect(payloadDecodes - before).toBe(3)
      }))

    it.effect("apply decodes and validates the stored payload again once it changed after propose", () =>
      Effect.gen(function*() {
        const { tenant, human, agent } = yield* fixture("tampered")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* Probe
        const { action } = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "ok" }
        })
        yield* probe.tamperActionPayload(tenant.id, action.id, { note: 42 })
        const refused = yield* Effect.flip(pipeline.apply(tenant.id, action.id, human))
        expect(refused).toMatchObject({ _tag: "ValidationError", code: "validation.schema" })
        expect(yield* counter(tenant.id)).toBe(0)
        expect(yield* probe.actionStatus(tenant.id, action.id)).toBe("proposed")
        yield* probe.tamperActionPayload(tenant.id, action.id, { note: "ok" })
        expect((yield* pipeline.apply(tenant.id, action.id, human)).result).toStrictEqual({ effect_no: 1 })
      }))

    it.effect("two concurrent applies of one action produce exactly one effect", () =>
      Effect.gen(function*() {
        const { tenant, human, agent } = yield* fixture("race")
        const pipeline = yield* GovernedActions.GovernedActions
        for (let i = 0; i < 5; i++) {
          const { action } = yield* pipeline.propose({
            tenant_id: tenant.id,
            actor: agent,
            kind: "test.counter",
            payload: { note: `r${i}` }
          })
          const results = yield* Effect.all(
            [pipeline.apply(tenant.id, action.id, human), pipeline.apply(tenant.id, action.id, human)],
            { concurrency: 2 }
          )
          expect(results.filter((r) => !r.already_applied).length).toBe(1)
          expect(results[0].result).toStrictEqual(results[1].result)
        }
        expect(yield* counter(tenant.id)).toBe(5)
        if (capabilities.parallelConnections) {
          const { action } = yield* pipeline.propose({
            tenant_id: tenant.id,
            actor: agent,
            kind: "test.counter",
            payload: { note: "many" }
          })
          const many = yield* Effect.all(Array.from({ length: 8 }, () => pipeline.apply(tenant.id, action.id, human)), {
            concurrency: 8
          })
          expect(many.filter((r) => !r.already_applied).length).toBe(1)
          expect(yield* counter(tenant.id)).toBe(6)
        }
      }))

    it.effect("a failing handler leaves no trace in canonical data and the action stays proposed", () =>
      Effect.gen(function*() {
        const { tenant, human, agent } = yield* fixture("fail")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* Probe
        const { action } = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.failing",
          payload: { note: "x" }
        })
        const auditBefore = yield* probe.count("audit", tenant.id)
        const exit = yield* Effect.exit(pipeline.apply(tenant.id, action.id, human))
        expect(exit).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.test" })))
        expect(yield* counter(tenant.id)).toBe(0)
        expect(yield* probe.actionStatus(tenant.id, action.id)).toBe("proposed")
        expect(yield* probe.count("audit", tenant.id)).toBe(auditBefore)
        expect((yield* pipeline.traces(tenant.id, action.id)).length).toBe(1)
      }))

    it.effect("gates: shadow_only blocks apply, agents cannot self-promote, kill switch layers, RBAC", () =>
      Effect.gen(function*() {
        const pipeline = yield* GovernedActions.GovernedActions
        const tenants = yield* Tenants.Tenants
        const shadow = yield* fixture("gate-shadow", "shadow_only")
        const p1 = yield* pipeline.propose({
          tenant_id: shadow.tenant.id,
          actor: shadow.agent,
          kind: "test.counter",
          payload: { note: "s" }
        })
        const blocked = yield* Effect.exit(pipeline.apply(shadow.tenant.id, p1.action.id, shadow.human))
        expect(blocked).toStrictEqual(Exit.fail(expect.objectContaining({ code: "mode.forbidden" })))
        const denial = (yield* pipeline.traces(shadow.tenant.id, p1.action.id)).at(-1)!
        expect(denial.outcome).toBe("deny")
        expect(denial.gates.at(-1)).toMatchObject({
          gate: "mode",
          verdict: "deny",
          code: "mode.forbidden",
          inputs: { ai_mode: "shadow_only", trigger: "human" }
        })

        const suggest = yield* fixture("gate-suggest", "suggest_only")
        const p2 = yield* pipeline.propose({
          tenant_id: suggest.tenant.id,
          actor: suggest.agent,
          kind: "test.counter",
          payload: { note: "g" }
        })
        const byAgent = yield* Effect.exit(pipeline.apply(suggest.tenant.id, p2.action.id, suggest.agent))
        expect(byAgent).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "Forbidden" })))
        const byViewer = yield* Effect.exit(pipeline.apply(suggest.tenant.id, p2.action.id, suggest.viewer))
        expect(byViewer).toStrictEqual(Exit.fail(expect.objectContaining({ code: "rbac.forbidden" })))

        yield* tenants.updateSettings(suggest.tenant.id, { kill_switch: true }, suggest.owner)
        const killed = yield* Effect.exit(pipeline.apply(suggest.tenant.id, p2.action.id, suggest.human))
        expect(killed).toStrictEqual(
          Exit.fail(expect.objectContaining({ code: "companion.disabled", details: { layer: "kill_switch" } }))
        )
        yield* tenants.updateSettings(suggest.tenant.id, { kill_switch: false, ai_enabled: false }, suggest.owner)
        const disabled = yield* Effect.exit(
          pipeline.propose({
            tenant_id: suggest.tenant.id,
            actor: suggest.agent,
            kind: "test.counter",
            payload: { note: "h" }
          })
        )
        expect(disabled).toStrictEqual(Exit.fail(expect.objectContaining({ details: { layer: "ai_enabled" } })))
        yield* tenants.updateSettings(suggest.tenant.id, { ai_enabled: true }, suggest.owner)
        yield* tenants.setCompanionEnabled(suggest.tenant.id, false, suggest.owner)
        const tenantOff = yield* Effect.exit(pipeline.apply(suggest.tenant.id, p2.action.id, suggest.human))
        expect(tenantOff).toStrictEqual(Exit.fail(expect.objectContaining({ details: { layer: "tenant" } })))
        yield* tenants.setCompanionEnabled(suggest.tenant.id, true, suggest.owner)
        expect(yield* tenants.globalAi()).toMatchObject({ enabled: true, configured: true })
        yield* tenants.setGlobalAiEnabled(false, "system")
        expect(yield* tenants.globalAi()).toMatchObject({
          enabled: false,
          configured: true,
          override: false,
          updated_by: "system"
        })
        const globalOff = yield* Effect.exit(pipeline.apply(suggest.tenant.id, p2.action.id, suggest.human))
        yield* tenants.setGlobalAiEnabled(true, "system")
        expect(yield* tenants.globalAi()).toMatchObject({ enabled: true, override: true })
        expect(globalOff).toStrictEqual(Exit.fail(expect.objectContaining({ details: { layer: "global" } })))
        const ok = yield* pipeline.apply(suggest.tenant.id, p2.action.id, suggest.human)
        expect(ok.already_applied).toBe(false)
        const settingsAudit = (yield* (yield* Audit.AuditLog).list(suggest.tenant.id)).filter((r) =>
          r.action === "settings.updated"
        )
        expect(settingsAudit.length).toBe(3)
      }))

    it.effect("idempotency keys, reject, wipe, rollback", () =>
      Effect.gen(function*() {
        const { tenant, human, agent, owner } = yield* fixture("life")
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* Probe
        const a = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "k" },
          idempotency_key: "k1"
        })
        const b = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "k" },
          idempotency_key: "k1"
        })
        expect([b.duplicate, b.action.id]).toStrictEqual([true, a.action.id])
        const clash = yield* Effect.exit(
          pipeline.propose({
            tenant_id: tenant.id,
            actor: agent,
            kind: "test.counter",
            payload: { note: "other" },
            idempotency_key: "k1"
          })
        )
        expect(clash).toStrictEqual(Exit.fail(expect.objectContaining({ code: "idempotency.conflict" })))
        const bad = yield* Effect.exit(
          pipeline.propose({ tenant_id: tenant.id, actor: agent, kind: "test.counter", payload: { note: 5 } })
        )
        expect(bad).toStrictEqual(Exit.fail(expect.objectContaining({ code: "validation.schema" })))

        const rejected = yield* pipeline.reject(tenant.id, a.action.id, human, "wrong account")
        expect([rejected.status, rejected.close_reason]).toStrictEqual(["rejected", "wrong account"])
        const late = yield* Effect.exit(pipeline.apply(tenant.id, a.action.id, human))
        expect(late).toStrictEqual(Exit.fail(expect.objectContaining({ code: "proposal.closed" })))

        const c = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "c" }
        })
        const d = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "d" }
        })
        yield* pipeline.apply(tenant.id, d.action.id, human)
        const wipeDenied = yield* Effect.exit(pipeline.wipe(tenant.id, human, { status: "proposed" }))
        expect(wipeDenied).toStrictEqual(Exit.fail(expect.objectContaining({ code: "rbac.forbidden" })))
        const wiped = yield* pipeline.wipe(tenant.id, owner, { status: "proposed" })
        expect(wiped).toBe(1)
        expect(yield* probe.actionStatus(tenant.id, c.action.id)).toBe("wiped")
        expect(yield* probe.actionStatus(tenant.id, d.action.id)).toBe("applied")
        expect(yield* counter(tenant.id)).toBe(1)

        const rolled = yield* pipeline.rollback(tenant.id, d.action.id, human, "mistake")
        expect(rolled.status).toBe("rolled_back")
        expect(yield* counter(tenant.id)).toBe(2)

        // a rolled-back action explains promoted data (the effect and its compensation): not wipeable
        yield* TestClock.adjust("1 minute")
        const wipeRolled = yield* Effect.exit(pipeline.wipe(tenant.id, owner, { status: "rolled_back" }))
        expect(wipeRolled).toStrictEqual(
          Exit.fail(expect.objectContaining({ code: "validation.wipe_applied", details: { status: "rolled_back" } }))
        )
        expect(yield* probe.actionStatus(tenant.id, d.action.id)).toBe("rolled_back")
        expect(yield* pipeline.get(tenant.id, d.action.id)).toMatchObject({
          close_reason: "mistake",
          closed_by: human.id
        })
        // nor does the store port wipe promoted or already wiped records, whatever the filter
        const store = yield* Action.ActionStore
        const firstWipe = yield* pipeline.get(tenant.id, c.action.id)
        expect(yield* store.wipe(tenant.id, { status: "rolled_back" }, 1, "someone")).toBe(0)
        expect(yield* store.wipe(tenant.id, { status: "applied" }, 1, "someone")).toBe(0)
        expect(yield* pipeline.wipe(tenant.id, owner, { status: "wiped" })).toBe(0)
        expect(yield* pipeline.get(tenant.id, c.action.id)).toStrictEqual(firstWipe)
        expect(yield* probe.actionStatus(tenant.id, d.action.id)).toBe("rolled_back")
      }))

    it.effect("listing is newest first with a cursor, filtered by status", () =>
      Effect.gen(function*() {
        const { tenant, agent } = yield* fixture("page")
        const pipeline = yield* GovernedActions.GovernedActions
        const made: Array<string> = []
        for (let i = 0; i < 7; i++) {
          made.push(
            (yield* pipeline.propose({
              tenant_id: tenant.id,
              actor: agent,
              kind: "test.counter",
              payload: { note: `${i}` }
            })).action.id
          )
        }
        const page1 = yield* pipeline.list(tenant.id, { status: "proposed", limit: 3 })
        const page2 = yield* pipeline.list(tenant.id, { status: "proposed", limit: 3, before: page1.at(-1)!.id })
        const page3 = yield* pipeline.list(tenant.id, { status: "proposed", limit: 3, before: page2.at(-1)!.id })
        expect([...page1, ...page2, ...page3].map((a) => a.id)).toStrictEqual([...made].reverse())
        expect(yield* pipeline.list(tenant.id, { status: "applied", limit: 10 })).toStrictEqual([])
        expect((yield* pipeline.list(tenant.id, { subject: "note:3", limit: 10 })).map((a) => a.id)).toStrictEqual([
          made[3]
        ])
      }))

    it.effect("tenant isolation: another tenant's owner cannot read or change settings, the switch or actors; an admin may", () =>
      Effect.gen(function*() {
        const a = yield* fixture("scope-a")
        const b = yield* fixture("scope-b")
        const tenants = yield* Tenants.Tenants
        const probe = yield* Probe
        const settingsBefore = yield* tenants.settings(a.tenant.id)
        const actorsBefore = yield* probe.count("actors", a.tenant.id)
        const auditBefore = yield* probe.count("audit", a.tenant.id)
        const refused = [
          yield* Effect.exit(tenants.readSettings(a.tenant.id, b.owner)),
          yield* Effect.exit(tenants.updateSettings(a.tenant.id, { ai_mode: "autopilot_limited" }, b.owner)),
          yield* Effect.exit(tenants.setCompanionEnabled(a.tenant.id, false, b.owner)),
          yield* Effect.exit(
            tenants.addActor({ tenant_id: a.tenant.id, kind: "user", name: "Mallory", role: "OWNER" }, b.owner)
          )
        ]
        for (const exit of refused)
          expect(exit).toStrictEqual(Exit.fail(expect.objectContaining({ code: "tenant.mismatch" })))
        expect(yield* tenants.settings(a.tenant.id)).toStrictEqual(settingsBefore)
        expect((yield* tenants.get(a.tenant.id)).ai_companion_enabled).toBe(true)
        expect(yield* probe.count("actors", a.tenant.id)).toBe(actorsBefore)
        expect(yield* probe.count("audit", a.tenant.id)).toBe(auditBefore)
        // an operator with tenant.cross acts on any tenant
        const admin = yield* tenants.addActor({ tenant_id: b.tenant.id, kind: "user", name: "Ops", role: "ADMIN" })
        expect((yield* tenants.readSettings(a.tenant.id, admin)).ai_mode).toBe(settingsBefore.ai_mode)
        const changed = yield* tenants.updateSettings(a.tenant.id, { ai_mode: "drafts" }, admin)
        expect(changed.ai_mode).toBe("drafts")
        expect((yield* tenants.settings(a.tenant.id)).ai_mode).toBe("drafts")
      }))

    it.effect("tenant isolation: another tenant's actions are invisible and cannot be applied", () =>
      Effect.gen(function*() {
        const a = yield* fixture("iso-a")
        const b = yield* fixture("iso-b")
        const pipeline = yield* GovernedActions.GovernedActions
        const { action } = yield* pipeline.propose({
          tenant_id: a.tenant.id,
          actor: a.agent,
          kind: "test.counter",
          payload: { note: "x" }
        })
        const fromB = yield* Effect.exit(pipeline.get(b.tenant.id, action.id))
        expect(fromB).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "NotFound" })))
        expect(yield* pipeline.list(b.tenant.id, { limit: 10 })).toStrictEqual([])
        const crossApply = yield* Effect.exit(pipeline.apply(a.tenant.id, action.id, b.human))
        expect(crossApply).toStrictEqual(Exit.fail(expect.objectContaining({ code: "tenant.mismatch" })))
        const crossPropose = yield* Effect.exit(
          pipeline.propose({ tenant_id: a.tenant.id, actor: b.agent, kind: "test.counter", payload: { note: "y" } })
        )
        expect(crossPropose).toStrictEqual(Exit.fail(expect.objectContaining({ code: "tenant.mismatch" })))
        expect(yield* counter(a.tenant.id)).toBe(0)
        const audit = yield* Audit.AuditLog
        expect((yield* audit.list(b.tenant.id)).every((r) => r.tenant_id === b.tenant.id)).toBe(true)
      }))

    it.effect("audit chain: verify passes, then finds a tampered row, a deleted row and a cut tail", () =>
      Effect.gen(function*() {
        const audit = yield* Audit.AuditLog
        const probe = yield* Probe
        const tenant = T("audit-chain")
        for (let i = 0; i < 12; i++) {
          yield* audit.append({
            tenant_id: tenant,
            actor_id: "u1",
            action: "test.event",
            subject: `s${i}`,
            data: { i, amount: 100n * BigInt(i) }
          })
        }
        expect(yield* audit.verify(tenant, 5)).toStrictEqual({ ok: true, checked: 12, first_break: null })
        const records = yield* audit.list(tenant, { limit: 100 })
        expect(records.map((r) => r.seq)).toStrictEqual(Array.from({ length: 12 }, (_, i) => i + 1))
        expect(records[0]!.prev_hash).toBe(Audit.GENESIS_HASH)
        expect(records[5]!.prev_hash).toBe(records[4]!.hash)

        yield* probe.tamperAudit(tenant, 7, { i: 6, amount: "1" })
        expect(yield* audit.verify(tenant, 5)).toStrictEqual({
          ok: false,
          checked: 6,
          first_break: { seq: 7, reason: "hash_mismatch" }
        })
        yield* probe.tamperAudit(tenant, 7, records[6]!.data)
        expect((yield* audit.verify(tenant)).ok).toBe(true)

        yield* probe.deleteAudit(tenant, 4)
        expect((yield* audit.verify(tenant)).first_break).toStrictEqual({ seq: 4, reason: "sequence_gap" })

        const t2 = T("audit-tail")
        for (let i = 0; i < 3; i++) yield* audit.append({ tenant_id: t2, actor_id: "u", action: "e", subject: "s" })
        yield* probe.deleteAudit(t2, 3)
        expect((yield* audit.verify(t2)).first_break).toStrictEqual({ seq: 3, reason: "truncated" })
      }))

    it.effect("audit checkpoint: incremental verification hashes only what is new; the full one finds older tampering", () =>
      Effect.gen(function*() {
        const audit = yield* Audit.AuditLog
        const store = yield* Audit.AuditStore
        const probe = yield* Probe
        const tenant = T("audit-checkpoint")
        const append = (n: number) =>
          Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
            audit.append({ tenant_id: tenant, actor_id: "u", action: "e", subject: `s${i}`, data: { i } }))
        expect(yield* store.checkpoint(tenant)).toBeNull()
        yield* append(10)
        const first = yield* audit.verifyChain(tenant, { pageSize: 3 })
        expect(first).toMatchObject({
          ok: true,
          checked: 10,
          scope: "incremental",
          verified_through: 10,
          complete: true
        })
        const stored = yield* store.checkpoint(tenant)
        expect(stored).toMatchObject({ seq: 10, hash: (yield* audit.list(tenant, { afterSeq: 9 }))[0]!.hash })
        // only the new records are hashed
        yield* append(4)
        expect(yield* audit.verifyChain(tenant)).toMatchObject({ ok: true, checked: 4, verified_through: 14 })
        expect(yield* audit.verifyChain(tenant)).toMatchObject({ ok: true, checked: 0, verified_through: 14 })
        // a budget stops early and keeps the progress
        yield* append(5)
        expect(yield* audit.verifyChain(tenant, { maxRecords: 2 })).toMatchObject({
          ok: true,
          checked: 2,
          verified_through: 16,
          complete: false
        })
        expect(yield* audit.verifyChain(tenant)).toMatchObject({ checked: 3, verified_through: 19, complete: true })
        // tampering before the checkpoint: the incremental walk does not look there, the full one does
        yield* probe.tamperAudit(tenant, 3, { i: 99 })
        expect((yield* audit.verifyChain(tenant)).ok).toBe(true)
        expect(yield* audit.verifyChain(tenant, { full: true })).toMatchObject({
          ok: false,
          scope: "full",
          first_break: { seq: 3, reason: "hash_mismatch" }
        })
        expect(yield* audit.verify(tenant)).toStrictEqual({
          ok: false,
          checked: 2,
          first_break: { seq: 3, reason: "hash_mismatch" }
        })
        // a failed verification does not move the checkpoint
        expect((yield* store.checkpoint(tenant))!.seq).toBe(19)
        // tampering after the checkpoint is found by the incremental walk
        yield* append(2)
        yield* probe.tamperAudit(tenant, 21, { i: 98 })
        expect((yield* audit.verifyChain(tenant)).first_break).toStrictEqual({ seq: 21, reason: "hash_mismatch" })
      }))

    it.effect("audit checkpoint only moves forward; concurrent verifications of a tenant share one walk", () =>
      Effect.gen(function*() {
        const audit = yield* Audit.AuditLog
        const store = yield* Audit.AuditStore
        const tenant = T("audit-single-walk")
        for (let i = 0; i < 30; i++)
          yield* audit.append({ tenant_id: tenant, actor_id: "u", action: "e", subject: `${i}` })
        expect(yield* audit.verifyChain(tenant)).toMatchObject({ ok: true, checked: 30, verified_through: 30 })
        const saved = yield* store.checkpoint(tenant)
        // an older checkpoint arriving late is ignored
        yield* store.saveCheckpoint(tenant, { seq: 5, hash: "0".repeat(64), verified_at: 1 })
        expect(yield* store.checkpoint(tenant)).toStrictEqual(saved)
        yield* store.saveCheckpoint(tenant, { seq: 30, hash: "f".repeat(64), verified_at: 2 })
        expect(yield* store.checkpoint(tenant)).toStrictEqual(saved)
        // eight full verifications at once hash the log once
        const hashed = () =>
          Effect.map(Metric.value(Audit.verifiedRecords), (s) => s.count)
        const before = yield* hashed()
        const reports = yield* Effect.all(
          Array.from({ length: 8 }, () => audit.verifyChain(tenant, { full: true, pageSize: 4 })),
          { concurrency: "unbounded" }
        )
        expect(reports.map((r) => [r.ok, r.checked])).toStrictEqual(Array.from({ length: 8 }, () => [true, 30]))
        expect((yield* hashed()) - before).toBe(30)
        // incremental walks at once after new records: the new ones are hashed once
        for (let i = 0; i < 6; i++) yield* audit.append({ tenant_id: tenant, actor_id: "u", action: "e", subject: "n" })
        const before2 = yield* hashed()
        const again = yield* Effect.all(
          Array.from({ length: 8 }, () => audit.verifyChain(tenant, { pageSize: 2 })),
          { concurrency: "unbounded" }
        )
        expect(again.every((r) => r.ok && r.verified_through === 36)).toBe(true)
        expect((yield* hashed()) - before2).toBe(6)
        expect((yield* store.checkpoint(tenant))!.seq).toBe(36)
        // a walk after them starts again (nothing is left running)
        expect(yield* audit.verifyChain(tenant, { full: true, pageSize: 4 })).toMatchObject({ ok: true, checked: 36 })
      }))

    it.effect("concurrent audit appends for one tenant never fork the chain", () =>
      Effect.gen(function*() {
        const audit = yield* Audit.AuditLog
        const tenant = T("audit-race")
        yield* Effect.all(
          Array.from(
            { length: 20 },
            (_, i) => audit.append({ tenant_id: tenant, actor_id: "u", action: "e", subject: `${i}` })
          ),
          { concurrency: 10 }
        )
        expect(yield* audit.verify(tenant)).toStrictEqual({ ok: true, checked: 20, first_break: null })
      }))

    it.effect("system state and settings round trip", () =>
      Effect.gen(function*() {
        const state = yield* SystemState.SystemStateStore
        yield* state.put(
          new SystemState.SystemStateEntry({
            key: "ops.run.active",
            value: { active: false, paused: true },
            updated_at: 1,
            updated_by: "guard"
          })
        )
        yield* state.put(
          new SystemState.SystemStateEntry({
            key: "ops.run.reason",
            value: "budget_hard_exceeded",
            updated_at: 2,
            updated_by: "guard"
          })
        )
        yield* state.put(
          new SystemState.SystemStateEntry({ key: "other", value: 1, updated_at: 2, updated_by: "guard" })
        )
        expect((yield* state.list("ops.")).map((e) => e.key)).toStrictEqual(["ops.run.active", "ops.run.reason"])
        expect(Option.getOrThrow(yield* state.get("ops.run.active")).value).toStrictEqual({
          active: false,
          paused: true
        })
        const { tenant, owner } = yield* fixture("settings")
        const tenants = yield* Tenants.Tenants
        const updated = yield* tenants.updateSettings(tenant.id, {
          ai_mode: "drafts",
          extensions: { "guardrails.value_breaker_threshold": "5000.00" }
        }, owner)
        expect(updated.ai_mode).toBe("drafts")
        const read = yield* tenants.settings(tenant.id)
        expect(read.extensions).toStrictEqual({ "guardrails.value_breaker_threshold": "5000.00" })
        const cleared = yield* tenants.updateSettings(tenant.id, {
          extensions: { "guardrails.value_breaker_threshold": null }
        }, owner)
        expect(cleared.extensions).toStrictEqual({})
      }))

    it.effect("actions round trip through the store with optimistic versions", () =>
      Effect.gen(function*() {
        const store = yield* Action.ActionStore
        const { tenant, agent } = yield* fixture("store")
        const pipeline = yield* GovernedActions.GovernedActions
        const { action } = yield* pipeline.propose({
          tenant_id: tenant.id,
          actor: agent,
          kind: "test.counter",
          payload: { note: "v" }
        })
        expect(Option.getOrThrow(yield* store.get(tenant.id, action.id))).toStrictEqual(action)
        const stale = yield* Effect.exit(
          store.update(new Action.ActionRecord({ ...action, status: "rejected", version: 3 }), 2)
        )
        expect(stale).toStrictEqual(Exit.fail(expect.objectContaining({ code: "conflict.stale" })))
      }))
  })

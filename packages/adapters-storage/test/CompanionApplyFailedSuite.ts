/**
 * The conformance suite of the auto-post reason `autopost.apply_failed`, end to end on the real
 * companion service: a tenant eligible to auto-post, and a gate the host registers through core's
 * gate registry that allows at propose but refuses the system actor's apply. The proposal is
 * stored and stays reviewable (a person applies it afterwards, exactly once), it counts under
 * `apply_failed`, nothing of the failed attempt reaches the journal, and the decision trace and
 * provenance record the refusal with the gate's code. Run unchanged on memory, SQLite and
 * PostgreSQL.
 */
import { Companion, CompanionProvenance } from "@airlock/companion"
import { Action, ActionRegistry, AiSettings, Errors, Gate, GateOrder, type Ids, Tenants } from "@airlock/core"
import { BankTransaction, JournalStore, Proposals } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Either, Layer, Option, Schema, TestClock } from "effect"
import { day, eligible, importOne, vendors } from "./support/CompanionAutopost.js"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { CompanionProbe } from "./support/CompanionProbe.js"

type Ports = CompanionEnvironment.Ports | CompanionProbe

/** A tenant with the small-business chart, a bookkeeper, the agent and an owner. */
const fixture = (id: string) => CompanionEnvironment.tenant(id, { members: CompanionEnvironment.staff })

/** The host's gate: its name, its refusal's code, and the tenant setting that turns it on. */
const HOST_GATE = "host.no_system_autopost"
const HOST_CODE = "host.autopost_refused"
const HOST_SWITCH = "host.refuse_system_apply"

/**
 * A gate as a host registers it: on ledger proposals, allows every propose and every person's
 * apply, and refuses the system actor's apply while the tenant's `host.refuse_system_apply` is on.
 */
const hostGate: Gate.Gate = {
  name: HOST_GATE,
  order: GateOrder.approval + 1,
  phases: ["propose", "apply"],
  appliesTo: (kind) => kind.name === Proposals.KIND,
  evaluate: ({ actor, phase, settings }) => {
    const on = Option.getOrElse(AiSettings.extension(settings, HOST_SWITCH, Schema.Boolean), () => false)
    const inputs = { phase, actor_kind: actor.kind, switch: on }
    return Effect.succeed(
      phase === "apply" && actor.kind === "system" && on
        ? Gate.Decision.deny(
          new Errors.Forbidden({ code: HOST_CODE, message: "The host books no automatic entries here" }),
          inputs
        )
        : Gate.Decision.allow(inputs)
    )
  }
}

/** Registers {@link hostGate} in core's gate registry, as a host's layer does. */
const hostGateLayer = Layer.effectDiscard(
  Effect.flatMap(ActionRegistry.ActionRegistry, (registry) => registry.registerGate(hostGate))
)

/** The companion with the host's gate beside it. */
const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  CompanionEnvironment.environment(ports, { seed: 37, host: hostGateLayer })

export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 300_000 })(`companion apply_failed: ${name}`, (it) => {
    it.effect(
      "apply_failed: a host gate refuses the system actor's apply; stored, not applied, counted, reviewable, traced",
      () =>
        Effect.gen(function*() {
          const fx = yield* fixture("af-host-gate")
          const probe = yield* CompanionProbe
          const c = yield* Companion.Companion
          const tenants = yield* Tenants.Tenants
          const actions = yield* Action.ActionStore
          const traces = yield* Action.TraceStore
          const journal = yield* JournalStore.JournalStore
          const bank = yield* BankTransaction.BankTransactionStore
          const provenance = yield* CompanionProvenance.CompanionProvenance
          const { reviews } = yield* eligible(fx)

          let n = 400
          /** Imports one Adobe transaction and proposes it; the item and the entries it posted. */
          const attempt = Effect.gen(function*() {
            n++
            yield* TestClock.adjust("1 minute")
            const since = yield* Clock.currentTimeMillis
            yield* TestClock.adjust("1 minute")
            const entries = yield* probe.count("entries", fx.tenant)
            const imported = yield* importOne(fx, day(n), vendors[1].description, vendors[1].amount)
            const r = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: imported.ids })
            const item = r.items[0]!
            expect(item.error).toBe(null)
            return {
              item,
              result: r,
              bank_transaction_id: imported.ids[0]!,
              counts: yield* c.notAutoPostCounts(fx.tenant, fx.owner, since),
              posted: (yield* probe.count("entries", fx.tenant)) - entries
            }
          })

          // the control: with the host's gate off the tenant auto-posts (the gate is the only difference)
          const control = yield* attempt
          expect([control.item.status, control.item.not_auto_post_reasons, control.posted, control.result.auto_posted])
            .toStrictEqual(["auto_posted", [], 1, 1])

          // the host turns its gate on: allowed at propose, refused at the system actor's apply
          yield* tenants.updateSettings(fx.tenant, { extensions: { [HOST_SWITCH]: true } }, fx.owner)
          const refused = yield* attempt
          const id = refused.item.proposal_id!
          expect({
            status: refused.item.status,
            entry_id: refused.item.entry_id,
            reasons: refused.item.not_auto_post_reasons,
            auto_posted: refused.result.auto_posted,
            proposed: refused.result.proposed
          }).toStrictEqual({
            status: "proposed",
            entry_id: null,
            reasons: ["autopost.apply_failed"],
            auto_posted: 0,
            proposed: 1
          })
          // counted under apply_failed alone
          expect(refused.counts).toStrictEqual({ "autopost.apply_failed": 1 })

          // stored and still open: the action, the companion's detail (raw), nothing posted
          const action = Option.getOrThrow(yield* actions.get(fx.tenant, id as Ids.ActionId))
          expect([action.status, action.closed_by, action.result]).toStrictEqual(["proposed", null, null])
          expect(yield* probe.review(fx.tenant, id)).toStrictEqual({
            outcome: null,
            entry_id: null,
            applied_proposal_id: null
          })
          const detail = (yield* c.shadowEvent(fx.tenant, fx.owner, id)).detail!
          expect(detail.not_auto_post_reasons).toStrictEqual(["autopost.apply_failed"])
          expect(detail.autopost).toMatchObject({ eligible: true, apply_error: { code: HOST_CODE } })
          // nothing of the failed attempt reached the journal: no entry, the transaction still unposted
          expect(refused.posted).toBe(0)
          expect(yield* journal.liveForBankTransaction(fx.tenant, refused.bank_transaction_id)).toStrictEqual([])
          const unposted = yield* bank.list(fx.tenant, { unposted: true, limit: 500 })
          expect(unposted.map((t) => t.id)).toContain(refused.bank_transaction_id)
          expect((yield* probe.entryProposals(fx.tenant)).filter((p) => p === id)).toStrictEqual([])

          // the decision trace of the refused apply: the system actor, denied by the host's gate with its code
          const stored = yield* traces.listByAction(fx.tenant, id as Ids.ActionId)
          const applies = stored.filter((t) => t.phase === "apply")
          expect(applies.map((t) => [t.actor_id, t.outcome])).toStrictEqual([[Companion.SYSTEM_ACTOR_ID, "deny"]])
          const denied = applies[0]!.gates.at(-1)!
          expect([denied.gate, denied.verdict, denied.code]).toStrictEqual([HOST_GATE, "deny", HOST_CODE])
          const atPropose = stored.find((t) => t.phase === "propose")!.gates.find((g) => g.gate === HOST_GATE)
          expect(atPropose?.verdict).toBe("allow")
          // provenance shows the refusal, the gate's code and the auto-post decision's error
          const before = yield* provenance.lookup(fx.tenant, fx.owner, { shadow_event_id: id })
          expect(before.gates.apply.map((t) => [t.actor_id, t.outcome, t.gates.at(-1)?.code ?? null])).toStrictEqual([
            [Companion.SYSTEM_ACTOR_ID, "deny", HOST_CODE]
          ])
          expect(before.ai?.not_auto_post_reasons).toStrictEqual(["autopost.apply_failed"])
          expect((before.ai?.autopost as { apply_error: { code: string } }).apply_error.code).toBe(HOST_CODE)
          expect([before.applied, before.entry]).toStrictEqual([null, null])

          // still reviewable: it is in the open list, and a person applies it (the gate lets people through)
          const open = yield* c.list(fx.tenant, fx.owner, { status: "proposed" })
          expect(open.items.map((i) => i.proposal.id)).toContain(id)
          const applied = yield* c.apply(fx.tenant, fx.bookkeeper, id)
          expect([applied.outcome, applied.already_applied, applied.entry_id === null]).toStrictEqual([
            "applied",
            false,
            false
          ])
          // exactly once: a second apply finds the work done, by the person or by the system actor
          const again = yield* c.apply(fx.tenant, fx.bookkeeper, id)
          expect([again.already_applied, again.entry_id]).toStrictEqual([true, applied.entry_id])
          const bySystem = yield* c.apply(fx.tenant, Companion.systemActor(fx.tenant), id)
          expect([bySystem.already_applied, bySystem.entry_id]).toStrictEqual([true, applied.entry_id])
          expect(yield* journal.liveForBankTransaction(fx.tenant, refused.bank_transaction_id)).toHaveLength(1)
          const stillUnposted = yield* bank.list(fx.tenant, { unposted: true, limit: 500 })
          expect(stillUnposted.map((t) => t.id)).not.toContain(refused.bank_transaction_id)
          expect((yield* probe.entryProposals(fx.tenant)).filter((p) => p === id)).toStrictEqual([id])
          expect(yield* probe.count("entries", fx.tenant)).toBe(reviews + 2)
          expect(yield* probe.review(fx.tenant, id)).toStrictEqual({
            outcome: "applied",
            entry_id: applied.entry_id,
            applied_proposal_id: id
          })
          // the trail keeps both attempts: the system actor's refusal, then the person's apply
          const after = yield* provenance.lookup(fx.tenant, fx.owner, { shadow_event_id: id })
          expect(after.gates.apply.map((t) => [t.actor_id, t.outcome])).toStrictEqual([
            [Companion.SYSTEM_ACTOR_ID, "deny"],
            [fx.bookkeeper.id, "allow"]
          ])
          expect(after.applied?.by).toBe(fx.bookkeeper.id)
          // applied and closed: a rejection is refused
          const closedAction = Option.getOrThrow(yield* actions.get(fx.tenant, id as Ids.ActionId))
          expect(closedAction.status).toBe("applied")
          const rejected = yield* Effect.either(c.reject(fx.tenant, fx.bookkeeper, id, "too late"))
          expect(Either.isLeft(rejected) && rejected.left.code).toBe("proposal.closed")
        })
    )
  })

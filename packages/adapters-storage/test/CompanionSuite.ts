/**
 * The conformance suite of the companion's ports and flow. Every adapter runs it unchanged: it
 * goes through the companion service (which goes through the ledger and core's pipeline) and
 * checks persisted state through the raw {@link CompanionProbe}.
 */
import { Companion, type CompanionPorts, CompanionProvenance, VendorMemoryStage } from "@airlock/companion"
import {
  AgentMemory,
  AgentMemoryConfig,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { BreakerEvents, Guardrails, GuardrailsConfig, type GuardrailsPorts } from "@airlock/guardrails"
import { BankTransaction, Chart, Ledger, LedgerConfig, type LedgerPorts as LP } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { CompanionProbe } from "./support/CompanionProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

const environment = <E>(
  ports: Layer.Layer<
    | CorePorts.CorePorts
    | LP.LedgerPorts
    | GuardrailsPorts.GuardrailsPorts
    | CompanionPorts.CompanionPorts
    | CompanionProbe,
    E
  >
) =>
  Companion.layer.pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(GuardrailsConfig.layer({ velocityMaxPerMinute: 10_000, valueBreakerThreshold: "5000.00" })),
    Layer.provideMerge(Ledger.layerWithConfig),
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerSeeded(13),
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(ports)
  )

type Mode = "shadow_only" | "suggest_only" | "drafts" | "autopilot_limited"

/** A tenant with the small-business chart, a bookkeeper, the agent and an owner. */
const fixture = (id: string, mode: Mode) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}`, settings: { ai_mode: mode } })
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    const owner = yield* add("Olga", "OWNER")
    const bookkeeper = yield* add("Bea", "BOOKKEEPER")
    const viewer = yield* add("Vic", "VIEWER")
    const agent = yield* add("copilot", "AGENT", "agent")
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenant.id, owner, "standard_small_business")
    return { tenant: tenant.id, owner, bookkeeper, viewer, agent }
  })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const importTxns = (
  fx: Fx,
  rows: ReadonlyArray<{ date: string; description: string; amount: string }>
) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) => b.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "json", transactions: rows })
  )

const companion = Companion.Companion

/** Runs the suite against one adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<
    | CorePorts.CorePorts
    | LP.LedgerPorts
    | GuardrailsPorts.GuardrailsPorts
    | CompanionPorts.CompanionPorts
    | CompanionProbe,
    E
  >,
  _capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`companion conformance: ${name}`, (it) => {
    it.effect("a rule decides, is named in the rationale, and the proposal's details are stored", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-rules", "suggest_only")
        const probe = yield* CompanionProbe
        const c = yield* companion
        const rule = yield* c.createRule(fx.tenant, fx.owner, {
          name: "Rent to 6300",
          description_regex: "^ACH (DEBIT )?OAKWOOD PROPERTY",
          direction: "outflow",
          account_code: "6300"
        })
        yield* importTxns(fx, [
          { date: "2026-01-01", description: "ACH DEBIT OAKWOOD PROPERTY MGMT 0101", amount: "-2400.00" },
          { date: "2026-01-03", description: "SQ *BLUE BOTTLE COFFEE 0423 OAKLAND CA", amount: "-6.75" }
        ])
        const r = yield* c.propose(fx.tenant, fx.agent, {})
        expect(r.items.map((i) => i.status).sort()).toStrictEqual(["proposed", "unresolved"])
        const rent = r.items.find((i) => i.status === "proposed")!
        expect(rent.splits).toStrictEqual([{ account_code: "6300", amount: "2400.00" }])
        expect(rent.rationale).toContain(`Rule “Rent to 6300” (${rule.id})`)
        expect(rent.not_auto_post_reasons).toContain("autopost.mode")
        const coffee = r.items.find((i) => i.status === "unresolved")!
        expect(coffee.questions.join(" ")).toContain("New vendor")
        expect(yield* probe.count("rules", fx.tenant)).toBe(1)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        expect(yield* probe.count("reasons", fx.tenant)).toBe(rent.not_auto_post_reasons.length)
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        // an unsafe pattern is refused and nothing is stored
        const bad = yield* Effect.either(
          c.createRule(fx.tenant, fx.owner, { name: "bad", description_regex: "(a+)+$", account_code: "6300" })
        )
        expect(Either.isLeft(bad) && bad.left.code).toBe("validation.rule_regex")
        // a bookkeeper may not manage rules
        const denied = yield* Effect.either(
          c.createRule(fx.tenant, fx.bookkeeper, { name: "x", description_contains: "x", account_code: "6300" })
        )
        expect(Either.isLeft(denied) && denied.left.code).toBe("rbac.forbidden")
        expect(yield* probe.count("rules", fx.tenant)).toBe(1)
      }))

    it.effect("apply with a correction books the corrected splits once, teaches memory and the classifier", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-correct", "suggest_only")
        const probe = yield* CompanionProbe
        const c = yield* companion
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Staples is supplies",
          description_contains: "STAPLES",
          account_code: "6200"
        })
        yield* importTxns(fx, [{ date: "2026-02-02", description: "STAPLES #1234 SAN JOSE CA", amount: "-120.00" }])
        const proposed = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, proposed.proposal_id!, {
          splits: [{ account_code: "6200", amount: "80.00" }, { account_code: "1500", amount: "40.00" }]
        })
        expect(applied.outcome).toBe("corrected")
        expect(applied.applied_proposal_id).not.toBe(proposed.proposal_id)
        expect(applied.correction?.corrected_splits).toStrictEqual([
          { account_code: "6200", amount_minor: "8000" },
          { account_code: "1500", amount_minor: "4000" }
        ])
        // exactly one canonical entry, the correction's
        expect(yield* probe.entryProposals(fx.tenant)).toStrictEqual([applied.applied_proposal_id])
        expect(yield* probe.review(fx.tenant, proposed.proposal_id!)).toStrictEqual({
          outcome: "corrected",
          entry_id: applied.entry_id,
          applied_proposal_id: applied.applied_proposal_id
        })
        // the label went to memory (as the person) and the classifier has a stored version
        expect((applied.learning.memory as { outcome: string }).outcome).toBe("created")
        expect(yield* probe.count("classifiers", fx.tenant)).toBe(1)
        const memory = yield* AgentMemory.AgentMemoryStore
        const items = yield* memory.itemsByKey(fx.tenant, VendorMemoryStage.labelKey("staples"))
        expect(items.map((i) => [i.status, i.value, i.source_actor])).toStrictEqual([
          ["active", { account_code: "6200" }, fx.bookkeeper.id]
        ])
        // the superseded original never applies again, nor does the applied correction twice
        const again = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, proposed.proposal_id!))
        expect(Either.isLeft(again) && again.left.code).toBe("proposal.closed")
        // provenance from either side names the stages, the correction, who applied and the gates
        const provenance = yield* CompanionProvenance.CompanionProvenance
        const byEvent = yield* provenance.lookup(fx.tenant, fx.viewer, { shadow_event_id: proposed.proposal_id! })
        const byEntry = yield* provenance.lookup(fx.tenant, fx.viewer, { entry_id: applied.entry_id! })
        for (const p of [byEvent, byEntry]) {
          expect(p.shadow_event_id).toBe(proposed.proposal_id)
          expect(p.ai?.deciding_stage).toBe("rules")
          expect((p.ai?.stages as ReadonlyArray<{ stage: string }>).map((s) => s.stage)).toStrictEqual([
            "rules",
            "vendor_memory",
            "classifier"
          ])
          expect(p.correction).toMatchObject({
            original_proposal_id: proposed.proposal_id,
            correction_proposal_id: applied.applied_proposal_id,
            by: fx.bookkeeper.id
          })
          expect(p.applied).toMatchObject({ proposal_id: applied.applied_proposal_id, by: fx.bookkeeper.id })
          expect(p.gates.apply.at(-1)?.gates.map((g) => g.gate)).toContain("ledger.validation")
          expect(p.entry?.id).toBe(applied.entry_id)
          expect(p.bank_transaction?.description).toBe("STAPLES #1234 SAN JOSE CA")
        }
        const twice = yield* c.apply(fx.tenant, fx.bookkeeper, applied.applied_proposal_id)
        expect(twice.already_applied).toBe(true)
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))

    it.effect("shadow_only refuses apply naming the mode; the kill switch refuses propose", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-shadow", "shadow_only")
        const probe = yield* CompanionProbe
        const c = yield* companion
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "fees",
          description_contains: "SERVICE FEE",
          account_code: "6100"
        })
        yield* importTxns(fx, [{ date: "2026-03-01", description: "MONTHLY SERVICE FEE", amount: "-15.00" }])
        const p = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const refused = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, p.proposal_id!))
        expect(Either.isLeft(refused) && [refused.left.code, refused.left.message]).toStrictEqual([
          "mode.forbidden",
          "Apply is blocked in shadow_only mode"
        ])
        const corrected = yield* Effect.either(
          c.apply(fx.tenant, fx.bookkeeper, p.proposal_id!, { splits: [{ account_code: "6200", amount: "15.00" }] })
        )
        expect(Either.isLeft(corrected) && corrected.left.code).toBe("mode.forbidden")
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.count("proposals", fx.tenant)).toBe(1)
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, { kill_switch: true }, fx.owner)
        const off = yield* Effect.either(c.propose(fx.tenant, fx.agent, {}))
        expect(Either.isLeft(off) && off.left.code).toBe("companion.disabled")
      }))

    it.effect("vendor memory: cold-start until three consistent labels, then it decides; a rejection disputes it", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-vendor", "suggest_only")
        const probe = yield* CompanionProbe
        const c = yield* companion
        const rows = [
          "ADOBE *CREATIVE CLD 800-833-6687 CA",
          "ADOBE *CREATIVE CLD 800-833-6687 CA",
          "ADOBE  *CREATIVE CLD 4029357733 CA",
          "ADOBE *CREATIVE CLD 800-833-6687 CA"
        ]
        const statuses: Array<[string | null, boolean]> = []
        for (const [i, description] of rows.entries()) {
          yield* importTxns(fx, [{ date: `2026-0${i + 1}-05`, description, amount: "-54.99" }])
          const item = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
          const detail = yield* c.shadowEvent(fx.tenant, fx.bookkeeper, item.proposal_id ?? "none").pipe(
            Effect.map((e) => e.detail),
            Effect.orElseSucceed(() => null)
          )
          statuses.push([
            detail?.deciding_stage ?? null,
            item.not_auto_post_reasons.includes("autopost.vendor_cold_start")
          ])
          if (item.status === "proposed") {
            yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
          } else {
            // no stage knew the vendor: the person books it by hand through a proposal of their own
            yield* c.createRule(fx.tenant, fx.owner, {
              name: "tmp",
              description_contains: "ADOBE",
              account_code: "6200"
            })
            const ruled = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
            yield* c.apply(fx.tenant, fx.bookkeeper, ruled.proposal_id!)
            for (const r of yield* c.listRules(fx.tenant, fx.owner)) yield* c.deleteRule(fx.tenant, fx.owner, r.id)
          }
        }
        // 1st: nothing known; 2nd, 3rd: memory (cold-start) or classifier; 4th: memory decides
        expect(statuses[0]![0]).toBe(null)
        expect(statuses[3]).toStrictEqual(["vendor_memory", false])
        expect(statuses[1]![1]).toBe(true)
        expect(yield* probe.count("entries", fx.tenant)).toBe(4)
        // a person rejects the next one: the vendor is disputed (cold-start) again
        yield* importTxns(fx, [{
          date: "2026-05-05",
          description: "ADOBE *CREATIVE CLD 800-833-6687 CA",
          amount: "-54.99"
        }])
        const fifth = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        const rejected = yield* c.reject(fx.tenant, fx.bookkeeper, fifth.proposal_id!, "we cancelled Adobe")
        expect(rejected.proposal.status).toBe("rejected")
        expect((yield* probe.review(fx.tenant, fifth.proposal_id!))?.outcome).toBe("rejected")
        // the rejected transaction is unprocessed again: proposed anew, now disputed
        const sixth = (yield* c.propose(fx.tenant, fx.agent, {})).items
        expect(sixth.map((i) => i.bank_transaction_id)).toStrictEqual([fifth.bank_transaction_id])
        expect(sixth[0]!.not_auto_post_reasons).toContain("autopost.vendor_cold_start")
        expect(sixth[0]!.questions.join(" ")).toContain("was rejected")
        const rejections = yield* (yield* AgentMemory.AgentMemoryStore).itemsByKey(
          fx.tenant,
          VendorMemoryStage.rejectionKey("adobe creative cld", "6200")
        )
        expect(rejections.map((i) => [i.status, i.reinforced_count])).toStrictEqual([["active", 1]])
      }))

    it.effect("value breaker: a large amount is still proposed, tier raised, risk reason, trip event, never auto-posted", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-value", "autopilot_limited")
        const probe = yield* CompanionProbe
        const c = yield* companion
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, {
          extensions: { "companion.autopost_enabled": true }
        }, fx.owner)
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Equipment",
          description_contains: "APPLE STORE",
          account_code: "1500"
        })
        yield* importTxns(fx, [{ date: "2026-03-09", description: "APPLE STORE R102 PALO ALTO", amount: "-7999.00" }])
        const item = (yield* c.propose(fx.tenant, fx.agent, {})).items[0]!
        expect(item.status).toBe("proposed")
        expect(item.tier).toBe(2)
        expect(item.risk_reasons).toContain("value_breaker")
        expect(item.not_auto_post_reasons).toContain("autopost.value_breaker")
        const events = yield* (yield* BreakerEvents.BreakerEvents).list({ tenant_id: fx.tenant, limit: 10 })
        expect(events.filter((e) => e.kind === "value").map((e) => e.type)).toStrictEqual(["trip"])
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        const counts = yield* c.notAutoPostCounts(fx.tenant, fx.owner, 0)
        expect(counts["autopost.value_breaker"]).toBe(1)
        // a person may still apply it
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
        expect(applied.outcome).toBe("applied")
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
      }))

    it.effect("re-proposing supersedes the open proposal; drafts batch applies per item", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("c-batch", "drafts")
        const probe = yield* CompanionProbe
        const c = yield* companion
        yield* c.createRule(fx.tenant, fx.owner, {
          name: "Fuel",
          description_regex: "^SHELL OIL \\d+",
          account_code: "6200"
        })
        const imported = yield* importTxns(fx, [
          { date: "2026-04-01", description: "SHELL OIL 57442631 SAN MATEO", amount: "-48.10" },
          { date: "2026-04-08", description: "SHELL OIL 57442631 SAN MATEO", amount: "-51.30" }
        ])
        const first = yield* c.propose(fx.tenant, fx.agent, {})
        const again = yield* c.propose(fx.tenant, fx.agent, { bank_transaction_ids: [imported.ids[0]!] })
        const old = first.items.find((i) => i.bank_transaction_id === imported.ids[0])!
        const superseded = yield* Effect.either(c.apply(fx.tenant, fx.bookkeeper, old.proposal_id!))
        expect(Either.isLeft(superseded) && superseded.left.code).toBe("proposal.closed")
        const ids = [again.items[0]!.proposal_id!, first.items.find((i) => i !== old)!.proposal_id!, old.proposal_id!]
        const batch = yield* c.applyBatch(fx.tenant, fx.bookkeeper, ids)
        expect(batch.map((b) => [b.status, b.error?.code ?? null])).toStrictEqual([
          ["applied", null],
          ["applied", null],
          ["failed", "proposal.closed"]
        ])
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
        // batch apply is a drafts-mode action
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, { ai_mode: "suggest_only" }, fx.owner)
        const refused = yield* Effect.either(c.applyBatch(fx.tenant, fx.bookkeeper, ids))
        expect(Either.isLeft(refused) && refused.left.code).toBe("mode.forbidden")
      }))
  })

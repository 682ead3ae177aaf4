/**
 * The conformance suite of the companion's reports: the auditor over entries broken on purpose in
 * raw storage (each rule catches its case and names its entities), integrity reports stored and
 * listed; run unchanged on memory, SQLite and PostgreSQL.
 */
import { Auditor, Companion, type CompanionPorts, CompanionReportsPorts, VendorMemoryStage } from "@airlock/companion"
import {
  AgentMemoryConfig,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { Guardrails, GuardrailsConfig, type GuardrailsPorts } from "@airlock/guardrails"
import { BankTransaction, Chart, Ledger, LedgerConfig, type LedgerPorts as LP, PeriodLock } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer, TestClock } from "effect"
import { ReportsProbe } from "./support/ReportsProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

type Ports =
  | CorePorts.CorePorts
  | LP.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | CompanionPorts.CompanionPorts
  | CompanionReportsPorts.CompanionReportsPorts
  | ReportsProbe

const T = (s: string) => Ids.TenantId.make(s)

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Layer.mergeAll(Companion.layer, Auditor.Auditor.Default).pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(GuardrailsConfig.layer({ velocityMaxPerMinute: 10_000, valueBreakerThreshold: "5000.00" })),
    Layer.provideMerge(Ledger.layerWithConfig),
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerSeeded(14),
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(ports)
  )

const FEB_1 = Date.parse("2026-02-01T00:00:00Z")

/** A tenant with the small-business chart, people and the agent; `n` ACME transactions booked by a person. */
const bookedTenant = (id: string, n: number) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}`, settings: { ai_mode: "suggest_only" } })
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    const owner = yield* add("Olga", "OWNER")
    const bookkeeper = yield* add("Bea", "BOOKKEEPER")
    const viewer = yield* add("Vic", "VIEWER")
    const agent = yield* add("copilot", "AGENT", "agent")
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenant.id, owner, "standard_small_business")
    const c = yield* Companion.Companion
    yield* c.createRule(tenant.id, owner, { name: "Acme is supplies", description_contains: "ACME", account_code: "6200" })
    const rows = Array.from({ length: n }, (_, i) => ({
      date: `2026-01-${String(i + 2).padStart(2, "0")}`,
      description: `ACME SUPPLY ${i + 1}`,
      amount: `-${(i + 1) * 10}.00`
    }))
    const bank = yield* BankTransaction.BankTransactions
    yield* bank.importFile(tenant.id, bookkeeper, { account_code: "1000", format: "json", transactions: rows })
    const proposed = yield* c.propose(tenant.id, agent, {})
    const booked: Array<{ entry_id: string; proposal_id: string; bank_transaction_id: string }> = []
    for (const item of [...proposed.items].sort((a, b) => (a.bank_transaction_id < b.bank_transaction_id ? -1 : 1))) {
      const r = yield* c.apply(tenant.id, bookkeeper, item.proposal_id!)
      booked.push({ entry_id: r.entry_id!, proposal_id: item.proposal_id!, bank_transaction_id: item.bank_transaction_id })
    }
    return { tenant: tenant.id, owner, bookkeeper, viewer, agent, booked }
  })

const entitiesOf = (report: CompanionReportsPorts.IntegrityReport, code: string, key: string) =>
  report.findings.filter((f) => f.code === code).map((f) => f.entities[key]).sort()

/** Runs the suite against one adapter's ports. */
export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>, _capabilities: Capabilities) =>
  layer(environment(ports), { timeout: 120_000 })(`companion reports conformance: ${name}`, (it) => {
    it.effect("the auditor finds each kind of breakage made in raw storage, and only there", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* bookedTenant("r-audit", 8)
        const probe = yield* ReportsProbe
        const auditor = yield* Auditor.Auditor
        const clean = yield* auditor.run(fx.tenant, { days: 60, by: fx.owner.id })
        expect(clean.status).toBe("clean")
        expect(clean.entries_checked).toBe(8)
        expect(clean.counts).toStrictEqual({})
        expect(clean.audit_records_checked).toBeGreaterThan(0)
        expect(yield* probe.reports(fx.tenant)).toBe(1)

        // the books are locked through Jan 15 an hour later
        yield* TestClock.adjust("1 hour")
        yield* (yield* PeriodLock.PeriodLocks).set(fx.tenant, fx.owner, { lock_date: "2026-01-15" })
        const lockedAt = FEB_1 + 3_600_000
        const [e1, e2, e3, e4, e5, e6, e7, e8] = fx.booked as [typeof fx.booked[0], ...Array<typeof fx.booked[0]>]
        yield* probe.bumpLine(fx.tenant, e1.entry_id, 2)
        yield* probe.bankAmount(fx.tenant, e2!.bank_transaction_id, -1n)
        yield* probe.lineAccount(fx.tenant, e3!.entry_id, 2, "4000")
        yield* probe.entryBank(fx.tenant, e4!.entry_id, e5!.bank_transaction_id)
        yield* probe.entryPostedAt(fx.tenant, e6!.entry_id, lockedAt + 1)
        yield* probe.entryProposalNull(fx.tenant, e7!.entry_id)
        yield* probe.actionStatus(fx.tenant, e8!.proposal_id, "rejected")
        yield* probe.auditSubject(fx.tenant, 1, "tampered")

        yield* TestClock.adjust("1 hour")
        const report = yield* auditor.run(fx.tenant, { days: 60, by: fx.owner.id })
        expect(report.status).toBe("findings")
        expect(report.window_end).toBe("2026-02-01")
        expect(report.window_start).toBe("2025-12-04")
        expect(entitiesOf(report, Auditor.Codes.unbalanced, "entry_id")).toStrictEqual([e1.entry_id])
        // e4 now points at e5's transaction, whose amount differs from e4's
        expect(entitiesOf(report, Auditor.Codes.bankAmount, "entry_id")).toStrictEqual(
          [e2!.entry_id, e4!.entry_id].sort()
        )
        expect(entitiesOf(report, Auditor.Codes.accountType, "entry_id")).toStrictEqual([e3!.entry_id])
        expect(report.findings.find((f) => f.code === Auditor.Codes.accountType)?.entities).toMatchObject({
          account_code: "4000",
          account_type: "Income",
          side: "debit"
        })
        expect(entitiesOf(report, Auditor.Codes.duplicateLive, "bank_transaction_id")).toStrictEqual([
          e5!.bank_transaction_id
        ])
        expect(entitiesOf(report, Auditor.Codes.duplicateLive, "entry_ids")).toStrictEqual([
          [e4!.entry_id, e5!.entry_id].sort().join(",")
        ])
        // e6 (Jan 7) was posted after the lock through Jan 15; the others were posted before it
        expect(entitiesOf(report, Auditor.Codes.lockedPeriod, "entry_id")).toStrictEqual([e6!.entry_id])
        expect(entitiesOf(report, Auditor.Codes.provenanceMissing, "entry_id")).toStrictEqual([e7!.entry_id])
        expect(entitiesOf(report, Auditor.Codes.provenanceBroken, "entry_id")).toStrictEqual(
          [e4!.entry_id, e8!.entry_id].sort()
        )
        expect(entitiesOf(report, Auditor.Codes.chainBroken, "audit_seq")).toStrictEqual([1])
        expect(report.counts).toStrictEqual({
          [Auditor.Codes.unbalanced]: 1,
          [Auditor.Codes.bankAmount]: 2,
          [Auditor.Codes.accountType]: 1,
          [Auditor.Codes.duplicateLive]: 1,
          [Auditor.Codes.lockedPeriod]: 1,
          [Auditor.Codes.provenanceMissing]: 1,
          [Auditor.Codes.provenanceBroken]: 2,
          [Auditor.Codes.chainBroken]: 1
        })
        for (const f of report.findings) expect(f.severity).toBe(Auditor.SeverityOf[f.code])

        // stored, listed newest first, and read back by id
        const store = yield* CompanionReportsPorts.IntegrityReportStore
        const page = yield* store.list(fx.tenant, { limit: 10 })
        expect(page.map((r) => r.id)).toStrictEqual([report.id, clean.id])
        const again = yield* store.get(fx.tenant, report.id)
        expect(again._tag === "Some" && again.value.counts).toStrictEqual(report.counts)
        expect(again._tag === "Some" && again.value.findings).toStrictEqual(report.findings)
        expect(yield* store.list(fx.tenant, { before: report.id, limit: 10 })).toHaveLength(1)
        expect(yield* probe.reports(fx.tenant)).toBe(2)
        // another tenant sees none of it
        expect(yield* store.list(T("r-other"), { limit: 10 })).toHaveLength(0)

        const bad = yield* Effect.either(auditor.run(fx.tenant, { days: 0, by: fx.owner.id }))
        expect(Either.isLeft(bad) && bad.left.code).toBe("validation.auditor_days")
        expect(yield* probe.reports(fx.tenant)).toBe(2)
      }))
  })

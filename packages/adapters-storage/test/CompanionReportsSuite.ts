/**
 * The conformance suite of the companion's reports: the auditor over entries broken on purpose in
 * raw storage (each rule catches its case and names its entities), integrity reports stored and
 * listed; run unchanged on memory, SQLite and PostgreSQL.
 */
import {
  Auditor,
  Companion,
  CompanionPorts,
  CompanionReports,
  CompanionReportsPorts,
  RolloutConfig
} from "@airlock/companion"
import { Ids, Tenants } from "@airlock/core"
import { BudgetStore, Usd, Windows } from "@airlock/guardrails"
import { BankTransaction, PeriodLock } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"
import { ReportsProbe } from "./support/ReportsProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

type Ports = CompanionEnvironment.Ports | CompanionReportsPorts.CompanionReportsPorts | ReportsProbe

const T = (s: string) => Ids.TenantId.make(s)

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Layer.mergeAll(Companion.layer, CompanionEnvironment.Reports).pipe(
    Layer.provideMerge(RolloutConfig.layer()),
    Layer.provideMerge(CompanionEnvironment.foundation(ports, { seed: 14 }))
  )

const FEB_1 = Date.parse("2026-02-01T00:00:00Z")

/** A tenant with the small-business chart, people and the agent; `n` ACME transactions booked by a person. */
const bookedTenant = (id: string, n: number) =>
  Effect.gen(function*() {
    const { agent, bookkeeper, owner, tenant, viewer } = yield* CompanionEnvironment.tenant(id)
    const c = yield* Companion.Companion
    yield* c.createRule(tenant, owner, {
      name: "Acme is supplies",
      description_contains: "ACME",
      account_code: "6200"
    })
    const rows = Array.from({ length: n }, (_, i) => ({
      date: `2026-01-${String(i + 2).padStart(2, "0")}`,
      description: `ACME SUPPLY ${i + 1}`,
      amount: `-${(i + 1) * 10}.00`
    }))
    const bank = yield* BankTransaction.BankTransactions
    yield* bank.importFile(tenant, bookkeeper, { account_code: "1000", format: "json", transactions: rows })
    const proposed = yield* c.propose(tenant, agent, {})
    const booked: Array<{ entry_id: string; proposal_id: string; bank_transaction_id: string }> = []
    for (const item of [...proposed.items].sort((a, b) => (a.bank_transaction_id < b.bank_transaction_id ? -1 : 1))) {
      const r = yield* c.apply(tenant, bookkeeper, item.proposal_id!)
      booked.push({
        entry_id: r.entry_id!,
        proposal_id: item.proposal_id!,
        bank_transaction_id: item.bank_transaction_id
      })
    }
    return { tenant, owner, bookkeeper, viewer, agent, booked }
  })

const DAY = 86_400_000

/** A stored detail as the flow would have left it (only what a report reads varies). */
const detail = (
  tenant: string,
  id: string,
  at: number,
  d: {
    readonly p?: number | null
    readonly outcome?: CompanionPorts.ReviewOutcome | null
    readonly reasons?: ReadonlyArray<string>
    readonly splitMinor?: string
    readonly corrects?: string
  }
) =>
  new CompanionPorts.ProposalDetail({
    tenant_id: tenant,
    proposal_id: id,
    bank_transaction_id: `bt_${id}`,
    vendor_key: "acme",
    amount_minor: "-1000",
    direction: "outflow",
    splits: [{ account_code: "6200", amount_minor: d.splitMinor ?? "1000" }],
    stages: [],
    deciding_stage: "rules",
    confidence: 0.9,
    calibrated_probability: d.p ?? null,
    calibration_version: null,
    classifier_version: null,
    autopost: null,
    not_auto_post_reasons: d.reasons ?? [],
    corrects_proposal_id: d.corrects ?? null,
    created_at: at,
    created_by: "agent",
    review_outcome: d.outcome ?? null,
    reviewed_by: d.outcome ? "bea" : null,
    reviewed_at: d.outcome ? at + 1000 : null,
    review_reason: null,
    final_splits: d.outcome && d.outcome !== "rejected"
      ? [{ account_code: "6200", amount_minor: d.splitMinor ?? "1000" }]
      : null,
    applied_proposal_id: null,
    entry_id: null,
    learning: null,
    version: 1
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

    it.effect("a person's apply over the value breaker is valid provenance, not a finding", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* bookedTenant("r-value", 1)
        const c = yield* Companion.Companion
        const bank = yield* BankTransaction.BankTransactions
        yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "json",
          transactions: [{ date: "2026-01-20", description: "ACME SUPPLY BULK ORDER", amount: "-7500.00" }]
        })
        const proposed = yield* c.propose(fx.tenant, fx.agent, {})
        const item = proposed.items.find((i) => i.proposal_id !== null)!
        const applied = yield* c.apply(fx.tenant, fx.bookkeeper, item.proposal_id!)
        expect(applied.entry_id).not.toBeNull()
        const report = yield* (yield* Auditor.Auditor).run(fx.tenant, { days: 60, by: fx.owner.id })
        expect(report.entries_checked).toBe(2)
        expect(report.findings).toStrictEqual([])
        expect(report.status).toBe("clean")
      }))

    it.effect("the drill-down CSV streams page by page: every proposal of the window once, newest first", () =>
      Effect.gen(function*() {
        const now = FEB_1 + 20 * DAY
        yield* TestClock.setTime(now)
        const tenants = yield* Tenants.Tenants
        const tenant = (yield* tenants.create({ id: T("r-csv"), name: "Csv", settings: {} })).id
        const viewer = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "Vic", role: "VIEWER" })
        const store = yield* CompanionPorts.CompanionProposalStore
        const n = 2 * CompanionReports.PAGE + 1
        const ids = Array.from({ length: n }, (_, i) => `q${String(i).padStart(5, "0")}`)
        yield* Effect.forEach(
          ids,
          (id, i) => store.insert(detail(tenant, id, now - (i + 1) * 1000, { reasons: ["autopost.mode"] })),
          { concurrency: 8, discard: true }
        )
        const reports = yield* CompanionReports.CompanionReports
        const lines = yield* reports.reasonProposalsCsvStream(tenant, viewer, { reason: "autopost.mode", period: "7d" })
        const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(lines))
        // the header, then one chunk per page of PAGE proposals (the last page holds one)
        expect(chunks).toHaveLength(4)
        const rows = chunks.join("").trimEnd().split("\n")
        expect(rows[0]).toBe(
          "proposal_id,bank_transaction_id,vendor_key,amount_minor,created_at,deciding_stage,confidence,calibrated_probability,not_auto_post_reasons,review_outcome"
        )
        expect(rows.slice(1).map((r) => r.split(",")[0])).toStrictEqual(ids)
        expect(yield* reports.reasonProposalsCsv(tenant, viewer, { reason: "autopost.mode", period: "7d" })).toBe(
          chunks.join("")
        )
        // permission is checked before the first line
        const other = (yield* tenants.create({ id: T("r-csv-2"), name: "Other", settings: {} })).id
        const stranger = yield* tenants.addActor({ tenant_id: other, kind: "user", name: "Sam", role: "OWNER" })
        const denied = yield* Effect.either(
          reports.reasonProposalsCsvStream(tenant, stranger, { reason: "autopost.mode", period: "7d" })
        )
        expect(Either.isLeft(denied) && denied.left.code).toBe("tenant.mismatch")
      }))

    it.effect("the shadow report, metrics/latest and the drill-down count each proposal of the window once", () =>
      Effect.gen(function*() {
        const now = FEB_1 + 10 * DAY
        yield* TestClock.setTime(now)
        const tenants = yield* Tenants.Tenants
        const tenant =
          (yield* tenants.create({ id: T("r-shadow"), name: "Shadow", settings: { ai_mode: "suggest_only" } })).id
        const viewer = yield* tenants.addActor({ tenant_id: tenant, kind: "user", name: "Vic", role: "VIEWER" })
        const store = yield* CompanionPorts.CompanionProposalStore
        const mode = "autopost.mode"
        const rows = [
          detail(tenant, "p01", now - 60_000, { p: 0.95, outcome: "applied", reasons: [mode] }),
          detail(tenant, "p02", now - 120_000, { p: 0.95, outcome: "applied", reasons: [mode] }),
          detail(tenant, "p03", now - 180_000, { p: 0.95, outcome: "applied", reasons: [mode] }),
          detail(tenant, "p04", now - 240_000, { p: 0.95, outcome: "applied", reasons: [mode] }),
          detail(tenant, "p05", now - 300_000, { p: 0.92, outcome: "corrected", reasons: [mode] }),
          detail(tenant, "p06", now - 360_000, {
            p: 0.3,
            outcome: "rejected",
            reasons: [mode, "autopost.below_threshold"]
          }),
          detail(tenant, "p07", now - 420_000, { p: 0.97, outcome: "auto_posted" }),
          detail(tenant, "p08", now - 480_000, { p: 0.97, outcome: "auto_posted" }),
          detail(tenant, "p09", now - 540_000, { reasons: [mode, "autopost.vendor_cold_start"] }),
          detail(tenant, "p10", now - 600_000, { reasons: [mode, "autopost.unbalanced"], splitMinor: "900" }),
          // a person's correction is not the AI's proposal; a proposal of 8 days ago is outside 7d
          detail(tenant, "p11", now - 300_000, { outcome: "applied", corrects: "p05" }),
          detail(tenant, "p12", now - 8 * DAY, { p: 0.95, outcome: "applied", reasons: [mode] })
        ]
        for (const r of rows) yield* store.insert(r)
        const budgets = yield* BudgetStore.BudgetStore
        yield* budgets.add(BudgetStore.Scopes.ai(tenant), Windows.monthKey(now), "categorize", Usd.usd("1.25"), null)
        const reports = yield* CompanionReports.CompanionReports
        const r = yield* reports.shadowReport(tenant, viewer, "7d")
        expect(r.population_n).toBe(10)
        expect(r.window_end_ts).toBe("2026-02-11T00:00:00Z")
        expect(r.window_start_ts).toBe("2026-02-04T00:00:00Z")
        expect(r.automation_candidates_rate).toBeCloseTo(0.7, 12)
        expect(r.automation_rate).toBeCloseTo(0.6, 12)
        expect(r.auto_post_rate).toBeCloseTo(0.2, 12)
        expect(r.accuracy).toBeCloseTo(4 / 6, 12)
        expect(r.brier).toBeCloseTo((4 * 0.05 ** 2 + 0.92 ** 2 + 0.3 ** 2) / 6, 12)
        expect(r.ece).toBeCloseTo((5 / 6) * Math.abs((3.8 + 0.92) / 5 - 0.8) + (1 / 6) * 0.3, 12)
        expect(r.calibration_bins[9]).toMatchObject({ count: 5, observed_rate: 0.8 })
        expect(r.calibration_bins[3]).toMatchObject({ count: 1, observed_rate: 0 })
        expect(r.je_imbalance_count).toBe(1)
        expect(r.reconciliation_rate).toBeCloseTo(0.7, 12)
        expect(r.high_confidence).toMatchObject({ threshold: 0.9, n: 5, accuracy: 0.8 })
        expect(r.not_auto_post_counts).toStrictEqual({
          "autopost.below_threshold": 1,
          "autopost.mode": 8,
          "autopost.unbalanced": 1,
          "autopost.vendor_cold_start": 1
        })
        expect(r.llm_spend_usd).toBe("1.25")
        expect(r.llm_budget_status).toStrictEqual({ fallback_active: false, fallback_reason: null })
        expect(r.readiness.p1_to_p2.ready).toBe(false)
        expect(r.readiness.p1_to_p2.criteria.map((c) => [c.name, c.pass])).toStrictEqual([
          ["automation_candidates_rate", false],
          ["je_imbalance_count", false],
          ["brier", false]
        ])
        expect(r.readiness.p2_to_p3.criteria.map((c) => [c.name, c.observed, c.required, c.pass])).toStrictEqual([
          ["high_confidence_accuracy", 0.8, 0.9, false],
          ["reconciliation_rate", 0.7, 0.95, false]
        ])
        // 30 days take in the older proposal too
        expect((yield* reports.shadowReport(tenant, viewer, "30d")).population_n).toBe(11)

        const latest = yield* reports.metricsLatest(tenant, viewer, "7d")
        expect(Object.keys(latest)).toEqual(expect.arrayContaining([
          "schema_version",
          "period",
          "window_start_ts",
          "window_end_ts",
          "population_n",
          "automation_rate",
          "auto_post_rate",
          "accuracy",
          "brier",
          "ece",
          "llm_budget_status",
          "not_auto_post_counts"
        ]))
        expect(latest).toMatchObject({ schema_version: "1.0", period: "7d", population_n: 10 })

        // drill-down: counts by reason, then the proposals under one reason, newest first, by cursor
        expect((yield* reports.reasonCounts(tenant, viewer, "7d")).not_auto_post_counts).toStrictEqual(
          r.not_auto_post_counts
        )
        const first = yield* reports.reasonProposals(tenant, viewer, { reason: mode, period: "7d", limit: 5 })
        expect(first.items.map((i) => i.detail.proposal_id)).toStrictEqual(["p01", "p02", "p03", "p04", "p05"])
        const second = yield* reports.reasonProposals(tenant, viewer, {
          reason: mode,
          period: "7d",
          cursor: first.next_cursor!,
          limit: 5
        })
        expect(second.items.map((i) => i.detail.proposal_id)).toStrictEqual(["p06", "p09", "p10"])
        expect(second.next_cursor).toBeNull()
        const csv = yield* reports.reasonProposalsCsv(tenant, viewer, { reason: "autopost.unbalanced", period: "7d" })
        expect(csv.split("\n").filter((l) => l.length > 0)).toHaveLength(2)
        expect(csv).toContain("p10,bt_p10,acme,-1000")
        const bad = yield* Effect.either(
          reports.reasonProposals(tenant, viewer, { reason: mode, period: "7d", cursor: "nope", limit: 5 })
        )
        expect(Either.isLeft(bad) && bad.left.code).toBe("validation.cursor")
        // across tenants only with tenant.cross; a viewer of another tenant is refused
        const all = yield* Effect.either(reports.reasonCountsAll(viewer, "7d"))
        expect(Either.isLeft(all) && all.left.code).toBe("rbac.forbidden")
        const other = (yield* tenants.create({ id: T("r-shadow-2"), name: "Other", settings: {} })).id
        const stranger = yield* tenants.addActor({ tenant_id: other, kind: "user", name: "Sam", role: "OWNER" })
        const denied = yield* Effect.either(reports.shadowReport(tenant, stranger, "7d"))
        expect(Either.isLeft(denied) && denied.left.code).toBe("tenant.mismatch")
        const admin = yield* tenants.addActor({ tenant_id: other, kind: "user", name: "Ada", role: "ADMIN" })
        const everyone = yield* reports.reasonCountsAll(admin, "7d")
        expect(everyone.tenants.find((t) => t.tenant_id === tenant)?.not_auto_post_counts).toStrictEqual(
          r.not_auto_post_counts
        )
      }))

    it.effect("the drill-down shows each proposal's decision traces", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(FEB_1)
        const fx = yield* bookedTenant("r-drill", 2)
        const reports = yield* CompanionReports.CompanionReports
        const page = yield* reports.reasonProposals(fx.tenant, fx.viewer, {
          reason: "autopost.mode",
          period: "7d",
          limit: 10
        })
        expect(page.items.map((i) => i.detail.proposal_id).sort()).toStrictEqual(
          fx.booked.map((b) => b.proposal_id).sort()
        )
        for (const item of page.items) {
          expect(item.traces.map((t) => t.phase)).toStrictEqual(["propose", "apply"])
          expect(item.traces[1]!.outcome).toBe("allow")
        }
      }))
  })

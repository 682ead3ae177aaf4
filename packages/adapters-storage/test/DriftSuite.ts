/**
 * Drift end to end over storage: bank transactions imported, proposed and booked by people through
 * the real services at chosen times (`TestClock`), then a vendor relabelled and another's amounts
 * jumping in the last 30 days — the next proposal of each carries its drift question (stored with
 * the proposal), the shadow report carries the findings, and a steady vendor has neither; a tenant
 * whose category mix shifts is flagged in its shadow report. Run unchanged on memory, SQLite and
 * PostgreSQL. With them, the other signal a tenant's health shows: the auditor's last run
 * (`TenantHealth.layer` reading the newest stored integrity report).
 */
import {
  Auditor,
  Companion,
  CompanionReports,
  type CompanionReportsPorts,
  RolloutConfig,
  TenantHealth,
  VendorKey
} from "@airlock/companion"
import type { Actor } from "@airlock/core"

import { BankTransaction } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as CompanionEnvironment from "./support/CompanionEnvironment.js"

/** What an adapter can do. */
export interface Capabilities {
  readonly parallelConnections: boolean
}

type Ports = CompanionEnvironment.Ports | CompanionReportsPorts.CompanionReportsPorts | TenantHealth.TenantHealthStore

const DAY = 86_400_000
const NOW = Date.parse("2026-03-01T12:00:00Z")

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Layer.mergeAll(Companion.layer, CompanionEnvironment.Reports, TenantHealth.layer).pipe(
    Layer.provideMerge(RolloutConfig.layer()),
    Layer.provideMerge(CompanionEnvironment.foundation(ports, { seed: 16 }))
  )

/** A tenant with the small-business chart, an owner, a bookkeeper, a viewer, the agent and rules. */
const tenantWithRules = (id: string, rules: ReadonlyArray<readonly [string, string]>) =>
  CompanionEnvironment.tenant(id, { rules })

type Fixture = Effect.Effect.Success<ReturnType<typeof tenantWithRules>>

/** One bank line: a description and a positive outflow in cents. */
interface Line {
  readonly description: string
  readonly cents: number
  /** The account a person books it to instead of the proposal's (a relabel), if any. */
  readonly correctTo?: string
}

const money = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`
const dateOf = (at: number) => new Date(at).toISOString().slice(0, 10)

/** Imports the lines dated today, proposes them and lets the bookkeeper book each (correcting where asked). */
const bookNow = (fx: Fixture, lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const c = yield* Companion.Companion
    const proposed = yield* propose(fx, lines)
    for (const [i, item] of proposed.entries()) {
      const to = lines[i]!.correctTo
      const r = yield* c.apply(
        fx.tenant,
        fx.bookkeeper,
        item.proposal_id!,
        to === undefined ? {} : { splits: [{ account_code: to, amount: money(lines[i]!.cents) }] }
      )
      expect(r.entry_id).not.toBeNull()
    }
  })

/** Imports the lines dated today and proposes them; the items in the lines' order. */
const propose = (fx: Fixture, lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const now = yield* TestClock.currentTimeMillis
    const bank = yield* BankTransaction.BankTransactions
    const imported = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
      account_code: "1000",
      format: "json",
      transactions: lines.map((l) => ({ date: dateOf(now), description: l.description, amount: `-${money(l.cents)}` }))
    })
    expect(imported.new).toBe(lines.length)
    const c = yield* Companion.Companion
    const result = yield* c.propose(fx.tenant, fx.agent, {})
    expect(result.items.map((i) => i.status)).toStrictEqual(lines.map(() => "proposed"))
    expect(result.items.map((i) => i.bank_transaction_id).sort()).toStrictEqual([...imported.ids].sort())
    // the import's ids are in the lines' order
    return imported.ids.map((id) => result.items.find((i) => i.bank_transaction_id === id)!)
  })

const times = (n: number, f: (i: number) => Line) => Array.from({ length: n }, (_, i) => f(i))

/** The questions stored with a proposal (the shadow event's payload). */
const storedQuestions = (fx: Fixture, by: Actor.Actor, proposalId: string) =>
  Effect.map(
    Effect.flatMap(Companion.Companion, (c) => c.shadowEvent(fx.tenant, by, proposalId)),
    (e) => (e.proposal.payload as { readonly questions: ReadonlyArray<string> }).questions
  )

/** Runs the suite against one adapter's ports. */
export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>, _capabilities: Capabilities) =>
  layer(environment(ports), { timeout: 120_000 })(`drift end to end: ${name}`, (it) => {
    it.effect("a relabelled vendor and a vendor whose amounts jump: drift questions on new proposals, findings in the report", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW - 60 * DAY)
        const fx = yield* tenantWithRules("d-vendors", [["ACME", "6200"], ["CLOUDHOST", "6200"], ["PAPERCO", "6200"]])
        const acme = "ACME SUPPLY"
        const cloud = "CLOUDHOST SERVERS"
        const paper = "PAPERCO STATIONERY"
        // history, 60 days ago: 11 of each (the test needs 10), booked as proposed; amounts all distinct
        yield* bookNow(fx, [
          ...times(11, (i) => ({ description: acme, cents: 4_000 + i })),
          ...times(11, (i) => ({ description: cloud, cents: 2_000 + i })),
          ...times(11, (i) => ({ description: paper, cents: 3_000 + i }))
        ])
        // 10 days ago: people book ACME to advertising, CLOUDHOST charges ten times as much, PAPERCO as before
        yield* TestClock.setTime(NOW - 10 * DAY)
        // (5 of each: the test needs 5)
        yield* bookNow(fx, [
          ...times(5, (i) => ({ description: acme, cents: 4_100 + i, correctTo: "6000" })),
          ...times(5, (i) => ({ description: cloud, cents: 20_000 + i })),
          ...times(5, (i) => ({ description: paper, cents: 3_100 + i }))
        ])

        yield* TestClock.setTime(NOW)
        const [a, c, p] = yield* propose(fx, [
          { description: acme, cents: 4_200 },
          { description: cloud, cents: 20_100 },
          { description: paper, cents: 3_200 }
        ])
        const keys = { acme: VendorKey.vendorKey(acme), cloud: VendorKey.vendorKey(cloud) }
        const drift = (qs: ReadonlyArray<string>) => qs.filter((q) => q.startsWith("Drift:"))
        expect(drift(a!.questions)).toStrictEqual([
          `Drift: “${keys.acme}” was booked to 6200 100% of the time before the last 30 days, 0% since: ` +
          "has what you buy from it changed?"
        ])
        expect(drift(c!.questions)).toStrictEqual([
          `Drift: amounts from “${keys.cloud}” moved from a usual 20.05 USD to 200.02 USD in the last 30 days: ` +
          "is this still the same kind of expense?"
        ])
        expect(drift(p!.questions)).toStrictEqual([])
        // stored with the proposals, as a person reviewing them reads them
        expect(drift(yield* storedQuestions(fx, fx.viewer, a!.proposal_id!))).toStrictEqual(drift(a!.questions))
        expect(drift(yield* storedQuestions(fx, fx.viewer, c!.proposal_id!))).toStrictEqual(drift(c!.questions))
        expect(drift(yield* storedQuestions(fx, fx.viewer, p!.proposal_id!))).toStrictEqual([])

        // the shadow report (any period: drift reads 180 days) carries both findings, nothing on PAPERCO,
        // and no category-mix finding (15 recent labels are under the 30 the test needs)
        const reports = yield* CompanionReports.CompanionReports
        for (const period of ["7d", "30d"] as const) {
          const r = yield* reports.shadowReport(fx.tenant, fx.viewer, period)
          expect(r.drift.map((f) => [f.kind, f.subject])).toStrictEqual([
            ["vendor.labels", keys.acme],
            ["vendor.amounts", keys.cloud]
          ])
        }
        const r = yield* reports.shadowReport(fx.tenant, fx.viewer, "30d")
        expect(r.drift[0]!.detail).toMatchObject({
          test: "two_proportion_z",
          account_code: "6200",
          older_share: 1,
          recent_share: 0,
          older_n: 11,
          recent_n: 5,
          recent_top_account: "6000"
        })
        expect(Math.abs(r.drift[0]!.statistic)).toBeGreaterThanOrEqual(r.drift[0]!.threshold)
        expect(r.drift[0]!.threshold).toBeCloseTo(2.5758, 4)
        expect(r.drift[1]!.detail).toMatchObject({
          test: "robust_z_log_amount",
          older_median_minor: 2005,
          recent_median_minor: 20002,
          older_n: 11,
          recent_n: 5
        })
        expect(r.drift[1]!.statistic).toBeGreaterThanOrEqual(3.5)
      }))

    it.effect("a tenant whose category mix shifts is flagged in its shadow report; a steady one is not", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW - 90 * DAY)
        const rules = [["PAPERCO", "6200"], ["BILLBOARD", "6000"], ["LANDLORD", "6300"]] as const
        const shifted = yield* tenantWithRules("d-mix", rules)
        const steady = yield* tenantWithRules("d-mix-steady", rules)
        // before: mostly supplies; the last 30 days: mostly advertising (new vendors each, so no vendor history)
        const before = (k: number) => [
          ...times(24, (i) => ({ description: `PAPERCO STORE ${String.fromCharCode(65 + i)}`, cents: k + i })),
          ...times(6, (i) => ({ description: `LANDLORD ${String.fromCharCode(65 + i)}`, cents: k + 100 + i }))
        ]
        yield* bookNow(shifted, before(1_000))
        yield* bookNow(steady, before(1_000))
        yield* TestClock.setTime(NOW - 5 * DAY)
        yield* bookNow(shifted, [
          ...times(24, (i) => ({ description: `BILLBOARD ${String.fromCharCode(65 + i)}`, cents: 5_000 + i })),
          ...times(6, (i) => ({ description: `PAPERCO STORE ${String.fromCharCode(65 + i)}`, cents: 1_030 + i }))
        ])
        yield* bookNow(steady, before(1_050))
        yield* TestClock.setTime(NOW)
        const reports = yield* CompanionReports.CompanionReports
        const r = yield* reports.shadowReport(shifted.tenant, shifted.viewer, "30d")
        // the vendors themselves did not drift: the one finding is the tenant's
        const mix = r.drift
        expect(mix.map((f) => [f.kind, f.subject])).toStrictEqual([["tenant.category_mix", shifted.tenant]])
        expect(mix[0]!.detail).toStrictEqual({ test: "jensen_shannon_distance", older_n: 30, recent_n: 30 })
        // 80/20 supplies/rent before, 80/20 advertising/supplies since: Jensen–Shannon distance ≈ 0.80
        expect(mix[0]!.statistic).toBeCloseTo(0.7994, 3)
        expect(mix[0]!.threshold).toBe(0.25)
        const calm = yield* reports.shadowReport(steady.tenant, steady.viewer, "30d")
        expect(calm.drift).toStrictEqual([])
      }))

    it.effect("the tenant health shows the auditor's newest integrity report as last_auditor_run", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW)
        const fx = yield* tenantWithRules("d-health", [["ACME", "6200"]])
        const health = yield* TenantHealth.TenantHealth
        expect((yield* health.health(fx.tenant, fx.owner)).last_auditor_run).toBeNull()
        const auditor = yield* Auditor.Auditor
        yield* auditor.run(fx.tenant, { days: 30, by: fx.owner.id })
        yield* bookNow(fx, [{ description: "ACME SUPPLY", cents: 1_234 }])
        yield* TestClock.adjust("1 hour")
        const second = yield* auditor.run(fx.tenant, { days: 7, by: fx.bookkeeper.id })
        const h = yield* health.health(fx.tenant, fx.owner)
        expect(h.last_auditor_run).toStrictEqual({
          id: second.id,
          at: NOW + 3_600_000,
          by: fx.bookkeeper.id,
          days: 7,
          window_start: second.window_start,
          window_end: "2026-03-01",
          status: "clean",
          finding_count: 0,
          counts: {}
        })
        // another tenant's health knows nothing of it
        const other = yield* tenantWithRules("d-health-2", [])
        expect((yield* health.health(other.tenant, other.owner)).last_auditor_run).toBeNull()
      }))
  })

/**
 * Categorization quality (issue #13, bench item 1) of the real companion service, on the
 * committed data set `examples/bench/data/companion-transactions.jsonl` (see `companion-data.ts`).
 *
 * The product runs, not a model of it: `Companion` over the in-memory adapter, the ledger, core's
 * pipeline and guardrails, without a language model. One tenant in `autopilot_limited` with
 * `autopost_enabled` (every other setting at its default: target precision 0.95, δ 0.05, 5 %
 * spot checks, cold-start minimum 3, value breaker 5,000.00), the data set's 27 accounts and two
 * business rules (Stripe payouts → 4000, Gusto payroll → 6000: without one applied proposal nothing
 * ever trains, and a host would start with its own rules). The data set is streamed a week at a
 * time under `TestClock`: the clock is set to the week's Sunday, its transactions are imported,
 * the agent proposes for them (plus any left unresolved the week before) and the auto-post gate
 * decides; an hour later "the person" applies each remaining proposal when it matches the data
 * set's label and corrects it to the label otherwise (a refund into an expense account, which the
 * ledger refuses on a money-in line, is rejected instead). Reviews teach vendor memory and the
 * classifier; the service refits its calibration and certificate itself (every ten reviews).
 * Auto-posted items are checked against the labels, which nobody in the product sees: that is the
 * realised precision.
 *
 * Every proposal is made before its label is known, so every figure is out of sample. Printed per
 * quarter: accuracy of the proposed account (unresolved counts as wrong), Brier and ECE of the
 * calibrated probability (10 uniform bins; proposals with a p), the share auto-posted (coverage),
 * the realised precision of what auto-posted against the certified target and the certificates'
 * bound (the largest error upper bound of the certificates in force), and the hindsight ceiling:
 * the largest share of the quarter a threshold chosen after the fact could have auto-posted at
 * the target precision among proposals the other gates allow (calibrated, vendor not cold-start,
 * no value breaker).
 */
import { Memory } from "@airlock/adapters-storage"
import { CalibrationMetrics, Certification, Companion, VendorMemoryStage } from "@airlock/companion"
import { AgentMemoryConfig, CoreConfig, Ids, Kernel, Rbac, SecureRandom, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig } from "@airlock/guardrails"
import { BankTransaction, Chart, Ledger, LedgerConfig } from "@airlock/ledger"
import { Effect, Layer, Option, TestClock, TestContext } from "effect"
import { readFileSync } from "node:fs"
import type { BenchRecord } from "./companion-data.js"
import type { BenchRow } from "./main.js"

/** One transaction as the bench streams it. */
export interface BenchTransaction {
  readonly id: string
  readonly date: string
  /** Epoch ms of the date (midday UTC). */
  readonly at: number
  readonly description: string
  readonly payee: string | null
  readonly amount_minor: bigint
  readonly direction: "inflow" | "outflow"
  /** The bookkeeper's label. */
  readonly account_code: string
}

/** The figures of one quarter. */
export interface QuarterReport {
  readonly quarter: string
  readonly n: number
  readonly accuracy: number
  readonly brier: number | null
  readonly ece: number | null
  readonly n_calibrated: number
  readonly auto_posted: number
  readonly coverage: number
  readonly realised_precision: number | null
  /** The largest certified error upper bound in force when something auto-posted (1 − it is the certified precision). */
  readonly bound: number | null
  readonly thresholds: ReadonlyArray<number | null>
  readonly ceiling: number
  readonly spot_checked: number
  readonly unresolved: number
  readonly rejected: number
}

/** Read the committed data set. */
export const loadData = (): ReadonlyArray<BenchTransaction> =>
  readFileSync(new URL("./data/companion-transactions.jsonl", import.meta.url), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const r = JSON.parse(l) as BenchRecord
      const amount = BigInt(r.amount_minor)
      return {
        id: r.id,
        date: r.date,
        at: Date.parse(`${r.date}T12:00:00Z`),
        description: r.description,
        payee: r.payee,
        amount_minor: amount,
        direction: amount < 0n ? "outflow" : "inflow",
        account_code: r.account_code
      }
    })

/** The committed chart (code and name). */
export const loadAccounts = (): ReadonlyArray<{ readonly code: string; readonly name: string }> =>
  JSON.parse(readFileSync(new URL("./data/companion-accounts.json", import.meta.url), "utf8")) as ReadonlyArray<
    { code: string; name: string }
  >

/** Largest share of `items` (out of `total`) a threshold chosen after the fact could auto-post at `target` precision. */
export const hindsightCeiling = (
  items: ReadonlyArray<{ p: number; correct: boolean }>,
  target: number,
  total: number
): number => {
  const sorted = [...items].sort((a, b) => b.p - a.p)
  let best = 0
  let right = 0
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.correct) right++
    // a threshold takes every item with an equal probability
    if (i + 1 < sorted.length && sorted[i + 1]!.p === sorted[i]!.p) continue
    if (right / (i + 1) >= target) best = i + 1
  }
  return total === 0 ? 0 : best / total
}

const typeOf = (code: string) =>
  code.startsWith("1")
    ? "Asset"
    : code.startsWith("2")
    ? "Liability"
    : code.startsWith("3")
    ? "Equity"
    : code.startsWith("4")
    ? "Income"
    : "Expense"

const decimal = (minor: bigint) => {
  const a = minor < 0n ? -minor : minor
  return `${minor < 0n ? "-" : ""}${a / 100n}.${(a % 100n).toString().padStart(2, "0")}`
}

const DAY = 86_400_000

const environment = Companion.layer.pipe(
  Layer.provideMerge(Guardrails.layer),
  Layer.provideMerge(GuardrailsConfig.layer({ velocityMaxPerMinute: 1_000_000_000, rateLimitEnabled: false })),
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
  Layer.provideMerge(Memory.layer)
)

interface Quarter {
  n: number
  right: number
  scored: Array<{ p: number; correct: boolean }>
  gated: Array<{ p: number; correct: boolean }>
  auto: number
  autoRight: number
  spot: number
  unresolved: number
  rejected: number
  bound: number | null
  thresholds: Map<string, number | null>
}

/** Streams the data set through the companion service: figures per quarter and the run's timing. */
const runService = (data: ReadonlyArray<BenchTransaction>) =>
  Effect.gen(function*() {
    const first = Date.parse(`${data[0]!.date}T00:00:00Z`)
    yield* TestClock.setTime(first - DAY)
    const tenants = yield* Tenants.Tenants
    const tenant = (yield* tenants.create({
      id: Ids.TenantId.make("bench"),
      name: "Quality bench",
      settings: { ai_mode: "autopilot_limited" }
    })).id
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant, kind, name, role })
    const owner = yield* add("Olga", "OWNER")
    const person = yield* add("Bea", "BOOKKEEPER")
    const agent = yield* add("copilot", "AGENT", "agent")
    // the bench's tenant starts where a tenant's own approved settings change would leave it
    yield* tenants.updateSettings(tenant, { extensions: { "companion.autopost_enabled": true } }, owner)
    const chart = yield* Chart.ChartOfAccounts
    for (const a of [{ code: "1000", name: "Operating account" }, ...loadAccounts()]) {
      yield* chart.create(tenant, owner, { code: a.code, name: a.name, type: typeOf(a.code) })
    }
    const companion = yield* Companion.Companion
    yield* companion.createRule(tenant, owner, {
      name: "Stripe payouts are sales",
      description_contains: "STRIPE TRANSFER",
      direction: "inflow",
      account_code: "4000"
    })
    yield* companion.createRule(tenant, owner, {
      name: "Gusto payroll is wages",
      description_contains: "GUSTO",
      direction: "outflow",
      account_code: "6000"
    })
    const bank = yield* BankTransaction.BankTransactions
    const labels = new Map<string, BenchTransaction>()
    const quarters = new Map<string, Quarter>()
    const quarterOf = (date: string) => `${date.slice(0, 4)}-Q${Math.floor((Number(date.slice(5, 7)) - 1) / 3) + 1}`
    const q = (key: string) => {
      let v = quarters.get(key)
      if (v === undefined) {
        v = {
          n: 0,
          right: 0,
          scored: [],
          gated: [],
          auto: 0,
          autoRight: 0,
          spot: 0,
          unresolved: 0,
          rejected: 0,
          bound: null,
          thresholds: new Map()
        }
        quarters.set(key, v)
      }
      return v
    }
    let waiting: Array<string> = []
    const seen = new Set<string>()
    let proposeMs = 0
    let reviewMs = 0
    let reviews = 0
    for (let weekStart = first; weekStart <= data[data.length - 1]!.at; weekStart += 7 * DAY) {
      const txs = data.filter((t) => t.at >= weekStart && t.at < weekStart + 7 * DAY)
      if (txs.length === 0) continue
      const monday = new Date(weekStart).toISOString().slice(0, 10)
      const quarter = q(quarterOf(monday))
      yield* TestClock.setTime(weekStart + 6 * DAY + 9 * 3_600_000)
      const imported = yield* bank.importFile(tenant, person, {
        account_code: "1000",
        format: "json",
        transactions: txs.map((t) => ({ date: t.date, description: t.description, amount: decimal(t.amount_minor) }))
      })
      imported.ids.forEach((id, i) => labels.set(id, txs[i]!))
      const t0 = performance.now()
      const result = yield* companion.propose(tenant, agent, { bank_transaction_ids: [...waiting, ...imported.ids] })
      proposeMs += performance.now() - t0
      waiting = []
      const cal = Option.getOrNull(yield* companion.calibration(tenant))
      const cert = (cal?.certificate ?? null) as { threshold: number | null; error_upper_bound: number } | null
      quarter.thresholds.set(monday, cert?.threshold ?? null)
      yield* TestClock.adjust("1 hour")
      for (const item of result.items) {
        const label = labels.get(item.bank_transaction_id)!
        const firstTime = !seen.has(item.bank_transaction_id)
        seen.add(item.bank_transaction_id)
        if (item.status === "unresolved") {
          if (firstTime) {
            quarter.n++
            quarter.unresolved++
          }
          waiting.push(item.bank_transaction_id)
          continue
        }
        if (item.status !== "proposed" && item.status !== "auto_posted") {
          return yield* Effect.die(new Error(`${item.bank_transaction_id}: ${JSON.stringify(item.error)}`))
        }
        const correct = item.splits.length === 1 && item.splits[0]!.account_code === label.account_code
        const p = item.calibrated_probability
        if (firstTime) {
          quarter.n++
          if (correct) quarter.right++
        }
        if (p !== null) quarter.scored.push({ p, correct })
        if (
          p !== null && !item.risk_reasons.includes("vendor_cold_start") && !item.risk_reasons.includes("value_breaker")
        ) quarter.gated.push({ p, correct })
        if (item.not_auto_post_reasons.includes("autopost.spot_check")) quarter.spot++
        if (item.status === "auto_posted") {
          quarter.auto++
          if (correct) quarter.autoRight++
          if (cert !== null) quarter.bound = Math.max(quarter.bound ?? 0, cert.error_upper_bound)
          continue
        }
        // the person reviews: applies a right proposal, corrects a wrong one to the label
        const r0 = performance.now()
        const amount = decimal(label.amount_minor < 0n ? -label.amount_minor : label.amount_minor)
        const reviewed = yield* Effect.either(
          companion.apply(
            tenant,
            person,
            item.proposal_id!,
            correct ? {} : { splits: [{ account_code: label.account_code, amount }] }
          )
        )
        if (reviewed._tag === "Left") {
          yield* companion.reject(tenant, person, item.proposal_id!, `booked by hand: ${reviewed.left.code}`)
          quarter.rejected++
        }
        reviewMs += performance.now() - r0
        reviews++
        yield* TestClock.adjust("1 second")
      }
    }
    const reports: Array<QuarterReport> = [...quarters.entries()].map(([quarter, v]) => ({
      quarter,
      n: v.n,
      accuracy: v.right / Math.max(1, v.n),
      brier: v.scored.length === 0 ? null : CalibrationMetrics.brier(v.scored),
      ece: v.scored.length === 0 ? null : CalibrationMetrics.ece(v.scored, { bins: 10, strategy: "uniform" }).ece,
      n_calibrated: v.scored.length,
      auto_posted: v.auto,
      coverage: v.auto / Math.max(1, v.n),
      realised_precision: v.auto === 0 ? null : v.autoRight / v.auto,
      bound: v.bound,
      thresholds: [...v.thresholds.values()],
      ceiling: hindsightCeiling(v.gated, TARGET, v.n),
      spot_checked: v.spot,
      unresolved: v.unresolved,
      rejected: v.rejected
    }))
    const finalCalibration = Option.getOrNull(yield* companion.calibration(tenant))
    return { reports, proposeMs, reviewMs, reviews, finalCalibration }
  })

/** The target precision the tenant is left at (the default). */
const TARGET = 0.95

const pct = (x: number) => `${(100 * x).toFixed(1)} %`

/** `pnpm bench companion-quality`. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const data = loadData()
  const accounts = loadAccounts()
  const rows: Array<BenchRow> = []
  rows.push({
    name: "data set",
    value: `${data.length} transactions, ${
      new Set(data.map((t) => t.date.slice(0, 7))).size
    } months, ${accounts.length} accounts`
  })
  rows.push({
    name: "cold start (δ = 0.05): clean reviewed items to certify 0.95 / 0.99",
    value: `${Certification.minCleanItems(0.95, 0.05)} (one error: ${Certification.minCleanItems(0.95, 0.05, 1)}) / ${
      Certification.minCleanItems(0.99, 0.05)
    } (one error: ${Certification.minCleanItems(0.99, 0.05, 1)})`
  })
  const t0 = performance.now()
  const r = await Effect.runPromise(
    runService(data).pipe(Effect.provide(environment), Effect.provide(TestContext.TestContext), Effect.scoped)
  )
  const totalMs = performance.now() - t0
  let total = 0
  let auto = 0
  let autoRight = 0
  let evaluated = 0
  for (const q of r.reports) {
    total += q.n
    auto += q.auto_posted
    autoRight += q.realised_precision === null ? 0 : Math.round(q.realised_precision * q.auto_posted)
    evaluated++
    rows.push({
      name: `${q.quarter} (${q.n} tx)`,
      value:
        `accuracy ${pct(q.accuracy)}, Brier ${q.brier === null ? "n/a" : q.brier.toFixed(3)}, ECE ${
          q.ece === null ? "n/a" : q.ece.toFixed(3)
        } (${q.n_calibrated} with p), auto-posted ${
          pct(q.coverage)
        } (${q.auto_posted}; spot-checked ${q.spot_checked}), ` +
        `realised precision ${q.realised_precision === null ? "n/a" : pct(q.realised_precision)}${
          q.bound === null ? "" : ` (certified error bound ≤ ${q.bound.toFixed(3)})`
        }, certified ${q.thresholds.filter((t) => t !== null).length}/${q.thresholds.length} weeks${
          q.thresholds.some((t) => t !== null)
            ? ` at ${Math.min(...q.thresholds.filter((t) => t !== null))}–${
              Math.max(...q.thresholds.filter((t) => t !== null))
            }`
            : ""
        }, unresolved ${q.unresolved}, rejected ${q.rejected}`,
      baseline: `hindsight ceiling ${pct(q.ceiling)}`,
      target: `precision ≥ ${pct(TARGET)}${
        q.realised_precision === null ? "" : q.realised_precision >= TARGET ? " ✓" : " ✗"
      }`
    })
  }
  const cal = r.finalCalibration
  const stages = (cal?.calibrator as { stages?: Record<string, { version: string }> } | null)?.stages ?? {}
  rows.push({
    name: `all ${evaluated} quarters`,
    value: `auto-posted ${pct(auto / Math.max(1, total))} of ${total}, realised precision ${
      auto === 0 ? "n/a" : pct(autoRight / auto)
    }; final calibration v${cal?.version ?? 0} (${Object.values(stages).map((s) => s.version).join(", ")})`
  })
  rows.push({
    name: "time",
    value: `${(totalMs / 1000).toFixed(1)} s in all; propose ${(r.proposeMs / 1000).toFixed(1)} s (${
      (r.proposeMs / data.length).toFixed(1)
    } ms a transaction), ${r.reviews} reviews ${(r.reviewMs / 1000).toFixed(1)} s (${
      (r.reviewMs / Math.max(1, r.reviews)).toFixed(1)
    } ms each)`
  })
  return rows
}

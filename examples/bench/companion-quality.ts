/**
 * Categorization quality (issue #13, bench item 1), on the committed data set
 * `examples/bench/data/companion-transactions.jsonl` (see `companion-data.ts`).
 *
 * A chain is streamed month by month. The first `WARMUP_MONTHS` months are history: every
 * transaction is proposed and reviewed (a person labels it), so vendor memory, the classifier and
 * the calibrators learn. From then on, at the start of each month the calibrators are refitted
 * per stage on reviewed history (out of sample: fitted on earlier months only, applied to this
 * month) and the auto-post threshold is certified on the reviewed items of the recent window.
 * Each transaction is proposed; it auto-posts when the threshold is certified, its calibrated
 * probability is at or above it, its vendor is not cold-start and it is not in the spot-check
 * slice; everything else is "reviewed" with the data set's label (and teaches the chain).
 *
 * Printed per quarter: accuracy of the chain's top answer, Brier and ECE of the calibrated
 * probability (10 uniform bins), the share auto-posted (coverage), the realised precision of what
 * auto-posted against the certified target, and the hindsight ceiling — the largest share of the
 * quarter that could have auto-posted at the target precision with a threshold picked after the
 * fact, among the items the other gates allow (vendor not cold-start), spot checks included.
 *
 * The chain is a parameter ({@link BenchChain}): `referenceChain` is vendor memory (cold-start
 * minimum 3 consistent labels) then the naive-Bayes classifier; the companion service can be
 * swapped in.
 *
 * Knobs (environment, bench only): `BENCH_COMPANION_TARGET` (0.95), `BENCH_COMPANION_WINDOW`
 * (certification window in days, 90), `BENCH_COMPANION_START` (`start_errors`, 1),
 * `BENCH_COMPANION_SPOT` (spot-check rate, 0.05), `BENCH_COMPANION_DECAY` (classifier monthly
 * decay, 0.9); `BENCH_COMPANION_DEBUG=1` prints each month's certificate.
 */
import { Calibration, CalibrationMetrics, Certification, Classifier, VendorKey } from "@airlock/companion"
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

/** What a chain answers for one transaction. */
export interface ChainProposal {
  /** The proposed account, or null when the chain has no answer. */
  readonly account_code: string | null
  /** Raw confidence (0 … 1), calibrated per stage by the bench. */
  readonly score: number
  /** The stage that answered: calibration is fitted per stage. */
  readonly stage: string
  /** Is the vendor still cold-start (fewer consistent labels than the minimum)? */
  readonly cold_start: boolean
}

/** A categorizer chain under test. */
export interface BenchChain {
  readonly name: string
  readonly propose: (tx: BenchTransaction) => ChainProposal
  /** A label: `person` after review, `auto` when the chain's own answer was auto-posted. */
  readonly learn: (tx: BenchTransaction, account_code: string, source: "person" | "auto") => void
  /** Called after each month (retraining happens here). */
  readonly endOfMonth: () => void
}

/** Options of the reference chain. */
export interface ReferenceChainOptions {
  readonly accounts: ReadonlyArray<string>
  /** Consistent labels before a vendor is decided by memory (default 3). */
  readonly coldstart_min_labels?: number
  /** Multiplies the classifier's counts each month, so drift is followed (default 0.9). */
  readonly monthly_decay?: number
}

/**
 * The reference chain: vendor memory decides once the vendor's latest `coldstart_min_labels`
 * labels agree (raw score `(streak+1)/(streak+2)`); otherwise the classifier ranks, and the vendor
 * counts as cold-start.
 */
export const referenceChain = (options: ReferenceChainOptions): BenchChain => {
  const min = options.coldstart_min_labels ?? 3
  const decay = options.monthly_decay ?? Number(process.env.BENCH_COMPANION_DECAY ?? 0.9)
  const memory = new Map<string, Array<string>>()
  let model = Classifier.empty()
  let pending: Array<Classifier.TrainingExample> = []
  const streak = (labels: ReadonlyArray<string>) => {
    let s = 0
    for (let i = labels.length - 1; i >= 0 && labels[i] === labels[labels.length - 1]; i--) s++
    return s
  }
  return {
    name: "reference (vendor memory + naive Bayes)",
    propose: (tx) => {
      const key = VendorKey.vendorKey(tx.description, tx.payee)
      const labels = memory.get(key) ?? []
      const s = streak(labels)
      if (s >= min) {
        return {
          account_code: labels[labels.length - 1]!,
          score: (s + 1) / (s + 2),
          stage: "vendor_memory",
          cold_start: false
        }
      }
      // fewer than `min` consistent latest labels: the vendor is cold-start (new, or relabelled and
      // not yet confirmed), and the classifier's answer is a ranked guess for a person
      const top = Classifier.predict(model, tx, options.accounts)[0]
      return {
        account_code: top?.account_code ?? null,
        score: top?.score ?? 0,
        stage: "classifier",
        cold_start: true
      }
    },
    learn: (tx, account_code, source) => {
      const key = VendorKey.vendorKey(tx.description, tx.payee)
      const labels = memory.get(key) ?? []
      labels.push(account_code)
      if (labels.length > 20) labels.shift()
      memory.set(key, labels)
      if (source === "person") pending.push({ ...tx, account_code })
    },
    endOfMonth: () => {
      model = Classifier.train(decay < 1 ? Classifier.decay(model, decay) : model, pending)
      pending = []
    }
  }
}

/** Options of a quality run. */
export interface QualityOptions {
  readonly warmup_months?: number
  readonly target_precision?: number
  readonly delta?: number
  readonly window_days?: number
  readonly spot_check_rate?: number
  readonly half_life_days?: number | null
  readonly start_errors?: number
}

/** The figures of one quarter. */
export interface QuarterReport {
  readonly quarter: string
  readonly n: number
  readonly accuracy: number
  readonly brier: number
  readonly ece: number
  readonly n_calibrated: number
  readonly auto_posted: number
  readonly coverage: number
  readonly realised_precision: number | null
  readonly certified_months: number
  readonly thresholds: ReadonlyArray<number | null>
  readonly ceiling: number
  readonly spot_checked: number
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

/** The account codes of the committed chart. */
export const loadAccounts = (): ReadonlyArray<string> =>
  (JSON.parse(readFileSync(new URL("./data/companion-accounts.json", import.meta.url), "utf8")) as ReadonlyArray<
    { code: string }
  >).map((a) => a.code)

/** Largest share of `items` (out of `total`) a threshold chosen after the fact could auto-post at `target` precision. */
const hindsightCeiling = (items: ReadonlyArray<{ p: number; correct: boolean }>, target: number, total: number) => {
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

/** Stream the data set through a chain; figures per quarter of the evaluated months. */
export const runQuality = (
  chain: BenchChain,
  data: ReadonlyArray<BenchTransaction>,
  options: QualityOptions = {}
): ReadonlyArray<QuarterReport> => {
  const warmup = options.warmup_months ?? 6
  const target = options.target_precision ?? 0.95
  const delta = options.delta ?? 0.05
  const windowDays = options.window_days ?? Certification.DEFAULT_WINDOW_DAYS
  const rate = options.spot_check_rate ?? Certification.DEFAULT_SPOT_CHECK_RATE
  const halfLife = options.half_life_days === undefined ? 90 : options.half_life_days
  const months = [...new Set(data.map((t) => t.date.slice(0, 7)))].sort()
  const history = new Map<string, Array<Calibration.HistoryItem>>()
  const reviewed: Array<Certification.CertifyItem> = []
  const quarters = new Map<string, {
    n: number
    right: number
    scored: Array<{ p: number; correct: boolean }>
    /** Scored items the other gates allow (vendor not cold-start): the hindsight ceiling's population. */
    gated: Array<{ p: number; correct: boolean }>
    auto: number
    autoRight: number
    spot: number
    thresholds: Array<number | null>
  }>()
  months.forEach((month, index) => {
    const txs = data.filter((t) => t.date.startsWith(month))
    const monthStart = Date.parse(`${month}-01T00:00:00Z`)
    const evaluating = index >= warmup
    const calibrators = new Map<string, Calibration.Calibrator | null>()
    for (const [stage, h] of history) {
      calibrators.set(stage, Calibration.fit(h, { now: monthStart, half_life_days: halfLife }))
    }
    const cert = Certification.certify(reviewed, {
      now: monthStart,
      target_precision: target,
      delta,
      window_days: windowDays,
      start_errors: options.start_errors ?? Certification.DEFAULT_START_ERRORS
    })
    const [y, m] = month.split("-").map(Number) as [number, number]
    const quarterKey = `${y}-Q${Math.floor((m - 1) / 3) + 1}`
    const q = quarters.get(quarterKey) ??
      { n: 0, right: 0, scored: [], gated: [], auto: 0, autoRight: 0, spot: 0, thresholds: [] }
    if (process.env.BENCH_COMPANION_DEBUG) console.log(month, JSON.stringify(cert))
    if (evaluating) {
      q.thresholds.push(cert.threshold)
      quarters.set(quarterKey, q)
    }
    for (const tx of txs) {
      const proposal = chain.propose(tx)
      const correct = proposal.account_code === tx.account_code
      const calibrator = calibrators.get(proposal.stage) ?? null
      const p = calibrator === null ? null : Calibration.calibrate(calibrator, proposal.score)
      const eligible = evaluating && cert.threshold !== null && p !== null && p >= cert.threshold &&
        !proposal.cold_start && proposal.account_code !== null
      const spot = eligible && Certification.spotCheck(tx.id, rate)
      if (evaluating) {
        q.n++
        if (correct) q.right++
        if (p !== null) q.scored.push({ p, correct })
        if (p !== null && !proposal.cold_start && proposal.account_code !== null) q.gated.push({ p, correct })
        if (spot) q.spot++
      }
      if (eligible && !spot) {
        q.auto++
        if (correct) q.autoRight++
        chain.learn(tx, proposal.account_code!, "auto")
        continue
      }
      // reviewed: a person labels it; the outcome feeds calibration and certification
      chain.learn(tx, tx.account_code, "person")
      const stageHistory = history.get(proposal.stage) ?? []
      stageHistory.push({ score: proposal.score, correct, at: tx.at })
      history.set(proposal.stage, stageHistory)
      // certification evidence: reviewed items of the population that may auto-post (vendor not cold-start)
      if (p !== null && !proposal.cold_start) reviewed.push({ p, correct, at: tx.at })
    }
    chain.endOfMonth()
  })
  return [...quarters.entries()].map(([quarter, q]) => ({
    quarter,
    n: q.n,
    accuracy: q.right / Math.max(1, q.n),
    brier: CalibrationMetrics.brier(q.scored),
    ece: CalibrationMetrics.ece(q.scored, { bins: 10, strategy: "uniform" }).ece,
    n_calibrated: q.scored.length,
    auto_posted: q.auto,
    coverage: q.auto / Math.max(1, q.n),
    realised_precision: q.auto === 0 ? null : q.autoRight / q.auto,
    certified_months: q.thresholds.filter((t) => t !== null).length,
    thresholds: q.thresholds,
    ceiling: hindsightCeiling(q.gated, target, q.n),
    spot_checked: q.spot
  }))
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`

/** `pnpm bench companion-quality`. */
export const run = async (): Promise<ReadonlyArray<BenchRow>> => {
  const data = loadData()
  const accounts = loadAccounts()
  const target = Number(process.env.BENCH_COMPANION_TARGET ?? 0.95)
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
  const chain = referenceChain({ accounts })
  const reports = runQuality(chain, data, {
    target_precision: target,
    ...(process.env.BENCH_COMPANION_WINDOW ? { window_days: Number(process.env.BENCH_COMPANION_WINDOW) } : {}),
    ...(process.env.BENCH_COMPANION_START ? { start_errors: Number(process.env.BENCH_COMPANION_START) } : {}),
    ...(process.env.BENCH_COMPANION_SPOT ? { spot_check_rate: Number(process.env.BENCH_COMPANION_SPOT) } : {})
  })
  let total = 0
  let auto = 0
  let autoRight = 0
  for (const r of reports) {
    total += r.n
    auto += r.auto_posted
    autoRight += r.realised_precision === null ? 0 : Math.round(r.realised_precision * r.auto_posted)
    rows.push({
      name: `${r.quarter} (${r.n} tx)`,
      value: `accuracy ${pct(r.accuracy)}, Brier ${r.brier.toFixed(3)}, ECE ${r.ece.toFixed(3)}, auto-posted ${
        pct(r.coverage)
      } (${r.auto_posted}; spot-checked ${r.spot_checked}), realised precision ${
        r.realised_precision === null ? "n/a" : pct(r.realised_precision)
      }, certified ${r.certified_months}/${r.thresholds.length} months at ${
        r.thresholds.map((t) => (t === null ? "—" : t.toFixed(3))).join(" / ")
      }`,
      baseline: `hindsight ceiling ${pct(r.ceiling)}`,
      target: `precision ≥ ${pct(target)}${
        r.realised_precision === null ? "" : r.realised_precision >= target ? " ✓" : " ✗"
      }`
    })
  }
  rows.push({
    name: "evaluated months overall",
    value: `auto-posted ${pct(auto / Math.max(1, total))} of ${total}, realised precision ${
      auto === 0 ? "n/a" : pct(autoRight / auto)
    }`
  })
  return rows
}

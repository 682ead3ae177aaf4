/**
 * Development seed of the companion: a few months of labelled history for the `default` tenant,
 * so a newcomer's first proposals already carry vendor memory, a calibrated probability and,
 * for the best-known vendors, a certified auto-post threshold.
 *
 * Deterministic: 22 weeks of bank lines from 16 vendors (noisy card and ACH strings: store
 * numbers, dates, references; coffee, rides and lunch several times a week) on the operating
 * account, generated from the week number. Enough reviewed lines that the vendor-memory stage's
 * calibrated probability certifies a threshold within the 20 weeks (93 reviewed items at or above
 * it, at most one wrong; see docs/companion-learning.md). Two
 * business rules exist (client payouts, payroll). For the first 20 weeks, week by week, the
 * agent proposes for that week's transactions through the real companion service and the
 * bookkeeper reviews each proposal: applied when right, applied with the right account when
 * wrong (a correction, which teaches vendor memory and the classifier); a transaction nothing
 * could answer waits for the next week. The last two weeks stay unprocessed for the newcomer.
 * Runs once: skipped when the tenant already has companion history.
 *
 * The language model (`AIRLOCK_LLM_*`) is not called while seeding: the seed proposes some 400
 * times and a configured model would be asked for every unsure line, on a paid account too. Its
 * stage records `llm.calls_off` in those proposals' provenance. `AIRLOCK_DEV_SEED_LLM=true` lets
 * the seed call it (to see the model in the history's provenance, at the model's price).
 */
import { Companion, LlmStage } from "@airlock/companion"
import { type Errors, Ids, Tenants } from "@airlock/core"
import { BankTransaction } from "@airlock/ledger"
import { Clock, Config, type ConfigError, Effect, Option } from "effect"
import { devTenant } from "./Seed.js"

/** Weeks of history the seed books, and weeks it leaves for the newcomer. */
export const HISTORY_WEEKS = 20
export const OPEN_WEEKS = 2

interface Vendor {
  readonly account: string
  /** Weeks (mod `every`) the vendor appears in, from `offset`. */
  readonly every: number
  readonly offset: number
  /** Lines a week when the vendor appears (default 1): small card purchases come several times a week. */
  readonly perWeek?: number
  /** The line's text and amount; `week` is the week number times `perWeek` plus the line's index. */
  readonly text: (week: number) => string
  readonly amount: (week: number) => string
}

const pad = (n: number, width: number) => String(n).padStart(width, "0")
const cents = (base: number, week: number, spread: number) =>
  ((base * 100 + ((week * 7919) % (spread * 100))) / 100).toFixed(2)

/** The vendors of the development tenant (professional-services chart). */
export const vendors: ReadonlyArray<Vendor> = [
  {
    account: "4000",
    every: 1,
    offset: 0,
    text: (w) => `STRIPE TRANSFER ST-${pad(48213 + w * 37, 6)}`,
    amount: (w) => cents(2100, w, 900)
  },
  {
    account: "4000",
    every: 2,
    offset: 1,
    text: (w) => `ACH CREDIT NORTHWIND TRADERS INV ${1040 + w}`,
    amount: () => "4500.00"
  },
  {
    account: "6000",
    every: 2,
    offset: 0,
    text: (w) => `GUSTO PAYROLL NET PAY ${pad(w + 1, 2)}/2026`,
    amount: () => "-6200.00"
  },
  {
    account: "6400",
    every: 1,
    offset: 0,
    perWeek: 3,
    text: (w) => `SQ *BLUE BOTTLE COFFEE ${pad(400 + (w % 7), 4)} OAKLAND CA`,
    amount: (w) => `-${cents(5, w, 8)}`
  },
  {
    account: "6400",
    every: 1,
    offset: 0,
    perWeek: 2,
    text: (w) => `UBER *TRIP HELP.UBER.COM ${pad(w % 28 + 1, 2)}/${pad(w % 12 + 1, 2)} CA`,
    amount: (w) => `-${cents(14, w, 30)}`
  },
  {
    account: "6400",
    every: 4,
    offset: 2,
    text: (w) => `DELTA AIR LINES ${pad(62345 + w * 11, 7)} ATLANTA GA`,
    amount: (w) => `-${cents(380, w, 140)}`
  },
  {
    account: "6400",
    every: 4,
    offset: 3,
    text: (w) => `MARRIOTT SAN DIEGO #${pad(3300 + w, 5)}`,
    amount: (w) => `-${cents(420, w, 90)}`
  },
  { account: "6200", every: 4, offset: 0, text: () => "ADOBE *CREATIVE CLD 800-833-6687 CA", amount: () => "-54.99" },
  {
    account: "6200",
    every: 4,
    offset: 1,
    text: (w) => `GITHUB INC ${pad(w * 13 % 997, 6)} SAN FRANCISCO CA`,
    amount: () => "-44.00"
  },
  { account: "6200", every: 4, offset: 2, text: () => "ZOOM.US 888-799-9666 CA", amount: () => "-15.99" },
  { account: "6200", every: 4, offset: 3, text: (w) => `NOTION LABS INC ${pad(w, 4)}`, amount: () => "-20.00" },
  {
    account: "6200",
    every: 2,
    offset: 1,
    text: (w) => `AMAZON WEB SERVICES AWS.AMAZON.CO WA ${pad(w * 31, 6)}`,
    amount: (w) => `-${cents(180, w, 60)}`
  },
  {
    account: "6100",
    every: 1,
    offset: 0,
    text: (w) => `ACH DEBIT UPWORK ESCROW ${pad(880011 + w, 8)}`,
    amount: (w) => `-${cents(650, w, 400)}`
  },
  {
    account: "6100",
    every: 2,
    offset: 0,
    text: (w) => `ZEPHYR DESIGN STUDIO INV-${pad(210 + w, 4)}`,
    amount: () => "-1200.00"
  },
  { account: "6300", every: 4, offset: 1, text: () => "HISCOX INSURANCE PREMIUM", amount: () => "-189.00" },
  {
    account: "6400",
    every: 1,
    offset: 0,
    perWeek: 2,
    text: (w) => `CHIPOTLE ${pad(2100 + (w % 5), 4)} SAN FRANCISCO CA`,
    amount: (w) => `-${cents(12, w, 9)}`
  }
]

const FIRST_MONDAY = Date.UTC(2026, 4, 4) // 2026-05-04

/** The bank lines of one week, with the account a person books each to. */
export const week = (w: number) =>
  vendors.flatMap((v, i) => {
    if (w % v.every !== v.offset % v.every) return []
    const n = v.perWeek ?? 1
    return Array.from({ length: n }, (_, k) => {
      const x = n === 1 ? w : w * n + k
      return {
        date: new Date(FIRST_MONDAY + (w * 7 + ((i + 2 * k) % 5)) * 86_400_000).toISOString().slice(0, 10),
        description: v.text(x),
        amount: v.amount(x),
        account: v.account
      }
    })
  })

/** Seeds the companion history unless the tenant has some; logs what it did and how long it took. */
export const seedCompanionHistory: Effect.Effect<
  void,
  Errors.AirlockError | ConfigError.ConfigError,
  Companion.Companion | Tenants.Tenants | BankTransaction.BankTransactions
> = Effect.gen(function*() {
  const companion = yield* Companion.Companion
  const tenants = yield* Tenants.Tenants
  const bank = yield* BankTransaction.BankTransactions
  const agent = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_agent"))
  const bookkeeper = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_bookkeeper"))
  const admin = yield* tenants.getActor(devTenant, Ids.ActorId.make("dev_admin"))
  if ((yield* companion.listRules(devTenant, admin)).length > 0) return
  // AIRLOCK_DEV_SEED_LLM=true: the seed may call the configured model (default: it does not)
  const withModel = yield* Config.boolean("AIRLOCK_DEV_SEED_LLM").pipe(Config.withDefault(false))
  const modelCalls = withModel
    ? <A, E, R>(e: Effect.Effect<A, E, R>) => e
    : LlmStage.withoutModelCalls("development seed")
  const started = yield* Clock.currentTimeMillis
  yield* companion.createRule(devTenant, admin, {
    name: "Client payouts (Stripe) are consulting revenue",
    description_contains: "STRIPE TRANSFER",
    direction: "inflow",
    account_code: "4000"
  })
  yield* companion.createRule(devTenant, admin, {
    name: "Payroll (Gusto) is salaries",
    description_contains: "GUSTO PAYROLL",
    direction: "outflow",
    account_code: "6000"
  })
  const truth = new Map<string, { readonly account: string; readonly amount: string }>()
  const waiting: Array<string> = []
  let applied = 0
  let corrected = 0
  for (let w = 0; w < HISTORY_WEEKS + OPEN_WEEKS; w++) {
    const lines = week(w)
    const imported = yield* bank.importFile(devTenant, admin, {
      account_code: "1000",
      format: "json",
      transactions: lines.map(({ account: _, ...l }) => l)
    })
    imported.ids.forEach((id, i) =>
      truth.set(id, { account: lines[i]!.account, amount: lines[i]!.amount.replace("-", "") })
    )
    if (w >= HISTORY_WEEKS) continue
    const ids = [...waiting.splice(0), ...imported.ids]
    const result = yield* modelCalls(companion.propose(devTenant, agent, { bank_transaction_ids: ids }))
    for (const item of result.items) {
      if (item.status !== "proposed" || item.proposal_id === null) {
        if (item.status === "unresolved") waiting.push(item.bank_transaction_id)
        continue
      }
      const { account, amount } = truth.get(item.bank_transaction_id)!
      const right = item.splits.length === 1 && item.splits[0]!.account_code === account
      yield* companion.apply(
        devTenant,
        bookkeeper,
        item.proposal_id,
        right ? {} : { splits: [{ account_code: account, amount }] }
      )
      if (right) applied++
      else corrected++
    }
  }
  const calibration = Option.getOrNull(yield* companion.calibration(devTenant))
  const elapsed = (yield* Clock.currentTimeMillis) - started
  yield* Effect.logInfo(
    `seeded companion history: ${applied} applied, ${corrected} corrected over ${HISTORY_WEEKS} weeks, ` +
      `${OPEN_WEEKS} weeks left to propose; calibration v${calibration?.version ?? 0}, certified threshold ` +
      `${(calibration?.certificate as { threshold?: number | null } | undefined)?.threshold ?? "none"} (${elapsed} ms)`
  )
})

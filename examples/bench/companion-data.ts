/**
 * The categorization-quality data set: a small business's bank feed over 18 months, labelled the
 * way its bookkeeper labelled it. Deterministic (a seeded PRNG, a bench script's own), written
 * to `examples/bench/data/companion-transactions.jsonl` and `companion-accounts.json`:
 *
 *   pnpm --filter @airlock/examples exec tsx bench/companion-data.ts
 *
 * What makes it realistic rather than easy:
 * - vendors with histories, each with its own rate, amount distribution and string style; the
 *   same vendor arrives through card terminals (`POS DEBIT 03/12 … #1234 CITY ST`, `CHECKCARD`,
 *   `SQ *`, `TST*`, masked card numbers, references), ACH descriptors and online billers;
 * - vendors whose account depends on what was bought (a warehouse store, a marketplace, a
 *   hardware store): the vendor alone does not decide;
 * - refunds (money back from an expense vendor, labelled to the same account), splits (a
 *   payroll run into wages and taxes, a warehouse-store run into supplies and meals; the label is
 *   the largest split), bookkeeper noise (about 2 % labelled to a neighbouring account);
 * - label drift (the bookkeeper reclassifies a few vendors partway through) and new vendors
 *   appearing late.
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** One account of the chart. */
export interface BenchAccount {
  readonly code: string
  readonly name: string
}

/** The chart the data set is labelled against (27 accounts). */
export const ACCOUNTS: ReadonlyArray<BenchAccount> = [
  { code: "1500", name: "Equipment" },
  { code: "2100", name: "Credit card payable" },
  { code: "3000", name: "Owner draws" },
  { code: "4000", name: "Sales" },
  { code: "4100", name: "Consulting revenue" },
  { code: "4900", name: "Interest income" },
  { code: "5000", name: "Materials and supplies (COGS)" },
  { code: "6000", name: "Wages" },
  { code: "6010", name: "Payroll taxes" },
  { code: "6100", name: "Rent" },
  { code: "6150", name: "Merchant fees" },
  { code: "6200", name: "Utilities" },
  { code: "6210", name: "Telephone and internet" },
  { code: "6300", name: "Software subscriptions" },
  { code: "6310", name: "Cloud hosting" },
  { code: "6400", name: "Meals" },
  { code: "6500", name: "Vehicle and fuel" },
  { code: "6510", name: "Travel" },
  { code: "6600", name: "Office supplies" },
  { code: "6700", name: "Advertising" },
  { code: "6800", name: "Insurance" },
  { code: "6900", name: "Professional fees" },
  { code: "7000", name: "Bank fees" },
  { code: "7100", name: "Dues and subscriptions" },
  { code: "7200", name: "Postage and shipping" },
  { code: "7300", name: "Repairs and maintenance" },
  { code: "7400", name: "Training" }
]

/** One labelled bank transaction of the data set. */
export interface BenchRecord {
  readonly id: string
  readonly date: string
  readonly description: string
  readonly payee: string | null
  /** Signed minor units (cents) as a decimal string: positive in, negative out. */
  readonly amount_minor: string
  /** The bookkeeper's label: the account of the largest split. */
  readonly account_code: string
  /** Present when the bookkeeper split the transaction. */
  readonly splits?: ReadonlyArray<{ readonly account_code: string; readonly amount_minor: string }>
  /** `purchase`, `refund`, `split`, `income`, `transfer`: for reading the bench, never for predicting. */
  readonly kind: string
}

/** mulberry32: a small seeded PRNG, fine for a fixture. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

type Style = "card" | "square" | "toast" | "ach" | "online" | "paypal" | "bank" | "amazon" | "deposit"

interface Vendor {
  readonly name: string
  readonly style: Style
  readonly account: string
  /** Transactions per month (mean). */
  readonly rate: number
  /** Median amount in dollars and the spread (log-normal sigma). */
  readonly amount: number
  readonly spread: number
  readonly inflow?: boolean
  readonly city?: string
  /** First and last month it trades (0-based). */
  readonly from?: number
  readonly until?: number
  /** Alternative accounts chosen by amount band: [upper dollars, account] (vendor alone is ambiguous). */
  readonly byAmount?: ReadonlyArray<readonly [number, string]>
  /** From this month on the bookkeeper labels it to another account. */
  readonly drift?: readonly [number, string]
  /** Probability of a refund following a purchase. */
  readonly refunds?: number
  /** Splits: a second account and its share. */
  readonly split?: readonly [string, number]
  /** Fixed day of month (rent, payroll) instead of random days. */
  readonly day?: number
}

const CITIES = [
  "SAN FRANCISCO CA",
  "OAKLAND CA",
  "BERKELEY CA",
  "SAN JOSE CA",
  "PALO ALTO CA",
  "SEATTLE WA",
  "PORTLAND OR",
  "AUSTIN TX"
]

const VENDORS: ReadonlyArray<Vendor> = [
  // income
  { name: "STRIPE TRANSFER", style: "deposit", account: "4000", rate: 8, amount: 1_800, spread: 0.6, inflow: true },
  { name: "SQUARE INC DEPOSIT", style: "deposit", account: "4000", rate: 6, amount: 650, spread: 0.5, inflow: true },
  { name: "ACME CORP", style: "ach", account: "4100", rate: 1, amount: 6_500, spread: 0.3, inflow: true },
  { name: "GLOBEX LLC", style: "ach", account: "4100", rate: 0.7, amount: 4_200, spread: 0.3, inflow: true, until: 11 },
  { name: "INITECH INC", style: "ach", account: "4100", rate: 0.8, amount: 5_100, spread: 0.3, inflow: true, from: 10 },
  { name: "INTEREST PAYMENT", style: "bank", account: "4900", rate: 1, amount: 14, spread: 0.4, inflow: true, day: 28 },
  // payroll, rent, fees
  {
    name: "GUSTO",
    style: "ach",
    account: "6000",
    rate: 2,
    amount: 11_500,
    spread: 0.08,
    split: ["6010", 0.18],
    day: 15
  },
  { name: "EDD SDI TAX", style: "ach", account: "6010", rate: 0.33, amount: 900, spread: 0.2 },
  { name: "IRS USATAXPYMT", style: "ach", account: "6010", rate: 0.33, amount: 2_400, spread: 0.2 },
  { name: "MISSION ST PROPERTIES", style: "ach", account: "6100", rate: 1, amount: 4_800, spread: 0.01, day: 1 },
  { name: "STRIPE FEE", style: "bank", account: "6150", rate: 2, amount: 55, spread: 0.5 },
  { name: "SQUARE FEES", style: "bank", account: "6150", rate: 1, amount: 22, spread: 0.4 },
  { name: "MONTHLY SERVICE FEE", style: "bank", account: "7000", rate: 1, amount: 15, spread: 0.01, day: 30 },
  { name: "WIRE TRANSFER FEE", style: "bank", account: "7000", rate: 0.3, amount: 25, spread: 0.01 },
  // utilities, phone
  { name: "PG&E", style: "online", account: "6200", rate: 1, amount: 240, spread: 0.25 },
  { name: "SFPUC WATER", style: "online", account: "6200", rate: 0.5, amount: 80, spread: 0.2 },
  { name: "COMCAST", style: "online", account: "6200", rate: 1, amount: 129, spread: 0.05, drift: [8, "6210"] },
  { name: "VERIZON WIRELESS", style: "online", account: "6210", rate: 1, amount: 185, spread: 0.08 },
  // software and cloud
  { name: "ADOBE *CREATIVE CLD", style: "online", account: "6300", rate: 1, amount: 54.99, spread: 0.01 },
  { name: "DROPBOX", style: "online", account: "6300", rate: 1, amount: 19.99, spread: 0.01 },
  { name: "SLACK TECHNOLOGIES", style: "online", account: "6300", rate: 1, amount: 87.5, spread: 0.1 },
  { name: "GOOGLE *GSUITE", style: "online", account: "6300", rate: 1, amount: 72, spread: 0.05 },
  { name: "ZOOM.US", style: "online", account: "6300", rate: 1, amount: 15.99, spread: 0.01, drift: [11, "7100"] },
  { name: "GITHUB", style: "online", account: "6300", rate: 1, amount: 21, spread: 0.01 },
  { name: "ATLASSIAN", style: "online", account: "6300", rate: 0.5, amount: 160, spread: 0.1, until: 9 },
  { name: "NOTION LABS", style: "online", account: "6300", rate: 1, amount: 40, spread: 0.01, from: 9 },
  { name: "FIGMA", style: "online", account: "6300", rate: 1, amount: 45, spread: 0.01, from: 13 },
  { name: "OPENAI *CHATGPT SUBSCR", style: "online", account: "6300", rate: 1, amount: 20, spread: 0.01, from: 14 },
  { name: "AMAZON WEB SERVICES", style: "online", account: "6310", rate: 1, amount: 420, spread: 0.3 },
  { name: "DIGITALOCEAN", style: "online", account: "6310", rate: 1, amount: 48, spread: 0.2, until: 12 },
  { name: "VERCEL INC", style: "online", account: "6310", rate: 1, amount: 20, spread: 0.3, from: 12 },
  // meals
  { name: "STARBUCKS", style: "card", account: "6400", rate: 7, amount: 7.5, spread: 0.4, refunds: 0.01 },
  { name: "BLUE BOTTLE COFFEE", style: "square", account: "6400", rate: 4, amount: 9, spread: 0.3 },
  { name: "JOE'S PIZZA", style: "toast", account: "6400", rate: 2, amount: 38, spread: 0.5 },
  { name: "TARTINE BAKERY", style: "toast", account: "6400", rate: 2, amount: 24, spread: 0.4 },
  { name: "CHIPOTLE", style: "card", account: "6400", rate: 3, amount: 14, spread: 0.3 },
  { name: "DOORDASH", style: "paypal", account: "6400", rate: 2, amount: 42, spread: 0.4, refunds: 0.04 },
  { name: "SWEETGREEN", style: "card", account: "6400", rate: 2, amount: 16, spread: 0.2, from: 12 },
  { name: "FOUR BARREL COFFEE", style: "square", account: "6400", rate: 2, amount: 6, spread: 0.3, from: 15 },
  // vehicle and travel
  { name: "SHELL OIL", style: "card", account: "6500", rate: 3, amount: 58, spread: 0.3 },
  { name: "CHEVRON", style: "card", account: "6500", rate: 2, amount: 61, spread: 0.3 },
  { name: "SFMTA PARKING", style: "card", account: "6500", rate: 1.5, amount: 12, spread: 0.5 },
  { name: "UBER *TRIP", style: "online", account: "6510", rate: 3, amount: 24, spread: 0.6, drift: [12, "6500"] },
  { name: "LYFT *RIDE", style: "online", account: "6510", rate: 1.5, amount: 21, spread: 0.6 },
  { name: "DELTA AIR LINES", style: "card", account: "6510", rate: 0.4, amount: 420, spread: 0.4, refunds: 0.1 },
  { name: "UNITED AIRLINES", style: "card", account: "6510", rate: 0.3, amount: 380, spread: 0.4, refunds: 0.1 },
  { name: "MARRIOTT", style: "card", account: "6510", rate: 0.4, amount: 290, spread: 0.4 },
  { name: "AIRBNB", style: "online", account: "6510", rate: 0.3, amount: 510, spread: 0.5, refunds: 0.1 },
  // ambiguous retailers: the amount (what was bought) decides
  {
    name: "AMZN MKTP",
    style: "amazon",
    account: "6600",
    rate: 6,
    amount: 45,
    spread: 1,
    byAmount: [[60, "6600"], [400, "5000"], [1e9, "1500"]],
    refunds: 0.06
  },
  {
    name: "COSTCO WHSE",
    style: "card",
    account: "6600",
    rate: 1.5,
    amount: 180,
    spread: 0.5,
    split: ["6400", 0.3],
    refunds: 0.03
  },
  {
    name: "THE HOME DEPOT",
    style: "card",
    account: "5000",
    rate: 2,
    amount: 95,
    spread: 0.7,
    byAmount: [[40, "7300"], [1e9, "5000"]],
    refunds: 0.05
  },
  { name: "GRAINGER", style: "online", account: "5000", rate: 1, amount: 230, spread: 0.5 },
  { name: "ULINE", style: "online", account: "5000", rate: 0.8, amount: 310, spread: 0.4 },
  { name: "STAPLES", style: "card", account: "6600", rate: 1.5, amount: 36, spread: 0.5, refunds: 0.04 },
  { name: "OFFICE DEPOT", style: "card", account: "6600", rate: 0.6, amount: 44, spread: 0.5, until: 8 },
  { name: "APPLE STORE", style: "card", account: "1500", rate: 0.25, amount: 1_400, spread: 0.5 },
  { name: "B&H PHOTO", style: "online", account: "1500", rate: 0.2, amount: 900, spread: 0.6, from: 6 },
  // marketing, insurance, professional, dues, shipping, training, repairs
  { name: "GOOGLE *ADS", style: "online", account: "6700", rate: 1, amount: 600, spread: 0.4 },
  { name: "FACEBK *ADS", style: "online", account: "6700", rate: 1, amount: 350, spread: 0.5 },
  { name: "LINKEDIN *ADS", style: "online", account: "6700", rate: 0.5, amount: 280, spread: 0.4, from: 11 },
  { name: "HISCOX INC", style: "ach", account: "6800", rate: 1, amount: 95, spread: 0.01 },
  { name: "STATE FARM INSURANCE", style: "ach", account: "6800", rate: 0.17, amount: 1_100, spread: 0.05 },
  { name: "WILSON SONSINI", style: "ach", account: "6900", rate: 0.3, amount: 2_400, spread: 0.5 },
  { name: "MOSS ADAMS CPA", style: "ach", account: "6900", rate: 0.25, amount: 1_500, spread: 0.3 },
  { name: "WSJ DIGITAL", style: "online", account: "7100", rate: 1, amount: 38.99, spread: 0.01 },
  { name: "CHAMBER OF COMMERCE", style: "online", account: "7100", rate: 0.09, amount: 450, spread: 0.01 },
  { name: "USPS PO", style: "card", account: "7200", rate: 2, amount: 18, spread: 0.7 },
  { name: "UPS STORE", style: "card", account: "7200", rate: 1, amount: 32, spread: 0.6 },
  { name: "FEDEX OFFICE", style: "card", account: "7200", rate: 0.7, amount: 41, spread: 0.6, drift: [10, "6600"] },
  { name: "ACE PLUMBING", style: "square", account: "7300", rate: 0.3, amount: 260, spread: 0.4 },
  { name: "HANDY MIKE REPAIRS", style: "square", account: "7300", rate: 0.3, amount: 180, spread: 0.4, from: 8 },
  { name: "UDEMY", style: "paypal", account: "7400", rate: 0.4, amount: 15, spread: 0.4 },
  { name: "COURSERA", style: "online", account: "7400", rate: 0.3, amount: 49, spread: 0.01, from: 13 },
  // transfers
  { name: "AMEX EPAYMENT", style: "ach", account: "2100", rate: 1, amount: 2_100, spread: 0.4, day: 20 },
  { name: "TRANSFER TO CHK 4471 OWNER", style: "bank", account: "3000", rate: 1, amount: 3_000, spread: 0.3 }
]

/** Accounts a tired bookkeeper confuses with each other (the 2 % label noise). */
const NEIGHBOURS: Readonly<Record<string, ReadonlyArray<string>>> = {
  "6400": ["6510", "6600"],
  "6500": ["6510"],
  "6510": ["6500", "6400"],
  "6600": ["5000", "6300"],
  "5000": ["6600", "7300"],
  "6300": ["7100", "6310"],
  "6310": ["6300"],
  "7200": ["6600"],
  "7300": ["5000"],
  "6700": ["7100"],
  "6200": ["6210"],
  "6210": ["6200"]
}

const MONTHS = 18
/** Scales every vendor's monthly rate (a busier or quieter business). */
const RATE_SCALE = 1.35
const START = Date.UTC(2024, 0, 1)

const pad = (n: number, w: number) => String(n).padStart(w, "0")

/** Generate the data set (sorted by date, then id). */
export const generate = (seed = 20240101): ReadonlyArray<BenchRecord> => {
  const rand = prng(seed)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]!
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join("")
  const alnum = (n: number) =>
    Array.from({ length: n }, () => "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"[Math.floor(rand() * 34)]).join("")
  const normal = () => {
    const u = Math.max(rand(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
  }
  const poisson = (mean: number) => {
    const l = Math.exp(-mean)
    let k = 0
    let p = 1
    do {
      k++
      p *= rand()
    } while (p > l)
    return k - 1
  }
  const storeOf = new Map<string, ReadonlyArray<string>>()
  const stores = (v: Vendor) => {
    let s = storeOf.get(v.name)
    if (s === undefined) {
      s = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => digits(3 + Math.floor(rand() * 3)))
      storeOf.set(v.name, s)
    }
    return s
  }
  const cityOf = new Map<string, ReadonlyArray<string>>()
  const cities = (v: Vendor) => {
    let c = cityOf.get(v.name)
    if (c === undefined) {
      c = [pick(CITIES), pick(CITIES)]
      cityOf.set(v.name, c)
    }
    return c
  }

  const describe = (v: Vendor, date: Date, refund: boolean): { description: string; payee: string | null } => {
    const mm = pad(date.getUTCMonth() + 1, 2)
    const dd = pad(date.getUTCDate(), 2)
    const yymmdd = `${pad(date.getUTCFullYear() % 100, 2)}${mm}${dd}`
    const city = pick(cities(v))
    const store = pick(stores(v))
    const card = `XXXX${pick(["4471", "9902"])}`
    const prefix = refund ? pick(["POS REFUND ", "PURCHASE RETURN ", "REFUND ", "CREDIT VOUCHER "]) : ""
    switch (v.style) {
      case "card":
        return {
          description: prefix + pick([
            `POS DEBIT ${mm}/${dd} ${v.name} #${store} ${city}`,
            `DEBIT CARD PURCHASE ${card} ${v.name} ${city}`,
            `CHECKCARD ${mm}${dd} ${v.name} ${store} ${city}`,
            `${v.name} #${store} ${city}`,
            `PURCHASE AUTHORIZED ON ${mm}/${dd} ${v.name} ${city} S${digits(15)} CARD ${card.slice(4)}`,
            `${v.name} ${store} ${city.split(" ").slice(-1)[0]}`
          ]),
          payee: null
        }
      case "square":
        return {
          description: prefix + pick([
            `SQ *${v.name} ${city}`,
            `POS PURCHASE ${mm}/${dd} SQ *${v.name} ${city}`,
            `SQ *${v.name} gosq.com ${city.slice(-2)}`,
            `CHECKCARD ${mm}${dd} SQ *${v.name}`
          ]),
          payee: null
        }
      case "toast":
        return {
          description: prefix + pick([
            `TST* ${v.name} ${city}`,
            `TST*${v.name} ${store}`,
            `DEBIT CARD PURCHASE ${card} TST* ${v.name}`
          ]),
          payee: null
        }
      case "paypal":
        return {
          description: prefix + pick([`PAYPAL *${v.name} ${digits(10)} CA`, `${v.name}*${alnum(8)} ${city}`]),
          payee: null
        }
      case "amazon":
        return {
          description: prefix + pick([
            `AMZN MKTP US*${alnum(9)} AMZN.COM/BILL WA`,
            `AMZN Mktp US*${alnum(9)} Amzn.com/bill WA`,
            `DEBIT CARD PURCHASE ${card} AMZN MKTP US*${alnum(9)}`,
            `AMAZON.COM*${alnum(9)} AMZN.COM/BILL WA`
          ]),
          payee: null
        }
      case "online":
        return {
          description: prefix + pick([
            `${v.name} ${pick(["800", "888", "866"])}-${digits(3)}-${digits(4)} ${city.slice(-2)}`,
            `${v.name} ${digits(10)} ${city.slice(-2)}`,
            `RECURRING PAYMENT ${v.name} ${city}`,
            `${v.name}`
          ]),
          payee: null
        }
      case "ach":
        return pick([
          {
            description: `ORIG CO NAME:${v.name} ORIG ID:${digits(10)} DESC DATE:${yymmdd} CO ENTRY DESCR:${
              pick(["PAYMENT", "ACH", "BILL PAY", "SETTLEMENT"])
            } SEC:CCD TRACE#:${digits(15)}`,
            payee: null
          },
          { description: `ACH ${v.inflow ? "CREDIT" : "DEBIT"} ${v.name} REF ${digits(8)}`, payee: null },
          { description: `${v.name} ${pick(["ONLINE PAYMENT", "ACH PMT"])} ${mm}/${dd}`, payee: v.name }
        ])
      case "deposit":
        return {
          description: pick([
            `${v.name} ST-${alnum(6)}`,
            `ACH CREDIT ${v.name} ${digits(10)}`,
            `${v.name} ${mm}/${dd}`
          ]),
          payee: null
        }
      case "bank":
        return { description: `${v.name}${rand() < 0.5 ? ` ${mm}/${dd}` : ""}`, payee: null }
    }
  }

  const records: Array<Omit<BenchRecord, "id">> = []
  for (let month = 0; month < MONTHS; month++) {
    const monthStart = new Date(START)
    monthStart.setUTCMonth(monthStart.getUTCMonth() + month)
    const daysInMonth = new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 0)).getUTCDate()
    for (const v of VENDORS) {
      if ((v.from ?? 0) > month || (v.until ?? MONTHS) < month) continue
      const count = v.day !== undefined
        ? (v.rate >= 1 ? Math.round(v.rate) : rand() < v.rate ? 1 : 0)
        : poisson(v.rate * RATE_SCALE)
      for (let i = 0; i < count; i++) {
        const day = v.day !== undefined ? Math.min(daysInMonth, v.day + i * 14) : 1 + Math.floor(rand() * daysInMonth)
        const date = new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth(), day))
        const dollars = Math.max(0.5, v.amount * Math.exp(v.spread * normal()))
        const cents = Math.round(dollars * 100)
        let account = v.account
        if (v.byAmount) account = v.byAmount.find(([upper]) => dollars <= upper)![1]
        if (v.drift && month >= v.drift[0]) account = v.drift[1]
        // bookkeeper noise: a neighbouring account now and then
        const neighbours = NEIGHBOURS[account]
        if (neighbours && rand() < 0.02) account = pick(neighbours)
        const sign = v.inflow ? 1 : -1
        const d = describe(v, date, false)
        const base = { date: date.toISOString().slice(0, 10), ...d, amount_minor: String(sign * cents) }
        if (v.split && rand() < 0.7) {
          const second = Math.round(cents * v.split[1] * (0.7 + 0.6 * rand()))
          const first = cents - second
          const splits = [
            { account_code: account, amount_minor: String(first) },
            { account_code: v.split[0], amount_minor: String(second) }
          ].sort((a, b) => Number(b.amount_minor) - Number(a.amount_minor))
          records.push({ ...base, account_code: splits[0]!.account_code, splits, kind: "split" })
        } else records.push({ ...base, account_code: account, kind: v.inflow ? "income" : "purchase" })
        if (v.refunds && rand() < 2 * v.refunds) {
          const later = new Date(date.getTime() + (2 + Math.floor(rand() * 12)) * 86_400_000)
          const back = Math.round(cents * (rand() < 0.6 ? 1 : 0.3 + 0.5 * rand()))
          records.push({
            date: later.toISOString().slice(0, 10),
            ...describe(v, later, true),
            amount_minor: String(back),
            account_code: account,
            kind: "refund"
          })
        }
      }
    }
  }
  const end = new Date(START)
  end.setUTCMonth(end.getUTCMonth() + MONTHS)
  const lastDay = end.toISOString().slice(0, 10)
  return records
    .filter((r) => r.date < lastDay)
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0))
    .map((r, i) => ({ id: `btx_${pad(i + 1, 5)}`, ...r }))
}

const here = fileURLToPath(new URL(".", import.meta.url))
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const data = generate()
  writeFileSync(`${here}data/companion-transactions.jsonl`, data.map((r) => JSON.stringify(r)).join("\n") + "\n")
  writeFileSync(`${here}data/companion-accounts.json`, JSON.stringify(ACCOUNTS, null, 2) + "\n")
  const months = new Set(data.map((r) => r.date.slice(0, 7)))
  console.log(`${data.length} transactions over ${months.size} months, ${ACCOUNTS.length} accounts`)
}

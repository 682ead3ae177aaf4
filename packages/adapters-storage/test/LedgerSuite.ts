/**
 * The conformance suite for the ledger's ports. Every adapter runs it unchanged: it goes
 * through the ledger's public services and core's pipeline and checks persisted state through
 * the raw {@link LedgerProbe}.
 */
import {
  Audit,
  CoreConfig,
  type CorePorts,
  GovernedActions,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants,
  UnitOfWork
} from "@airlock/core"
import {
  Journal,
  JournalEntry,
  JournalStore,
  Ledger,
  LedgerConfig,
  type LedgerPorts as LP,
  Proposals,
  QboExport
} from "@airlock/ledger"
import { BankTransaction, CalendarDate, Chart, Money, PeriodLock } from "@airlock/ledger"
import { expect, layer } from "@effect/vitest"
import { parse as parseCsv } from "csv-parse/sync"
import { Effect, Exit, Layer, Stream } from "effect"
import { LedgerProbe } from "./support/LedgerProbe.js"

/** What an adapter can do. */
export interface Capabilities {
  /** Transactions run on separate connections at once (PostgreSQL). */
  readonly parallelConnections: boolean
}

const T = (s: string) => Ids.TenantId.make(s)

const environment = <E>(ports: Layer.Layer<CorePorts.CorePorts | LP.LedgerPorts | LedgerProbe, E>) =>
  Ledger.layerWithConfig.pipe(
    Layer.provideMerge(LedgerConfig.layer({ exportPageSize: 2 })),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(11))),
    Layer.provideMerge(ports)
  )

/** A tenant with the small-business chart and one actor per role. */
const fixture = (
  id: string,
  mode: "shadow_only" | "suggest_only" | "autopilot_limited" = "suggest_only",
  preset: "standard_small_business" | null = "standard_small_business"
) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}`, settings: { ai_mode: mode } })
    const add = (name: string, role: string, kind: "user" | "agent" = "user") =>
      tenants.addActor({ tenant_id: tenant.id, kind, name, role })
    const owner = yield* add("Olga", "OWNER")
    const controller = yield* add("Carl", "CONTROLLER")
    const bookkeeper = yield* add("Bea", "BOOKKEEPER")
    const viewer = yield* add("Vic", "VIEWER")
    const agent = yield* add("copilot", "AGENT", "agent")
    const chart = yield* Chart.ChartOfAccounts
    if (preset !== null) yield* chart.importPreset(tenant.id, owner, preset)
    return { tenant: tenant.id, owner, controller, bookkeeper, viewer, agent }
  })

type Fx = Effect.Effect.Success<ReturnType<typeof fixture>>

const simple = (date: string, debit: string, credit: string, amount: string, extra: Record<string, unknown> = {}) => ({
  date,
  memo: `${debit}/${credit} ${amount}`,
  lines: [{ account_code: debit, debit: amount }, { account_code: credit, credit: amount }],
  ...extra
})

const post = (fx: Fx, body: unknown) => Effect.flatMap(Journal.Journal, (j) => j.post(fx.tenant, fx.bookkeeper, body))

const importCsv = (fx: Fx, content: string, extra: Record<string, unknown> = {}) =>
  Effect.flatMap(
    BankTransaction.BankTransactions,
    (b) => b.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "csv", content, ...extra })
  )

const failure = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flip(self) as Effect.Effect<E & { code: string; details?: Record<string, unknown> }, A, R>

/** The largest value a materialised daily total can hold (a signed 64-bit column). */
const LIMIT = 2n ** 63n - 1n
/** The largest single amount, in minor units (`Money.MAX_ABS_MINOR`). */
const LINE_MAX = Money.MAX_ABS_MINOR

/** `n` lines of the largest amount debiting 1000, `n` crediting 3000: `n` × 10^15 each side. */
const heavy = (date: string, n: number) => ({
  date,
  memo: "heavy",
  lines: [
    ...Array.from({ length: n }, () => ({ account_code: "1000", debit: Money.formatMinor(LINE_MAX, 2) })),
    ...Array.from({ length: n }, () => ({ account_code: "3000", credit: Money.formatMinor(LINE_MAX, 2) }))
  ]
})

/** An entry moving exactly `amount` minor units from 3000 to 1000, in as few lines as the per-line limit allows. */
const upTo = (date: string, amount: bigint) => {
  const parts = [...Array.from({ length: Number(amount / LINE_MAX) }, () => LINE_MAX), amount % LINE_MAX].filter((x) =>
    x > 0n
  )
  return {
    date,
    lines: [
      ...parts.map((x) => ({ account_code: "1000", debit: Money.formatMinor(x, 2) })),
      ...parts.map((x) => ({ account_code: "3000", credit: Money.formatMinor(x, 2) }))
    ]
  }
}

/** Runs the suite against an adapter's ports. */
export const suite = <E>(
  name: string,
  ports: Layer.Layer<CorePorts.CorePorts | LP.LedgerPorts | LedgerProbe, E>,
  capabilities: Capabilities
) =>
  layer(environment(ports), { timeout: 120_000 })(`ledger ports conformance: ${name}`, (it) => {
    it.effect("chart: presets ship 14/14/19 accounts, import is idempotent, parents export as Parent:Sub", () =>
      Effect.gen(function*() {
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        const counts: Array<readonly [string, unknown, unknown, number]> = []
        for (
          const name of ["standard_small_business", "standard_professional_services", "gaap_accounting_firm"] as const
        ) {
          const t = yield* fixture(`chart-${name}`, "suggest_only", null)
          const once = yield* chart.importPreset(t.tenant, t.owner, name)
          const twice = yield* chart.importPreset(t.tenant, t.owner, name)
          counts.push([name, once, twice, yield* probe.count("accounts", t.tenant)])
        }
        expect(counts).toStrictEqual([
          ["standard_small_business", { new: 14, skipped: 0 }, { new: 0, skipped: 14 }, 14],
          ["standard_professional_services", { new: 14, skipped: 0 }, { new: 0, skipped: 14 }, 14],
          ["gaap_accounting_firm", { new: 19, skipped: 0 }, { new: 0, skipped: 19 }, 19]
        ])
        const fx = yield* fixture("chart")
        const firmTenant = T("chart-gaap_accounting_firm")
        const firmViewer = yield* Effect.flatMap(Tenants.Tenants, (ts) =>
          ts.addActor({ tenant_id: firmTenant, kind: "user", name: "V2", role: "VIEWER" }))
        const firm = yield* chart.list(firmTenant, firmViewer)
        const names = Chart.fullNames(firm)
        expect(names.get("4010")).toBe("Fee Revenue:Audit & Assurance Fees")
        expect(
          firm.find((a) =>
            a.code === "1590"
          )?.normal_balance
        ).toBe("credit")

        const created = yield* chart.create(fx.tenant, fx.bookkeeper, {
          code: "6210",
          name: "Software",
          type: "Expense",
          parent_code: "6200"
        })
        expect([created.normal_balance, created.currency, created.active]).toStrictEqual(["debit", "USD", true])
        const dup = yield* failure(
          chart.create(fx.tenant, fx.bookkeeper, { code: "6210", name: "Again", type: "Expense" })
        )
        expect(dup.code).toBe("conflict.duplicate")
        const badParent = yield* failure(
          chart.create(fx.tenant, fx.bookkeeper, { code: "6220", name: "X", type: "Expense", parent_code: "4000" })
        )
        expect(badParent.code).toBe("validation.account_parent")
        const colon = yield* failure(
          chart.create(fx.tenant, fx.bookkeeper, { code: "6230", name: "A:B", type: "Expense" })
        )
        expect(colon.code).toBe("validation.schema")
        const viewerDenied = yield* failure(
          chart.create(fx.tenant, fx.viewer, { code: "6240", name: "V", type: "Expense" })
        )
        expect(viewerDenied.code).toBe("rbac.forbidden")
        const off = yield* chart.update(fx.tenant, fx.bookkeeper, "6210", { active: false, name: "Software (old)" })
        expect([off.active, off.name]).toStrictEqual([false, "Software (old)"])
        expect((yield* chart.list(fx.tenant, fx.viewer)).some((a) => a.code === "6210")).toBe(false)
        expect(
          (yield* chart.list(fx.tenant, fx.viewer, { include_inactive: true })).find((a) => a.code === "6210")?.active
        ).toBe(false)
        expect(yield* probe.count("accounts", fx.tenant)).toBe(15)
      }))

    it.effect("chart: a preset imported in an unknown currency is refused, names on Object's prototype included; nothing is written", () =>
      Effect.gen(function*() {
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        const fx = yield* fixture("preset-currency", "suggest_only", null)
        for (const currency of ["toString", "constructor", "__proto__", "usd", "XYZ"]) {
          const refused = yield* failure(
            chart.importPreset(fx.tenant, fx.owner, "standard_small_business", { currency })
          )
          expect([currency, refused.code, refused.details]).toStrictEqual([currency, "validation.currency", {
            currency
          }])
        }
        expect(yield* probe.count("accounts", fx.tenant)).toBe(0)
        expect(yield* chart.importPreset(fx.tenant, fx.owner, "standard_small_business", { currency: "EUR" }))
          .toStrictEqual({ new: 14, skipped: 0 })
        expect(new Set((yield* chart.list(fx.tenant, fx.owner)).map((a) => a.currency))).toStrictEqual(new Set(["EUR"]))
      }))

    it.effect("chart: an account moves with its sub-accounts: the deepest must stay within 5 levels, and no cycle", () =>
      Effect.gen(function*() {
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        const fx = yield* fixture("chart-depth", "suggest_only", null)
        yield* chart.create(fx.tenant, fx.owner, { code: "D1", name: "D1", type: "Expense" })
        for (let i = 2; i <= 6; i++)
          yield* chart.create(fx.tenant, fx.owner, {
            code: `D${i}`,
            name: `D${i}`,
            type: "Expense",
            parent_code: `D${i - 1}`
          })
        yield* chart.create(fx.tenant, fx.owner, { code: "R", name: "R", type: "Expense" })
        // D6 already has the most parents an account may have: under D6 is refused, and so is moving D1 under R
        expect(
          (yield* failure(
            chart.create(fx.tenant, fx.owner, { code: "D7", name: "D7", type: "Expense", parent_code: "D6" })
          )).code
        ).toBe("validation.account_parent")
        const tooDeep = yield* failure(chart.update(fx.tenant, fx.owner, "D1", { parent_code: "R" }))
        expect([tooDeep.code, tooDeep.details]).toStrictEqual(["validation.account_parent", {
          parent_code: "R",
          levels_below: 5
        }])
        expect((yield* probe.account(fx.tenant, "D1"))?.parent_code).toBe(null)
        // D2 has 4 levels below it: under R its deepest sub-account has exactly 5 parents
        yield* chart.update(fx.tenant, fx.owner, "D2", { parent_code: "R" })
        expect((yield* probe.account(fx.tenant, "D2"))?.parent_code).toBe("R")
        expect(Chart.fullNames(yield* chart.list(fx.tenant, fx.owner)).get("D6")).toBe("R:D2:D3:D4:D5:D6")
        const cycle = yield* failure(chart.update(fx.tenant, fx.owner, "D3", { parent_code: "D6" }))
        expect(cycle.code).toBe("validation.account_parent")
        expect((yield* probe.account(fx.tenant, "D3"))?.parent_code).toBe("D2")
      }))

    it.effect("chart: two accounts moved under each other at once: one move wins, the other is refused; never a cycle", () =>
      Effect.gen(function*() {
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        const fx = yield* fixture("chart-cycle", "suggest_only", null)
        const rounds = capabilities.parallelConnections ? 6 : 2
        for (let i = 0; i < rounds; i++) {
          yield* chart.create(fx.tenant, fx.owner, { code: `X${i}`, name: `X${i}`, type: "Expense" })
          yield* chart.create(fx.tenant, fx.owner, { code: `Y${i}`, name: `Y${i}`, type: "Expense" })
          const moves = yield* Effect.all(
            [
              Effect.either(chart.update(fx.tenant, fx.owner, `X${i}`, { parent_code: `Y${i}` })),
              Effect.either(chart.update(fx.tenant, fx.owner, `Y${i}`, { parent_code: `X${i}` }))
            ],
            { concurrency: 2 }
          )
          expect(moves.map((m) => (m._tag === "Right" ? "ok" : (m.left as { code: string }).code)).sort())
            .toStrictEqual(["ok", "validation.account_parent"])
          const parents = [
            (yield* probe.account(fx.tenant, `X${i}`))?.parent_code,
            (yield* probe.account(fx.tenant, `Y${i}`))?.parent_code
          ]
          expect(parents.filter((p) => p === null).length).toBe(1)
        }
      }))

    it.effect("chart: unknown fields are refused, a change of type, normal balance or currency too; an empty change is refused; nothing is written", () =>
      Effect.gen(function*() {
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        const audit = yield* Audit.AuditLog
        const fx = yield* fixture("chart-strict")
        const before = yield* probe.account(fx.tenant, "6300")
        const auditBefore = (yield* audit.list(fx.tenant, { limit: 1000 })).length
        // a misspelt `parent` must not create a top-level account
        const typo = yield* failure(
          chart.create(fx.tenant, fx.owner, { code: "6310", name: "Rent (office)", type: "Expense", parent: "6300" })
        )
        expect([typo.code, typo.message]).toStrictEqual(["validation.schema", expect.stringContaining("parent")])
        expect(yield* probe.account(fx.tenant, "6310")).toBe(null)
        const retype = yield* failure(chart.update(fx.tenant, fx.owner, "6300", { type: "Income", currency: "EUR" }))
        expect([retype.code, retype.details]).toStrictEqual(["validation.account_immutable", {
          fields: ["type", "currency"]
        }])
        const contra = yield* failure(
          chart.update(fx.tenant, fx.owner, "6300", { name: "Rent & Lease", normal_balance: "credit" })
        )
        expect([contra.code, contra.details]).toStrictEqual(["validation.account_immutable", {
          fields: ["normal_balance"]
        }])
        const unknown = yield* failure(chart.update(fx.tenant, fx.owner, "6300", { activ: false }))
        expect([unknown.code, unknown.message]).toStrictEqual(["validation.schema", expect.stringContaining("activ")])
        expect((yield* failure(chart.update(fx.tenant, fx.owner, "6300", {}))).code).toBe("validation.empty_update")
        expect(yield* probe.account(fx.tenant, "6300")).toStrictEqual(before)
        expect((yield* audit.list(fx.tenant, { limit: 1000 })).length).toBe(auditBefore)
        // fixed fields sent back unchanged (a record round trip) are accepted
        const renamed = yield* chart.update(fx.tenant, fx.owner, "6300", {
          code: "6300",
          type: "Expense",
          normal_balance: "debit",
          currency: "USD",
          name: "Rent & Lease"
        })
        expect(renamed.name).toBe("Rent & Lease")
        expect(yield* probe.account(fx.tenant, "6300")).toStrictEqual({ ...before!, name: "Rent & Lease" })
      }))

    it.effect("posting: a balanced entry is stored with its lines and numbered per tenant", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("post")
        const probe = yield* LedgerProbe
        const a = yield* post(fx, simple("2024-01-05", "6300", "1000", "1500.00"))
        const b = yield* post(fx, {
          date: "2024-01-06",
          memo: "Split",
          lines: [
            { account_code: "6000", debit: "10.10", description: "ads", name: "Acme", class: "West", location: "HQ" },
            { account_code: "6100", debit: 2.5 },
            { account_code: "2100", credit: "12.60" }
          ]
        })
        expect([a.duplicate, a.entry.entry_no, b.entry.entry_no]).toStrictEqual([false, 1, 2])
        expect(b.entry.lines.map((l) => [l.account_code, l.side, l.amount_minor])).toStrictEqual([
          ["6000", "debit", 1010n],
          ["6100", "debit", 250n],
          ["2100", "credit", 1260n]
        ])
        expect(yield* probe.entrySnapshot(fx.tenant, b.entry.id)).toMatchObject({
          entry_no: 2,
          date: "2024-01-06",
          source: "manual",
          posted_by: fx.bookkeeper.id,
          lines: [[1, "6000", "debit", "1010"], [2, "6100", "debit", "250"], [3, "2100", "credit", "1260"]]
        })
        expect(yield* probe.count("lines", fx.tenant)).toBe(5)
        const log = yield* (yield* Audit.AuditLog).list(fx.tenant, { limit: 1000 })
        expect(log.filter((r) => r.action === "ledger.entry.posted").map((r) => r.subject)).toStrictEqual([
          `entry:${a.entry.id}`,
          `entry:${b.entry.id}`
        ])
        expect(log.find((r) => r.subject === `entry:${b.entry.id}`)?.data).toMatchObject({
          entry_no: 2,
          total_minor: expect.anything()
        })
        expect(yield* (yield* Audit.AuditLog).verify(fx.tenant)).toMatchObject({ ok: true, first_break: null })
      }))

    it.effect("posting: every validation has its stable code and nothing is written", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("invalid")
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        yield* chart.create(fx.tenant, fx.owner, { code: "1900", name: "Euro Account", type: "Asset", currency: "EUR" })
        yield* chart.update(fx.tenant, fx.owner, "6300", { active: false })
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ date: "2024-01-05", lines: [{ account_code: "6000", debit: "1.00" }] }, "validation.min_lines"],
          [simple("2024-02-30", "6000", "1000", "1.00"), "validation.date"],
          [{
            date: "2024-01-05",
            lines: [{ account_code: "6000", debit: "10.00" }, { account_code: "1000", credit: "9.99" }]
          }, "validation.unbalanced"],
          [simple("2024-01-05", "6000", "1000", "10.005"), "validation.amount_precision"],
          [{
            date: "2024-01-05",
            lines: [{ account_code: "6000", debit: 0.1 + 0.2 }, { account_code: "1000", credit: "0.30" }]
          }, "validation.amount_precision"],
          [simple("2024-01-05", "6000", "1000", "0.00"), "validation.amount_positive"],
          [simple("2024-01-05", "6000", "1000", "-5.00"), "validation.amount_positive"],
          [simple("2024-01-05", "6000", "1000", "12,50"), "validation.amount_format"],
          [{
            date: "2024-01-05",
            lines: [{ account_code: "6000", debit: "1", credit: "1" }, { account_code: "1000", credit: "1" }]
          }, "validation.line_side"],
          [simple("2024-01-05", "9999", "1000", "1.00"), "validation.account_unknown"],
          [simple("2024-01-05", "6300", "1000", "1.00"), "validation.account_inactive"],
          [{
            date: "2024-01-05",
            lines: [{ account_code: "6000", debit: "1", currency: "USD" }, {
              account_code: "1000",
              credit: "1",
              currency: "EUR"
            }]
          }, "validation.mixed_currency"],
          [simple("2024-01-05", "1900", "1000", "1.00"), "validation.currency_mismatch"],
          [simple("2024-01-05", "6000", "1000", "1.00", { currency: "XXX" }), "validation.currency"],
          [{ date: "2024-01-05", lines: "nope" }, "validation.schema"]
        ]
        for (const [body, code] of cases) {
          const e = yield* failure(post(fx, body))
          expect({ body, code: e.code }).toStrictEqual({ body, code })
        }
        const unbalanced = yield* failure(
          post(fx, {
            date: "2024-01-05",
            lines: [{ account_code: "6000", debit: "10.00" }, { account_code: "1000", credit: "9.99" }]
          })
        )
        expect(unbalanced.details).toStrictEqual({ debit_total: "1000", credit_total: "999", difference: "1" })
        const denied = yield* failure(
          Effect.flatMap(Journal.Journal, (j) =>
            j.post(fx.tenant, fx.viewer, simple("2024-01-05", "6000", "1000", "1.00")))
        )
        expect(denied.code).toBe("rbac.forbidden")
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.count("lines", fx.tenant)).toBe(0)
      }))

    it.effect("idempotency: same key and content returns the original, different content conflicts", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("idem")
        const probe = yield* LedgerProbe
        const first = yield* post(fx, simple("2024-03-01", "6000", "1000", "20.00", { idempotency_key: "k-1" }))
        const again = yield* post(fx, simple("2024-03-01", "6000", "1000", "20.00", { idempotency_key: "k-1" }))
        expect([again.duplicate, again.entry.id, again.entry.entry_no]).toStrictEqual([true, first.entry.id, 1])
        const clash = yield* failure(
          post(fx, simple("2024-03-01", "6000", "1000", "21.00", { idempotency_key: "k-1" }))
        )
        expect([clash.code, clash.details]).toStrictEqual(["idempotency.conflict", { entry_id: first.entry.id }])
        if (capabilities.parallelConnections) {
          const racing = yield* Effect.all(
            Array.from(
              { length: 6 },
              () =>
                post(fx, simple("2024-03-02", "6000", "1000", "5.00", { idempotency_key: "k-race" }))
            ),
            { concurrency: 6 }
          )
          expect(new Set(racing.map((r) => r.entry.id)).size).toBe(1)
          expect(racing.filter((r) => !r.duplicate).length).toBe(1)
        }
        expect(yield* probe.count("entries", fx.tenant)).toBe(capabilities.parallelConnections ? 2 : 1)
      }))

    it.effect("reversal: linked, sides swapped, once only, never of a reversal; the original is untouched", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("reverse")
        const journal = yield* Journal.Journal
        const probe = yield* LedgerProbe
        const original = yield* post(fx, {
          date: "2024-04-10",
          memo: "Rent",
          lines: [{ account_code: "6300", debit: "800.00" }, { account_code: "6100", debit: "5.00" }, {
            account_code: "1000",
            credit: "805.00"
          }]
        })
        const before = yield* probe.entrySnapshot(fx.tenant, original.entry.id)
        const early = yield* failure(
          journal.reverse(fx.tenant, fx.bookkeeper, original.entry.id, { date: "2024-04-09" })
        )
        expect([early.code, early.details?.entry_date]).toStrictEqual(["validation.reversal_date", "2024-04-10"])
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
        const reversal = yield* journal.reverse(fx.tenant, fx.bookkeeper, original.entry.id, { date: "2024-04-15" })
        expect(reversal.entry.reverses_entry_id).toBe(original.entry.id)
        expect(reversal.entry.date).toBe("2024-04-15")
        expect(reversal.entry.lines.map((l) => [l.account_code, l.side, l.amount_minor])).toStrictEqual([
          ["6300", "credit", 80000n],
          ["6100", "credit", 500n],
          ["1000", "debit", 80500n]
        ])
        const twice = yield* failure(journal.reverse(fx.tenant, fx.bookkeeper, original.entry.id))
        expect([twice.code, twice.details?.reversal_id]).toStrictEqual(["entry.already_reversed", reversal.entry.id])
        const ofReversal = yield* failure(journal.reverse(fx.tenant, fx.bookkeeper, reversal.entry.id))
        expect(ofReversal.code).toBe("entry.is_reversal")
        expect(yield* probe.entrySnapshot(fx.tenant, original.entry.id)).toStrictEqual(before)
        expect((yield* journal.get(fx.tenant, fx.viewer, original.entry.id)).reversed_by).toBe(reversal.entry.id)
        const tb = yield* journal.trialBalance(fx.tenant, fx.viewer, "2024-04-30")
        expect(tb.rows.every((r) => r.net_minor === 0n)).toBe(true)
        const mid = yield* journal.balance(fx.tenant, fx.viewer, "1000", "2024-04-12")
        expect(mid.balance_minor).toBe(-80500n)
        expect((yield* journal.balance(fx.tenant, fx.viewer, "1000", "2024-04-15")).balance_minor).toBe(0n)
        const missing = yield* failure(journal.reverse(fx.tenant, fx.bookkeeper, "je_missing"))
        expect(missing.code).toBe("not_found")
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
      }))

    it.effect("journal store: each unique key refuses an insert with the port's own error, alike on every adapter; nothing is written", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("store-keys")
        const store = yield* JournalStore.JournalStore
        const uow = yield* UnitOfWork.UnitOfWork
        const probe = yield* LedgerProbe
        const original =
          (yield* post(fx, simple("2024-03-01", "6000", "1000", "10.00", { idempotency_key: "k-1" }))).entry
        yield* Effect.flatMap(Journal.Journal, (j) => j.reverse(fx.tenant, fx.bookkeeper, original.id))
        const insert = (fields: Partial<JournalEntry.JournalEntry>) =>
          uow.transaction(
            store.insert(
              JournalEntry.JournalEntry.make({ ...original, id: "je_copy", idempotency_key: null, ...fields })
            )
          )
        yield* insert({ id: "je_proposed", proposal_id: "prop-1", source: "companion" })
        const refusals = [
          yield* failure(insert({ idempotency_key: "k-1" })),
          yield* failure(insert({ reverses_entry_id: original.id })),
          yield* failure(insert({ proposal_id: "prop-1", source: "companion" })),
          yield* failure(insert({ id: original.id }))
        ]
        expect(refusals.map((e) => [e._tag, e.code, e.message, e.details])).toStrictEqual([
          ["Conflict", "idempotency.key_taken", "Idempotency key already used", { idempotency_key: "k-1" }],
          ["Conflict", "entry.already_reversed", "Entry was already reversed", { entry_id: original.id }],
          ["Conflict", "entry.proposal_posted", "Proposal already has its entry", { proposal_id: "prop-1" }],
          ["Conflict", "conflict.duplicate", `entry ${original.id} already exists`, {
            entity: "entry",
            id: original.id
          }]
        ])
        expect(yield* probe.count("entries", fx.tenant)).toBe(3)
        expect(yield* probe.count("lines", fx.tenant)).toBe(6)
      }))

    it.effect("period lock: posting, reversing into it refused; moving it back needs unlock rights and is audited", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("lock")
        const locks = yield* PeriodLock.PeriodLocks
        const journal = yield* Journal.Journal
        const probe = yield* LedgerProbe
        const early = yield* post(fx, simple("2024-01-31", "6000", "1000", "1.00"))
        const setByBookkeeper = yield* failure(locks.set(fx.tenant, fx.bookkeeper, { lock_date: "2024-01-31" }))
        expect(setByBookkeeper.code).toBe("rbac.forbidden")
        yield* locks.set(fx.tenant, fx.controller, { lock_date: "2024-01-31" })
        expect(yield* probe.lockDate(fx.tenant)).toBe("2024-01-31")
        const onLock = yield* failure(post(fx, simple("2024-01-31", "6000", "1000", "1.00")))
        expect([onLock._tag, onLock.code, onLock.details]).toStrictEqual(["PeriodLocked", "period.locked", {
          lock_date: "2024-01-31",
          date: "2024-01-31"
        }])
        expect((yield* failure(post(fx, simple("2023-12-01", "6000", "1000", "1.00")))).code).toBe("period.locked")
        yield* post(fx, simple("2024-02-01", "6000", "1000", "1.00"))
        const reverseInto = yield* failure(journal.reverse(fx.tenant, fx.bookkeeper, early.entry.id))
        expect(reverseInto.code).toBe("period.locked")
        yield* journal.reverse(fx.tenant, fx.bookkeeper, early.entry.id, { date: "2024-02-02" })
        yield* locks.set(fx.tenant, fx.controller, { lock_date: "2024-02-29" })
        const backByController = yield* failure(locks.set(fx.tenant, fx.controller, { lock_date: "2024-01-31" }))
        expect(backByController.code).toBe("rbac.forbidden")
        const clearByController = yield* failure(locks.set(fx.tenant, fx.controller, { lock_date: null }))
        expect(clearByController.code).toBe("rbac.forbidden")
        expect(yield* probe.lockDate(fx.tenant)).toBe("2024-02-29")
        const back = yield* locks.set(fx.tenant, fx.owner, { lock_date: "2024-01-15" })
        expect(back.lock_date).toBe("2024-01-15")
        expect((yield* locks.get(fx.tenant, fx.viewer)).lock_date).toBe("2024-01-15")
        const log = (yield* (yield* Audit.AuditLog).list(fx.tenant, { limit: 1000 })).filter((r) =>
          r.action.startsWith("ledger.period_lock")
        )
        expect(log.map((r) => [r.action, r.actor_id, r.data])).toStrictEqual([
          ["ledger.period_lock.set", fx.controller.id, { before: null, after: "2024-01-31" }],
          ["ledger.period_lock.set", fx.controller.id, { before: "2024-01-31", after: "2024-02-29" }],
          ["ledger.period_lock.moved_back", fx.owner.id, { before: "2024-02-29", after: "2024-01-15" }]
        ])
        expect([...(yield* probe.entryDates(fx.tenant))].sort()).toStrictEqual([
          "2024-01-31",
          "2024-02-01",
          "2024-02-02"
        ])
        const badDate = yield* failure(locks.set(fx.tenant, fx.owner, { lock_date: "2024-13-01" }))
        expect(badDate.code).toBe("validation.date")
      }))

    it.effect("reads: entries by range, account and source with a cursor; balances, trial balance, general ledger", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("reads")
        const journal = yield* Journal.Journal
        const probe = yield* LedgerProbe
        const days = ["2024-05-03", "2024-05-01", "2024-05-02", "2024-05-02", "2024-06-01", "2024-05-15", "2024-05-20"]
        const made: Array<JournalEntry.JournalEntry> = []
        for (const [i, d] of days.entries()) {
          const account = i % 2 === 0 || i === 3 ? "6000" : "6200"
          made.push(
            (yield* post(fx, simple(d, account, "1000", `${i + 1}.00`, i === 3 ? { source: "import" } : {}))).entry
          )
        }
        const order = [...made].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.entry_no - b.entry_no))
          .map((e) => e.id)
        const seen: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* journal.list(fx.tenant, fx.viewer, { limit: "3", ...(cursor ? { cursor } : {}) })
          seen.push(...page.items.map((e) => e.id))
          cursor = page.next_cursor ?? undefined
        } while (cursor)
        expect(seen).toStrictEqual(order)
        const may = yield* journal.list(fx.tenant, fx.viewer, { from: "2024-05-02", to: "2024-05-20" })
        expect(may.items.map((e) => e.date)).toStrictEqual([
          "2024-05-02",
          "2024-05-02",
          "2024-05-03",
          "2024-05-15",
          "2024-05-20"
        ])
        const byAccount = yield* journal.list(fx.tenant, fx.viewer, { account_code: "6200" })
        expect(byAccount.items.every((e) => e.lines.some((l) => l.account_code === "6200"))).toBe(true)
        expect(byAccount.items.length).toBe(2)
        const imported = yield* journal.list(fx.tenant, fx.viewer, { source: "import" })
        expect(imported.items.map((e) => e.id)).toStrictEqual([made[3]!.id])
        expect((yield* failure(journal.list(fx.tenant, fx.viewer, { cursor: "garbage" }))).code).toBe(
          "validation.cursor"
        )
        // a page size must be a finite number: "NaN" would otherwise page nothing (memory) or fail in SQL
        for (const limit of ["NaN", "Infinity", Number.NaN]) {
          expect((yield* failure(journal.list(fx.tenant, fx.viewer, { limit }))).code).toBe("validation.schema")
          expect((yield* failure((yield* BankTransaction.BankTransactions).list(fx.tenant, fx.viewer, { limit }))).code)
            .toBe("validation.schema")
        }
        expect(
          (yield* journal.generalLedger(fx.tenant, fx.viewer, "1000", {
            from: "2024-05-02",
            to: "2024-05-31",
            limit: Number.NaN
          })).rows.length
        ).toBe(5)

        const cash = yield* journal.balance(fx.tenant, fx.viewer, "1000", "2024-05-02")
        expect([cash.credit_minor, cash.balance_minor]).toStrictEqual([900n, -900n])
        const expense = yield* journal.balance(fx.tenant, fx.viewer, "6000", "2024-05-31")
        expect(expense.balance_minor).toBe(1500n)
        expect(yield* probe.materialised(fx.tenant, "6000", "2024-05-31")).toStrictEqual(["1500", "0"])
        expect(yield* probe.materialised(fx.tenant, "1000", "2024-05-02")).toStrictEqual(["0", "900"])
        const tb = yield* journal.trialBalance(fx.tenant, fx.viewer, "2024-12-31")
        expect(tb.balanced).toBe(true)
        expect(tb.rows.reduce((s, r) => s + r.net_minor, 0n)).toBe(0n)
        expect(tb.totals).toStrictEqual([{ currency: "USD", debit_minor: 2800n, credit_minor: 2800n, net_minor: 0n }])

        const gl = yield* journal.generalLedger(fx.tenant, fx.viewer, "1000", {
          from: "2024-05-02",
          to: "2024-05-31",
          limit: 2
        })
        expect(gl.opening_balance_minor).toBe(-200n)
        const rows = [...gl.rows]
        let next = gl.next_cursor
        while (next) {
          const page = yield* journal.generalLedger(fx.tenant, fx.viewer, "1000", {
            from: "2024-05-02",
            to: "2024-05-31",
            limit: 2,
            cursor: next
          })
          expect(page.opening_balance_minor).toBe(rows.at(-1)!.balance_minor)
          rows.push(...page.rows)
          next = page.next_cursor
        }
        expect(rows.map((r) => r.date)).toStrictEqual([
          "2024-05-02",
          "2024-05-02",
          "2024-05-03",
          "2024-05-15",
          "2024-05-20"
        ])
        expect(rows.at(-1)!.balance_minor).toBe(
          (yield* journal.balance(fx.tenant, fx.viewer, "1000", "2024-05-31")).balance_minor
        )
        const outsider = yield* fixture("reads-other")
        expect((yield* failure(journal.list(fx.tenant, outsider.viewer))).code).toBe("tenant.mismatch")
      }))

    it.effect("bank import: QuickBooks CSV layouts, mapping and date format, idempotent; a bad row imports nothing", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("bank")
        const bank = yield* BankTransaction.BankTransactions
        const probe = yield* LedgerProbe
        const three =
          'Date,Description,Amount\n01/02/2024,Coffee Shop,-4.50\n01/02/2024,Coffee Shop,-4.50\n01/03/2024,"Client, Inc. payment",1200.00\n'
        expect(yield* importCsv(fx, three)).toMatchObject({ new: 3, skipped: 0 })
        expect(yield* importCsv(fx, three)).toMatchObject({ new: 0, skipped: 3 })
        const four = "Date,Description,Credit,Debit\n01/04/2024,Deposit,250.00,\n01/05/2024,Office Depot,,89.99\n"
        const r4 = yield* importCsv(fx, four)
        expect(r4).toMatchObject({ new: 2, skipped: 0 })
        const rows = yield* bank.list(fx.tenant, fx.viewer, { from: "2024-01-04" })
        expect(rows.items.map((t) => [t.date, t.description, t.amount_minor])).toStrictEqual([
          ["2024-01-04", "Deposit", 25000n],
          ["2024-01-05", "Office Depot", -8999n]
        ])
        const mapped = "Posted;Payee;Value;Note\n15.01.2024;Landlord;-1.500,00;Jan\n"
        const badMapped = yield* failure(
          importCsv(fx, mapped, {
            csv: {
              delimiter: ";",
              date_column: "Posted",
              description_column: "Payee",
              amount_column: "Value",
              date_format: "DD.MM.YYYY"
            }
          })
        )
        expect(badMapped.code).toBe("validation.import_row")
        const custom = "Posted;Payee;Value;Note\n15.01.2024;Landlord;-1500.00;Jan rent\n16.01.2024;Refund;12.5;\n"
        expect(
          yield* importCsv(fx, custom, {
            csv: {
              delimiter: ";",
              date_column: "Posted",
              description_column: "Payee",
              amount_column: "Value",
              memo_column: "Note",
              date_format: "DD.MM.YYYY"
            }
          })
        ).toMatchObject({ new: 2 })
        const before = yield* probe.count("bank_transactions", fx.tenant)
        const bad =
          "Date,Description,Amount\n02/01/2024,Good row,-1.00\n02/02/2024,Too precise,-1.005\n02/31/2024,No such day,-2.00\n"
        const e = yield* failure(importCsv(fx, bad))
        expect(e.code).toBe("validation.import_row")
        expect(e.details?.line).toBe(3)
        expect((e.details?.problems as ReadonlyArray<{ line: number; code: string }>).map((p) => [p.line, p.code]))
          .toStrictEqual([
            [3, "validation.amount_precision"],
            [4, "validation.date"]
          ])
        expect(yield* probe.count("bank_transactions", fx.tenant)).toBe(before)
        const header = yield* failure(importCsv(fx, "When,What\n01/01/2024,x\n"))
        expect(header.code).toBe("validation.import_row")
        const wrongAccount = yield* failure(
          bank.importFile(fx.tenant, fx.bookkeeper, { account_code: "6000", format: "csv", content: three })
        )
        expect(wrongAccount.code).toBe("validation.bank_account")
        const json = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "2100",
          format: "json",
          transactions: [{ date: "2024-01-09", description: "Card: hosting", amount: "-20.00", fit_id: "J1" }]
        })
        expect(json.new).toBe(1)
        expect(yield* probe.count("bank_transactions", fx.tenant)).toBe(before + 1)
      }))

    it.effect("bank import: a row wider than its header (unquoted 1,234.56) refuses the whole file; nothing is stored", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("bank-wide")
        const probe = yield* LedgerProbe
        const wide = "Date,Description,Amount\n01/02/2024,Coffee,-4.50\n01/03/2024,Client deposit,1,234.56\n"
        const e = yield* failure(importCsv(fx, wide))
        expect([e.code, e.details?.line]).toStrictEqual(["validation.import_row", 3])
        expect(e.message).toContain("4 cells, header has 3")
        expect(yield* probe.count("bank_transactions", fx.tenant)).toBe(0)
        const quoted = 'Date,Description,Amount\n01/02/2024,Coffee,-4.50\n01/03/2024,Client deposit,"1,234.56",,\n'
        expect(yield* importCsv(fx, quoted)).toMatchObject({ new: 2, skipped: 0 })
        expect((yield* probe.bankRows(fx.tenant)).map((r) => [r.date, r.description, r.amount])).toStrictEqual([
          ["2024-01-02", "Coffee", "-450"],
          ["2024-01-03", "Client deposit", "123456"]
        ])
      }))

    it.effect("bank import: OFX 1.x (SGML) and 2.x (XML) by FITID, idempotent", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("ofx")
        const bank = yield* BankTransaction.BankTransactions
        const sgml = [
          "OFXHEADER:100",
          "DATA:OFXSGML",
          "VERSION:102",
          "",
          "<OFX>",
          "<BANKMSGSRSV1><STMTTRNRS><STMTRS>",
          "<CURDEF>USD",
          "<BANKACCTFROM><BANKID>121000248<ACCTID>000123<ACCTTYPE>CHECKING</BANKACCTFROM>",
          "<BANKTRANLIST><DTSTART>20240101<DTEND>20240131",
          "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105120000[-5:EST]<TRNAMT>-42.10<FITID>F-1<NAME>GAS &amp; GO<MEMO>Fuel</STMTTRN>",
          "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240110<TRNAMT>1000.00<FITID>F-2<NAME>Client</STMTTRN>",
          "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
        ].join("\n")
        const r1 = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "ofx",
          content: sgml
        })
        expect([r1.new, r1.skipped]).toStrictEqual([2, 0])
        const listed = yield* bank.list(fx.tenant, fx.viewer)
        expect(listed.items.map((t) => [t.date, t.description, t.amount_minor, t.fit_id, t.memo])).toStrictEqual([
          ["2024-01-05", "GAS & GO", -4210n, "F-1", "Fuel"],
          ["2024-01-10", "Client", 100000n, "F-2", null]
        ])
        const xml = `<?xml version="1.0"?><?OFX OFXHEADER="200" VERSION="220"?>
<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD</CURDEF>
<BANKACCTFROM><ACCTID>000123</ACCTID></BANKACCTFROM><BANKTRANLIST>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240105</DTPOSTED><TRNAMT>-42.10</TRNAMT><FITID>F-1</FITID><NAME>GAS &amp; GO</NAME></STMTTRN>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240120</DTPOSTED><TRNAMT>-9.99</TRNAMT><FITID>F-3</FITID><NAME>Streaming</NAME></STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>`
        const r2 = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "ofx",
          content: xml
        })
        expect([r2.new, r2.skipped]).toStrictEqual([1, 1])
        const broken = xml.replace("<TRNAMT>-9.99</TRNAMT>", "<TRNAMT>-9.999</TRNAMT>")
        const e = yield* failure(
          bank.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "ofx", content: broken })
        )
        expect([e.code, e.details?.line]).toStrictEqual(["validation.import_row", 5])
        const eur = xml.replace("<CURDEF>USD", "<CURDEF>EUR")
        expect(
          (yield* failure(
            bank.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "ofx", content: eur })
          )).code
        ).toBe("validation.currency_mismatch")
      }))

    it.effect("bank import: a JSON row whose description is only whitespace is refused with its line; nothing is stored", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("json-blank")
        const bank = yield* BankTransaction.BankTransactions
        const probe = yield* LedgerProbe
        const e = yield* failure(bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "json",
          transactions: [
            { date: "2024-01-02", description: "Coffee", amount: "-4.50" },
            { date: "2024-01-03", description: " \t\n ", amount: "-1.00" }
          ]
        }))
        expect([e.code, e.details?.line]).toStrictEqual(["validation.import_row", 2])
        expect(
          (e.details?.problems as ReadonlyArray<{ line: number; column: string; code: string }>).map((
            p
          ) => [p.line, p.column, p.code])
        ).toStrictEqual([
          [2, "description", "validation.import_row"]
        ])
        expect(yield* probe.bankRows(fx.tenant)).toStrictEqual([])
        const ok = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "json",
          transactions: [{ date: "2024-01-03", description: "  Card   fee ", amount: "-1.00" }]
        })
        expect(ok.new).toBe(1)
        expect((yield* probe.bankRows(fx.tenant)).map((r) => [r.date, r.description, r.amount])).toStrictEqual([[
          "2024-01-03",
          "Card fee",
          "-100"
        ]])
      }))

    it.effect("bank import: content and transactions together (or either with the other format, csv settings elsewhere) is validation.ambiguous_body; nothing is stored", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("ambiguous")
        const bank = yield* BankTransaction.BankTransactions
        const probe = yield* LedgerProbe
        const csv = "Date,Description,Amount\n01/02/2024,Coffee,-4.50\n"
        const rows = [{ date: "2024-01-03", description: "Card fee", amount: "-1.00" }]
        const bodies = [
          { format: "csv", content: csv, transactions: rows },
          { format: "json", content: csv, transactions: rows },
          { format: "json", content: csv },
          { format: "ofx", transactions: rows },
          { format: "json", transactions: rows, csv: { date_format: "DD/MM/YYYY" } }
        ]
        for (const body of bodies) {
          const e = yield* failure(bank.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", ...body }))
          expect([e._tag, e.code], JSON.stringify(body)).toStrictEqual(["ValidationError", "validation.ambiguous_body"])
        }
        expect(yield* probe.bankRows(fx.tenant)).toStrictEqual([])
        // each source alone, with its format, imports
        expect(
          (yield* bank.importFile(fx.tenant, fx.bookkeeper, { account_code: "1000", format: "csv", content: csv })).new
        )
          .toBe(1)
        expect(
          (yield* bank.importFile(fx.tenant, fx.bookkeeper, {
            account_code: "1000",
            format: "json",
            transactions: rows
          }))
            .new
        ).toBe(1)
        expect((yield* probe.bankRows(fx.tenant)).map((r) => r.description).sort()).toStrictEqual([
          "Card fee",
          "Coffee"
        ])
      }))

    it.effect("bank import: a FITID repeated in one OFX file with different content stores each transaction; re-import skips them all", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("ofx-fitid")
        const bank = yield* BankTransaction.BankTransactions
        const probe = yield* LedgerProbe
        // the bank writes FITID 0 on every row; the third row is the first one listed twice.
        // The second has an empty SGML <MEMO>, which must not swallow its FITID and NAME.
        const sgml = [
          "OFXHEADER:100",
          "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>42</BANKACCTFROM><BANKTRANLIST>",
          "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240101<TRNAMT>-1.00<FITID>0<NAME>Shop A</STMTTRN>",
          "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240102<TRNAMT>-250.00<MEMO><FITID>0<NAME>Shop B</STMTTRN>",
          "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240101<TRNAMT>-1.00<FITID>0<NAME>Shop A</STMTTRN>",
          "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240103<TRNAMT>40.00<FITID>U-1<NAME>Refund<MEMO>order 7</STMTTRN>",
          "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
        ].join("\n")
        const first = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "ofx",
          content: sgml
        })
        expect([first.new, first.skipped]).toStrictEqual([3, 1])
        const stored = yield* probe.bankRows(fx.tenant)
        expect(stored.map((r) => [r.date, r.description, r.amount, r.fit_id, r.memo, r.source_line])).toStrictEqual([
          ["2024-01-01", "Shop A", "-100", "0", null, 3],
          ["2024-01-02", "Shop B", "-25000", "0", null, 4],
          ["2024-01-03", "Refund", "4000", "U-1", "order 7", 6]
        ])
        expect(new Set(stored.map((r) => r.fingerprint)).size).toBe(3)
        expect([...first.ids].sort()).toStrictEqual(
          (yield* bank.list(fx.tenant, fx.viewer)).items.map((t) => t.id).sort()
        )
        const again = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "ofx",
          content: sgml
        })
        expect(again).toStrictEqual({ new: 0, skipped: 4, ids: [] })
        expect(yield* probe.bankRows(fx.tenant)).toStrictEqual(stored)
      }))

    const proposal = (
      txnId: string,
      splits: ReadonlyArray<readonly [string, string]>,
      extra: Record<string, unknown> = {}
    ) => ({
      bank_transaction_id: txnId,
      splits: splits.map(([account_code, amount]) => ({ account_code, amount })),
      confidence: 0.93,
      calibrated_probability: 0.91,
      rationale: "vendor seen before",
      questions: [],
      risk_reasons: [],
      tier: 1,
      ...extra
    })

    const bankTxn = (fx: Fx, date: string, description: string, amount: string) =>
      Effect.gen(function*() {
        const bank = yield* BankTransaction.BankTransactions
        const r = yield* bank.importFile(fx.tenant, fx.bookkeeper, {
          account_code: "1000",
          format: "json",
          transactions: [{ date, description, amount }]
        })
        return r.ids[0]!
      })

    it.effect("proposals: apply posts exactly one entry with the status change, provenance and audit; gates in the trace", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("apply")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* LedgerProbe
        const txn = yield* bankTxn(fx, "2024-06-03", "Office Depot", "-120.00")
        const p = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6200", "100.00"], ["6100", "20.00"]]))
        expect(p.action.status).toBe("proposed")
        expect(p.action.subject).toBe(`bank_txn:${txn}`)
        expect(p.action.payload).toMatchObject({
          splits: [{ account_code: "6200", amount_minor: "10000" }, { account_code: "6100", amount_minor: "2000" }],
          confidence: 0.93,
          tier: 1
        })
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)

        const byAgent = yield* failure(pipeline.apply(fx.tenant, p.action.id as Ids.ActionId, fx.agent))
        expect(byAgent._tag).toBe("Forbidden")
        const applied = yield* pipeline.apply(fx.tenant, p.action.id as Ids.ActionId, fx.bookkeeper)
        expect(applied.already_applied).toBe(false)
        const result = applied.result as Proposals.ApplyOutcome
        expect(applied.trace?.gates.map((g) => g.gate)).toStrictEqual([
          "tenant_scope",
          "kill_switch",
          "rbac",
          "mode",
          "ledger.period_lock",
          "ledger.validation"
        ])
        expect(applied.trace?.gates.at(-1)?.inputs).toMatchObject({
          bank_amount_minor: "-12000",
          splits_total_minor: "12000",
          balanced: true
        })
        const again = yield* pipeline.apply(fx.tenant, p.action.id as Ids.ActionId, fx.bookkeeper)
        expect([again.already_applied, again.result]).toStrictEqual([true, result])
        expect(yield* probe.count("entries", fx.tenant)).toBe(1)
        expect(yield* probe.entrySnapshot(fx.tenant, result.entry_id)).toMatchObject({
          source: "companion",
          proposal_id: p.action.id,
          bank_transaction_id: txn,
          date: "2024-06-03",
          lines: [[1, "1000", "credit", "12000"], [2, "6200", "debit", "10000"], [3, "6100", "debit", "2000"]]
        })
        const log = yield* (yield* Audit.AuditLog).list(fx.tenant, { limit: 1000 })
        expect(log.find((r) => r.action === "action.applied")?.data).toMatchObject({
          kind: Proposals.KIND,
          result: { entry_id: result.entry_id }
        })
        expect((yield* (yield* Audit.AuditLog).verify(fx.tenant)).ok).toBe(true)

        const fromEntry = yield* proposals.ofEntry(fx.tenant, fx.viewer, result.entry_id)
        expect(fromEntry.proposal?.id).toBe(p.action.id)
        expect(fromEntry.traces.map((t) => [t.phase, t.outcome])).toStrictEqual([["propose", "allow"], [
          "apply",
          "deny"
        ], ["apply", "allow"]])
        expect(fromEntry.applied_by_trace?.id).toBe(applied.trace?.id)
        expect(fromEntry.bank_transaction?.id).toBe(txn)
        const fromProposal = yield* proposals.ofProposal(fx.tenant, fx.viewer, p.action.id)
        expect([fromProposal.entry?.id, fromProposal.proposal?.status]).toStrictEqual([result.entry_id, "applied"])

        const listed = yield* Effect.flatMap(BankTransaction.BankTransactions, (b) =>
          b.list(fx.tenant, fx.viewer, { unposted: "true" }))
        expect(listed.items.map((t) =>
          t.id
        )).not.toContain(txn)
        const rolled = yield* pipeline.rollback(fx.tenant, p.action.id as Ids.ActionId, fx.bookkeeper, "wrong vendor")
        expect(rolled.status).toBe("rolled_back")
        expect(yield* probe.count("entries", fx.tenant)).toBe(2)
        const relisted = yield* Effect.flatMap(BankTransaction.BankTransactions, (b) =>
          b.list(fx.tenant, fx.viewer, { unposted: true }))
        expect(relisted.items.map((t) =>
          t.id
        )).toContain(txn)
        // the rolled-back proposal still explains the entry and its reversal: a wipe cannot erase it
        const wipeRolled = yield* failure(
          pipeline.wipe(fx.tenant, fx.controller, { status: "rolled_back", kind: Proposals.KIND })
        )
        expect(wipeRolled.code).toBe("validation.wipe_applied")
        const explained = yield* proposals.ofEntry(fx.tenant, fx.viewer, result.entry_id)
        expect([explained.proposal?.status, explained.proposal?.close_reason, explained.applied_by_trace?.id])
          .toStrictEqual(["rolled_back", "wrong vendor", applied.trace?.id])
      }))

    it.effect("proposals: deterministic validation and the period lock deny at apply, with the denial in the trace", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("deny")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const locks = yield* PeriodLock.PeriodLocks
        const probe = yield* LedgerProbe
        const out = yield* bankTxn(fx, "2024-06-10", "Hardware", "-50.00")
        const wrongSum = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["6200", "49.99"]]))
        const e1 = yield* failure(pipeline.apply(fx.tenant, wrongSum.action.id as Ids.ActionId, fx.bookkeeper))
        expect([e1.code, e1.details]).toStrictEqual(["validation.split_sum", {
          bank_amount_minor: "5000",
          splits_total_minor: "4999",
          difference: "-1"
        }])
        const trace1 = (yield* pipeline.traces(fx.tenant, wrongSum.action.id as Ids.ActionId)).at(-1)!
        expect(trace1.gates.at(-1)).toMatchObject({
          gate: "ledger.validation",
          verdict: "deny",
          code: "validation.split_sum"
        })
        const income = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["4000", "50.00"]]))
        expect((yield* failure(pipeline.apply(fx.tenant, income.action.id as Ids.ActionId, fx.bookkeeper))).code).toBe(
          "validation.account_type"
        )
        const toBank = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["1000", "50.00"]]))
        expect((yield* failure(pipeline.apply(fx.tenant, toBank.action.id as Ids.ActionId, fx.bookkeeper))).code).toBe(
          "validation.split_account"
        )
        const unknown = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["9999", "50.00"]]))
        expect((yield* failure(pipeline.apply(fx.tenant, unknown.action.id as Ids.ActionId, fx.bookkeeper))).code).toBe(
          "validation.account_unknown"
        )
        const precise = yield* failure(proposals.propose(fx.tenant, fx.agent, proposal(out, [["6200", "49.999"]])))
        expect(precise.code).toBe("validation.amount_precision")

        const good = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["6200", "50.00"]]))
        yield* locks.set(fx.tenant, fx.controller, { lock_date: "2024-06-30" })
        const locked = yield* failure(pipeline.apply(fx.tenant, good.action.id as Ids.ActionId, fx.bookkeeper))
        expect(locked.code).toBe("period.locked")
        const trace2 = (yield* pipeline.traces(fx.tenant, good.action.id as Ids.ActionId)).at(-1)!
        expect(trace2.gates.at(-1)).toMatchObject({
          gate: "ledger.period_lock",
          verdict: "deny",
          code: "period.locked",
          inputs: { entry_date: "2024-06-10", lock_date: "2024-06-30" }
        })
        const late = yield* proposals.propose(fx.tenant, fx.agent, proposal(out, [["6200", "50.00"]]))
        expect(late.action.review_reasons).toStrictEqual(["period.locked"])
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect(yield* probe.lockDate(fx.tenant)).toBe("2024-06-30")
      }))

    it.effect("proposals: a new proposal supersedes the open one; wipe by status touches shadow records only", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("wipe")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* LedgerProbe
        const t1 = yield* bankTxn(fx, "2024-07-01", "Ads", "-30.00")
        const t2 = yield* bankTxn(fx, "2024-07-02", "Sale", "70.00")
        const first = yield* proposals.propose(fx.tenant, fx.agent, proposal(t1, [["6100", "30.00"]]))
        const second = yield* proposals.propose(fx.tenant, fx.agent, proposal(t1, [["6000", "30.00"]]))
        expect((yield* pipeline.get(fx.tenant, first.action.id as Ids.ActionId)).status).toBe("superseded")
        const sale = yield* proposals.propose(fx.tenant, fx.agent, proposal(t2, [["4000", "70.00"]]))
        yield* pipeline.apply(fx.tenant, sale.action.id as Ids.ActionId, fx.bookkeeper)
        const entry = yield* proposals.ofProposal(fx.tenant, fx.viewer, sale.action.id)
        expect(entry.entry?.lines.map((l) => [l.account_code, l.side])).toStrictEqual([["1000", "debit"], [
          "4000",
          "credit"
        ]])
        const snapshot = yield* probe.entrySnapshot(fx.tenant, entry.entry!.id)
        const entriesBefore = yield* probe.count("entries", fx.tenant)
        const wipeDenied = yield* failure(
          pipeline.wipe(fx.tenant, fx.bookkeeper, { status: "proposed", kind: Proposals.KIND })
        )
        expect(wipeDenied.code).toBe("rbac.forbidden")
        expect(yield* pipeline.wipe(fx.tenant, fx.controller, { status: "proposed", kind: Proposals.KIND })).toBe(1)
        expect((yield* pipeline.get(fx.tenant, second.action.id as Ids.ActionId)).status).toBe("wiped")
        expect((yield* pipeline.get(fx.tenant, sale.action.id as Ids.ActionId)).status).toBe("applied")
        expect(yield* probe.count("entries", fx.tenant)).toBe(entriesBefore)
        expect(yield* probe.entrySnapshot(fx.tenant, entry.entry!.id)).toStrictEqual(snapshot)
        const listed = yield* proposals.list(fx.tenant, fx.viewer, { status: "wiped" })
        expect(listed.map((a) => a.id)).toStrictEqual([second.action.id])
        const dup = yield* proposals.propose(
          fx.tenant,
          fx.agent,
          proposal(t1, [["6000", "30.00"]], { idempotency_key: "p-1" })
        )
        const dup2 = yield* proposals.propose(
          fx.tenant,
          fx.agent,
          proposal(t1, [["6000", "30.00"]], { idempotency_key: "p-1" })
        )
        expect([dup2.duplicate, dup2.action.id]).toStrictEqual([true, dup.action.id])
      }))

    it.effect("proposals: a refused propose keeps its decision trace, stores no proposal and supersedes nothing", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("refused")
        const proposals = yield* Proposals.LedgerProposals
        const probe = yield* LedgerProbe
        const txn = yield* bankTxn(fx, "2024-07-05", "Coffee", "-4.00")
        const open = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6200", "4.00"]]))
        yield* (yield* Tenants.Tenants).updateSettings(fx.tenant, { kill_switch: true }, fx.owner)
        const refused = yield* failure(proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6100", "4.00"]])))
        expect(refused.code).toBe("companion.disabled")
        // the gate's refusal is recorded as the pipeline records it when called on its own
        expect(yield* probe.traces(fx.tenant)).toStrictEqual([
          { phase: "propose", outcome: "allow", code: null },
          { phase: "propose", outcome: "deny", code: "companion.disabled" }
        ])
        expect(yield* probe.actions(fx.tenant, Proposals.subjectOf(txn))).toStrictEqual([{
          id: open.action.id,
          status: "proposed",
          close_reason: null
        }])
        const invalid = yield* failure(
          proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6100", "4.00"]], { tier: 9 }))
        )
        expect(invalid.code).toBe("validation.schema")
        expect((yield* probe.traces(fx.tenant)).length).toBe(2)
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
      }))

    it.effect("proposals: a new proposal racing an apply or a reject of the open one waits for it; both complete", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("supersede-race")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* LedgerProbe
        const rounds = capabilities.parallelConnections ? 8 : 2
        let applied = 0
        for (let i = 0; i < rounds; i++) {
          const txn = yield* bankTxn(fx, `2024-10-${10 + i}`, `Race ${i}`, "-10.00")
          const older = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6200", "10.00"]]))
          const closeOlder = i % 2 === 0
            ? Effect.map(pipeline.apply(fx.tenant, older.action.id, fx.bookkeeper), () => "applied")
            : Effect.map(pipeline.reject(fx.tenant, older.action.id, fx.bookkeeper, "not this one"), () => "rejected")
          const [closed, newer] = yield* Effect.all(
            [Effect.either(closeOlder), proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6100", "10.00"]]))],
            { concurrency: 2 }
          )
          const rows = yield* probe.actions(fx.tenant, Proposals.subjectOf(txn))
          expect(rows.find((r) => r.id === newer.action.id)?.status).toBe("proposed")
          const olderRow = rows.find((r) => r.id === older.action.id)
          if (closed._tag === "Right") {
            // the older one was closed first; the newer proposal found nothing open to supersede
            expect(olderRow?.status).toBe(closed.right)
            if (closed.right === "applied") applied++
          } else {
            // the newer proposal superseded it first; closing it then is refused with a stable code
            expect((closed.left as { code: string }).code).toBe("proposal.closed")
            expect(olderRow).toStrictEqual({
              id: older.action.id,
              status: "superseded",
              close_reason: `superseded by ${newer.action.id}`
            })
          }
        }
        expect(yield* probe.count("entries", fx.tenant)).toBe(applied)
      }))

    it.effect("proposals: amounts in another currency than the bank's are refused at propose; a split account kept in another currency at apply", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("fx-proposal")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        yield* chart.create(fx.tenant, fx.owner, { code: "6900", name: "Euro Costs", type: "Expense", currency: "EUR" })
        const txn = yield* bankTxn(fx, "2024-07-08", "Berlin hotel", "-80.00")
        const perSplit = yield* failure(proposals.propose(fx.tenant, fx.agent, {
          ...proposal(txn, []),
          splits: [{ account_code: "6200", amount: "50.00", currency: "USD" }, {
            account_code: "6300",
            amount: "30.00",
            currency: "EUR"
          }]
        }))
        expect([perSplit.code, perSplit.details]).toStrictEqual([
          "validation.currency_mismatch",
          { field: "splits[2].currency", currency: "EUR", bank_currency: "USD", bank_transaction_id: txn }
        ])
        const whole = yield* failure(
          proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6200", "80.00"]], { currency: "EUR" }))
        )
        expect([whole.code, whole.details?.field]).toStrictEqual(["validation.currency_mismatch", "currency"])
        expect(yield* probe.actions(fx.tenant, Proposals.subjectOf(txn))).toStrictEqual([])
        // the bank's own currency, said explicitly, is what the amounts are read in anyway
        const usd = yield* proposals.propose(
          fx.tenant,
          fx.agent,
          proposal(txn, [["6200", "80.00"]], { currency: "USD" })
        )
        expect(usd.action.payload).toMatchObject({ splits: [{ account_code: "6200", amount_minor: "8000" }] })
        const euroAccount = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6900", "80.00"]]))
        const refused = yield* failure(pipeline.apply(fx.tenant, euroAccount.action.id, fx.bookkeeper))
        expect([refused.code, refused.details]).toMatchObject(["validation.currency_mismatch", {
          account_code: "6900",
          account_currency: "EUR",
          currency: "USD"
        }])
        expect(yield* probe.count("entries", fx.tenant)).toBe(0)
        expect((yield* probe.actions(fx.tenant, Proposals.subjectOf(txn))).map((r) => r.status)).toStrictEqual([
          "superseded",
          "proposed"
        ])
      }))

    it.effect("exactly once under concurrency: concurrent applies of one proposal, and of two proposals for one bank transaction", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("race")
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const probe = yield* LedgerProbe
        const n = capabilities.parallelConnections ? 6 : 2
        for (let i = 0; i < 3; i++) {
          const txn = yield* bankTxn(fx, `2024-08-0${i + 1}`, `Vendor ${i}`, "-10.00")
          const p = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["6200", "10.00"]]))
          const results = yield* Effect.all(
            Array.from({ length: n }, () => pipeline.apply(fx.tenant, p.action.id as Ids.ActionId, fx.bookkeeper)),
            { concurrency: n }
          )
          expect(results.filter((r) => !r.already_applied).length).toBe(1)
          expect(new Set(results.map((r) => (r.result as Proposals.ApplyOutcome).entry_id)).size).toBe(1)
        }
        expect(yield* probe.count("entries", fx.tenant)).toBe(3)
        const txn = yield* bankTxn(fx, "2024-08-09", "Twice", "-10.00")
        const a = yield* pipeline.propose({
          tenant_id: fx.tenant,
          actor: fx.agent,
          kind: Proposals.KIND,
          payload: {
            bank_transaction_id: txn,
            splits: [{ account_code: "6200", amount_minor: "1000" }],
            confidence: 0.5,
            calibrated_probability: null,
            rationale: "",
            questions: [],
            risk_reasons: [],
            tier: 0
          }
        })
        const b = yield* pipeline.propose({
          tenant_id: fx.tenant,
          actor: fx.agent,
          kind: Proposals.KIND,
          payload: {
            bank_transaction_id: txn,
            splits: [{ account_code: "6100", amount_minor: "1000" }],
            confidence: 0.5,
            calibrated_probability: null,
            rationale: "",
            questions: [],
            risk_reasons: [],
            tier: 0
          }
        })
        const both = yield* Effect.all(
          [a, b].map((x) => Effect.exit(pipeline.apply(fx.tenant, x.action.id, fx.bookkeeper))),
          { concurrency: 2 }
        )
        expect(both.filter(Exit.isSuccess).length).toBe(1)
        const failed = both.find(Exit.isFailure)!
        expect(failed).toStrictEqual(Exit.fail(expect.objectContaining({ code: "bank_transaction.already_posted" })))
        expect(yield* probe.count("entries", fx.tenant)).toBe(4)
      }))

    it.effect("balance range: a post, reversal or apply taking a day's debit or credit total past 2^63 - 1 is refused and writes nothing", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("range")
        const journal = yield* Journal.Journal
        const proposals = yield* Proposals.LedgerProposals
        const pipeline = yield* GovernedActions.GovernedActions
        const audit = yield* Audit.AuditLog
        const probe = yield* LedgerProbe
        const day = "2024-09-02"
        for (let i = 0; i < 36; i++) yield* post(fx, heavy(day, 250))
        const filled = BigInt((yield* probe.materialised(fx.tenant, "1000", day))[0])
        expect(filled).toBe(36n * 250n * LINE_MAX)
        // two posts that fit alone but not together: whichever comes second is refused
        const racers = yield* Effect.all([post(fx, heavy(day, 200)), post(fx, heavy(day, 200))].map(Effect.either), {
          concurrency: 2
        })
        expect(racers.map((r) => (r._tag === "Left" ? (r.left as { code: string }).code : "ok")).sort()).toStrictEqual([
          "ok",
          "validation.amount_range"
        ])
        // exactly up to the limit is accepted
        const before = BigInt((yield* probe.materialised(fx.tenant, "1000", day))[0])
        yield* post(fx, upTo(day, LIMIT - before))
        expect(yield* probe.materialised(fx.tenant, "1000", day)).toStrictEqual([LIMIT.toString(), "0"])
        expect(yield* probe.materialised(fx.tenant, "3000", day)).toStrictEqual(["0", LIMIT.toString()])
        expect((yield* journal.balance(fx.tenant, fx.viewer, "1000", day)).balance_minor).toBe(LIMIT)
        // what the refusals below must leave as it is
        const small = yield* post(fx, simple("2024-09-01", "3000", "6000", "1.00"))
        const txn = yield* bankTxn(fx, day, "Deposit", "0.01")
        const p = yield* proposals.propose(fx.tenant, fx.agent, proposal(txn, [["4000", "0.01"]]))
        const state = Effect.gen(function*() {
          const sums: Array<readonly [string, string]> = []
          for (const account of ["1000", "3000", "4000", "6000"])
            sums.push(yield* probe.materialised(fx.tenant, account, "2024-12-31"))
          return {
            entries: yield* probe.count("entries", fx.tenant),
            lines: yield* probe.count("lines", fx.tenant),
            counter: yield* probe.entryCounter(fx.tenant),
            audit: (yield* audit.list(fx.tenant, { limit: 1000 })).length,
            sums
          }
        })
        const kept = yield* state

        const credit = yield* failure(post(fx, simple(day, "6000", "3000", "0.01")))
        expect([credit._tag, credit.code, credit.details]).toStrictEqual([
          "ValidationError",
          "validation.amount_range",
          { account_code: "3000", date: day, side: "credit" }
        ])
        expect(credit.message).toContain("3000")
        expect(credit.message).toContain(day)
        const debit = yield* failure(post(fx, simple(day, "1000", "4000", "0.01", { idempotency_key: "range-1" })))
        expect([debit.code, debit.details]).toStrictEqual(["validation.amount_range", {
          account_code: "1000",
          date: day,
          side: "debit"
        }])
        const reversal = yield* failure(journal.reverse(fx.tenant, fx.bookkeeper, small.entry.id, { date: day }))
        expect([reversal.code, reversal.details]).toStrictEqual(["validation.amount_range", {
          account_code: "3000",
          date: day,
          side: "credit"
        }])
        const applied = yield* failure(pipeline.apply(fx.tenant, p.action.id as Ids.ActionId, fx.bookkeeper))
        expect([applied.code, applied.details]).toStrictEqual(["validation.amount_range", {
          account_code: "1000",
          date: day,
          side: "debit"
        }])

        expect(yield* state).toStrictEqual(kept)
        expect((yield* journal.get(fx.tenant, fx.viewer, small.entry.id)).reversed_by).toBe(null)
        expect((yield* pipeline.get(fx.tenant, p.action.id as Ids.ActionId)).status).toBe("proposed")
        expect((yield* audit.verify(fx.tenant)).ok).toBe(true)
        // the refused key was not taken, and the next entry takes the next number
        const next = yield* post(fx, simple("2024-09-03", "1000", "4000", "0.01", { idempotency_key: "range-1" }))
        expect([next.duplicate, next.entry.entry_no]).toStrictEqual([false, kept.counter + 1])
        yield* journal.reverse(fx.tenant, fx.bookkeeper, small.entry.id, { date: "2024-09-04" })
      }))

    it.effect("balance range: balances, trial balance and general ledger stay exact when a total over several days passes 2^63 - 1", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("range-days")
        const journal = yield* Journal.Journal
        const probe = yield* LedgerProbe
        const days = Array.from({ length: 37 }, (_, i) =>
          CalendarDate.fromEpochDay(CalendarDate.toEpochDay("2024-10-01") + i))
        for (const d of days)
          yield* post(fx, heavy(d, 250))
        const total = 37n * 250n * LINE_MAX
        expect(total > LIMIT).toBe(true)
        const last = days.at(-1)!
        const cash = yield* journal.balance(fx.tenant, fx.viewer, "1000", last)
        expect([cash.debit_minor, cash.credit_minor, cash.balance_minor]).toStrictEqual([total, 0n, total])
        const equity = yield* journal.balance(fx.tenant, fx.viewer, "3000", "2024-12-31")
        expect([equity.debit_minor, equity.credit_minor, equity.balance_minor]).toStrictEqual([0n, total, total])
        expect((yield* journal.balance(fx.tenant, fx.viewer, "1000", days.at(-2)!)).balance_minor).toBe(
          total - 250n * LINE_MAX
        )
        expect(yield* probe.materialised(fx.tenant, "1000", last)).toStrictEqual([total.toString(), "0"])

        const tb = yield* journal.trialBalance(fx.tenant, fx.viewer, last)
        expect(tb.rows.map((r) => [r.account_code, r.debit_minor, r.credit_minor, r.net_minor])).toStrictEqual([
          ["1000", total, 0n, total],
          ["3000", 0n, total, -total]
        ])
        expect(tb.totals).toStrictEqual([{ currency: "USD", debit_minor: total, credit_minor: total, net_minor: 0n }])
        expect(tb.balanced).toBe(true)

        // the general ledger's opening balance sums the days before its range, also on a later page
        const after = "2024-11-15"
        yield* post(fx, {
          date: after,
          lines: [{ account_code: "1000", debit: "1.00" }, { account_code: "1000", debit: "2.00" }, {
            account_code: "4000",
            credit: "3.00"
          }]
        })
        const first = yield* journal.generalLedger(fx.tenant, fx.viewer, "1000", { from: after, to: after, limit: 1 })
        expect([
          first.opening_balance_minor,
          first.rows.map((r) =>
            r.balance_minor
          )
        ]).toStrictEqual([total, [
          total + 100n
        ]])
        const second = yield* journal.generalLedger(fx.tenant, fx.viewer, "1000", {
          from: after,
          to: after,
          limit: 1,
          cursor: first.next_cursor!
        })
        expect([second.opening_balance_minor, second.rows.map((r) => r.balance_minor), second.next_cursor])
          .toStrictEqual([total + 100n, [total + 300n], null])
      }))

    it.effect("QuickBooks export: 11 columns, balanced journals, each entry once, batches refetch byte-identical", () =>
      Effect.gen(function*() {
        const fx = yield* fixture("qbo")
        const exports = yield* QboExport.QboExports
        const chart = yield* Chart.ChartOfAccounts
        const probe = yield* LedgerProbe
        yield* chart.create(fx.tenant, fx.owner, {
          code: "6210",
          name: "Hosting",
          type: "Expense",
          parent_code: "6200"
        })
        const bodies = [
          simple("2024-01-03", "6000", "1000", "100.00"),
          {
            date: "2024-01-04",
            memo: 'Split, "quoted"',
            lines: [{ account_code: "6210", debit: "10.00", name: "AWS", class: "Ops", location: "EU" }, {
              account_code: "6100",
              debit: "0.05"
            }, { account_code: "2100", credit: "10.05", description: "card\nline" }]
          },
          simple("2024-01-05", "1000", "4000", "999.99"),
          simple("2024-01-06", "6300", "1000", "1200.00"),
          simple("2024-01-07", "3100", "1000", "50.00")
        ]
        for (const b of bodies) yield* post(fx, b)
        const first = yield* exports.exportNew(fx.tenant, fx.bookkeeper)
        expect([first.new, first.skipped]).toStrictEqual([5, 0])
        const second = yield* exports.exportNew(fx.tenant, fx.bookkeeper)
        expect(second).toStrictEqual({ batch_id: null, new: 0, skipped: 5 })
        expect(yield* probe.count("exported", fx.tenant)).toBe(5)
        const csv = yield* exports.csvText(fx.tenant, fx.viewer, first.batch_id!)
        const lines = csv.split("\r\n")
        expect(lines[0]).toBe(
          "Journal No.,Journal Date,Currency,Memo,Account Name,Debits,Credits,Description,Name,Location,Class"
        )
        expect(lines[3]).toBe(
          '2,01/04/2024,USD,"Split, ""quoted""",Office Supplies & Software:Hosting,10.00,,,AWS,EU,Ops'
        )
        expect(csv).toContain('"card\nline"')
        const sums = new Map<string, bigint>()
        for (const row of parseRows(csv).slice(1)) {
          const cents = (s: string) => (s === "" ? 0n : BigInt(s.replace(".", "")))
          sums.set(row[0]!, (sums.get(row[0]!) ?? 0n) + cents(row[5]!) - cents(row[6]!))
          expect(row.length).toBe(11)
        }
        expect([...sums.keys()]).toStrictEqual(["1", "2", "3", "4", "5"])
        expect([...sums.values()].every((v) => v === 0n)).toBe(true)
        yield* chart.update(fx.tenant, fx.owner, "6210", { name: "Cloud Hosting" })
        yield* post(fx, simple("2024-01-08", "6210", "1000", "1.00"))
        expect(yield* exports.csvText(fx.tenant, fx.viewer, first.batch_id!)).toBe(csv)
        const third = yield* exports.exportNew(fx.tenant, fx.bookkeeper)
        expect([third.new, third.skipped]).toStrictEqual([1, 5])
        const chunks = yield* Stream.runCollect(yield* exports.csv(fx.tenant, fx.viewer, first.batch_id!))
        expect(chunks.length).toBe(4)
        const next = yield* exports.csvText(fx.tenant, fx.viewer, third.batch_id!)
        expect(next).toContain("Office Supplies & Software:Cloud Hosting")
        expect((yield* exports.listBatches(fx.tenant, fx.viewer)).map((b) => b.batch_no)).toStrictEqual([2, 1])
        expect((yield* failure(exports.csvText(fx.tenant, fx.viewer, "qbo_missing"))).code).toBe("not_found")
        expect((yield* failure(exports.exportNew(fx.tenant, fx.viewer))).code).toBe("rbac.forbidden")
      }))
  })

/** The CSV's records (RFC 4180: quoted fields, doubled quotes, CRLF), read with csv-parse for the assertions. */
const parseRows = (csv: string): Array<Array<string>> =>
  parseCsv(csv, { record_delimiter: "\r\n" }) as Array<Array<string>>

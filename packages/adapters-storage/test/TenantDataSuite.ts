/**
 * The conformance suite of core's `TenantDataStore` (and the `TenantData` service over it): two
 * tenants with data in every package's tables; the export of one reads back every row the store
 * holds (token hashes never), with the manifest's counts and chain head; its deletion (refused
 * without `confirm`, refused for a protected tenant) removes every row it owns — open memory
 * reviews included — in one transaction, stops its tokens, writes a tombstone to the system audit
 * chain, and leaves the other tenant's rows byte-for-byte as they were (a digest read raw, around
 * the adapter).
 */
import { Companion, CompanionPorts, CompanionReportsPorts, TenantHealth } from "@airlock/companion"
import {
  AgentMemory,
  ApiToken,
  Audit,
  CoreConfig,
  type CorePorts,
  Errors,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  TenantData,
  Tenants
} from "@airlock/core"
import {
  Approvals,
  BreakerEvents,
  Budgets,
  Guardrails,
  GuardrailsConfig,
  type GuardrailsPorts
} from "@airlock/guardrails"
import { BankTransaction, Chart, Journal, Ledger, LedgerConfig, type LedgerPorts, PeriodLock } from "@airlock/ledger"
import { EventStore, ExecutionStore, KpiStore } from "@airlock/ops"
import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Schema, Stream } from "effect"
import { TenantProbe } from "./support/TenantProbe.js"

const T = (s: string) => Ids.TenantId.make(s)

/** What an adapter provides for the suite: every package's ports (their tables are the tenant's data). */
export type Ports =
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | CompanionPorts.CompanionPorts
  | CompanionReportsPorts.CompanionReportsPorts
  | KpiStore.KpiPorts
  | ExecutionStore.ExecutionStore
  | TenantData.TenantDataStore
  | TenantHealth.TenantHealthStore
  | TenantProbe

const environment = <E>(ports: Layer.Layer<Ports, E>) =>
  Companion.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(TenantData.TenantData.Default, Ledger.layerWithConfig, Guardrails.layer)),
    Layer.provideMerge(Layer.mergeAll(
      LedgerConfig.layer({}),
      GuardrailsConfig.layer({ rateLimitEnabled: false }),
      TenantData.layerConfig({ protectedTenants: ["default"] })
    )),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerSeeded(7))),
    Layer.provideMerge(ports)
  )

/** A tenant with data in every package's tables; returns its owner and a token. */
const seed = (id: string) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const tenant = yield* tenants.create({ id: T(id), name: `Tenant ${id}` })
    const owner = yield* tenants.addActor({ tenant_id: tenant.id, kind: "user", name: "Olga", role: "OWNER" })
    const agent = yield* tenants.addActor({ tenant_id: tenant.id, kind: "agent", name: "bot", role: "AGENT" })
    const issued = yield* (yield* ApiToken.ApiTokens).issue({ tenant_id: tenant.id, actor_id: owner.id, name: "t" })
    yield* tenants.updateSettings(tenant.id, { extensions: { "test.note": id } }, owner)
    yield* (yield* Chart.ChartOfAccounts).importPreset(tenant.id, owner, "standard_small_business")
    const journal = yield* Journal.Journal
    for (const [i, amount] of ["12.50", "40.00", "7.25", "100.00"].entries()) {
      yield* journal.post(tenant.id, owner, {
        date: `2024-01-0${i + 1}`,
        memo: `entry ${i}`,
        lines: [{ account_code: "6100", debit: amount }, { account_code: "1000", credit: amount }]
      })
    }
    yield* (yield* BankTransaction.BankTransactions).importFile(tenant.id, owner, {
      account_code: "1000",
      format: "json",
      transactions: [
        { date: "2024-02-01", description: "Coffee", amount: "-4.50" },
        { date: "2024-02-02", description: "Client", amount: "900.00" }
      ]
    })
    yield* (yield* PeriodLock.PeriodLocks).set(tenant.id, owner, { lock_date: "2023-12-31" })
    const memory = yield* AgentMemory.AgentMemory
    const fact = { thread_id: "vendors", agent_id: "bot", kind: "fact", subject: "Coffee", predicate: "account" }
    yield* memory.write(tenant.id, agent, { ...fact, value: "6100" })
    // a contradiction: an open review entry the memory module would refuse to lose
    yield* memory.write(tenant.id, agent, { ...fact, value: "6200" })
    yield* (yield* Approvals.Approvals).grant(owner, { subject: "job", plan_hash: "h1" })
    yield* (yield* Budgets.ExecutionBudgets).setBudget(
      owner,
      Schema.decodeUnknownSync(Budgets.BudgetInput)({ limit_usd: "25.00" })
    )
    yield* (yield* Budgets.ExecutionBudgets).charge(tenant.id, "build", 1_000_000n as any)
    yield* (yield* BreakerEvents.BreakerEvents).record({
      tenant_id: tenant.id,
      kind: "velocity",
      type: "tripped",
      reason: "test",
      data: {}
    })
    // companion: a rule, a proposal (with its not-auto-post reasons, core's action and trace),
    // a classifier and a calibration version
    const companion = yield* Companion.Companion
    yield* companion.createRule(tenant.id, owner, {
      name: "Coffee",
      description_contains: "Coffee",
      account_code: "6100"
    })
    yield* companion.propose(tenant.id, agent, {})
    const models = yield* CompanionPorts.CompanionModelStore
    yield* models.putClassifier(
      new CompanionPorts.ClassifierVersion({ tenant_id: id, version: 1, model: { k: id }, examples: 3, created_at: 1 })
    )
    yield* models.putCalibration(
      new CompanionPorts.CalibrationVersion({
        tenant_id: id,
        version: 1,
        calibrator: null,
        certificate: { threshold: null },
        metrics: { brier: 0.1 },
        sample: 3,
        fitted_at: 2
      })
    )
    // companion reports: an integrity report and a rule promotion
    yield* (yield* CompanionReportsPorts.IntegrityReportStore).insert(
      new CompanionReportsPorts.IntegrityReport({
        id: `irp_${id}`,
        tenant_id: id,
        created_at: 3,
        created_by: owner.id,
        days: 7,
        window_start: "2024-01-01",
        window_end: "2024-01-07",
        status: "findings",
        entries_checked: 4,
        audit_records_checked: 9,
        counts: { "entry.unbalanced": 1 },
        findings: [{ code: "entry.unbalanced", severity: "critical", message: "m", entities: { entry_id: "e1" } }],
        truncated: false
      })
    )
    yield* (yield* CompanionReportsPorts.RulePromotionStore).insert(
      new CompanionReportsPorts.RulePromotion({
        id: `rpr_${id}`,
        tenant_id: id,
        vendor_key: "coffee",
        direction: "outflow",
        account_code: "6100",
        labels: 3,
        evidence: { threshold: 3, labels: [], supersedes: null },
        status: "pending",
        action_id: null,
        rule_id: null,
        created_at: 4,
        created_by: owner.id,
        reviewed_at: null,
        reviewed_by: null,
        review_reason: null,
        version: 1
      })
    )
    // ops: an execution, product events, a rollup, an alert claim, a webhook delivery, a baseline
    // (and its pointer), a digest draft
    yield* (yield* ExecutionStore.ExecutionStore).insert(
      new ExecutionStore.ExecutionRecord({
        run_id: `run-${id}`,
        tenant_id: id,
        job_name: "build",
        plan: { steps: 1 },
        plan_hash: "h1",
        risk_score: 0.2,
        estimated_cost_usd: 1_000n,
        actual_cost_usd: 0n,
        status: "QUEUED",
        attempts: 0,
        retry_count: 0,
        requested_by: owner.id,
        action_id: null,
        claimed_by: null,
        queued_at: 5,
        started_at: null,
        heartbeat_at: null,
        finished_at: null,
        progress: null,
        progress_message: null,
        error: null,
        failure_reason: null,
        log_tail: [],
        triage: null,
        version: 1
      })
    )
    yield* (yield* EventStore.ProductEventStore).append(
      ["e1", "e2"].map((event_id, i) =>
        new EventStore.ProductEvent({
          tenant_id: id,
          event_id,
          step: "signup",
          subject_type: "user",
          subject_id: `u${i}`,
          occurred_at: 86_400_000 * (20_000 + i),
          day: 20_000 + i,
          recorded_at: 86_400_000 * (20_000 + i)
        })
      )
    )
    const kpi = yield* KpiStore.KpiStore
    yield* kpi.putRollups([
      new KpiStore.DailyRollup({
        tenant_id: id,
        day: "2024-10-04",
        day_index: 20_000,
        steps: { signup: { events: 1, subjects: 1 } },
        cohort_size: 1,
        d1_retained: 0,
        d7_retained: 0,
        computed_at: 9
      })
    ])
    yield* kpi.claimNotification(id, "ph1", "instance-1", 10, 20)
    yield* kpi.recordDelivery(
      new KpiStore.DeliveryAttempt({
        id: `dl-${id}`,
        tenant_id: id,
        delivery_id: "d1",
        payload_hash: "ph1",
        attempt: 1,
        outcome: "delivered",
        http_status: 200,
        error: null,
        host: "hooks.example",
        at: 11,
        duration_ms: 3
      })
    )
    yield* kpi.putBaseline(
      new KpiStore.BaselineRecord({
        id: `bl-${id}`,
        tenant_id: id,
        captured_at: 12,
        captured_by: owner.id,
        document: {}
      })
    )
    yield* kpi.insertDigest({
      id: `dg-${id}`,
      tenant_id: id,
      anchor_week: "2024-09-30",
      anchor_date: "2024-10-04",
      lookback_days: 7,
      window_from: "2024-09-27",
      window_to: "2024-10-04",
      created_at: 13,
      created_by: owner.id,
      markdown: "# week",
      evidence: []
    }, false)
    // core: a verification stores the chain's checkpoint
    yield* (yield* Audit.AuditLog).verify(tenant.id)
    return { tenant: tenant.id, owner, token: issued.token }
  })

/** Every row the store holds for a tenant, table by table, read through the port in one page each. */
const readAll = (tenant: Ids.TenantId) =>
  Effect.gen(function*() {
    const store = yield* TenantData.TenantDataStore
    const out: Record<string, ReadonlyArray<unknown>> = {}
    for (const table of store.tables()) out[table] = (yield* store.page(tenant, table, null, 1_000_000)).rows
    return out
  })

/** Runs the suite for an adapter's ports plus its raw {@link TenantProbe}. */
export const suite = <E>(name: string, ports: Layer.Layer<Ports, E>) =>
  layer(environment(ports), { timeout: 60_000 })(`TenantDataStore conformance: ${name}`, (it) => {
    it.effect("export reads back every row; delete removes exactly the tenant's rows, with a tombstone", () =>
      Effect.gen(function*() {
        const data = yield* TenantData.TenantData
        const store = yield* TenantData.TenantDataStore
        const probe = yield* TenantProbe
        const tokens = yield* ApiToken.ApiTokens
        const audit = yield* Audit.AuditLog
        const gone = yield* seed("gone-1")
        const kept = yield* seed("kept-1")

        // every table the registry names holds rows of the seeded tenant
        const counts = yield* data.counts(gone.tenant)
        const empty = Object.entries(counts).filter(([, n]) => n === 0).map(([t]) => t)
        // (not seeded here: QuickBooks exports, breakers, counters; the memory key heads only
        // PostgreSQL writes; lines, balances and counters the memory adapter keeps in its entries,
        // and a proposal's reasons in its record)
        const unseeded = new Set([
          "ledger_qbo_batches",
          "ledger_qbo_exported",
          "ledger_qbo_batch_accounts",
          "core_memory_keys",
          "guardrails_breakers",
          "guardrails_counters",
          "ledger_counters",
          "ledger_lines",
          "ledger_daily_balances"
        ])
        expect(empty.filter((t) => !unseeded.has(t))).toStrictEqual([])

        // the health read model: the last import (both rows, by the owner) and the open proposal
        const health = yield* TenantHealth.TenantHealthStore
        expect(yield* health.lastImport(gone.tenant)).toMatchObject({ by: gone.owner.id, transactions: 2 })
        expect(yield* health.openProposals(gone.tenant)).toBe(1)
        expect(yield* health.lastImport(T("nobody"))).toBeNull()

        // export: small pages, every row back, in the store's order, with the manifest
        const stream = yield* data.exportItems(gone.tenant, gone.owner, { pageSize: 3 })
        const items = Chunk.toReadonlyArray(yield* Stream.runCollect(stream))
        const last = items[items.length - 1]!
        expect(last._tag).toBe("Manifest")
        const manifest = (last as Extract<TenantData.ExportItem, { _tag: "Manifest" }>).manifest
        expect(manifest.format).toBe(TenantData.FORMAT)
        expect(manifest.format_version).toBe(1)
        expect(manifest.tenant_id).toBe(gone.tenant)
        const exported: Record<string, Array<unknown>> = {}
        for (const item of items) {
          if (item._tag !== "Rows") continue
          expect(item.rows.length).toBeLessThanOrEqual(3)
          ;(exported[item.table] ??= []).push(...item.rows)
        }
        const stored = yield* readAll(gone.tenant)
        for (const table of store.tables()) {
          expect([table, exported[table] ?? []]).toStrictEqual([table, stored[table]])
        }
        expect(manifest.tables.map((t) => [t.table, t.rows])).toStrictEqual(
          store.tables().map((t) => [t, stored[t]!.length])
        )
        // token rows never carry their hash; the other tenant's rows are not in the export
        const tokenRows = stored["core_api_tokens"] as ReadonlyArray<Record<string, unknown>>
        expect(tokenRows.length).toBe(1)
        expect("hash" in tokenRows[0]!).toBe(false)
        expect(JSON.stringify(exported)).not.toContain("kept-1")
        // the chain head in the manifest is the tenant's head, and the export was audited
        const verified = yield* audit.verify(gone.tenant)
        expect(verified.ok).toBe(true)
        expect(manifest.audit_chain_head?.seq).toBe(verified.checked)
        const auditRows = stored["core_audit"] as ReadonlyArray<Record<string, unknown>>
        expect(auditRows.map((r) => r.action)).toContain("tenant.exported")

        const admin = yield* (yield* Tenants.Tenants).addActor({
          tenant_id: kept.tenant,
          kind: "user",
          name: "Ada",
          role: "ADMIN"
        })
        yield* (yield* Tenants.Tenants).create({ id: T("default"), name: "Default" })
        const keptBefore = yield* probe.digest(kept.tenant)
        const beforeCounts = yield* data.counts(gone.tenant)

        // refused without confirm, and for a protected tenant: nothing changes
        const unconfirmed = yield* Effect.flip(data.remove(gone.tenant, gone.owner, { confirm: false }))
        expect(unconfirmed).toMatchObject({ code: "tenant.delete.unconfirmed" })
        expect(yield* data.counts(gone.tenant)).toStrictEqual(beforeCounts)
        const protectedTenant = yield* Effect.flip(data.remove(T("default"), admin, { confirm: true }))
        expect(protectedTenant).toMatchObject({ code: "tenant.delete.protected" })
        // another tenant's owner cannot delete it
        const foreign = yield* Effect.flip(data.remove(gone.tenant, kept.owner, { confirm: true }))
        expect(foreign).toBeInstanceOf(Errors.Forbidden)

        const tombstone = yield* data.remove(gone.tenant, gone.owner, { confirm: true })
        expect(tombstone.counts).toStrictEqual(beforeCounts)
        expect(tombstone.rows_deleted).toBe(Object.values(beforeCounts).reduce((a, b) => a + b, 0))
        expect(tombstone.open_memory_reviews_removed).toBe(1)
        expect(tombstone.deleted_by).toBe(gone.owner.id)

        // nothing of the tenant is left, anywhere (read raw)
        const leftovers = yield* probe.leftovers(gone.tenant)
        expect(Object.entries(leftovers).filter(([, n]) => n > 0)).toStrictEqual([])
        expect(yield* data.counts(gone.tenant)).toStrictEqual(
          Object.fromEntries(store.tables().map((t) => [t, 0]))
        )
        expect([yield* health.lastImport(gone.tenant), yield* health.openProposals(gone.tenant)]).toStrictEqual([
          null,
          0
        ])
        expect(yield* health.openProposals(kept.tenant)).toBe(1)
        // the other tenant's rows, byte for byte (before a verify records the token's last use)
        expect(yield* probe.digest(kept.tenant)).toBe(keptBefore)
        // its token stops working; the other tenant's still works
        const refused = yield* Effect.exit(tokens.verify(gone.token))
        expect(Exit.isFailure(refused)).toBe(true)
        expect((yield* tokens.verify(kept.token)).tenant.id).toBe(kept.tenant)
        // the tombstone: in the system chain, which verifies, with counts and no tenant data
        const system = yield* audit.list(TenantData.SYSTEM_AUDIT_TENANT)
        expect(system.map((r) => [r.action, r.subject, r.actor_id])).toStrictEqual([
          ["tenant.deleted", gone.tenant, gone.owner.id]
        ])
        expect((system[0]!.data as { counts: unknown }).counts).toStrictEqual(beforeCounts)
        expect(JSON.stringify(system[0]!.data)).not.toContain("Coffee")
        expect((yield* audit.verify(TenantData.SYSTEM_AUDIT_TENANT)).ok).toBe(true)
        expect((yield* data.tombstones(admin)).length).toBe(1)
        // deleting again finds nothing
        const again = yield* Effect.flip(data.remove(gone.tenant, admin, { confirm: true }))
        expect(again).toBeInstanceOf(Errors.NotFound)
        // a tenant made again under the same id starts empty
        yield* (yield* Tenants.Tenants).create({ id: gone.tenant, name: "Again" })
        const fresh = yield* data.counts(gone.tenant)
        expect(
          Object.entries(fresh).filter(([t, n]) =>
            n > 0 && !["core_tenants", "core_ai_settings", "core_audit", "core_audit_heads"].includes(t)
          )
        ).toStrictEqual([])
      }))
  })

/**
 * Handlers of the companion's proposal group: translate between JSON and the companion's
 * `Companion` service and `CompanionProvenance` lookup. No decisions here.
 */
import { Companion, type CompanionPorts, CompanionProvenance } from "@airlock/companion"
import type { Action } from "@airlock/core"
import { type BankTransaction, Journal, Money } from "@airlock/ledger"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { TenantScoped } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

const DAY_MS = 86_400_000

/** JSON-safe copy of a domain value: bigints as strings, class instances as plain objects. */
export const plain = (value: unknown): unknown => {
  if (typeof value === "bigint") return value.toString()
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v)
    return out
  }
  return value
}

/** The group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "companionProposals">,
  never,
  Companion.Companion | CompanionProvenance.CompanionProvenance | Journal.Journal | TenantScoped
> = HttpApiBuilder.group(AirlockApi, "companionProposals", (handlers) =>
  Effect.gen(function*() {
    const companion = yield* Companion.Companion
    const provenance = yield* CompanionProvenance.CompanionProvenance
    const exponents = (yield* Journal.Journal).currencyExponents

    const decimal = (minor: bigint | string, currency: string) =>
      Money.formatAmount(typeof minor === "bigint" ? minor : BigInt(minor), currency, exponents)

    const txnJson = (t: BankTransaction.BankTransaction) => ({
      id: t.id,
      account_code: t.account_code,
      date: t.date,
      description: t.description,
      amount: decimal(t.amount_minor, t.currency),
      currency: t.currency,
      payee: t.payee,
      memo: t.memo
    })

    const proposalJson = (a: Action.ActionRecord, txn: BankTransaction.BankTransaction | null) => {
      const p = (a.payload ?? {}) as {
        readonly bank_transaction_id?: string
        readonly splits?: ReadonlyArray<{ readonly account_code: string; readonly amount_minor: string | bigint }>
        readonly confidence?: number
        readonly calibrated_probability?: number | null
        readonly rationale?: string
        readonly questions?: ReadonlyArray<string>
        readonly risk_reasons?: ReadonlyArray<string>
        readonly tier?: number
      }
      const currency = txn?.currency ?? "USD"
      return {
        id: a.id,
        status: a.status,
        bank_transaction_id: p.bank_transaction_id ?? null,
        splits: (p.splits ?? []).map((s) => ({
          account_code: s.account_code,
          amount: decimal(s.amount_minor, currency)
        })),
        confidence: p.confidence ?? null,
        calibrated_probability: p.calibrated_probability ?? null,
        rationale: p.rationale ?? null,
        questions: p.questions ?? [],
        risk_reasons: p.risk_reasons ?? [],
        tier: p.tier ?? null,
        review_reasons: a.review_reasons,
        proposed_by: a.proposed_by,
        proposed_at: a.proposed_at,
        closed_by: a.closed_by,
        closed_at: a.closed_at,
        close_reason: a.close_reason,
        result: plain(a.result)
      }
    }

    const applyJson = (r: Companion.ApplyResult) => ({
      ...r,
      correction: r.correction === null
        ? null
        : { original_splits: [...r.correction.original_splits], corrected_splits: [...r.correction.corrected_splits] },
      learning: plain(r.learning)
    })

    const ruleJson = (r: CompanionPorts.CompanionRule) => ({
      id: r.id,
      name: r.name,
      priority: r.priority,
      active: r.active,
      match: plain(r.match),
      target: plain(r.target),
      created_at: r.created_at,
      created_by: r.created_by,
      updated_at: r.updated_at,
      updated_by: r.updated_by,
      version: r.version
    })

    return handlers
      .handle("propose", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.propose(tenant, actor, payload), (r) => ({
            ...r,
            items: r.items.map((i) => ({ ...i, splits: [...i.splits], questions: [...i.questions] }))
          }))
        ))
      .handle("listProposals", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            companion.list(tenant, actor, {
              // the runbook's list is of proposed shadow events: that is the default; `all` lifts the filter
              ...(urlParams.status === "all" ? {} : { status: urlParams.status ?? "proposed" }),
              ...(urlParams.cursor === undefined ? {} : { before: urlParams.cursor }),
              ...(urlParams.limit === undefined ? {} : { limit: urlParams.limit })
            }),
            (page) => ({
              items: page.items.map((i) => ({
                proposal: proposalJson(i.proposal, i.bank_transaction),
                bank_transaction: i.bank_transaction === null ? null : txnJson(i.bank_transaction)
              })),
              next_cursor: page.next_cursor
            })
          )
        ))
      .handle("getShadowEvent", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.shadowEvent(tenant, actor, path.id), (e) => ({
            proposal: proposalJson(e.proposal, e.bank_transaction),
            bank_transaction: e.bank_transaction === null ? null : txnJson(e.bank_transaction),
            detail: plain(e.detail)
          }))
        ))
      .handle("apply", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(
            companion.apply(tenant, actor, path.id, payload.splits === undefined ? {} : { splits: payload.splits }),
            applyJson
          )
        ))
      .handle("applyBatch", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.applyBatch(tenant, actor, payload.ids), (items) => ({
            items: items.map((i) => ({ ...i, result: i.result === null ? null : applyJson(i.result) }))
          }))
        ))
      .handle("reject", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.reject(tenant, actor, path.id, payload.reason), (r) => ({
            proposal: proposalJson(r.proposal, null),
            learning: plain(r.learning),
            trust: r.trust
          }))
        ))
      .handle("wipe", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.wipe(tenant, actor, urlParams.status), (wiped) => ({
            status: urlParams.status,
            wiped
          }))
        ))
      .handle("provenance", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(provenance.lookup(tenant, actor, urlParams), (p) => ({
            shadow_event_id: p.shadow_event_id,
            bank_transaction: p.bank_transaction === null ? null : txnJson(p.bank_transaction),
            proposal: p.proposal === null ? null : proposalJson(p.proposal, p.bank_transaction),
            entry: plain(p.entry),
            ai: plain(p.ai),
            calibration: plain(p.calibration),
            gates: { propose: p.gates.propose.map(plain), apply: p.gates.apply.map(plain) },
            applied: p.applied === null ? null : { ...p.applied, result: plain(p.applied.result) },
            correction: plain(p.correction)
          }))
        ))
      .handle("listRules", () =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.listRules(tenant, actor), (rules) => ({ rules: rules.map(ruleJson) }))
        ))
      .handle("createRule", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.createRule(tenant, actor, payload), ruleJson)
        ))
      .handle("updateRule", ({ path, payload }) =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.updateRule(tenant, actor, path.id, payload), ruleJson)
        ))
      .handle("deleteRule", ({ path }) =>
        withPrincipal((actor, tenant) =>
          Effect.as(companion.deleteRule(tenant, actor, path.id), { deleted: true })
        ))
      .handle("notAutoPostCounts", ({ urlParams }) =>
        withPrincipal((actor, tenant) =>
          Effect.gen(function*() {
            const since = urlParams.since ?? (yield* Clock.currentTimeMillis) - 30 * DAY_MS
            return { since, not_auto_post_counts: yield* companion.notAutoPostCounts(tenant, actor, since) }
          })
        ))
      .handle("calibration", () =>
        withPrincipal((actor, tenant) =>
          Effect.map(companion.calibrationReport(tenant, actor), (c) => ({
            version: c?.version ?? null,
            fitted_at: c?.fitted_at ?? null,
            sample: c?.sample ?? 0,
            calibrator: plain(c?.calibrator ?? null),
            certificate: plain(c?.certificate ?? null),
            metrics: plain(c?.metrics ?? null)
          }))
        ))
  }))

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
import { entryJson } from "../Ledger/Http.js"
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

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

/** An epoch-ms time inside a JSON blob as the wire shows every time: an ISO 8601 string. */
const isoOf = (u: unknown): unknown => typeof u === "number" && Number.isFinite(u) ? new Date(u).toISOString() : u

/**
 * A stored calibrator as JSON with its fit times (`fitted_at`, the whole set's and each stage's)
 * as ISO 8601 strings.
 */
export const calibratorJson = (calibrator: unknown): unknown => {
  const c = plain(calibrator)
  if (!isRecord(c)) return c
  const withTime = (o: Record<string, unknown>) => "fitted_at" in o ? { ...o, fitted_at: isoOf(o.fitted_at) } : o
  const stages = isRecord(c.stages)
    ? Object.fromEntries(Object.entries(c.stages).map(([k, v]) => [k, isRecord(v) ? withTime(v) : v]))
    : c.stages
  return withTime(c.stages === undefined ? c : { ...c, stages })
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

    /** Stored splits (minor units) as the API shows every split: a decimal amount of the currency. */
    const splitsJson = (
      splits: ReadonlyArray<{ readonly account_code: string; readonly amount_minor: string | bigint }>,
      currency: string
    ) => splits.map((s) => ({ account_code: s.account_code, amount: decimal(s.amount_minor, currency) }))

    const isStoredSplit = (u: unknown): u is { account_code: string; amount_minor: string | bigint } =>
      isRecord(u) && typeof u.account_code === "string" &&
      (typeof u.amount_minor === "string" || typeof u.amount_minor === "bigint")

    /** Each stage's result with its splits as decimal amounts. */
    const stagesJson = (stages: unknown, currency: string): Array<unknown> =>
      (Array.isArray(stages) ? stages : []).map((st) => {
        const o = plain(st)
        if (!isRecord(st) || !Array.isArray(st.splits) || !st.splits.every(isStoredSplit) || !isRecord(o)) return o
        return { ...o, splits: splitsJson(st.splits, currency) }
      })

    const detailJson = (d: CompanionPorts.ProposalDetail, currency: string) => ({
      tenant_id: d.tenant_id,
      proposal_id: d.proposal_id,
      bank_transaction_id: d.bank_transaction_id,
      vendor_key: d.vendor_key,
      amount: decimal(d.amount_minor, currency),
      direction: d.direction,
      splits: splitsJson(d.splits, currency),
      stages: stagesJson(d.stages, currency),
      deciding_stage: d.deciding_stage,
      confidence: d.confidence,
      calibrated_probability: d.calibrated_probability,
      calibration_version: d.calibration_version,
      classifier_version: d.classifier_version,
      autopost: plain(d.autopost),
      not_auto_post_reasons: d.not_auto_post_reasons,
      corrects_proposal_id: d.corrects_proposal_id,
      created_at: d.created_at,
      created_by: d.created_by,
      review_outcome: d.review_outcome,
      reviewed_by: d.reviewed_by,
      reviewed_at: d.reviewed_at,
      review_reason: d.review_reason,
      final_splits: d.final_splits === null ? null : splitsJson(d.final_splits, currency),
      applied_proposal_id: d.applied_proposal_id,
      entry_id: d.entry_id,
      learning: plain(d.learning),
      version: d.version
    })

    const certificateJson = (c: unknown) => (c === null || c === undefined ? null : (plain(c) as any))

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
        : {
          original_splits: splitsJson(r.correction.original_splits, r.correction.currency),
          corrected_splits: splitsJson(r.correction.corrected_splits, r.correction.currency)
        },
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
            detail: e.detail === null ? null : detailJson(e.detail, e.bank_transaction?.currency ?? "USD")
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
          Effect.map(provenance.lookup(tenant, actor, urlParams), (p) => {
            const currency = p.bank_transaction?.currency ?? p.entry?.currency ?? "USD"
            const gate = (t: (typeof p.gates.propose)[number]) => ({ ...t, gates: plain(t.gates) })
            return {
              shadow_event_id: p.shadow_event_id,
              bank_transaction: p.bank_transaction === null ? null : txnJson(p.bank_transaction),
              proposal: p.proposal === null ? null : proposalJson(p.proposal, p.bank_transaction),
              entry: p.entry === null ? null : entryJson(p.entry, exponents),
              ai: p.ai === null ? null : {
                ...p.ai,
                stages: stagesJson(p.ai.stages, currency),
                proposed_splits: splitsJson(p.ai.proposed_splits, currency),
                autopost: plain(p.ai.autopost),
                review: {
                  ...p.ai.review,
                  final_splits: p.ai.review.final_splits === null
                    ? null
                    : splitsJson(p.ai.review.final_splits, currency),
                  learning: plain(p.ai.review.learning)
                }
              },
              calibration: p.calibration === null
                ? null
                : "pruned" in p.calibration
                ? { version: p.calibration.version, pruned: true as const }
                : {
                  ...p.calibration,
                  calibrator: calibratorJson(p.calibration.calibrator),
                  certificate: certificateJson(p.calibration.certificate),
                  metrics: plain(p.calibration.metrics)
                },
              gates: { propose: p.gates.propose.map(gate), apply: p.gates.apply.map(gate) },
              applied: p.applied === null ? null : { ...p.applied, result: plain(p.applied.result) },
              correction: p.correction === null ? null : {
                ...p.correction,
                original_splits: p.correction.original_splits === null
                  ? null
                  : splitsJson(p.correction.original_splits, currency),
                corrected_splits: p.correction.corrected_splits === null
                  ? null
                  : splitsJson(p.correction.corrected_splits, currency)
              }
            }
          })
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
            calibrator: calibratorJson(c?.calibrator ?? null),
            certificate: certificateJson(c?.certificate ?? null),
            metrics: plain(c?.metrics ?? null)
          }))
        ))
  }))

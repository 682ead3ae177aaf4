/**
 * The catalogue of stable error codes: one table, owned by core, of every code any Airlock
 * package fails with, the taxonomy tag it travels as and (from the tag) its HTTP status. Codes
 * are the contract clients branch on; a package that adds a code adds its row here (in its
 * package's section, built with {@link rows}, the one row type), never a table of its own. The
 * HTTP adapter derives the codes and statuses it declares from this table.
 */
import { ErrorStatus } from "./Errors.js"

/** The tag of a taxonomy error class (`Forbidden`, `Conflict`, …). */
export type ErrorTag = keyof typeof ErrorStatus

/** A row of the catalogue: the class a code travels as, and its HTTP status (the class's). */
export interface ErrorCode {
  readonly tag: ErrorTag
  readonly status: number
}

/** The catalogue's type: rows keyed by code. */
export type ErrorCodeTable = { readonly [code: string]: ErrorCode }

/** Builds rows from `code → tag`, each with its tag's status. */
export const rows = <const R extends Record<string, ErrorTag>>(
  byCode: R
): { readonly [C in keyof R]: { readonly tag: R[C]; readonly status: (typeof ErrorStatus)[R[C]] } } => {
  const out: Record<string, ErrorCode> = {}
  for (const [code, tag] of Object.entries(byCode)) out[code] = { tag, status: ErrorStatus[tag] }
  return out as any
}

/** The classes whose code varies per failure; every other class has exactly one (fixed) code. */
export const VaryingTags: ReadonlyArray<ErrorTag> = ["Forbidden", "ValidationError", "Conflict", "BudgetExceeded"]

/** Every stable code, by the package that fails with it. */
export const ErrorCodes = {
  // core: the taxonomy's fixed codes
  ...rows({
    "auth.unauthorized": "Unauthorized",
    "companion.disabled": "CompanionDisabled",
    "breaker.velocity": "VelocityBreakerTripped",
    "lockdown.active": "LockdownActive",
    "tenant.missing": "TenantMissing",
    "not_found": "NotFound",
    "period.locked": "PeriodLocked",
    "approval_required": "ApprovalRequired",
    "payload.too_large": "PayloadTooLarge",
    "rate_limited": "RateLimited",
    "storage.failure": "StorageError",
    "internal": "InternalError",
    "unavailable": "Unavailable"
  }),
  // core: pipeline, RBAC, tenants
  ...rows({
    "rbac.forbidden": "Forbidden",
    "mode.forbidden": "Forbidden",
    "tenant.mismatch": "Forbidden",
    "validation.schema": "ValidationError",
    "validation.unknown_kind": "ValidationError",
    "validation.wipe_applied": "ValidationError",
    "validation.role": "ValidationError",
    "validation.extensions_keys": "ValidationError",
    "validation.extensions_key": "ValidationError",
    "validation.extensions_depth": "ValidationError",
    "validation.token_expiry": "ValidationError",
    "validation.token_actor": "ValidationError",
    "validation.bootstrap_secret": "ValidationError",
    "idempotency.conflict": "Conflict",
    "proposal.closed": "Conflict",
    "proposal.not_applied": "Conflict",
    "rollback.unsupported": "Conflict",
    "review_required": "Conflict",
    "conflict.duplicate": "Conflict",
    "conflict.stale": "Conflict"
  }),
  // core: agent memory
  ...rows({
    "validation.memory_key": "ValidationError",
    "validation.memory_link": "ValidationError",
    "validation.memory_validity": "ValidationError",
    "validation.memory_value": "ValidationError",
    "validation.time_range": "ValidationError",
    "memory.conflict": "Conflict",
    "memory.review.resolved": "Conflict",
    "memory.review.pending": "Conflict",
    "memory.validity_overlap": "Conflict"
  }),
  // ledger
  ...rows({
    "validation.unbalanced": "ValidationError",
    "validation.amount_format": "ValidationError",
    "validation.amount_positive": "ValidationError",
    "validation.amount_precision": "ValidationError",
    "validation.amount_range": "ValidationError",
    "validation.amount_type": "ValidationError",
    "validation.account_immutable": "ValidationError",
    "validation.account_inactive": "ValidationError",
    "validation.account_parent": "ValidationError",
    "validation.account_type": "ValidationError",
    "validation.account_unknown": "ValidationError",
    "validation.bank_account": "ValidationError",
    "validation.bank_transaction_unknown": "ValidationError",
    "validation.currency": "ValidationError",
    "validation.currency_mismatch": "ValidationError",
    "validation.mixed_currency": "ValidationError",
    "validation.cursor": "ValidationError",
    "validation.date": "ValidationError",
    "validation.reversal_date": "ValidationError",
    "validation.empty_update": "ValidationError",
    "validation.import_csv": "ValidationError",
    "validation.import_header": "ValidationError",
    "validation.import_ofx": "ValidationError",
    "validation.import_ofx_accounts": "ValidationError",
    "validation.import_query": "ValidationError",
    "validation.import_row": "ValidationError",
    "validation.import_too_large": "ValidationError",
    "validation.line_side": "ValidationError",
    "validation.min_lines": "ValidationError",
    "validation.too_many_lines": "ValidationError",
    "validation.split_account": "ValidationError",
    "validation.split_sum": "ValidationError",
    // a no-answer proposal applied without a person's splits (ledger draft; companion apply)
    "validation.splits_required": "ValidationError",
    "entry.already_reversed": "Conflict",
    "entry.is_reversal": "Conflict",
    "entry.proposal_posted": "Conflict",
    "idempotency.key_taken": "Conflict",
    "bank_transaction.already_posted": "Conflict"
  }),
  // guardrails
  ...rows({
    "approval.self_approval": "Forbidden",
    "lockdown.code_invalid": "Forbidden",
    "lockdown.code_expired": "Forbidden",
    "lockdown.not_active": "Conflict",
    "validation.amount": "ValidationError",
    "validation.amount_negative": "ValidationError",
    "validation.model_unpriced": "ValidationError",
    "media_url_invalid": "ValidationError",
    "media_host_denied": "ValidationError",
    "media_mime_denied": "ValidationError",
    "media_size_exceeded": "ValidationError",
    "media_path_unsafe": "ValidationError",
    "exec.budget.exceeded": "BudgetExceeded",
    "llm.budget.exceeded": "BudgetExceeded"
  }),
  // companion: settings and autonomy
  ...rows({
    "companion.settings.approval_required": "Forbidden",
    "companion.settings.approver_not_person": "Forbidden",
    "companion.settings.stale": "Conflict",
    "companion.settings.too_many_pending": "Conflict",
    "validation.companion_setting": "ValidationError"
  }),
  // ops: KPI events, rollups, alerts, baseline, digest
  ...rows({
    "validation.kpi_batch": "ValidationError",
    "validation.kpi_step": "ValidationError",
    "validation.kpi_event_time": "ValidationError",
    "validation.kpi_range": "ValidationError",
    "validation.baseline_params": "ValidationError",
    "validation.digest_anchor": "ValidationError",
    "kpi.webhook_url_invalid": "ValidationError",
    "kpi.webhook_insecure": "ValidationError",
    "kpi.webhook_host_denied": "ValidationError",
    "kpi.webhook_address_denied": "ValidationError",
    "kpi.digest_exists": "Conflict"
  }),
  // companion: proposal flow
  ...rows({
    "validation.rule": "ValidationError",
    "validation.rule_regex": "ValidationError"
  }),
  // companion: reports (auditor, shadow report)
  ...rows({
    "validation.auditor_days": "ValidationError",
    "validation.period": "ValidationError"
  }),
  // companion: rule promotion
  ...rows({
    "companion.rule_promotion.decided": "Conflict",
    "companion.rule_promotion.approver_not_person": "Forbidden",
    "companion.rule_promotion.account_inactive": "Conflict"
  }),
  // ops: run controls, executions
  ...rows({
    "run.already_active": "Conflict",
    "run.not_started": "Conflict",
    "run.already_paused": "Conflict",
    "run.not_paused": "Conflict",
    "run.reset_while_active": "Conflict",
    "run.reset_disabled": "Forbidden",
    "validation.run_id": "ValidationError",
    "validation.run_reason": "ValidationError",
    "validation.plan": "ValidationError",
    "validation.stale_after_seconds": "ValidationError",
    "exec.not_cancelable": "Conflict",
    "exec.not_retryable": "Conflict"
  }),
  // ops
  ...rows({
    "ops.restart_in_progress": "Conflict",
    "ops.backup_unconfigured": "Conflict",
    "ops.doctor_unconfigured": "Conflict"
  }),
  // tenants: templates, onboarding, monthly limit, export and delete
  ...rows({
    "tenant.delete.unconfirmed": "ValidationError",
    "tenant.delete.protected": "Forbidden",
    "tenant.template_unknown": "ValidationError",
    "tenant.template_invalid": "ValidationError",
    "tenant.name_invalid": "ValidationError",
    "tenant.monthly_limit_exceeded": "BudgetExceeded",
    "tenant.onboarding.idempotency_conflict": "Conflict"
  }),
  // ops: scheduler and maintenance loop
  ...rows({
    "validation.schedule_expression": "ValidationError",
    "validation.schedule_timezone": "ValidationError",
    "validation.schedule_target": "ValidationError",
    "validation.maintenance_command": "ValidationError"
  }),
  // adapters-http
  ...rows({
    "validation.approval_subject": "ValidationError",
    "admin.ip_denied": "Forbidden",
    "admin.write_disabled": "Forbidden",
    "validation.body": "ValidationError",
    "validation.content_type": "ValidationError",
    "validation.encoding": "ValidationError",
    "validation.json": "ValidationError",
    "validation.json_depth": "ValidationError",
    "validation.tenant_header": "ValidationError",
    "validation.tenant_selector": "ValidationError",
    "validation.unexpected_body": "ValidationError",
    "validation.ambiguous_body": "ValidationError",
    "validation.request": "ValidationError"
  })
} as const satisfies ErrorCodeTable

/** The catalogued codes of a class, in table order. */
export const codesOf = (tag: ErrorTag, table: ErrorCodeTable = ErrorCodes): ReadonlyArray<string> =>
  Object.keys(table).filter((code) => table[code]!.tag === tag)

/** The one code of each class whose code is fixed. */
export const fixedCodes: Partial<Record<ErrorTag, string>> = Object.fromEntries(
  (Object.keys(ErrorStatus) as Array<ErrorTag>).filter((tag) => !VaryingTags.includes(tag)).map((
    tag
  ) => [tag, codesOf(tag)[0]!])
)

/** The class a catalogued code travels as, if it is catalogued. */
export const tagOf = (code: string, table: ErrorCodeTable = ErrorCodes): ErrorTag | undefined =>
  Object.hasOwn(table, code) ? table[code]!.tag : undefined

/** The HTTP status of a class. */
export const statusOf = (tag: ErrorTag): number => ErrorStatus[tag]

/**
 * The error taxonomy. Every failure that can cross a package, storage or HTTP boundary is a
 * tagged error with a stable `code` (what clients branch on) and an HTTP status annotation
 * (what the reference adapter answers with). Messages are for people; codes are the contract.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"

/** Free-form, JSON-safe context attached to an error (never secrets, never stack traces). */
export const ErrorDetails = Schema.Record({ key: Schema.String, value: Schema.Unknown })
/** Type of {@link ErrorDetails}. */
export type ErrorDetails = typeof ErrorDetails.Type

/** HTTP status of each error tag: the single source for annotations and for adapters. */
export const ErrorStatus = {
  Unauthorized: 401,
  Forbidden: 403,
  CompanionDisabled: 403,
  VelocityBreakerTripped: 403,
  LockdownActive: 403,
  TenantMissing: 400,
  ValidationError: 400,
  NotFound: 404,
  Conflict: 409,
  PeriodLocked: 409,
  ApprovalRequired: 409,
  BudgetExceeded: 409,
  PayloadTooLarge: 413,
  RateLimited: 429,
  StorageError: 500,
  InternalError: 500,
  Unavailable: 503
} as const

const fixedCode = <C extends string>(code: C) =>
  Schema.propertySignature(Schema.Literal(code)).pipe(Schema.withConstructorDefault(() => code))

const base = {
  message: Schema.String,
  details: Schema.optional(ErrorDetails)
}

const status = (tag: keyof typeof ErrorStatus) => ({ [HttpApiSchema.AnnotationStatus]: ErrorStatus[tag] })

/** Missing, malformed, expired or revoked credentials (`auth.unauthorized`). */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { code: fixedCode("auth.unauthorized"), ...base },
  status("Unauthorized")
) {}

/**
 * The actor may not do this. `code` says why: `rbac.forbidden`, `mode.forbidden`,
 * `tenant.mismatch`, `admin.ip_denied`, `admin.write_disabled`, `approval.self_approval`, …
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { code: Schema.String, ...base },
  status("Forbidden")
) {}

/** One of the three kill-switch layers is off (`companion.disabled`); `details.layer` says which. */
export class CompanionDisabled extends Schema.TaggedError<CompanionDisabled>()(
  "CompanionDisabled",
  { code: fixedCode("companion.disabled"), ...base },
  status("CompanionDisabled")
) {}

/** Too many AI commands in the breaker window (`breaker.velocity`). */
export class VelocityBreakerTripped extends Schema.TaggedError<VelocityBreakerTripped>()(
  "VelocityBreakerTripped",
  { code: fixedCode("breaker.velocity"), ...base },
  status("VelocityBreakerTripped")
) {}

/** The system is locked down; protected actions are refused (`lockdown.active`). */
export class LockdownActive extends Schema.TaggedError<LockdownActive>()(
  "LockdownActive",
  { code: fixedCode("lockdown.active"), ...base },
  status("LockdownActive")
) {}

/** Strict tenant mode and no tenant was named (`tenant.missing`). */
export class TenantMissing extends Schema.TaggedError<TenantMissing>()(
  "TenantMissing",
  { code: fixedCode("tenant.missing"), ...base },
  status("TenantMissing")
) {}

/**
 * Input that is well-formed but not acceptable. `code` is `validation.<what>`, e.g.
 * `validation.unbalanced`, `validation.amount_precision`, `validation.schema`.
 */
export class ValidationError extends Schema.TaggedError<ValidationError>()(
  "ValidationError",
  { code: Schema.String, ...base },
  status("ValidationError")
) {}

/** The named thing does not exist in this tenant (`not_found`); `details.entity` names the kind. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { code: fixedCode("not_found"), ...base },
  status("NotFound")
) {}

/**
 * The request conflicts with current state. `code` says how: `conflict.duplicate`,
 * `idempotency.conflict`, `proposal.closed`, `entry.already_reversed`, …
 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { code: Schema.String, ...base },
  status("Conflict")
) {}

/** Posting, applying or reversing on or before the tenant's lock date (`period.locked`). */
export class PeriodLocked extends Schema.TaggedError<PeriodLocked>()(
  "PeriodLocked",
  { code: fixedCode("period.locked"), ...base },
  status("PeriodLocked")
) {}

/** A risky action needs a human approval bound to its subject and plan hash (`approval_required`). */
export class ApprovalRequired extends Schema.TaggedError<ApprovalRequired>()(
  "ApprovalRequired",
  { code: fixedCode("approval_required"), subject: Schema.String, plan_hash: Schema.String, ...base },
  status("ApprovalRequired")
) {}

/** A budget would be exceeded: `exec.budget.exceeded`, `llm.budget.exceeded`. */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()(
  "BudgetExceeded",
  { code: Schema.String, ...base },
  status("BudgetExceeded")
) {}

/** A body larger than the configured limit (`payload.too_large`). */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { code: fixedCode("payload.too_large"), ...base },
  status("PayloadTooLarge")
) {}

/** Request rate over the limit (`rate_limited`); retry after `retry_after_seconds`. */
export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  { code: fixedCode("rate_limited"), retry_after_seconds: Schema.Number, ...base },
  status("RateLimited")
) {}

/** A storage adapter failed (`storage.failure`); the driver's error is kept in `cause`, never sent. */
export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  { code: fixedCode("storage.failure"), ...base, cause: Schema.optional(Schema.Defect) },
  status("StorageError")
) {}

/** An unexpected failure (`internal`); clients see only the code and the request id. */
export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  { code: fixedCode("internal"), ...base, cause: Schema.optional(Schema.Defect) },
  status("InternalError")
) {}

/** A dependency is not ready (`unavailable`), e.g. readiness checks failing. */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { code: fixedCode("unavailable"), ...base },
  status("Unavailable")
) {}

/** Every error class of the taxonomy, for adapters that declare them all. */
export const AirlockErrors = [
  Unauthorized,
  Forbidden,
  CompanionDisabled,
  VelocityBreakerTripped,
  LockdownActive,
  TenantMissing,
  ValidationError,
  NotFound,
  Conflict,
  PeriodLocked,
  ApprovalRequired,
  BudgetExceeded,
  PayloadTooLarge,
  RateLimited,
  StorageError,
  InternalError,
  Unavailable
] as const

/** Union of every taxonomy error. */
export type AirlockError = InstanceType<(typeof AirlockErrors)[number]>

/** Schema of the union, for encoding any taxonomy error. */
export const AirlockError: Schema.Union<typeof AirlockErrors> = Schema.Union(...AirlockErrors)

const tags = new Set<string>(Object.keys(ErrorStatus))

/** Is `u` one of the taxonomy's errors? */
export const isAirlockError = (u: unknown): u is AirlockError =>
  typeof u === "object" && u !== null && "_tag" in u && tags.has((u as { _tag: string })._tag) &&
  "code" in u

/** The HTTP status an error maps to. */
export const httpStatus = (error: AirlockError): number => ErrorStatus[error._tag]

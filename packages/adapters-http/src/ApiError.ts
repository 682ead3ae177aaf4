/**
 * Errors on the wire. Every failed request is answered with
 * `{"error": {"code", "message", "details", "request_id"}}` and the HTTP status of its code
 * (core's `ErrorCode` catalogue). Handlers fail with `@airlock/core` taxonomy errors; {@link wire} gives
 * each error class the schema that documents it in OpenAPI and lets the typed client decode it
 * back into the same class, and {@link fromCause} turns anything a request can fail with into a
 * taxonomy error, with unexpected failures reduced to `internal` (their cause is only logged).
 *
 * Class-specific fields travel in `details`: `retry_after_seconds` for `rate_limited`,
 * `subject` and `plan_hash` for `approval_required`.
 */
import { ErrorCode, Errors } from "@airlock/core"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Cause, Option, Schema } from "effect"
import { splitCoded } from "./internal/issues.js"

/** Any taxonomy error (core's `Errors.AirlockError`). */
export type AirlockError = Errors.AirlockError

/** Free-form, JSON-safe error context (core's `Errors.ErrorDetails`). */
export const ErrorDetails = Errors.ErrorDetails

/** The object under `error` in every error response. */
export const ErrorBody = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: ErrorDetails,
  request_id: Schema.String
})
/** Type of {@link ErrorBody}. */
export type ErrorBody = typeof ErrorBody.Type

/** The JSON body of every error response. */
export const ErrorEnvelope = Schema.Struct({ error: ErrorBody })
/** Type of {@link ErrorEnvelope}. */
export type ErrorEnvelope = typeof ErrorEnvelope.Type

/** The fixed code of each class that has one (core's catalogue); other classes carry a code chosen per failure. */
const fixedCodes = ErrorCode.fixedCodes

const isBudgetCode = (code: string) => code.endsWith("budget.exceeded")

/**
 * The codes a class accepts when decoding: its fixed code, or — for the classes whose code
 * varies — any code the catalogue does not give to another class (`Conflict` and
 * `BudgetExceeded` share 409; uncatalogued budgets end in `budget.exceeded`).
 */
const codeSchema = (tag: AirlockError["_tag"]): Schema.Schema<string> => {
  const fixed = fixedCodes[tag]
  if (fixed !== undefined) return Schema.Literal(fixed)
  const ownedElsewhere = (c: string) => {
    const owner = ErrorCode.tagOf(c)
    return owner !== undefined && owner !== tag
  }
  if (tag === "BudgetExceeded")
    return Schema.String.pipe(
      Schema.filter((c) => !ownedElsewhere(c) && (ErrorCode.tagOf(c) === tag || isBudgetCode(c)))
    )
  if (tag === "Conflict") return Schema.String.pipe(Schema.filter((c) => !ownedElsewhere(c) && !isBudgetCode(c)))
  return Schema.String.pipe(Schema.filter((c) => !ownedElsewhere(c)))
}

const extraFields: Partial<Record<AirlockError["_tag"], ReadonlyArray<string>>> = {
  RateLimited: ["retry_after_seconds"],
  ApprovalRequired: ["subject", "plan_hash"]
}

/** The wire body of a taxonomy error, tagged with the request it answers. */
export const toBody = (error: AirlockError, requestId: string): ErrorEnvelope => {
  const details: Record<string, unknown> = { ...(error.details ?? {}) }
  for (const key of extraFields[error._tag] ?? []) details[key] = (error as unknown as Record<string, unknown>)[key]
  return { error: { code: error.code, message: error.message, details, request_id: requestId } }
}

/** The catalogued codes of a class, for its OpenAPI description. */
const codeList = (tag: AirlockError["_tag"]) => ErrorCode.codesOf(tag).join(", ")

/** OpenAPI descriptions of the classes whose code varies (or whose details say more). */
const descriptions: Partial<Record<AirlockError["_tag"], string>> = {
  Forbidden: `Refused (admin.ip_denied: "Admin IP not allowed"): ${codeList("Forbidden")}`,
  ValidationError: `Invalid input: ${codeList("ValidationError")}`,
  Conflict: `Conflicts with current state: ${codeList("Conflict")}`,
  BudgetExceeded: `A budget would be exceeded: ${codeList("BudgetExceeded")}`,
  RateLimited: `${fixedCodes.RateLimited}; retry after details.retry_after_seconds (also the Retry-After header)`,
  ApprovalRequired: `${fixedCodes.ApprovalRequired}; details.subject and details.plan_hash name the approval needed`,
  InternalError:
    `${fixedCodes.InternalError}: an unexpected failure (details only in the server log, under request_id)`,
  StorageError: `${fixedCodes.StorageError}: the store failed (details only in the server log, under request_id)`
}

const MAX_ISSUE_MESSAGE = 300

const wireCache = new Map<string, Schema.Schema.Any>()

/**
 * The wire schema of a taxonomy error class: the envelope on the wire, the class in code,
 * annotated with the class's HTTP status. Use it in `addError` (or middleware `failure`).
 */
export const wire = <C extends Schema.Schema.AnyNoContext & { readonly _tag: AirlockError["_tag"] }>(
  cls: C
): Schema.Schema<C["Type"], ErrorEnvelope> => {
  const tag = (cls as unknown as { readonly _tag: AirlockError["_tag"] })._tag
  const cached = wireCache.get(tag)
  if (cached) return cached as unknown as Schema.Schema<C["Type"], ErrorEnvelope>
  const extras = extraFields[tag] ?? []
  const from = Schema.Struct({
    error: Schema.Struct({
      code: codeSchema(tag),
      message: Schema.String,
      details: ErrorDetails,
      request_id: Schema.String
    })
  })
  const schema = Schema.transform(from, cls as unknown as Schema.Schema<C["Type"], any>, {
    strict: false,
    decode: ({ error }) => {
      const details: Record<string, unknown> = { ...error.details }
      const out: Record<string, unknown> = { _tag: tag, code: error.code, message: error.message }
      for (const key of extras) {
        out[key] = details[key]
        delete details[key]
      }
      if (Object.keys(details).length > 0) out.details = details
      return out
    },
    encode: (encoded: any) => {
      const details: Record<string, unknown> = { ...(encoded.details ?? {}) }
      for (const key of extras) details[key] = encoded[key]
      return { error: { code: encoded.code, message: encoded.message, details, request_id: "" } }
    }
  }).annotations({
    ...HttpApiSchema.annotations({ status: ErrorCode.statusOf(tag) }),
    identifier: tag.endsWith("Error") ? tag : `${tag}Error`,
    description: descriptions[tag] ?? fixedCodes[tag] ?? tag
  })
  wireCache.set(tag, schema)
  return schema as unknown as Schema.Schema<C["Type"], ErrorEnvelope>
}

// The taxonomy as the API declares it. Each `Http<Tag>` class is core's class under a name
// declared here (core's bundled declaration files only reach its classes through namespace
// aliases, which TypeScript cannot name when it infers a group's type); instances are
// interchangeable with core's. Each wire schema decodes into its `Http<Tag>` class. Use the
// schemas in `addError` and middleware `failure`.

/** Core's `Errors.Unauthorized`, declared by the API. */
export class HttpUnauthorized extends Errors.Unauthorized {}
/** Wire schema of `Errors.Unauthorized`. */
export const Unauthorized: Schema.Schema<HttpUnauthorized, ErrorEnvelope> = wire(HttpUnauthorized)

/** Core's `Errors.Forbidden`, declared by the API. */
export class HttpForbidden extends Errors.Forbidden {}
/** Wire schema of `Errors.Forbidden`. */
export const Forbidden: Schema.Schema<HttpForbidden, ErrorEnvelope> = wire(HttpForbidden)

/** Core's `Errors.CompanionDisabled`, declared by the API. */
export class HttpCompanionDisabled extends Errors.CompanionDisabled {}
/** Wire schema of `Errors.CompanionDisabled`. */
export const CompanionDisabled: Schema.Schema<HttpCompanionDisabled, ErrorEnvelope> = wire(HttpCompanionDisabled)

/** Core's `Errors.VelocityBreakerTripped`, declared by the API. */
export class HttpVelocityBreakerTripped extends Errors.VelocityBreakerTripped {}
/** Wire schema of `Errors.VelocityBreakerTripped`. */
export const VelocityBreakerTripped: Schema.Schema<HttpVelocityBreakerTripped, ErrorEnvelope> = wire(
  HttpVelocityBreakerTripped
)

/** Core's `Errors.LockdownActive`, declared by the API. */
export class HttpLockdownActive extends Errors.LockdownActive {}
/** Wire schema of `Errors.LockdownActive`. */
export const LockdownActive: Schema.Schema<HttpLockdownActive, ErrorEnvelope> = wire(HttpLockdownActive)

/** Core's `Errors.TenantMissing`, declared by the API. */
export class HttpTenantMissing extends Errors.TenantMissing {}
/** Wire schema of `Errors.TenantMissing`. */
export const TenantMissing: Schema.Schema<HttpTenantMissing, ErrorEnvelope> = wire(HttpTenantMissing)

/** Core's `Errors.ValidationError`, declared by the API. */
export class HttpValidationError extends Errors.ValidationError {}
/** Wire schema of `Errors.ValidationError`. */
export const ValidationError: Schema.Schema<HttpValidationError, ErrorEnvelope> = wire(HttpValidationError)

/** Core's `Errors.NotFound`, declared by the API. */
export class HttpNotFound extends Errors.NotFound {}
/** Wire schema of `Errors.NotFound`. */
export const NotFound: Schema.Schema<HttpNotFound, ErrorEnvelope> = wire(HttpNotFound)

/** Core's `Errors.Conflict`, declared by the API. */
export class HttpConflict extends Errors.Conflict {}
/** Wire schema of `Errors.Conflict`. */
export const Conflict: Schema.Schema<HttpConflict, ErrorEnvelope> = wire(HttpConflict)

/** Core's `Errors.PeriodLocked`, declared by the API. */
export class HttpPeriodLocked extends Errors.PeriodLocked {}
/** Wire schema of `Errors.PeriodLocked`. */
export const PeriodLocked: Schema.Schema<HttpPeriodLocked, ErrorEnvelope> = wire(HttpPeriodLocked)

/** Core's `Errors.ApprovalRequired`, declared by the API. */
export class HttpApprovalRequired extends Errors.ApprovalRequired {}
/** Wire schema of `Errors.ApprovalRequired`. */
export const ApprovalRequired: Schema.Schema<HttpApprovalRequired, ErrorEnvelope> = wire(HttpApprovalRequired)

/** Core's `Errors.BudgetExceeded`, declared by the API. */
export class HttpBudgetExceeded extends Errors.BudgetExceeded {}
/** Wire schema of `Errors.BudgetExceeded`. */
export const BudgetExceeded: Schema.Schema<HttpBudgetExceeded, ErrorEnvelope> = wire(HttpBudgetExceeded)

/** Core's `Errors.PayloadTooLarge`, declared by the API. */
export class HttpPayloadTooLarge extends Errors.PayloadTooLarge {}
/** Wire schema of `Errors.PayloadTooLarge`. */
export const PayloadTooLarge: Schema.Schema<HttpPayloadTooLarge, ErrorEnvelope> = wire(HttpPayloadTooLarge)

/** Core's `Errors.RateLimited`, declared by the API. */
export class HttpRateLimited extends Errors.RateLimited {}
/** Wire schema of `Errors.RateLimited`. */
export const RateLimited: Schema.Schema<HttpRateLimited, ErrorEnvelope> = wire(HttpRateLimited)

/** Core's `Errors.StorageError`, declared by the API. */
export class HttpStorageError extends Errors.StorageError {}
/** Wire schema of `Errors.StorageError`. */
export const StorageError: Schema.Schema<HttpStorageError, ErrorEnvelope> = wire(HttpStorageError)

/** Core's `Errors.InternalError`, declared by the API. */
export class HttpInternalError extends Errors.InternalError {}
/** Wire schema of `Errors.InternalError`. */
export const InternalError: Schema.Schema<HttpInternalError, ErrorEnvelope> = wire(HttpInternalError)

/** Core's `Errors.Unavailable`, declared by the API. */
export class HttpUnavailable extends Errors.Unavailable {}
/** Wire schema of `Errors.Unavailable`. */
export const Unavailable: Schema.Schema<HttpUnavailable, ErrorEnvelope> = wire(HttpUnavailable)

/** The codes of a decode failure's issues, if a refinement attached one (see `internal/issues`). */
const issueCode = (issues: ReadonlyArray<{ readonly message: string }>): string | undefined => {
  for (const issue of issues) {
    const { code } = splitCoded(issue.message)
    if (code !== undefined) return code
  }
  return undefined
}

/**
 * Turns a request-schema failure into `validation.*` with the offending paths and messages (a
 * refinement coded `payload.too_large` — a field over its size limit — is 413 instead).
 */
export const fromDecodeError = (error: HttpApiDecodeError): Errors.ValidationError | Errors.PayloadTooLarge => {
  const issues = error.issues.slice(0, 20).map((i) => {
    const text = splitCoded(i.message).message
    return {
      path: i.path.map(String),
      message: text.length > MAX_ISSUE_MESSAGE ? `${text.slice(0, MAX_ISSUE_MESSAGE)}…` : text
    }
  })
  const code = issueCode(error.issues) ?? "validation.schema"
  const first = issues[0]
  const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : ""
  if (code === fixedCodes.PayloadTooLarge) {
    return new Errors.PayloadTooLarge({
      message: first ? `Too large${where}: ${first.message}` : "Too large",
      details: { issues }
    })
  }
  return new Errors.ValidationError({
    code,
    message: first ? `Invalid request${where}: ${first.message}` : "Invalid request",
    details: { issues }
  })
}

/** What a failed request is answered with, and whether its cause belongs in the error log. */
export interface Outcome {
  readonly error: AirlockError
  readonly log: boolean
}

const internal = (): Errors.InternalError => new Errors.InternalError({ message: "Internal server error" })

const isTagged = (u: unknown, tag: string): boolean =>
  typeof u === "object" && u !== null && "_tag" in u && (u as { _tag: unknown })._tag === tag

/**
 * Maps a failed request's cause to the error it is answered with. Taxonomy errors pass through
 * (server-side ones — 5xx — are logged); schema failures of the request become `validation.*`,
 * schema failures once the handler has started (`options.handled`: encoding our own response)
 * `internal` with the cause logged; an unknown route
 * is `not_found`; everything else (defects, foreign errors) is `internal` and logged.
 */
export const fromCause = (
  cause: Cause.Cause<unknown>,
  route: { readonly method: string; readonly path: string },
  options: { readonly handled?: boolean } = {}
): Outcome => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    if (Errors.isAirlockError(e)) return { error: e, log: Errors.httpStatus(e) >= 500 }
    // after the handler started, a schema failure is our response failing to encode: our fault
    if (e instanceof HttpApiDecodeError) {
      return options.handled === true ? { error: internal(), log: true } : { error: fromDecodeError(e), log: false }
    }
    if (isTagged(e, "RouteNotFound")) {
      return {
        error: new Errors.NotFound({
          message: `No route for ${route.method} ${route.path}`,
          details: { entity: "route" }
        }),
        log: false
      }
    }
    if (isTagged(e, "RequestError")) {
      return {
        error: new Errors.ValidationError({ code: "validation.body", message: "The request could not be read" }),
        log: false
      }
    }
  }
  return { error: internal(), log: !Cause.isInterruptedOnly(cause) }
}

/**
 * Shared JSON wire schemas of the route groups: times as ISO 8601 strings (milliseconds in
 * code), strict request bodies (unknown fields are refused, so a typo is a 400 rather than a
 * silently ignored setting), page sizes and cursors of list routes (one rule for every list:
 * {@link pageLimit}, {@link Cursor}), and the status objects several groups report.
 */
import { AiSettings } from "@airlock/core"
import { ParseResult, Schema } from "effect"
import { codedMessage } from "./internal/issues.js"

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/

/** A point in time: ISO 8601 UTC string on the wire (`2024-10-11T19:45:32.000Z`), epoch milliseconds in code. */
export const Timestamp: Schema.Schema<number, string> = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (s, _, ast) => {
    const ms = ISO.test(s) ? Date.parse(s) : Number.NaN
    return Number.isFinite(ms)
      ? ParseResult.succeed(ms)
      : ParseResult.fail(new ParseResult.Type(ast, s, "Expected an ISO 8601 time such as 2024-10-11T19:45:32Z"))
  },
  encode: (ms, _, ast) =>
    Number.isFinite(ms)
      ? ParseResult.succeed(new Date(ms).toISOString())
      : ParseResult.fail(new ParseResult.Type(ast, ms, "Not a time"))
  // the pattern bounds the length (at most 35 characters); the document states it
}).annotations({ identifier: "Timestamp", jsonSchema: { type: "string", format: "date-time", maxLength: 64 } })

/** A request body that refuses properties it does not declare. */
export const strictBody = <Fields extends Schema.Struct.Fields>(fields: Fields): Schema.Struct<Fields> =>
  Schema.Struct(fields).annotations({ parseOptions: { onExcessProperty: "error" } })

/** The tenant's operating mode (through the settings class: core's bundled types keep only one side of `AiSettings.AiMode`). */
export const AiMode: Schema.Literal<["shadow_only", "suggest_only", "drafts", "autopilot_limited"]> =
  AiSettings.AiSettings.fields.ai_mode

/** The global layer of the kill switch: configured value, stored override and effective value. */
export const GlobalAi = Schema.Struct({
  enabled: Schema.Boolean,
  configured: Schema.Boolean,
  override: Schema.NullOr(Schema.Boolean),
  updated_at: Schema.NullOr(Timestamp),
  updated_by: Schema.NullOr(Schema.String)
}).annotations({ identifier: "GlobalAiSwitch" })

/** The environment the server runs in. */
export const Environment = Schema.Literal("development", "test", "production")

/**
 * The largest page any list of the API returns: a `limit` query parameter above it (or one that
 * is not a positive decimal integer) is refused with `validation.schema` on every route, before
 * the route's own schema (which may allow less) runs.
 */
export const MAX_PAGE_LIMIT = 1000

const DIGITS = /^[0-9]{1,10}$/

/**
 * A page size in a query string: a decimal integer from 1 to `max`, nothing else (`-1`, `0`,
 * `1.5`, `1e23`, `0x10`, ` 5` and values above `max` are `validation.schema`). Declare list
 * routes' `limit` with {@link pageLimit}, which adds the default.
 */
export const PageLimit = (max: number, defaultSize?: number): Schema.Schema<number, string> =>
  Schema.transformOrFail(Schema.String, Schema.Number, {
    strict: true,
    decode: (s, _, ast) => {
      const n = DIGITS.test(s) ? Number(s) : Number.NaN
      return Number.isInteger(n) && n >= 1 && n <= max
        ? ParseResult.succeed(n)
        : ParseResult.fail(new ParseResult.Type(ast, s, `Expected a page size: an integer from 1 to ${max}`))
    },
    encode: (n) => ParseResult.succeed(String(n))
  }).annotations({
    jsonSchema: {
      type: "integer",
      minimum: 1,
      maximum: max,
      ...(defaultSize === undefined ? {} : { default: defaultSize }),
      description: `Page size, 1 to ${max}${defaultSize === undefined ? "" : ` (default ${defaultSize})`}`
    }
  })

/**
 * The `limit` of a list route: an optional {@link PageLimit} stating the list's default (the
 * page size the service uses when none is given) and maximum in the OpenAPI document. Every list
 * route declares its `limit` with this.
 */
export const pageLimit = (options: { readonly default: number; readonly max: number }) =>
  Schema.optional(PageLimit(Math.min(options.max, MAX_PAGE_LIMIT), options.default))

const CURSOR = /^[\x21-\x7e]{1,512}$/

/**
 * An opaque cursor from a previous page: 1 to 512 printable ASCII characters
 * (`validation.cursor` otherwise); the service that made it decides whether it parses
 * (`validation.cursor` too).
 */
export const Cursor: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((s) => CURSOR.test(s) || codedMessage("validation.cursor", "Expected a cursor from a previous page"))
).annotations({ identifier: "Cursor", jsonSchema: { type: "string", maxLength: 512 } })

const GENERATED_ID = /^[a-z]{1,16}_[0-9A-HJKMNP-TV-Z]{26}$/

/**
 * A cursor that is an id Airlock generated (`gev_01J…`, a prefix and a ULID), as in
 * `breaker-events?before=`: anything else is `validation.cursor`.
 */
export const IdCursor: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((s) =>
    GENERATED_ID.test(s) || codedMessage("validation.cursor", "Expected the id of an item from a previous page")
  )
).annotations({ identifier: "IdCursor", jsonSchema: { type: "string", pattern: GENERATED_ID.source } })

/** The ops console's banner: the environment in capitals and the state of the write controls. */
export const Banner = Schema.Struct({
  environment: Schema.Literal("PRODUCTION", "DEVELOPMENT", "TEST"),
  write_controls: Schema.Literal("Write controls enabled", "Write controls disabled")
}).annotations({ identifier: "Banner" })

/**
 * Shared JSON wire schemas of the route groups: times as ISO 8601 strings (milliseconds in
 * code), strict request bodies (unknown fields are refused, so a typo is a 400 rather than a
 * silently ignored setting), and the status objects several groups report.
 */
import { AiSettings } from "@airlock/core"
import { ParseResult, Schema } from "effect"

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
}).annotations({ identifier: "Timestamp", jsonSchema: { type: "string", format: "date-time" } })

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

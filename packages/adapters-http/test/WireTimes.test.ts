/**
 * Times on the wire, generated from the OpenAPI document of the declared API: every field of a
 * success response whose name says it is a time (`at`, `*_at`, `*_ts`, `*_start`, `*_end` such as a
 * certificate's `window_start`) must be an ISO 8601 string
 * (Wire's `Timestamp`, `format: date-time`), never epoch milliseconds, as `docs/http.md`
 * promises. A route added later is checked without editing this file; the documented
 * exceptions (fields a runbook shows as numbers) are listed in {@link EPOCH_BY_RUNBOOK}.
 */
import { Api } from "@airlock/adapters-http"
import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"

const TIME_NAME = /^(at|until|since)$|_(at|ts|until|since|time|start|end)$/

/**
 * Numeric time fields a runbook shows as epoch numbers, kept in the runbook's form
 * (`path` as this test prints it); each is documented where its route is.
 */
const EPOCH_BY_RUNBOOK: ReadonlySet<string> = new Set<string>([])

const resolve = (doc: any, schema: any): any => {
  let s = schema
  for (let i = 0; i < 20 && s?.$ref !== undefined; i++) s = doc.components.schemas[String(s.$ref).split("/").pop()!]
  return s
}

const isNumeric = (doc: any, schema: any, seen = new Set<any>()): boolean => {
  const s = resolve(doc, schema)
  if (s === undefined || s === null || seen.has(s)) return false
  seen.add(s)
  if (s.type === "number" || s.type === "integer") return true
  if (Array.isArray(s.type) && s.type.some((t: string) => t === "number" || t === "integer")) return true
  return [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])].some((b: any) => isNumeric(doc, b, seen))
}

/** Every property path under a schema whose name is a time and whose type admits a number. */
const numericTimes = (doc: any, schema: any, path: string, out: Set<string>, seen = new Set<any>()): void => {
  const s = resolve(doc, schema)
  if (s === undefined || s === null || seen.has(s)) return
  seen.add(s)
  for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) {
    numericTimes(doc, branch, path, out, seen)
  }
  for (const [k, v] of Object.entries<any>(s.properties ?? {})) {
    if (TIME_NAME.test(k) && isNumeric(doc, v)) out.add(`${path}.${k}`)
    numericTimes(doc, v, `${path}.${k}`, out, seen)
  }
  if (s.items !== undefined) numericTimes(doc, s.items, `${path}[]`, out, seen)
  if (Array.isArray(s.prefixItems))
    s.prefixItems.forEach((p: any, i: number) => numericTimes(doc, p, `${path}[${i}]`, out, seen))
  if (typeof s.additionalProperties === "object") numericTimes(doc, s.additionalProperties, `${path}.*`, out, seen)
  seen.delete(s)
}

describe("times on the wire", () => {
  const doc: any = OpenApi.fromApi(Api.AirlockApi)

  it("no success response has a numeric `at` / `*_at` / `*_ts` / `*_start` field (ISO 8601 strings, Wire.Timestamp)", () => {
    const found = new Set<string>()
    let responses = 0
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        for (const [status, response] of Object.entries<any>(op?.responses ?? {})) {
          if (!status.startsWith("2")) continue
          const schema = response?.content?.["application/json"]?.schema
          if (schema === undefined) continue
          responses++
          numericTimes(doc, schema, `${method.toUpperCase()} ${path} ${status}`, found)
        }
      }
    }
    // the walk reaches the whole API
    expect(responses).toBeGreaterThan(100)
    expect([...found].filter((f) => !EPOCH_BY_RUNBOOK.has(f)).sort()).toStrictEqual([])
    // an exception that became a string leaves the list
    expect([...EPOCH_BY_RUNBOOK].filter((f) => !found.has(f))).toStrictEqual([])
  })

  it("the walk finds a numeric time field (the check can fail)", () => {
    const probe = {
      openapi: "3.1.0",
      paths: {},
      components: {
        schemas: {
          R: {
            type: "object",
            properties: {
              items: { type: "array", items: { anyOf: [{ $ref: "#/components/schemas/I" }, { type: "null" }] } }
            }
          },
          I: {
            type: "object",
            properties: {
              triaged_at: { type: "number" },
              ok_at: { type: "string" },
              at: { type: "integer" },
              window_start: { type: "number" },
              window_end: { anyOf: [{ type: "number" }, { type: "null" }] },
              count: { type: "number" }
            }
          }
        }
      }
    }
    const out = new Set<string>()
    numericTimes(probe, { $ref: "#/components/schemas/R" }, "X", out)
    expect([...out].sort()).toStrictEqual([
      "X.items[].at",
      "X.items[].triaged_at",
      "X.items[].window_end",
      "X.items[].window_start"
    ])
  })
})

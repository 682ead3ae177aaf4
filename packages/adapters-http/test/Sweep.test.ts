/**
 * The bad-input sweep, generated from the served OpenAPI document: every declared route gets
 * malformed and out-of-range input — bad page sizes and times in its query, malformed, wrongly
 * typed, unknown-field, over-deep and over-long bodies, a body where it takes none — and must
 * answer 4xx with a catalogued code in the error envelope, never 5xx, and change nothing in
 * storage. A route added to the API is swept without editing this file.
 */
import { ErrorCode } from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"
import { type DeclaredRoute, declaredRoutes } from "./support/Routes.js"

/** Resolves `$ref`s of the document. */
const resolve = (doc: any, schema: any): any => {
  let s = schema
  for (let i = 0; i < 10 && s?.$ref !== undefined; i++) s = doc.components.schemas[String(s.$ref).split("/").pop()!]
  return s
}

/** The JSON body schema of a route (the first JSON branch), resolved. */
const jsonBody = (doc: any, route: DeclaredRoute): any => {
  const op = doc.paths[route.path][route.method.toLowerCase()]
  const schema = op.requestBody?.content?.["application/json"]?.schema
  if (schema === undefined) return undefined
  const top = resolve(doc, schema)
  return resolve(doc, top.anyOf?.[0] ?? top.oneOf?.[0] ?? top)
}

/** Each top-level string property with a maximum length, and a value one past it. */
const overlong = (doc: any, body: any): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  for (const [name, raw] of Object.entries<any>(body?.properties ?? {})) {
    const prop = resolve(doc, raw)
    const options = [prop, ...(prop?.anyOf ?? []).map((p: any) => resolve(doc, p))]
    const max = options.map((o: any) => o?.maxLength).find((m: unknown) => typeof m === "number")
    if (typeof max === "number" && max < 100_000) out.push([name, "x".repeat(max + 1)])
  }
  return out
}

interface Probe {
  readonly label: string
  readonly path: string
  readonly init: RequestInit
  /** The code the probe must get, when one is certain. */
  readonly code?: string
}

const probesOf = (doc: any, route: DeclaredRoute): ReadonlyArray<Probe> => {
  const headers = H.auth(H.tokens.admin)
  const json = (body: string): RequestInit => ({
    method: route.method,
    headers: { ...headers, "content-type": "application/json" },
    body
  })
  const out: Array<Probe> = []
  const name = `${route.method} ${route.path}`
  // queries: page sizes and times that do not parse
  for (const q of route.query) {
    const schema = resolve(doc, q.schema)
    if (q.name === "limit") {
      for (const bad of ["-1", "0", "1.5", "1e23", String((schema?.maximum ?? 1000) + 1), "abc"]) {
        out.push({
          label: `${name} ?limit=${bad}`,
          path: `${route.url}?limit=${encodeURIComponent(bad)}`,
          init: { method: route.method, headers, ...(route.hasBody ? json("{}") : {}) },
          code: "validation.schema"
        })
      }
    } else if (schema?.format === "date-time" || /_ts$|^before$|^after$|cursor/.test(q.name)) {
      out.push({
        label: `${name} ?${q.name}=garbage`,
        path: `${route.url}?${q.name}=%00garbage%20%20`,
        init: { method: route.method, headers, ...(route.hasBody ? json("{}") : {}) }
      })
    }
  }
  if (!route.hasBody) {
    if (route.method !== "GET") {
      out.push({
        label: `${name} unexpected body`,
        path: route.url,
        init: json('{"junk":1}'),
        code: "validation.unexpected_body"
      })
    }
    return out
  }
  const body = jsonBody(doc, route)
  if (body === undefined) return out
  out.push({ label: `${name} malformed`, path: route.url, init: json('{"a":'), code: "validation.json" })
  out.push({
    label: `${name} deep`,
    path: route.url,
    init: json("[".repeat(100) + "]".repeat(100)),
    code: "validation.json_depth"
  })
  for (const wrong of ["[]", "1", '"x"', "null", '{"__junk__":1}']) {
    out.push({ label: `${name} ${wrong}`, path: route.url, init: json(wrong) })
  }
  for (const [field, value] of overlong(doc, body)) {
    out.push({ label: `${name} ${field} too long`, path: route.url, init: json(JSON.stringify({ [field]: value })) })
  }
  return out
}

// tables a request may touch without changing data: limiter counters, tokens' last use, the audit checkpoint
const volatile = ["guardrails_counters", "core_api_tokens", "core_audit_checkpoints"]

layer(H.layer(), { excludeTestServices: true })("bad-input sweep over every declared route", (it) => {
  it.effect("4xx with catalogued codes, never 5xx, nothing changed in storage", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const doc = (yield* s.raw("/openapi.json")).json
      const routes = declaredRoutes(doc)
      const probes = routes.flatMap((r) => probesOf(doc, r))
      // every route with a body or a query is probed
      expect(new Set(probes.map((p) => p.label.split(" ").slice(0, 2).join(" "))).size).toBeGreaterThan(25)
      const before = yield* H.storageFingerprint(volatile)
      const problems: Array<string> = []
      for (const probe of probes) {
        const r = yield* s.raw(probe.path, probe.init)
        const code = r.json?.error?.code
        if (r.status >= 500) problems.push(`${probe.label}: ${r.status} ${r.text.slice(0, 200)}`)
        else if (r.status < 400) problems.push(`${probe.label}: accepted (${r.status})`)
        else if (typeof code !== "string" || ErrorCode.tagOf(code) === undefined) {
          problems.push(`${probe.label}: uncatalogued ${code}`)
        } else if (r.json.error.request_id !== r.headers.get("x-request-id")) {
          problems.push(`${probe.label}: request id`)
        } else if (probe.code !== undefined && code !== probe.code) {
          problems.push(`${probe.label}: ${code} !== ${probe.code}`)
        } else if (Errors.status(code) !== r.status && code !== "payload.too_large") {
          problems.push(`${probe.label}: status ${r.status} for ${code}`)
        }
      }
      yield* Effect.logInfo(`bad-input sweep: ${probes.length} probes over ${routes.length} declared routes`)
      expect(problems).toStrictEqual([])
      expect(yield* H.storageFingerprint(volatile)).toStrictEqual(before)
    }), { timeout: 60_000 })
})

layer(H.layer(), { excludeTestServices: true })("page sizes in the OpenAPI document", (it) => {
  it.effect("every `limit` query parameter states a default and a maximum (Wire.pageLimit)", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const doc = (yield* s.raw("/openapi.json")).json
      const lists: Array<string> = []
      const missing: Array<string> = []
      for (const route of declaredRoutes(doc)) {
        for (const q of route.query) {
          if (q.name !== "limit") continue
          const schema = resolve(doc, q.schema)
          const name = `${route.method} ${route.path}`
          lists.push(name)
          if (
            typeof schema?.default !== "number" || typeof schema?.maximum !== "number" ||
            schema.default > schema.maximum || schema.maximum > 1000
          ) {
            missing.push(`${name}: ${JSON.stringify(schema)}`)
          }
        }
      }
      expect(lists.length).toBeGreaterThan(10)
      expect(missing).toStrictEqual([])
    }))
})

const Errors = {
  status: (code: string): number => ErrorCode.statusOf(ErrorCode.tagOf(code)!)
}

/**
 * The bad-input sweep, generated from the served OpenAPI document: every declared route gets
 * malformed and out-of-range input — a bad value for every query parameter that can refuse one
 * (page sizes, times, cursors, enums, booleans, numbers, bounded strings), malformed, wrongly
 * typed, unknown-field, over-deep and over-long bodies, oversized `extensions`, contradicting
 * fields, a body where it takes none (GET included) — and must
 * answer 4xx with a catalogued code in the error envelope, never 5xx, and change nothing in
 * storage. A route added to the API is swept without editing this file.
 */
import { ErrorCode } from "@airlock/core"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { request } from "node:http"
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
  /** Sent with node:http (fetch cannot send a body with GET). */
  readonly rawBody?: string
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
    } else {
      const bad = badQueryValue(q.name, schema)
      if (bad === undefined) continue
      out.push({
        label: `${name} ?${q.name}=${bad.slice(0, 20)}`,
        path: `${route.url}?${q.name}=${encodeURIComponent(bad)}`,
        init: { method: route.method, headers, ...(route.hasBody ? json("{}") : {}) }
      })
    }
  }
  if (!route.hasBody) {
    out.push({
      label: `${name} unexpected body`,
      path: route.url,
      init: route.method === "GET" ? { method: "GET", headers } : json('{"junk":1}'),
      ...(route.method === "GET" ? { rawBody: '{"junk":1}' } : {}),
      code: "validation.unexpected_body"
    })
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
  const props = body?.properties ?? {}
  if ("extensions" in props) {
    out.push({
      label: `${name} oversized extensions`,
      path: route.url,
      init: json(JSON.stringify({ extensions: { blob: "x".repeat(70 * 1024) } })),
      code: "payload.too_large"
    })
  }
  if ("content" in props && "transactions" in props) {
    out.push({
      label: `${name} ambiguous body`,
      path: route.url,
      init: json(JSON.stringify({ account_code: "1000", format: "csv", content: "a,b", transactions: [] })),
      code: "validation.ambiguous_body"
    })
  }
  return out
}

const TIME_LIKE = /^(from|to|as_of|before|after|since|until)$|_at$|_ts$|_from$|_to$|^stale_after_seconds$|cursor/

/** A value the query parameter must refuse, or undefined when its schema accepts any string. */
const badQueryValue = (name: string, schema: any): string | undefined => {
  if (schema?.format === "date-time" || TIME_LIKE.test(name)) return "\u0000garbage  "
  const options = [schema, ...(schema?.anyOf ?? [])]
  if (options.some((o: any) => Array.isArray(o?.enum))) return "not-a-listed-value"
  if (options.some((o: any) => o?.type === "boolean")) return "maybe"
  if (options.some((o: any) => o?.type === "integer" || o?.type === "number")) return "1.5e999x"
  const max = options.map((o: any) => o?.maxLength).find((m: unknown) => typeof m === "number")
  if (typeof max === "number") return "x".repeat(max + 1)
  if (options.some((o: any) => typeof o?.pattern === "string")) return "\u0000 not matching"
  return undefined
}

/** Every string field of a JSON body schema (nested objects, arrays, unions) without a stated maximum length. */
const unboundedStrings = (doc: any, schema: any, path: string, out: Array<string>, seen = new Set<any>()): void => {
  const s = resolve(doc, schema)
  if (s === undefined || s === null || seen.has(s)) return
  seen.add(s)
  for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) {
    unboundedStrings(doc, branch, path, out, seen)
  }
  if (s.type === "string" && typeof s.maxLength !== "number" && !Array.isArray(s.enum) && s.const === undefined) {
    out.push(path)
  }
  for (const [k, v] of Object.entries<any>(s.properties ?? {})) unboundedStrings(doc, v, `${path}.${k}`, out, seen)
  if (s.items !== undefined) unboundedStrings(doc, s.items, `${path}[]`, out, seen)
  if (typeof s.additionalProperties === "object") unboundedStrings(doc, s.additionalProperties, `${path}.*`, out, seen)
  seen.delete(s)
}

/** Body string fields without a stated maximum, left to bound (most are bounded by a pattern the document does not state as a length). */
const KNOWN_UNBOUNDED: ReadonlySet<string> = new Set<string>([])

/** A request with node:http (a body on any method). */
const rawRequest = (port: number, path: string, init: RequestInit, body: string) =>
  Effect.async<{ status: number; headers: Headers; text: string; json: any }>((resume) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      method: init.method ?? "GET",
      // node:http sends a GET body only with a stated length
      headers: {
        ...(init.headers as Record<string, string>),
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body))
      }
    }, (res) => {
      let text = ""
      res.on("data", (c) => (text += c))
      res.on("end", () => {
        let json: any = undefined
        try {
          json = JSON.parse(text)
        } catch {
          // not JSON: the assertions report the raw text
        }
        const headers = new Headers()
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v)
        resume(Effect.succeed({ status: res.statusCode ?? 0, headers, text, json }))
      })
    })
    req.on(
      "error",
      (e) => resume(Effect.succeed({ status: 0, headers: new Headers(), text: String(e), json: undefined }))
    )
    req.end(body)
  })

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
        const r = probe.rawBody === undefined
          ? yield* s.raw(probe.path, probe.init)
          : yield* rawRequest(s.port, probe.path, probe.init, probe.rawBody)
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
  it.effect("every string field of a request body states a maximum length", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const doc = (yield* s.raw("/openapi.json")).json
      const unbounded: Array<string> = []
      for (const route of declaredRoutes(doc)) {
        const op = doc.paths[route.path][route.method.toLowerCase()]
        for (const [type, content] of Object.entries<any>(op.requestBody?.content ?? {})) {
          if (type !== "application/json") continue
          unboundedStrings(doc, content.schema, `${route.method} ${route.path} body`, unbounded)
        }
      }
      // fields found without a stated maximum when this test was written, still to bound (edge and domain);
      // anything else — a route added later included — fails here
      const missing = [...new Set(unbounded)].filter((f) => !KNOWN_UNBOUNDED.has(f))
      expect(missing).toStrictEqual([])
      // a field bounded since leaves the list
      expect([...KNOWN_UNBOUNDED].filter((f) => !unbounded.includes(f))).toStrictEqual([])
    }))

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

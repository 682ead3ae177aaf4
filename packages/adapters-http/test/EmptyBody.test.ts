/**
 * Empty bodies on routes whose payload has no required field, generated from the served OpenAPI
 * document: every POST and PUT whose JSON body accepts `{}` is sent nothing at all — as
 * `curl -X POST` sends it (no Content-Length, no Content-Type) and as `fetch` does (length 0) —
 * and must answer as `{}` does, never with a 400 about the payload. The runbook's two routes
 * are checked end to end, and a body that is present but invalid is still refused as before.
 * A route added to the API is covered without editing this file.
 */
import { Server } from "@airlock/adapters-http"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { connect } from "node:net"
import * as H from "./support/Harness.js"
import { type DeclaredRoute, declaredRoutes } from "./support/Routes.js"

interface Answer {
  readonly status: number
  readonly json: any
  readonly text: string
}

/** Resolves `$ref`s of the document. */
const resolve = (doc: any, schema: any): any => {
  let s = schema
  for (let i = 0; i < 10 && s?.$ref !== undefined; i++) s = doc.components.schemas[String(s.$ref).split("/").pop()!]
  return s
}

/** Whether a route's JSON body, as documented, is an object with no required field. */
const documentedOptional = (doc: any, route: DeclaredRoute): boolean => {
  const op = doc.paths[route.path][route.method.toLowerCase()]
  const schema = op.requestBody?.content?.["application/json"]?.schema
  if (schema === undefined) return false
  const top = resolve(doc, schema)
  const body = resolve(doc, top.anyOf?.[0] ?? top.oneOf?.[0] ?? top)
  return body?.type === "object" && (body.required ?? []).length === 0
}

/**
 * A request written on a socket with no body and no body headers at all (what `curl -X POST`
 * sends; `fetch` and `node:http` always state a length).
 */
const bare = (port: number, method: string, path: string, headers: Record<string, string>) =>
  Effect.async<Answer>((resume) => {
    const socket = connect(port, "127.0.0.1")
    let data = ""
    socket.setEncoding("utf8")
    socket.on("connect", () => {
      const lines = [`${method} ${path} HTTP/1.1`, "host: 127.0.0.1", "connection: close"]
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
      socket.write(lines.join("\r\n") + "\r\n\r\n")
    })
    socket.on("data", (chunk) => (data += chunk))
    socket.on("end", () => {
      const split = data.indexOf("\r\n\r\n")
      const head = data.slice(0, split)
      let body = data.slice(split + 4)
      if (/\r\ntransfer-encoding: chunked/i.test(head)) {
        let out = ""
        for (let rest = body; rest.length > 0;) {
          const eol = rest.indexOf("\r\n")
          const size = parseInt(rest.slice(0, eol), 16)
          if (!(size > 0)) break
          out += rest.slice(eol + 2, eol + 2 + size)
          rest = rest.slice(eol + 2 + size + 2)
        }
        body = out
      }
      let json: any = undefined
      try {
        json = JSON.parse(body)
      } catch {
        // not JSON: the assertions report the raw text
      }
      resume(Effect.succeed({ status: Number(head.split(" ")[1]), json, text: body }))
    })
    socket.on("error", (e) => resume(Effect.succeed({ status: 0, json: undefined, text: String(e) })))
  })

const codeOf = (a: Answer): string | undefined => a.json?.error?.code

/** `METHOD {openapi path}` of every route the server reads an empty body as `{}` on. */
const served = (): ReadonlySet<string> =>
  new Set([...Server.routesAcceptingEmptyBody()].map((r) => {
    const [method, path] = r.split(" ")
    return `${method} ${path!.replace(/:(\w+)\??/g, "{$1}")}`
  }))

layer(H.layer(), { excludeTestServices: true })("empty bodies on routes whose payload accepts {}", (it) => {
  it.effect(
    "every POST/PUT whose payload accepts {} answers an empty body as {}, never a 400 about the payload",
    () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const doc = (yield* s.raw("/openapi.json")).json
        const accepting = served()
        expect(accepting).toContain("POST /api/admin/control/run/start")
        expect(accepting).toContain("POST /api/admin/baseline")
        const routes = declaredRoutes(doc).filter((r) =>
          (r.method === "POST" || r.method === "PUT") && documentedOptional(doc, r)
        )
        // the server's list is read from the payload schemas; the document's, from the JSON schemas
        expect([...accepting].filter((r) => !routes.some((d) => `${d.method} ${d.path}` === r))).toStrictEqual([])
        expect(routes.length).toBeGreaterThan(10)
        const headers = H.auth(H.tokens.admin)
        const problems: Array<string> = []
        for (const route of routes) {
          const name = `${route.method} ${route.path}`
          const asCurl = yield* bare(s.port, route.method, route.url, headers)
          const asFetch = yield* s.raw(route.url, { method: route.method, headers })
          for (const [how, answer] of [["no length", asCurl], ["length 0", asFetch]] as const) {
            if (answer.status >= 500) problems.push(`${name} (${how}): ${answer.status} ${answer.text.slice(0, 200)}`)
            if (answer.status !== 400) continue
            const code = codeOf(answer)
            const withObject = yield* s.raw(route.url, H.json(route.method, H.tokens.admin, {}))
            if (!accepting.has(name)) {
              // all fields optional, but the payload refuses an empty object (a refinement): so does an empty body
              if (withObject.status !== 400) problems.push(`${name}: {} answers ${withObject.status}, not listed`)
            } else if (code === "validation.json" || code === "validation.schema" || codeOf(withObject) !== code) {
              // a 400 must be the handler's answer to {} (a domain check), not the body's refusal
              problems.push(`${name} (${how}): 400 ${code}; {} answers ${withObject.status} ${codeOf(withObject)}`)
            }
          }
        }
        yield* Effect.logInfo(`empty-body sweep: ${routes.length} routes, ${accepting.size} read an empty body as {}`)
        expect(problems).toStrictEqual([])
      }),
    { timeout: 60_000 }
  )
})

layer(H.layer(), { excludeTestServices: true })("empty bodies on the runbook's routes", (it) => {
  it.effect("run start and baseline with no body act as {}; a present, invalid body is 400 as before", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      const admin = H.tokens.admin
      const headers = H.auth(admin)

      // a body that is present and invalid keeps its code, and changes nothing
      H.expectError(
        yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, '{"run_id":')),
        400,
        "validation.json"
      )
      H.expectError(
        yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, { run_id: 7 })),
        400,
        "validation.schema"
      )
      H.expectError(yield* s.raw("/api/admin/control/run/start", H.json("POST", admin, [])), 400, "validation.schema")
      H.expectError(
        yield* s.raw("/api/admin/baseline", H.json("POST", admin, { windows: 0 })),
        400,
        "validation.schema"
      )
      expect(Number((yield* sql`SELECT COUNT(*) AS n FROM ops_runs`)[0]!.n)).toBe(0)

      // curl -X POST, no body
      const started = yield* bare(s.port, "POST", "/api/admin/control/run/start", headers)
      expect(started.status).toBe(200)
      expect(started.json).toMatchObject({ phase: "running", active: true, paused: false, reason: null })
      const [run] = yield* sql`SELECT run_id, started_by FROM ops_runs WHERE ended_at IS NULL`
      expect(run).toMatchObject({ run_id: started.json.run_id, started_by: "admin" })
      // curl -X POST -d '' (an empty form) and whitespace-only JSON: also {}
      const paused = yield* s.raw("/api/admin/control/run/pause", {
        method: "POST",
        headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
        body: ""
      })
      expect(paused.json).toMatchObject({ phase: "paused" })
      const resumed = yield* s.raw("/api/admin/control/run/resume", H.json("POST", admin, "  \n"))
      expect(resumed.json).toMatchObject({ phase: "running" })
      const stopped = yield* bare(s.port, "POST", "/api/admin/control/run/stop", {
        ...headers,
        "content-type": "application/json"
      })
      expect(stopped.json).toMatchObject({ phase: "idle", paused: true })

      const baseline = yield* bare(s.port, "POST", "/api/admin/baseline", headers)
      expect(baseline.status).toBe(201)
      const [stored] = yield* sql`SELECT COUNT(*) AS n FROM ops_kpi_baselines`
      expect(Number(stored!.n)).toBe(1)
      const latest = yield* s.raw("/api/admin/baseline/latest", { headers })
      expect(latest.json).toMatchObject({ id: baseline.json.id })
    }))
})

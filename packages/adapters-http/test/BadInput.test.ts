import { HttpRateLimit } from "@airlock/adapters-http"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as H from "./support/Harness.js"
import { send } from "./support/RawHttp.js"

const settings = "/api/v1/companion/settings"

/** Persisted state the sweep must leave untouched. */
const snapshot = Effect.all({
  settings: H.settingsRow("default"),
  audit: H.auditCount("default"),
  acmeAudit: H.auditCount("acme"),
  system: Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`SELECT COUNT(*) AS n FROM core_system_state`.pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
  )
})

layer(H.layer({ http: { maxBodyBytes: 64 * 1024 } }), { excludeTestServices: true })("bad input sweep", (it) => {
  it.effect("malformed JSON, wrong types, huge and deep bodies, odd ids and headers: 4xx, never 5xx, nothing written", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* snapshot
      const owner = H.tokens.owner
      const seen: Array<readonly [string, number]> = []
      const check = (
        label: string,
        r: { status: number; headers: Headers | Record<string, unknown>; json: any },
        status: number,
        code?: string
      ) => {
        seen.push([label, r.status])
        const id = r.headers instanceof Headers ? r.headers.get("x-request-id") : r.headers["x-request-id"]
        expect(id, label).toMatch(/^\S+$/)
        expect(r.status, `${label}: ${JSON.stringify(r.json)}`).toBe(status)
        if (code !== undefined) {
          expect(r.json?.error?.code, label).toBe(code)
          expect(r.json?.error?.request_id, label).toBe(id)
        }
      }

      // malformed JSON
      for (
        const body of [
          "{",
          '{"ai_mode":}',
          "nul",
          '{"ai_mode":"drafts"}{}',
          "{'ai_mode':'drafts'}",
          '{"ai_mode":"drafts",}',
          "\u0000",
          "[1,2",
          '"unterminated'
        ]
      ) {
        check(
          `json ${JSON.stringify(body)}`,
          yield* s.raw(settings, H.json("PUT", owner, body)),
          400,
          "validation.json"
        )
      }
      // wrong types and shapes
      for (
        const body of [
          1,
          "drafts",
          true,
          { ai_mode: 5 },
          { kill_switch: "false" },
          { ai_enabled: null },
          { extensions: [1] },
          { ai_mode: "DRAFTS" },
          '{"ai_mode":"drafts","__proto__":{"x":1}}',
          '{"ai_mode":"drafts","constructor":{}}'
        ]
      ) {
        const text = typeof body === "string" && body.startsWith("{") ? body : JSON.stringify(body)
        check(`type ${text}`, yield* s.raw(settings, H.json("PUT", owner, text)), 400, "validation.schema")
      }
      // a JSON body sent as text/plain gets a hint
      const plain = yield* s.raw(settings, { method: "PUT", headers: H.auth(owner), body: '{"ai_mode":"drafts"}' })
      check("text/plain", plain, 400, "validation.schema")
      expect(plain.json.error.details.hint).toContain("application/json")
      // oversized: declared, drained and refused
      const big = JSON.stringify({ ai_mode: "drafts", extensions: { blob: "x".repeat(70 * 1024) } })
      const tooLarge = yield* s.raw(settings, H.json("PUT", owner, big))
      check("64 KiB + body", tooLarge, 413, "payload.too_large")
      expect(tooLarge.json.error.details).toStrictEqual({ max_bytes: 65536 })
      // oversized, chunked (no Content-Length)
      const chunked = yield* Effect.promise(() =>
        send(s.port, {
          method: "PUT",
          path: settings,
          headers: { ...H.auth(owner), "content-type": "application/json", "transfer-encoding": "chunked" },
          chunks: Array.from({ length: 20 }, () => Buffer.alloc(8 * 1024, 0x20))
        })
      )
      check("chunked oversize", chunked, 413, "payload.too_large")
      // a Content-Length far past the limit is refused without reading the body
      const huge = yield* Effect.promise(() =>
        send(s.port, {
          method: "PUT",
          path: settings,
          headers: {
            ...H.auth(owner),
            "content-type": "application/json",
            "content-length": String(512 * 1024 * 1024)
          },
          chunks: [Buffer.alloc(1024, 0x20)]
        })
      )
      check("content-length 512 MiB", huge, 413, "payload.too_large")
      expect(huge.headers.connection).toBe("close")
      // deep nesting
      const deep = "[".repeat(200) + "]".repeat(200)
      check(
        "deep array",
        yield* s.raw(settings, H.json("PUT", owner, `{"extensions":{"d":${deep}}}`)),
        400,
        "validation.json_depth"
      )
      const deepObject = '{"a":'.repeat(100) + "1" + "}".repeat(100)
      check(
        "deep object",
        yield* s.raw(settings, H.json("PUT", owner, `{"extensions":${deepObject}}`)),
        400,
        "validation.json_depth"
      )
      // odd ids and headers
      for (const tenant of ["", " ", "..", "a/b", "a".repeat(500), "%00", "default\t"]) {
        const r = yield* Effect.promise(() =>
          send(s.port, { method: "GET", path: settings, headers: { ...H.auth(owner), "x-tenant": tenant } })
        )
        seen.push([`x-tenant ${JSON.stringify(tenant)}`, r.status])
        expect([200, 400], `x-tenant ${JSON.stringify(tenant)}`).toContain(r.status)
      }
      const idEcho = yield* s.raw("/healthz", { headers: { "x-request-id": "trace-abc.123:9" } })
      expect(idEcho.headers.get("x-request-id")).toBe("trace-abc.123:9")
      for (const id of ["has space", "x".repeat(200), "<script>", "a,b", ""]) {
        const r = yield* s.raw("/healthz", { headers: { "x-request-id": id } })
        expect(r.headers.get("x-request-id"), id).toMatch(/^req_[0-9A-Z]{26}$/)
      }
      check("no route", yield* s.raw("/api/v1/nothing/here"), 404, "not_found")
      check("wrong method", yield* s.raw(settings, { method: "DELETE", headers: H.auth(owner) }), 404, "not_found")
      // the router ignores trailing and duplicate slashes and case, as the metrics labels do
      check("trailing slash", yield* s.raw(`${settings}/`, { headers: H.auth(owner) }), 200)
      check("double slash", yield* s.raw(`/api//v1/companion/settings`, { headers: H.auth(owner) }), 200)
      check(
        "encoded path",
        yield* s.raw("/api/v1/companion/%73ettings%00", { headers: H.auth(owner) }),
        404,
        "not_found"
      )
      check("query junk", yield* s.raw(`${settings}?limit=%ZZ&x[]=1`, { headers: H.auth(owner) }), 200)
      const longPath = yield* s.raw(`/${"a".repeat(4000)}`)
      check("long path", longPath, 404, "not_found")
      expect(longPath.json.error.message.length).toBeLessThan(300)
      check(
        "PUT without body",
        yield* s.raw(settings, { method: "PUT", headers: { ...H.auth(owner), "content-type": "application/json" } }),
        400,
        "validation.schema"
      )
      check("POST on GET route", yield* s.raw("/api/v1/system/status", H.json("POST", owner, {})), 404, "not_found")
      check(
        "body on admin write",
        yield* s.raw("/api/admin/ai-global", H.json("PUT", H.tokens.admin, "{")),
        400,
        "validation.json"
      )

      expect(seen.filter(([, status]) => status >= 500)).toStrictEqual([])
      expect(yield* snapshot).toStrictEqual(before)
    }))
})

// settings extensions are bounded too (64 KiB by default): this block is about the body limit
const bodyLimitServer = H.layer({ http: { maxBodyBytes: 1024 * 1024 }, core: { extensionsMaxBytes: 2 * 1024 * 1024 } })

layer(bodyLimitServer, { excludeTestServices: true })("default body limit", (it) => {
  it.effect("1 MiB is accepted up to the byte and refused past it", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const frame = (n: number) => {
        const head = '{"extensions":{"blob":"'
        const tail = '"}}'
        return head + "x".repeat(n - head.length - tail.length) + tail
      }
      const at = yield* s.raw(settings, H.json("PUT", H.tokens.owner, frame(1024 * 1024)))
      expect(at.status).toBe(200)
      H.expectError(
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, frame(1024 * 1024 + 1))),
        413,
        "payload.too_large"
      )
      yield* s.client(H.tokens.owner).companion.updateSettings({ payload: { extensions: { blob: null } } })
      // a chunked body (no Content-Length) within the limit is read and served to the route
      const chunked = yield* Effect.promise(() =>
        send(s.port, {
          method: "PUT",
          path: settings,
          headers: { ...H.auth(H.tokens.owner), "content-type": "application/json", "transfer-encoding": "chunked" },
          chunks: ['{"ai_mode":', '"drafts",', '"extensions":{"via":"chunks"}}'],
          delayMs: 20
        })
      )
      expect([chunked.status, chunked.json?.ai_mode, chunked.json?.extensions]).toStrictEqual([200, "drafts", {
        via: "chunks"
      }])
      expect(yield* H.settingsRow("default")).toMatchObject({ ai_mode: "drafts", extensions: { via: "chunks" } })
    }))
})

/** A rate-limit hook that fails unexpectedly, with internals in its error. */
const exploding = Layer.succeed(HttpRateLimit.HttpRateLimit, {
  enabled: true,
  check: () => Effect.die(new Error("limiter crashed: connect ECONNREFUSED 10.9.8.7:6379 password=hunter2"))
})

layer(H.layer({ rateLimiter: exploding }), { excludeTestServices: true })("unexpected failures", (it) => {
  it.effect("are 500 internal with no internals in the body; the cause is logged under the request id", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* snapshot
      const r = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_mode: "drafts" }))
      const error = H.expectError(r, 500, "internal")
      expect(error).toStrictEqual({
        code: "internal",
        message: "Internal server error",
        details: {},
        request_id: r.headers.get("x-request-id")
      })
      expect(r.text).not.toMatch(/hunter2|ECONNREFUSED|limiter|at |\.ts|stack/i)
      const line = s.logs.find((l) => l.includes(r.headers.get("x-request-id")!))
      expect(line, "log line with the request id").toBeDefined()
      const log = JSON.parse(line!)
      expect(log).toMatchObject({
        logLevel: "ERROR",
        message: "request failed",
        annotations: { request_id: r.headers.get("x-request-id"), status: 500, route: settings }
      })
      expect(log.cause).toContain("hunter2")
      const typed = yield* Effect.flip(s.client(H.tokens.viewer).system.status())
      expect(typed._tag).toBe("InternalError")
      expect(yield* snapshot).toStrictEqual(before)
      // public routes do not touch the limiter
      expect((yield* s.raw("/healthz")).status).toBe(200)
    }))
})

layer(H.layer(), { excludeTestServices: true })("storage failures", (it) => {
  // this server's settings table is moved away for good (a dedicated server and database)
  it.effect("are 500 storage.failure without driver messages; the cause is logged", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      yield* sql`ALTER TABLE core_ai_settings RENAME TO core_ai_settings_moved`.pipe(Effect.orDie)
      const r = yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })
      const error = H.expectError(r, 500, "storage.failure")
      expect(error.message).toBe("Storage operation failed")
      expect(r.text).not.toMatch(/core_ai_settings|no such table|SQLITE|select/i)
      const line = s.logs.find((l) => l.includes(r.headers.get("x-request-id")!))
      expect(JSON.parse(line!).cause).toMatch(/no such table/i)
      // the process keeps serving what does not need the missing table
      expect((yield* s.raw("/api/v1/system/status", { headers: H.auth(H.tokens.viewer) })).status).toBe(500)
      expect((yield* s.raw("/api/admin/status", { headers: H.auth(H.tokens.admin) })).status).toBe(200)
    }))
})

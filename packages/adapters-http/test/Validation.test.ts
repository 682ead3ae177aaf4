/**
 * One validation rule for queries and bodies: page sizes are decimal integers within each list's
 * stated maximum, cursors that do not parse are 400, ambiguous bodies and bodies sent to routes
 * that take none are refused, and protocol errors Node answers itself use the error envelope.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { connect } from "node:net"
import * as H from "./support/Harness.js"
import { send } from "./support/RawHttp.js"

/** Writes raw bytes on a fresh connection and returns everything the server sends back. */
const rawExchange = (port: number, bytes: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes))
    const parts: Array<Buffer> = []
    socket.on("data", (c: Buffer) => parts.push(c))
    socket.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
    socket.on("error", reject)
    socket.setTimeout(5000, () => {
      socket.destroy()
      resolve(Buffer.concat(parts).toString("utf8"))
    })
  })

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql.unsafe<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`).pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      )
  )

layer(H.layer(), { excludeTestServices: true })("one validation rule", (it) => {
  it.effect("page sizes: -1, 0, 1.5, 1e23, over the maximum, twice: validation.schema on every list", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const lists: ReadonlyArray<readonly [string, number, string]> = [
        ["/api/v1/ledger/entries", 500, H.tokens.viewer],
        ["/api/admin/audit", 1000, H.tokens.admin],
        ["/api/v1/companion/breaker-events", 500, H.tokens.viewer],
        ["/api/v1/memory/items", 500, H.tokens.viewer],
        ["/api/v1/memory/state/review/conflicts", 500, H.tokens.viewer],
        ["/api/v1/memory/state/failures", 500, H.tokens.viewer]
      ]
      for (const [path, max, token] of lists) {
        for (const bad of ["-1", "0", "1.5", "1e23", "1e2", String(max + 1), "0x10", "%201", "abc", ""]) {
          const r = yield* s.raw(`${path}?limit=${bad}`, { headers: H.auth(token) })
          const details = H.expectError(r, 400, "validation.schema").details as any
          expect(details.issues[0].path, `${path} limit=${bad}`).toStrictEqual(["limit"])
        }
        H.expectError(yield* s.raw(`${path}?limit=1&limit=2`, { headers: H.auth(token) }), 400, "validation.schema")
        expect((yield* s.raw(`${path}?limit=${max}`, { headers: H.auth(token) })).status, path).toBe(200)
        expect((yield* s.raw(`${path}?limit=1`, { headers: H.auth(token) })).status, path).toBe(200)
      }
      // each list states its default and maximum in the document
      const doc = (yield* s.raw("/openapi.json")).json
      const limit = doc.paths["/api/v1/ledger/entries"].get.parameters.find((p: any) => p.name === "limit")
      expect(limit.schema).toMatchObject({ type: "integer", minimum: 1, maximum: 500, default: 100 })
    }))

  it.effect("cursors that do not parse are 400 validation.cursor", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const viewer = H.auth(H.tokens.viewer)
      for (const bad of ["garbage", "gev_short", "x".repeat(600), "gev_01HZZZZZZZZZZZZZZZZZZZZZZ%20"]) {
        H.expectError(
          yield* s.raw(`/api/v1/companion/breaker-events?before=${bad}`, { headers: viewer }),
          400,
          "validation.cursor"
        )
      }
      expect(
        (yield* s.raw("/api/v1/companion/breaker-events?before=gev_01HZZZZZZZZZZZZZZZZZZZZZZZ", { headers: viewer }))
          .status
      ).toBe(200)
      H.expectError(
        yield* s.raw("/api/v1/ledger/entries?cursor=garbage", { headers: viewer }),
        400,
        "validation.cursor"
      )
      H.expectError(yield* s.raw("/api/v1/memory/items?cursor=garbage", { headers: viewer }), 400, "validation.cursor")
      H.expectError(
        yield* s.raw(`/api/v1/memory/items?cursor=${"%01".repeat(3)}`, { headers: viewer }),
        400,
        "validation.cursor"
      )
    }))

  it.effect("ambiguous bank imports are refused and import nothing", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const bookkeeper = H.tokens.bookkeeper
      const tx = { date: "2026-01-02", description: "x", amount: "1.00" }
      const before = yield* count("ledger_bank_transactions")
      for (
        const body of [
          {
            account_code: "1000",
            format: "csv",
            content: "Date,Description,Amount\n01/02/2026,x,1.00\n",
            transactions: [tx]
          },
          { account_code: "1000", format: "json", content: "Date,Description,Amount\n", transactions: [tx] },
          { account_code: "1000", format: "json", content: "Date,Description,Amount\n" },
          { account_code: "1000", format: "csv", transactions: [tx] },
          { account_code: "1000", format: "ofx", content: "<OFX></OFX>", csv: { layout: "amount" } }
        ]
      ) {
        const r = yield* s.raw("/api/v1/bank-transactions/import", H.json("POST", bookkeeper, body))
        expect(H.expectError(r, 400, "validation.ambiguous_body").message, JSON.stringify(body)).toMatch(/not|only/)
      }
      expect(yield* count("ledger_bank_transactions")).toBe(before)
    }))

  it.effect("a route without a body refuses a non-empty one; nothing happens", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const before = yield* H.storageFingerprint(["guardrails_counters", "core_api_tokens"])
      for (
        const [method, path, token] of [
          ["POST", "/api/v1/export/qbo", H.tokens.bookkeeper],
          ["POST", "/api/v1/system/unlock-code/rotate", H.tokens.admin],
          ["POST", "/api/v1/memory/state/tiering/run", H.tokens.owner],
          ["DELETE", "/api/v1/approvals/s/p", H.tokens.owner]
        ] as const
      ) {
        for (const body of ['{"junk":1}', "[]", "1", '"x"', '{"workspace_id":"default","x":1}']) {
          H.expectError(
            yield* s.raw(path, H.json(method, token, body)),
            400,
            "validation.unexpected_body"
          )
        }
        H.expectError(
          yield* s.raw(path, { method, headers: H.auth(token, { "content-type": "text/plain" }), body: "junk" }),
          400,
          "validation.unexpected_body"
        )
      }
      // a GET with a body
      const get = yield* Effect.promise(() =>
        send(s.port, {
          method: "GET",
          path: "/api/v1/companion/settings",
          headers: { ...H.auth(H.tokens.viewer), "content-type": "application/json", "content-length": "9" },
          chunks: ['{"a":"b"}']
        })
      )
      expect([get.status, get.json?.error?.code]).toStrictEqual([400, "validation.unexpected_body"])
      expect(yield* H.storageFingerprint(["guardrails_counters", "core_api_tokens"])).toStrictEqual(before)
      // nothing, whitespace, {} and the tenant selector alone are no content
      for (const body of [undefined, "  \n", "{}", '{"workspace_id":"default"}']) {
        const r = yield* s.raw("/api/v1/system/unlock-code/rotate", {
          method: "POST",
          headers: H.auth(H.tokens.admin, { "content-type": "application/json" }),
          ...(body === undefined ? {} : { body })
        })
        expect(r.status, String(body)).toBe(200)
      }
    }))

  it.effect("protocol errors Node answers itself use the error envelope", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const parse = (raw: string) => {
        const [head, body] = raw.split("\r\n\r\n")
        return { statusLine: head!.split("\r\n")[0]!, head: head!, json: JSON.parse(body!) }
      }
      const badLine = parse(yield* Effect.promise(() => rawExchange(s.port, "GARBAGE\r\n\r\n")))
      expect(badLine.statusLine).toBe("HTTP/1.1 400 Bad Request")
      expect(badLine.json.error).toMatchObject({ code: "validation.request", details: {} })
      expect(badLine.head).toContain(`x-request-id: ${badLine.json.error.request_id}`)
      const badHeader = parse(
        yield* Effect.promise(() => rawExchange(s.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"))
      )
      expect(badHeader.json.error.code).toBe("validation.request")
      const overflow = parse(
        yield* Effect.promise(() =>
          rawExchange(s.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`)
        )
      )
      expect(overflow.statusLine).toBe("HTTP/1.1 431 Request Header Fields Too Large")
      expect(overflow.json.error).toMatchObject({ code: "payload.too_large", details: { part: "headers" } })
      expect(overflow.json.error.request_id).toMatch(/^req_/)
      // the server keeps serving
      expect((yield* s.raw("/healthz")).status).toBe(200)
    }))
})

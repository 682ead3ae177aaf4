/**
 * Whose fault an error is: a response we cannot encode is our failure (500 `internal`, the cause
 * only in the log), while a request that does not decode stays the caller's (400).
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const settings = "/api/v1/companion/settings"

layer(H.layer(), { excludeTestServices: true })("response encoding", (it) => {
  it.effect("a stored value the response schema refuses is 500 internal, logged; request decoding stays 400", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const sql = yield* SqlClient.SqlClient
      // the caller's mistake first: still a 400
      H.expectError(
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_mode: "nope" })),
        400,
        "validation.schema"
      )
      // a row no response schema accepts (written behind the service's back)
      yield* sql`UPDATE core_ai_settings SET ai_mode = 'not_a_mode' WHERE tenant_id = 'acme'`.pipe(Effect.orDie)
      const r = yield* s.raw(settings, { headers: H.auth(H.tokens.acmeViewer) })
      const error = H.expectError(r, 500, "internal")
      expect(error).toStrictEqual({
        code: "internal",
        message: "Internal server error",
        details: {},
        request_id: r.headers.get("x-request-id")
      })
      expect(r.text).not.toContain("not_a_mode")
      const line = s.logs.find((l) => l.includes(r.headers.get("x-request-id")!))
      expect(line, "the cause is logged under the request id").toBeDefined()
      const log = JSON.parse(line!)
      expect(log).toMatchObject({ logLevel: "ERROR", annotations: { status: 500, route: settings } })
      expect(log.cause).toContain("not_a_mode")
      // the typed client sees the same taxonomy error
      const typed = yield* Effect.flip(s.client(H.tokens.acmeViewer).companion.getSettings())
      expect(typed._tag).toBe("InternalError")
      // the other tenant is unaffected
      expect((yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })).status).toBe(200)
    }))
})

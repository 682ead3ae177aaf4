/**
 * Failed authentications limited per source address (guardrails' shared counters): past the
 * limit an address gets 429 `rate_limited` with `Retry-After` before its credentials are looked
 * at again — a valid token included — while other addresses are unaffected; successes and
 * requests without credentials do not count; two servers on one PostgreSQL share the count.
 */
import { HttpRateLimit } from "@airlock/adapters-http"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import * as H from "./support/Harness.js"

const MAX = 5
const options = {
  rateLimiter: HttpRateLimit.layerGuardrails,
  // the request limit off: only the failed-authentication limit is under test
  guardrails: { rateLimitEnabled: false, authFailureMax: MAX, authFailureWindowSeconds: 60 },
  http: { trustedProxies: ["127.0.0.1"] }
}

const ATTACKER = "203.0.113.5"
const OTHER = "198.51.100.7"

const failureCount = (address: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT COALESCE(SUM(count), 0) AS n FROM guardrails_counters WHERE key = ${`rate:auth_failures:${address}`}`
        .pipe(Effect.map((r) => Number(r[0]!.n)), Effect.orDie)
  )

/** The scenario over one or two servers (alternating requests between them). */
const scenario = (servers: ReadonlyArray<H.TestServerShape>) =>
  Effect.gen(function*() {
    let turn = 0
    const next = () => servers[turn++ % servers.length]!
    const get = (from: string, token?: string) =>
      next().raw("/api/v1/companion/settings", {
        headers: { "x-forwarded-for": from, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }
      })
    const { viewer } = H.tokens

    // requests without credentials and successful ones do not count
    for (let i = 0; i < MAX + 3; i++) H.expectError(yield* get(ATTACKER), 401, "auth.unauthorized")
    for (let i = 0; i < MAX - 1; i++) {
      H.expectError(yield* get(ATTACKER, `wrong_${i}_token`), 401, "auth.unauthorized")
      expect((yield* get(ATTACKER, viewer)).status).toBe(200)
    }
    expect(yield* failureCount(ATTACKER)).toBe(MAX - 1)
    // the limit-th failure is still answered 401 (malformed credentials count too) …
    H.expectError(yield* get(ATTACKER, "not-a-bearer"), 401, "auth.unauthorized")
    const malformed = yield* next().raw("/api/v1/companion/settings", {
      headers: { "x-forwarded-for": ATTACKER, authorization: "Basic Zm9vOmJhcg==" }
    })
    // … and then the address is refused before verification, a valid token included
    const refused = H.expectError(malformed, 429, "rate_limited")
    expect(refused.details).toMatchObject({ scope: "auth_failures", limit: MAX, window_seconds: 60 })
    const retry = Number(malformed.headers.get("retry-after"))
    expect(retry).toBeGreaterThanOrEqual(1)
    expect(retry).toBeLessThanOrEqual(120)
    const valid = yield* get(ATTACKER, viewer)
    H.expectError(valid, 429, "rate_limited")
    H.expectError(yield* get(ATTACKER, "wrong_again_token"), 429, "rate_limited")
    // refusals are not failures of verification: the count stays
    expect(yield* failureCount(ATTACKER)).toBe(MAX)

    // another address is not affected
    H.expectError(yield* get(OTHER, "wrong_other_token"), 401, "auth.unauthorized")
    expect((yield* get(OTHER, viewer)).status).toBe(200)
    expect(yield* failureCount(OTHER)).toBe(1)
    // IPv6 clients are counted per /64
    for (let i = 0; i < MAX; i++)
      H.expectError(yield* get(`2001:db8:1:2::${i + 1}`, "bad_v6_token"), 401, "auth.unauthorized")
    H.expectError(yield* get("2001:db8:1:2:ffff::9", viewer), 429, "rate_limited")
    expect((yield* get("2001:db8:1:3::1", viewer)).status).toBe(200)
  })

layer(H.layer({ storage: "sqlite", ...options }), { excludeTestServices: true })(
  "failed authentications: sqlite",
  (it) => {
    it.effect("limited per address: 429 with Retry-After before verification; others, successes and no-credential requests unaffected", () =>
      Effect.flatMap(H.TestServer, (s) => scenario([s])))
  }
)

describe.skipIf(!H.pgEnabled())("failed authentications: two servers on one PostgreSQL", () => {
  it.live(
    "share the per-address limit; a different address is not affected",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const name = `airlock_af_${randomBytes(6).toString("hex")}`
        const a = yield* Layer.build(H.layer({ storage: "postgres", pgDatabase: name, ...options }))
        const b = yield* Layer.build(H.layer({ storage: "postgres", pgUrl: H.pgUrlOf(name), seed: false, ...options }))
        const A = Context.get(a, H.TestServer)
        const B = Context.get(b, H.TestServer)
        expect(A.port).not.toBe(B.port)
        yield* scenario([A, B]).pipe(Effect.provide(a))
      })),
    60_000
  )
})

layer(H.layer({ storage: "sqlite", ...options, guardrails: { ...options.guardrails, authFailureEnabled: false } }), {
  excludeTestServices: true
})("failed authentications: limit off", (it) => {
  it.effect("AIRLOCK_AUTH_FAILURE_ENABLED=false: every refused credential stays a 401", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      for (let i = 0; i < MAX * 2; i++) {
        H.expectError(
          yield* s.raw("/api/v1/companion/settings", {
            headers: H.auth("wrong_token_x", { "x-forwarded-for": ATTACKER })
          }),
          401,
          "auth.unauthorized"
        )
      }
      expect(yield* failureCount(ATTACKER)).toBe(0)
    }))
})

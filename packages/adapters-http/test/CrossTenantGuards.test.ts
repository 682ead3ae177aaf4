/**
 * Production guards on every admin write: an admin acting on a tenant other than its own — named
 * with `X-Tenant`, a `workspace_id` query parameter or a `workspace_id` body field — goes through
 * the admin guards on every route (the IP allowlist always, the write guard for every write;
 * unlock and code rotation keep their break-glass exemption from the write guard). The matrix
 * runs over every write route of the served OpenAPI document × {own tenant, X-Tenant,
 * workspace_id in the query, workspace_id in the body} × {writes on, off} × {allowed IP, other IP}.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"
import { type DeclaredRoute, declaredRoutes } from "./support/Routes.js"

const ALLOWED = "203.0.113.7"
const OTHER = "198.51.100.9"
type Selector = "own" | "x-tenant" | "query" | "body"
const selectors: ReadonlyArray<Selector> = ["own", "x-tenant", "query", "body"]

/** The guard refusal a request must get, or null when the guards let it through. */
const expected = (
  route: DeclaredRoute,
  selector: Selector,
  ip: "allowed" | "other",
  writesEnabled: boolean
): "admin.ip_denied" | "admin.write_disabled" | null => {
  const adminRoute = route.guard === "admin" || route.guard === "breakGlass" || route.guard === "inspect"
  const cross = selector !== "own"
  if ((adminRoute || cross) && ip === "other") return "admin.ip_denied"
  // break-glass routes are exempt from the write guard; inspection routes change no data
  const write = route.guard !== "breakGlass" && route.guard !== "inspect"
  if ((adminRoute || cross) && !writesEnabled && write) return "admin.write_disabled"
  return null
}

const request = (route: DeclaredRoute, selector: Selector, ip: string): RequestInit & { path: string } => {
  const headers: Record<string, string> = { ...H.auth(H.tokens.admin), "x-forwarded-for": ip }
  if (selector === "x-tenant") headers["x-tenant"] = "acme"
  let body: string | undefined = route.hasBody ? "{}" : undefined
  if (selector === "body") body = JSON.stringify({ workspace_id: "acme" })
  if (body !== undefined) headers["content-type"] = "application/json"
  // a route's {tenant} names the tenant as the other selectors do: the admin's own, or the one named
  const url = route.path.includes("{tenant}")
    ? route.path.replace("{tenant}", selector === "own" ? "default" : "acme").replace(/\{(\w+)\}/g, "x1")
    : route.url
  const path = selector === "query" ? `${url}?workspace_id=acme` : url
  return { path, method: route.method, headers, ...(body === undefined ? {} : { body }) }
}

// tables every request may touch: counters of the limiters, tokens' last use
const volatile = ["guardrails_counters", "core_api_tokens"]

const matrix = (writesEnabled: boolean) =>
  Effect.gen(function*() {
    const s = yield* H.TestServer
    const doc = (yield* s.raw("/openapi.json")).json
    const writes = declaredRoutes(doc).filter((r) => r.isWrite && r.guard !== "public")
    expect(writes.length).toBeGreaterThan(10)
    const cases = writes.flatMap((route) =>
      selectors.flatMap((selector) =>
        (["allowed", "other"] as const).map((ip) => ({
          route,
          selector,
          ip,
          code: expected(route, selector, ip, writesEnabled)
        }))
      )
    )
    const refused = cases.filter((c) => c.code !== null)
    const passed = cases.filter((c) => c.code === null)
    // every cross-tenant write from another address is refused, on every route
    expect(refused.filter((c) => c.selector !== "own" && c.ip === "other").length).toBe(writes.length * 3)

    const before = yield* H.storageFingerprint(volatile)
    for (const c of refused) {
      const { path, ...init } = request(c.route, c.selector, c.ip === "allowed" ? ALLOWED : OTHER)
      const label = `${c.route.method} ${c.route.path} ${c.selector} ${c.ip} writes=${writesEnabled}`
      const r = yield* s.raw(path, init)
      expect(r.json?.error?.code, `${label}: ${r.text.slice(0, 200)}`).toBe(c.code)
      H.expectError(r, 403, c.code!)
    }
    // refused requests changed nothing, in either tenant
    expect(yield* H.storageFingerprint(volatile)).toStrictEqual(before)

    for (const c of passed) {
      const { path, ...init } = request(c.route, c.selector, c.ip === "allowed" ? ALLOWED : OTHER)
      const label = `${c.route.method} ${c.route.path} ${c.selector} ${c.ip} writes=${writesEnabled}`
      const r = yield* s.raw(path, init)
      expect(r.status, `${label}: ${r.text.slice(0, 200)}`).toBeLessThan(500)
      expect(["admin.ip_denied", "admin.write_disabled"], `${label}: ${r.text.slice(0, 200)}`).not.toContain(
        r.json?.error?.code
      )
    }
  })

const options = (adminWriteEnabled: boolean) =>
  H.layer({ http: { adminWriteEnabled, adminIpAllowlist: [ALLOWED], trustedProxies: ["127.0.0.1"] } })

describe("cross-tenant admin guards on every write route", () => {
  layer(options(false), { excludeTestServices: true })("writes off", (it) => {
    it.effect("matrix: own / X-Tenant / workspace_id (query, body) × allowed / other IP", () => matrix(false))

    it.effect("the refusals name the tenant; the same writes on the admin's own tenant go through", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const settings = "/api/v1/companion/settings"
        const body = { ai_mode: "autopilot_limited", kill_switch: true }
        const headers = { "x-forwarded-for": ALLOWED }
        const before = yield* H.settingsRow("acme")
        const viaHeader = yield* s.raw(
          settings,
          H.json("PUT", H.tokens.admin, body, { ...headers, "x-tenant": "acme" })
        )
        expect(H.expectError(viaHeader, 403, "admin.write_disabled").details).toStrictEqual({
          tenant: "acme",
          token_tenant: "default"
        })
        H.expectError(
          yield* s.raw(`${settings}?workspace_id=acme`, H.json("PUT", H.tokens.admin, body, headers)),
          403,
          "admin.write_disabled"
        )
        H.expectError(
          yield* s.raw(settings, H.json("PUT", H.tokens.admin, { ...body, workspace_id: "acme" }, headers)),
          403,
          "admin.write_disabled"
        )
        expect(yield* H.settingsRow("acme")).toStrictEqual(before)
        // reads of another tenant stay open to an admin from an allowed address
        const read = yield* s.raw(`${settings}?workspace_id=acme`, { headers: H.auth(H.tokens.admin, headers) })
        expect([read.status, read.json.tenant_id]).toStrictEqual([200, "acme"])
        H.expectError(
          yield* s.raw(`${settings}?workspace_id=acme`, {
            headers: H.auth(H.tokens.admin, { "x-forwarded-for": OTHER })
          }),
          403,
          "admin.ip_denied"
        )
        // the tenant's own owner is not an admin acting elsewhere: writes go through
        const own = yield* s.raw(settings, H.json("PUT", H.tokens.acmeOwner, { ai_mode: "drafts" }, headers))
        expect(own.status).toBe(200)
        expect(yield* H.settingsRow("acme")).toMatchObject({ ai_mode: "drafts" })
      }))
  })

  layer(options(true), { excludeTestServices: true })("writes on", (it) => {
    it.effect("matrix: own / X-Tenant / workspace_id (query, body) × allowed / other IP", () => matrix(true))
  })
})

layer(H.layer(), { excludeTestServices: true })("workspace_id as a tenant selector", (it) => {
  it.effect("has X-Tenant's rules: bad ids 400, others' tenants 403, unknown 404, conflicting selectors 400", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      const settings = "/api/v1/companion/settings"
      const get = (query: string, token: string, extra: Record<string, string> = {}) =>
        s.raw(`${settings}${query}`, { headers: H.auth(token, extra) })
      expect((yield* get("?workspace_id=acme", H.tokens.admin)).json.tenant_id).toBe("acme")
      expect((yield* get("?workspace_id=default", H.tokens.viewer)).json.tenant_id).toBe("default")
      expect((yield* get("?workspace_id=", H.tokens.viewer)).json.tenant_id).toBe("default")
      H.expectError(yield* get("?workspace_id=acme", H.tokens.viewer), 403, "tenant.mismatch")
      H.expectError(yield* get("?workspace_id=..%2Fetc", H.tokens.admin), 400, "validation.tenant_selector")
      H.expectError(
        yield* get("?workspace_id=acme&workspace_id=acme", H.tokens.admin),
        400,
        "validation.tenant_selector"
      )
      H.expectError(yield* get("?workspace_id=nobody", H.tokens.admin), 404, "not_found")
      const conflicting = yield* get("?workspace_id=acme", H.tokens.admin, { "x-tenant": "default" })
      expect(H.expectError(conflicting, 400, "validation.tenant_selector").details).toMatchObject({
        selectors: [{ source: "X-Tenant", tenant: "default" }, { source: "workspace_id", tenant: "acme" }]
      })
      // in a body: taken out before the route's schema (which refuses unknown fields) sees it
      const put = yield* s.raw(
        settings,
        H.json("PUT", H.tokens.acmeOwner, { workspace_id: "acme", extensions: { "x.y": 1 } })
      )
      expect([put.status, put.json.tenant_id]).toStrictEqual([200, "acme"])
      expect((yield* H.settingsRow("acme"))!.extensions).toStrictEqual({ "x.y": 1 })
      H.expectError(
        yield* s.raw(settings, H.json("PUT", H.tokens.acmeOwner, { workspace_id: "default", ai_mode: "drafts" })),
        403,
        "tenant.mismatch"
      )
      H.expectError(
        yield* s.raw(settings, H.json("PUT", H.tokens.admin, { workspace_id: 7, ai_mode: "drafts" })),
        400,
        "validation.tenant_selector"
      )
      expect(yield* H.settingsRow("default")).toMatchObject({ ai_mode: "suggest_only" })
    }))
})

layer(H.layer({ http: { tenantStrict: true } }), { excludeTestServices: true })("workspace_id in strict mode", (it) => {
  it.effect("names the tenant as X-Tenant does", () =>
    Effect.gen(function*() {
      const s = yield* H.TestServer
      H.expectError(
        yield* s.raw("/api/v1/companion/settings", { headers: H.auth(H.tokens.viewer) }),
        400,
        "tenant.missing"
      )
      const r = yield* s.raw("/api/v1/companion/settings?workspace_id=default", { headers: H.auth(H.tokens.viewer) })
      expect(r.status).toBe(200)
    }))
})

import { Auth, HttpConfig, Metrics, Server } from "@airlock/adapters-http"
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Metric, MetricBoundaries } from "effect"
import { jsonDepthExceeds } from "../src/internal/body.js"
import { clientIp, makeIpMatcher, normalizeIp } from "../src/internal/ip.js"
import { makeRouteTable } from "../src/internal/routes.js"

describe("addresses", () => {
  it("normalises IPv4-mapped and bracketed forms; rejects junk", () => {
    expect(normalizeIp("::ffff:10.1.2.3")).toBe("10.1.2.3")
    expect(normalizeIp("[::1]")).toBe("::1")
    expect(normalizeIp("fe80::1%eth0")).toBe("fe80::1")
    expect(normalizeIp("10.1.2")).toBeNull()
    expect(normalizeIp("example.com")).toBeNull()
  })
  it("matches exact addresses and CIDR ranges, v4 and v6; bad entries throw", () => {
    const m = makeIpMatcher(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])
    expect(["10.255.0.1", "192.0.2.7", "2001:db8::5"].map(m.has)).toStrictEqual([true, true, true])
    expect(["11.0.0.1", "192.0.2.8", "2001:db9::1", null].map(m.has)).toStrictEqual([false, false, false, false])
    for (const bad of ["10.0.0.0/33", "nope", "1.2.3.4/8/9", "::/129"])
      expect(() => makeIpMatcher([bad]), bad).toThrow()
  })
  it("believes X-Forwarded-For only through trusted proxies, right to left", () => {
    const trusted = makeIpMatcher(["127.0.0.1", "10.0.0.0/8"])
    expect(clientIp("127.0.0.1", "203.0.113.5", trusted)).toBe("203.0.113.5")
    expect(clientIp("127.0.0.1", "203.0.113.5, 10.0.0.2", trusted)).toBe("203.0.113.5")
    expect(clientIp("127.0.0.1", "1.1.1.1, 203.0.113.5", trusted)).toBe("203.0.113.5")
    expect(clientIp("198.51.100.1", "203.0.113.5", trusted)).toBe("198.51.100.1")
    expect(clientIp("127.0.0.1", "garbage", trusted)).toBeNull()
    expect(clientIp("127.0.0.1", "203.0.113.5", makeIpMatcher([]))).toBe("127.0.0.1")
  })
})

describe("route templates", () => {
  const table = makeRouteTable([["GET", "/items/:id"], ["GET", "/items/special"], ["POST", "/export/:batch.csv"], [
    "GET",
    "/healthz"
  ]])
  it("labels requests with their template, the most specific first, as the router normalises paths", () => {
    expect(table.match("GET", "/items/42?x=1")).toBe("/items/:id")
    expect(table.match("GET", "/items/special")).toBe("/items/special")
    expect(table.match("GET", "/ITEMS/special/")).toBe("/items/special")
    expect(table.match("HEAD", "//healthz")).toBe("/healthz")
    expect(table.match("POST", "/export/b1.csv")).toBe("/export/:batch.csv")
    expect(table.match("POST", "/export/b1.json")).toBe("unmatched")
    expect(table.match("GET", `/items/${"x".repeat(101)}`)).toBe("unmatched")
    expect(table.match("DELETE", "/items/1")).toBe("unmatched")
    expect(table.match("GET", "/items/%ZZ")).toBe("unmatched")
  })
})

describe("JSON depth", () => {
  it("counts nesting outside strings only", () => {
    expect(jsonDepthExceeds("[[[]]]", 3)).toBe(false)
    expect(jsonDepthExceeds("[[[[]]]]", 3)).toBe(true)
    expect(jsonDepthExceeds(JSON.stringify({ a: "[[[[[[[[" }), 2)).toBe(false)
    expect(jsonDepthExceeds(JSON.stringify({ a: '\\"[[[[' }), 2)).toBe(false)
  })
})

describe("Prometheus rendering", () => {
  it("renders counters, gauges and cumulative histograms with escaped labels", () => {
    const counter = Metric.counter("test_render_total", { description: "a counter" }).pipe(
      Metric.tagged("path", 'a"b\\c')
    )
    const gauge = Metric.gauge("test.render-gauge")
    const histogram = Metric.histogram("test_render_seconds", MetricBoundaries.fromIterable([0.1, 1]))
    counter.unsafeUpdate(2, [])
    gauge.unsafeUpdate(1.5, [])
    histogram.unsafeUpdate(0.05, [])
    histogram.unsafeUpdate(0.5, [])
    histogram.unsafeUpdate(5, [])
    const text = Metrics.prometheus()
    expect(text).toContain(
      '# HELP test_render_total a counter\n# TYPE test_render_total counter\ntest_render_total{path="a\\"b\\\\c"} 2\n'
    )
    expect(text).toContain("# TYPE test_render_gauge gauge\ntest_render_gauge 1.5\n")
    expect(text).toContain(
      '# TYPE test_render_seconds histogram\ntest_render_seconds_bucket{le="0.1"} 1\ntest_render_seconds_bucket{le="1"} 2\ntest_render_seconds_bucket{le="+Inf"} 3\ntest_render_seconds_sum 5.55\ntest_render_seconds_count 3\n'
    )
  })
})

describe("HttpConfig from the environment", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(
      Effect.either(
        HttpConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
      )
    )
  it("defaults to production: admin writes off unless enabled", () => {
    expect(read({})).toStrictEqual(Either.right(HttpConfig.defaults("production")))
    expect(Either.getOrThrow(read({})).adminWriteEnabled).toBe(false)
    expect(Either.getOrThrow(read({ AIRLOCK_ENV: "development" })).adminWriteEnabled).toBe(true)
    expect(
      Either.getOrThrow(read({ AIRLOCK_ENV: "production", AIRLOCK_ADMIN_WRITE_ENABLED: "true" })).adminWriteEnabled
    ).toBe(true)
  })
  it("reads the runbook switches and lists", () => {
    const s = Either.getOrThrow(read({
      AIRLOCK_TENANT_STRICT: "1",
      AIRLOCK_ADMIN_IP_ALLOWLIST: " 10.0.0.0/8, 192.0.2.7 ",
      AIRLOCK_HTTP_MAX_BODY_BYTES: "2048",
      AIRLOCK_SHUTDOWN_TIMEOUT_SECONDS: "1.5"
    }))
    expect([s.tenantStrict, s.adminIpAllowlist, s.maxBodyBytes, s.shutdownTimeoutMillis]).toStrictEqual([
      true,
      ["10.0.0.0/8", "192.0.2.7"],
      2048,
      1500
    ])
  })
  it("refuses bad values at start", () => {
    const bad: ReadonlyArray<Record<string, string>> = [
      { AIRLOCK_ENV: "staging" },
      { AIRLOCK_ADMIN_IP_ALLOWLIST: "10.0.0.0/99" },
      { AIRLOCK_TRUSTED_PROXIES: "proxy.local" },
      { AIRLOCK_HTTP_MAX_BODY_BYTES: "0" },
      { AIRLOCK_TENANT_STRICT: "maybe" }
    ]
    for (const env of bad) {
      expect(Either.isLeft(read(env)), JSON.stringify(env)).toBe(true)
    }
    expect(() => HttpConfig.layer({ adminIpAllowlist: ["not an ip"] })).toThrow()
  })
})

describe("admin routes are always guarded", () => {
  it("the API has no admin path without the admin middleware; a mistake is found", () => {
    expect(Server.unguardedAdminRoutes()).toStrictEqual([])
    const mistaken = HttpApi.make("x").add(
      HttpApiGroup.make("ops")
        .add(HttpApiEndpoint.post("start", "/api/admin/control/run/start"))
        .add(HttpApiEndpoint.get("ok", "/api/admin/fine"))
        .middleware(Auth.Authenticated)
    ).add(HttpApiGroup.make("guarded").add(HttpApiEndpoint.get("s", "/api/admin/x")).middleware(Auth.Admin))
    expect(Server.unguardedAdminRoutes(mistaken)).toStrictEqual([
      "POST /api/admin/control/run/start",
      "GET /api/admin/fine"
    ])
  })
})

import { AlertWebhook, Digest, KpiAlerts, KpiConfig, KpiRollups, KpiStore } from "@airlock/ops"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"

describe("KPI math", () => {
  it("percentages are exact ratios rendered half up; n/a over zero", () => {
    expect(KpiRollups.percentText(2, 3)).toBe("66.67%")
    expect(KpiRollups.percentText(1, 3)).toBe("33.33%")
    expect(KpiRollups.percentText(1, 8)).toBe("12.50%")
    expect(KpiRollups.percentText(1, 200_000)).toBe("0.00%")
    expect(KpiRollups.percentText(1, 20_000)).toBe("0.01%")
    expect(KpiRollups.percentText(5, 5)).toBe("100.00%")
    expect(KpiRollups.percentText(0, 0)).toBe("n/a")
  })

  it("dates: real calendar days only; ISO weeks start on Monday", () => {
    expect(KpiRollups.parseDay("2024-02-29")).toBe(19_782)
    expect(KpiRollups.parseDay("2023-02-29")).toBeNull()
    expect(KpiRollups.parseDay("2024-2-1")).toBeNull()
    const monday = KpiRollups.parseDay("2030-03-04")!
    for (let d = 0; d < 7; d++) expect(Digest.weekStart(monday + d)).toBe(monday)
    expect(Digest.weekStart(monday - 1)).toBe(monday - 7)
    // years before 1 AD keep four digits (the week of 0000-01-01 starts on Monday -0001-12-27)
    const yearZero = KpiRollups.parseDay("0000-01-01")!
    expect(KpiRollups.dayText(yearZero)).toBe("0000-01-01")
    expect(KpiRollups.dayText(Digest.weekStart(yearZero))).toBe("-0001-12-27")
    expect(KpiRollups.dayText(KpiRollups.parseDay("9999-12-31")!)).toBe("9999-12-31")
  })

  it("a drop of exactly the threshold counts; D1 alerts need mature cohorts of minimum size", () => {
    const now = 10 * KpiRollups.DAY_MS + 1
    const rollup = (day: number, size: number, d1: number) =>
      new KpiStore.DailyRollup({
        tenant_id: "t",
        day: KpiRollups.dayText(day),
        day_index: day,
        steps: {},
        cohort_size: size,
        d1_retained: d1,
        d7_retained: 0,
        // counts taken now: a cohort is mature when its rollup was computed after its window
        computed_at: now
      })
    const settings = {
      rates: KpiConfig.DEFAULT_RATES,
      alertRates: [],
      alertWarningDropPercent: 20,
      alertCriticalDropPercent: 40,
      retentionMinCohort: 10
    }
    // cohorts of days 0..7 at 50 %; day 8 at 30 % (drop exactly 40 %); day 9 at 0 % but immature
    const rows = [...Array.from({ length: 8 }, (_, d) => rollup(d, 10, 5)), rollup(8, 10, 3), rollup(9, 10, 0)]
    const report = KpiAlerts.evaluate("t", rows, settings, now)
    expect(report.alerts).toStrictEqual([
      expect.objectContaining({
        metric: "D1",
        severity: "critical",
        day: KpiRollups.dayText(8),
        drop_percent: "40.00%"
      })
    ])
    // the same drop on a cohort below the minimum size is ignored: the latest eligible day is 7
    const small = KpiAlerts.evaluate("t", [...rows.slice(0, 8), rollup(8, 9, 3)], settings, now)
    expect(small.alerts).toStrictEqual([])
    expect(small.checks.find((c) => c.metric === "D1")).toMatchObject({ status: "ok", day: KpiRollups.dayText(7) })
  })
})

describe("stored rollups", () => {
  it("a cohort is mature only when its rollup was computed after the window, however late it is read", () => {
    const stored = (computedAt: number) =>
      new KpiStore.DailyRollup({
        tenant_id: "t",
        day: KpiRollups.dayText(0),
        day_index: 0,
        steps: {},
        cohort_size: 10,
        d1_retained: 2,
        d7_retained: 1,
        computed_at: computedAt
      })
    const later = 30 * KpiRollups.DAY_MS
    // computed during day 1 (D1 window still open): the count is partial, n/a however late it is read
    expect(KpiRollups.retentionOf(stored(KpiRollups.DAY_MS + 5), 1, later, 3)).toMatchObject({
      mature: false,
      status: "immature",
      percent: "n/a"
    })
    // computed once day 1 was over: 2 of 10
    expect(KpiRollups.retentionOf(stored(2 * KpiRollups.DAY_MS), 1, later, 3)).toMatchObject({
      mature: true,
      status: "ok",
      percent: "20.00%"
    })
    // D7 of the same rollup is not settled until it is computed after day 7
    expect(KpiRollups.isSettled(stored(2 * KpiRollups.DAY_MS), 7, later)).toBe(false)
    expect(KpiRollups.isSettled(stored(8 * KpiRollups.DAY_MS), 7, later)).toBe(true)
  })
})

describe("webhook target policy", () => {
  const policy = {
    webhookAllowedHosts: ["hooks.example.com", "*.corp.example"],
    webhookAllowPrivateHosts: [],
    webhookAllowInsecureLocalhost: false
  }

  it("restricted addresses: private, loopback, link-local metadata, CGNAT, ULA, mapped forms", () => {
    for (
      const ip of [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
        "::ffff:a9fe:a9fe",
        "ff02::1"
      ]
    ) {
      expect(AlertWebhook.restrictedAddress(ip), ip).not.toBeNull()
    }
    for (const ip of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"]) {
      expect(AlertWebhook.restrictedAddress(ip), ip).toBeNull()
    }
  })

  it("URLs: https to an allowlisted host only; no credentials, metadata names or private literals", () => {
    const code = (url: string, p: Partial<typeof policy> = {}) =>
      Either.match(AlertWebhook.checkUrl(url, { ...policy, ...p }), { onLeft: (e) => e.code, onRight: () => "ok" })
    expect(code("https://hooks.example.com/x")).toBe("ok")
    expect(code("https://a.corp.example/x")).toBe("ok")
    expect(code("https://corp.example/x")).toBe("kpi.webhook_host_denied")
    expect(code("https://evil.example.com/x")).toBe("kpi.webhook_host_denied")
    expect(code("http://hooks.example.com/x")).toBe("kpi.webhook_insecure")
    expect(code("https://user:pw@hooks.example.com/x")).toBe("kpi.webhook_url_invalid")
    expect(code("https://metadata.google.internal/x", { webhookAllowedHosts: ["metadata.google.internal"] })).toBe(
      "kpi.webhook_host_denied"
    )
    expect(code("https://169.254.169.254/x", { webhookAllowedHosts: ["169.254.169.254"] })).toBe(
      "kpi.webhook_address_denied"
    )
    expect(code("http://127.0.0.1:9/x")).toBe("kpi.webhook_insecure")
    expect(code("http://127.0.0.1:9/x", { webhookAllowInsecureLocalhost: true })).toBe("ok")
    expect(code("not a url")).toBe("kpi.webhook_url_invalid")
  })

  it("signatures: HMAC over `<t>.<body>`, refused when altered or stale", () => {
    const header = AlertWebhook.signature("s3cret", 1_700_000_000, '{"a":1}')
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/)
    expect(AlertWebhook.verifySignature("s3cret", header, '{"a":1}', 1_700_000_100)).toBe(true)
    expect(AlertWebhook.verifySignature("s3cret", header, '{"a":2}', 1_700_000_100)).toBe(false)
    expect(AlertWebhook.verifySignature("other", header, '{"a":1}', 1_700_000_100)).toBe(false)
    expect(AlertWebhook.verifySignature("s3cret", header, '{"a":1}', 1_700_000_301)).toBe(false)
  })
})

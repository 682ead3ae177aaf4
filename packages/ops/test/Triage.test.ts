import { OutageClass, RunControl, Triage } from "@airlock/ops"
import { describe, expect, it } from "@effect/vitest"

const classify = (error: string | null, log: ReadonlyArray<string> = [], failure_reason: string | null = "error") =>
  Triage.classify({ error, log, failure_reason })

describe("failure triage heuristics", () => {
  it("each category, with the evidence lines that decided it", () => {
    expect(classify("Monthly execution budget exceeded (exec.budget.exceeded)")).toMatchObject({ category: "budget" })
    expect(classify("409 approval_required for plan abc")).toMatchObject({ category: "approval" })
    expect(classify("FATAL ERROR: Reached heap limit - JavaScript heap out of memory")).toMatchObject({
      category: "out_of_memory"
    })
    expect(classify("container exited with exit code 137 (OOMKilled)")).toMatchObject({ category: "out_of_memory" })
    expect(classify("request failed: 403 Forbidden")).toMatchObject({ category: "auth", outage_class: null })
    expect(classify("password authentication failed for user etl")).toMatchObject({ category: "auth" })
    expect(classify('relation "orders" does not exist')).toMatchObject({ category: "input" })
    expect(classify("KeyError: 'customer_id'")).toMatchObject({ category: "input" })
    expect(classify("query exceeded deadline exceeded after 3600s")).toMatchObject({ category: "timeout" })
    expect(classify("job did its best", ["step 1", "???"])).toMatchObject({ category: "unknown", rule: "none" })
  })

  it("dependency outages carry the assistant runbook's outage class", () => {
    expect(classify("getaddrinfo ENOTFOUND warehouse.internal")).toMatchObject({
      category: "dependency_unavailable",
      outage_class: "dns_resolution",
      evidence: ["getaddrinfo ENOTFOUND warehouse.internal"]
    })
    expect(classify("connect ECONNREFUSED 10.0.0.7:5432")).toMatchObject({ outage_class: "network_unreachable" })
    expect(classify("connect ETIMEDOUT 10.0.0.7:443")).toMatchObject({ outage_class: "timeout" })
    expect(classify("upstream answered 503 Service Unavailable")).toMatchObject({
      outage_class: "provider_unavailable"
    })
  })

  it("the outage classes are the doctor's: every error code and status it classifies reads the same in triage", () => {
    expect(Triage.OutageClass).toBe(OutageClass.OutageClass)
    const codes = [
      "ENOTFOUND",
      "EAI_AGAIN",
      "EAI_NONAME",
      "EAI_FAIL",
      "EAI_NODATA",
      "ETIMEDOUT",
      "ESOCKETTIMEDOUT",
      "UND_ERR_CONNECT_TIMEOUT",
      "UND_ERR_HEADERS_TIMEOUT",
      "ECONNREFUSED",
      "ECONNRESET",
      "EHOSTUNREACH",
      "ENETUNREACH"
    ]
    for (const code of codes) {
      const c = classify(`request to warehouse failed, reason: connect ${code} 10.0.0.7:443`)
      expect([code, c.category, c.outage_class]).toStrictEqual([
        code,
        "dependency_unavailable",
        OutageClass.fromErrorCode(code)
      ])
      expect(OutageClass.fromText(code)).toBe(OutageClass.fromErrorCode(code))
    }
    for (const status of [500, 502, 503, 429]) {
      expect(classify(`upstream answered ${status}`).outage_class).toBe(OutageClass.fromHttpStatus(status))
    }
    // a plain timeout is the job's own, not a dependency's
    expect(classify("step exceeded its timeout")).toMatchObject({ category: "timeout", outage_class: null })
    expect(OutageClass.fromText("step exceeded its timeout")).toBeNull()
  })

  it("reads the error first, then the log newest first; at most five evidence lines", () => {
    const log = Array.from({ length: 8 }, (_, i) => `retry ${i}: connection refused`)
    const c = classify("sync failed", log)
    expect(c.category).toBe("dependency_unavailable")
    expect(c.evidence).toStrictEqual(log.slice(3).reverse())
    expect(c.summary).toBe("A dependency is unavailable (network_unreachable): retry 7: connection refused")
    // a stale execution has no error line of its own: the reconcile's reason is the evidence
    expect(classify(null, [], "stale")).toMatchObject({ category: "timeout", rule: "timeout" })
  })
})

describe("run phase", () => {
  it("idle without an open run; running when active and not paused; paused otherwise", () => {
    const open = { run_id: "r" } as any
    expect(RunControl.phaseOf(null, true, false)).toBe("idle")
    expect(RunControl.phaseOf(open, true, false)).toBe("running")
    expect(RunControl.phaseOf(open, true, true)).toBe("paused")
    expect(RunControl.phaseOf(open, false, true)).toBe("paused")
  })
})

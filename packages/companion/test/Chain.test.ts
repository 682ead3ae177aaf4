import type { AgentMemory } from "@airlock/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { CategorizeInput, StageResult } from "../src/Categorizer.js"
import * as Chain from "../src/Chain.js"
import * as LlmStage from "../src/LlmStage.js"
import * as VendorMemoryStage from "../src/VendorMemoryStage.js"

const input: Omit<CategorizeInput, "previous"> = {
  tenant_id: "t1",
  transaction: { amount_minor: -2_900n, account_code: "1000" } as never,
  accounts: [
    { code: "6100", active: true },
    { code: "6200", active: true }
  ] as never,
  vendor_key: "mailchimp"
}

/** The classifier, trained on the vendor's old account: confident in 6200. */
const classifier: StageResult = {
  stage: "classifier",
  outcome: "candidates",
  splits: [{ account_code: "6200", amount_minor: 2_900n }],
  confidence: 0.93,
  candidates: [{ account_code: "6200", score: 0.93 }, { account_code: "6100", score: 0.05 }],
  rationale: "Classifier ranks 6200 first",
  reason: null,
  questions: [],
  details: {}
}

const label = (account: string, count: number): AgentMemory.MemoryItem =>
  ({
    uid: `mem_${account}`,
    reinforced_count: count,
    last_confirmed_at: 10,
    status: "active",
    value: { account_code: account }
  }) as never

/** Vendor memory's facts after a person relabelled the vendor from 6200 to 6100 (`labels` new labels). */
const relabelled = (labels: number, from: string | null = "6200"): VendorMemoryStage.VendorFacts => ({
  vendor_key: "mailchimp",
  label: label("6100", labels),
  account_code: "6100",
  labels,
  pending: 0,
  rejection: null,
  relabelled_from: from
})

const memory = (facts: VendorMemoryStage.VendorFacts) =>
  Effect.runSync(VendorMemoryStage.make(facts, 3).run({ ...input, previous: [] }))

describe("Chain.combine", () => {
  it("the most confident candidate answer wins when none is authoritative", () => {
    const m = memory(relabelled(1, null))
    expect(m.authoritative).toBeUndefined()
    const r = Chain.combine([m, classifier], input, { vendor_history: [] })
    expect([r.deciding_stage, r.splits.map((s) => s.account_code), r.confidence]).toStrictEqual([
      "classifier",
      ["6200"],
      0.93
    ])
  })

  it("a person's relabel is followed from the first label: the classifier does not outvote it", () => {
    const m = memory(relabelled(1))
    expect(m).toMatchObject({
      outcome: "candidates",
      reason: "vendor.cold_start",
      confidence: 0.5,
      authoritative: true,
      details: { relabelled_from: "6200", cold_start: true }
    })
    const r = Chain.combine([m, classifier], input, { vendor_history: [] })
    expect([r.deciding_stage, r.splits.map((s) => s.account_code), r.confidence]).toStrictEqual([
      "vendor_memory",
      ["6100"],
      0.5
    ])
    expect(r.rationale).toContain("relabelled from 6200 by a person")
    expect(r.questions).toContain(
      "“mailchimp” was relabelled from 6200 to 6100 by a person (1 of 3 labels): is 6100 right?"
    )
    // the classifier's answer is still in provenance
    expect(r.results.map((x) => x.stage)).toStrictEqual(["vendor_memory", "classifier"])
  })

  it("the flag is read from the stage result, not the stage's name: a host's stage may carry it", () => {
    const host: StageResult = { ...classifier, stage: "host_policy", confidence: 0.2, authoritative: true }
    const r = Chain.combine([classifier, host], input, { vendor_history: [] })
    expect(r.deciding_stage).toBe("host_policy")
    // a decided answer still wins over an authoritative candidate
    const decided: StageResult = { ...classifier, stage: "rules", outcome: "decided", confidence: 1 }
    expect(Chain.combine([decided, host], input, { vendor_history: [] }).deciding_stage).toBe("rules")
    // an abstain marked authoritative is ignored
    const silent: StageResult = { ...host, outcome: "abstain", splits: [], authoritative: true }
    expect(Chain.combine([silent, classifier], input, { vendor_history: [] }).deciding_stage).toBe("classifier")
  })

  it("a relabel stops being authoritative once it decides, or when a rejection disputes it", () => {
    const decided = memory(relabelled(3))
    expect([decided.outcome, decided.authoritative, decided.questions]).toStrictEqual(["decided", undefined, []])
    const rejection = { uid: "mem_rej", reinforced_count: 1, last_confirmed_at: 20 } as never
    const disputed = memory({ ...relabelled(1), rejection })
    expect([disputed.reason, disputed.authoritative]).toStrictEqual(["vendor.disputed", undefined])
    expect(Chain.combine([disputed, classifier], input, { vendor_history: [] }).deciding_stage).toBe("classifier")
  })
})

describe("LlmStage.shouldCall", () => {
  it("the model is not asked when a person's relabel stands: the chain would not follow it", () => {
    const m = memory(relabelled(1))
    const unsure = { ...classifier, confidence: 0.3 }
    expect(LlmStage.shouldCall([{ ...m, authoritative: undefined }, unsure], 0.6)).toBe(true)
    expect(LlmStage.shouldCall([m, unsure], 0.6)).toBe(false)
  })
})

import type { AgentMemory } from "@airlock/core"
import { BankTransaction, Chart } from "@airlock/ledger"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Categorizer from "../src/Categorizer.js"
import type { CategorizeInput, CategorizerStage, StageResult } from "../src/Categorizer.js"
import { abstain, wholeAmount } from "../src/Categorizer.js"
import * as Chain from "../src/Chain.js"
import * as LlmStage from "../src/LlmStage.js"
import * as VendorMemoryStage from "../src/VendorMemoryStage.js"

const input: Omit<CategorizeInput, "previous"> = {
  tenant_id: "t1",
  transaction: { amount_minor: -2_900n, account_code: "1000" } as never,
  accounts: [
    { code: "6000", active: true },
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

/** A memory item as the store holds it (only the fields the stage reads). */
const item = (fields: Partial<AgentMemory.MemoryItem>): AgentMemory.MemoryItem =>
  ({
    status: "active",
    valid_from: 0,
    valid_to: null,
    expired_at: null,
    accepted_at: 1,
    recorded_at: 1,
    reinforced_count: 1,
    last_confirmed_at: 1,
    subject: null,
    predicate: null,
    ...fields
  }) as never

const rejectionFact = (account: string, at: number, count = 1) =>
  item({
    uid: `mem_rej_${account}`,
    thread_id: "vendor:coffee with prospect",
    kind: VendorMemoryStage.REJECTION_KIND,
    subject: `account:${account}`,
    predicate: "rejected",
    value: true,
    reinforced_count: count,
    last_confirmed_at: at,
    accepted_at: at,
    recorded_at: at
  })

const reasonNote = (account: string, at: number, reason: string, direction?: "inflow" | "outflow") =>
  item({
    uid: `mem_note_${at}`,
    thread_id: "vendor:coffee with prospect",
    kind: VendorMemoryStage.REJECTION_NOTE_KIND,
    value: { account_code: account, reason, proposal_id: `act_${at}`, ...(direction ? { direction } : {}) },
    accepted_at: at,
    recorded_at: at,
    last_confirmed_at: at
  })

const labelFact = (account: string, at: number, status: "active" | "superseded" = "active") =>
  item({
    uid: `mem_label_${account}_${at}`,
    thread_id: "vendor:coffee with prospect",
    kind: VendorMemoryStage.LABEL_KIND,
    subject: "vendor",
    predicate: "account",
    value: { account_code: account },
    last_confirmed_at: at,
    accepted_at: at,
    recorded_at: at,
    ...(status === "superseded" ? { status, expired_at: at + 1 } : {})
  })

/** A store holding `items` (the two reads the stage makes: by key, and a thread's items of a kind). */
const storeOf = (items: ReadonlyArray<AgentMemory.MemoryItem>) =>
  ({
    itemsByKey: (_tenant: string, key: AgentMemory.MemoryKey) =>
      Effect.succeed(
        items.filter((i) => i.thread_id === key.thread_id && i.subject === key.subject && i.predicate === key.predicate)
      ),
    listItems: (_tenant: string, q: AgentMemory.ItemQuery) =>
      Effect.succeed(
        items.filter((i) =>
          i.thread_id === q.thread_id && i.kind === q.kind && (q.status === undefined || i.status === q.status) &&
          (q.after === undefined || i.uid > q.after)
        ).slice(0, q.limit)
      )
  }) as never

const read = (items: ReadonlyArray<AgentMemory.MemoryItem>) =>
  Effect.runSync(VendorMemoryStage.read(storeOf(items), "t1" as never, "coffee with prospect", 100))

const coffee: Omit<CategorizeInput, "previous"> = { ...input, vendor_key: "coffee with prospect" }

/** The classifier, sure of the account the person rejected. */
const sure6000: StageResult = {
  ...classifier,
  splits: [{ account_code: "6000", amount_minor: 2_900n }],
  confidence: 0.9,
  candidates: [{ account_code: "6000", score: 0.9 }, { account_code: "6200", score: 0.07 }, {
    account_code: "6100",
    score: 0.03
  }],
  rationale: "Classifier ranks 6000 first"
}

const memoryOn = (facts: VendorMemoryStage.VendorFacts) =>
  Effect.runSync(VendorMemoryStage.make(facts, 3).run({ ...coffee, previous: [] }))

describe("a person's rejection teaches the next proposal", () => {
  it("vendor memory reads a rejection of a vendor with no label: account, count, the newest reason, memory uids", () => {
    const facts = read([
      rejectionFact("6000", 20, 2),
      reasonNote("6000", 10, "first reason"),
      reasonNote("6000", 20, "Coffee with a prospect is a meal, not marketing")
    ])
    expect([facts.label, facts.rejection, facts.rejected?.map((x) => [x.account_code, x.item.uid, x.note?.uid])])
      .toStrictEqual([null, null, [["6000", "mem_rej_6000", "mem_note_20"]]])
    const m = memoryOn(facts)
    expect(m).toMatchObject({
      outcome: "abstain",
      reason: "vendor.unknown",
      rejected: [{ account_code: "6000", rejections: 2, reason: "Coffee with a prospect is a meal, not marketing" }],
      details: {
        memory_uids: ["mem_rej_6000", "mem_note_20"],
        rejected: [{ account_code: "6000", rejections: 2, memory_uid: "mem_rej_6000", note_uid: "mem_note_20" }]
      }
    })
    expect(m.rationale).toBe(
      "New vendor “coffee with prospect”: no label yet; a person rejected 6000 (2 times: “Coffee with a prospect is a meal, not marketing”) for it"
    )
  })

  it("the chain demotes the rejected account: the classifier's next candidate is proposed", () => {
    const m = memoryOn(read([rejectionFact("6000", 20), reasonNote("6000", 20, "not marketing")]))
    const r = Chain.combine([m, sure6000], coffee, { vendor_history: [] })
    expect([r.deciding_stage, r.splits.map((s) => [s.account_code, s.amount_minor]), r.confidence, r.rejected])
      .toStrictEqual(["classifier", [["6200", 2_900n]], 0.07, []])
    expect(r.candidates.map((c) => c.account_code)).toStrictEqual(["6200", "6100"])
    expect(r.rationale).toContain("classifier → 6200 (its first answer 6000 was rejected by a person)")
    expect(r.questions.some((q) => q.includes("was rejected"))).toBe(false)
    // the classifier's own result stays in provenance as it answered
    expect(r.results[1]!.splits.map((s) => s.account_code)).toStrictEqual(["6000"])
    // without the rejection, 6000 again
    expect(Chain.combine([memoryOn(read([])), sure6000], coffee, { vendor_history: [] }).splits[0]!.account_code)
      .toBe("6000")
  })

  it("another stage's answer that avoids the rejected account outranks it", () => {
    const m = memoryOn(read([rejectionFact("6000", 20)]))
    const other: StageResult = {
      ...classifier,
      stage: "host_stage",
      splits: [{ account_code: "6100", amount_minor: 2_900n }],
      confidence: 0.4,
      candidates: [{ account_code: "6100", score: 0.4 }]
    }
    const onlyRejected: StageResult = { ...sure6000, candidates: [{ account_code: "6000", score: 0.9 }] }
    const r = Chain.combine([m, onlyRejected, other], coffee, { vendor_history: [] })
    expect([r.deciding_stage, r.splits[0]!.account_code, r.rejected]).toStrictEqual(["host_stage", "6100", []])
  })

  it("when the chain still ends on the rejected account it asks, naming the rejection and its reason", () => {
    const m = memoryOn(read([rejectionFact("6000", 20), reasonNote("6000", 20, "not marketing")]))
    const onlyRejected: StageResult = { ...sure6000, candidates: [{ account_code: "6000", score: 0.9 }] }
    const r = Chain.combine([m, onlyRejected], coffee, { vendor_history: [] })
    expect([r.deciding_stage, r.splits[0]!.account_code, r.rejected]).toStrictEqual([
      "classifier",
      "6000",
      [{ account_code: "6000", rejections: 1, reason: "not marketing" }]
    ])
    expect(r.questions).toContain(
      "Account 6000 was rejected for “coffee with prospect” by a person (1 time: “not marketing”): is it right this time?"
    )
    expect(r.rationale).toContain("classifier → 6000 (rejected by a person before: 6000)")
    // a decided answer (a tenant rule) still stands, and is flagged the same way
    const rule: StageResult = { ...onlyRejected, stage: "rules", outcome: "decided", confidence: 1 }
    const ruled = Chain.combine([rule, m], coffee, { vendor_history: [] })
    expect([ruled.deciding_stage, ruled.rejected.map((x) => x.account_code)]).toStrictEqual(["rules", ["6000"]])
    // vendor memory did not run after the rule decided: the caller's context carries the rejection
    const notRun = { ...m, outcome: "skipped" as const }
    const bare = Chain.combine([rule, notRun], coffee, { vendor_history: [] })
    expect(bare.rejected).toStrictEqual([])
    const told = Chain.combine([rule, notRun], coffee, {
      vendor_history: [],
      rejected: VendorMemoryStage.rejectedOf(
        read([rejectionFact("6000", 20), reasonNote("6000", 20, "not marketing")]),
        "outflow"
      )
    })
    expect([told.deciding_stage, told.rejected.map((x) => [x.account_code, x.reason])]).toStrictEqual([
      "rules",
      [["6000", "not marketing"]]
    ])
    expect(told.questions.filter((q) => q.includes("was rejected"))).toHaveLength(1)
  })

  it("the rejection is read from any stage's result but a skipped one's: a host's stage may report it", () => {
    const host: StageResult = {
      stage: "host_memory",
      outcome: "abstain",
      splits: [],
      confidence: 0,
      candidates: [],
      rationale: "",
      reason: null,
      questions: [],
      details: {},
      rejected: [{ account_code: "6000", rejections: 1, reason: null }]
    }
    expect(Chain.combine([host, sure6000], coffee, { vendor_history: [] }).splits[0]!.account_code).toBe("6200")
    const notRun: StageResult = { ...host, outcome: "skipped" }
    expect(Chain.combine([notRun, sure6000], coffee, { vendor_history: [] }).splits[0]!.account_code).toBe("6000")
  })

  it("a person's later label of the rejected account supersedes the rejection; a label of another account does not", () => {
    const later = read([rejectionFact("6000", 20), labelFact("6000", 30)])
    expect([later.account_code, later.rejected, later.rejection?.uid]).toStrictEqual(["6000", [], "mem_rej_6000"])
    expect(memoryOn(later).rejected).toBeUndefined()
    // a label of 6000 from before the rejection does not: the vendor is disputed and 6000 still stands rejected
    const earlier = read([rejectionFact("6000", 20), labelFact("6000", 10)])
    expect([VendorMemoryStage.disputed(earlier), earlier.rejected?.map((x) => x.account_code)]).toStrictEqual([
      true,
      ["6000"]
    ])
    // nor does a label of another account: 6100 is the vendor's label, 6000 stays rejected
    const other = read([rejectionFact("6000", 20), labelFact("6100", 30)])
    expect([other.account_code, other.rejected?.map((x) => x.account_code)]).toStrictEqual(["6100", ["6000"]])
    // a label of 6000 confirmed after the rejection and superseded since still outweighs the rejection
    const relabelled = read([rejectionFact("6000", 20), labelFact("6000", 30, "superseded"), labelFact("6100", 40)])
    expect(relabelled.rejected).toStrictEqual([])
  })

  it("a rejection holds for the direction it was made on: a refund's rejection does not demote the purchases", () => {
    // the account was rejected on a refund (money in); the transaction at hand is a purchase (money out)
    const refund = read([rejectionFact("6000", 20), reasonNote("6000", 20, "a refund", "inflow")])
    expect(refund.rejected?.map((x) => [x.account_code, x.directions])).toStrictEqual([["6000", ["inflow"]]])
    expect(VendorMemoryStage.rejectedOf(refund, "outflow")).toStrictEqual([])
    expect(VendorMemoryStage.rejectedOf(refund, "inflow").map((x) => x.account_code)).toStrictEqual(["6000"])
    const m = memoryOn(refund)
    expect([m.rejected, m.details.memory_uids]).toStrictEqual([undefined, []])
    expect(Chain.combine([m, sure6000], coffee, { vendor_history: [] }).splits[0]!.account_code).toBe("6000")
    // rejected on a purchase: it holds
    const purchase = read([rejectionFact("6000", 20), reasonNote("6000", 20, "not marketing", "outflow")])
    expect(Chain.combine([memoryOn(purchase), sure6000], coffee, { vendor_history: [] }).splits[0]!.account_code)
      .toBe("6200")
    // a note without a direction (or none at all) holds for both
    expect(read([rejectionFact("6000", 20)]).rejected?.map((x) => x.directions)).toStrictEqual([null])
  })
})

/** A full chart and transaction, as the companion passes them (types, currencies, activity). */
const accountOf = (code: string, type: Chart.AccountType, more: Partial<Chart.Account> = {}) =>
  new Chart.Account({
    tenant_id: "t1",
    code,
    name: code,
    type,
    normal_balance: Chart.defaultNormalBalance(type),
    parent_code: null,
    currency: "USD",
    active: true,
    description: null,
    created_at: 0,
    updated_at: 0,
    ...more
  })

const chart = [
  accountOf("1000", "Asset"),
  accountOf("4000", "Income"),
  accountOf("6100", "Expense"),
  accountOf("6150", "Expense", { active: false }),
  accountOf("6500", "Expense", { currency: "EUR" }),
  accountOf("2100", "Liability")
]

const txnOf = (amount_minor: bigint) =>
  new BankTransaction.BankTransaction({
    tenant_id: "t1",
    id: "btx_1",
    account_code: "1000",
    date: "2024-10-03",
    description: "STAPLES #1234",
    amount_minor,
    currency: "USD",
    payee: null,
    memo: null,
    fit_id: null,
    fingerprint: "fp1",
    source_format: "csv",
    source_line: 2,
    imported_at: 0,
    imported_by: "someone"
  })

const full = (amount_minor: bigint): Omit<CategorizeInput, "previous"> => ({
  tenant_id: "t1",
  transaction: txnOf(amount_minor),
  accounts: chart,
  vendor_key: "staples"
})

/** A stage that answers `account` (the whole amount) with `outcome` at `confidence`. */
const answering = (
  name: string,
  account: string,
  confidence: number,
  outcome: "decided" | "candidates" = "candidates"
): CategorizerStage => ({
  name,
  run: (i) =>
    Effect.succeed({
      ...abstain(name, "x", `${name} says ${account}`),
      outcome,
      reason: null,
      splits: wholeAmount(i.transaction, account),
      confidence,
      candidates: [{ account_code: account, score: confidence }],
      details: { rule_id: `${name}_1` }
    })
})

describe("the chain uses only answers apply would accept", () => {
  const cases: ReadonlyArray<readonly [string, bigint, string, string]> = [
    ["an Income account for money out", -4_599n, "4000", "validation.account_type"],
    ["an Expense account for money in", 4_599n, "6100", "validation.account_type"],
    ["an inactive account", -4_599n, "6150", "validation.account_inactive"],
    ["an account kept in another currency", -4_599n, "6500", "validation.currency_mismatch"],
    ["the bank account itself", -4_599n, "1000", "validation.split_account"],
    ["an account not in the chart", -4_599n, "9999", "validation.account_unknown"]
  ]
  for (const [what, amount, account, code] of cases) {
    it(`${what}: the answer is recorded invalid (${code}) and the next usable answer wins`, () => {
      const i = full(amount)
      // the shared rule refuses it exactly as the ledger's apply does
      const direct = Categorizer.applyRule(i)(wholeAmount(i.transaction, account))
      expect(direct?.code).toBe(code)
      // a decided answer (a host's tenant rule) apply would refuse: later stages still run
      const next = amount < 0n ? "6100" : "4000"
      const results = Effect.runSync(
        Chain.run([answering("host_rule", account, 1, "decided"), answering("host_guess", next, 0.3)], i)
      )
      expect(results[0]).toMatchObject({
        stage: "host_rule",
        outcome: "abstain",
        reason: "chain.invalid_answer",
        splits: [],
        confidence: 0,
        details: {
          answer: [{ account_code: account, amount_minor: "4599" }],
          refused: { code },
          answered: { outcome: "decided", details: { rule_id: "host_rule_1" } }
        }
      })
      expect(results[0]!.rationale).toContain(code)
      expect(results[1]).toMatchObject({ outcome: "candidates", splits: [{ account_code: next }] })
      const r = Chain.combine(results, i, { vendor_history: [] })
      expect([r.deciding_stage, r.splits.map((s) => s.account_code), r.confidence]).toStrictEqual([
        "host_guess",
        [next],
        0.3
      ])
      // as a more confident candidate it is not used either; alone it leaves no answer
      const alone = Effect.runSync(Chain.run([answering("host_guess", account, 0.99)], i))
      expect(alone[0]).toMatchObject({ outcome: "abstain", reason: "chain.invalid_answer" })
      expect(Chain.combine(alone, i, { vendor_history: [] })).toMatchObject({ splits: [], deciding_stage: null })
    })
  }

  it("amounts apply would refuse: not adding up to the bank amount, or not positive", () => {
    const i = full(-4_599n)
    const rule = Categorizer.applyRule(i)
    expect(rule([{ account_code: "6100", amount_minor: 4_000n }])?.code).toBe("validation.split_sum")
    expect(rule([{ account_code: "6100", amount_minor: 4_600n }, { account_code: "2100", amount_minor: -1n }])?.code)
      .toBe("validation.amount_positive")
    expect(rule([{ account_code: "6100", amount_minor: 4_000n }, { account_code: "2100", amount_minor: 599n }]))
      .toBeNull()
    // the accepted answers are what the model is offered: one rule for both
    expect(LlmStage.targetAccounts(i).map((a) => a.code)).toStrictEqual(["6100", "2100"])
    expect(LlmStage.targetAccounts(full(4_599n)).map((a) => a.code)).toStrictEqual(["4000", "2100"])
  })
})

describe("a model called on a calibrated judgement is weighed on that scale", () => {
  /** The classifier: raw 0.85 on 6200, which the tenant's calibration maps to 0.49. */
  const raw85: StageResult = { ...classifier, confidence: 0.85, candidates: [{ account_code: "6200", score: 0.85 }] }
  const model = (judged: StageResult["judged_against"]): StageResult => ({
    ...classifier,
    stage: "host_model",
    splits: [{ account_code: "6100", amount_minor: 2_900n }],
    confidence: 0.5,
    candidates: [{ account_code: "6100", score: 0.5 }],
    rationale: "The model suggested 6100",
    ...(judged === undefined ? {} : { judged_against: judged })
  })
  const against = { stage: "classifier", raw_confidence: 0.85, calibrated_probability: 0.49 }

  it("the model's prior beats the calibrated probability of the answer it was called against", () => {
    const r = Chain.combine([raw85, model(against)], input, { vendor_history: [] })
    expect([r.deciding_stage, r.splits.map((s) => s.account_code), r.confidence]).toStrictEqual([
      "host_model",
      ["6100"],
      0.5
    ])
    expect(r.rationale).toContain(
      "Weighed on the calibrated scale: host_model's 0.5 beat classifier's calibrated 0.49 (raw 0.85)"
    )
    // without the basis, raw scores as before: the classifier wins
    expect(Chain.combine([raw85, model(undefined)], input, { vendor_history: [] }).deciding_stage).toBe("classifier")
  })

  it("a calibrated probability above the prior keeps the earlier answer, and says so", () => {
    const r = Chain.combine([raw85, model({ ...against, calibrated_probability: 0.55 })], input, {
      vendor_history: []
    })
    expect(r.deciding_stage).toBe("classifier")
    expect(r.rationale).toContain("host_model's 0.5 did not beat classifier's calibrated 0.55 (raw 0.85)")
  })

  it("the basis counts only against the answer it names; a decided or authoritative answer still wins", () => {
    // another answer is the best so far (not the one the model was judged against): raw comparison
    const other: StageResult = { ...raw85, stage: "host_stage", confidence: 0.7 }
    expect(Chain.combine([other, model(against)], input, { vendor_history: [] }).deciding_stage).toBe("host_stage")
    expect(
      Chain.combine([raw85, model({ ...against, raw_confidence: 0.8 })], input, { vendor_history: [] })
        .deciding_stage
    ).toBe("classifier")
    const decided: StageResult = { ...raw85, stage: "rules", outcome: "decided" }
    expect(Chain.combine([decided, model(against)], input, { vendor_history: [] }).deciding_stage).toBe("rules")
    const relabel = memory(relabelled(1))
    expect(Chain.combine([relabel, raw85, model(against)], input, { vendor_history: [] }).deciding_stage).toBe(
      "vendor_memory"
    )
  })
})

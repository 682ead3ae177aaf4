import { Classifier } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"

const ex = (
  description: string,
  account_code: string,
  amount_minor = -1_250n,
  direction: "inflow" | "outflow" = amount_minor < 0n ? "outflow" : "inflow",
  weight?: number
): Classifier.TrainingExample => ({
  description,
  amount_minor,
  direction,
  account_code,
  ...(weight === undefined ? {} : { weight })
})

const history: ReadonlyArray<Classifier.TrainingExample> = [
  ex("POS DEBIT 12/03 STARBUCKS #1234 SEATTLE WA", "6400", -575n),
  ex("STARBUCKS STORE 9921 PORTLAND OR", "6400", -640n),
  ex("SQ *BLUE BOTTLE COFFEE OAKLAND CA", "6400", -820n),
  ex("SHELL OIL 57444212 HOUSTON TX", "6500", -4_500n),
  ex("CHEVRON 0202011 DALLAS TX", "6500", -5_210n),
  ex("ADOBE *CREATIVE CLD 408-536-6000 CA", "6300", -5_499n),
  ex("DROPBOX*3NFHJD8K7LQ2 DB.TT/CCHELP CA", "6300", -1_199n),
  ex("STRIPE TRANSFER ST-8H2K1", "4000", 250_000n),
  ex("STRIPE TRANSFER ST-9J3L2", "4000", 310_500n),
  ex("ORIG CO NAME:GUSTO ORIG ID:98765 CO ENTRY DESCR:PAYROLL", "6000", -1_250_000n)
]

describe("Classifier", () => {
  it("an empty model gives every allowed code the same score, ties broken by code", () => {
    const c = Classifier.predict(Classifier.empty(), ex("ANYTHING", "x"), ["6400", "4000", "6500"])
    expect(c.map((x) => x.account_code)).toStrictEqual(["4000", "6400", "6500"])
    for (const x of c) expect(x.score).toBeCloseTo(1 / 3, 12)
    expect(Classifier.predict(Classifier.empty(), ex("ANYTHING", "x"))).toStrictEqual([])
  })

  it("learns vendors from their noisy strings and ranks the right account first", () => {
    const m = Classifier.train(Classifier.empty(), history)
    const top = (d: string, amount = -700n) => Classifier.predict(m, ex(d, "?", amount))[0]!
    expect(top("CHECKCARD 0312 STARBUCKS #77 SEATTLE WA").account_code).toBe("6400")
    expect(top("SHELL OIL 12874653001 AUSTIN TX", -4_800n).account_code).toBe("6500")
    expect(top("PAYPAL *ADOBE CREATIVE CLD", -5_499n).account_code).toBe("6300")
    expect(top("STRIPE TRANSFER ST-1A2B3", 199_000n).account_code).toBe("4000")
    expect(top("CHECKCARD 0312 STARBUCKS #77 SEATTLE WA").score).toBeGreaterThan(0.5)
  })

  it("scores sum to 1 over the allowed codes, best first; unseen allowed codes get a small score; others are absent", () => {
    const m = Classifier.train(Classifier.empty(), history)
    const allowed = ["6400", "6500", "9999"]
    const c = Classifier.predict(m, ex("STARBUCKS #1", "?"), allowed)
    expect(c.map((x) => x.account_code).sort()).toStrictEqual([...allowed].sort())
    expect(c.reduce((s, x) => s + x.score, 0)).toBeCloseTo(1, 12)
    expect(c[0]!.account_code).toBe("6400")
    for (let i = 1; i < c.length; i++) expect(c[i]!.score).toBeLessThanOrEqual(c[i - 1]!.score)
    expect(c.find((x) => x.account_code === "9999")!.score).toBeLessThan(0.05)
    const all = Classifier.predict(m, ex("STARBUCKS #1", "?"))
    expect(all.map((x) => x.account_code).sort()).toStrictEqual(["4000", "6000", "6300", "6400", "6500"])
  })

  it("direction and amount count: the same description in and out goes to different accounts", () => {
    const m = Classifier.train(Classifier.empty(), [
      ex("STRIPE", "4000", 120_000n),
      ex("STRIPE", "4000", 98_000n),
      ex("STRIPE", "6150", -3_500n),
      ex("STRIPE", "6150", -2_900n)
    ])
    expect(Classifier.predict(m, ex("STRIPE", "?", 101_000n))[0]!.account_code).toBe("4000")
    expect(Classifier.predict(m, ex("STRIPE", "?", -3_100n))[0]!.account_code).toBe("6150")
  })

  it("incremental: train(train(A), B) holds the same counts as train(A ∪ B); version counts the calls; input unchanged", () => {
    const e0 = Classifier.empty()
    const a = Classifier.train(e0, history.slice(0, 5))
    const frozen = JSON.stringify(a)
    // B overlaps A's classes, so a model that shared count maps with its input would show it
    const ab = Classifier.train(a, history.slice(2))
    const once = Classifier.train(e0, [...history.slice(0, 5), ...history.slice(2)])
    expect(JSON.stringify(a)).toBe(frozen)
    expect([e0.version, a.version, ab.version, once.version]).toStrictEqual([0, 1, 2, 1])
    expect({ ...ab, version: 0 }).toStrictEqual({ ...once, version: 0 })
    expect(ab.examples).toBe(5 + history.length - 2)
    const input = ex("SHELL OIL #9", "?", -4_000n)
    expect(Classifier.predict(ab, input)).toStrictEqual(Classifier.predict(once, input))
  })

  it("weights: an example with weight 3 counts like three; non-positive weights are ignored", () => {
    const three = Classifier.train(Classifier.empty(), [ex("ACME", "6100", -100n, "outflow", 3)])
    const thrice = Classifier.train(Classifier.empty(), [1, 2, 3].map(() => ex("ACME", "6100", -100n)))
    expect(three.classes[0]!.docs).toBe(3)
    expect(three.classes[0]!.total).toBeCloseTo(thrice.classes[0]!.total, 10)
    const ignored = Classifier.train(Classifier.empty(), [ex("ACME", "6100", -100n, "outflow", 0)])
    expect([ignored.classes.length, ignored.examples, ignored.version]).toStrictEqual([0, 0, 1])
  })

  it("decay lets a relabelled vendor be followed: old counts shrink, new labels win sooner", () => {
    const old = Classifier.train(Classifier.empty(), Array.from({ length: 6 }, () => ex("ADOBE", "6300")))
    const relabel = Array.from({ length: 3 }, () => ex("ADOBE", "6310"))
    const withoutDecay = Classifier.train(old, relabel)
    const withDecay = Classifier.train(Classifier.decay(old, 0.25), relabel)
    expect(Classifier.predict(withoutDecay, ex("ADOBE", "?"))[0]!.account_code).toBe("6300")
    expect(Classifier.predict(withDecay, ex("ADOBE", "?"))[0]!.account_code).toBe("6310")
    expect(Classifier.decay(old, 0.5).classes[0]!.docs).toBe(3)
    expect(() => Classifier.decay(old, 0)).toThrow(RangeError)
  })

  it("round-trips through its JSON schema and predicts the same after; a bad model is refused", () => {
    const m = Classifier.train(Classifier.empty(), history)
    const stored = JSON.parse(JSON.stringify(Classifier.encode(m)))
    const back = Classifier.decode(stored)
    expect(back).toStrictEqual(m)
    const input = ex("STARBUCKS #2", "?")
    expect(Classifier.predict(back, input)).toStrictEqual(Classifier.predict(m, input))
    expect(() => Classifier.decode({ ...stored, algorithm: "svm" })).toThrow()
    expect(() => Classifier.decode({ ...stored, version: -1 })).toThrow()
  })

  it("features: words, vendor-key n-grams, amount bucket and direction, each group with its fixed weight", () => {
    const f = Classifier.features({ description: "POS 12/03 STARBUCKS #12", amount_minor: -575n, direction: "outflow" })
    const weight = (prefix: string) => f.filter(([k]) => k.startsWith(prefix)).reduce((s, [, w]) => s + w, 0)
    expect(weight("w:")).toBeCloseTo(Classifier.GROUP_WEIGHTS.word, 12)
    expect(weight("c:")).toBeCloseTo(Classifier.GROUP_WEIGHTS.ngram, 12)
    expect(f.some(([k]) => k === "c:^st")).toBe(true)
    expect(f.some(([k]) => k === "w:starbucks")).toBe(true)
    expect(f.filter(([k]) => k.startsWith("a:"))).toStrictEqual([["a:outflow:2", 1]])
    expect([Classifier.amountBucket(50n), Classifier.amountBucket(-575n), Classifier.amountBucket(1_250_000n)])
      .toStrictEqual([0, 2, 9])
  })
})

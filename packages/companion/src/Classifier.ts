/**
 * The per-tenant statistical classifier: a multinomial naive Bayes over the features of a bank
 * transaction — the description's word tokens, the character 3–5-grams of its vendor key, a
 * bucketed log-amount and the direction. Each feature group carries a fixed total weight per
 * transaction (a long description does not outvote a short one, and the many n-grams do not
 * swamp the few words), which also keeps the raw probabilities away from exactly 0 and 1.
 *
 * Pure and deterministic: the model is plain JSON-safe data ({@link ClassifierModelJson} stores
 * it), `train` returns a new model with `version` bumped (incremental: it adds counts), `predict`
 * breaks ties by account code. Scores are raw model probabilities: calibrate them (see
 * `Calibration`) before they gate anything.
 *
 * Why not a library: the npm candidates (`natural`'s BayesClassifier, `bayes`, `ml-naivebayes`)
 * either keep mutable state with non-deterministic iteration, tokenise for prose rather than
 * bank strings, carry large transitive trees, or store models in formats we cannot version; and
 * this repository may not add dependencies. The model is ~150 lines and fully tested.
 */
import { Schema } from "effect"
import type { Candidate } from "./Categorizer.js"
import { vendorKey } from "./VendorKey.js"

/** One labelled transaction to learn from. `weight` scales its counts (default 1; a correction may count more). */
export interface TrainingExample {
  readonly description: string
  readonly payee?: string | null
  readonly amount_minor: bigint
  readonly direction: "inflow" | "outflow"
  readonly account_code: string
  readonly weight?: number
}

/** What `predict` looks at. */
export interface PredictInput {
  readonly description: string
  readonly payee?: string | null
  readonly amount_minor: bigint
  readonly direction: "inflow" | "outflow"
}

/** The algorithm and feature-set identifier stored with every model; a change here is a new format. */
export const ALGORITHM = "multinomial_nb/1" as const

/** Per-class counts. */
export const ClassCounts = Schema.Struct({
  account_code: Schema.String,
  /** Sum of example weights seen for this class. */
  docs: Schema.Number,
  /** Sum of all feature weights seen for this class. */
  total: Schema.Number,
  /** Feature → summed weight. */
  counts: Schema.Record({ key: Schema.String, value: Schema.Number })
})
/** Per-class counts of a model. */
export type ClassCounts = typeof ClassCounts.Type

/** The stored form of a classifier model (JSON-safe; `Schema.encode`/`decode` round-trip it). */
export const ClassifierModelJson = Schema.Struct({
  algorithm: Schema.Literal(ALGORITHM),
  /** Bumped by every `train` (and `decay`): the classifier version provenance records. */
  version: Schema.Int.pipe(Schema.nonNegative()),
  /** Laplace smoothing added to every feature count. */
  alpha: Schema.Number.pipe(Schema.positive()),
  /** Number of examples trained on (unweighted). */
  examples: Schema.Int.pipe(Schema.nonNegative()),
  /** Feature → number of classes it was seen with (the vocabulary; its size enters smoothing). */
  vocabulary: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /** Classes sorted by account code. */
  classes: Schema.Array(ClassCounts)
})
/** A classifier model: immutable data. */
export type ClassifierModel = typeof ClassifierModelJson.Type

/** Options of {@link empty}. */
export interface EmptyOptions {
  /** Laplace smoothing (default 0.1). */
  readonly alpha?: number
}

/** A model that knows nothing: `predict` gives every allowed code the same score. */
export const empty = (options: EmptyOptions = {}): ClassifierModel => ({
  algorithm: ALGORITHM,
  version: 0,
  alpha: options.alpha ?? 0.1,
  examples: 0,
  vocabulary: {},
  classes: []
})

/** The total weight each feature group contributes per transaction. */
export const GROUP_WEIGHTS = { word: 2, ngram: 2, amount: 1, direction: 1 } as const

const STOP_WORDS = new Set(["the", "and", "of", "for", "to", "inc", "llc", "ltd", "co", "corp"])

/** The amount bucket: half-decades of the absolute major-unit amount (…, 1–3, 3–10, 10–31, …). */
export const amountBucket = (amount_minor: bigint): number => {
  const abs = amount_minor < 0n ? -amount_minor : amount_minor
  const major = Number(abs) / 100
  return major < 1 ? 0 : Math.floor(Math.log10(major) * 2) + 1
}

/**
 * The weighted features of one transaction, in a deterministic order. Exported for tests and
 * provenance ("which words counted").
 */
export const features = (input: PredictInput): ReadonlyArray<readonly [string, number]> => {
  const out: Array<readonly [string, number]> = []
  const words = input.description.toLowerCase().split(/[^a-z]+/).filter((w) => w.length >= 2 && !STOP_WORDS.has(w))
  const uniqueWords = [...new Set(words)]
  for (const w of uniqueWords) out.push([`w:${w}`, GROUP_WEIGHTS.word / uniqueWords.length])
  const key = vendorKey(input.description, input.payee)
  const padded = `^${key}$`
  const grams = new Set<string>()
  for (let n = 3; n <= 5; n++) {
    for (let i = 0; i + n <= padded.length; i++) grams.add(padded.slice(i, i + n))
  }
  for (const g of grams) out.push([`c:${g}`, GROUP_WEIGHTS.ngram / grams.size])
  out.push([`a:${input.direction}:${amountBucket(input.amount_minor)}`, GROUP_WEIGHTS.amount])
  out.push([`d:${input.direction}`, GROUP_WEIGHTS.direction])
  return out
}

const byCode = (a: { readonly account_code: string }, b: { readonly account_code: string }) =>
  a.account_code < b.account_code ? -1 : a.account_code > b.account_code ? 1 : 0

/**
 * Learn from examples: adds their weighted feature counts and returns a new model with `version`
 * bumped by one. The input model is not changed. Examples with a non-positive or non-finite
 * weight are ignored.
 */
export const train = (model: ClassifierModel, examples: ReadonlyArray<TrainingExample>): ClassifierModel => {
  const classes = new Map<
    string,
    { account_code: string; docs: number; total: number; counts: Record<string, number> }
  >(
    model.classes.map((c) => [c.account_code, c])
  )
  const copied = new Set<string>()
  const vocabulary: Record<string, number> = { ...model.vocabulary }
  let count = 0
  for (const ex of examples) {
    const weight = ex.weight ?? 1
    if (!Number.isFinite(weight) || weight <= 0) continue
    count++
    let cls = classes.get(ex.account_code)
    if (cls === undefined || !copied.has(ex.account_code)) {
      cls = cls === undefined
        ? { account_code: ex.account_code, docs: 0, total: 0, counts: {} }
        : { ...cls, counts: { ...cls.counts } }
      classes.set(ex.account_code, cls)
      copied.add(ex.account_code)
    }
    cls.docs += weight
    for (const [f, w] of features(ex)) {
      const before = cls.counts[f]
      if (before === undefined) vocabulary[f] = (vocabulary[f] ?? 0) + 1
      cls.counts[f] = (before ?? 0) + w * weight
      cls.total += w * weight
    }
  }
  return {
    ...model,
    version: model.version + 1,
    examples: model.examples + count,
    vocabulary,
    classes: [...classes.values()].sort(byCode)
  }
}

/**
 * Let old evidence count less: multiplies every count by `factor` (0 < factor ≤ 1), so a vendor
 * relabelled consistently is followed rather than fought. Bumps `version`.
 */
export const decay = (model: ClassifierModel, factor: number): ClassifierModel => {
  if (!(factor > 0 && factor <= 1)) throw new RangeError(`decay factor must be in (0, 1], got ${factor}`)
  return {
    ...model,
    version: model.version + 1,
    classes: model.classes.map((c) => ({
      account_code: c.account_code,
      docs: c.docs * factor,
      total: c.total * factor,
      counts: Object.fromEntries(Object.entries(c.counts).map(([k, v]) => [k, v * factor]))
    }))
  }
}

/**
 * Rank account codes for one transaction: candidates best first, scores summing to 1 over the
 * allowed codes (all codes the model knows when `allowedCodes` is omitted), ties broken by code.
 * An allowed code the model has never seen still gets a (small, smoothed) score. No codes, no
 * candidates.
 */
export const predict = (
  model: ClassifierModel,
  input: PredictInput,
  allowedCodes?: ReadonlyArray<string>
): ReadonlyArray<Candidate> => {
  const known = new Map(model.classes.map((c) => [c.account_code, c]))
  const codes = [...new Set(allowedCodes ?? model.classes.map((c) => c.account_code))].sort()
  if (codes.length === 0) return []
  const feats = features(input)
  const vocab = Object.keys(model.vocabulary).length + 1
  const totalDocs = codes.reduce((s, c) => s + (known.get(c)?.docs ?? 0), 0)
  const logScores = codes.map((code) => {
    const cls = known.get(code)
    const docs = cls?.docs ?? 0
    const total = cls?.total ?? 0
    let score = Math.log((docs + 1) / (totalDocs + codes.length))
    const denominator = Math.log(total + model.alpha * vocab)
    for (const [f, w] of feats) {
      score += w * (Math.log((cls?.counts[f] ?? 0) + model.alpha) - denominator)
    }
    return score
  })
  const max = Math.max(...logScores)
  const exps = logScores.map((s) => Math.exp(s - max))
  const sum = exps.reduce((a, b) => a + b, 0)
  return codes
    .map((account_code, i) => ({ account_code, score: exps[i]! / sum }))
    .sort((a, b) =>
      b.score - a.score || (a.account_code < b.account_code ? -1 : a.account_code > b.account_code ? 1 : 0)
    )
}

/** Encode a model for storage (JSON-safe object). */
export const encode = Schema.encodeSync(ClassifierModelJson)
/** Decode a stored model; throws a `ParseError` on a malformed one. */
export const decode = Schema.decodeUnknownSync(ClassifierModelJson)

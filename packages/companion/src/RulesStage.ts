/**
 * The first stage of the chain: the tenant's own rules (business policy). A rule matches on the
 * description (contains, or a regular expression from a safe subset), the absolute amount range
 * and the direction, and books the match to one account or a split template; the first active
 * match by priority wins and is named in the rationale.
 *
 * Regular expressions are a classic denial of service (catastrophic backtracking), so a rule's
 * pattern is checked when it is saved ({@link checkRegex}): at most {@link MAX_REGEX_LENGTH}
 * characters, no back-references or look-arounds, and no quantified group that itself contains
 * a quantifier or an alternation (`(a+)+`, `(a|ab)*`) — the shapes that backtrack exponentially.
 * Descriptions are at most 500 characters (the ledger's limit), so a checked pattern runs in
 * bounded time.
 */
import { Errors } from "@airlock/core"
import { ValueBreaker } from "@airlock/guardrails"
import type { BankTransaction } from "@airlock/ledger"
import { Effect, Either, Schema } from "effect"
import type { CategorizerStage, ProposedSplit, StageResult } from "./Categorizer.js"
import { abstain } from "./Categorizer.js"
import type { CompanionRule, RuleMatch, RuleTarget, SplitShare } from "./CompanionPorts.js"
import { Direction } from "./CompanionPorts.js"

/** The stage's name. */
export const NAME = "rules"

/**
 * The id prefix of a rule activated by a rule promotion: its id is the promotion's (generated,
 * never chosen by a person), its name `promoted:<vendor key>`.
 */
export const PROMOTED_ID_PREFIX = "rpr_"

/** The longest pattern a rule may carry. */
export const MAX_REGEX_LENGTH = 200

/** Basis points of a whole amount. */
export const WHOLE_BPS = 10_000

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

const QUANTIFIER = /[*+?{]/

/**
 * Checks a pattern against the safe subset and compiles it (case-insensitive); a refusal is
 * `validation.rule_regex` with the reason.
 */
export const checkRegex = (pattern: string): Either.Either<RegExp, Errors.ValidationError> => {
  const refuse = (reason: string) =>
    Either.left(invalid("validation.rule_regex", `Unsafe or invalid rule pattern: ${reason}`, { pattern, reason }))
  if (pattern.length === 0) return refuse("empty pattern")
  if (pattern.length > MAX_REGEX_LENGTH) return refuse(`longer than ${MAX_REGEX_LENGTH} characters`)
  if (/\\[1-9]|\\k</.test(pattern)) return refuse("back-references are not allowed")
  if (/\(\?<?[=!]/.test(pattern)) return refuse("look-arounds are not allowed")
  // a stack of open groups: does each contain a quantifier or an alternation?
  const stack: Array<{ risky: boolean }> = []
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "\\") {
      i++
      continue
    }
    if (inClass) {
      if (c === "]") inClass = false
      continue
    }
    if (c === "[") inClass = true
    else if (c === "(") stack.push({ risky: false })
    else if (c === ")") {
      const group = stack.pop()
      if (group === undefined) return refuse("unbalanced parenthesis")
      const next = pattern[i + 1]
      const quantified = next !== undefined && QUANTIFIER.test(next)
      if (quantified && group.risky) return refuse("a quantified group contains a quantifier or an alternation")
      if (stack.length > 0 && (group.risky || quantified)) stack[stack.length - 1]!.risky = true
    } else if (QUANTIFIER.test(c) || c === "|") {
      if (stack.length > 0) stack[stack.length - 1]!.risky = true
    }
  }
  if (stack.length > 0) return refuse("unbalanced parenthesis")
  try {
    return Either.right(new RegExp(pattern, "i"))
  } catch (e) {
    return refuse(e instanceof Error ? e.message : "invalid pattern")
  }
}

const DECIMAL = /^\d{1,15}(\.\d{1,6})?$/

/** A rule as people write it (the HTTP body of create and update). */
export const RuleInput = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  priority: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1_000_000)), { default: () => 100 }),
  active: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  description_contains: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))),
  // an outer bound for the document; `checkRegex` refuses more than MAX_REGEX_LENGTH with its own code
  description_regex: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(1000)))),
  amount_min: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.pattern(DECIMAL), Schema.maxLength(22)))),
  amount_max: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.pattern(DECIMAL), Schema.maxLength(22)))),
  direction: Schema.optional(Schema.NullOr(Direction)),
  account_code: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)))),
  splits: Schema.optional(
    Schema.Array(Schema.Struct({
      account_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20)),
      share_bps: Schema.Int.pipe(Schema.between(1, WHOLE_BPS))
    })).pipe(Schema.maxItems(20))
  )
}).annotations({ identifier: "CompanionRuleInput", parseOptions: { onExcessProperty: "error" } })
/** Type of {@link RuleInput}. */
export type RuleInput = typeof RuleInput.Type

const compareDecimals = (a: string, b: string): number => {
  const [ai, af = ""] = a.split(".")
  const [bi, bf = ""] = b.split(".")
  const scale = Math.max(af.length, bf.length)
  const x = BigInt(ai! + af.padEnd(scale, "0"))
  const y = BigInt(bi! + bf.padEnd(scale, "0"))
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * Checks a rule's input and gives its match and target: at least one condition, a safe pattern,
 * `amount_min ≤ amount_max`, exactly one of `account_code` and `splits`, split shares adding up to
 * 10,000 bps over distinct accounts. Account existence is the service's check (it needs the chart).
 */
export const validate = (
  input: RuleInput
): Either.Either<{ readonly match: RuleMatch; readonly target: RuleTarget }, Errors.ValidationError> => {
  const match: RuleMatch = {
    description_contains: input.description_contains ?? null,
    description_regex: input.description_regex ?? null,
    amount_min: input.amount_min ?? null,
    amount_max: input.amount_max ?? null,
    direction: input.direction ?? null
  }
  if (Object.values(match).every((v) => v === null))
    return Either.left(invalid("validation.rule", "A rule needs at least one condition"))
  if (match.description_regex !== null) {
    const checked = checkRegex(match.description_regex)
    if (Either.isLeft(checked)) return Either.left(checked.left)
  }
  if (match.amount_min !== null && match.amount_max !== null && compareDecimals(match.amount_min, match.amount_max) > 0)
    return Either.left(invalid("validation.rule", "amount_min is above amount_max", { ...match }))
  const splits: ReadonlyArray<SplitShare> = input.splits ?? []
  const account = input.account_code ?? null
  if ((account === null) === (splits.length === 0))
    return Either.left(invalid("validation.rule", "Give exactly one of account_code and splits"))
  if (splits.length > 0) {
    const total = splits.reduce((s, x) => s + x.share_bps, 0)
    if (total !== WHOLE_BPS)
      return Either.left(invalid("validation.rule", "Split shares must add up to 10000 bps", { total_bps: total }))
    if (new Set(splits.map((s) => s.account_code)).size !== splits.length)
      return Either.left(invalid("validation.rule", "A split template names each account once"))
  }
  return Either.right({ match, target: { account_code: account, splits } })
}

/** Does the rule match the transaction? `exponent` is the transaction currency's decimals. Pure. */
export const matches = (
  rule: Pick<CompanionRule, "match">,
  txn: Pick<BankTransaction.BankTransaction, "description" | "amount_minor">,
  exponent: number,
  regexOf: (pattern: string) => RegExp | null = compiled
): boolean => {
  const m = rule.match
  if (m.direction !== null && m.direction !== (txn.amount_minor < 0n ? "outflow" : "inflow")) return false
  if (
    m.description_contains !== null &&
    !txn.description.toLowerCase().includes(m.description_contains.toLowerCase())
  ) return false
  if (m.description_regex !== null) {
    const re = regexOf(m.description_regex)
    if (re === null || !re.test(txn.description)) return false
  }
  const amount = { minor: txn.amount_minor < 0n ? -txn.amount_minor : txn.amount_minor, scale: exponent }
  if (m.amount_min !== null) {
    const c = ValueBreaker.compareToThreshold(amount, m.amount_min)
    if (c === null || c < 0) return false
  }
  if (m.amount_max !== null) {
    const c = ValueBreaker.compareToThreshold(amount, m.amount_max)
    if (c === null || c > 0) return false
  }
  return true
}

// patterns are few per tenant and checked when saved; compile each once
const regexCache = new Map<string, RegExp | null>()
const compiled = (pattern: string): RegExp | null => {
  let re = regexCache.get(pattern)
  if (re === undefined) {
    const checked = checkRegex(pattern)
    re = Either.isRight(checked) ? checked.right : null
    if (regexCache.size > 10_000) regexCache.clear()
    regexCache.set(pattern, re)
  }
  return re
}

/**
 * The splits of a rule's target for an amount: one account takes all; a template apportions by
 * basis points, rounding down, the remainder going to the largest share (first on ties). Pure.
 */
export const splitsOf = (target: RuleTarget, amount_minor: bigint): ReadonlyArray<ProposedSplit> => {
  const total = amount_minor < 0n ? -amount_minor : amount_minor
  if (target.account_code !== null) return [{ account_code: target.account_code, amount_minor: total }]
  const parts = target.splits.map((s) => ({
    account_code: s.account_code,
    amount_minor: (total * BigInt(s.share_bps)) / BigInt(WHOLE_BPS)
  }))
  const rest = total - parts.reduce((s, p) => s + p.amount_minor, 0n)
  let largest = 0
  target.splits.forEach((s, i) => {
    if (s.share_bps > target.splits[largest]!.share_bps) largest = i
  })
  parts[largest] = { ...parts[largest]!, amount_minor: parts[largest]!.amount_minor + rest }
  return parts.filter((p) => p.amount_minor > 0n)
}

/**
 * The rules stage over the tenant's rules (already loaded, any order). A matching rule whose
 * accounts are not all active in the chart is passed over (named in the details), since it could
 * not be applied.
 */
export const make = (
  rules: ReadonlyArray<CompanionRule>,
  exponentOf: (currency: string) => number
): CategorizerStage => {
  const ordered = rules.filter((r) => r.active).sort((a, b) =>
    a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
  return {
    name: NAME,
    run: (input) => {
      const { transaction: txn } = input
      const codes = new Set(input.accounts.filter((a) => a.active).map((a) => a.code))
      const passedOver: Array<string> = []
      for (const rule of ordered) {
        if (!matches(rule, txn, exponentOf(txn.currency))) continue
        const splits = splitsOf(rule.target, txn.amount_minor)
        if (splits.length === 0 || !splits.every((s) => codes.has(s.account_code))) {
          passedOver.push(rule.id)
          continue
        }
        // a promoted rule's id is its promotion's, its creator the person who approved it (RulePromotion)
        const promoted = rule.id.startsWith(PROMOTED_ID_PREFIX)
        const result: StageResult = {
          stage: NAME,
          outcome: "decided",
          splits,
          confidence: 1,
          candidates: splits.map((s) => ({ account_code: s.account_code, score: 1 })),
          rationale: promoted
            ? `Rule “${rule.name}” (${rule.id}) matched — promoted from people's labels, approved by ${rule.created_by}`
            : `Rule “${rule.name}” (${rule.id}) matched`,
          reason: null,
          questions: [],
          details: {
            rule_id: rule.id,
            rule_name: rule.name,
            rule_version: rule.version,
            rule_created_by: rule.created_by,
            ...(promoted ? { promotion_id: rule.id, approved_by: rule.created_by } : {}),
            passed_over: passedOver
          }
        }
        return Effect.succeed(result)
      }
      return Effect.succeed(
        abstain(NAME, "rules.no_match", "No tenant rule matched", {
          rules_checked: ordered.length,
          passed_over: passedOver
        })
      )
    }
  }
}

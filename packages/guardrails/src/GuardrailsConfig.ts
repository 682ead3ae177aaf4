/**
 * Guardrails settings. Read from `AIRLOCK_*` through Effect `Config` ({@link layerConfig}) or
 * given in code ({@link layer}); both produce the same service. The runbook variable each one
 * comes from is listed in `docs/configuration.md` and beside each field.
 */
import type { AiSettings } from "@airlock/core"
import { Config, ConfigError, Context, Effect, Either, Layer, Schema } from "effect"
import { parseUsdNonNegative, usd, type UsdMicros } from "./Usd.js"
import type { Period } from "./Windows.js"

/** Price of a model: micro-dollars per one million input and output tokens. */
export interface ModelPrice {
  readonly input_per_mtok: UsdMicros
  readonly output_per_mtok: UsdMicros
}

/** Every guardrails setting. Durations are seconds, money micro-dollars, rates 0..1. */
export interface GuardrailsSettings {
  // rate limiting (data-platform runbook)
  /** `COPILOT_RATE_LIMIT_ENABLED`: the per-request limiter is on. */
  readonly rateLimitEnabled: boolean
  /** `COPILOT_RATE_LIMIT_RPM`: requests per minute per API token. */
  readonly rateLimitRpm: number
  /** Requests per minute per tenant, all tokens together. */
  readonly rateLimitTenantRpm: number
  /** Failed authentications per source address are limited (`AIRLOCK_AUTH_FAILURE_ENABLED`). */
  readonly authFailureEnabled: boolean
  /** Failed authentications an address may have in the (sliding) window before `rate_limited`. */
  readonly authFailureMax: number
  /** The window failed authentications are counted over. */
  readonly authFailureWindowSeconds: number
  // velocity breaker (companion runbook)
  /** More than this many AI commands in a (sliding) minute trips the tenant's velocity breaker. */
  readonly velocityMaxPerMinute: number
  /** How long a tripped velocity breaker stays open. */
  readonly velocityCooldownSeconds: number
  // value breaker (companion runbook: per-tenant `value_breaker_threshold`)
  /** Default threshold (decimal, in the amount's currency) when the tenant sets none; null = off. */
  readonly valueBreakerThreshold: string | null
  /** The tier a value-breaker proposal is raised to (at least). */
  readonly valueBreakerTier: number
  // trust breaker (companion runbook)
  /** Rejection rate at or above which the tenant's mode is downgraded. */
  readonly trustRejectionRate: number
  /** The window of decided proposals the rate is computed over. */
  readonly trustWindowSeconds: number
  /** Fewer decided proposals than this in the window never trip. */
  readonly trustMinSample: number
  /** The mode a trip downgrades to (only downgrades, never upgrades). */
  readonly trustDowngradeTo: AiSettings.AiMode
  /** The propose-time trust gate re-evaluates a tenant at most this often. */
  readonly trustEvaluateEverySeconds: number
  // provider breaker
  /** Consecutive failures that open a provider breaker. */
  readonly providerConsecutiveFailures: number
  /** Failure rate over the window that opens it (with at least `providerMinSamples` calls). */
  readonly providerFailureRate: number
  readonly providerMinSamples: number
  readonly providerWindowSeconds: number
  /** Open time before one half-open probe is let through. */
  readonly providerCooldownSeconds: number
  /** A probe that has not reported after this long frees its slot for another instance. */
  readonly providerProbeTimeoutSeconds: number
  // approvals (data-platform runbook)
  /** `COPILOT_HIGH_RISK_APPROVAL_THRESHOLD`: risk at or above this needs an approval. */
  readonly approvalRiskThreshold: number
  /** `COPILOT_APPROVAL_TTL_SECONDS`: lifetime of a granted approval. */
  readonly approvalTtlSeconds: number
  // LLM budget (ai-bookkeeper rollout)
  /** `LLM_TENANT_CAP_USD`: per-tenant LLM spend cap per period (tenants may override). */
  readonly llmTenantCap: UsdMicros
  /** `LLM_GLOBAL_CAP_USD`: LLM spend cap per period over all tenants. */
  readonly llmGlobalCap: UsdMicros
  /** The period the LLM caps apply to (UTC calendar month or day). */
  readonly llmBudgetPeriod: Period
  /** Price table by model name. A model not in it is never called (fail closed). */
  readonly llmPrices: Readonly<Record<string, ModelPrice>>
  // execution budgets (data-platform runbook)
  /** `budget_status` turns `warning` at this share of the limit (percent). */
  readonly budgetWarningPercent: number
  // stop conditions (ops console runbook)
  /** `LLM_DAILY_BUDGET_USD_HARD`: global LLM spend in one UTC day that stops the run; null = off. */
  readonly stopLlmDailyHard: UsdMicros | null
  /** `STOP_PROVIDER_FAILURE_THRESHOLD`: provider failures in the trailing window that stop the run. */
  readonly stopProviderFailureThreshold: number
  /** `STOP_PROVIDER_FAILURE_WINDOW_SECONDS`. */
  readonly stopProviderFailureWindowSeconds: number
  /** `STOP_DB_POOL_UTILIZATION_THRESHOLD`: pool use (0..1) counted as pressure. */
  readonly stopDbPoolUtilization: number
  /** `STOP_DB_POOL_SUSTAINED_SAMPLES`: consecutive pressured samples that stop the run. */
  readonly stopDbPoolSamples: number
  // lockdown (assistant platform runbook)
  /** Readiness failures within the window that lock the system down. */
  readonly lockdownReadinessFailures: number
  /** Rollbacks within the window that lock the system down. */
  readonly lockdownRollbacks: number
  readonly lockdownWindowSeconds: number
  /** Lifetime of an unlock code. */
  readonly unlockCodeTtlSeconds: number
  /** Wrong unlock codes allowed per attempt window before `rate_limited`. */
  readonly unlockMaxAttempts: number
  readonly unlockAttemptWindowSeconds: number
  // inbound media (assistant platform runbook)
  /** `WHATSAPP_MEDIA_MAX_BYTES`. */
  readonly mediaMaxBytes: number
  /** `WHATSAPP_MEDIA_ALLOWED_MIME_PREFIXES`. */
  readonly mediaAllowedMimePrefixes: ReadonlyArray<string>
  /** `WHATSAPP_MEDIA_ALLOWED_HOSTS` (`example.com` exact, `*.example.com` subdomains). Empty = none. */
  readonly mediaAllowedHosts: ReadonlyArray<string>
  /** `WHATSAPP_MEDIA_DIR`: the directory inbound media must stay inside. */
  readonly mediaDir: string
  /** Plain `http:` media URLs are refused unless this is on. */
  readonly mediaAllowHttp: boolean
}

/** Defaults: runbook values where the runbooks give one, documented choices otherwise. */
export const defaults: GuardrailsSettings = {
  rateLimitEnabled: true,
  rateLimitRpm: 60,
  rateLimitTenantRpm: 600,
  authFailureEnabled: true,
  authFailureMax: 20,
  authFailureWindowSeconds: 60,
  velocityMaxPerMinute: 30,
  velocityCooldownSeconds: 300,
  valueBreakerThreshold: "5000.00",
  valueBreakerTier: 2,
  trustRejectionRate: 0.5,
  trustWindowSeconds: 7 * 86_400,
  trustMinSample: 20,
  trustDowngradeTo: "suggest_only",
  trustEvaluateEverySeconds: 60,
  providerConsecutiveFailures: 5,
  providerFailureRate: 0.5,
  providerMinSamples: 10,
  providerWindowSeconds: 60,
  providerCooldownSeconds: 30,
  providerProbeTimeoutSeconds: 30,
  approvalRiskThreshold: 0.7,
  approvalTtlSeconds: 3600,
  llmTenantCap: usd("50"),
  llmGlobalCap: usd("1000"),
  llmBudgetPeriod: "month",
  llmPrices: {},
  budgetWarningPercent: 80,
  stopLlmDailyHard: null,
  stopProviderFailureThreshold: 5,
  stopProviderFailureWindowSeconds: 300,
  stopDbPoolUtilization: 0.9,
  stopDbPoolSamples: 5,
  lockdownReadinessFailures: 3,
  lockdownRollbacks: 3,
  lockdownWindowSeconds: 600,
  unlockCodeTtlSeconds: 3600,
  unlockMaxAttempts: 5,
  unlockAttemptWindowSeconds: 900,
  mediaMaxBytes: 16 * 1024 * 1024,
  mediaAllowedMimePrefixes: ["image/", "audio/", "video/", "application/pdf"],
  mediaAllowedHosts: [],
  mediaDir: "/var/lib/airlock/media",
  mediaAllowHttp: false
}

/** The guardrails settings service. */
export class GuardrailsConfig
  extends Context.Tag("@airlock/guardrails/GuardrailsConfig")<GuardrailsConfig, GuardrailsSettings>()
{}

const PriceEntry = Schema.Struct({
  input: Schema.Union(Schema.String, Schema.Number),
  output: Schema.Union(Schema.String, Schema.Number)
})
const PriceTable = Schema.parseJson(Schema.Record({ key: Schema.String, value: PriceEntry }))

/**
 * Parses a price table given as JSON dollars per million tokens,
 * `{"model":{"input":"0.15","output":"0.60"}}`, into micro-dollars.
 */
export const parsePrices = (json: string): Either.Either<Record<string, ModelPrice>, string> =>
  Either.flatMap(
    Either.mapLeft(Schema.decodeUnknownEither(PriceTable)(json), (e) => e.message),
    (table) => {
      const out: Record<string, ModelPrice> = {}
      for (const [model, p] of Object.entries(table)) {
        const input = parseUsdNonNegative(p.input, `${model}.input`)
        const output = parseUsdNonNegative(p.output, `${model}.output`)
        if (Either.isLeft(input)) return Either.left(input.left.message)
        if (Either.isLeft(output)) return Either.left(output.left.message)
        out[model] = { input_per_mtok: input.right, output_per_mtok: output.right }
      }
      return Either.right(out)
    }
  )

const money = (name: string, fallback: UsdMicros) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) =>
      Either.mapLeft(parseUsdNonNegative(s, name), (e) => ConfigError.InvalidData([], e.message))
    ),
    Config.withDefault(fallback)
  )

const rate = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
    Config.withDefault(fallback)
  )

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const list = (name: string, fallback: ReadonlyArray<string>) =>
  Config.string(name).pipe(
    Config.map((s) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0)),
    Config.withDefault(fallback)
  )

/** The `Config` description of the guardrails settings (`AIRLOCK_*`). */
export const config: Config.Config<GuardrailsSettings> = Config.all({
  rateLimitEnabled: Config.boolean("AIRLOCK_RATE_LIMIT_ENABLED").pipe(Config.withDefault(defaults.rateLimitEnabled)),
  rateLimitRpm: positive("AIRLOCK_RATE_LIMIT_RPM", defaults.rateLimitRpm),
  rateLimitTenantRpm: positive("AIRLOCK_RATE_LIMIT_TENANT_RPM", defaults.rateLimitTenantRpm),
  authFailureEnabled: Config.boolean("AIRLOCK_AUTH_FAILURE_ENABLED").pipe(
    Config.withDefault(defaults.authFailureEnabled)
  ),
  authFailureMax: positive("AIRLOCK_AUTH_FAILURE_MAX", defaults.authFailureMax),
  authFailureWindowSeconds: positive("AIRLOCK_AUTH_FAILURE_WINDOW_SECONDS", defaults.authFailureWindowSeconds),
  velocityMaxPerMinute: positive("AIRLOCK_VELOCITY_MAX_PER_MINUTE", defaults.velocityMaxPerMinute),
  velocityCooldownSeconds: positive("AIRLOCK_VELOCITY_COOLDOWN_SECONDS", defaults.velocityCooldownSeconds),
  valueBreakerThreshold: Config.string("AIRLOCK_VALUE_BREAKER_THRESHOLD").pipe(
    Config.map((s): string | null => (s === "" || s === "off" ? null : s)),
    Config.validate({
      message: "must be a decimal amount or 'off'",
      validation: (s) => s === null || /^\d+(\.\d+)?$/.test(s)
    }),
    Config.withDefault(defaults.valueBreakerThreshold)
  ),
  valueBreakerTier: Config.integer("AIRLOCK_VALUE_BREAKER_TIER").pipe(Config.withDefault(defaults.valueBreakerTier)),
  trustRejectionRate: rate("AIRLOCK_TRUST_REJECTION_RATE", defaults.trustRejectionRate),
  trustWindowSeconds: positive("AIRLOCK_TRUST_WINDOW_SECONDS", defaults.trustWindowSeconds),
  trustMinSample: positive("AIRLOCK_TRUST_MIN_SAMPLE", defaults.trustMinSample),
  trustDowngradeTo: Config.literal("shadow_only", "suggest_only", "drafts", "autopilot_limited")(
    "AIRLOCK_TRUST_DOWNGRADE_TO"
  ).pipe(
    Config.withDefault(defaults.trustDowngradeTo)
  ),
  trustEvaluateEverySeconds: positive("AIRLOCK_TRUST_EVALUATE_EVERY_SECONDS", defaults.trustEvaluateEverySeconds),
  providerConsecutiveFailures: positive("AIRLOCK_PROVIDER_CONSECUTIVE_FAILURES", defaults.providerConsecutiveFailures),
  providerFailureRate: rate("AIRLOCK_PROVIDER_FAILURE_RATE", defaults.providerFailureRate),
  providerMinSamples: positive("AIRLOCK_PROVIDER_MIN_SAMPLES", defaults.providerMinSamples),
  providerWindowSeconds: positive("AIRLOCK_PROVIDER_WINDOW_SECONDS", defaults.providerWindowSeconds),
  providerCooldownSeconds: positive("AIRLOCK_PROVIDER_COOLDOWN_SECONDS", defaults.providerCooldownSeconds),
  providerProbeTimeoutSeconds: positive("AIRLOCK_PROVIDER_PROBE_TIMEOUT_SECONDS", defaults.providerProbeTimeoutSeconds),
  approvalRiskThreshold: rate("AIRLOCK_APPROVAL_RISK_THRESHOLD", defaults.approvalRiskThreshold),
  approvalTtlSeconds: positive("AIRLOCK_APPROVAL_TTL_SECONDS", defaults.approvalTtlSeconds),
  llmTenantCap: money("AIRLOCK_LLM_TENANT_CAP_USD", defaults.llmTenantCap),
  llmGlobalCap: money("AIRLOCK_LLM_GLOBAL_CAP_USD", defaults.llmGlobalCap),
  llmBudgetPeriod: Config.literal("month", "day")("AIRLOCK_LLM_BUDGET_PERIOD").pipe(
    Config.withDefault(defaults.llmBudgetPeriod)
  ),
  llmPrices: Config.string("AIRLOCK_LLM_PRICES").pipe(
    Config.mapOrFail((s) => Either.mapLeft(parsePrices(s), (message) => ConfigError.InvalidData([], message))),
    Config.withDefault(defaults.llmPrices)
  ),
  budgetWarningPercent: Config.integer("AIRLOCK_BUDGET_WARNING_PERCENT").pipe(
    Config.validate({ message: "must be 1-100", validation: (n) => n >= 1 && n <= 100 }),
    Config.withDefault(defaults.budgetWarningPercent)
  ),
  stopLlmDailyHard: Config.option(money("AIRLOCK_STOP_LLM_DAILY_HARD_USD", 0n)).pipe(
    Config.map((o) => (o._tag === "Some" && o.value > 0n ? o.value : null))
  ),
  stopProviderFailureThreshold: positive(
    "AIRLOCK_STOP_PROVIDER_FAILURE_THRESHOLD",
    defaults.stopProviderFailureThreshold
  ),
  stopProviderFailureWindowSeconds: positive(
    "AIRLOCK_STOP_PROVIDER_FAILURE_WINDOW_SECONDS",
    defaults.stopProviderFailureWindowSeconds
  ),
  stopDbPoolUtilization: rate("AIRLOCK_STOP_DB_POOL_UTILIZATION_THRESHOLD", defaults.stopDbPoolUtilization),
  stopDbPoolSamples: positive("AIRLOCK_STOP_DB_POOL_SUSTAINED_SAMPLES", defaults.stopDbPoolSamples),
  lockdownReadinessFailures: positive("AIRLOCK_LOCKDOWN_READINESS_FAILURES", defaults.lockdownReadinessFailures),
  lockdownRollbacks: positive("AIRLOCK_LOCKDOWN_ROLLBACKS", defaults.lockdownRollbacks),
  lockdownWindowSeconds: positive("AIRLOCK_LOCKDOWN_WINDOW_SECONDS", defaults.lockdownWindowSeconds),
  unlockCodeTtlSeconds: positive("AIRLOCK_UNLOCK_CODE_TTL_SECONDS", defaults.unlockCodeTtlSeconds),
  unlockMaxAttempts: positive("AIRLOCK_UNLOCK_MAX_ATTEMPTS", defaults.unlockMaxAttempts),
  unlockAttemptWindowSeconds: positive("AIRLOCK_UNLOCK_ATTEMPT_WINDOW_SECONDS", defaults.unlockAttemptWindowSeconds),
  mediaMaxBytes: positive("AIRLOCK_MEDIA_MAX_BYTES", defaults.mediaMaxBytes),
  mediaAllowedMimePrefixes: list("AIRLOCK_MEDIA_ALLOWED_MIME_PREFIXES", defaults.mediaAllowedMimePrefixes),
  mediaAllowedHosts: list("AIRLOCK_MEDIA_ALLOWED_HOSTS", defaults.mediaAllowedHosts),
  mediaDir: Config.string("AIRLOCK_MEDIA_DIR").pipe(Config.withDefault(defaults.mediaDir)),
  mediaAllowHttp: Config.boolean("AIRLOCK_MEDIA_ALLOW_HTTP").pipe(Config.withDefault(defaults.mediaAllowHttp))
})

/** Guardrails settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<GuardrailsConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  GuardrailsConfig,
  Effect.map(config, (c) => c)
)

/** Guardrails settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<GuardrailsSettings> = {}): Layer.Layer<GuardrailsConfig> =>
  Layer.succeed(GuardrailsConfig, { ...defaults, ...settings })

/** Keys under which tenants override guardrails settings in `AiSettings.extensions`. */
export const TenantKeys = {
  /** Decimal string, in the amount's currency: the tenant's value breaker threshold. */
  valueBreakerThreshold: "guardrails.value_breaker_threshold",
  /** Decimal dollars: the tenant's LLM spend cap per period. */
  llmTenantCapUsd: "guardrails.llm_tenant_cap_usd",
  /** Number 0..1: the tenant's approval risk threshold. */
  approvalRiskThreshold: "guardrails.approval_risk_threshold",
  /** Integer ({@link TenantRanges}): AI commands in a sliding minute before the velocity breaker trips. */
  velocityMaxPerMinute: "guardrails.velocity_max_per_minute",
  /** Integer seconds ({@link TenantRanges}): how long a tripped velocity breaker stays open. */
  velocityCooldownSeconds: "guardrails.velocity_cooldown_seconds",
  /** Number 0..1: rejection rate at or above which the trust breaker downgrades the mode. */
  trustRejectionRate: "guardrails.trust_rejection_rate",
  /** Integer ({@link TenantRanges}): decided proposals in the window before the trust breaker may trip. */
  trustMinSample: "guardrails.trust_min_sample",
  /** Integer seconds ({@link TenantRanges}): the window the trust breaker counts decided proposals over. */
  trustWindowSeconds: "guardrails.trust_window_seconds",
  /** A mode (`shadow_only` … `autopilot_limited`): what a trust-breaker trip downgrades to. */
  trustDowngradeTo: "guardrails.trust_downgrade_to"
} as const

/** The range a tenant's numeric breaker override must be in (inclusive; `integer`: whole numbers only). */
export interface TenantRange {
  readonly min: number
  readonly max: number
  readonly integer: boolean
}

/**
 * The ranges of the tenants' numeric breaker overrides. A stored value that is not a number in
 * its range is malformed, and each breaker then reads the strictest value of the range (see
 * `VelocityBreaker.limitsFor`, `TrustBreaker.settingsFor`). The trust sample is bounded by what
 * one evaluation counts (5,000 decided proposals of each outcome).
 */
export const TenantRanges = {
  velocityMaxPerMinute: { min: 1, max: 10_000, integer: true },
  velocityCooldownSeconds: { min: 1, max: 86_400, integer: true },
  trustRejectionRate: { min: 0, max: 1, integer: false },
  trustMinSample: { min: 1, max: 5_000, integer: true },
  trustWindowSeconds: { min: 60, max: 90 * 86_400, integer: true }
} as const satisfies Record<string, TenantRange>

/** What a tenant's `AiSettings` carries that guardrails reads (its `extensions`). */
export interface TenantExtensions {
  readonly extensions: Readonly<Record<string, unknown>>
}

/** A stored override that is present but not a valid value. */
export const MALFORMED = "malformed" as const

/**
 * Reads a tenant's numeric override: null when the tenant sets none, the number when it is a
 * number in `range`, {@link MALFORMED} otherwise (a string, a fraction where an integer is due,
 * out of range). Pure.
 */
export const tenantNumber = (
  settings: TenantExtensions | undefined,
  key: string,
  range: TenantRange
): number | null | typeof MALFORMED => {
  if (settings === undefined || !Object.hasOwn(settings.extensions, key)) return null
  const v = settings.extensions[key]
  if (v === null || v === undefined) return null
  return typeof v === "number" && Number.isFinite(v) && v >= range.min && v <= range.max &&
      (!range.integer || Number.isInteger(v))
    ? v
    : MALFORMED
}

/** Reads a tenant's decimal override (a string or a number in `extensions`), or null. */
export const tenantDecimal = (
  settings: { readonly extensions: Readonly<Record<string, unknown>> },
  key: string
): string | null => {
  const v = settings.extensions[key]
  return typeof v === "string" || (typeof v === "number" && Number.isFinite(v)) ? String(v) : null
}

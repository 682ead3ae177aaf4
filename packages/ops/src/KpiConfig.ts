/**
 * Settings of KPI rollups, alerts, the alert webhook, baseline snapshots and the weekly digest.
 * Read from `AIRLOCK_*` through Effect `Config` ({@link layerConfig}) or given in code
 * ({@link layer}); both produce the same service. The runbook variable behind each setting is
 * named beside it and in `docs/ops-kpi.md`.
 */
import { Config, ConfigError, Context, Effect, Either, Layer, Redacted } from "effect"

/** A named funnel rate: subjects reaching `to` over subjects reaching `from`, the same UTC day. */
export interface FunnelRate {
  readonly name: string
  readonly from: string
  readonly to: string
}

/** The runbook's funnel steps (ops console runbook, KPI Rollups). */
export const DEFAULT_STEPS: ReadonlyArray<string> = ["landing", "run", "replay_start", "replay_complete"]

/** The runbook's funnel rates, by their console names. */
export const DEFAULT_RATES: ReadonlyArray<FunnelRate> = [
  { name: "Landing -> Run CTR", from: "landing", to: "run" },
  { name: "Run -> Replay Start", from: "run", to: "replay_start" },
  { name: "Replay Completion", from: "replay_start", to: "replay_complete" }
]

/** Every KPI setting. Durations are given in their unit's name; percents are whole numbers. */
export interface KpiSettings {
  /** `AIRLOCK_KPI_FUNNEL_STEPS`: the funnel steps events may name, in funnel order. */
  readonly steps: ReadonlyArray<string>
  /** The named rates (the runbook's three by default; consecutive steps for a host's own funnel). */
  readonly rates: ReadonlyArray<FunnelRate>
  /** The rates alerts watch (the runbook: `Landing -> Run CTR` and `Replay Completion`). */
  readonly alertRates: ReadonlyArray<string>
  /** `AIRLOCK_KPI_EVENTS_BATCH_MAX`: most events in one `POST /api/v1/events`. */
  readonly eventsBatchMax: number
  /** `AIRLOCK_KPI_EVENT_MAX_FUTURE_SECONDS`: an event time further ahead of the clock is refused. */
  readonly eventMaxFutureSeconds: number
  /** `AIRLOCK_KPI_RETENTION_MIN_COHORT`: smallest cohort whose D1/D7 is reported and alerted on. */
  readonly retentionMinCohort: number
  /** `AIRLOCK_KPI_ALERT_WARNING_DROP_PERCENT`: drop below the 7-day average that warns. */
  readonly alertWarningDropPercent: number
  /** `AIRLOCK_KPI_ALERT_CRITICAL_DROP_PERCENT`: drop below the 7-day average that is critical. */
  readonly alertCriticalDropPercent: number
  /** `KPI_ALERT_WEBHOOK_ENABLED`: critical alerts are posted to the webhook. */
  readonly webhookEnabled: boolean
  /** `KPI_ALERT_WEBHOOK_URL`: where they are posted. */
  readonly webhookUrl: string | null
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_SECRET`: the HMAC-SHA256 key of the signature header. */
  readonly webhookSecret: Redacted.Redacted<string> | null
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_ALLOWED_HOSTS`: hosts the URL may name (`example.com`, `*.example.com`). */
  readonly webhookAllowedHosts: ReadonlyArray<string>
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_ALLOW_PRIVATE_HOSTS`: allowed hosts that may resolve to private addresses. */
  readonly webhookAllowPrivateHosts: ReadonlyArray<string>
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_ALLOW_INSECURE_LOCALHOST`: `http://localhost` / loopback allowed (tests). */
  readonly webhookAllowInsecureLocalhost: boolean
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_TIMEOUT_SECONDS`: one attempt's timeout. */
  readonly webhookTimeoutSeconds: number
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_RETRIES`: retries after the first attempt. */
  readonly webhookRetries: number
  /** `AIRLOCK_KPI_ALERT_WEBHOOK_BACKOFF_MILLIS`: first retry delay (doubling each time). */
  readonly webhookBackoffMillis: number
  /** `KPI_ALERT_NOTIFY_COOLDOWN_MINUTES`: an identical payload is not sent again within this. */
  readonly notifyCooldownMinutes: number
  /** Baseline default: how many rolling windows (runbook `--windows 24`). */
  readonly baselineWindows: number
  /** Baseline default: minutes per window (runbook `--window-minutes 5`). */
  readonly baselineWindowMinutes: number
  /** `ARCHIVE_WEEKLY_DRAFT_MIN_EVENTS`: fewer product events in the lookback, no draft. */
  readonly digestMinEvents: number
  /** `ARCHIVE_WEEKLY_DRAFT_MIN_LLM_CALLS`: fewer metered LLM calls in the lookback, no draft. */
  readonly digestMinLlmCalls: number
}

/** The stated defaults. */
export const defaults: KpiSettings = {
  steps: DEFAULT_STEPS,
  rates: DEFAULT_RATES,
  alertRates: ["Landing -> Run CTR", "Replay Completion"],
  eventsBatchMax: 500,
  eventMaxFutureSeconds: 300,
  retentionMinCohort: 20,
  alertWarningDropPercent: 20,
  alertCriticalDropPercent: 40,
  webhookEnabled: false,
  webhookUrl: null,
  webhookSecret: null,
  webhookAllowedHosts: [],
  webhookAllowPrivateHosts: [],
  webhookAllowInsecureLocalhost: false,
  webhookTimeoutSeconds: 5,
  webhookRetries: 3,
  webhookBackoffMillis: 500,
  notifyCooldownMinutes: 60,
  baselineWindows: 24,
  baselineWindowMinutes: 5,
  digestMinEvents: 25,
  digestMinLlmCalls: 5
}

/** The KPI settings service. */
export class KpiConfig extends Context.Tag("@airlock/ops/KpiConfig")<KpiConfig, KpiSettings>() {}

const STEP = /^[a-z][a-z0-9_]{0,63}$/

/** The rates of a funnel: the runbook's three for the default steps, consecutive pairs otherwise. */
export const ratesOf = (steps: ReadonlyArray<string>): ReadonlyArray<FunnelRate> =>
  steps.join(",") === DEFAULT_STEPS.join(",")
    ? DEFAULT_RATES
    : steps.slice(1).map((to, i) => ({ name: `${steps[i]} -> ${to}`, from: steps[i]!, to }))

/** Checks settings given in code or read from the environment; the message names the problem. */
export const validate = (s: KpiSettings): Either.Either<KpiSettings, string> => {
  if (s.steps.length < 1 || s.steps.some((x) => !STEP.test(x))) return Either.left("steps must be snake_case names")
  if (new Set(s.steps).size !== s.steps.length) return Either.left("steps must be distinct")
  for (const r of s.rates) {
    if (!s.steps.includes(r.from) || !s.steps.includes(r.to)) return Either.left(`rate ${r.name} names an unknown step`)
  }
  for (const a of s.alertRates) if (!s.rates.some((r) => r.name === a)) return Either.left(`alert rate ${a} unknown`)
  if (!(s.alertWarningDropPercent > 0 && s.alertWarningDropPercent <= s.alertCriticalDropPercent)) {
    return Either.left("warning drop must be positive and at most the critical drop")
  }
  if (s.alertCriticalDropPercent > 100) return Either.left("critical drop must be at most 100")
  if (s.webhookEnabled && (s.webhookUrl === null || s.webhookSecret === null)) {
    return Either.left("the webhook needs a URL and a secret when enabled")
  }
  return Either.right(s)
}

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const nonNegative = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a non-negative integer", validation: (n) => n >= 0 }),
    Config.withDefault(fallback)
  )

const percent = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be 1-100", validation: (n) => n >= 1 && n <= 100 }),
    Config.withDefault(fallback)
  )

const list = (name: string, fallback: ReadonlyArray<string>) =>
  Config.string(name).pipe(
    Config.map((s) => s.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x.length > 0)),
    Config.withDefault(fallback)
  )

/** The `Config` description of the KPI settings (`AIRLOCK_*`). */
export const config: Config.Config<KpiSettings> = Config.all({
  steps: list("AIRLOCK_KPI_FUNNEL_STEPS", defaults.steps),
  eventsBatchMax: positive("AIRLOCK_KPI_EVENTS_BATCH_MAX", defaults.eventsBatchMax),
  eventMaxFutureSeconds: nonNegative("AIRLOCK_KPI_EVENT_MAX_FUTURE_SECONDS", defaults.eventMaxFutureSeconds),
  retentionMinCohort: positive("AIRLOCK_KPI_RETENTION_MIN_COHORT", defaults.retentionMinCohort),
  alertWarningDropPercent: percent("AIRLOCK_KPI_ALERT_WARNING_DROP_PERCENT", defaults.alertWarningDropPercent),
  alertCriticalDropPercent: percent("AIRLOCK_KPI_ALERT_CRITICAL_DROP_PERCENT", defaults.alertCriticalDropPercent),
  webhookEnabled: Config.boolean("AIRLOCK_KPI_ALERT_WEBHOOK_ENABLED").pipe(Config.withDefault(defaults.webhookEnabled)),
  webhookUrl: Config.string("AIRLOCK_KPI_ALERT_WEBHOOK_URL").pipe(
    Config.map((s): string | null => (s.trim() === "" ? null : s.trim())),
    Config.withDefault(defaults.webhookUrl)
  ),
  webhookSecret: Config.redacted("AIRLOCK_KPI_ALERT_WEBHOOK_SECRET").pipe(
    Config.map((r): Redacted.Redacted<string> | null => (Redacted.value(r) === "" ? null : r)),
    Config.withDefault(defaults.webhookSecret)
  ),
  webhookAllowedHosts: list("AIRLOCK_KPI_ALERT_WEBHOOK_ALLOWED_HOSTS", defaults.webhookAllowedHosts),
  webhookAllowPrivateHosts: list("AIRLOCK_KPI_ALERT_WEBHOOK_ALLOW_PRIVATE_HOSTS", defaults.webhookAllowPrivateHosts),
  webhookAllowInsecureLocalhost: Config.boolean("AIRLOCK_KPI_ALERT_WEBHOOK_ALLOW_INSECURE_LOCALHOST").pipe(
    Config.withDefault(defaults.webhookAllowInsecureLocalhost)
  ),
  webhookTimeoutSeconds: positive("AIRLOCK_KPI_ALERT_WEBHOOK_TIMEOUT_SECONDS", defaults.webhookTimeoutSeconds),
  webhookRetries: nonNegative("AIRLOCK_KPI_ALERT_WEBHOOK_RETRIES", defaults.webhookRetries),
  webhookBackoffMillis: positive("AIRLOCK_KPI_ALERT_WEBHOOK_BACKOFF_MILLIS", defaults.webhookBackoffMillis),
  notifyCooldownMinutes: positive("AIRLOCK_KPI_ALERT_NOTIFY_COOLDOWN_MINUTES", defaults.notifyCooldownMinutes),
  baselineWindows: positive("AIRLOCK_BASELINE_WINDOWS", defaults.baselineWindows),
  baselineWindowMinutes: positive("AIRLOCK_BASELINE_WINDOW_MINUTES", defaults.baselineWindowMinutes),
  digestMinEvents: nonNegative("AIRLOCK_DIGEST_MIN_EVENTS", defaults.digestMinEvents),
  digestMinLlmCalls: nonNegative("AIRLOCK_DIGEST_MIN_LLM_CALLS", defaults.digestMinLlmCalls)
}).pipe(
  Config.mapOrFail((partial) => {
    const rates = ratesOf(partial.steps)
    const alertRates = defaults.alertRates.filter((a) => rates.some((r) => r.name === a))
    return Either.mapLeft(
      validate({ ...partial, rates, alertRates }),
      (message) => ConfigError.InvalidData([], message)
    )
  })
)

/** KPI settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<KpiConfig, ConfigError.ConfigError> = Layer.effect(
  KpiConfig,
  Effect.map(config, (c) => c)
)

/**
 * KPI settings given in code; unspecified fields take their defaults (rates follow `steps` when
 * only the steps are given). Invalid settings are a defect: they are the host's code.
 */
export const layer = (settings: Partial<KpiSettings> = {}): Layer.Layer<KpiConfig> => {
  const steps = settings.steps ?? defaults.steps
  const rates = settings.rates ?? ratesOf(steps)
  const alertRates = settings.alertRates ?? defaults.alertRates.filter((a) => rates.some((r) => r.name === a))
  const merged = { ...defaults, ...settings, steps, rates, alertRates }
  return Layer.effect(
    KpiConfig,
    Either.match(validate(merged), {
      onLeft: (message) => Effect.dieMessage(`KpiConfig: ${message}`),
      onRight: Effect.succeed
    })
  )
}

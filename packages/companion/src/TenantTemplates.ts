/**
 * Tenant templates as data: `starter`, `pro` and `firm` with the rollout runbook's values
 * (Stage P0 and the pilot onboarding output), and a registry a host extends with its own.
 *
 * | template | transactions / month | chart preset | auto-post | threshold | cold start | LLM cap |
 * |---|---|---|---|---|---|---|
 * | starter | 500 | standard_small_business (14) | off | 0.90 | 3 | $50 |
 * | pro | 2,000 | standard_professional_services (14) | eligible behind approval | 0.92 | 5 | $100 |
 * | firm | 10,000 | gaap_accounting_firm (19) | eligible behind approval | 0.92 | 5 | $250 |
 *
 * The runbook gives the threshold, the cold-start minimum and the feature flags for `pro` only
 * (its sample tenant); `starter` takes the runbook's deployment defaults (`AUTOPOST_THRESHOLD=0.90`,
 * `COLDSTART_MIN_LABELS=3`, `LLM_TENANT_CAP_USD=50`, which is starter's $50) and `firm` takes
 * `pro`'s stricter values. "Eligible behind approval" (the runbook's `AUTOPOST_ENABLED: true
 * (requires manual gate)`): the tenant starts with auto-post off and may have it turned on only
 * through a settings change a second person approves (`Autonomy`); `starter` is not eligible.
 *
 * A template may also raise the tenant's `target_precision` (the precision the auto-post
 * threshold is certified for) above the default 0.95, never lower it. The shipped templates do
 * not (the runbook names no target precision); a host's template may.
 */
import { type AiSettings, Errors } from "@airlock/core"
import { BankTransaction, Presets } from "@airlock/ledger"
import { Context, Effect, Either, Layer, Schema } from "effect"
import {
  AutopostThreshold,
  ColdstartMinLabels,
  defaults,
  Keys,
  LlmTenantCapUsd,
  TargetPrecision
} from "./CompanionSettings.js"
import * as TenantFeatures from "./TenantFeatures.js"

/** Whether a tenant may have auto-post, and how it is turned on. */
export const AutopostPolicy = Schema.Literal("off", "eligible_behind_approval")
/** Type of {@link AutopostPolicy}. */
export type AutopostPolicy = typeof AutopostPolicy.Type

/** The runbook's feature flags (defined, read and enforced in `TenantFeatures`). */
export const Features = TenantFeatures.Features
/** Type of {@link Features}. */
export type Features = TenantFeatures.Features

/** A tenant template. */
export const TenantTemplate = Schema.Struct({
  /** Its name (`starter`, `pro`, `firm`, or a host's): lowercase letters, digits, `-` and `_`. */
  name: Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_-]{0,39}$/)),
  description: Schema.String,
  /** Bank transactions a month, counted per calendar month of their dates at import. */
  max_transactions_per_month: Schema.Int.pipe(Schema.positive()),
  chart_preset: Presets.PresetName,
  autopost: AutopostPolicy,
  autopost_threshold: AutopostThreshold,
  coldstart_min_labels: ColdstartMinLabels,
  /** Decimal dollars per budget period. */
  llm_tenant_cap_usd: LlmTenantCapUsd,
  /** A raised target precision (≥ the default 0.95, ≤ 0.999); absent: the default. */
  target_precision: Schema.optional(
    TargetPrecision.pipe(
      Schema.greaterThanOrEqualTo(defaults.target_precision, {
        message: () => `a template may raise target_precision (at least ${defaults.target_precision}), not lower it`
      })
    )
  ),
  features: Features
})
/** Type of {@link TenantTemplate}. */
export type TenantTemplate = typeof TenantTemplate.Type

const allOn: Features = TenantFeatures.allOn

/** `starter`: small business, ≤ 500 transactions a month, auto-post off, $50 LLM budget. */
export const starter: TenantTemplate = {
  name: "starter",
  description: "Small business (≤500 txns/month)",
  max_transactions_per_month: 500,
  chart_preset: "standard_small_business",
  autopost: "off",
  autopost_threshold: 0.9,
  coldstart_min_labels: 3,
  llm_tenant_cap_usd: "50.00",
  features: allOn
}

/** `pro`: mid-market, ≤ 2,000 transactions a month, auto-post behind approval, $100 LLM budget. */
export const pro: TenantTemplate = {
  name: "pro",
  description: "Mid-market (≤2,000 txns/month)",
  max_transactions_per_month: 2000,
  chart_preset: "standard_professional_services",
  autopost: "eligible_behind_approval",
  autopost_threshold: 0.92,
  coldstart_min_labels: 5,
  llm_tenant_cap_usd: "100.00",
  features: allOn
}

/** `firm`: accounting firms, ≤ 10,000 transactions a month, auto-post behind approval, $250 LLM budget. */
export const firm: TenantTemplate = {
  name: "firm",
  description: "Accounting firms (≤10,000 txns/month)",
  max_transactions_per_month: 10000,
  chart_preset: "gaap_accounting_firm",
  autopost: "eligible_behind_approval",
  autopost_threshold: 0.92,
  coldstart_min_labels: 5,
  llm_tenant_cap_usd: "250.00",
  features: allOn
}

/** The shipped templates, by name. */
export const builtIn: ReadonlyArray<TenantTemplate> = [starter, pro, firm]

/** Where a tenant's template name, auto-post policy and features live in `AiSettings.extensions`. */
export const TemplateKeys = {
  template: "companion.template",
  autopost_policy: "companion.autopost_policy",
  features: TenantFeatures.KEY
} as const

/**
 * The settings extensions a template gives a new tenant: auto-post off (even where eligible),
 * the threshold, the cold-start minimum, the LLM cap, the raised target precision when it has
 * one, the monthly limit, the policy and the flags.
 */
export const extensionsOf = (template: TenantTemplate): Record<string, unknown> => ({
  ...(template.target_precision === undefined ? {} : { [Keys.target_precision]: template.target_precision }),
  [Keys.autopost_enabled]: false,
  [Keys.autopost_threshold]: template.autopost_threshold,
  [Keys.coldstart_min_labels]: template.coldstart_min_labels,
  [Keys.llm_tenant_cap_usd]: template.llm_tenant_cap_usd,
  [BankTransaction.MONTHLY_LIMIT_KEY]: template.max_transactions_per_month,
  [TemplateKeys.template]: template.name,
  [TemplateKeys.autopost_policy]: template.autopost,
  [TemplateKeys.features]: { ...template.features }
})

/** The template name a tenant was made from, if any. */
export const templateOf = (settings: AiSettings.AiSettings): string | null => {
  const v = settings.extensions[TemplateKeys.template]
  return typeof v === "string" ? v : null
}

const decode = Schema.decodeUnknownEither(TenantTemplate)

/** Validates a template (`tenant.template_invalid`). Pure. */
export const validate = (input: unknown): Either.Either<TenantTemplate, Errors.ValidationError> =>
  Either.mapLeft(
    decode(input),
    (e) =>
      new Errors.ValidationError({ code: "tenant.template_invalid", message: `Invalid tenant template: ${e.message}` })
  )

/** The template registry: the shipped templates plus a host's. */
export class TenantTemplates extends Context.Tag("@airlock/companion/TenantTemplates")<
  TenantTemplates,
  {
    /** Every template, by name. */
    readonly list: () => ReadonlyArray<TenantTemplate>
    /** One template; `tenant.template_unknown` (naming the known ones) when there is none. */
    readonly get: (name: string) => Effect.Effect<TenantTemplate, Errors.ValidationError>
    /** Adds or replaces a template (validated). */
    readonly register: (template: unknown) => Effect.Effect<TenantTemplate, Errors.ValidationError>
  }
>() {}

/** The registry with the shipped templates and `extra` ones (validated; same name replaces). */
export const make = (
  extra: ReadonlyArray<unknown> = []
): Effect.Effect<TenantTemplates["Type"], Errors.ValidationError> =>
  Effect.gen(function*() {
    const byName = new Map<string, TenantTemplate>(builtIn.map((t) => [t.name, t]))
    const register = (input: unknown) =>
      Effect.map(validate(input), (t) => {
        byName.set(t.name, t)
        return t
      })
    for (const t of extra) yield* register(t)
    return {
      list: () => [...byName.values()],
      get: (name) => {
        const found = byName.get(name)
        return found !== undefined
          ? Effect.succeed(found)
          : Effect.fail(
            new Errors.ValidationError({
              code: "tenant.template_unknown",
              message: `Unknown tenant template ${JSON.stringify(name)}`,
              details: { template: name, known: [...byName.keys()] }
            })
          )
      },
      register
    }
  })

/** The registry with the shipped templates only. */
export const layer: Layer.Layer<TenantTemplates> = Layer.effect(TenantTemplates, Effect.orDie(make()))

/** The registry with the shipped templates and a host's (a bad template fails the layer). */
export const layerWith = (extra: ReadonlyArray<unknown>): Layer.Layer<TenantTemplates, Errors.ValidationError> =>
  Layer.effect(TenantTemplates, make(extra))

/**
 * The environment the guardrails suite and its worker processes run in: core, guardrails with
 * small limits, and two test kinds, over a given adapter's ports.
 */
import { ActionRegistry, CoreConfig, type CorePorts, Kernel, Rbac, SecureRandom } from "@airlock/core"
import {
  Guardrails,
  GuardrailsConfig,
  type GuardrailsPorts as GuardrailsPorts,
  KindPolicy,
  OptionalGates,
  Usd
} from "@airlock/guardrails"
import { Effect, Layer, Schema } from "effect"

/** The settings the suite runs with: small limits so each guard trips quickly. */
export const settings: Partial<GuardrailsConfig.GuardrailsSettings> = {
  velocityMaxPerMinute: 10,
  velocityCooldownSeconds: 120,
  rateLimitRpm: 5,
  rateLimitTenantRpm: 8,
  valueBreakerThreshold: "1000.00",
  valueBreakerTier: 2,
  trustMinSample: 4,
  trustRejectionRate: 0.5,
  trustWindowSeconds: 3600,
  trustEvaluateEverySeconds: 60,
  providerConsecutiveFailures: 3,
  providerFailureRate: 0.5,
  providerMinSamples: 6,
  providerWindowSeconds: 60,
  providerCooldownSeconds: 30,
  providerProbeTimeoutSeconds: 10,
  llmTenantCap: Usd.usd("0.01"),
  llmGlobalCap: Usd.usd("0.03"),
  llmPrices: { m1: { input_per_mtok: Usd.usd("1"), output_per_mtok: Usd.usd("2") } },
  stopLlmDailyHard: Usd.usd("0.05"),
  stopProviderFailureThreshold: 4,
  stopProviderFailureWindowSeconds: 300,
  stopDbPoolUtilization: 0.9,
  stopDbPoolSamples: 3,
  lockdownReadinessFailures: 3,
  lockdownRollbacks: 2,
  lockdownWindowSeconds: 600,
  unlockCodeTtlSeconds: 600,
  unlockMaxAttempts: 3,
  unlockAttemptWindowSeconds: 900,
  mediaAllowedHosts: ["media.example.com"],
  mediaDir: "/srv/media"
}

/** Payload of `g.note`. */
export const Note = Schema.Struct({ note: Schema.String, amount_cents: Schema.optional(Schema.Number) })
/** Payload of `g.fetch`: a media download through a provider. */
export const Fetch = Schema.Struct({
  url: Schema.String,
  mime_type: Schema.String,
  size_bytes: Schema.Number,
  target_path: Schema.String,
  provider: Schema.String
})

/** Payload of `g.build`. */
export const Build = Schema.Struct({
  job_name: Schema.String,
  plan: Schema.String,
  risk_score: Schema.Number,
  estimated_cost_usd: Schema.String
})

/**
 * Payload of `g.undeclared`: every field a policy could read (`risk_score`, `estimated_cost_usd`,
 * `job_name`, an amount, even `protected`), under a kind that declares no policy.
 */
export const Undeclared = Schema.Struct({
  ...Build.fields,
  amount_cents: Schema.optional(Schema.Number),
  protected: Schema.optional(Schema.Boolean)
})

/** Test kinds: `g.note` (AI, amounts for the value breaker) `g.build` (protected, declares the build-request policy) and `g.undeclared` (declares nothing). */
const TestKinds = Layer.effectDiscard(
  Effect.gen(function*() {
    const registry = yield* ActionRegistry.ActionRegistry
    const policies = yield* KindPolicy.KindPolicies
    yield* registry.registerKind({
      name: "g.note",
      payload: Note,
      permissions: { propose: "companion.propose", apply: "companion.actions" },
      aiGoverned: true,
      subject: (p) => `note:${p.note}`,
      apply: ({ action }) => Effect.succeed({ applied: action.id })
    })
    yield* policies.register<typeof Note.Type>("g.note", {
      amount: (p) => (p.amount_cents === undefined ? undefined : { minor: BigInt(p.amount_cents), scale: 2 })
    })
    yield* registry.registerKind({
      name: "g.build",
      payload: Build,
      permissions: { propose: "executions.run", apply: "executions.run" },
      aiGoverned: false,
      protected: true,
      subject: (p) => `job:${p.job_name}`,
      apply: ({ action }) => Effect.succeed({ run_id: action.id })
    })
    yield* policies.register("g.build", KindPolicy.buildRequest())
    yield* registry.registerKind({
      name: "g.undeclared",
      payload: Undeclared,
      permissions: { propose: "executions.run", apply: "executions.run" },
      aiGoverned: false,
      subject: (p) => `job:${p.job_name}`,
      apply: ({ action }) => Effect.succeed({ run_id: action.id })
    })
    yield* registry.registerKind({
      name: "g.fetch",
      payload: Fetch,
      permissions: { propose: "executions.run", apply: "executions.run" },
      aiGoverned: false,
      subject: (p) => `media:${p.target_path}`,
      apply: () => Effect.succeed({ fetched: true })
    })
  })
)

const isFetch = (kind: { readonly name: string }) => kind.name === "g.fetch"

/** The optional gates, on `g.fetch` only. */
const FetchGates = OptionalGates.register(
  OptionalGates.runActive({ appliesTo: isFetch }),
  OptionalGates.rateLimit({ appliesTo: isFetch }),
  OptionalGates.mediaPolicy({ appliesTo: isFetch, media: (p) => p as typeof Fetch.Type }),
  OptionalGates.llmBudget({ appliesTo: isFetch }),
  OptionalGates.providerBreaker({ appliesTo: isFetch, provider: (p) => (p as typeof Fetch.Type).provider })
)

/**
 * The full environment for an adapter's ports (and whatever else `ports` provides). Worker
 * processes pass Web Crypto randomness so ids never collide between processes.
 */
export const environment = <P, E>(
  ports: Layer.Layer<P | CorePorts.CorePorts | GuardrailsPorts.GuardrailsPorts, E>,
  random: Layer.Layer<SecureRandom.SecureRandom> = SecureRandom.layerSeeded(11)
): Layer.Layer<any, E> =>
  Layer.merge(TestKinds, FetchGates).pipe(
    Layer.provideMerge(Guardrails.layer),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, random, GuardrailsConfig.layer(settings))),
    Layer.provideMerge(ports)
  )

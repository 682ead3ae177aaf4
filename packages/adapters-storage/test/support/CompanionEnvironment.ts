/**
 * The environment the companion's storage suites run in, and their tenant fixture: core, the
 * ledger and guardrails (limits out of the way unless a suite sets them) under the companion, over
 * a given adapter's ports. A suite composes what it needs on top:
 *
 * - `environment(ports, { seed })`: the companion over the foundation; `{ seed, host }` with a
 *   host's layer (a gate, a kind, a settings service) beside it;
 * - `Layer.mergeAll(Companion.layer, Reports).pipe(Layer.provideMerge(RolloutConfig.layer()),
 *   Layer.provideMerge(foundation(ports, { seed })))`: with the reports beside it;
 * - `tenant("t-id")`: a tenant with the small-business chart, Olga (owner), Bea (bookkeeper),
 *   Vic (viewer) and the agent copilot; `tenant("t-id", { members: staff })` without Vic,
 *   `tenant("t-id", { members: { owner, ... } })` for others.
 */
import { Auditor, Companion, type CompanionPorts, CompanionReports, VendorMemoryStage } from "@airlock/companion"
import {
  type Actor,
  AgentMemoryConfig,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { Guardrails, GuardrailsConfig, type GuardrailsPorts } from "@airlock/guardrails"
import { Chart, Ledger, LedgerConfig, type LedgerPorts } from "@airlock/ledger"
import { type Context, Effect, Layer } from "effect"

/** The ports every companion suite needs from an adapter (a suite adds its probe or report stores). */
export type Ports =
  | CorePorts.CorePorts
  | LedgerPorts.LedgerPorts
  | GuardrailsPorts.GuardrailsPorts
  | CompanionPorts.CompanionPorts

/** The guardrails settings by default: velocity and value breakers far away from any suite's volumes. */
export const guardrails: Partial<GuardrailsConfig.GuardrailsSettings> = {
  velocityMaxPerMinute: 10_000,
  valueBreakerThreshold: "5000.00"
}

/** How a suite's environment differs. */
export interface Options {
  /** The seed of the deterministic randomness: each suite its own. */
  readonly seed: number
  /** The guardrails settings, instead of {@link guardrails} (not merged with them). */
  readonly guardrails?: Partial<GuardrailsConfig.GuardrailsSettings>
}

/** What {@link foundation} provides beside the ports. */
export type Foundation =
  | Layer.Layer.Success<typeof Guardrails.layer>
  | Layer.Layer.Success<ReturnType<typeof GuardrailsConfig.layer>>
  | Layer.Layer.Success<typeof Ledger.layerWithConfig>
  | Layer.Layer.Success<ReturnType<typeof LedgerConfig.layer>>
  | Layer.Layer.Success<typeof Kernel.layerWithAmbient>
  | Layer.Layer.Success<ReturnType<typeof CoreConfig.layer>>
  | Layer.Layer.Success<typeof Rbac.layer>
  | SecureRandom.SecureRandom
  | Layer.Layer.Success<ReturnType<typeof AgentMemoryConfig.layer>>

/**
 * What the companion's services stand on: guardrails, the ledger, the kernel, core's config, RBAC,
 * seeded randomness and agent memory's config (vendor labels authoritative), over `ports`.
 */
export const foundation = <P, E>(
  ports: Layer.Layer<P | Ports, E>,
  options: Options
): Layer.Layer<Foundation | P | Ports, E> =>
  Guardrails.layer.pipe(
    Layer.provideMerge(GuardrailsConfig.layer(options.guardrails ?? guardrails)),
    Layer.provideMerge(Ledger.layerWithConfig),
    Layer.provideMerge(LedgerConfig.layer()),
    Layer.provideMerge(Kernel.layerWithAmbient),
    Layer.provideMerge(
      Layer.mergeAll(
        CoreConfig.layer(),
        Rbac.layer,
        SecureRandom.layerSeeded(options.seed),
        AgentMemoryConfig.layer({ authoritative: VendorMemoryStage.authoritative })
      )
    ),
    Layer.provideMerge(ports)
  )

/** How a suite's {@link environment} differs: its {@link Options}, and a host's layer. */
export interface EnvironmentOptions<H, HE, R> extends Options {
  /** Merged beside the companion over the {@link foundation} (a host's gate, an action kind, a settings service). */
  readonly host?: Layer.Layer<H, HE, R>
}

/** The companion (`Companion.layer`), with the options' host layer beside it, over the {@link foundation}. */
export const environment = <P, E, H = never, HE = never>(
  ports: Layer.Layer<P | Ports, E>,
  options: EnvironmentOptions<H, HE, Foundation | Ports>
): Layer.Layer<Layer.Layer.Success<typeof Companion.layer> | H | Foundation | P | Ports, E | HE> =>
  Layer.mergeAll(Companion.layer, ...(options.host ? [options.host] : [])).pipe(
    Layer.provideMerge(foundation(ports, options))
  )

/** The companion's reports with the auditor, to merge beside `Companion.layer`. */
export const Reports: Layer.Layer<
  CompanionReports.CompanionReports | Auditor.Auditor,
  Layer.Layer.Error<typeof CompanionReports.CompanionReports.DefaultWithoutDependencies>,
  | Exclude<Layer.Layer.Context<typeof CompanionReports.CompanionReports.DefaultWithoutDependencies>, Auditor.Auditor>
  | Layer.Layer.Context<typeof Auditor.Auditor.Default>
> = CompanionReports.CompanionReports.DefaultWithoutDependencies.pipe(Layer.provideMerge(Auditor.Auditor.Default))

/** One member of a fixture tenant: its name, role and kind (a person unless `"agent"`). */
export interface Member {
  readonly name: string
  readonly role: string
  readonly kind?: "user" | "agent"
}

/** The members of a fixture tenant, by the name a test calls them; the owner imports the chart. */
export type Members = { readonly owner: Member } & Readonly<Record<string, Member>>

/** The usual members: Olga the owner, Bea the bookkeeper, Vic the viewer and the agent copilot. */
export const people = {
  owner: { name: "Olga", role: "OWNER" },
  bookkeeper: { name: "Bea", role: "BOOKKEEPER" },
  viewer: { name: "Vic", role: "VIEWER" },
  agent: { name: "copilot", role: "AGENT", kind: "agent" }
} as const satisfies Members

/** The usual members without the viewer: Olga the owner, Bea the bookkeeper and the agent copilot. */
export const staff = {
  owner: people.owner,
  bookkeeper: people.bookkeeper,
  agent: people.agent
} as const satisfies Members

/** How a fixture tenant differs. */
export interface TenantOptions<M extends Members> {
  /** The tenant's initial settings (default: `{ ai_mode: "suggest_only" }`). */
  readonly settings?: Tenants.CreateTenant["settings"]
  /** Its members, added in this order (default: {@link people}). */
  readonly members?: M
  /** Rules the owner creates, `[description_contains, account_code]`, each named `"<contains> rule"`. */
  readonly rules?: ReadonlyArray<readonly [string, string]>
  /** Whether the owner imports the small-business chart (default: true). */
  readonly chart?: boolean
}

/** A fixture tenant: its id and each member's actor under the member's key. */
export type Fixture<M extends Members = typeof people> =
  & { readonly tenant: Ids.TenantId }
  & { readonly [K in keyof M]: Actor.Actor }

type ErrorOf<F> = F extends (...args: ReadonlyArray<any>) => Effect.Effect<any, infer E, any> ? E : never
type TenantsService = Context.Tag.Service<typeof Tenants.Tenants>

/** What setting a fixture tenant up can fail with. */
export type FixtureError =
  | ErrorOf<TenantsService["create"]>
  | ErrorOf<TenantsService["addActor"]>
  | ErrorOf<Context.Tag.Service<typeof Chart.ChartOfAccounts>["importPreset"]>
  | ErrorOf<Context.Tag.Service<typeof Companion.Companion>["createRule"]>

/**
 * A tenant `id` (named `Tenant <id>`) with its members and (unless `chart: false`) the
 * small-business chart, then its rules: the tenant's id and each member's actor under the member's key.
 */
export const tenant = <M extends Members = typeof people>(
  id: string,
  options: TenantOptions<M> = {}
): Effect.Effect<Fixture<M>, FixtureError, Tenants.Tenants | Chart.ChartOfAccounts | Companion.Companion> =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    const created = yield* tenants.create({
      id: Ids.TenantId.make(id),
      name: `Tenant ${id}`,
      settings: options.settings ?? { ai_mode: "suggest_only" }
    })
    const actors: Record<string, Actor.Actor> = {}
    for (const [key, m] of Object.entries(options.members ?? people)) {
      actors[key] = yield* tenants.addActor({
        tenant_id: created.id,
        kind: m.kind ?? "user",
        name: m.name,
        role: m.role
      })
    }
    const owner = actors["owner"]!
    if (options.chart ?? true) {
      yield* (yield* Chart.ChartOfAccounts).importPreset(created.id, owner, "standard_small_business")
    }
    const c = yield* Companion.Companion
    for (const [contains, account] of options.rules ?? []) {
      yield* c.createRule(created.id, owner, {
        name: `${contains} rule`,
        description_contains: contains,
        account_code: account
      })
    }
    return { tenant: created.id, ...actors } as Fixture<M>
  })

/**
 * What the adapter knows about the request being served: its id (echoed in the `X-Request-Id`
 * header, in every error body and in the log) and the client address, provided by the server
 * middleware (read it with `Effect.serviceOption(CurrentRequest)` where it is optional); and the
 * verified caller, provided by the auth middlewares, which every handler reads through
 * {@link withPrincipal}.
 */
import type { Actor, ApiToken, Ids, Tenant } from "@airlock/core"
import { Context, Effect, Option } from "effect"

/** The request being served. */
export interface RequestInfo {
  /** Unique id of this request (the caller's `X-Request-Id` when it is a sane id). */
  readonly id: string
  /** The client address after trusted-proxy resolution, or null when unknown. */
  readonly clientIp: string | null
  /** The route template that matched (`/api/v1/companion/settings`), or `unmatched`. */
  readonly route: string
  /** The `workspace_id` a JSON object body named (taken out of the body), for tenant resolution. */
  readonly bodySelector?: { readonly value: unknown } | undefined
}

/** The request being served. */
export class CurrentRequest
  extends Context.Tag("@airlock/adapters-http/CurrentRequest")<CurrentRequest, RequestInfo>()
{}

// requests whose handler has started: their request was decoded, so a schema failure from here
// on is ours (encoding the response), not the caller's
const handled = new WeakSet<RequestInfo>()

/**
 * Marks the current request as decoded and in its handler ({@link withPrincipal} does it for
 * every handler acting for a caller; a public handler may call it itself). A schema failure after
 * this point is a failure to encode our own response: 500 `internal`, never a 4xx.
 */
export const markHandled: Effect.Effect<void> = Effect.map(Effect.serviceOption(CurrentRequest), (info) => {
  if (Option.isSome(info)) handled.add(info.value)
})

/** Whether the request's handler has started (its input was decoded). */
export const isHandled = (info: RequestInfo): boolean => handled.has(info)

/** Request ids callers may choose: short, printable, no separators that break logs or headers. */
const SANE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** The caller's `X-Request-Id` when it is a sane id, else undefined (the server makes one). */
export const acceptedRequestId = (header: string | undefined): string | undefined =>
  header !== undefined && SANE_ID.test(header) ? header : undefined

/** The verified caller of a request. */
export interface Principal {
  readonly actor: Actor.Actor
  readonly token: ApiToken.ApiTokenRecord
  /** The token's own tenant. */
  readonly home: Tenant.Tenant
  /** The tenant this request acts on: `home`, or the `X-Tenant` an actor with `tenant.cross` named. */
  readonly tenant: Tenant.Tenant
}

/** The verified caller, provided to handlers by the auth middlewares. */
export class CurrentPrincipal
  extends Context.Tag("@airlock/adapters-http/CurrentPrincipal")<CurrentPrincipal, Principal>()
{}

/**
 * Runs a handler's body with the verified caller: the acting actor and the id of the tenant the
 * request acts on (and the whole principal, for the rare handler that needs more). The one
 * preamble of every handler that acts for a caller.
 */
export const withPrincipal = <A, E, R>(
  body: (actor: Actor.Actor, tenant: Ids.TenantId, principal: Principal) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | CurrentPrincipal> =>
  Effect.flatMap(CurrentPrincipal, (p) => Effect.zipRight(markHandled, body(p.actor, p.tenant.id, p)))

/**
 * Who is calling, for which tenant, and may they use this route. Six `HttpApiMiddleware`
 * tags share one implementation; a group (or endpoint) picks the one that fits its routes:
 *
 * | middleware | token | tenant (`X-Tenant` / `workspace_id`) | admin checks |
 * |---|---|---|---|
 * | {@link Authenticated} | required | optional | — |
 * | {@link TenantScoped} | required | required in strict mode | — |
 * | {@link Admin} | required | optional | role, IP allowlist, write guard |
 * | {@link AdminTenantScoped} | required | required in strict mode | role, IP allowlist, write guard |
 * | {@link AdminBreakGlass} | required | optional | role, IP allowlist (no write guard: unlock) |
 * | {@link AdminInspect} | required | required in strict mode | role, IP allowlist (changes no data: audit verification) |
 *
 * The chain, in order: admin source IP (403 `admin.ip_denied`, "Admin IP not allowed") →
 * failed-authentication limit of the source address (429 `rate_limited`, scope `auth_failures`:
 * asked before a presented credential is verified; each refused credential counts, a missing
 * header and a success do not; see {@link HttpRateLimit}) →
 * `Authorization: Bearer <token>` verified by core's `ApiTokens` (401 `auth.unauthorized`) →
 * admin role (403 `rbac.forbidden`) → admin write guard (403 `admin.write_disabled`) → tenant
 * resolution (400 `tenant.missing` in strict mode without a selector; 403 `tenant.mismatch` when
 * the request names another tenant and the actor lacks `tenant.cross`; 404 when an admin names an
 * unknown tenant) → rate limit (429 `rate_limited`, see {@link HttpRateLimit}). The token fixes
 * actor and home tenant; only actors with `tenant.cross` (ADMIN) may act on another tenant.
 *
 * A request names its tenant with the `X-Tenant` header, a `workspace_id` query parameter, a
 * `workspace_id` field of its JSON object body (taken out of the body before the route's schema
 * sees it) or a route's `{tenant}` path parameter (the tenants group), all under the same rules. Acting on a tenant other than the token's own is an admin
 * action on every route, not only under `/api/admin/`: the source address must be in the admin
 * IP allowlist, and every write needs `AIRLOCK_ADMIN_WRITE_ENABLED` (break-glass routes keep
 * their exemption from the write guard only).
 */
import { ApiToken as Tokens, Errors, type Ids, Rbac, Tenant, Tenants, TenantScope } from "@airlock/core"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Layer, Option, Schema } from "effect"
import * as ApiError from "./ApiError.js"
import { HttpConfig } from "./HttpConfig.js"
import { HttpRateLimit } from "./HttpRateLimit.js"
import { addressGroup, clientIp, makeIpMatcher, normalizeIp } from "./internal/ip.js"
import { CurrentPrincipal, CurrentRequest, type Principal } from "./RequestContext.js"

const bearer = HttpApiSecurity.bearer

/** What the auth chain can refuse a request with (tenant-scoped chains add `tenant.missing`). */
export type BaseFailure =
  | ApiError.HttpUnauthorized
  | ApiError.HttpForbidden
  | ApiError.HttpValidationError
  | ApiError.HttpNotFound
  | ApiError.HttpRateLimited
  | ApiError.HttpStorageError

const baseFailures: Schema.Schema<BaseFailure, ApiError.ErrorEnvelope> = Schema.Union(
  ApiError.Unauthorized,
  ApiError.Forbidden,
  ApiError.ValidationError,
  ApiError.NotFound,
  ApiError.RateLimited,
  ApiError.StorageError
)

const tenantFailures: Schema.Schema<BaseFailure | ApiError.HttpTenantMissing, ApiError.ErrorEnvelope> = Schema.Union(
  baseFailures,
  ApiError.TenantMissing
)

/** Any valid token; `X-Tenant` optional (routes that are not about one tenant's data). */
export class Authenticated extends HttpApiMiddleware.Tag<Authenticated>()("@airlock/adapters-http/Authenticated", {
  provides: CurrentPrincipal,
  failure: baseFailures,
  security: { bearer }
}) {}

/** Any valid token, acting on one tenant; strict tenant mode requires `X-Tenant`. */
export class TenantScoped extends HttpApiMiddleware.Tag<TenantScoped>()("@airlock/adapters-http/TenantScoped", {
  provides: CurrentPrincipal,
  failure: tenantFailures,
  security: { bearer }
}) {}

/** Admin routes: admin role, source IP allowlist, and writes only when admin writes are enabled. */
export class Admin extends HttpApiMiddleware.Tag<Admin>()("@airlock/adapters-http/Admin", {
  provides: CurrentPrincipal,
  failure: baseFailures,
  security: { bearer }
}) {}

/**
 * Break-glass admin routes (unlock and unlock-code rotation): admin role and source IP
 * allowlist, but not the write guard — a lockdown must be liftable in production, where admin
 * writes are off by default. The unlock code (shown once, expiring, attempt-limited) is the
 * second factor.
 */
export class AdminBreakGlass
  extends HttpApiMiddleware.Tag<AdminBreakGlass>()("@airlock/adapters-http/AdminBreakGlass", {
    provides: CurrentPrincipal,
    failure: baseFailures,
    security: { bearer }
  })
{}

/**
 * Admin routes about one tenant's data that change no data whatever their method (a POST that
 * verifies the audit chain): admin role and source IP allowlist, no write guard — an operator
 * verifies in production, where admin writes are off. Strict tenant mode requires a selector.
 */
export class AdminInspect extends HttpApiMiddleware.Tag<AdminInspect>()("@airlock/adapters-http/AdminInspect", {
  provides: CurrentPrincipal,
  failure: tenantFailures,
  security: { bearer }
}) {}

/** Admin routes about one tenant's data (strict tenant mode requires `X-Tenant`). */
export class AdminTenantScoped
  extends HttpApiMiddleware.Tag<AdminTenantScoped>()("@airlock/adapters-http/AdminTenantScoped", {
    provides: CurrentPrincipal,
    failure: tenantFailures,
    security: { bearer }
  })
{}

/**
 * What a middleware enforces. `writes` says how the admin write guard sees its routes:
 * `method` — every method but GET/HEAD/OPTIONS is a write; `inspect` — the routes change no data
 * whatever their method (audit verification); `breakGlass` — writes exempt from the guard
 * (unlock, unlock-code rotation).
 */
interface Policy {
  readonly tenantScoped: boolean
  readonly admin: boolean
  readonly writes: "method" | "inspect" | "breakGlass"
}

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"])
const BEARER = /^Bearer +(\S+) *$/i

// the id schema through the Tenant class (core's bundled types keep only the type side of `Ids.TenantId`)
const decodeTenantId = Schema.decodeUnknownOption(Tenant.Tenant.fields.id)

type AuthError =
  | Errors.Unauthorized
  | Errors.Forbidden
  | Errors.ValidationError
  | Errors.NotFound
  | Errors.RateLimited
  | Errors.StorageError
  | Errors.TenantMissing

/** Where a request named the tenant it acts on (`path`: a route's `{tenant}` parameter). */
type SelectorSource = "X-Tenant" | "workspace_id" | "path"

const selectorError = (message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError({
    code: "validation.tenant_selector",
    message,
    ...(details === undefined ? {} : { details })
  })

/**
 * The tenant a request names, from every selector it may use — the `X-Tenant` header, a
 * `workspace_id` query parameter, a `workspace_id` field of a JSON object body, a route's
 * `{tenant}` path parameter — under one rule:
 * empty means absent; a value that is not a tenant id is 400 (`validation.tenant_header` for the
 * header, `validation.tenant_selector` for `workspace_id`); selectors naming different tenants
 * are 400 `validation.tenant_selector`. `None` when none was given.
 */
const namedTenant = (
  request: HttpServerRequest.HttpServerRequest,
  bodySelector: { readonly value: unknown } | undefined,
  pathTenant: string | undefined
): Effect.Effect<
  Option.Option<{ readonly id: Ids.TenantId; readonly source: SelectorSource }>,
  Errors.ValidationError
> => {
  const found: Array<{ readonly id: Ids.TenantId; readonly source: SelectorSource }> = []
  if (pathTenant !== undefined) {
    const id = decodeTenantId(pathTenant)
    if (Option.isNone(id)) return Effect.fail(selectorError("The path's {tenant} is not a tenant id"))
    found.push({ id: id.value, source: "path" })
  }
  const header = request.headers["x-tenant"]
  if (header !== undefined && header !== "") {
    const id = decodeTenantId(header)
    if (Option.isNone(id)) {
      return Effect.fail(
        new Errors.ValidationError({ code: "validation.tenant_header", message: "X-Tenant is not a tenant id" })
      )
    }
    found.push({ id: id.value, source: "X-Tenant" })
  }
  const q = request.url.indexOf("?")
  const values: Array<unknown> = q === -1 ? [] : new URLSearchParams(request.url.slice(q + 1)).getAll("workspace_id")
  if (values.length > 1) return Effect.fail(selectorError("workspace_id is given more than once in the query"))
  if (bodySelector !== undefined) values.push(bodySelector.value)
  for (const value of values) {
    if (value === "" || value === null) continue
    const id = decodeTenantId(value)
    if (Option.isNone(id)) return Effect.fail(selectorError("workspace_id is not a tenant id"))
    found.push({ id: id.value, source: "workspace_id" })
  }
  const first = found[0]
  if (first === undefined) return Effect.succeed(Option.none())
  if (found.some((f) => f.id !== first.id)) {
    return Effect.fail(
      selectorError("X-Tenant and workspace_id name different tenants", {
        selectors: found.map((f) => ({ source: f.source, tenant: f.id }))
      })
    )
  }
  return Effect.succeed(Option.some(first))
}

const make = <E>(policy: Policy) =>
  Effect.gen(function*() {
    const tokens = yield* Tokens.ApiTokens
    const tenants = yield* Tenants.Tenants
    const rbac = yield* Rbac.Rbac
    const settings = yield* HttpConfig
    const limiter = yield* HttpRateLimit
    const allowlist = makeIpMatcher(settings.adminIpAllowlist)
    const trusted = makeIpMatcher(settings.trustedProxies)

    const ipDenied = (ip: string | null) =>
      new Errors.Forbidden({ code: "admin.ip_denied", message: "Admin IP not allowed", details: { ip } })
    const writeDisabled = (details?: Record<string, unknown>) =>
      new Errors.Forbidden({
        code: "admin.write_disabled",
        message: "Admin write actions are disabled (AIRLOCK_ADMIN_WRITE_ENABLED is not true)",
        ...(details === undefined ? {} : { details })
      })

    const authenticate = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const current = yield* Effect.serviceOption(CurrentRequest)
      const ip = Option.isSome(current)
        ? current.value.clientIp
        : clientIp(normalizeIp(Option.getOrNull(request.remoteAddress)), request.headers["x-forwarded-for"], trusted)
      const ipAllowed = allowlist.empty || allowlist.has(ip)
      // a write for the admin guards: by method, unless the routes change no data or are break-glass
      const isWrite = policy.writes === "method" && !READ_METHODS.has(request.method)

      if (policy.admin && !ipAllowed) return yield* ipDenied(ip)

      const header = request.headers.authorization
      if (header === undefined || header === "") {
        return yield* new Errors.Unauthorized({ message: "Missing Authorization: Bearer <token>" })
      }
      // refused credentials are limited per address (unknown addresses are not: they would share one count)
      const failures = limiter.authFailures
      const address = failures === undefined ? null : addressGroup(ip)
      if (failures !== undefined && address !== null) yield* failures.check(address)
      const refused = <A, E>(self: Effect.Effect<A, E | Errors.Unauthorized>) =>
        failures === undefined || address === null
          ? self
          : Effect.tapErrorTag(self, "Unauthorized", () => failures.record(address))
      const match = BEARER.exec(header)
      if (match === null) {
        return yield* refused(new Errors.Unauthorized({ message: "Authorization must be Bearer <token>" }))
      }
      const { actor, tenant: home, token } = yield* refused(tokens.verify(match[1]!))

      if (policy.admin) {
        if (!rbac.can(actor, "system.admin")) {
          return yield* new Errors.Forbidden({
            code: "rbac.forbidden",
            message: "Admin role required",
            details: { permission: "system.admin", role: actor.role }
          })
        }
        if (isWrite && !settings.adminWriteEnabled) return yield* writeDisabled()
      }

      let tenant = home
      const routeContext = yield* Effect.serviceOption(HttpRouter.RouteContext)
      const named = yield* namedTenant(
        request,
        Option.isSome(current) ? current.value.bodySelector : undefined,
        Option.isSome(routeContext) ? routeContext.value.params["tenant"] : undefined
      )
      if (Option.isNone(named)) {
        if (policy.tenantScoped && settings.tenantStrict) {
          return yield* new Errors.TenantMissing({
            message: "Missing X-Tenant header (strict tenant mode; workspace_id also names the tenant)"
          })
        }
      } else if (named.value.id !== home.id) {
        if (!TenantScope.allows(rbac, actor, named.value.id)) {
          return yield* TenantScope.mismatch({
            message: `${named.value.source} does not match the token's tenant`,
            details: { token_tenant: home.id }
          })
        }
        // acting on another tenant is an admin action wherever the route is: the admin guards apply
        if (!ipAllowed) return yield* ipDenied(ip)
        if (isWrite && !settings.adminWriteEnabled) {
          return yield* writeDisabled({ tenant: named.value.id, token_tenant: home.id })
        }
        tenant = yield* tenants.get(named.value.id)
      }

      const route = Option.match(current, {
        onSome: (c) => c.route,
        onNone: () => "unmatched"
      })
      yield* limiter.check({
        token_id: token.id,
        actor_id: actor.id,
        tenant_id: tenant.id,
        method: request.method,
        route: Option.isSome(routeContext) ? routeContext.value.route.path : route
      })
      return { actor, token, home, tenant } satisfies Principal
    }) as Effect.Effect<Principal, AuthError, HttpServerRequest.HttpServerRequest>

    // TenantMissing is only raised under `tenantScoped`, whose tags declare it
    return { bearer: () => authenticate as Effect.Effect<Principal, E, HttpServerRequest.HttpServerRequest> }
  })

/** The six auth middlewares, over core's token store, tenants and RBAC. */
export const layer: Layer.Layer<
  Authenticated | TenantScoped | Admin | AdminTenantScoped | AdminBreakGlass | AdminInspect,
  never,
  Tokens.ApiTokens | Tenants.Tenants | Rbac.Rbac | HttpConfig | HttpRateLimit
> = Layer.mergeAll(
  Layer.effect(
    Authenticated,
    make<Exclude<AuthError, Errors.TenantMissing>>({ tenantScoped: false, admin: false, writes: "method" })
  ),
  Layer.effect(TenantScoped, make<AuthError>({ tenantScoped: true, admin: false, writes: "method" })),
  Layer.effect(
    Admin,
    make<Exclude<AuthError, Errors.TenantMissing>>({ tenantScoped: false, admin: true, writes: "method" })
  ),
  Layer.effect(AdminTenantScoped, make<AuthError>({ tenantScoped: true, admin: true, writes: "method" })),
  Layer.effect(
    AdminBreakGlass,
    make<Exclude<AuthError, Errors.TenantMissing>>({ tenantScoped: false, admin: true, writes: "breakGlass" })
  ),
  Layer.effect(AdminInspect, make<AuthError>({ tenantScoped: true, admin: true, writes: "inspect" }))
)

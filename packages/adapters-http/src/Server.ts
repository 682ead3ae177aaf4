/**
 * Serving the API: the request chain around every route, the layers a host mounts, and the
 * Node server with graceful shutdown.
 *
 * Every request goes through {@link middleware}: it assigns the request id (the caller's sane
 * `X-Request-Id`, or a new one), finds the route template, reads and checks the body (size,
 * JSON), runs the route, answers every failure with the error envelope and the status of its
 * code (unexpected failures: 500 `internal`, cause only in the log), sets `X-Request-Id` on every
 * response, and records the request metrics.
 *
 * Hosts use {@link layer} (the API, its handlers, OpenAPI at `/openapi.json`, docs at `/docs`)
 * with `HttpApiBuilder.httpApp` / `HttpApiBuilder.toWebHandler`, or {@link serve} on any
 * `HttpServer`; {@link layerNode} is the Node server with drain-on-shutdown.
 */
import type {
  Companion,
  CompanionProvenance,
  CompanionReports,
  CompanionSettings,
  RulePromotion,
  TenantHealth,
  TenantOnboarding
} from "@airlock/companion"
import { Errors, Ids, type Rbac, type SystemState, type TenantData, type Tenants } from "@airlock/core"
import type { AgentMemory, ApiToken, Audit } from "@airlock/core"
import type { Approvals, BreakerEvents, Budgets, GuardrailsConfig, Lockdown, SystemStatus } from "@airlock/guardrails"
import type { BankTransaction, Chart, Journal, PeriodLock, QboExport } from "@airlock/ledger"
import type {
  AlertWebhook,
  Baseline,
  Digest,
  Executions,
  KpiAlerts,
  KpiRollups,
  Maintenance,
  ProductEvents,
  RunControl,
  Scheduler,
  Triage
} from "@airlock/ops"
import { Drain } from "@airlock/ops"
import {
  HttpApi,
  HttpApiBuilder,
  type HttpApiGroup,
  HttpApiSwagger,
  type HttpApp,
  HttpMiddleware,
  type HttpPlatform,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import type { Etag } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { NodeContext } from "@effect/platform-node"
import type { ServeError } from "@effect/platform/HttpServerError"
import { Context, Effect, Either, Fiber, FiberRef, Layer, Option, Schema, SchemaAST } from "effect"
import { constTrue } from "effect/Function"
import { createServer, type Server as NodeServer } from "node:http"
import { Server as NetServer } from "node:net"
import * as AdminHttp from "./Admin/Http.js"
import { AirlockApi } from "./Api.js"
import * as ApiError from "./ApiError.js"
import * as Auth from "./Auth.js"
import * as CompanionHttp from "./Companion/Http.js"
import * as CompanionProposalsHttp from "./CompanionProposals/Http.js"
import * as CompanionReportsHttp from "./CompanionReports/Http.js"
import * as ExecutionsHttp from "./Executions/Http.js"
import * as GuardrailsHttp from "./Guardrails/Http.js"
import * as HealthHttp from "./Health/Http.js"
import { HttpConfig } from "./HttpConfig.js"
import type { HttpRateLimit } from "./HttpRateLimit.js"
import { prepare, type Prepared } from "./internal/body.js"
import { clientIp, makeIpMatcher, normalizeIp } from "./internal/ip.js"
import { checkQuery } from "./internal/query.js"
import { makeRouteTable } from "./internal/routes.js"
import * as KpiHttp from "./Kpi/Http.js"
import * as LedgerHttp from "./Ledger/Http.js"
import * as MemoryHttp from "./Memory/Http.js"
import * as Metrics from "./Metrics.js"
import * as OperationsHttp from "./Operations/Http.js"
import { Readiness } from "./Readiness.js"
import { acceptedRequestId, CurrentRequest, isHandled, type RequestInfo } from "./RequestContext.js"
import * as RunControlHttp from "./RunControl/Http.js"
import * as SchedulerHttp from "./Scheduler/Http.js"
import * as SystemHttp from "./System/Http.js"
import * as TenantsHttp from "./Tenants/Http.js"
import * as TokensHttp from "./Tokens/Http.js"
import { MAX_PAGE_LIMIT } from "./Wire.js"

/** Where the OpenAPI document and the docs page are served. */
export const paths = { openapi: "/openapi.json", docs: "/docs" } as const

/** The (method, template) pairs of the API plus the document routes, for metrics labels. */
export const routeTemplates = (api: HttpApi.HttpApi.Any = AirlockApi): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = [["GET", paths.openapi], ["GET", paths.docs]]
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => void out.push([endpoint.method, endpoint.path])
  })
  return out
}

/**
 * Routes under `/api/admin/` whose endpoint lacks an admin middleware (`Auth.Admin`,
 * `Auth.AdminTenantScoped`, `Auth.AdminBreakGlass` or `Auth.AdminInspect`). The server refuses to start with any: every admin path gets the
 * role, IP and write checks, whoever declares it.
 */
export const unguardedAdminRoutes = (api: HttpApi.HttpApi.Any = AirlockApi): ReadonlyArray<string> => {
  const out: Array<string> = []
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, middleware }) => {
      const guarded = [...middleware].some((m) =>
        (m as unknown) === Auth.Admin || (m as unknown) === Auth.AdminTenantScoped ||
        (m as unknown) === Auth.AdminBreakGlass || (m as unknown) === Auth.AdminInspect
      )
      if (endpoint.path.startsWith("/api/admin/") && !guarded) out.push(`${endpoint.method} ${endpoint.path}`)
    }
  })
  return out
}

/**
 * The `METHOD template` of every route that declares no request body (a body sent to one is
 * refused with `validation.unexpected_body`), HEAD included for GET routes.
 */
export const routesWithoutBody = (api: HttpApi.HttpApi.Any = AirlockApi): ReadonlySet<string> => {
  const out = new Set<string>([`GET ${paths.openapi}`, `GET ${paths.docs}`])
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      if (Option.isNone(endpoint.payloadSchema)) {
        out.add(`${endpoint.method} ${endpoint.path}`)
        if (endpoint.method === "GET") out.add(`HEAD ${endpoint.path}`)
      }
    }
  })
  return out
}

// The whole payload schema, refinements included: one that refuses an empty object (an update
// that must change something) keeps refusing an empty body as a bad payload.
const acceptsEmptyObject = (payload: SchemaAST.AST): boolean => {
  try {
    return Either.isRight(Schema.decodeUnknownEither(Schema.make(payload))({}))
  } catch {
    // a payload that decodes asynchronously (or through a service) is not assumed to accept it
    return false
  }
}

/**
 * The `METHOD template` of every route whose payload schema accepts `{}` (no required field, no
 * refinement refusing it): an empty body sent to one is read as `{}`, and answered as `{}` is.
 */
export const routesAcceptingEmptyBody = (api: HttpApi.HttpApi.Any = AirlockApi): ReadonlySet<string> => {
  const out = new Set<string>()
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      if (Option.isNone(endpoint.payloadSchema)) return
      if (acceptsEmptyObject(endpoint.payloadSchema.value.ast)) {
        out.add(`${endpoint.method} ${endpoint.path}`)
      }
    }
  })
  return out
}

/** The `METHOD template` of every route that declares a `limit` query parameter (a list). */
export const listRoutes = (api: HttpApi.HttpApi.Any = AirlockApi): ReadonlySet<string> => {
  const out = new Set<string>()
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      if (Option.isNone(endpoint.urlParamsSchema)) return
      const names = SchemaAST.getPropertySignatures(SchemaAST.encodedAST(endpoint.urlParamsSchema.value.ast)).map((
        p
      ) => p.name)
      if (names.includes("limit")) out.add(`${endpoint.method} ${endpoint.path}`)
    }
  })
  return out
}

/** Services the handlers and middlewares need (core services, settings, hooks). */
export type Requirements =
  | Tenants.Tenants
  | AgentMemory.AgentMemory
  | ApiToken.ApiTokens
  | Audit.AuditLog
  | Rbac.Rbac
  | HttpConfig
  | HttpRateLimit
  | Readiness
  | Chart.ChartOfAccounts
  | Journal.Journal
  | PeriodLock.PeriodLocks
  | QboExport.QboExports
  | BankTransaction.BankTransactions
  | Approvals.Approvals
  | Budgets.ExecutionBudgets
  | Lockdown.Lockdown
  | BreakerEvents.BreakerEvents
  | SystemStatus.SystemStatus
  | Budgets.LlmBudget
  | GuardrailsConfig.GuardrailsConfig
  | CompanionSettings.CompanionSettings
  | CompanionReports.CompanionReports
  | RulePromotion.RulePromotions
  | ProductEvents.ProductEvents
  | KpiRollups.KpiRollups
  | KpiAlerts.KpiAlerts
  | AlertWebhook.AlertWebhook
  | Baseline.Baselines
  | Digest.Digests
  | Executions.Executions
  | Triage.Triage
  | RunControl.RunControl
  | SystemState.SystemStateStore
  | Drain.Drain
  | Drain.Restart
  | Scheduler.Scheduler
  | Maintenance.Maintenance
  | Companion.Companion
  | CompanionProvenance.CompanionProvenance
  | TenantOnboarding.TenantOnboarding
  | TenantHealth.TenantHealth
  | TenantData.TenantData

/** Every group's handlers. A new group adds its `Http.ts` layer here. */
export const groups: Layer.Layer<
  | HttpApiGroup.ApiGroup<"airlock", "health">
  | HttpApiGroup.ApiGroup<"airlock", "companion">
  | HttpApiGroup.ApiGroup<"airlock", "companionProposals">
  | HttpApiGroup.ApiGroup<"airlock", "system">
  | HttpApiGroup.ApiGroup<"airlock", "admin">
  | HttpApiGroup.ApiGroup<"airlock", "ledger">
  | HttpApiGroup.ApiGroup<"airlock", "guardrails">
  | HttpApiGroup.ApiGroup<"airlock", "lockdown">
  | HttpApiGroup.ApiGroup<"airlock", "memory">
  | HttpApiGroup.ApiGroup<"airlock", "kpi">
  | HttpApiGroup.ApiGroup<"airlock", "executions">
  | HttpApiGroup.ApiGroup<"airlock", "runControl">
  | HttpApiGroup.ApiGroup<"airlock", "operations">
  | HttpApiGroup.ApiGroup<"airlock", "scheduler">
  | HttpApiGroup.ApiGroup<"airlock", "companionReports">
  | HttpApiGroup.ApiGroup<"airlock", "tenantsAdmin">
  | HttpApiGroup.ApiGroup<"airlock", "tenants">
  | HttpApiGroup.ApiGroup<"airlock", "tokens">,
  never,
  | Requirements
  | Auth.Authenticated
  | Auth.TenantScoped
  | Auth.Admin
  | Auth.AdminTenantScoped
  | Auth.AdminBreakGlass
  | Auth.AdminInspect
> = Layer.mergeAll(
  HealthHttp.layer,
  CompanionHttp.layer,
  CompanionProposalsHttp.layer,
  SystemHttp.layer,
  AdminHttp.layer,
  LedgerHttp.layer,
  GuardrailsHttp.layer,
  GuardrailsHttp.layerLockdown,
  MemoryHttp.layer,
  KpiHttp.layer,
  ExecutionsHttp.layer,
  RunControlHttp.layer,
  OperationsHttp.layer,
  SchedulerHttp.layer,
  CompanionReportsHttp.layer,
  TenantsHttp.layerAdmin,
  TenantsHttp.layer,
  TokensHttp.layer
)

const MAX_PATH_IN_MESSAGE = 200

/** Routes answered while draining (probes and scrapers must see the drain, not be refused by it). */
const HEALTH_ROUTES = new Set(["/healthz", "/api/v1/health/live", "/readyz", "/metrics"])

/** Bodies that are files on purpose (bank import), not JSON sent with the wrong type. */
const isFileType = (contentType: string) => /csv|ofx/i.test(contentType)

/**
 * Request ids: ULID-shaped (`req_` + 26 characters, time-ordered), unique across instances by a
 * random per-process part and within the process by a counter — cheap enough for every request.
 */
const requestIds = (): () => string => {
  const bytes = new Uint8Array(10)
  globalThis.crypto.getRandomValues(bytes.subarray(0, 6))
  let counter = 0
  return () => {
    counter = (counter + 1) >>> 0
    bytes[6] = counter >>> 24
    bytes[7] = (counter >>> 16) & 0xff
    bytes[8] = (counter >>> 8) & 0xff
    bytes[9] = counter & 0xff
    return `req_${Ids.encodeUlid(Date.now(), bytes)}`
  }
}

/**
 * The request chain around every route (see the module doc). Registered without the layer's
 * context (`withContext` off): the chain needs nothing from it, and merging the whole service
 * context into every request cost a copy of it per request — and made every later
 * `provideService` in the request copy the large map again.
 */
export const middleware: Layer.Layer<never, never, HttpConfig | Drain.Drain> = HttpApiBuilder.middleware(
  Effect.gen(function*() {
    const settings = yield* HttpConfig
    const drain = yield* Drain.Drain
    const drainSettings = yield* Drain.currentSettings
    const unguarded = unguardedAdminRoutes()
    if (unguarded.length > 0)
      return yield* Effect.dieMessage(`admin routes without the admin middleware: ${unguarded.join(", ")}`)
    const nextId = requestIds()
    const trusted = makeIpMatcher(settings.trustedProxies)
    const routes = makeRouteTable(routeTemplates())
    const bodyless = routesWithoutBody()
    const emptyAccepted = routesAcceptingEmptyBody()
    const lists = listRoutes()
    const limits = { maxBytes: settings.maxBodyBytes, maxJsonDepth: settings.maxJsonDepth }

    const respondFailure = (error: ApiError.AirlockError, requestId: string) => {
      let response = HttpServerResponse.unsafeJson(ApiError.toBody(error, requestId), {
        status: Errors.httpStatus(error)
      })
      if (error._tag === "RateLimited") {
        response = HttpServerResponse.setHeader(
          response,
          "retry-after",
          String(Math.max(1, Math.ceil(error.retry_after_seconds)))
        )
      } else if (error._tag === "Unavailable" && typeof error.details?.retry_after_seconds === "number") {
        response = HttpServerResponse.setHeader(
          response,
          "retry-after",
          String(Math.max(1, Math.ceil(error.details.retry_after_seconds)))
        )
      }
      return response
    }

    // new work while draining: 503 with Retry-After (health routes still answer)
    const refuseDraining = (requestId: string) =>
      Effect.succeed(respondFailure(
        new Errors.Unavailable({
          message: drain.reason() === "shutting_down" ? "Server is shutting down" : "Server is restarting",
          details: { reason: drain.reason() ?? "draining", retry_after_seconds: drainSettings.retryAfterSeconds }
        }),
        requestId
      ))

    return (app: HttpApp.Default): HttpApp.Default =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const started = performance.now()
        const route = routes.match(request.method, request.url)
        const id = acceptedRequestId(request.headers["x-request-id"]) ?? nextId()
        const info: { -readonly [K in keyof RequestInfo]: RequestInfo[K] } = {
          id,
          route,
          clientIp: clientIp(
            normalizeIp(Option.getOrNull(request.remoteAddress)),
            request.headers["x-forwarded-for"],
            trusted
          )
        }
        const fail = (cause: import("effect/Cause").Cause<unknown>) =>
          Effect.gen(function*() {
            const q = request.url.indexOf("?")
            const path = (q === -1 ? request.url : request.url.slice(0, q)).slice(0, MAX_PATH_IN_MESSAGE)
            const outcome = ApiError.fromCause(cause, { method: request.method, path }, { handled: isHandled(info) })
            const status = Errors.httpStatus(outcome.error)
            const contentType = request.headers["content-type"]
            if (
              outcome.error._tag === "ValidationError" && outcome.error.code === "validation.schema" &&
              contentType !== undefined && !contentType.toLowerCase().includes("application/json") &&
              !isFileType(contentType)
            ) {
              // the usual cause: a JSON body sent as text/plain (fetch's default for string bodies)
              return respondFailure(
                new Errors.ValidationError({
                  code: outcome.error.code,
                  message: outcome.error.message,
                  details: { ...outcome.error.details, hint: "Send JSON bodies with Content-Type: application/json" }
                }),
                id
              )
            }
            if (outcome.log) {
              yield* Effect.logError("request failed", cause).pipe(
                Effect.annotateLogs({ request_id: id, method: request.method, route, status })
              )
            }
            return respondFailure(outcome.error, id)
          })
        const badQuery = lists.has(`${request.method} ${route}`) ? checkQuery(request.url, MAX_PAGE_LIMIT) : undefined
        const takesBody = route === "unmatched" ? undefined : !bodyless.has(`${request.method} ${route}`)
        const run = (badQuery === undefined
          ? prepare(request, limits, takesBody, emptyAccepted.has(`${request.method} ${route}`))
          : Effect.succeed<Prepared>({ _tag: "Refused", error: badQuery, closeConnection: false })).pipe(
            Effect.flatMap((prepared) => {
              if (prepared._tag === "Refused") {
                const refused = respondFailure(prepared.error, id)
                return Effect.succeed(
                  prepared.closeConnection ? HttpServerResponse.setHeader(refused, "connection", "close") : refused
                )
              }
              if (prepared.selector !== undefined) info.bodySelector = prepared.selector
              return prepared.request === request
                ? app
                : Effect.provideService(app, HttpServerRequest.HttpServerRequest, prepared.request)
            }),
            Effect.provideService(CurrentRequest, info),
            Effect.catchAllCause(fail)
          )
        let response = yield* (drain.isAccepting() || HEALTH_ROUTES.has(route) ? drain.track(run) : refuseDraining(id))
        // shutting down: every answer closes its connection, so keep-alive clients reconnect elsewhere
        if (drain.reason() === "shutting_down") response = HttpServerResponse.setHeader(response, "connection", "close")
        response = HttpServerResponse.setHeader(response, "x-request-id", id)
        Metrics.record(request.method, route, response.status, (performance.now() - started) / 1000)
        return response
      })
  })
)

/** What {@link layer} provides itself: the readiness registry, the drain gate and the controlled restart. */
export type Provided = Readiness | Drain.Drain | Drain.Restart

/**
 * The API with its handlers, auth, readiness registry, drain gate and controlled restart
 * (ops' `Drain` and `Restart`), OpenAPI document and docs page, and the request chain: what
 * `HttpApiBuilder.httpApp` (or `serve`) needs. Provide core services, an `HttpConfig` and a
 * `HttpRateLimit` (and optionally ops' `DrainConfig` and `RestartHook`).
 */
export const layer: Layer.Layer<
  HttpApi.Api | Provided,
  never,
  Exclude<Requirements, Provided>
> = Layer.mergeAll(
  HttpApiBuilder.middlewareOpenApi({ path: paths.openapi }),
  HttpApiSwagger.layer({ path: paths.docs }),
  middleware
).pipe(
  Layer.provideMerge(HttpApiBuilder.api(AirlockApi).pipe(Layer.provide(groups), Layer.provide(Auth.layer))),
  Layer.provideMerge(Drain.Restart.DefaultWithoutDependencies),
  Layer.provideMerge(Drain.Drain.DefaultWithoutDependencies),
  Layer.provideMerge(Readiness.Default)
)

/** Drains a server's connections on shutdown (provided by {@link layerNode}). */
export class ServerDrain extends Context.Tag("@airlock/adapters-http/ServerDrain")<
  ServerDrain,
  {
    /** Stops accepting new connections; open ones (and their requests) carry on. */
    readonly stopListening: Effect.Effect<void>
    /**
     * Closes connections as they become idle, waits until all are closed, and past
     * `timeoutMillis` closes what is left.
     */
    readonly closeConnections: (timeoutMillis: number) => Effect.Effect<void>
    /** {@link stopListening}, then {@link closeConnections}. */
    readonly drain: (timeoutMillis: number) => Effect.Effect<void>
  }
>() {}

/**
 * Serves {@link layer} on the ambient `HttpServer`. On shutdown (scope close: SIGTERM/SIGINT
 * under `NodeRuntime.runMain`) it first drains with ops' `Drain` (reason `shutting_down`): it
 * keeps accepting for `shutdownGraceMillis` (250 ms; new requests get 503, so connections already
 * in the listen backlog are answered, not reset), stops listening, answers requests that arrive
 * on open connections with 503 `unavailable`
 * (`Retry-After`, `Connection: close`), lets in-flight requests finish with their own status
 * (up to `shutdownTimeoutMillis`), closes the connections, and only then are the layers below —
 * storage — closed.
 */
export const serve: Layer.Layer<
  never,
  never,
  | Exclude<Requirements, Provided>
  | HttpServer.HttpServer
  | HttpPlatform.HttpPlatform
  | Etag.Generator
  | NodeContext.NodeContext
> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const app = yield* HttpApiBuilder.httpApp
    const server = yield* HttpServer.HttpServer
    const settings = yield* HttpConfig
    if (!settings.tracing) {
      // no request span, and no spans below it (SQL statements, services): they cost on every request
      yield* Effect.locallyScoped(HttpMiddleware.currentTracerDisabledWhen, constTrue)
      yield* Effect.locallyScoped(FiberRef.currentTracerEnabled, false)
    }
    yield* server.serve(app)
    const connections = yield* Effect.serviceOption(ServerDrain)
    const gate = yield* Drain.Drain
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const timeout = settings.shutdownTimeoutMillis
        yield* Effect.logInfo(`shutting down: draining in-flight requests (up to ${timeout} ms)`)
        // new requests are answered 503 (Connection: close, Retry-After) from now on; the listener
        // keeps accepting for a short grace, so connections already in its backlog are answered
        // rather than reset when it closes
        const draining = yield* Effect.fork(gate.drain(timeout, { reason: "shutting_down" }))
        if (Option.isSome(connections)) {
          const grace = Math.min(settings.shutdownGraceMillis, timeout)
          if (grace > 0) yield* Effect.sleep(grace)
          yield* connections.value.stopListening
        }
        const outcome = yield* Fiber.join(draining)
        if (Option.isSome(connections))
          yield* connections.value.closeConnections(Math.max(0, timeout - outcome.waited_ms))
        yield* Effect.logInfo("http server stopped").pipe(Effect.annotateLogs({ ...outcome }))
      })
    )
  })
).pipe(
  Layer.provide(layer),
  Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer])
)

const netClose = NetServer.prototype.close

/** How long a shutdown lets requests already on the wire arrive before closing idle connections. */
const SETTLE_MS = 100

const drainNode = (server: NodeServer): ServerDrain["Type"] => {
  let closed: Promise<void> | undefined
  // Node's `server.close()` also closes idle keep-alive connections at once, racing clients
  // that are sending their next request on them (a connection reset); stopping the listener
  // alone leaves them open: their next request is answered (503, Connection: close) instead.
  const stopListening = Effect.sync(() => {
    if (closed === undefined) {
      closed = new Promise<void>((resolve) => {
        if (!server.listening) return resolve()
        netClose.call(server, () => resolve())
      })
    }
  })
  const closeConnections = (timeoutMillis: number): Effect.Effect<void> =>
    Effect.zipRight(
      stopListening,
      Effect.async<void>((resume) => {
        let done = false
        const finish = () => {
          if (done) return
          done = true
          clearTimeout(settle)
          clearInterval(idle)
          clearTimeout(force)
          resume(Effect.void)
        }
        void closed!.then(finish)
        // keep-alive connections become idle when their in-flight response is done; the first
        // sweep waits a moment so requests already on the wire are read (and answered) first
        let idle: ReturnType<typeof setInterval> | undefined
        const settle = setTimeout(() => {
          server.closeIdleConnections()
          idle = setInterval(() => server.closeIdleConnections(), 25)
        }, Math.min(SETTLE_MS, timeoutMillis))
        const force = setTimeout(() => server.closeAllConnections(), timeoutMillis)
        return Effect.sync(finish)
      })
    )
  return {
    stopListening,
    closeConnections,
    drain: (timeoutMillis) => Effect.zipRight(stopListening, closeConnections(timeoutMillis))
  }
}

/** What Node's parser refused, as the error envelope: status, code and message. */
const protocolError = (code: string | undefined): { status: number; code: string; message: string } => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, code: "payload.too_large", message: "Request headers too large" }
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, code: "validation.request", message: "The request was not received in time" }
    default:
      return { status: 400, code: "validation.request", message: "Malformed HTTP request" }
  }
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large"
}

/**
 * Answers what Node's HTTP parser refuses before any handler runs (a bad request line or
 * header, headers over Node's limit, a request too slow to arrive) with the error envelope and
 * a request id, then closes the connection. What cannot be answered (the connection is already
 * gone) is dropped.
 */
export const answerClientErrors = (server: NodeServer): void => {
  const nextId = requestIds()
  server.on("clientError", (err: NodeJS.ErrnoException, socket: import("node:stream").Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy()
      return
    }
    const { code, message, status } = protocolError(err.code)
    const id = nextId()
    const body = JSON.stringify({
      error: {
        code,
        message,
        details: code === "payload.too_large" ? { part: "headers" } : {},
        request_id: id
      }
    })
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`
    )
  })
}

/** Options of the Node server. */
export interface NodeServerOptions {
  readonly port: number
  readonly host: string
}

/**
 * A Node `http` server listening on `host:port` (port 0 picks a free one), with the platform
 * services and {@link ServerDrain}; protocol errors Node answers before any handler get the error
 * envelope ({@link answerClientErrors}).
 */
export const layerNode = (options: NodeServerOptions): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext | ServerDrain,
  ServeError
> =>
  Layer.unwrapEffect(
    Effect.sync(() => {
      const server = createServer()
      answerClientErrors(server)
      return Layer.merge(
        NodeHttpServer.layer(() => server, { port: options.port, host: options.host }),
        Layer.succeed(ServerDrain, drainNode(server))
      )
    })
  )

/**
 * @airlock/adapters-http — the reference HTTP adapter on `@effect/platform` `HttpApi`: declared
 * route groups (so `/openapi.json`, `/docs` and a typed client come from the declaration), bearer
 * auth with tenant resolution, admin guards, one error envelope, health, readiness and metrics.
 */
export * as AdminApi from "./Admin/Api.js"
export * as AdminHttp from "./Admin/Http.js"
export * as Api from "./Api.js"
export * as ApiError from "./ApiError.js"
export * as Auth from "./Auth.js"
export * as CompanionApi from "./Companion/Api.js"
export * as CompanionHttp from "./Companion/Http.js"
export * as GuardrailsApi from "./Guardrails/Api.js"
export * as GuardrailsHttp from "./Guardrails/Http.js"
export * as HealthApi from "./Health/Api.js"
export * as HealthHttp from "./Health/Http.js"
export * as HttpConfig from "./HttpConfig.js"
export * as HttpRateLimit from "./HttpRateLimit.js"
export * as LedgerApi from "./Ledger/Api.js"
export * as LedgerHttp from "./Ledger/Http.js"
export * as MemoryApi from "./Memory/Api.js"
export * as MemoryHttp from "./Memory/Http.js"
export * as Metrics from "./Metrics.js"
export * as Readiness from "./Readiness.js"
export * as RequestContext from "./RequestContext.js"
export * as Server from "./Server.js"
export * as SystemApi from "./System/Api.js"
export * as SystemHttp from "./System/Http.js"
export * as Wire from "./Wire.js"

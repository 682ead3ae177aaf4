/**
 * Contract of the system group: `GET /api/v1/system/status` — the global AI switch, the
 * environment, the admin write guard, the acting tenant's kill-switch state, and the guardrails
 * state (lockdown, the run's stop state and runtime overrides, breakers, the rate limit, the LLM
 * budget fallback) and the scheduler's backlog and lag. Any valid token; `X-Tenant` optional (an admin's `X-Tenant` picks the tenant
 * whose breakers and budget are shown). The guardrails fields need `ops.read` (every human
 * role); for other actors (the AI agent) they are `null`.
 */
import { Budgets } from "@airlock/guardrails"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Authenticated } from "../Auth.js"
import { LockdownView } from "../Guardrails/Api.js"
import { SchedulerStatus } from "../Scheduler/Api.js"
import { AiMode, Banner, Environment, GlobalAi, Timestamp } from "../Wire.js"

/** Whether the AI may act in a tenant, and if not, which kill-switch layer stops it. */
export const CompanionState = Schema.Struct({
  enabled: Schema.Boolean,
  layer: Schema.optional(Schema.Literal("global", "tenant", "kill_switch", "ai_enabled")),
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "CompanionState" })

const NullTime = Schema.NullOr(Timestamp)

/** A circuit breaker's state (velocity, trust, a model provider, …). */
export const BreakerState = Schema.Struct({
  key: Schema.String,
  kind: Schema.String,
  tenant_id: Schema.NullOr(Schema.String),
  state: Schema.Literal("closed", "open", "half_open"),
  reason: Schema.NullOr(Schema.String),
  opened_at: NullTime,
  until: NullTime,
  consecutive_failures: Schema.Number,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}).annotations({ identifier: "BreakerState" })

/**
 * The run's runtime overrides (`run.active`, `run.paused`, shared by every instance) and the
 * stop condition that wrote them (`simulation_stopped_guardrail` reasons).
 */
export const RunStatus = Schema.Struct({
  active: Schema.Boolean,
  paused: Schema.Boolean,
  should_stop: Schema.Boolean,
  stop: Schema.NullOr(Schema.Struct({
    reason: Schema.Literal("budget_hard_exceeded", "provider_failures_repeated", "db_pool_pressure"),
    data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    at: Timestamp
  }))
}).annotations({ identifier: "RunStatus" })

/** Request rate limiting as the server applies it (per token and per tenant, requests per minute). */
export const RateLimitStatus = Schema.Struct({
  enabled: Schema.Boolean,
  rpm: Schema.Number,
  tenant_rpm: Schema.Number
}).annotations({ identifier: "RateLimitStatus" })

/** The tenant's LLM budget: `fallback_active` with `fallback_reason` when a cap is reached (USD as decimal strings). */
export const LlmBudgetStatus = Schema.Struct({
  fallback_active: Schema.Boolean,
  fallback_reason: Schema.NullOr(Budgets.FallbackReason),
  period: Schema.String,
  tenant_spent_usd: Schema.String,
  tenant_cap_usd: Schema.String,
  global_spent_usd: Schema.String,
  global_cap_usd: Schema.String
}).annotations({ identifier: "LlmBudgetStatus" })

/** System status. */
export const SystemStatus = Schema.Struct({
  environment: Environment,
  /** The ops console's banner (`DEVELOPMENT`, `Write controls enabled`). */
  banner: Banner,
  server_time: Timestamp,
  ai_global: GlobalAi,
  admin_write_enabled: Schema.Boolean,
  tenant_strict: Schema.Boolean,
  rate_limit_enabled: Schema.Boolean,
  tenant_id: Schema.String,
  ai_mode: AiMode,
  companion: CompanionState,
  lockdown: Schema.NullOr(LockdownView),
  run: Schema.NullOr(RunStatus),
  breakers: Schema.NullOr(Schema.Struct({
    providers: Schema.Array(BreakerState),
    velocity: BreakerState,
    trust: BreakerState
  })),
  rate_limit: Schema.NullOr(RateLimitStatus),
  llm_budget_status: Schema.NullOr(LlmBudgetStatus),
  /** The scheduler's backlog and lag: due, dispatched, running, late, last error (`ops.read`). */
  scheduler: Schema.NullOr(SchedulerStatus)
}).annotations({ identifier: "SystemStatus" })

/** The system group. */
export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("status", "/api/v1/system/status").addSuccess(SystemStatus).addError(ApiError.StorageError))
  .middleware(Authenticated)
  .annotate(OpenApi.Title, "System")
  .annotate(
    OpenApi.Description,
    "Runtime status: global AI switch, environment, guards, lockdown, breakers, rate limit, budget fallback"
  )
{}

/**
 * Contract of the system group. Phase 1: `GET /api/v1/system/status` — the global AI switch,
 * the environment, the admin write guard and the caller's tenant kill-switch state. Any valid
 * token; `X-Tenant` optional.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { Authenticated } from "../Auth.js"
import { AiMode, Environment, GlobalAi, Timestamp } from "../Wire.js"

/** Whether the AI may act in a tenant, and if not, which kill-switch layer stops it. */
export const CompanionState = Schema.Struct({
  enabled: Schema.Boolean,
  layer: Schema.optional(Schema.Literal("global", "tenant", "kill_switch", "ai_enabled")),
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "CompanionState" })

/** System status. */
export const SystemStatus = Schema.Struct({
  environment: Environment,
  server_time: Timestamp,
  ai_global: GlobalAi,
  admin_write_enabled: Schema.Boolean,
  tenant_strict: Schema.Boolean,
  rate_limit_enabled: Schema.Boolean,
  tenant_id: Schema.String,
  ai_mode: AiMode,
  companion: CompanionState
}).annotations({ identifier: "SystemStatus" })

/** The system group. */
export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("status", "/api/v1/system/status").addSuccess(SystemStatus).addError(ApiError.StorageError))
  .middleware(Authenticated)
  .annotate(OpenApi.Title, "System")
  .annotate(OpenApi.Description, "Runtime status: global AI switch, environment, guards")
{}

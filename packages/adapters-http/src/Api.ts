/**
 * The Airlock HTTP API contract: every route group, shared by the server (handlers in each
 * group's `Http.ts`), the OpenAPI document, the docs page and the typed client
 * (`HttpApiClient.make(AirlockApi)`). A new group adds its `Api.ts` here and its `Http.ts`
 * layer to `Server.groups`.
 *
 * Errors every route may answer: 400 `validation.*` (malformed JSON, wrong types, bad ids),
 * 413 `payload.too_large`, 500 `internal`.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./Admin/Api.js"
import * as ApiError from "./ApiError.js"
import { CompanionApi } from "./Companion/Api.js"
import { CompanionProposalsApi } from "./CompanionProposals/Api.js"
import { CompanionReportsApi } from "./CompanionReports/Api.js"
import { ExecutionsApi } from "./Executions/Api.js"
import { GuardrailsApi, LockdownApi } from "./Guardrails/Api.js"
import { HealthApi } from "./Health/Api.js"
import { KpiApi } from "./Kpi/Api.js"
import { LedgerApi } from "./Ledger/Api.js"
import { MemoryApi } from "./Memory/Api.js"
import { OperationsApi } from "./Operations/Api.js"
import { RunControlApi } from "./RunControl/Api.js"
import { SchedulerApi } from "./Scheduler/Api.js"
import { SystemApi } from "./System/Api.js"
import { TenantsAdminApi, TenantsApi } from "./Tenants/Api.js"
import { TokensApi } from "./Tokens/Api.js"

/**
 * The platform declares its own decode error on every API; Airlock answers decode failures with
 * the error envelope (`validation.schema`), so the document drops the platform's shape.
 */
const withoutPlatformDecodeError = (spec: Record<string, any>): Record<string, any> => {
  const ref = "#/components/schemas/HttpApiDecodeError"
  for (const item of Object.values(spec.paths ?? {}) as Array<Record<string, any>>) {
    for (const op of Object.values(item)) {
      const bad = op?.responses?.["400"]
      const media = bad?.content?.["application/json"]
      if (media?.schema?.anyOf) {
        const rest = media.schema.anyOf.filter((s: { $ref?: string }) => s.$ref !== ref)
        media.schema = rest.length === 1 ? rest[0] : { anyOf: rest }
        bad.description = "Invalid input (validation.*) or missing tenant (tenant.missing)"
      }
    }
  }
  delete spec.components?.schemas?.HttpApiDecodeError
  delete spec.components?.schemas?.Issue
  delete spec.components?.schemas?.PropertyKey
  return spec
}

/** The Airlock HTTP API. */
export class AirlockApi extends HttpApi.make("airlock")
  .add(HealthApi)
  .add(CompanionApi)
  .add(CompanionProposalsApi)
  .add(SystemApi)
  .add(AdminApi)
  .add(LedgerApi)
  .add(GuardrailsApi)
  .add(LockdownApi)
  .add(MemoryApi)
  .add(KpiApi)
  .add(ExecutionsApi)
  .add(RunControlApi)
  .add(OperationsApi)
  .add(SchedulerApi)
  .add(CompanionReportsApi)
  .add(TenantsAdminApi)
  .add(TenantsApi)
  .add(TokensApi)
  .addError(ApiError.ValidationError)
  .addError(ApiError.PayloadTooLarge)
  .addError(ApiError.InternalError)
  .annotate(OpenApi.Title, "Airlock")
  .annotate(OpenApi.Transform, withoutPlatformDecodeError)
  .annotate(
    OpenApi.Description,
    "The safety layer between an AI copilot and a system of record. Authenticate with `Authorization: Bearer <token>`; admins may act on another tenant with `X-Tenant`."
  )
{}

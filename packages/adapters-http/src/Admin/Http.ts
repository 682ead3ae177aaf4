/** Handlers of the admin group. */
import { Audit, type Ids, Tenants } from "@airlock/core"
import { RunControl } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Clock, Effect, type Layer } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin, AdminInspect, AdminTenantScoped } from "../Auth.js"
import { banner, HttpConfig } from "../HttpConfig.js"
import { HttpRateLimit } from "../HttpRateLimit.js"
import { CurrentPrincipal, withPrincipal } from "../RequestContext.js"
import { runJson } from "../RunControl/Http.js"

/** The run-control part of the admin status. */
const statusOps = (
  environment: string,
  ops: Effect.Effect.Success<ReturnType<RunControl.RunControl["status"]>>
) => ({
  environment_banner: environment === "production" ? "PRODUCTION" as const : "DEVELOPMENT" as const,
  run: runJson(ops.run),
  overrides: ops.overrides.map((o) => ({
    key: o.key,
    value: o.value,
    updated_at: o.updated_at,
    updated_by: o.updated_by
  })),
  stop_events: ops.stop_events.map((e) => ({
    id: e.id,
    type: e.type,
    reason: e.reason,
    data: e.data,
    actor_id: e.actor_id,
    at: e.at
  }))
})

/** Most new records one listing page hashes past the checkpoint (the rest waits for the next page or a verify). */
export const AUDIT_LISTING_VERIFY_BUDGET = 5000

const chainJson = (r: Audit.VerifyReport) => ({
  ok: r.ok,
  checked: r.checked,
  first_break: r.first_break,
  scope: r.scope ?? "full",
  verified_through: r.verified_through ?? 0,
  complete: r.complete ?? true
})

/** The admin group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "admin">,
  never,
  | Tenants.Tenants
  | Audit.AuditLog
  | HttpConfig
  | HttpRateLimit
  | RunControl.RunControl
  | Admin
  | AdminTenantScoped
  | AdminInspect
> = HttpApiBuilder.group(
  AirlockApi,
  "admin",
  (handlers) =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const audit = yield* Audit.AuditLog
      const settings = yield* HttpConfig
      const limiter = yield* HttpRateLimit
      const control = yield* RunControl.RunControl
      const startedAt = yield* Clock.currentTimeMillis

      /**
       * A listing's chain report without hashing the whole log: the incremental walk from the
       * checkpoint (bounded), and the page's own records (so tampering in what is shown is
       * reported even before the checkpoint). The first break of either.
       */
      const listingChain = (tenant: Ids.TenantId, records: ReadonlyArray<Audit.AuditRecord>) =>
        Effect.map(audit.verifyChain(tenant, { maxRecords: AUDIT_LISTING_VERIFY_BUDGET }), (walk) => {
          const page = Audit.checkPage(records)
          const first = [walk.first_break, page].filter((b) => b !== null).sort((a, b) => a!.seq - b!.seq)[0] ?? null
          return chainJson({ ...walk, ok: first === null, first_break: first, checked: walk.checked + records.length })
        })
      return handlers
        .handle("status", () =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const ops = yield* control.status((yield* CurrentPrincipal).actor)
            return {
              environment: settings.environment,
              banner: banner(settings),
              admin_write_enabled: settings.adminWriteEnabled,
              admin_ip_allowlist_enabled: settings.adminIpAllowlist.length > 0,
              tenant_strict: settings.tenantStrict,
              rate_limit_enabled: limiter.enabled,
              max_body_bytes: settings.maxBodyBytes,
              ai_global: yield* tenants.globalAi(),
              server_time: now,
              started_at: startedAt,
              uptime_seconds: Math.floor((now - startedAt) / 1000),
              ...statusOps(settings.environment, ops)
            }
          }))
        .handle("audit", ({ urlParams }) =>
          withPrincipal((_, tenant) =>
            Effect.gen(function*() {
              const limit = urlParams.limit ?? 100
              const records = yield* audit.list(tenant, { afterSeq: urlParams.after_seq ?? 0, limit })
              const chain = urlParams.verify === false ? null : yield* listingChain(tenant, records)
              const last = records[records.length - 1]
              return {
                tenant_id: tenant,
                records: records.map((r) => ({
                  seq: r.seq,
                  at: r.at,
                  actor_id: r.actor_id,
                  action: r.action,
                  subject: r.subject,
                  data: r.data,
                  prev_hash: r.prev_hash,
                  hash: r.hash
                })),
                next_after_seq: records.length === limit && last !== undefined ? last.seq : null,
                chain
              }
            })
          ))
        .handle("verifyAudit", ({ payload }) =>
          withPrincipal((_, tenant) =>
            Effect.map(audit.verifyChain(tenant, { full: payload.full === true }), chainJson)
          ))
        .handle("setAiGlobal", ({ payload }) =>
          withPrincipal((actor, tenant) =>
            Effect.gen(function*() {
              // audited in the chain of the tenant the request acts on (X-Tenant, else the admin's own)
              yield* tenants.setGlobalAiEnabled(payload.enabled, actor, tenant)
              return yield* tenants.globalAi()
            })
          ))
    })
)

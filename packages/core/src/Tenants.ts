/**
 * Tenant administration: creating tenants with their settings and actors, flipping the kill
 * switch layers, changing the AI mode. Every change is audited with who made it.
 */
import { Clock, Effect, Option, Schema } from "effect"
import { Actor, type ActorKind, ActorStore } from "./Actor.js"
import type * as AiSettingsTypes from "./AiSettings.js"
import {
  AiMode,
  AiSettings,
  AiSettingsStore,
  checkExtensions,
  defaultSettings,
  isEmptyDiff,
  settingsDiff
} from "./AiSettings.js"
import { AuditLog } from "./Audit.js"
import { CoreConfig } from "./CoreConfig.js"
import { Forbidden, NotFound, type PayloadTooLarge, type StorageError, ValidationError } from "./Errors.js"
import { ActorId, IdGenerator, type TenantId } from "./Ids.js"
import { globalEnabledOf } from "./KillSwitch.js"
import { Rbac } from "./Rbac.js"
import { AI_GLOBAL_ENABLED_KEY, SystemStateEntry, SystemStateStore } from "./SystemState.js"
import { Tenant, TenantStore } from "./Tenant.js"
import * as TenantScope from "./TenantScope.js"
import { UnitOfWork } from "./UnitOfWork.js"

/** Who performs a change: an actor, or the system itself (bootstrap, seeding). */
export type ChangedBy = Actor | "system"

const byId = (by: ChangedBy) => (by === "system" ? "system" : by.id)

/** Input to create a tenant. */
export interface CreateTenant {
  readonly id: TenantId
  readonly name: string
  readonly ai_companion_enabled?: boolean
  readonly settings?: Partial<Pick<AiSettings, "ai_enabled" | "kill_switch" | "ai_mode" | "extensions">>
}

/** Input to add an actor. */
export interface CreateActor {
  readonly tenant_id: TenantId
  readonly kind: ActorKind
  readonly name: string
  readonly role: string
  readonly id?: ActorId
}

/** A partial update of AI settings. `extensions` keys are merged; a `null` value removes a key. */
export const SettingsPatch = Schema.Struct({
  ai_enabled: Schema.optional(Schema.Boolean),
  kill_switch: Schema.optional(Schema.Boolean),
  ai_mode: Schema.optional(AiMode),
  extensions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
/** Type of {@link SettingsPatch}. */
export type SettingsPatch = typeof SettingsPatch.Type

/**
 * The global layer of the kill switch as every instance sees it: the configured value, the
 * operator's stored override (null when none) and the effective value.
 */
export interface GlobalAiState {
  readonly enabled: boolean
  readonly configured: boolean
  readonly override: boolean | null
  readonly updated_at: number | null
  readonly updated_by: string | null
}

/** Tenant, actor and settings administration. */
export class Tenants extends Effect.Service<Tenants>()("@airlock/core/Tenants", {
  effect: Effect.gen(function*() {
    const tenants = yield* TenantStore
    const actors = yield* ActorStore
    const settings = yield* AiSettingsStore
    const system = yield* SystemStateStore
    const audit = yield* AuditLog
    const uow = yield* UnitOfWork
    const ids = yield* IdGenerator
    const rbac = yield* Rbac
    const config = yield* CoreConfig

    /** `by` acting on `tenant`: core's tenant-scope rule, then the permission. */
    const requireOn = (by: ChangedBy, tenant: TenantId, permission: string) =>
      by === "system"
        ? Effect.void
        : Effect.zipRight(TenantScope.requireTenant(rbac, by, tenant), rbac.require(by, permission))

    const get = (id: TenantId) =>
      Effect.flatMap(tenants.get(id), (t) =>
        Option.match(t, {
          onNone: () =>
            Effect.fail(new NotFound({ message: `Tenant ${id} not found`, details: { entity: "tenant", id } })),
          onSome: Effect.succeed
        }))

    /** Creates a tenant and its settings (shadow_only unless given) in one transaction. */
    const create = (input: CreateTenant, by: ChangedBy = "system") =>
      Effect.gen(function*() {
        if (by !== "system") yield* rbac.require(by, TenantScope.CROSS_TENANT_PERMISSION)
        const now = yield* Clock.currentTimeMillis
        const tenant = new Tenant({
          id: input.id,
          name: input.name,
          ai_companion_enabled: input.ai_companion_enabled ?? true,
          created_at: now
        })
        const initial = new AiSettings({ ...defaultSettings(tenant.id, now, byId(by)), ...input.settings })
        yield* checkLimits(initial.extensions)
        yield* uow.transaction(
          Effect.gen(function*() {
            yield* tenants.insert(tenant)
            yield* settings.put(initial)
            yield* audit.append({
              tenant_id: tenant.id,
              actor_id: byId(by),
              action: "tenant.created",
              subject: tenant.id,
              data: { name: tenant.name, ai_mode: initial.ai_mode }
            })
          })
        )
        return tenant
      })

    /** Adds an actor to a tenant. */
    const addActor = (input: CreateActor, by: ChangedBy = "system") =>
      Effect.gen(function*() {
        yield* requireOn(by, input.tenant_id, "tenant.admin")
        yield* get(input.tenant_id)
        const actor = new Actor({
          id: input.id ?? ActorId.make(yield* ids.next("act")),
          tenant_id: input.tenant_id,
          kind: input.kind,
          name: input.name,
          role: input.role,
          active: true,
          created_at: yield* Clock.currentTimeMillis
        })
        if (!(actor.role in rbac.matrix)) {
          return yield* new ValidationError({ code: "validation.role", message: `Unknown role ${actor.role}` })
        }
        yield* uow.transaction(
          Effect.zipRight(
            actors.insert(actor),
            audit.append({
              tenant_id: actor.tenant_id,
              actor_id: byId(by),
              action: "actor.created",
              subject: actor.id,
              data: { kind: actor.kind, role: actor.role, name: actor.name }
            })
          )
        )
        return actor
      })

    /** The tenant's settings (defaults if none were stored). */
    const getSettings = (tenant: TenantId) =>
      Effect.gen(function*() {
        const t = yield* get(tenant)
        return Option.getOrElse(yield* settings.get(t.id), () => defaultSettings(t.id, t.created_at, "system"))
      })

    /**
     * The tenant's settings read for a change: inside a transaction (a unit of work), the row
     * is held until it ends, so what is decided on them holds for the write (no permission check:
     * the caller checked it).
     */
    const settingsForUpdate = (tenant: TenantId) =>
      Effect.gen(function*() {
        const t = yield* get(tenant)
        return Option.getOrElse(yield* settings.getForUpdate(t.id), () => defaultSettings(t.id, t.created_at, "system"))
      })

    /** The tenant's settings as `by` reads them; needs `companion.read`. */
    const readSettings = (tenant: TenantId, by: ChangedBy) =>
      Effect.zipRight(requireOn(by, tenant, "companion.read"), getSettings(tenant))

    const extensionLimits: AiSettingsTypes.ExtensionLimits = {
      maxKeys: config.extensionsMaxKeys,
      maxDepth: config.extensionsMaxDepth,
      maxBytes: config.extensionsMaxBytes
    }
    const checkLimits = (extensions: Readonly<Record<string, unknown>>) => {
      const problem = checkExtensions(extensions, extensionLimits)
      return problem === null ? Effect.void : Effect.fail(problem)
    }

    /** `extensions` of `before` with a patch's merged in (`null` removes a key). Pure. */
    const mergedExtensions = (before: AiSettings, patch: SettingsPatch) => {
      const extensions: Record<string, unknown> = { ...before.extensions }
      for (const [k, v] of Object.entries(patch.extensions ?? {})) {
        if (v === null) delete extensions[k]
        else extensions[k] = v
      }
      return extensions
    }

    /**
     * Checks a patch against the extension limits as {@link updateSettings} will (only a patch
     * touching `extensions` is checked, on the merged result), without writing: for a change
     * stored to be applied later, so it is refused now rather than stored.
     */
    const checkPatch = (before: AiSettings, patch: SettingsPatch) =>
      patch.extensions === undefined ? Effect.void : checkLimits(mergedExtensions(before, patch))

    /**
     * Changes AI settings; needs `companion.settings.manage`. The merged `extensions` must stay
     * within the configured limits (`CoreConfig.extensionsMax*`). Audited with what changed; a
     * change that changes nothing writes and audits nothing (the stored settings are returned).
     */
    const updateSettingsAny = (tenant: TenantId, patch: SettingsPatch, by: ChangedBy) =>
      Effect.gen(function*() {
        yield* requireOn(by, tenant, "companion.settings.manage")
        return yield* uow.transaction(
          Effect.gen(function*() {
            const before = yield* settingsForUpdate(tenant)
            const extensions = mergedExtensions(before, patch)
            // only a change of extensions is checked: lowering the mode must never fail on them
            if (patch.extensions !== undefined) yield* checkLimits(extensions)
            const after = new AiSettings({
              ...before,
              ai_enabled: patch.ai_enabled ?? before.ai_enabled,
              kill_switch: patch.kill_switch ?? before.kill_switch,
              ai_mode: patch.ai_mode ?? before.ai_mode,
              extensions,
              updated_at: yield* Clock.currentTimeMillis,
              updated_by: byId(by)
            })
            // what changed, not two copies of the whole settings
            const diff = settingsDiff(before, after)
            // nothing changed: nothing written, nothing audited
            if (isEmptyDiff(diff)) return before
            yield* settings.put(after)
            yield* audit.append({
              tenant_id: tenant,
              actor_id: byId(by),
              action: "settings.updated",
              subject: tenant,
              data: diff
            })
            return after
          })
        )
      })

    /**
     * {@link updateSettingsAny}, typed by what the patch can fail with: a patch without
     * `extensions` (a mode or switch change) cannot hit the extension limits.
     */
    const updateSettings: {
      (
        tenant: TenantId,
        patch: Omit<SettingsPatch, "extensions"> & { readonly extensions?: undefined },
        by: ChangedBy
      ): Effect.Effect<AiSettings, Forbidden | NotFound | StorageError>
      (
        tenant: TenantId,
        patch: SettingsPatch,
        by: ChangedBy
      ): Effect.Effect<AiSettings, Forbidden | NotFound | StorageError | ValidationError | PayloadTooLarge>
    } = updateSettingsAny as any

    /**
     * Flips the tenant layer of the kill switch; needs `tenant.admin`. Audited with before and
     * after; setting the value it already has writes and audits nothing.
     */
    const setCompanionEnabled = (tenant: TenantId, enabled: boolean, by: ChangedBy) =>
      Effect.gen(function*() {
        yield* requireOn(by, tenant, "tenant.admin")
        return yield* uow.transaction(
          Effect.gen(function*() {
            const t = yield* get(tenant)
            if (t.ai_companion_enabled === enabled) return t
            const next = new Tenant({ ...t, ai_companion_enabled: enabled })
            yield* tenants.update(next)
            yield* audit.append({
              tenant_id: tenant,
              actor_id: byId(by),
              action: "tenant.ai_companion_enabled",
              subject: tenant,
              data: { before: t.ai_companion_enabled, after: enabled }
            })
            return next
          })
        )
      })

    /**
     * Overrides the global layer of the kill switch at run time; needs `system.admin`. Audited
     * (`system.ai_global_enabled`, with the effective value before, the value set and the stored
     * override before) in `tenant`'s chain — the tenant the request acts on, by default the admin's
     * own; the system itself is audited only when given a tenant. Setting the override it already
     * has writes and audits nothing.
     */
    const setGlobalAiEnabled = (enabled: boolean, by: ChangedBy, tenant?: string) =>
      Effect.gen(function*() {
        if (by !== "system" && !rbac.can(by, "system.admin")) {
          return yield* new Forbidden({
            code: "rbac.forbidden",
            message: "Only a platform admin may flip the global switch"
          })
        }
        const auditTenant = by === "system"
          ? (tenant === undefined ? null : (tenant as TenantId))
          : yield* TenantScope.acting(rbac, by, tenant)
        yield* uow.transaction(
          Effect.gen(function*() {
            const before = yield* globalAi()
            if (before.override === enabled) return
            yield* system.put(
              new SystemStateEntry({
                key: AI_GLOBAL_ENABLED_KEY,
                value: enabled,
                updated_at: yield* Clock.currentTimeMillis,
                updated_by: byId(by)
              })
            )
            if (auditTenant === null) return
            yield* audit.append({
              tenant_id: auditTenant,
              actor_id: byId(by),
              action: "system.ai_global_enabled",
              subject: "system",
              data: { before: before.enabled, after: enabled, override_before: before.override }
            })
          })
        )
      })

    /** Reads the global AI switch (configuration and stored override). */
    const globalAi = (): Effect.Effect<GlobalAiState, StorageError> =>
      Effect.map(system.get(AI_GLOBAL_ENABLED_KEY), (entry) => {
        const stored = Option.getOrNull(entry)
        const override = stored === null ? null : stored.value !== false
        return {
          enabled: globalEnabledOf(config.aiGlobalEnabled, stored === null ? undefined : stored.value),
          configured: config.aiGlobalEnabled,
          override,
          updated_at: stored?.updated_at ?? null,
          updated_by: stored?.updated_by ?? null
        }
      })

    return {
      create,
      get,
      list: tenants.list,
      addActor,
      getActor: (tenant: TenantId, id: ActorId) =>
        Effect.flatMap(actors.get(tenant, id), (a) =>
          Option.match(a, {
            onNone: () =>
              Effect.fail(new NotFound({ message: `Actor ${id} not found`, details: { entity: "actor", id } })),
            onSome: Effect.succeed
          })),
      listActors: actors.list,
      settings: getSettings,
      settingsForUpdate,
      checkPatch,
      readSettings,
      updateSettings,
      setCompanionEnabled,
      setGlobalAiEnabled,
      globalAi
    } as const
  })
}) {}

/** Memory implementations of the core ports. */
import {
  Action,
  Actor,
  AiSettings,
  ApiToken,
  Audit,
  CorePorts,
  type Errors,
  SystemState,
  Tenant,
  type UnitOfWork
} from "@airlock/core"
import type { Ids } from "@airlock/core"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"
import { agentMemoryStore } from "./agentMemory.js"

const key = (a: string, b: string): string => `${a}\u0000${b}`

const duplicate = CorePorts.duplicateError

const notFound = CorePorts.notFoundError

/** Memory {@link Tenant.TenantStore}. */
export const tenantStore: Layer.Layer<Tenant.TenantStore, never, MemoryDatabase> = Layer.effect(
  Tenant.TenantStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<Tenant.Tenant>("tenants")
    return {
      insert: (t) =>
        db.writeEffect(() =>
          rows.has(t.id) ? Effect.fail(duplicate("tenant", t.id)) : (rows.set(t.id, t), Effect.void)
        ),
      get: (id) => db.read(() => Option.fromNullable(rows.get(id))),
      list: () => db.read(() => [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))),
      update: (t) =>
        db.writeEffect(() => rows.has(t.id) ? (rows.set(t.id, t), Effect.void) : Effect.fail(notFound("tenant", t.id)))
    }
  })
)

/** Memory {@link Actor.ActorStore}. */
export const actorStore: Layer.Layer<Actor.ActorStore, never, MemoryDatabase> = Layer.effect(
  Actor.ActorStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<Actor.Actor>("actors")
    return {
      insert: (a) =>
        db.writeEffect(() => {
          if (rows.has(a.tenant_id, a.id)) return Effect.fail(duplicate("actor", a.id))
          rows.set(a.tenant_id, a.id, a)
          return Effect.void
        }),
      get: (tenant, id) => db.read(() => Option.fromNullable(rows.get(tenant, id))),
      list: (tenant) => db.read(() => [...rows.inScope(tenant)].sort((a, b) => (a.id < b.id ? -1 : 1))),
      update: (a) =>
        db.writeEffect(() => {
          if (!rows.has(a.tenant_id, a.id)) return Effect.fail(notFound("actor", a.id))
          rows.set(a.tenant_id, a.id, a)
          return Effect.void
        })
    }
  })
)

/** Memory {@link ApiToken.ApiTokenStore}. */
export const apiTokenStore: Layer.Layer<ApiToken.ApiTokenStore, never, MemoryDatabase> = Layer.effect(
  ApiToken.ApiTokenStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<ApiToken.ApiTokenRecord>("api_tokens")
    return {
      insert: (t) =>
        db.writeEffect(() => rows.has(t.id) ? Effect.fail(duplicate("token", t.id)) : (rows.set(t.id, t), Effect.void)),
      get: (id) => db.read(() => Option.fromNullable(rows.get(id))),
      list: (tenant) =>
        db.read(() => [...rows.values()].filter((t) => t.tenant_id === tenant).sort((a, b) => (a.id < b.id ? -1 : 1))),
      revoke: (id, at) =>
        db.writeEffect(() => {
          const t = rows.get(id)
          if (!t) return Effect.fail(notFound("token", id))
          if (t.revoked_at === null) rows.set(id, new ApiToken.ApiTokenRecord({ ...t, revoked_at: at }, true))
          return Effect.void
        }),
      page: (tenant, q) =>
        db.read(() =>
          [...rows.values()]
            .filter((t) =>
              t.tenant_id === tenant && (q.after === null || t.id > q.after) &&
              (q.actor_id === undefined || t.actor_id === q.actor_id)
            )
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .slice(0, q.limit)
        ),
      touch: (id, at, resolutionMs) =>
        db.write(() => {
          const t = rows.get(id)
          if (!t || (t.last_used_at !== null && t.last_used_at > at - resolutionMs)) return false
          rows.set(id, new ApiToken.ApiTokenRecord({ ...t, last_used_at: at }, true))
          return true
        }),
      usableForRoles: (roles, now) =>
        db.read(() => {
          const wanted = new Set(roles)
          const actors = db.scoped<Actor.Actor>("actors")
          for (const t of rows.values()) {
            if (t.revoked_at !== null || (t.expires_at !== null && t.expires_at <= now)) continue
            const actor = actors.get(t.tenant_id, t.actor_id)
            if (actor !== undefined && actor.active && wanted.has(actor.role)) return true
          }
          return false
        })
    }
  })
)

/** Memory {@link AiSettings.AiSettingsStore}. */
export const aiSettingsStore: Layer.Layer<AiSettings.AiSettingsStore, never, MemoryDatabase> = Layer.effect(
  AiSettings.AiSettingsStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<AiSettings.AiSettings>("ai_settings")
    return {
      get: (tenant) => db.read(() => Option.fromNullable(rows.get(tenant))),
      getForUpdate: (tenant) => db.read(() => Option.fromNullable(rows.get(tenant))),
      put: (s) => db.write(() => rows.set(s.tenant_id, s))
    }
  })
)

/** Memory {@link SystemState.SystemStateStore}. */
export const systemStateStore: Layer.Layer<SystemState.SystemStateStore, never, MemoryDatabase> = Layer.effect(
  SystemState.SystemStateStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<SystemState.SystemStateEntry>("system_state")
    return {
      get: (k) => db.read(() => Option.fromNullable(rows.get(k))),
      put: (e) => db.write(() => rows.set(e.key, e)),
      list: (prefix) =>
        db.read(() =>
          [...rows.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1))
        )
    }
  })
)

/** Statuses a wipe may move to `wiped`: promoted records are provenance, wiped ones stay as first wiped. */
const wipeable = (status: Action.ActionStatus) => status !== "applied" && status !== "rolled_back" && status !== "wiped"

const matches = (a: Action.ActionRecord, q: Action.ActionQuery) =>
  (q.status === undefined || a.status === q.status) &&
  (q.kind === undefined || a.kind === q.kind) &&
  (q.subject === undefined || a.subject === q.subject) &&
  (q.before === undefined || a.id < q.before)

/** Memory {@link Action.ActionStore}. */
export const actionStore: Layer.Layer<Action.ActionStore, never, MemoryDatabase> = Layer.effect(
  Action.ActionStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<Action.ActionRecord>("actions")
    // keyed by tenant, then kind and key
    const idem = db.scoped<string>("actions_idempotency")
    const get = (tenant: Ids.TenantId, id: string) => db.read(() => Option.fromNullable(rows.get(tenant, id)))
    return {
      insert: (a) =>
        db.writeEffect(() => {
          if (rows.has(a.tenant_id, a.id)) return Effect.fail(duplicate("action", a.id))
          if (a.idempotency_key !== null) {
            const ik = key(a.kind, a.idempotency_key)
            if (idem.has(a.tenant_id, ik)) return Effect.fail(duplicate("idempotency_key", a.idempotency_key))
            idem.set(a.tenant_id, ik, a.id)
          }
          rows.set(a.tenant_id, a.id, a)
          return Effect.void
        }),
      get,
      getForUpdate: get,
      findByIdempotencyKey: (tenant, kind, k) =>
        db.read(() => {
          const id = idem.get(tenant, key(kind, k))
          return id === undefined ? Option.none() : Option.fromNullable(rows.get(tenant, id))
        }),
      update: (a, expected) =>
        db.writeEffect((): Effect.Effect<void, Errors.Conflict | Errors.NotFound> => {
          const current = rows.get(a.tenant_id, a.id)
          if (!current) return Effect.fail(notFound("action", a.id))
          if (current.version !== expected) {
            return Effect.fail(Action.staleError(a.id))
          }
          rows.set(a.tenant_id, a.id, a)
          return Effect.void
        }),
      list: (tenant, q) =>
        db.read(() =>
          [...rows.inScope(tenant)]
            .filter((a) => matches(a, q))
            .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
            .slice(0, q.limit)
        ),
      wipe: (tenant, filter, at, by) =>
        db.write(() => {
          let n = 0
          for (const a of [...rows.inScope(tenant)]) {
            if (a.status !== filter.status || !wipeable(a.status)) continue
            if (filter.kind !== undefined && a.kind !== filter.kind) continue
            rows.set(
              a.tenant_id,
              a.id,
              new Action.ActionRecord({
                ...a,
                status: "wiped",
                closed_at: at,
                closed_by: by,
                close_reason: "wiped",
                version: a.version + 1
              }, true)
            )
            n++
          }
          return n
        })
    }
  })
)

/** Memory {@link Action.TraceStore}. */
export const traceStore: Layer.Layer<Action.TraceStore, never, MemoryDatabase> = Layer.effect(
  Action.TraceStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<Action.DecisionTrace>("traces")
    const byAction = db.scoped<ReadonlyArray<string>>("traces_by_action")
    return {
      insert: (t) =>
        db.write(() => {
          rows.set(t.id, t)
          const before = byAction.get(t.tenant_id, t.action_id)
          byAction.set(t.tenant_id, t.action_id, before === undefined ? [t.id] : [...before, t.id])
        }),
      listByAction: (tenant, action) =>
        db.read(() => (byAction.get(tenant, action) ?? []).map((id) => rows.get(id)!).filter(Boolean))
    }
  })
)

/** Memory {@link Audit.AuditStore}. Rows are kept per tenant in sequence order. */
export const auditStore: Layer.Layer<Audit.AuditStore, never, MemoryDatabase> = Layer.effect(
  Audit.AuditStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.scoped<Audit.AuditRecord>("audit")
    const heads = db.table<Audit.ChainHead>("audit_heads")
    const checkpoints = db.table<Audit.AuditCheckpoint>("audit_checkpoints")
    return {
      checkpoint: (tenant) => db.read(() => checkpoints.get(tenant) ?? null),
      saveCheckpoint: (tenant, checkpoint) =>
        db.write(() => {
          const stored = checkpoints.get(tenant)
          // only forward: a walk finishing after a longer one never moves it back
          if (stored === undefined || stored.seq < checkpoint.seq) checkpoints.set(tenant, { ...checkpoint })
        }),
      append: (tenant, build) =>
        db.write(() => {
          const record = build(heads.get(tenant) ?? null)
          rows.set(tenant, record.seq, record)
          heads.set(tenant, { seq: record.seq, hash: record.hash })
          return record
        }),
      head: (tenant) => db.read(() => heads.get(tenant) ?? null),
      list: (tenant, { afterSeq, limit }) =>
        db.read(() => {
          const head = heads.get(tenant)
          const out: Array<Audit.AuditRecord> = []
          if (!head) return out
          for (let seq = afterSeq + 1; seq <= head.seq && out.length < limit; seq++) {
            const r = rows.get(tenant, seq)
            if (r) out.push(r)
          }
          return out
        })
    }
  })
)

/** Every core port in memory (needs a {@link MemoryDatabase}). */
export const layer: Layer.Layer<Exclude<CorePorts.CorePorts, UnitOfWork.UnitOfWork>, never, MemoryDatabase> = Layer
  .mergeAll(
    tenantStore,
    actorStore,
    apiTokenStore,
    aiSettingsStore,
    systemStateStore,
    actionStore,
    traceStore,
    auditStore,
    agentMemoryStore
  )

/** SQL implementations of the core ports, written once for SQLite and PostgreSQL. */
import {
  Action,
  Actor,
  AiSettings,
  ApiToken,
  Audit,
  CorePorts,
  type Errors,
  type Ids,
  SystemState,
  Tenant,
  Trusted,
  UnitOfWork
} from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { agentMemoryStore } from "./agentMemory.js"
import { literal, SqlDb } from "./db.js"
import {
  bool,
  forUpdate,
  ignoreRows,
  int,
  intOrNull,
  json,
  orDuplicate,
  orStorage,
  storageError,
  toJson,
  versioned
} from "./dialect.js"

type Row = Record<string, unknown>

const first = <A>(rows: ReadonlyArray<Row>, f: (r: Row) => A): Option.Option<A> =>
  rows.length === 0 ? Option.none() : Option.some(f(rows[0]!))

const notFound = CorePorts.notFoundError

// Column lists of the reads that go through `Statement.query` (rows named once per statement).
const TENANT_COLUMNS = literal("id, name, ai_companion_enabled, created_at")
const ACTOR_COLUMNS = literal("tenant_id, id, kind, name, role, active, created_at")
const TOKEN_COLUMNS = literal(
  "id, tenant_id, actor_id, name, hint, hash, created_at, expires_at, revoked_at, last_used_at"
)
const SETTINGS_COLUMNS = literal("tenant_id, ai_enabled, kill_switch, ai_mode, extensions, updated_at, updated_by")
const STATE_COLUMNS = literal("key, value, updated_at, updated_by")
const ACTION_COLUMNS = literal(
  "tenant_id, id, kind, subject, payload, payload_hash, status, review_reasons, idempotency_key, proposed_by, proposed_at, " +
    "closed_by, closed_at, close_reason, result, version"
)

const toTenant = (r: Row) =>
  Trusted.make(Tenant.Tenant, {
    id: r.id as Ids.TenantId,
    name: String(r.name),
    ai_companion_enabled: bool(r.ai_companion_enabled),
    created_at: int(r.created_at)
  })

/** SQL {@link Tenant.TenantStore}. */
export const tenantStore: Layer.Layer<Tenant.TenantStore, never, SqlDb> = Layer.effect(
  Tenant.TenantStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (t) =>
      sql`INSERT INTO core_tenants (id, name, ai_companion_enabled, created_at)
          VALUES (${t.id}, ${t.name}, ${t.ai_companion_enabled ? 1 : 0}, ${t.created_at})`.pipe(
        Effect.asVoid,
        orDuplicate("tenant", t.id)
      ),
    get: (id) =>
      sql`SELECT ${TENANT_COLUMNS} FROM core_tenants WHERE id = ${id}`.query((rs) => first(rs, toTenant), storageError),
    list: () => sql`SELECT * FROM core_tenants ORDER BY id`.pipe(Effect.map((rs) => rs.map(toTenant)), orStorage),
    update: (t) =>
      sql`UPDATE core_tenants SET name = ${t.name}, ai_companion_enabled = ${t.ai_companion_enabled ? 1 : 0}
          WHERE id = ${t.id} RETURNING id`.pipe(
        orStorage,
        Effect.flatMap((rs) => (rs.length === 0 ? Effect.fail(notFound("tenant", t.id)) : Effect.void))
      )
  }))
)

const toActor = (r: Row) =>
  Trusted.make(Actor.Actor, {
    id: r.id as Ids.ActorId,
    tenant_id: r.tenant_id as Ids.TenantId,
    kind: r.kind as Actor.ActorKind,
    name: String(r.name),
    role: String(r.role),
    active: bool(r.active),
    created_at: int(r.created_at)
  })

/** SQL {@link Actor.ActorStore}. */
export const actorStore: Layer.Layer<Actor.ActorStore, never, SqlDb> = Layer.effect(
  Actor.ActorStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (a) =>
      sql`INSERT INTO core_actors (tenant_id, id, kind, name, role, active, created_at)
          VALUES (${a.tenant_id}, ${a.id}, ${a.kind}, ${a.name}, ${a.role}, ${a.active ? 1 : 0}, ${a.created_at})`.pipe(
        Effect.asVoid,
        orDuplicate("actor", a.id)
      ),
    get: (tenant, id) =>
      sql`SELECT ${ACTOR_COLUMNS} FROM core_actors WHERE tenant_id = ${tenant} AND id = ${id}`.query(
        (rs) => first(rs, toActor),
        storageError
      ),
    list: (tenant) =>
      sql`SELECT * FROM core_actors WHERE tenant_id = ${tenant} ORDER BY id`.pipe(
        Effect.map((rs) => rs.map(toActor)),
        orStorage
      ),
    update: (a) =>
      sql`UPDATE core_actors SET name = ${a.name}, role = ${a.role}, active = ${a.active ? 1 : 0}
          WHERE tenant_id = ${a.tenant_id} AND id = ${a.id} RETURNING id`.pipe(
        orStorage,
        Effect.flatMap((rs) => (rs.length === 0 ? Effect.fail(notFound("actor", a.id)) : Effect.void))
      )
  }))
)

const toToken = (r: Row) =>
  Trusted.make(ApiToken.ApiTokenRecord, {
    id: r.id as Ids.TokenId,
    tenant_id: r.tenant_id as Ids.TenantId,
    actor_id: r.actor_id as Ids.ActorId,
    name: String(r.name),
    hint: String(r.hint),
    hash: String(r.hash),
    created_at: int(r.created_at),
    expires_at: intOrNull(r.expires_at),
    revoked_at: intOrNull(r.revoked_at),
    last_used_at: intOrNull(r.last_used_at)
  })

/** SQL {@link ApiToken.ApiTokenStore}. */
export const apiTokenStore: Layer.Layer<ApiToken.ApiTokenStore, never, SqlDb> = Layer.effect(
  ApiToken.ApiTokenStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (t) =>
      sql`INSERT INTO core_api_tokens (id, tenant_id, actor_id, name, hint, hash, created_at, expires_at, revoked_at)
          VALUES (${t.id}, ${t.tenant_id}, ${t.actor_id}, ${t.name}, ${t.hint}, ${t.hash}, ${t.created_at},
                  ${t.expires_at}, ${t.revoked_at})`.pipe(Effect.asVoid, orDuplicate("token", t.id)),
    get: (id) =>
      sql`SELECT ${TOKEN_COLUMNS} FROM core_api_tokens WHERE id = ${id}`.query(
        (rs) => first(rs, toToken),
        storageError
      ),
    list: (tenant) =>
      sql`SELECT * FROM core_api_tokens WHERE tenant_id = ${tenant} ORDER BY id`.pipe(
        Effect.map((rs) => rs.map(toToken)),
        orStorage
      ),
    revoke: (id, at) =>
      sql`UPDATE core_api_tokens SET revoked_at = COALESCE(revoked_at, ${at}) WHERE id = ${id} RETURNING id`.pipe(
        orStorage,
        Effect.flatMap((rs) => (rs.length === 0 ? Effect.fail(notFound("token", id)) : Effect.void))
      ),
    page: (tenant, q) => {
      const where = [sql`tenant_id = ${tenant}`]
      if (q.after !== null) where.push(sql`id > ${q.after}`)
      if (q.actor_id !== undefined) where.push(sql`actor_id = ${q.actor_id}`)
      return sql`SELECT ${TOKEN_COLUMNS} FROM core_api_tokens WHERE ${sql.and(where)} ORDER BY id LIMIT ${q.limit}`
        .pipe(Effect.map((rs) => rs.map(toToken)), orStorage)
    },
    // conditional, so instances verifying one token at once write its last use once
    touch: (id, at, resolutionMs) =>
      sql`UPDATE core_api_tokens SET last_used_at = ${at}
          WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at <= ${at - resolutionMs}) RETURNING id`.pipe(
        Effect.map((rs) => rs.length > 0),
        orStorage
      ),
    usableForRoles: (roles, now) =>
      roles.length === 0
        ? Effect.succeed(false)
        : sql`SELECT 1 AS found FROM core_api_tokens t
              JOIN core_actors a ON a.tenant_id = t.tenant_id AND a.id = t.actor_id
              WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ${now})
                AND a.active = 1 AND a.role IN ${sql.in(roles)} LIMIT 1`.pipe(
          Effect.map((rs) => rs.length > 0),
          orStorage
        )
  }))
)

const toSettings = (r: Row) =>
  Trusted.make(AiSettings.AiSettings, {
    tenant_id: r.tenant_id as Ids.TenantId,
    ai_enabled: bool(r.ai_enabled),
    kill_switch: bool(r.kill_switch),
    ai_mode: r.ai_mode as AiSettings.AiMode,
    extensions: json(r.extensions) as Record<string, unknown>,
    updated_at: int(r.updated_at),
    updated_by: String(r.updated_by)
  })

/** SQL {@link AiSettings.AiSettingsStore}. */
export const aiSettingsStore: Layer.Layer<AiSettings.AiSettingsStore, never, SqlDb> = Layer.effect(
  AiSettings.AiSettingsStore,
  Effect.map(SqlDb, (sql) => ({
    get: (tenant) =>
      sql`SELECT ${SETTINGS_COLUMNS} FROM core_ai_settings WHERE tenant_id = ${tenant}`.query(
        (rs) => first(rs, toSettings),
        storageError
      ),
    getForUpdate: (tenant) =>
      sql`SELECT ${SETTINGS_COLUMNS} FROM core_ai_settings WHERE tenant_id = ${tenant} ${forUpdate(sql)}`.query(
        (rs) => first(rs, toSettings),
        storageError
      ),
    put: (s) =>
      sql`INSERT INTO core_ai_settings (tenant_id, ai_enabled, kill_switch, ai_mode, extensions, updated_at, updated_by)
          VALUES (${s.tenant_id}, ${s.ai_enabled ? 1 : 0}, ${s.kill_switch ? 1 : 0}, ${s.ai_mode}, ${
        toJson(s.extensions)
      },
                  ${s.updated_at}, ${s.updated_by})
          ON CONFLICT (tenant_id) DO UPDATE SET ai_enabled = excluded.ai_enabled, kill_switch = excluded.kill_switch,
            ai_mode = excluded.ai_mode, extensions = excluded.extensions, updated_at = excluded.updated_at,
            updated_by = excluded.updated_by`.pipe(Effect.asVoid, orStorage)
  }))
)

const toEntry = (r: Row) =>
  Trusted.make(SystemState.SystemStateEntry, {
    key: String(r.key),
    value: json(r.value),
    updated_at: int(r.updated_at),
    updated_by: String(r.updated_by)
  })

/** SQL {@link SystemState.SystemStateStore}. */
export const systemStateStore: Layer.Layer<SystemState.SystemStateStore, never, SqlDb> = Layer.effect(
  SystemState.SystemStateStore,
  Effect.map(SqlDb, (sql) => ({
    get: (key) =>
      sql`SELECT ${STATE_COLUMNS} FROM core_system_state WHERE key = ${key}`.query(
        (rs) => first(rs, toEntry),
        storageError
      ),
    put: (e) =>
      sql`INSERT INTO core_system_state (key, value, updated_at, updated_by)
          VALUES (${e.key}, ${toJson(e.value)}, ${e.updated_at}, ${e.updated_by})
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
            updated_by = excluded.updated_by`.pipe(Effect.asVoid, orStorage),
    list: (prefix) =>
      sql`SELECT * FROM core_system_state WHERE key >= ${prefix} AND key < ${prefix + "\uffff"} ORDER BY key`.pipe(
        Effect.map((rs) => rs.map(toEntry).filter((e) => e.key.startsWith(prefix))),
        orStorage
      )
  }))
)

const toAction = (r: Row) =>
  Trusted.make(Action.ActionRecord, {
    id: r.id as Ids.ActionId,
    tenant_id: r.tenant_id as Ids.TenantId,
    kind: String(r.kind),
    subject: String(r.subject),
    payload: json(r.payload),
    payload_hash: String(r.payload_hash),
    status: r.status as Action.ActionStatus,
    review_reasons: json(r.review_reasons) as Array<string>,
    idempotency_key: r.idempotency_key === null ? null : String(r.idempotency_key),
    proposed_by: String(r.proposed_by),
    proposed_at: int(r.proposed_at),
    closed_by: r.closed_by === null ? null : String(r.closed_by),
    closed_at: intOrNull(r.closed_at),
    close_reason: r.close_reason === null ? null : String(r.close_reason),
    result: r.result === null ? null : json(r.result),
    version: int(r.version)
  })

/** SQL {@link Action.ActionStore}. */
export const actionStore: Layer.Layer<Action.ActionStore, never, SqlDb> = Layer.effect(
  Action.ActionStore,
  Effect.map(SqlDb, (sql) => {
    const get = (tenant: Ids.TenantId, id: Ids.ActionId) =>
      sql`SELECT ${ACTION_COLUMNS} FROM core_actions WHERE tenant_id = ${tenant} AND id = ${id}`.query(
        (rs) => first(rs, toAction),
        storageError
      )
    const lock = forUpdate(sql)
    return {
      insert: (a) =>
        sql`INSERT INTO core_actions (tenant_id, id, kind, subject, payload, payload_hash, status, review_reasons,
              idempotency_key, proposed_by, proposed_at, closed_by, closed_at, close_reason, result, version)
            VALUES (${a.tenant_id}, ${a.id}, ${a.kind}, ${a.subject}, ${
          toJson(a.payload)
        }, ${a.payload_hash}, ${a.status},
              ${toJson(a.review_reasons)}, ${a.idempotency_key}, ${a.proposed_by}, ${a.proposed_at}, ${a.closed_by},
              ${a.closed_at}, ${a.close_reason}, ${a.result === null ? null : toJson(a.result)}, ${a.version})`.pipe(
          Effect.asVoid,
          orDuplicate("action", a.id)
        ),
      get,
      getForUpdate: (tenant, id) =>
        sql`SELECT ${ACTION_COLUMNS} FROM core_actions WHERE tenant_id = ${tenant} AND id = ${id} ${lock}`.query(
          (rs) => first(rs, toAction),
          storageError
        ),
      findByIdempotencyKey: (tenant, kind, key) =>
        sql`SELECT * FROM core_actions WHERE tenant_id = ${tenant} AND kind = ${kind} AND idempotency_key = ${key}`
          .pipe(
            Effect.map((rs) => first(rs, toAction)),
            orStorage
          ),
      update: (a, expected) =>
        sql`UPDATE core_actions SET status = ${a.status}, review_reasons = ${toJson(a.review_reasons)},
              closed_by = ${a.closed_by}, closed_at = ${a.closed_at}, close_reason = ${a.close_reason},
              result = ${a.result === null ? null : toJson(a.result)}, version = ${a.version}
            WHERE tenant_id = ${a.tenant_id} AND id = ${a.id} AND version = ${expected} RETURNING id`.query(
          (rs) => rs.length,
          storageError
        ).pipe((changed) =>
          versioned(
            changed,
            Effect.map(get(a.tenant_id, a.id), Option.isSome),
            () => Action.staleError(a.id),
            () => notFound("action", a.id)
          )
        ),
      list: (tenant, q) => {
        const where = [sql`tenant_id = ${tenant}`]
        if (q.status !== undefined) where.push(sql`status = ${q.status}`)
        if (q.kind !== undefined) where.push(sql`kind = ${q.kind}`)
        if (q.subject !== undefined) where.push(sql`subject = ${q.subject}`)
        if (q.before !== undefined) where.push(sql`id < ${q.before}`)
        return sql`SELECT * FROM core_actions WHERE ${sql.and(where)} ORDER BY id DESC LIMIT ${q.limit}`.pipe(
          Effect.map((rs) => rs.map(toAction)),
          orStorage
        )
      },
      wipe: (tenant, filter, at, by) => {
        const where = [
          sql`tenant_id = ${tenant}`,
          sql`status = ${filter.status}`,
          sql`status NOT IN ('applied', 'rolled_back', 'wiped')`
        ]
        if (filter.kind !== undefined) where.push(sql`kind = ${filter.kind}`)
        return sql`UPDATE core_actions SET status = 'wiped', closed_at = ${at}, closed_by = ${by},
                     close_reason = 'wiped', version = version + 1
                   WHERE ${sql.and(where)} RETURNING id`.pipe(Effect.map((rs) => rs.length), orStorage)
      }
    }
  })
)

const toTrace = (r: Row) =>
  Trusted.make(Action.DecisionTrace, {
    id: String(r.id),
    tenant_id: r.tenant_id as Ids.TenantId,
    action_id: r.action_id as Ids.ActionId,
    kind: String(r.kind),
    phase: r.phase as Action.Phase,
    actor_id: String(r.actor_id),
    at: int(r.at),
    outcome: r.outcome as Action.GateVerdict,
    gates: json(r.gates) as Array<Action.GateOutcome>
  })

/** SQL {@link Action.TraceStore}. */
export const traceStore: Layer.Layer<Action.TraceStore, never, SqlDb> = Layer.effect(
  Action.TraceStore,
  Effect.map(SqlDb, (sql) => ({
    insert: (t) =>
      sql`INSERT INTO core_traces (id, tenant_id, action_id, kind, phase, actor_id, at, outcome, gates)
          VALUES (${t.id}, ${t.tenant_id}, ${t.action_id}, ${t.kind}, ${t.phase}, ${t.actor_id}, ${t.at}, ${t.outcome},
                  ${toJson(t.gates)})`.query(ignoreRows, storageError),
    listByAction: (tenant, action) =>
      sql`SELECT * FROM core_traces WHERE tenant_id = ${tenant} AND action_id = ${action} ORDER BY id`.pipe(
        Effect.map((rs) => rs.map(toTrace)),
        orStorage
      )
  }))
)

const toAudit = (r: Row) =>
  Trusted.make(Audit.AuditRecord, {
    tenant_id: r.tenant_id as Ids.TenantId,
    seq: int(r.seq),
    at: int(r.at),
    actor_id: String(r.actor_id),
    action: String(r.action),
    subject: String(r.subject),
    data: json(r.data),
    prev_hash: String(r.prev_hash),
    hash: String(r.hash)
  })

/**
 * SQL {@link Audit.AuditStore}. The chain head lives in its own row, locked for the append,
 * so concurrent appends of one tenant serialise on it (and the chain never forks).
 */
export const auditStore: Layer.Layer<Audit.AuditStore, never, SqlDb> = Layer.effect(
  Audit.AuditStore,
  Effect.map(SqlDb, (sql) => ({
    append: (tenant, build) => {
      // The upsert returns the head and locks its row (PostgreSQL: the DO UPDATE row lock) in one
      // statement; inside an enclosing transaction no savepoint is needed, as the append commits
      // or rolls back with it.
      const body = Effect.flatMap(
        sql`INSERT INTO core_audit_heads (tenant_id, seq, hash) VALUES (${tenant}, 0, ${Audit.GENESIS_HASH})
            ON CONFLICT (tenant_id) DO UPDATE SET seq = core_audit_heads.seq
            RETURNING seq, hash`.query((rows) => {
          const seq = int(rows[0]!.seq)
          return build(seq === 0 ? null : { seq, hash: String(rows[0]!.hash) })
        }, storageError),
        (record) =>
          Effect.flatMap(
            sql`INSERT INTO core_audit (tenant_id, seq, at, actor_id, action, subject, data, prev_hash, hash)
                VALUES (${record.tenant_id}, ${record.seq}, ${record.at}, ${record.actor_id}, ${record.action},
                        ${record.subject}, ${toJson(record.data)}, ${record.prev_hash}, ${record.hash})`.query(
              ignoreRows,
              storageError
            ),
            () =>
              sql`UPDATE core_audit_heads SET seq = ${record.seq}, hash = ${record.hash} WHERE tenant_id = ${tenant}`
                .query(
                  () => record,
                  storageError
                )
          )
      )
      return Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (
          tx
        ) => (Option.isSome(tx)
          ? body
          : sql.withTransaction(body).pipe(Effect.mapError((e) => (e._tag === "SqlError" ? storageError(e) : e))))
      )
    },
    head: (tenant) =>
      sql`SELECT seq, hash FROM core_audit_heads WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((
          rs
        ) => (rs.length === 0 || int(rs[0]!.seq) === 0 ? null : { seq: int(rs[0]!.seq), hash: String(rs[0]!.hash) })),
        orStorage
      ),
    list: (tenant, { afterSeq, limit }) =>
      sql`SELECT * FROM core_audit WHERE tenant_id = ${tenant} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`.pipe(
        Effect.map((rs) => rs.map(toAudit)),
        orStorage
      ),
    checkpoint: (tenant) =>
      sql`SELECT seq, hash, verified_at FROM core_audit_checkpoints WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((rs) =>
          rs.length === 0
            ? null
            : { seq: int(rs[0]!.seq), hash: String(rs[0]!.hash), verified_at: int(rs[0]!.verified_at) }
        ),
        orStorage
      ),
    saveCheckpoint: (tenant, c) =>
      sql`INSERT INTO core_audit_checkpoints (tenant_id, seq, hash, verified_at)
          VALUES (${tenant}, ${c.seq}, ${c.hash}, ${c.verified_at})
          ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
            verified_at = excluded.verified_at
          WHERE core_audit_checkpoints.seq < excluded.seq`.pipe(Effect.asVoid, orStorage)
  }))
)

/** The unit of work on the database's transactions (nested calls become savepoints). */
export const unitOfWork: Layer.Layer<UnitOfWork.UnitOfWork, never, SqlDb> = Layer.effect(
  UnitOfWork.UnitOfWork,
  Effect.map(SqlDb, (sql) => ({
    transaction: <A, E, R>(self: Effect.Effect<A, E, R>) =>
      sql.withTransaction(self).pipe(
        Effect.catchIf(
          (e): e is import("@effect/sql/SqlError").SqlError =>
            typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "SqlError",
          (e) => Effect.fail(storageError(e))
        )
      ) as Effect.Effect<A, E | Errors.StorageError, R>
  }))
)

/** Every core port on SQL, plus the unit of work (needs `SqlDb`). */
export const layer: Layer.Layer<CorePorts.CorePorts, never, SqlDb> = Layer.mergeAll(
  tenantStore,
  actorStore,
  apiTokenStore,
  aiSettingsStore,
  systemStateStore,
  actionStore,
  traceStore,
  auditStore,
  agentMemoryStore,
  unitOfWork
)

/**
 * API tokens: generated with a recognisable prefix, shown once, stored only as a hash, verified
 * in constant time, revocable and optionally expiring. A token is found by a lookup id derived
 * from it (so the store never needs the secret) and then checked against its stored hash.
 *
 * The token lifecycle a tenant administers ({@link ApiTokens} `create`, `listTokens`,
 * `revokeToken`: the HTTP routes and the CLI call these) needs `tenant.admin` on the tenant (an
 * admin's `tenant.cross` for another tenant), is audited, and never hands out a token that
 * speaks for more than its creator may do: the creator must hold every permission of the
 * token's actor's role. Each token records its last use, to the minute
 * ({@link LAST_USED_RESOLUTION_MS}: at most one write a minute per token).
 */
import { Clock, Context, Effect, Option, Schema } from "effect"
import { type Actor, ActorStore } from "./Actor.js"
import { AuditLog } from "./Audit.js"
import { constantTimeEqualHex, sha256Hex } from "./Canonical.js"
import { CoreConfig } from "./CoreConfig.js"
import { type Conflict, Forbidden, NotFound, type StorageError, Unauthorized, ValidationError } from "./Errors.js"
import { ActorId, TenantId, TokenId } from "./Ids.js"
import { Rbac } from "./Rbac.js"
import { SecureRandom } from "./SecureRandom.js"
import { type Tenant, TenantStore } from "./Tenant.js"
import type { ChangedBy } from "./Tenants.js"
import * as TenantScope from "./TenantScope.js"
import { UnitOfWork } from "./UnitOfWork.js"

/**
 * How fresh `last_used_at` is kept: a verification writes it only when the stored value is
 * older than this (one write a minute per token at most, whatever the request rate).
 */
export const LAST_USED_RESOLUTION_MS = 60_000

/** The most tokens one page of {@link ApiTokens} `listTokens` returns, and its default page size. */
export const MAX_PAGE_SIZE = 500
/** Default page size of `listTokens`. */
export const DEFAULT_PAGE_SIZE = 100

/** The shape of a token id (`tok_` and 24 hex digits): anything else is not a token of this store. */
export const TOKEN_ID_PATTERN = /^tok_[0-9a-f]{24}$/

/** A stored token: everything but the secret. */
export class ApiTokenRecord extends Schema.Class<ApiTokenRecord>("ApiTokenRecord")({
  id: TokenId,
  tenant_id: TenantId,
  actor_id: ActorId,
  name: Schema.String,
  /** The first characters of the token, to recognise it in listings. */
  hint: Schema.String,
  hash: Schema.String,
  created_at: Schema.Number,
  expires_at: Schema.NullOr(Schema.Number),
  revoked_at: Schema.NullOr(Schema.Number),
  /** When the token last authenticated a request, to {@link LAST_USED_RESOLUTION_MS} (null: never). */
  last_used_at: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null })
}) {}

/** A page request of a tenant's tokens (ordered by id). */
export interface TokenPageQuery {
  /** Only tokens with an id after this one (the last id of the previous page). */
  readonly after: TokenId | null
  readonly limit: number
  /** Only the tokens of this actor. */
  readonly actor_id?: ActorId | undefined
}

/** Storage port for tokens. */
export class ApiTokenStore extends Context.Tag("@airlock/core/ApiTokenStore")<
  ApiTokenStore,
  {
    readonly insert: (token: ApiTokenRecord) => Effect.Effect<void, Conflict | StorageError>
    readonly get: (id: TokenId) => Effect.Effect<Option.Option<ApiTokenRecord>, StorageError>
    /** Tokens of a tenant ordered by id. */
    readonly list: (tenant: TenantId) => Effect.Effect<ReadonlyArray<ApiTokenRecord>, StorageError>
    /** Sets `revoked_at` (once); `not_found` when missing. */
    readonly revoke: (id: TokenId, at: number) => Effect.Effect<void, NotFound | StorageError>
    /** A page of a tenant's tokens ordered by id, after `query.after`, at most `query.limit`. */
    readonly page: (
      tenant: TenantId,
      query: TokenPageQuery
    ) => Effect.Effect<ReadonlyArray<ApiTokenRecord>, StorageError>
    /**
     * Sets `last_used_at` to `at` unless it is already within `resolutionMs` of it (a
     * conditional write: several instances verifying one token write it once); true when written.
     */
    readonly touch: (id: TokenId, at: number, resolutionMs: number) => Effect.Effect<boolean, StorageError>
    /**
     * Whether any token usable at `now` (not revoked, not expired) speaks for an active actor
     * holding one of `roles`, in any tenant.
     */
    readonly usableForRoles: (roles: ReadonlyArray<string>, now: number) => Effect.Effect<boolean, StorageError>
  }
>() {}

/** The lookup id of a plaintext token. */
export const tokenLookupId = (plaintext: string): TokenId =>
  TokenId.make(`tok_${sha256Hex(`airlock.token.id\u0000${plaintext}`).slice(0, 24)}`)

/** The stored hash of a plaintext token. */
export const tokenHash = (plaintext: string): string => sha256Hex(`airlock.token.secret\u0000${plaintext}`)

/** Who a verified token speaks for. */
export interface Principal {
  readonly token: ApiTokenRecord
  readonly actor: Actor
  readonly tenant: Tenant
}

/** Options for issuing a token. */
export interface IssueOptions {
  readonly tenant_id: TenantId
  readonly actor_id: ActorId
  readonly name: string
  readonly expires_at?: number | null
  /** How many leading characters the listing shows (`hint`); default up to 8. */
  readonly hintLength?: number
}

/** Input of {@link ApiTokens} `create`. */
export const CreateToken = Schema.Struct({
  /** The actor of the tenant the token speaks for. */
  actor_id: ActorId.pipe(Schema.maxLength(200)),
  /** A label for listings; defaults to the actor id. */
  name: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))),
  /** When the token stops working (epoch milliseconds, in the future); none: it works until revoked. */
  expires_at: Schema.optional(Schema.NullOr(Schema.Number))
})
/** Type of {@link CreateToken}. */
export type CreateToken = typeof CreateToken.Type

/** What a listing shows of a token: never the secret or its hash. */
export interface TokenView {
  readonly id: TokenId
  readonly tenant_id: TenantId
  readonly actor_id: ActorId
  readonly name: string
  /** The first characters of the token, to recognise it. */
  readonly prefix: string
  readonly created_at: number
  readonly last_used_at: number | null
  readonly expires_at: number | null
  readonly revoked_at: number | null
  /** `revoked`, `expired` (at the time of the listing) or `active`. */
  readonly status: "active" | "expired" | "revoked"
}

/** The listing form of a stored token at `now`. */
export const toView = (t: ApiTokenRecord, now: number): TokenView => ({
  id: t.id,
  tenant_id: t.tenant_id,
  actor_id: t.actor_id,
  name: t.name,
  prefix: t.hint,
  created_at: t.created_at,
  last_used_at: t.last_used_at,
  expires_at: t.expires_at,
  revoked_at: t.revoked_at,
  status: t.revoked_at !== null ? "revoked" : t.expires_at !== null && now >= t.expires_at ? "expired" : "active"
})

/** A page of tokens; `next_cursor` is the `after` of the next page (null on the last). */
export interface TokenPage {
  readonly items: ReadonlyArray<TokenView>
  readonly next_cursor: TokenId | null
}

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url")

const unauthorized = (message: string) => new Unauthorized({ message })

const byId = (by: ChangedBy) => (by === "system" ? "system" : by.id)

/**
 * Issues, verifies and revokes API tokens; and the token lifecycle a tenant administers
 * (`create`, `listTokens`, `revokeToken`: permission-checked and audited).
 */
export class ApiTokens extends Effect.Service<ApiTokens>()("@airlock/core/ApiTokens", {
  effect: Effect.gen(function*() {
    const store = yield* ApiTokenStore
    const actors = yield* ActorStore
    const tenants = yield* TenantStore
    const random = yield* SecureRandom
    const config = yield* CoreConfig
    const rbac = yield* Rbac
    const audit = yield* AuditLog
    const uow = yield* UnitOfWork

    const build = (plaintext: string, options: IssueOptions, now: number) =>
      new ApiTokenRecord({
        id: tokenLookupId(plaintext),
        tenant_id: options.tenant_id,
        actor_id: options.actor_id,
        name: options.name,
        hint: plaintext.slice(0, Math.min(options.hintLength ?? 8, plaintext.length - 4)),
        hash: tokenHash(plaintext),
        created_at: now,
        expires_at: options.expires_at ?? null,
        revoked_at: null
      })

    const save = (plaintext: string, options: IssueOptions) =>
      Effect.gen(function*() {
        const record = build(plaintext, options, yield* Clock.currentTimeMillis)
        yield* store.insert(record)
        return record
      })

    const generate = Effect.map(random.bytes(32), (bytes) => `${config.tokenPrefix}_${base64url(bytes)}`)

    /** Generates a new token; the plaintext is returned once and never stored. */
    const issue = (options: IssueOptions) =>
      Effect.gen(function*() {
        const plaintext = yield* generate
        const record = yield* save(plaintext, options)
        return { token: plaintext, record }
      })

    /**
     * Registers a caller-chosen plaintext (development seeds such as `dev_admin_token`, the
     * bootstrap admin token). Idempotent: an existing token with the same plaintext for the same
     * actor is returned.
     */
    const register = (plaintext: string, options: IssueOptions) =>
      Effect.gen(function*() {
        if (plaintext.length < 8) return yield* Effect.dieMessage("token plaintext must be at least 8 characters")
        const existing = yield* store.get(tokenLookupId(plaintext))
        if (Option.isSome(existing) && existing.value.actor_id === options.actor_id) return existing.value
        return yield* save(plaintext, options)
      })

    /**
     * Resolves a bearer token to its principal, or fails with `auth.unauthorized`. A successful
     * verification records the token's last use when the stored one is older than
     * {@link LAST_USED_RESOLUTION_MS} (a failure to record it is logged, never the request's).
     */
    const verify = (plaintext: string): Effect.Effect<Principal, Unauthorized | StorageError> =>
      Effect.gen(function*() {
        if (plaintext.length === 0 || plaintext.length > 512) return yield* unauthorized("Invalid token")
        const found = yield* store.get(tokenLookupId(plaintext))
        if (Option.isNone(found)) return yield* unauthorized("Invalid token")
        const token = found.value
        if (!constantTimeEqualHex(tokenHash(plaintext), token.hash)) return yield* unauthorized("Invalid token")
        if (token.revoked_at !== null) return yield* unauthorized("Token revoked")
        const now = yield* Clock.currentTimeMillis
        if (token.expires_at !== null && now >= token.expires_at) return yield* unauthorized("Token expired")
        const actor = yield* actors.get(token.tenant_id, token.actor_id)
        if (Option.isNone(actor) || !actor.value.active) return yield* unauthorized("Token actor is inactive")
        const tenant = yield* tenants.get(token.tenant_id)
        if (Option.isNone(tenant)) return yield* unauthorized("Token tenant no longer exists")
        if (token.last_used_at === null || now - token.last_used_at >= LAST_USED_RESOLUTION_MS) {
          yield* store.touch(token.id, now, LAST_USED_RESOLUTION_MS).pipe(
            Effect.catchAll((e) => Effect.logWarning("could not record a token's last use", e))
          )
        }
        return { token, actor: actor.value, tenant: tenant.value }
      })

    /** Revokes a token; verification fails from then on. */
    const revoke = (id: TokenId) => Effect.flatMap(Clock.currentTimeMillis, (now) => store.revoke(id, now))

    /** `by` administers the tokens of `tenant`: the tenant-scope rule, then `tenant.admin`. */
    const requireAdmin = (by: ChangedBy, tenant: TenantId) =>
      by === "system"
        ? Effect.void
        : Effect.zipRight(TenantScope.requireTenant(rbac, by, tenant), rbac.require(by, "tenant.admin"))

    /**
     * A token speaks for its actor: `by` must hold every permission of the actor's role, so an
     * owner cannot mint (or revoke) the token of a platform admin who happens to live in its tenant.
     */
    const requireCovers = (by: ChangedBy, actor: Actor) => {
      if (by === "system") return Effect.void
      const missing = (rbac.matrix[actor.role] ?? []).filter((p) => !rbac.can(by, p))
      return missing.length === 0 ? Effect.void : Effect.fail(
        new Forbidden({
          code: "rbac.forbidden",
          message: `Role ${by.role} may not manage the tokens of a ${actor.role}`,
          details: { role: by.role, token_actor_role: actor.role, missing: missing.slice(0, 20) }
        })
      )
    }

    const tenantOf = (tenant: TenantId) =>
      Effect.flatMap(tenants.get(tenant), (t) =>
        Option.isSome(t)
          ? Effect.succeed(t.value)
          : Effect.fail(
            new NotFound({ message: `Tenant ${tenant} not found`, details: { entity: "tenant", id: tenant } })
          ))

    /**
     * Creates a token for an actor of `tenant` (`tenant.admin`; the creator must hold every
     * permission of the actor's role); the plaintext is returned once. `expires_at` must be in the
     * future (400 `validation.token_expiry`); an inactive actor is refused
     * (`validation.token_actor`). Audited as `token.created` (never the secret).
     */
    const create = (tenant: TenantId, input: CreateToken, by: ChangedBy) =>
      Effect.gen(function*() {
        yield* requireAdmin(by, tenant)
        const req = yield* Schema.decodeUnknown(CreateToken)(input).pipe(
          Effect.mapError((e) => new ValidationError({ code: "validation.schema", message: e.message }))
        )
        yield* tenantOf(tenant)
        const found = yield* actors.get(tenant, req.actor_id)
        if (Option.isNone(found)) {
          return yield* new NotFound({
            message: `Actor ${req.actor_id} not found`,
            details: { entity: "actor", id: req.actor_id }
          })
        }
        const actor = found.value
        if (!actor.active) {
          return yield* new ValidationError({
            code: "validation.token_actor",
            message: `Actor ${actor.id} is inactive: its tokens would not work`,
            details: { actor_id: actor.id }
          })
        }
        yield* requireCovers(by, actor)
        const now = yield* Clock.currentTimeMillis
        const expires = req.expires_at ?? null
        if (expires !== null && (!Number.isSafeInteger(expires) || expires <= now)) {
          return yield* new ValidationError({
            code: "validation.token_expiry",
            message: "expires_at must be a time in the future",
            details: { expires_at: expires }
          })
        }
        const plaintext = yield* generate
        const record = build(plaintext, {
          tenant_id: tenant,
          actor_id: actor.id,
          name: req.name ?? actor.id,
          expires_at: expires
        }, now)
        yield* uow.transaction(Effect.zipRight(
          store.insert(record),
          audit.append({
            tenant_id: tenant,
            actor_id: byId(by),
            action: "token.created",
            subject: record.id,
            data: { actor_id: actor.id, name: record.name, prefix: record.hint, expires_at: expires }
          })
        ))
        return { token: plaintext, record, view: toView(record, now) }
      })

    /**
     * A page of `tenant`'s tokens ordered by id (`tenant.admin`): never the secret or its hash.
     * `after` is the previous page's `next_cursor` (a token id; anything else is
     * `validation.cursor`); `limit` 1 to {@link MAX_PAGE_SIZE}, default {@link DEFAULT_PAGE_SIZE}.
     */
    const listTokens = (
      tenant: TenantId,
      by: ChangedBy,
      query: {
        readonly after?: string | undefined
        readonly limit?: number | undefined
        readonly actor_id?: string | undefined
      } = {}
    ) =>
      Effect.gen(function*() {
        yield* requireAdmin(by, tenant)
        yield* tenantOf(tenant)
        if (query.after !== undefined && !TOKEN_ID_PATTERN.test(query.after)) {
          return yield* new ValidationError({
            code: "validation.cursor",
            message: "Expected a token id from a previous page"
          })
        }
        const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
        const rows = yield* store.page(tenant, {
          after: query.after === undefined ? null : TokenId.make(query.after),
          limit: limit + 1,
          actor_id: query.actor_id === undefined ? undefined : ActorId.make(query.actor_id)
        })
        const now = yield* Clock.currentTimeMillis
        const items = rows.slice(0, limit).map((t) => toView(t, now))
        return { items, next_cursor: rows.length > limit ? items[limit - 1]!.id : null } satisfies TokenPage
      })

    /**
     * Revokes a token of `tenant` (`tenant.admin`; the revoker must hold every permission of the
     * token's actor's role): it stops working at once. A token of another tenant is `not_found`.
     * Revoking a revoked token changes nothing. Audited as `token.revoked`.
     */
    const revokeToken = (tenant: TenantId, id: string, by: ChangedBy) =>
      Effect.gen(function*() {
        yield* requireAdmin(by, tenant)
        const gone = new NotFound({ message: `Token ${id} not found`, details: { entity: "token", id } })
        if (!TOKEN_ID_PATTERN.test(id)) return yield* gone
        const found = yield* store.get(TokenId.make(id))
        if (Option.isNone(found) || found.value.tenant_id !== tenant) return yield* gone
        const token = found.value
        const actor = yield* actors.get(tenant, token.actor_id)
        if (Option.isSome(actor)) yield* requireCovers(by, actor.value)
        const now = yield* Clock.currentTimeMillis
        if (token.revoked_at !== null) return toView(token, now)
        yield* uow.transaction(Effect.zipRight(
          store.revoke(token.id, now),
          audit.append({
            tenant_id: tenant,
            actor_id: byId(by),
            action: "token.revoked",
            subject: token.id,
            data: { actor_id: token.actor_id, name: token.name, prefix: token.hint }
          })
        ))
        const after = yield* store.get(token.id)
        return toView(Option.getOrElse(after, () => token), now)
      })

    return {
      issue,
      register,
      verify,
      revoke,
      list: store.list,
      create,
      listTokens,
      revokeToken,
      /** Whether a usable token speaks for an active actor of one of `roles` (see the store). */
      usableForRoles: store.usableForRoles
    } as const
  })
}) {}

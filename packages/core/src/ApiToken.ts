/**
 * API tokens: generated with a recognisable prefix, shown once, stored only as a hash, verified
 * in constant time, revocable and optionally expiring. A token is found by a lookup id derived
 * from it (so the store never needs the secret) and then checked against its stored hash.
 */
import { Clock, Context, Effect, Option, Schema } from "effect"
import { type Actor, ActorStore } from "./Actor.js"
import { constantTimeEqualHex, sha256Hex } from "./Canonical.js"
import { CoreConfig } from "./CoreConfig.js"
import { type Conflict, type NotFound, type StorageError, Unauthorized } from "./Errors.js"
import { ActorId, TenantId, TokenId } from "./Ids.js"
import { SecureRandom } from "./SecureRandom.js"
import { type Tenant, TenantStore } from "./Tenant.js"

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
  revoked_at: Schema.NullOr(Schema.Number)
}) {}

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
}

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url")

const unauthorized = (message: string) => new Unauthorized({ message })

/** Issues, verifies and revokes API tokens. */
export class ApiTokens extends Effect.Service<ApiTokens>()("@airlock/core/ApiTokens", {
  effect: Effect.gen(function*() {
    const store = yield* ApiTokenStore
    const actors = yield* ActorStore
    const tenants = yield* TenantStore
    const random = yield* SecureRandom
    const config = yield* CoreConfig

    const save = (plaintext: string, options: IssueOptions) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const record = new ApiTokenRecord({
          id: tokenLookupId(plaintext),
          tenant_id: options.tenant_id,
          actor_id: options.actor_id,
          name: options.name,
          hint: plaintext.slice(0, Math.min(8, plaintext.length - 4)),
          hash: tokenHash(plaintext),
          created_at: now,
          expires_at: options.expires_at ?? null,
          revoked_at: null
        })
        yield* store.insert(record)
        return record
      })

    /** Generates a new token; the plaintext is returned once and never stored. */
    const issue = (options: IssueOptions) =>
      Effect.gen(function*() {
        const plaintext = `${config.tokenPrefix}_${base64url(yield* random.bytes(32))}`
        const record = yield* save(plaintext, options)
        return { token: plaintext, record }
      })

    /**
     * Registers a caller-chosen plaintext (development seeds such as `dev_admin_token`).
     * Idempotent: an existing token with the same plaintext for the same actor is returned.
     */
    const register = (plaintext: string, options: IssueOptions) =>
      Effect.gen(function*() {
        if (plaintext.length < 8) return yield* Effect.dieMessage("token plaintext must be at least 8 characters")
        const existing = yield* store.get(tokenLookupId(plaintext))
        if (Option.isSome(existing) && existing.value.actor_id === options.actor_id) return existing.value
        return yield* save(plaintext, options)
      })

    /** Resolves a bearer token to its principal, or fails with `auth.unauthorized`. */
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
        return { token, actor: actor.value, tenant: tenant.value }
      })

    /** Revokes a token; verification fails from then on. */
    const revoke = (id: TokenId) => Effect.flatMap(Clock.currentTimeMillis, (now) => store.revoke(id, now))

    return { issue, register, verify, revoke, list: store.list } as const
  })
}) {}

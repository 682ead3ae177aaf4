/**
 * The very first admin token of a fresh production database, without a network endpoint: an
 * operator chooses a secret, hands it to the process at start (the reference server reads
 * `AIRLOCK_BOOTSTRAP_ADMIN_TOKEN`; the CLI's one-shot command will call the same function), and
 * {@link bootstrapAdminToken} stores its hash — only when no usable admin token exists — for an
 * admin actor of the bootstrap tenant (both created when missing). The secret is never stored,
 * logged or returned; from then on it is an ordinary bearer token, listed and revoked like any
 * other. Once an admin token exists, the function changes nothing, whatever secret it is given.
 */
import { Clock, Effect, Option, Redacted } from "effect"
import { ApiTokens } from "./ApiToken.js"
import { AuditLog } from "./Audit.js"
import {
  Conflict,
  type Forbidden,
  type NotFound,
  type PayloadTooLarge,
  type StorageError,
  ValidationError
} from "./Errors.js"
import { ActorId, TenantId, type TokenId } from "./Ids.js"
import { Rbac } from "./Rbac.js"
import { TenantStore } from "./Tenant.js"
import { Tenants } from "./Tenants.js"
import { UnitOfWork } from "./UnitOfWork.js"

/** The shortest accepted bootstrap secret (32 characters: 192 bits of base64, 128 of hex). */
export const MIN_SECRET_LENGTH = 32
/** The longest accepted bootstrap secret (what token verification reads). */
export const MAX_SECRET_LENGTH = 512
/** Fewer distinct characters than this is not a random secret (`aaaa…`, `abab…`). */
export const MIN_DISTINCT_CHARACTERS = 8

// base64, base64url and hex alphabets (e.g. `openssl rand -base64 48`, `openssl rand -hex 32`)
const ALPHABET = /^[A-Za-z0-9+/=_.~-]+$/

/** How many leading characters of the bootstrap token listings show (fewer than generated tokens). */
const HINT_LENGTH = 4

/**
 * Why a bootstrap secret is refused, or null when it is acceptable: 32 to 512 characters of
 * the base64 / base64url / hex alphabets (`A–Z a–z 0–9 + / = _ . ~ -`), at least 8 distinct.
 * The message never contains the secret.
 */
export const secretProblem = (secret: string): string | null => {
  if (secret.length < MIN_SECRET_LENGTH) return `must be at least ${MIN_SECRET_LENGTH} characters`
  if (secret.length > MAX_SECRET_LENGTH) return `must be at most ${MAX_SECRET_LENGTH} characters`
  if (!ALPHABET.test(secret)) return "may only use A-Z a-z 0-9 + / = _ . ~ - (e.g. openssl rand -base64 48)"
  if (new Set(secret).size < MIN_DISTINCT_CHARACTERS) return "does not look random (too few distinct characters)"
  return null
}

/** Where the bootstrap admin lives (each field has a default). */
export interface BootstrapOptions {
  /** The admin's home tenant, created when missing (default `default`). */
  readonly tenant_id?: string
  /** Its name when created (default `Default workspace`). */
  readonly tenant_name?: string
  /** The admin actor, created when missing (default `admin`). */
  readonly actor_id?: string
  /** Its name when created (default `Bootstrap admin`). */
  readonly actor_name?: string
}

/** What {@link bootstrapAdminToken} did. */
export interface BootstrapResult {
  /** True when the secret was stored as a new admin token. */
  readonly created: boolean
  /** `created`, or `admin_token_exists` (nothing changed). */
  readonly outcome: "created" | "admin_token_exists"
  readonly tenant_id: TenantId
  readonly actor_id: ActorId
  /** The new token's id (null when nothing was created). */
  readonly token_id: TokenId | null
}

/** The roles of the RBAC matrix that hold `system.admin`: what counts as an admin token. */
export const adminRoles = (matrix: Readonly<Record<string, ReadonlyArray<string>>>): ReadonlyArray<string> =>
  Object.entries(matrix).filter(([, permissions]) => permissions.includes("system.admin")).map(([role]) => role)

/** `Some` when found, `None` when `not_found`; other failures stay failures. */
const missing = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.map(Option.some),
    Effect.catchIf((e) => e._tag === "NotFound", () => Effect.succeed(Option.none<A>()))
  )

const refuse = (message: string) =>
  new ValidationError({ code: "validation.bootstrap_secret", message: `The bootstrap admin token ${message}` })

/**
 * Stores `secret` (hashed) as the token of an admin actor when no usable admin token exists —
 * one that is neither revoked nor expired, of an active actor whose role holds `system.admin` —
 * creating the tenant and the `ADMIN` actor when missing; otherwise changes nothing. Audited
 * (`token.created`, by `system`, never the secret). Safe to run from several instances at once:
 * the bootstraps serialise on the tenant row, one creates, the others find its admin token. A malformed secret, or one already used by a
 * revoked or expired token, is refused with `validation.bootstrap_secret`.
 */
export const bootstrapAdminToken = (
  secret: string | Redacted.Redacted<string>,
  options: BootstrapOptions = {}
): Effect.Effect<
  BootstrapResult,
  ValidationError | Conflict | Forbidden | NotFound | PayloadTooLarge | StorageError,
  ApiTokens | Tenants | TenantStore | Rbac | UnitOfWork | AuditLog
> =>
  Effect.gen(function*() {
    const plaintext = Redacted.isRedacted(secret) ? Redacted.value(secret) : secret
    const problem = secretProblem(plaintext)
    if (problem !== null) return yield* refuse(problem)
    const tokens = yield* ApiTokens
    const tenants = yield* Tenants
    const rbac = yield* Rbac
    const uow = yield* UnitOfWork
    const audit = yield* AuditLog
    const tenantStore = yield* TenantStore
    const roles = adminRoles(rbac.matrix)
    if (!roles.includes("ADMIN")) return yield* Effect.dieMessage("the RBAC matrix has no ADMIN role with system.admin")
    const tenantId = TenantId.make(options.tenant_id ?? "default")
    const actorId = ActorId.make(options.actor_id ?? "admin")
    const exists = Effect.flatMap(Clock.currentTimeMillis, (now) => tokens.usableForRoles(roles, now))
    const nothing: BootstrapResult = {
      created: false,
      outcome: "admin_token_exists",
      tenant_id: tenantId,
      actor_id: actorId,
      token_id: null
    }
    if (yield* exists) return nothing

    const create = uow.transaction(Effect.gen(function*() {
      const existing = yield* missing(tenants.get(tenantId))
      const tenant = Option.isSome(existing)
        ? existing.value
        : yield* tenants.create({ id: tenantId, name: options.tenant_name ?? "Default workspace" })
      // a write to the tenant row locks it until this transaction ends: bootstraps racing on one
      // database go one after the other, and each sees what the previous one committed
      yield* tenantStore.update(tenant)
      if (yield* exists) return null
      const found = yield* missing(tenants.getActor(tenantId, actorId))
      const actor = Option.isSome(found)
        ? found.value
        : yield* tenants.addActor({
          tenant_id: tenantId,
          id: actorId,
          kind: "user",
          name: options.actor_name ?? "Bootstrap admin",
          role: "ADMIN"
        })
      if (!actor.active || !rbac.can(actor, "system.admin")) {
        return yield* new Conflict({
          code: "conflict.duplicate",
          message: `Actor ${actorId} of tenant ${tenantId} exists and is not an active admin; choose another actor`,
          details: { entity: "actor", id: actorId, role: actor.role, active: actor.active, reason: "not_admin" }
        })
      }
      const record = yield* tokens.register(plaintext, {
        tenant_id: tenantId,
        actor_id: actorId,
        name: "bootstrap",
        hintLength: HINT_LENGTH
      })
      // the same secret as a token that no longer works: it would "succeed" and still not work
      if (record.revoked_at !== null || record.expires_at !== null) {
        return yield* refuse("was used before by a token that is revoked or expiring; choose a new secret")
      }
      yield* audit.append({
        tenant_id: tenantId,
        actor_id: "system",
        action: "token.created",
        subject: record.id,
        data: { actor_id: actorId, name: record.name, prefix: record.hint, expires_at: null, bootstrap: true }
      })
      return record
    }))

    return yield* create.pipe(
      Effect.map((record): BootstrapResult =>
        record === null ? nothing : ({
          created: true,
          outcome: "created",
          tenant_id: tenantId,
          actor_id: actorId,
          token_id: record.id
        })
      ),
      // another instance bootstrapping at the same moment won the race: its token is the admin token
      Effect.catchIf(
        (e): e is Conflict =>
          e._tag === "Conflict" && e.code === "conflict.duplicate" && e.details?.reason !== "not_admin",
        (e) => Effect.flatMap(exists, (found) => (found ? Effect.succeed(nothing) : Effect.fail(e)))
      )
    )
  })

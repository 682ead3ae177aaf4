/**
 * `airlock token create | list | revoke` (the token lifecycle of docs/security.md, over core
 * `ApiTokens.create` / `listTokens` / `revokeToken` as the HTTP routes call them) and
 * `airlock token bootstrap`: the first admin token of a fresh production database, over
 * `Bootstrap.bootstrapAdminToken` as the reference server calls it at start.
 */
import { Actor, ApiToken, Bootstrap, CoreConfig, Errors, Ids, SecureRandom } from "@airlock/core"
import { Args, Command, Options } from "@effect/cli"
import { Config, Effect, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as R from "../Runtime.js"

const stamp = (ms: number | null) => ms === null ? "-" : new Date(ms).toISOString()

/** `--expires-at`: an ISO 8601 time or epoch milliseconds; anything else is `validation.token_expiry`. */
const parseExpiry = (text: string): Effect.Effect<number, Errors.ValidationError> => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  return Number.isSafeInteger(ms) ? Effect.succeed(ms) : Effect.fail(
    new Errors.ValidationError({
      code: "validation.token_expiry",
      message: `--expires-at must be an ISO 8601 time (2027-01-31T00:00:00Z) or epoch milliseconds, not ${
        JSON.stringify(text)
      }`,
      details: { expires_at: text }
    })
  )
}

const tokenLine = (t: ApiToken.TokenView) =>
  `- ${R.bold(t.id)} ${t.actor_id} "${t.name}" ${t.prefix}… ${
    t.status === "active" ? R.green(t.status) : R.yellow(t.status)
  }, created ${stamp(t.created_at)}, last used ${stamp(t.last_used_at)}, expires ${
    t.expires_at === null ? "never" : stamp(t.expires_at)
  }${t.revoked_at === null ? "" : `, revoked ${stamp(t.revoked_at)}`}`

/**
 * Without `--for`, the token is for the acting actor itself: `--actor` must then name an actor of
 * the tenant (a system actor of the CLI has no token of its own) — otherwise `validation.token_actor`.
 */
const ownActor = (tenant: string, actor: string) =>
  Effect.gen(function*() {
    const store = yield* Actor.ActorStore
    const found = yield* store.get(Ids.TenantId.make(tenant), Ids.ActorId.make(actor))
    if (Option.isSome(found)) return actor
    return yield* new Errors.ValidationError({
      code: "validation.token_actor",
      message: `Name the token's actor: --for <actor id>, or --actor as an actor of tenant ${tenant} ` +
        `(${actor} is not one) to create a token for yourself`,
      details: { tenant_id: tenant, actor }
    })
  })

/** `airlock token create --tenant <id> [--for <actor id>] [--actor …] [--name …] [--expires-at …]`. */
const create = R.command(
  "create",
  {
    for: Options.text("for").pipe(
      Options.optional,
      Options.withDescription(
        "The actor of the tenant the token speaks for (its role is the token's); default: --actor, when that is " +
          "an actor of the tenant (a token for yourself)"
      )
    ),
    name: Options.text("name").pipe(
      Options.optional,
      Options.withDescription("A label for listings, 1 to 100 characters (default: the actor's id)")
    ),
    expiresAt: Options.text("expires-at").pipe(
      Options.optional,
      Options.withDescription("When it stops working: an ISO 8601 time in the future (default: until revoked)")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  R.help(
    "Creates an API token for an actor of the tenant (--for; without it, for --actor itself) and prints its " +
      "secret once (only its hash is stored). " +
      "Needs tenant.admin and every permission of the token actor's role (audited token.created as --actor). " +
      "Unknown tenant or actor: exit 5; a role that may not: exit 4; a bad expiry or an inactive actor: exit 2.",
    "airlock token create --tenant default --actor admin",
    "airlock token create --tenant default --for admin --name ops-laptop --actor ops-alice",
    "airlock token create --tenant acme --for bookkeeper-1 --expires-at 2027-01-31T00:00:00Z --json"
  ),
  (o) =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      const who = yield* R.resolveActor(o.tenant, o.actor)
      const expires_at = Option.isSome(o.expiresAt) ? yield* parseExpiry(o.expiresAt.value) : undefined
      const forActor = Option.isSome(o.for) ? o.for.value : yield* ownActor(o.tenant, o.actor)
      const created = yield* tokens.create(Ids.TenantId.make(o.tenant), {
        actor_id: Ids.ActorId.make(forActor),
        name: Option.getOrUndefined(o.name),
        expires_at
      }, who)
      if (o.json) return yield* R.printJson({ ...created.view, token: created.token })
      yield* R.line(
        `${R.ok} token ${created.view.id} created for actor ${created.view.actor_id} of tenant ${created.view.tenant_id}` +
          ` (expires ${created.view.expires_at === null ? "never" : stamp(created.view.expires_at)})`
      )
      yield* R.line(`   ${R.bold(created.token)}`)
      yield* R.line("   shown once: store it now (only its hash is kept)")
    })
)

/** `airlock token list --tenant <id> [--for <actor id>] [--limit …] [--cursor …]`. */
const list = R.command(
  "list",
  {
    for: Options.text("for").pipe(Options.optional, Options.withDescription("Only the tokens of this actor")),
    limit: Options.integer("limit").pipe(
      Options.withDefault(ApiToken.DEFAULT_PAGE_SIZE),
      Options.withDescription(
        `At most this many, 1 to ${ApiToken.MAX_PAGE_SIZE} (default ${ApiToken.DEFAULT_PAGE_SIZE})`
      )
    ),
    cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("Continue after a previous page")),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  R.help(
    "Lists the tenant's tokens ordered by id: id, actor, name, the first characters, status (active, expired, " +
      "revoked), created, last used, expiry. Never a secret or a hash. Unknown tenant: exit 5.",
    "airlock token list --tenant default",
    "airlock token list --tenant acme --for bookkeeper-1 --json"
  ),
  (o) =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      const who = yield* R.resolveActor(o.tenant, o.actor)
      const page = yield* tokens.listTokens(Ids.TenantId.make(o.tenant), who, {
        limit: o.limit,
        after: Option.getOrUndefined(o.cursor),
        actor_id: Option.getOrUndefined(o.for)
      })
      if (o.json) return yield* R.printJson(page)
      yield* R.line(`${page.items.length} token(s) in tenant ${o.tenant}`)
      for (const t of page.items) yield* R.line(tokenLine(t))
      if (page.next_cursor !== null) yield* R.line(R.dim(`more: --cursor ${page.next_cursor}`))
    })
)

/** `airlock token revoke <token id> --tenant <id>`. */
const revoke = R.command(
  "revoke",
  {
    id: Args.text({ name: "token-id" }).pipe(Args.withDescription("The token's id (tok_…, from token list)")),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  R.help(
    "Revokes a token of the tenant: refused from the next request on, on every instance (audited token.revoked " +
      "as --actor). Revoking a revoked token changes nothing. A token not of this tenant: exit 5.",
    "airlock token revoke tok_0123456789abcdef01234567 --tenant default --actor ops-alice"
  ),
  (o) =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      const who = yield* R.resolveActor(o.tenant, o.actor)
      const view = yield* tokens.revokeToken(Ids.TenantId.make(o.tenant), o.id, who)
      if (o.json) return yield* R.printJson(view)
      yield* R.line(`${R.ok} token ${view.id} of actor ${view.actor_id} revoked at ${stamp(view.revoked_at)}`)
    })
)

/** Where the bootstrap secret came from. */
type SecretSource = "stdin" | "environment" | "generated"

/** The secret: stdin (`--secret-stdin`), else `AIRLOCK_BOOTSTRAP_ADMIN_TOKEN`, else a new random one. */
const bootstrapSecret = (fromStdin: boolean) =>
  Effect.gen(function*() {
    if (fromStdin) {
      const text = yield* Effect.try({
        try: () => readFileSync(0, "utf8"),
        catch: (cause) =>
          new Errors.ValidationError({
            code: "validation.bootstrap_secret",
            message: `Could not read the bootstrap admin token from stdin: ${String(cause)}`
          })
      })
      return { secret: Redacted.make(text.replace(/[\r\n]+$/, "")), source: "stdin" as SecretSource }
    }
    const env = yield* Config.option(Config.redacted("AIRLOCK_BOOTSTRAP_ADMIN_TOKEN"))
    if (Option.isSome(env)) return { secret: env.value, source: "environment" as SecretSource }
    // as generated tokens look: the prefix, then 48 random bytes in base64url (64 characters)
    const random = yield* SecureRandom.SecureRandom
    const config = yield* CoreConfig.CoreConfig
    const bytes = yield* random.bytes(48)
    return {
      secret: Redacted.make(`${config.tokenPrefix}_${Buffer.from(bytes).toString("base64url")}`),
      source: "generated" as SecretSource
    }
  })

/** `airlock token bootstrap [--tenant …] [--for admin] [--secret-stdin]`. */
const bootstrap = R.command(
  "bootstrap",
  {
    tenant: Options.text("tenant").pipe(
      Options.optional,
      Options.withDescription(
        "The admin's tenant, created when missing (default: AIRLOCK_BOOTSTRAP_TENANT, else default)"
      )
    ),
    for: Options.text("for").pipe(
      Options.withDefault("admin"),
      Options.withDescription("The ADMIN actor the token speaks for, created when missing (default admin)")
    ),
    secretStdin: Options.boolean("secret-stdin").pipe(
      Options.withDescription("Read the secret from stdin instead of AIRLOCK_BOOTSTRAP_ADMIN_TOKEN")
    ),
    json: R.json
  },
  R.help(
    "The first admin token of a fresh database, as the server's AIRLOCK_BOOTSTRAP_ADMIN_TOKEN does at start: " +
      "only when no usable admin token exists anywhere, stores the hash of a secret for an ADMIN actor (tenant and " +
      "actor created when missing; audited token.created by system). The secret: --secret-stdin, else " +
      "AIRLOCK_BOOTSTRAP_ADMIN_TOKEN (32 to 512 base64/hex characters), else a new one printed once. " +
      "An admin token exists already: exit 4, nothing changed; a malformed secret: exit 2.",
    "AIRLOCK_ENV=production airlock token bootstrap",
    "openssl rand -base64 48 | tr -d '\\n' | airlock token bootstrap --secret-stdin --json"
  ),
  (o) =>
    Effect.gen(function*() {
      const fallback = yield* Config.string("AIRLOCK_BOOTSTRAP_TENANT").pipe(Config.withDefault("default"))
      const tenant = Option.getOrElse(o.tenant, () => fallback)
      const { secret, source } = yield* bootstrapSecret(o.secretStdin)
      const shown = source === "generated" ? Redacted.value(secret) : null
      const result = yield* Bootstrap.bootstrapAdminToken(secret, { tenant_id: tenant, actor_id: o.for }).pipe(
        Effect.ensuring(Effect.sync(() => Redacted.unsafeWipe(secret)))
      )
      if (!result.created) {
        return yield* new Errors.Conflict({
          code: "conflict.duplicate",
          message: "An admin token exists already: nothing changed (this secret is not a token). " +
            "Use an admin token, or airlock token create, to make more.",
          details: { reason: "admin_token_exists", tenant_id: result.tenant_id, actor_id: result.actor_id }
        })
      }
      if (o.json) {
        return yield* R.printJson({ ...result, secret_source: source, ...(shown === null ? {} : { token: shown }) })
      }
      yield* R.line(
        `${R.ok} admin token ${result.token_id} stored for actor ${result.actor_id} of tenant ${result.tenant_id} ` +
          `(only its hash), from ${
            source === "generated"
              ? "a new secret"
              : source === "stdin"
              ? "the secret on stdin"
              : "AIRLOCK_BOOTSTRAP_ADMIN_TOKEN (remove it from the environment)"
          }`
      )
      if (shown !== null) {
        yield* R.line(`   ${R.bold(shown)}`)
        yield* R.line("   shown once: keep it in your secret store (only its hash is kept)")
      }
    })
)

/** `airlock token`. */
export const token = Command.make("token").pipe(
  Command.withDescription(R.help(
    "API tokens: create (the secret shown once), list, revoke; bootstrap the first admin token of a fresh database.",
    "airlock token create --tenant default --for admin"
  )),
  Command.withSubcommands([create, list, revoke, bootstrap])
)

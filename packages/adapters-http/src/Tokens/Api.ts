/**
 * Contract of the tokens group (`/api/v1/tokens`): a tenant's API tokens — create one for an
 * actor (the secret shown once), list them (never the secret or its hash), revoke one (it stops
 * working at once). Tenant-scoped; core's `ApiTokens` checks `tenant.admin` and that the caller
 * holds every permission of the token's actor. An admin naming another tenant (`X-Tenant`,
 * `workspace_id`) goes through the admin guards of every cross-tenant request (IP allowlist,
 * write guard: see `Auth`).
 */
import { ApiToken } from "@airlock/core"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as ApiError from "../ApiError.js"
import { TenantScoped } from "../Auth.js"
import { Cursor, pageLimit, strictBody, Timestamp } from "../Wire.js"

const NullTime = Schema.NullOr(Timestamp)

/** A token as listings show it: never the secret or its hash. */
export const TokenView = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  actor_id: Schema.String,
  name: Schema.String,
  /** The first characters of the token, to recognise it. */
  prefix: Schema.String,
  created_at: Timestamp,
  last_used_at: NullTime,
  expires_at: NullTime,
  revoked_at: NullTime,
  status: Schema.Literal("active", "expired", "revoked")
}).annotations({ identifier: "ApiToken" })

/** A token just created: its listing fields and the secret, shown this once. */
export const CreatedToken = Schema.Struct({
  ...TokenView.fields,
  /** The bearer token. Shown once: only its hash is stored. */
  token: Schema.String
}).annotations({ identifier: "CreatedApiToken" })

/** Body of `POST /api/v1/tokens`. */
export const CreateTokenRequest = strictBody({
  /** The actor of the tenant the token speaks for. */
  actor: ApiToken.CreateToken.fields.actor_id,
  /** A label for listings (default: the actor id). */
  name: ApiToken.CreateToken.fields.name,
  /** When the token stops working (ISO 8601, in the future); absent or null: until revoked. */
  expires_at: Schema.optional(Schema.NullOr(Timestamp))
}).annotations({ identifier: "CreateApiTokenRequest" })

/** A page of tokens, ordered by id. */
export const TokenPage = Schema.Struct({
  items: Schema.Array(TokenView),
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ApiTokenPage" })

/** Query of the token listing. */
export const TokenQuery = Schema.Struct({
  limit: pageLimit({ default: ApiToken.DEFAULT_PAGE_SIZE, max: ApiToken.MAX_PAGE_SIZE }),
  /** The previous page's `next_cursor` (a token id). */
  cursor: Schema.optional(Cursor),
  /** Only the tokens of this actor. */
  actor: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))
})

const TokenIdParam = HttpApiSchema.param("id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))

/** The tokens group. */
export class TokensApi extends HttpApiGroup.make("tokens")
  .add(
    HttpApiEndpoint.post("createToken", "/api/v1/tokens")
      .setPayload(CreateTokenRequest)
      .addSuccess(CreatedToken, { status: 201 })
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
      .addError(ApiError.Conflict)
  )
  .add(
    HttpApiEndpoint.get("listTokens", "/api/v1/tokens")
      .setUrlParams(TokenQuery)
      .addSuccess(TokenPage)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .add(
    HttpApiEndpoint.del("revokeToken")`/api/v1/tokens/${TokenIdParam}`
      .addSuccess(TokenView)
      .addError(ApiError.Forbidden)
      .addError(ApiError.NotFound)
  )
  .middleware(TenantScoped)
  .annotate(OpenApi.Title, "Tokens")
  .annotate(
    OpenApi.Description,
    "API tokens of the tenant (tenant.admin): create (the secret shown once), list, revoke"
  )
{}

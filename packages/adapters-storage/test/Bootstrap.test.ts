/**
 * `Bootstrap.bootstrapAdminToken` on a fresh database of every adapter: the secret becomes an
 * admin token (hashed) only when no usable admin token exists, a second call with another secret
 * changes nothing, a malformed or spent secret is refused, and instances racing on one
 * PostgreSQL create exactly one.
 */
import { Memory, Postgres, Sqlite } from "@airlock/adapters-storage"
import {
  ApiToken,
  Audit,
  Bootstrap,
  CoreConfig,
  type CorePorts,
  Ids,
  Kernel,
  Rbac,
  SecureRandom,
  Tenants
} from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"

const core = Kernel.layerWithAmbient.pipe(
  Layer.provideMerge(Layer.mergeAll(CoreConfig.layer(), Rbac.layer, SecureRandom.layerWebCrypto))
)

const secret = () => randomBytes(36).toString("base64url")

type Storage = "memory" | "sqlite" | "postgres"

const storage = (kind: Storage): Layer.Layer<CorePorts.CorePorts, unknown> => {
  switch (kind) {
    case "memory":
      return Memory.layer
    case "sqlite":
      return Sqlite.layer({ filename: join(mkdtempSync(join(tmpdir(), "airlock-boot-")), "db.sqlite") })
    case "postgres":
      return Layer.unwrapEffect(Effect.map(freshDatabaseUrl(pgAdminUrl()), (url) => Postgres.layer({ url })))
  }
}

const fresh = (kind: Storage) => core.pipe(Layer.provideMerge(storage(kind)))

const kinds: ReadonlyArray<Storage> = pgAdminUrl() === "" ? ["memory", "sqlite"] : ["memory", "sqlite", "postgres"]

describe.each(kinds)("bootstrapAdminToken on %s", (kind) => {
  it.live("a fresh database: the secret becomes an admin token; then nothing changes, whatever the secret", () =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      const tenants = yield* Tenants.Tenants
      const first = secret()
      const result = yield* Bootstrap.bootstrapAdminToken(Redacted.make(first))
      expect(result).toMatchObject({ created: true, outcome: "created", tenant_id: "default", actor_id: "admin" })
      const principal = yield* tokens.verify(first)
      expect([principal.actor.role, principal.tenant.id, principal.token.id]).toStrictEqual([
        "ADMIN",
        "default",
        result.token_id
      ])
      const stored = yield* tokens.list(Ids.TenantId.make("default"))
      expect(stored.map((t) => [t.id, t.hash, t.hint])).toStrictEqual([[
        ApiToken.tokenLookupId(first),
        ApiToken.tokenHash(first),
        first.slice(0, 4)
      ]])
      expect(JSON.stringify(stored)).not.toContain(first)
      const audit = yield* (yield* Audit.AuditLog).list(Ids.TenantId.make("default"))
      expect(audit.map((r) => [r.action, r.actor_id])).toStrictEqual([
        ["tenant.created", "system"],
        ["actor.created", "system"],
        ["token.created", "system"]
      ])
      expect(JSON.stringify(audit)).not.toContain(first)

      // a second start with another secret: nothing
      const second = secret()
      expect(yield* Bootstrap.bootstrapAdminToken(second)).toMatchObject({
        created: false,
        outcome: "admin_token_exists"
      })
      expect((yield* Effect.flip(tokens.verify(second))).code).toBe("auth.unauthorized")
      expect((yield* tokens.list(Ids.TenantId.make("default"))).length).toBe(1)
      expect((yield* tenants.list()).length).toBe(1)

      // once the admin token is revoked, a new secret bootstraps again (recovery); the spent one is refused
      yield* tokens.revoke(result.token_id!)
      expect((yield* Effect.flip(Bootstrap.bootstrapAdminToken(first))).code).toBe("validation.bootstrap_secret")
      const again = yield* Bootstrap.bootstrapAdminToken(second)
      expect(again).toMatchObject({ created: true, actor_id: "admin" })
      expect((yield* tokens.verify(second)).actor.id).toBe("admin")
    }).pipe(Effect.provide(fresh(kind))))

  it.live("an existing admin token anywhere: nothing is created; a non-admin token does not count", () =>
    Effect.gen(function*() {
      const tokens = yield* ApiToken.ApiTokens
      const tenants = yield* Tenants.Tenants
      const ops = yield* tenants.create({ id: Ids.TenantId.make("ops"), name: "Ops" })
      const viewer = yield* tenants.addActor({ tenant_id: ops.id, kind: "user", name: "V", role: "VIEWER" })
      yield* tokens.issue({ tenant_id: ops.id, actor_id: viewer.id, name: "v" })
      const root = yield* tenants.addActor({ tenant_id: ops.id, kind: "user", name: "Root", role: "ADMIN" })
      const mine = yield* tokens.issue({ tenant_id: ops.id, actor_id: root.id, name: "root" })
      const bootstrap = secret()
      expect((yield* Bootstrap.bootstrapAdminToken(bootstrap)).created).toBe(false)
      expect((yield* Effect.flip(tokens.verify(bootstrap))).code).toBe("auth.unauthorized")
      expect((yield* tenants.list()).map((t) => t.id)).toStrictEqual(["ops"])
      // the admin's token revoked: now the bootstrap creates (in the `default` tenant)
      yield* tokens.revoke(mine.record.id)
      expect((yield* Bootstrap.bootstrapAdminToken(bootstrap, { tenant_id: "ops", actor_id: "boot" })).created)
        .toBe(true)
      expect((yield* tokens.verify(bootstrap)).actor).toMatchObject({ id: "boot", role: "ADMIN", tenant_id: "ops" })
    }).pipe(Effect.provide(fresh(kind))))

  it.live("a malformed secret is refused before anything is read, its text in no message", () =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      for (
        const bad of ["short_but_random_Q1w2E3r4", "a".repeat(40), "ab".repeat(20), `${secret()} space`, "é".repeat(40)]
      ) {
        const e = yield* Effect.flip(Bootstrap.bootstrapAdminToken(bad))
        expect(e.code, bad).toBe("validation.bootstrap_secret")
        expect(e.message).not.toContain(bad)
      }
      expect(yield* tenants.list()).toStrictEqual([])
    }).pipe(Effect.provide(fresh(kind))))
})

describe.skipIf(pgAdminUrl() === "")("bootstrapAdminToken: instances racing on one PostgreSQL", () => {
  it.live("create exactly one admin token", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabaseUrl(pgAdminUrl())
      const instance = () => core.pipe(Layer.provideMerge(Postgres.layer({ url })))
      // migrated once first, as a deployment does; then the instances race on the bootstrap only
      yield* Effect.provide(Effect.void, instance())
      const race = Effect.gen(function*() {
        const secrets = Array.from({ length: 6 }, secret)
        const results = yield* Effect.all(
          secrets.map((s) => Bootstrap.bootstrapAdminToken(s).pipe(Effect.provide(instance()))),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r.created).length).toBe(1)
        return secrets[results.findIndex((r) => r.created)]!
      })
      // a fresh database (the tenant insert serialises them) …
      const winner = yield* race
      const check = (expected: number, admin: string) =>
        Effect.gen(function*() {
          const tokens = yield* ApiToken.ApiTokens
          expect((yield* tokens.list(Ids.TenantId.make("default"))).length).toBe(expected)
          const principal = yield* tokens.verify(admin)
          expect(principal.actor.role).toBe("ADMIN")
          return principal.token.id
        }).pipe(Effect.provide(instance()))
      const first = yield* check(1, winner)
      // … and a recovery, where tenant and actor exist (the lock on the tenant row serialises them)
      yield* Effect.flatMap(ApiToken.ApiTokens, (t) => t.revoke(first)).pipe(Effect.provide(instance()))
      yield* check(2, yield* race)
    }), 60_000)
})

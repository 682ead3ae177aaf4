import { Rbac, TenantScope } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const actor = (role: string, tenant_id = "t1", active = true) =>
  ({ id: "a1", tenant_id, kind: "user", name: "n", role, active, created_at: 0 }) as never

describe("TenantScope", () => {
  const rbac = Rbac.makeRbac(Rbac.defaultMatrix)
  it("allows an actor's own tenant, and another only with tenant.cross (an active ADMIN)", () => {
    expect(TenantScope.allows(rbac, actor("OWNER"), "t1")).toBe(true)
    expect(TenantScope.allows(rbac, actor("OWNER"), "t2")).toBe(false)
    expect(TenantScope.allows(rbac, actor("ADMIN"), "t2")).toBe(true)
    expect(TenantScope.allows(rbac, actor("ADMIN", "t1", false), "t2")).toBe(false)
  })
  it.effect("requireTenant and acting fail with 403 tenant.mismatch; acting defaults to the actor's tenant", () =>
    Effect.gen(function*() {
      const denied = yield* Effect.flip(TenantScope.requireTenant(rbac, actor("CONTROLLER"), "t2"))
      expect(denied).toMatchObject({
        _tag: "Forbidden",
        code: "tenant.mismatch",
        message: "Actor belongs to another tenant"
      })
      expect(yield* Effect.flip(TenantScope.acting(rbac, actor("CONTROLLER"), "t2"))).toStrictEqual(denied)
      expect(yield* TenantScope.acting(rbac, actor("CONTROLLER"))).toBe("t1")
      expect(yield* TenantScope.acting(rbac, actor("CONTROLLER"), "t1")).toBe("t1")
      expect(yield* TenantScope.acting(rbac, actor("ADMIN"), "t2")).toBe("t2")
      yield* TenantScope.requireTenant(rbac, actor("ADMIN"), "t2")
    }))
})

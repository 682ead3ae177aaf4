import { Maintenance, MaintenanceConfig } from "@airlock/ops"
import { describe, expect, it } from "@effect/vitest"

describe("maintenance enqueue warning", () => {
  it("with the loop disabled (the default) an enqueue warns that its runs wait; with it enabled, no warning", () => {
    const warning = Maintenance.enqueueWarning(MaintenanceConfig.defaults)
    expect(MaintenanceConfig.defaults.enabled).toBe(false)
    expect(warning?.code).toBe("maintenance.loop_disabled")
    expect(warning?.message).toContain("AIRLOCK_MAINTENANCE_ENABLED=true")
    expect(warning?.message).toContain("POST /api/admin/maintenance/run")
    expect(Maintenance.enqueueWarning({ ...MaintenanceConfig.defaults, enabled: true })).toBeNull()
  })
})

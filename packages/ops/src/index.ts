/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 */
export * as Maintenance from "./Maintenance.js"
export * as MaintenanceConfig from "./MaintenanceConfig.js"
export * as MaintenanceStore from "./MaintenanceStore.js"
export * as Scheduler from "./Scheduler.js"
export * as SchedulerConfig from "./SchedulerConfig.js"
export * as Schedules from "./Schedules.js"
export * as ScheduleStore from "./ScheduleStore.js"

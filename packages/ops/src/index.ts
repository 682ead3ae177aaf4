/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 */
export * as AlertWebhook from "./AlertWebhook.js"
export * as Baseline from "./Baseline.js"
export * as Digest from "./Digest.js"
export * as EventStore from "./EventStore.js"
export * as Kpi from "./Kpi.js"
export * as KpiAlerts from "./KpiAlerts.js"
export * as KpiConfig from "./KpiConfig.js"
export * as KpiRollups from "./KpiRollups.js"
export * as KpiStore from "./KpiStore.js"
export * as ProductEvents from "./ProductEvents.js"

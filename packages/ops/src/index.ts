/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 *
 * Health: readiness checks ({@link Readiness}), drain and controlled restart ({@link Drain}),
 * the setup doctor ({@link Doctor}) and its outage classes ({@link OutageClass}).
 */
export * as AlertWebhook from "./AlertWebhook.js"
export * as Baseline from "./Baseline.js"
export * as Digest from "./Digest.js"
export * as Doctor from "./Doctor.js"
export * as Drain from "./Drain.js"
export * as EventStore from "./EventStore.js"
export * as Executions from "./Executions.js"
export * as ExecutionsConfig from "./ExecutionsConfig.js"
export * as ExecutionStore from "./ExecutionStore.js"
export * as JobRunner from "./JobRunner.js"
export * as Kpi from "./Kpi.js"
export * as KpiAlerts from "./KpiAlerts.js"
export * as KpiConfig from "./KpiConfig.js"
export * as KpiRollups from "./KpiRollups.js"
export * as KpiStore from "./KpiStore.js"
export * as OutageClass from "./OutageClass.js"
export * as ProductEvents from "./ProductEvents.js"
export * as Readiness from "./Readiness.js"
export * as RunControl from "./RunControl.js"
export * as RunStore from "./RunStore.js"
export * as Triage from "./Triage.js"
export * as WorkerLoop from "./WorkerLoop.js"

/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 *
 * Health: readiness checks ({@link Readiness}), drain and controlled restart ({@link Drain}),
 * the setup doctor ({@link Doctor}) and its outage classes ({@link OutageClass}).
 */
export * as Doctor from "./Doctor.js"
export * as Drain from "./Drain.js"
export * as OutageClass from "./OutageClass.js"
export * as Readiness from "./Readiness.js"

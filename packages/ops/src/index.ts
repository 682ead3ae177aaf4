/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 */
export * as Executions from "./Executions.js"
export * as ExecutionsConfig from "./ExecutionsConfig.js"
export * as ExecutionStore from "./ExecutionStore.js"
export * as JobRunner from "./JobRunner.js"
export * as RunControl from "./RunControl.js"
export * as RunStore from "./RunStore.js"
export * as Triage from "./Triage.js"
export * as WorkerLoop from "./WorkerLoop.js"

/**
 * @airlock/ops — Run controls, executions, scheduler, health, KPI rollups and digests.
 *
 * Under construction: see the project's open issues. Nothing is exported yet.
 */
export {}

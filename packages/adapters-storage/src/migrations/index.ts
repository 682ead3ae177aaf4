/**
 * Every migration of every package, in order. Keys are `<id>_<name>`; a package adding tables
 * appends one entry here and never edits an applied one.
 */
import type { Effect } from "effect"
import core from "./0001_core.js"
import ledger from "./0002_ledger.js"
import guardrails from "./0003_guardrails.js"
import partialIndexes from "./0004_partial_indexes.js"
import agentMemory from "./0005_agent_memory.js"
import tablePrefixes from "./0006_table_prefixes.js"
import companion from "./0007_companion.js"
import opsExecutions from "./0008_ops_executions.js"
import opsScheduler from "./0009_ops_scheduler.js"
import opsKpi from "./0010_ops_kpi.js"
import hardening from "./0011_hardening.js"
import companionReports from "./0014_companion_reports.js"
import rulePromotion from "./0015_rule_promotion.js"
import exportIndexes from "./0016_export_indexes.js"
import schedulerIndexes from "./0017_scheduler_indexes.js"

/** The migrations record for `Migrator.fromRecord`. */
export const all: Record<string, Effect.Effect<void, unknown, any>> = {
  "0001_core": core,
  "0002_ledger": ledger,
  "0003_guardrails": guardrails,
  "0004_partial_indexes": partialIndexes,
  "0005_agent_memory": agentMemory,
  "0006_table_prefixes": tablePrefixes,
  "0007_companion": companion,
  "0008_ops_executions": opsExecutions,
  "0009_ops_scheduler": opsScheduler,
  "0010_ops_kpi": opsKpi,
  "0011_hardening": hardening,
  "0014_companion_reports": companionReports,
  "0015_rule_promotion": rulePromotion,
  "0016_export_indexes": exportIndexes,
  "0017_scheduler_indexes": schedulerIndexes
}

/** The id of the newest migration: the head `/readyz` compares against. */
export const headId: number = Math.max(...Object.keys(all).map((k) => Number.parseInt(k.split("_")[0]!, 10)))

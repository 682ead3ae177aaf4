/** Memory implementations of ops' run-control and execution ports. */
import { CorePorts } from "@airlock/core"
import { ExecutionStore, RunStore } from "@airlock/ops"
import { Effect, Layer, Option } from "effect"
import { MemoryDatabase } from "../../MemoryDatabase.js"

/** The ports this module implements. */
export type OpsRunsPorts = RunStore.RunStore | ExecutionStore.ExecutionStore

/** Memory {@link RunStore.RunStore}. */
export const runStore: Layer.Layer<RunStore.RunStore, never, MemoryDatabase> = Layer.effect(
  RunStore.RunStore,
  Effect.map(MemoryDatabase, (db) => {
    const runs = db.table<RunStore.RunRecord>("ops_runs")
    const counters = db.table<{ run_id: string; kind: string; count: number }>("ops_run_counters")
    const openRun = () => {
      for (const r of runs.values()) if (r.ended_at === null) return r
      return undefined
    }
    const byStart = () =>
      [...runs.values()].sort((a, b) => b.started_at - a.started_at || (a.run_id < b.run_id ? 1 : -1))
    return {
      open: () => db.read(() => Option.fromNullable(openRun())),
      get: (id) => db.read(() => Option.fromNullable(runs.get(id))),
      start: (run) =>
        db.writeEffect(() => {
          const open = openRun()
          if (open !== undefined) return Effect.fail(RunStore.alreadyActiveError(open.run_id))
          if (runs.has(run.run_id)) return Effect.fail(CorePorts.duplicateError("run", run.run_id))
          runs.set(run.run_id, run)
          return Effect.void
        }),
      update: (run, expected) =>
        db.write(() => {
          const current = runs.get(run.run_id)
          if (current === undefined || current.version !== expected) return false
          runs.set(run.run_id, run)
          return true
        }),
      list: (limit) => db.read(() => byStart().slice(0, limit)),
      count: (runId, kind, n) =>
        db.write(() => {
          const key = `${runId}\u0000${kind}`
          const current = counters.get(key)
          counters.set(key, { run_id: runId, kind, count: (current?.count ?? 0) + n })
        }),
      counts: (runId) =>
        db.read(() => {
          const out: Record<string, number> = {}
          for (const c of counters.values()) if (c.run_id === runId) out[c.kind] = c.count
          return out
        })
    }
  })
)

const newestFirst = (a: ExecutionStore.ExecutionRecord, b: ExecutionStore.ExecutionRecord) =>
  a.run_id < b.run_id ? 1 : a.run_id > b.run_id ? -1 : 0

const oldestQueued = (a: ExecutionStore.ExecutionRecord, b: ExecutionStore.ExecutionRecord) =>
  a.queued_at - b.queued_at || (a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0)

/** Memory {@link ExecutionStore.ExecutionStore}. */
export const executionStore: Layer.Layer<ExecutionStore.ExecutionStore, never, MemoryDatabase> = Layer.effect(
  ExecutionStore.ExecutionStore,
  Effect.map(MemoryDatabase, (db) => {
    const rows = db.table<ExecutionStore.ExecutionRecord>("ops_executions")
    return {
      insert: (r) =>
        db.writeEffect(() =>
          rows.has(r.run_id)
            ? Effect.fail(CorePorts.duplicateError("execution", r.run_id))
            : (rows.set(r.run_id, r), Effect.void)
        ),
      get: (tenant, id) =>
        db.read(() => {
          const r = rows.get(id)
          return r !== undefined && r.tenant_id === tenant ? Option.some(r) : Option.none()
        }),
      getById: (id) => db.read(() => Option.fromNullable(rows.get(id))),
      update: (r, expected) =>
        db.write(() => {
          const current = rows.get(r.run_id)
          if (current === undefined || current.version !== expected || current.tenant_id !== r.tenant_id) return false
          rows.set(r.run_id, r)
          return true
        }),
      list: (tenant, q) =>
        db.read(() =>
          [...rows.values()]
            .filter((r) =>
              r.tenant_id === tenant &&
              (q.job_name === undefined || r.job_name === q.job_name) &&
              (q.status === undefined || r.status === q.status) &&
              (q.triaged !== true || r.triage !== null) &&
              (q.before === undefined || r.run_id < q.before)
            )
            .sort(newestFirst)
            .slice(0, q.limit)
        ),
      claim: (instance, now, limit) =>
        db.write(() => {
          const queued = [...rows.values()].filter((r) => r.status === "QUEUED").sort(oldestQueued).slice(0, limit)
          return queued.map((r) => {
            const claimed = new ExecutionStore.ExecutionRecord({
              ...r,
              status: "RUNNING",
              claimed_by: instance,
              attempts: r.attempts + 1,
              started_at: now,
              heartbeat_at: now,
              version: r.version + 1
            }, true)
            rows.set(r.run_id, claimed)
            return claimed
          })
        }),
      stale: (before, limit, tenant) =>
        db.read(() =>
          [...rows.values()]
            .filter((r) =>
              r.status === "RUNNING" && (r.heartbeat_at ?? r.started_at ?? 0) < before &&
              (tenant === undefined || r.tenant_id === tenant)
            )
            .sort((a, b) => (a.heartbeat_at ?? 0) - (b.heartbeat_at ?? 0))
            .slice(0, limit)
        )
    }
  })
)

/** Both ops run ports on the memory database. */
export const layer: Layer.Layer<OpsRunsPorts, never, MemoryDatabase> = Layer.mergeAll(runStore, executionStore)

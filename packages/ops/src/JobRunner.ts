/**
 * Job runners: the host's programs that execute builds. A runner is an Effect program given a
 * {@link JobContext}: the execution and its plan, a heartbeat (an execution RUNNING without a
 * heartbeat for `stale_after_seconds` is failed as `stale`), progress and cost reports, and a log
 * whose last lines are kept as the evidence failure triage reads. A runner fails with
 * {@link JobError}; when the execution was canceled or reconciled meanwhile, its next heartbeat
 * or progress report fails with {@link JobCanceled} and the runner is interrupted.
 *
 * Runners are registered by job name in {@link JobRunners} (from a layer); `*` is the fallback
 * for every job without its own runner.
 */
import { Data, Effect, Option } from "effect"
import type { ExecutionRecord } from "./ExecutionStore.js"

/** A runner's failure: the message becomes the execution's `error`. */
export class JobError extends Data.TaggedError("JobError")<{
  readonly message: string
  /** Extra evidence lines for triage (besides the log). */
  readonly evidence?: ReadonlyArray<string>
}> {}

/** The execution is no longer this runner's: it was canceled or reconciled as stale. */
export class JobCanceled extends Data.TaggedError("JobCanceled")<{
  readonly run_id: string
  readonly status: string
}> {}

/** What a runner is given. */
export interface JobContext {
  readonly execution: ExecutionRecord
  readonly plan: unknown
  /** Records that the runner is alive. */
  readonly heartbeat: Effect.Effect<void, JobCanceled>
  /** Reports progress (0..1) with an optional message; also a heartbeat. */
  readonly progress: (fraction: number, message?: string) => Effect.Effect<void, JobCanceled>
  /** Adds to the execution's actual cost (micro-dollars); booked into billing when it ends. */
  readonly reportCost: (micros: bigint) => Effect.Effect<void>
  /** Logs one line (the last lines are kept as triage evidence). */
  readonly log: (line: string) => Effect.Effect<void>
}

/** A host's job runner. */
export type JobRunner = (context: JobContext) => Effect.Effect<void, JobError | JobCanceled>

/** The fallback name: the runner of every job without its own. */
export const ANY_JOB = "*"

/** Runners known to this process, by job name. */
export class JobRunners extends Effect.Service<JobRunners>()("@airlock/ops/JobRunners", {
  sync: () => {
    const runners = new Map<string, JobRunner>()
    return {
      /** Registers the runner of `jobName` (or {@link ANY_JOB}); a second registration replaces the first. */
      register: (jobName: string, runner: JobRunner) => Effect.sync(() => void runners.set(jobName, runner)),
      /** The runner of a job: its own, else the fallback. */
      lookup: (jobName: string): Option.Option<JobRunner> =>
        Option.orElse(Option.fromNullable(runners.get(jobName)), () => Option.fromNullable(runners.get(ANY_JOB)))
    }
  }
}) {}

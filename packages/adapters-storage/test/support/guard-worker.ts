/**
 * A worker process for the multi-process guardrails test: opens the given PostgreSQL database
 * with the suite's environment, runs one operation against it and prints its result as one JSON
 * line. Time is fixed to the instant the parent passes, so every process agrees on the windows.
 *
 * Usage: node --import tsx --conditions=source guard-worker.ts '<json>'
 */
import { Postgres } from "@airlock/adapters-storage"
import { GovernedActions, type Ids, SecureRandom, Tenants } from "@airlock/core"
import { Approvals, RateLimiter } from "@airlock/guardrails"
import { Clock, Effect, Exit } from "effect"
import { environment } from "./GuardEnv.js"

interface Job {
  readonly url: string
  readonly now: number
  readonly op: "rate" | "velocity" | "grant" | "await-approval-and-apply" | "apply"
  readonly tenant: string
  readonly n?: number
  readonly token?: string
  readonly actor?: string
  readonly subject?: string
  readonly plan_hash?: string
  readonly payload?: unknown
  readonly action_id?: string
}

const job = JSON.parse(process.argv[2]!) as Job

const base = Clock.make()
const fixed: Clock.Clock = {
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => job.now,
  currentTimeMillis: Effect.succeed(job.now),
  unsafeCurrentTimeNanos: () => BigInt(job.now) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(job.now) * 1_000_000n),
  sleep: (d) => base.sleep(d)
}

const code = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit) ? "ok" : String((Exit.causeOption(exit) as any).value?.error?.code ?? "defect")

const actor = (id: string) =>
  Effect.flatMap(Tenants.Tenants, (t) => t.getActor(job.tenant as Ids.TenantId, id as Ids.ActorId))

const program = Effect.gen(function*() {
  const tenant = job.tenant as Ids.TenantId
  switch (job.op) {
    case "rate": {
      const limiter = yield* RateLimiter.RateLimiter
      const exits = yield* Effect.all(
        Array.from({ length: job.n! }, () => Effect.exit(limiter.check({ tenant_id: tenant, token_id: job.token }))),
        { concurrency: 4 }
      )
      return {
        admitted: exits.filter(Exit.isSuccess).length,
        refused: exits.map(code).filter((c) => c === "rate_limited").length
      }
    }
    case "velocity": {
      const pipeline = yield* GovernedActions.GovernedActions
      const agent = yield* actor(job.actor!)
      const exits = yield* Effect.all(
        Array.from(
          { length: job.n! },
          (_, i) =>
            Effect.exit(
              pipeline.propose({
                tenant_id: tenant,
                actor: agent,
                kind: "g.note",
                payload: { note: `${process.pid}-${i}` }
              })
            )
        ),
        { concurrency: 4 }
      )
      const codes = exits.map(code)
      return {
        ok: codes.filter((c) => c === "ok").length,
        tripped: codes.filter((c) => c === "breaker.velocity").length
      }
    }
    case "grant": {
      const approvals = yield* Approvals.Approvals
      const exit = yield* Effect.exit(
        approvals.grant(yield* actor(job.actor!), {
          subject: job.subject!,
          plan_hash: job.plan_hash!,
          approver: "worker"
        })
      )
      return Exit.isSuccess(exit) ? { status: exit.value.status, approver: exit.value.approver } : { error: code(exit) }
    }
    case "await-approval-and-apply": {
      // waits (real time) until another process has granted the approval, then proposes and applies
      const approvals = yield* Approvals.Approvals
      const who = yield* actor(job.actor!)
      let seen = "none"
      for (let i = 0; i < 600 && seen !== "approved"; i++) {
        seen = (yield* approvals.status(who, job.subject!, job.plan_hash!)).status
        if (seen !== "approved") yield* Effect.sleep("50 millis")
      }
      const pipeline = yield* GovernedActions.GovernedActions
      const proposed = yield* pipeline.propose({ tenant_id: tenant, actor: who, kind: "g.build", payload: job.payload })
      const applied = yield* pipeline.apply(tenant, proposed.action.id, who)
      return {
        seen,
        status: applied.action.status,
        action_id: applied.action.id,
        approver: applied.trace?.gates.find((g) => g.gate === "approval")?.inputs.approver ?? null
      }
    }
    case "apply": {
      const pipeline = yield* GovernedActions.GovernedActions
      const exit = yield* Effect.exit(pipeline.apply(tenant, job.action_id as Ids.ActionId, yield* actor(job.actor!)))
      return { result: code(exit) }
    }
  }
})

const main = program.pipe(
  Effect.provide(environment(Postgres.layer({ url: job.url, maxConnections: 4 }), SecureRandom.layerWebCrypto)),
  Effect.withClock(fixed)
)

Effect.runPromiseExit(main).then((exit) => {
  if (Exit.isSuccess(exit)) {
    process.stdout.write(JSON.stringify(exit.value) + "\n")
    process.exit(0)
  }
  process.stderr.write(String(exit.cause) + "\n")
  process.exit(1)
})

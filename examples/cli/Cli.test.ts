/**
 * The `airlock` CLI as operators run it: the built bin (`cli/tsup.config.ts`, one ESM file) started
 * as a child process against a temporary SQLite file and a fresh PostgreSQL database, configured by
 * the environment like the server. Each test checks the output, the files written, the exit code
 * and the state the command changed, read back through the library.
 */
import { KpiWebhookTransport } from "@airlock/adapters-http"
import { Migrations } from "@airlock/adapters-storage"
import { CompanionReports, CompanionReportsPorts } from "@airlock/companion"
import { Actor, ApiToken, Audit, Ids, Kernel, Tenants } from "@airlock/core"
import { Guardrails, GuardrailsConfig, Lockdown } from "@airlock/guardrails"
import {
  Executions,
  ExecutionsConfig,
  Kpi,
  KpiConfig,
  KpiStore,
  Maintenance,
  Scheduler,
  ScheduleStore
} from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import * as Scheduling from "../server/Scheduling.js"
import { seedDevelopment } from "../server/Seed.js"
import * as Storage from "../server/Storage.js"

const examples = join(import.meta.dirname, "..")
const outDir = join(examples, "cli", "dist", `test-${process.pid}-${randomBytes(3).toString("hex")}`)
const bin = join(outDir, "airlock.js")

beforeAll(() => {
  // the built bin, as a deployment would ship it (its own directory: test files may build at once)
  execFileSync("pnpm", ["exec", "tsup", "--config", "cli/tsup.config.ts"], {
    cwd: examples,
    env: { ...process.env, AIRLOCK_CLI_OUT_DIR: outDir },
    stdio: "ignore"
  })
}, 120_000)
afterAll(() => rmSync(outDir, { recursive: true, force: true }))

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly json: () => any
}

/** The environment variables set (a variable given as undefined is removed). */
type Env = Record<string, string | undefined>

const airlock = (env: Env, cwd: string, ...args: ReadonlyArray<string>): Promise<Ran> =>
  airlockWithInput(env, cwd, null, ...args)

/** {@link airlock} with `input` written to its stdin (null: no stdin). */
const airlockWithInput = (
  env: Env,
  cwd: string,
  input: string | null,
  ...args: ReadonlyArray<string>
): Promise<Ran> => started(process.execPath, [bin, ...args], cwd, { INIT_CWD: cwd, ...env }, input)

/** Runs `command` as a child process with the tests' environment (production unless `env` says otherwise). */
const started = (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  env: Env,
  input: string | null = null
): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const merged: Env = { ...process.env, AIRLOCK_ENV: "production", NO_COLOR: "", ...env }
    const child = spawn(command, args, {
      cwd,
      env: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<string, string>,
      stdio: [input === null ? "ignore" : "pipe", "pipe", "pipe"]
    })
    if (input !== null) child.stdin!.end(input)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) }))
  })

/** Runs `f` with the library over the same store as the CLI. */
const library = <A>(choice: Storage.StorageChoice, f: Effect.Effect<A, unknown, any>): Promise<A> => {
  const core = Kernel.layer.pipe(Layer.provideMerge(Storage.layer(choice)))
  const guardrails = Guardrails.layer.pipe(Layer.provideMerge(GuardrailsConfig.layerConfig))
  // the schedule targets' services, wired as the CLI wires them (Runtime.servicesLayer)
  const targets = Layer.mergeAll(
    Kpi.layer.pipe(Layer.provide([KpiConfig.layerConfig, KpiWebhookTransport.layer])),
    Executions.layer.pipe(Layer.provideMerge(ExecutionsConfig.layerConfig)),
    CompanionReports.layerConfig
  ).pipe(Layer.provideMerge(guardrails))
  const services = Scheduling.layer.pipe(Layer.provideMerge(targets), Layer.provideMerge(core))
  return Effect.runPromise(f.pipe(Effect.provide(services), Effect.scoped) as Effect.Effect<A, unknown, never>)
}

const auditOf = (choice: Storage.StorageChoice, tenant: string) =>
  library(
    choice,
    Effect.flatMap(Audit.AuditStore, (s) => s.list(Ids.TenantId.make(tenant), { afterSeq: 0, limit: 10_000 }))
  )

const admin = (tenant: string) =>
  new Actor.Actor({
    id: Ids.ActorId.make("test-admin"),
    tenant_id: Ids.TenantId.make(tenant),
    kind: "user",
    name: "test admin",
    role: "ADMIN",
    active: true,
    created_at: 0
  }, true)

const ansi = /\u001b\[/

/** Listens on a free port of 127.0.0.1 (the test's stand-in for a server already running there). */
const listen = (): Promise<{ server: Server; port: number }> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port }))
  })

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

/** A port free at the time of the call. */
const freePort = async () => {
  const { port, server } = await listen()
  await close(server)
  return port
}

/** `f` over `items`, four child processes at a time (the machine is small), results in order. */
const inBatches = async <A, B>(items: ReadonlyArray<A>, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out: Array<B> = []
  for (let i = 0; i < items.length; i += 4) out.push(...await Promise.all(items.slice(i, i + 4).map(f)))
  return out
}

/** Fails with what a library call failed with (the tests compare tags and codes). */
const failure = <A>(choice: Storage.StorageChoice, f: Effect.Effect<A, unknown, any>) =>
  library(choice, Effect.flip(f)) as Promise<{ _tag: string; code?: string; message?: string }>

const suite = (name: string, setup: () => Promise<{ env: Record<string, string>; choice: Storage.StorageChoice }>) =>
  // every test spawns the bin several times: under load one spawn takes seconds, so no test has less than 240 s
  describe(`airlock CLI on ${name}`, { timeout: 240_000 }, () => {
    let env: Record<string, string>
    let choice: Storage.StorageChoice
    let cwd: string
    beforeAll(async () => {
      ;({ choice, env } = await setup())
      cwd = mkdtempSync(join(tmpdir(), "airlock-cli-"))
    })
    const run = (...args: ReadonlyArray<string>) => airlock(env, cwd, ...args)

    it("migrate, doctor, doctor --fix (audited as --actor), usage errors and help", async () => {
      // migrate status on the fresh store: nothing applied yet, every migration pending; read only
      const fresh = await run("migrate", "status", "--json")
      expect(fresh.code).toBe(0)
      const every = Object.keys(Migrations.migrations).map((k) => ({
        id: Number.parseInt(k, 10),
        name: k.slice(k.indexOf("_") + 1)
      }))
      expect(fresh.json()).toMatchObject({ initialized: false, applied: 0, current: 0, at_head: false, pending: every })
      const freshText = await run("migrate", "status")
      expect(freshText.stdout).toContain("nothing applied yet")
      expect(freshText.stdout).toContain(`${every.length} pending:`)
      expect(freshText.stdout).toContain("0001_core")
      const m = await run("migrate", "--json")
      expect(m.code).toBe(0)
      expect(m.json().at_head).toBe(true)
      expect(m.json().current).toBe(m.json().head)
      expect((await run("migrate", "status", "--json")).json()).toMatchObject({
        initialized: true,
        applied: every.length,
        at_head: true,
        pending: []
      })
      const again = await run("migrate")
      expect(again.code).toBe(0)
      expect(again.stdout).toContain("already at head")

      // production, no default tenant: the check fails (exit 1), with JSON findings
      const d = await run("doctor", "--json")
      expect(d.code).toBe(1)
      const report = d.json()
      expect(report.ok).toBe(false)
      expect(report.findings.find((f: any) => f.check === "tenant.default").code).toBe("tenant.default_missing")
      expect(report.findings.find((f: any) => f.check === "postgres").code).toBe(
        choice.postgresUrl === null ? "postgres.not_configured" : "postgres.reachable"
      )
      // the scheduler's check is registered (nothing scheduled: on time)
      expect(report.findings.find((f: any) => f.check === "scheduler")).toMatchObject({
        status: "ok",
        code: "scheduler.on_time"
      })

      const fixed = await run("doctor", "--fix", "--actor", "ops-alice")
      expect(fixed.code).toBe(0)
      expect(fixed.stdout).toContain("✅ tenant.default")
      expect(fixed.stdout).toContain("OK")
      expect(fixed.stdout).not.toMatch(ansi)
      const tenant = await library(choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make("default"))))
      expect(tenant.id).toBe("default")
      const audit = await auditOf(choice, "default")
      expect(audit.some((r) => r.action === "system.doctor_fix" && r.actor_id === "ops-alice")).toBe(true)

      const bogus = await run("bogus")
      expect(bogus.code).toBe(2)
      const badFlag = await run("baseline", "capture", "--windows", "many")
      expect(badFlag.code).toBe(2)
      const help = await run("doctor", "--help")
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("Example: airlock doctor --fix")
      expect(help.stdout).not.toMatch(ansi)
    })

    it("baseline capture writes the runbook's two files and stores the tenant's latest", async () => {
      const r = await run("baseline", "capture", "--windows", "3", "--window-minutes", "5", "--actor", "ops-bob")
      expect(r.code).toBe(0)
      const file = join(cwd, "output", "baseline", "baseline_latest.json")
      const metrics = join(cwd, "output", "baseline", "metrics", "metrics_latest.json")
      expect(r.stdout).toContain(file)
      const doc = JSON.parse(readFileSync(file, "utf8"))
      expect(doc).toMatchObject({ kind: "airlock.baseline", tenant_id: "default", captured_by: "ops-bob" })
      expect(doc.params).toEqual({ windows: 3, window_minutes: 5 })
      expect(JSON.parse(readFileSync(metrics, "utf8"))).toMatchObject({ kind: "airlock.metrics", baseline_id: doc.id })
      const latest = await library(choice, Effect.flatMap(KpiStore.KpiStore, (s) => s.latestBaseline("default")))
      expect(latest._tag === "Some" && latest.value.id).toBe(doc.id)
      const audit = await auditOf(choice, "default")
      expect(audit.some((r) => r.action === "ops.baseline.captured" && r.actor_id === "ops-bob")).toBe(true)

      const tooLong = await run("baseline", "capture", "--windows", "1000", "--window-minutes", "1440", "--json")
      expect(tooLong.code).toBe(2)
      expect(tooLong.json().error.code).toBe("validation.baseline_params")
    })

    it("digest weekly: insufficient_evidence with observed vs required (exit 1), nothing stored", async () => {
      const r = await run("digest", "weekly", "--lookback-days", "7", "--anchor-date", "2026-11-30", "--json")
      expect(r.code).toBe(1)
      expect(r.json()).toMatchObject({
        status: "insufficient_evidence",
        anchor_week: "2026-11-30",
        observed: { events: 0, llm_calls: 0 },
        required: { events: 25, llm_calls: 5 }
      })
      const text = await run("digest", "weekly")
      expect(text.code).toBe(1)
      expect(text.stdout).toContain("status=insufficient_evidence")
      expect(text.stdout).toMatch(/events:\s+observed 0, required 25/)
      const audit = await auditOf(choice, "default")
      expect(audit.some((r) => r.action === "ops.digest.created")).toBe(false)

      // no evidence needed: a draft; a second for the same week is refused naming the CLI's flag, which allows it
      const lax = { ...env, AIRLOCK_DIGEST_MIN_EVENTS: "0", AIRLOCK_DIGEST_MIN_LLM_CALLS: "0" }
      const weekly = (...args: ReadonlyArray<string>) =>
        airlock(lax, cwd, "digest", "weekly", "--anchor-date", "2026-10-05", ...args)
      expect((await weekly()).code).toBe(0)
      const duplicate = await weekly()
      expect(duplicate.code).toBe(4)
      expect(duplicate.stderr).toContain("kpi.digest_exists")
      expect(duplicate.stderr).toContain("(pass --allow-duplicate-anchor to add another)")
      expect(duplicate.stderr).not.toContain("allow_duplicate_anchor")
      const second = await weekly("--allow-duplicate-anchor", "--json")
      expect(second.code).toBe(0)
      expect(second.json().draft.seq).toBe(2)
      const drafts = (await auditOf(choice, "default")).filter((r) => r.action === "ops.digest.created")
      expect(drafts).toHaveLength(2)
    })

    it("unlock-code rotate, then unlock: a wrong code is refused (4), the right one lifts the lockdown", async () => {
      const rotated = await run("unlock-code", "rotate", "--json")
      expect(rotated.code).toBe(0)
      const code: string = rotated.json().code
      expect(code.length).toBeGreaterThan(5)
      await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.lock(admin("default"), "drill")))
      expect((await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.current))).active).toBe(true)

      const wrong = await run("unlock", "WRONG-CODE", "--json")
      expect(wrong.code).toBe(4)
      expect(wrong.json().error.code).toBe("lockdown.code_invalid")
      expect((await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.current))).active).toBe(true)

      const right = await run("unlock", code, "--actor", "ops-carol")
      expect(right.code).toBe(0)
      expect((await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.current))).active).toBe(false)
      const audit = await auditOf(choice, "default")
      expect(audit.some((r) => r.action === "system.unlock" && r.actor_id === "ops-carol")).toBe(true)
      expect(right.stdout).toContain("✅ lockdown lifted")

      // no lockdown: every code (the spent one, a fresh right one) is refused with lockdown.not_active (4), as
      // over HTTP (409); nothing is audited and the fresh code is not spent
      const spent = await run("unlock", code, "--json")
      expect(spent.code).toBe(4)
      expect(spent.json().error.code).toBe("lockdown.not_active")
      const fresh: string = (await run("unlock-code", "rotate", "--json")).json().code
      const auditBefore = (await auditOf(choice, "default")).length
      const idle = await run("unlock", fresh)
      expect(idle.code).toBe(4)
      expect(idle.stderr).toContain("lockdown.not_active: No lockdown is active: nothing to unlock")
      expect(idle.stdout).not.toContain("lifted")
      expect((await auditOf(choice, "default")).length).toBe(auditBefore)
      await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.lock(admin("default"), "drill 2")))
      const lifted = await run("unlock", fresh, "--json")
      expect(lifted.code).toBe(0)
      expect(lifted.json()).toMatchObject({ active: false, outcome: "lifted" })
      expect((await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.current))).active).toBe(false)
    })

    it("executions reconcile and memory review / resolve", async () => {
      const r = await run("executions", "reconcile", "--stale-after", "300", "--json")
      expect(r.code).toBe(0)
      expect(r.json()).toEqual({ stale_after_seconds: 300, reconciled: [], count: 0 })
      const bad = await run("executions", "reconcile", "--stale-after", "0", "--json")
      expect(bad.code).toBe(2)
      expect(bad.json().error.code).toBe("validation.stale_after_seconds")

      const review = await run("memory", "review", "--conflicts", "--limit", "50", "--json")
      expect(review.code).toBe(0)
      expect(review.json()).toEqual({ items: [], next_cursor: null })
      const missing = await run("memory", "resolve", "mem_missing", "--note", "checked", "--json")
      expect(missing.code).toBe(5)
    })

    it("onboard, tenant export (archive), tenant delete (refused without --confirm, then done)", async () => {
      const o = await run("onboard", "--template", "pro", "--tenant", "Beta Accounting Inc")
      expect(o.code).toBe(0)
      const id = /Tenant ID: (pilot-beta-accounting-inc-[0-9a-f]+)/.exec(o.stdout)?.[1]
      expect(id).toBeDefined()
      expect(o.stdout).toContain("━━━ Pilot Onboarding: Beta Accounting Inc ━━━")
      expect(o.stdout).toContain("1. Loading template configuration...\n   ✅ Loaded pro template")
      expect(o.stdout).toMatch(/3\. Importing Chart of Accounts\.\.\.\n {3}✅ Imported \d+ accounts from /)
      expect(o.stdout).toContain(`✅ User: pilot+${id}@example.com`)
      const token = /✅ Token: (\S+)/.exec(o.stdout)![1]!
      expect(o.stdout).toContain(`📄 Config exported to: pilot_configs/${id}_config.json`)
      const config = JSON.parse(readFileSync(join(cwd, "pilot_configs", `${id}_config.json`), "utf8"))
      expect(config.tenant.tenant_id).toBe(id)
      expect(config.api_token).toBe(token)
      expect(readFileSync(join(cwd, "pilot_configs", `${id}_env.txt`), "utf8")).toContain(`TENANT_ID=${id}`)
      expect(statSync(join(cwd, "pilot_configs", `${id}_env.txt`)).mode & 0o077).toBe(0)
      const principal = await library(choice, Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(token)))
      expect(principal.actor.tenant_id).toBe(id)

      const exported = await run("tenant", "export", "--tenant", id!, "--out", "beta.tar.gz", "--json")
      expect(exported.code).toBe(0)
      expect(exported.json().rows).toBeGreaterThan(0)
      expect(exported.json().manifest.tenant_id).toBe(id)
      expect(statSync(join(cwd, "beta.tar.gz")).size).toBeGreaterThan(100)
      const tarList = execFileSync("tar", ["-tzf", join(cwd, "beta.tar.gz")]).toString()
      expect(tarList).toContain("manifest.json")

      const unconfirmed = await run("tenant", "delete", "--tenant", id!)
      expect(unconfirmed.code).toBe(2)
      expect(unconfirmed.stderr).toContain("tenant.delete.unconfirmed")
      expect((await library(choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make(id!))))).id).toBe(id)
      const deleted = await run("tenant", "delete", "--tenant", id!, "--confirm", "--json")
      expect(deleted.code).toBe(0)
      expect(deleted.json().rows_deleted).toBeGreaterThan(0)
      const gone = await library(
        choice,
        Effect.flip(Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make(id!))))
      )
      expect((gone as { _tag: string })._tag).toBe("NotFound")

      // in development the default tenant is protected, as the reference server protects it (403)
      const protectedDefault = await airlock(
        { ...env, AIRLOCK_ENV: "development" },
        cwd,
        "tenant",
        "delete",
        "--tenant",
        "default",
        "--confirm",
        "--json"
      )
      expect(protectedDefault.code).toBe(4)
      expect(protectedDefault.json().error.code).toBe("tenant.delete.protected")
      const kept = await library(choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make("default"))))
      expect(kept.id).toBe("default")
    })

    it("schedules: add, tick (one schedule.trigger), tick again (no duplicate for the due time), list", async () => {
      const empty = await run("schedules", "list", "--json")
      expect(empty.code).toBe(0)
      expect(empty.json().schedules).toEqual([])
      expect(empty.json().targets.map((t: any) => t.name)).toContain("memory.tiering")

      const added = await run(
        "schedules",
        "add",
        "--cron",
        "@every:60",
        "--task",
        "memory.tiering",
        "--name",
        "tiering-check",
        "--actor",
        "ops-dave",
        "--json"
      )
      expect(added.code).toBe(0)
      expect(added.json()).toMatchObject({ name: "tiering-check", expression: "@every:60", target: "memory.tiering" })
      const unknown = await run("schedules", "add", "--cron", "@every:60", "--task", "no.such.task", "--json")
      expect(unknown.code).toBe(2)
      expect(unknown.json().error.code).toBe("validation.schedule_target")
      const badCron = await run("schedules", "add", "--cron", "@every:soon", "--task", "memory.tiering", "--name", "x")
      expect(badCron.code).toBe(2)
      expect(badCron.stderr).toContain("validation.schedule_expression")
      const taken = await run(
        "schedules",
        "add",
        "--cron",
        "@every:60",
        "--task",
        "memory.tiering",
        "--name",
        "tiering-check"
      )
      expect(taken.code).toBe(4)

      const first = await run("schedules", "tick", "--json")
      expect(first.code).toBe(0)
      const dispatched = first.json().dispatched.filter((d: any) => d.schedule === "tiering-check")
      expect(dispatched).toHaveLength(1)
      expect(first.json().executed.find((x: any) => x.schedule === "tiering-check").status).toBe("succeeded")
      const second = await run("schedules", "tick")
      expect(second.code).toBe(0)
      expect(second.stdout).toMatch(/tick at .*: \d+ dispatched \(schedule\.trigger\)/)

      // read back: exactly one schedule.trigger per due time, the first tick's among them
      const events = await library(
        choice,
        Effect.flatMap(Scheduler.Scheduler, (s) => s.events({ schedule: "tiering-check" }))
      )
      expect(events.filter((e) => e.due_at === dispatched[0].due_at)).toHaveLength(1)
      expect(new Set(events.map((e) => e.due_at)).size).toBe(events.length)
      const history = await library(choice, Effect.flatMap(Scheduler.Scheduler, (s) => s.history("tiering-check")))
      expect(history.find((h) => h.due_at === dispatched[0].due_at)?.status).toBe("succeeded")
      const audit = await auditOf(choice, "default")
      expect(audit.some((r) => r.action === "schedule.created" && r.actor_id === "ops-dave")).toBe(true)

      const listed = await run("schedules", "list")
      expect(listed.code).toBe(0)
      expect(listed.stdout).toContain("tiering-check @every:60 (UTC) -> memory.tiering")
      const help = await run("schedules", "add", "--help")
      expect(help.stdout).toContain("Example: airlock schedules add --cron '@every:60' --task memory.tiering")
    }, 240_000)

    it(
      "maintenance: status, run (the server's memory.tiering), enqueue; an unknown command is a usage error",
      async () => {
        const before = await run("maintenance", "status", "--json")
        expect(before.code).toBe(0)
        expect(before.json().commands.map((c: any) => c.name)).toEqual(["memory.tiering"])

        const ran = await run("maintenance", "run", "memory.tiering", "--actor", "ops-erin", "--json")
        expect(ran.code).toBe(0)
        expect(ran.json().failed).toBe(0)
        expect(ran.json().runs).toHaveLength(1)
        expect(ran.json().runs[0]).toMatchObject({
          command: "memory.tiering",
          status: "succeeded",
          requested_by: "ops-erin"
        })
        const unknown = await run("maintenance", "run", "no.such.command", "--json")
        expect(unknown.code).toBe(2)
        expect(unknown.json().error.code).toBe("validation.maintenance_command")

        const queued = await run("maintenance", "enqueue", "--json")
        expect(queued.code).toBe(0)
        expect(queued.json().runs.map((r: any) => r.status)).toEqual(["queued"])
        // the loop is off (the default) and none beats: the run would wait forever without this warning
        expect(queued.json().warning).toContain("the maintenance loop is disabled")
        expect(queued.json().warning).toContain("AIRLOCK_MAINTENANCE_ENABLED=true")
        expect(queued.json().warning).toContain("airlock maintenance run")

        // read back through the library: the run, and the queued one waiting for a loop
        const status = await library(choice, Effect.flatMap(Maintenance.Maintenance, (m) => m.status))
        expect(status.queued).toBe(1)
        expect(status.commands[0]!.last_run?.status).toBeDefined()
        const text = await run("maintenance", "status")
        expect(text.code).toBe(0)
        expect(text.stdout).toContain("1 queued")
        expect(text.stdout).toContain("memory.tiering")
        // with the loop enabled, no warning (the second run is queued too)
        const enabled = await airlock({ ...env, AIRLOCK_MAINTENANCE_ENABLED: "true" }, cwd, "maintenance", "enqueue")
        expect(enabled.code).toBe(0)
        expect(enabled.stdout).toContain("1 maintenance command(s) queued")
        expect(enabled.stdout).not.toContain("disabled")
        expect((await library(choice, Effect.flatMap(Maintenance.Maintenance, (m) => m.status))).queued).toBe(2)
      },
      240_000
    )

    it(
      "shadow-report writes the runbook's four files; auditor run stores a report, exit 1 on a high finding",
      async () => {
        const r = await run("shadow-report", "--tenant", "default", "--period", "7d", "--out-dir", "reports", "--json")
        expect(r.code).toBe(0)
        const dir = join(cwd, "reports")
        const names = [
          "shadow_report_default_7d.json",
          "shadow_report_default_7d.csv",
          "shadow_reason_counts_default_7d.csv",
          "shadow_charts_default_7d.txt"
        ]
        expect(r.json().files).toEqual(names.map((n) => join(dir, n)))
        const doc = JSON.parse(readFileSync(join(dir, names[0]!), "utf8"))
        expect(doc).toMatchObject({ tenant_id: "default", period: "7d" })
        const computed = await library(
          choice,
          Effect.flatMap(CompanionReports.CompanionReports, (c) => c.compute(Ids.TenantId.make("default"), "7d"))
        )
        expect(doc.population_n).toBe(computed.population_n)
        expect(readFileSync(join(dir, names[1]!), "utf8")).toContain("metric,value")
        const text = await run("shadow-report", "--period", "180d")
        expect(text.code).toBe(0)
        expect(text.stdout).toContain(join(cwd, "artifacts", "post_deploy", "shadow_charts_default_180d.txt"))
        expect(existsSync(join(cwd, "artifacts", "post_deploy", "shadow_report_default_180d.json"))).toBe(true)
        const bad = await run("shadow-report", "--period", "90d", "--json")
        expect(bad.code).toBe(2)
        expect(bad.json().error.code).toBe("validation.period")

        const clean = await run("auditor", "run", "--days", "7", "--actor", "ops-frank", "--json")
        expect(clean.code).toBe(0)
        expect(clean.json().status).toBe("clean")
        const stored = await library(
          choice,
          Effect.flatMap(
            CompanionReportsPorts.IntegrityReportStore,
            (s) => s.get(Ids.TenantId.make("default"), clean.json().id)
          )
        )
        expect(stored._tag === "Some" && stored.value.created_by).toBe("ops-frank")
        const zero = await run("auditor", "run", "--days", "0", "--json")
        expect(zero.code).toBe(2)
        expect(zero.json().error.code).toBe("validation.auditor_days")

        // a tampered audit record in another tenant: a critical finding (audit_chain_broken), exit 1
        const tampered = "auditor-drill"
        await library(
          choice,
          Effect.gen(function*() {
            yield* Effect.flatMap(Tenants.Tenants, (t) => t.create({ id: Ids.TenantId.make(tampered), name: tampered }))
            const log = yield* Audit.AuditLog
            for (const n of [1, 2, 3]) {
              yield* log.append({
                tenant_id: Ids.TenantId.make(tampered),
                actor_id: Ids.ActorId.make("x"),
                action: "drill",
                subject: `s:${n}`,
                data: { n }
              })
            }
            const sql = yield* SqlClient.SqlClient
            yield* sql`UPDATE core_audit SET data = ${
              JSON.stringify({ n: 99 })
            } WHERE tenant_id = ${tampered} AND seq = 2`
          })
        )
        const broken = await run("auditor", "run", "--tenant", tampered, "--days", "7")
        expect(broken.code).toBe(1)
        expect(broken.stdout).toContain("[critical] auditor.audit_chain_broken")
        const brokenJson = await run("auditor", "run", "--tenant", tampered, "--json")
        expect(brokenJson.code).toBe(1)
        expect(brokenJson.json().counts["auditor.audit_chain_broken"]).toBe(1)
      },
      240_000
    )

    it("an unknown tenant: every command taking --tenant exits 5 (not_found), nothing written", async () => {
      const ghostCwd = mkdtempSync(join(tmpdir(), "airlock-cli-ghost-"))
      const ghost = (...args: ReadonlyArray<string>) => airlock(env, ghostCwd, ...args, "--tenant", "ghost", "--json")
      const scheduleCount = (await library(choice, Effect.flatMap(ScheduleStore.ScheduleStore, (s) => s.list()))).length
      const queued = (await library(choice, Effect.flatMap(Maintenance.Maintenance, (m) => m.status))).queued
      const commands: ReadonlyArray<ReadonlyArray<string>> = [
        ["auditor", "run", "--days", "7"],
        ["shadow-report", "--period", "7d"],
        ["baseline", "capture", "--windows", "1", "--window-minutes", "5"],
        ["digest", "weekly", "--anchor-date", "2026-11-30"],
        ["executions", "reconcile", "--stale-after", "300"],
        ["memory", "review", "--conflicts"],
        ["memory", "resolve", "mem_missing", "--note", "checked"],
        ["unlock-code", "rotate"],
        ["unlock", "K7P2-QX9M"],
        ["schedules", "add", "--cron", "@every:60", "--task", "memory.tiering"],
        ["maintenance", "enqueue"],
        ["maintenance", "run"],
        ["tenant", "export"],
        ["tenant", "delete", "--confirm"],
        ["doctor"],
        ["doctor", "--fix"],
        ["token", "create", "--for", "admin"],
        ["token", "list"]
      ]
      const results = await inBatches(commands, async (args) => {
        const r = await ghost(...args)
        return { args, code: r.code, error: r.json().error?.code, message: r.json().error?.message }
      })
      for (const r of results) {
        expect(r).toEqual({ args: r.args, code: 5, error: "not_found", message: "Tenant ghost not found" })
      }
      // nothing written: no file, no report, no audit record, no schedule, no queued run, no tenant
      expect(readdirSync(ghostCwd)).toEqual([])
      const reports = await library(
        choice,
        Effect.flatMap(
          CompanionReportsPorts.IntegrityReportStore,
          (s) => s.list(Ids.TenantId.make("ghost"), { limit: 10 })
        )
      )
      expect(reports).toHaveLength(0)
      expect(await auditOf(choice, "ghost")).toEqual([])
      expect((await library(choice, Effect.flatMap(ScheduleStore.ScheduleStore, (s) => s.list()))).length).toBe(
        scheduleCount
      )
      expect((await library(choice, Effect.flatMap(Maintenance.Maintenance, (m) => m.status))).queued).toBe(queued)
      expect((await failure(choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make("ghost")))))._tag)
        .toBe("NotFound")
      // the text form says which tenant
      const text = await airlock(env, ghostCwd, "auditor", "run", "--tenant", "ghost")
      expect(text.code).toBe(5)
      expect(text.stderr).toContain("error not_found: Tenant ghost not found")
    }, 240_000)

    it("setup-smoke: every step passes on a migrated store (0); a port in use fails (1) unless --running", async () => {
      const fresh = await setup()
      const port = String(await freePort())
      const smoke = (extra: Record<string, string>, ...args: ReadonlyArray<string>) =>
        airlock({ ...fresh.env, HOST: "127.0.0.1", PORT: port, ...extra }, cwd, "setup-smoke", ...args)
      expect((await airlock(fresh.env, cwd, "migrate")).code).toBe(0)

      const ok = await smoke({}, "--json")
      expect(ok.code).toBe(0)
      expect(ok.json().ok).toBe(true)
      expect(ok.json().steps.map((s: any) => [s.step, s.ok])).toEqual([
        ["toolchain", true],
        ["ports", true],
        ["migrations", true],
        ["bootstrap", true]
      ])
      expect(ok.json().steps[1].detail).toBe(`127.0.0.1:${port} is free`)
      expect(ok.json().steps[3].detail).toMatch(/^services start; API declares \d+ paths$/)
      const text = await smoke({})
      expect(text.code).toBe(0)
      expect(text.stdout).toContain("airlock setup-smoke\n1. toolchain: ✅ node ")
      expect(text.stdout).toContain(`2. ports: ✅ 127.0.0.1:${port} is free`)
      expect(text.stdout).toMatch(/\n3\. migrations: ✅ .+: at \d+ of \d+\n4\. bootstrap: ✅ services start/)
      expect(text.stdout).toContain("setup smoke passed")
      expect(text.stdout).not.toMatch(ansi)
      // read back: the store it checked is at head
      const migrated = JSON.parse((await airlock(fresh.env, cwd, "migrate", "--json")).stdout)
      expect(migrated).toMatchObject({ applied: [], at_head: true })
      expect(ok.json().steps[2].detail).toContain(`at ${migrated.head} of ${migrated.head}`)

      // the port taken (by a server already running there): the ports step fails, exit 1
      const taken = await listen()
      try {
        const busy = await smoke({ PORT: String(taken.port) }, "--json")
        expect(busy.code).toBe(1)
        expect(busy.json().ok).toBe(false)
        const ports = busy.json().steps.find((s: any) => s.step === "ports")
        expect(ports).toMatchObject({
          ok: false,
          detail: `127.0.0.1:${taken.port} is in use (use --running if that is the server)`
        })
        expect(busy.json().steps.filter((s: any) => !s.ok).map((s: any) => s.step)).toEqual(["ports"])
        const busyText = await smoke({ PORT: String(taken.port) })
        expect(busyText.code).toBe(1)
        expect(busyText.stdout).toContain(`2. ports: ❌ 127.0.0.1:${taken.port} is in use`)
        expect(busyText.stdout).toContain("setup smoke FAILED: fix the failing step, rerun")
        // --running: that is the server; the port preflight is skipped
        const running = await smoke({ PORT: String(taken.port) }, "--running", "--json")
        expect(running.code).toBe(0)
        expect(running.json().steps[1]).toMatchObject({ step: "ports", ok: true, skipped: true })
      } finally {
        await close(taken.server)
      }

      // a store that cannot be opened: the migrations step fails, bootstrap is skipped, exit 3
      const unreachable: Record<string, string> = choice.postgresUrl === null
        ? { AIRLOCK_DB: "/nonexistent/dir/airlock.db" }
        : { AIRLOCK_DATABASE_URL: "postgres://airlock@127.0.0.1:1/none" }
      const down = await smoke(unreachable, "--json")
      expect(down.code).toBe(3)
      expect(down.json().ok).toBe(false)
      expect(down.json().steps.map((s: any) => [s.step, s.ok])).toEqual([
        ["toolchain", true],
        ["ports", true],
        ["migrations", false],
        ["bootstrap", false]
      ])
      expect(down.json().steps[3]).toMatchObject({ skipped: true, detail: "skipped: the store did not migrate" })
      const downText = await smoke(unreachable)
      expect(downText.code).toBe(3)
      expect(downText.stdout).toContain("3. migrations: ❌")
      expect(downText.stdout).toContain("4. bootstrap: ❌ skipped: the store did not migrate")
      const migrateDown = await airlock(unreachable, cwd, "migrate", "--json")
      expect(migrateDown.code).toBe(3)
      expect(migrateDown.json().error.code).toBe("storage.unreachable")
      const help = await run("setup-smoke", "--help")
      expect(help.stdout).toContain("Example: airlock setup-smoke")
    }, 240_000)

    it(
      "token bootstrap on a fresh store (the secret shown once), then create, list, revoke; bad input writes nothing",
      async () => {
        const fresh = await setup()
        const tok = (...args: ReadonlyArray<string>) => airlock(fresh.env, cwd, "token", ...args)
        const lib = <A>(f: Effect.Effect<A, unknown, any>) => library(fresh.choice, f)
        const records = () =>
          lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.list(Ids.TenantId.make("default")))).catch(() => [])
        const tokenAudit = async () =>
          (await auditOf(fresh.choice, "default")).filter((r) => r.action.startsWith("token."))

        // nothing there yet: no tenant to list; a malformed secret is refused (2) and nothing is created
        const none = await tok("list", "--json")
        expect(none.code).toBe(5)
        expect(none.json().error.code).toBe("not_found")
        const weakSecret = "short-secret"
        const weak = await airlock(
          { ...fresh.env, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: weakSecret },
          cwd,
          "token",
          "bootstrap"
        )
        expect(weak.code).toBe(2)
        expect(weak.stderr).toContain("validation.bootstrap_secret")
        expect(weak.stdout + weak.stderr).not.toContain(weakSecret)
        expect(
          (await failure(fresh.choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make("default")))))
            ._tag
        ).toBe("NotFound")

        // the first admin token: generated, printed once, only its hash stored
        const boot = await tok("bootstrap", "--json")
        expect(boot.code).toBe(0)
        expect(boot.json()).toMatchObject({
          created: true,
          outcome: "created",
          tenant_id: "default",
          actor_id: "admin",
          secret_source: "generated"
        })
        const adminSecret: string = boot.json().token
        expect(adminSecret).toMatch(/^alk_[A-Za-z0-9_-]{64}$/)
        const principal = await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(adminSecret)))
        expect(principal.token.id).toBe(boot.json().token_id)
        expect(principal.actor).toMatchObject({ id: "admin", role: "ADMIN", tenant_id: "default" })
        const [bootRecord] = await records()
        expect(bootRecord!.hash).not.toContain(adminSecret)
        expect(await tokenAudit()).toEqual([
          expect.objectContaining({ action: "token.created", actor_id: "system", subject: bootRecord!.id })
        ])
        // again: an admin token exists, nothing changes (exit 4), the new secret is not stored
        const again = await airlock(
          { ...fresh.env, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: randomBytes(36).toString("base64") },
          cwd,
          "token",
          "bootstrap"
        )
        expect(again.code).toBe(4)
        expect(again.stderr).toContain("An admin token exists already: nothing changed")
        expect(await records()).toHaveLength(1)

        // create for an actor of the tenant, as --actor: the secret once, audited with the CLI actor
        const created = await tok(
          "create",
          "--tenant",
          "default",
          "--for",
          "admin",
          "--name",
          "laptop",
          "--actor",
          "ops-alice",
          "--json"
        )
        expect(created.code).toBe(0)
        expect(created.json()).toMatchObject({
          tenant_id: "default",
          actor_id: "admin",
          name: "laptop",
          status: "active"
        })
        expect(created.json().hash).toBeUndefined()
        const laptop: string = created.json().token
        const laptopId: string = created.json().id
        expect((await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(laptop)))).token.id).toBe(laptopId)
        const text = await tok("create", "--for", "admin", "--expires-at", "2999-01-01T00:00:00Z")
        expect(text.code).toBe(0)
        expect(text.stdout).toMatch(
          /✅ token tok_[0-9a-f]{24} created for actor admin of tenant default \(expires 2999-01-01T00:00:00\.000Z\)/
        )
        expect(text.stdout).toContain("shown once")
        const textSecret = /^ {3}(alk_\S+)$/m.exec(text.stdout)![1]!
        expect((await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(textSecret)))).actor.id).toBe("admin")
        expect((await tokenAudit()).filter((r) => r.action === "token.created").map((r) => r.actor_id)).toEqual([
          "system",
          "ops-alice",
          "cli"
        ])

        // bad input: clear error, its exit code, nothing written
        const viewerRole = await lib(
          Effect.flatMap(Tenants.Tenants, (t) =>
            t.addActor({
              tenant_id: Ids.TenantId.make("default"),
              id: Ids.ActorId.make("viewer-1"),
              kind: "user",
              name: "Viewer",
              role: "VIEWER"
            }))
        )
        expect(viewerRole.role).toBe("VIEWER")
        const bad: Array<[ReadonlyArray<string>, number, string]> = [
          [["create", "--tenant", "nope", "--for", "admin"], 5, "not_found"],
          [["create", "--for", "bob"], 5, "not_found"],
          [["create", "--for", "admin", "--expires-at", "next tuesday"], 2, "validation.token_expiry"],
          [["create", "--for", "admin", "--expires-at", "2001-01-01T00:00:00Z"], 2, "validation.token_expiry"],
          [["create", "--for", "admin", "--actor", "viewer-1"], 4, "rbac.forbidden"],
          [["list", "--actor", "viewer-1"], 4, "rbac.forbidden"],
          [["list", "--cursor", "page-2"], 2, "validation.cursor"],
          [["revoke", "tok_000000000000000000000000"], 5, "not_found"],
          [["revoke", laptopId, "--tenant", "other"], 5, "not_found"],
          [["revoke", laptopId, "--actor", "viewer-1"], 4, "rbac.forbidden"]
        ]
        // four at a time: none of them writes, so their order does not matter
        const ran = await inBatches(bad, async ([args]) => await tok(...args, "--json"))
        for (const [i, [args, code, error]] of bad.entries()) {
          const r = ran[i]!
          expect({ args, code: r.code, error: r.json().error.code }).toEqual({ args, code, error })
        }
        const missingFor = await tok("create")
        expect(missingFor.code).toBe(2)
        expect(await records()).toHaveLength(3)
        expect((await records()).every((r) => r.revoked_at === null)).toBe(true)
        expect(await tokenAudit()).toHaveLength(3)

        // list: ids, names, prefixes and status; never a secret or a hash
        const listed = await tok("list", "--json")
        expect(listed.code).toBe(0)
        expect(listed.json().next_cursor).toBeNull()
        expect(listed.json().items.map((t: any) => t.id).sort()).toEqual((await records()).map((r) => r.id).sort())
        expect(listed.json().items.find((t: any) => t.id === laptopId)).toMatchObject({
          name: "laptop",
          status: "active"
        })
        const listedText = await tok("list")
        expect(listedText.code).toBe(0)
        expect(listedText.stdout).toContain("3 token(s) in tenant default")
        expect(listedText.stdout).toContain(`- ${laptopId} admin "laptop" ${laptop.slice(0, 8)}… active`)
        for (const out of [listed.stdout, listedText.stdout]) {
          for (const secret of [adminSecret, laptop, textSecret]) expect(out).not.toContain(secret)
          for (const r of await records()) expect(out).not.toContain(r.hash)
          expect(out).not.toContain("hash")
        }
        const page = await tok("list", "--limit", "2", "--json")
        expect(page.json().items).toHaveLength(2)
        expect(page.json().next_cursor).toBe(page.json().items[1].id)

        // revoke as --actor: the token stops verifying, audited; again changes nothing
        const revoked = await tok("revoke", laptopId, "--actor", "ops-bob", "--json")
        expect(revoked.code).toBe(0)
        expect(revoked.json()).toMatchObject({ id: laptopId, status: "revoked" })
        expect(revoked.json().revoked_at).toBeGreaterThan(0)
        const refused = await failure(fresh.choice, Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(laptop)))
        expect(refused).toMatchObject({ _tag: "Unauthorized", message: "Token revoked" })
        expect((await tokenAudit()).filter((r) => r.action === "token.revoked")).toEqual([
          expect.objectContaining({ actor_id: "ops-bob", subject: laptopId })
        ])
        const twice = await tok("revoke", laptopId)
        expect(twice.code).toBe(0)
        expect(twice.stdout).toContain(
          `token ${laptopId} of actor admin revoked at ${new Date(revoked.json().revoked_at).toISOString()}`
        )
        expect((await tokenAudit()).filter((r) => r.action === "token.revoked")).toHaveLength(1)
        expect((await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(adminSecret)))).actor.id).toBe("admin")

        // every admin token revoked: bootstrap again, not with a secret a revoked token used, from stdin
        for (const r of await records()) {
          if (r.revoked_at === null) expect((await tok("revoke", r.id)).code).toBe(0)
        }
        const reused = await airlock(
          { ...fresh.env, AIRLOCK_BOOTSTRAP_ADMIN_TOKEN: adminSecret },
          cwd,
          "token",
          "bootstrap",
          "--json"
        )
        expect(reused.code).toBe(2)
        expect(reused.json().error.code).toBe("validation.bootstrap_secret")
        expect(reused.stdout).not.toContain(adminSecret)
        const chosen = randomBytes(48).toString("base64")
        const piped = await airlockWithInput(fresh.env, cwd, `${chosen}\n`, "token", "bootstrap", "--secret-stdin")
        expect(piped.code).toBe(0)
        expect(piped.stdout).toMatch(
          /✅ admin token tok_[0-9a-f]{24} stored for actor admin of tenant default \(only its hash\), from the secret on stdin/
        )
        expect(piped.stdout).not.toContain(chosen)
        expect((await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(chosen)))).actor.role).toBe("ADMIN")

        // the literal form: no --for, --actor an actor of the tenant: a token for that actor, audited as it
        const own = await tok("create", "--tenant", "default", "--actor", "admin", "--name", "own", "--json")
        expect(own.code).toBe(0)
        expect(own.json()).toMatchObject({ tenant_id: "default", actor_id: "admin", name: "own", status: "active" })
        expect((await lib(Effect.flatMap(ApiToken.ApiTokens, (t) => t.verify(own.json().token)))).actor.id).toBe(
          "admin"
        )
        expect((await tokenAudit()).filter((r) => r.action === "token.created").at(-1)).toMatchObject({
          actor_id: "admin",
          subject: own.json().id
        })
        const before = (await records()).length
        const notAnActor = await tok("create", "--actor", "ops-zed", "--json")
        expect(notAnActor.code).toBe(2)
        expect(notAnActor.json().error.code).toBe("validation.token_actor")
        expect(await records()).toHaveLength(before)

        const help = await tok("create", "--help")
        expect(help.code).toBe(0)
        expect(help.stdout).toContain("Example: airlock token create --tenant default --for admin")
        expect((await tok("bootstrap", "--help")).stdout).toContain(
          "Example: AIRLOCK_ENV=production airlock token bootstrap"
        )
      },
      480_000
    )

    if (name === "SQLite") {
      it(
        "doctor on a development database: production unless AIRLOCK_ENV says so; pnpm airlock defaults to development",
        async () => {
          const fresh = await setup()
          // what the development server leaves: the default tenant, its actors and the development tokens
          await library(fresh.choice, seedDevelopment)
          const unset = { ...fresh.env, AIRLOCK_ENV: undefined }

          // the built bin (a deployment) never treats a database as development by itself
          const bin = await airlock(unset, cwd, "doctor", "--fix", "--json")
          expect(bin.code).toBe(1)
          expect(bin.json()).toMatchObject({ environment: "production", environment_source: "default", ok: false })
          expect(bin.json().needs_attention).toContain("config.dev_tokens_in_production")
          const hint = await airlock(unset, cwd, "doctor")
          expect(hint.code).toBe(1)
          expect(hint.stdout).toContain("airlock doctor (production, AIRLOCK_ENV not set)")
          expect(hint.stdout).toContain("AIRLOCK_ENV is not set, so this is checked as production")

          // in the repository, pnpm airlock uses pnpm start's default: the runbook's doctor --fix passes
          const repo = await started(
            "pnpm",
            ["--filter", "@airlock/examples", "-s", "airlock", "doctor", "--fix", "--json"],
            examples,
            unset
          )
          expect(repo.code).toBe(0)
          expect(repo.json()).toMatchObject({ environment: "development", environment_source: "AIRLOCK_ENV", ok: true })
          expect(repo.json().findings.find((f: any) => f.check === "config.dev_tokens").code).toBe(
            "config.dev_tokens_development"
          )
          // an explicit AIRLOCK_ENV wins, in either
          const explicit = await airlock({ ...fresh.env, AIRLOCK_ENV: "development" }, cwd, "doctor", "--json")
          expect(explicit.code).toBe(0)
          expect(explicit.json()).toMatchObject({ environment: "development", environment_source: "AIRLOCK_ENV" })
        },
        240_000
      )

      it("backup create, list, restore with a readiness check; a corrupt file is refused (1), nothing replaced", async () => {
        const b = await run("backup", "create", "--gzip", "--json")
        expect(b.code).toBe(0)
        const info = b.json()
        expect(info.gzip).toBe(true)
        expect(existsSync(info.path)).toBe(true)
        const listed = await run("backup", "list", "--json")
        expect(listed.json().backups.map((x: any) => x.path)).toContain(info.path)

        // a change after the backup, undone by the restore
        await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.lock(admin("default"), "after backup")))
        const restored = await run("backup", "restore", info.path, "--json")
        expect(restored.code).toBe(0)
        expect(restored.json().readiness.ready).toBe(true)
        expect((await library(choice, Effect.flatMap(Lockdown.Lockdown, (l) => l.current))).active).toBe(false)

        const corrupt = join(cwd, "corrupt.db")
        writeFileSync(corrupt, "not a database")
        const refused = await run("backup", "restore", corrupt)
        expect(refused.code).toBe(1)
        expect(refused.stderr).toContain("nothing was replaced")
        expect((await library(choice, Effect.flatMap(Tenants.Tenants, (t) => t.get(Ids.TenantId.make("default"))))).id)
          .toBe("default")
      })

      it("storage unreachable: exit 3", async () => {
        const r = await airlock({ AIRLOCK_DB: "/nonexistent/dir/airlock.db" }, cwd, "doctor")
        expect(r.code).toBe(3)
        expect(r.stdout).toContain("❌ storage")
        const j = await airlock({ AIRLOCK_DB: "/nonexistent/dir/airlock.db" }, cwd, "doctor", "--json")
        expect(j.code).toBe(3)
        // a local file has no outage class; the finding says what could not be opened
        expect(j.json().findings[0]).toMatchObject({ check: "storage", status: "fail", outage_class: null })
        expect(j.json().findings[0].message).toContain("/nonexistent/dir/airlock.db")
        expect(j.json().error.code).toBe("storage.unreachable")
      })
    } else {
      it("storage unreachable: exit 3; backups point to pg_dump (2)", async () => {
        const r = await airlock(
          { AIRLOCK_DATABASE_URL: "postgres://airlock@127.0.0.1:1/none" },
          cwd,
          "doctor",
          "--json"
        )
        expect(r.code).toBe(3)
        expect(r.json().error.code).toBe("storage.unreachable")
        // the doctor's report all the same: the storage finding with its outage class (nothing listens: refused)
        expect(r.json()).toMatchObject({
          ok: false,
          environment: "production",
          needs_attention: ["storage.unreachable"]
        })
        expect(r.json().findings.find((f: any) => f.check === "storage")).toMatchObject({
          status: "fail",
          code: "storage.unreachable",
          outage_class: "network_unreachable",
          details: { detail: "ECONNREFUSED" }
        })
        expect(r.json().findings.find((f: any) => f.check === "migrations").status).toBe("skipped")
        expect(JSON.stringify(r.json())).not.toContain("postgres://")
        const text = await airlock({ AIRLOCK_DATABASE_URL: "postgres://airlock@127.0.0.1:1/none" }, cwd, "doctor")
        expect(text.code).toBe(3)
        expect(text.stdout).toMatch(/❌ storage\s+storage\.unreachable \[network_unreachable\]/)
        const b = await run("backup", "create")
        expect(b.code).toBe(2)
        expect(b.stderr).toContain("pg_dump")
      })
    }
  })

suite("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "airlock-cli-db-"))
  const filename = join(dir, "airlock.db")
  return { env: { AIRLOCK_DB: filename }, choice: { filename, postgresUrl: null, name: `SQLite ${filename}` } }
})

const pgAdmin: string = inject("pgUrl")
if (pgAdmin !== "") {
  suite("PostgreSQL", async () => {
    const name = `airlock_cli_${randomBytes(5).toString("hex")}`
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(pgAdmin), maxConnections: 1 })),
        Effect.scoped,
        Effect.orDie
      )
    )
    const url = new URL(pgAdmin)
    url.pathname = `/${name}`
    const dir = mkdtempSync(join(tmpdir(), "airlock-cli-db-"))
    return {
      env: { AIRLOCK_DATABASE_URL: url.toString(), AIRLOCK_DB: join(dir, "unused.db") },
      choice: { filename: join(dir, "unused.db"), postgresUrl: url.toString(), name: "PostgreSQL" }
    }
  })
}

/**
 * `airlock memory review | resolve` (assistant platform runbook: memory review queue) and
 * `airlock unlock-code rotate`, `airlock unlock <code>` (`rotate_unlock_code`, `/unlock <code>`).
 */
import { AgentMemory, Ids } from "@airlock/core"
import { Lockdown } from "@airlock/guardrails"
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as R from "../Runtime.js"

const stamp = (ms: number | null) => ms === null ? "-" : new Date(ms).toISOString()
const short = (v: unknown) => {
  const s = JSON.stringify(v, R.jsonReplacer) ?? "null"
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** `airlock memory review --conflicts --limit 50`. */
const review = Command.make(
  "review",
  {
    conflicts: Options.boolean("conflicts").pipe(
      Options.withDescription("List the open conflicts (the review queue; the default and only listing)")
    ),
    limit: Options.integer("limit").pipe(
      Options.withDefault(50),
      Options.withDescription("At most this many (default 50)")
    ),
    cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("Continue after a previous page")),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, cursor, json, limit, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const memory = yield* AgentMemory.AgentMemory
        const who = yield* R.resolveActor(tenant, actor)
        const page = yield* memory.conflicts(Ids.TenantId.make(tenant), who, {
          limit,
          cursor: Option.getOrUndefined(cursor)
        })
        if (json) return yield* R.printJson(page)
        yield* R.line(`${page.items.length} open conflict(s) in tenant ${tenant}`)
        for (const c of page.items) {
          yield* R.line(
            `- ${R.bold(c.uid)} ${c.item.subject ?? ""} ${c.item.predicate ?? ""} (${c.reason}, since ${
              stamp(c.created_at)
            })`
          )
          yield* R.line(`    new:      ${short(c.item.value)}`)
          yield* R.line(`    existing: ${c.existing === null ? "-" : `${c.existing.uid} ${short(c.existing.value)}`}`)
        }
        if (page.next_cursor !== null) yield* R.line(R.dim(`more: --cursor ${page.next_cursor}`))
      })
    ))
).pipe(Command.withDescription(R.help(
  "Lists the memory review queue: contradicting facts waiting for a person, with both items.",
  "airlock memory review --conflicts --limit 50"
)))

/** `airlock memory resolve <uid> --note "…" [--decision …]`. */
const resolve = Command.make(
  "resolve",
  {
    uid: Args.text({ name: "uid" }).pipe(Args.withDescription("The pending item's uid")),
    note: Options.text("note").pipe(Options.withDescription("The resolution note (required)")),
    decision: Options.choice("decision", AgentMemory.ReviewDecision.literals).pipe(
      Options.withDefault("keep_existing" as const),
      Options.withDescription("keep_existing (default), accept_new, keep_both or reject_both")
    ),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, decision, json, note, tenant, uid }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const memory = yield* AgentMemory.AgentMemory
        const who = yield* R.resolveActor(tenant, actor)
        const result = yield* memory.resolve(Ids.TenantId.make(tenant), who, uid, { resolution: note, decision })
        if (json) return yield* R.printJson(result)
        yield* R.line(
          `${R.ok} resolved ${result.review.uid}: ${result.review.decision} by ${result.review.resolved_by}`
        )
        for (const item of result.items) yield* R.line(`   ${item.uid} ${item.status} ${short(item.value)}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Resolves a memory conflict with a note and a decision, in one transaction (audited as --actor).",
  'airlock memory resolve mem_01H... --note "vendor confirmed the new address" --decision accept_new'
)))

/** `airlock memory`. */
export const memory = Command.make("memory").pipe(
  Command.withDescription(R.help("Agent memory review.", "airlock memory review --conflicts --limit 50")),
  Command.withSubcommands([review, resolve])
)

/** `airlock unlock-code rotate`. */
const rotate = Command.make(
  "rotate",
  { json: R.json, actor: R.actor, tenant: R.tenant },
  ({ actor, json, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const lockdown = yield* Lockdown.Lockdown
        const who = yield* R.resolveActor(tenant, actor)
        const rotated = yield* lockdown.rotateCode(who, tenant)
        if (json) return yield* R.printJson(rotated)
        yield* R.line(`${R.ok} new unlock code (shown once; the previous one no longer works):`)
        yield* R.line(`   ${R.bold(rotated.code)}`)
        yield* R.line(`   expires ${stamp(rotated.expires_at)}`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Makes a new unlock code for the lockdown (the old one stops working); the code is printed once.",
  "airlock unlock-code rotate"
)))

/** `airlock unlock-code`. */
export const unlockCode = Command.make("unlock-code").pipe(
  Command.withDescription(R.help("The lockdown's unlock code.", "airlock unlock-code rotate")),
  Command.withSubcommands([rotate])
)

/** `airlock unlock <code>`. */
export const unlock = Command.make(
  "unlock",
  {
    code: Args.text({ name: "code" }).pipe(Args.withDescription("The current unlock code")),
    json: R.json,
    actor: R.actor,
    tenant: R.tenant
  },
  ({ actor, code, json, tenant }) =>
    R.run(R.withServices(() =>
      Effect.gen(function*() {
        const lockdown = yield* Lockdown.Lockdown
        const who = yield* R.resolveActor(tenant, actor)
        // the library's unlock, as the HTTP route calls it: admin role, attempt limit, audit; with no
        // lockdown active it refuses every code with lockdown.not_active (exit 4) and writes nothing
        const state = yield* lockdown.unlock(who, code, tenant)
        if (json) return yield* R.printJson({ ...state, outcome: "lifted" })
        yield* R.line(`${R.ok} lockdown lifted (the code is spent)`)
      })
    ))
).pipe(Command.withDescription(R.help(
  "Lifts the lockdown with the unlock code (spent by the unlock; wrong codes are counted and, past the limit, " +
    "refused). A wrong or expired code is refused (exit 4); with no lockdown active every code is refused with " +
    "lockdown.not_active (exit 4), nothing is written and the code is not spent.",
  "airlock unlock K7P2-QX9M"
)))

/**
 * The companion's named settings and the governance of raises, end to end through HTTP on SQLite
 * and PostgreSQL: a raise waits for a second person, the requester cannot approve it, a second
 * person's approval applies it exactly once, lowering and the kill switch take effect at once,
 * and both ways are audited. Persisted state is read with raw SQL.
 */
import { Canonical } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./support/Harness.js"

const settings = "/api/v1/companion/settings"
const named = "/api/v1/companion/settings/named"
const changes = "/api/v1/companion/settings/changes"

/** The audit actions of a tenant after a sequence number, oldest first, straight from the database. */
const auditSince = (tenant: string, seq: number) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT seq, action, actor_id, data FROM core_audit WHERE tenant_id = ${tenant} AND seq > ${seq} ORDER BY seq`
        .pipe(
          Effect.map((rows) =>
            rows.map((r) => ({
              action: String(r.action),
              actor_id: String(r.actor_id),
              data: JSON.parse(String(r.data))
            }))
          ),
          Effect.orDie
        )
  )

const lastSeq = (tenant: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`SELECT COALESCE(MAX(seq), 0) AS n FROM core_audit WHERE tenant_id = ${tenant}`.pipe(
        Effect.map((r) => Number(r[0]!.n)),
        Effect.orDie
      )
  )

/** The stored settings-change records of a tenant (core's shadow records of the kind). */
const changeRows = (tenant: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`SELECT id, status, proposed_by, closed_by FROM core_actions
        WHERE tenant_id = ${tenant} AND kind = 'companion.settings.change' ORDER BY id`.pipe(
      Effect.map((rows) => rows.map((r) => ({ ...r }))),
      Effect.orDie
    ))

const suite = (storage: "sqlite" | "postgres") =>
  layer(H.layer({ storage, autonomyApproval: true }), { excludeTestServices: true })(storage, (it) => {
    it.effect("named fields with their defaults, on the plain GET and on /named", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const r = yield* s.raw(named, { headers: H.auth(H.tokens.viewer) })
        expect(r.status).toBe(200)
        expect(r.json).toMatchObject({
          tenant_id: "default",
          ai_mode: "suggest_only",
          autopost_enabled: false,
          autopost_threshold: 0.9,
          coldstart_min_labels: 3,
          target_precision: 0.95,
          certification_delta: 0.05,
          spot_check_rate: 0.05,
          value_breaker_threshold: null,
          llm_tenant_cap_usd: null,
          approval_risk_threshold: null,
          autonomy_approval_required: true,
          effective: {
            value_breaker_threshold: "5000.00",
            llm_tenant_cap_usd: "50.00",
            approval_risk_threshold: 0.7,
            velocity_max_per_minute: 30,
            trust_downgrade_to: "suggest_only"
          }
        })
        const plain = yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })
        expect(plain.json).toStrictEqual(r.json)
      }))

    it.effect("a raise waits for a second person, who applies it exactly once; the requester cannot", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const rowBefore = yield* H.settingsRow("default")
        const seq0 = yield* lastSeq("default")

        // PUT refuses a raise and writes nothing
        const put = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_mode: "drafts" }))
        expect(H.expectError(put, 403, "companion.settings.approval_required").details).toMatchObject({
          raises: ["ai_mode"]
        })
        expect(yield* H.settingsRow("default")).toStrictEqual(rowBefore)
        expect(yield* lastSeq("default")).toBe(seq0)

        // requested as a change: 202, pending, nothing applied yet, the request audited
        const requested = yield* s.raw(
          changes,
          H.json("POST", H.tokens.owner, { ai_mode: "drafts", autopost_threshold: 0.85, spot_check_rate: 0.1 })
        )
        expect(requested.status).toBe(202)
        expect(requested.json).toMatchObject({
          status: "pending_approval",
          change: { status: "proposed", requested_by: "owner" },
          settings: { ai_mode: "suggest_only", autopost_threshold: 0.9 }
        })
        const id: string = requested.json.change_id
        expect(requested.json.change.change_id).toBe(id)
        expect(requested.json.change.raises.map((r: any) => r.field)).toStrictEqual(["ai_mode", "autopost_threshold"])
        expect(yield* H.settingsRow("default")).toStrictEqual(rowBefore)
        expect((yield* auditSince("default", seq0)).map((a) => a.action)).toStrictEqual(["action.proposed"])
        const listed = yield* s.raw(`${changes}?status=proposed`, { headers: H.auth(H.tokens.viewer) })
        expect(listed.json.changes.map((c: any) => c.change_id)).toStrictEqual([id])

        // the requester approving itself: refused with a stable code, nothing written
        const self = yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.owner, {}))
        H.expectError(self, 403, "approval.self_approval")
        // a bookkeeper may not approve at all
        H.expectError(
          yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.bookkeeper, {})),
          403,
          "rbac.forbidden"
        )
        expect(yield* H.settingsRow("default")).toStrictEqual(rowBefore)
        expect(yield* changeRows("default")).toMatchObject([{ id, status: "proposed", closed_by: null }])

        // a second person approves: applied once, audited with who asked and who approved
        const seq1 = yield* lastSeq("default")
        const approved = yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(approved.status).toBe(200)
        expect(approved.json).toMatchObject({
          status: "applied",
          already_applied: false,
          change: { change_id: id, status: "applied", requested_by: "owner", closed_by: "admin" },
          settings: { ai_mode: "drafts", autopost_threshold: 0.85, spot_check_rate: 0.1 }
        })
        expect(yield* H.settingsRow("default")).toMatchObject({
          ai_mode: "drafts",
          extensions: { "companion.autopost_threshold": 0.85, "companion.spot_check_rate": 0.1 }
        })
        const applyAudit = yield* auditSince("default", seq1)
        expect(applyAudit.map((a) => [a.action, a.actor_id])).toStrictEqual([
          ["settings.updated", "admin"],
          ["action.applied", "admin"]
        ])
        expect(applyAudit[0]!.data).toMatchObject({ before: { ai_mode: "suggest_only" }, after: { ai_mode: "drafts" } })

        // approving again has no second effect
        const seq2 = yield* lastSeq("default")
        const rowAfter = yield* H.settingsRow("default")
        const again = yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(again.status).toBe(200)
        expect(again.json).toMatchObject({ status: "applied", already_applied: true })
        expect(yield* lastSeq("default")).toBe(seq2)
        expect(yield* H.settingsRow("default")).toStrictEqual(rowAfter)
        expect(yield* changeRows("default")).toMatchObject([{
          id,
          status: "applied",
          proposed_by: "owner",
          closed_by: "admin"
        }])
      }))

    it.effect("lowering autonomy and the kill switch take effect at once, audited; releasing the switch is a raise", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const seq0 = yield* lastSeq("default")
        const lowered = yield* s.raw(
          settings,
          H.json("PUT", H.tokens.owner, { ai_mode: "shadow_only", autopost_threshold: 0.97, coldstart_min_labels: 5 })
        )
        expect(lowered.status).toBe(200)
        expect(lowered.json).toMatchObject({
          ai_mode: "shadow_only",
          autopost_threshold: 0.97,
          coldstart_min_labels: 5
        })
        expect(yield* H.settingsRow("default")).toMatchObject({
          ai_mode: "shadow_only",
          extensions: { "companion.autopost_threshold": 0.97, "companion.coldstart_min_labels": 5 }
        })
        const killed = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { kill_switch: true }))
        expect([killed.status, killed.json.kill_switch]).toStrictEqual([200, true])
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 1 })
        expect((yield* auditSince("default", seq0)).map((a) => [a.action, a.actor_id])).toStrictEqual([
          ["settings.updated", "owner"],
          ["settings.updated", "owner"]
        ])
        // releasing the kill switch raises autonomy again: it waits
        const release = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { kill_switch: false }))
        expect(H.expectError(release, 403, "companion.settings.approval_required").details).toMatchObject({
          raises: ["kill_switch"]
        })
        const asked = yield* s.raw(changes, H.json("POST", H.tokens.owner, { kill_switch: false }))
        expect(asked.status).toBe(202)
        const ok = yield* s.raw(`${changes}/${asked.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect([ok.status, ok.json.settings.kill_switch]).toStrictEqual([200, false])
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 0 })
        // a non-raising change sent as a change request applies at once (200)
        const lower = yield* s.raw(changes, H.json("POST", H.tokens.owner, { spot_check_rate: 0.2 }))
        expect(lower.status).toBe(200)
        expect(lower.json).toMatchObject({ status: "applied", settings: { spot_check_rate: 0.2 } })
      }))

    it.effect("raw extension keys are governed and validated like the named fields", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const before = yield* H.settingsRow("default")
        const seq0 = yield* lastSeq("default")
        const raw = yield* s.raw(
          settings,
          H.json("PUT", H.tokens.owner, { extensions: { "companion.autopost_enabled": true } })
        )
        expect(H.expectError(raw, 403, "companion.settings.approval_required").details).toMatchObject({
          raises: ["autopost_enabled"]
        })
        const cap = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { llm_tenant_cap_usd: "500.00" }))
        expect(H.expectError(cap, 403, "companion.settings.approval_required").details).toMatchObject({
          raises: ["llm_tenant_cap_usd"]
        })
        for (
          const [body, code] of [
            [{ extensions: { "companion.autopost_threshold": 5 } }, "validation.companion_setting"],
            [{ extensions: { "guardrails.value_breaker_threshold": "lots" } }, "validation.companion_setting"],
            [{ autopost_threshold: 0.2 }, "validation.schema"],
            [{ coldstart_min_labels: 2.5 }, "validation.schema"],
            [{ value_breaker_threshold: "-1" }, "validation.schema"],
            [
              { autopost_threshold: 0.95, extensions: { "companion.autopost_threshold": 0.95 } },
              "validation.companion_setting"
            ]
          ] as const
        ) {
          H.expectError(yield* s.raw(settings, H.json("PUT", H.tokens.owner, body)), 400, code)
        }
        expect(yield* H.settingsRow("default")).toStrictEqual(before)
        expect(yield* lastSeq("default")).toBe(seq0)
        // a stricter value breaker threshold than the deployment's is immediate, and stored under guardrails' key
        const stricter = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { value_breaker_threshold: "1000.00" }))
        expect(stricter.json).toMatchObject({
          value_breaker_threshold: "1000.00",
          effective: { value_breaker_threshold: "1000.00" }
        })
        expect((yield* H.settingsRow("default"))!.extensions).toMatchObject({
          "guardrails.value_breaker_threshold": "1000.00"
        })
        // removing it goes back to the deployment's 5000.00: a raise
        const removed = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { value_breaker_threshold: null }))
        H.expectError(removed, 403, "companion.settings.approval_required")
      }))

    it.effect("a change can be rejected (or withdrawn by its requester), and then never applies", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const asked = yield* s.raw(changes, H.json("POST", H.tokens.owner, { autopost_enabled: true }))
        expect(asked.status).toBe(202)
        const id = asked.json.change_id
        H.expectError(
          yield* s.raw(`${changes}/${id}/reject`, H.json("POST", H.tokens.owner, {})),
          400,
          "validation.schema"
        )
        const rejected = yield* s.raw(`${changes}/${id}/reject`, H.json("POST", H.tokens.owner, { reason: "not yet" }))
        expect(rejected.json).toMatchObject({ change_id: id, status: "rejected", close_reason: "not yet" })
        H.expectError(
          yield* s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.admin, {})),
          409,
          "proposal.closed"
        )
        expect((yield* H.settingsRow("default"))!.extensions["companion.autopost_enabled"]).toBeUndefined()
        H.expectError(
          yield* s.raw(`${changes}/act_missing/approve`, H.json("POST", H.tokens.admin, {})),
          404,
          "not_found"
        )
        // an agent can neither change settings nor request a change
        H.expectError(
          yield* s.raw(changes, H.json("POST", H.tokens.agent, { autopost_enabled: true })),
          403,
          "rbac.forbidden"
        )
      }))

    it.effect("two approvals at once apply the change once", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        const asked = yield* s.raw(changes, H.json("POST", H.tokens.owner, { autopost_enabled: true }))
        const id = asked.json.change_id
        const seq0 = yield* lastSeq("default")
        const results = yield* Effect.all([
          s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.admin, {})),
          s.raw(`${changes}/${id}/approve`, H.json("POST", H.tokens.acmeAdmin, {}, { "x-tenant": "default" }))
        ], { concurrency: 2 })
        expect(results.map((r) => r.status)).toStrictEqual([200, 200])
        expect(results.map((r) => r.json.already_applied).sort()).toStrictEqual([false, true])
        const audit = yield* auditSince("default", seq0)
        expect(audit.filter((a) => a.action === "action.applied")).toHaveLength(1)
        expect(audit.filter((a) => a.action === "settings.updated")).toHaveLength(1)
        expect((yield* H.settingsRow("default"))!.extensions["companion.autopost_enabled"]).toBe(true)
      }))

    it.effect("a pending change is held to the extension limits and capped per tenant; listings are bounded", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* withdrawPending(s)
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, { autopost_enabled: false }))
        const rows0 = (yield* changeRows("default")).length
        const seq0 = yield* lastSeq("default")
        // over the limits: refused as a PUT would be, nothing stored or audited
        const huge = yield* s.raw(
          changes,
          H.json("POST", H.tokens.owner, { autopost_enabled: true, extensions: { blob: "x".repeat(70 * 1024) } })
        )
        expect(H.expectError(huge, 413, "payload.too_large").details).toMatchObject({ field: "extensions" })
        const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`pkg.k${i}`, i]))
        H.expectError(
          yield* s.raw(changes, H.json("POST", H.tokens.owner, { autopost_enabled: true, extensions: many })),
          400,
          "validation.extensions_keys"
        )
        expect((yield* changeRows("default")).length).toBe(rows0)
        expect(yield* lastSeq("default")).toBe(seq0)
        // at most 5 pending (the stated default), each within the limits
        const blob = (i: number) => `${i}`.padEnd(40 * 1024, "b")
        for (let i = 0; i < 5; i++) {
          const r = yield* s.raw(
            changes,
            H.json("POST", H.tokens.owner, { autopost_enabled: true, extensions: { blob: blob(i) } })
          )
          expect(r.status).toBe(202)
        }
        const sixth = yield* s.raw(changes, H.json("POST", H.tokens.owner, { autopost_enabled: true }))
        expect(H.expectError(sixth, 409, "companion.settings.too_many_pending").details).toMatchObject({
          max_pending: 5
        })
        expect((yield* changeRows("default")).filter((r) => r.status === "proposed")).toHaveLength(5)
        // the listing: a bounded page, large values by hash and size
        H.expectError(
          yield* s.raw(`${changes}?limit=500`, { headers: H.auth(H.tokens.viewer) }),
          400,
          "validation.schema"
        )
        const listed = yield* s.raw(`${changes}?status=proposed`, { headers: H.auth(H.tokens.viewer) })
        expect(listed.json.changes).toHaveLength(5)
        expect(listed.json.changes[0].patch.extensions.blob).toStrictEqual({
          $summary: { sha256: Canonical.hashOf(blob(4)), bytes: 40 * 1024 + 2 }
        })
        expect(listed.text.length).toBeLessThan(5 * 1024)
        // the kill switch alone always works, at the cap too
        const killed = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { kill_switch: true }))
        expect([killed.status, killed.json.kill_switch]).toStrictEqual([200, true])
        // a mixed change (engage the switch and raise) is governed as a whole: nothing written
        const mixed = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_enabled: false, ai_mode: "drafts" }))
        H.expectError(mixed, 403, "companion.settings.approval_required")
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 1, ai_enabled: 1 })
        yield* withdrawPending(s)
        const release = yield* s.raw(changes, H.json("POST", H.tokens.owner, { kill_switch: false }))
        expect(release.status).toBe(202)
        expect(
          (yield* s.raw(`${changes}/${release.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))).status
        )
          .toBe(200)
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 0 })
      }))

    it.effect("an approval never applies a stale change: a kill switch engaged after the request stays on", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* withdrawPending(s)
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, { ai_mode: "suggest_only" }))
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 0, ai_mode: "suggest_only" })
        // the request: kill_switch false is no change now, so it is not part of what is stored
        const asked = yield* s.raw(
          changes,
          H.json("POST", H.tokens.owner, { ai_mode: "drafts", kill_switch: false })
        )
        expect(asked.status).toBe(202)
        expect(asked.json.change.patch).toStrictEqual({ ai_mode: "drafts" })
        const id = asked.json.change_id
        // someone engages the kill switch after the request
        const engaged = yield* s.raw(settings, H.json("PUT", H.tokens.admin, { kill_switch: true }))
        expect(engaged.status).toBe(200)
        const row = yield* H.settingsRow("default")
        const seq = yield* lastSeq("default")
        // a second person approves: refused, nothing written
        const approved = yield* s.raw(
          `${changes}/${id}/approve`,
          H.json("POST", H.tokens.acmeAdmin, {}, {
            "x-tenant": "default"
          })
        )
        expect(H.expectError(approved, 409, "companion.settings.stale").details).toMatchObject({
          change_id: id,
          lowered_since: ["kill_switch"]
        })
        expect(yield* H.settingsRow("default")).toStrictEqual(row)
        expect(row).toMatchObject({ kill_switch: 1, ai_mode: "suggest_only" })
        expect(yield* lastSeq("default")).toBe(seq)
        expect((yield* changeRows("default")).find((r) => r.id === id)).toMatchObject({ status: "proposed" })
        // a change asking to release the switch too is refused the same way once autonomy was lowered since
        const both = yield* s.raw(changes, H.json("POST", H.tokens.owner, { ai_mode: "drafts", kill_switch: false }))
        expect(both.json.change.patch).toStrictEqual({ ai_mode: "drafts", kill_switch: false })
        yield* s.raw(settings, H.json("PUT", H.tokens.admin, { ai_enabled: false }))
        const stale = yield* s.raw(`${changes}/${both.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(H.expectError(stale, 409, "companion.settings.stale").details).toMatchObject({
          lowered_since: ["ai_enabled"]
        })
        expect(yield* H.settingsRow("default")).toMatchObject({
          kill_switch: 1,
          ai_enabled: 0,
          ai_mode: "suggest_only"
        })
        // a PUT leaves out what it does not change: engaging again audits nothing
        const seq2 = yield* lastSeq("default")
        expect((yield* s.raw(settings, H.json("PUT", H.tokens.owner, { kill_switch: true }))).status).toBe(200)
        expect(yield* lastSeq("default")).toBe(seq2)
        yield* withdrawPending(s)
        const release = yield* s.raw(changes, H.json("POST", H.tokens.owner, { kill_switch: false, ai_enabled: true }))
        yield* s.raw(`${changes}/${release.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(yield* H.settingsRow("default")).toMatchObject({ kill_switch: 0, ai_enabled: 1 })
      }))

    it.effect("a PUT decides on the settings it writes: no concurrent stricter value is undone without approval", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* s.raw(settings, H.json("PUT", H.tokens.owner, { autopost_threshold: 0.9 }))
        const seq0 = yield* lastSeq("default")
        // many PUTs of 0.95 (stricter than 0.9: immediate) race with PUTs of 0.99; going from 0.99 down
        // to 0.95 is a raise, which must never be written by a PUT
        const puts = Array.from({ length: 40 }, (_, i) =>
          s.raw(
            settings,
            H.json("PUT", i % 4 === 0 ? H.tokens.admin : H.tokens.owner, {
              autopost_threshold: i % 4 === 0 ? 0.99 : 0.95
            })
          ))
        const results = yield* Effect.all(puts, { concurrency: 12 })
        for (const r of results) expect([200, 403]).toContain(r.status)
        const audit = (yield* auditSince("default", seq0)).filter((a) => a.action === "settings.updated")
        const lowered = audit.filter((a) => {
          const before = a.data.before.extensions?.["companion.autopost_threshold"]
          const after = a.data.after.extensions?.["companion.autopost_threshold"]
          return typeof before === "number" && typeof after === "number" && after < before
        })
        expect(lowered).toStrictEqual([])
      }))

    it.effect("velocity and trust breaker settings: named with defaults, lowered at once, raised only with approval", () =>
      Effect.gen(function*() {
        const s = yield* H.TestServer
        yield* withdrawPending(s)
        const K = {
          velocity: "guardrails.velocity_max_per_minute",
          cooldown: "guardrails.velocity_cooldown_seconds",
          rate: "guardrails.trust_rejection_rate",
          sample: "guardrails.trust_min_sample",
          window: "guardrails.trust_window_seconds",
          target: "guardrails.trust_downgrade_to"
        }
        // GET: the named fields (no override) and what guardrails enforces (the deployment's defaults)
        const got = yield* s.raw(settings, { headers: H.auth(H.tokens.viewer) })
        expect(got.json).toMatchObject({
          velocity_max_per_minute: null,
          velocity_cooldown_seconds: null,
          trust_rejection_rate: null,
          trust_min_sample: null,
          trust_window_seconds: null,
          trust_downgrade_to: null,
          effective: {
            velocity_max_per_minute: 30,
            velocity_cooldown_seconds: 300,
            trust_rejection_rate: 0.5,
            trust_min_sample: 20,
            trust_window_seconds: 604_800,
            trust_downgrade_to: "suggest_only"
          }
        })
        expect((yield* s.raw(named, { headers: H.auth(H.tokens.viewer) })).json).toStrictEqual(got.json)

        // lowering (a lower limit, a longer cooldown, trips sooner, to a lower mode): at once, audited
        const seq0 = yield* lastSeq("default")
        const lowered = yield* s.raw(
          settings,
          H.json("PUT", H.tokens.owner, {
            velocity_max_per_minute: 12,
            velocity_cooldown_seconds: 600,
            trust_rejection_rate: 0.3,
            trust_min_sample: 5,
            trust_downgrade_to: "shadow_only"
          })
        )
        expect(lowered.status).toBe(200)
        expect(lowered.json).toMatchObject({
          velocity_max_per_minute: 12,
          velocity_cooldown_seconds: 600,
          trust_rejection_rate: 0.3,
          trust_min_sample: 5,
          trust_downgrade_to: "shadow_only",
          trust_window_seconds: null,
          effective: {
            velocity_max_per_minute: 12,
            velocity_cooldown_seconds: 600,
            trust_rejection_rate: 0.3,
            trust_min_sample: 5,
            trust_window_seconds: 604_800,
            trust_downgrade_to: "shadow_only"
          }
        })
        const stored = {
          [K.velocity]: 12,
          [K.cooldown]: 600,
          [K.rate]: 0.3,
          [K.sample]: 5,
          [K.target]: "shadow_only"
        }
        expect((yield* H.settingsRow("default"))!.extensions).toMatchObject(stored)
        const audit = yield* auditSince("default", seq0)
        expect(audit.map((a) => [a.action, a.actor_id])).toStrictEqual([["settings.updated", "owner"]])
        expect(audit[0]!.data.after.extensions).toMatchObject(stored)

        // each raise alone is refused by PUT and writes nothing
        const row = yield* H.settingsRow("default")
        const seq1 = yield* lastSeq("default")
        for (
          const [body, field] of [
            [{ velocity_max_per_minute: 13 }, "velocity_max_per_minute"],
            [{ velocity_max_per_minute: null }, "velocity_max_per_minute"],
            [{ velocity_cooldown_seconds: 599 }, "velocity_cooldown_seconds"],
            [{ trust_rejection_rate: 0.31 }, "trust_rejection_rate"],
            [{ trust_min_sample: 6 }, "trust_min_sample"],
            [{ trust_window_seconds: 3600 }, "trust_window_seconds"],
            [{ trust_window_seconds: 30 * 86_400 }, "trust_window_seconds"],
            [{ trust_downgrade_to: "suggest_only" }, "trust_downgrade_to"]
          ] as const
        ) {
          const r = yield* s.raw(settings, H.json("PUT", H.tokens.owner, body))
          expect(H.expectError(r, 403, "companion.settings.approval_required").details).toMatchObject({
            raises: [field]
          })
        }
        expect(yield* H.settingsRow("default")).toStrictEqual(row)
        expect(yield* lastSeq("default")).toBe(seq1)

        // requested as a change, approved by a second person: applied and enforced as the tenant's
        const asked = yield* s.raw(
          changes,
          H.json("POST", H.tokens.owner, { velocity_max_per_minute: 100, trust_window_seconds: 3600 })
        )
        expect(asked.status).toBe(202)
        expect(asked.json.change.raises).toStrictEqual([
          { field: "velocity_max_per_minute", from: 12, to: 100 },
          { field: "trust_window_seconds", from: 604_800, to: 3600 }
        ])
        expect(yield* H.settingsRow("default")).toStrictEqual(row)
        H.expectError(
          yield* s.raw(`${changes}/${asked.json.change_id}/approve`, H.json("POST", H.tokens.owner, {})),
          403,
          "approval.self_approval"
        )
        const seq2 = yield* lastSeq("default")
        const approved = yield* s.raw(`${changes}/${asked.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(approved.status).toBe(200)
        expect(approved.json.settings).toMatchObject({
          velocity_max_per_minute: 100,
          trust_window_seconds: 3600,
          effective: { velocity_max_per_minute: 100, trust_window_seconds: 3600 }
        })
        expect((yield* H.settingsRow("default"))!.extensions).toMatchObject({ [K.velocity]: 100, [K.window]: 3600 })
        expect((yield* auditSince("default", seq2)).map((a) => [a.action, a.actor_id])).toStrictEqual([
          ["settings.updated", "admin"],
          ["action.applied", "admin"]
        ])

        // stale: a raise of the minimum sample, then the threshold made stricter, then the approval
        const pending = yield* s.raw(changes, H.json("POST", H.tokens.owner, { trust_min_sample: 50 }))
        expect(pending.status).toBe(202)
        expect((yield* s.raw(settings, H.json("PUT", H.tokens.owner, { trust_rejection_rate: 0.2 }))).status).toBe(200)
        const stale = yield* s.raw(`${changes}/${pending.json.change_id}/approve`, H.json("POST", H.tokens.admin, {}))
        expect(H.expectError(stale, 409, "companion.settings.stale").details).toMatchObject({
          lowered_since: ["trust_rejection_rate"]
        })
        expect((yield* H.settingsRow("default"))!.extensions).toMatchObject({ [K.sample]: 5, [K.rate]: 0.2 })
        yield* withdrawPending(s)

        // invalid values: 400 validation.schema naming the field; raw keys are checked the same way
        const row2 = yield* H.settingsRow("default")
        for (
          const [body, field] of [
            [{ velocity_max_per_minute: 0 }, "velocity_max_per_minute"],
            [{ velocity_max_per_minute: 2.5 }, "velocity_max_per_minute"],
            [{ velocity_max_per_minute: 10_001 }, "velocity_max_per_minute"],
            [{ velocity_max_per_minute: "5" }, "velocity_max_per_minute"],
            [{ velocity_cooldown_seconds: 86_401 }, "velocity_cooldown_seconds"],
            [{ trust_rejection_rate: 1.5 }, "trust_rejection_rate"],
            [{ trust_min_sample: 0 }, "trust_min_sample"],
            [{ trust_window_seconds: 59 }, "trust_window_seconds"],
            [{ trust_downgrade_to: "off" }, "trust_downgrade_to"]
          ] as const
        ) {
          const r = yield* s.raw(settings, H.json("PUT", H.tokens.owner, body))
          expect(H.expectError(r, 400, "validation.schema").message).toContain(field)
        }
        const rawBad = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { extensions: { [K.sample]: 0 } }))
        expect(H.expectError(rawBad, 400, "validation.companion_setting").details).toMatchObject({
          field: "trust_min_sample",
          key: K.sample
        })
        expect(yield* H.settingsRow("default")).toStrictEqual(row2)

        // null removes the tenant's value: back to the deployment's 30 a minute, lower than 100 — at once
        const removed = yield* s.raw(settings, H.json("PUT", H.tokens.owner, { velocity_max_per_minute: null }))
        expect(removed.status).toBe(200)
        expect(removed.json).toMatchObject({
          velocity_max_per_minute: null,
          effective: { velocity_max_per_minute: 30 }
        })
        expect((yield* H.settingsRow("default"))!.extensions[K.velocity]).toBeUndefined()
      }))
  })

/** Withdraws every pending settings change of the default tenant (as its requester, the owner). */
const withdrawPending = (s: H.TestServerShape) =>
  Effect.gen(function*() {
    const pending = yield* s.raw(`${changes}?status=proposed&limit=100`, { headers: H.auth(H.tokens.viewer) })
    for (const c of pending.json.changes) {
      const r = yield* s.raw(`${changes}/${c.change_id}/reject`, H.json("POST", H.tokens.owner, { reason: "reset" }))
      expect(r.status).toBe(200)
    }
  })

describe("companion settings and autonomy", () => {
  suite("sqlite")
  suite("postgres")
})

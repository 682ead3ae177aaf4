/**
 * Online backup of the embedded SQLite database under write load, and restore into a stopped
 * store: every record committed before the backup started is in the restored database, the
 * audit chain verifies, the migrations are at head.
 */
import { Backup, Migrations, Sqlite } from "@airlock/adapters-storage"
import { Audit, Ids, Kernel, Tenants } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"

const tenant = Ids.TenantId.make("default")
const actor = Ids.ActorId.make("writer")

const store = (filename: string) => Kernel.layer.pipe(Layer.provideMerge(Sqlite.layer({ filename })))

const countRows = (sql: SqlClient.SqlClient) =>
  sql<{ n: number }>`SELECT COUNT(*) AS n FROM core_audit WHERE tenant_id = ${tenant}`.pipe(
    Effect.map((r) => Number(r[0]!.n))
  )

describe("SQLite backup and restore", () => {
  it.live(
    "a restore under a running server is refused (database in use): nothing replaced, no staged file left",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "airlock-restore-busy-"))
        const filename = join(dir, "live.db")
        const backups = join(dir, "backups")
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* (yield* Tenants.Tenants).create({ id: tenant, name: "Default" })
          const taken = yield* Backup.backup({ filename, directory: backups, gzip: false, retention: 3 })
          yield* (yield* Audit.AuditLog).append({
            tenant_id: tenant,
            actor_id: actor,
            action: "t",
            subject: "after",
            data: {}
          })
          const before = yield* countRows(sql)
          // the server's connection is open (idle, WAL): the restore must not replace the file under it
          const refused = yield* Effect.flip(Backup.restore({ from: taken.path, filename }))
          expect(refused._tag).toBe("StorageError")
          expect(refused.details).toMatchObject({ reason: Backup.DATABASE_IN_USE, filename: "live.db" })
          expect(refused.message).toMatch(/in use/)
          expect(readdirSync(dir).filter((n) => n.includes(".restore-") || n.includes(".pre-restore-")))
            .toStrictEqual([])
          expect(yield* countRows(sql)).toBe(before)
          // the server keeps writing to the same file
          yield* (yield* Audit.AuditLog).append({
            tenant_id: tenant,
            actor_id: actor,
            action: "t",
            subject: "x",
            data: {}
          })
          expect(yield* countRows(sql)).toBe(before + 1)
        }).pipe(Effect.provide(store(filename)))
      }),
    60_000
  )

  it.live(
    "backs up under concurrent writes without blocking them; the restore has every earlier commit and a valid chain",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "airlock-backup-"))
        const filename = join(dir, "live.db")
        const backups = join(dir, "backups")
        const committed: Array<{ seq: number; at: number }> = []
        const outcome = yield* Effect.gen(function*() {
          const tenants = yield* Tenants.Tenants
          const audit = yield* Audit.AuditLog
          const sql = yield* SqlClient.SqlClient
          yield* tenants.create({ id: tenant, name: "Default" })
          // a bigger database, so the copy takes a while
          yield* sql`CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, blob TEXT)`
          yield* sql.withTransaction(Effect.forEach(
            Array.from({ length: 4000 }, (_, i) => i),
            (i) => sql`INSERT INTO filler (id, blob) VALUES (${i}, ${"x".repeat(2000)})`,
            { discard: true }
          ))
          // the write load: one audit record after another, each its own transaction
          const writer = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
            const r = yield* audit.append({
              tenant_id: tenant,
              actor_id: actor,
              action: "test.write",
              subject: "s",
              data: {}
            })
            committed.push({ seq: r.seq, at: performance.now() })
            yield* Effect.yieldNow()
          })))
          yield* Effect.sleep("150 millis")
          const startedAt = performance.now()
          const before = committed.length
          const info = yield* Backup.backup({ filename, directory: backups, gzip: false, retention: 3 })
          const finishedAt = performance.now()
          yield* Effect.sleep("50 millis")
          yield* Fiber.interrupt(writer)
          const lastBeforeBackup = committed.filter((c) => c.at <= startedAt).at(-1)!.seq
          const during = committed.filter((c) => c.at > startedAt && c.at < finishedAt).length
          return { info, before, lastBeforeBackup, during, liveCount: yield* countRows(sql) }
        }).pipe(Effect.provide(store(filename)))

        expect(outcome.before).toBeGreaterThan(0)
        // the writer was not stopped by the backup
        expect(outcome.during).toBeGreaterThan(0)
        expect(outcome.info.name).toMatch(/^airlock-\d{8}T\d{9}Z\.db$/)
        expect(outcome.info.bytes).toBeGreaterThan(4000 * 2000)
        expect(existsSync(outcome.info.path)).toBe(true)

        // restore into a stopped store (a new file here)
        const restoredFile = join(dir, "restored.db")
        const report = yield* Backup.restore({ from: outcome.info.path, filename: restoredFile })
        expect(report).toMatchObject({
          integrity: "ok",
          previous: null,
          migrations: { atHead: true, current: Migrations.head, head: Migrations.head }
        })
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const audit = yield* Audit.AuditLog
          const seqs =
            (yield* sql<{ seq: number }>`SELECT seq FROM core_audit WHERE tenant_id = ${tenant} ORDER BY seq`)
              .map((r) => Number(r.seq))
          // every record committed before the backup started is there, with no gap
          expect(seqs.length).toBeGreaterThanOrEqual(outcome.lastBeforeBackup)
          expect(seqs.slice(0, outcome.lastBeforeBackup)).toStrictEqual(
            Array.from({ length: outcome.lastBeforeBackup }, (_, i) => i + 1)
          )
          // and nothing the live store did not have
          expect(seqs.length).toBeLessThanOrEqual(outcome.liveCount)
          const verified = yield* audit.verify(tenant)
          expect(verified).toMatchObject({ ok: true, first_break: null })
          expect(verified.checked).toBe(seqs.length)
        }).pipe(Effect.provide(store(restoredFile)))
      }),
    120_000
  )

  it.live(
    "gzip, retention, list; restore over an existing store keeps it aside; a corrupt backup changes nothing",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "airlock-backup-"))
        const filename = join(dir, "live.db")
        const backups = join(dir, "backups")
        const taken = yield* Effect.gen(function*() {
          const tenants = yield* Tenants.Tenants
          yield* tenants.create({ id: tenant, name: "Default" })
          const out: Array<Backup.BackupInfo> = []
          for (let i = 0; i < 4; i++) {
            yield* (yield* Audit.AuditLog).append({
              tenant_id: tenant,
              actor_id: actor,
              action: "test.write",
              subject: String(i),
              data: {}
            })
            out.push(yield* Backup.backup({ filename, directory: backups, gzip: true, retention: 2 }))
          }
          return out
        }).pipe(Effect.provide(store(filename)))
        const listed = yield* Backup.list(backups)
        // the two newest remain, newest first
        expect(listed.map((b) => b.name)).toStrictEqual([taken[3]!.name, taken[2]!.name])
        expect(listed.every((b) => b.gzip && b.name.endsWith(".db.gz"))).toBe(true)
        expect(gunzipSync(readFileSync(listed[0]!.path)).subarray(0, 15).toString()).toBe("SQLite format 3")

        // a corrupt backup is refused before anything is replaced
        const corrupt = join(dir, "corrupt.db")
        writeFileSync(corrupt, Buffer.alloc(8192, 7))
        const refused = yield* Effect.flip(Backup.restore({ from: corrupt, filename }))
        expect(refused._tag).toBe("StorageError")
        // no staged copy left, nothing moved aside, the live database's rows unchanged
        expect(readdirSync(dir).filter((n) => n.includes(".restore-"))).toStrictEqual([])
        yield* Effect.gen(function*() {
          expect(yield* countRows(yield* SqlClient.SqlClient)).toBe(5)
        }).pipe(Effect.provide(store(filename)))

        // restore the older of the two over the live file (the store is stopped: its layer is closed)
        const report = yield* Backup.restore({ from: taken[2]!.path, filename })
        expect(report.previous).toMatch(/live\.db\.pre-restore-\d{8}T\d{9}Z$/)
        expect(existsSync(report.previous!)).toBe(true)
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // the backup was taken after the third record
          expect(yield* countRows(sql)).toBe(4) // tenant.created + three writes
          expect((yield* (yield* Audit.AuditLog).verify(tenant)).ok).toBe(true)
        }).pipe(Effect.provide(store(filename)))
        // the kept-aside database still has all four writes
        yield* Effect.gen(function*() {
          expect(yield* countRows(yield* SqlClient.SqlClient)).toBe(5)
        }).pipe(Effect.provide(store(report.previous!)))
      }),
    120_000
  )
})

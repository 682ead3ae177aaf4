/**
 * Backups of the embedded SQLite database, and restores (AI bookkeeper rollout: daily backups
 * with a documented restore; assistant platform runbook: restore a snapshot, `.db` or `.db.gz`,
 * then migrations and readiness).
 *
 * - {@link backup}: an online backup while the server runs. A worker thread opens its own
 *   read-only connection and runs `VACUUM INTO`: one read transaction, so the copy is the
 *   database as of one commit (every commit before the backup started is in it), and in WAL
 *   mode it blocks no writer and the event loop never waits on it. Optionally gzip; a retention
 *   count keeps the newest N backups of the directory. (`:memory:` databases go through
 *   `SqliteClient.export` instead.)
 * - {@link restore}: into a stopped store. The backup (decompressed when `.gz`) must pass
 *   `PRAGMA integrity_check`; the current file (and its WAL) is kept aside as
 *   `<file>.pre-restore-<time>` and the backup moved in; then the migrations run on it and its
 *   migration status is returned, for readiness to be checked by starting the server.
 *
 * PostgreSQL is backed up with its own tools (`pg_dump -Fc`, `pg_restore`): see `docs/ops-health.md`.
 */
import { Errors } from "@airlock/core"
import { SqlClient } from "@effect/sql"
import type { SqliteClient } from "@effect/sql-sqlite-node"
import Database from "better-sqlite3"
import { Clock, Effect } from "effect"
import { createReadStream, createWriteStream, existsSync } from "node:fs"
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { basename, join } from "node:path"
import { pipeline } from "node:stream/promises"
import { Worker } from "node:worker_threads"
import { createGunzip, createGzip } from "node:zlib"
import * as Migrations from "./Migrations.js"
import * as Sqlite from "./Sqlite.js"

/** One backup file. */
export interface BackupInfo {
  /** File name inside the backup directory (`airlock-<UTC time>.db` or `.db.gz`). */
  readonly name: string
  /** Absolute path. */
  readonly path: string
  readonly bytes: number
  readonly gzip: boolean
  /** When the backup started (epoch ms; also in the name). */
  readonly created_at: number
}

/** Options of a backup. */
export interface BackupOptions {
  /** The database file to back up (`:memory:` needs `client`). */
  readonly filename: string
  /** Where backups go (created when missing). */
  readonly directory: string
  /** Compress with gzip (default false). */
  readonly gzip?: boolean
  /** Keep only the newest N backups in the directory (default: keep all). */
  readonly retention?: number
}

const PREFIX = "airlock-"
const PATTERN = /^airlock-(\d{8}T\d{9}Z)(-\d+)?\.db(\.gz)?$/

const storageError = (message: string, cause?: unknown) =>
  new Errors.StorageError({ message, ...(cause === undefined ? {} : { cause }) })

const attempt = <A>(message: string, f: () => Promise<A>): Effect.Effect<A, Errors.StorageError> =>
  Effect.tryPromise({ try: f, catch: (cause) => storageError(message, cause) })

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:.]/g, "")

const parseStamp = (s: string): number => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(s)
  return m === null ? 0 : Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!)
}

// Runs in a worker thread (CommonJS): its own read-only connection, one `VACUUM INTO`.
const COPIER = `
const { workerData, parentPort } = require("node:worker_threads")
const Database = require(workerData.module)
try {
  const db = new Database(workerData.source, { readonly: true, fileMustExist: true })
  db.pragma("busy_timeout = 10000")
  db.prepare("VACUUM INTO ?").run(workerData.target)
  db.close()
  parentPort.postMessage({ ok: true })
} catch (e) {
  parentPort.postMessage({ ok: false, message: String(e && e.message) })
}
`

const copyOnWorker = (source: string, target: string) =>
  attempt("Backup copy failed", () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(COPIER, {
        eval: true,
        workerData: { module: createRequire(import.meta.url).resolve("better-sqlite3"), source, target }
      })
      worker.once("message", (m: { ok: boolean; message?: string }) =>
        m.ok ? resolve() : reject(new Error(m.message ?? "backup failed")))
      worker.once("error", reject)
      worker.once("exit", (code) =>
        code !== 0 && reject(new Error(`backup worker exited with ${code}`)))
    }))

const gzipFile = (from: string, to: string) =>
  attempt("Backup compression failed", () => pipeline(createReadStream(from), createGzip(), createWriteStream(to)))

/** The backups in a directory, newest first. */
export const list = (directory: string): Effect.Effect<ReadonlyArray<BackupInfo>, Errors.StorageError> =>
  attempt("Could not list backups", async () => {
    if (!existsSync(directory)) return []
    const names = (await readdir(directory)).filter((n) => PATTERN.test(n))
    const infos = await Promise.all(names.map(async (name) => {
      const path = join(directory, name)
      const m = PATTERN.exec(name)!
      return { name, path, bytes: (await stat(path)).size, gzip: m[3] !== undefined, created_at: parseStamp(m[1]!) }
    }))
    return infos.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
  })

/** Deletes all but the newest `keep` backups of a directory; returns the deleted names. */
export const prune = (
  directory: string,
  keep: number
): Effect.Effect<ReadonlyArray<string>, Errors.StorageError> =>
  Effect.flatMap(list(directory), (all) => {
    const old = all.slice(Math.max(0, keep))
    return attempt("Could not delete old backups", async () => {
      for (const b of old) await rm(b.path, { force: true })
      return old.map((b) => b.name)
    })
  })

/**
 * Backs up a running SQLite database (see the module doc). The file appears under its final
 * name only once complete. For `:memory:`, provide the store's `SqliteClient` as `client`.
 */
export const backup = (
  options: BackupOptions & { readonly client?: SqliteClient.SqliteClient }
): Effect.Effect<BackupInfo, Errors.StorageError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* attempt("Could not create the backup directory", () => mkdir(options.directory, { recursive: true }))
    const gzip = options.gzip === true
    let name = `${PREFIX}${stamp(now)}.db${gzip ? ".gz" : ""}`
    for (let n = 1; existsSync(join(options.directory, name)); n++)
      name = `${PREFIX}${stamp(now)}-${n}.db${gzip ? ".gz" : ""}`
    const path = join(options.directory, name)
    const raw = join(options.directory, `.${name}.partial`)
    yield* Effect.gen(function*() {
      if (options.filename === ":memory:") {
        if (options.client === undefined)
          return yield* storageError("Backing up a :memory: database needs its SqliteClient")
        const bytes = yield* Effect.mapError(options.client.export, (e) => storageError("Backup export failed", e))
        yield* attempt("Could not write the backup", () => writeFile(raw, bytes))
      } else {
        yield* copyOnWorker(options.filename, raw)
      }
      if (gzip) {
        yield* gzipFile(raw, `${raw}.gz`)
        yield* attempt("Could not finish the backup", () => rename(`${raw}.gz`, path))
      } else {
        yield* attempt("Could not finish the backup", () => rename(raw, path))
      }
    }).pipe(
      Effect.ensuring(Effect.promise(() => Promise.all([rm(raw, { force: true }), rm(`${raw}.gz`, { force: true })])))
    )
    if (options.retention !== undefined) yield* prune(options.directory, options.retention)
    const bytes = (yield* attempt("Could not read the backup", () => stat(path))).size
    return { name, path, bytes, gzip, created_at: now }
  })

/** What a restore did. */
export interface RestoreReport {
  readonly restored_from: string
  readonly filename: string
  /** Where the replaced database was kept, or null when there was none. */
  readonly previous: string | null
  readonly integrity: "ok"
  readonly migrations: Migrations.MigrationStatus
}

const integrity = (file: string) =>
  Effect.try({
    try: () => {
      const db = new Database(file, { readonly: true, fileMustExist: true })
      try {
        return String(db.pragma("integrity_check", { simple: true }))
      } finally {
        db.close()
      }
    },
    catch: (cause) => storageError("The backup is not a readable SQLite database", cause)
  })

/** `details.reason` of the refusal when another process has the target database open. */
export const DATABASE_IN_USE = "database_in_use"

/**
 * Opens `file` and takes it exclusively: `locking_mode = EXCLUSIVE`, `BEGIN EXCLUSIVE` and a read.
 * (In WAL mode a plain `BEGIN EXCLUSIVE` does not see an idle connection of another process; the
 * exclusive locking mode needs the shared-memory lock every open connection holds.) Refused with
 * `details.reason: "database_in_use"` on `SQLITE_BUSY`, without waiting.
 */
const lockExclusive = (file: string) =>
  Effect.try({
    try: () => {
      const db = new Database(file, { fileMustExist: true, timeout: 0 })
      try {
        db.pragma("locking_mode = EXCLUSIVE")
        db.exec("BEGIN EXCLUSIVE")
        db.prepare("SELECT COUNT(*) FROM sqlite_master").get()
        return db
      } catch (e) {
        db.close()
        throw e
      }
    },
    catch: (cause) =>
      typeof cause === "object" && cause !== null &&
        String((cause as { code?: unknown }).code).startsWith("SQLITE_BUSY")
        ? new Errors.StorageError({
          message: `The database ${basename(file)} is in use by another connection: stop the server before restoring`,
          details: { reason: DATABASE_IN_USE, filename: basename(file) },
          cause
        })
        : storageError("Could not open the current database to replace it", cause)
  })

/**
 * Restores a backup (`.db` or `.db.gz`) into `filename`, which no process may have open (stop
 * the server first): the current database is opened and locked exclusively before it is moved
 * aside, and a database another connection holds is refused (`details.reason:
 * "database_in_use"`), nothing replaced. The backup is checked before anything is replaced; the
 * replaced database is kept aside; the migrations run on the restored file.
 */
export const restore = (options: {
  readonly from: string
  readonly filename: string
}): Effect.Effect<RestoreReport, Errors.StorageError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (!existsSync(options.from)) return yield* storageError(`No backup at ${options.from}`)
    const staged = `${options.filename}.restore-${stamp(now)}`
    const cleanup = Effect.promise(() => rm(staged, { force: true }))
    const report = yield* Effect.gen(function*() {
      if (options.from.endsWith(".gz")) {
        yield* attempt("Could not decompress the backup", () =>
          pipeline(createReadStream(options.from), createGunzip(), createWriteStream(staged)))
      } else {
        yield* attempt("Could not copy the backup", () =>
          pipeline(createReadStream(options.from), createWriteStream(staged)))
      }
      const check = yield* integrity(staged)
      if (check !== "ok")
        return yield* storageError(`The backup failed its integrity check: ${check.slice(0, 200)}`)
      let previous: string | null = null
      if (existsSync(options.filename)) {
        previous = `${options.filename}.pre-restore-${stamp(now)}`
        // held while the current database is moved aside, so no connection slips in meanwhile
        yield* Effect.acquireUseRelease(
          lockExclusive(options.filename),
          () =>
            attempt("Could not keep the current database aside", async () => {
              await rename(options.filename, previous!)
              for (const suffix of ["-wal", "-shm"]) {
                if (existsSync(`${options.filename}${suffix}`))
                  await rename(`${options.filename}${suffix}`, `${previous}${suffix}`)
              }
            }),
          (db) =>
            Effect.sync(() =>
              db.close()
            )
        )
      }
      yield* attempt("Could not move the backup in", () => rename(staged, options.filename))
      const migrations = yield* Effect.flatMap(SqlClient.SqlClient, () => Migrations.status).pipe(
        Effect.provide(Sqlite.layerClient({ filename: options.filename, checkpointIntervalMs: null })),
        Effect.mapError((e) => storageError("Could not migrate the restored database", e))
      )
      return {
        restored_from: basename(options.from),
        filename: options.filename,
        previous,
        integrity: "ok" as const,
        migrations
      }
    }).pipe(Effect.ensuring(cleanup))
    return report
  })

/** A backup service over one database file (for `POST /api/admin/backup` and hosts' schedules). */
export interface Backups {
  /** Takes a backup now (options override the service's gzip default). */
  readonly create: (options?: { readonly gzip?: boolean }) => Effect.Effect<BackupInfo, Errors.StorageError>
  /** The backups in the directory, newest first. */
  readonly list: Effect.Effect<ReadonlyArray<BackupInfo>, Errors.StorageError>
}

/** The backup service of a SQLite file (retention applied after each backup). */
export const make = (options: BackupOptions & { readonly client?: SqliteClient.SqliteClient }): Backups => ({
  create: (o = {}) => backup({ ...options, gzip: o.gzip ?? options.gzip }),
  list: list(options.directory)
})

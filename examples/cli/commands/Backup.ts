/**
 * `airlock backup create [--gzip] | list | restore <file>` (rollout: daily logical backup;
 * assistant platform runbook: `restore_db.sh` with a readiness check). SQLite only: PostgreSQL
 * uses pg_dump / pg_restore (docs/ops-health.md).
 */
import { Backup, Migrations } from "@airlock/adapters-storage"
import { Args, Command, Options } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { Config, Console, Effect } from "effect"
import { dirname, join } from "node:path"
import * as Storage from "../../server/Storage.js"
import * as R from "../Runtime.js"

/** The reference server's backup settings (AIRLOCK_BACKUP_DIR, AIRLOCK_BACKUP_GZIP, AIRLOCK_BACKUP_RETENTION). */
const settings = (choice: Storage.StorageChoice) =>
  Effect.gen(function*() {
    const directory = yield* Config.string("AIRLOCK_BACKUP_DIR").pipe(
      Config.withDefault(join(dirname(choice.filename), "backups"))
    )
    const gzip = yield* Config.boolean("AIRLOCK_BACKUP_GZIP").pipe(Config.withDefault(true))
    const retention = yield* Config.integer("AIRLOCK_BACKUP_RETENTION").pipe(
      Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
      Config.withDefault(7)
    )
    return { directory: R.resolvePath(directory), gzip, retention }
  })

const sqliteOnly = (choice: Storage.StorageChoice) =>
  choice.postgresUrl === null ? Effect.void : Effect.zipRight(
    Console.error(
      `${R.red("error")} backup.postgres: PostgreSQL is backed up with pg_dump --format=custom and restored with ` +
        "pg_restore (docs/ops-health.md)"
    ),
    R.exit(R.ExitCode.usage)
  )

/** `airlock backup create [--gzip | --no-gzip]`. */
const create = Command.make(
  "create",
  {
    gzip: Options.boolean("gzip").pipe(Options.withDescription("Compress (default AIRLOCK_BACKUP_GZIP, true)")),
    noGzip: Options.boolean("no-gzip").pipe(Options.withDescription("Do not compress")),
    json: R.json
  },
  ({ gzip, json, noGzip }) =>
    R.run(Effect.gen(function*() {
      const choice = yield* R.storage
      yield* sqliteOnly(choice)
      const s = yield* settings(choice)
      const info = yield* R.withSpinner(
        "backing up",
        Backup.backup({
          filename: choice.filename,
          directory: s.directory,
          gzip: gzip ? true : noGzip ? false : s.gzip,
          retention: s.retention
        })
      )
      if (json) return yield* R.printJson(info)
      yield* R.line(`${R.ok} backup ${info.path} (${info.bytes} bytes${info.gzip ? ", gzip" : ""})`)
      yield* R.line(R.dim(`   keeping the newest ${s.retention} in ${s.directory}`))
    }))
).pipe(Command.withDescription(R.help(
  "Takes an online, consistent backup of the SQLite database (safe while the server runs) into " +
    "AIRLOCK_BACKUP_DIR (default backups/ beside the database), keeping the newest AIRLOCK_BACKUP_RETENTION.",
  "airlock backup create --gzip"
)))

/** `airlock backup list`. */
const list = Command.make("list", { json: R.json }, ({ json }) =>
  R.run(Effect.gen(function*() {
    const choice = yield* R.storage
    yield* sqliteOnly(choice)
    const s = yield* settings(choice)
    const backups = yield* Backup.list(s.directory)
    if (json) return yield* R.printJson({ directory: s.directory, backups })
    yield* R.line(`${backups.length} backup(s) in ${s.directory}`)
    for (const b of backups) yield* R.line(`  ${b.name}  ${b.bytes} bytes  ${new Date(b.created_at).toISOString()}`)
  }))).pipe(Command.withDescription(R.help("Lists the backups, newest first.", "airlock backup list --json")))

/** `airlock backup restore <file>`. */
const restore = Command.make(
  "restore",
  {
    file: Args.text({ name: "file" }).pipe(Args.withDescription("A backup: airlock-<time>.db or .db.gz")),
    json: R.json
  },
  ({ file, json }) =>
    R.run(Effect.gen(function*() {
      const choice = yield* R.storage
      yield* sqliteOnly(choice)
      const report = yield* R.withSpinner(
        "restoring",
        Backup.restore({ from: R.resolvePath(file), filename: choice.filename })
      ).pipe(
        // nothing was replaced: the backup is unreadable or fails its integrity check
        Effect.catchTag("StorageError", (e) =>
          Effect.zipRight(
            json
              ? R.printJson({ error: { code: e.code, message: e.message, details: e.details ?? {} } })
              : Console.error(`${R.red("error")} ${e.code}: ${e.message} (nothing was replaced)`),
            R.exit(R.ExitCode.checkFailed)
          ))
      )
      // the readiness check of the restored store: it opens, answers, and its migrations are at head
      const ready = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT 1`
        return yield* Migrations.status
      }).pipe(Effect.provide(Storage.layer(choice)), Effect.either)
      const readiness = ready._tag === "Right"
        ? { ready: ready.right.atHead, migrations: { current: ready.right.current, head: ready.right.head } }
        : { ready: false, error: String((ready.left as { message?: unknown }).message ?? ready.left) }
      if (json) {
        yield* R.printJson({ ...report, readiness })
      } else {
        yield* R.line(`${R.ok} restored ${choice.filename} from ${report.restored_from}`)
        if (report.previous !== null) yield* R.line(`   previous database kept as ${report.previous}`)
        yield* R.line(readiness.ready ? `${R.ok} ready` : `${R.fail} not ready: ${JSON.stringify(readiness)}`)
      }
      if (!readiness.ready) return yield* R.exit(R.ExitCode.checkFailed)
    }))
).pipe(Command.withDescription(R.help(
  "Restores a backup into the stopped SQLite store: refuses a file that fails its integrity check (nothing " +
    "replaced), keeps the current database aside, runs the migrations, then checks readiness. Stop the server " +
    "first.",
  "airlock backup restore backups/airlock-20261204T020000000Z.db.gz"
)))

/** `airlock backup`. */
export const backup = Command.make("backup").pipe(
  Command.withDescription(R.help("SQLite backups and restore.", "airlock backup create")),
  Command.withSubcommands([create, list, restore])
)

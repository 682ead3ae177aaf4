/**
 * One better-sqlite3 handle behind one lock, serving both the stores' fast statement path
 * ({@link Db}) and an `@effect/sql` `SqlClient` (migrations, host queries, test probes).
 *
 * Both paths share the handle, the prepared-statement cache and the lock, and they agree on
 * what "inside a transaction" means: the `SqlClient.TransactionConnection` service carrying
 * this handle's connection. So a host's `sql.withTransaction` can wrap store calls, and store
 * transactions can run host statements, on the same connection.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqlStatement from "@effect/sql/Statement"
import Database from "better-sqlite3"
import { Context, Effect, Exit, Layer, Runtime, type Scope } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import { type Db, driverError, makeCompiler, makeDb, type Row, SqlDb } from "./db.js"

/** Options of the SQLite handle. */
export interface SqliteHandleOptions {
  /** Database file, or `:memory:`. */
  readonly filename: string
  /** Prepared statements kept per path, the stores' and the client's (oldest evicted first); default 500. */
  readonly statementCacheSize?: number
  /**
   * How often a worker thread checkpoints the WAL into the database file, in milliseconds
   * (default 100). `null` leaves it to SQLite's automatic checkpoint, which runs inside a
   * commit on the event loop and blocks it for the checkpoint's fsyncs (tens of milliseconds
   * on ordinary disks). Ignored for `:memory:`.
   */
  readonly checkpointIntervalMs?: number | null
}

/** Above this many WAL pages the committing connection checkpoints itself (a backstop). */
const BACKSTOP_PAGES = 20_000

// Runs in a worker thread (CommonJS): its own connection, PASSIVE checkpoints, which never
// wait on or block the writer.
const CHECKPOINTER = `
const { workerData, parentPort } = require("node:worker_threads")
const Database = require(workerData.module)
const db = new Database(workerData.filename)
db.pragma("busy_timeout = 1000")
const tick = () => { try { db.pragma("wal_checkpoint(PASSIVE)") } catch (e) { parentPort.postMessage(String(e && e.message)) } }
const timer = setInterval(tick, workerData.intervalMs)
parentPort.on("message", (m) => { if (m === "stop") { clearInterval(timer); db.close(); process.exit(0) } })
`

/**
 * Starts the background checkpointer of a WAL database file; stopped with the scope. A failing
 * worker (it could not open the file, a checkpoint errored) is logged as a warning; the backstop
 * threshold then keeps the WAL bounded.
 */
export const checkpointer = (filename: string, intervalMs: number) =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) => {
    const warn = (message: string) =>
      Runtime.runFork(runtime)(Effect.logWarning(`sqlite checkpointer (${filename}): ${message}`))
    return Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(CHECKPOINTER, {
          eval: true,
          workerData: { module: createRequire(import.meta.url).resolve("better-sqlite3"), filename, intervalMs }
        })
        const state = { worker, exited: false }
        worker.on("message", (m) => warn(String(m)))
        worker.on("error", (e) => warn(e.message))
        worker.on("exit", () => {
          state.exited = true
        })
        worker.unref()
        return state
      }),
      (state) =>
        state.exited ? Effect.void : Effect.promise(() =>
          new Promise<void>((resolve) => {
            state.worker.once("exit", () => resolve())
            // keeps the event loop alive until the worker has closed its connection
            state.worker.ref()
            state.worker.postMessage("stop")
          })
        )
    )
  })

const EMPTY: ReadonlyArray<Row> = []
const NO_PARAMS: ReadonlyArray<unknown> = []

/** better-sqlite3 binds numbers, strings, bigints, buffers and null; map the rest. */
const bindable = (params: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  for (let i = 0; i < params.length; i++) {
    const p = params[i]
    if (p === undefined || typeof p === "boolean") {
      return params.map((x) => (x === undefined ? null : typeof x === "boolean" ? (x ? 1 : 0) : x))
    }
  }
  return params
}

/** Opens the handle and builds the client and the fast path on it; closed with the scope. */
export const make = (
  options: SqliteHandleOptions
): Effect.Effect<
  { readonly client: SqliteClient.SqliteClient; readonly db: Db },
  SqlError,
  Scope.Scope | Reactivity.Reactivity
> =>
  Effect.gen(function*() {
    const handle = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const h = new Database(options.filename)
          if (options.filename !== ":memory:") {
            h.pragma("journal_mode = WAL")
            if (options.checkpointIntervalMs !== null) h.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`)
          }
          h.pragma("foreign_keys = ON")
          h.pragma("busy_timeout = 5000")
          h.pragma("synchronous = NORMAL")
          return h
        },
        catch: (cause) => driverError(cause, `Failed to open SQLite database ${options.filename}`)
      }),
      (h) => Effect.sync(() => h.close())
    )
    const interval = options.checkpointIntervalMs === undefined ? 100 : options.checkpointIntervalMs
    if (options.filename !== ":memory:" && interval !== null) yield* checkpointer(options.filename, interval)
    const capacity = options.statementCacheSize ?? 500
    const statements = new Map<string, Database.Statement>()
    const prepare = (text: string): Database.Statement => {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = handle.prepare(text)
        if (statements.size >= capacity) statements.delete(statements.keys().next().value!)
        statements.set(text, statement)
      }
      return statement
    }
    /**
     * Runs one statement synchronously: rows for readers (incl. RETURNING), none otherwise.
     * Integers come back as numbers unless `safeIntegers` (a host's `SqlClient.SafeIntegers`);
     * the flag is set on every read, as statements are shared between the two paths.
     */
    const run = (text: string, params: ReadonlyArray<unknown>, safeIntegers = false): ReadonlyArray<Row> => {
      const statement = prepare(text)
      if (statement.reader) return statement.safeIntegers(safeIntegers).all(...bindable(params)) as ReadonlyArray<Row>
      statement.run(...bindable(params))
      return EMPTY
    }
    // The stores' path reads rows as arrays and names them here: better-sqlite3 builds row
    // objects property by property through the engine's API, about a third slower than this.
    // Separate statements from the client path's, whose row objects hosts may rely on. The names
    // are read when the statement is prepared: the stores list their columns (a schema change
    // cannot reshape such rows), and a row whose width no longer matches (a `SELECT *` after a
    // column was added or dropped) makes them be read again.
    const arrayStatements = new Map<
      string,
      { readonly statement: Database.Statement; columns: ReadonlyArray<string> | null }
    >()
    const columnsOf = (statement: Database.Statement) => statement.columns().map((c) => c.name)
    const prepareArrays = (text: string) => {
      let entry = arrayStatements.get(text)
      if (entry === undefined) {
        const statement = handle.prepare(text)
        const columns = statement.reader ? columnsOf(statement) : null
        if (columns !== null) statement.raw(true)
        entry = { statement, columns }
        if (arrayStatements.size >= capacity) arrayStatements.delete(arrayStatements.keys().next().value!)
        arrayStatements.set(text, entry)
      }
      return entry
    }
    const runNamed = (text: string, params: ReadonlyArray<unknown>): ReadonlyArray<Row> => {
      const entry = prepareArrays(text)
      const statement = entry.statement
      let columns = entry.columns
      if (columns === null) {
        statement.run(...bindable(params))
        return EMPTY
      }
      const values = statement.all(...bindable(params)) as Array<ReadonlyArray<unknown>>
      if (values.length > 0 && values[0]!.length !== columns.length) columns = entry.columns = columnsOf(statement)
      const rows = new Array<Row>(values.length)
      for (let r = 0; r < values.length; r++) {
        const v = values[r]!
        const row: Row = {}
        for (let i = 0; i < columns.length; i++) row[columns[i]!] = v[i]
        rows[r] = row
      }
      return rows
    }
    const attempt = (text: string, params: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<Row>, SqlError> => {
      try {
        return Effect.succeed(run(text, params))
      } catch (cause) {
        return Effect.fail(driverError(cause))
      }
    }

    // One writer at a time on the handle. `held` mirrors the permit so that a lone statement can
    // skip the semaphore when nobody holds it: it runs synchronously, so nothing can interleave.
    const semaphore = yield* Effect.makeSemaphore(1)
    let held = false
    // the flag is set in the same uninterruptible step as the permit is taken
    const take = Effect.uninterruptibleMask((restore) =>
      Effect.map(restore(semaphore.take(1)), () => {
        held = true
      })
    )
    const release = Effect.suspend(() => {
      held = false
      return semaphore.release(1)
    })
    const exclusively = <A, E>(self: Effect.Effect<A, E>) => Effect.acquireUseRelease(take, () => self, () => release)
    const TX = SqlClient.TransactionConnection

    const connection: Connection = {
      execute: (text, params, transformRows) =>
        Effect.withFiberRuntime((fiber) => {
          try {
            const rows = run(text, params, Context.get(fiber.currentContext, SqlClient.SafeIntegers)) as ReadonlyArray<
              any
            >
            return Effect.succeed(transformRows ? transformRows(rows) : rows)
          } catch (cause) {
            return Effect.fail(driverError(cause))
          }
        }),
      executeRaw: (text, params) =>
        Effect.try({
          try: () => {
            const statement = prepare(text)
            return statement.reader ? statement.all(...bindable(params)) : statement.run(...bindable(params))
          },
          catch: (cause) => driverError(cause)
        }),
      executeValues: (text, params) =>
        Effect.try({
          try: () => {
            const statement = prepare(text)
            if (!statement.reader) {
              statement.run(...bindable(params))
              return []
            }
            statement.raw(true)
            try {
              return statement.all(...bindable(params)) as ReadonlyArray<ReadonlyArray<unknown>>
            } finally {
              statement.raw(false)
            }
          },
          catch: (cause) => driverError(cause)
        }),
      executeUnprepared: (text, params, transformRows) =>
        Effect.try({
          try: () => {
            const statement = handle.prepare(text)
            const rows = statement.reader
              ? (statement.all(...bindable(params ?? [])) as ReadonlyArray<any>)
              : (statement.run(...bindable(params ?? [])), [])
            return transformRows ? transformRows(rows) : rows
          },
          catch: (cause) => driverError(cause)
        }),
      executeStream: () => Effect.dieMessage("executeStream is not supported on SQLite") as never
    }

    // The permit is held until the statement's (or the transaction's) scope closes.
    const acquirer = Effect.as(Effect.acquireRelease(take, () => release), connection)
    const client = yield* SqlClient.make({
      acquirer,
      transactionAcquirer: acquirer,
      compiler: SqlStatement.makeCompilerSqlite(),
      spanAttributes: [["db.system.name", "sqlite"]],
      beginTransaction: "BEGIN IMMEDIATE"
    })
    const sqliteClient = Object.assign(client, {
      [SqliteClient.TypeId]: SqliteClient.TypeId,
      config: { filename: options.filename },
      export: exclusively(
        Effect.try({ try: () => handle.serialize(), catch: (cause) => driverError(cause, "Failed to export database") })
      ),
      backup: (destination: string) =>
        exclusively(Effect.tryPromise({
          try: () => handle.backup(destination),
          catch: (cause) => driverError(cause, "Failed to backup database")
        })),
      loadExtension: (path: string) =>
        exclusively(Effect.try({
          try: () => void handle.loadExtension(path),
          catch: (cause) => driverError(cause, "Failed to load extension")
        }))
    }) as unknown as SqliteClient.SqliteClient

    /** Is the running fiber inside a transaction on this handle? */
    const depthIn = (context: Context.Context<never>): number => {
      const tx = Context.getOption(context, TX)
      return tx._tag === "Some" && tx.value[0] === connection ? tx.value[1] : -1
    }

    const compile = makeCompiler("sqlite")
    const execute = (strings: ReadonlyArray<string>, values: ReadonlyArray<unknown>) =>
      Effect.withFiberRuntime<ReadonlyArray<Row>, SqlError>((fiber) => {
        const { params, text } = compile(strings, values)
        return !held || depthIn(fiber.currentContext) >= 0
          ? attempt(text, params)
          : exclusively(Effect.suspend(() => attempt(text, params)))
      })

    const query = <A, E>(
      strings: ReadonlyArray<string>,
      values: ReadonlyArray<unknown>,
      onRows: (rows: ReadonlyArray<Row>) => A,
      onError: (error: SqlError) => E
    ): Effect.Effect<A, E> =>
      Effect.withFiberRuntime<A, E>((fiber) => {
        const { params, text } = compile(strings, values)
        if (held && depthIn(fiber.currentContext) < 0) {
          return Effect.mapBoth(
            exclusively(Effect.suspend(() => attempt(text, params))),
            { onSuccess: onRows, onFailure: onError }
          )
        }
        let rows: ReadonlyArray<Row>
        try {
          rows = runNamed(text, params)
        } catch (cause) {
          return Exit.fail(onError(driverError(cause)))
        }
        return Exit.succeed(onRows(rows))
      })

    const exec = (text: string): Effect.Effect<void, SqlError> => Effect.asVoid(attempt(text, NO_PARAMS))

    /** Undoes what is open after a failure; the original outcome is kept. */
    const rollbackQuietly = (text: string) =>
      Effect.sync(() => {
        try {
          if (handle.inTransaction) { for (const statement of text.split("; ")) run(statement, NO_PARAMS) }
        } catch {
          // the handle already ended the transaction (e.g. SQLITE_FULL); nothing left to undo
        }
      })

    const withTransaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      Effect.withFiberRuntime<A, E | SqlError, R>((fiber) => {
        const depth = depthIn(fiber.currentContext)
        if (depth >= 0) {
          const name = `airlock_sp_${depth + 1}`
          return Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(exec(`SAVEPOINT ${name}`), () =>
              Effect.flatMap(Effect.exit(restore(Effect.provideService(self, TX, [connection, depth + 1]))), (exit) =>
                Exit.isSuccess(exit)
                  ? Effect.zipRight(exec(`RELEASE ${name}`), exit)
                  : Effect.zipRight(rollbackQuietly(`ROLLBACK TO ${name}; RELEASE ${name}`), exit)))
          )
        }
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(take), () =>
            Effect.ensuring(
              Effect.flatMap(exec("BEGIN IMMEDIATE"), () =>
                Effect.flatMap(Effect.exit(restore(Effect.provideService(self, TX, [connection, 0]))), (exit) =>
                  Exit.isSuccess(exit)
                    ? Effect.catchAll(Effect.zipRight(exec("COMMIT"), exit), (e) =>
                      Effect.zipRight(rollbackQuietly("ROLLBACK"), Effect.fail(e)))
                    : Effect.zipRight(rollbackQuietly("ROLLBACK"), exit))),
              release
            ))
        )
      })

    return { client: sqliteClient, db: makeDb({ dialect: "sqlite", execute, query, withTransaction }) }
  })

/** The handle as a layer: `SqliteClient`, `SqlClient` and the stores' {@link SqlDb}. */
export const layer = (
  options: SqliteHandleOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient | SqlDb, SqlError> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ client, db }) =>
      Context.make(SqliteClient.SqliteClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(SqlDb, db)
      ))
  ).pipe(Layer.provide(Reactivity.layer))

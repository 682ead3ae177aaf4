/**
 * The in-memory database behind every memory adapter: plain `Map` tables, one writer lock, and
 * an undo log so a transaction that fails leaves nothing behind (the same guarantee the SQL
 * adapters give). Reads never wait; writes outside a transaction take the lock for one step.
 */
import { UnitOfWork } from "@airlock/core"
import { Context, Effect, FiberRef, Layer } from "effect"

/** One table: rows by key, with every write recorded in the active transaction's undo log. */
export interface MemoryTable<Row> {
  readonly get: (key: string) => Row | undefined
  readonly has: (key: string) => boolean
  readonly set: (key: string, row: Row) => void
  readonly delete: (key: string) => void
  readonly values: () => IterableIterator<Row>
  readonly size: () => number
  /** The live map, for tests that tamper with stored rows. */
  readonly raw: Map<string, Row>
}

/** The database: named tables, lock and undo log. */
export interface MemoryDatabaseShape {
  readonly table: <Row>(name: string) => MemoryTable<Row>
  /** Runs `self` atomically: all of its writes survive, or none do. Nested calls act as savepoints. */
  readonly transaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs a synchronous write step under the writer lock (joined when already in a transaction). */
  readonly write: <A>(f: () => A) => Effect.Effect<A>
  /** Is the current fiber inside a transaction? */
  readonly inTransaction: Effect.Effect<boolean>
  /** Names of the tables, for export and delete of a tenant's data. */
  readonly tableNames: () => ReadonlyArray<string>
}

/** The in-memory database service. */
export class MemoryDatabase extends Context.Tag("@airlock/adapters-storage/MemoryDatabase")<
  MemoryDatabase,
  MemoryDatabaseShape
>() {}

/** Makes an empty database. */
export const make: Effect.Effect<MemoryDatabaseShape> = Effect.gen(function*() {
  const tables = new Map<string, MemoryTable<unknown>>()
  const lock = yield* Effect.makeSemaphore(1)
  const inTx = FiberRef.unsafeMake(false)
  let undo: Array<() => void> = []

  const record = (f: () => void) => {
    undo.push(f)
  }

  const table = <Row>(name: string): MemoryTable<Row> => {
    const existing = tables.get(name)
    if (existing) return existing as MemoryTable<Row>
    const rows = new Map<string, Row>()
    const t: MemoryTable<Row> = {
      get: (key) => rows.get(key),
      has: (key) => rows.has(key),
      set: (key, row) => {
        if (rows.has(key)) {
          const before = rows.get(key)!
          record(() => void rows.set(key, before))
        } else {
          record(() => void rows.delete(key))
        }
        rows.set(key, row)
      },
      delete: (key) => {
        if (!rows.has(key)) return
        const before = rows.get(key)!
        record(() => void rows.set(key, before))
        rows.delete(key)
      },
      values: () => rows.values(),
      size: () => rows.size,
      raw: rows
    }
    tables.set(name, t as MemoryTable<unknown>)
    return t
  }

  const rollbackTo = (mark: number) => {
    while (undo.length > mark) undo.pop()!()
  }

  const transaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(inTx), (nested) =>
      nested
        ? Effect.suspend(() => {
          const mark = undo.length
          return Effect.onExit(self, (exit) => (exit._tag === "Failure" ? Effect.sync(() => rollbackTo(mark)) : Effect.void))
        })
        : lock.withPermits(1)(
          Effect.suspend(() => {
            undo = []
            return self.pipe(
              Effect.locally(inTx, true),
              Effect.onExit((exit) =>
                Effect.sync(() => {
                  if (exit._tag === "Failure") rollbackTo(0)
                  undo = []
                })
              )
            )
          })
        ))

  const write = <A>(f: () => A): Effect.Effect<A> =>
    Effect.flatMap(FiberRef.get(inTx), (nested) =>
      nested
        ? Effect.sync(f)
        : lock.withPermits(1)(Effect.sync(() => {
          try {
            return f()
          } finally {
            undo = []
          }
        })))

  return {
    table,
    transaction,
    write,
    inTransaction: FiberRef.get(inTx),
    tableNames: () => [...tables.keys()]
  }
})

/** A fresh database for each use of the layer. */
export const layer: Layer.Layer<MemoryDatabase> = Layer.effect(MemoryDatabase, make)

/** The unit of work on top of the memory database. */
export const layerUnitOfWork: Layer.Layer<UnitOfWork.UnitOfWork, never, MemoryDatabase> = Layer.effect(
  UnitOfWork.UnitOfWork,
  Effect.map(MemoryDatabase, (db) => ({ transaction: db.transaction }))
)

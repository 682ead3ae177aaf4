/**
 * The in-memory database behind every memory adapter: plain `Map` tables, one writer lock, and
 * an undo log so a transaction that fails leaves nothing behind (the same guarantee the SQL
 * adapters give). Outside a transaction, reads and writes are single synchronous steps that
 * wait only while another fiber's transaction holds the lock.
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
  /**
   * Runs a synchronous read. It waits while another fiber's transaction is open, so readers
   * never see uncommitted writes (read committed, as on the SQL adapters).
   */
  readonly read: <A>(f: () => A) => Effect.Effect<A>
  /** Is the current fiber inside a transaction? */
  readonly inTransaction: Effect.Effect<boolean>
  /**
   * Records how to undo an in-place change of a structure kept beside the tables (a sorted
   * index, a running total); it runs if the surrounding transaction fails. Call it only from
   * inside `write` (or a transaction), right after making the change.
   */
  readonly onRollback: (undo: () => void) => void
  /** Names of the tables, for export and delete of a tenant's data. */
  readonly tableNames: () => ReadonlyArray<string>
}

/** The in-memory database service. */
export class MemoryDatabase extends Context.Tag("@airlock/adapters-storage/MemoryDatabase")<
  MemoryDatabase,
  MemoryDatabaseShape
>() {}

/** Makes an empty database. */
export const make: Effect.Effect<MemoryDatabaseShape> = Effect.sync((): MemoryDatabaseShape => {
  const tables = new Map<string, MemoryTable<unknown>>()
  const inTx = FiberRef.unsafeMake(false)
  let undo: Array<() => void> = []
  // only a transaction can roll back: writes outside one record no undo steps (no closures to
  // allocate on the hot path)
  let recording = false

  // A single-owner mutex: FIFO when contended. Waiting is uninterruptible, which is fine for
  // the short critical sections here. The fiber flag `inTx` (inherited by forked children)
  // says whether the current fiber already holds it.
  let locked = false
  const waiters: Array<() => void> = []
  const acquire = Effect.suspend(() => {
    if (!locked) {
      locked = true
      return Effect.void
    }
    return Effect.async<void>((resume) => {
      waiters.push(() => resume(Effect.void))
    })
  })
  const release = () => {
    const next = waiters.shift()
    if (next) next()
    else locked = false
  }

  const record = (f: () => void) => {
    if (recording) undo.push(f)
  }

  const table = <Row>(name: string): MemoryTable<Row> => {
    const existing = tables.get(name)
    if (existing) return existing as MemoryTable<Row>
    const rows = new Map<string, Row>()
    const t: MemoryTable<Row> = {
      get: (key) => rows.get(key),
      has: (key) => rows.has(key),
      set: (key, row) => {
        if (recording) {
          if (rows.has(key)) {
            const before = rows.get(key)!
            record(() => void rows.set(key, before))
          } else {
            record(() => void rows.delete(key))
          }
        }
        rows.set(key, row)
      },
      delete: (key) => {
        if (!rows.has(key)) return
        if (recording) {
          const before = rows.get(key)!
          record(() => void rows.set(key, before))
        }
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

  const savepoint = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const mark = undo.length
      return Effect.onExit(self, (exit) => (exit._tag === "Failure" ? Effect.sync(() => rollbackTo(mark)) : Effect.void))
    })

  const outermost = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        acquire,
        Effect.suspend(() => {
          undo = []
          recording = true
          return Effect.zipRight(
            FiberRef.set(inTx, true),
            Effect.onExit(restore(self), (exit) =>
              Effect.zipRight(
                FiberRef.set(inTx, false),
                Effect.sync(() => {
                  if (exit._tag === "Failure") rollbackTo(0)
                  undo = []
                  recording = false
                  release()
                })
              ))
          )
        })
      )
    )

  const transaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(inTx), (nested) => (nested ? savepoint(self) : outermost(self)))

  const runWrite = <A>(f: () => A): A => {
    try {
      return f()
    } finally {
      undo = []
    }
  }

  // One synchronous step outside a transaction. When nothing holds the lock it runs at once (on
  // one JS thread it cannot interleave with anything); inside the fiber's own transaction it
  // joins it; otherwise it waits for the transaction to end, so it never sees or mixes with
  // uncommitted writes. `outside` is what runs when the step is not part of a transaction.
  const step = <A>(inside: () => A, outside: () => A): Effect.Effect<A> =>
    Effect.suspend(() =>
      !locked
        ? Effect.sync(outside)
        : Effect.flatMap(FiberRef.get(inTx), (nested) =>
          nested
            ? Effect.sync(inside)
            : Effect.uninterruptibleMask(() =>
              Effect.zipRight(acquire, Effect.sync(() => {
                try {
                  return outside()
                } finally {
                  release()
                }
              }))
            ))
    )

  const read = <A>(f: () => A): Effect.Effect<A> => step(f, f)

  const write = <A>(f: () => A): Effect.Effect<A> => step(f, () => runWrite(f))

  return {
    table,
    transaction,
    write,
    read,
    inTransaction: FiberRef.get(inTx),
    onRollback: record,
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

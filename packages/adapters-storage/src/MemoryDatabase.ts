/**
 * The in-memory database behind every memory adapter: plain `Map` tables, one writer lock, and
 * an undo log so a transaction that fails leaves nothing behind (the same guarantee the SQL
 * adapters give). Outside a transaction, reads and writes are single synchronous steps that
 * wait only while another fiber's transaction holds the lock.
 */
import { UnitOfWork } from "@airlock/core"
import { Context, Effect, Exit, FiberRef, Layer } from "effect"

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

/**
 * A table keyed by (scope, key) — a tenant and an id, most often — kept as one map per scope.
 * Lookups hash the two parts separately, and both usually are strings already hashed (ids held
 * by records), where a composite `tenant + id` key would be a fresh string hashed on every
 * lookup: several times slower on tables of many rows.
 */
export interface ScopedTable<Row> {
  readonly get: (scope: string, key: string | number) => Row | undefined
  readonly has: (scope: string, key: string | number) => boolean
  readonly set: (scope: string, key: string | number, row: Row) => void
  readonly delete: (scope: string, key: string | number) => void
  /** The rows of one scope (a live view: read, do not keep). */
  readonly inScope: (scope: string) => IterableIterator<Row>
  /** Every row of every scope. */
  readonly values: () => IterableIterator<Row>
  /** The scopes that hold rows (or held some). */
  readonly scopes: () => IterableIterator<string>
  /** Deletes every row of a scope (recorded in the undo log); returns how many there were. */
  readonly clearScope: (scope: string) => number
}

/** The database: named tables, lock and undo log. */
export interface MemoryDatabaseShape {
  /** The table of that name, made on first use. A name is either a plain or a scoped table: asking for the other kind throws. */
  readonly table: <Row>(name: string) => MemoryTable<Row>
  /** The scoped table of that name, made on first use (see {@link table}). */
  readonly scoped: <Row>(name: string) => ScopedTable<Row>
  /** Runs `self` atomically: all of its writes survive, or none do. Nested calls act as savepoints. */
  readonly transaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs a synchronous write step under the writer lock (joined when already in a transaction). */
  readonly write: <A>(f: () => A) => Effect.Effect<A>
  /**
   * `write` for a step that decides its own outcome: `f` runs synchronously under the writer
   * lock and returns an already-completed effect (`Effect.fail(...)`, `Effect.succeed(...)`).
   */
  readonly writeEffect: <A, E>(f: () => Effect.Effect<A, E>) => Effect.Effect<A, E>
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
  /**
   * Registers what to drop from a structure kept beside the tables (a sorted index, running
   * totals) when a tenant's data is removed; the handler records its own undo (`onRollback`).
   */
  readonly onTenantRemoved: (handler: (tenant: string) => void) => void
  /** Runs the handlers registered with {@link onTenantRemoved} (inside a transaction). */
  readonly tenantRemoved: (tenant: string) => void
}

/** The in-memory database service. */
export class MemoryDatabase extends Context.Tag("@airlock/adapters-storage/MemoryDatabase")<
  MemoryDatabase,
  MemoryDatabaseShape
>() {}

// the undo log's marker for "the key was absent before the write"
const ABSENT: unknown = Symbol("absent")

/** Makes an empty database. */
export const make: Effect.Effect<MemoryDatabaseShape> = Effect.sync((): MemoryDatabaseShape => {
  const tables = new Map<string, MemoryTable<unknown>>()
  const scopedTables = new Map<string, ScopedTable<unknown>>()
  const inTx = FiberRef.unsafeMake(false)
  // The undo log as flat triples — (map, key, previous row or ABSENT), or (undo function, null,
  // null) for `onRollback` — so a write inside a transaction allocates no closure. Only a
  // transaction can roll back: writes outside one record nothing.
  let undo: Array<unknown> = []
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
    if (recording) undo.push(f, null, null)
  }

  // one name, one kind: a name asked for as both would silently be two tables
  const kindClash = (name: string, kind: string) => new Error(`memory table ${name} is already a ${kind} table`)

  /** Writes a row into a table's map, recorded in the undo log inside a transaction. */
  const setIn = <K, Row>(rows: Map<K, Row>, key: K, row: Row) => {
    if (!recording) {
      rows.set(key, row)
      return
    }
    // whether the key was there shows in the size: one lookup fewer than `has`
    const before = rows.get(key)
    const size = rows.size
    rows.set(key, row)
    undo.push(rows, key, rows.size > size ? ABSENT : before)
  }

  /** Deletes a row from a table's map, recorded in the undo log inside a transaction. */
  const deleteIn = <K, Row>(rows: Map<K, Row>, key: K) => {
    if (!rows.has(key)) return
    if (recording) undo.push(rows, key, rows.get(key))
    rows.delete(key)
  }

  const table = <Row>(name: string): MemoryTable<Row> => {
    const existing = tables.get(name)
    if (existing) return existing as MemoryTable<Row>
    if (scopedTables.has(name)) throw kindClash(name, "scoped")
    const rows = new Map<string, Row>()
    const t: MemoryTable<Row> = {
      get: (key) => rows.get(key),
      has: (key) => rows.has(key),
      set: (key, row) => setIn(rows, key, row),
      delete: (key) => deleteIn(rows, key),
      values: () => rows.values(),
      size: () => rows.size,
      raw: rows
    }
    tables.set(name, t as MemoryTable<unknown>)
    return t
  }

  const EMPTY_SCOPE = new Map<string | number, never>()
  const scoped = <Row>(name: string): ScopedTable<Row> => {
    const existing = scopedTables.get(name)
    if (existing) return existing as ScopedTable<Row>
    if (tables.has(name)) throw kindClash(name, "plain")
    const scopes = new Map<string, Map<string | number, Row>>()
    const rowsOf = (scope: string) => {
      let rows = scopes.get(scope)
      if (rows === undefined) scopes.set(scope, rows = new Map())
      return rows
    }
    const t: ScopedTable<Row> = {
      get: (scope, key) => scopes.get(scope)?.get(key),
      has: (scope, key) => scopes.get(scope)?.has(key) ?? false,
      set: (scope, key, row) => setIn(rowsOf(scope), key, row),
      delete: (scope, key) => {
        const rows = scopes.get(scope)
        if (rows !== undefined) deleteIn(rows, key)
      },
      inScope: (scope) => (scopes.get(scope) ?? EMPTY_SCOPE).values(),
      *values() {
        for (const rows of scopes.values()) yield* rows.values()
      },
      scopes: () => scopes.keys(),
      clearScope: (scope) => {
        const rows = scopes.get(scope)
        if (rows === undefined) return 0
        const keys = [...rows.keys()]
        for (const key of keys) deleteIn(rows, key)
        return keys.length
      }
    }
    scopedTables.set(name, t as ScopedTable<unknown>)
    return t
  }

  const rollbackTo = (mark: number) => {
    while (undo.length > mark) {
      const before = undo.pop()
      const key = undo.pop()
      const target = undo.pop()
      if (typeof target === "function") target()
      else if (before === ABSENT) (target as Map<unknown, unknown>).delete(key)
      else (target as Map<unknown, unknown>).set(key, before)
    }
  }

  // Plain steps below (no generators, no FiberRef effects): the transaction wraps every
  // governed apply, so each operation here is paid once per apply.
  const savepoint = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const mark = undo.length
    return Effect.matchCauseEffect(self, {
      onFailure: (cause) => {
        rollbackTo(mark)
        return Effect.failCause(cause)
      },
      onSuccess: Effect.succeed
    })
  }

  const outermost = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => {
      const begin = () => {
        undo = []
        recording = true
        const end = (failed: boolean) => {
          if (failed) rollbackTo(0)
          undo = []
          recording = false
          release()
        }
        return Effect.zipRight(
          FiberRef.set(inTx, true),
          Effect.matchCauseEffect(restore(self), {
            onFailure: (cause) => {
              end(true)
              return Effect.zipRight(FiberRef.set(inTx, false), Effect.failCause(cause))
            },
            onSuccess: (a) => {
              end(false)
              return Effect.as(FiberRef.set(inTx, false), a)
            }
          })
        )
      }
      if (!locked) {
        locked = true
        return begin()
      }
      return Effect.zipRight(acquire, Effect.suspend(begin))
    })

  const transaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => (fiber.getFiberRef(inTx) ? savepoint(self) : outermost(self)))

  const runWrite = <A>(f: () => A): A => {
    try {
      return f()
    } finally {
      if (undo.length > 0) undo = []
    }
  }

  // One synchronous step outside a transaction. When nothing holds the lock it runs at once (on
  // one JS thread it cannot interleave with anything); inside the fiber's own transaction it
  // joins it; otherwise it waits for the transaction to end, so it never sees or mixes with
  // uncommitted writes. `outside` is what runs when the step is not part of a transaction.
  const step = <A>(inside: () => A, outside: () => A): Effect.Effect<A> =>
    Effect.withFiberRuntime((fiber) => {
      if (!locked) return Exit.succeed(outside())
      if (fiber.getFiberRef(inTx)) return Exit.succeed(inside())
      return Effect.uninterruptibleMask(() =>
        Effect.zipRight(
          acquire,
          Effect.sync(() => {
            try {
              return outside()
            } finally {
              release()
            }
          })
        )
      )
    })

  const read = <A>(f: () => A): Effect.Effect<A> => step(f, f)

  const write = <A>(f: () => A): Effect.Effect<A> => step(f, () => runWrite(f))

  const writeEffect = <A, E>(f: () => Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.withFiberRuntime((fiber) => {
      if (!locked) return runWrite(f)
      if (fiber.getFiberRef(inTx)) return f()
      return Effect.flatten(step(f, () => runWrite(f)))
    })

  const removalHandlers: Array<(tenant: string) => void> = []

  return {
    table,
    scoped,
    transaction,
    write,
    writeEffect,
    read,
    inTransaction: FiberRef.get(inTx),
    onRollback: record,
    tableNames: () => [...tables.keys(), ...scopedTables.keys()],
    onTenantRemoved: (handler) => void removalHandlers.push(handler),
    tenantRemoved: (tenant) => {
      for (const handler of removalHandlers) handler(tenant)
    }
  }
})

/** A fresh database for each use of the layer. */
export const layer: Layer.Layer<MemoryDatabase> = Layer.effect(MemoryDatabase, make)

/** The unit of work on top of the memory database. */
export const layerUnitOfWork: Layer.Layer<UnitOfWork.UnitOfWork, never, MemoryDatabase> = Layer.effect(
  UnitOfWork.UnitOfWork,
  Effect.map(MemoryDatabase, (db) => ({ transaction: db.transaction }))
)

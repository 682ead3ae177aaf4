/**
 * The SQLite handle shared by the stores' statement path and `@effect/sql`'s client: both
 * paths see one transaction, one lock and one connection; failures roll back and release the
 * lock; the statement compiler inlines fragments and numbers placeholders per dialect.
 */
import { Sqlite } from "@airlock/adapters-storage"
import { Errors, Ids, Tenant, UnitOfWork } from "@airlock/core"
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Logger } from "effect"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeCompiler, makeDb } from "../src/internal/sql/db.js"
import { toJson } from "../src/internal/sql/dialect.js"
import * as Handle from "../src/internal/sql/sqlite.js"

const fresh = () => join(mkdtempSync(join(tmpdir(), "airlock-handle-")), "handle.db")

const tenant = (id: string) =>
  new Tenant.Tenant({ id: Ids.TenantId.make(id), name: id, ai_companion_enabled: true, created_at: 0 }, true)

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`)).pipe(
    Effect.map((rows) => Number(rows[0]!.n))
  )

describe("sqlite handle", () => {
  it.effect("a host's sql.withTransaction wraps store writes: a failure undoes both", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenants = yield* Tenant.TenantStore
      yield* sql`CREATE TABLE host_notes (id TEXT PRIMARY KEY)`
      const exit = yield* sql.withTransaction(
        Effect.gen(function*() {
          yield* sql`INSERT INTO host_notes (id) VALUES ('n1')`
          yield* tenants.insert(tenant("t_host"))
          return yield* Effect.fail("boom" as const)
        })
      ).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* count("host_notes")).toBe(0)
      expect(yield* count("core_tenants")).toBe(0)
      // and a successful one commits both
      yield* sql.withTransaction(
        Effect.zipRight(sql`INSERT INTO host_notes (id) VALUES ('n2')`, tenants.insert(tenant("t_host2")))
      )
      expect(yield* count("host_notes")).toBe(1)
      expect(yield* count("core_tenants")).toBe(1)
    }).pipe(Effect.provide(Sqlite.layer({ filename: ":memory:" }))))

  it.effect("a store transaction runs host statements on the same connection, and nested failures roll back to the savepoint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const uow = yield* UnitOfWork.UnitOfWork
      const tenants = yield* Tenant.TenantStore
      yield* sql`CREATE TABLE host_notes (id TEXT PRIMARY KEY)`
      yield* uow.transaction(
        Effect.gen(function*() {
          yield* tenants.insert(tenant("t_outer"))
          yield* sql`INSERT INTO host_notes (id) VALUES ('outer')`
          const inner = yield* uow.transaction(
            Effect.zipRight(sql`INSERT INTO host_notes (id) VALUES ('inner')`, Effect.fail("inner failed" as const))
          ).pipe(Effect.exit)
          expect(Exit.isFailure(inner)).toBe(true)
          // a host savepoint inside the store transaction commits with it
          yield* sql.withTransaction(sql`INSERT INTO host_notes (id) VALUES ('host_nested')`)
        })
      )
      const notes = yield* sql<{ id: string }>`SELECT id FROM host_notes ORDER BY id`
      expect(notes.map((r) => r.id)).toStrictEqual(["host_nested", "outer"])
      expect(yield* count("core_tenants")).toBe(1)
    }).pipe(Effect.provide(Sqlite.layer({ filename: ":memory:" }))))

  it.effect("a failing COMMIT rolls back, reports a storage error and releases the lock", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const uow = yield* UnitOfWork.UnitOfWork
      const tenants = yield* Tenant.TenantStore
      yield* sql`CREATE TABLE host_parent (id TEXT PRIMARY KEY)`
      yield* sql`CREATE TABLE host_child (id TEXT PRIMARY KEY,
                   parent TEXT REFERENCES host_parent (id) DEFERRABLE INITIALLY DEFERRED)`
      const exit = yield* uow.transaction(
        Effect.zipRight(
          tenants.insert(tenant("t_lost")),
          sql`INSERT INTO host_child (id, parent) VALUES ('c', 'missing')`
        )
      ).pipe(Effect.exit)
      expect(exit).toStrictEqual(Exit.fail(expect.any(Errors.StorageError)))
      expect(yield* count("core_tenants")).toBe(0)
      expect(yield* count("host_child")).toBe(0)
      // the lock was released: the next transaction commits
      yield* uow.transaction(tenants.insert(tenant("t_next")))
      expect(yield* count("core_tenants")).toBe(1)
    }).pipe(Effect.provide(Sqlite.layer({ filename: fresh() }))))

  it.effect("an interrupted transaction rolls back and releases the lock; other fibers wait for an open one", () =>
    Effect.gen(function*() {
      const uow = yield* UnitOfWork.UnitOfWork
      const tenants = yield* Tenant.TenantStore
      const inside = yield* Deferred.make<void>()
      const open = yield* uow.transaction(
        Effect.zipRight(
          tenants.insert(tenant("t_interrupted")),
          Effect.zipRight(Deferred.succeed(inside, undefined), Effect.never)
        )
      ).pipe(Effect.fork)
      yield* Deferred.await(inside)
      // a statement outside the transaction waits for the lock instead of reading into it
      const reader = yield* Effect.fork(tenants.list())
      yield* Effect.yieldNow()
      expect(reader.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(open)
      expect(yield* Fiber.join(reader)).toStrictEqual([])
      yield* uow.transaction(tenants.insert(tenant("t_after")))
      expect((yield* tenants.list()).map((t) => t.id)).toStrictEqual(["t_after"])
    }).pipe(Effect.provide(Sqlite.layer({ filename: fresh() }))))

  it.effect("a tiny statement cache evicts and re-prepares without changing results", () =>
    Effect.gen(function*() {
      const tenants = yield* Tenant.TenantStore
      for (const id of ["a", "b", "c"]) yield* tenants.insert(tenant(`t_${id}`))
      for (let i = 0; i < 3; i++) {
        expect((yield* tenants.list()).length).toBe(3)
        expect((yield* tenants.get(Ids.TenantId.make("t_b"))).pipe((o) => o._tag)).toBe("Some")
      }
    }).pipe(Effect.provide(Sqlite.layer({ filename: ":memory:", statementCacheSize: 1 }))))

  it.effect("driver errors surface as SqlError with the driver's code, and the handle closes with its scope", () =>
    Effect.gen(function*() {
      const { client, db } = yield* Handle.make({ filename: ":memory:" })
      yield* client`CREATE TABLE k (id TEXT PRIMARY KEY)`
      yield* db`INSERT INTO k (id) VALUES (${"x"})`
      const error = yield* Effect.flip(db`INSERT INTO k (id) VALUES (${"x"})`)
      expect(error._tag).toBe("SqlError")
      expect((error.cause as { code?: string }).code).toBe("SQLITE_CONSTRAINT_PRIMARYKEY")
      expect(yield* db`SELECT id FROM k WHERE id IN ${db.in(["x", "y"])}`).toStrictEqual([{ id: "x" }])
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("Statement.query names array rows like the client path, maps driver errors, and waits outside an open transaction", () =>
    Effect.gen(function*() {
      const { client, db } = yield* Handle.make({ filename: fresh() })
      yield* client`CREATE TABLE q (id TEXT PRIMARY KEY, n INTEGER, note TEXT)`
      yield* db`INSERT INTO q (id, n, note) VALUES (${"a"}, ${1}, ${null}), (${"b"}, ${2}, ${"x"})`
      const viaQuery = yield* db`SELECT id, n, note, n * 10 AS tenfold FROM q ORDER BY id`.query(
        (rows) => rows,
        (e) => e
      )
      const viaClient = yield* client`SELECT id, n, note, n * 10 AS tenfold FROM q ORDER BY id`
      expect(viaQuery).toStrictEqual([{ id: "a", n: 1, note: null, tenfold: 10 }, {
        id: "b",
        n: 2,
        note: "x",
        tenfold: 20
      }])
      expect(viaQuery).toStrictEqual(viaClient)
      // a writer returns no rows; RETURNING does
      expect(yield* db`UPDATE q SET n = n + 1 WHERE id = ${"a"}`.query((rows) => rows.length, (e) => e)).toBe(0)
      expect(yield* db`UPDATE q SET n = n + 1 WHERE id = ${"a"} RETURNING n`.query((rows) => rows, (e) => e))
        .toStrictEqual([{ n: 3 }])
      // the failure goes through onError, with the driver's code kept
      const failed = yield* Effect.flip(
        db`INSERT INTO q (id, n) VALUES (${"a"}, ${9})`.query(
          () => "inserted",
          (e) => ({ mapped: (e.cause as { code?: string }).code })
        )
      )
      expect(failed).toStrictEqual({ mapped: "SQLITE_CONSTRAINT_PRIMARYKEY" })
      // outside a transaction that another fiber holds, a query waits for it instead of reading into it
      const inside = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const writer = yield* db.withTransaction(
        Effect.zipRight(
          db`UPDATE q SET note = ${"uncommitted"} WHERE id = ${"b"}`,
          Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(finish))
        )
      ).pipe(Effect.fork)
      yield* Deferred.await(inside)
      const reader = yield* Effect.fork(
        db`SELECT note FROM q WHERE id = ${"b"}`.query((rows) => rows[0]!.note, (e) => e)
      )
      yield* Effect.yieldNow()
      expect(reader.unsafePoll()).toBeNull()
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(writer)
      expect(yield* Fiber.join(reader)).toBe("uncommitted")
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))
})

describe("sqlite checkpoints", () => {
  const fill = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)`
    for (let i = 0; i < 200; i++)
      yield* sql.withTransaction(sql`INSERT INTO filler (body) VALUES (${"x".repeat(4000)})`)
  })
  const fileSize = (file: string) => statSync(file).size

  it.live("a worker thread moves the WAL into the database file; commits never checkpoint themselves", () =>
    Effect.gen(function*() {
      const file = fresh()
      const grown = yield* Effect.gen(function*() {
        yield* fill
        // ~800 KB went to the WAL; the worker copies it into the file within a few intervals
        for (let i = 0; i < 100 && fileSize(file) < 800_000; i++) yield* Effect.sleep("50 millis")
        return fileSize(file)
      }).pipe(Effect.provide(Sqlite.layerClient({ filename: file, checkpointIntervalMs: 20 })))
      expect(grown).toBeGreaterThan(800_000)
    }))

  it.live("a worker that cannot open its file is logged as a warning, and stopping it does not wait on it", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) =>
        void logged.push(String(Array.isArray(message) ? message.join(" ") : message))
      )
      yield* Effect.gen(function*() {
        yield* Handle.checkpointer(join(tmpdir(), "airlock-missing-dir", "nope", "x.db"), 10)
        for (let i = 0; i < 100 && logged.length === 0; i++) yield* Effect.sleep("20 millis")
      }).pipe(Effect.scoped, Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(logged.some((m) => m.includes("sqlite checkpointer") && m.includes("nope"))).toBe(true)
    }))

  it.live("without the worker, small WALs stay in the WAL until SQLite's own threshold", () =>
    Effect.gen(function*() {
      const file = fresh()
      const size = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`PRAGMA wal_autocheckpoint = 100000`
        yield* fill
        yield* Effect.sleep("300 millis")
        return fileSize(file)
      }).pipe(Effect.provide(Sqlite.layerClient({ filename: file, checkpointIntervalMs: null })))
      expect(size).toBeLessThan(800_000)
    }))
})

describe("statement compiler", () => {
  const compile = (dialect: "sqlite" | "pg") => {
    const statements: Array<{ text: string; params: Array<unknown> }> = []
    const c = makeCompiler(dialect)
    const db = makeDb({
      dialect,
      execute: (strings, values) => {
        statements.push(c(strings, values))
        return Effect.succeed([])
      },
      query: (strings, values, onRows) => {
        statements.push(c(strings, values))
        return Effect.succeed(onRows([]))
      },
      withTransaction: (self) => self
    })
    return { db, statements }
  }

  it.effect("numbers placeholders per dialect and inlines fragments in order", () =>
    Effect.gen(function*() {
      for (const dialect of ["sqlite", "pg"] as const) {
        const { db, statements } = compile(dialect)
        const where = [db`a = ${1}`, db`b IN ${db.in([2, 3])}`, db.in("c", ["x"])]
        yield* db`SELECT * FROM t WHERE ${db.and(where)} ${db.literal("ORDER BY a")} LIMIT ${9}`
        yield* db`INSERT INTO t ${db.insert([{ a: 1, b: "p" }, { a: 2, b: null }])}`
        yield* db`SELECT 1 WHERE x IN ${db.in([])} AND ${db.and([])} AND ${db.in("y", [])}`
        const p = dialect === "pg" ? (n: number) => `$${n}` : () => "?"
        expect(statements).toStrictEqual([
          {
            text: `SELECT * FROM t WHERE (a = ${p(1)} AND b IN (${p(2)}, ${p(3)}) AND c IN (${
              p(4)
            })) ORDER BY a LIMIT ${p(5)}`,
            params: [1, 2, 3, "x", 9]
          },
          { text: `INSERT INTO t (a, b) VALUES (${p(1)}, ${p(2)}), (${p(3)}, ${p(4)})`, params: [1, "p", 2, null] },
          { text: "SELECT 1 WHERE x IN (NULL) AND 1 = 1 AND 1 = 0", params: [] }
        ])
      }
    }))

  it("JSON columns: bigints become strings wherever they sit; plain values take the fast path unchanged", () => {
    expect(toJson({ a: 1n, b: [2n, { c: 3n }], d: "x" })).toBe('{"a":"1","b":["2",{"c":"3"}],"d":"x"}')
    expect(toJson({ n: 1, s: 'é"', nested: [null, true] })).toBe(
      JSON.stringify({ n: 1, s: 'é"', nested: [null, true] })
    )
    expect(toJson(undefined)).toBe("null")
  })

  it("caches the text of a fragment-free call site", () => {
    const c = makeCompiler("pg")
    const site = (v: unknown) => c(((s: TemplateStringsArray, ..._: Array<unknown>) => s)`SELECT ${v}, ${v}`, [v, v])
    const first = site(1)
    const second = site(2)
    expect(first.text).toBe("SELECT $1, $2")
    expect(second).toStrictEqual({ text: "SELECT $1, $2", params: [2, 2] })
  })

  it("reuses the text of a call site whose only fragments are the same literal objects, and recompiles when one changes", () => {
    const c = makeCompiler("pg")
    const { db } = compile("pg")
    const lock = db.literal("FOR UPDATE")
    const none = db.literal("")
    const site = (id: unknown, clause: unknown) =>
      c(
        ((s: TemplateStringsArray, ..._: Array<unknown>) =>
          s)`SELECT a FROM t WHERE id = ${id} AND b = ${id} ${clause}`,
        [id, id, clause]
      )
    expect(site(1, lock)).toStrictEqual({ text: "SELECT a FROM t WHERE id = $1 AND b = $2 FOR UPDATE", params: [1, 1] })
    expect(site(2, lock)).toStrictEqual({ text: "SELECT a FROM t WHERE id = $1 AND b = $2 FOR UPDATE", params: [2, 2] })
    expect(site(3, none)).toStrictEqual({ text: "SELECT a FROM t WHERE id = $1 AND b = $2 ", params: [3, 3] })
    expect(site(4, db.literal("FOR SHARE"))).toStrictEqual({
      text: "SELECT a FROM t WHERE id = $1 AND b = $2 FOR SHARE",
      params: [4, 4]
    })
    // a fragment carrying values is compiled every time
    expect(site(5, db`AND c = ${9}`)).toStrictEqual({
      text: "SELECT a FROM t WHERE id = $1 AND b = $2 AND c = $3",
      params: [5, 5, 9]
    })
    expect(site(6, lock)).toStrictEqual({ text: "SELECT a FROM t WHERE id = $1 AND b = $2 FOR UPDATE", params: [6, 6] })
  })

  it("a SELECT * read through the stores' path follows a column added or dropped after it was first prepared", () =>
    Effect.gen(function*() {
      const { client, db } = yield* Handle.make({ filename: ":memory:" })
      yield* client`CREATE TABLE w (x TEXT, y TEXT, z TEXT)`
      yield* client`INSERT INTO w VALUES ('X', 'Y', 'Z')`
      const read = () => db`SELECT * FROM w`.query((rows) => rows, (e) => e)
      expect(yield* read()).toStrictEqual([{ x: "X", y: "Y", z: "Z" }])
      yield* client`ALTER TABLE w DROP COLUMN x`
      expect(yield* read()).toStrictEqual([{ y: "Y", z: "Z" }])
      yield* client`ALTER TABLE w ADD COLUMN v TEXT DEFAULT 'V'`
      expect(yield* read()).toStrictEqual([{ y: "Y", z: "Z", v: "V" }])
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))
})

/**
 * The memory database's tables, scoped (per tenant) and plain, under its transactions: a
 * failure undoes every write of the transaction, a failed nested transaction only its own.
 */
import { MemoryDatabase } from "@airlock/adapters-storage"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"

describe("memory database", () => {
  it.effect("scoped tables: reads per scope and per key; a failed transaction undoes sets, overwrites and deletes", () =>
    Effect.gen(function*() {
      const db = yield* MemoryDatabase.make
      const rows = db.scoped<string>("rows")
      yield* db.write(() => {
        rows.set("t1", "a", "A1")
        rows.set("t1", 2, "B1")
        rows.set("t2", "a", "A2")
      })
      expect([rows.get("t1", "a"), rows.get("t1", 2), rows.get("t2", "a"), rows.get("t3", "a")]).toStrictEqual([
        "A1",
        "B1",
        "A2",
        undefined
      ])
      expect([...rows.inScope("t1")]).toStrictEqual(["A1", "B1"])
      expect([...rows.inScope("none")]).toStrictEqual([])
      expect([...rows.values()].sort()).toStrictEqual(["A1", "A2", "B1"])
      // the same name gives the same table, and never a table of the other kind
      expect(db.scoped<string>("rows").get("t2", "a")).toBe("A2")
      expect(() => db.table("rows")).toThrow("memory table rows is already a scoped table")
      db.table("plain_one")
      expect(() => db.scoped("plain_one")).toThrow("memory table plain_one is already a plain table")

      const failed = yield* db.transaction(
        Effect.zipRight(
          db.write(() => {
            rows.set("t1", "a", "changed")
            rows.delete("t1", 2)
            rows.set("t1", "new", "N")
            rows.set("t9", "x", "fresh scope")
            rows.delete("t2", "missing")
          }),
          Effect.fail("boom" as const)
        )
      ).pipe(Effect.exit)
      expect(failed).toStrictEqual(Exit.fail("boom"))
      expect([rows.get("t1", "a"), rows.get("t1", 2), rows.has("t1", "new"), rows.has("t9", "x")]).toStrictEqual([
        "A1",
        "B1",
        false,
        false
      ])
      expect([...rows.values()].sort()).toStrictEqual(["A1", "A2", "B1"])
    }))

  it.effect("a failed nested transaction undoes only its own writes; the outer one commits the rest", () =>
    Effect.gen(function*() {
      const db = yield* MemoryDatabase.make
      const scoped = db.scoped<number>("counts")
      const plain = db.table<number>("plain")
      yield* db.transaction(
        Effect.gen(function*() {
          yield* db.write(() => {
            scoped.set("t", "outer", 1)
            plain.set("k", 1)
          })
          const inner = yield* db.transaction(
            Effect.zipRight(
              db.write(() => {
                scoped.set("t", "outer", 2)
                scoped.set("t", "inner", 3)
                plain.set("k", 2)
              }),
              Effect.fail("inner" as const)
            )
          ).pipe(Effect.exit)
          expect(Exit.isFailure(inner)).toBe(true)
          yield* db.write(() => scoped.set("u", "after", 4))
        })
      )
      expect([scoped.get("t", "outer"), scoped.has("t", "inner"), scoped.get("u", "after"), plain.get("k")])
        .toStrictEqual([1, false, 4, 1])
    }))
})

/**
 * The harness of the query-plan tests on SQLite: a SQL store over an in-memory SQLite, with every
 * statement it runs recorded (the adapter's own text and parameters) before it runs on the real
 * handle, so a test can ask SQLite how it plans each one (`EXPLAIN QUERY PLAN`).
 */
import { Sqlite } from "@airlock/adapters-storage"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer } from "effect"
import { type Compiled, fromClient, makeCompiler, makeDb, SqlDb } from "../../src/internal/sql/db.js"

/** A statement's text and the details of its plan, joined by ` | `. */
export interface Plan {
  readonly text: string
  readonly plan: string
}

type Client = ReturnType<typeof Sqlite.layerClient>

/** A store with its statements recorded. */
export interface Recorder<A, E> {
  /** The statements run so far, in order; a test empties it (`seen.length = 0`) before the call it checks. */
  readonly seen: Array<Compiled>
  /** The store over an in-memory SQLite, the SQL client beside it. */
  readonly layer: Layer.Layer<A | Layer.Layer.Success<Client>, E | Layer.Layer.Error<Client>>
  /** The plans of the statements `run` issued (`seen` emptied first). */
  readonly plansOf: <X, XE, XR>(
    run: Effect.Effect<X, XE, XR>
  ) => Effect.Effect<ReadonlyArray<Plan>, XE | SqlError.SqlError, XR | SqlClient.SqlClient>
}

/** Records the statements of `store` (a SQL store over the statement layer) as they run on an in-memory SQLite. */
export const recorder = <A, E>(store: Layer.Layer<A, E, SqlDb>): Recorder<A, E> => {
  const seen: Array<Compiled> = []
  const compile = makeCompiler("sqlite")
  // the statements the store runs, recorded before they run on the real handle
  const recording = Layer.effect(
    SqlDb,
    Effect.map(SqlDb, (inner) =>
      makeDb({
        dialect: "sqlite",
        execute: (strings, values) =>
          Effect.suspend(() => {
            seen.push(compile(strings, values))
            return inner(strings as TemplateStringsArray, ...values)
          }),
        query: (strings, values, onRows, onError) =>
          Effect.suspend(() => {
            seen.push(compile(strings, values))
            return inner(strings as TemplateStringsArray, ...values).query(onRows, onError)
          }),
        withTransaction: inner.withTransaction
      }))
  ).pipe(Layer.provide(fromClient))
  const plansOf = <X, XE, XR>(run: Effect.Effect<X, XE, XR>) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      seen.length = 0
      yield* run
      const out: Array<Plan> = []
      for (const { params, text } of [...seen]) {
        const rows = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
        out.push({ text, plan: rows.map((r) => r.detail).join(" | ") })
      }
      return out
    })
  return {
    seen,
    layer: Layer.provideMerge(Layer.provide(store, recording), Sqlite.layerClient({ filename: ":memory:" })),
    plansOf
  }
}

/**
 * The few places SQLite and PostgreSQL differ, isolated so store code is written once:
 * row locks, unique violations read as one structured fact, integer-overflow detection, and
 * integer decoding (pg returns BIGINT as text).
 */
import { CorePorts, Errors } from "@airlock/core"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { Db, Fragment } from "./db.js"

/** `FOR UPDATE` on PostgreSQL; nothing on SQLite, where the transaction holds the only writer. */
export const forUpdate = (sql: Db): Fragment => sql.literal(sql.dialect === "pg" ? "FOR UPDATE" : "")

/** `FOR SHARE` on PostgreSQL (readers block writers of the row until commit); nothing on SQLite. */
export const forShare = (sql: Db): Fragment => sql.literal(sql.dialect === "pg" ? "FOR SHARE" : "")

/** What a unique (or primary-key) violation hit: the same fact from SQLite and PostgreSQL. */
export interface UniqueViolation {
  /** The constraint or index name (PostgreSQL reports it; SQLite does not: null). */
  readonly constraint: string | null
  readonly table: string | null
  /** The columns of the violated key, in index order. */
  readonly columns: ReadonlyArray<string>
}

// SQLite: "UNIQUE constraint failed: ledger_entries.tenant_id, ledger_entries.idempotency_key"
const SQLITE_UNIQUE = /constraint failed: (.+)$/
// PostgreSQL's detail: "Key (tenant_id, idempotency_key)=(t1, k) already exists."
const PG_KEY = /^Key \(([^)]*)\)=/

/**
 * The unique violation a driver error is (pg 23505; SQLite `SQLITE_CONSTRAINT_UNIQUE` or
 * `_PRIMARYKEY`), or undefined for any other error. The one place that reads the drivers'
 * reports, so stores branch on columns, never on message text.
 */
export const uniqueViolation = (error: SqlError): UniqueViolation | undefined => {
  const cause = error.cause as Record<string, unknown> | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  if (code === "23505") {
    const key = typeof cause!.detail === "string" ? PG_KEY.exec(cause!.detail)?.[1] : undefined
    return {
      constraint: typeof cause!.constraint_name === "string" ? cause!.constraint_name : null,
      table: typeof cause!.table_name === "string" ? cause!.table_name : null,
      columns: key === undefined ? [] : key.split(",").map((c) => c.trim())
    }
  }
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    const qualified = typeof cause!.message === "string"
      ? SQLITE_UNIQUE.exec(cause!.message)?.[1]?.split(", ") ?? []
      : []
    return {
      constraint: null,
      table: qualified[0]?.split(".")[0] ?? null,
      columns: qualified.map((c) => c.slice(c.indexOf(".") + 1))
    }
  }
  return undefined
}

/** Is this driver error a unique/primary-key violation? */
export const isUniqueViolation = (error: SqlError): boolean => uniqueViolation(error) !== undefined

/**
 * A store's table from the column a unique key covers to its port's error for a row: the first
 * entry whose column the violation names wins, `otherwise` (the id taken) when none does.
 */
export const uniqueErrors = <A, E>(
  table: ReadonlyArray<readonly [column: string, error: (row: A) => E]>,
  otherwise: (row: A) => E
) =>
(row: A) =>
(error: SqlError): E | Errors.StorageError => {
  const violation = uniqueViolation(error)
  if (violation === undefined) return storageError(error)
  for (const [column, make] of table) if (violation.columns.includes(column)) return make(row)
  return otherwise(row)
}

/**
 * Did SQLite's SUM over integers pass 2^63 - 1? It fails with "integer overflow" then, where
 * PostgreSQL's SUM(bigint) returns an exact numeric.
 */
export const isIntegerOverflow = (error: SqlError): boolean => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  return cause?.code === "SQLITE_ERROR" && cause.message === "integer overflow"
}

/** Wraps a driver error as the taxonomy's storage error (the cause is kept, never sent to clients). */
export const storageError = (error: SqlError): Errors.StorageError =>
  new Errors.StorageError({ message: "Storage operation failed", cause: error })

/** For `Statement.query` when the rows do not matter. */
export const ignoreRows = (): void => undefined

/** Maps driver errors to {@link Errors.StorageError}. */
export const orStorage = <A, R>(self: Effect.Effect<A, SqlError, R>): Effect.Effect<A, Errors.StorageError, R> =>
  Effect.mapError(self, storageError)

/** Maps a unique violation to `conflict.duplicate` (core's `CorePorts.duplicateError`), anything else to a storage error. */
export const orDuplicate =
  (entity: string, id: string) =>
  <A, R>(self: Effect.Effect<A, SqlError, R>): Effect.Effect<A, Errors.StorageError | Errors.Conflict, R> =>
    Effect.mapError(self, (e) => (isUniqueViolation(e) ? CorePorts.duplicateError(entity, id) : storageError(e)))

/** Decodes an integer column that fits a JS number (pg returns BIGINT as a string). */
export const int = (v: unknown): number => (typeof v === "number" ? v : Number(v))

/** Decodes a nullable integer column. */
export const intOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : int(v))

/** Decodes a boolean stored as 0/1. */
export const bool = (v: unknown): boolean => v === true || v === 1 || v === "1" || v === 1n

/** Decodes a JSON text column. */
export const json = (v: unknown): unknown => (v === null || v === undefined ? null : JSON.parse(String(v)))

/** Encodes a value for a JSON text column (bigints as strings; the memory adapter shares it). */
export { toJson } from "../json.js"

/**
 * The outcome of a version-checked `UPDATE … WHERE version = expected RETURNING …`: done when it
 * changed a row; otherwise `exists` tells a stale version (`stale`, 409) from a missing row
 * (`missing`, 404). One place for every store's optimistic update.
 */
export const versioned = <S, M>(
  changedRows: Effect.Effect<number, Errors.StorageError>,
  exists: Effect.Effect<boolean, Errors.StorageError>,
  stale: () => S,
  missing: () => M
): Effect.Effect<void, S | M | Errors.StorageError> =>
  Effect.flatMap(
    changedRows,
    (n): Effect.Effect<void, S | M | Errors.StorageError> =>
      n > 0 ? Effect.void : Effect.flatMap(exists, (found) => Effect.fail(found ? stale() : missing()))
  )

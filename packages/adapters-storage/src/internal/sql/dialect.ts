/**
 * The few places SQLite and PostgreSQL differ, isolated so store code is written once:
 * row locks, unique-violation and integer-overflow detection, and integer decoding (pg returns
 * BIGINT as text).
 */
import { Errors } from "@airlock/core"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { Db, Fragment } from "./db.js"

/** `FOR UPDATE` on PostgreSQL; nothing on SQLite, where the transaction holds the only writer. */
export const forUpdate = (sql: Db): Fragment => sql.literal(sql.dialect === "pg" ? "FOR UPDATE" : "")

/** `FOR SHARE` on PostgreSQL (readers block writers of the row until commit); nothing on SQLite. */
export const forShare = (sql: Db): Fragment => sql.literal(sql.dialect === "pg" ? "FOR SHARE" : "")

/** Is this driver error a unique/primary-key violation? (pg 23505; SQLite SQLITE_CONSTRAINT_*) */
export const isUniqueViolation = (error: SqlError): boolean => {
  const cause = error.cause as { code?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE"
}

/**
 * Did SQLite's SUM over integers pass 2^63 - 1? It fails with "integer overflow" then, where
 * PostgreSQL's SUM(bigint) returns an exact numeric.
 */
export const isIntegerOverflow = (error: SqlError): boolean => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  return cause?.code === "SQLITE_ERROR" && cause.message === "integer overflow"
}

/**
 * Text naming what a unique violation hit (pg's constraint name, SQLite's column list), so a
 * store can tell one unique index from another.
 */
export const violationTarget = (error: SqlError): string => {
  const cause = error.cause as { constraint_name?: unknown; constraint?: unknown; message?: unknown } | undefined
  return [cause?.constraint_name, cause?.constraint, cause?.message].filter((x) => typeof x === "string").join(" ")
}

/** Wraps a driver error as the taxonomy's storage error (the cause is kept, never sent to clients). */
export const storageError = (error: SqlError): Errors.StorageError =>
  new Errors.StorageError({ message: "Storage operation failed", cause: error })

/** For `Statement.query` when the rows do not matter. */
export const ignoreRows = (): void => undefined

/** Maps driver errors to {@link Errors.StorageError}. */
export const orStorage = <A, R>(self: Effect.Effect<A, SqlError, R>): Effect.Effect<A, Errors.StorageError, R> =>
  Effect.mapError(self, storageError)

/** Maps a unique violation to `conflict.duplicate`, anything else to a storage error. */
export const orDuplicate = (entity: string, id: string) =>
<A, R>(self: Effect.Effect<A, SqlError, R>): Effect.Effect<A, Errors.StorageError | Errors.Conflict, R> =>
  Effect.mapError(self, (e) =>
    isUniqueViolation(e)
      ? new Errors.Conflict({ code: "conflict.duplicate", message: `${entity} ${id} already exists`, details: { entity, id } })
      : storageError(e))

/** Decodes an integer column that fits a JS number (pg returns BIGINT as a string). */
export const int = (v: unknown): number => (typeof v === "number" ? v : Number(v))

/** Decodes a nullable integer column. */
export const intOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : int(v))

/** Decodes a boolean stored as 0/1. */
export const bool = (v: unknown): boolean => v === true || v === 1 || v === "1" || v === 1n

/** Decodes a JSON text column. */
export const json = (v: unknown): unknown => (v === null || v === undefined ? null : JSON.parse(String(v)))

const bigintsAsStrings = (_k: string, x: unknown) => (typeof x === "bigint" ? x.toString() : x)

/** Encodes a value for a JSON text column (bigints as strings). */
export const toJson = (v: unknown): string => {
  // a replacer function puts JSON.stringify on its slow path; only values holding a bigint need it
  try {
    return JSON.stringify(v ?? null)
  } catch {
    return JSON.stringify(v ?? null, bigintsAsStrings)
  }
}

/**
 * A tenant export as one `.tar.gz` archive, written with `tar-stream` while core's
 * `TenantData.exportItems` is read: each page of a table becomes one entry
 * `tables/<table>/<part>.jsonl` (one JSON row per line), and `manifest.json` comes last (counts
 * per table, the audit chain head, the format version). Memory stays bounded: one page is held
 * at a time, and the next page is read only once the archive's consumer has taken the previous
 * one (tar-stream calls back when its buffer has room).
 */
import type { Actor, Errors, Ids, TenantData } from "@airlock/core"
import { Effect, Stream } from "effect"
import { createWriteStream } from "node:fs"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGzip } from "node:zlib"
import * as tar from "tar-stream"

/** The entry name of a table's page. */
export const partName = (table: string, part: number) => `tables/${table}/${String(part).padStart(6, "0")}.jsonl`

/** The manifest's entry name. */
export const MANIFEST = "manifest.json"

const jsonLine = (row: unknown) => JSON.stringify(row, (_k, v) => (typeof v === "bigint" ? v.toString() : v))

/**
 * Writes the items into a tar pack, entry by entry, waiting for each entry to be taken; ends the
 * pack after the manifest (or destroys it on failure).
 */
const fill = (pack: tar.Pack, items: Stream.Stream<TenantData.ExportItem, Errors.StorageError>) =>
  Stream.runForEach(items, (item) =>
    Effect.async<void>((resume) => {
      const [name, body] = item._tag === "Rows"
        ? [partName(item.table, item.part), Buffer.from(item.rows.map(jsonLine).join("\n") + "\n")]
        : [MANIFEST, Buffer.from(JSON.stringify(item.manifest, null, 2) + "\n")]
      pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body, () => resume(Effect.void))
    })).pipe(
      Effect.tap(() => Effect.sync(() => pack.finalize())),
      Effect.tapErrorCause((cause) => Effect.sync(() => pack.destroy(new Error(String(cause)))))
    )

/**
 * The archive as a byte stream (gzip over tar), for an HTTP response: the producer runs as the
 * consumer pulls. The export's checks (permission, tenant) run before the first byte.
 */
export const archiveStream = (
  data: TenantData.TenantData,
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  options: { readonly pageSize?: number } = {}
): Effect.Effect<Readable, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
  Effect.gen(function*() {
    const items = yield* data.exportItems(tenant, actor, options)
    const pack = tar.pack()
    const gzip = createGzip()
    pack.pipe(gzip)
    // a failed export must end the byte stream with an error, not leave the reader waiting
    pack.on("error", (error) => gzip.destroy(error))
    yield* Effect.forkDaemon(fill(pack, items))
    return gzip
  })

/** Where an export to a file stands (for a CLI's progress line). */
export type Progress = TenantData.ExportProgress

/**
 * Exports a tenant to a `.tar.gz` file (what the CLI calls), reporting progress per page.
 * Returns the manifest.
 */
export const exportToFile = (
  data: TenantData.TenantData,
  tenant: Ids.TenantId,
  actor: Actor.Actor,
  path: string,
  options: { readonly pageSize?: number; readonly onProgress?: (p: Progress) => void } = {}
): Effect.Effect<TenantData.Manifest, Errors.Forbidden | Errors.NotFound | Errors.StorageError> =>
  Effect.gen(function*() {
    const items = yield* data.exportItems(tenant, actor, options)
    let manifest: TenantData.Manifest | null = null
    const pack = tar.pack()
    const written = Effect.tryPromise({
      try: () => pipeline(pack, createGzip(), createWriteStream(path)),
      catch: (cause) => cause
    })
    const tapped = Stream.tap(items, (item) =>
      Effect.sync(() => {
        if (item._tag === "Manifest") manifest = item.manifest
      }))
    yield* Effect.all([fill(pack, tapped), written], { concurrency: 2 }).pipe(
      Effect.catchAllDefect((cause) => Effect.die(cause)),
      Effect.catchAll((e) =>
        typeof e === "object" && e !== null && "_tag" in e && (e as { _tag: string })._tag === "StorageError"
          ? Effect.fail(e as Errors.StorageError)
          : Effect.die(e)
      )
    )
    return manifest!
  })

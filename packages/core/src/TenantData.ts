/**
 * A tenant's whole data, as one thing: read out page by page for an export (GDPR right of
 * access), and removed in one transaction (right to be forgotten). The storage adapter keeps the
 * list of tables that hold tenant rows (one registry per adapter, checked against the live
 * schema by its tests), so a table another package adds is exported and deleted with the rest.
 *
 * A deletion leaves a tombstone in the system-level audit log ({@link SYSTEM_AUDIT_TENANT}):
 * who, when, how many rows of each table — never the tenant's data.
 */
import { Clock, Config, Context, Effect, Layer, Option, Stream } from "effect"
import type { Actor } from "./Actor.js"
import { AgentMemoryStore } from "./AgentMemory.js"
import { AuditLog, AuditStore, type ChainHead } from "./Audit.js"
import { Forbidden, NotFound, type StorageError, ValidationError } from "./Errors.js"
import { TenantId } from "./Ids.js"
import { Rbac } from "./Rbac.js"
import { TenantStore } from "./Tenant.js"
import * as TenantScope from "./TenantScope.js"
import { UnitOfWork } from "./UnitOfWork.js"

/**
 * The tenant id of the system-level audit chain (tombstones of deleted tenants). A dot never
 * appears in an onboarded tenant's id, and this chain is not any tenant's data: deleting a
 * tenant never touches it.
 */
export const SYSTEM_AUDIT_TENANT: TenantId = TenantId.make("airlock.system")

/** The export format's name and version (in every manifest). */
export const FORMAT = "airlock.tenant-export"
/** Version of the archive layout and row encoding; bumped on any incompatible change. */
export const FORMAT_VERSION = 1

/** A row as exported: column (or field) names to JSON values; big integers as decimal strings. */
export type ExportRow = Readonly<Record<string, unknown>>

/** One page of a table, and where the next one starts (null at the end). */
export interface RowPage {
  readonly rows: ReadonlyArray<ExportRow>
  readonly cursor: string | null
}

/** Storage port over every table holding tenant rows (the adapter's tenant-table registry). */
export class TenantDataStore extends Context.Tag("@airlock/core/TenantDataStore")<
  TenantDataStore,
  {
    /** The exported tables, in export order. */
    readonly tables: () => ReadonlyArray<string>
    /** Rows of the tenant in a table. */
    readonly count: (tenant: TenantId, table: string) => Effect.Effect<number, StorageError>
    /**
     * A page of the tenant's rows of a table after `cursor` (null: from the start), in a stable
     * order. Secrets (token hashes) are never part of a row.
     */
    readonly page: (
      tenant: TenantId,
      table: string,
      cursor: string | null,
      limit: number
    ) => Effect.Effect<RowPage, StorageError>
    /**
     * Deletes every row the tenant owns, in every table (the registry's delete order); returns
     * the rows deleted per table. Call inside a unit of work: all of it or nothing.
     */
    readonly remove: (tenant: TenantId) => Effect.Effect<Readonly<Record<string, number>>, StorageError>
  }
>() {}

/** Settings of tenant export and deletion. */
export interface TenantDataSettings {
  /**
   * Tenants that cannot be deleted (`tenant.delete.protected`): the reference server adds its
   * development `default` tenant. `AIRLOCK_TENANT_DELETE_PROTECTED` (comma-separated).
   */
  readonly protectedTenants: ReadonlyArray<string>
  /** Rows per page (and per archive part) of an export. */
  readonly exportPageSize: number
}

/** Defaults of {@link TenantDataSettings}. */
export const defaults: TenantDataSettings = { protectedTenants: [], exportPageSize: 1000 }

/** The settings service (defaults when not provided). */
export class TenantDataConfig extends Context.Reference<TenantDataConfig>()("@airlock/core/TenantDataConfig", {
  defaultValue: (): TenantDataSettings => defaults
}) {}

/** Settings given in code; unspecified fields take their defaults. */
export const layerConfig = (settings: Partial<TenantDataSettings> = {}): Layer.Layer<TenantDataConfig> =>
  Layer.succeed(TenantDataConfig, { ...defaults, ...settings })

/** The `Config` description (`AIRLOCK_TENANT_DELETE_PROTECTED`, `AIRLOCK_TENANT_EXPORT_PAGE_SIZE`). */
export const config: Config.Config<TenantDataSettings> = Config.all({
  protectedTenants: Config.string("AIRLOCK_TENANT_DELETE_PROTECTED").pipe(
    Config.map((s) => s.split(",").map((t) => t.trim()).filter((t) => t !== "")),
    Config.withDefault(defaults.protectedTenants)
  ),
  exportPageSize: Config.integer("AIRLOCK_TENANT_EXPORT_PAGE_SIZE").pipe(
    Config.validate({ message: "must be 1-10000", validation: (n) => n >= 1 && n <= 10_000 }),
    Config.withDefault(defaults.exportPageSize)
  )
})

/** Settings from the environment. */
export const layerFromConfig: Layer.Layer<TenantDataConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  TenantDataConfig,
  config
)

/** What an export manifest says: counts per table, the audit chain head, the format. */
export interface Manifest {
  readonly format: typeof FORMAT
  readonly format_version: number
  readonly tenant_id: string
  readonly exported_at: number
  readonly exported_by: string
  /** Rows and archive parts per table, in export order. */
  readonly tables: ReadonlyArray<{ readonly table: string; readonly rows: number; readonly parts: number }>
  /** The tenant's audit chain head when its audit rows were read (null: no audit records). */
  readonly audit_chain_head: ChainHead | null
}

/** What an export yields, in order: each table's pages, then the manifest. */
export type ExportItem =
  | { readonly _tag: "Rows"; readonly table: string; readonly part: number; readonly rows: ReadonlyArray<ExportRow> }
  | { readonly _tag: "Manifest"; readonly manifest: Manifest }

/** Where an export stands, for progress reports. */
export interface ExportProgress {
  readonly table: string
  /** Rows written so far, all tables. */
  readonly rows_done: number
  /** Rows counted before the export began (an estimate when the tenant is being written to). */
  readonly rows_total: number
}

/** A deletion's tombstone: who, when, how many rows — no tenant data. */
export interface Tombstone {
  readonly tenant_id: string
  readonly deleted_by: string
  readonly deleted_by_tenant: string
  readonly deleted_at: number
  /** Rows deleted per table. */
  readonly counts: Readonly<Record<string, number>>
  readonly rows_deleted: number
  /** Open memory review entries removed with the tenant (the memory module refuses that elsewhere). */
  readonly open_memory_reviews_removed: number
  /** The system audit record holding this tombstone. */
  readonly audit_seq: number
}

/** Exports and deletes a tenant's data. */
export class TenantData extends Effect.Service<TenantData>()("@airlock/core/TenantData", {
  effect: Effect.gen(function*() {
    const store = yield* TenantDataStore
    const tenants = yield* TenantStore
    const memory = yield* AgentMemoryStore
    const auditStore = yield* AuditStore
    const audit = yield* AuditLog
    const uow = yield* UnitOfWork
    const rbac = yield* Rbac
    const config = yield* TenantDataConfig

    const requireOn = (by: Actor, tenant: TenantId, permission: string) =>
      Effect.zipRight(TenantScope.requireTenant(rbac, by, tenant), rbac.require(by, permission))

    const existing = (tenant: TenantId) =>
      Effect.flatMap(tenants.get(tenant), (t) =>
        Option.match(t, {
          onNone: () =>
            Effect.fail(
              new NotFound({ message: `Tenant ${tenant} not found`, details: { entity: "tenant", id: tenant } })
            ),
          onSome: Effect.succeed
        }))

    /** Rows per table now (for progress totals). */
    const counts = (tenant: TenantId) =>
      Effect.map(
        Effect.forEach(store.tables(), (table) => Effect.map(store.count(tenant, table), (n) => [table, n] as const)),
        (entries) => Object.fromEntries(entries) as Record<string, number>
      )

    /**
     * Checks permission (`tenant.data.export`) and the tenant, audits the export
     * (`tenant.exported`, in the tenant's own chain, before anything is read, so the archive
     * holds it), and returns the items: each table's pages, then the manifest. Pages are read
     * one at a time as the consumer pulls (bounded memory, backpressure).
     */
    const exportItems = (
      tenant: TenantId,
      by: Actor,
      options: { readonly pageSize?: number; readonly onProgress?: (p: ExportProgress) => void } = {}
    ): Effect.Effect<Stream.Stream<ExportItem, StorageError>, Forbidden | NotFound | StorageError> =>
      Effect.gen(function*() {
        yield* requireOn(by, tenant, "tenant.data.export")
        yield* existing(tenant)
        const pageSize = Math.max(1, Math.min(options.pageSize ?? config.exportPageSize, 10_000))
        const exportedAt = yield* Clock.currentTimeMillis
        yield* audit.append({
          tenant_id: tenant,
          actor_id: by.id,
          action: "tenant.exported",
          subject: tenant,
          data: { format_version: FORMAT_VERSION }
        })
        const totals = options.onProgress === undefined ? {} : yield* counts(tenant)
        const rowsTotal = Object.values(totals).reduce((a, b) => a + b, 0)
        const written: Array<{ table: string; rows: number; parts: number }> = []
        let done = 0
        let head: ChainHead | null = null
        const tableItems = (table: string): Stream.Stream<ExportItem, StorageError> => {
          const tally = { table, rows: 0, parts: 0 }
          written.push(tally)
          const pages = Stream.paginateEffect(null as string | null, (cursor: string | null) =>
            Effect.gen(function*() {
              if (table === "core_audit" && cursor === null) head = yield* auditStore.head(tenant)
              const page = yield* store.page(tenant, table, cursor, pageSize)
              let item: ExportItem | null = null
              if (page.rows.length > 0) {
                tally.rows += page.rows.length
                tally.parts += 1
                done += page.rows.length
                item = { _tag: "Rows", table, part: tally.parts, rows: page.rows }
                options.onProgress?.({ table, rows_done: done, rows_total: Math.max(rowsTotal, done) })
              }
              return [
                item,
                page.cursor === null ? Option.none<string | null>() : Option.some<string | null>(page.cursor)
              ] as const
            }))
          return Stream.filterMap(pages, Option.fromNullable)
        }
        const manifest = Stream.fromEffect(Effect.sync((): ExportItem => ({
          _tag: "Manifest",
          manifest: {
            format: FORMAT,
            format_version: FORMAT_VERSION,
            tenant_id: tenant,
            exported_at: exportedAt,
            exported_by: by.id,
            tables: written.map((t) => ({ ...t })),
            audit_chain_head: head
          }
        })))
        return Stream.concat(Stream.flatMap(Stream.fromIterable(store.tables()), tableItems), manifest)
      })

    /**
     * Deletes every row the tenant owns, in one transaction, and writes the tombstone to the
     * system audit log in the same transaction. Needs `tenant.data.delete` and `confirm: true`
     * (`tenant.delete.unconfirmed`); protected tenants are refused (`tenant.delete.protected`).
     * Open memory reviews go with the tenant, deliberately (counted in the tombstone). The
     * tenant's tokens stop verifying at commit (their rows, actors and tenant are gone). A second
     * call finds no tenant (`not_found`).
     */
    const remove = (
      tenant: TenantId,
      by: Actor,
      options: { readonly confirm: boolean }
    ): Effect.Effect<Tombstone, Forbidden | ValidationError | NotFound | StorageError> =>
      Effect.gen(function*() {
        yield* requireOn(by, tenant, "tenant.data.delete")
        if (options.confirm !== true) {
          return yield* new ValidationError({
            code: "tenant.delete.unconfirmed",
            message: "Deleting a tenant removes all of its data: repeat with confirm=true",
            details: { tenant_id: tenant }
          })
        }
        if (config.protectedTenants.includes(tenant) || tenant === SYSTEM_AUDIT_TENANT) {
          return yield* new Forbidden({
            code: "tenant.delete.protected",
            message: `Tenant ${tenant} is protected and cannot be deleted`,
            details: { tenant_id: tenant }
          })
        }
        return yield* uow.transaction(Effect.gen(function*() {
          yield* existing(tenant)
          const open = (yield* memory.stats(tenant)).queue_depth
          const deleted = yield* store.remove(tenant)
          const deletedAt = yield* Clock.currentTimeMillis
          const rowsDeleted = Object.values(deleted).reduce((a, b) => a + b, 0)
          const record = yield* audit.append({
            tenant_id: SYSTEM_AUDIT_TENANT,
            actor_id: by.id,
            action: "tenant.deleted",
            subject: tenant,
            data: {
              deleted_by_tenant: by.tenant_id,
              counts: deleted,
              rows_deleted: rowsDeleted,
              open_memory_reviews_removed: open
            }
          })
          return {
            tenant_id: tenant,
            deleted_by: by.id,
            deleted_by_tenant: by.tenant_id,
            deleted_at: deletedAt,
            counts: deleted,
            rows_deleted: rowsDeleted,
            open_memory_reviews_removed: open,
            audit_seq: record.seq
          } satisfies Tombstone
        }))
      })

    /** The tombstones of deleted tenants, oldest first (needs `system.admin`). */
    const tombstones = (by: Actor, options: { readonly afterSeq?: number; readonly limit?: number } = {}) =>
      Effect.zipRight(
        rbac.require(by, "system.admin"),
        audit.list(SYSTEM_AUDIT_TENANT, options).pipe(
          Effect.map((records) => records.filter((r) => r.action === "tenant.deleted"))
        )
      )

    return { exportItems, remove, counts, tombstones } as const
  })
}) {}

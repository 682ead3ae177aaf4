/**
 * @airlock/adapters-storage — every Airlock port, in memory and on SQL (SQLite, PostgreSQL).
 */
export * as Backup from "./Backup.js"
export * as Memory from "./Memory.js"
export * as MemoryDatabase from "./MemoryDatabase.js"
export * as Migrations from "./Migrations.js"
export * as Postgres from "./Postgres.js"
export * as Sqlite from "./Sqlite.js"
export * as SqlStores from "./SqlStores.js"
export * as TenantTables from "./TenantTables.js"

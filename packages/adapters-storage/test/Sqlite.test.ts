import { Migrations, Sqlite } from "@airlock/adapters-storage"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "./CoreSuite.js"
import * as GuardrailsSuite from "./GuardrailsSuite.js"
import * as GuardProbe from "./support/GuardProbe.js"
import { suite as ledgerSuite } from "./LedgerSuite.js"
import * as LedgerProbe from "./support/LedgerProbe.js"
import * as Probe from "./support/Probe.js"

const file = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "conformance.db")

suite("sqlite (file, WAL)", Layer.provideMerge(Probe.sql, Sqlite.layer({ filename: file })), { parallelConnections: false })
suite("sqlite (:memory:)", Layer.provideMerge(Probe.sql, Sqlite.layer({ filename: ":memory:" })), { parallelConnections: false })

const ledgerFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "ledger.db")
ledgerSuite("sqlite (file, WAL)", Layer.provideMerge(LedgerProbe.sql, Sqlite.layer({ filename: ledgerFile })), { parallelConnections: false })

const guardFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "guardrails.db")
GuardrailsSuite.suite("sqlite (file, WAL)", Layer.provideMerge(GuardProbe.sql, Sqlite.layer({ filename: guardFile })), { parallelConnections: false })
GuardrailsSuite.suite("sqlite (:memory:)", Layer.provideMerge(GuardProbe.sql, Sqlite.layer({ filename: ":memory:" })), { parallelConnections: false })

it.effect("sqlite file: WAL journal, migrations at head, reopening migrates nothing twice", () =>
  Effect.gen(function*() {
    const path = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "reopen.db")
    const inspect = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const mode = yield* sql`PRAGMA journal_mode`
      return { mode: String(mode[0]!.journal_mode), status: yield* Migrations.status }
    })
    const first = yield* Effect.provide(inspect, Sqlite.layerClient({ filename: path }))
    const second = yield* Effect.provide(inspect, Sqlite.layerClient({ filename: path }))
    expect(first.mode).toBe("wal")
    expect(first.status).toStrictEqual({ current: Migrations.head, head: Migrations.head, atHead: true })
    expect(second.status.current).toBe(Migrations.head)
  }))

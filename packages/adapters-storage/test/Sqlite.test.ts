import { Sqlite } from "@airlock/adapters-storage"
import { Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AgentMemorySuite from "./AgentMemorySuite.js"
import * as CompanionApplyFailedSuite from "./CompanionApplyFailedSuite.js"
import * as CompanionAutoPostSuite from "./CompanionAutoPostSuite.js"
import * as CompanionCoverageSuite from "./CompanionCoverageSuite.js"
import * as CompanionGatesSuite from "./CompanionGatesSuite.js"
import * as CompanionInvalidAnswerSuite from "./CompanionInvalidAnswerSuite.js"
import * as CompanionRejectionSuite from "./CompanionRejectionSuite.js"
import * as CompanionReportsSuite from "./CompanionReportsSuite.js"
import * as CompanionSuite from "./CompanionSuite.js"
import { suite } from "./CoreSuite.js"
import * as DriftSuite from "./DriftSuite.js"
import * as FeaturesSuite from "./FeaturesSuite.js"
import * as GuardrailsSuite from "./GuardrailsSuite.js"
import * as KpiSuite from "./KpiSuite.js"
import { suite as ledgerSuite } from "./LedgerSuite.js"
import * as OpsRunsSuite from "./OpsRunsSuite.js"
import * as RulePromotionSuite from "./RulePromotionSuite.js"
import * as SchedulerSuite from "./SchedulerSuite.js"
import * as AgentMemoryProbe from "./support/AgentMemoryProbe.js"
import * as CompanionProbe from "./support/CompanionProbe.js"
import * as GuardProbe from "./support/GuardProbe.js"
import * as KpiProbe from "./support/KpiProbe.js"
import * as LedgerProbe from "./support/LedgerProbe.js"
import * as OpsProbe from "./support/OpsProbe.js"
import * as Probe from "./support/Probe.js"
import * as ReportsProbe from "./support/ReportsProbe.js"
import * as SchedulerProbe from "./support/SchedulerProbe.js"
import * as TenantProbe from "./support/TenantProbe.js"
import * as TenantBreakersSuite from "./TenantBreakersSuite.js"
import * as TenantDataSuite from "./TenantDataSuite.js"

const file = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "conformance.db")

suite("sqlite (file, WAL)", Layer.provideMerge(Probe.sql, Sqlite.layer({ filename: file })), {
  parallelConnections: false
})
suite("sqlite (:memory:)", Layer.provideMerge(Probe.sql, Sqlite.layer({ filename: ":memory:" })), {
  parallelConnections: false
})

const ledgerFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "ledger.db")
ledgerSuite("sqlite (file, WAL)", Layer.provideMerge(LedgerProbe.sql, Sqlite.layer({ filename: ledgerFile })), {
  parallelConnections: false
})

const guardFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "guardrails.db")
GuardrailsSuite.suite("sqlite (file, WAL)", Layer.provideMerge(GuardProbe.sql, Sqlite.layer({ filename: guardFile })), {
  parallelConnections: false
})
GuardrailsSuite.suite("sqlite (:memory:)", Layer.provideMerge(GuardProbe.sql, Sqlite.layer({ filename: ":memory:" })), {
  parallelConnections: false
})

const memoryFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "agent-memory.db")
AgentMemorySuite.suite(
  "sqlite (file, WAL)",
  Layer.provideMerge(AgentMemoryProbe.sql, Sqlite.layer({ filename: memoryFile })),
  { parallelConnections: false }
)

const kpiFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "ops-kpi.db")
KpiSuite.suite("sqlite (file, WAL)", Layer.provideMerge(KpiProbe.sql, Sqlite.layer({ filename: kpiFile })), {
  parallelConnections: false
})
const companionFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "companion.db")
CompanionSuite.suite(
  "sqlite (file, WAL)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: companionFile })),
  { parallelConnections: false }
)
const schedulerFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "ops-scheduler.db")
SchedulerSuite.suite(
  "sqlite (file, WAL)",
  Layer.provideMerge(SchedulerProbe.sql, Sqlite.layer({ filename: schedulerFile })),
  {
    parallelConnections: false
  }
)
const opsFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "ops.db")
OpsRunsSuite.suite(
  "sqlite (file, WAL)",
  Layer.provideMerge(Layer.merge(OpsProbe.sql, GuardProbe.sql), Sqlite.layer({ filename: opsFile })),
  { parallelConnections: false }
)
TenantDataSuite.suite("sqlite (:memory:)", Layer.provideMerge(TenantProbe.sql, Sqlite.layer({ filename: ":memory:" })))
const reportsFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "companion-reports.db")
CompanionReportsSuite.suite(
  "sqlite (file, WAL)",
  Layer.provideMerge(ReportsProbe.sql, Sqlite.layer({ filename: reportsFile })),
  { parallelConnections: false }
)
const driftFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "drift.db")
DriftSuite.suite("sqlite (file, WAL)", Sqlite.layer({ filename: driftFile }), { parallelConnections: false })
RulePromotionSuite.suite("sqlite (:memory:)", Sqlite.layer({ filename: ":memory:" }))
const featuresFile = join(mkdtempSync(join(tmpdir(), "airlock-sqlite-")), "features.db")
FeaturesSuite.suite("sqlite (file, WAL)", Sqlite.layer({ filename: featuresFile }), { parallelConnections: false })
CompanionGatesSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
CompanionApplyFailedSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
CompanionCoverageSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
TenantBreakersSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(GuardProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
CompanionRejectionSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
CompanionAutoPostSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)
CompanionInvalidAnswerSuite.suite(
  "sqlite (:memory:)",
  Layer.provideMerge(CompanionProbe.sql, Sqlite.layer({ filename: ":memory:" }))
)

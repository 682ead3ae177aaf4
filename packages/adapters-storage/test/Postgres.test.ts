import { Postgres } from "@airlock/adapters-storage"
import { Effect, Layer } from "effect"
import { describe, it } from "vitest"
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
import { freshDatabaseUrl, pgAdminUrl } from "./support/postgres.js"
import * as Probe from "./support/Probe.js"
import * as ReportsProbe from "./support/ReportsProbe.js"
import * as SchedulerProbe from "./support/SchedulerProbe.js"
import * as TenantProbe from "./support/TenantProbe.js"
import * as TenantBreakersSuite from "./TenantBreakersSuite.js"
import * as TenantDataSuite from "./TenantDataSuite.js"

const admin = pgAdminUrl()

if (admin === "") {
  describe("core ports conformance: postgres", () => {
    it.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
  describe("guardrails conformance: postgres", () => {
    it.skip("PostgreSQL tests turned off with AIRLOCK_TEST_PG=off", () => {})
  })
} else {
  const ports = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(Probe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  suite("postgres", ports, { parallelConnections: true })
  const guardPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(GuardProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  GuardrailsSuite.suite("postgres", guardPorts, { parallelConnections: true })
  const ledgerPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(LedgerProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  ledgerSuite("postgres", ledgerPorts, { parallelConnections: true })
  const memoryPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(AgentMemoryProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  AgentMemorySuite.suite("postgres", memoryPorts, { parallelConnections: true })
  const kpiPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(KpiProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  KpiSuite.suite("postgres", kpiPorts, { parallelConnections: true })
  const companionPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  CompanionSuite.suite("postgres", companionPorts, { parallelConnections: true })
  const opsPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(Layer.merge(OpsProbe.sql, GuardProbe.sql), Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  OpsRunsSuite.suite("postgres", opsPorts, { parallelConnections: true })
  TenantDataSuite.suite(
    "postgres",
    Layer.unwrapEffect(Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(TenantProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    ))
  )
  const schedulerPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(SchedulerProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  SchedulerSuite.suite("postgres", schedulerPorts, { parallelConnections: true })
  const reportsPorts = Layer.unwrapEffect(
    Effect.map(
      freshDatabaseUrl(admin),
      (url) => Layer.provideMerge(ReportsProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
    )
  )
  CompanionReportsSuite.suite("postgres", reportsPorts, { parallelConnections: true })
  DriftSuite.suite(
    "postgres",
    Layer.unwrapEffect(Effect.map(freshDatabaseUrl(admin), (url) => Postgres.layer({ url, maxConnections: 8 }))),
    { parallelConnections: true }
  )
  RulePromotionSuite.suite(
    "postgres",
    Layer.unwrapEffect(Effect.map(freshDatabaseUrl(admin), (url) => Postgres.layer({ url, maxConnections: 8 })))
  )
  FeaturesSuite.suite(
    "postgres",
    Layer.unwrapEffect(Effect.map(freshDatabaseUrl(admin), (url) => Postgres.layer({ url, maxConnections: 8 }))),
    { parallelConnections: true }
  )
  CompanionGatesSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  CompanionApplyFailedSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  CompanionCoverageSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  TenantBreakersSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(GuardProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  CompanionRejectionSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  CompanionAutoPostSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
  CompanionInvalidAnswerSuite.suite(
    "postgres",
    Layer.unwrapEffect(
      Effect.map(
        freshDatabaseUrl(admin),
        (url) => Layer.provideMerge(CompanionProbe.sql, Postgres.layer({ url, maxConnections: 8 }))
      )
    )
  )
}

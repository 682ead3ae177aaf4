import { Memory } from "@airlock/adapters-storage"
import { Layer } from "effect"
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

suite("memory", Layer.provideMerge(Probe.memory, Memory.layer), { parallelConnections: false })

GuardrailsSuite.suite("memory", Layer.provideMerge(GuardProbe.memory, Memory.layer), { parallelConnections: false })
ledgerSuite("memory", Layer.provideMerge(LedgerProbe.memory, Memory.layer), { parallelConnections: false })
AgentMemorySuite.suite("memory", Layer.provideMerge(AgentMemoryProbe.memory, Memory.layer), {
  parallelConnections: false
})
KpiSuite.suite("memory", Layer.provideMerge(KpiProbe.memory, Memory.layer), { parallelConnections: false })
CompanionSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer), { parallelConnections: false })
OpsRunsSuite.suite("memory", Layer.provideMerge(Layer.merge(OpsProbe.memory, GuardProbe.memory), Memory.layer), {
  parallelConnections: false
})
TenantDataSuite.suite("memory", Layer.provideMerge(TenantProbe.memory, Memory.layer))
SchedulerSuite.suite("memory", Layer.provideMerge(SchedulerProbe.memory, Memory.layer), { parallelConnections: false })
CompanionReportsSuite.suite("memory", Layer.provideMerge(ReportsProbe.memory, Memory.layer), {
  parallelConnections: false
})
DriftSuite.suite("memory", Memory.layer, { parallelConnections: false })
RulePromotionSuite.suite("memory", Memory.layer)
FeaturesSuite.suite("memory", Memory.layer, { parallelConnections: false })
CompanionGatesSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))
CompanionApplyFailedSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))
CompanionCoverageSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))
TenantBreakersSuite.suite("memory", Layer.provideMerge(GuardProbe.memory, Memory.layer))
CompanionRejectionSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))
CompanionAutoPostSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))
CompanionInvalidAnswerSuite.suite("memory", Layer.provideMerge(CompanionProbe.memory, Memory.layer))

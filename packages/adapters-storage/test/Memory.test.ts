import { Memory } from "@airlock/adapters-storage"
import { Layer } from "effect"
import * as AgentMemorySuite from "./AgentMemorySuite.js"
import { suite } from "./CoreSuite.js"
import * as GuardrailsSuite from "./GuardrailsSuite.js"
import { suite as ledgerSuite } from "./LedgerSuite.js"
import * as SchedulerSuite from "./SchedulerSuite.js"
import * as AgentMemoryProbe from "./support/AgentMemoryProbe.js"
import * as GuardProbe from "./support/GuardProbe.js"
import * as LedgerProbe from "./support/LedgerProbe.js"
import * as Probe from "./support/Probe.js"
import * as SchedulerProbe from "./support/SchedulerProbe.js"

suite("memory", Layer.provideMerge(Probe.memory, Memory.layer), { parallelConnections: false })

GuardrailsSuite.suite("memory", Layer.provideMerge(GuardProbe.memory, Memory.layer), { parallelConnections: false })
ledgerSuite("memory", Layer.provideMerge(LedgerProbe.memory, Memory.layer), { parallelConnections: false })
AgentMemorySuite.suite("memory", Layer.provideMerge(AgentMemoryProbe.memory, Memory.layer), {
  parallelConnections: false
})
SchedulerSuite.suite("memory", Layer.provideMerge(SchedulerProbe.memory, Memory.layer), { parallelConnections: false })

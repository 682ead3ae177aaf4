import { Memory } from "@airlock/adapters-storage"
import { Layer } from "effect"
import { suite } from "./CoreSuite.js"
import * as GuardrailsSuite from "./GuardrailsSuite.js"
import * as GuardProbe from "./support/GuardProbe.js"
import * as Probe from "./support/Probe.js"

suite("memory", Layer.provideMerge(Probe.memory, Memory.layer), { parallelConnections: false })

GuardrailsSuite.suite("memory", Layer.provideMerge(GuardProbe.memory, Memory.layer), { parallelConnections: false })

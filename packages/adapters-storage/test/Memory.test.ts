import { Memory } from "@airlock/adapters-storage"
import { Layer } from "effect"
import { suite } from "./CoreSuite.js"
import * as Probe from "./support/Probe.js"

suite("memory", Layer.provideMerge(Probe.memory, Memory.layer), { parallelConnections: false })

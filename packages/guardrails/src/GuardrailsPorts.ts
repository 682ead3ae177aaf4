/** The storage ports guardrails declares, as one type: what a storage adapter must provide. */
import type { ApprovalStore } from "./Approvals.js"
import type { EventStore } from "./BreakerEvents.js"
import type { BreakerStore } from "./Breakers.js"
import type { BudgetStore } from "./BudgetStore.js"
import type { CounterStore } from "./CounterStore.js"

/** Every guardrails store port. */
export type GuardrailsPorts = CounterStore | BreakerStore | EventStore | ApprovalStore | BudgetStore

/**
 * Where every built-in gate of every Airlock package sits in the pipeline: the one gate-order
 * table (lower runs first; equal orders run in registration order). Packages reference these
 * rows, never bare numbers; a new built-in gate gets a row here with the reason for its place.
 * Hosts may give their own gates any number, between or after these.
 */

/** core: an actor acting on another tenant is refused before anything else is read. */
export const tenantScope = 0
/** core: the three-layer kill switch; when the AI is off nothing else about it matters. */
export const killSwitch = 10
/** guardrails (optional `run_active`): a stopped run refuses work before permissions are weighed. */
export const runActive = 12
/** guardrails: during a lockdown protected actions are refused whoever asks. */
export const lockdown = 15
/** core: the actor's role must grant the kind's permission for the phase. */
export const rbac = 20
/** core: the tenant's AI mode decides whether this trigger may apply at all. */
export const mode = 30
/** guardrails: re-evaluates the trust breaker (may downgrade the mode) before counting the command. */
export const trust = 35
/** guardrails (optional `rate_limit`): an actor over its per-minute limit is refused before it counts as velocity. */
export const rateLimit = 38
/** guardrails: counts AI commands per minute; after the permission checks so refusals do not count. */
export const velocity = 40
/** ledger: posting on or before the tenant's lock date is refused before the entry is validated. */
export const periodLock = 50
/** ledger: the proposed entry must balance and name usable accounts. */
export const validation = 60
/** guardrails (optional `media_policy`): a payload's media reference is input validation too. */
export const mediaPolicy = 60
/** guardrails: a large amount raises the tier and asks for review once the input is known valid. */
export const value = 70
/** guardrails: the execution budget is checked (and charged at apply) only for a valid, allowed action. */
export const budget = 80
/** guardrails (optional `llm_budget`): a tenant whose LLM fallback is active cannot start model work. */
export const llmBudget = 81
/** guardrails (optional `provider_breaker`): an open provider breaker refuses the call just before it would run. */
export const providerBreaker = 85
/** guardrails: approvals last, so a request is recorded only for an action every other gate allowed. */
export const approval = 90

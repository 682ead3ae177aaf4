/**
 * @airlock/guardrails — Circuit breakers, rate limits, budgets, approvals, stop conditions, lockdown and media policy.
 *
 * Under construction: see the project's open issues. Nothing is exported yet.
 */
export {}

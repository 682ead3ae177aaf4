/**
 * The three-layer kill switch (global, tenant flag, per-tenant AI settings) and the operating
 * mode rule. All layers must allow; the first that does not is reported.
 */
import type { AiMode, AiSettings } from "./AiSettings.js"
import type { Tenant } from "./Tenant.js"

/** Which layer stopped the AI, if any. */
export type KillSwitchLayer = "global" | "tenant" | "kill_switch" | "ai_enabled"

/** Outcome of the kill switch for one tenant. */
export type KillSwitchState =
  | { readonly enabled: true }
  | { readonly enabled: false; readonly layer: KillSwitchLayer; readonly reason: string }

/**
 * The global layer: the configured value (`AIRLOCK_AI_GLOBAL_ENABLED`), which an operator's stored
 * override (shared by every instance) can turn off but never turn on against the configuration.
 */
export const globalEnabledOf = (configured: boolean, override: unknown): boolean => configured && override !== false

/** Evaluates the three layers in order: global, tenant flag, then `kill_switch` before `ai_enabled`. */
export const evaluateKillSwitch = (
  globalEnabled: boolean,
  tenant: Pick<Tenant, "ai_companion_enabled">,
  settings: Pick<AiSettings, "ai_enabled" | "kill_switch">
): KillSwitchState => {
  if (!globalEnabled) return { enabled: false, layer: "global", reason: "AI is disabled globally" }
  if (!tenant.ai_companion_enabled) {
    return { enabled: false, layer: "tenant", reason: "AI companion is disabled for this tenant" }
  }
  if (settings.kill_switch) return { enabled: false, layer: "kill_switch", reason: "Tenant kill switch is on" }
  if (!settings.ai_enabled) return { enabled: false, layer: "ai_enabled", reason: "AI is disabled in tenant settings" }
  return { enabled: true }
}

/** Who asked for a promotion: a person, or automation (an agent or the system). */
export type Trigger = "human" | "auto"

/**
 * May a proposal be promoted in this mode? `shadow_only` never; `suggest_only` and `drafts`
 * on a human's request; `autopilot_limited` also automatically.
 */
export const modeAllowsApply = (mode: AiMode, trigger: Trigger): boolean => {
  switch (mode) {
    case "shadow_only":
      return false
    case "suggest_only":
    case "drafts":
      return trigger === "human"
    case "autopilot_limited":
      return true
  }
}

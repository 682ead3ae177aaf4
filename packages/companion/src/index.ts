/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 */
export * as Autonomy from "./Autonomy.js"
export * as Categorizer from "./Categorizer.js"
export * as CompanionSettings from "./CompanionSettings.js"
export * as LlmConfig from "./LlmConfig.js"
export * as LlmStage from "./LlmStage.js"
export * as TenantOnboarding from "./TenantOnboarding.js"
export * as TenantTemplates from "./TenantTemplates.js"

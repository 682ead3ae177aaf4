/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 */
export * as Autonomy from "./Autonomy.js"
export * as Calibration from "./Calibration.js"
export * as CalibrationMetrics from "./CalibrationMetrics.js"
export * as Categorizer from "./Categorizer.js"
export * as Certification from "./Certification.js"
export * as Classifier from "./Classifier.js"
export * as CompanionSettings from "./CompanionSettings.js"
export * as LlmConfig from "./LlmConfig.js"
export * as LlmStage from "./LlmStage.js"
export * as VendorKey from "./VendorKey.js"

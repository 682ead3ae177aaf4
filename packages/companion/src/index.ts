/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 */
export * as AutoPost from "./AutoPost.js"
export * as Calibration from "./Calibration.js"
export * as CalibrationMetrics from "./CalibrationMetrics.js"
export * as Categorizer from "./Categorizer.js"
export * as Certification from "./Certification.js"
export * as Chain from "./Chain.js"
export * as Classifier from "./Classifier.js"
export * as ClassifierStage from "./ClassifierStage.js"
export * as Companion from "./Companion.js"
export * as CompanionPorts from "./CompanionPorts.js"
export * as CompanionProvenance from "./CompanionProvenance.js"
export * as RulesStage from "./RulesStage.js"
export * as VendorKey from "./VendorKey.js"
export * as VendorMemoryStage from "./VendorMemoryStage.js"

/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 */
export * as Calibration from "./Calibration.js"
export * as CalibrationMetrics from "./CalibrationMetrics.js"
export * as Categorizer from "./Categorizer.js"
export * as Certification from "./Certification.js"
export * as Classifier from "./Classifier.js"
export * as VendorKey from "./VendorKey.js"

/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 */
export * as Categorizer from "./Categorizer.js"

/**
 * @airlock/companion — The AI bookkeeping companion: settings and modes, categorizers, calibration, auto-post gates, memory governance.
 *
 * Under construction: see the project's open issues. Nothing is exported yet.
 */
export {}

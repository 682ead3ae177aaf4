/**
 * @airlock/ledger — Canonical double-entry journal, shadow proposals, period locks, bank import and QuickBooks export.
 *
 * Under construction: see the project's open issues. Nothing is exported yet.
 */
export {}

/**
 * @airlock/ledger — canonical double-entry journal, shadow proposals, period locks, bank import
 * and QuickBooks export.
 */
export * as BankFile from "./BankFile.js"
export * as BankImport from "./BankImport.js"
export * as BankTransaction from "./BankTransaction.js"
export * as CalendarDate from "./CalendarDate.js"
export * as Chart from "./Chart.js"
export * as Journal from "./Journal.js"
export * as JournalEntry from "./JournalEntry.js"
export * as JournalStore from "./JournalStore.js"
export * as Ledger from "./Ledger.js"
export * as LedgerConfig from "./LedgerConfig.js"
export * as LedgerPorts from "./LedgerPorts.js"
export * as Money from "./Money.js"
export * as PeriodLock from "./PeriodLock.js"
export * as Presets from "./Presets.js"
export * as Proposals from "./Proposals.js"
export * as QboExport from "./QboExport.js"

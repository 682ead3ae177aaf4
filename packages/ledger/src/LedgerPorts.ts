/** The storage ports the ledger declares, as one type: what a storage adapter must provide for it. */
import type { BankTransactionStore } from "./BankTransaction.js"
import type { AccountStore } from "./Chart.js"
import type { JournalStore } from "./JournalStore.js"
import type { PeriodLockStore } from "./PeriodLock.js"
import type { ExportStore } from "./QboExport.js"

/** Every ledger store port. */
export type LedgerPorts = AccountStore | JournalStore | PeriodLockStore | BankTransactionStore | ExportStore

/**
 * Charts of accounts shipped as data, one per tenant template: `standard_small_business`
 * (starter, 14 accounts), `standard_professional_services` (pro, 14) and
 * `gaap_accounting_firm` (firm, 19). Codes follow the usual 1xxx assets … 6xxx expenses
 * numbering, contra accounts carry their own normal balance, and the firm chart uses parents
 * (exported as `Parent:Sub`).
 */
import { Schema } from "effect"

/** Names of the shipped presets. */
export const PresetName = Schema.Literal(
  "standard_small_business",
  "standard_professional_services",
  "gaap_accounting_firm"
)
/** Type of {@link PresetName}. */
export type PresetName = typeof PresetName.Type

/** One account of a preset. `normal_balance` defaults from the type (see `Chart.defaultNormalBalance`). */
export interface PresetAccount {
  readonly code: string
  readonly name: string
  readonly type: "Asset" | "Liability" | "Equity" | "Income" | "Expense"
  readonly normal_balance?: "debit" | "credit"
  readonly parent_code?: string
  readonly description?: string
}

/** A small trading business: one bank, a card, sales tax, owner's equity and draw. */
const standardSmallBusiness: ReadonlyArray<PresetAccount> = [
  { code: "1000", name: "Checking", type: "Asset", description: "Main business bank account" },
  { code: "1200", name: "Accounts Receivable", type: "Asset" },
  { code: "1500", name: "Equipment", type: "Asset", description: "Computers, tools and furniture" },
  { code: "2000", name: "Accounts Payable", type: "Liability" },
  { code: "2100", name: "Credit Card", type: "Liability", description: "Business credit card" },
  { code: "2200", name: "Sales Tax Payable", type: "Liability" },
  { code: "3000", name: "Owner's Equity", type: "Equity" },
  {
    code: "3100",
    name: "Owner's Draw",
    type: "Equity",
    normal_balance: "debit",
    description: "Contra equity: money taken out by the owner"
  },
  { code: "4000", name: "Sales", type: "Income" },
  { code: "5000", name: "Cost of Goods Sold", type: "Expense" },
  { code: "6000", name: "Advertising & Marketing", type: "Expense" },
  { code: "6100", name: "Bank Fees", type: "Expense" },
  { code: "6200", name: "Office Supplies & Software", type: "Expense" },
  { code: "6300", name: "Rent", type: "Expense" }
]

/** A consultancy: operating and payroll accounts, deferred revenue, people-heavy expenses. */
const standardProfessionalServices: ReadonlyArray<PresetAccount> = [
  { code: "1000", name: "Operating Account", type: "Asset" },
  { code: "1050", name: "Payroll Account", type: "Asset" },
  { code: "1200", name: "Accounts Receivable", type: "Asset" },
  { code: "2000", name: "Accounts Payable", type: "Liability" },
  { code: "2100", name: "Payroll Liabilities", type: "Liability", description: "Withholdings and payroll taxes due" },
  {
    code: "2300",
    name: "Deferred Revenue",
    type: "Liability",
    description: "Retainers billed before the work is done"
  },
  { code: "3000", name: "Owner's Capital", type: "Equity" },
  { code: "3900", name: "Retained Earnings", type: "Equity" },
  { code: "4000", name: "Consulting Revenue", type: "Income" },
  { code: "6000", name: "Salaries & Wages", type: "Expense" },
  { code: "6100", name: "Subcontractors", type: "Expense" },
  { code: "6200", name: "Software & Subscriptions", type: "Expense" },
  { code: "6300", name: "Professional Insurance", type: "Expense" },
  { code: "6400", name: "Travel & Meals", type: "Expense" }
]

/** An accounting practice on GAAP accruals: trust accounts, WIP, depreciation, fee lines. */
const gaapAccountingFirm: ReadonlyArray<PresetAccount> = [
  { code: "1000", name: "Cash", type: "Asset", description: "Parent of the firm's bank accounts" },
  { code: "1010", name: "Operating Account", type: "Asset", parent_code: "1000" },
  {
    code: "1020",
    name: "Client Trust Account",
    type: "Asset",
    parent_code: "1000",
    description: "Client money held in trust"
  },
  { code: "1200", name: "Accounts Receivable", type: "Asset" },
  { code: "1250", name: "Unbilled Work in Progress", type: "Asset" },
  { code: "1500", name: "Furniture & Equipment", type: "Asset" },
  {
    code: "1590",
    name: "Accumulated Depreciation",
    type: "Asset",
    normal_balance: "credit",
    description: "Contra asset"
  },
  { code: "2000", name: "Accounts Payable", type: "Liability" },
  { code: "2100", name: "Accrued Liabilities", type: "Liability" },
  {
    code: "2200",
    name: "Client Trust Liability",
    type: "Liability",
    description: "Owed to clients for money held in trust"
  },
  { code: "2400", name: "Deferred Revenue", type: "Liability" },
  { code: "3000", name: "Partners' Capital", type: "Equity" },
  { code: "3100", name: "Partners' Draws", type: "Equity", normal_balance: "debit" },
  { code: "3900", name: "Retained Earnings", type: "Equity" },
  { code: "4000", name: "Fee Revenue", type: "Income", description: "Parent of the fee lines" },
  { code: "4010", name: "Audit & Assurance Fees", type: "Income", parent_code: "4000" },
  { code: "4020", name: "Tax Services Fees", type: "Income", parent_code: "4000" },
  { code: "6000", name: "Salaries & Benefits", type: "Expense" },
  { code: "6500", name: "Depreciation Expense", type: "Expense" }
]

/** Every shipped preset by name. Parents always come before their children. */
export const presets: Readonly<Record<PresetName, ReadonlyArray<PresetAccount>>> = {
  standard_small_business: standardSmallBusiness,
  standard_professional_services: standardProfessionalServices,
  gaap_accounting_firm: gaapAccountingFirm
}

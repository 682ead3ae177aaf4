/**
 * Ledger settings. Read from `AIRLOCK_LEDGER_*` through Effect `Config` ({@link layerConfig})
 * or given in code ({@link layer}); both produce the same service.
 *
 * | setting | variable | runbook name | default |
 * |---|---|---|---|
 * | defaultCurrency | AIRLOCK_LEDGER_DEFAULT_CURRENCY | — | `USD` |
 * | qboDateFormat | AIRLOCK_LEDGER_QBO_DATE_FORMAT | — (QuickBooks Online US date order) | `MM/DD/YYYY` |
 * | maxPageSize | AIRLOCK_LEDGER_MAX_PAGE_SIZE | — | `500` |
 * | maxLinesPerEntry | AIRLOCK_LEDGER_MAX_LINES_PER_ENTRY | — | `500` |
 * | importMaxRows | AIRLOCK_LEDGER_IMPORT_MAX_ROWS | — | `50000` |
 * | exportPageSize | AIRLOCK_LEDGER_EXPORT_PAGE_SIZE | — | `500` |
 */
import { Config, Context, Effect, Layer } from "effect"
import { CurrencyExponents } from "./Money.js"

/** Ledger settings values. */
export interface LedgerSettings {
  /** Currency of accounts created without one (ISO 4217). */
  readonly defaultCurrency: string
  /** Date format of the QuickBooks journal CSV (`MM/DD/YYYY` for US companies, `DD/MM/YYYY` elsewhere). */
  readonly qboDateFormat: string
  /** Largest page any list returns. */
  readonly maxPageSize: number
  /** Most lines one journal entry may have. */
  readonly maxLinesPerEntry: number
  /** Most rows one bank file may have (larger files are refused whole). */
  readonly importMaxRows: number
  /** Entries rendered per step when streaming an export, bounding its memory. */
  readonly exportPageSize: number
  /** Minor-unit exponents by currency; extends or overrides the ISO table. */
  readonly currencyExponents: Readonly<Record<string, number>>
}

/** Defaults of {@link LedgerSettings}. */
export const defaults: LedgerSettings = {
  defaultCurrency: "USD",
  qboDateFormat: "MM/DD/YYYY",
  maxPageSize: 500,
  maxLinesPerEntry: 500,
  importMaxRows: 50_000,
  exportPageSize: 500,
  currencyExponents: CurrencyExponents
}

/** The ledger settings service. */
export class LedgerConfig extends Context.Tag("@airlock/ledger/LedgerConfig")<LedgerConfig, LedgerSettings>() {}

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of ledger settings (`AIRLOCK_LEDGER_*`). */
export const config: Config.Config<LedgerSettings> = Config.all({
  defaultCurrency: Config.string("AIRLOCK_LEDGER_DEFAULT_CURRENCY").pipe(
    Config.validate({
      message: "must be a known ISO 4217 code",
      validation: (c) => Object.hasOwn(CurrencyExponents, c)
    }),
    Config.withDefault(defaults.defaultCurrency)
  ),
  qboDateFormat: Config.string("AIRLOCK_LEDGER_QBO_DATE_FORMAT").pipe(
    Config.validate({
      message: "must use YYYY, MM and DD",
      validation: (f) => /YYYY/.test(f) && /MM/.test(f) && /DD/.test(f)
    }),
    Config.withDefault(defaults.qboDateFormat)
  ),
  maxPageSize: positive("AIRLOCK_LEDGER_MAX_PAGE_SIZE", defaults.maxPageSize),
  maxLinesPerEntry: positive("AIRLOCK_LEDGER_MAX_LINES_PER_ENTRY", defaults.maxLinesPerEntry),
  importMaxRows: positive("AIRLOCK_LEDGER_IMPORT_MAX_ROWS", defaults.importMaxRows),
  exportPageSize: positive("AIRLOCK_LEDGER_EXPORT_PAGE_SIZE", defaults.exportPageSize),
  currencyExponents: Config.succeed(CurrencyExponents)
})

/** Ledger settings from the environment (or whatever `ConfigProvider` is installed). */
export const layerConfig: Layer.Layer<LedgerConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  LedgerConfig,
  Effect.map(config, (c) => c)
)

/** Ledger settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<LedgerSettings> = {}): Layer.Layer<LedgerConfig> =>
  Layer.succeed(LedgerConfig, {
    ...defaults,
    ...settings,
    currencyExponents: { ...CurrencyExponents, ...settings.currencyExponents }
  })

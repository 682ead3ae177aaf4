/**
 * The vendor key: one stable, case-folded name per merchant, normalised from a real bank
 * description. Card networks and terminals decorate the same purchase differently every time
 * (`POS DEBIT 12/03 SQ *BLUE BOTTLE #1234 OAKLAND CA`, `CHECKCARD 1203 SQ *BLUE BOTTLE
 * COFFEE`…); vendor memory and the classifier key their facts on what is left when that noise is
 * gone. Pure and deterministic: the same text always gives the same key.
 *
 * What is stripped, in order: transaction-type prefixes (POS, DEBIT CARD PURCHASE, CHECKCARD,
 * VISA, ACH, RECURRING …) with the date or card digits that follow them; payment-processor
 * prefixes (`SQ *`, `TST*`, `PAYPAL *`, `PP*`, `SP *`, `IN *` …); card-number masks
 * (`XXXX1234`, `****1234`, `CARD 1234`); references (`REF 8842`, `ID: …`, `CONF# …`, `TRACE …`,
 * mixed letter-and-digit codes); dates — numeric (`12/03`), written (`MAR 2026`, `Dec. 12, 2025`,
 * `1 APR`, `JAN26`) and clock times (`8PM`, `14:05`) with a weekday next to them (`TUE 8PM`);
 * phone numbers; web suffixes (`.COM`); store and terminal numbers (`#1234`, `STORE 55`, `T-1234`,
 * long digit runs) — and everything after a store number, which on card strings is the location;
 * then, from the end, a US state or Canadian province code, country code, a recognisable city,
 * and a month or weekday written in full (`Office rent January`).
 *
 * Vendors named after a month or a day (`MAY DEPARTMENT STORES`, `SUNDAY RILEY`, `MARCH & CO`)
 * keep their name: a month or weekday word is removed only where it cannot be the name — never as
 * the key's first word; written out in full (`JANUARY`, `MONDAY`) only at the end of the key; as
 * an abbreviation (`MAR`, `TUE`, and `MAY`) only next to a day, a year or a clock time. So
 * `CAFE JUNE` keys as `cafe` (the price of `Office rent June` keying as `office rent`), while
 * `GOLDEN SUN` and `CHEZ MAY` stay.
 *
 * {@link VERSION} names these rules: facts stored under keys of an earlier version (vendor memory
 * in agent memory, the vendor history of proposals) are not rewritten; a vendor whose key changed
 * is learned again under its new key (see docs/companion-learning.md).
 */

/**
 * The version of the normalisation rules. 2: months, weekdays, times and letter-prefixed store
 * numbers (`T-1234`) are stripped; 1 kept them (`office rent january`, `lyft ride tue 8pm`,
 * `target t`).
 */
export const VERSION = 2

/** Transaction-type words a bank puts before the merchant; removed wherever they stand. */
const TYPE_PHRASES: ReadonlyArray<string> = [
  "PURCHASE AUTHORIZED ON",
  "RECURRING DEBIT CARD PURCHASE",
  "RECURRING CARD PURCHASE",
  "DEBIT CARD PURCHASE",
  "DEBIT CARD PURCH",
  "DEBIT CARD",
  "CARD PURCHASE WITH PIN",
  "CARD PURCHASE",
  "POINT OF SALE",
  "POS PURCHASE",
  "POS DEBIT",
  "POS WITHDRAWAL",
  "POS REFUND",
  "POS",
  "CHECKCARD",
  "CHECK CARD",
  "VISA DDA PUR",
  "VISA DEBIT",
  "VISA",
  "MASTERCARD",
  "DEBIT MC",
  "DBT CRD",
  "ACH DEBIT",
  "ACH CREDIT",
  "ACH PMT",
  "ACH",
  "PREAUTHORIZED DEBIT",
  "PRE AUTHORIZED DEBIT",
  "RECURRING PAYMENT",
  "RECURRING",
  "ELECTRONIC PAYMENT",
  "WEB ONLINE PAYMENT",
  "WEB PAYMENT",
  "WEB PMT",
  "ONLINE PAYMENT",
  "ONLINE TRANSFER",
  "BILL PAYMENT",
  "BILL PAY",
  "PURCHASE RETURN",
  "PURCHASE",
  "REFUND",
  "RETURN",
  "CREDIT VOUCHER",
  "CONTACTLESS",
  "APPLE PAY",
  "GOOGLE PAY",
  "INTL",
  "FOREIGN TRANSACTION"
]

/** Payment-processor prefixes followed by `*` (or a space): the merchant's name follows them. */
const PROCESSORS: ReadonlyArray<string> = [
  "SQ",
  "SQU",
  "TST",
  "PAYPAL",
  "PP",
  "SP",
  "IN",
  "PY",
  "WPY",
  "BT",
  "CKO",
  "FS",
  "PADDLE NET",
  "STRIPE",
  "EB",
  "ZETTLE",
  "SUMUP",
  "IZ",
  "GOOGLE",
  "APL"
]

/** US states (and DC), Canadian provinces: a trailing code of these is the merchant's location. */
const REGIONS = new Set([
  "AL",
  "AK",
  "AZ",
  "AR",
  "CA",
  "CO",
  "CT",
  "DE",
  "DC",
  "FL",
  "GA",
  "HI",
  "ID",
  "IL",
  "IN",
  "IA",
  "KS",
  "KY",
  "LA",
  "ME",
  "MD",
  "MA",
  "MI",
  "MN",
  "MS",
  "MO",
  "MT",
  "NE",
  "NV",
  "NH",
  "NJ",
  "NM",
  "NY",
  "NC",
  "ND",
  "OH",
  "OK",
  "OR",
  "PA",
  "RI",
  "SC",
  "SD",
  "TN",
  "TX",
  "UT",
  "VT",
  "VA",
  "WA",
  "WV",
  "WI",
  "WY",
  "AB",
  "BC",
  "MB",
  "NB",
  "NL",
  "NS",
  "ON",
  "PE",
  "QC",
  "SK"
])

/** Country codes card strings end with. */
const COUNTRIES = new Set(["US", "USA", "CAN", "GB", "GBR", "UK", "IE", "DE", "FR", "NL"])

/** Cities common in card strings (multi-word first); removed only when they end the key. */
const CITIES: ReadonlyArray<string> = [
  "SAN FRANCISCO",
  "SOUTH SAN FRANCISCO",
  "LOS ANGELES",
  "NEW YORK",
  "SAN DIEGO",
  "SAN JOSE",
  "LAS VEGAS",
  "SALT LAKE CITY",
  "SALT LAKE CTY",
  "KANSAS CITY",
  "OKLAHOMA CITY",
  "ST LOUIS",
  "SAINT LOUIS",
  "ST PAUL",
  "FORT WORTH",
  "EL PASO",
  "NEW ORLEANS",
  "SANTA MONICA",
  "SANTA CLARA",
  "MOUNTAIN VIEW",
  "PALO ALTO",
  "REDWOOD CITY",
  "SAN MATEO",
  "LONG BEACH",
  "BROOKLYN",
  "QUEENS",
  "BRONX",
  "MANHATTAN",
  "NEW YORK CITY",
  "NYC",
  "SEATTLE",
  "BELLEVUE",
  "REDMOND",
  "TACOMA",
  "PORTLAND",
  "OAKLAND",
  "BERKELEY",
  "SACRAMENTO",
  "FRESNO",
  "IRVINE",
  "PASADENA",
  "AUSTIN",
  "DALLAS",
  "HOUSTON",
  "PLANO",
  "CHICAGO",
  "EVANSTON",
  "BOSTON",
  "CAMBRIDGE",
  "SOMERVILLE",
  "DENVER",
  "BOULDER",
  "PHOENIX",
  "TEMPE",
  "SCOTTSDALE",
  "TUCSON",
  "MIAMI",
  "ORLANDO",
  "TAMPA",
  "ATLANTA",
  "CHARLOTTE",
  "RALEIGH",
  "DURHAM",
  "NASHVILLE",
  "MEMPHIS",
  "DETROIT",
  "MINNEAPOLIS",
  "MILWAUKEE",
  "CLEVELAND",
  "COLUMBUS",
  "CINCINNATI",
  "PITTSBURGH",
  "PHILADELPHIA",
  "BALTIMORE",
  "WASHINGTON",
  "ARLINGTON",
  "RICHMOND",
  "NEWARK",
  "JERSEY CITY",
  "HOBOKEN",
  "STAMFORD",
  "HARTFORD",
  "PROVIDENCE",
  "BUFFALO",
  "ROCHESTER",
  "ALBANY",
  "INDIANAPOLIS",
  "LOUISVILLE",
  "OMAHA",
  "SAN ANTONIO",
  "ALBUQUERQUE",
  "HONOLULU",
  "ANCHORAGE",
  "BOISE",
  "RENO",
  "SPOKANE",
  "SUNNYVALE",
  "CUPERTINO",
  "MENLO PARK",
  "EMERYVILLE",
  "TORONTO",
  "VANCOUVER",
  "MONTREAL",
  "CALGARY",
  "OTTAWA",
  "LONDON",
  "DUBLIN",
  "AMSTERDAM",
  "BERLIN",
  "PARIS",
  "LOS GATOS",
  "DALY CITY",
  "SANTA CRUZ"
]

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const TYPE_RE = new RegExp(
  `(?:^|\\s)(?:${
    TYPE_PHRASES.map((p) => escape(p).replace(/ /g, "\\s+")).join("|")
  })(?:\\s+\\d{4}(?=\\s|$))?(?=\\s|$|\\d)`,
  "g"
)
const PROCESSOR_RE = new RegExp(
  `(?:^|\\s)(?:${PROCESSORS.map((p) => escape(p).replace(/ /g, "\\s+")).join("|")})\\s*\\*\\s*`,
  "g"
)
const CITY_RE = new RegExp(`\\s(?:${[...CITIES].sort((a, b) => b.length - a.length).map(escape).join("|")})$`)

const MONTHS_FULL = [
  "JANUARY",
  "FEBRUARY",
  "MARCH",
  "APRIL",
  "MAY",
  "JUNE",
  "JULY",
  "AUGUST",
  "SEPTEMBER",
  "OCTOBER",
  "NOVEMBER",
  "DECEMBER"
]
const WEEKDAYS_FULL = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
/** A month, written in full or abbreviated (`SEPT`, `SEP`); longest first so the regex takes the whole word. */
const MONTH = `(?:${[...MONTHS_FULL, "SEPT", ...MONTHS_FULL.map((m) => m.slice(0, 3))].join("|")})`
const WEEKDAY = `(?:${
  [...WEEKDAYS_FULL, "TUES", "THURS", "THUR", ...WEEKDAYS_FULL.map((d) => d.slice(0, 3))].join("|")
})`
/** A clock time: `8PM`, `8 PM`, `8:30PM`, `14:05`, `14:05:33`. */
const TIME = "(?:\\d{1,2}(?::\\d{2}){0,2}\\s?(?:AM|PM)|\\d{1,2}:\\d{2}(?::\\d{2})?)"
/** A day of the month (1–31, optionally 0-padded or with its ordinal suffix). */
const DAY = "(?:0?[1-9]|[12]\\d|3[01])(?:ST|ND|RD|TH)?"
/** A year: `2026`, `26`, `'26` (four digits only from 1900 to 2099: `MAY 0042` is a store number). */
const YEAR4 = "(?:19|20)\\d{2}"
const YEAR = `(?:'?\\d{2}|${YEAR4})`
/**
 * Written dates and weekday-with-time: `MAR 2026`, `Dec. 12, 2025`, `DEC 12`, `1 APR 2026`,
 * `JAN26`, `15JAN26`, `TUE 8PM`, `14:05 SAT`. A month or weekday abbreviation alone is not a date.
 */
const WRITTEN_DATE_RE = new RegExp(
  [
    `${MONTH}\\.?\\s*${DAY},?\\s*${YEAR}`,
    `${MONTH}\\.?,?\\s*${YEAR4}`,
    `${MONTH}\\.?\\s*'\\d{2}`,
    `${MONTH}\\.?\\s+${DAY}`,
    `${DAY}\\s*${MONTH}\\.?(?:,?\\s*${YEAR})?`,
    `${MONTH}(?:\\d{2}|${YEAR4})`,
    `${WEEKDAY}\\.?,?\\s+${TIME}`,
    `${TIME}\\s+${WEEKDAY}`
  ].map((p) => `\\b${p}\\b`).join("|"),
  "g"
)
const TIME_RE = new RegExp(`\\b${TIME}\\b`, "g")
/**
 * Month and weekday names in full: removed from the end of a key (never its first word). Not
 * `MAY`: three letters like an abbreviation, and a common name (`CHEZ MAY`, `ZELLE TO BRIAN MAY`).
 */
const CALENDAR_WORDS = new Set([...MONTHS_FULL.filter((m) => m !== "MAY"), ...WEEKDAYS_FULL])

/** Tokens that are references: letters and digits mixed, with at least three digits, or a long digit run. */
const isReference = (token: string): boolean => {
  if (/^\d{5,}$/.test(token)) return true
  if (token.length >= 6 && /[A-Z]/.test(token) && /\d/.test(token) && (token.match(/\d/g)?.length ?? 0) >= 3)
    return true
  return false
}

/** Normalise one text (a description or a payee) to its key; "" when nothing is left. */
const normalise = (text: string): string => {
  let s = ` ${text.toUpperCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")} `
  // ACH descriptors: "ORIG CO NAME:GUSTO ORIG ID:… CO ENTRY DESCR:PAYROLL …" keeps the company name only
  const orig =
    /ORIG CO NAME\s*:\s*(.+?)\s*(?:\b(?:ORIG ID|DESC DATE|CO ENTRY DESCR|ENTRY DESCR|SEC|TRACE|EED|IND ID|IND NAME)\b|$)/
      .exec(s)
  if (orig) s = ` ${orig[1]} `
  // references with a label: the label and its value go together
  s = s.replace(
    /\b(?:REF(?:ERENCE)?|REF NO|CONF(?:IRMATION)?|AUTH(?:ORIZATION)?|TRACE|TRN|TXN|SEQ|ORIG ID|PPD ID|WEB ID|CCD ID|ID|INV|INVOICE|ORDER|TERMINAL|TERM|TID|MID|APPROVAL|APPR CODE|CARD ENDING IN|CARD ENDING|ENDING IN)\s*(?:NO\.?|NUMBER|#|:)?\s*[:#]?\s*[A-Z0-9-]*\d[A-Z0-9-]*/g,
    " "
  )
  s = s.replace(/\b(?:CO ENTRY DESCR|ENTRY DESCR|IND NAME|INDN|IND ID|SEC)\s*:\s*\S*/g, " ")
  // card-number masks
  s = s.replace(/[X*#]{2,}[-\s]?\d{2,4}\b/g, " ").replace(/\bCARD\s*#?\s*\d{4}\b/g, " ")
  // dates: 12/03, 12/03/24, 2024-12-03, 12-03
  s = s.replace(/\b\d{1,4}[/-]\d{1,2}(?:[/-]\d{2,4})?\b/g, " ")
  // written dates and a weekday with a time, unless they open the text (then they are the name)
  s = s.replace(WRITTEN_DATE_RE, (m, offset: number) => s.slice(0, offset).trim().length > 0 ? " " : m)
  // clock times: 14:32, 8PM, 8:30 PM
  s = s.replace(TIME_RE, " ")
  // phone numbers
  s = s.replace(/\b(?:1[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b/g, " ")
  // transaction-type phrases, with the 4-digit date/card a CHECKCARD or POS carries right after
  for (let i = 0; i < 2; i++) s = s.replace(TYPE_RE, " ")
  // payment processors: "SQ *NAME", "TST* NAME", "PAYPAL *NAME"
  s = s.replace(PROCESSOR_RE, " ")
  // e-mail addresses, and web addresses after the name (a help URL), go whole
  s = s.replace(/\S+@\S+/g, " ")
  s = s.replace(/([A-Z0-9&])\s+(?:HTTPS?:\/\/)?(?:WWW\.)?[A-Z0-9-]+(?:\.[A-Z0-9-]+)*\.[A-Z]{2,6}\b(?:\/\S*)?/g, "$1 ")
  // a marketplace's country before its order reference: "AMZN MKTP US*2K4RT1XY0"
  s = s.replace(/\s(?:US|CA|GB|UK|DE)\*\S+/g, " ")
  // web suffixes and schemes
  s = s.replace(/\bHTTPS?:\/\/|\bWWW\./g, " ").replace(/\.(?:COM|NET|ORG|IO|CO|CA|US|UK)\b(?:\/\S*)?/g, " ")
  // store and terminal numbers: what follows a store number is the location
  s = s.replace(
    /\s(?:#\s*\d+|STORE\s*#?\s*\d+|STR\s*#?\s*\d+|NO\.?\s*\d+|\d{3,}|[A-Z]{1,2}-?\d{3,}(?=\s|$))(?:\s.*)?$/,
    (m, offset: number) => s.slice(0, offset).trim().length > 0 ? " " : m
  )
  s = s.replace(/#\s*\d+/g, " ")
  // remaining punctuation to spaces (keep & and ' inside names), references, lone digits
  s = s.replace(/['’]/g, "").replace(/[^A-Z0-9&]+/g, " ")
  const tokens = s.split(" ").filter((t) => t.length > 0 && !isReference(t))
  // location suffix: country, state/province, then a known city (only when a name remains)
  if (tokens.length > 1 && tokens[0] === "THE") tokens.shift()
  while (tokens.length > 1 && COUNTRIES.has(tokens[tokens.length - 1]!)) tokens.pop()
  // "MARCH & CO": a region code after "&" is part of the name
  if (tokens.length > 1 && REGIONS.has(tokens[tokens.length - 1]!) && tokens[tokens.length - 2] !== "&") tokens.pop()
  while (tokens.length > 1 && COUNTRIES.has(tokens[tokens.length - 1]!)) tokens.pop()
  while (tokens.length > 1 && CALENDAR_WORDS.has(tokens[tokens.length - 1]!)) tokens.pop()
  let out = tokens.join(" ")
  const city = CITY_RE.exec(` ${out}`)
  if (city && city.index > 0) out = ` ${out}`.slice(0, city.index).trim()
  // a month or weekday in full before the location ("OFFICE RENT JANUARY SAN FRANCISCO CA")
  const rest = out.split(" ")
  while (rest.length > 1 && CALENDAR_WORDS.has(rest[rest.length - 1]!)) rest.pop()
  out = rest.join(" ")
  // a trailing run of digits (a store number without a marker) goes too
  out = out.replace(/(?:\s\d+)+$/, "")
  return out.toLowerCase().replace(/\s+/g, " ").trim()
}

/** The fallback when stripping leaves nothing: the description's letters, case-folded. */
const fallback = (text: string): string => text.toLowerCase().replace(/[^a-z0-9&]+/g, " ").replace(/\s+/g, " ").trim()

/**
 * The normalised vendor key of a bank transaction: the payee when the bank gives one that
 * survives normalisation, otherwise the description. Never empty for a non-blank description.
 */
export const vendorKey = (description: string, payee?: string | null): string => {
  if (payee !== undefined && payee !== null) {
    const fromPayee = normalise(payee)
    if (fromPayee !== "") return fromPayee
  }
  const key = normalise(description)
  return key !== "" ? key : fallback(description)
}

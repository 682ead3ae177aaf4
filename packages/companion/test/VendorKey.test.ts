import { VendorKey } from "@airlock/companion"
import { describe, expect, it } from "@effect/vitest"

const { vendorKey } = VendorKey

/** Real-looking bank strings of one vendor each, with the key they must all give. */
const groups: ReadonlyArray<{ readonly key: string; readonly variants: ReadonlyArray<string> }> = [
  {
    key: "starbucks",
    variants: [
      "STARBUCKS STORE 12345 SEATTLE WA",
      "DEBIT CARD PURCHASE XXXX1234 STARBUCKS #4567 NEW YORK NY",
      "POS DEBIT 12/03 STARBUCKS #00891 CHICAGO IL",
      "CHECKCARD 0312 STARBUCKS 800-782-7282 WA",
      "Starbucks"
    ]
  },
  {
    key: "blue bottle coffee",
    variants: [
      "SQ *BLUE BOTTLE COFFEE Oakland CA",
      "POS PURCHASE 03/14 SQ *BLUE BOTTLE COFFEE #12 OAKLAND CA",
      "CHECKCARD 1203 SQ *BLUE BOTTLE COFFEE",
      "SQ*BLUE BOTTLE COFFEE gosq.com CA"
    ]
  },
  {
    key: "joes pizza",
    variants: [
      "TST* JOE'S PIZZA 0042 BROOKLYN NY",
      "TST*JOES PIZZA BROOKLYN NY",
      "DEBIT CARD PURCHASE ****5521 TST* JOE'S PIZZA",
      "VISA DDA PUR 445566 TST* JOES PIZZA NEW YORK NY"
    ]
  },
  {
    key: "netflix",
    variants: [
      "NETFLIX.COM",
      "PAYPAL *NETFLIX.COM 408-540-3700 CA",
      "RECURRING DEBIT CARD PURCHASE 04/01 NETFLIX.COM LOS GATOS CA",
      "Netflix.com 866-579-7172 CA XXXX9921"
    ]
  },
  {
    key: "shell oil",
    variants: [
      "PURCHASE AUTHORIZED ON 03/12 SHELL OIL 57444212 HOUSTON TX S384072345678901 CARD 1234",
      "SHELL OIL 57444212 HOUSTON TX",
      "POS DEBIT SHELL OIL 12874653001 DALLAS TX",
      "SHELL OIL #5744 AUSTIN TX 12/22"
    ]
  },
  {
    key: "walgreens",
    variants: [
      "WALGREENS #1234 CHICAGO IL",
      "WALGREENS STORE 9921 EVANSTON IL",
      "POS WALGREENS 0004512 12/01",
      "WALGREENS #15523"
    ]
  },
  {
    key: "uber trip",
    variants: [
      "UBER *TRIP HELP.UBER.COM CA",
      "UBER TRIP 8005928996 CA",
      "DEBIT CARD PURCHASE XXXX1234 UBER *TRIP SAN FRANCISCO CA",
      "UBER TRIP HELP.UBER.COM 02/11"
    ]
  },
  {
    key: "gusto",
    variants: [
      "ORIG CO NAME:GUSTO ORIG ID:9876543210 DESC DATE:240301 CO ENTRY DESCR:PAYROLL SEC:CCD TRACE#:091000012345678",
      "ORIG CO NAME:Gusto ORIG ID:9876543210 DESC DATE:240315 CO ENTRY DESCR:NET PAY SEC:CCD",
      "GUSTO",
      "ACH DEBIT GUSTO REF 99812233"
    ]
  },
  {
    key: "adobe creative cld",
    variants: [
      "ADOBE *CREATIVE CLD 408-536-6000 CA",
      "PAYPAL *ADOBE CREATIVE CLD",
      "RECURRING PAYMENT ADOBE *CREATIVE CLD SAN JOSE CA",
      "ADOBE *CREATIVE CLD 4085366000 CA"
    ]
  },
  {
    key: "home depot",
    variants: [
      "THE HOME DEPOT #6512 DENVER CO",
      "HOME DEPOT 6512 DENVER CO",
      "POS PURCHASE HOME DEPOT #0412 BOULDER CO 11/28",
      "HOME DEPOT XXXXXXXXXXXX4451"
    ]
  },
  {
    key: "amzn mktp",
    variants: [
      "AMZN MKTP US*2K4RT1XY0 AMZN.COM/BILL WA",
      "AMZN Mktp US*RT5YH7LA2 Amzn.com/bill WA",
      "AMZN MKTP US*1A2B3C4D5 SEATTLE WA",
      "DEBIT CARD PURCHASE AMZN MKTP US 03/02"
    ]
  },
  {
    key: "dropbox",
    variants: [
      "DROPBOX*3NFHJD8K7LQ2 DB.TT/CCHELP CA",
      "DROPBOX 8H7GFD2WS1X5 SAN FRANCISCO CA",
      "Dropbox",
      "CHECKCARD 0105 DROPBOX"
    ]
  },
  {
    key: "delta air lines",
    variants: [
      "DELTA AIR LINES 0062345678901 ATLANTA GA",
      "DELTA AIR LINES 00623456789 DELTA.COM",
      "VISA DELTA AIR LINES ATLANTA GA XXXX4421"
    ]
  },
  {
    key: "pg&e",
    variants: ["PG&E WEB ONLINE PAYMENT 04/12", "ONLINE PAYMENT PG&E WEB ID: 9410012345", "PG&E"]
  },
  {
    key: "7 eleven",
    variants: ["7-ELEVEN 34567 DALLAS TX", "7-ELEVEN #1002 PLANO TX", "POS DEBIT 7-ELEVEN 0034567"]
  }
]

describe("VendorKey", () => {
  for (const g of groups) {
    it(`${g.key}: every noisy variant gives the same key`, () => {
      expect(g.variants.map((v) => vendorKey(v))).toStrictEqual(g.variants.map(() => g.key))
    })
  }

  it("different vendors give different keys", () => {
    const keys = groups.flatMap((g) => g.variants.map((v) => vendorKey(v)))
    const distinct = new Set(keys)
    expect(distinct.size).toBe(groups.length)
    expect(keys.length).toBeGreaterThanOrEqual(40)
  })

  it("close but different vendors stay apart", () => {
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["SQ *BLUE BOTTLE COFFEE", "SQ *BLUE APRON"],
      ["UBER *TRIP HELP.UBER.COM CA", "UBER *EATS HELP.UBER.COM CA"],
      ["AMZN MKTP US*2K4RT1XY0", "AMAZON WEB SERVICES AWS.AMAZON.CO WA"],
      ["SHELL OIL 57444212 HOUSTON TX", "CHEVRON 0202011 HOUSTON TX"],
      ["TST* JOE'S PIZZA 0042", "TST* JOE'S DINER 0042"]
    ]
    for (const [a, b] of pairs) expect(vendorKey(a)).not.toBe(vendorKey(b))
  })

  it("the payee, when the bank gives one, wins over the description; a blank payee does not", () => {
    expect(vendorKey("POS DEBIT 12/03 XYZ*889912", "Blue Bottle Coffee")).toBe("blue bottle coffee")
    expect(vendorKey("STARBUCKS #1234", "")).toBe("starbucks")
    expect(vendorKey("STARBUCKS #1234", null)).toBe("starbucks")
    expect(vendorKey("STARBUCKS #1234", " 12/03 ")).toBe("starbucks")
  })

  it("month names, weekdays, times and month-year tails are dates, not part of the vendor", () => {
    const same: ReadonlyArray<{ readonly key: string; readonly variants: ReadonlyArray<string> }> = [
      {
        key: "office rent",
        variants: [
          "Office rent January",
          "Office rent February",
          "OFFICE RENT - MAR 2026",
          "OFFICE RENT SEPTEMBER 2026",
          "Office Rent Dec. 12, 2025",
          "ONLINE TRANSFER OFFICE RENT 1 APR",
          "Office rent May 2026",
          "OFFICE RENT JUNE SAN FRANCISCO CA"
        ]
      },
      {
        key: "payment to landlord llc",
        variants: ["Payment to Landlord LLC Dec 2025", "PAYMENT TO LANDLORD LLC JAN26", "Payment to Landlord LLC"]
      },
      {
        key: "lyft ride",
        variants: ["LYFT *RIDE TUE 8PM", "LYFT *RIDE SUN 11:45 PM", "LYFT *RIDE FRI 7 AM", "LYFT *RIDE"]
      },
      {
        key: "comcast business",
        variants: ["COMCAST BUSINESS 14:05 SAT", "COMCAST BUSINESS 8:30PM", "Comcast Business Monday"]
      },
      {
        key: "target",
        variants: [
          "TARGET T-1234 MINNEAPOLIS MN",
          "TARGET T-0877 EDINA MN",
          "POS DEBIT TARGET T1234 ST PAUL MN 03/02",
          "TARGET 00012345 MINNEAPOLIS MN"
        ]
      }
    ]
    for (const g of same) expect(g.variants.map((v) => vendorKey(v))).toStrictEqual(g.variants.map(() => g.key))
  })

  it("a vendor whose name is a month or a weekday keeps it", () => {
    const kept: ReadonlyArray<readonly [string, string]> = [
      ["MAY DEPARTMENT STORES #0412 ST LOUIS MO", "may department stores"],
      ["SUNDAY RILEY MODERN SKINCARE", "sunday riley modern skincare"],
      ["SQ *MARCH & CO 0041 PORTLAND OR", "march & co"],
      ["TST* JUNE'S DINER 0042 BROOKLYN NY", "junes diner"],
      ["AUGUST HOME INC 415-555-0100 CA", "august home inc"],
      ["SATURDAY MORNING BAKERY", "saturday morning bakery"],
      ["FRIDAY HARBOR MARINE", "friday harbor marine"],
      ["RISING SUN CAFE #12 AUSTIN TX", "rising sun cafe"],
      ["GOLDEN SUN RESTAURANT", "golden sun restaurant"],
      ["THE MAY FAIR HOTEL LONDON", "may fair hotel"],
      ["WED SHOP ONLINE", "wed shop online"],
      ["GOLDEN SUN #0012 AUSTIN TX", "golden sun"],
      ["TST* CHEZ MAY 0042 BROOKLYN NY", "chez may"],
      ["ZELLE TO BRIAN MAY", "zelle to brian may"],
      ["DOLLAR DAYS SAT", "dollar days sat"]
    ]
    for (const [text, key] of kept) expect([text, vendorKey(text)]).toStrictEqual([text, key])
    // and the same vendor with a date still keys as itself
    expect(vendorKey("MAY DEPARTMENT STORES MAY 2026")).toBe("may department stores")
    expect(vendorKey("SUNDAY RILEY SUN 9AM")).toBe("sunday riley")
    expect(vendorKey("MARCH & CO - MARCH 2026")).toBe("march & co")
  })

  it("a month word alone, or first, is never stripped to nothing", () => {
    expect(vendorKey("JANUARY")).toBe("january")
    expect(vendorKey("MARCH 2026")).toBe("march")
    expect(vendorKey("TUE 8PM")).not.toBe("")
  })

  it("never empty for a description that is all noise; deterministic", () => {
    expect(vendorKey("POS DEBIT 12/03")).not.toBe("")
    expect(vendorKey("123456789")).toBe("123456789")
    expect(vendorKey("CHECKCARD 0312 STARBUCKS #1")).toBe(vendorKey("CHECKCARD 0312 STARBUCKS #1"))
  })
})

/**
 * Outage classes (assistant platform runbook, "Outage-Class Diagnostics Evidence"): why an
 * external dependency could not be used, in four deterministic classes that the doctor's JSON
 * reports — `dns_resolution` (the name does not resolve), `timeout` (no answer in time),
 * `network_unreachable` (nothing listens, the route is down, the connection was reset) and
 * `provider_unavailable` (the service answered that it cannot serve: 5xx or 429).
 *
 * Probing is a port ({@link DependencyProbe}): the network code lives in an adapter
 * (`@airlock/adapters-http`'s `OperationsProbe.layer`); the classification is pure. Failure
 * triage classifies a failed execution's error and log lines with the same classes and codes
 * ({@link fromText}).
 */
import { Context, type Effect, Schema } from "effect"

/** The four outage classes. */
export const OutageClass = Schema.Literal("dns_resolution", "timeout", "network_unreachable", "provider_unavailable")
/** Type of {@link OutageClass}. */
export type OutageClass = typeof OutageClass.Type

const DNS = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"])
const TIMEOUT = new Set([
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "TIMEOUT"
])

// named for text matching only: any other connection error code is `network_unreachable` too
const NETWORK = new Set(["ENETUNREACH", "EHOSTUNREACH", "ECONNREFUSED", "ECONNRESET"])

/** A case-insensitive pattern matching any of `codes` (bar `skip`) or of `phrases` (regular expressions). */
const wording = (codes: ReadonlySet<string>, phrases: ReadonlyArray<string>, skip: ReadonlyArray<string> = []) =>
  new RegExp([...[...codes].filter((c) => !skip.includes(c)), ...phrases].join("|"), "i")

/**
 * The words that name each class in an error message or a log line, most specific first (a DNS
 * failure also says "not found", a connect timeout also says "timeout"): the error codes
 * {@link fromErrorCode} reads, the HTTP statuses of a provider that cannot serve (500, 502, 503,
 * 429; a 504 reads as a timeout), and the usual phrases. The bare code `TIMEOUT` is left out: in
 * free text "timeout" alone says nothing of a dependency.
 */
export const textPatterns: ReadonlyArray<readonly [OutageClass, RegExp]> = [
  [
    "dns_resolution",
    wording(DNS, [
      "getaddrinfo",
      "name or service not known",
      "could not resolve host",
      "temporary failure in name resolution",
      "dns"
    ])
  ],
  [
    "network_unreachable",
    wording(NETWORK, [
      "network is unreachable",
      "no route to host",
      "connection refused",
      "connection reset"
    ])
  ],
  [
    "timeout",
    wording(TIMEOUT, [
      "connect(ion)? timed? ?out",
      "upstream timed? ?out",
      "read timed? ?out",
      "gateway timeout",
      "\\b504\\b"
    ], ["TIMEOUT"])
  ],
  [
    "provider_unavailable",
    wording(new Set(), [
      "\\b50[023]\\b",
      "\\b429\\b",
      "service unavailable",
      "bad gateway",
      "provider unavailable",
      "breaker (is )?open",
      "overloaded",
      "too many requests",
      "rate limit"
    ])
  ]
]

/** The pattern of one class in {@link textPatterns}. */
export const textPattern = (outage: OutageClass): RegExp => textPatterns.find(([c]) => c === outage)![1]

/** The class a line of text names (the first of {@link textPatterns} that matches), or null. Pure. */
export const fromText = (line: string): OutageClass | null => {
  for (const [outage, pattern] of textPatterns) if (pattern.test(line)) return outage
  return null
}

/** The class of a failed connection attempt, from its system error code (Node's `err.code`). Pure. */
export const fromErrorCode = (code: string | undefined): OutageClass =>
  code !== undefined && DNS.has(code)
    ? "dns_resolution"
    : code !== undefined && TIMEOUT.has(code)
    ? "timeout"
    : "network_unreachable"

/** The class of an HTTP answer: `provider_unavailable` for 5xx and 429, null when it is served. Pure. */
export const fromHttpStatus = (status: number): OutageClass | null =>
  status >= 500 || status === 429 ? "provider_unavailable" : null

/** What to probe: a TCP endpoint (a database URL's host and port) or an HTTP endpoint. */
export interface ProbeTarget {
  readonly kind: "tcp" | "http"
  /** `postgres://host:port/db` for tcp (the credentials are never used), an http(s) URL for http. */
  readonly url: string
  readonly timeoutMillis: number
}

/** A probe's outcome. */
export type ProbeResult =
  | { readonly ok: true; readonly latency_ms: number; readonly status: number | null }
  | {
    readonly ok: false
    readonly outage_class: OutageClass
    /** A short public detail (an error code or an HTTP status), never a credential. */
    readonly detail: string
  }

/** The network probe port. */
export class DependencyProbe extends Context.Tag("@airlock/ops/DependencyProbe")<
  DependencyProbe,
  { readonly probe: (target: ProbeTarget) => Effect.Effect<ProbeResult> }
>() {}

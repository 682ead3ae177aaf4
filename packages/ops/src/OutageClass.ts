/**
 * Outage classes (assistant platform runbook, "Outage-Class Diagnostics Evidence"): why an
 * external dependency could not be used, in four deterministic classes that the doctor's JSON
 * reports — `dns_resolution` (the name does not resolve), `timeout` (no answer in time),
 * `network_unreachable` (nothing listens, the route is down, the connection was reset) and
 * `provider_unavailable` (the service answered that it cannot serve: 5xx or 429).
 *
 * Probing is a port ({@link DependencyProbe}): the network code lives in an adapter
 * (`@airlock/adapters-http`'s `OperationsProbe.layer`); the classification is pure.
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

/**
 * What the adapter knows about the request being served: its id (echoed in the `X-Request-Id`
 * header, in every error body and in the log) and the client address. Provided to handlers by
 * the server middleware; read it with `Effect.serviceOption(CurrentRequest)` where it is optional.
 */
import { Context } from "effect"

/** The request being served. */
export interface RequestInfo {
  /** Unique id of this request (the caller's `X-Request-Id` when it is a sane id). */
  readonly id: string
  /** The client address after trusted-proxy resolution, or null when unknown. */
  readonly clientIp: string | null
  /** The route template that matched (`/api/v1/companion/settings`), or `unmatched`. */
  readonly route: string
}

/** The request being served. */
export class CurrentRequest extends Context.Tag("@airlock/adapters-http/CurrentRequest")<CurrentRequest, RequestInfo>() {}

/** Request ids callers may choose: short, printable, no separators that break logs or headers. */
const SANE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** The caller's `X-Request-Id` when it is a sane id, else undefined (the server makes one). */
export const acceptedRequestId = (header: string | undefined): string | undefined =>
  header !== undefined && SANE_ID.test(header) ? header : undefined

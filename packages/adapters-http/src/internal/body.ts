/**
 * Request bodies are read once, before routing, so every route gets the same treatment: the
 * size limit (413 after draining the body, so the client reads the answer), malformed JSON and
 * over-deep JSON (400) — all decided before any handler or store is touched. The parsed body
 * is then served to the router from memory. An empty body sent to a route whose payload accepts
 * `{}` (every field optional) is served as `{}`.
 */
import { Errors } from "@airlock/core"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import { RequestError } from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import { Effect, Option, Stream } from "effect"
import type * as ApiError from "../ApiError.js"

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"])

/** Same rule as `HttpApiBuilder`: no content type, or one containing `application/json`, is JSON. */
const isJson = (contentType: string | undefined) =>
  contentType === undefined || contentType === "" || contentType.toLowerCase().includes("application/json")

/** The deepest nesting of arrays/objects in JSON text (strings are skipped), stopping past `max`. */
export const jsonDepthExceeds = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 123 || c === 91) {
      if (++depth > max) return true
    } else if (c === 125 || c === 93) {
      depth--
    }
  }
  return false
}

const tooLarge = (limit: number) =>
  new Errors.PayloadTooLarge({ message: `Request body exceeds ${limit} bytes`, details: { max_bytes: limit } })

/** Outcome of reading a body: the bytes, or how far over the limit it went. */
type Read = { readonly _tag: "Body"; readonly bytes: Uint8Array } | {
  readonly _tag: "TooLarge"
  readonly drained: boolean
}

const collect = (request: HttpServerRequest.HttpServerRequest, limit: number, drainCap: number) =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEachWhile(request.stream, (chunk) =>
      Effect.sync(() => {
        size += chunk.length
        if (size <= limit) chunks.push(chunk)
        else chunks.length = 0
        return size <= drainCap
      })).pipe(
        Effect.map((): Read =>
          size > limit ? { _tag: "TooLarge", drained: size <= drainCap } : { _tag: "Body", bytes: concat(chunks, size) }
        )
      )
  })

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.length
  }
  return out
}

const decoder = new TextDecoder()

const BODY_BYTES = Symbol.for("@airlock/adapters-http/BodyBytes")

/**
 * The bytes of a body {@link prepare} read, for handlers that must decode a text body
 * themselves (a bank file's charset); `undefined` when the request did not go through it.
 */
export const bodyBytes = (request: HttpServerRequest.HttpServerRequest): Uint8Array | undefined =>
  (request as unknown as { readonly [BODY_BYTES]?: Uint8Array })[BODY_BYTES]

/** A request whose body accessors answer from `bytes` (already read and, for JSON, parsed). */
const withBody = (
  request: HttpServerRequest.HttpServerRequest,
  bytes: Uint8Array,
  text: string,
  json: { readonly value: unknown } | undefined
): HttpServerRequest.HttpServerRequest => {
  const decodeError = (cause: unknown) => new RequestError({ request, reason: "Decode", cause })
  const wrapped = Object.create(request) as HttpServerRequest.HttpServerRequest
  Object.defineProperties(wrapped, {
    text: { value: Effect.succeed(text) },
    json: {
      value: json !== undefined
        ? Effect.succeed(json.value)
        : Effect.try({ try: () => (text === "" ? null : JSON.parse(text)), catch: decodeError })
    },
    arrayBuffer: {
      value: Effect.sync(() => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
    },
    urlParamsBody: {
      value: Effect.try({ try: () => UrlParams.fromInput(new URLSearchParams(text)), catch: decodeError })
    },
    stream: { value: Stream.make(bytes) },
    [BODY_BYTES]: { value: bytes }
  })
  return wrapped
}

/** Body limits. */
export interface BodyLimits {
  readonly maxBytes: number
  readonly maxJsonDepth: number
}

/** What {@link prepare} decided. */
export type Prepared =
  | {
    readonly _tag: "Ok"
    readonly request: HttpServerRequest.HttpServerRequest
    /**
     * The tenant selector a JSON object body carried (`workspace_id`, taken out of the body so
     * route schemas never see it), for the central tenant resolution; absent when none.
     */
    readonly selector?: { readonly value: unknown }
  }
  | { readonly _tag: "Refused"; readonly error: ApiError.AirlockError; readonly closeConnection: boolean }

/** The body field that names the tenant a request acts on, like `X-Tenant` (the companion runbook's `workspace_id`). */
export const TENANT_SELECTOR = "workspace_id"

const encoder = new TextEncoder()

/**
 * A JSON object body with the tenant selector: the selector, and the request with a body
 * without it. Other bodies pass unchanged.
 */
const takeSelector = (
  request: HttpServerRequest.HttpServerRequest,
  parsed: unknown,
  ok: (parsed: unknown) => HttpServerRequest.HttpServerRequest
): Prepared => {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !Object.hasOwn(parsed, TENANT_SELECTOR))
    return { _tag: "Ok", request: ok(parsed) }
  const { [TENANT_SELECTOR]: value, ...rest } = parsed as Record<string, unknown>
  const text = JSON.stringify(rest)
  return { _tag: "Ok", request: withBody(request, encoder.encode(text), text, { value: rest }), selector: { value } }
}

/**
 * The request with the JSON body `{}` in place of an empty one (nothing, or only whitespace, in
 * whatever content type but multipart): what a route whose payload has no required field gets
 * when a client sends nothing (`curl -X POST` without `-d`, `-d ''`, `fetch` without a body).
 */
const asEmptyObject = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest => {
  const text = "{}"
  const wrapped = withBody(request, encoder.encode(text), text, { value: {} })
  // read as JSON whatever it was labelled: an empty form or text body carries nothing either
  Object.defineProperty(wrapped, "headers", {
    value: { ...request.headers, "content-type": "application/json", "content-length": String(text.length) }
  })
  return wrapped
}

/**
 * Reads and checks the body of a request that may carry one. Multipart bodies are left to the
 * platform (which applies its own limits); everything else is read here under the size limit.
 * With `emptyAsObject` (the route's payload accepts `{}`), an empty body is served as `{}`; a
 * body that is present is checked as always.
 */
export const prepare = (
  request: HttpServerRequest.HttpServerRequest,
  limits: BodyLimits,
  takesBody?: boolean,
  emptyAsObject = false
): Effect.Effect<Prepared, RequestError> => {
  if (takesBody === false) return refuseBody(request, limits)
  if (!BODY_METHODS.has(request.method)) return Effect.succeed({ _tag: "Ok", request })
  const headers = request.headers
  const contentType = headers["content-type"]
  if (contentType !== undefined && contentType.toLowerCase().includes("multipart/form-data")) {
    return Effect.succeed({ _tag: "Ok", request })
  }
  const empty = (): Prepared => ({ _tag: "Ok", request: asEmptyObject(request) })
  const length = headers["content-length"]
  if (length === undefined && headers["transfer-encoding"] === undefined) {
    return Effect.succeed(emptyAsObject ? empty() : { _tag: "Ok", request })
  }
  // read at most this much to let the client finish sending before it gets the 413
  const drainCap = limits.maxBytes * 4 + 1024 * 1024
  if (length !== undefined && Number(length) > drainCap) {
    return Effect.succeed({ _tag: "Refused", error: tooLarge(limits.maxBytes), closeConnection: true })
  }
  if (length !== undefined && Number(length) <= limits.maxBytes && isJson(contentType)) {
    // the common case: JSON of a declared size within the limit. The platform reads and caches
    // the text (its JSON parser reads from that cache); the HTTP parser never reads past
    // Content-Length, so the limit cannot be exceeded here.
    return Effect.map(
      HttpIncomingMessage.withMaxBodySize(request.text, Option.some(limits.maxBytes)),
      (text): Prepared =>
        emptyAsObject && text.trim() === "" ? empty() : checkJson(request, text, limits, () => request)
    )
  }
  return Effect.map(collect(request, limits.maxBytes, drainCap), (read): Prepared => {
    if (read._tag === "TooLarge")
      return { _tag: "Refused", error: tooLarge(limits.maxBytes), closeConnection: !read.drained }
    const text = decoder.decode(read.bytes)
    if (emptyAsObject && text.trim() === "") return empty()
    if (!isJson(contentType) || text === "")
      return { _tag: "Ok", request: withBody(request, read.bytes, text, undefined) }
    return checkJson(request, text, limits, (parsed) => withBody(request, read.bytes, text, { value: parsed }))
  })
}

const unexpectedBody = (): Prepared => ({
  _tag: "Refused",
  error: new Errors.ValidationError({
    code: "validation.unexpected_body",
    message: "This route takes no request body",
    details: { allowed: `nothing, {}, or {"${TENANT_SELECTOR}": …}` }
  }),
  closeConnection: false
})

/**
 * A route that declares no body: an empty body (or whitespace) passes, as does an empty JSON
 * object or one with only the tenant selector (`{"workspace_id": "acme"}`); anything else is 400
 * `validation.unexpected_body` — a route never acts on a body it ignores.
 */
const refuseBody = (
  request: HttpServerRequest.HttpServerRequest,
  limits: BodyLimits
): Effect.Effect<Prepared, RequestError> => {
  const headers = request.headers
  const length = headers["content-length"]
  if ((length === undefined || length === "0") && headers["transfer-encoding"] === undefined) {
    return Effect.succeed({ _tag: "Ok", request })
  }
  const drainCap = limits.maxBytes * 4 + 1024 * 1024
  if (length !== undefined && Number(length) > drainCap) {
    return Effect.succeed({ _tag: "Refused", error: tooLarge(limits.maxBytes), closeConnection: true })
  }
  return Effect.map(collect(request, limits.maxBytes, drainCap), (read): Prepared => {
    if (read._tag === "TooLarge")
      return { _tag: "Refused", error: tooLarge(limits.maxBytes), closeConnection: !read.drained }
    const text = decoder.decode(read.bytes)
    if (text.trim() === "") return { _tag: "Ok", request: withBody(request, read.bytes, text, undefined) }
    if (!isJson(headers["content-type"])) return unexpectedBody()
    const checked = checkJson(request, text, limits, (parsed) => withBody(request, read.bytes, text, { value: parsed }))
    if (checked._tag === "Refused") return checked
    // an empty object carries nothing; the tenant selector is the only field such a route takes
    const parsed: unknown = JSON.parse(text)
    const keys = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? Object.keys(parsed).filter((k) => k !== TENANT_SELECTOR)
      : undefined
    return keys !== undefined && keys.length === 0 ? checked : unexpectedBody()
  })
}

/** Refuses over-deep or malformed JSON; otherwise hands the parsed value to `ok`. */
const checkJson = (
  request: HttpServerRequest.HttpServerRequest,
  text: string,
  limits: BodyLimits,
  ok: (parsed: unknown) => HttpServerRequest.HttpServerRequest
): Prepared => {
  if (text === "") return { _tag: "Ok", request }
  if (jsonDepthExceeds(text, limits.maxJsonDepth)) {
    return {
      _tag: "Refused",
      error: new Errors.ValidationError({
        code: "validation.json_depth",
        message: `JSON nested deeper than ${limits.maxJsonDepth} levels`,
        details: { max_depth: limits.maxJsonDepth }
      }),
      closeConnection: false
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return {
      _tag: "Refused",
      error: new Errors.ValidationError({
        code: "validation.json",
        message: `Malformed JSON: ${e instanceof Error ? e.message.slice(0, 200) : "parse error"}`
      }),
      closeConnection: false
    }
  }
  return takeSelector(request, parsed, ok)
}

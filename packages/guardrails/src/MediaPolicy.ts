/**
 * Inbound media policy (assistant platform runbook): before a media reference is downloaded it
 * must have a valid URL, a host on the allowlist, an allowed MIME prefix, a size within the limit,
 * and a target path inside the media directory — no `..` traversal and no symbolic link leading
 * out. Each refusal carries its reason code (`media_url_invalid`, `media_host_denied`,
 * `media_mime_denied`, `media_size_exceeded`, `media_path_unsafe`).
 *
 * The checks are pure. Symbolic links are judged on resolved paths the caller passes in, or that
 * a {@link PathResolver} port (implemented by the host with its file system) supplies.
 */
import { Errors } from "@airlock/core"
import { Context, Effect, Either, Option } from "effect"
import { GuardrailsConfig, type GuardrailsSettings } from "./GuardrailsConfig.js"

/** Why a media reference was refused. */
export type MediaRefusalCode =
  | "media_url_invalid"
  | "media_host_denied"
  | "media_mime_denied"
  | "media_size_exceeded"
  | "media_path_unsafe"

/** A refusal: its code and what was wrong. */
export interface MediaRefusal {
  readonly code: MediaRefusalCode
  readonly message: string
  readonly details: Record<string, unknown>
}

/** A media reference to check. */
export interface MediaReference {
  readonly url: string
  readonly mime_type?: string | undefined
  readonly size_bytes?: number | undefined
  /** Where it would be written: absolute, or relative to the media directory. */
  readonly target_path?: string | undefined
}

/** The policy the checks apply. */
export type MediaSettings = Pick<
  GuardrailsSettings,
  "mediaAllowedHosts" | "mediaAllowedMimePrefixes" | "mediaMaxBytes" | "mediaDir" | "mediaAllowHttp"
>

/** Real (link-free) paths of the media directory and of the target, as a resolver found them. */
export interface ResolvedPaths {
  readonly dir: string
  readonly target: string
}

const refusal = (code: MediaRefusalCode, message: string, details: Record<string, unknown> = {}): MediaRefusal => ({
  code,
  message,
  details
})

/** Is `host` allowed by the list (`example.com` exact, `*.example.com` any subdomain)? Pure. */
export const hostAllowed = (host: string, allowed: ReadonlyArray<string>): boolean => {
  const h = host.toLowerCase().replace(/\.$/, "")
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase().trim()
    if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1
    return h === p
  })
}

/** Checks the URL (parseable, http(s), no credentials) and its host. Pure. */
export const checkUrl = (url: string, s: MediaSettings): Either.Either<URL, MediaRefusal> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Either.left(refusal("media_url_invalid", "Media URL is not a valid URL"))
  }
  const schemes = s.mediaAllowHttp ? ["https:", "http:"] : ["https:"]
  if (!schemes.includes(parsed.protocol)) {
    return Either.left(
      refusal("media_url_invalid", `Media URL scheme ${parsed.protocol} is not allowed`, { scheme: parsed.protocol })
    )
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return Either.left(refusal("media_url_invalid", "Media URL must not carry credentials"))
  }
  if (parsed.hostname === "") return Either.left(refusal("media_url_invalid", "Media URL has no host"))
  if (!hostAllowed(parsed.hostname, s.mediaAllowedHosts)) {
    return Either.left(
      refusal("media_host_denied", `Media host ${parsed.hostname} is not allowed`, { host: parsed.hostname })
    )
  }
  return Either.right(parsed)
}

/** Checks a MIME type against the allowed prefixes (case-insensitive, parameters ignored). Pure. */
export const checkMime = (mime: string | undefined, s: MediaSettings): Either.Either<string, MediaRefusal> => {
  const base = (mime ?? "").split(";")[0]!.trim().toLowerCase()
  if (base === "" || !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(base)) {
    return Either.left(
      refusal("media_mime_denied", "Media MIME type is missing or malformed", { mime_type: mime ?? null })
    )
  }
  return s.mediaAllowedMimePrefixes.some((p) => base.startsWith(p.toLowerCase()))
    ? Either.right(base)
    : Either.left(refusal("media_mime_denied", `Media type ${base} is not allowed`, { mime_type: base }))
}

/** Checks a declared size against the maximum. Pure. */
export const checkSize = (size: number | undefined, s: MediaSettings): Either.Either<number, MediaRefusal> =>
  size === undefined || !Number.isInteger(size) || size < 0
    ? Either.left(
      refusal("media_size_exceeded", "Media size is missing or invalid", {
        size_bytes: size ?? null,
        max_bytes: s.mediaMaxBytes
      })
    )
    : size > s.mediaMaxBytes
    ? Either.left(
      refusal("media_size_exceeded", `Media is ${size} bytes, over the ${s.mediaMaxBytes} byte limit`, {
        size_bytes: size,
        max_bytes: s.mediaMaxBytes
      })
    )
    : Either.right(size)

/**
 * Normalises a POSIX path lexically: joins it onto `base` when relative, removes `.` and empty
 * segments and resolves `..` (never above the root). Returns null for NUL bytes. Pure.
 */
export const normalizePath = (path: string, base = "/"): string | null => {
  if (path.includes("\u0000") || base.includes("\u0000")) return null
  const full = path.startsWith("/") ? path : `${base.replace(/\/+$/, "")}/${path}`
  const out: Array<string> = []
  for (const seg of full.split("/")) {
    if (seg === "" || seg === ".") continue
    if (seg === "..") out.pop()
    else out.push(seg)
  }
  return `/${out.join("/")}`
}

/** Is `path` the directory itself or strictly inside it (both normalised)? Pure. */
export const isInside = (dir: string, path: string): boolean => {
  const d = dir === "/" ? "/" : dir.replace(/\/+$/, "")
  return path !== d && path.startsWith(d === "/" ? "/" : `${d}/`)
}

/**
 * Checks that a target path stays inside the media directory: lexically (no traversal, no
 * backslashes, no NUL), and — when `resolved` real paths are given — after following links.
 * Pure.
 */
export const checkPath = (
  target: string,
  dir: string,
  resolved?: ResolvedPaths
): Either.Either<string, MediaRefusal> => {
  if (target.includes("\\"))
    return Either.left(refusal("media_path_unsafe", "Media path contains a backslash", { target_path: target }))
  const base = normalizePath(dir)
  const full = base === null ? null : normalizePath(target, base)
  if (base === null || full === null) return Either.left(refusal("media_path_unsafe", "Media path contains a NUL byte"))
  if (!isInside(base, full))
    return Either.left(refusal("media_path_unsafe", "Media path escapes the media directory", { target_path: target }))
  if (resolved) {
    const realDir = normalizePath(resolved.dir)
    const realTarget = normalizePath(resolved.target)
    if (realDir === null || realTarget === null || !isInside(realDir, realTarget)) {
      return Either.left(
        refusal("media_path_unsafe", "Media path leads out of the media directory through a link", {
          target_path: target
        })
      )
    }
  }
  return Either.right(full)
}

/** A media reference that passed: the checked values. */
export interface MediaAccepted {
  readonly url: string
  readonly host: string
  readonly mime_type: string
  readonly size_bytes: number
  readonly target_path: string | null
}

/** Runs every check in order and returns the first refusal. Pure. */
export const check = (
  ref: MediaReference,
  s: MediaSettings,
  resolved?: ResolvedPaths
): Either.Either<MediaAccepted, MediaRefusal> =>
  Either.gen(function*() {
    const url = yield* checkUrl(ref.url, s)
    const mime = yield* checkMime(ref.mime_type, s)
    const size = yield* checkSize(ref.size_bytes, s)
    const target = ref.target_path === undefined ? null : yield* checkPath(ref.target_path, s.mediaDir, resolved)
    return { url: url.toString(), host: url.hostname, mime_type: mime, size_bytes: size, target_path: target }
  })

/**
 * Resolves paths on the host's file system: the real path of an existing path with every link
 * followed, or `None` when it does not exist. Hosts implement it (e.g. with `fs.realpath`).
 */
export class PathResolver extends Context.Tag("@airlock/guardrails/PathResolver")<
  PathResolver,
  { readonly realpath: (path: string) => Effect.Effect<Option.Option<string>> }
>() {}

/**
 * The real paths of `dir` and of `target` (the nearest existing ancestor resolved, the rest
 * appended), or `None` when the directory itself does not exist.
 */
export const resolvePaths = (
  resolver: Context.Tag.Service<PathResolver>,
  dir: string,
  target: string
): Effect.Effect<Option.Option<ResolvedPaths>> =>
  Effect.gen(function*() {
    const base = normalizePath(dir)
    const full = base === null ? null : normalizePath(target, base)
    if (base === null || full === null) return Option.none()
    const realDir = yield* resolver.realpath(base)
    if (Option.isNone(realDir)) return Option.none()
    const parts = full.split("/").filter((p) => p !== "")
    const rest: Array<string> = []
    while (true) {
      const candidate = `/${parts.join("/")}`
      const real = yield* resolver.realpath(candidate)
      if (Option.isSome(real)) {
        return Option.some({
          dir: realDir.value,
          target: rest.length === 0 ? real.value : `${real.value.replace(/\/+$/, "")}/${rest.join("/")}`
        })
      }
      if (parts.length === 0) return Option.none()
      rest.unshift(parts.pop()!)
    }
  })

/** The refusal as a taxonomy error: `ValidationError` whose `code` is the reason code. */
export const toError = (r: MediaRefusal): Errors.ValidationError =>
  new Errors.ValidationError({ code: r.code, message: r.message, details: { reason: r.code, ...r.details } })

/** The media policy with the configured settings (and a path resolver, when one is provided). */
export class MediaPolicy extends Effect.Service<MediaPolicy>()("@airlock/guardrails/MediaPolicy", {
  effect: Effect.gen(function*() {
    const config = yield* GuardrailsConfig
    const resolver = yield* Effect.serviceOption(PathResolver)

    /** Checks a reference; links are followed when a {@link PathResolver} is provided. */
    const evaluate = (ref: MediaReference): Effect.Effect<Either.Either<MediaAccepted, MediaRefusal>> =>
      Effect.gen(function*() {
        if (ref.target_path === undefined || Option.isNone(resolver)) return check(ref, config)
        const resolved = yield* resolvePaths(resolver.value, config.mediaDir, ref.target_path)
        if (Option.isNone(resolved)) {
          return Either.left(
            refusal("media_path_unsafe", "Media directory does not exist", { media_dir: config.mediaDir })
          )
        }
        return check(ref, config, resolved.value)
      })

    /** Checks a reference and fails with the refusal's code. */
    const enforce = (ref: MediaReference): Effect.Effect<MediaAccepted, Errors.ValidationError> =>
      Effect.flatMap(evaluate(ref), Either.match({ onLeft: (r) => Effect.fail(toError(r)), onRight: Effect.succeed }))

    return { evaluate, enforce } as const
  })
}) {}

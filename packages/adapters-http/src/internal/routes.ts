/**
 * Finds the route template of a request (`/api/v1/items/:id` for `/api/v1/items/42`) from the
 * API's declared endpoints, before routing, so metrics and logs can label every request —
 * including the ones refused by middleware — without ever using the raw URL as a label. It
 * normalises paths as the platform router does (duplicate and trailing slashes ignored, literals
 * case-insensitive, percent-decoded, parameters at most 100 characters).
 */

const MAX_PARAM_LENGTH = 100

interface Template {
  readonly path: string
  readonly segments: ReadonlyArray<{ readonly literal: string } | { readonly suffix: string }>
  readonly literals: number
}

/** Method + path → template. */
export interface RouteTable {
  /** The template matching a request, or `unmatched`. */
  readonly match: (method: string, url: string) => string
}

const compile = (path: string): Template => {
  const segments = path.split("/").filter((s) => s.length > 0).map((s) => {
    if (s.startsWith(":")) {
      const m = /^:[A-Za-z0-9_]+\??(.*)$/.exec(s)
      return { suffix: m?.[1] ?? "" }
    }
    return { literal: s.toLowerCase() }
  })
  return { path, segments, literals: segments.filter((s) => "literal" in s).length }
}

/** Builds a table from (method, path template) pairs; `*` as method matches any method. */
export const makeRouteTable = (routes: ReadonlyArray<readonly [method: string, path: string]>): RouteTable => {
  const byKey = new Map<string, Array<Template>>()
  for (const [method, path] of routes) {
    const t = compile(path)
    const key = `${method.toUpperCase()} ${t.segments.length}`
    const list = byKey.get(key) ?? []
    list.push(t)
    // the most specific template (most literal segments) wins, as in the router
    list.sort((a, b) => b.literals - a.literals)
    byKey.set(key, list)
  }
  const find = (method: string, parts: ReadonlyArray<string>): string | undefined => {
    const candidates = byKey.get(`${method} ${parts.length}`)
    if (candidates === undefined) return undefined
    outer: for (const t of candidates) {
      for (let i = 0; i < parts.length; i++) {
        const seg = t.segments[i]!
        const part = parts[i]!
        if ("literal" in seg) {
          if (seg.literal !== part.toLowerCase()) continue outer
        } else if (
          part.length <= seg.suffix.length || !part.endsWith(seg.suffix) ||
          part.length - seg.suffix.length > MAX_PARAM_LENGTH
        ) {
          continue outer
        }
      }
      return t.path
    }
    return undefined
  }
  return {
    match: (method, url) => {
      const q = url.indexOf("?")
      let pathname = q === -1 ? url : url.slice(0, q)
      if (pathname.includes("%")) {
        try {
          pathname = decodeURIComponent(pathname)
        } catch {
          return "unmatched"
        }
      }
      const parts = pathname.split("/").filter((p) => p.length > 0)
      const upper = method.toUpperCase()
      return find(upper, parts) ??
        (upper === "HEAD" ? find("GET", parts) : undefined) ??
        find("*", parts) ??
        "unmatched"
    }
  }
}

/**
 * The query rules every route gets before its own schema runs, so a route declared later cannot
 * miss them: on a route that declares a `limit` query parameter, `limit` is a page size — one
 * decimal integer from 1 to `Wire.MAX_PAGE_LIMIT` (the route's own schema may allow less) — and
 * appears at most once. (Parameters a route does not declare are ignored, as before.)
 */
import { Errors } from "@airlock/core"

const DIGITS = /^[0-9]{1,10}$/

/** The refusal of a request's query string, or undefined when it passes the shared rules. */
export const checkQuery = (url: string, maxPageLimit: number): Errors.ValidationError | undefined => {
  const q = url.indexOf("?")
  if (q === -1 || !url.includes("limit", q)) return undefined
  let params: URLSearchParams
  try {
    params = new URLSearchParams(url.slice(q + 1))
  } catch {
    return undefined
  }
  const limits = params.getAll("limit")
  if (limits.length === 0) return undefined
  const problem = limits.length > 1
    ? "limit is given more than once"
    : !DIGITS.test(limits[0]!) || Number(limits[0]) < 1 || Number(limits[0]) > maxPageLimit
    ? `Expected a page size: an integer from 1 to ${maxPageLimit}`
    : undefined
  return problem === undefined ? undefined : new Errors.ValidationError({
    code: "validation.schema",
    message: `Invalid request at limit: ${problem}`,
    details: { issues: [{ path: ["limit"], message: problem }] }
  })
}

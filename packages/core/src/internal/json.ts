/**
 * Private deep copies and structural comparison of JSON-shaped values, for the pipeline's cache
 * of payloads validated at propose.
 */

/** What {@link copyJson} answers for a value that is not plain JSON. */
export const NOT_JSON: unknown = Symbol("not JSON")

/** A private deep copy of a JSON-shaped value (plain objects, arrays, primitives), else NOT_JSON. */
export const copyJson = (v: unknown): unknown => {
  if (typeof v === "function" || typeof v === "symbol") return NOT_JSON
  if (v === null || typeof v !== "object") return v
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length)
    for (let i = 0; i < v.length; i++) {
      const c = copyJson(v[i])
      if (c === NOT_JSON) return NOT_JSON
      out[i] = c
    }
    return out
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return NOT_JSON
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k]
    if (x === undefined) continue
    const c = copyJson(x)
    if (c === NOT_JSON) return NOT_JSON
    out[k] = c
  }
  return out
}

/**
 * Is `a` the same JSON value as `b`, a {@link copyJson} copy? Keys in any order, undefined
 * members ignored — what equal canonical JSON means — and anything unusual counts as different.
 */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const proto = Object.getPrototypeOf(a)
  if (proto !== Object.prototype && proto !== null) return false
  const rb = b as Record<string, unknown>
  let n = 0
  for (const k of Object.keys(a)) {
    const x = (a as Record<string, unknown>)[k]
    if (x === undefined) continue
    n++
    if (!Object.hasOwn(rb, k) || !sameJson(x, rb[k])) return false
  }
  return n === Object.keys(rb).length
}

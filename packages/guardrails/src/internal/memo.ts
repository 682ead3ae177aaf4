/**
 * Bounded memos for the strings the gates build on every evaluation from values that repeat
 * (tenant ids, thresholds): a cached string is one object whose hash V8 has already computed,
 * so the stores' map lookups stop re-hashing freshly concatenated keys. Cleared whole when full.
 */

/** Memoizes `f` by its string argument, keeping at most `max` entries. */
export const memo = <A>(f: (key: string) => A, max = 4096): (key: string) => A => {
  const cache = new Map<string, A>()
  return (key) => {
    const hit = cache.get(key)
    if (hit !== undefined) return hit
    const value = f(key)
    if (cache.size >= max) cache.clear()
    cache.set(key, value)
    return value
  }
}

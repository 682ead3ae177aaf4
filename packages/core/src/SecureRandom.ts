/**
 * Cryptographic randomness as an injected service: domain code never reaches for a global RNG,
 * so tests can make ids and tokens deterministic and hosts can plug in an HSM or KMS.
 */
import { Context, Effect, Layer } from "effect"

/** A source of cryptographically strong random bytes. */
export class SecureRandom extends Context.Tag("@airlock/core/SecureRandom")<
  SecureRandom,
  { readonly bytes: (n: number) => Effect.Effect<Uint8Array> }
>() {}

/** The platform's Web Crypto RNG (`crypto.getRandomValues`), available on Node 20+ and edge runtimes. */
export const layerWebCrypto: Layer.Layer<SecureRandom> = Layer.succeed(SecureRandom, {
  bytes: (n) =>
    Effect.sync(() => {
      const out = new Uint8Array(n)
      globalThis.crypto.getRandomValues(out)
      return out
    })
})

/**
 * A deterministic generator (xorshift128+) seeded by `seed`: for tests and reproducible
 * simulations only — never for production tokens.
 */
export const layerSeeded = (seed: number): Layer.Layer<SecureRandom> =>
  Layer.sync(SecureRandom, () => {
    let s0 = BigInt(seed >>> 0) | 1n
    let s1 = BigInt((seed * 2654435761) >>> 0) | 2n
    const mask = (1n << 64n) - 1n
    const next = () => {
      let x = s0
      const y = s1
      s0 = y
      x = (x ^ (x << 23n)) & mask
      s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n)
      return (s1 + y) & mask
    }
    return {
      bytes: (n) =>
        Effect.sync(() => {
          const out = new Uint8Array(n)
          for (let i = 0; i < n; i += 8) {
            let v = next()
            for (let j = 0; j < 8 && i + j < n; j++) {
              out[i + j] = Number(v & 0xffn)
              v >>= 8n
            }
          }
          return out
        })
    }
  })

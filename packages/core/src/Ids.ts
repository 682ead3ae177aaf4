/**
 * Branded identifiers and their generator. Generated ids are ULID-shaped (time-ordered,
 * 26 Crockford base32 characters), so sorting by id sorts by creation time and cursors are
 * simple; time comes from Effect's `Clock` and entropy from {@link SecureRandom}.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SecureRandom } from "./SecureRandom.js"

const IdString = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128),
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/)
)

/** A tenant (workspace) id: a slug such as `default` or a generated id. */
export const TenantId = IdString.pipe(Schema.brand("TenantId"))
/** Type of {@link TenantId}. */
export type TenantId = typeof TenantId.Type

/** An actor (user, agent or system) id. */
export const ActorId = IdString.pipe(Schema.brand("ActorId"))
/** Type of {@link ActorId}. */
export type ActorId = typeof ActorId.Type

/** A governed action (shadow record / proposal) id. */
export const ActionId = IdString.pipe(Schema.brand("ActionId"))
/** Type of {@link ActionId}. */
export type ActionId = typeof ActionId.Type

/** An API token id (the public, non-secret part of a token). */
export const TokenId = IdString.pipe(Schema.brand("TokenId"))
/** Type of {@link TokenId}. */
export type TokenId = typeof TokenId.Type

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** Encodes a millisecond timestamp and 10 random bytes as a 26-character ULID. */
export const encodeUlid = (millis: number, random: Uint8Array): string => {
  let out = ""
  let t = Math.max(0, Math.floor(millis))
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out
    t = Math.floor(t / 32)
  }
  let bits = 0
  let acc = 0
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | (random[i] ?? 0)
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += CROCKFORD[(acc >> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  return out
}

/** Makes new unique ids. */
export class IdGenerator extends Context.Tag("@airlock/core/IdGenerator")<
  IdGenerator,
  { readonly next: (prefix?: string) => Effect.Effect<string> }
>() {}

/**
 * Monotonic ULIDs from `Clock` and {@link SecureRandom}, optionally prefixed (`prefix_01J…`):
 * within one millisecond (or if the clock steps back) the random part is incremented, so ids
 * made by one generator sort in creation order.
 */
export const layerIdGenerator: Layer.Layer<IdGenerator, never, SecureRandom> = Layer.effect(
  IdGenerator,
  Effect.gen(function*() {
    const random = yield* SecureRandom
    let lastMillis = -1
    let lastRandom: Uint8Array = new Uint8Array(10)
    // in place: the generator owns `lastRandom` (its own copy of what SecureRandom gave)
    const increment = (bytes: Uint8Array): Uint8Array => {
      for (let i = bytes.length - 1; i >= 0; i--) {
        bytes[i] = (bytes[i]! + 1) & 0xff
        if (bytes[i] !== 0) break
      }
      return bytes
    }
    return {
      // plain steps, no generator: this runs several times per governed apply
      next: (prefix) =>
        Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          if (now > lastMillis) {
            lastMillis = now
            return Effect.map(random.bytes(10), (bytes) => {
              lastRandom = Uint8Array.from(bytes)
              const id = encodeUlid(lastMillis, lastRandom)
              return prefix ? `${prefix}_${id}` : id
            })
          }
          lastRandom = increment(lastRandom)
          const id = encodeUlid(lastMillis, lastRandom)
          return Effect.succeed(prefix ? `${prefix}_${id}` : id)
        })
    }
  })
)

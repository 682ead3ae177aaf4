import { GuardrailsConfig, MediaPolicy } from "@airlock/guardrails"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"

const settings: MediaPolicy.MediaSettings = {
  mediaAllowedHosts: ["mmg.whatsapp.net", "*.example-cdn.com"],
  mediaAllowedMimePrefixes: ["image/", "audio/ogg", "application/pdf"],
  mediaMaxBytes: 1_000_000,
  mediaDir: "/srv/media",
  mediaAllowHttp: false
}

const ok = {
  url: "https://mmg.whatsapp.net/v/t62/abc.jpg?x=1",
  mime_type: "image/jpeg",
  size_bytes: 1000,
  target_path: "t1/abc.jpg"
}
const code = (r: Either.Either<unknown, MediaPolicy.MediaRefusal>) => (Either.isLeft(r) ? r.left.code : "accepted")

describe("MediaPolicy (pure)", () => {
  it("accepts a valid reference and reports the checked values", () => {
    expect(MediaPolicy.check(ok, settings)).toStrictEqual(
      Either.right({
        url: ok.url,
        host: "mmg.whatsapp.net",
        mime_type: "image/jpeg",
        size_bytes: 1000,
        target_path: "/srv/media/t1/abc.jpg"
      })
    )
  })
  it("refuses each violation with its reason code, in order", () => {
    expect(code(MediaPolicy.check({ ...ok, url: "not a url" }, settings))).toBe("media_url_invalid")
    expect(code(MediaPolicy.check({ ...ok, url: "http://mmg.whatsapp.net/a.jpg" }, settings))).toBe("media_url_invalid")
    expect(code(MediaPolicy.check({ ...ok, url: "https://user:pw@mmg.whatsapp.net/a.jpg" }, settings))).toBe(
      "media_url_invalid"
    )
    expect(code(MediaPolicy.check({ ...ok, url: "file:///etc/passwd" }, settings))).toBe("media_url_invalid")
    expect(code(MediaPolicy.check({ ...ok, url: "https://evil.example.com/a.jpg" }, settings))).toBe(
      "media_host_denied"
    )
    expect(code(MediaPolicy.check({ ...ok, url: "https://mmg.whatsapp.net.evil.com/a.jpg" }, settings))).toBe(
      "media_host_denied"
    )
    expect(code(MediaPolicy.check({ ...ok, url: "https://example-cdn.com/a.jpg" }, settings))).toBe("media_host_denied")
    expect(code(MediaPolicy.check({ ...ok, url: "https://a.b.example-cdn.com/a.jpg" }, settings))).toBe("accepted")
    expect(code(MediaPolicy.check({ ...ok, mime_type: "video/mp4" }, settings))).toBe("media_mime_denied")
    expect(code(MediaPolicy.check({ ...ok, mime_type: undefined }, settings))).toBe("media_mime_denied")
    expect(code(MediaPolicy.check({ ...ok, mime_type: "Audio/OGG; codecs=opus" }, settings))).toBe("accepted")
    expect(code(MediaPolicy.check({ ...ok, size_bytes: 1_000_001 }, settings))).toBe("media_size_exceeded")
    expect(code(MediaPolicy.check({ ...ok, size_bytes: 1_000_000 }, settings))).toBe("accepted")
    expect(code(MediaPolicy.check({ ...ok, size_bytes: -1 }, settings))).toBe("media_size_exceeded")
    expect(code(MediaPolicy.check({ ...ok, target_path: "../etc/passwd" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "t1/../../media2/x" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "/srv/media-other/x" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "/srv/media" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "a\\..\\..\\x" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "a\u0000b" }, settings))).toBe("media_path_unsafe")
    expect(code(MediaPolicy.check({ ...ok, target_path: "t1/./x/../y.jpg" }, settings))).toBe("accepted")
  })
  it("judges links on resolved paths", () => {
    expect(code(MediaPolicy.check(ok, settings, { dir: "/data/media", target: "/data/media/t1/abc.jpg" }))).toBe(
      "accepted"
    )
    expect(code(MediaPolicy.check(ok, settings, { dir: "/data/media", target: "/etc/abc.jpg" }))).toBe(
      "media_path_unsafe"
    )
  })
  it("normalises paths lexically", () => {
    expect(MediaPolicy.normalizePath("a/../../b", "/x/y")).toBe("/x/b")
    expect(MediaPolicy.normalizePath("/../../")).toBe("/")
    expect(MediaPolicy.isInside("/", "/a")).toBe(true)
    expect(MediaPolicy.isInside("/srv/media/", "/srv/media/a")).toBe(true)
  })
})

describe("MediaPolicy service", () => {
  // a fake file system: /srv/media is a link to /data/media; /data/media/t1/out links to /etc
  const links: Record<string, string> = {
    "/srv/media": "/data/media",
    "/srv/media/t1": "/data/media/t1",
    "/srv/media/t1/out": "/etc"
  }
  const resolver = Layer.succeed(MediaPolicy.PathResolver, {
    realpath: (p) => Effect.succeed(Option.fromNullable(links[p] ?? (p === "/" ? "/" : undefined)))
  })
  const withResolver = MediaPolicy.MediaPolicy.Default.pipe(
    Layer.provide(Layer.merge(GuardrailsConfig.layer(settings), resolver))
  )
  const without = MediaPolicy.MediaPolicy.Default.pipe(Layer.provide(GuardrailsConfig.layer(settings)))
  it.effect("follows links through the resolver port; fails with the reason code", () =>
    Effect.gen(function*() {
      const policy = yield* MediaPolicy.MediaPolicy
      expect(yield* policy.enforce(ok)).toMatchObject({ target_path: "/srv/media/t1/abc.jpg" })
      const escaped = yield* Effect.flip(policy.enforce({ ...ok, target_path: "t1/out/passwd" }))
      expect(escaped).toMatchObject({
        _tag: "ValidationError",
        code: "media_path_unsafe",
        details: { reason: "media_path_unsafe" }
      })
      const host = yield* Effect.flip(policy.enforce({ ...ok, url: "https://x.test/a" }))
      expect(host.code).toBe("media_host_denied")
    }).pipe(Effect.provide(withResolver)))
  it.effect("without a resolver only the lexical check applies", () =>
    Effect.gen(function*() {
      const policy = yield* MediaPolicy.MediaPolicy
      expect(Either.isRight(yield* policy.evaluate({ ...ok, target_path: "t1/out/passwd" }))).toBe(true)
    }).pipe(Effect.provide(without)))
})

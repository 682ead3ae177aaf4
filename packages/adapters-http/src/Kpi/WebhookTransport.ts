/**
 * The Node implementation of ops' `WebhookTransport` port: one `POST` through `node:http(s)`,
 * with the port's address check run on every address the host resolves to, inside the socket's
 * own DNS lookup — the address checked is the address connected to, so a DNS answer cannot change
 * between the check and the connection. IP-literal hosts (never looked up) are checked up front.
 * Redirects are not followed; the response body is discarded; the timeout covers the whole call.
 */
import { AlertWebhook } from "@airlock/ops"
import { Effect, Layer } from "effect"
import * as dns from "node:dns"
import * as http from "node:http"
import * as https from "node:https"
import { isIP } from "node:net"

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | ReadonlyArray<dns.LookupAddress>,
  family?: number
) => void

const post = (
  request: AlertWebhook.WebhookRequest
): Effect.Effect<{ readonly status: number }, AlertWebhook.TransportError> =>
  Effect.async<{ readonly status: number }, AlertWebhook.TransportError>((resume) => {
    let refused: string | null = null
    let timedOut = false
    let done = false
    const finish = (effect: Effect.Effect<{ readonly status: number }, AlertWebhook.TransportError>) => {
      if (done) return
      done = true
      resume(effect)
    }
    const fail = (reason: "timeout" | "network" | "address_denied", message: string) =>
      finish(Effect.fail(new AlertWebhook.TransportError({ reason, message })))
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      fail("network", "invalid URL")
      return
    }
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
    if (isIP(host) !== 0) {
      const why = request.checkAddress(host)
      if (why !== null) {
        fail("address_denied", why)
        return
      }
    }
    const lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, [])
        for (const a of addresses) {
          const why = request.checkAddress(a.address)
          if (why !== null) {
            refused = why
            return callback(Object.assign(new Error(why), { code: "EADDRDENIED" }), [])
          }
        }
        if (options.all === true) return callback(null, addresses)
        const first = addresses[0]
        if (first === undefined) return callback(Object.assign(new Error("no address"), { code: "ENOTFOUND" }), [])
        return callback(null, first.address, first.family)
      })
    }
    const lib = url.protocol === "https:" ? https : http
    const req = lib.request(url, {
      method: "POST",
      headers: { ...request.headers, "content-length": String(Buffer.byteLength(request.body, "utf8")) },
      lookup: lookup as unknown as http.RequestOptions["lookup"],
      agent: false,
      timeout: request.timeoutMs
    }, (res) => {
      res.resume()
      res.on("end", () => finish(Effect.succeed({ status: res.statusCode ?? 0 })))
      res.on("error", (e) => fail("network", e.message))
    })
    req.on("timeout", () => {
      timedOut = true
      req.destroy(new Error("timeout"))
    })
    req.on("error", (e) => {
      if (refused !== null) fail("address_denied", refused)
      else if (timedOut) fail("timeout", "The webhook did not answer in time")
      else fail("network", e.message)
    })
    req.end(request.body)
    return Effect.sync(() => {
      done = true
      req.destroy()
    })
  })

/** The Node webhook transport. */
export const layer: Layer.Layer<AlertWebhook.WebhookTransport> = Layer.succeed(AlertWebhook.WebhookTransport, { post })

/**
 * Requests `fetch` will not send: chunked bodies, bodies written slowly, lying Content-Length,
 * raw header bytes. The response is returned even when the server answers before the body is
 * sent (a write error after the response has arrived is ignored).
 */
import { request } from "node:http"

/** What came back. */
export interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly text: string
  readonly json: any
}

/** Options of {@link send}. */
export interface SendOptions {
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  /** Body chunks, written in order (each after `delayMs`). */
  readonly chunks?: ReadonlyArray<string | Buffer>
  readonly delayMs?: number
  /** Called after the headers and the first chunk are on the wire. */
  readonly onStarted?: () => void
}

/** Sends one request to 127.0.0.1:`port`. */
export const send = (port: number, options: SendOptions): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    let settled = false
    const req = request(
      { host: "127.0.0.1", port, method: options.method, path: options.path, headers: options.headers, agent: false },
      (res) => {
        const parts: Array<Buffer> = []
        res.on("data", (c: Buffer) => parts.push(c))
        res.on("end", () => {
          settled = true
          const text = Buffer.concat(parts).toString("utf8")
          let json: unknown = undefined
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
        res.on("error", (e) => {
          if (!settled) reject(e)
        })
      }
    )
    req.on("error", (e) => {
      if (!settled) setTimeout(() => (settled ? undefined : reject(e)), 200)
    })
    const chunks = options.chunks ?? []
    const write = async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (req.destroyed) return
        req.write(chunks[i]!)
        if (i === 0) options.onStarted?.()
        if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs))
      }
      if (chunks.length === 0) options.onStarted?.()
      req.end()
    }
    write().catch(() => {})
  })

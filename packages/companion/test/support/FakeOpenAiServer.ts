/**
 * A real local HTTP server speaking OpenAI's chat-completions protocol (`POST /v1/chat/completions`)
 * for tests: node:http on 127.0.0.1 and a random port. Each test scripts what the next requests
 * get (an answer, an HTTP status, a hang) and reads the requests it recorded. Unscripted requests
 * get the default behaviour (a 500 unless set). Reusable by any package's tests.
 */
import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** What the server does with one request. */
export type Behaviour =
  /** A 200 chat completion whose message content is `content` (any text: JSON or not). */
  | {
    readonly kind: "answer"
    readonly content: string
    readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number } | null
  }
  /** An HTTP error status with an OpenAI-style error body. */
  | { readonly kind: "status"; readonly status: number; readonly message?: string }
  /** Never answers (until the server closes): for timeouts. */
  | { readonly kind: "hang" }

/** One recorded request. */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  /** The parsed JSON body (undefined when not JSON). */
  readonly body: any
}

/** The running server. */
export interface FakeOpenAiServer {
  /** The OpenAI-compatible base URL (`http://127.0.0.1:<port>/v1`). */
  readonly url: string
  /** Requests received so far, oldest first. */
  readonly requests: Array<RecordedRequest>
  /** Queues behaviours for the next requests, in order. */
  readonly script: (...behaviours: ReadonlyArray<Behaviour>) => void
  /** The behaviour of requests nothing is queued for. */
  readonly setDefault: (behaviour: Behaviour) => void
  /** Forgets queued behaviours and recorded requests. */
  readonly reset: () => void
  readonly close: () => Promise<void>
}

/** A chat answer whose content is `value` as JSON. */
export const json = (value: unknown, usage = { prompt_tokens: 120, completion_tokens: 15 }): Behaviour => ({
  kind: "answer",
  content: JSON.stringify(value),
  usage
})

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (c) => (text += c))
    req.on("end", () => resolve(text))
    req.on("error", reject)
  })

/** Starts a server on 127.0.0.1 and a random port. */
export const start = (): Promise<FakeOpenAiServer> =>
  new Promise((resolve, reject) => {
    const queue: Array<Behaviour> = []
    const requests: Array<RecordedRequest> = []
    const hanging = new Set<ServerResponse>()
    let fallback: Behaviour = { kind: "status", status: 500, message: "no behaviour scripted" }
    let counter = 0
    const server = createServer(async (req, res) => {
      const text = await readBody(req)
      let body: unknown = undefined
      try {
        body = JSON.parse(text)
      } catch {
        body = undefined
      }
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: { ...req.headers }, body })
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404, { "content-type": "application/json" })
        res.end(
          JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" } })
        )
        return
      }
      const behaviour = queue.shift() ?? fallback
      switch (behaviour.kind) {
        case "hang":
          hanging.add(res)
          res.on("close", () => hanging.delete(res))
          return
        case "status":
          res.writeHead(behaviour.status, { "content-type": "application/json" })
          res.end(JSON.stringify({ error: { message: behaviour.message ?? "server error", type: "server_error" } }))
          return
        case "answer": {
          const model = typeof (body as any)?.model === "string" ? (body as any).model : "unknown"
          const usage = behaviour.usage === undefined ? { prompt_tokens: 120, completion_tokens: 15 } : behaviour.usage
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({
            id: `chatcmpl-${++counter}`,
            object: "chat.completion",
            created: 1_700_000_000,
            model,
            choices: [{
              index: 0,
              message: { role: "assistant", content: behaviour.content },
              finish_reason: "stop"
            }],
            ...(usage === null
              ? {}
              : { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })
          }))
          return
        }
      }
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests,
        script: (...behaviours) => void queue.push(...behaviours),
        setDefault: (behaviour) => void (fallback = behaviour),
        reset: () => {
          queue.length = 0
          requests.length = 0
        },
        close: () =>
          new Promise<void>((done) => {
            for (const res of hanging) res.destroy()
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

/** The server for the length of a scope. */
export const scoped: Effect.Effect<FakeOpenAiServer, never, import("effect/Scope").Scope> = Effect.acquireRelease(
  Effect.promise(start),
  (server) => Effect.promise(() => server.close())
)

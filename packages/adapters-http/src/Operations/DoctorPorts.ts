/**
 * The doctor's ports on Node and SQL: {@link layerProbe} (ops' `DependencyProbe`: DNS, TCP,
 * HTTP, each failure classified into an outage class) and {@link layerSetupSql} (ops'
 * `SetupStore`: a round trip, the migration status, running the migrations).
 */
import { Doctor, OutageClass } from "@airlock/ops"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { lookup } from "node:dns/promises"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { connect } from "node:net"

const errorCode = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined

const withTimeout = <A>(ms: number, run: (signal: AbortSignal) => Promise<A>): Promise<A> => {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), ms)
  return run(controller.signal).finally(() => clearTimeout(timer))
}

class ProbeFailure extends Error {
  constructor(readonly code: string) {
    super(code)
  }
}

const tcp = (host: string, port: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port })
    const fail = (code: string) => {
      socket.destroy()
      reject(new ProbeFailure(code))
    }
    signal.addEventListener("abort", () => fail("TIMEOUT"), { once: true })
    socket.once("connect", () => {
      socket.end()
      resolve()
    })
    socket.once("error", (e) => fail(errorCode(e) ?? "ECONNREFUSED"))
  })

const http = (url: URL, signal: AbortSignal) =>
  new Promise<number>((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest
    const req = send(url, { method: "GET", agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    signal.addEventListener("abort", () => {
      req.destroy()
      reject(new ProbeFailure("TIMEOUT"))
    }, { once: true })
    req.once("error", (e) => reject(new ProbeFailure(errorCode(e) ?? "ECONNRESET")))
    req.end()
  })

const defaultPort = (url: URL) =>
  url.port !== ""
    ? Number(url.port)
    : url.protocol === "https:"
    ? 443
    : url.protocol === "http:"
    ? 80
    : url.protocol.startsWith("postgres")
    ? 5432
    : 0

/** Probes one target: name resolution first (so a DNS failure is told apart), then TCP or HTTP. */
export const probe = (target: OutageClass.ProbeTarget): Effect.Effect<OutageClass.ProbeResult> =>
  Effect.promise(async (): Promise<OutageClass.ProbeResult> => {
    let url: URL
    try {
      url = new URL(target.url)
    } catch {
      return { ok: false, outage_class: "network_unreachable", detail: "invalid_url" }
    }
    const started = performance.now()
    try {
      const status = await withTimeout(target.timeoutMillis, async (signal) => {
        const host = url.hostname.replace(/^\[|\]$/g, "")
        await lookup(host).catch((e) => {
          throw new ProbeFailure(errorCode(e) ?? "ENOTFOUND")
        })
        if (signal.aborted) throw new ProbeFailure("TIMEOUT")
        if (target.kind === "tcp") {
          await tcp(host, defaultPort(url), signal)
          return null
        }
        return http(url, signal)
      })
      const latency_ms = Math.round(performance.now() - started)
      if (status !== null) {
        const outage = OutageClass.fromHttpStatus(status)
        if (outage !== null) return { ok: false, outage_class: outage, detail: `http_${status}` }
      }
      return { ok: true, latency_ms, status }
    } catch (e) {
      const code = e instanceof ProbeFailure ? e.code : errorCode(e)
      return { ok: false, outage_class: OutageClass.fromErrorCode(code), detail: code ?? "error" }
    }
  })

/** ops' `DependencyProbe` on Node's DNS, TCP and HTTP clients. */
export const layerProbe: Layer.Layer<OutageClass.DependencyProbe> = Layer.succeed(OutageClass.DependencyProbe, {
  probe
})

/**
 * ops' `SetupStore` on the ambient `SqlClient`: pass `Migrations.status` and `Migrations.run`
 * from `@airlock/adapters-storage`.
 */
export const layerSetupSql = (options: {
  readonly status: Effect.Effect<Doctor.MigrationStatus, unknown, SqlClient.SqlClient>
  readonly run: Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, unknown, SqlClient.SqlClient>
}): Layer.Layer<Doctor.SetupStore, never, SqlClient.SqlClient> =>
  Layer.effect(
    Doctor.SetupStore,
    Effect.map(SqlClient.SqlClient, (sql) => ({
      ping: Effect.asVoid(sql`SELECT 1 AS ok`),
      migrations: Effect.provideService(options.status, SqlClient.SqlClient, sql),
      migrate: Effect.map(Effect.provideService(options.run, SqlClient.SqlClient, sql), (applied) => applied.length)
    }))
  )

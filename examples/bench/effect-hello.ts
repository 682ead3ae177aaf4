/**
 * The framework's ceiling for `bench/http.ts`: the smallest `@effect/platform` `HttpApi` server
 * (one GET endpoint answering a fixed JSON body through its success schema), served by
 * `@effect/platform-node` exactly as the reference server is (tracing off, no middleware). What
 * any HttpApi route can reach on this machine, before auth, storage or domain work.
 * Prints `listening http://127.0.0.1:<port>`.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, FiberRef, Layer, Schema } from "effect"
import { constTrue } from "effect/Function"
import { createServer } from "node:http"

const Api = HttpApi.make("hello").add(
  HttpApiGroup.make("hello").add(
    HttpApiEndpoint.get("hello", "/hello").addSuccess(
      Schema.Struct({ ok: Schema.Boolean, tenant_id: Schema.String, ai_mode: Schema.String })
    )
  )
)
const Hello = HttpApiBuilder.group(
  Api,
  "hello",
  (handlers) =>
    handlers.handle("hello", () => Effect.succeed({ ok: true, tenant_id: "default", ai_mode: "suggest_only" }))
)

const serve = Layer.scopedDiscard(
  Effect.gen(function*() {
    const app = yield* HttpApiBuilder.httpApp
    const server = yield* HttpServer.HttpServer
    yield* Effect.locallyScoped(HttpMiddleware.currentTracerDisabledWhen, constTrue)
    yield* Effect.locallyScoped(FiberRef.currentTracerEnabled, false)
    yield* server.serve(app)
    const address = server.address
    if (address._tag === "TcpAddress") yield* Console.log(`listening http://127.0.0.1:${address.port}`)
  })
).pipe(
  Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(Hello))),
  Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

NodeRuntime.runMain(Layer.launch(serve))

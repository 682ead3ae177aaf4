/**
 * The declared routes as the tests sweep them: read from the served OpenAPI document (paths,
 * methods, query parameters, whether a body is declared) and classified by the auth middleware
 * each endpoint declares (reflected from the API). A route added to the API is in the list
 * without editing a test.
 */
import { Api, Auth } from "@airlock/adapters-http"
import { HttpApi } from "@effect/platform"

/** How a route is guarded. */
export type Guard = "public" | "user" | "admin" | "breakGlass" | "inspect"

/** One declared route. */
export interface DeclaredRoute {
  readonly method: string
  /** The OpenAPI path (`/api/v1/ledger/entries/{id}/reverse`). */
  readonly path: string
  readonly guard: Guard
  /** Whether the route declares a request body. */
  readonly hasBody: boolean
  /** The request body's content types. */
  readonly bodyTypes: ReadonlyArray<string>
  /** The declared query parameters with their JSON schemas. */
  readonly query: ReadonlyArray<{ readonly name: string; readonly required: boolean; readonly schema: any }>
  /** A concrete URL path with every path parameter filled in. */
  readonly url: string
  readonly isWrite: boolean
}

const toOpenApiPath = (path: string) => path.replace(/:(\w+)\??/g, "{$1}")

/** The guard of each `METHOD path`, from the middleware the endpoints declare. */
export const guards = (): ReadonlyMap<string, Guard> => {
  const out = new Map<string, Guard>()
  HttpApi.reflect(Api.AirlockApi as unknown as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, middleware }) => {
      const tags = [...middleware] as Array<unknown>
      const guard: Guard = tags.includes(Auth.AdminBreakGlass)
        ? "breakGlass"
        : tags.includes(Auth.AdminInspect)
        ? "inspect"
        : tags.some((m) => m === Auth.Admin || m === Auth.AdminTenantScoped)
        ? "admin"
        : tags.length > 0
        ? "user"
        : "public"
      out.set(`${endpoint.method} ${toOpenApiPath(endpoint.path)}`, guard)
    }
  })
  return out
}

/** The routes of an OpenAPI document, each with its guard; `fill` gives a value for each path parameter. */
export const declaredRoutes = (doc: any, fill: (name: string) => string = () => "x1"): ReadonlyArray<DeclaredRoute> => {
  const byRoute = guards()
  const out: Array<DeclaredRoute> = []
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const upper = method.toUpperCase()
      if (!["GET", "POST", "PUT", "PATCH", "DELETE"].includes(upper)) continue
      const guard = byRoute.get(`${upper} ${path}`)
      if (guard === undefined) throw new Error(`${upper} ${path} is in the document but not declared`)
      const params: Array<any> = op.parameters ?? []
      out.push({
        method: upper,
        path,
        guard,
        hasBody: op.requestBody !== undefined,
        bodyTypes: Object.keys(op.requestBody?.content ?? {}),
        query: params.filter((p) => p.in === "query").map((p) => ({
          name: p.name,
          required: p.required === true,
          schema: p.schema
        })),
        url: path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(fill(name))),
        isWrite: upper !== "GET"
      })
    }
  }
  return out
}

/**
 * The optional webhook for critical KPI alerts (ops console runbook: `KPI_ALERT_WEBHOOK_ENABLED`,
 * `KPI_ALERT_WEBHOOK_URL`, `KPI_ALERT_NOTIFY_COOLDOWN_MINUTES`).
 *
 * - **Body**: JSON `{type: "kpi.alerts.critical", tenant_id, alerts, payload_hash, delivery_id, sent_at}`.
 *   `payload_hash` is the SHA-256 of the canonical JSON of `{type, tenant_id, alerts}`: the
 *   identity of "the same alerts" for the cooldown.
 * - **Signature**: header `X-Airlock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over the
 *   string `<t>.<raw body>` with `AIRLOCK_KPI_ALERT_WEBHOOK_SECRET`; a receiver recomputes it,
 *   compares in constant time, and refuses a `t` older than its tolerance (replay). Also sent:
 *   `X-Airlock-Event: kpi.alerts.critical`, `X-Airlock-Delivery: <delivery id>`.
 * - **Cooldown**: before sending, the `(tenant, payload_hash)` slot is claimed in storage until
 *   now + cooldown, atomically: across instances sharing the store, an identical payload goes out
 *   once per cooldown. A delivery that fails on every attempt gives its claim back.
 * - **Retries**: each attempt has a timeout; network errors, timeouts, 429 and 5xx are retried
 *   with exponential backoff (an Effect `Schedule`); every attempt is recorded.
 * - **Allowlist**: the URL's host must be allowlisted, `https` is required (plain `http` only for
 *   loopback with the explicit test switch), and every address the host resolves to is checked
 *   at connect time by the transport: private, loopback, link-local (cloud metadata), CGNAT,
 *   multicast and reserved addresses are refused unless the host is allowlisted for private
 *   addresses. The check runs on the resolved address, so DNS cannot rebind it.
 *
 * The HTTP call goes through the {@link WebhookTransport} port (a Node implementation lives in
 * `@airlock/adapters-http`): this module stays pure.
 */
import { type Actor, Canonical, type Errors, Ids, Rbac, TenantScope } from "@airlock/core"
import { Clock, Context, Data, Duration, Effect, Either, Metric, Redacted, Ref, Schedule } from "effect"
import { createHmac } from "node:crypto"
import { ProductEventStore } from "./EventStore.js"
import { type KpiAlert, KpiAlerts } from "./KpiAlerts.js"
import { KpiConfig, type KpiSettings } from "./KpiConfig.js"
import { dayIndexOf } from "./KpiRollups.js"
import { DeliveryAttempt, KpiStore } from "./KpiStore.js"

/** The signature header. */
export const SIGNATURE_HEADER = "x-airlock-signature"
/** The event header. */
export const EVENT_HEADER = "x-airlock-event"
/** The delivery id header. */
export const DELIVERY_HEADER = "x-airlock-delivery"
/** The event type of a critical-alert notification. */
export const EVENT_TYPE = "kpi.alerts.critical"

// --- address and URL policy (pure) ----------------------------------------------------------------

const parseV4 = (ip: string): ReadonlyArray<number> | null => {
  const parts = ip.split(".")
  if (parts.length !== 4) return null
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN))
  return out.every((n) => n >= 0 && n <= 255) ? out : null
}

const v4Restricted = ([a, b, c]: ReadonlyArray<number>): string | null => {
  if (a === 0) return "unspecified"
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return "private"
  if (a === 127) return "loopback"
  if (a === 169 && b === 254) return "link_local"
  if (a === 100 && b! >= 64 && b! <= 127) return "shared_cgnat"
  if (a === 192 && b === 0 && c === 0) return "reserved"
  if (a === 198 && (b === 18 || b === 19)) return "reserved"
  if (a! >= 224) return "multicast_or_reserved"
  return null
}

const expandV6 = (ip: string): ReadonlyArray<number> | null => {
  let text = ip.toLowerCase()
  const zone = text.indexOf("%")
  if (zone !== -1) text = text.slice(0, zone)
  let tail: Array<number> = []
  const lastColon = text.lastIndexOf(":")
  const maybeV4 = text.slice(lastColon + 1)
  if (maybeV4.includes(".")) {
    const v4 = parseV4(maybeV4)
    if (v4 === null) return null
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!]
    text = text.slice(0, lastColon + 1) + "0"
  }
  const halves = text.split("::")
  if (halves.length > 2) return null
  const head = halves[0] === "" ? [] : halves[0]!.split(":")
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : []
  const groups = [...head, ...rest].map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN))
  if (groups.some((g) => Number.isNaN(g))) return null
  const wanted = 8 - (tail.length > 0 ? 1 : 0)
  const headN = head.length
  let full: Array<number>
  if (halves.length === 2) {
    const fill = wanted - groups.length
    if (fill < 0) return null
    full = [...groups.slice(0, headN), ...Array<number>(fill).fill(0), ...groups.slice(headN)]
  } else full = groups
  if (tail.length > 0) full = [...full.slice(0, 6), ...tail]
  return full.length === 8 ? full : null
}

/**
 * Why an address may not be the target of an outbound call (`private`, `loopback`, `link_local`
 * — cloud metadata such as 169.254.169.254 and fd00:ec2::254 included —, `shared_cgnat`,
 * `unique_local`, `multicast_or_reserved`, …), or null when it is public. Unparseable: `invalid`.
 */
export const restrictedAddress = (ip: string): string | null => {
  const v4 = parseV4(ip)
  if (v4 !== null) return v4Restricted(v4)
  const g = expandV6(ip)
  if (g === null) return "invalid"
  if (g.every((x) => x === 0)) return "unspecified"
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback"
  // IPv4-mapped (::ffff:a.b.c.d) and the deprecated compatible form: judge the IPv4 address
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || g[5] === 0)) {
    return v4Restricted([g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff])
  }
  if ((g[0]! & 0xfe00) === 0xfc00) return "unique_local"
  if ((g[0]! & 0xffc0) === 0xfe80) return "link_local"
  if ((g[0]! & 0xff00) === 0xff00) return "multicast_or_reserved"
  if (g[0] === 0x2001 && g[1] === 0x0db8) return "reserved"
  if (g[0] === 0x64 && g[1] === 0xff9b) return "nat64"
  return null
}

/** Host names that always mean cloud metadata services. */
const METADATA_HOSTS = new Set(["metadata", "metadata.google.internal", "metadata.goog", "instance-data"])

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"])

/** Does `host` match an allowlist entry (`example.com`, or `*.example.com` for its subdomains)? */
export const hostAllowed = (host: string, entries: ReadonlyArray<string>): boolean =>
  entries.some((e) => (e.startsWith("*.") ? host.endsWith(e.slice(1)) && host.length > e.length - 1 : host === e))

/** A refused webhook target. */
export class WebhookRefused extends Data.TaggedError("WebhookRefused")<{
  readonly code: string
  readonly message: string
}> {}

/** A webhook target that passed the URL checks; the address check is left to connect time. */
export interface WebhookTarget {
  readonly url: string
  readonly host: string
  /** May the host resolve to private/loopback addresses? */
  readonly allowPrivate: boolean
}

/** Checks a webhook URL against the policy (everything but the resolved addresses). Pure. */
export const checkUrl = (
  raw: string,
  settings: Pick<KpiSettings, "webhookAllowedHosts" | "webhookAllowPrivateHosts" | "webhookAllowInsecureLocalhost">
): Either.Either<WebhookTarget, WebhookRefused> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return Either.left(new WebhookRefused({ code: "kpi.webhook_url_invalid", message: "The webhook URL is not a URL" }))
  }
  const host = url.hostname.toLowerCase()
  const loopbackTest = settings.webhookAllowInsecureLocalhost && LOOPBACK_NAMES.has(host)
  if (url.username !== "" || url.password !== "") {
    return Either.left(
      new WebhookRefused({ code: "kpi.webhook_url_invalid", message: "The webhook URL must not carry credentials" })
    )
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackTest)) {
    return Either.left(new WebhookRefused({ code: "kpi.webhook_insecure", message: "The webhook URL must use https" }))
  }
  if (METADATA_HOSTS.has(host)) {
    return Either.left(
      new WebhookRefused({ code: "kpi.webhook_host_denied", message: `Host ${host} is a metadata service` })
    )
  }
  if (!loopbackTest && !hostAllowed(host, settings.webhookAllowedHosts)) {
    return Either.left(
      new WebhookRefused({
        code: "kpi.webhook_host_denied",
        message: `Host ${host} is not in AIRLOCK_KPI_ALERT_WEBHOOK_ALLOWED_HOSTS`
      })
    )
  }
  const allowPrivate = loopbackTest || hostAllowed(host, settings.webhookAllowPrivateHosts)
  // an IP literal is judged now (no resolution will happen)
  const literal = host.startsWith("[") ? host.slice(1, -1) : host
  if (!allowPrivate && (parseV4(literal) !== null || literal.includes(":"))) {
    const why = restrictedAddress(literal)
    if (why !== null) {
      return Either.left(
        new WebhookRefused({ code: "kpi.webhook_address_denied", message: `Address ${literal} is ${why}` })
      )
    }
  }
  return Either.right({ url: url.toString(), host, allowPrivate })
}

/** The address check a transport runs on every address it is about to connect to: null = allowed. */
export const addressCheck = (target: WebhookTarget) => (address: string): string | null => {
  if (target.allowPrivate) return null
  const why = restrictedAddress(address)
  return why === null ? null : `Address ${address} of ${target.host} is ${why}`
}

// --- signing (pure) ---------------------------------------------------------------------------------

/** The string that is signed: `<unix seconds>.<raw body>`. */
export const signedString = (timestampSeconds: number, body: string): string => `${timestampSeconds}.${body}`

/** The `X-Airlock-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export const signature = (secret: string, timestampSeconds: number, body: string): string =>
  `t=${timestampSeconds},v1=${
    createHmac("sha256", secret).update(signedString(timestampSeconds, body), "utf8").digest("hex")
  }`

/**
 * A receiver's check of a signature header (exported for hosts' receivers): the HMAC matches (in
 * constant time) and `t` is within `toleranceSeconds` of `nowSeconds`.
 */
export const verifySignature = (
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300
): boolean => {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || typeof parts.v1 !== "string") return false
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false
  const expected = createHmac("sha256", secret).update(signedString(t, body), "utf8").digest("hex")
  return Canonical.constantTimeEqualHex(expected, parts.v1)
}

// --- the port ---------------------------------------------------------------------------------------

/** Why a transport could not get an HTTP answer. */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "timeout" | "network" | "address_denied"
  readonly message: string
}> {}

/** One outbound webhook request. */
export interface WebhookRequest {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly timeoutMs: number
  /** Run on every resolved address before connecting; a non-null reason refuses the address. */
  readonly checkAddress: (address: string) => string | null
}

/** The port the webhook's HTTP call goes through. */
export class WebhookTransport extends Context.Tag("@airlock/ops/WebhookTransport")<
  WebhookTransport,
  {
    readonly post: (request: WebhookRequest) => Effect.Effect<{ readonly status: number }, TransportError>
  }
>() {}

// --- the service ------------------------------------------------------------------------------------

/** What a notification did. */
export type NotifyStatus = "disabled" | "no_critical" | "cooldown" | "refused" | "delivered" | "failed"

/** The result of {@link AlertWebhook.notifyFor}. */
export interface NotifyResult {
  readonly tenant_id: string
  readonly status: NotifyStatus
  readonly critical: number
  readonly payload_hash: string | null
  readonly delivery_id: string | null
  readonly attempts: number
  readonly detail: string | null
}

/** Webhook attempts, by outcome. */
export const webhookAttempts = Metric.counter("kpi_alert_webhook_attempts_total", {
  description: "KPI alert webhook delivery attempts (tag outcome: delivered, failed, refused)",
  incremental: true
})

class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly retryable: boolean
  readonly detail: string
}> {}

/** The payload whose hash identifies "the same alerts". */
export const payloadOf = (tenant: string, alerts: ReadonlyArray<KpiAlert>) => ({
  type: EVENT_TYPE,
  tenant_id: tenant,
  alerts
})

/** Posts critical KPI alerts to the configured webhook. */
export class AlertWebhook extends Effect.Service<AlertWebhook>()("@airlock/ops/AlertWebhook", {
  effect: Effect.gen(function*() {
    const alerts = yield* KpiAlerts
    const store = yield* KpiStore
    const events = yield* ProductEventStore
    const transport = yield* WebhookTransport
    const settings = yield* KpiConfig
    const ids = yield* Ids.IdGenerator
    const rbac = yield* Rbac.Rbac

    const record = (a: Omit<DeliveryAttempt, "id">) =>
      Effect.flatMap(ids.next("whd"), (id) =>
        Effect.zipRight(
          store.recordDelivery(new DeliveryAttempt({ id, ...a }, true)),
          Metric.increment(Metric.tagged(webhookAttempts, "outcome", a.outcome))
        ))

    const schedule = Schedule.exponential(Duration.millis(settings.webhookBackoffMillis)).pipe(
      Schedule.intersect(Schedule.recurs(settings.webhookRetries))
    )

    /**
     * Evaluates the tenant's alerts and, when some are critical and the webhook is enabled, posts
     * them (no RBAC: for the notify task and a host's code). See the module doc for the rules.
     */
    const notifyFor = (tenant: string): Effect.Effect<NotifyResult, Errors.StorageError> =>
      Effect.gen(function*() {
        const base = { tenant_id: tenant, payload_hash: null, delivery_id: null, attempts: 0, detail: null }
        if (!settings.webhookEnabled || settings.webhookUrl === null || settings.webhookSecret === null) {
          return { ...base, status: "disabled", critical: 0 } satisfies NotifyResult
        }
        const report = yield* alerts.evaluateFor(tenant)
        const critical = report.alerts.filter((a) => a.severity === "critical")
        if (critical.length === 0) return { ...base, status: "no_critical", critical: 0 } satisfies NotifyResult
        const payload = payloadOf(tenant, critical)
        const hash = Canonical.hashOf(payload)
        const deliveryId = yield* ids.next("kpin")
        const started = yield* Clock.currentTimeMillis
        const target = checkUrl(settings.webhookUrl, settings)
        if (Either.isLeft(target)) {
          let host = ""
          try {
            host = new URL(settings.webhookUrl).hostname
          } catch {
            host = ""
          }
          yield* record({
            tenant_id: tenant,
            delivery_id: deliveryId,
            payload_hash: hash,
            attempt: 1,
            outcome: "refused",
            http_status: null,
            error: `${target.left.code}: ${target.left.message}`,
            host,
            at: started,
            duration_ms: 0
          })
          return {
            ...base,
            status: "refused",
            critical: critical.length,
            payload_hash: hash,
            delivery_id: deliveryId,
            attempts: 1,
            detail: target.left.code
          } satisfies NotifyResult
        }
        const claimed = yield* store.claimNotification(
          tenant,
          hash,
          deliveryId,
          started,
          started + settings.notifyCooldownMinutes * 60_000
        )
        if (!claimed) {
          return { ...base, status: "cooldown", critical: critical.length, payload_hash: hash } satisfies NotifyResult
        }
        const secret = Redacted.value(settings.webhookSecret)
        const attempts = yield* Ref.make(0)
        const body = JSON.stringify({
          ...payload,
          payload_hash: hash,
          delivery_id: deliveryId,
          sent_at: started
        })
        const check = addressCheck(target.right)
        const attempt = Effect.gen(function*() {
          const n = yield* Ref.updateAndGet(attempts, (x) => x + 1)
          const at = yield* Clock.currentTimeMillis
          const headers = {
            "content-type": "application/json",
            "user-agent": "airlock-kpi-webhook/1",
            [EVENT_HEADER]: EVENT_TYPE,
            [DELIVERY_HEADER]: deliveryId,
            [SIGNATURE_HEADER]: signature(secret, Math.floor(at / 1000), body)
          }
          const outcome = yield* transport.post({
            url: target.right.url,
            headers,
            body,
            timeoutMs: settings.webhookTimeoutSeconds * 1000,
            checkAddress: check
          }).pipe(
            Effect.timeoutFail({
              duration: Duration.seconds(settings.webhookTimeoutSeconds),
              onTimeout: () => new TransportError({ reason: "timeout", message: "The webhook did not answer in time" })
            }),
            Effect.either
          )
          const done = yield* Clock.currentTimeMillis
          const common = {
            tenant_id: tenant,
            delivery_id: deliveryId,
            payload_hash: hash,
            attempt: n,
            host: target.right.host,
            at,
            duration_ms: done - at
          }
          if (Either.isLeft(outcome)) {
            const refused = outcome.left.reason === "address_denied"
            yield* record({
              ...common,
              outcome: refused ? "refused" : "failed",
              http_status: null,
              error: `${outcome.left.reason}: ${outcome.left.message}`
            })
            return yield* new AttemptFailed({ retryable: !refused, detail: outcome.left.reason })
          }
          const status = outcome.right.status
          const ok = status >= 200 && status < 300
          yield* record({ ...common, outcome: ok ? "delivered" : "failed", http_status: status, error: null })
          if (!ok) {
            return yield* new AttemptFailed({ retryable: status === 429 || status >= 500, detail: `http_${status}` })
          }
        })
        const result = yield* attempt.pipe(
          Effect.retry({ schedule, while: (e) => e._tag === "AttemptFailed" && e.retryable }),
          Effect.either
        )
        const count = yield* Ref.get(attempts)
        if (Either.isLeft(result)) {
          yield* store.releaseNotification(tenant, hash, deliveryId)
          if (result.left._tag === "StorageError") return yield* result.left
          return {
            tenant_id: tenant,
            status: result.left.detail === "address_denied" ? "refused" : "failed",
            critical: critical.length,
            payload_hash: hash,
            delivery_id: deliveryId,
            attempts: count,
            detail: result.left.detail
          } satisfies NotifyResult
        }
        return {
          tenant_id: tenant,
          status: "delivered",
          critical: critical.length,
          payload_hash: hash,
          delivery_id: deliveryId,
          attempts: count,
          detail: null
        } satisfies NotifyResult
      })

    /** `POST /api/admin/kpi/alerts/notify`: needs `ops.write` (another tenant: `tenant.cross`). */
    const notify = (
      actor: Actor.Actor,
      tenant?: string
    ): Effect.Effect<NotifyResult, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.write")
        return yield* notifyFor(yield* TenantScope.acting(rbac, actor, tenant))
      })

    /** `GET /api/admin/kpi/alerts/deliveries`: the recorded attempts, newest first; needs `ops.read`. */
    const deliveries = (
      actor: Actor.Actor,
      limit: number,
      tenant?: string
    ): Effect.Effect<ReadonlyArray<DeliveryAttempt>, Errors.Forbidden | Errors.StorageError> =>
      Effect.gen(function*() {
        yield* rbac.require(actor, "ops.read")
        return yield* store.listDeliveries(yield* TenantScope.acting(rbac, actor, tenant), limit)
      })

    /** The notify task: {@link notifyFor} for every tenant with events in the alert lookback. */
    const runTask: Effect.Effect<ReadonlyArray<NotifyResult>, Errors.StorageError> = Effect.gen(function*() {
      const today = dayIndexOf(yield* Clock.currentTimeMillis)
      const tenants = yield* events.tenantsSince(today - 16)
      const out: Array<NotifyResult> = []
      for (const t of tenants) out.push(yield* notifyFor(t))
      return out
    })

    /** Is the webhook on (`AIRLOCK_KPI_ALERT_WEBHOOK_ENABLED` with a URL and a secret)? Off, every notify answers `disabled`. */
    const enabled = settings.webhookEnabled && settings.webhookUrl !== null && settings.webhookSecret !== null

    return { enabled, notifyFor, notify, deliveries, runTask } as const
  }),
  dependencies: [KpiAlerts.Default]
}) {}

/** The alert notification as a task a scheduler calls (a plain Effect). */
export const notifyTask: Effect.Effect<ReadonlyArray<NotifyResult>, Errors.StorageError, AlertWebhook> = Effect
  .flatMap(AlertWebhook, (s) => s.runTask)

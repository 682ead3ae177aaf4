/**
 * Request metrics and the Prometheus exposition of `/metrics`. Requests are counted in
 * `http_requests_total{method,path,status}` and timed in `http_request_duration_seconds`
 * (a histogram with the same labels), where `path` is the route template
 * (`/api/v1/companion/settings`, or `unmatched`) — never the raw URL, so label cardinality stays
 * bounded whatever clients send. Metrics are Effect `Metric`s in the global registry: anything
 * else the host or a domain package records with `Metric` is exported too.
 *
 * Served names carry a prefix ({@link MetricsConfig}: `airlock_` by default,
 * `AIRLOCK_METRICS_PREFIX` to match a dashboard's own, e.g. `copilot_`). The exposition passes
 * `promtool check metrics`: a counter whose name lacks `_total` gets it, and Effect's runtime
 * `effect_fiber_*` metrics (no help text, counters without `_total`) are not served.
 */
import { Config, Context, Effect, Layer, Metric, MetricBoundaries, MetricLabel, Option } from "effect"
import type { ConfigError } from "effect/ConfigError"
import type * as MetricPair from "effect/MetricPair"
import type * as MetricState from "effect/MetricState"

/** Requests answered, by method, route template and status. */
export const requestsTotal: Metric.Metric.Counter<number> = Metric.counter("http_requests_total", {
  description: "HTTP requests answered, by method, route template and status",
  incremental: true
})

/** Request duration in seconds, by method, route template and status. */
export const requestDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "http_request_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  "HTTP request duration in seconds, by method, route template and status"
)

interface Tagged {
  readonly counter: Metric.Metric.Counter<number>
  readonly histogram: Metric.Metric.Histogram<number>
}

const tagged = new Map<string, Tagged>()

/** Records one answered request (synchronously; tagged metrics are built once per label set). */
export const record = (method: string, path: string, status: number, seconds: number): void => {
  const key = `${method} ${status} ${path}`
  let metrics = tagged.get(key)
  if (metrics === undefined) {
    const labels = [
      MetricLabel.make("method", method),
      MetricLabel.make("path", path),
      MetricLabel.make("status", String(status))
    ]
    metrics = {
      counter: Metric.taggedWithLabels(requestsTotal, labels),
      histogram: Metric.taggedWithLabels(requestDuration, labels)
    }
    tagged.set(key, metrics)
  }
  metrics.counter.unsafeUpdate(1, [])
  metrics.histogram.unsafeUpdate(seconds, [])
}

const sanitizeName = (name: string) => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const labelText = (labels: ReadonlyArray<readonly [string, string]>) =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${sanitizeName(k)}="${escapeLabel(v)}"`).join(",")}}`

const num = (n: number) => (Number.isNaN(n) ? "NaN" : n === Infinity ? "+Inf" : n === -Infinity ? "-Inf" : String(n))

interface Family {
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string
  lines: Array<string>
}

/** Effect's own runtime metrics, left out of the exposition (see the module doc). */
const isRuntimeMetric = (name: string) => name.startsWith("effect_fiber_")

const counterName = (name: string) => (name.endsWith("_total") ? name : `${name}_total`)

/** Options of {@link renderPrometheus}. */
export interface RenderOptions {
  /** Put before every metric name (default none). */
  readonly prefix?: string
}

/**
 * Renders metrics in the Prometheus text exposition format (version 0.0.4): counters (named
 * `…_total`), gauges, histograms (cumulative `_bucket{le}`, `_sum`, `_count`), summaries and
 * frequencies (as counters with a `key` label), every name behind `prefix`. Samples are sorted by
 * name and labels (buckets stay in bound order), so output is stable.
 */
export const renderPrometheus = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  options: RenderOptions = {}
): string => {
  const prefix = options.prefix ?? ""
  const families = new Map<string, Family>()
  const family = (name: string, type: Family["type"], help: string | undefined) => {
    let f = families.get(name)
    if (f === undefined) {
      f = { type, help: help ?? "", lines: [] }
      families.set(name, f)
    }
    return f
  }
  const sorted = pairs.map((pair) => ({
    pair,
    sortKey: `${pair.metricKey.name}${
      labelText(
        pair.metricKey.tags.map((t) => [t.key, t.value] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      )
    }`
  })).sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
  for (const { pair } of sorted) {
    const key = pair.metricKey
    if (isRuntimeMetric(key.name)) continue
    const name = sanitizeName(`${prefix}${key.name}`)
    const labels = key.tags.map((t) => [t.key, t.value] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const help = key.description._tag === "Some" ? key.description.value : undefined
    const state = pair.metricState as unknown as Record<string, unknown>
    if ("count" in state && "buckets" in state) {
      const h = state as unknown as MetricState.MetricState.Histogram
      const f = family(name, "histogram", help)
      let sawInf = false
      for (const [bound, count] of h.buckets) {
        if (bound === Infinity) sawInf = true
        f.lines.push(`${name}_bucket${labelText([...labels, ["le", num(bound)]])} ${count}`)
      }
      if (!sawInf) f.lines.push(`${name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${h.count}`)
      f.lines.push(`${name}_sum${labelText(labels)} ${num(h.sum)}`)
      f.lines.push(`${name}_count${labelText(labels)} ${h.count}`)
    } else if ("quantiles" in state) {
      const s = state as unknown as MetricState.MetricState.Summary
      const f = family(name, "summary", help)
      for (const [q, value] of s.quantiles) {
        if (value._tag === "Some")
          f.lines.push(`${name}${labelText([...labels, ["quantile", num(q)]])} ${num(value.value)}`)
      }
      f.lines.push(`${name}_sum${labelText(labels)} ${num(s.sum)}`)
      f.lines.push(`${name}_count${labelText(labels)} ${s.count}`)
    } else if ("occurrences" in state) {
      const fr = state as unknown as MetricState.MetricState.Frequency
      const total = counterName(name)
      const f = family(total, "counter", help)
      for (const [k, count] of fr.occurrences) f.lines.push(`${total}${labelText([...labels, ["key", k]])} ${count}`)
    } else if ("count" in state) {
      const c = state as unknown as MetricState.MetricState.Counter<number | bigint>
      const total = counterName(name)
      family(total, "counter", help).lines.push(`${total}${labelText(labels)} ${c.count}`)
    } else if ("value" in state) {
      const g = state as unknown as MetricState.MetricState.Gauge<number | bigint>
      family(name, "gauge", help).lines.push(
        `${name}${labelText(labels)} ${typeof g.value === "number" ? num(g.value) : g.value}`
      )
    }
  }
  let out = ""
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!
    if (f.help !== "") out += `# HELP ${name} ${escapeHelp(f.help)}\n`
    out += `# TYPE ${name} ${f.type}\n`
    for (const line of f.lines) out += `${line}\n`
  }
  return out
}

/** The current state of every metric in the global registry, as Prometheus text, names behind `prefix`. */
export const prometheus = (prefix = ""): string => renderPrometheus(Metric.unsafeSnapshot(), { prefix })

/** Settings of the `/metrics` exposition. */
export interface MetricsSettings {
  /** Put before every served metric name; empty or a valid name start (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  readonly prefix: string
}

/** The prefix when none is configured. */
export const DEFAULT_PREFIX = "airlock_"

const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/

/** The `/metrics` settings; without this service the exposition uses {@link DEFAULT_PREFIX}. */
export class MetricsConfig
  extends Context.Tag("@airlock/adapters-http/MetricsConfig")<MetricsConfig, MetricsSettings>()
{}

/** Reads `AIRLOCK_METRICS_PREFIX` (default `airlock_`; empty for bare names). */
export const config: Effect.Effect<MetricsSettings, ConfigError> = Effect.map(
  Config.string("AIRLOCK_METRICS_PREFIX").pipe(
    Config.withDefault(DEFAULT_PREFIX),
    Config.validate({ message: "must be empty or match [a-zA-Z_:][a-zA-Z0-9_:]*", validation: (p) => PREFIX.test(p) })
  ),
  (prefix) => ({ prefix })
)

/** `/metrics` settings from the environment. */
export const layerConfig: Layer.Layer<MetricsConfig, ConfigError> = Layer.effect(MetricsConfig, config)

/** `/metrics` settings given in code. */
export const layer = (settings: Partial<MetricsSettings> = {}): Layer.Layer<MetricsConfig> => {
  const prefix = settings.prefix ?? DEFAULT_PREFIX
  if (!PREFIX.test(prefix)) throw new Error(`invalid metrics prefix: ${prefix}`)
  return Layer.succeed(MetricsConfig, { prefix })
}

/** The configured prefix (the default when no {@link MetricsConfig} is provided). */
export const currentPrefix: Effect.Effect<string> = Effect.map(
  Effect.serviceOption(MetricsConfig),
  Option.match({ onNone: () => DEFAULT_PREFIX, onSome: (s) => s.prefix })
)

/**
 * The agent-memory KPIs (the assistant runbook's `/metrics` fields), over every tenant and the
 * configured KPI window, set at each scrape. The runbook's `memory_items_count` is served as the
 * gauge `memory_items` (Prometheus reserves `_count` for histograms and summaries). Definitions: core's `AgentMemory.Kpis`. The
 * reconciliation rate reads `NaN` while no contradiction was raised in the window.
 */
export const memoryKpis = {
  // served as `memory_items`: promtool refuses a `_count` suffix on a gauge
  memory_items_count: Metric.gauge("memory_items", {
    description: "Live agent-memory items (active or pending review), every tenant"
  }),
  memory_avg_tokens_saved: Metric.gauge("memory_avg_tokens_saved", {
    description: "Mean token_count of the active memory items used in the KPI window (tokens one recall saves)"
  }),
  memory_reconciliation_rate: Metric.gauge("memory_reconciliation_rate", {
    description:
      "Share of the memory contradictions raised in the KPI window that are resolved (NaN when none was raised)"
  }),
  memory_hallucination_incidents: Metric.gauge("memory_hallucination_incidents", {
    description: "Memory items a reviewer rejected as wrong in the KPI window"
  })
} as const

/** Sets the memory KPI gauges from one reading. */
export const setMemoryKpis = (k: {
  readonly memory_items_count: number
  readonly memory_avg_tokens_saved: number
  readonly memory_reconciliation_rate: number | null
  readonly memory_hallucination_incidents: number
}): void => {
  memoryKpis.memory_items_count.unsafeUpdate(k.memory_items_count, [])
  memoryKpis.memory_avg_tokens_saved.unsafeUpdate(k.memory_avg_tokens_saved, [])
  memoryKpis.memory_reconciliation_rate.unsafeUpdate(k.memory_reconciliation_rate ?? Number.NaN, [])
  memoryKpis.memory_hallucination_incidents.unsafeUpdate(k.memory_hallucination_incidents, [])
}

/**
 * The optional language model of the categorizer chain, configured by `AIRLOCK_LLM_*` through
 * Effect `Config` ({@link layerConfig}) or in code ({@link layer}). Any server speaking OpenAI's
 * chat-completions protocol works: OpenAI, Ollama (`http://127.0.0.1:11434/v1`), vLLM
 * (`http://host:8000/v1`), LiteLLM (`http://host:4000`).
 *
 * {@link layerModel} builds `@effect/ai-openai`'s `OpenAiClient` (base URL, bearer key, the
 * host's `HttpClient`) and an `@effect/ai` `LanguageModel` on it. The language model is made with
 * `LanguageModel.make` over `POST {base}/chat/completions`, not with `OpenAiLanguageModel`: in
 * `@effect/ai-openai` 0.41 that one speaks OpenAI's Responses API (`POST /responses`), which
 * Ollama and many OpenAI-compatible servers do not serve, and its strict response schema refuses
 * chat answers that omit optional fields. Structured output is requested with
 * `response_format: {type: "json_schema"}` ({@link withJsonSchema}).
 *
 * Nothing configured (no model name) → no model: {@link LlmModel} is `None` and the stage skips
 * with `llm.not_configured`. Prices are guardrails' (`AIRLOCK_LLM_PRICES`): an unpriced model is
 * never called.
 */
import { OpenAiClient } from "@effect/ai-openai"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, Context, Effect, Layer, Option, type Redacted, Schema, Stream } from "effect"

/** The language-model settings. */
export interface LlmSettings {
  /** `AIRLOCK_LLM_BASE_URL`: the OpenAI-compatible base URL (up to `/v1`); default OpenAI's. */
  readonly baseUrl: string
  /** `AIRLOCK_LLM_API_KEY`: sent as a bearer token; none for local servers. */
  readonly apiKey: Redacted.Redacted | null
  /** `AIRLOCK_LLM_MODEL`: the model name; unset = no model. */
  readonly model: string | null
  /** `AIRLOCK_LLM_TIMEOUT_MS`: a call not answered in time is a provider failure (default 10000). */
  readonly timeoutMs: number
  /** `AIRLOCK_LLM_MAX_TOKENS`: output token cap per call (default 200). */
  readonly maxTokens: number
  /** `AIRLOCK_LLM_PROVIDER`: the provider breaker's name (default `llm`). */
  readonly provider: string
  /**
   * `AIRLOCK_LLM_CALL_BELOW`: the stage runs only when no earlier stage decided and their best
   * confidence is below this (default 0.6).
   */
  readonly callBelow: number
  /**
   * `AIRLOCK_LLM_PRIOR_CONFIDENCE`: the stage's raw confidence in an accepted answer (default
   * 0.5), a fixed prior never taken from the model; calibration then maps it per tenant.
   */
  readonly priorConfidence: number
}

/** Defaults (no model). */
export const defaults: LlmSettings = {
  baseUrl: "https://api.openai.com/v1",
  apiKey: null,
  model: null,
  timeoutMs: 10_000,
  maxTokens: 200,
  provider: "llm",
  callBelow: 0.6,
  priorConfidence: 0.5
}

/** The language-model settings service. */
export class LlmConfig extends Context.Tag("@airlock/companion/LlmConfig")<LlmConfig, LlmSettings>() {}

const unit = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
    Config.withDefault(fallback)
  )

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

/** The `Config` description of the settings (`AIRLOCK_LLM_*`). */
export const config: Config.Config<LlmSettings> = Config.all({
  baseUrl: Config.string("AIRLOCK_LLM_BASE_URL").pipe(
    Config.validate({ message: "must be an http(s) URL", validation: (s) => /^https?:\/\/\S+$/.test(s) }),
    Config.map((s) => s.replace(/\/+$/, "")),
    Config.withDefault(defaults.baseUrl)
  ),
  apiKey: Config.option(Config.redacted("AIRLOCK_LLM_API_KEY")).pipe(Config.map(Option.getOrNull)),
  model: Config.option(Config.nonEmptyString("AIRLOCK_LLM_MODEL")).pipe(Config.map(Option.getOrNull)),
  timeoutMs: positive("AIRLOCK_LLM_TIMEOUT_MS", defaults.timeoutMs),
  maxTokens: positive("AIRLOCK_LLM_MAX_TOKENS", defaults.maxTokens),
  provider: Config.nonEmptyString("AIRLOCK_LLM_PROVIDER").pipe(Config.withDefault(defaults.provider)),
  callBelow: unit("AIRLOCK_LLM_CALL_BELOW", defaults.callBelow),
  priorConfidence: unit("AIRLOCK_LLM_PRIOR_CONFIDENCE", defaults.priorConfidence)
})

/** Settings from the environment (or the installed `ConfigProvider`). */
export const layerConfig: Layer.Layer<LlmConfig, import("effect/ConfigError").ConfigError> = Layer.effect(
  LlmConfig,
  config
)

/** Settings given in code; unspecified fields take their defaults. */
export const layer = (settings: Partial<LlmSettings> = {}): Layer.Layer<LlmConfig> =>
  Layer.succeed(LlmConfig, { ...defaults, ...settings })

// --- the model ------------------------------------------------------------------------------------

/** The configured model, when there is one: its name and the `LanguageModel` to call. */
export interface ConfiguredModel {
  readonly name: string
  readonly model: LanguageModel.Service
}

/** The optional model the stage uses (`None` = not configured). */
export class LlmModel extends Context.Tag("@airlock/companion/LlmModel")<LlmModel, Option.Option<ConfiguredModel>>() {}

/** A JSON schema the next call's answer must follow (chat-completions `response_format`). */
export class ResponseSchema extends Context.Tag("@airlock/companion/LlmConfig/ResponseSchema")<
  ResponseSchema,
  { readonly name: string; readonly schema: Record<string, unknown> }
>() {}

/** Asks the model for JSON following `schema` in the wrapped calls. */
export const withJsonSchema =
  (name: string, schema: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, ResponseSchema>> =>
    Effect.provideService(self, ResponseSchema, { name, schema })

/** The parts of a chat-completions answer the model reads (lenient: servers differ in the rest). */
const ChatCompletion = Schema.Struct({
  model: Schema.optional(Schema.String),
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }),
    finish_reason: Schema.optional(Schema.NullOr(Schema.String))
  })),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({
    prompt_tokens: Schema.optional(Schema.Number),
    completion_tokens: Schema.optional(Schema.Number),
    total_tokens: Schema.optional(Schema.Number)
  })))
})

const textOf = (content: string | ReadonlyArray<{ readonly type: string; readonly text?: string }>): string =>
  typeof content === "string" ? content : content.map((p) => (p.type === "text" ? p.text ?? "" : "")).join("")

/** Chat messages of a prompt (system and user text; other parts are not used by the stage). */
const messagesOf = (prompt: Prompt.Prompt) =>
  prompt.content.flatMap((m) => {
    switch (m.role) {
      case "system":
        return [{ role: "system", content: m.content }]
      case "user":
      case "assistant":
        return [{ role: m.role, content: textOf(m.content as any) }]
      default:
        return []
    }
  })

const finishReason = (reason: string | null | undefined): Response.FinishReason =>
  reason === "stop"
    ? "stop"
    : reason === "length"
    ? "length"
    : reason === "content_filter"
    ? "content-filter"
    : "unknown"

/**
 * A `LanguageModel` over `POST /chat/completions` of an `OpenAiClient` (its base URL and key).
 * Non-2xx answers fail with `HttpResponseError`, transport failures with `HttpRequestError`, an
 * answer that is not a chat completion with `MalformedOutput`.
 */
export const makeChatModel = (name: string, maxTokens: number) =>
  Effect.gen(function*() {
    const openai = yield* OpenAiClient.OpenAiClient
    const http = openai.client.httpClient
    const decode = Schema.decodeUnknown(ChatCompletion)
    const generateText = (options: LanguageModel.ProviderOptions) =>
      Effect.gen(function*() {
        const format = yield* Effect.serviceOption(ResponseSchema)
        const body: Record<string, unknown> = {
          model: name,
          messages: messagesOf(options.prompt),
          max_tokens: maxTokens,
          temperature: 0
        }
        if (Option.isSome(format)) {
          body.response_format = {
            type: "json_schema",
            json_schema: { name: format.value.name, schema: format.value.schema, strict: true }
          }
        }
        const request = HttpClientRequest.post("/chat/completions").pipe(HttpClientRequest.bodyUnsafeJson(body))
        const response = yield* http.execute(request).pipe(
          Effect.mapError((error) =>
            error._tag === "RequestError"
              ? AiError.HttpRequestError.fromRequestError({ module: "LlmConfig", method: "chat", error })
              : new AiError.UnknownError({
                module: "LlmConfig",
                method: "chat",
                description: error.message,
                cause: error
              })
          )
        )
        if (response.status < 200 || response.status >= 300) {
          return yield* Effect.fail(
            new AiError.UnknownError({
              module: "LlmConfig",
              method: "chat",
              description: `HTTP ${response.status} from the model server`
            })
          )
        }
        const json = yield* response.json.pipe(
          Effect.catchAll((cause) =>
            Effect.fail(
              new AiError.UnknownError({ module: "LlmConfig", method: "chat", description: "unreadable body", cause })
            )
          )
        )
        const completion = yield* decode(json).pipe(
          Effect.mapError((error) =>
            AiError.MalformedOutput.fromParseError({ module: "LlmConfig", method: "chat", error })
          )
        )
        const choice = completion.choices[0]
        const parts: Array<Response.PartEncoded> = [
          { type: "text", text: choice?.message.content ?? "" },
          {
            type: "finish",
            reason: finishReason(choice?.finish_reason),
            usage: {
              inputTokens: completion.usage?.prompt_tokens,
              outputTokens: completion.usage?.completion_tokens,
              totalTokens: completion.usage?.total_tokens
            }
          }
        ]
        return parts
      }).pipe(Effect.scoped)
    return yield* LanguageModel.make({
      generateText,
      // the stage asks for one structured answer; streaming is not offered
      streamText: () =>
        Stream.fail(
          new AiError.UnknownError({ module: "LlmConfig", method: "streamText", description: "not supported" })
        )
    })
  })

/**
 * The optional model from {@link LlmConfig}: `None` without a model name; otherwise an
 * `OpenAiClient` on the base URL and key (over the host's `HttpClient`) and the chat model.
 */
export const layerModel: Layer.Layer<LlmModel, never, LlmConfig | HttpClient.HttpClient> = Layer.scoped(
  LlmModel,
  Effect.gen(function*() {
    const settings = yield* LlmConfig
    if (settings.model === null) return Option.none()
    const name = settings.model
    const client = yield* OpenAiClient.make({
      apiUrl: settings.baseUrl,
      ...(settings.apiKey === null ? {} : { apiKey: settings.apiKey })
    })
    const model = yield* makeChatModel(name, settings.maxTokens).pipe(
      Effect.provideService(OpenAiClient.OpenAiClient, client)
    )
    return Option.some({ name, model })
  })
)

/** No model (the stage always skips with `llm.not_configured`). */
export const layerNone: Layer.Layer<LlmModel> = Layer.succeed(LlmModel, Option.none())

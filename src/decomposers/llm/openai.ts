/**
 * OpenAI Chat Completions with structured output:
 * `response_format: { type: "json_schema", json_schema: { name, strict: true, schema } }`.
 * The plan arrives as JSON text in `choices[0].message.content`; a refusal in `message.refusal`.
 * Streamed (`stream: true`), it arrives in `delta.content` chunks, with the usage in a last chunk.
 */
import OpenAI from "openai";
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import type { LlmTransport, PlanRequest, Reply, Turn } from "./transport.js";

/** Settings used to build a client when none is given. */
export interface ClientSettings {
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  maxRetries: number;
  requestTimeoutMs: number;
}

/** A transport over `client`, or over a client built from `settings` and the SDK's environment variables. */
export function openAiTransport(client: OpenAI | undefined, settings: ClientSettings): LlmTransport {
  const api =
    client ??
    new OpenAI({
      ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
      ...(settings.baseURL !== undefined ? { baseURL: settings.baseURL } : {}),
      maxRetries: settings.maxRetries,
      timeout: settings.requestTimeoutMs,
    });
  return {
    provider: "openai",
    async complete(request, signal) {
      const completion = await api.chat.completions.create(bodyOf(request), {
        signal,
        timeout: settings.requestTimeoutMs,
      });
      return toReply(completion, request.model);
    },
    async *stream(request, signal) {
      const chunks = await api.chat.completions.create(
        { ...bodyOf(request), stream: true, stream_options: { include_usage: true } },
        { signal, timeout: settings.requestTimeoutMs },
      );
      return yield* readChunks(chunks, request.model);
    },
  };
}

/**
 * Yields the `delta.content` text of each chunk and reassembles the chunks into the completion a
 * non-streamed call returns, so that both end in the same reply.
 */
async function* readChunks(
  chunks: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>,
  requestedModel: string,
): AsyncGenerator<string, Reply, void> {
  const answer = { content: null as string | null, refusal: null as string | null };
  let finish: OpenAI.Chat.Completions.ChatCompletionChunk.Choice["finish_reason"] = null;
  let usage: OpenAI.Completions.CompletionUsage | undefined;
  let model = "";
  for await (const chunk of chunks) {
    model ||= chunk.model;
    usage = chunk.usage ?? usage;
    const choice = chunk.choices?.[0];
    finish = choice?.finish_reason ?? finish;
    if (choice?.delta?.refusal) {
      answer.refusal = (answer.refusal ?? "") + choice.delta.refusal;
    }
    const text = choice?.delta?.content;
    if (text) {
      answer.content = (answer.content ?? "") + text;
      yield text;
    }
  }
  // The chunks reassembled as the completion a non-streamed call returns, so both end the same way.
  const completion: OpenAI.Chat.Completions.ChatCompletion = {
    id: "",
    object: "chat.completion",
    created: 0,
    model,
    choices: [
      {
        index: 0,
        finish_reason: finish ?? "stop",
        logprobs: null,
        message: { role: "assistant", content: answer.content, refusal: answer.refusal },
      },
    ],
    ...(usage ? { usage } : {}),
  };
  return toReply(completion, requestedModel);
}

/** The request body both calls share: strict json_schema structured output (or plain text without a schema). */
function bodyOf(request: PlanRequest): ChatCompletionCreateParamsNonStreaming {
  return {
    model: request.model,
    messages: [{ role: "system", content: request.system }, ...request.turns.map(toMessage)],
    ...(request.schema === null
      ? {}
      : {
          response_format: {
            type: "json_schema" as const,
            json_schema: { name: request.schemaName, strict: true, schema: request.schema },
          },
        }),
    max_completion_tokens: request.maxTokens,
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
  };
}

function toMessage(turn: Turn): ChatCompletionMessageParam {
  if (turn.role === "user") {
    return { role: "user", content: turn.text };
  }
  const content = turn.reply.content;
  return { role: "assistant", content: typeof content === "string" ? content : JSON.stringify(content ?? null) };
}

function toReply(completion: OpenAI.Chat.Completions.ChatCompletion, model: string): Reply {
  const choice = completion.choices?.[0];
  const message = choice?.message;
  const refusal =
    message?.refusal ??
    (choice?.finish_reason === "content_filter" ? "the answer was withheld by the content filter" : null);
  return {
    content: message?.content ?? null,
    end: refusal !== null ? "refused" : choice?.finish_reason === "length" ? "truncated" : "complete",
    refusal,
    inputTokens: completion.usage?.prompt_tokens ?? 0,
    outputTokens: completion.usage?.completion_tokens ?? 0,
    model: completion.model || model,
    raw: message?.content ?? null,
  };
}

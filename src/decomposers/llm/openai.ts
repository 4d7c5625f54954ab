/**
 * OpenAI Chat Completions with structured output:
 * `response_format: { type: "json_schema", json_schema: { name, strict: true, schema } }`.
 * The plan arrives as JSON text in `choices[0].message.content`; a refusal in `message.refusal`.
 */
import OpenAI from "openai";
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import type { LlmTransport, Reply, Turn } from "./transport.js";

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
      const body: ChatCompletionCreateParamsNonStreaming = {
        model: request.model,
        messages: [{ role: "system", content: request.system }, ...request.turns.map(toMessage)],
        response_format: {
          type: "json_schema",
          json_schema: { name: request.schemaName, strict: true, schema: request.schema },
        },
        max_completion_tokens: request.maxTokens,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      };
      const completion = await api.chat.completions.create(body, { signal, timeout: settings.requestTimeoutMs });
      return toReply(completion, request.model);
    },
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

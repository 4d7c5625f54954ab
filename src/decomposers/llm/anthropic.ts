/**
 * Anthropic Messages with a forced tool call: the plan's schema is the tool's `input_schema` and
 * `tool_choice: { type: "tool", name }` makes the model answer by calling it. The plan arrives as
 * the `tool_use` block's `input`. A re-ask answers that tool call with an `is_error` tool result.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { ClientSettings } from "./openai.js";
import type { LlmTransport, Reply, Turn } from "./transport.js";

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlockParam = Anthropic.Messages.ContentBlockParam;

/** A transport over `client`, or over a client built from `settings` and the SDK's environment variables. */
export function anthropicTransport(client: Anthropic | undefined, settings: ClientSettings): LlmTransport {
  const api =
    client ??
    new Anthropic({
      ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
      ...(settings.baseURL !== undefined ? { baseURL: settings.baseURL } : {}),
      maxRetries: settings.maxRetries,
      timeout: settings.requestTimeoutMs,
    });
  return {
    provider: "anthropic",
    async complete(request, signal) {
      const message = await api.messages.create(
        {
          model: request.model,
          max_tokens: request.maxTokens,
          system: request.system,
          messages: toMessages(request.turns),
          tools: [
            {
              name: request.schemaName,
              description: "Record the task plan.",
              input_schema: request.schema as Anthropic.Messages.Tool.InputSchema,
            },
          ],
          tool_choice: { type: "tool", name: request.schemaName },
          ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        },
        { signal, timeout: settings.requestTimeoutMs },
      );
      return toReply(message, request.schemaName, request.model);
    },
  };
}

/** The turns as messages: a user turn after a tool call starts with that call's (error) result. */
function toMessages(turns: readonly Turn[]): MessageParam[] {
  const messages: MessageParam[] = [];
  let pendingToolUse: string | null = null;
  for (const turn of turns) {
    if (turn.role === "assistant") {
      const blocks = (turn.reply.raw ?? []) as ContentBlockParam[];
      messages.push({
        role: "assistant",
        content: blocks.length > 0 ? blocks : [{ type: "text", text: "(no answer)" }],
      });
      pendingToolUse = blocks.find((b): b is Anthropic.Messages.ToolUseBlockParam => b.type === "tool_use")?.id ?? null;
      continue;
    }
    const content: ContentBlockParam[] =
      pendingToolUse === null
        ? [{ type: "text", text: turn.text }]
        : [{ type: "tool_result", tool_use_id: pendingToolUse, content: turn.text, is_error: true }];
    messages.push({ role: "user", content });
    pendingToolUse = null;
  }
  return messages;
}

function toReply(message: Anthropic.Messages.Message, toolName: string, model: string): Reply {
  const blocks = message.content ?? [];
  const toolUses = blocks.filter((b): b is Anthropic.Messages.ToolUseBlock => b.type === "tool_use");
  const toolUse = toolUses.find((b) => b.name === toolName) ?? toolUses[0];
  const text = blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n");
  const refused = message.stop_reason === "refusal";
  // Sent back on a re-ask: only what a request may carry (the response blocks have extra fields).
  const raw: ContentBlockParam[] = [
    ...(text !== "" ? [{ type: "text" as const, text }] : []),
    ...(toolUse ? [{ type: "tool_use" as const, id: toolUse.id, name: toolUse.name, input: toolUse.input }] : []),
  ];
  return {
    content: toolUse ? toolUse.input : text,
    end: refused ? "refused" : message.stop_reason === "max_tokens" ? "truncated" : "complete",
    refusal: refused ? text || "the model declined to answer" : null,
    inputTokens: message.usage?.input_tokens ?? 0,
    outputTokens: message.usage?.output_tokens ?? 0,
    model: message.model || model,
    raw,
  };
}

/**
 * Anthropic Messages with a forced tool call: the plan's schema is the tool's `input_schema` and
 * `tool_choice: { type: "tool", name }` makes the model answer by calling it. The plan arrives as
 * the `tool_use` block's `input`. A re-ask answers that tool call with an `is_error` tool result.
 * Streamed (`stream: true`), the input arrives as `input_json_delta` events of that block.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { ClientSettings } from "./openai.js";
import type { LlmTransport, PlanRequest, Reply, Turn } from "./transport.js";

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
      const message = await api.messages.create(bodyOf(request), { signal, timeout: settings.requestTimeoutMs });
      return toReply(message, request.schemaName, request.model);
    },
    async *stream(request, signal) {
      const events = await api.messages.create(
        { ...bodyOf(request), stream: true },
        { signal, timeout: settings.requestTimeoutMs },
      );
      return yield* readEvents(events, request);
    },
  };
}

/** The request body both calls share: the plan's schema as a forced tool (no tool without a schema: text). */
function bodyOf(request: PlanRequest): Anthropic.Messages.MessageCreateParamsNonStreaming {
  return {
    model: request.model,
    max_tokens: request.maxTokens,
    system: request.system,
    messages: toMessages(request.turns),
    ...(request.schema === null
      ? {}
      : {
          tools: [
            {
              name: request.schemaName,
              description: request.schemaDescription ?? "Record the task plan.",
              input_schema: request.schema as Anthropic.Messages.Tool.InputSchema,
            },
          ],
          tool_choice: { type: "tool" as const, name: request.schemaName },
        }),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
  };
}

/**
 * Yields the tool input's JSON as `input_json_delta` events bring it, and reassembles the events
 * into the message a non-streamed call returns, so that both end in the same reply.
 */
async function* readEvents(
  events: AsyncIterable<Anthropic.Messages.RawMessageStreamEvent>,
  request: PlanRequest,
): AsyncGenerator<string, Reply, void> {
  const blocks: ({ type: "text"; text: string } | { type: "tool_use"; id: string; name: string; json: string })[] = [];
  const message = { model: "", stopReason: null as Anthropic.Messages.StopReason | null, input: 0, output: 0 };
  for await (const event of events) {
    if (event.type === "message_start") {
      message.model = event.message.model;
      message.input = event.message.usage.input_tokens;
      message.output = event.message.usage.output_tokens;
    } else if (event.type === "content_block_start") {
      const block = event.content_block;
      blocks[event.index] =
        block.type === "tool_use"
          ? { type: "tool_use", id: block.id, name: block.name, json: "" }
          : { type: "text", text: block.type === "text" ? block.text : "" };
    } else if (event.type === "content_block_delta") {
      const block = blocks[event.index];
      if (event.delta.type === "input_json_delta" && block?.type === "tool_use") {
        block.json += event.delta.partial_json;
        yield event.delta.partial_json;
      } else if (event.delta.type === "text_delta" && block?.type === "text") {
        block.text += event.delta.text;
      }
    } else if (event.type === "message_delta") {
      message.stopReason = event.delta.stop_reason ?? message.stopReason;
      message.input = event.usage.input_tokens ?? message.input;
      message.output = event.usage.output_tokens;
    }
  }
  const unparsed: string[] = [];
  const content = blocks.map((block) => {
    if (block.type === "text") {
      return { type: "text" as const, text: block.text };
    }
    const input = parseToolInput(block.json);
    if (input === undefined) {
      unparsed.push(block.json);
    }
    return { type: "tool_use" as const, id: block.id, name: block.name, input: input ?? {} };
  });
  // Only the fields toReply reads: a message as the non-streamed call returns it.
  const reply = toReply(
    {
      model: message.model,
      content,
      stop_reason: message.stopReason,
      usage: { input_tokens: message.input, output_tokens: message.output },
    } as unknown as Anthropic.Messages.Message,
    request.schemaName,
    request.model,
  );
  // Tool input that is not JSON (cut off, or a broken stream): the text goes to the parser, which says so.
  return unparsed.length > 0 && reply.end === "complete" ? { ...reply, content: unparsed[0] } : reply;
}

/** The tool input: `{}` when none was streamed (as the API reports it), undefined when not JSON. */
function parseToolInput(json: string): unknown {
  if (json.trim() === "") {
    return {};
  }
  try {
    return JSON.parse(json) as unknown;
  } catch {
    // Not JSON: the caller hands the text to the plan parser, which reports it as invalid_json.
    return undefined;
  }
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

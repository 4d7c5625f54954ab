/**
 * The local LLM server's streamed answers (`stream: true`), as server-sent events exactly as the
 * real APIs send them: OpenAI `chat.completion.chunk` objects with `delta.content`, a last chunk
 * with `finish_reason`, a usage chunk and `data: [DONE]`; Anthropic `message_start`,
 * `content_block_start` (a `tool_use` block, or a text block), `content_block_delta`
 * (`input_json_delta` / `text_delta`), `content_block_stop`, `message_delta` (`stop_reason`, usage)
 * and `message_stop`. The answer is written one token (4 characters) per event, at a set rate.
 */
import type { ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

/** What the server records about a streamed answer; times are `performance.now()` in this process. */
export interface StreamRecord {
  /** When the response headers were written. */
  startedAt: number;
  /** When the last byte was written; null while streaming, or when the stream was cut. */
  lastByteAt: number | null;
  /** The answer's text events written (one token each). */
  deltas: number;
  /** Whether the client closed the connection before the stream ended (an abort). */
  closedByClient: boolean;
}

/** An answer to stream, as the server scripted it. */
export interface StreamedAnswer {
  kind: "plan" | "text" | "truncated" | "refusal" | "broken";
  /** The text written in pieces: the plan's JSON, the text, the cut-off JSON, the refusal. */
  text: string;
  model: string;
  /** The forced tool's name (Anthropic). */
  toolName: string;
  inputTokens: number;
  outputTokens: number;
}

/** Characters per token, as the rate counts them. */
const TOKEN_CHARS = 4;

/**
 * Streams `answer` in `format` to `res`, one token per event at `tokensPerSecond` (as fast as
 * possible when undefined), and records it in `record`. A `broken` answer stops after its text
 * with the connection cut, without the closing events.
 */
export async function streamAnswer(
  res: ServerResponse,
  format: "openai" | "anthropic",
  answer: StreamedAnswer,
  tokensPerSecond: number | undefined,
  record: StreamRecord,
): Promise<void> {
  const events = format === "openai" ? openAiEvents(answer) : anthropicEvents(answer);
  res.on("close", () => {
    record.closedByClient = record.lastByteAt === null && answer.kind !== "broken";
  });
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-request-id": "req_test",
    "request-id": "req_test",
  });
  record.startedAt = performance.now();
  for (const line of events.head) {
    res.write(line);
  }
  const pieces = tokens(answer.text);
  for (const [index, piece] of pieces.entries()) {
    if (tokensPerSecond !== undefined) {
      const due = record.startedAt + ((index + 1) * 1000) / tokensPerSecond;
      const wait = due - performance.now();
      if (wait > 0) {
        await sleep(wait);
      }
    }
    if (res.destroyed) {
      return;
    }
    res.write(events.delta(piece));
    record.deltas += 1;
  }
  if (answer.kind === "broken") {
    res.destroy();
    return;
  }
  res.end(events.tail.join(""), () => {
    record.lastByteAt = performance.now();
  });
}

/** `text` in tokens of 4 characters (code points: a real API never splits a character). */
function tokens(text: string): string[] {
  const characters = Array.from(text);
  const pieces: string[] = [];
  for (let start = 0; start < characters.length; start += TOKEN_CHARS) {
    pieces.push(characters.slice(start, start + TOKEN_CHARS).join(""));
  }
  return pieces;
}

interface Events {
  head: string[];
  delta: (piece: string) => string;
  tail: string[];
}

function openAiEvents(answer: StreamedAnswer): Events {
  const base = {
    id: randomId("chatcmpl"),
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    system_fingerprint: "fp_test",
  };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    data({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null });
  const field = answer.kind === "refusal" ? "refusal" : "content";
  return {
    head: [chunk({ role: "assistant", content: field === "content" ? "" : null, refusal: null })],
    delta: (piece) => chunk({ [field]: piece }),
    tail: [
      chunk({}, answer.kind === "truncated" ? "length" : "stop"),
      data({
        ...base,
        choices: [],
        usage: {
          prompt_tokens: answer.inputTokens,
          completion_tokens: answer.outputTokens,
          total_tokens: answer.inputTokens + answer.outputTokens,
        },
      }),
      "data: [DONE]\n\n",
    ],
  };
}

function anthropicEvents(answer: StreamedAnswer): Events {
  const tool = answer.kind === "plan" || answer.kind === "truncated" || answer.kind === "broken";
  const stop = { plan: "tool_use", truncated: "max_tokens", refusal: "refusal", text: "end_turn", broken: null };
  const message = {
    id: randomId("msg"),
    type: "message",
    role: "assistant",
    model: answer.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: answer.inputTokens, output_tokens: 1 },
  };
  const block = tool
    ? { type: "tool_use", id: randomId("toolu"), name: answer.toolName, input: {} }
    : { type: "text", text: "" };
  return {
    head: [
      event("message_start", { type: "message_start", message }),
      event("content_block_start", { type: "content_block_start", index: 0, content_block: block }),
      event("ping", { type: "ping" }),
    ],
    delta: (piece) =>
      event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: tool ? { type: "input_json_delta", partial_json: piece } : { type: "text_delta", text: piece },
      }),
    tail: [
      event("content_block_stop", { type: "content_block_stop", index: 0 }),
      event("message_delta", {
        type: "message_delta",
        delta: { stop_reason: stop[answer.kind], stop_sequence: null },
        usage: { output_tokens: answer.outputTokens },
      }),
      event("message_stop", { type: "message_stop" }),
    ],
  };
}

function data(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

function event(name: string, value: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(value)}\n\n`;
}

function randomId(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 14)}`;
}

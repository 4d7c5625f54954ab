/**
 * A local LLM server for tests and examples: node:http on 127.0.0.1 (random port) speaking the
 * OpenAI Chat Completions (`POST /v1/chat/completions`) and Anthropic Messages (`POST /v1/messages`)
 * wire formats, so the real SDKs can be pointed at it with `baseURL`. It replays scripted answers in
 * order (or asks a responder function), and records every request. No network, no key. A request
 * with `stream: true` gets its answer as server-sent events (llm-stream.ts), at a set token rate.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { streamAnswer, type StreamedAnswer, type StreamRecord } from "./llm-stream.js";

export type WireFormat = "openai" | "anthropic";

/** A request as the server received it. */
export interface RecordedRequest {
  format: WireFormat;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body; tests read its fields freely. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the body's fields freely
  body: any;
  /** `x-stainless-retry-count`: 0 on a first attempt, n on the SDK's nth retry. */
  retryCount: number;
  /** For a streamed answer (`stream: true`): when it started and wrote its last byte. */
  stream?: StreamRecord;
}

/** One scripted answer. */
export type Scripted =
  /** A plan: OpenAI content JSON text, Anthropic tool_use input. */
  | { plan: unknown; inputTokens?: number; outputTokens?: number }
  /** Raw text: OpenAI content, Anthropic a text block (a model that ignored the tool). */
  | { text: string }
  /** Output cut off at max tokens (finish_reason length / stop_reason max_tokens), with what came before. */
  | { truncated: string }
  | { refusal: string }
  /** An HTTP status with headers and body as given (`{ status: 200, body }` replays a recorded response). */
  | { status: number; headers?: Record<string, string>; body?: unknown }
  /** Never answers (until the client gives up or the server closes). */
  | { hang: true }
  /** A connection cut: streamed, after these characters of the answer; not streamed, before any answer. */
  | { broken: string };

export type Responder = Scripted | ((request: RecordedRequest) => Scripted);

export interface LlmTestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** For `new OpenAI({ baseURL })`: includes `/v1`. */
  readonly openaiBaseURL: string;
  /** For `new Anthropic({ baseURL })`: no `/v1`. */
  readonly anthropicBaseURL: string;
  readonly requests: RecordedRequest[];
  /** Queues answers, used in order, one per request. */
  script(...responses: Responder[]): void;
  /** Answers requests once the queue is empty (default: a 500 naming the missing script). */
  setFallback(responder: Responder | undefined): void;
  /** Sets the rate at which streamed answers are written (tokens of 4 characters); undefined: at once. */
  setTokensPerSecond(tokensPerSecond: number | undefined): void;
  close(): Promise<void>;
}

/** How the server answers. */
export interface LlmServerOptions {
  /** The rate streamed answers are written at, in tokens of 4 characters per second. @default undefined (at once) */
  tokensPerSecond?: number;
  /**
   * Answers that are not streamed also take the time to write at `tokensPerSecond` (their output
   * tokens ÷ the rate) before they are sent, as a model takes it: what plan-then-run waits for.
   * @default false (at once)
   */
  wholeAnswersAtRate?: boolean;
}

/** Starts a server on 127.0.0.1 and a random port. */
export async function startLlmServer(fallback?: Responder, options: LlmServerOptions = {}): Promise<LlmTestServer> {
  let tokensPerSecond = options.tokensPerSecond;
  const queue: Responder[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let onEmpty = fallback;
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => send(res, 500, { error: { message: String(error) } }));
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "";
    const format: WireFormat | null = path.endsWith("/chat/completions")
      ? "openai"
      : path.endsWith("/messages")
        ? "anthropic"
        : null;
    const text = await readBody(req);
    if (req.method !== "POST" || format === null) {
      return send(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    }
    const request: RecordedRequest = {
      format,
      path,
      headers: req.headers,
      body: JSON.parse(text || "null"),
      retryCount: Number(req.headers["x-stainless-retry-count"] ?? 0),
    };
    requests.push(request);
    const responder = queue.shift() ??
      onEmpty ?? { status: 500, body: { error: { message: "the test server has no scripted answer left" } } };
    const scripted = typeof responder === "function" ? responder(request) : responder;
    if ("hang" in scripted) {
      return;
    }
    if ("status" in scripted) {
      return send(res, scripted.status, scripted.body ?? errorBody(format, scripted.status), scripted.headers);
    }
    if (request.body?.stream === true) {
      request.stream = { startedAt: 0, lastByteAt: null, deltas: 0, closedByClient: false };
      return streamAnswer(res, format, streamedAnswer(request, scripted), tokensPerSecond, request.stream);
    }
    if ("broken" in scripted) {
      res.socket?.destroy();
      return;
    }
    if (options.wholeAnswersAtRate && tokensPerSecond !== undefined && tokensPerSecond > 0) {
      const outputTokens = usage(scripted, (_input, output) => output);
      await new Promise((resolve) => setTimeout(resolve, (1000 * outputTokens) / tokensPerSecond!));
    }
    send(res, 200, format === "openai" ? openAiBody(request, scripted) : anthropicBody(request, scripted));
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    requests,
    script: (...responses) => void queue.push(...responses),
    setFallback: (responder) => void (onEmpty = responder),
    setTokensPerSecond: (rate) => void (tokensPerSecond = rate),
    close: async () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "x-request-id": "req_test",
    "request-id": "req_test",
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function errorBody(format: WireFormat, status: number): unknown {
  const type =
    status === 429 ? "rate_limit" : status === 401 ? "authentication" : status >= 500 ? "server" : "invalid_request";
  return format === "openai"
    ? {
        error: {
          message: `test server: ${status}`,
          type: `${type}_error`,
          param: null,
          code: status === 429 ? "rate_limit_exceeded" : null,
        },
      }
    : {
        type: "error",
        error: { type: status >= 500 ? "api_error" : `${type}_error`, message: `test server: ${status}` },
        request_id: "req_test",
      };
}

type Answer = Exclude<Scripted, { status: number } | { hang: true } | { broken: string }>;

function openAiBody(request: RecordedRequest, answer: Answer): unknown {
  const content =
    "plan" in answer
      ? JSON.stringify(answer.plan)
      : "text" in answer
        ? answer.text
        : "truncated" in answer
          ? answer.truncated
          : null;
  const finish = "truncated" in answer ? "length" : "stop";
  return {
    id: randomId("chatcmpl"),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: String(request.body?.model ?? "test-model"),
    choices: [
      {
        index: 0,
        finish_reason: finish,
        logprobs: null,
        message: { role: "assistant", content, refusal: "refusal" in answer ? answer.refusal : null },
      },
    ],
    usage: usage(answer, (input, output) => ({
      prompt_tokens: input,
      completion_tokens: output,
      total_tokens: input + output,
    })),
  };
}

function anthropicBody(request: RecordedRequest, answer: Answer): unknown {
  const toolName = String(request.body?.tool_choice?.name ?? request.body?.tools?.[0]?.name ?? "tool");
  const content =
    "plan" in answer
      ? [{ type: "tool_use", id: randomId("toolu"), name: toolName, input: answer.plan }]
      : "truncated" in answer
        ? [{ type: "tool_use", id: randomId("toolu"), name: toolName, input: {} }]
        : [{ type: "text", text: "text" in answer ? answer.text : answer.refusal }];
  const stop =
    "plan" in answer ? "tool_use" : "truncated" in answer ? "max_tokens" : "refusal" in answer ? "refusal" : "end_turn";
  return {
    id: randomId("msg"),
    type: "message",
    role: "assistant",
    model: String(request.body?.model ?? "test-model"),
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: usage(answer, (input, output) => ({ input_tokens: input, output_tokens: output })),
  };
}

function randomId(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 14)}`;
}

/** Token counts: as scripted, else 100 in and one per 4 characters of the answer out. */
function usage<T>(answer: Answer, shape: (input: number, output: number) => T): T {
  const scripted: { inputTokens?: number; outputTokens?: number } = "plan" in answer ? answer : {};
  const size = JSON.stringify(answer).length;
  return shape(scripted.inputTokens ?? 100, scripted.outputTokens ?? Math.ceil(size / 4));
}

/** A scripted answer as llm-stream.ts writes it, with the same token counts as a non-streamed one. */
function streamedAnswer(request: RecordedRequest, answer: Answer | { broken: string }): StreamedAnswer {
  const [kind, text] =
    "plan" in answer
      ? (["plan", JSON.stringify(answer.plan)] as const)
      : "text" in answer
        ? (["text", answer.text] as const)
        : "truncated" in answer
          ? (["truncated", answer.truncated] as const)
          : "refusal" in answer
            ? (["refusal", answer.refusal] as const)
            : (["broken", answer.broken] as const);
  const counted = "broken" in answer ? { text: answer.broken } : answer;
  return {
    kind,
    text,
    model: String(request.body?.model ?? "test-model"),
    toolName: String(request.body?.tool_choice?.name ?? request.body?.tools?.[0]?.name ?? "tool"),
    ...usage(counted, (inputTokens, outputTokens) => ({ inputTokens, outputTokens })),
  };
}

/**
 * One request for a plan, and its answer, independent of the provider. `openai.ts` and
 * `anthropic.ts` translate these to and from each wire format.
 */

/** A turn of the conversation after the system prompt. */
export type Turn = { role: "user"; text: string } | { role: "assistant"; reply: Reply };

/** A request for a plan in the given JSON schema. */
export interface PlanRequest {
  system: string;
  turns: readonly Turn[];
  /** The strict JSON schema of the answer; null asks for plain text (llmStep without `output`). */
  schema: Record<string, unknown> | null;
  /** The json_schema / tool name. */
  schemaName: string;
  /** The forced tool's description (Anthropic). @default "Record the task plan." */
  schemaDescription?: string;
  model: string;
  maxTokens: number;
  temperature: number | undefined;
}

/** How an answer ended. */
export type ReplyEnd = "complete" | "truncated" | "refused";

/** The model's answer. */
export interface Reply {
  /** The plan: text (to be parsed) or an already parsed value (a tool call's input). */
  content: unknown;
  end: ReplyEnd;
  /** The refusal text, when `end` is "refused". */
  refusal: string | null;
  inputTokens: number;
  outputTokens: number;
  /** The model that answered, as the provider reported it. */
  model: string;
  /** The provider's own content blocks, to send back as the assistant turn of a re-ask. */
  raw: unknown;
}

/** Talks to one provider. */
export interface LlmTransport {
  readonly provider: "openai" | "anthropic";
  /** Sends `request`; rejects with the SDK's error after the SDK's own retries. */
  complete(request: PlanRequest, signal: AbortSignal): Promise<Reply>;
  /**
   * Sends `request` as a stream: yields the plan's JSON text as it arrives (OpenAI `delta.content`,
   * Anthropic `input_json_delta`) and returns the reply `complete` would have returned. `signal`
   * aborts the stream; the iteration then rejects with the SDK's abort error.
   */
  stream(request: PlanRequest, signal: AbortSignal): AsyncGenerator<string, Reply, void>;
}

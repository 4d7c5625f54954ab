/**
 * The span of one LLM call, with the OpenTelemetry GenAI semantic conventions, and the tokens it
 * used counted by model and direction (`htdag.llm.tokens`).
 */
import { SpanKind } from "@opentelemetry/api";
import { GEN_AI } from "./names.js";
import { inSpan } from "./spans.js";
import type { Telemetry } from "./telemetry.js";

/** The call as it is asked. */
export interface LlmCall {
  /** `gen_ai.provider.name`: openai, anthropic. */
  provider: string;
  model: string;
  /** `gen_ai.operation.name`. @default "chat" */
  operation?: string;
  maxTokens?: number;
}

/** What the call reports back. */
export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  /** The model that answered, as the provider reported it. */
  model?: string;
}

/** Runs `call` inside its span (`{operation} {model}`, kind CLIENT) and counts its tokens. */
export function traceLlmCall<T extends LlmUsage>(
  telemetry: Telemetry,
  call: LlmCall,
  send: () => Promise<T>,
): Promise<T> {
  const operation = call.operation ?? "chat";
  return inSpan(
    telemetry.tracer,
    {
      name: `${operation} ${call.model}`,
      kind: SpanKind.CLIENT,
      attributes: {
        [GEN_AI.operationName]: operation,
        [GEN_AI.providerName]: call.provider,
        [GEN_AI.requestModel]: call.model,
        ...(call.maxTokens === undefined ? {} : { [GEN_AI.requestMaxTokens]: call.maxTokens }),
      },
    },
    async (span) => {
      const reply = await send().catch((error: unknown) => {
        span.setAttribute(GEN_AI.errorType, error instanceof Error ? error.name : typeof error);
        throw error;
      });
      span.setAttributes({
        [GEN_AI.inputTokens]: reply.inputTokens,
        [GEN_AI.outputTokens]: reply.outputTokens,
        ...(reply.model ? { [GEN_AI.responseModel]: reply.model } : {}),
      });
      const { llmTokens } = telemetry.instruments();
      const attributes = { [GEN_AI.providerName]: call.provider, [GEN_AI.requestModel]: call.model };
      llmTokens.add(reply.inputTokens, { ...attributes, [GEN_AI.tokenType]: "input" });
      llmTokens.add(reply.outputTokens, { ...attributes, [GEN_AI.tokenType]: "output" });
      return reply;
    },
  );
}

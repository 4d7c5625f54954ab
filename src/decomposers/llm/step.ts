/**
 * `llmStep` (docs/llm-steps.md): a step that performs its task with one model call
 * through the official SDKs, plus repair re-asks when it has an `output` schema. The prompt is
 * built by `step-prompt.ts`, the structured output read by `step-output.ts`; the transports are the
 * LLM decomposer's. Before each call it checks the run's budget, after each it reports the usage.
 */
import type Anthropic from "@anthropic-ai/sdk";
import { trace } from "@opentelemetry/api";
import type OpenAI from "openai";
import { z } from "zod";
import { defineStep, type StepContext, type StepDefinition } from "../../composer/steps.js";
import { LLM_STEP_DEFAULTS } from "../../defaults.js";
import { InvalidOptionError, NonRetryableError } from "../../errors.js";
import { parseOptions } from "../../options.js";
import { traceLlmCall } from "../../telemetry/llm-span.js";
import { createTelemetry, type Telemetry } from "../../telemetry/telemetry.js";
import { stepProviderError } from "./step-errors.js";
import { outputJsonSchema, readOutput, STEP_OUTPUT_NAME, type OutputSchema } from "./step-output.js";
import { cutText, stepReaskPrompt, stepSystemPrompt, stepUserPrompt } from "./step-prompt.js";
import { LLM_PROVIDERS, type LlmProvider } from "./options.js";
import type { LlmTransport, PlanRequest, Reply, Turn } from "./transport.js";

/** Bytes of the model's answer quoted in an error. */
const QUOTED_ANSWER_BYTES = 2 * 1024;

/** Options of `llmStep`. */
export interface LlmStepOptions<Output = { text: string }> {
  /** Which API: OpenAI Chat Completions or Anthropic Messages. */
  provider: LlmProvider;
  /** The model id, e.g. `"gpt-4.1-mini"` or `"claude-sonnet-4-5"`. */
  model: string;
  /**
   * A client you built: an `OpenAI` instance for `openai`, an `Anthropic` instance for `anthropic`.
   * @default a client built from the SDK's environment variables (OPENAI_API_KEY, OPENAI_BASE_URL; ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)
   */
  client?: OpenAI | Anthropic;
  /** Added to the system prompt (the role, house style, what to answer). @default none */
  instructions?: string;
  /**
   * The result's schema: asked for as strict structured output (OpenAI json_schema, Anthropic forced
   * tool), validated with zod, re-asked about up to `maxRepairs` times.
   * @default none: the task's output is `{ text }`, the model's text answer
   */
  output?: z.ZodType<Output>;
  /** Output tokens per call. @default 4096 */
  maxOutputTokens?: number;
  /** Re-asks quoting the schema's issues, after an answer that does not fit `output`. @default 2 */
  maxRepairs?: number;
  /** Retries of one request by the SDK on 408, 409, 429, 5xx and connection errors (a built client only). @default 2 */
  maxRetries?: number;
  /** Time one HTTP request may take, in ms. @default 120000 */
  requestTimeoutMs?: number;
  /** What the step does, shown to decomposers in the catalogue. @default none */
  description?: string;
}

/** The options of `llmStep` (`LlmStepOptions`). */
export const llmStepOptionsSchema = z.strictObject({
  provider: z.enum(LLM_PROVIDERS),
  model: z.string().min(1).max(200),
  client: z
    .custom<OpenAI | Anthropic>((value) => value !== null && typeof value === "object", "an OpenAI or Anthropic client")
    .optional(),
  instructions: z.string().max(20_000).optional(),
  output: z
    .custom<z.ZodType>((value) => typeof (value as z.ZodType | undefined)?.safeParse === "function", "a zod schema")
    .optional(),
  maxOutputTokens: z.number().int().min(1).max(128_000).default(LLM_STEP_DEFAULTS.maxOutputTokens),
  maxRepairs: z.number().int().min(0).max(10).default(LLM_STEP_DEFAULTS.maxRepairs),
  maxRetries: z.number().int().min(0).max(10).default(LLM_STEP_DEFAULTS.maxRetries),
  requestTimeoutMs: z.number().int().min(1).max(3_600_000).default(LLM_STEP_DEFAULTS.requestTimeoutMs),
  description: z.string().max(2_000).optional(),
});
type ResolvedStepOptions = z.output<typeof llmStepOptionsSchema>;

/**
 * A step that asks a model to perform its task: usable in any steps map, or as the fallback `"*"`
 * that runs every task with no step of its own.
 *
 * @throws InvalidOptionError for a bad option
 * @example
 * const steps = {
 *   summarise: llmStep({ provider: "openai", model: "gpt-4.1-mini", output: z.object({ summary: z.string() }) }),
 *   "*": llmStep({ provider: "anthropic", model: "claude-sonnet-4-5" }),
 * };
 */
export function llmStep<Output = { text: string }>(options: LlmStepOptions<Output>): StepDefinition<unknown, Output> {
  const resolved = parseOptions(llmStepOptionsSchema, options, "llmStep");
  checkClient(resolved);
  const shape = resolved.output === undefined ? null : outputJsonSchema(resolved.output);
  let transport: Promise<LlmTransport> | undefined;
  const telemetry = createTelemetry();
  return defineStep<unknown, Output>({
    ...(resolved.description !== undefined ? { description: resolved.description } : {}),
    async run(ctx) {
      transport ??= makeTransport(resolved);
      const asked = await transport.catch((error: unknown) => {
        transport = undefined;
        throw error;
      });
      return (await performTask(ctx, { transport: asked, telemetry }, resolved, shape)) as Output;
    },
  });
}

/** What a call goes through: the provider's transport, and the tracer of its span. */
interface StepCaller {
  transport: LlmTransport;
  telemetry: Telemetry;
}

async function performTask(
  ctx: StepContext,
  caller: StepCaller,
  options: ResolvedStepOptions,
  shape: OutputSchema | null,
): Promise<unknown> {
  const turns: Turn[] = [{ role: "user", text: stepUserPrompt(ctx) }];
  const base = {
    system: stepSystemPrompt(options.instructions, shape !== null),
    schema: shape?.jsonSchema ?? null,
    schemaName: STEP_OUTPUT_NAME,
    schemaDescription: "Record the task's result.",
    model: options.model,
    maxTokens: options.maxOutputTokens,
    temperature: undefined,
  };
  for (let repair = 0; ; repair++) {
    const reply = await ask(ctx, caller, options, { ...base, turns: [...turns] });
    if (reply.end === "refused") {
      throw new NonRetryableError(
        `the model refused task ${JSON.stringify(ctx.task.id)}: ${quote(reply.refusal ?? "")}; ` +
          "rephrase the task or give it a step of its own",
        undefined,
        "LLM_REFUSED",
      );
    }
    if (shape === null || options.output === undefined) {
      if (reply.end === "truncated") {
        ctx.log(`the answer was cut off at maxOutputTokens (${options.maxOutputTokens})`);
      }
      return { text: typeof reply.content === "string" ? reply.content : JSON.stringify(reply.content) };
    }
    const read =
      reply.end === "truncated"
        ? {
            issues: [
              `$: the answer was cut off at ${options.maxOutputTokens} tokens (maxOutputTokens); answer shorter`,
            ],
          }
        : readOutput(reply.content, options.output, shape);
    if ("value" in read) {
      return read.value;
    }
    if (repair >= options.maxRepairs) {
      throw new NonRetryableError(
        `the model's result for task ${JSON.stringify(ctx.task.id)} still did not fit its output schema after ` +
          `${options.maxRepairs} re-ask(s) (maxRepairs):\n${read.issues.map((issue) => `  - ${issue}`).join("\n")}\n` +
          `the answer: ${quote(reply.content)}`,
      );
    }
    ctx.log(`re-asked the model about ${read.issues.length} problem(s) with its result`, { issues: read.issues });
    turns.push({ role: "assistant", reply }, { role: "user", text: stepReaskPrompt(read.issues) });
  }
}

/**
 * One call: the budget checked before it, the usage reported after it; the task's signal aborts it.
 * Inside a span (the task's, when the orchestrator's `telemetry` is on) it gets an LLM span of its own.
 */
async function ask(
  ctx: StepContext,
  { transport, telemetry }: StepCaller,
  options: ResolvedStepOptions,
  request: PlanRequest,
): Promise<Reply> {
  await ctx.checkBudget();
  const send = () => transport.complete(request, ctx.signal);
  const call = { provider: transport.provider, model: options.model, maxTokens: options.maxOutputTokens };
  let reply: Reply;
  try {
    reply = await (trace.getActiveSpan()?.isRecording() ? traceLlmCall(telemetry, call, send) : send());
  } catch (error) {
    throw await stepProviderError(ctx.task.id, options.provider, error, options);
  }
  await ctx.usage({
    model: reply.model,
    inputTokens: reply.inputTokens,
    outputTokens: reply.outputTokens,
    llmCalls: 1,
  });
  return reply;
}

/** The model's answer as an error quotes it: JSON, cut. */
function quote(content: unknown): string {
  const text = typeof content === "string" ? content : (JSON.stringify(content) ?? "null");
  return JSON.stringify(cutText(text, QUOTED_ANSWER_BYTES));
}

/** A client must offer the API of its provider: `chat.completions.create` or `messages.create`. */
function checkClient(options: ResolvedStepOptions): void {
  const client = options.client as
    { chat?: { completions?: { create?: unknown } }; messages?: { create?: unknown } } | undefined;
  if (client === undefined) {
    return;
  }
  const fits =
    options.provider === "openai"
      ? typeof client.chat?.completions?.create === "function"
      : typeof client.messages?.create === "function";
  if (!fits) {
    const expected =
      options.provider === "openai" ? "an OpenAI client (new OpenAI(…))" : "an Anthropic client (new Anthropic(…))";
    throw new InvalidOptionError(
      "client",
      `${expected} for provider ${JSON.stringify(options.provider)}`,
      options.client,
      "llmStep",
    );
  }
}

/** The provider's transport; its SDK is imported on first use, as loading it takes ~0.3 s. */
async function makeTransport(options: ResolvedStepOptions): Promise<LlmTransport> {
  const settings = { maxRetries: options.maxRetries, requestTimeoutMs: options.requestTimeoutMs };
  try {
    return options.provider === "openai"
      ? (await import("./openai.js")).openAiTransport(options.client as OpenAI | undefined, settings)
      : (await import("./anthropic.js")).anthropicTransport(options.client as Anthropic | undefined, settings);
  } catch (error) {
    // The SDK's "no key" error, thrown when it builds the client: say which variable to set.
    throw await stepProviderError("(client)", options.provider, error, options);
  }
}

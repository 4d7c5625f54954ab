/**
 * The LLM decomposer (docs/decomposers.md): asks a model for a plan through the official SDKs, OpenAI
 * Chat Completions with strict structured output or Anthropic Messages with a forced tool call,
 * repairs and validates what comes back, expands composites level by level, and records calls,
 * tokens and repairs on the decomposition. With `ctx.revision` it revises a running plan instead
 * (the revision prompt, docs/living-plans.md), bypassing the decomposition cache. API keys come from the SDKs' environment variables
 * (OPENAI_API_KEY, ANTHROPIC_API_KEY) unless given; they are never logged.
 */
import type Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import { InvalidOptionError } from "../../errors.js";
import { withCache, type CacheIdentity } from "../cache.js";
import { servicesOf } from "../services.js";
import type { TaskGraphInput, TaskSpec } from "../../graph/task-graph.js";
import type { DecomposerContext, StreamingDecomposer } from "../../graph/decomposer.js";
import { providerError } from "./errors.js";
import { planGraph } from "./hierarchy.js";
import { apiKeyOf, resolveLlmOptions, type LlmDecomposerOptions, type ResolvedLlmOptions } from "./options.js";
import { PROMPT_VERSION } from "./prompt.js";
import { streamedPlan } from "./stream-plan.js";
import type { LlmTransport } from "./transport.js";

/** An LLM decomposer: usable wherever a decomposer is, and able to stream its plan. */
export interface LlmDecomposer extends StreamingDecomposer {
  readonly name: string;
  readonly provider: ResolvedLlmOptions["provider"];
  readonly model: string;
  /** What the decomposition cache keys this decomposer's answers by (no secrets). */
  readonly cacheIdentity: CacheIdentity;
  decompose(goal: string, ctx: DecomposerContext): Promise<TaskGraphInput>;
  /**
   * Streams the answer (OpenAI `stream: true`, Anthropic `input_json_delta`) and yields each
   * top-level task as soon as its JSON object is complete; returns what `decompose` would return.
   */
  streamPlan(goal: string, ctx: DecomposerContext): AsyncGenerator<TaskSpec, TaskGraphInput, void>;
}

/**
 * A decomposer that asks a model: for a first plan, or, with `ctx.revision`, for the revision of a
 * running plan (never cached; docs/decomposers.md, "Revisions").
 *
 * @throws InvalidOptionError for a bad option, or a `client` that does not fit `provider`
 * @example
 * const llm = llmDecomposer({ provider: "anthropic", model: "claude-sonnet-4-5" }); // reads ANTHROPIC_API_KEY
 * const graph = await orch.decomposeGoal("Plan a weekend in Lisbon", llm, { steps });
 */
export function llmDecomposer(options: LlmDecomposerOptions): LlmDecomposer {
  const resolved = resolveLlmOptions(options);
  checkClient(resolved);
  let transport: LlmTransport | undefined;
  const transportFor = async (goal: string): Promise<LlmTransport> => {
    try {
      // Built on first use, so that a hybrid whose rules answer everything needs no key (nor its SDK loaded).
      transport ??= await makeTransport(resolved);
      return transport;
    } catch (error) {
      throw await providerError(goal, resolved.provider, error, {
        retries: resolved.maxRetries,
        requestTimeoutMs: resolved.requestTimeoutMs,
        apiKey: apiKeyOf(resolved),
      });
    }
  };
  const cacheIdentity: CacheIdentity = {
    name: resolved.name,
    model: resolved.model,
    options: {
      provider: resolved.provider,
      temperature: resolved.temperature ?? null,
      maxTokens: resolved.maxTokens,
      maxDepth: resolved.maxDepth,
      expand: resolved.expand,
      instructions: resolved.instructions ?? null,
      prompt: PROMPT_VERSION,
    },
  };
  return {
    name: resolved.name,
    provider: resolved.provider,
    model: resolved.model,
    cacheIdentity,
    async decompose(goal, ctx) {
      const services = servicesOf(ctx);
      const plan = async (): Promise<TaskGraphInput> => {
        services.usage.source = "llm";
        const runner = {
          transport: await transportFor(goal),
          options: resolved,
          usage: services.usage,
          signal: ctx.signal,
          ...(services.telemetry ? { telemetry: services.telemetry } : {}),
        };
        return planGraph(
          goal,
          ctx,
          runner,
          Math.min(resolved.maxDepth, services.maxDepth ?? Infinity),
          resolved.expand,
        );
      };
      // A revision depends on the run's outputs and failure: never answered from, nor stored in, the cache.
      if (!resolved.cache || ctx.revision !== undefined) {
        return plan();
      }
      return (await withCache(goal, ctx, cacheIdentity, plan)) as TaskGraphInput;
    },
    streamPlan(goal, ctx) {
      const services = servicesOf(ctx);
      return streamedPlan(async (onTask, signal) => {
        const plan = async (): Promise<TaskGraphInput> => {
          services.usage.source = "llm";
          const runner = {
            transport: await transportFor(goal),
            options: resolved,
            usage: services.usage,
            signal,
            ...(services.telemetry ? { telemetry: services.telemetry } : {}),
          };
          const maxDepth = Math.min(resolved.maxDepth, services.maxDepth ?? Infinity);
          return planGraph(goal, ctx, runner, maxDepth, resolved.expand, onTask);
        };
        return resolved.cache ? ((await withCache(goal, ctx, cacheIdentity, plan)) as TaskGraphInput) : plan();
      }, ctx.signal);
    },
  };
}

/** The provider's transport; its SDK is imported here, on first use, as loading both takes ~0.3 s. */
async function makeTransport(options: ResolvedLlmOptions): Promise<LlmTransport> {
  const settings = {
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    maxRetries: options.maxRetries,
    requestTimeoutMs: options.requestTimeoutMs,
  };
  return options.provider === "openai"
    ? (await import("./openai.js")).openAiTransport(options.client as OpenAI | undefined, settings)
    : (await import("./anthropic.js")).anthropicTransport(options.client as Anthropic | undefined, settings);
}

/** A client must offer the API of its provider: `chat.completions.create` or `messages.create`. */
function checkClient(options: ResolvedLlmOptions): void {
  if (options.client === undefined) {
    return;
  }
  const client = options.client as { chat?: { completions?: { create?: unknown } }; messages?: { create?: unknown } };
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
      "llmDecomposer",
    );
  }
}

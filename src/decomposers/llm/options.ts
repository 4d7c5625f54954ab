/** Options of `llmDecomposer` and their validation; their defaults live in src/defaults.ts. */
import type Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import { z } from "zod";
import { LLM_DECOMPOSER_DEFAULTS } from "../../defaults.js";
import { parseOptions } from "../../options.js";

/** The LLM APIs htdag speaks. */
export const LLM_PROVIDERS = ["openai", "anthropic"] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** Options of `llmDecomposer`. */
export interface LlmDecomposerOptions {
  /** Which API: OpenAI Chat Completions (structured output) or Anthropic Messages (forced tool call). */
  provider: LlmProvider;
  /** The model id, e.g. `"gpt-4.1-mini"` or `"claude-sonnet-4-5"`. */
  model: string;
  /**
   * A client you built: an `OpenAI` instance for `openai`, an `Anthropic` instance for `anthropic`.
   * When given, `apiKey`, `baseURL` and `maxRetries` are not used.
   * @default a client built from the options below and the SDK's environment variables
   */
  client?: OpenAI | Anthropic;
  /**
   * The API key. Never logged, never stored.
   * @default the SDK's environment variable: OPENAI_API_KEY or ANTHROPIC_API_KEY
   */
  apiKey?: string;
  /**
   * Where the API is: OpenAI's includes `/v1` (`http://127.0.0.1:8080/v1`), Anthropic's does not.
   * @default the SDK's: OPENAI_BASE_URL or ANTHROPIC_BASE_URL, else the public API
   */
  baseURL?: string;
  /** Re-asks, quoting every remaining problem, after a plan that local repair could not fix. @default 2 */
  maxRepairs?: number;
  /** Sampling temperature. @default undefined (the provider's default; some reasoning models accept no other) */
  temperature?: number;
  /** Output tokens per call; a plan cut off at this limit is asked again, shorter. @default 4096 */
  maxTokens?: number;
  /** Deepest hierarchy the model may plan (1: no composites). Capped by decomposeGoal's maxDepth. @default 3 */
  maxDepth?: number;
  /**
   * `"eager"`: each composite is planned with one more call, one level at a time, now.
   * `"lazy"`: composites are left with `expand: "lazy"`, planned by the executor when they become
   * ready, with their dependencies' outputs in the prompt.
   * @default "eager"
   */
  expand?: "eager" | "lazy";
  /** Retries of one request by the SDK on 408, 409, 429, 5xx and connection errors, honouring `retry-after-ms`. @default 2 */
  maxRetries?: number;
  /** Time one HTTP request may take, in ms (the SDK retries a timed-out request). @default 120000 */
  requestTimeoutMs?: number;
  /** Use the decomposition cache when the orchestrator provides one. @default true */
  cache?: boolean;
  /** Extra instructions appended to the system prompt (house style, domain rules). @default none */
  instructions?: string;
  /** Name recorded on graphs and in the cache key. @default "llm" */
  name?: string;
}

/** The options of `llmDecomposer` (`LlmDecomposerOptions`). */
export const llmDecomposerOptionsSchema = z.strictObject({
  provider: z.enum(LLM_PROVIDERS),
  model: z.string().min(1).max(200),
  client: z
    .custom<OpenAI | Anthropic>((value) => value !== null && typeof value === "object", "an OpenAI or Anthropic client")
    .optional(),
  apiKey: z.string().min(1).optional(),
  baseURL: z.url().optional(),
  maxRepairs: z.number().int().min(0).max(10).default(LLM_DECOMPOSER_DEFAULTS.maxRepairs),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().min(64).max(128_000).default(LLM_DECOMPOSER_DEFAULTS.maxTokens),
  maxDepth: z.number().int().min(1).max(10).default(LLM_DECOMPOSER_DEFAULTS.maxDepth),
  expand: z.enum(["eager", "lazy"]).default(LLM_DECOMPOSER_DEFAULTS.expand),
  maxRetries: z.number().int().min(0).max(10).default(LLM_DECOMPOSER_DEFAULTS.maxRetries),
  requestTimeoutMs: z.number().int().min(1).max(3_600_000).default(LLM_DECOMPOSER_DEFAULTS.requestTimeoutMs),
  cache: z.boolean().default(LLM_DECOMPOSER_DEFAULTS.cache),
  instructions: z.string().max(20_000).optional(),
  name: z.string().min(1).max(200).default(LLM_DECOMPOSER_DEFAULTS.name),
});

export type ResolvedLlmOptions = z.output<typeof llmDecomposerOptionsSchema>;

/** Validates the options of `llmDecomposer` and applies the defaults. */
export function resolveLlmOptions(options: unknown): ResolvedLlmOptions {
  return parseOptions(llmDecomposerOptionsSchema, options ?? {}, "llmDecomposer");
}

/** The key the SDK sends: `apiKey`, else the client's, else the environment variable's (for redaction only). */
export function apiKeyOf(options: Pick<ResolvedLlmOptions, "apiKey" | "client" | "provider">): string | undefined {
  const clientKey = (options.client as { apiKey?: unknown } | undefined)?.apiKey;
  return options.apiKey ?? (typeof clientKey === "string" ? clientKey : process.env[apiKeyVariable(options.provider)]);
}

/** The environment variable holding the key of `provider`. */
export function apiKeyVariable(provider: LlmProvider): string {
  return provider === "openai" ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY";
}

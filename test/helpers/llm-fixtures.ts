/** Shared pieces of the LLM decomposer tests: a catalogue, plans, contexts, and reading recorded requests. */
import { readFileSync } from "node:fs";
import { llmDecomposer, type LlmDecomposer } from "../../src/decomposers/llm/decomposer.js";
import type { LlmDecomposerOptions, LlmProvider } from "../../src/decomposers/llm/options.js";
import { emptyUsage, type DecompositionUsage, type ServicedContext } from "../../src/decomposers/services.js";
import type { CatalogueEntry } from "../../src/graph/decomposer.js";
import type { LlmTestServer, RecordedRequest } from "./llm-server.js";

export const PROVIDERS: LlmProvider[] = ["openai", "anthropic"];

/** A dummy key: the test server accepts anything, and no test may need a real one. */
export const TEST_KEY = "test-key-not-a-secret-0123456789";

export const CATALOGUE: CatalogueEntry[] = [
  {
    name: "get_weather",
    description: "Get the weather for a city and a day",
    inputSchema: {
      type: "object",
      properties: { location: { type: "string" }, date: { type: "string" } },
      required: ["location", "date"],
    },
  },
  { name: "send_email", description: "Send an email" },
  { name: "take_note", description: "Write a note" },
];

/** A plan task as the model writes it. */
export function planned(
  id: string,
  step: string | null,
  dependsOn: string[] = [],
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    description: `Do ${id}`,
    step,
    kind: step === null ? "composite" : "atomic",
    dependsOn,
    input: null,
    ...extra,
  };
}

/** The plan a well-behaved model answers "Email me the weather in Paris" with. */
export const GOOD_PLAN = {
  tasks: [
    planned("weather", "get_weather", [], { input: JSON.stringify({ location: "Paris", date: "today" }) }),
    planned("email", "send_email", ["weather"], {
      input: JSON.stringify({ to: "me", body: { $from: "weather", path: "summary" } }),
    }),
  ],
};

/** What GOOD_PLAN becomes. */
export const GOOD_TASKS = [
  {
    id: "weather",
    description: "Do weather",
    dependsOn: [],
    step: "get_weather",
    input: { location: "Paris", date: "today" },
  },
  {
    id: "email",
    description: "Do email",
    dependsOn: ["weather"],
    step: "send_email",
    input: { to: "me", body: { $from: "weather", path: "summary" } },
  },
];

/** An LLM decomposer talking to `server` with a dummy key and, unless overridden, no SDK retries. */
export function testDecomposer(
  server: LlmTestServer,
  provider: LlmProvider,
  options: Partial<LlmDecomposerOptions> = {},
): LlmDecomposer {
  return llmDecomposer({
    provider,
    model: `${provider}-test-model`,
    apiKey: TEST_KEY,
    baseURL: provider === "openai" ? server.openaiBaseURL : server.anthropicBaseURL,
    maxRetries: 0,
    ...options,
  });
}

/** A decomposer context with a fresh usage record and no store. */
export function testContext(
  extra: Partial<ServicedContext> = {},
): ServicedContext & { services: { usage: DecompositionUsage } } {
  return {
    catalogue: CATALOGUE,
    depth: 0,
    signal: AbortSignal.timeout(20_000),
    services: { usage: emptyUsage(), cache: null, patterns: null },
    ...extra,
  } as ServicedContext & { services: { usage: DecompositionUsage } };
}

/** The text of the first user turn (the prompt with the goal). */
export function promptOf(request: RecordedRequest): string {
  const messages = request.body.messages as { role: string; content: unknown }[];
  return textOf(messages.find((m) => m.role === "user")?.content);
}

/** A message's text: a string, or its first block's text (or tool result). */
function textOf(content: unknown): string {
  if (typeof content === "string") {
    return content;
  }
  const block = (content as { type: string; text?: string; content?: string }[] | undefined)?.[0];
  return String(block?.text ?? block?.content);
}

/** The text of the last user turn: a re-ask (a tool_result for Anthropic after a tool call). */
export function lastUserText(request: RecordedRequest): string {
  const messages = request.body.messages as { role: string; content: unknown }[];
  return textOf(messages[messages.length - 1]?.content);
}

/** A response body recorded from the provider's API (test/fixtures/llm/). */
export function recorded(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../fixtures/llm/${name}`, import.meta.url), "utf8"));
}

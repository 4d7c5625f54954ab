/**
 * llmStep's LLM spans: inside a span (the task's, when the orchestrator's telemetry is on) each call
 * gets a `chat <model>` span with the GenAI attributes, through both SDKs; outside one, none.
 */
import Anthropic from "@anthropic-ai/sdk";
import { SpanKind, trace } from "@opentelemetry/api";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { StepContext } from "../../src/composer/steps.js";
import { llmStep } from "../../src/decomposers/llm/step.js";
import type { Task } from "../../src/graph/task-graph.js";
import { PROVIDERS, TEST_KEY } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer } from "../helpers/llm-server.js";
import { parentOf, registerTestTelemetry, type TestTelemetry } from "../helpers/telemetry.js";

let server: LlmTestServer;
let otel: TestTelemetry;
beforeAll(async () => {
  otel = registerTestTelemetry();
  server = await startLlmServer();
});
afterAll(async () => {
  await server.close();
  await otel.shutdown();
});
beforeEach(() => otel.exporter.reset());

function context(): StepContext {
  return {
    task: { id: "write", description: "Write a line", dependsOn: [] } as unknown as Task,
    goal: "A poem",
    runId: "00000000-0000-4000-8000-000000000000",
    workflow: "poem",
    input: null,
    deps: {},
    runInput: null,
    attempt: 1,
    signal: AbortSignal.timeout(20_000),
    log: () => undefined,
    progress: () => undefined,
    usage: async () => undefined,
    checkBudget: async () => undefined,
  };
}

describe.each(PROVIDERS)("llmStep spans through %s", (provider) => {
  const client =
    provider === "openai"
      ? () => new OpenAI({ apiKey: TEST_KEY, baseURL: server.openaiBaseURL, maxRetries: 0 })
      : () => new Anthropic({ apiKey: TEST_KEY, baseURL: server.anthropicBaseURL, maxRetries: 0 });

  it("traces each call under the active span, with its tokens; no span without one", async () => {
    const step = llmStep({ provider, model: `${provider}-step-model`, client: client() });
    server.script({ text: "Roses." }, { text: "Violets." });
    const parent = await trace.getTracer("test").startActiveSpan("htdag.task", async (span) => {
      await step.run(context());
      span.end();
      return span;
    });
    await step.run(context());
    const calls = otel.spans().filter((s) => s.name.startsWith("chat "));
    expect(calls.map((s) => s.name)).toEqual([`chat ${provider}-step-model`]);
    expect(calls[0]!.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(calls[0]!)).toBe(parent.spanContext().spanId);
    expect(calls[0]!.attributes).toMatchObject({
      "gen_ai.provider.name": provider,
      "gen_ai.request.model": `${provider}-step-model`,
      "gen_ai.usage.input_tokens": 100,
    });
  });
});

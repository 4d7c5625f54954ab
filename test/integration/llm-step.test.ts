/**
 * llmStep through the real OpenAI and Anthropic SDKs, against the local test server: text and
 * structured output (with a repair re-ask), refusals, aborts, provider errors, the prompt the
 * server receives (and its cuts), and the usage each call reports.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { StepContext, UsageReport } from "../../src/composer/steps.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import { llmStep, type LlmStepOptions } from "../../src/decomposers/llm/step.js";
import { LlmStepProviderError } from "../../src/decomposers/llm/step-errors.js";
import { INPUT_BYTES } from "../../src/decomposers/llm/step-prompt.js";
import { InvalidOptionError, NonRetryableError } from "../../src/errors.js";
import type { Task } from "../../src/graph/task-graph.js";
import { startLlmServer, type LlmTestServer, type RecordedRequest } from "../helpers/llm-server.js";
import { PROVIDERS, TEST_KEY, lastUserText, promptOf } from "../helpers/llm-fixtures.js";

let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.setFallback(undefined);
});

/** A client of `provider` on the test server, without SDK retries. */
function clientFor(provider: LlmProvider): OpenAI | Anthropic {
  return provider === "openai"
    ? new OpenAI({ apiKey: TEST_KEY, baseURL: server.openaiBaseURL, maxRetries: 0 })
    : new Anthropic({ apiKey: TEST_KEY, baseURL: server.anthropicBaseURL, maxRetries: 0 });
}

/** A step context as an attempt builds it, recording usage reports and budget checks. */
function stepContext(extra: Partial<StepContext> = {}) {
  const reports: UsageReport[] = [];
  const checks: number[] = [];
  const ctx: StepContext = {
    task: { id: "summarise", description: "Summarise the findings for an engineer", dependsOn: [] } as unknown as Task,
    goal: "Write a report on the Paris weather",
    runId: "00000000-0000-4000-8000-000000000000",
    workflow: "weather",
    input: { city: "Paris" },
    deps: { fetch: { temperature: 21, sky: "clear" } },
    runInput: null,
    attempt: 1,
    signal: AbortSignal.timeout(20_000),
    log: () => undefined,
    progress: () => undefined,
    usage: async (report) => void reports.push(report),
    checkBudget: async () => void checks.push(reports.length),
    ...extra,
  };
  return { ctx, reports, checks };
}

function stepOf<Output>(provider: LlmProvider, options: Partial<LlmStepOptions<Output>> = {}) {
  return llmStep<Output>({ provider, model: `${provider}-step-model`, client: clientFor(provider), ...options });
}

async function failure(run: unknown): Promise<Error> {
  return Promise.resolve(run).then(
    () => new Error("expected a failure"),
    (error: unknown) => error as Error,
  );
}

const Summary = z.object({ summary: z.string(), score: z.number() });

describe.each(PROVIDERS)("llmStep through %s", (provider) => {
  it("without output: the text answer is the task's output as { text }, and one usage report", async () => {
    server.script({ text: "Sunny, 21 °C." });
    const { ctx, reports, checks } = stepContext();
    const output = await stepOf(provider).run(ctx);
    expect(output).toEqual({ text: "Sunny, 21 °C." });
    expect(reports).toEqual([
      { model: `${provider}-step-model`, inputTokens: 100, outputTokens: expect.any(Number), llmCalls: 1 },
    ]);
    expect(checks).toEqual([0]);
    const body = server.requests[0]!.body;
    expect(body.model).toBe(`${provider}-step-model`);
    expect(provider === "openai" ? body.response_format : body.tools).toBeUndefined();
  });

  it("the request holds the goal, the task's description, its input, its deps' outputs and the instructions", async () => {
    server.script({ text: "ok" });
    const { ctx } = stepContext();
    await stepOf(provider, { instructions: "Answer in French." }).run(ctx);
    const request = server.requests[0]!;
    const prompt = promptOf(request);
    expect(prompt).toContain("Goal of the plan: Write a report on the Paris weather");
    expect(prompt).toContain('Task "summarise": Summarise the findings for an engineer');
    expect(prompt).toContain('{"city":"Paris"}');
    expect(prompt).toContain('- fetch: {"temperature":21,"sky":"clear"}');
    expect(systemOf(request)).toContain("Answer in French.");
  });

  it("cuts a large input to its byte budget and says how much was cut", async () => {
    server.script({ text: "ok" });
    const big = "x".repeat(INPUT_BYTES + 5_000);
    const { ctx } = stepContext({ input: big });
    await stepOf(provider).run(ctx);
    const prompt = promptOf(server.requests[0]!);
    expect(prompt).toContain(`${"x".repeat(INPUT_BYTES)}… [cut: 5000 more bytes]`);
    expect(prompt).not.toContain("x".repeat(INPUT_BYTES + 1));
  });

  it("with output: a strict schema, an answer that fails it re-asked with its issues, then the valid result", async () => {
    server.script(
      { plan: { summary: "Sunny", score: "high" }, inputTokens: 50, outputTokens: 7 },
      { plan: { summary: "Sunny", score: 9 }, inputTokens: 80, outputTokens: 6 },
    );
    const { ctx, reports, checks } = stepContext();
    const output = await stepOf(provider, { output: Summary }).run(ctx);
    expect(output).toEqual({ summary: "Sunny", score: 9 });
    expect(reports).toEqual([
      { model: `${provider}-step-model`, inputTokens: 50, outputTokens: 7, llmCalls: 1 },
      { model: `${provider}-step-model`, inputTokens: 80, outputTokens: 6, llmCalls: 1 },
    ]);
    expect(checks).toEqual([0, 1]);
    const [first, reask] = server.requests;
    const schema = provider === "openai" ? first!.body.response_format.json_schema : first!.body.tools[0].input_schema;
    if (provider === "openai") {
      expect(first!.body.response_format.type).toBe("json_schema");
      expect(schema.strict).toBe(true);
      expect(schema.schema.required).toEqual(["summary", "score"]);
    } else {
      expect(first!.body.tool_choice).toEqual({ type: "tool", name: "task_result" });
      expect(schema.required).toEqual(["summary", "score"]);
      expect(schema.additionalProperties).toBe(false);
    }
    expect(lastUserText(reask!)).toContain("$.score:");
  });

  it("an output that still fails its schema after the re-asks is a NonRetryableError quoting the model", async () => {
    server.script(
      { plan: { summary: "Sunny", score: "high" } },
      { plan: { summary: "Sunny", score: "very high" } },
      { plan: { summary: "Sunny", score: "the highest" } },
    );
    const { ctx, reports } = stepContext();
    const error = await failure(stepOf(provider, { output: Summary }).run(ctx));
    expect(error).toBeInstanceOf(NonRetryableError);
    expect(error.message).toContain("after 2 re-ask(s)");
    expect(error.message).toContain("the highest");
    expect(reports).toHaveLength(3);
    expect(server.requests).toHaveLength(3);
  });

  it("a refusal is a NonRetryableError quoting the model", async () => {
    server.script({ refusal: "I can't help with that." });
    const { ctx, reports } = stepContext();
    const error = await failure(stepOf(provider, { output: Summary }).run(ctx));
    expect(error).toBeInstanceOf(NonRetryableError);
    expect((error as NonRetryableError).code).toBe("LLM_REFUSED");
    expect(error.message).toContain("I can't help with that.");
    expect(reports).toHaveLength(1);
  });

  it("the task's signal aborts the request", async () => {
    server.script({ hang: true });
    const controller = new AbortController();
    const { ctx, reports } = stepContext({ signal: controller.signal });
    const run = failure(stepOf(provider).run(ctx));
    await waitFor(() => server.requests.length === 1);
    controller.abort();
    const error = await run;
    expect(error).toBeInstanceOf(LlmStepProviderError);
    expect((error as LlmStepProviderError).failure).toBe("aborted");
    expect(reports).toEqual([]);
  });

  it("a 429 after the SDK's retries is retryable (the task's retry policy takes over); a 400 is not", async () => {
    server.script({ status: 429 }, { status: 400 });
    const { ctx } = stepContext();
    const limited = await failure(stepOf(provider).run(ctx));
    expect(limited).toBeInstanceOf(LlmStepProviderError);
    expect(limited).not.toBeInstanceOf(NonRetryableError);
    expect((limited as LlmStepProviderError).status).toBe(429);
    const rejected = await failure(stepOf(provider).run(ctx));
    expect(rejected).toBeInstanceOf(NonRetryableError);
    expect(rejected.message).toContain('llmStep for task "summarise"');
  });
});

describe("llmStep options", () => {
  it("rejects a client of the other provider, and a missing model, at once", () => {
    expect(() => llmStep({ provider: "anthropic", model: "m", client: clientFor("openai") })).toThrow(
      /an Anthropic client \(new Anthropic\(…\)\) for provider "anthropic"/,
    );
    expect(() => llmStep({ provider: "openai" } as never)).toThrow(InvalidOptionError);
  });
});

function systemOf(request: RecordedRequest): string {
  if (request.format === "anthropic") {
    return String(request.body.system);
  }
  return String((request.body.messages as { role: string; content: string }[])[0]?.content);
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(condition()).toBe(true);
}

/**
 * Streamed planning (`streamPlan`) through the real OpenAI and Anthropic SDKs against the local
 * LLM server streaming at a set token rate: tasks handed over before the answer ends, the same
 * plan, usage and errors as `decompose`, telemetry, and an abort that ends the stream.
 */
import { performance } from "node:perf_hooks";
import { SpanKind } from "@opentelemetry/api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DecompositionError } from "../../src/errors.js";
import { LlmProviderError } from "../../src/decomposers/llm/errors.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import type { TaskGraphInput, TaskSpec } from "../../src/graph/task-graph.js";
import { createTelemetry } from "../../src/telemetry/telemetry.js";
import { GOOD_PLAN, PROVIDERS, planned, testContext, testDecomposer } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer, type Scripted } from "../helpers/llm-server.js";
import { registerTestTelemetry, type TestTelemetry } from "../helpers/telemetry.js";
import { waitFor } from "../helpers/wait.js";

const GOAL = "Email me the weather in Paris";
/** Five tasks, with escapes and nested JSON in their inputs: about 170 tokens, written in about 0.7 s. */
const PLAN = {
  tasks: [
    ...GOOD_PLAN.tasks,
    planned("note", "take_note", ["email"], {
      input: JSON.stringify({ text: 'said "hi" \\ {not a brace} ]', tags: [["a", { b: [1, null] }]] }),
    }),
    planned("later", "take_note", ["note"], { description: "Tidy up: ünïcode, \n newline, \t tab" }),
    planned("last", "take_note", ["weather", "note"], { input: JSON.stringify({ text: "done" }) }),
  ],
};
const TOKENS_PER_SECOND = 250;

let server: LlmTestServer;
let otel: TestTelemetry;
beforeAll(async () => {
  otel = registerTestTelemetry();
  server = await startLlmServer(undefined, { tokensPerSecond: TOKENS_PER_SECOND });
});
afterAll(async () => {
  await server.close();
  await otel.shutdown();
});
beforeEach(() => {
  server.requests.length = 0;
  server.setTokensPerSecond(TOKENS_PER_SECOND);
  otel.exporter.reset();
});

/** Each yielded task with when it was yielded, and the plan returned or the error thrown. */
async function streamed(
  provider: LlmProvider,
  answers: Scripted[],
  options: Parameters<typeof testDecomposer>[2] = {},
) {
  server.script(...answers);
  const ctx = testContext();
  const yielded: { task: TaskSpec; at: number }[] = [];
  const stream = testDecomposer(server, provider, options).streamPlan(GOAL, ctx);
  let outcome: { graph: TaskGraphInput } | { error: unknown };
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done === true) {
        outcome = { graph: next.value };
        break;
      }
      yielded.push({ task: next.value, at: performance.now() });
    }
  } catch (error) {
    outcome = { error };
  }
  return { yielded, outcome, usage: ctx.services.usage };
}

/** What `decompose` returns (or throws) for the same answers, not streamed. */
async function decomposed(
  provider: LlmProvider,
  answers: Scripted[],
  options: Parameters<typeof testDecomposer>[2] = {},
) {
  server.script(...answers);
  const ctx = testContext();
  const outcome = await testDecomposer(server, provider, options)
    .decompose(GOAL, ctx)
    .then(
      (graph) => ({ graph }),
      (error: unknown) => ({ error }),
    );
  return { outcome, usage: ctx.services.usage };
}

describe.each(PROVIDERS)("%s: streamPlan", (provider) => {
  it("yields each task once, in order, before the server wrote its last byte, and returns what decompose returns", async () => {
    const answer: Scripted = { plan: PLAN, inputTokens: 321, outputTokens: 170 };
    const stream = await streamed(provider, [answer]);
    const record = server.requests[0]?.stream;
    const plain = await decomposed(provider, [answer]);

    expect(server.requests[0]?.body).toMatchObject(
      provider === "openai"
        ? { stream: true, stream_options: { include_usage: true }, response_format: { type: "json_schema" } }
        : { stream: true, tool_choice: { type: "tool" } },
    );
    expect(server.requests[1]?.body.stream).toBeUndefined();
    expect(record?.deltas).toBeGreaterThan(100);
    expect(record?.lastByteAt).toEqual(expect.any(Number));
    // The first task closes about a fifth of the way through the answer; the server was still writing.
    expect(stream.yielded[0]?.at).toBeLessThan(record?.lastByteAt as number);
    expect(plain.outcome).toHaveProperty("graph");
    const graph = (plain.outcome as { graph: TaskGraphInput }).graph;
    expect(stream.outcome).toEqual({ graph });
    expect(stream.yielded.map((y) => y.task)).toEqual(graph.tasks);
    expect(graph.tasks[2]?.input).toEqual({ text: 'said "hi" \\ {not a brace} ]', tags: [["a", { b: [1, null] }]] });
    expect(stream.usage).toEqual(plain.usage);
    expect(stream.usage).toMatchObject({
      llmCalls: 1,
      inputTokens: 321,
      outputTokens: 170,
      model: `${provider}-test-model`,
      source: "llm",
    });
  });

  it("hands over tasks as read on their own, and returns the plan repaired and re-asked as decompose does", async () => {
    // An unknown step in the last task: the first answer streams, the re-ask is not streamed.
    const invalid = { tasks: [...GOOD_PLAN.tasks, planned("order", "order_pizza")] };
    const answers: Scripted[] = [{ plan: invalid }, { plan: GOOD_PLAN }];
    const stream = await streamed(provider, answers);
    expect(server.requests.map((r) => r.body.stream === true)).toEqual([true, false]);
    const plain = await decomposed(provider, answers);

    expect(stream.yielded.map((y) => [y.task.id, y.task.step])).toEqual([
      ["weather", "get_weather"],
      ["email", "send_email"],
      ["order", "order_pizza"],
    ]);
    expect(stream.outcome).toEqual(plain.outcome);
    expect(stream.usage).toEqual(plain.usage);
    expect(stream.usage.llmCalls).toBe(2);
  });

  it("marks composites lazy when expand is lazy, as the returned plan does", async () => {
    const plan = { tasks: [GOOD_PLAN.tasks[0], planned("trip", null, ["weather"])] };
    const stream = await streamed(provider, [{ plan }], { expand: "lazy" });
    expect(stream.yielded.map((y) => y.task)).toEqual((stream.outcome as { graph: TaskGraphInput }).graph.tasks);
    expect(stream.yielded[1]?.task).toEqual({
      id: "trip",
      description: "Do trip",
      dependsOn: ["weather"],
      kind: "composite",
      expand: "lazy",
    });
  });

  it("fails as decompose does on a truncated answer (max tokens), after yielding the tasks that closed", async () => {
    const text = JSON.stringify(PLAN);
    const answers: Scripted[] = [{ truncated: text.slice(0, text.indexOf('"id":"note"')) }];
    const stream = await streamed(provider, answers, { maxRepairs: 0 });
    const plain = await decomposed(provider, answers, { maxRepairs: 0 });

    expect(stream.yielded.map((y) => y.task.id)).toEqual(["weather", "email"]);
    const error = (stream.outcome as { error: DecompositionError }).error;
    expect(error).toBeInstanceOf(DecompositionError);
    expect(error.message).toMatch(/\$: the answer was cut off at the output limit of \d+ tokens/);
    expect(stream.outcome).toEqual(plain.outcome);
    expect(error.message).toBe((plain.outcome as { error: Error }).error.message);
  });

  it("fails as decompose does on an answer that is not JSON, yielding nothing", async () => {
    const answers: Scripted[] = [{ text: '{"tasks": [{"id": "weather", "step": ' }];
    const stream = await streamed(provider, answers, { maxRepairs: 0 });
    const plain = await decomposed(provider, answers, { maxRepairs: 0 });

    expect(stream.yielded).toEqual([]);
    const error = (stream.outcome as { error: DecompositionError }).error;
    expect(error).toBeInstanceOf(DecompositionError);
    expect(error.message).toMatch(/\$: the answer is not valid JSON/);
    expect(error.message).toBe((plain.outcome as { error: Error }).error.message);
  });

  it("fails with an LlmProviderError when the connection is cut mid-stream, as decompose does", async () => {
    const text = JSON.stringify(PLAN);
    const stream = await streamed(provider, [{ broken: text.slice(0, text.indexOf('"id":"note"')) }]);
    const plain = await decomposed(provider, [{ broken: "" }]);

    expect(stream.yielded.map((y) => y.task.id)).toEqual(["weather", "email"]);
    expect((stream.outcome as { error: unknown }).error).toBeInstanceOf(LlmProviderError);
    expect((plain.outcome as { error: unknown }).error).toBeInstanceOf(LlmProviderError);
  });

  it("traces a streamed call in its LLM span, with its tokens", async () => {
    server.setTokensPerSecond(undefined);
    server.script({ plan: GOOD_PLAN, inputTokens: 200, outputTokens: 30 });
    const ctx = testContext();
    ctx.services.telemetry = createTelemetry();
    const stream = testDecomposer(server, provider).streamPlan(GOAL, ctx);
    const tasks: TaskSpec[] = [];
    for await (const task of stream) {
      tasks.push(task);
    }
    expect(tasks.map((t) => t.id)).toEqual(["weather", "email"]);
    // htdag's own span (the Anthropic SDK adds one of its own, anthropic.messages.create).
    const spans = otel.spans().filter((s) => s.kind === SpanKind.CLIENT && s.name === `chat ${provider}-test-model`);
    expect(spans).toHaveLength(1);
    expect(spans[0]?.attributes).toMatchObject({
      "gen_ai.provider.name": provider,
      "gen_ai.usage.input_tokens": 200,
      "gen_ai.usage.output_tokens": 30,
      "gen_ai.response.model": `${provider}-test-model`,
    });
  });

  it("ends the stream when the context's signal aborts, and when the consumer stops early", async () => {
    server.setTokensPerSecond(60); // the first task closes after about 0.7 s, the plan after about 3 s
    server.script({ plan: PLAN }, { plan: PLAN });
    const abort = new AbortController();
    const ctx = testContext({ signal: abort.signal });
    const stream = testDecomposer(server, provider).streamPlan(GOAL, ctx);
    expect((await stream.next()).value).toMatchObject({ id: "weather" });
    abort.abort();
    await expect(stream.next()).rejects.toThrow();
    await waitFor(() => server.requests[0]?.stream?.closedByClient === true, 5_000, "the server to see the abort");

    const early = testDecomposer(server, provider).streamPlan(GOAL, testContext());
    for await (const task of early) {
      expect(task.id).toBe("weather");
      break;
    }
    await waitFor(() => server.requests[1]?.stream?.closedByClient === true, 5_000, "the server to see the return");
    expect(server.requests.map((r) => r.stream?.lastByteAt)).toEqual([null, null]);
  });
});

/**
 * The LLM decomposer through the real OpenAI and Anthropic SDKs, against the local test server:
 * well-formed, recorded and malformed answers, the repair pipeline, and provider errors.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DecompositionError } from "../../src/errors.js";
import { LlmProviderError, LlmRefusalError } from "../../src/decomposers/llm/errors.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import { startLlmServer, type LlmTestServer, type Scripted } from "../helpers/llm-server.js";
import {
  GOOD_PLAN,
  GOOD_TASKS,
  PROVIDERS,
  lastUserText,
  planned,
  recorded,
  testContext,
  testDecomposer,
} from "../helpers/llm-fixtures.js";

const GOAL = "Email me the weather in Paris";
let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.setFallback(undefined);
});

/** Decomposes GOAL after scripting `answers`; returns the result and the usage. */
async function decompose(
  provider: LlmProvider,
  answers: Scripted[],
  options: Parameters<typeof testDecomposer>[2] = {},
) {
  server.script(...answers);
  const ctx = testContext();
  const result = await testDecomposer(server, provider, options).decompose(GOAL, ctx);
  return { result, usage: ctx.services.usage };
}

/** The error `decompose` fails with, and the usage up to then. */
async function failure(provider: LlmProvider, answers: Scripted[], options: Parameters<typeof testDecomposer>[2] = {}) {
  server.script(...answers);
  const ctx = testContext();
  const error = await testDecomposer(server, provider, options)
    .decompose(GOAL, ctx)
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(DecompositionError);
  return { error: error as DecompositionError, usage: ctx.services.usage };
}

describe.each(PROVIDERS)("%s: answers that need no repair", (provider) => {
  it("turns a well-formed plan into tasks with decoded inputs, and records one call and its tokens", async () => {
    const { result, usage } = await decompose(provider, [{ plan: GOOD_PLAN, inputTokens: 321, outputTokens: 42 }]);
    expect(result).toEqual({ goal: GOAL, tasks: GOOD_TASKS, source: "llm" });
    expect(usage).toMatchObject({
      llmCalls: 1,
      inputTokens: 321,
      outputTokens: 42,
      repairs: 0,
      model: `${provider}-test-model`,
      source: "llm",
    });
    expect(server.requests).toHaveLength(1);
  });

  it("replays a recorded response", async () => {
    const body = recorded(provider === "openai" ? "openai-chat-completion.json" : "anthropic-tool-use.json");
    const { result, usage } = await decompose(provider, [{ status: 200, body }]);
    expect(result.tasks.map((t) => [t.id, t.step, t.dependsOn])).toEqual([
      ["check_weather", "get_weather", []],
      ["email_forecast", "send_email", ["check_weather"]],
    ]);
    expect(result.tasks[1]?.input).toEqual({ to: "me", body: { $from: "check_weather", path: "summary" } });
    expect(usage).toMatchObject(
      provider === "openai"
        ? { inputTokens: 512, outputTokens: 118, model: "gpt-4.1-mini-2025-04-14" }
        : { inputTokens: 734, outputTokens: 161, model: "claude-sonnet-4-5-20250929" },
    );
  });
});

describe.each(PROVIDERS)("%s: local repair (one call)", (provider) => {
  it("strips code fences and prose around the JSON", async () => {
    const { result, usage } = await decompose(provider, [
      { text: `Here is the plan:\n\`\`\`json\n${JSON.stringify(GOOD_PLAN)}\n\`\`\`` },
    ]);
    expect(result.tasks).toEqual(GOOD_TASKS);
    expect(usage).toMatchObject({
      llmCalls: 1,
      repairs: 1,
      repairActions: ["stripped markdown code fences around the JSON"],
    });
  });

  it("maps near-miss step names and ids, drops self-dependencies, fills missing dependsOn", async () => {
    const plan = {
      tasks: [
        { id: "weather", description: "w", step: "Get-Weather", kind: "atomic", input: null },
        planned("email", "send_emial", ["wether", "email"]),
      ],
    };
    const { result, usage } = await decompose(provider, [{ plan }]);
    expect(result.tasks.map((t) => [t.id, t.step, t.dependsOn])).toEqual([
      ["weather", "get_weather", []],
      ["email", "send_email", ["weather"]],
    ]);
    expect(usage.llmCalls).toBe(1);
    expect(usage.repairActions).toEqual([
      "tasks[0].dependsOn: missing, set to []",
      'tasks[0].step: mapped unknown step "Get-Weather" to "get_weather"',
      'tasks[1].step: mapped unknown step "send_emial" to "send_email"',
      'tasks[1].dependsOn[0]: mapped unknown id "wether" to "weather"',
      'tasks[1].dependsOn[1]: dropped the self-dependency of "email"',
    ]);
  });
});

describe.each(PROVIDERS)("%s: re-asks quoting every remaining problem", (provider) => {
  const cases: [string, Scripted, RegExp][] = [
    ["invalid JSON", { text: '{"tasks": [{"id": "weather", "step": ' }, /\$: the answer is not valid JSON/],
    [
      "a task without an id",
      { plan: { tasks: [GOOD_PLAN.tasks[0], { ...GOOD_PLAN.tasks[1], id: undefined }] } },
      /tasks\[1\]\.id: missing; every task needs a unique string id/,
    ],
    [
      "an unknown step",
      { plan: { tasks: [GOOD_PLAN.tasks[0], planned("order", "order_pizza")] } },
      /tasks\[1\]\.step: no step function named "order_pizza"[\s\S]*Allowed step names: get_weather, send_email, take_note\./,
    ],
    [
      "a dangling dependency",
      { plan: { tasks: [GOOD_PLAN.tasks[0], planned("email", "send_email", ["forecast_report"])] } },
      /tasks\[1\]\.dependsOn\[0\]: task "email" depends on "forecast_report", which is not a task/,
    ],
    [
      "a cycle",
      { plan: { tasks: [planned("weather", "get_weather", ["email"]), planned("email", "send_email", ["weather"])] } },
      /dependency cycle: weather -> email -> weather/,
    ],
    [
      "duplicate ids",
      { plan: { tasks: [GOOD_PLAN.tasks[0], { ...GOOD_PLAN.tasks[1], id: "weather" }] } },
      /tasks\[1\]\.id: task id "weather" is already used by tasks\[0\]/,
    ],
    [
      "a truncated answer",
      { truncated: '{"tasks": [{"id": "weather", "descr' },
      /cut off at the output limit of 4096 tokens[\s\S]*shorter plan/,
    ],
    [
      "an input that is not JSON",
      { plan: { tasks: [{ ...GOOD_PLAN.tasks[0], input: "{location: Paris}" }] } },
      /tasks\[0\]\.input: not a JSON object encoded as a string/,
    ],
  ];

  it.each(cases)("%s: a second call with the problem quoted fixes the plan", async (_name, bad, quoted) => {
    const { result, usage } = await decompose(provider, [bad, { plan: GOOD_PLAN }]);
    expect(result.tasks).toEqual(GOOD_TASKS);
    expect(usage.llmCalls).toBe(2);
    expect(usage.repairActions.at(-1)).toMatch(/^re-asked the model about \d+ problem/);
    const reask = server.requests[1]!;
    expect(lastUserText(reask)).toMatch(quoted);
    expect(lastUserText(reask)).toMatch(/Answer again with the whole corrected plan\.$/);
    const messages = reask.body.messages as { role: string; content: unknown }[];
    expect(messages.map((m) => m.role)).toEqual(
      provider === "openai" ? ["system", "user", "assistant", "user"] : ["user", "assistant", "user"],
    );
  });

  it("answers a tool call with an error tool_result (anthropic) or the assistant's text (openai)", async () => {
    const cyclic = {
      tasks: [planned("weather", "get_weather", ["email"]), planned("email", "send_email", ["weather"])],
    };
    await decompose(provider, [{ plan: cyclic }, { plan: GOOD_PLAN }]);
    const messages = server.requests[1]!.body.messages as { role: string; content: unknown }[];
    if (provider === "openai") {
      expect(JSON.parse(messages[2]!.content as string)).toEqual(cyclic);
    } else {
      const [toolUse] = messages[1]!.content as { type: string; id: string; input: unknown }[];
      expect(toolUse).toMatchObject({ type: "tool_use", name: "task_plan", input: cyclic });
      expect((messages[2]!.content as unknown[])[0]).toMatchObject({
        type: "tool_result",
        tool_use_id: toolUse!.id,
        is_error: true,
      });
    }
  });

  it("gives up after maxRepairs re-asks with a DecompositionError listing what is still wrong", async () => {
    const bad = {
      plan: { tasks: [planned("weather", "get_weather", ["email"]), planned("email", "order_pizza", ["weather"])] },
    };
    const { error, usage } = await failure(provider, [bad, bad, bad]);
    expect(error.message).toMatch(/still invalid after 2 re-ask\(s\) \(maxRepairs\):/);
    expect(error.message).toMatch(/tasks\[1\]\.step: no step function named "order_pizza"/);
    expect(error.message).toMatch(/weather -> email -> weather/);
    expect(error.issues.map((i) => i.code).sort()).toEqual(["cycle", "unknown_step"]);
    expect(usage).toMatchObject({ llmCalls: 3, repairs: 2 });
  });

  it("with maxRepairs 0, fails after one call", async () => {
    const { error, usage } = await failure(provider, [{ text: "not json" }], { maxRepairs: 0 });
    expect(error.message).toMatch(/after 0 re-ask\(s\)[\s\S]*\$: the answer is not valid JSON/);
    expect(usage.llmCalls).toBe(1);
  });

  it("does not re-ask after a refusal", async () => {
    const { error, usage } = await failure(provider, [{ refusal: "I can't help with that." }]);
    expect(error).toBeInstanceOf(LlmRefusalError);
    expect(error.code).toBe("LLM_REFUSED");
    expect(error.message).toMatch(/the model refused to plan it: "I can't help with that\."/);
    expect(usage.llmCalls).toBe(1);
  });
});

describe.each(PROVIDERS)("%s: provider errors", (provider) => {
  it("retries a 429 after retry-after-ms (the SDK's retry), counting one call", async () => {
    const { result, usage } = await decompose(
      provider,
      [{ status: 429, headers: { "retry-after-ms": "20" } }, { plan: GOOD_PLAN }],
      { maxRetries: 2 },
    );
    expect(result.tasks).toEqual(GOOD_TASKS);
    expect(server.requests.map((r) => r.retryCount)).toEqual([0, 1]);
    expect(usage.llmCalls).toBe(1);
  });

  it("retries a 500, and reports a 500 that persists after maxRetries", async () => {
    const { result } = await decompose(
      provider,
      [{ status: 500, headers: { "retry-after-ms": "1" } }, { plan: GOOD_PLAN }],
      { maxRetries: 1 },
    );
    expect(result.tasks).toEqual(GOOD_TASKS);
    server.requests.length = 0;
    const fail = { status: 500, headers: { "retry-after-ms": "1" } };
    const { error } = await failure(provider, [fail, fail], { maxRetries: 1 });
    expect(error).toBeInstanceOf(LlmProviderError);
    expect(error).toMatchObject({ failure: "server", status: 500, provider, code: "LLM_PROVIDER_ERROR" });
    expect(error.message).toMatch(/kept failing with 500 after 1 retries/);
    expect(server.requests).toHaveLength(2);
  });

  it("says which environment variable to set on 401, without showing the key", async () => {
    const { error } = await failure(provider, [{ status: 401 }]);
    expect(error).toMatchObject({ failure: "auth", status: 401 });
    expect(error.message).toMatch(
      provider === "openai" ? /set OPENAI_API_KEY or pass apiKey/ : /set ANTHROPIC_API_KEY or pass apiKey/,
    );
    expect(error.message).not.toContain("test-key");
    // Both SDKs send the key as a bearer token (Anthropic's 1.x does so for apiKey too).
    expect(server.requests[0]!.headers.authorization).toBe("Bearer test-key-not-a-secret-0123456789");
  });

  it("times out a request that hangs past requestTimeoutMs", async () => {
    const { error } = await failure(provider, [{ hang: true }], { requestTimeoutMs: 150 });
    expect(error).toMatchObject({ failure: "timeout" });
    expect(error.message).toMatch(/timed out after 150 ms, 1 attempt\(s\); raise requestTimeoutMs or maxRetries/);
  });

  it("stops when the decomposition's signal aborts", async () => {
    server.script({ hang: true });
    const ctx = testContext({ signal: AbortSignal.timeout(100) });
    const error = await testDecomposer(server, provider)
      .decompose(GOAL, ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmProviderError);
    expect(error).toMatchObject({ failure: "aborted" });
  });
});

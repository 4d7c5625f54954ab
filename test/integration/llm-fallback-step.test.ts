/**
 * The "*" fallback step (design.md §14): an LLM-planned graph of free-form tasks (step null) runs
 * end to end, every task through the fallback, on both stores and through both SDKs.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { defineStep, type Steps } from "../../src/composer/steps.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import { llmStep } from "../../src/decomposers/llm/step.js";
import { startLlmServer, type LlmTestServer } from "../helpers/llm-server.js";
import { PROVIDERS, TEST_KEY, planned, promptOf, testDecomposer } from "../helpers/llm-fixtures.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const GOAL = "Write a haiku about Lisbon and translate it";
/** Free-form tasks: atomic, no step, a description only. */
const FREE_FORM_PLAN = {
  tasks: [
    planned("haiku", null, [], { kind: "atomic", description: "Write a haiku about Lisbon" }),
    planned("translate", null, ["haiku"], { kind: "atomic", description: "Translate the haiku into Portuguese" }),
  ],
};

function planRequestSchema(provider: LlmProvider): { properties: { tasks: { items: { properties: object } } } } {
  const body = server.requests[0]!.body;
  return provider === "openai" ? body.response_format.json_schema.schema : body.tools[0].input_schema;
}

/** $1 and $4 per million tokens for every model of these tests: the decomposer's and the steps'. */
const PRICING = Object.fromEntries(
  PROVIDERS.flatMap((p) => [`${p}-test-model`, `${p}-step-model`]).map((model) => [
    model,
    { inputPerMTok: 1, outputPerMTok: 4 },
  ]),
);

describe.each(STORES)("the fallback step on %s", (kind) => {
  const orch = useOrchestrator(kind, { pricing: PRICING });

  it.each(PROVIDERS)("runs the free-form tasks of a plan from %s", async (provider) => {
    server.script({ plan: FREE_FORM_PLAN });
    const seen: { id: string; description: string; deps: string[] }[] = [];
    const steps: Steps = {
      "*": defineStep({
        run: (ctx) => {
          seen.push({ id: ctx.task.id, description: ctx.task.description, deps: Object.keys(ctx.deps) });
          return { done: ctx.task.id };
        },
      }),
    };
    const result = await orch().composeFromGoal(GOAL, testDecomposer(server, provider, { cache: false }), steps);
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({ haiku: { done: "haiku" }, translate: { done: "translate" } });
    expect(seen).toEqual([
      { id: "haiku", description: "Write a haiku about Lisbon", deps: [] },
      { id: "translate", description: "Translate the haiku into Portuguese", deps: ["haiku"] },
    ]);
    // The model was told free-form tasks are fine, and "*" is no step name it may pick.
    expect(promptOf(server.requests[0]!)).toContain("free-form tasks allowed");
    const step = planRequestSchema(provider).properties.tasks.items.properties as { step: unknown };
    expect(JSON.stringify(step.step)).not.toContain('"*"');
  });

  it("a plan with a free-form task is invalid without the fallback", async () => {
    server.script({ plan: FREE_FORM_PLAN }, { plan: FREE_FORM_PLAN }, { plan: FREE_FORM_PLAN });
    const steps: Steps = { note: async () => "noted" };
    await expect(
      orch().composeFromGoal(GOAL, testDecomposer(server, "openai", { cache: false }), steps),
    ).rejects.toThrow(/no step function named "haiku"/);
  });

  it.each(PROVIDERS)("runs an LLM-planned goal end to end with only '*': llmStep, through %s", async (provider) => {
    server.script({ plan: FREE_FORM_PLAN }, { text: "Seven hills in light" }, { text: "Sete colinas em luz" });
    const client =
      provider === "openai"
        ? new OpenAI({ apiKey: TEST_KEY, baseURL: server.openaiBaseURL, maxRetries: 0 })
        : new Anthropic({ apiKey: TEST_KEY, baseURL: server.anthropicBaseURL, maxRetries: 0 });
    const steps: Steps = { "*": llmStep({ provider, model: `${provider}-step-model`, client }) };
    const result = await orch().composeFromGoal(GOAL, testDecomposer(server, provider, { cache: false }), steps);
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({
      haiku: { text: "Seven hills in light" },
      translate: { text: "Sete colinas em luz" },
    });
    expect(promptOf(server.requests[2]!)).toContain('- haiku: {"text":"Seven hills in light"}');
    // Each attempt's log says the fallback did it (shown by htdag show and the dashboard's task panel).
    const { rows } = await orch().db.query<{ task_id: string; message: string }>(
      "SELECT task_id, message FROM htdag.task_logs WHERE run_id = $1 ORDER BY task_id",
      [result.runId],
    );
    expect(rows).toEqual([
      { task_id: "haiku", message: 'no step named "haiku": done by the fallback step "*"' },
      { task_id: "translate", message: 'no step named "translate": done by the fallback step "*"' },
    ]);
    // What the run spent: the plan and each task's call, priced.
    expect(result.usage.llmCalls).toBe(3);
    expect(result.tasks.map((t) => t.usage?.llmCalls)).toEqual([1, 1]);
    const { inputTokens, outputTokens, costUsd } = result.usage;
    expect(costUsd).toBeCloseTo((inputTokens * 1 + outputTokens * 4) / 1_000_000, 8);
  });

  it.each(PROVIDERS)(
    "stops at a budget of two LLM calls with %s: the plan's and the first task's",
    async (provider) => {
      const chain = {
        tasks: [
          planned("one", null, [], { kind: "atomic", description: "First line" }),
          planned("two", null, ["one"], { kind: "atomic", description: "Second line" }),
          planned("three", null, ["two"], { kind: "atomic", description: "Third line" }),
        ],
      };
      // Only what is asked: the plan and the first task's call (the budget stops the rest).
      server.script({ plan: chain }, { text: "line one" });
      const client =
        provider === "openai"
          ? new OpenAI({ apiKey: TEST_KEY, baseURL: server.openaiBaseURL, maxRetries: 0 })
          : new Anthropic({ apiKey: TEST_KEY, baseURL: server.anthropicBaseURL, maxRetries: 0 });
      const steps: Steps = { "*": llmStep({ provider, model: `${provider}-step-model`, client }) };
      const result = await orch().composeFromGoal(GOAL, testDecomposer(server, provider, { cache: false }), steps, {
        budget: { llmCalls: 2 },
      });
      expect(result.status).toBe("failed");
      expect(result.error?.message).toMatch(/reached its budget \(llmCalls 2 of 2\)/);
      expect(result.usage.llmCalls).toBe(2);
      expect(server.requests).toHaveLength(2);
      // The call that reached the budget was the first task's: the run failed then, and that task with it.
      expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
        one: "cancelled",
        two: "cancelled",
        three: "cancelled",
      });
      const { rows } = await orch().db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM htdag.attempts WHERE run_id = $1 AND task_id <> 'one'",
        [result.runId],
      );
      expect(rows[0]!.n).toBe(0);
      const exceeded = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["budget:exceeded"] });
      expect(exceeded).toHaveLength(1);
    },
  );
});

/**
 * What the LLM decomposer sends (wire shapes, prompts), hierarchical and lazy expansion, and its
 * options and clients, through the real SDKs against the local test server.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { llmDecomposer } from "../../src/decomposers/llm/decomposer.js";
import { LlmProviderError } from "../../src/decomposers/llm/errors.js";
import { planJsonSchema } from "../../src/decomposers/llm/schema.js";
import { validateGraph } from "../../src/graph/validate.js";
import { startLlmServer, type LlmTestServer, type RecordedRequest, type Scripted } from "../helpers/llm-server.js";
import {
  CATALOGUE,
  GOOD_PLAN,
  GOOD_TASKS,
  PROVIDERS,
  TEST_KEY,
  planned,
  promptOf,
  testContext,
  testDecomposer,
} from "../helpers/llm-fixtures.js";

let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.setFallback(undefined);
});

/** The plan's JSON schema as sent: OpenAI's response_format, Anthropic's tool input_schema. */
function sentSchema(request: RecordedRequest): Record<string, unknown> {
  return request.format === "openai"
    ? request.body.response_format.json_schema.schema
    : request.body.tools[0].input_schema;
}

/** The kinds a request allowed. */
function allowedKinds(request: RecordedRequest): string[] {
  return (sentSchema(request) as { properties: { tasks: { items: { properties: { kind: { enum: string[] } } } } } })
    .properties.tasks.items.properties.kind.enum;
}

describe("wire shapes", () => {
  it("openai: Chat Completions with a strict json_schema response format, system prompt, token cap and temperature", async () => {
    server.script({ plan: GOOD_PLAN });
    await testDecomposer(server, "openai", { temperature: 0, maxTokens: 2000 }).decompose(
      "Email me the weather in Paris",
      testContext(),
    );
    const [request] = server.requests;
    expect(request?.path).toBe("/v1/chat/completions");
    expect(request?.body).toMatchObject({
      model: "openai-test-model",
      max_completion_tokens: 2000,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "task_plan",
          strict: true,
          schema: planJsonSchema({ stepNames: CATALOGUE.map((c) => c.name), allowComposite: true }),
        },
      },
    });
    expect(request?.body.messages[0]).toMatchObject({
      role: "system",
      content: expect.stringMatching(/^You plan work as a task graph/),
    });
  });

  it("anthropic: Messages with the plan as a forced tool call", async () => {
    server.script({ plan: GOOD_PLAN });
    await testDecomposer(server, "anthropic").decompose("Email me the weather in Paris", testContext());
    const [request] = server.requests;
    expect(request?.path).toBe("/v1/messages");
    expect(request?.headers["anthropic-version"]).toBeTruthy();
    expect(request?.body).toMatchObject({
      model: "anthropic-test-model",
      max_tokens: 4096,
      system: expect.stringMatching(/^You plan work as a task graph/),
      tools: [
        {
          name: "task_plan",
          input_schema: planJsonSchema({ stepNames: CATALOGUE.map((c) => c.name), allowComposite: true }),
        },
      ],
      tool_choice: { type: "tool", name: "task_plan" },
    });
    expect(request?.body.temperature).toBeUndefined();
  });

  it.each(PROVIDERS)(
    "%s: the prompt carries the goal and the catalogue: names, descriptions, input schemas",
    async (provider) => {
      server.script({ plan: GOOD_PLAN });
      await testDecomposer(server, provider, { instructions: "Prefer email over SMS." }).decompose(
        "Email me the weather in Paris",
        testContext(),
      );
      const prompt = promptOf(server.requests[0]!);
      expect(prompt).toContain("Goal: Email me the weather in Paris");
      expect(prompt).toContain(
        '- get_weather: Get the weather for a city and a day; input schema: {"type":"object","properties":{"location":{"type":"string"},"date":{"type":"string"}},"required":["location","date"]}',
      );
      expect(prompt).toContain("- send_email: Send an email");
      const system =
        provider === "openai" ? server.requests[0]!.body.messages[0].content : server.requests[0]!.body.system;
      expect(system).toMatch(/\n\nPrefer email over SMS\.$/);
    },
  );
});

/** Answers by which task the prompt expands: three levels, the deepest atomic. */
function threeLevels(request: RecordedRequest): Scripted {
  const expanding = /^- id: (.+)$/m.exec(promptOf(request))?.[1];
  if (expanding === undefined) {
    return {
      plan: {
        tasks: [
          planned("setup", "take_note"),
          planned("build", null, ["setup"]),
          planned("notify", "send_email", ["build"]),
        ],
      },
    };
  }
  if (expanding === "build") {
    return {
      plan: {
        tasks: [
          planned("compile", null),
          planned("test", "take_note", ["compile"], { input: '{"report": {"$from": "compile"}}' }),
        ],
      },
    };
  }
  if (expanding === "build/compile") {
    return {
      plan: {
        tasks: [
          planned("fetch_sources", "take_note"),
          planned("compile_code", "take_note", ["fetch_sources"], { input: '{"text": "{{ fetch_sources.path }}"}' }),
        ],
      },
    };
  }
  return { status: 500, body: { error: { message: `unexpected expansion of ${expanding}` } } };
}

describe.each(PROVIDERS)("%s: hierarchy", (provider) => {
  it("expands composites one level at a time, one call each, to depth 3, into one valid graph", async () => {
    server.setFallback(threeLevels);
    const ctx = testContext();
    const result = await testDecomposer(server, provider, { maxDepth: 3 }).decompose("Build and ship the app", ctx);
    expect(result.tasks.map((t) => [t.id, t.parentId ?? null, t.kind ?? "atomic", t.dependsOn])).toEqual([
      ["setup", null, "atomic", []],
      ["build", null, "composite", ["setup"]],
      ["notify", null, "atomic", ["build"]],
      ["build/compile", "build", "composite", []],
      ["build/test", "build", "atomic", ["build/compile"]],
      ["build/compile/fetch_sources", "build/compile", "atomic", []],
      ["build/compile/compile_code", "build/compile", "atomic", ["build/compile/fetch_sources"]],
    ]);
    // References to siblings follow the renaming.
    expect(result.tasks.find((t) => t.id === "build/test")?.input).toEqual({ report: { $from: "build/compile" } });
    expect(result.tasks.find((t) => t.id === "build/compile/compile_code")?.input).toEqual({
      text: "{{ build/compile/fetch_sources.path }}",
    });
    expect(
      validateGraph(result, { stepNames: CATALOGUE.map((c) => c.name), limits: { maxDepth: 3 } }).tasks,
    ).toHaveLength(7);
    expect(ctx.services.usage.llmCalls).toBe(3);
    expect(server.requests.map(allowedKinds)).toEqual([["atomic", "composite"], ["atomic", "composite"], ["atomic"]]);
    const buildPrompt = promptOf(server.requests[1]!);
    expect(buildPrompt).toContain(
      "Plan only the subtasks of this composite task of a larger plan:\n- id: build\n- description: Do build",
    );
    expect(buildPrompt).toContain(
      'It runs after: setup. Subtasks may read their outputs with {"$from": "<id>", "path": "<field>"}.',
    );
    expect(promptOf(server.requests[2]!)).toContain("- part of: Do build");
  });

  it("caps the depth at decomposeGoal's maxDepth: with 1, composites are not allowed at all", async () => {
    server.script({ plan: GOOD_PLAN });
    const ctx = testContext();
    ctx.services.maxDepth = 1;
    await testDecomposer(server, provider, { maxDepth: 3 }).decompose("Email me the weather in Paris", ctx);
    expect(allowedKinds(server.requests[0]!)).toEqual(["atomic"]);
  });

  it("with expand: lazy, leaves composites for run time, then plans one with its dependencies' outputs", async () => {
    server.setFallback(threeLevels);
    const lazy = testDecomposer(server, provider, { expand: "lazy" });
    const top = await lazy.decompose("Build and ship the app", testContext());
    expect(top.tasks.find((t) => t.id === "build")).toEqual({
      id: "build",
      description: "Do build",
      dependsOn: ["setup"],
      kind: "composite",
      expand: "lazy",
    });
    expect(server.requests).toHaveLength(1);
    const ctx = testContext({
      depth: 1,
      parent: { task: top.tasks[1]!, depsOutputs: { setup: { notes: "use node 20" } } },
    });
    const children = await lazy.decompose("Do build", ctx);
    expect(children.tasks.map((t) => [t.id, t.parentId ?? null, t.expand ?? null])).toEqual([
      ["compile", null, "lazy"],
      ["test", null, null],
    ]);
    expect(promptOf(server.requests[1]!)).toContain(
      'Outputs of the tasks it depends on (copy the values you need into inputs):\n- setup: {"notes":"use node 20"}',
    );
  });
});

describe("options and clients", () => {
  it("rejects bad options, naming the option", () => {
    expect(() => llmDecomposer({ provider: "gemini" as never, model: "x" })).toThrow(/`provider` in llmDecomposer/);
    expect(() => llmDecomposer({ provider: "openai", model: "" })).toThrow(/`model`/);
    expect(() => llmDecomposer({ provider: "openai", model: "m", maxRepairs: -1 })).toThrow(/`maxRepairs`/);
    expect(() => llmDecomposer({ provider: "openai", model: "m", expand: "later" as never })).toThrow(
      InvalidOptionError,
    );
    expect(() =>
      llmDecomposer({ provider: "openai", model: "m", client: new Anthropic({ apiKey: TEST_KEY }) }),
    ).toThrow(/`client`.*an OpenAI client/);
  });

  it.each(PROVIDERS)("%s: uses a client you built", async (provider) => {
    const client =
      provider === "openai"
        ? new OpenAI({
            apiKey: TEST_KEY,
            baseURL: server.openaiBaseURL,
            maxRetries: 0,
            defaultHeaders: { "x-test": "mine" },
          })
        : new Anthropic({
            apiKey: TEST_KEY,
            baseURL: server.anthropicBaseURL,
            maxRetries: 0,
            defaultHeaders: { "x-test": "mine" },
          });
    server.script({ plan: GOOD_PLAN });
    const result = await llmDecomposer({ provider, model: "m", client }).decompose(
      "Email me the weather in Paris",
      testContext(),
    );
    expect(result.tasks).toEqual(GOOD_TASKS);
    expect(server.requests[0]?.headers["x-test"]).toBe("mine");
  });

  it.each(PROVIDERS)(
    "%s: without a key, names the environment variable to set, and only when it is needed",
    async (provider) => {
      vi.stubEnv("OPENAI_API_KEY", undefined);
      vi.stubEnv("ANTHROPIC_API_KEY", undefined);
      vi.stubEnv("ANTHROPIC_AUTH_TOKEN", undefined);
      try {
        const decomposer = llmDecomposer({
          provider,
          model: "m",
          baseURL: provider === "openai" ? server.openaiBaseURL : server.anthropicBaseURL,
        });
        const error = await decomposer.decompose("Plan", testContext()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LlmProviderError);
        expect(error).toMatchObject({ failure: "auth" });
        expect((error as Error).message).toMatch(
          provider === "openai" ? /set OPENAI_API_KEY or pass apiKey/ : /set ANTHROPIC_API_KEY or pass apiKey/,
        );
        expect(server.requests).toHaveLength(0);
      } finally {
        vi.unstubAllEnvs();
      }
    },
  );
});

/**
 * Revisions of a running plan (design.md §13) by the LLM decomposer, through the real OpenAI and
 * Anthropic SDKs against the local test server: what the revision prompt carries, the repair loop,
 * dependencies on completed tasks the answer leaves out; the hybrid and rule decomposers' routing;
 * and the decomposition cache, on real Postgres and PGlite, which a revision never reads nor writes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DecompositionError } from "../../src/errors.js";
import { hybridDecomposer } from "../../src/decomposers/hybrid.js";
import { ruleDecomposer } from "../../src/decomposers/rules.js";
import { emptyUsage, type ServicedContext } from "../../src/decomposers/services.js";
import { createDecompositionQueries } from "../../src/store/decomposition-cache.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import type { PlanRevisionRequest } from "../../src/graph/decomposer.js";
import { startLlmServer, type LlmTestServer, type RecordedRequest, type Scripted } from "../helpers/llm-server.js";
import {
  CATALOGUE,
  PROVIDERS,
  lastUserText,
  planned,
  promptOf,
  testContext,
  testDecomposer,
} from "../helpers/llm-fixtures.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const GOAL = "Email me the weather in Paris";
const SMTP_ERROR = "SMTP relay refused the recipient me@example.com (550 5.7.1)";
const FORECAST = { summary: "sunny, 24 °C", wind: "light breeze from the west" };

/** The plan being revised: the forecast came in, the email failed for good, the note never started. */
const REVISION: PlanRevisionRequest = {
  number: 1,
  reason: "task email failed for good",
  taskId: "email",
  error: { name: "NonRetryableError", message: SMTP_ERROR },
  graph: {
    goal: GOAL,
    tasks: [
      {
        id: "weather",
        description: "Get the forecast",
        step: "get_weather",
        input: { location: "Paris", date: "today" },
      },
      {
        id: "email",
        description: "Email the forecast",
        step: "send_email",
        dependsOn: ["weather"],
        input: { to: "me", body: { $from: "weather", path: "summary" } },
      },
      { id: "log", description: "Note that it was sent", step: "take_note", dependsOn: ["email"] },
    ],
  },
  statuses: { weather: "completed", email: "failed", log: "pending" },
  outputs: { weather: FORECAST },
};

/** The revised plan: keep the forecast, write it down instead of emailing it. */
const NOTE_INPUT = JSON.stringify({ content: { $from: "weather", path: "summary" } });
const KEEP_WEATHER = planned("weather", "get_weather", [], {
  input: JSON.stringify({ location: "Paris", date: "today" }),
});
const REVISED_PLAN = { tasks: [KEEP_WEATHER, planned("note_it", "take_note", ["weather"], { input: NOTE_INPUT })] };
const NOTE_TASK = {
  id: "note_it",
  description: "Do note_it",
  dependsOn: ["weather"],
  step: "take_note",
  input: { content: { $from: "weather", path: "summary" } },
};

let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.setFallback(undefined);
});

/** Revises REVISION with `provider` after scripting `answers`. */
async function revise(provider: LlmProvider, answers: Scripted[], options: Parameters<typeof testDecomposer>[2] = {}) {
  server.script(...answers);
  const ctx = testContext({ revision: REVISION });
  const result = await testDecomposer(server, provider, options).decompose(GOAL, ctx);
  return { result, usage: ctx.services.usage };
}

/** The system prompt as sent: OpenAI's system message, Anthropic's `system`. */
function systemOf(request: RecordedRequest): string {
  return request.format === "openai"
    ? String((request.body.messages as { role: string; content: string }[])[0]?.content)
    : String(request.body.system);
}

describe.each(PROVIDERS)("%s: a revision", (provider) => {
  it("sends the plan with statuses, the completed output and the failure, and returns the revised plan", async () => {
    const { result, usage } = await revise(provider, [{ plan: REVISED_PLAN, inputTokens: 800, outputTokens: 60 }]);
    expect(result).toEqual({
      goal: GOAL,
      source: "llm",
      tasks: [
        {
          id: "weather",
          description: "Do weather",
          dependsOn: [],
          step: "get_weather",
          input: { location: "Paris", date: "today" },
        },
        NOTE_TASK,
      ],
    });
    expect(usage).toMatchObject({ llmCalls: 1, inputTokens: 800, outputTokens: 60, repairs: 0, source: "llm" });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests as [RecordedRequest];
    const prompt = promptOf(request);
    expect(prompt).toContain(`- error: NonRetryableError: ${SMTP_ERROR}`);
    expect(prompt).toContain(`- weather: ${JSON.stringify(FORECAST)}`);
    expect(prompt).toContain("- weather [COMPLETED]: Get the forecast; step: get_weather");
    expect(prompt).toContain("- email [FAILED]: Email the forecast; step: send_email; dependsOn: [weather]");
    expect(prompt).toContain("- log [PENDING]: Note that it was sent; step: take_note; dependsOn: [email]");
    expect(prompt).toContain("WHOLE revised plan");
    expect(systemOf(request)).toContain("or of completed tasks of the current plan");
    // The same strict schema as for a first plan: the catalogue's step names as an enum.
    const schema =
      request.format === "openai" ? request.body.response_format.json_schema : request.body.tools[0].input_schema;
    expect(JSON.stringify(schema)).toContain(JSON.stringify(CATALOGUE.map((entry) => entry.name)));
  });

  it("lets a new task depend on, and read, a completed task the answer leaves out", async () => {
    const { result } = await revise(provider, [
      { plan: { tasks: [planned("note_it", "take_note", ["weather"], { input: NOTE_INPUT })] } },
    ]);
    expect(result.tasks).toEqual([NOTE_TASK]);
    expect(server.requests).toHaveLength(1);
  });

  it("expands a new composite as in a first plan; its subtasks may read a completed task", async () => {
    const top = { tasks: [planned("record", null, ["weather"])] };
    // As in any expansion, a subtask names the composite's dependency it reads.
    const children = { tasks: [planned("write", "take_note", ["weather"], { input: NOTE_INPUT })] };
    const { result, usage } = await revise(provider, [{ plan: top }, { plan: children }]);
    expect(result.tasks.map((task) => [task.id, task.kind ?? "atomic", task.parentId ?? null])).toEqual([
      ["record", "composite", null],
      ["record/write", "atomic", "record"],
    ]);
    expect(usage.llmCalls).toBe(2);
    const [first, second] = server.requests as [RecordedRequest, RecordedRequest];
    expect(promptOf(first)).toContain(SMTP_ERROR);
    // The expansion is asked as for a first plan, with the composite's dependency on the completed task.
    expect(promptOf(second)).toContain("Plan only the subtasks of this composite task");
    expect(promptOf(second)).toContain("It runs after: weather.");
  });

  it("re-asks about an unknown step and a dependency on an unfinished task it left out, quoting both", async () => {
    const bad = {
      tasks: [
        planned("weather", "get_weather"),
        planned("fax_it", "send_fax", ["weather"]),
        planned("note_it", "take_note", ["email"]),
      ],
    };
    const { result, usage } = await revise(provider, [{ plan: bad }, { plan: REVISED_PLAN }]);
    expect(result.tasks.map((task) => task.id)).toEqual(["weather", "note_it"]);
    expect(server.requests).toHaveLength(2);
    const reask = lastUserText(server.requests[1] as RecordedRequest);
    expect(reask).toContain("send_fax");
    expect(reask).toMatch(/tasks\[2\]\.dependsOn\[0\].*"email"/);
    expect(reask).toContain("Allowed step names: get_weather, send_email, take_note.");
    expect(usage).toMatchObject({ llmCalls: 2, source: "llm" });
    expect(usage.repairActions.some((action) => action.startsWith("re-asked the model about 2 problem(s)"))).toBe(true);
  });

  it("fails with a DecompositionError naming every issue when the revision never validates", async () => {
    server.setFallback({ plan: { tasks: [planned("note_it", "take_note", ["gone"])] } });
    const error = await revise(provider, [], { maxRepairs: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DecompositionError);
    expect((error as DecompositionError).message).toContain("the model's revised plan (revision 1)");
    expect((error as DecompositionError).message).toContain('"gone"');
    expect((error as DecompositionError).issues.map((issue) => issue.code)).toEqual(["unknown_dependency"]);
    expect(server.requests).toHaveLength(2);
  });
});

describe("hybrid and rule decomposers and a revision", () => {
  const rules = ruleDecomposer([
    {
      name: "weather-mail",
      match: /^email me the weather in (?<city>.+)$/i,
      tasks: [{ id: "w", step: "get_weather" }],
    },
  ]);

  it("rules have no opinion on a revision, even of a goal they match", () => {
    expect(rules.decompose(GOAL, testContext())).toMatchObject({ source: "rules" });
    expect(rules.decompose(GOAL, testContext({ revision: REVISION }))).toBeNull();
  });

  it("a hybrid sends a revision to its LLM even when a rule matches the goal", async () => {
    const hybrid = hybridDecomposer({ rules, llm: testDecomposer(server, "anthropic") });
    expect(await hybrid.decompose(GOAL, testContext())).toMatchObject({ source: "rules" });
    expect(server.requests).toHaveLength(0);
    server.script({ plan: REVISED_PLAN });
    const ctx = testContext({ revision: REVISION });
    const revised = await hybrid.decompose(GOAL, ctx);
    expect(revised).toMatchObject({ source: "llm", tasks: [{ id: "weather" }, NOTE_TASK] });
    expect(server.requests).toHaveLength(1);
    expect(promptOf(server.requests[0] as RecordedRequest)).toContain(SMTP_ERROR);
    expect(ctx.services.usage).toMatchObject({ llmCalls: 1, source: "llm" });
    expect(ctx.services.usage.rule).toBeUndefined();
  });

  it("a hybrid without an LLM has no opinion on a revision", async () => {
    expect(await hybridDecomposer({ rules }).decompose(GOAL, testContext({ revision: REVISION }))).toBeNull();
  });
});

describe.each(STORES)("the decomposition cache and a revision, on %s", (kind) => {
  const orch = useOrchestrator(kind);

  /** The cache's entries: key, goal and hits. */
  async function cacheRows(db: Orchestrator) {
    const { rows } = await db.db.query<{ cache_key: string; goal: string; hits: number }>(
      `SELECT cache_key, goal, hits FROM "${db.options.schema}".decomposition_cache ORDER BY goal`,
    );
    return rows;
  }

  /** A revision context whose services carry the store's cache, as `decomposeGoal` lends it. */
  function revisionContext(goal: string): ServicedContext & { services: { usage: ReturnType<typeof emptyUsage> } } {
    const { cache } = createDecompositionQueries(orch().db, orch().options.schema);
    return testContext({
      revision: { ...REVISION, graph: { ...REVISION.graph, goal } },
      services: { usage: emptyUsage(), cache, patterns: null },
    });
  }

  it.each(["llm", "hybrid"] as const)(
    "%s: a revision of a cached goal asks the model and writes nothing",
    async (who) => {
      const goal = `${GOAL} (${who})`;
      const llm = testDecomposer(server, "openai");
      const decomposer = who === "llm" ? llm : hybridDecomposer({ llm });
      server.script({ plan: { tasks: [KEEP_WEATHER, planned("email", "send_email", ["weather"])] } });
      expect((await orch().decomposeGoal(goal, decomposer, { catalogue: CATALOGUE })).source).toBe("llm");
      expect((await orch().decomposeGoal(goal, decomposer, { catalogue: CATALOGUE })).source).toBe("cache");
      const before = (await cacheRows(orch())).filter((row) => row.goal === goal);
      expect(before).toHaveLength(1);
      expect(server.requests).toHaveLength(1);

      server.script({ plan: REVISED_PLAN });
      const ctx = revisionContext(goal);
      const revised = await decomposer.decompose(goal, ctx);
      expect(revised).toMatchObject({ source: "llm", tasks: [{ id: "weather" }, NOTE_TASK] });
      expect(server.requests).toHaveLength(2);
      expect(ctx.services.usage.cacheKey).toBeUndefined();
      expect(ctx.services.usage.source).toBe("llm");
      // Neither read (no hit counted) nor written (the first plan is still the cached one).
      expect((await cacheRows(orch())).filter((row) => row.goal === goal)).toEqual(before);
      const again = await orch().decomposeGoal(goal, decomposer, { catalogue: CATALOGUE });
      expect(again).toMatchObject({ source: "cache", tasks: [{ id: "weather" }, { id: "email" }] });
    },
  );

  it("a revision of a goal never planned leaves no cache entry", async () => {
    const goal = "Email me the weather in Oslo";
    server.script({ plan: REVISED_PLAN });
    await testDecomposer(server, "anthropic").decompose(goal, revisionContext(goal));
    expect(server.requests).toHaveLength(1);
    expect((await cacheRows(orch())).map((row) => row.goal)).not.toContain(goal);
  });
});

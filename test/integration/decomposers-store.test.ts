/**
 * Decomposers with the store, on real Postgres and PGlite: the hybrid routing order (rules →
 * patterns → cache → LLM), the decomposition cache, learned patterns, accounting rows and events,
 * and lazy expansion by the LLM at run time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DecompositionError } from "../../src/errors.js";
import { hybridDecomposer } from "../../src/decomposers/hybrid.js";
import { recordPattern } from "../../src/decomposers/patterns.js";
import { ruleDecomposer } from "../../src/decomposers/rules.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { startLlmServer, type LlmTestServer, type RecordedRequest, type Scripted } from "../helpers/llm-server.js";
import { CATALOGUE, GOOD_PLAN, GOOD_TASKS, planned, promptOf, testDecomposer } from "../helpers/llm-fixtures.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

let server: LlmTestServer;
beforeAll(async () => void (server = await startLlmServer()));
afterAll(async () => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.setFallback({ plan: GOOD_PLAN });
});

const rules = ruleDecomposer([
  {
    name: "note",
    match: /^note: (?<text>.+)$/,
    tasks: [{ id: "note", step: "take_note", input: { content: "{{text}}" } }],
  },
]);

/** The newest decompositions row and decomposition:* event. */
async function latest(orch: Orchestrator) {
  const s = orch.options.schema;
  const {
    rows: [row],
  } = await orch.db.query<Record<string, unknown>>(
    `SELECT source, decomposer, model, cache_key, llm_calls, input_tokens, output_tokens, repairs, error FROM "${s}".decompositions ORDER BY id DESC LIMIT 1`,
  );
  const {
    rows: [event],
  } = await orch.db.query<{ type: string; payload: Record<string, unknown> }>(
    `SELECT type, payload FROM "${s}".events WHERE type LIKE 'decomposition:%' AND type <> 'decomposition:started' ORDER BY id DESC LIMIT 1`,
  );
  return { row: row!, event: event! };
}

describe.each(STORES)("decomposers on %s", (kind) => {
  const orch = useOrchestrator(kind);
  const hybrid = () => hybridDecomposer({ rules, llm: testDecomposer(server, "openai") });

  it("a rule hit makes no LLM call, and is recorded as source rules", async () => {
    const graph = await orch().decomposeGoal("note: buy milk", hybrid(), { catalogue: CATALOGUE });
    expect(graph).toMatchObject({
      source: "rules",
      decomposer: "hybrid",
      tasks: [{ id: "note", step: "take_note", input: { content: "buy milk" } }],
    });
    expect(server.requests).toHaveLength(0);
    const { row, event } = await latest(orch());
    expect(row).toMatchObject({ source: "rules", decomposer: "hybrid", llm_calls: 0, cache_key: null });
    expect(event.payload).toMatchObject({ source: "rules", rule: "note", llmCalls: 0, tasks: 1 });
  });

  it("an LLM answer is cached: a repeat (any case or spacing) costs no call; cache: false asks again", async () => {
    const first = await orch().decomposeGoal("Email me the weather in Paris", hybrid(), { catalogue: CATALOGUE });
    expect(first.source).toBe("llm");
    expect(first.tasks).toEqual(GOOD_TASKS);
    const miss = await latest(orch());
    expect(miss.row).toMatchObject({
      source: "llm",
      model: "openai-test-model",
      llm_calls: 1,
      input_tokens: 100,
      repairs: 0,
    });
    expect(miss.row.output_tokens).toBeGreaterThan(0);
    expect(miss.row.cache_key).toMatch(/^[0-9a-f]{64}$/);
    expect(miss.event.payload).toMatchObject({
      source: "llm",
      llmCalls: 1,
      inputTokens: 100,
      model: "openai-test-model",
    });

    const again = await orch().decomposeGoal("  email me the WEATHER in Paris. ", hybrid(), { catalogue: CATALOGUE });
    expect(again).toMatchObject({ source: "cache", tasks: GOOD_TASKS, goal: "  email me the WEATHER in Paris. " });
    expect(server.requests).toHaveLength(1);
    const hit = await latest(orch());
    expect(hit.row).toMatchObject({ source: "cache", llm_calls: 0, cache_key: miss.row.cache_key });
    expect(hit.event.payload).toMatchObject({ source: "cache", llmCalls: 0, cacheKey: miss.row.cache_key });
    const {
      rows: [entry],
    } = await orch().db.query<{ hits: number }>(`SELECT hits FROM "htdag".decomposition_cache WHERE cache_key = $1`, [
      miss.row.cache_key,
    ]);
    expect(entry?.hits).toBe(1);

    const bypass = await orch().decomposeGoal("Email me the weather in Paris", hybrid(), {
      catalogue: CATALOGUE,
      cache: false,
    });
    expect(bypass.source).toBe("llm");
    expect(server.requests).toHaveLength(2);
    expect((await latest(orch())).row.cache_key).toBeNull();
  });

  it("a plain llmDecomposer uses the cache too; another catalogue or model is another key", async () => {
    const llm = testDecomposer(server, "anthropic");
    expect((await orch().decomposeGoal("Weather mail for Rome", llm, { catalogue: CATALOGUE })).source).toBe("llm");
    expect((await orch().decomposeGoal("weather mail for rome", llm, { catalogue: CATALOGUE })).source).toBe("cache");
    expect(
      (await orch().decomposeGoal("Weather mail for Rome", llm, { catalogue: [...CATALOGUE, { name: "send_sms" }] }))
        .source,
    ).toBe("llm");
    expect(
      (
        await orch().decomposeGoal("Weather mail for Rome", testDecomposer(server, "anthropic", { model: "other" }), {
          catalogue: CATALOGUE,
        })
      ).source,
    ).toBe("llm");
    expect(server.requests).toHaveLength(3);
  });

  it("reuses the graph of earlier successful runs once its confidence reaches the threshold", async () => {
    const goal = "Send the Lisbon forecast";
    const pattern = {
      tasks: [
        { id: "forecast", step: "get_weather" },
        { id: "mail", step: "send_email", dependsOn: ["forecast"] },
      ],
    };
    const {
      db,
      options: { schema },
    } = orch();
    await recordPattern(db, schema, goal, pattern, true);
    // One success is below patternMinSuccesses (2): the LLM answers.
    expect((await orch().decomposeGoal(goal, hybrid(), { catalogue: CATALOGUE, cache: false })).source).toBe("llm");
    await recordPattern(db, schema, "send the lisbon forecast.", { tasks: [...pattern.tasks].reverse() }, true);
    const reused = await orch().decomposeGoal(goal, hybrid(), { catalogue: CATALOGUE, cache: false });
    expect(reused).toMatchObject({ source: "pattern", tasks: [{ id: "mail" }, { id: "forecast" }] });
    expect(server.requests).toHaveLength(1);
    expect((await latest(orch())).event.payload).toMatchObject({ source: "pattern", llmCalls: 0 });
    // A failure brings the confidence to 2/3, below 0.85: the pattern is no longer used.
    await recordPattern(db, schema, goal, pattern, false);
    expect((await orch().decomposeGoal(goal, hybrid(), { catalogue: CATALOGUE, cache: false })).source).toBe("llm");
    const lenient = hybridDecomposer({ rules, llm: testDecomposer(server, "openai"), patternConfidenceThreshold: 0.6 });
    expect((await orch().decomposeGoal(goal, lenient, { catalogue: CATALOGUE, cache: false })).source).toBe("pattern");
    // A pattern whose steps the catalogue no longer offers is skipped.
    server.script({ plan: { tasks: [planned("mail", "send_email")] } });
    expect((await orch().decomposeGoal(goal, lenient, { catalogue: CATALOGUE.slice(1), cache: false })).source).toBe(
      "llm",
    );
  });

  it("records a failed decomposition with its calls, and the failed event says what it cost", async () => {
    server.setFallback({ text: "I am not sure" });
    const error = await orch()
      .decomposeGoal("Plan an impossible thing", hybrid(), { catalogue: CATALOGUE })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecompositionError);
    const { row, event } = await latest(orch());
    expect(row).toMatchObject({
      source: "llm",
      llm_calls: 3,
      repairs: 2,
      error: expect.stringMatching(/still invalid after 2 re-ask/),
    });
    expect(event).toMatchObject({ type: "decomposition:failed", payload: { source: "llm", llmCalls: 3, repairs: 2 } });
    const { rows } = await orch().db.query(`SELECT 1 FROM "htdag".decomposition_cache WHERE goal = $1`, [
      "Plan an impossible thing",
    ]);
    expect(rows).toHaveLength(0);
  });

  it("stops a model that hangs past decomposeGoal's timeoutMs", async () => {
    server.setFallback({ hang: true });
    await expect(
      orch().decomposeGoal("Plan slowly", hybrid(), { catalogue: CATALOGUE, timeoutMs: 300 }),
    ).rejects.toThrow(/took longer than 300 ms \(timeoutMs\)/);
  });

  it("expands a lazy composite at run time through the executor, with its dependency's output in the prompt", async () => {
    server.setFallback((request: RecordedRequest): Scripted =>
      /- id: build/.test(promptOf(request))
        ? { plan: { tasks: [planned("compile", "take_note"), planned("check", "take_note", ["compile"])] } }
        : {
            plan: {
              tasks: [
                planned("setup", "take_note"),
                planned("build", null, ["setup"]),
                planned("notify", "send_email", ["build"]),
              ],
            },
          },
    );
    const steps = {
      take_note: async () => ({ notes: "use node 20" }),
      send_email: async () => ({ sent: true }),
      get_weather: async () => ({ summary: "sunny" }),
    };
    const llm = testDecomposer(server, "openai", { expand: "lazy" });
    const result = await orch().composeFromGoal("Build and ship the app", llm, steps, { decompose: { cache: false } });
    expect(result.status).toBe("completed");
    expect(Object.keys(result.outputs).sort()).toEqual(
      expect.arrayContaining(["build/check", "build/compile", "notify", "setup"]),
    );
    expect(server.requests).toHaveLength(2);
    expect(promptOf(server.requests[1]!)).toContain('- setup: {"notes":"use node 20"}');
  });
});

/**
 * Living plans at run level through the real OpenAI and Anthropic SDKs against the local LLM server
 * (design.md §13, issue 20), on both stores: streamed planning starts the first task before the
 * answer ends and records the whole plan; an LLM revision after a failure quotes the failed task's
 * error and the completed outputs, and the run completes.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidOptionError, NonRetryableError } from "../../src/index.js";
import { PROVIDERS, planned, promptOf, testDecomposer } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer } from "../helpers/llm-server.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";

const GOAL = "Summarise the week's notes";
/** A chain of five notes then a summary: about 200 tokens, written in about 1 s at 200 tokens/s. */
const CHAIN = {
  tasks: [
    planned("n1", "take_note", [], { input: JSON.stringify({ text: "one" }) }),
    planned("n2", "take_note", ["n1"], { input: JSON.stringify({ text: "two" }) }),
    planned("n3", "take_note", ["n2"], { input: JSON.stringify({ text: "three" }) }),
    planned("n4", "take_note", ["n3"], { input: JSON.stringify({ text: "four" }) }),
    planned("n5", "take_note", ["n4"], { input: JSON.stringify({ text: "five" }) }),
  ],
};

let server: LlmTestServer;
beforeAll(async () => {
  server = await startLlmServer(undefined, { tokensPerSecond: 200 });
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

describe.each(STORES)("living plans through the SDKs on %s", (kind) => {
  const orch = useOrchestrator(kind, { defaults: { maxAttempts: 1 } });

  it.each(PROVIDERS)("streams the plan with %s: the first step starts before the answer ends", async (provider) => {
    const starts: Record<string, number> = {};
    const steps = {
      take_note: ({ task, input }: { task: { id: string }; input: unknown }) => {
        starts[task.id] = performance.now();
        return { noted: (input as { text: string }).text };
      },
      get_weather: () => ({}),
      send_email: () => ({}),
    };
    server.script({ plan: CHAIN });
    const result = await orch().composeFromGoal(GOAL, testDecomposer(server, provider), steps, { streamPlan: true });
    expect(result.status).toBe("completed");
    expect(result.outputs.n5).toEqual({ noted: "five" });
    const stream = server.requests[0]!.stream!;
    expect(stream.lastByteAt).not.toBeNull();
    // The first step started while the server was still writing the answer.
    expect(starts.n1!).toBeLessThan(stream.lastByteAt!);
    const added = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["plan:task_added"] });
    expect(added.map((e) => e.taskId)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
    expect(result.revisions).toEqual([]);
    // The streamed decomposition's spend is charged to the run.
    expect(result.usage.llmCalls).toBe(1);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    // The graph recorded at the end is the whole plan.
    const { rows } = await orch().db.query<{ tasks: { id: string }[] }>(
      "SELECT g.tasks FROM htdag.graphs g JOIN htdag.runs r ON r.graph_id = g.id WHERE r.id = $1",
      [result.runId],
    );
    expect(rows[0]!.tasks.map((t) => t.id)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });

  it("repairs the whole plan as a revision when it differs from what streamed", async () => {
    server.setTokensPerSecond(400);
    const ran: string[] = [];
    const steps = {
      take_note: ({ task }: { task: { id: string } }) => {
        ran.push(task.id);
        return { noted: task.id };
      },
      get_weather: () => ({}),
      send_email: () => ({}),
    };
    server.script(
      // n3 depends on a task that never comes: the plan is re-asked when the answer ends.
      {
        plan: {
          tasks: [
            planned("n1", "take_note", [], { input: JSON.stringify({ text: "one" }) }),
            planned("n2", "take_note", ["n1"], { input: JSON.stringify({ text: "two" }) }),
            planned("n3", "take_note", ["ghost"], { input: JSON.stringify({ text: "three" }) }),
          ],
        },
      },
      {
        plan: {
          tasks: [
            planned("n1", "take_note", [], { input: JSON.stringify({ text: "one" }) }),
            planned("n3", "take_note", ["n1"], { input: JSON.stringify({ text: "three" }) }),
          ],
        },
      },
    );
    const result = await orch().composeFromGoal(GOAL, testDecomposer(server, "openai"), steps, { streamPlan: true });
    expect(result.status).toBe("completed");
    expect(ran.filter((id) => id === "n1")).toHaveLength(1);
    expect(ran).toContain("n3");
    expect(result.revisions).toHaveLength(1);
    expect(result.revisions[0]!.reason).toContain("n2");
    expect(result.revisions[0]!.taskId).toBeNull();
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });

  it("fails a run whose plan writer stopped renewing it", async () => {
    server.script({ plan: CHAIN });
    const result = await orch().composeFromGoal(
      GOAL,
      testDecomposer(server, "openai"),
      { take_note: () => ({}) },
      {
        streamPlan: true,
      },
    );
    expect(result.status).toBe("completed");
    // A run recorded as planning whose writer died: the reconciler fails it.
    await orch().db.query(
      "UPDATE htdag.runs SET status = 'running', finished_at = NULL, planning_until = now() - interval '1 hour' WHERE id = $1",
      [result.runId],
    );
    await orch().db.query("UPDATE htdag.tasks SET status = 'pending' WHERE run_id = $1 AND id = 'n5'", [result.runId]);
    await orch().db.query("UPDATE htdag.runs SET remaining_tasks = 1 WHERE id = $1", [result.runId]);
    await orch().db.query("SELECT htdag.reconcile_runs(10, 1000, NULL)");
    const run = await orch().getRun(result.runId);
    expect(run.status).toBe("failed");
    expect(run.error?.message).toContain("plan stream was interrupted");
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
  });

  it("refuses streamPlan with a decomposer that cannot stream", async () => {
    await expect(
      orch().composeFromGoal(GOAL, { name: "plain", decompose: () => CHAIN.tasks as never }, {}, { streamPlan: true }),
    ).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it.each(PROVIDERS)(
    "revises a failed plan with %s: the request quotes the error and the outputs",
    async (provider) => {
      server.setTokensPerSecond(0);
      const calls: string[] = [];
      const steps = {
        get_weather: () => {
          calls.push("weather");
          return { summary: "sunny and 21C in Paris" };
        },
        send_email: () => {
          calls.push("email");
          throw new NonRetryableError("the mail relay refused the message: quota exceeded");
        },
        take_note: ({ input }: { input: unknown }) => {
          calls.push("note");
          return { noted: (input as { text: string }).text };
        },
      };
      server.script(
        {
          plan: {
            tasks: [
              planned("weather", "get_weather", [], { input: JSON.stringify({ location: "Paris", date: "today" }) }),
              planned("email", "send_email", ["weather"], { input: JSON.stringify({ to: "me", body: "x" }) }),
            ],
          },
        },
        {
          plan: {
            tasks: [
              planned("weather", "get_weather", [], { input: JSON.stringify({ location: "Paris", date: "today" }) }),
              planned("note", "take_note", ["weather"], {
                input: JSON.stringify({ text: { $from: "weather", path: "summary" } }),
              }),
            ],
          },
        },
      );
      const result = await orch().composeFromGoal(
        "Email me the weather in Paris",
        testDecomposer(server, provider),
        steps,
        {
          replan: { onFailure: true },
        },
      );
      expect(result.status).toBe("completed");
      expect(calls).toEqual(["weather", "email", "note"]);
      expect(result.outputs.note).toEqual({ noted: "sunny and 21C in Paris" });
      expect(server.requests).toHaveLength(2);
      const revisionPrompt = promptOf(server.requests[1]!);
      expect(revisionPrompt).toContain("quota exceeded");
      expect(revisionPrompt).toContain("sunny and 21C in Paris");
      expect(result.revisions).toHaveLength(1);
      expect(result.revisions[0]).toMatchObject({ added: ["note"], removed: ["email"] });
      expect(result.revisions[0]!.decomposition).toMatchObject({ llmCalls: 1, source: "llm" });
      expect(await stateViolations(orch(), result.runId)).toEqual([]);
    },
  );
});

/**
 * Merged chains through real runs on both stores: a chain of tiny steps builds history, the
 * optimizer (advanced, preserveStructure: false) merges it into one attempt, and the merged run
 * gives the same outputs to its readers with fewer tasks claimed; `htdag optimize`'s graph
 * (lastRunGraph) comes back unmerged. Also: references to transitive dependencies resolve.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { Steps } from "../../src/index.js";
import { createRunDetailQueries } from "../../src/store/run-detail.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const WORKFLOW = "tiny-chain";
const LENGTH = 6;
const calls: string[] = [];

const steps: Steps = {
  seed: async (ctx) => ({ n: (ctx.runInput as { start: number }).start }),
  inc: async (ctx) => {
    calls.push(ctx.task.id);
    return { n: (ctx.input as { n: number }).n + 1 };
  },
  report: async (ctx) => ({
    total: (ctx.input as { total: number }).total,
    first: (ctx.input as { first: number }).first,
  }),
};

// seed → c0 → … → c5 → report; each c reads the one before; report reads c5 and (transitively) seed.
const graph = validateGraph({
  goal: "tiny chain",
  tasks: [
    { id: "seed", step: "seed" },
    ...Array.from({ length: LENGTH }, (_, i) => ({
      id: `c${i}`,
      step: "inc",
      dependsOn: [i === 0 ? "seed" : `c${i - 1}`],
      input: { n: { $from: i === 0 ? "seed" : `c${i - 1}`, path: "n" } },
    })),
    {
      id: "report",
      step: "report",
      dependsOn: [`c${LENGTH - 1}`],
      input: { total: `{{ c${LENGTH - 1}.n }}`, first: { $from: "seed", path: "n" } },
    },
  ],
});
const runOptions = { workflow: WORKFLOW };

describe.each(STORES)("merged chains on %s", (kind) => {
  const orch = useOrchestrator(kind);

  beforeAll(async () => {
    for (let start = 0; start < 8; start++) {
      const result = await orch().composeFromTaskGraph(graph, steps, { ...runOptions, input: { start } });
      expect(result.outputs.report).toEqual({ total: start + LENGTH, first: start });
    }
  }, 60_000);

  it("merges the chain, runs every step once in order, and hands the last output on", async () => {
    const { changes } = await orch().optimizer.optimizeWorkflow(graph, {
      level: "advanced",
      preserveStructure: false,
      workflow: WORKFLOW,
    });
    const merges = changes.filter((c) => c.field === "merge");
    // seed → c0 and c5 → report are links too: seed and report run tiny steps as well.
    expect(merges.length).toBeGreaterThanOrEqual(LENGTH - 1);
    expect(merges.every((c) => c.evidence.statistic === "overheadShare" && c.evidence.value > 0.5)).toBe(true);
    calls.length = 0;
    const result = await orch().composeFromTaskGraph(graph, steps, {
      ...runOptions,
      input: { start: 100 },
      optimizationLevel: "advanced",
      preserveStructure: false,
    });
    expect(result.status).toBe("completed");
    expect(result.outputs.report).toEqual({ total: 100 + LENGTH, first: 100 });
    expect(calls).toEqual(Array.from({ length: LENGTH }, (_, i) => `c${i}`));
    const tasks = await orch().db.query<{ id: string }>(`SELECT id FROM htdag.tasks WHERE run_id = $1`, [result.runId]);
    expect(tasks.rows.length).toBe(graph.tasks.length - merges.length);
    const run = await orch().db.query<{ options: { optimization: { changes: { field: string }[] } } }>(
      `SELECT options FROM htdag.runs WHERE id = $1`,
      [result.runId],
    );
    expect(run.rows[0]!.options.optimization.changes.filter((c) => c.field === "merge")).toHaveLength(merges.length);
  });

  it("gives back the graph as written for htdag optimize", async () => {
    const last = await orch().optimizer.lastRunGraph(WORKFLOW);
    expect(last?.graph.tasks.map((t) => t.id).sort()).toEqual(graph.tasks.map((t) => t.id).sort());
    expect(last?.graph.tasks.some((t) => t.merged)).toBe(false);
  });

  it("retries a merged task from the start of its chain, naming the step that failed", async () => {
    let failures = 1;
    calls.length = 0;
    const flaky: Steps = {
      ...steps,
      inc: async (ctx) => {
        calls.push(ctx.task.id);
        if (ctx.task.id === "c1" && failures-- > 0) {
          throw new Error("lost");
        }
        return { n: (ctx.input as { n: number }).n + 1 };
      },
    };
    const merged = validateGraph({
      goal: "one merged chain",
      tasks: [
        { id: "seed", step: "seed" },
        {
          id: "c2",
          step: "inc",
          dependsOn: ["seed"],
          input: { n: { $from: "c1", path: "n" } },
          merged: [
            { id: "c0", step: "inc", dependsOn: ["seed"], input: { n: { $from: "seed", path: "n" } } },
            { id: "c1", step: "inc", dependsOn: ["c0"], input: { n: { $from: "c0", path: "n" } } },
          ],
        },
      ],
    });
    const result = await orch().composeFromTaskGraph(merged, flaky, {
      input: { start: 1 },
      backoff: { baseMs: 1, jitter: 0 },
    });
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({ seed: { n: 1 }, c2: { n: 4 } });
    expect(calls).toEqual(["c0", "c1", "c0", "c1", "c2"]);
    const drawn = await createRunDetailQueries(orch().db, "htdag").getRunGraph(result.runId);
    expect(drawn.map((t) => [t.id, t.merged ?? null])).toEqual([
      ["seed", null],
      ["c2", ["c0", "c1"]],
    ]);
    const attempts = await orch().db.query<{ status: string; error: { message: string } | null }>(
      `SELECT status, error FROM htdag.attempts WHERE run_id = $1 AND task_id = 'c2' ORDER BY attempt`,
      [result.runId],
    );
    expect(attempts.rows.map((a) => [a.status, a.error?.message ?? null])).toEqual([
      ["failed", "c1 (merged into c2): lost"],
      ["completed", null],
    ]);
    await expect(orch().retryRun(result.runId, { fromTask: "c0", steps: flaky })).rejects.toThrow(
      /c0 was merged into c2 in this run.*retry from c2/,
    );
    calls.length = 0;
    expect((await orch().retryRun(result.runId, { fromTask: "c2", steps: flaky })).outputs.c2).toEqual({ n: 4 });
    expect(calls).toEqual(["c0", "c1", "c2"]);
  });

  it("tests a condition on a transitive dependency against its output", async () => {
    const conditional = validateGraph({
      goal: "transitive when",
      tasks: [
        { id: "a", step: "flag" },
        { id: "b", step: "pass", dependsOn: ["a"] },
        { id: "c", step: "pass", dependsOn: ["b"], when: { task: "a", path: "go", op: "truthy" } },
      ],
    });
    const flagSteps: Steps = {
      flag: (ctx) => ({ go: (ctx.runInput as { go: boolean }).go }),
      pass: () => ({ ok: true }),
    };
    const statusOf = async (go: boolean) => {
      const result = await orch().composeFromTaskGraph(conditional, flagSteps, { input: { go } });
      return result.tasks.find((t) => t.id === "c")?.status;
    };
    expect(await statusOf(true)).toBe("completed");
    expect(await statusOf(false)).toBe("skipped");
  });
});

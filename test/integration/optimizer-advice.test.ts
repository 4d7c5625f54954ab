/**
 * What getRecommendations advises beyond a level's findings, from real run history on both stores:
 * cost per run and per task from the spend recorded on runs and attempts (set here with SQL after
 * the runs, as the usage recorder would), a tighter timeout for a task whose limit is far above its
 * slowest success, and a warning for a task whose first attempt often fails and a retry fixes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { Steps, TaskGraph } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const RUNS = 10;
const indexOf = (runInput: unknown) => (runInput as { index: number }).index;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const steps: Steps = {
  quick: async () => {
    await pause(20);
    return { ok: true };
  },
  // Fails its first attempt in runs 0, 3 and 6 of every 10: a transient rate of 0.3.
  often: async (ctx) => {
    if (ctx.attempt === 1 && [0, 3, 6].includes(indexOf(ctx.runInput) % 10)) {
      throw new Error("often: first attempt lost");
    }
    return { ok: true };
  },
  // Fails its first attempt in run 0 of every 10: a transient rate of 0.1.
  seldom: async (ctx) => {
    if (ctx.attempt === 1 && indexOf(ctx.runInput) % 10 === 0) {
      throw new Error("seldom: first attempt lost");
    }
    return { ok: true };
  },
  plan: async () => ({ plan: "outline" }),
  write: async () => ({ text: "draft" }),
};

const graph: TaskGraph = validateGraph({
  goal: "advice workload",
  tasks: [
    // ~20 ms under a 30 s limit: far above its slowest success.
    { id: "loose", step: "quick", timeoutMs: 30_000 },
    // ~20 ms under 500 ms: over 4× its p99, but within a second of it.
    { id: "snug", step: "quick", timeoutMs: 500 },
    { id: "often", step: "often", timeoutMs: 500, maxAttempts: 2 },
    { id: "seldom", step: "seldom", timeoutMs: 500, maxAttempts: 2 },
  ],
});
const spendGraph: TaskGraph = validateGraph({
  goal: "spend workload",
  tasks: [
    { id: "plan", step: "plan" },
    { id: "write", step: "write", dependsOn: ["plan"] },
  ],
});
const runOptions = { failFast: false, backoff: { baseMs: 1, maxMs: 5, jitter: 0 } };

describe.each(STORES)("getRecommendations advice on %s", (kind) => {
  const orch = useOrchestrator(kind);

  beforeAll(async () => {
    for (let index = 0; index < RUNS; index++) {
      await orch().composeFromTaskGraph(graph, steps, { ...runOptions, workflow: "advice", input: { index } });
    }
    // Five runs of spendGraph; run i (1–5) spent $0.01·i and 110·i tokens, its write task $0.005·i and 55·i tokens.
    for (let i = 1; i <= 5; i++) {
      const { runId } = await orch().composeFromTaskGraph(spendGraph, steps, { ...runOptions, workflow: "spend" });
      await orch().db.query(
        `UPDATE htdag.runs SET llm_calls = $2, input_tokens = $3, output_tokens = $4, cost_usd = $5 WHERE id = $1`,
        [runId, i, 100 * i, 10 * i, (0.01 * i).toFixed(2)],
      );
      await orch().db.query(
        `UPDATE htdag.attempts SET llm_calls = 1, input_tokens = $2, output_tokens = $3, cost_usd = $4
          WHERE run_id = $1 AND task_id = 'write'`,
        [runId, 50 * i, 5 * i, (0.005 * i).toFixed(3)],
      );
    }
  }, 25_000);

  it("reports cost per run and per task, p50 and p95, where usage exists", async () => {
    const { cost } = await orch().optimizer.getRecommendations(spendGraph, { workflow: "spend" });
    expect(cost).toEqual({
      // Costs 0.01…0.05: p95 interpolates 0.04 + 0.8 × 0.01; tokens 110…550: 440 + 0.8 × 110.
      perRun: { samples: 5, samplesWithUsage: 5, p50Usd: 0.03, p95Usd: 0.048, p50Tokens: 330, p95Tokens: 528 },
      // plan spent nothing: only write is listed.
      perTask: {
        write: { samples: 5, samplesWithUsage: 5, p50Usd: 0.015, p95Usd: 0.024, p50Tokens: 165, p95Tokens: 264 },
      },
    });
  });

  it("reports no cost where no run spent anything", async () => {
    const recommendations = await orch().optimizer.getRecommendations(graph, { workflow: "advice" });
    expect(recommendations.cost).toBeNull();
  });

  it("advises a tighter timeout, with its evidence, for a limit far above the slowest success only", async () => {
    const recommendations = await orch().optimizer.getRecommendations(graph, { workflow: "advice" });
    // p99 × 1.5 is ~30 ms; the suggestion is held at timeoutThresholdMs (1000), the floor of tuned timeouts.
    expect(recommendations.timeoutAdjustments).toEqual({ loose: 1000 });
    const advice = recommendations.changes.filter((c) => c.field === "timeoutMs");
    expect(advice).toHaveLength(1);
    expect(advice[0]).toMatchObject({
      taskId: "loose",
      from: 30_000,
      to: 1000,
      evidence: { samples: RUNS, statistic: "p99Ms" },
    });
    expect(advice[0]!.evidence.value).toBeGreaterThanOrEqual(15);
    expect(advice[0]!.evidence.value).toBeLessThan(250);
    expect(advice[0]!.reason).toMatch(/^advice, not applied: the limit 30000 ms is over 4× p99/);
    // optimizeWorkflow keeps the conservative basic rule: the limit stays.
    const tuned = await orch().optimizer.optimizeWorkflow(graph, { workflow: "advice" });
    expect(tuned.graph.tasks.find((t) => t.id === "loose")?.timeoutMs).toBe(30_000);
    expect([...tuned.changes, ...tuned.recommendations].filter((c) => c.field === "timeoutMs")).toEqual([]);
  });

  it("warns of a task whose first attempt fails in over 20% of runs, not of one at 10%", async () => {
    const recommendations = await orch().optimizer.getRecommendations(graph, { workflow: "advice" });
    expect(recommendations.failedPatternWarnings).toEqual([
      "often: the first attempt failed in 3 of 10 runs and a later attempt succeeded (transient rate 0.3 > 0.2); " +
        "retries hide it at the cost of time — make the step more reliable",
    ]);
    expect(recommendations.failurePatterns).toEqual([
      {
        taskId: "often",
        kind: "transient",
        evidence: { samples: 10, statistic: "firstAttemptTransientRate", value: 0.3 },
      },
    ]);
  });
});

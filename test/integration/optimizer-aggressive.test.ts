/**
 * The aggressive level against 100 real runs on both stores: a duration model per task (a mixture
 * for a step with a slow mode), a hedging setting for that idempotent step, a restart cutoff for an
 * idempotent step that hangs, maxParallel and a queue limit raised to the predicted demand, a
 * predicted makespan, and a run with optimizationLevel "aggressive" applying them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { Steps, TaskGraph } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const RUNS = 100;
const WORKFLOW = "aggressive";
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
const indexOf = (runInput: unknown) => (runInput as { index: number }).index;

const steps: Steps = {
  quick: async (ctx) => {
    await sleep(2, ctx.signal);
    return null;
  },
  // A slow mode in one run of ten: 200 ms against 2 ms.
  fetch: async (ctx) => {
    await sleep(indexOf(ctx.runInput) % 10 === 3 ? 200 : 2, ctx.signal);
    return null;
  },
  // Hangs on its first attempt in one run of five, until the timeout; a retry fixes it.
  hang: async (ctx) => {
    if (ctx.attempt === 1 && indexOf(ctx.runInput) % 5 === 0) {
      await sleep(60_000, ctx.signal);
    }
    return null;
  },
};

const graph: TaskGraph = validateGraph({
  goal: "aggressive workload",
  tasks: [
    { id: "prep", step: "quick" },
    { id: "fetch", step: "fetch", dependsOn: ["prep"], idempotent: true },
    { id: "hang", step: "hang", dependsOn: ["prep"], idempotent: true, timeoutMs: 400, maxAttempts: 3 },
    ...Array.from({ length: 4 }, (_, i) => ({ id: `fan${i}`, step: "quick", dependsOn: ["prep"], queue: "io" })),
  ],
});
const runOptions = { workflow: WORKFLOW, backoff: { baseMs: 1, maxMs: 5, jitter: 0 } };

describe.each(STORES)("aggressive optimizer on %s", (kind) => {
  // Runs that name no maxParallel get 1: the optimizer's predicted demand is what raises it.
  const orch = useOrchestrator(kind, { defaults: { maxParallel: 1 } });

  beforeAll(async () => {
    for (let index = 0; index < RUNS; index++) {
      await orch().composeFromTaskGraph(graph, steps, { ...runOptions, input: { index }, queues: { io: 1 } });
    }
  }, 240_000);

  it("fits models, cuts the hanging step, hedges the bimodal one and sizes limits on predicted demand", async () => {
    const result = await orch().optimizer.optimizeWorkflow(
      graph,
      { workflow: WORKFLOW, level: "aggressive", timeoutThresholdMs: 0, maxParallel: 1 },
      { backoff: { kind: "exponential", ...runOptions.backoff } },
    );
    // 20 timed-out attempts of the hanging step measure the claim and settle around a step.
    expect(result.notes).toHaveLength(1);
    expect(result.notes[0]).toMatch(
      /^timeouts are set on durations less [\d.]+ ms of claim and settle \(the median overrun of 20 timed-out attempts\)$/,
    );
    expect(Object.keys(result.models ?? {}).sort()).toEqual(["fan0", "fan1", "fan2", "fan3", "fetch", "hang", "prep"]);
    // One run in ten takes 200 ms: the fitted tail is in that mode while the median stays in the fast one.
    expect(result.models!.fetch).toMatchObject({ kind: "mixture", samples: RUNS });
    expect(result.models!.fetch!.p50Ms).toBeLessThan(60);
    expect(result.models!.fetch!.p99Ms).toBeGreaterThan(150);
    expect(result.hedges?.fetch).toBeGreaterThan(0);
    expect(result.hedges!.fetch!).toBeLessThan(200);

    const byKey = (key: string) => result.changes.find((c) => `${c.taskId ?? c.queue ?? "run"}.${c.field}` === key);
    const cut = byKey("hang.timeoutMs")!;
    // Its successes are store overhead around a no-op: one mode or two, depending on the store's jitter.
    expect(cut).toMatchObject({
      from: 400,
      evidence: { statistic: expect.stringMatching(/^(lognormal|mixture)\.restartCutoffMs$/) },
    });
    expect(cut.to as number).toBeLessThan(400);
    expect(byKey("run.maxParallel")).toMatchObject({ from: 1, evidence: { statistic: "predictedPeakDemandP95" } });
    expect(byKey("run.maxParallel")!.to as number).toBeGreaterThanOrEqual(5);
    expect(byKey("io.queueLimit")).toMatchObject({ field: "queueLimit", queue: "io", from: 1, to: 4 });
    expect(result.queues).toEqual({ io: 4 });
    expect(result.prediction!.makespanP50Ms).toBeGreaterThan(0);
    expect(result.prediction!.makespanP95Ms).toBeGreaterThanOrEqual(result.prediction!.makespanP50Ms);
  });

  it("a run at optimizationLevel aggressive applies the cutoff, maxParallel and queue limit, and records the hedge", async () => {
    const result = await orch().composeFromTaskGraph(graph, steps, {
      ...runOptions,
      input: { index: 0 },
      optimizationLevel: "aggressive",
      optimize: { timeoutThresholdMs: 0 },
    });
    expect(result.status).toBe("completed");
    const run = await orch().db.query<{
      max_parallel: number;
      options: { optimization: { level: string; hedges?: Record<string, number> } };
    }>(`SELECT max_parallel, options FROM htdag.runs WHERE id = $1`, [result.runId]);
    expect(run.rows[0]!.max_parallel).toBeGreaterThanOrEqual(5);
    const applied = (run.rows[0]!.options.optimization as unknown as { changes: { field: string; to: number }[] })
      .changes;
    expect(applied.find((c) => c.field === "maxParallel")?.to).toBe(run.rows[0]!.max_parallel);
    expect(run.rows[0]!.options.optimization.hedges?.fetch).toBeGreaterThan(0);
    const queue = await orch().db.query<{ concurrency: number }>(
      `SELECT concurrency FROM htdag.queues WHERE name = 'io'`,
    );
    expect(queue.rows[0]!.concurrency).toBe(4);
    const hang = await orch().db.query<{ timeout_ms: number }>(
      `SELECT timeout_ms FROM htdag.tasks WHERE run_id = $1 AND id = 'hang'`,
      [result.runId],
    );
    expect(hang.rows[0]!.timeout_ms).toBeLessThan(400);
  });
});
